//! SyncML DM 1.2: the message model, its XML codec, and the codes both sides use.

pub mod codes;
pub mod model;
pub mod tree;
pub mod xml;

pub use model::*;

/// Why a SyncML message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not well-formed XML (or not UTF-8), with the parser's short reason.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// A DOCTYPE or an entity other than the predefined ones: refused, never expanded.
    #[error("DOCTYPE and custom entities are not accepted")]
    Entity,
    /// Past a named limit (size, depth, element count).
    #[error("message exceeds the {0} limit")]
    Limit(&'static str),
    /// Well-formed but not a SyncML DM message: a missing or wrong element.
    #[error("invalid SyncML: {0}")]
    Invalid(String),
}
