//! The whole portaldm flow on real parts: trigger at the edge (wasm in workerd), DM
//! session at the origin, offers and choice in the "browser", delivery through the held
//! DM session, download through the edge, result back in the portal.

use std::time::Duration;

use portaldm_shared::binding::BrowserBinding;
use portaldm_shared::media;
use portaldm_shared::pkg0::{Package0, UiMode};
use portaldm_shared::token::TokenVerifier;
use portaldm_tests::browser::{Browser, get, get_with, head};
use portaldm_tests::{Options, System, now, wait_with_timeout};
use serde_json::json;
use sha2::{Digest as _, Sha256};

#[test]
fn a_handset_gets_a_compatible_update_through_the_portal() {
    whole_flow(System::start(Options { hold_secs: 1, ..Options::default() }));
}

#[test]
fn the_whole_flow_runs_on_postgresql_too() {
    whole_flow(System::start(Options { hold_secs: 1, postgres: true, ..Options::default() }));
}

fn whole_flow(sys: System) {
    let keys = sys.keys();
    let mut phone = Browser::new(&sys.edge);

    // The landing page comes through the edge and starts the trigger itself.
    let page = phone.get("/portal/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(String::from_utf8_lossy(&page.body).contains("/portal/trigger"));
    assert!(phone.cookie.is_none(), "the page itself mints nothing");
    // The page is static: cacheable, and revalidated by its ETag through the edge.
    assert!(page.header("cache-control").is_some_and(|c| c.contains("max-age")), "{:?}", page.header("cache-control"));
    let tag = page.header("etag").expect("etag").to_owned();
    assert_eq!(get_with(&format!("{}/portal/", sys.edge), &[("If-None-Match", &tag)]).status, 304);

    // A handset that asks for the trigger type on an entry page gets the trigger at once,
    // unless it already has a portal session.
    let asks = [("Accept", "text/html, application/vnd.syncml.notification;q=0.9")];
    let direct = get_with(&format!("{}/portal/", sys.edge), &asks);
    assert_eq!(direct.header("content-type"), Some(media::NOTIFICATION));
    assert!(Package0::decode(&direct.body).is_ok());
    let cookie = direct.header("set-cookie").and_then(|c| c.split(';').next()).expect("cookie").to_owned();
    let again = get_with(&format!("{}/portal/", sys.edge), &[asks[0], ("Cookie", &cookie)]);
    assert!(again.header("content-type").is_some_and(|t| t.starts_with("text/html")), "not re-triggered");

    // The trigger: dedicated MIME type, pkg#0 layout, verifiable token, binding cookie.
    let trig = phone.get("/portal/trigger");
    assert_eq!(trig.status, 200);
    assert_eq!(trig.header("content-type"), Some(media::NOTIFICATION));
    let set_cookie = trig.header("set-cookie").expect("cookie set").to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "cookie lacks {attr}: {set_cookie}");
    }
    let decoded = Package0::decode(&trig.body).expect("trigger decodes");
    decoded.verify_digest(keys.server_password.as_bytes(), b"").expect("digest over the server credentials");
    let pkg = &decoded.package;
    assert_eq!((pkg.version, pkg.ui_mode, pkg.server_initiated), (11, UiMode::UserInteraction, true));
    assert_eq!(pkg.server_id, "portaldm");
    assert_eq!(&trig.body[32..36], b"PDM1", "vendor part opens with PDM1 after an 8-byte server id");
    let verifier = TokenVerifier::new(&[keys.token.ed25519_public()], "portaldm-origin", "portaldm");
    let token = verifier.verify(pkg.token().expect("token in trigger"), now()).expect("token verifies");
    assert_eq!(token.claims().nsid, pkg.session_id);
    let binding = BrowserBinding::from_cookie_header(phone.cookie.as_deref().expect("cookie")).expect("pdm cookie");
    assert_eq!(binding.sid, token.claims().sid);
    assert!(binding.matches(&token.claims().bnd), "cookie secret hashes to the token's bnd");

    // Before the phone connects the browser waits.
    assert_eq!(phone.session()["state"], "waiting");

    // The phone's content dispatcher hands the trigger to dmclient.
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    // The browser recognises the phone by its model and masked DevId, never the whole IMEI.
    assert_eq!(view["device"]["dev_id"], "IMEI:•••••••••••7518");
    assert_eq!(view["device"]["model"], "PDM-Phone-1");
    assert_eq!(view["device"]["fw_v"], "1.0.0", "DevDetail was read with Get");

    // Offers: compatible only, newest first. The demo catalog also holds a package for
    // PDM-Phone-2 and one that needs base firmware 1.2.0: neither is offered.
    let offered: Vec<(String, bool)> = view["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| (o["package"]["version"].as_str().unwrap_or("").to_owned(), o["recommended"] == true))
        .collect();
    assert_eq!(offered, vec![("1.2.0".to_owned(), true), ("1.1.0".to_owned(), false)]);
    let chosen = &view["offers"][0]["package"];

    // A stranger's browser cannot see or pick this session's offers.
    let mut stranger = Browser::new(&sys.edge);
    stranger.get("/portal/trigger");
    assert_eq!(stranger.session()["state"], "waiting");
    assert!(stranger.session()["offers"].as_array().is_some_and(|a| a.is_empty()));
    let mut forger = Browser::new(&sys.edge);
    let stranger_secret = stranger.binding_cookie().and_then(|c| c.split_once('.')).map(|(_, s)| s.to_owned());
    forger.cookie = Some(format!("__Host-pdm={}.{}", binding.sid, stranger_secret.expect("secret")));
    assert_eq!(forger.get("/portal/api/session").status, 403);
    let pick = json!({ "package_id": chosen["id"] });
    assert_eq!(forger.post_json("/portal/api/select", &pick).status, 403);
    assert_eq!(Browser::new(&sys.edge).post_json("/portal/api/select", &pick).status, 401);

    // Package 4 is held at least once (hold is 1 s) before the user chooses.
    sys.wait_for_held(1);
    let picked = phone.post_json("/portal/api/select", &pick);
    assert_eq!(picked.status, 200, "{}", String::from_utf8_lossy(&picked.body));
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 409, "a second choice is refused");

    let out = wait_with_timeout(client, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dmclient failed: {log}");
    assert!(log.contains("result 200"), "{log}");
    let view = phone.wait_for("done", Duration::from_secs(10));
    assert_eq!(view["result"]["code"], 200);
    assert_eq!(view["selected"], chosen["id"]);

    // The bytes that reached the phone are the package's.
    let staged = std::fs::read_dir(sys.staged_dir()).expect("staged").next().expect("one file").expect("entry").path();
    let bytes = std::fs::read(staged).expect("read staged");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), chosen["blob"].as_str().expect("blob"));
    assert_eq!(bytes.len() as u64, chosen["size"].as_u64().expect("size"));

    // The result is this browser's alone.
    assert!(stranger.session()["result"].is_null());
}

