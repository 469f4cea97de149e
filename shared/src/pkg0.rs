//! OMA DM 1.2 package #0 (`application/vnd.syncml.notification`), the trigger.
//!
//! Layout (OMA-TS-DM_Notification-V1_2, section 6): a 128-bit MD5 digest, then 7 bytes of
//! bit fields (version 10, ui-mode 2, initiator 1, future-use 27, session-id 16), the
//! server-id length and bytes, and a vendor-specific tail that portaldm fills with
//! `PDM1` followed by the signed session token.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq;

/// The version emitted: 11 is DM 1.2 (the spec's 1.1 was never deployed as pkg#0 version 10).
pub const VERSION_EMITTED: u16 = 11;
/// Marker that opens portaldm's vendor-specific part.
pub const VENDOR_MARKER: &[u8; 4] = b"PDM1";
/// Largest vendor-specific part accepted; a token is well under 1 KiB.
pub const MAX_VENDOR_LEN: usize = 4096;
/// Largest whole package accepted.
pub const MAX_PACKAGE_LEN: usize = 16 + 7 + 1 + 255 + MAX_VENDOR_LEN;
const HEADER_LEN: usize = 16 + 7 + 1;

/// The user-interaction mode the server asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiMode {
    /// 00: not specified.
    NotSpecified,
    /// 01: background.
    Background,
    /// 10: informative.
    Informative,
    /// 11: user interaction.
    UserInteraction,
}

impl UiMode {
    fn bits(self) -> u64 {
        match self {
            UiMode::NotSpecified => 0,
            UiMode::Background => 1,
            UiMode::Informative => 2,
            UiMode::UserInteraction => 3,
        }
    }

    fn from_bits(b: u64) -> Self {
        match b & 3 {
            1 => UiMode::Background,
            2 => UiMode::Informative,
            3 => UiMode::UserInteraction,
            _ => UiMode::NotSpecified,
        }
    }
}

/// A decoded (or to-be-encoded) package #0, without its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package0 {
    /// Protocol version: 11 emitted, 11 and 12 accepted.
    pub version: u16,
    /// The UI mode.
    pub ui_mode: UiMode,
    /// True when the server initiated the session (always, for portaldm).
    pub server_initiated: bool,
    /// The 16-bit DM session id, 1..=0xFFFF.
    pub session_id: u16,
    /// The DM server's ServerID.
    pub server_id: String,
    /// The vendor-specific tail.
    pub vendor: Vec<u8>,
}

/// Why a package #0 was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pkg0Error {
    /// Fewer bytes than the fixed header, or than the server-id length says.
    #[error("package #0 is truncated")]
    Truncated,
    /// Larger than [`MAX_PACKAGE_LEN`].
    #[error("package #0 is larger than {MAX_PACKAGE_LEN} bytes")]
    TooLarge,
    /// A version other than 11 or 12.
    #[error("unsupported package #0 version {0}")]
    UnsupportedVersion(u16),
    /// Session id 0.
    #[error("package #0 session id is 0")]
    ZeroSessionId,
    /// The server id is not UTF-8 or is empty or too long.
    #[error("package #0 server id is invalid")]
    BadServerId,
    /// The vendor part is larger than [`MAX_VENDOR_LEN`].
    #[error("package #0 vendor part is too long")]
    VendorTooLong,
    /// The digest does not match the server credentials.
    #[error("package #0 digest does not match")]
    BadDigest,
}

impl Package0 {
    /// A server-initiated DM 1.2 trigger carrying portaldm's token.
    pub fn with_token(session_id: u16, server_id: &str, ui_mode: UiMode, token: &str) -> Self {
        let mut vendor = VENDOR_MARKER.to_vec();
        vendor.extend_from_slice(token.as_bytes());
        Package0 {
            version: VERSION_EMITTED,
            ui_mode,
            server_initiated: true,
            session_id,
            server_id: server_id.to_owned(),
            vendor,
        }
    }

    /// The token in the vendor part, if the trigger carries one.
    pub fn token(&self) -> Option<&str> {
        self.vendor
            .strip_prefix(VENDOR_MARKER.as_slice())
            .and_then(|t| std::str::from_utf8(t).ok())
            .filter(|t| !t.is_empty())
    }

    /// The SyncHdr/SessionID the client must write: upper-case hex, no leading zeros.
    pub fn session_id_hex(&self) -> String {
        format!("{:X}", self.session_id)
    }

    /// The bytes after the digest (the "trigger" the digest covers).
    fn trigger_bytes(&self) -> Result<Vec<u8>, Pkg0Error> {
        let sid = self.server_id.as_bytes();
        if sid.is_empty() || sid.len() > 255 {
            return Err(Pkg0Error::BadServerId);
        }
        if self.vendor.len() > MAX_VENDOR_LEN {
            return Err(Pkg0Error::VendorTooLong);
        }
        let bits: u64 = (u64::from(self.version) & 0x3FF) << 46
            | self.ui_mode.bits() << 44
            | u64::from(self.server_initiated) << 43
            | u64::from(self.session_id);
        let mut out = Vec::with_capacity(8 + sid.len() + self.vendor.len());
        out.extend_from_slice(&bits.to_be_bytes()[1..]);
        out.push(sid.len() as u8);
        out.extend_from_slice(sid);
        out.extend_from_slice(&self.vendor);
        Ok(out)
    }

