//! The origin's router driven in-process (`tower::ServiceExt::oneshot`), on a real SQLite
//! store in a temporary folder: no sockets, no workerd, no PostgreSQL. What needs the real
//! processes (the edge's wasm, the connection loop, dmclient) stays in `tests/tests/`.

mod admin_auth;
mod dm_messages;
mod held_messages;
mod own_routes;
mod portal_api;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::keys::NamedKey;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::syncml::{Command, SyncMl, xml};
use portaldm_shared::token::TokenSigner;
use portaldm_shared::trigger::{Minted, Requester, TriggerConfig};
use tower::ServiceExt as _;

use crate::clock::{OsRandom, now};
use crate::config::Config;
use crate::state::AppState;

/// The DM media type in XML.
pub const DM_XML: &str = "application/vnd.syncml.dm+xml";
/// Where the edge is, as the origin's configuration names it.
const PUBLIC: &str = "http://edge.test";

/// An origin's routes on their own store, with the keys an edge of theirs would hold.
pub struct TestApp {
    /// Holds the database and the blobs; removed when dropped.
    _dir: tempfile::TempDir,
    /// The state the routes share (its store is the test's way to look behind them).
    pub state: AppState,
    /// The token signing seed the origin trusts.
    pub token_key: NamedKey,
    /// The edge's request-credential key.
    pub edge_key: NamedKey,
}

/// An answer, read whole.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("JSON ({e}): {}", self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The status the server gave the SyncML header.
    pub fn header_status(&self) -> u16 {
        let m = xml::decode(&self.body).unwrap_or_else(|e| panic!("answer is SyncML ({e}): {}", self.text()));
        header_status(&m)
    }
}

/// The status of the SyncHdr in `m`.
pub fn header_status(m: &SyncMl) -> u16 {
    m.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd == "SyncHdr" => Some(s.data),
            _ => None,
        })
        .expect("a header status")
}

impl TestApp {
    /// A fresh origin (hold of 1 s) with the demo catalog loaded.
    pub async fn start() -> TestApp {
        TestApp::start_with("").await
    }

    /// [`TestApp::start`], with `extra` lines added to the configuration.
    pub async fn start_with(extra: &str) -> TestApp {
        TestApp::start_holding(1, extra).await
    }

    /// [`TestApp::start_with`], holding package 4 for `hold_secs`.
    pub async fn start_holding(hold_secs: u64, extra: &str) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let token_key = NamedKey::generate("dev1", &mut OsRandom).expect("key");
        let cdn_key = NamedKey::generate("cdn1", &mut OsRandom).expect("key");
        let edge_key = NamedKey::generate("edge1", &mut OsRandom).expect("key");
        let lit = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        let text = format!(
            "database = {db}\nblob_dir = {blobs}\nserver_id = \"portaldm\"\naudience = \"portaldm-origin\"\n\
             dm_uri = \"{PUBLIC}/dm\"\npublic_url = \"{PUBLIC}\"\ntoken_public_keys = {tpk}\ncdn_keys = {cdn}\n\
             edge_keys = {ek}\nhold_secs = {hold_secs}\n{extra}",
            db = lit(&format!("sqlite://{}", dir.path().join("origin.db").display())),
            blobs = lit(&dir.path().join("blobs").display().to_string()),
            tpk = lit(&token_key.ed25519_public().to_entry()),
            cdn = lit(&cdn_key.to_entry()),
            ek = lit(&edge_key.to_entry()),
        );
        let path = dir.path().join("origin.toml");
        std::fs::write(&path, &text).expect("write");
        let cfg = Config::load(&path).expect("configuration");
        crate::commands::catalog::run(&cfg, crate::cli::CatalogCommand::Demo).await.expect("demo catalog");
        let store = crate::commands::open_store(&cfg).await.expect("store");
        let state = AppState::new(cfg, store).expect("state");
        TestApp { _dir: dir, state, token_key, edge_key }
    }

    /// Sends `req` through every route and layer, as served.
    pub async fn send(&self, req: Request<Body>) -> Answer {
        send_to(self.state.clone(), req).await
    }

    /// A DM message posted through the edge to `target`, as a request.
    fn dm_request(&self, target: &str, content_type: &str, body: Vec<u8>) -> Request<Body> {
        let req = self.through_edge(Method::POST, target).header(header::CONTENT_TYPE, content_type);
        req.body(Body::from(body)).expect("request")
    }

    /// A request as the edge forwards it: with its credential for this method and target.
    pub fn through_edge(&self, method: Method, target: &str) -> axum::http::request::Builder {
        let credential =
            portaldm_shared::edgeauth::sign(std::slice::from_ref(&self.edge_key), method.as_str(), target, now())
                .expect("signs");
        Request::builder()
            .method(method)
            .uri(target)
            .header(portaldm_shared::edgeauth::HEADER, credential)
            .header(portaldm_shared::edgeauth::CLIENT_HEADER, "192.0.2.10")
    }

    /// Posts a DM message through the edge to `target` (`/dm` or a session's `RespURI` path).
    pub async fn post_dm(&self, target: &str, content_type: &str, body: Vec<u8>) -> Answer {
        self.send(self.dm_request(target, content_type, body)).await
    }

    /// Signs `claims` with the key the origin trusts.
    pub fn sign(&self, claims: &portaldm_shared::token::Claims) -> String {
        TokenSigner::new(&self.token_key).expect("signer").sign(claims).expect("signs")
    }

    /// A trigger as the edge mints it for a browser.
    pub fn mint(&self) -> Minted {
        let cfg = TriggerConfig {
            issuer: "test".into(),
            audience: "portaldm-origin".into(),
            server_id: "portaldm".into(),
            server_password: "server-password".into(),
            nonce: String::new(),
            ttl_secs: 300,
            colo: "TEST".into(),
        };
        let signer = TokenSigner::new(&self.token_key).expect("signer");
        portaldm_shared::trigger::mint(&cfg, &signer, &mut OsRandom, now(), Requester::default()).expect("mints")
    }
}