#[test]
fn a_choice_made_on_another_replica_wakes_the_held_session_at_once() {
    // Package 4 is held as long as allowed (25 s): only a cross-replica wake-up (LISTEN/NOTIFY)
    // delivers sooner.
    let hold_secs = portaldm_shared::session::hold::MAX_SECS;
    let sys = System::start(Options { hold_secs, postgres: true, ..Options::default() });
    let replica = sys.start_replica();
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500)); // the DM session is now held on the first origin

    // The choice reaches the replica (as if the edge had routed it there).
    let body = json!({ "package_id": view["offers"][0]["package"]["id"] }).to_string();
    let cred = portaldm_shared::edgeauth::sign(&[sys.keys().edge], "POST", "/portal/api/select", now()).expect("sign");
    let started = std::time::Instant::now();
    let r = portaldm_tests::browser::agent()
        .post(&format!("{}/portal/api/select", replica.url))
        .header("Content-Type", "application/json")
        .header("Cookie", phone.cookie.as_deref().expect("cookie"))
        .header(portaldm_shared::edgeauth::HEADER, &cred)
        .send(body.as_bytes())
        .expect("select on the replica");
    assert_eq!(r.status(), 200);
    phone.wait_for_any(&["delivered", "done"], Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(10), "woken by NOTIFY, not by the hold expiring");
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
}