    /// Encodes the package with its digest over the server's credentials and nonce.
    pub fn encode(&self, password: &[u8], nonce: &[u8]) -> Result<Vec<u8>, Pkg0Error> {
        let trigger = self.trigger_bytes()?;
        let digest = digest(&self.server_id, password, nonce, &trigger);
        let mut out = Vec::with_capacity(16 + trigger.len());
        out.extend_from_slice(&digest);
        out.extend_from_slice(&trigger);
        Ok(out)
    }

    /// Decodes a package as delivered: bare, or inside a WSP Push PDU.
    pub fn decode_delivered(bytes: &[u8]) -> Result<Decoded, Pkg0Error> {
        match Self::decode(bytes) {
            Err(e) => unwrap_wsp_push(bytes).map_or(Err(e.clone()), |inner| Self::decode(inner).map_err(|_| e)),
            ok => ok,
        }
    }

    /// Decodes a package without checking its digest; see [`Decoded::verify_digest`].
    pub fn decode(bytes: &[u8]) -> Result<Decoded, Pkg0Error> {
        if bytes.len() > MAX_PACKAGE_LEN {
            return Err(Pkg0Error::TooLarge);
        }
        if bytes.len() < HEADER_LEN {
            return Err(Pkg0Error::Truncated);
        }
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&bytes[..16]);
        let mut word = [0u8; 8];
        word[1..].copy_from_slice(&bytes[16..23]);
        let bits = u64::from_be_bytes(word);
        let version = ((bits >> 46) & 0x3FF) as u16;
        if version != 11 && version != 12 {
            return Err(Pkg0Error::UnsupportedVersion(version));
        }
        let session_id = (bits & 0xFFFF) as u16;
        if session_id == 0 {
            return Err(Pkg0Error::ZeroSessionId);
        }
        let sid_len = usize::from(bytes[23]);
        let rest = &bytes[HEADER_LEN..];
        if rest.len() < sid_len {
            return Err(Pkg0Error::Truncated);
        }
        let server_id = std::str::from_utf8(&rest[..sid_len]).map_err(|_| Pkg0Error::BadServerId)?;
        if server_id.is_empty() {
            return Err(Pkg0Error::BadServerId);
        }
        let vendor = &rest[sid_len..];
        if vendor.len() > MAX_VENDOR_LEN {
            return Err(Pkg0Error::VendorTooLong);
        }
        Ok(Decoded {
            digest,
            trigger: bytes[16..].to_vec(),
            package: Package0 {
                version,
                ui_mode: UiMode::from_bits(bits >> 44),
                server_initiated: (bits >> 43) & 1 == 1,
                session_id,
                server_id: server_id.to_owned(),
                vendor: vendor.to_vec(),
            },
        })
    }
}

/// WSP's well-known content type code for `application/vnd.syncml.notification` (0x44),
/// as a short integer.
const WSP_NOTIFICATION: u8 = 0x44 | 0x80;

/// The package #0 inside a WSP Push PDU (WAP-230-WSP 8.2.4.1), as an SMS or WAP push carries
/// it: with or without the leading transaction id, PDU type Push (0x06) or ConfirmedPush
/// (0x07), and a content type that names the notification (well-known 0x44 or as text).
/// `None` if `bytes` is not such a PDU.
pub fn unwrap_wsp_push(bytes: &[u8]) -> Option<&[u8]> {
    [1usize, 0].into_iter().find_map(|at| {
        if !matches!(bytes.get(at)?, 0x06 | 0x07) {
            return None;
        }
        let (headers_len, n) = uintvar(bytes.get(at + 1..)?)?;
        let headers_start = at + 1 + n;
        let body_start = headers_start.checked_add(usize::try_from(headers_len).ok()?)?;
        let headers = bytes.get(headers_start..body_start)?;
        let names_notification = match headers.first()? {
            &WSP_NOTIFICATION => true,
            _ => headers.starts_with(crate::media::NOTIFICATION.as_bytes()),
        };
        names_notification.then(|| bytes.get(body_start..)).flatten()
    })
}

/// A WSP uintvar (7 bits per byte, high bit continues, at most 5 bytes): value and length.
fn uintvar(b: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, byte) in b.iter().take(5).enumerate() {
        v = v.checked_shl(7)? | u32::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// A decoded package with the digest it arrived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The fields.
    pub package: Package0,
    digest: [u8; 16],
    trigger: Vec<u8>,
}

impl Decoded {
    /// Checks the digest against the server credentials shared by the ServerID's devices.
    pub fn verify_digest(&self, password: &[u8], nonce: &[u8]) -> Result<(), Pkg0Error> {
        let expected = digest(&self.package.server_id, password, nonce, &self.trigger);
        if bool::from(expected.ct_eq(&self.digest)) { Ok(()) } else { Err(Pkg0Error::BadDigest) }
    }
}

