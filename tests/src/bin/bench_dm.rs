//! The DM server alone, under load: complete portal DM sessions sent straight to the origin
//! (this program plays the edge: it mints the session tokens and signs each request with the
//! edge credential), each with packages 1 to 5 and the result session, the user's choice
//! made through the portal API in between. Reports DM sessions per second and the latency of
//! each DM message; with `--bare URL` it sends the same requests to `bare_axum` instead, for
//! the floor.
//!
//! Usage: `bench_dm --origin URL --dir DEV_SETUP_DIR --concurrency N --secs S [--bare URL]
//! [--rate R]`. With `--rate`, session `i` starts no earlier than `i / R` seconds in: a server
//! is measured at a given load rather than at its most (a server that is never idle spends less
//! per request than one woken for each).
//! The origin must run with `hold_secs = 0`: a held package 4 is answered at once and the
//! client asks again (Alert 1222), so one task drives each session.
//!
//! One thread (a current-thread tokio runtime) drives every session, each over a kept-alive
//! HTTP/1.1 connection of its own (hyper's client): on one core the load generator must cost
//! less than the servers it loads, so that the floor's rate measures the server, not this.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use portaldm_shared::binding::BrowserBinding;
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::edgeauth;
use portaldm_shared::fumo::{FumoResult, ResultCode};
use portaldm_shared::keys::NamedKey;
use portaldm_shared::media::DmEncoding;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::syncml;
use portaldm_shared::token::{Claims, TokenSigner};
use portaldm_tests::now;

struct Args {
    origin: String,
    dir: std::path::PathBuf,
    concurrency: usize,
    secs: u64,
    bare: Option<String>,
    /// Sessions started per second, all drivers together; none: as fast as they go.
    rate: Option<f64>,
}

fn args() -> Result<Args, String> {
    let mut a = Args { origin: String::new(), dir: ".".into(), concurrency: 16, secs: 10, bare: None, rate: None };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        match k.as_str() {
            "--origin" => a.origin = v,
            "--dir" => a.dir = v.into(),
            "--concurrency" => a.concurrency = v.parse().map_err(|_| "bad --concurrency")?,
            "--secs" => a.secs = v.parse().map_err(|_| "bad --secs")?,
            "--bare" => a.bare = Some(v),
            "--rate" => a.rate = Some(v.parse().ok().filter(|r: &f64| *r > 0.0).ok_or("bad --rate")?),
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if a.origin.is_empty() && a.bare.is_none() {
        return Err("--origin or --bare is required".into());
    }
    Ok(a)
}

/// A key from the dev-setup folder's keys.toml.
fn key(dir: &std::path::Path, name: &str) -> Result<NamedKey, String> {
    let text = std::fs::read_to_string(dir.join("keys.toml")).map_err(|e| e.to_string())?;
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} = ")))
        .ok_or(format!("no {name} in keys.toml"))?
        .trim()
        .trim_matches('"');
    NamedKey::parse(v).map_err(|e| e.to_string())
}

/// What every session shares: the server's address and the edge's keys.
struct Ctx {
    /// `host:port`.
    addr: String,
    bare: bool,
    signer: Option<TokenSigner>,
    edge: Vec<NamedKey>,
}

/// How long a request may take, answer and all, before the session counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes of an answer read.
const ANSWER_LIMIT: usize = 1 << 20;

/// One session driver's kept-alive connection to the server, opened again when the server
/// closed it.
struct Conn {
    ctx: Rc<Ctx>,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(ctx: Rc<Ctx>) -> Self {
        Conn { ctx, sender: None }
    }

    /// A sender ready for the next request on a live connection.
    async fn ready(&mut self) -> Result<&mut hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
        if let Some(mut s) = self.sender.take()
            && s.ready().await.is_ok()
        {
            return Ok(self.sender.insert(s));
        }
        let stream = tokio::net::TcpStream::connect(&self.ctx.addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::task::spawn_local(conn);
        Ok(self.sender.insert(sender))
    }