#[test]
fn a_wbxml_handset_gets_its_update_too() {
    let sys = System::start(Options::default());
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let cfg = sys.client_config_with("wbxml.toml", "encoding = \"wbxml\"");
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    assert_eq!(view["device"]["fw_v"], "1.0.0", "DevDetail read over WBXML");
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
}

#[test]
fn a_small_package_travels_inside_the_dm_session() {
    // 256 KiB demo packages inline over WBXML: about 350 KB of base64, more than the client's
    // 64 KiB MaxMsgSize. This test sees the package arrive whole; that it was split into
    // messages within the limit is checked by the core's two-sided session test.
    let sys = System::start(Options { origin_extra: "inline_max_bytes = 1048576\n", ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let cfg = sys.client_config_with("inline.toml", "encoding = \"wbxml\"");
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let chosen = view["offers"][0]["package"].clone();
    assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": chosen["id"] })).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dmclient: {log}");
    assert!(log.contains("inside the session"), "{log}");
    assert!(!log.contains("downloading"), "no download: {log}");
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    let staged = std::fs::read_dir(sys.staged_dir()).expect("staged").next().expect("one file").expect("entry").path();
    let bytes = std::fs::read(staged).expect("read staged");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), chosen["blob"].as_str().expect("blob"));
}

#[test]
fn a_failed_install_is_reported_and_shown_in_plain_words() {
    let sys = System::start(Options::default());
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    // The installer sees the verified package and its metadata, then fails.
    let cfg = sys.client_config_with_installer(
        "failing.toml",
        "test -s \"$PDM_PACKAGE\" && test \"$PDM_PKG_VERSION\" = 1.2.0 && exit 1; exit 3",
    );
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(view["offers"][0]["package"]["version"], "1.2.0");
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(9), "update failed: {}", String::from_utf8_lossy(&out.stderr));
    let view = phone.wait_for("failed", Duration::from_secs(10));
    assert_eq!(view["result"]["code"], 410);
    assert_eq!(view["result"]["message"], "the update failed on the device");
}

#[test]
fn a_cut_download_resumes_where_it_stopped() {
    let sys = System::start(Options::default());
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client_started = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let chosen = view["offers"][0]["package"].clone();
    let blob = chosen["blob"].as_str().expect("blob").to_owned();
    // A previous run got 100,000 bytes before it was cut.
    let bytes = std::fs::read(sys.dir.path().join("blobs").join(&blob)).expect("blob file");
    let jobs = sys.dir.path().join("dmclient/jobs");
    std::fs::create_dir_all(&jobs).expect("jobs dir");
    std::fs::write(jobs.join(format!("{blob}.part")), &bytes[..100_000]).expect("seed");
    assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": chosen["id"] })).status, 200);
    let out = wait_with_timeout(client_started, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("resuming download at 100000 of 262144 bytes"), "{log}");
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    let staged = std::fs::read_dir(sys.staged_dir()).expect("staged").next().expect("file").expect("entry").path();
    assert_eq!(hex::encode(Sha256::digest(std::fs::read(staged).expect("read"))), blob);
}

