//! The admin console in real headless Chromium: an admin signs in with an admin token and
//! uploads a package; a handset (Chromium again, with dmclient as its DM client) is offered
//! it and installs it; the admin revokes it, and the next handset no longer sees it. The
//! console's live views show the session, the device and the results chart. Screenshots of
//! every page are kept in `target/browser-artifacts/`.

use portaldm_tests::{Options, System, bin, chromium};
use serde_json::{Value, json};

fn handset(sys: &System, name: &str, expect: Value) -> Value {
    chromium::run(
        "handset.mjs",
        name,
        &[
            ("EDGE_URL", sys.edge.clone()),
            ("DMCLIENT_BIN", bin("dmclient").display().to_string()),
            ("DMCLIENT_CONFIG", sys.client_config().display().to_string()),
            ("EXPECT", expect.to_string()),
        ],
    )
}

#[test]
fn an_admin_publishes_in_the_console_a_phone_installs_it_and_a_revoke_takes_it_away() {
    let sys = System::start(Options { hold_secs: 2, ..Options::default() });
    let token = sys.admin_token("console admin");
    let file = sys.dir.path().join("fw-1.9.0.bin");
    std::fs::write(&file, (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect::<Vec<_>>())
        .expect("write");

    let added = chromium::run(
        "console.mjs",
        "console-publish",
        &[
            ("ORIGIN_URL", sys.origin.clone()),
            ("TOKEN", token.clone()),
            ("ACTION", "publish".into()),
            ("FILE", file.display().to_string()),
            ("VERSION", "1.9.0".into()),
            ("MODELS", "PDM-Phone-1".into()),
        ],
    );
    let id = added["package_id"].as_i64().expect("package id");

    handset(
        &sys,
        "console-handset-offered",
        json!({
            "offers": ["1.9.0", "1.2.0", "1.1.0"], "done": "PDM Phone 1 firmware 1.9.0 is installed",
        }),
    );

    let revoked = chromium::run(
        "console.mjs",
        "console-revoke",
        &[
            ("ORIGIN_URL", sys.origin.clone()),
            ("TOKEN", token.clone()),
            ("ACTION", "revoke".into()),
            ("PACKAGE_ID", id.to_string()),
            ("DEV_ID", "IMEI:490154203237518".into()),
        ],
    );
    assert_eq!(revoked["sessions_done"], 1, "{revoked}");
    assert_eq!(revoked["device_results"], 1, "{revoked}");
    assert_eq!(revoked["device_history"], 1, "one set of details reported so far: {revoked}");
    assert_eq!(revoked["charts"], 3, "{revoked}");
    assert!(revoked["chart_bars"].as_u64().is_some_and(|n| n >= 3), "{revoked}");

    handset(
        &sys,
        "console-handset-after-revoke",
        json!({ "offers": ["1.2.0", "1.1.0"], "done": "1.2.0 is installed" }),
    );

    // The console's changes are in the audit log under the console and the token's name.
    let log = portaldm_tests::browser::get_with(
        &format!("{}/admin/api/audit", sys.origin),
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .json();
    let actions: Vec<&str> = log
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("console:") && a.ends_with("(console admin)")))
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["package.revoke", "console.sign_in", "package.add", "blob.upload", "console.sign_in"]);
}
