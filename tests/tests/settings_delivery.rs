//! Settings delivered in the DM session: a settings package is checked when added, its values
//! are set all or nothing (one reaching outside `./Settings/` is refused by the phone and
//! nothing of it kept), and nothing is downloaded.

use std::time::Duration;

use portaldm_tests::admin::{get_admin, post_json, upload};
use portaldm_tests::browser::Browser;
use portaldm_tests::{Options, System, wait_with_timeout};
use serde_json::{Value, json};

#[test]
fn settings_are_set_in_the_session_all_or_nothing() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let token = sys.admin_token("network team");
    let doc = json!({ "settings": [
        { "uri": "./Settings/APN/Name", "value": "internet.example" },
        { "uri": "./Settings/VoLTE", "value": "true", "format": "bool" },
    ] });
    let blob = upload(&sys, &token, doc.to_string().as_bytes()).json();
    let add = |name: &str, blob: &Value| {
        post_json(
            &sys,
            &token,
            "/packages",
            &json!({
                "kind": "settings", "name": name, "version": "1", "models": ["PDM-Phone-1"], "blob": blob["sha256"],
            }),
        )
    };
    let good = add("Carrier settings", &blob);
    assert_eq!(good.status, 201, "{}", String::from_utf8_lossy(&good.body));
    let good_id = good.json()["id"].as_i64().expect("id");
    // A document that is not a settings document is refused when added, not on the phone.
    let junk = upload(&sys, &token, b"{\"settings\": [{\"uri\": \"../../etc\", \"value\": \"x\"}]}").json();
    let refused = add("Broken", &junk);
    assert_eq!(refused.status, 400);
    assert!(String::from_utf8_lossy(&refused.body).contains("setting 0"), "{}", String::from_utf8_lossy(&refused.body));
    // One that reaches outside ./Settings/ is valid as a document but the phone refuses it.
    let outside = upload(
        &sys,
        &token,
        json!({ "settings": [
        { "uri": "./Settings/APN/Name", "value": "evil" }, { "uri": "./DMAcc/portaldm/AppAddr", "value": "evil" },
    ] })
        .to_string()
        .as_bytes(),
    )
    .json();
    let outside_id = add("Sneaky", &outside).json()["id"].as_i64().expect("id");

    let settings_file = sys.dir.path().join("dmclient/settings.json");
    for (id, expect_code, expect_state) in [(good_id, 200, "done"), (outside_id, 410, "failed")] {
        let mut phone = Browser::new(&sys.edge);
        let trig = phone.get("/portal/trigger");
        let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
        let view = phone.wait_for("choosing", Duration::from_secs(20));
        assert!(
            view["offers"]
                .as_array()
                .expect("offers")
                .iter()
                .any(|o| o["package"]["id"] == id && o["package"]["kind"] == "settings")
        );
        assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": id })).status, 200);
        let out = wait_with_timeout(client, Duration::from_secs(60));
        let log = String::from_utf8_lossy(&out.stderr);
        let view = phone.wait_for(expect_state, Duration::from_secs(10));
        assert_eq!(view["result"]["code"], expect_code, "{log}");
        assert!(!log.contains("downloading"), "settings are not downloaded: {log}");
    }
    // Only the good package's values were kept, and nothing of the refused one.
    let kept: Value = serde_json::from_slice(&std::fs::read(&settings_file).expect("settings kept")).expect("json");
    assert_eq!(kept, json!({ "./Settings/APN/Name": "internet.example", "./Settings/VoLTE": "true" }));
    let detail = get_admin(&sys, &token, &format!("/packages/{outside_id}")).json();
    assert_eq!(detail["results"][0]["code"], 410);
}
