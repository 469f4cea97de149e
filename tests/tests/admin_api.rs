//! The admin API on the real origin: an admin uploads and publishes a package and a phone is
//! offered it and installs it through the edge; revoking it takes it away; every change is in
//! the audit log; every endpoint the OpenAPI document lists refuses a missing, wrong or
//! revoked token; bad uploads and bad requests get clear errors and leave nothing behind.

use std::time::Duration;

use portaldm_tests::admin::{api, bearer, firmware, get_admin, post_json, upload};
use portaldm_tests::browser::{Browser, agent, delete_with, get, get_with, post_with};
use portaldm_tests::{Options, S3Server, System, wait_with_timeout};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn offered_versions(view: &Value) -> Vec<String> {
    view["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| o["package"]["version"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_package_added_through_the_api_is_offered_installed_and_then_revoked() {
    publish_install_revoke(&System::start(Options { hold_secs: 1, ..Options::default() }));
}

#[test]
fn the_admin_api_works_the_same_on_postgresql() {
    publish_install_revoke(&System::start(Options { hold_secs: 1, postgres: true, ..Options::default() }));
}

#[test]
fn blobs_can_live_in_an_s3_compatible_bucket() {
    let s3 = S3Server::start();
    let sys = System::start(Options { hold_secs: 1, blob_s3: Some(s3.endpoint.clone()), ..Options::default() });
    publish_install_revoke(&sys);
    // Every blob (the demo catalog's, the upload) is an object named by its hash, no upload
    // is left half-way, and the folder holds nothing.
    let keys = s3.keys();
    assert!(keys.len() >= 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit())), "{keys:?}");
    let folder = std::fs::read_dir(sys.dir.path().join("blobs")).into_iter().flatten().flatten().count();
    assert_eq!(folder, 0, "nothing in the folder");
    // A range of a demo package through the edge comes from the bucket, byte for byte.
    let url =
        String::from_utf8(sys.origin_cmd(&["catalog", "url", "1", "--device", "IMEI:1"]).output().expect("url").stdout)
            .expect("utf-8");
    let part = get_with(url.trim(), &[("Range", "bytes=1000-1999")]);
    assert_eq!(part.status, 206);
    let blob = url.split("/dl/").nth(1).and_then(|r| r.split('?').next()).expect("blob in URL");
    let object = std::fs::read(s3.dir.path().join(portaldm_tests::S3_BUCKET).join(format!("{blob}._S3rver_object")))
        .expect("the object");
    assert_eq!(part.body, object[1000..2000]);
}

