//! SyncML DM 1.2: the message model, its XML codec, and the codes both sides use.

pub mod codes;
pub mod model;
pub mod tree;
pub mod wbxml;
pub mod xml;

pub use model::*;

use crate::media::DmEncoding;

/// Decodes a message in either encoding.
pub fn decode(encoding: DmEncoding, bytes: &[u8]) -> Result<SyncMl, DecodeError> {
    match encoding {
        DmEncoding::Xml => xml::decode(bytes),
        DmEncoding::Wbxml => wbxml::decode(bytes),
    }
}

/// Encodes a message in either encoding.
pub fn encode(encoding: DmEncoding, msg: &SyncMl) -> Result<Vec<u8>, DecodeError> {
    match encoding {
        DmEncoding::Xml => Ok(xml::encode(msg)),
        DmEncoding::Wbxml => wbxml::encode(msg),
    }
}

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