    /// POSTs `body` to `path` as the edge would; the answer's body and the time it took.
    async fn post(
        &mut self,
        path: &str,
        ctype: &str,
        body: &[u8],
        cookie: Option<&str>,
    ) -> Result<(Bytes, Duration), String> {
        let t = Instant::now();
        let mut req = hyper::Request::builder()
            .method("POST")
            .uri(path)
            .header("host", &self.ctx.addr)
            .header("content-type", ctype);
        if !self.ctx.bare {
            let cred = edgeauth::sign(&self.ctx.edge, "POST", path, now()).map_err(|e| e.to_string())?;
            req = req.header(edgeauth::HEADER, cred).header(edgeauth::CLIENT_HEADER, "127.0.0.1");
        }
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).map_err(|e| e.to_string())?;
        let exchange = async {
            let r = self.ready().await?.send_request(req).await.map_err(|e| e.to_string())?;
            let status = r.status();
            let body =
                http_body_util::Limited::new(r.into_body(), ANSWER_LIMIT).collect().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, body.to_bytes()))
        };
        let (status, bytes) = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => answer,
            // The connection is not used again after a failure: it may be mid-answer.
            Ok(Err(e)) => {
                self.sender = None;
                return Err(format!("{path}: {e}"));
            }
            Err(_) => {
                self.sender = None;
                return Err(format!("{path}: no answer within {REQUEST_TIMEOUT:?}"));
            }
        };
        if !status.is_success() {
            return Err(format!("{path}: HTTP {status}"));
        }
        Ok((bytes, t.elapsed()))
    }
}

const DM: &str = "application/vnd.syncml.dm+xml";

/// The OS's random source.
struct OsRandom;

impl portaldm_shared::rand::SecureRandom for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), portaldm_shared::rand::RandomUnavailable> {
        getrandom::fill(dest).map_err(|_| portaldm_shared::rand::RandomUnavailable)
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = getrandom::fill(&mut b);
    b
}

