//! Holds N portal DM sessions open at the origin in package 4 (waiting for a choice that never
//! comes), for the held-session memory benchmark (`scripts/bench-held.sh`): each simulated
//! handset opens its session with a freshly signed token, answers the server's Gets, and then
//! waits in the held request. One task and one connection per handset (hyper's HTTP/1.1
//! client on tokio), so tens of thousands fit one process. Prints `held N failed F` once every
//! session is waiting (its package 3 sent and not answered within a second), then holds until
//! killed.
//!
//! Usage: hold_sessions <dev-setup dir> <origin base URL> <sessions> [first IMEI]; with
//! `HOLD_WARM=1` each connection first asks for the portal page (`GET /portal/`, with the edge
//! credential), as a pooled edge connection carries a page before a DM message.
//!
//! `HOLD_CHOOSE=K`: once all are held, the user of K of them (spread over the N), one after
//! another, says the phone is theirs and chooses its first offer, through the origins of
//! `HOLD_CHOOSE_URLS` in turn (comma-separated; default the origin itself: another one is a
//! replica, whose choice travels by PostgreSQL's NOTIFY), once the file `HOLD_CHOOSE_WHEN`
//! exists if that is set (the benchmark reads the memory of all N held first); prints `chose K p50_ms P p99_ms Q
//! max_ms M`, the time from sending the choice to the held package 4 arriving, then holds the
//! rest until killed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use portaldm_shared::binding::BrowserBinding;
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::keys::NamedKey;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::syncml::xml;
use portaldm_shared::token::{Claims, TokenSigner};
use portaldm_shared::{edgeauth, media};
use tokio::sync::{Semaphore, oneshot};

fn key(dir: &str, name: &str) -> NamedKey {
    let text = std::fs::read_to_string(format!("{dir}/keys.toml")).expect("keys.toml");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} = ")))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("key in keys.toml");
    NamedKey::parse(&value).expect("key")
}

