//! The trigger both ways: minting (portal session id, browser binding, signed token and
//! package #0) and a device's acceptance of one.
//!
//! The edge calls [`mint`] for `GET /portal/trigger` with its clock and randomness; nothing
//! here needs the origin. A device agent calls [`accept`] before it contacts anything.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use crate::binding::BrowserBinding;
use crate::pkg0::{Package0, Pkg0Error, UiMode};
use crate::rand::{SecureRandom, bytes};
use crate::time::UnixMillis;
use crate::token::{Claims, TokenError, TokenSigner, TokenVerified, TokenVerifier};

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
    /// The `Set-Cookie` value carrying the token to the browser's first look at its session
    /// (`binding::TRIGGER_COOKIE`), which is when the origin learns of the trigger.
    pub trigger_cookie: String,
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

/// What the edge knows of the browser that asks for a trigger, from sources it trusts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requester<'a> {
    /// Its country as the platform names it; anything but a country code is left out.
    pub country: Option<&'a str>,
    /// Its address: the token carries its network (`ratelimit::network_of`), which the origin
    /// can require the phone's DM session to come from.
    pub address: Option<&'a str>,
}

/// Mints a portal session and its trigger at `now`, for `requester`.
pub fn mint(
    cfg: &TriggerConfig,
    signer: &TokenSigner,
    rng: &mut dyn SecureRandom,
    now: UnixMillis,
    requester: Requester<'_>,
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
        ctry: requester.country.and_then(crate::catalog::country_code),
        net: requester.address.and_then(crate::ratelimit::network_of),
    };
    let token = signer.sign(&claims)?;
    let package = Package0::with_token(nsid, &cfg.server_id, UiMode::UserInteraction, &token)
        .encode(cfg.server_password.as_bytes(), cfg.nonce.as_bytes())?;
    Ok(Minted {
        package,
        set_cookie: binding.set_cookie(cfg.ttl_secs),
        trigger_cookie: crate::binding::trigger_cookie(&token, cfg.ttl_secs),
        claims,
    })
}

/// What a device knows about the DM account a trigger must match.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// The account's ServerID.
    pub server_id: &'a str,
    /// The server password for the digest, when the device has one.
    pub server_password: Option<&'a [u8]>,
    /// The digest nonce.
    pub nonce: &'a [u8],
}

/// Why a device refuses a trigger (before contacting anything).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a package #0.
    #[error("malformed trigger")]
    Malformed(#[source] Pkg0Error),
    /// For a ServerID this device has no account for.
    #[error("trigger is for ServerID {0:?}, which has no account here")]
    UnknownServer(String),
    /// The digest does not match the account's server credentials (or cannot be checked and
    /// there is no token to rely on instead).
    #[error("trigger digest does not match the server credentials")]
    BadDigest,
    /// No token, or a token for another trigger's session.
    #[error("trigger session token is missing or for another session")]
    TokenMismatch,
    /// The token does not verify.
    #[error("trigger session token refused")]
    Token(#[source] TokenError),
}

/// A trigger a device has checked: the package, its token and the proof it verified.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The package #0.
    pub package: Package0,
    /// The session token, to present in package 1.
    pub token: String,
    /// The token's verified claims.
    pub verified: TokenVerified,
}

