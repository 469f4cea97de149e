//! `dmclient swarm`: many simulated handsets doing the whole portal flow through the edge, for
//! load tests and benchmarks. Each handset has its own identity and runs: trigger (with the
//! browser's cookie), DM session (held until the choice), the browser's part (offers, select),
//! download and check of the package, result session, and the result seen in the portal.
//! Nothing is installed. Latencies per step go into HDR histograms.

use std::io::Read as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use portaldm_shared::fumo::{FumoResult, ResultCode};
use portaldm_shared::portal::{PortalState, SelectRequest, SessionView};
use portaldm_shared::session::client::ClientSession;
use sha2::{Digest as _, Sha256};

use crate::config::Config;
use crate::exit::ClientError;
use crate::{http, session};

/// The steps of one flow, in order.
pub const STEPS: [&str; 6] = ["trigger", "choosing", "select", "delivery", "download", "result"];

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The edge's base URL.
    pub edge: String,
    /// Flows to run in all (0: until `duration`).
    pub devices: usize,
    /// Flows at once.
    pub concurrency: usize,
    /// Stop starting flows after this long.
    pub duration: Option<Duration>,
    /// First IMEI number; handset `i` gets `IMEI:<first + i>`.
    pub first_imei: u64,
}

/// The measurements.
pub struct Report {
    /// Completed flows.
    pub completed: usize,
    /// Failed flows by the step that failed.
    pub failures: Vec<(String, usize)>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Per step, microseconds.
    pub steps: Vec<(&'static str, Histogram<u64>)>,
    /// Whole flows, microseconds.
    pub flows: Histogram<u64>,
    /// Edge requests of all completed flows.
    pub requests: u64,
}

struct Shared {
    steps: Vec<Histogram<u64>>,
    flows: Histogram<u64>,
    failures: std::collections::BTreeMap<String, usize>,
    completed: usize,
    requests: u64,
}

/// 1 µs … 10 min at 3 significant digits.
fn histogram() -> Result<Histogram<u64>, ClientError> {
    Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| ClientError::Config(format!("histogram: {e}")))
}

/// Runs the plan and prints the report.
pub fn run(cfg: &Config, plan: &Plan) -> Result<(), ClientError> {
    if plan.concurrency == 0 || (plan.devices == 0 && plan.duration.is_none()) {
        return Err(ClientError::Config("swarm needs --concurrency ≥ 1 and --devices or --duration".into()));
    }
    let report = swarm(cfg, plan)?;
    print(&report);
    Ok(())
}

/// Runs the plan.
pub fn swarm(cfg: &Config, plan: &Plan) -> Result<Report, ClientError> {
    let mut cfg = cfg.clone();
    cfg.account.dm_url = format!("{}/dm", plan.edge.trim_end_matches('/'));
    cfg.account.auth = None;
    let shared = Arc::new(Mutex::new(Shared {
        steps: STEPS.iter().map(|_| histogram()).collect::<Result<_, _>>()?,
        flows: histogram()?,
        failures: Default::default(),
        completed: 0,
        requests: 0,
    }));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|_| {
            let (cfg, plan, shared, next) = (cfg.clone(), plan.clone(), shared.clone(), next.clone());
            std::thread::Builder::new().stack_size(512 * 1024).spawn(move || {
                let agent = http::agent();
                let mut dm = None;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    if plan.duration.is_some_and(|d| start.elapsed() >= d) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if plan.devices > 0 && i >= plan.devices {
                        return;
                    }
                    let began = Instant::now();
                    let outcome = match dm.take().map_or_else(|| DmClient::spawn(&cfg), Ok) {
                        Ok(mut client) => {
                            let outcome = flow(&cfg, &plan, &agent, &mut client, &mut buf, i);
                            // A session still running after a failed flow would answer the next.
                            dm = (!client.pending).then_some(client);
                            outcome
                        }
                        Err(e) => Err(fail("choosing")(e.to_string())),
                    };
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Ok((times, requests)) => {
                            s.completed += 1;
                            s.requests += requests;
                            let _ = s.flows.record(began.elapsed().as_micros() as u64);
                            for (h, t) in s.steps.iter_mut().zip(times) {
                                let _ = h.record(t.as_micros().max(1) as u64);
                            }
                        }
                        Err(step) => *s.failures.entry(step).or_default() += 1,
                    }
                }
            })
        })
        .collect();
    for w in workers.into_iter().flatten() {
        let _ = w.join();
    }
    let elapsed = start.elapsed();
    let s = Arc::try_unwrap(shared).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()));
    let s = match s {
        Ok(s) => s,
        Err(arc) => {
            let g = arc.lock().unwrap_or_else(|p| p.into_inner());
            Shared {
                steps: g.steps.clone(),
                flows: g.flows.clone(),
                failures: g.failures.clone(),
                completed: g.completed,
                requests: g.requests,
            }
        }
    };
    Ok(Report {
        completed: s.completed,
        failures: s.failures.into_iter().collect(),
        elapsed,
        steps: STEPS.iter().copied().zip(s.steps).collect(),
        flows: s.flows,
        requests: s.requests,
    })
}

