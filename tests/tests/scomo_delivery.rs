//! An application delivered through SCOMO: added through the admin API, offered beside the
//! firmware in its own group, installed by dmclient as an app and reported as a success.

use std::time::Duration;

use portaldm_tests::admin::{firmware, get_admin, post_json, upload};
use portaldm_tests::browser::{Browser, get_with};
use portaldm_tests::{Options, System, wait_with_timeout};
use serde_json::json;

#[test]
fn an_application_is_delivered_through_scomo() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let token = sys.admin_token("apps team");
    let bytes = firmware(50_000);
    let blob = upload(&sys, &token, &bytes).json();
    let app = post_json(
        &sys,
        &token,
        "/packages",
        &json!({
            "kind": "application", "name": "PDM Maps", "version": "3.1", "models": ["PDM-Phone-*"],
            "base_min": "1.0.0", "notes": "Offline maps.", "blob": blob["sha256"],
        }),
    );
    assert_eq!(app.status, 201, "{}", String::from_utf8_lossy(&app.body));
    assert_eq!(app.json()["kind"], "application");
    let id = app.json()["id"].as_i64().expect("id");
    assert_eq!(
        post_json(
            &sys,
            &token,
            "/packages",
            &json!({
                "kind": "ringtone", "name": "x", "version": "1", "models": ["X"], "blob": blob["sha256"],
            })
        )
        .status,
        422,
        "an unknown kind"
    );

    // Offered beside the firmware (an app's version is not compared with the firmware's),
    // recommended within its own group; the firmware keeps its own recommendation.
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let offers: Vec<(String, String, bool)> = view["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| {
            (
                o["package"]["kind"].as_str().unwrap_or("").to_owned(),
                o["package"]["version"].as_str().unwrap_or("").to_owned(),
                o["recommended"] == true,
            )
        })
        .collect();
    let expected = [("firmware", "1.2.0", true), ("firmware", "1.1.0", false), ("application", "3.1", true)];
    assert_eq!(offers, expected.map(|(k, v, r)| (k.to_owned(), v.to_owned(), r)));
    // The portal page groups them.
    let page = String::from_utf8_lossy(
        &get_with(&format!("{}/portal/status", sys.edge), &[("Cookie", phone.cookie.as_deref().expect("cookie"))]).body,
    )
    .into_owned();
    assert!(page.contains("id=\"group-firmware\"") && page.contains("id=\"group-apps\""), "{page}");

    assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": id })).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    // Delivered through SCOMO (the job names the SCOMO operation), installed as an app.
    let jobs = portaldm_tests::jobs(&sys);
    let job = jobs.iter().find(|j| j["delivery"]["node"] == format!("pdm{id}")).expect("the app's job");
    assert_eq!(
        (job["delivery"]["kind"].as_str(), job["reported"].as_bool()),
        (Some("application"), Some(true)),
        "{job}"
    );
    assert_eq!(std::fs::read(sys.staged_dir().join("apps/PDM_Maps-3.1.bin")).expect("staged app"), bytes);
    let detail = get_admin(&sys, &token, &format!("/packages/{id}")).json();
    assert_eq!(detail["results"][0]["code"], 200, "the SCOMO result 1200 reads as success: {detail}");
}