/// Checks a trigger as a device must (docs/architecture.md, "The trigger: package #0"): the
/// ServerID names the account, the digest matches when the device has the server password
/// (without one, the token's signature is the only proof), and the token verifies and
/// belongs to this trigger's session id.
pub fn accept(
    bytes: &[u8],
    account: Account<'_>,
    verifier: &TokenVerifier,
    now: UnixMillis,
) -> Result<Accepted, Refusal> {
    let decoded = Package0::decode_delivered(bytes).map_err(Refusal::Malformed)?;
    let package = decoded.package.clone();
    if package.server_id != account.server_id {
        return Err(Refusal::UnknownServer(package.server_id));
    }
    let token = package.token().map(str::to_owned);
    match (account.server_password, &token) {
        (Some(pw), _) => decoded.verify_digest(pw, account.nonce).map_err(|_| Refusal::BadDigest)?,
        (None, None) => return Err(Refusal::BadDigest),
        (None, Some(_)) => {}
    }
    let token = token.ok_or(Refusal::TokenMismatch)?;
    let verified = verifier.verify(&token, now).map_err(Refusal::Token)?;
    if verified.claims().nsid != package.session_id {
        return Err(Refusal::TokenMismatch);
    }
    Ok(Accepted { package, token, verified })
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
        let m = mint(
            &cfg,
            &TokenSigner::new(&seed).expect("signer"),
            &mut rng,
            now,
            Requester { country: Some("de"), address: Some("203.0.113.9") },
        )
        .expect("mints");
        let d = Package0::decode(&m.package).expect("decodes");
        d.verify_digest(b"pw", b"").expect("digest");
        assert_eq!(d.package.session_id, m.claims.nsid);
        let v = TokenVerifier::new(&[seed.ed25519_public()], "origin", "portaldm");
        let ok = v.verify(d.package.token().expect("token"), now).expect("verifies");
        let cookie = m.set_cookie.split(';').next().expect("pair");
        let b = BrowserBinding::from_cookie_header(cookie).expect("cookie");
        assert_eq!(b.sid, ok.claims().sid);
        assert!(b.matches(&ok.claims().bnd));
        // The browser's first look at its session carries the same token.
        let pair = m.trigger_cookie.split(';').next().expect("pair");
        assert_eq!(crate::binding::trigger_token_from_cookie_header(pair), d.package.token());
        assert!(m.trigger_cookie.contains("HttpOnly") && m.trigger_cookie.contains("Path=/portal"));
        assert_eq!(ok.claims().ctry.as_deref(), Some("DE"), "the client's country travels in the token");
        assert_eq!(ok.claims().net.as_deref(), Some("203.0.113.0/24"), "and its network");
        let signer = TokenSigner::new(&seed).expect("signer");
        for unknown in [None, Some("XX"), Some(""), Some("Deutschland")] {
            assert_eq!(
                mint(&cfg, &signer, &mut rng, now, Requester { country: unknown, address: None })
                    .expect("mints")
                    .claims
                    .ctry,
                None,
                "{unknown:?}"
            );
        }
    }

    #[test]
    fn a_device_accepts_only_triggers_for_its_account() {
        let mut rng = TestRng(7);
        let seed = NamedKey::generate("k1", &mut rng).expect("key");
        let cfg = TriggerConfig {
            issuer: "edge".into(),
            audience: "origin".into(),
            server_id: "portaldm".into(),
            server_password: "pw".into(),
            nonce: String::new(),
            ttl_secs: 300,
            colo: "L".into(),
        };
        let now = UnixMillis(1_700_000_000_000);
        let m =
            mint(&cfg, &TokenSigner::new(&seed).expect("signer"), &mut rng, now, Requester::default()).expect("mints");
        let v = TokenVerifier::new(&[seed.ed25519_public()], "origin", "portaldm");
        let acct = Account { server_id: "portaldm", server_password: Some(b"pw"), nonce: b"" };
        let ok = accept(&m.package, acct, &v, now).expect("accepted");
        assert_eq!(ok.verified.claims().nsid, ok.package.session_id);
        let no_pw = Account { server_password: None, ..acct };
        assert!(accept(&m.package, no_pw, &v, now).is_ok(), "the token alone suffices");
        assert!(matches!(accept(b"junk", acct, &v, now), Err(Refusal::Malformed(_))));
        let other = Account { server_id: "other", ..acct };
        assert_eq!(accept(&m.package, other, &v, now).err(), Some(Refusal::UnknownServer("portaldm".into())));
        let wrong = Account { server_password: Some(b"guess"), ..acct };
        assert_eq!(accept(&m.package, wrong, &v, now).err(), Some(Refusal::BadDigest));
        let late = now.plus_secs(3600);
        assert!(matches!(accept(&m.package, acct, &v, late), Err(Refusal::Token(TokenError::Expired))));
        let bare = Package0 { vendor: Vec::new(), ..Package0::decode(&m.package).expect("decodes").package };
        let bare = bare.encode(b"pw", b"").expect("encodes");
        assert_eq!(accept(&bare, acct, &v, now).err(), Some(Refusal::TokenMismatch));
        assert_eq!(accept(&bare, no_pw, &v, now).err(), Some(Refusal::BadDigest), "nothing to trust");
    }
}