#[test]
fn signed_downloads_through_the_edge_are_checked_before_any_byte() {
    let sys = System::start(Options::default());
    let keys = sys.keys();
    let listing = sys.origin_cmd(&["catalog", "list"]).output().expect("list");
    let text = String::from_utf8_lossy(&listing.stdout);
    let blob = text.lines().next().and_then(|l| l.split("sha256=").nth(1)).expect("a package").trim().to_owned();
    let id = text.lines().next().and_then(|l| l.split_whitespace().next()).expect("id").to_owned();
    let package: i64 = id.parse().expect("id");
    let exp = now().as_secs() + 600;
    let good =
        portaldm_shared::cdn::sign(std::slice::from_ref(&keys.cdn), &blob, package, "IMEI:1", exp).expect("sign");

    let r = get(&format!("{}{good}", sys.edge));
    assert_eq!(r.status, 200);
    assert_eq!(hex::encode(Sha256::digest(&r.body)), blob, "bytes through the edge match the SHA-256");

    let other_blob = format!("{}{}", &blob[..63], if blob.ends_with('0') { '1' } else { '0' });
    let tampered = [
        (good.replacen(&blob, &other_blob, 1), 403),
        (good.replace("IMEI%3A1", "IMEI%3A2"), 403),
        (good.replace(&format!("e={exp}"), &format!("e={}", exp + 1)), 403),
        (format!("{good}x"), 403),
        (good.replace(&format!("&e={exp}"), ""), 400),
        (good.replace("s=cdn1.", "s=cdn9."), 403),
    ];
    for (url, status) in tampered {
        assert_eq!(get(&format!("{}{url}", sys.edge)).status, status, "{url}");
    }
    // Ranges and validators, decided at the origin and passed through by the edge.
    let url = format!("{}{good}", sys.edge);
    let etag = format!("\"{blob}\"");
    let part = get_with(&url, &[("Range", "bytes=1000-1999")]);
    assert_eq!((part.status, part.header("content-range")), (206, Some("bytes 1000-1999/262144")));
    assert_eq!(part.body, r.body[1000..2000]);
    let tail = get_with(&url, &[("Range", "bytes=-16"), ("If-Range", &etag)]);
    assert_eq!((tail.status, &tail.body[..]), (206, &r.body[r.body.len() - 16..]));
    assert_eq!(get_with(&url, &[("Range", "bytes=5-"), ("If-Range", "\"stale\"")]).status, 200);
    let past = get_with(&url, &[("Range", "bytes=999999-")]);
    assert_eq!((past.status, past.header("content-range")), (416, Some("bytes */262144")));
    assert_eq!(get_with(&url, &[("If-None-Match", &etag)]).status, 304);
    let h = head(&url);
    assert_eq!((h.status, h.header("content-length"), h.body.len()), (200, Some("262144"), 0));
    assert_eq!(h.header("etag"), Some(etag.as_str()));
    assert_eq!(h.header("accept-ranges"), Some("bytes"));

    // A revoked package's URLs stop working at once.
    let revoked = sys.origin_cmd(&["catalog", "revoke", &id]).output().expect("revoke");
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    assert_eq!(get(&url).status, 404);
    let again = sys.origin_cmd(&["catalog", "revoke", &id]).output().expect("revoke");
    assert_eq!(again.status.code(), Some(1), "revoking twice is an error");

    let expired =
        portaldm_shared::cdn::sign(std::slice::from_ref(&keys.cdn), &blob, package, "IMEI:1", now().as_secs() - 10)
            .expect("sign");
    assert_eq!(get(&format!("{}{expired}", sys.edge)).status, 410);
    // No way around the edge: the origin refuses requests without the edge's credential,
    // even with a valid download signature, and its blob endpoint re-checks that signature.
    let query = good.split_once('?').expect("query").1;
    let direct = get(&format!("{}/blobs/{blob}?{query}", sys.origin));
    assert_eq!(direct.status, 403);
    assert!(String::from_utf8_lossy(&direct.body).contains("did not come through the edge"));
    // With the edge's credential but a tampered download signature, the blob endpoint's own
    // check refuses it too.
    let tampered = format!("/blobs/{blob}?{}", query.replace("IMEI%3A1", "IMEI%3A2"));
    let cred =
        portaldm_shared::edgeauth::sign(std::slice::from_ref(&keys.edge), "GET", &tampered, now()).expect("sign");
    let r = get_with(&format!("{}{tampered}", sys.origin), &[(portaldm_shared::edgeauth::HEADER, &cred)]);
    assert_eq!(r.status, 403);
    assert!(String::from_utf8_lossy(&r.body).contains("download URL signature is invalid"));
    for path in ["/portal/", "/portal/api/session"] {
        assert_eq!(get(&format!("{}{path}", sys.origin)).status, 403, "{path}");
    }
    let dm = portaldm_tests::browser::post(&format!("{}/dm", sys.origin), media::DM_XML, b"<SyncML/>");
    assert_eq!(dm.status, 403);
    assert_eq!(get(&format!("{}/healthz", sys.origin)).status, 200);
}