/// Drives `s` to its end; every message's latency into `lat`; the session afterwards. Before
/// the 4th message (the 1222 after the held package 4), with `cookie`, the user chooses.
async fn drive(
    c: &mut Conn,
    mut s: ClientSession,
    lat: &mut Histogram<u64>,
    cookie: Option<&str>,
) -> Result<ClientSession, String> {
    let mut out = s.first_message();
    // The session goes on at the RespURI the server names (its host is the edge's; the path
    // is what counts here).
    let mut path = "/dm".to_owned();
    for n in 0..64 {
        if let (3, Some(cookie)) = (n, cookie) {
            c.post("/portal/api/identify", "application/json", br#"{"mine":true}"#, Some(cookie)).await?;
            c.post("/portal/api/select", "application/json", br#"{"package_id":2}"#, Some(cookie)).await?;
        }
        let body = syncml::encode(DmEncoding::Xml, &out).map_err(|e| e.to_string())?;
        let (answer, took) = c.post(&path, DM, &body, None).await?;
        let _ = lat.record(took.as_micros() as u64);
        let msg = syncml::decode(DmEncoding::Xml, &answer).map_err(|e| e.to_string())?;
        if let Some(resp) = &msg.hdr.resp_uri {
            path = portaldm_shared::path::of_url(resp).to_owned();
        }
        match s.handle(&msg).map_err(|e| e.to_string())? {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => return Ok(s),
        }
    }
    Err("session did not end".into())
}

/// One complete session (packages 1–5 with the choice, then the result session).
async fn session(c: &mut Conn, i: u64, lat: &mut Histogram<u64>) -> Result<(), String> {
    let ctx = c.ctx.clone();
    if ctx.bare {
        // The same requests, to the floor: 5 DM messages, "is this your phone?", the choice,
        // 1 result message.
        for n in 0..8 {
            let (path, ctype) = match n {
                3 => ("/portal/api/identify", "application/json"),
                4 => ("/portal/api/select", "application/json"),
                _ => ("/dm", DM),
            };
            let (_, took) = c.post(path, ctype, b"<SyncML/>", None).await?;
            if path == "/dm" {
                let _ = lat.record(took.as_micros() as u64);
            }
        }
        return Ok(());
    }
    let signer = ctx.signer.as_ref().ok_or("no token key")?;
    let nsid = u16::from_be_bytes(random::<2>());
    let binding = BrowserBinding::generate(&mut OsRandom).map_err(|e| e.to_string())?;
    let t = now().as_secs();
    let claims = Claims {
        iss: "bench".into(),
        aud: "portaldm-origin".into(),
        sid: binding.sid.clone(),
        nsid,
        srv: "portaldm".into(),
        iat: t,
        nbf: t,
        exp: t + 300,
        jti: hex::encode(random::<16>()),
        bnd: binding.bnd(),
        colo: "BENCH".into(),
        ctry: None,
        net: None,
    };
    let token = signer.sign(&claims).map_err(|e| e.to_string())?;
    let device = DeviceDetails {
        dev_id: format!("IMEI:{:015}", 350_000_000_000_000u64 + i),
        man: Some("portaldm".into()),
        model: Some("PDM-Phone-1".into()),
        dm_v: Some("1.2".into()),
        lang: Some("en-US".into()),
        fw_v: Some("1.0.0".into()),
        sw_v: Some("1.0.0".into()),
        hw_v: Some("A1".into()),
        ..Default::default()
    };
    let uri = format!("http://{}/dm", ctx.addr);
    let s = ClientSession::server_initiated(device.clone(), &uri, &format!("{nsid:X}"), &token);
    let cookie = format!("__Host-pdm={}", binding.cookie_value());
    let s = drive(c, s, lat, Some(&cookie)).await?;
    let d = s.deliveries().first().cloned().ok_or("no delivery")?;
    let result = FumoResult { source: d.operation(), correlator: d.correlator, code: ResultCode::SUCCESS };
    let report = ClientSession::report(device, &uri, &format!("{:X}", u16::from_be_bytes(random::<2>())), &result);
    drive(c, report, lat, None).await?;
    Ok(())
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_dm: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_dm: runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(tokio::task::LocalSet::new().run_until(run(a)));
}

/// Runs `a.concurrency` session drivers until the deadline and prints the run's line.
async fn run(a: Args) {
    let bare = a.bare.is_some();
    let base = a.bare.clone().unwrap_or(a.origin.clone());
    let addr = base.trim_end_matches('/').trim_start_matches("http://").to_owned();
    let ctx = Rc::new(Ctx {
        addr,
        bare,
        signer: if bare { None } else { key(&a.dir, "token_key").ok().and_then(|k| TokenSigner::new(&k).ok()) },
        edge: if bare { vec![] } else { key(&a.dir, "edge_key").into_iter().collect() },
    });
    let deadline = Instant::now() + Duration::from_secs(a.secs);
    let hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let totals = Rc::new(RefCell::new((0u64, 0u64, hist())));
    let counter = Rc::new(std::cell::Cell::new(0u64));
    let started = Instant::now();
    let rate = a.rate;
    let drivers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let (ctx, totals, counter) = (ctx.clone(), totals.clone(), counter.clone());
            tokio::task::spawn_local(async move {
                let mut conn = Conn::new(ctx);
                let mut lat = hist();
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let i = counter.get();
                    counter.set(i + 1);
                    if let Some(rate) = rate {
                        let at = started + Duration::from_secs_f64(i as f64 / rate);
                        // Not started at all past the deadline: the run's length stays its own.
                        if at >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(at.into()).await;
                    }
                    match session(&mut conn, i, &mut lat).await {
                        Ok(()) => ok += 1,
                        Err(e) => {
                            failed += 1;
                            if failed <= 3 {
                                eprintln!("session failed: {e}");
                            }
                        }
                    }
                }
                let mut t = totals.borrow_mut();
                t.0 += ok;
                t.1 += failed;
                let _ = t.2.add(&lat);
            })
        })
        .collect();
    for d in drivers {
        let _ = d.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let t = totals.borrow();
    let ms = |q: f64| t.2.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{} sessions={} failed={} secs={:.1} sessions_per_s={:.1} messages_per_s={:.1} msg_p50_ms={:.2} msg_p99_ms={:.2} client_cpu_ms={}",
        if bare { "bare" } else { "dm" },
        t.0,
        t.1,
        secs,
        t.0 as f64 / secs,
        t.2.len() as f64 / secs,
        ms(0.5),
        ms(0.99),
        portaldm_tests::own_cpu_ms().map_or("unknown".to_owned(), |c| c.to_string())
    );
}
