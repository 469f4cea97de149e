//! The handset's own reading of a package #0 (OMA-TS-DM_Notification-V1_2 section 6): digest,
//! notification header bit fields, server identifier, vendor part.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};

use super::StockError;

/// The largest package #0 the handset reads (an SMS-sized message is a few hundred bytes).
pub const MAX_PKG0: usize = 8192;

/// How the handset spells the package #0 session id in its SyncHdr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionIdStyle {
    /// Upper-case hex, as the Notification spec says (0x6424 → `6424`, 0x1A2B → `1A2B`).
    UpperHex,
    /// Lower-case hex (`1a2b`).
    LowerHex,
    /// Decimal (0x1A2B → `6699`).
    Decimal,
    /// libdmclient's byte swap, then upper-case hex (0x6424 → `2464`).
    ByteSwapped,
}

impl SessionIdStyle {
    /// `id` as this style writes it.
    pub fn spell(self, id: u16) -> String {
        match self {
            SessionIdStyle::UpperHex => format!("{id:X}"),
            SessionIdStyle::LowerHex => format!("{id:x}"),
            SessionIdStyle::Decimal => id.to_string(),
            SessionIdStyle::ByteSwapped => format!("{:X}", id.swap_bytes()),
        }
    }
}

/// A decoded package #0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The 128-bit digest the package opens with.
    pub digest: [u8; 16],
    /// The 10-bit version field.
    pub version: u16,
    /// The 2-bit ui-mode (0 not specified, 1 background, 2 informative, 3 user interaction).
    pub ui_mode: u8,
    /// The initiator bit: true when the server initiated.
    pub server_initiated: bool,
    /// The 16-bit session id.
    pub session_id: u16,
    /// The server identifier.
    pub server_id: String,
    /// The vendor-specific part (opaque to a stock handset).
    pub vendor: Vec<u8>,
    trigger: Vec<u8>,
}

/// Decodes a bare package #0 (no WSP wrapping).
pub fn decode(bytes: &[u8]) -> Result<Notification, StockError> {
    if bytes.len() > MAX_PKG0 {
        return Err(StockError::Pkg0(format!("{} bytes, more than {MAX_PKG0}", bytes.len())));
    }
    // digest 16, header 7 (10+2+1+27+16 bits), server-id length 1
    let (digest, rest) =
        bytes.split_first_chunk::<16>().ok_or_else(|| StockError::Pkg0("shorter than its digest".into()))?;
    let (hdr, rest) = rest.split_first_chunk::<7>().ok_or_else(|| StockError::Pkg0("header truncated".into()))?;
    let (&len, rest) = rest.split_first().ok_or_else(|| StockError::Pkg0("no server-id length".into()))?;
    let len = usize::from(len);
    let server_id = rest.get(..len).ok_or_else(|| StockError::Pkg0("server id truncated".into()))?;
    let server_id =
        std::str::from_utf8(server_id).map_err(|_| StockError::Pkg0("server id is not UTF-8".into()))?.to_owned();
    if server_id.is_empty() {
        return Err(StockError::Pkg0("empty server id".into()));
    }
    let version = (u16::from(hdr[0]) << 2) | u16::from(hdr[1] >> 6);
    Ok(Notification {
        digest: *digest,
        version,
        ui_mode: (hdr[1] >> 4) & 0b11,
        server_initiated: (hdr[1] >> 3) & 1 == 1,
        session_id: u16::from_be_bytes([hdr[5], hdr[6]]),
        server_id,
        vendor: rest[len..].to_vec(),
        trigger: bytes[16..].to_vec(),
    })
}

impl Notification {
    /// The SessionID the handset writes for this package, in `style`.
    pub fn session_id_as(&self, style: SessionIdStyle) -> String {
        style.spell(self.session_id)
    }

    /// True when the digest is `H(B64(H(server-id ":" password)) ":" nonce ":" B64(H(trigger)))`.
    pub fn digest_matches(&self, server_password: &str, nonce: &[u8]) -> bool {
        digest(&self.server_id, server_password, nonce, &self.trigger) == self.digest
    }
}

/// The package #0 digest over `trigger` (everything after the digest), H = MD5.
pub fn digest(server_id: &str, password: &str, nonce: &[u8], trigger: &[u8]) -> [u8; 16] {
    let cred = B64.encode(Md5::digest(format!("{server_id}:{password}").as_bytes()));
    let body = B64.encode(Md5::digest(trigger));
    let mut h = Md5::new();
    h.update(cred.as_bytes());
    h.update(b":");
    h.update(nonce);
    h.update(b":");
    h.update(body.as_bytes());
    h.finalize().into()
}

/// A package #0 written from fields (for the decoder's own tests).
#[allow(clippy::too_many_arguments)]
pub fn encode(
    version: u16,
    ui_mode: u8,
    server_initiated: bool,
    session_id: u16,
    server_id: &str,
    vendor: &[u8],
    password: &str,
    nonce: &[u8],
) -> Vec<u8> {
    let bits: u64 = (u64::from(version) & 0x3FF) << 46
        | (u64::from(ui_mode) & 3) << 44
        | u64::from(server_initiated) << 43
        | u64::from(session_id);
    let mut trigger = bits.to_be_bytes()[1..].to_vec();
    trigger.push(server_id.len().min(255) as u8);
    trigger.extend_from_slice(&server_id.as_bytes()[..server_id.len().min(255)]);
    trigger.extend_from_slice(vendor);
    let mut out = digest(server_id, password, nonce, &trigger).to_vec();
    out.extend_from_slice(&trigger);
    out
}