fn publish_install_revoke(sys: &System) {
    let token = sys.admin_token("release pipeline");

    let bytes = firmware(300 * 1024);
    let up = upload(sys, &token, &bytes);
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let blob = up.json();
    assert_eq!(blob["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(blob["size"], bytes.len());
    assert_eq!(upload(sys, &token, &bytes).json(), blob, "the same bytes again: the same blob");

    let req = json!({
        "name": "PDM Phone 1 firmware", "version": "1.5.0", "models": ["PDM-Phone-*"],
        "base_min": "1.0.0", "notes": "Added through the admin API.", "blob": blob["sha256"],
    });
    let added = post_json(sys, &token, "/packages", &req);
    assert_eq!(added.status, 201, "{}", String::from_utf8_lossy(&added.body));
    let pkg = added.json();
    assert_eq!(
        (pkg["version"].as_str(), pkg["status"].as_str(), pkg["size"].as_u64()),
        (Some("1.5.0"), Some("published"), Some(bytes.len() as u64))
    );
    assert!(pkg["signature"].is_string(), "signed with the origin's package key");
    let id = pkg["id"].as_i64().expect("id");

    // A phone on 1.0.0 is offered it first and recommended, and installs exactly these bytes.
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    assert_eq!(offered_versions(&view), ["1.5.0", "1.2.0", "1.1.0"]);
    assert_eq!(view["offers"][0]["recommended"], true);
    assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": id })).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    let staged = std::fs::read_dir(sys.staged_dir()).expect("staged").next().expect("one").expect("entry").path();
    assert_eq!(std::fs::read(staged).expect("read"), bytes);

    // The package's page shows how its delivery ended; the device is in the registry.
    let detail = get_admin(sys, &token, &format!("/packages/{id}")).json();
    assert_eq!(detail["results"], json!([{ "code": 200, "meaning": detail["results"][0]["meaning"], "count": 1 }]));
    let device = get_admin(sys, &token, "/devices/IMEI:490154203237518");
    assert_eq!(device.status, 200);
    assert_eq!(device.json()["details"]["model"], "PDM-Phone-1");
    assert_eq!(device.json()["results"][0]["package_id"], id);
    assert_eq!(device.json()["history"][0]["details"]["fw_v"], "1.0.0", "what it reported, over time");
    let done = get_admin(sys, &token, "/sessions?state=done").json();
    assert_eq!(done.as_array().map(Vec::len), Some(1));
    assert_eq!(done[0]["package_id"], id);

    // Revoked: listed as such, never offered again, its download URL refused at the edge.
    let url = String::from_utf8(
        sys.origin_cmd(&["catalog", "url", &id.to_string(), "--device", "IMEI:1"]).output().expect("url").stdout,
    )
    .expect("utf-8");
    assert_eq!(get(url.trim()).status, 200);
    let revoked = post_json(sys, &token, &format!("/packages/{id}/revoke"), &json!({}));
    assert_eq!(revoked.status, 200, "{}", String::from_utf8_lossy(&revoked.body));
    assert_eq!(post_json(sys, &token, &format!("/packages/{id}/revoke"), &json!({})).status, 404, "only once");
    let listed = get_admin(sys, &token, "/packages").json();
    let row = listed.as_array().expect("list").iter().find(|p| p["id"] == id).expect("still listed").clone();
    assert_eq!(row["status"], "revoked");
    assert_eq!(get(url.trim()).status, 404);
    let mut next = Browser::new(&sys.edge);
    let trig = next.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = next.wait_for("choosing", Duration::from_secs(20));
    assert!(!offered_versions(&view).contains(&"1.5.0".to_owned()), "{view}");
    drop(client);

    // Every change, by whom: the demo catalog from the CLI, the rest with the token.
    let log = get_admin(sys, &token, "/audit?limit=1000").json();
    let entries: Vec<(String, String)> = log
        .as_array()
        .expect("log")
        .iter()
        .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["actor"].as_str().unwrap_or("").to_owned()))
        .collect();
    let by_token =
        |action: &str| entries.iter().filter(|(a, who)| a == action && who.ends_with("(release pipeline)")).count();
    assert_eq!(
        (by_token("blob.upload"), by_token("package.add"), by_token("package.revoke")),
        (2, 1, 1),
        "{entries:?}"
    );
    assert!(entries.iter().any(|(a, who)| a == "package.add" && who.starts_with("cli:")), "{entries:?}");
    assert!(entries.iter().any(|(a, _)| a == "admin_token.create"));
}

