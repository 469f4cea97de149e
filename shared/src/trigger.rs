//! Minting a trigger: portal session id, browser binding, signed token and package #0.
//!
//! The edge calls [`mint`] for `GET /portal/trigger` with its clock and randomness; nothing
//! here needs the origin.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use crate::binding::BrowserBinding;
use crate::pkg0::{Package0, Pkg0Error, UiMode};
use crate::rand::{SecureRandom, bytes};
use crate::time::UnixMillis;
use crate::token::{Claims, TokenError, TokenSigner};

/// What the edge knows to mint triggers.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    /// `iss`: this edge deployment.
    pub issuer: String,
    /// `aud`: the origin DM server.
    pub audience: String,
    /// The DM server's ServerID.
    pub server_id: String,
    /// Server password shared by the ServerID's devices, for the pkg#0 digest.
    pub server_password: String,
    /// Nonce for the pkg#0 digest.
    pub nonce: String,
    /// Token lifetime in seconds.
    pub ttl_secs: u64,
    /// Edge location name.
    pub colo: String,
}

/// A minted trigger.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The package #0 bytes (`application/vnd.syncml.notification`).
    pub package: Vec<u8>,
    /// The `Set-Cookie` value binding the browser.
    pub set_cookie: String,
    /// The token's claims.
    pub claims: Claims,
}

/// Why minting failed (a configuration fault, never the client's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// Signing failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] crate::rand::RandomUnavailable),
    /// The package could not be encoded (ServerID too long or empty).
    #[error(transparent)]
    Package(#[from] Pkg0Error),
}

/// Mints a portal session and its trigger at `now`.
pub fn mint(
    cfg: &TriggerConfig,
    signer: &TokenSigner,
    rng: &mut dyn SecureRandom,
    now: UnixMillis,
) -> Result<Minted, MintError> {
    let binding = BrowserBinding::generate(rng)?;
    let nsid = loop {
        let n = u16::from_be_bytes(bytes::<2>(rng)?);
        if n != 0 {
            break n;
        }
    };
    let secs = now.as_secs();
    let claims = Claims {
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone(),
        sid: binding.sid.clone(),
        nsid,
        srv: cfg.server_id.clone(),
        iat: secs,
        nbf: secs,
        exp: secs + cfg.ttl_secs,
        jti: B64URL.encode(bytes::<16>(rng)?),
        bnd: binding.bnd(),
        colo: cfg.colo.clone(),
    };
    let token = signer.sign(&claims)?;
    let package = Package0::with_token(nsid, &cfg.server_id, UiMode::UserInteraction, &token)
        .encode(cfg.server_password.as_bytes(), cfg.nonce.as_bytes())?;
    Ok(Minted { package, set_cookie: binding.set_cookie(cfg.ttl_secs), claims })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::NamedKey;
    use crate::rand::TestRng;
    use crate::token::TokenVerifier;

    #[test]
    fn minted_trigger_carries_a_verifiable_bound_token() {
        let mut rng = TestRng(42);
        let seed = NamedKey::generate("k1", &mut rng).expect("key");
        let cfg = TriggerConfig {
            issuer: "edge".into(),
            audience: "origin".into(),
            server_id: "portaldm".into(),
            server_password: "pw".into(),
            nonce: String::new(),
            ttl_secs: 300,
            colo: "LOCAL".into(),
        };
        let now = UnixMillis(1_700_000_000_000);
        let m = mint(&cfg, &TokenSigner::new(&seed).expect("signer"), &mut rng, now).expect("mints");
        let d = Package0::decode(&m.package).expect("decodes");
        d.verify_digest(b"pw", b"").expect("digest");
        assert_eq!(d.package.session_id, m.claims.nsid);
        let v = TokenVerifier::new(&[seed.ed25519_public()], "origin", "portaldm");
        let ok = v.verify(d.package.token().expect("token"), now).expect("verifies");
        let cookie = m.set_cookie.split(';').next().expect("pair");
        let b = BrowserBinding::from_cookie_header(cookie).expect("cookie");
        assert_eq!(b.sid, ok.claims().sid);
        assert!(b.matches(&ok.claims().bnd));
    }
}
