//! The origin killed (SIGKILL) and restarted at random points of portal flows: before the DM
//! session opens, while package 4 is held, right after the choice (delivery and download in
//! flight) and while the result is being reported. Every flow completes or is cleanly
//! restartable by the user (a new trigger), no result is lost or counted twice, and no package
//! reaches a device that did not choose one. `PDM_FAULT_RUNS` flows (5 in `make test`, 50 in
//! `make faults`), `PDM_FAULT_SEED` picks the points.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use portaldm_shared::rand::{SecureRandom as _, TestRng};
use portaldm_tests::browser::Browser;
use portaldm_tests::{Options, OwnPostgres, System, bin, wait_with_timeout};
use serde_json::{Value, json};

fn below(rng: &mut TestRng, n: u64) -> u64 {
    let mut b = [0u8; 8];
    rng.fill(&mut b).expect("rng");
    u64::from_le_bytes(b) % n.max(1)
}

/// The portal session's state, or `None` while the origin is down.
fn state(phone: &mut Browser) -> Option<Value> {
    let r = phone.get("/portal/api/session");
    (r.status == 200).then(|| r.json())
}

/// Waits (bounded) until the session is in one of `states`.
fn reach(phone: &mut Browser, states: &[&str], limit: Duration) -> Option<Value> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(v) = state(phone) {
            if states.iter().any(|s| v["state"] == *s) {
                return Some(v);
            }
            // The phone's owner says it is their phone (the origin may be down: try again).
            if v["state"] == "identified" {
                let _ = phone.identify(true);
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A dmclient configuration for one device with its own state folder.
fn device_config(sys: &System, run: u64) -> (PathBuf, PathBuf, String) {
    let dev_id = format!("IMEI:35{run:013}");
    let state = sys.dir.path().join(format!("device-{run}"));
    let text = std::fs::read_to_string(sys.client_config()).expect("config");
    let state_line = text.lines().find(|l| l.starts_with("state_dir")).expect("state_dir").to_owned();
    let text = text
        .replace("dev_id = \"IMEI:490154203237518\"", &format!("dev_id = \"{dev_id}\""))
        .replace(&state_line, &format!("state_dir = {:?}", state.to_string_lossy()));
    let path = sys.dir.path().join(format!("device-{run}.toml"));
    std::fs::write(&path, text).expect("write");
    (path, state, dev_id)
}

/// One user's attempt: trigger, dmclient, choice. Returns whether a choice was made.
fn attempt(sys: &System, cfg: &std::path::Path, phone: &mut Browser) -> (std::process::Child, bool) {
    let trig = phone.get("/portal/trigger");
    assert_eq!(trig.status, 200);
    let client = sys.spawn_dmclient(cfg, &trig.body);
    (client, false)
}

fn select(phone: &Browser, view: &Value) -> bool {
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    phone.post_json("/portal/api/select", &pick).status == 200
}

#[test]
fn the_origin_killed_at_random_points_loses_nothing_and_delivers_nothing_unasked() {
    let runs: u64 = std::env::var("PDM_FAULT_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let seed: u64 = std::env::var("PDM_FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0xfa17);
    let mut rng = TestRng(seed);
    let mut sys = System::start(Options { hold_secs: 4, ..Options::default() });
    for run in 0..runs {
        let (cfg, state_dir, dev_id) = device_config(&sys, run);
        let point = below(&mut rng, 4);
        let delay = Duration::from_millis(below(&mut rng, 700));
        let why = format!("run {run} (seed {seed}): kill point {point} after {delay:?}");
        eprintln!("faults: {why}");
        let mut phone = Browser::new(&sys.edge);
        let (client, _) = attempt(&sys, &cfg, &mut phone);
        let mut selects = 0;
        if point >= 1 {
            let view = reach(&mut phone, &["choosing"], Duration::from_secs(20)).expect(&why);
            if point >= 2 {
                selects += u32::from(select(&phone, &view));
            }
            if point == 3 {
                let _ = reach(&mut phone, &["delivered", "done"], Duration::from_secs(20));
            }
        }
        std::thread::sleep(delay);
        sys.kill_origin();
        std::thread::sleep(Duration::from_millis(below(&mut rng, 500)));
        sys.start_origin();

        // The user carries on where the portal says they are; a flow that cannot go on is
        // started again with a new trigger.
        if selects == 0
            && let Some(view) = reach(&mut phone, &["choosing"], Duration::from_secs(10))
        {
            selects += u32::from(select(&phone, &view));
        }
        let first = wait_with_timeout(client, Duration::from_secs(90));
        let finished = reach(&mut phone, &["done", "failed"], Duration::from_secs(5));
        if finished.is_none() {
            eprintln!("faults: {why}: the first flow did not finish ({:?}); starting again", first.status.code());
            let mut again = Browser::new(&sys.edge);
            let (client, _) = attempt(&sys, &cfg, &mut again);
            let view = reach(&mut again, &["choosing"], Duration::from_secs(20)).expect(&why);
            selects += u32::from(select(&again, &view));
            let out = wait_with_timeout(client, Duration::from_secs(90));
            assert!(out.status.success(), "{why}: the restarted flow: {}", String::from_utf8_lossy(&out.stderr));
            let done = reach(&mut again, &["done"], Duration::from_secs(10));
            assert!(done.is_some(), "{why}: the restarted flow completes");
        }
        // Whatever dmclient could not report yet, it reports now (as its retries would).
        let report = portaldm_tests::dmclient(&cfg).arg("report").output().expect("report");
        assert!(report.status.success(), "{why}: report: {}", String::from_utf8_lossy(&report.stderr));

        // Invariants.
        let jobs: Vec<Value> = std::fs::read_dir(state_dir.join("jobs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).expect("job")).expect("json"))
            .collect();
        assert!(jobs.len() as u32 <= selects, "{why}: {} deliveries for {selects} choices: {jobs:?}", jobs.len());
        let shown = sys.origin_cmd(&["device", "show", &dev_id]).output().expect("device show");
        let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
        let results: Vec<&str> = shown.lines().filter(|l| l.starts_with("result ")).collect();
        for job in &jobs {
            let correlator = job["delivery"]["correlator"].as_str().expect("correlator");
            assert_eq!(job["reported"].as_bool(), Some(true), "{why}: every result reported: {job}");
            let n = results.iter().filter(|l| l.contains(correlator)).count();
            assert_eq!(n, 1, "{why}: result of {correlator} recorded once:\n{shown}");
        }
        assert_eq!(results.len(), jobs.len(), "{why}: no result without a delivery:\n{shown}");
        assert!(!jobs.is_empty(), "{why}: the user got the package in the end");
        let _ = first;
    }
}

#[test]
fn the_origin_carries_on_when_postgresql_restarts_under_load() {
    let pg = OwnPostgres::start();
    // A long hold: a choice that failed to wake the held session would only go out after it.
    let opts =
        Options { database: Some(pg.database("faults")), hold_secs: 8, unlimited_minting: true, ..Options::default() };
    let mut sys = System::start(opts);
    let swarm = Command::new(bin("dmclient"))
        .arg("-c")
        .arg(sys.client_config())
        .args(["swarm", "--edge", &sys.edge, "--devices", "0", "--duration-secs", "10", "--concurrency", "3"])
        .args(["--first-imei", "370000000000000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("swarm");
    std::thread::sleep(Duration::from_secs(3));
    pg.restart();
    let out = wait_with_timeout(swarm, Duration::from_secs(120));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("faults: swarm across a PostgreSQL restart:\n{report}");
    let completed: u64 = report
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("swarm report: {report}"));
    assert!(completed > 0, "flows completed around the restart: {report}");
    // After the restart the origin works as before: a whole flow, the choice waking the held
    // session, the result recorded.
    let mut phone = Browser::new(&sys.edge);
    let (client, _) = attempt(&sys, &sys.client_config(), &mut phone);
    let view = reach(&mut phone, &["choosing"], Duration::from_secs(20)).expect("choosing after the restart");
    let started = Instant::now();
    assert!(select(&phone, &view));
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(reach(&mut phone, &["done"], Duration::from_secs(10)).is_some(), "the flow after the restart completes");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the choice woke the held session at once (LISTEN reconnected)"
    );
    sys.kill_origin();
}