/// The offers a fresh phone (PDM-Phone-1 on 1.0.0, language en-US) is shown, as
/// (version, notes), with the browser asking for `accept_language`.
fn offers_seen(sys: &System, accept_language: &str) -> Vec<(String, String)> {
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    phone.wait_for("choosing", Duration::from_secs(20));
    let view = get_with(
        &format!("{}/portal/api/session", sys.edge),
        &[("Cookie", phone.cookie.as_deref().expect("cookie")), ("Accept-Language", accept_language)],
    )
    .json();
    drop(client);
    assert_eq!(view["state"], "choosing");
    view["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| {
            (o["package"]["version"].as_str().unwrap_or("").to_owned(), o["notes"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

/// The versions offered to a fresh phone (PDM-Phone-1 on 1.0.0) whose browser is in `country`.
fn versions_in(sys: &System, country: Option<&str>) -> Vec<String> {
    let mut phone = match country {
        Some(c) => Browser::in_country(&sys.edge, c),
        None => Browser::new(&sys.edge),
    };
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    drop(client);
    offered_versions(&view)
}

#[test]
fn countries_and_operators_limit_where_a_package_is_offered() {
    // The browsers' countries come in the local cf blob, which only an edge behind
    // Cloudflare believes.
    let sys = System::start(Options { hold_secs: 1, trust_cloudflare: true, ..Options::default() });
    let token = sys.admin_token("regional releases");
    let blob = upload(&sys, &token, &firmware(4096)).json();
    // dev-setup's edge mints as `portaldm-edge-local`: that is this portal's operator.
    for (version, countries, operators) in [
        ("1.6.0", json!(["DE", "at"]), json!([])),
        ("1.7.0", json!([]), json!(["another-operator"])),
        ("1.8.0", json!(["FR"]), json!(["portaldm-edge-local"])),
    ] {
        let r = post_json(
            &sys,
            &token,
            "/packages",
            &json!({ "name": "fw", "version": version, "models": ["PDM-Phone-1"], "blob": blob["sha256"],
                     "countries": countries, "operators": operators }),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let listed = get_admin(&sys, &token, "/packages").json();
    let de = listed.as_array().expect("list").iter().find(|p| p["version"] == "1.6.0").expect("1.6.0").clone();
    assert_eq!(de["countries"], json!(["DE", "AT"]), "stored as codes");

    assert_eq!(versions_in(&sys, Some("DE")), ["1.6.0", "1.2.0", "1.1.0"]);
    assert_eq!(versions_in(&sys, Some("FR")), ["1.8.0", "1.2.0", "1.1.0"]);
    assert_eq!(versions_in(&sys, Some("BR")), ["1.2.0", "1.1.0"]);
    assert_eq!(versions_in(&sys, None), ["1.2.0", "1.1.0"], "unknown country: only packages for everywhere");
    // A bad rule is refused with its reason.
    let bad = post_json(
        &sys,
        &token,
        "/packages",
        &json!({ "name": "fw", "version": "1.9.0", "models": ["X"], "blob": blob["sha256"], "countries": ["Germany"] }),
    );
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("ISO 3166-1"), "{}", String::from_utf8_lossy(&bad.body));
}

#[test]
fn drafts_rollouts_hardware_rules_and_languages_reach_the_portal() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let token = sys.admin_token("release manager");
    let blob = upload(&sys, &token, &firmware(4096)).json();
    let draft = post_json(
        &sys,
        &token,
        "/packages",
        &json!({
            "name": "fw", "version": "1.6.0", "models": ["PDM-Phone-1"], "blob": blob["sha256"], "publish": false,
            "rollout_percent": 0, "notes": "Faster boot.", "notes_by_lang": { "fr": "Démarrage plus rapide." },
        }),
    );
    assert_eq!(draft.status, 201, "{}", String::from_utf8_lossy(&draft.body));
    assert_eq!(draft.json()["status"], "draft");
    let id = draft.json()["id"].as_i64().expect("id");
    let other_hw = post_json(
        &sys,
        &token,
        "/packages",
        &json!({
            "name": "fw", "version": "1.7.0", "models": ["PDM-Phone-1"], "blob": blob["sha256"], "hw_revisions": ["rev-Z*"],
        }),
    );
    assert_eq!(other_hw.status, 201, "{}", String::from_utf8_lossy(&other_hw.body));

    let versions = |offers: &[(String, String)]| offers.iter().map(|o| o.0.clone()).collect::<Vec<_>>();
    // A draft is not offered; nor is a package for another hardware revision (the demo
    // phone reports none).
    assert_eq!(versions(&offers_seen(&sys, "en")), ["1.2.0", "1.1.0"]);
    assert_eq!(post_json(&sys, &token, &format!("/packages/{id}/publish"), &json!({})).json()["status"], "published");
    assert_eq!(post_json(&sys, &token, &format!("/packages/{id}/publish"), &json!({})).status, 409, "only a draft");
    // Published at 0%: still nobody.
    assert_eq!(versions(&offers_seen(&sys, "en")), ["1.2.0", "1.1.0"]);
    let auth = bearer(&token);
    let put = |percent: Value| {
        let r = agent()
            .put(&api(&sys, &format!("/packages/{id}/rollout")))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(json!({ "percent": percent }).to_string().as_bytes())
            .expect("PUT");
        r.status().as_u16()
    };
    assert_eq!(put(json!(101)), 400);
    assert_eq!(put(json!(-1)), 422);
    assert_eq!(put(json!(100)), 200);
    // At 100% everyone; notes in the phone's language if the package has it, else the
    // browser's, else the default.
    let offers = offers_seen(&sys, "fr-CH, de;q=0.5");
    assert_eq!(offers[0], ("1.6.0".to_owned(), "Démarrage plus rapide.".to_owned()));
    assert_eq!(
        offers[1],
        ("1.2.0".to_owned(), "Neue Kamera-App, längere Akkulaufzeit.".to_owned()),
        "the demo's German"
    );
    assert_eq!(offers_seen(&sys, "es")[0].1, "Faster boot.");

    let actions: Vec<String> = get_admin(&sys, &token, "/audit")
        .json()
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["actor"].as_str().is_some_and(|a| a.ends_with("(release manager)")))
        .map(|e| e["action"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(actions, ["package.rollout", "package.publish", "package.add", "package.add", "blob.upload"]);
}

/// Every operation of the OpenAPI document, with its path parameters filled in.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            // (put, patch and delete are sent by `call` below)
            if item.get(method).is_some() {
                let filled = path.replace("{id}", "1").replace("{dev_id}", "IMEI:1");
                ops.push((method.to_owned(), filled));
            }
        }
    }
    ops
}

fn call(sys: &System, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    let url = api(sys, path);
    match method {
        "get" => get_with(&url, headers).status,
        "delete" => delete_with(&url, headers).status,
        "put" => {
            let mut req = agent().put(&url).header("Content-Type", "application/json");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(b"{}".as_slice()).expect("PUT").status().as_u16()
        }
        _ => post_with(&url, &[headers, &[("Content-Type", "application/json")]].concat(), b"{}").status,
    }
}

#[test]
fn every_admin_endpoint_refuses_missing_wrong_and_revoked_tokens() {
    let sys = System::start(Options::default());
    let token = sys.admin_token("ops");
    let doomed = sys.admin_token("leaked laptop");

    let doc = get(&api(&sys, "/openapi.json"));
    assert_eq!(doc.status, 200, "the document itself needs no token");
    let doc = doc.json();
    assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
    assert_eq!(doc["servers"][0]["url"], "/admin/api");
    let ops = operations(&doc);
    for expected in [
        ("get", "/packages"),
        ("post", "/packages"),
        ("post", "/blobs"),
        ("get", "/audit"),
        ("get", "/sessions"),
        ("get", "/keys"),
    ] {
        assert!(ops.iter().any(|(m, p)| (m.as_str(), p.as_str()) == expected), "{expected:?} not in {ops:?}");
    }
    assert!(ops.len() >= 11, "{ops:?}");

    let revoke = sys.origin_cmd(&["admin-token", "revoke", &doomed[10..22]]).output().expect("revoke");
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    let wrong_secret =
        format!("{}{}", &token[..token.len() - 4], if token.ends_with("AAAA") { "BBBB" } else { "AAAA" });
    let unknown_id = format!("pdm_admin_ffffffffffff_{}", &token[23..]);
    let refused: [(&str, String); 6] = [
        ("no token", String::new()),
        ("another scheme", format!("Basic {token}")),
        ("not a token", "Bearer hunter2".into()),
        ("wrong secret", bearer(&wrong_secret)),
        ("unknown id", bearer(&unknown_id)),
        ("revoked", bearer(&doomed)),
    ];
    for (method, path) in &ops {
        for (why, auth) in &refused {
            let headers: Vec<(&str, &str)> =
                if auth.is_empty() { vec![] } else { vec![("Authorization", auth.as_str())] };
            assert_eq!(call(&sys, method, path, &headers), 401, "{method} {path} with {why}");
        }
    }
    let r = get_with(&api(&sys, "/packages"), &[]);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{:?}", r.headers);
    assert_eq!(get_admin(&sys, &token, "/packages").status, 200);

    // The edge forwards no admin path, even with a valid token.
    let through_edge = get_with(&format!("{}/admin/api/packages", sys.edge), &[("Authorization", &bearer(&token))]);
    assert_eq!(through_edge.status, 404);

    // A token made through the API works, and revoking it ends it at once.
    let made = post_json(&sys, &token, "/tokens", &json!({ "name": "console" }));
    assert_eq!(made.status, 201);
    let made = made.json();
    let new_token = made["token"].as_str().expect("token").to_owned();
    assert_eq!(get_admin(&sys, &new_token, "/keys").status, 200);
    let listed = get_admin(&sys, &token, "/tokens").json();
    assert!(
        listed.to_string().contains("console") && !listed.to_string().contains(&new_token[23..]),
        "no secrets listed"
    );
    let id = made["id"].as_str().expect("id");
    assert_eq!(
        delete_with(&api(&sys, &format!("/tokens/{id}")), &[("Authorization", &bearer(&new_token))]).status,
        204
    );
    assert_eq!(get_admin(&sys, &new_token, "/keys").status, 401);
}

#[test]
fn bad_admin_requests_get_clear_errors_and_leave_nothing_behind() {
    let sys = System::start(Options { origin_extra: "max_upload_bytes = 100000\n", ..Options::default() });
    let token = sys.admin_token("ops");
    let blobs_before = std::fs::read_dir(sys.dir.path().join("blobs")).expect("blob dir").count();

    // Too large (declared, and streamed without a length), empty.
    let big = upload(&sys, &token, &firmware(100_001));
    assert_eq!(big.status, 413, "{}", String::from_utf8_lossy(&big.body));
    assert!(big.json()["error"].as_str().is_some_and(|e| e.contains("max_upload_bytes")));
    let chunked = agent()
        .post(&api(&sys, "/blobs"))
        .header("Authorization", &bearer(&token))
        .send(ureq::SendBody::from_reader(&mut std::io::Cursor::new(firmware(250_000))))
        .expect("POST");
    assert_eq!(chunked.status().as_u16(), 413);
    assert_eq!(upload(&sys, &token, b"").status, 400);
    let blobs_after = std::fs::read_dir(sys.dir.path().join("blobs")).expect("blob dir").count();
    assert_eq!(blobs_after, blobs_before, "no partial uploads left");

    let good = json!({ "name": "fw", "version": "9.0", "models": ["X"], "blob": "ab".repeat(32) });
    let cases: [(&str, Value, u16); 7] = [
        ("a blob never uploaded", good.clone(), 400),
        ("no models", json!({ "name": "fw", "version": "9.0", "models": [], "blob": "ab".repeat(32) }), 400),
        ("an empty name", json!({ "name": " ", "version": "9.0", "models": ["X"], "blob": "ab".repeat(32) }), 400),
        ("a path as blob", json!({ "name": "fw", "version": "9.0", "models": ["X"], "blob": "../../etc/passwd" }), 400),
        (
            "an unknown field",
            json!({ "name": "fw", "version": "9.0", "models": ["X"], "blob": "ab".repeat(32), "admin": true }),
            422,
        ),
        ("a wrong type", json!({ "name": "fw", "version": 9, "models": ["X"], "blob": "ab".repeat(32) }), 422),
        (
            "a control character",
            json!({ "name": "f\u{1b}[31mw", "version": "9.0", "models": ["X"], "blob": "ab".repeat(32) }),
            400,
        ),
    ];
    for (why, body, status) in cases {
        let r = post_json(&sys, &token, "/packages", &body);
        assert_eq!(r.status, status, "{why}: {}", String::from_utf8_lossy(&r.body));
        assert!(!r.body.is_empty(), "{why}: says why");
    }
    let auth = bearer(&token);
    let not_json = post_with(
        &api(&sys, "/packages"),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        b"{\"name\":",
    );
    assert_eq!(not_json.status, 400);
    let wrong_type = post_with(
        &api(&sys, "/packages"),
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        good.to_string().as_bytes(),
    );
    assert_eq!(wrong_type.status, 415);
    let huge = post_with(
        &api(&sys, "/packages"),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        &vec![b' '; 900_000],
    );
    assert_eq!(huge.status, 413);
    assert_eq!(get_admin(&sys, &token, "/packages/999999").status, 404);
    assert_eq!(post_json(&sys, &token, "/packages/999999/revoke", &json!({})).status, 404);
    assert_eq!(get_admin(&sys, &token, "/packages/abc").status, 400);
    assert_eq!(get_admin(&sys, &token, "/devices/nobody").status, 404);
    assert_eq!(get_admin(&sys, &token, "/sessions?state=bogus").status, 400);
    assert_eq!(get_admin(&sys, &token, "/sessions?limit=-1").status, 400);
    assert_eq!(post_json(&sys, &token, "/tokens", &json!({ "name": "" })).status, 400);
    assert_eq!(delete_with(&api(&sys, "/tokens/ffffffffffff"), &[("Authorization", &auth)]).status, 404);
    // Nothing of this reached the catalog or the audit log.
    let log = get_admin(&sys, &token, "/audit").json();
    assert!(
        log.as_array()
            .expect("log")
            .iter()
            .all(|e| e["action"] != "package.add" || e["actor"].as_str().is_some_and(|a| a.starts_with("cli:")))
    );
    assert!(get(&format!("{}/healthz", sys.origin)).status == 200);
}

/// A client that is still sending a body the origin refuses reads the 413, not a reset: the
/// body arrives in pieces (as over a slow link), so without the lingering close the origin
/// would have answered and closed while the client still wrote, and a write would fail.
#[test]
fn a_refused_body_sent_slowly_still_gets_its_413() {
    use std::io::{Read as _, Write as _};
    let sys = System::start(Options::default());
    let token = sys.admin_token("ops");
    let addr = sys.origin.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let len = 900_000;
    let head = format!(
        "POST /admin/api/packages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).expect("head");
    let piece = vec![b' '; 30_000];
    for i in 0..len / piece.len() {
        conn.write_all(&piece).unwrap_or_else(|e| panic!("piece {i} of the body not accepted: {e}"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[test]
fn keys_add_and_rotate_print_lines_the_origin_accepts() {
    let sys = System::start(Options::default());
    let run = |args: &[&str]| {
        let out = sys.origin_cmd(args).output().expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, listed, _) = run(&["keys", "list"]);
    assert!(ok && listed.contains("cdn1") && listed.contains("dev1"), "{listed}");
    assert!(!listed.contains("cdn1:"), "ids only, never keys: {listed}");

    // Rotating the CDN key: the new one first (it signs), the old one kept.
    let (ok, printed, err) = run(&["keys", "rotate", "cdn", "--kid", "cdn2"]);
    assert!(ok, "{err}");
    let line = printed.lines().find(|l| l.starts_with("cdn_keys = ")).expect("origin line").to_owned();
    assert!(line.starts_with("cdn_keys = \"cdn2:") && line.contains(",cdn1:"), "{line}");
    let cfg = sys.dir.path().join("origin.toml");
    let text = std::fs::read_to_string(&cfg).expect("origin.toml");
    let old = text.lines().find(|l| l.starts_with("cdn_keys = ")).expect("cdn_keys").to_owned();
    std::fs::write(&cfg, text.replace(&old, line.split("   ").next().unwrap_or(&line).trim())).expect("write");
    let (ok, listed, err) = run(&["keys", "list"]);
    assert!(ok, "{err}");
    assert!(listed.contains("cdn2, cdn1"), "{listed}");

    // A token key: the public half for the origin, the seed for the edge's secret.
    let (ok, printed, _) = run(&["keys", "add", "token", "--kid", "tok2"]);
    assert!(
        ok && printed.contains("token_public_keys = \"dev1:") && printed.contains("PDM_TOKEN_KEY   # value: tok2:"),
        "{printed}"
    );
    // Refusals: an id in use, an unknown kind, a bad id.
    assert!(!run(&["keys", "add", "cdn", "--kid", "cdn1"]).0);
    assert!(!run(&["keys", "add", "wifi", "--kid", "x"]).0);
    assert!(!run(&["keys", "add", "edge", "--kid", "a b"]).0);
}

#[test]
fn a_dm_account_given_through_the_api_authenticates_the_phone_and_results_are_listed() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let token = sys.admin_token("provisioning");
    let auth = bearer(&token);
    let put = |dev: &str, body: &Value| {
        let r = agent()
            .put(&api(&sys, &format!("/devices/{dev}/account")))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .expect("PUT");
        let status = r.status().as_u16();
        let body = r.into_body().read_to_string().unwrap_or_default();
        (status, body)
    };
    assert_eq!(put("IMEI:490154203237518", &json!({ "scheme": "rot13" })).0, 400);
    assert_eq!(put("IMEI:490154203237518", &json!({ "owner": "me" })).0, 422);
    let (status, body) = put("IMEI:490154203237518", &json!({}));
    assert_eq!(status, 200, "{body}");
    let issued: Value = serde_json::from_str(&body).expect("json");
    let table = issued["dmclient_toml"].as_str().expect("toml").to_owned();
    assert!(table.starts_with("[account.auth]\nscheme = \"md5\"") && table.contains("server_password"), "{table}");

    // The phone with that table authenticates (MD5 both ways) and gets its update.
    let text = std::fs::read_to_string(sys.client_config()).expect("dmclient.toml");
    let config = sys.dir.path().join("dmclient-account.toml");
    std::fs::write(&config, format!("{text}\n{table}")).expect("write");
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&config, &trig.body);
    phone.wait_for("choosing", Duration::from_secs(20));
    assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": 2 })).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    // Without the account's passwords the same phone is now refused.
    let mut other = Browser::new(&sys.edge);
    let trig = other.get("/portal/trigger");
    let refused = sys.run_dmclient(&sys.client_config(), &trig.body);
    assert!(!refused.status.success(), "a device with an account must authenticate");

    let results = get_admin(&sys, &token, "/results?package_id=2").json();
    assert_eq!(results.as_array().map(Vec::len), Some(1), "{results}");
    assert_eq!((results[0]["code"].as_u64(), results[0]["model"].as_str()), (Some(200), Some("PDM-Phone-1")));
    assert_eq!(get_admin(&sys, &token, "/results?package_id=4").json(), json!([]));
    assert_eq!(get_admin(&sys, &token, "/results?since_ms=abc").status, 400);
    let log = get_admin(&sys, &token, "/audit").json();
    assert!(
        log.as_array()
            .expect("log")
            .iter()
            .any(|e| e["action"] == "device.account" && e["target"] == "IMEI:490154203237518")
    );
    assert!(
        !log.to_string().contains(
            issued["dmclient_toml"]
                .as_str()
                .unwrap_or("-")
                .split("client_password = ")
                .nth(1)
                .unwrap_or("-")
                .lines()
                .next()
                .unwrap_or("-")
        ),
        "no password in the audit log"
    );
}

#[test]
fn a_read_only_token_reads_and_changes_nothing() {
    let sys = System::start(Options::default());
    let admin = sys.admin_token("ops");
    let out =
        sys.origin_cmd(&["admin-token", "create", "--name", "dashboard", "--read-only"]).output().expect("create");
    assert!(out.status.success());
    let reader = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
    for path in ["/packages", "/sessions", "/audit", "/keys", "/tokens", "/results"] {
        assert_eq!(get_admin(&sys, &reader, path).status, 200, "{path}");
    }
    let listed = get_admin(&sys, &admin, "/tokens").json();
    assert!(listed.as_array().expect("tokens").iter().any(|t| t["name"] == "dashboard" && t["read_only"] == true));
    let before = get_admin(&sys, &admin, "/audit").json().as_array().map(Vec::len);
    let refused = [
        post_json(&sys, &reader, "/packages/2/revoke", &json!({})),
        post_json(&sys, &reader, "/tokens", &json!({ "name": "escalate" })),
        upload(&sys, &reader, b"bytes"),
        delete_with(&api(&sys, &format!("/tokens/{}", &admin[10..22])), &[("Authorization", &bearer(&reader))]),
    ];
    for r in refused {
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
        assert!(String::from_utf8_lossy(&r.body).contains("read-only"));
    }
    assert_eq!(get_admin(&sys, &admin, "/audit").json().as_array().map(Vec::len), before, "nothing changed");
    assert_eq!(get_admin(&sys, &admin, "/packages/2").json()["package"]["status"], "published");
}