fn print(r: &Report) {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!("completed {} flows in {:.1} s: {:.1} flows/s", r.completed, secs, r.completed as f64 / secs);
    if r.completed > 0 {
        println!("requests  {:.1} edge requests per flow", r.requests as f64 / r.completed as f64);
    }
    for (step, n) in &r.failures {
        println!("failed    {n} at {step}");
    }
    println!("{:<10} {:>9} {:>9} {:>9} {:>9}  (ms)", "step", "p50", "p90", "p99", "max");
    let ms = |v: u64| v as f64 / 1000.0;
    for (name, h) in r.steps.iter().map(|(n, h)| (*n, h)).chain(std::iter::once(("flow", &r.flows))) {
        if h.is_empty() {
            continue;
        }
        println!(
            "{name:<10} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
    }
}

/// A handset's DM client: a thread that runs one DM session at a time beside the browser's
/// part of the flow, kept from flow to flow rather than spawned for each (thread creation and
/// teardown showed in the swarm's profile). Each session still opens its own connection, as
/// a handset's would.
struct DmClient {
    sessions: mpsc::Sender<ClientSession>,
    ended: mpsc::Receiver<Result<ClientSession, String>>,
    /// A session was started and its end not yet taken.
    pending: bool,
}

impl DmClient {
    fn spawn(cfg: &Config) -> std::io::Result<Self> {
        let (sessions, to_run) = mpsc::channel::<ClientSession>();
        let (end, ended) = mpsc::channel();
        let cfg = cfg.clone();
        std::thread::Builder::new().stack_size(512 * 1024).spawn(move || {
            for s in to_run {
                let r = session::drive(&cfg, &http::agent(), s, &mut |_, _| Ok(())).map_err(|e| e.to_string());
                if end.send(r).is_err() {
                    return;
                }
            }
        })?;
        Ok(DmClient { sessions, ended, pending: false })
    }

    /// Starts `s` on the client's thread.
    fn start(&mut self, s: ClientSession) -> Result<(), String> {
        self.sessions.send(s).map_err(|_| "the DM thread is gone".to_owned())?;
        self.pending = true;
        Ok(())
    }

    /// Waits for the session started last to end.
    fn finish(&mut self) -> Result<ClientSession, String> {
        let r = self.ended.recv().map_err(|_| "the DM thread is gone".to_owned())?;
        self.pending = false;
        r
    }
}

/// One handset's whole flow; the step times and the number of edge requests it made, or the
/// name of the step that failed.
fn flow(
    cfg: &Config,
    plan: &Plan,
    agent: &ureq::Agent,
    dm: &mut DmClient,
    buf: &mut [u8],
    i: usize,
) -> Result<(Vec<Duration>, u64), String> {
    let mut requests = 0u64;
    let edge = plan.edge.trim_end_matches('/');
    let mut times = Vec::with_capacity(STEPS.len());
    let mut device = cfg.device();
    device.dev_id = format!("IMEI:{}", plan.first_imei + i as u64);

    // 1. The browser opens the portal and receives the trigger and its cookie.
    let t = Instant::now();
    let mut resp = agent.get(&format!("{edge}/portal/trigger")).call().map_err(|e| fail("trigger")(e.to_string()))?;
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| fail("trigger")("no cookie".into()))?;
    let pkg0 = resp.body_mut().with_config().limit(4096).read_to_vec().map_err(|e| fail("trigger")(e.to_string()))?;
    let (package, token) = crate::trigger::check(cfg, &pkg0).map_err(|e| fail("trigger")(e.to_string()))?;
    times.push(t.elapsed());

    // 2. The handset's DM session, on its DM client's thread: it is held open until the choice.
    let t_dm = Instant::now();
    let s = ClientSession::server_initiated(device.clone(), &cfg.account.dm_url, &package.session_id_hex(), &token);
    dm.start(s).map_err(fail("choosing"))?;

    // 3. The browser waits until the device is read and offers are listed, 4. and picks the
    // recommended one.
    let view = wait_for(agent, edge, &cookie, PortalState::Choosing, &mut requests).map_err(fail("choosing"))?;
    times.push(t_dm.elapsed());
    let t = Instant::now();
    let offer = portaldm_shared::catalog::recommended(&view.offers);
    let offer = offer.ok_or_else(|| fail("choosing")("nothing offered".into()))?;
    let pick = SelectRequest { package_id: offer.package.id };
    let body = serde_json::to_vec(&pick).map_err(|e| fail("select")(e.to_string()))?;
    let r = agent
        .post(&format!("{edge}/portal/api/select"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/json")
        .send(&body[..])
        .map_err(|e| fail("select")(e.to_string()))?;
    if !r.status().is_success() {
        return Err(fail("select")(format!("HTTP {}", r.status())));
    }
    times.push(t.elapsed());

    // 5. The delivery reaches the handset through the held session.
    let t = Instant::now();
    let s = dm.finish().map_err(fail("delivery"))?;
    let d = s.deliveries().first().cloned().ok_or_else(|| fail("delivery")("no delivery".into()))?;
    times.push(t.elapsed());

    // 6. Download and check.
    let t = Instant::now();
    let mut resp = agent.get(&d.url).call().map_err(|e| fail("download")(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail("download")(format!("HTTP {}", resp.status())));
    }
    let mut hasher = Sha256::new();
    let mut reader = resp.body_mut().as_reader();
    let mut total = 0u64;
    loop {
        let n = reader.read(buf).map_err(|e| fail("download")(e.to_string()))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    if total != d.size || hex::encode(hasher.finalize()) != d.sha256 {
        return Err(fail("download")("size or SHA-256 mismatch".into()));
    }
    times.push(t.elapsed());

    // 7. The result session, and the result as the browser sees it.
    let t = Instant::now();
    let result = FumoResult { source: d.operation(), correlator: d.correlator.clone(), code: ResultCode::SUCCESS };
    let report = |r: &FumoResult| crate::report::report_as(cfg, agent, device.clone(), r);
    let (messages, orders) = report(&result).map_err(|e| fail("result")(e.to_string()))?;
    requests += u64::from(messages);
    if d.two_step {
        // The download's report is answered with the order to install; then the outcome.
        let order = orders.first().ok_or_else(|| fail("result")("no Update ordered".into()))?;
        requests +=
            u64::from(report(&order.outcome(ResultCode::SUCCESS)).map_err(|e| fail("result")(e.to_string()))?.0);
    }
    let done = wait_for(agent, edge, &cookie, PortalState::Done, &mut requests).map_err(fail("result"))?;
    if done.result.map(|r| r.code) != Some(200) {
        return Err(fail("result")("not shown as 200".into()));
    }
    times.push(t.elapsed());
    // The trigger, the select, the download, and the handset's DM messages.
    requests += 3 + u64::from(s.messages_sent());
    Ok((times, requests))
}

/// A failure at `step`, with a short reason: failures are counted by this text.
fn fail(step: &'static str) -> impl Fn(String) -> String {
    move |e: String| format!("{step}: {}", e.chars().take(80).collect::<String>())
}

/// Polls the portal session until it reaches `state` (30 s at most).
fn wait_for(
    agent: &ureq::Agent,
    edge: &str,
    cookie: &str,
    state: PortalState,
    requests: &mut u64,
) -> Result<SessionView, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        *requests += 1;
        let mut r = agent
            .get(&format!("{edge}/portal/api/session"))
            .header("Cookie", cookie)
            .call()
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("HTTP {}", r.status()));
        }
        let bytes = r.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| e.to_string())?;
        let view: SessionView = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if view.state == state {
            return Ok(view);
        }
        if view.state == PortalState::Identified {
            // The simulated owner says it is their phone.
            *requests += 1;
            agent
                .post(&format!("{edge}/portal/api/identify"))
                .header("Cookie", cookie)
                .header("Content-Type", "application/json")
                .send(br#"{"mine":true}"#.as_slice())
                .map_err(|e| e.to_string())?;
            continue;
        }
        if Instant::now() > deadline {
            return Err(format!("still {:?}", view.state));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
