//! What an operator watches: Prometheus metrics after a real flow, readiness and liveness on
//! the origin's own address (never through the edge), and JSON logs when asked for.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use portaldm_tests::browser::{Browser, get};
use portaldm_tests::{Options, System, free_port, wait_with_timeout};
use serde_json::json;

/// The value of the sample `name` (with its labels, as rendered) in a Prometheus text page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn metrics_count_a_flow_and_health_endpoints_answer() {
    let sys = System::start(Options::default());
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let offered = view["offers"].as_array().map_or(0, Vec::len) as f64;
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    phone.wait_for("done", Duration::from_secs(10));

    let m = get(&format!("{}/metrics", sys.origin));
    assert_eq!(m.status, 200);
    let page = String::from_utf8_lossy(&m.body).into_owned();
    assert_eq!(sample(&page, "portaldm_selections_total"), Some(1.0), "{page}");
    assert_eq!(sample(&page, "portaldm_offers_shown_total"), Some(offered), "{page}");
    assert_eq!(sample(&page, "portaldm_results_total{code=\"200\"}"), Some(1.0), "{page}");
    assert_eq!(sample(&page, "portaldm_portal_sessions{state=\"done\"}"), Some(1.0), "{page}");
    // Package 4 waited for the choice: one held message; the others were answered at once.
    assert_eq!(sample(&page, "portaldm_dm_message_seconds_count{held=\"true\"}"), Some(1.0), "{page}");
    assert!(sample(&page, "portaldm_dm_message_seconds_count{held=\"false\"}").is_some_and(|n| n >= 2.0), "{page}");
    assert!(page.contains("portaldm_dm_message_seconds_bucket{le=\"0.1\",held=\"false\"}"), "{page}");

    assert_eq!(get(&format!("{}/readyz", sys.origin)).status, 200);
    assert_eq!(get(&format!("{}/healthz", sys.origin)).status, 200);
    // Not published through the edge.
    assert_eq!(get(&format!("{}/metrics", sys.edge)).status, 404);
}

#[test]
fn logs_are_json_lines_when_asked() {
    let sys = System::start(Options::default());
    let port = free_port();
    let mut child = sys
        .origin_cmd(&["serve"])
        .env("PORTALDM_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("origin");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a log line").expect("read");
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(v["level"], "INFO", "{v}");
    assert!(v["fields"]["message"].is_string(), "{v}");
}