/// What every handset shares.
struct Shared {
    signer: TokenSigner,
    edge: Vec<NamedKey>,
    addr: String,
    /// `HOLD_WARM=1`: each connection first asks for the portal page.
    warm: bool,
    waiting: AtomicUsize,
    failed: AtomicUsize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, origin, n, rest @ ..] = &args[..] else {
        eprintln!("usage: hold_sessions <dev-setup dir> <origin URL> <sessions> [first IMEI]");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("sessions");
    let first: u64 = rest.first().and_then(|v| v.parse().ok()).unwrap_or(380_000_000_000_000);
    let addr = origin.trim_end_matches('/').strip_prefix("http://").expect("an http:// origin URL").to_owned();
    let shared = Arc::new(Shared {
        signer: TokenSigner::new(&key(dir, "token_key")).expect("signer"),
        edge: vec![key(dir, "edge_key")],
        addr,
        warm: std::env::var("HOLD_WARM").is_ok_and(|v| v == "1"),
        waiting: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    });
    // At most 200 sessions opening at once, so the store's writes keep up.
    let opening = Arc::new(Semaphore::new(200));
    let choices: usize = std::env::var("HOLD_CHOOSE").ok().and_then(|v| v.parse().ok()).unwrap_or(0).min(n);
    let chosen: Vec<usize> = (0..choices).map(|k| k * n / choices.max(1)).collect();
    let mut delivered = HashMap::new();
    let started = std::time::Instant::now();
    for i in 0..n {
        let permit = opening.clone().acquire_owned().await.expect("semaphore open");
        let shared = shared.clone();
        let browser = binding(first + i as u64);
        let done = chosen.contains(&i).then(|| {
            let (tx, rx) = oneshot::channel();
            delivered.insert(i, rx);
            tx
        });
        tokio::spawn(async move {
            let result = hold(&shared, first + i as u64, i, &browser, permit, done).await;
            if let Err(e) = result
                && shared.failed.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("session {i}: {e}");
            }
        });
    }
    let count = |s: &Shared| s.waiting.load(Ordering::Relaxed) + s.failed.load(Ordering::Relaxed);
    while count(&shared) < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "held {} failed {} in {:.1} s",
        shared.waiting.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    if choices > 0 {
        if let Ok(when) = std::env::var("HOLD_CHOOSE_WHEN") {
            while !std::path::Path::new(&when).exists() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let urls = std::env::var("HOLD_CHOOSE_URLS").unwrap_or_else(|_| origin.clone());
        let urls: Vec<String> =
            urls.split(',').map(|u| u.trim().trim_end_matches('/').trim_start_matches("http://").to_owned()).collect();
        let mut took = Vec::with_capacity(choices);
        for (k, i) in chosen.iter().enumerate() {
            let rx = delivered.remove(i).expect("a chosen session");
            match choose(&shared, &urls[k % urls.len()], &binding(first + *i as u64), rx).await {
                Ok(t) => took.push(t),
                Err(e) => eprintln!("choice {k} (session {i}): {e}"),
            }
        }
        took.sort();
        let ms = |q: f64| {
            took.get(((took.len() as f64 * q).ceil() as usize).saturating_sub(1)).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        println!("chose {} p50_ms {:.2} p99_ms {:.2} max_ms {:.2}", took.len(), ms(0.5), ms(0.99), ms(1.0));
    }
    std::future::pending::<()>().await;
}

/// The browser of handset `imei`: its cookie and the binding its token carries (the same
/// each time it is asked for, so the choosing loop can find it again).
fn binding(imei: u64) -> BrowserBinding {
    BrowserBinding::generate(&mut Seeded(imei)).expect("a seeded stream never fails")
}

/// A deterministic, NOT secure byte stream (xorshift64*): a benchmark's browsers only.
struct Seeded(u64);

impl portaldm_shared::rand::SecureRandom for Seeded {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), portaldm_shared::rand::RandomUnavailable> {
        for b in dest {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        Ok(())
    }
}

/// One portal request of `browser` at `addr` (on a connection of its own), as the edge
/// forwards it; the answer's JSON.
async fn portal(
    shared: &Shared,
    addr: &str,
    path: &str,
    browser: &BrowserBinding,
    body: String,
) -> Result<serde_json::Value, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let cred = edgeauth::sign(&shared.edge, "POST", path, portaldm_tests::now()).map_err(|e| e.to_string())?;
    let request = hyper::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .header("cookie", format!("{}={}", portaldm_shared::binding::COOKIE_NAME, browser.cookie_value()))
        .header(edgeauth::HEADER, cred)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let r = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = r.status();
    let bytes = r.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    if !status.is_success() {
        return Err(format!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// The user of `browser` says the phone is theirs and chooses its first offer through `addr`;
/// the time from sending the choice to the held package 4 arriving (`delivered`).
async fn choose(
    shared: &Shared,
    addr: &str,
    browser: &BrowserBinding,
    delivered: oneshot::Receiver<Instant>,
) -> Result<Duration, String> {
    let view = portal(shared, addr, "/portal/api/identify", browser, r#"{"mine":true}"#.into()).await?;
    let id = view["offers"][0]["package"]["id"].as_i64().ok_or_else(|| format!("no offer: {view}"))?;
    let sent = Instant::now();
    portal(shared, addr, "/portal/api/select", browser, format!(r#"{{"package_id":{id}}}"#)).await?;
    let arrived = tokio::time::timeout(Duration::from_secs(30), delivered)
        .await
        .map_err(|_| "package 4 did not arrive within 30 s".to_owned())?
        .map_err(|_| "the held session failed".to_owned())?;
    Ok(arrived.saturating_duration_since(sent))
}

/// One handset: open, answer, then wait in the held request (counted in `waiting` once it has
/// gone a second unanswered, when the opening permit is returned too).
async fn hold(
    shared: &Shared,
    imei: u64,
    i: usize,
    browser: &BrowserBinding,
    permit: tokio::sync::OwnedSemaphorePermit,
    mut delivered: Option<oneshot::Sender<Instant>>,
) -> Result<(), String> {
    let secs = portaldm_tests::now().as_secs();
    let nsid = (i % 65_534) as u16 + 1;
    let claims = Claims {
        iss: "bench".into(),
        aud: "portaldm-origin".into(),
        sid: browser.sid.clone(),
        nsid,
        srv: "portaldm".into(),
        iat: secs,
        nbf: secs,
        exp: secs + 3600,
        jti: format!("held-{imei}"),
        bnd: browser.bnd(),
        colo: "BENCH".into(),
        ctry: None,
        net: None,
    };
    let token = shared.signer.sign(&claims).map_err(|e| e.to_string())?;
    let device = DeviceDetails {
        dev_id: format!("IMEI:{imei}"),
        model: Some("PDM-Phone-1".into()),
        fw_v: Some("1.0.0".into()),
        man: Some("portaldm".into()),
        ..DeviceDetails::default()
    };
    let url = format!("http://{}/dm", shared.addr);
    let mut s = ClientSession::server_initiated(device, &url, &format!("{nsid:X}"), &token);
    let stream = tokio::net::TcpStream::connect(&shared.addr).await.map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    if shared.warm {
        // The connection's first request is not a DM message but a portal page, as on a
        // connection the edge's pool opened for a browser.
        let get = signed(shared, "GET", "/portal/", Bytes::new())?;
        let r = sender.send_request(get).await.map_err(|e| e.to_string())?;
        let status = r.status();
        r.into_body().collect().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("/portal/: HTTP {status}"));
        }
    }
    let mut permit = Some(permit);
    let mut out = s.first_message();
    // The session goes on at the path of the RespURI the server names.
    let mut path = "/dm".to_owned();
    for round in 0..50 {
        let request = signed(shared, "POST", &path, Bytes::from(xml::encode(&out)))?;
        let mut answer = std::pin::pin!(sender.send_request(request));
        let response = if round == 1 {
            // Package 3 (the device's details): the answer is held until a choice.
            match tokio::time::timeout(Duration::from_secs(1), &mut answer).await {
                Ok(r) => r,
                Err(_) => {
                    shared.waiting.fetch_add(1, Ordering::Relaxed);
                    drop(permit.take());
                    answer.await
                }
            }
        } else {
            answer.await
        };
        let response = response.map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        if round == 1
            && let Some(done) = delivered.take()
        {
            // The held package 4, answered by the choice: timed, and the session left there.
            let _ = done.send(Instant::now());
            return if status.is_success() { Ok(()) } else { Err(format!("package 4: HTTP {status}")) };
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
        }
        let msg = xml::decode(&bytes).map_err(|e| e.to_string())?;
        if let Some(resp) = &msg.hdr.resp_uri {
            path = portaldm_shared::path::of_url(resp).to_owned();
        }
        match s.handle(&msg).map_err(|e| e.to_string())? {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => return Err(format!("the session ended in round {round} without a choice")),
        }
    }
    Err("too many rounds".into())
}

/// A request as the edge sends it: with the edge's credential for its method and path, and a
/// DM message's content type when it has a body.
fn signed(shared: &Shared, method: &str, path: &str, body: Bytes) -> Result<hyper::Request<Full<Bytes>>, String> {
    let cred = edgeauth::sign(&shared.edge, method, path, portaldm_tests::now()).map_err(|e| e.to_string())?;
    let mut request = hyper::Request::builder().method(method).uri(path).header("host", &shared.addr);
    if !body.is_empty() {
        request = request.header("content-type", media::DM_XML);
    }
    request.header(edgeauth::HEADER, cred).body(Full::new(body)).map_err(|e| e.to_string())
}