/// `H(B64(H(server-id ":" password)) ":" nonce ":" B64(H(trigger)))`, H = MD5.
fn digest(server_id: &str, password: &[u8], nonce: &[u8], trigger: &[u8]) -> [u8; 16] {
    let mut cred = Md5::new();
    cred.update(server_id.as_bytes());
    cred.update(b":");
    cred.update(password);
    let cred = B64.encode(cred.finalize());
    let body = B64.encode(Md5::digest(trigger));
    let mut h = Md5::new();
    h.update(cred.as_bytes());
    h.update(b":");
    h.update(nonce);
    h.update(b":");
    h.update(body.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Package0 {
        Package0::with_token(0x1A2B, "portaldm", UiMode::UserInteraction, "a.b.c")
    }

    #[test]
    fn lays_out_header_bits() {
        let bytes = sample().encode(b"pw", b"").expect("encodes");
        // version 0b00000010_11, ui 0b11, initiator 1, future-use 0, session id 0x1A2B
        assert_eq!(&bytes[16..23], &[0x02, 0xF8, 0x00, 0x00, 0x00, 0x1A, 0x2B]);
        assert_eq!(bytes[23], 8);
        assert_eq!(&bytes[24..32], b"portaldm");
        assert_eq!(&bytes[32..36], b"PDM1");
        assert_eq!(&bytes[36..], b"a.b.c");
    }

    #[test]
    fn round_trips_and_checks_digest() {
        let bytes = sample().encode(b"pw", b"n").expect("encodes");
        let d = Package0::decode(&bytes).expect("decodes");
        assert_eq!(d.package, sample());
        assert_eq!(d.package.token(), Some("a.b.c"));
        assert_eq!(d.package.session_id_hex(), "1A2B");
        d.verify_digest(b"pw", b"n").expect("digest ok");
        assert_eq!(d.verify_digest(b"other", b"n"), Err(Pkg0Error::BadDigest));
    }

    #[test]
    fn rejects_tampered_byte() {
        let mut bytes = sample().encode(b"pw", b"").expect("encodes");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let d = Package0::decode(&bytes).expect("still decodes");
        assert_eq!(d.verify_digest(b"pw", b""), Err(Pkg0Error::BadDigest));
    }

    #[test]
    fn rejects_short_and_bad_headers() {
        assert_eq!(Package0::decode(&[0; 10]), Err(Pkg0Error::Truncated));
        let mut p = sample();
        p.version = 10;
        let bytes = p.encode(b"pw", b"").expect("encodes");
        assert_eq!(Package0::decode(&bytes), Err(Pkg0Error::UnsupportedVersion(10)));
        let mut bytes = sample().encode(b"pw", b"").expect("encodes");
        bytes[23] = 200;
        assert_eq!(Package0::decode(&bytes), Err(Pkg0Error::Truncated));
    }

    #[test]
    fn unwraps_a_wsp_push() {
        let pkg = sample().encode(b"pw", b"").expect("encodes");
        // TID 0x01, Push, 1 byte of headers: the well-known notification type.
        let mut push = vec![0x01, 0x06, 0x01, 0xC4];
        push.extend_from_slice(&pkg);
        let d = Package0::decode_delivered(&push).expect("unwrapped");
        assert_eq!(d.package, sample());
        d.verify_digest(b"pw", b"").expect("digest over the package itself");
        // Without the TID (connection-oriented), with the type as text and an extra header.
        let mut text = vec![0x06];
        let headers = [crate::media::NOTIFICATION.as_bytes(), b"\0", &[0xAF, 0x84]].concat();
        text.push(headers.len() as u8);
        text.extend_from_slice(&headers);
        text.extend_from_slice(&pkg);
        assert_eq!(Package0::decode_delivered(&text).expect("unwrapped").package, sample());
        // Another content type is not a trigger.
        let mut other = vec![0x01, 0x06, 0x01, 0xB0];
        other.extend_from_slice(&pkg);
        assert!(Package0::decode_delivered(&other).is_err());
        assert!(unwrap_wsp_push(&[0x01, 0x06, 0xFF]).is_none(), "truncated uintvar");
    }

    #[test]
    fn accepts_version_12() {
        let mut p = sample();
        p.version = 12;
        let bytes = p.encode(b"pw", b"").expect("encodes");
        assert_eq!(Package0::decode(&bytes).expect("decodes").package.version, 12);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Package0::decode(&bytes);
        }

        #[test]
        fn round_trips_any(sid in 1u16.., server in "[a-z0-9.]{1,40}", tok in "[A-Za-z0-9._-]{0,300}") {
            let p = Package0::with_token(sid, &server, UiMode::Background, &tok);
            let d = Package0::decode(&p.encode(b"x", b"y").expect("encodes")).expect("decodes");
            prop_assert_eq!(d.package, p);
        }
    }
}