/// Sends `req` through every route and layer of `state`'s origin, as served.
async fn send_to(state: AppState, req: Request<Body>) -> Answer {
    let res = super::app(state).oneshot(req).await.expect("infallible");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Answer { status: parts.status, headers: parts.headers, body }
}

/// The `name=value` part of a `Set-Cookie` value.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap_or_default()
}

/// A handset's browser: the cookies of the trigger it was minted.
pub struct Browser {
    /// Its trigger.
    pub minted: Minted,
    cookie: String,
}

impl Browser {
    /// A browser that fetched a fresh trigger from the edge.
    pub fn new(app: &TestApp) -> Browser {
        let minted = app.mint();
        let cookie = format!("{}; {}", cookie_pair(&minted.set_cookie), cookie_pair(&minted.trigger_cookie));
        Browser { minted, cookie }
    }

    /// This browser with another cookie header (another browser's, a forged one).
    pub fn with_cookie(&self, cookie: &str) -> Browser {
        Browser { minted: self.minted.clone(), cookie: cookie.to_owned() }
    }

    /// `GET` a portal route through the edge with this browser's cookies.
    pub async fn get(&self, app: &TestApp, path: &str) -> Answer {
        let req = app.through_edge(Method::GET, path).header(header::COOKIE, &self.cookie);
        app.send(req.body(Body::empty()).expect("request")).await
    }

    /// `POST` JSON to a portal route through the edge with this browser's cookies.
    pub async fn post_json(&self, app: &TestApp, path: &str, json: serde_json::Value) -> Answer {
        let req = app
            .through_edge(Method::POST, path)
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/json");
        app.send(req.body(Body::from(json.to_string())).expect("request")).await
    }

    /// The portal session as the JSON API shows it.
    pub async fn session(&self, app: &TestApp) -> serde_json::Value {
        let a = self.get(app, "/portal/api/session").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        a.json()
    }
}

/// A handset `dev_id` (model PDM-Phone-1 on firmware 1.0.0) answering `browser`'s trigger,
/// its session stepped by the test.
pub fn handset(browser: &Browser, dev_id: &str) -> ClientSession {
    let device = DeviceDetails {
        dev_id: dev_id.into(),
        man: Some("Acme".into()),
        model: Some("PDM-Phone-1".into()),
        fw_v: Some("1.0.0".into()),
        ..Default::default()
    };
    let claims = &browser.minted.claims;
    let token = portaldm_shared::pkg0::Package0::decode(&browser.minted.package)
        .expect("pkg0")
        .package
        .token()
        .expect("token")
        .to_owned();
    ClientSession::server_initiated(device, &format!("{PUBLIC}/dm"), &format!("{:X}", claims.nsid), &token)
}

/// The path of a DM URL of this origin (`http://edge.test/dm/…` → `/dm/…`).
fn dm_target(url: &str) -> &str {
    url.strip_prefix(PUBLIC).expect("a URL of this origin")
}

/// Takes `phone` through package 1 and its answer: package 2's answer as it came, and the
/// phone's package 3, not yet sent (it posts to `phone.next_url()`).
pub async fn to_package_3(app: &TestApp, phone: &mut ClientSession) -> (Answer, SyncMl) {
    let pkg1 = xml::encode(&phone.first_message());
    let pkg2 = app.post_dm(dm_target(phone.next_url()), DM_XML, pkg1).await;
    assert_eq!(pkg2.status, StatusCode::OK, "{}", pkg2.text());
    match phone.handle(&xml::decode(&pkg2.body).expect("SyncML")).expect("pkg2") {
        ClientStep::Send(pkg3) => (pkg2, *pkg3),
        ClientStep::Done => panic!("the phone ended at package 2"),
    }
}

/// Runs `phone`'s session against `app` to its end, as a handset would; returns the session.
/// Run it beside the browser's steps (`tokio::join!`): its package 4 is held while the test,
/// as the browser's user, decides. (One task, not a spawned one: the router's futures are
/// `Send` for hyper's concrete types, which the compiler cannot show for a spawned test.)
pub async fn run_phone(app: &TestApp, mut phone: ClientSession) -> ClientSession {
    let mut out = phone.first_message();
    for _ in 0..60 {
        let a = app.post_dm(dm_target(phone.next_url()), DM_XML, xml::encode(&out)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let answer = xml::decode(&a.body).expect("SyncML");
        match phone.handle(&answer).expect("handles") {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => return phone,
        }
    }
    panic!("the session did not end in 60 messages");
}

/// Polls `browser`'s session (answering nothing) until it is `state`; its view.
pub async fn reach(app: &TestApp, browser: &Browser, state: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = browser.session(app).await;
        if v["state"] == state {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {state}: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
