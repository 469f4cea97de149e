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

/// Decodes the header alone, in either encoding: for a message whose body does not decode,
/// so that the server can still refuse it in SyncML (a Status on the header) rather than
/// in HTTP. What follows the header is not read; the size, depth and element bounds apply.
pub fn decode_header(encoding: DmEncoding, bytes: &[u8]) -> Result<SyncHdr, DecodeError> {
    match encoding {
        DmEncoding::Xml => xml::decode_header(bytes),
        DmEncoding::Wbxml => wbxml::decode_header(bytes),
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

#[cfg(test)]
mod tests;
