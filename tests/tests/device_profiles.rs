//! Device profiles on the real origin: the admin API lists, adds, replaces and deletes them
//! behind its bearer tokens (read-only tokens change nothing), refuses a profile that breaks
//! a rule with a 400 that says which, and audits every change; the CLI and the console
//! manage the same profiles.

use portaldm_tests::browser::{Reply, agent, delete_with, get_with, post_with};
use portaldm_tests::{Options, System};
use serde_json::{Value, json};

/// The origin's hold limit in these tests: a profile may hold no longer.
const HOLD: u64 = 10;

fn start() -> System {
    System::start(Options { hold_secs: HOLD, ..Options::default() })
}

fn api(sys: &System, path: &str) -> String {
    format!("{}/admin/api{path}", sys.origin)
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn send(sys: &System, method: &str, token: &str, path: &str, body: &Value) -> Reply {
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    match method {
        "GET" => get_with(&api(sys, path), &headers[..1]),
        "DELETE" => delete_with(&api(sys, path), &headers[..1]),
        "POST" => post_with(&api(sys, path), &headers, body.to_string().as_bytes()),
        _ => {
            let mut req = agent().put(api(sys, path));
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let mut r = req.send(body.to_string().as_bytes()).expect("PUT");
            let body = r.body_mut().read_to_vec().expect("body");
            Reply { status: r.status().as_u16(), headers: vec![], body }
        }
    }
}

fn listed(sys: &System, token: &str) -> Vec<Value> {
    let r = send(sys, "GET", token, "/profiles", &Value::Null);
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json().as_array().expect("a list").clone()
}

fn audit_actions(sys: &System, token: &str) -> Vec<String> {
    let log = send(sys, "GET", token, "/audit", &Value::Null).json();
    log.as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("profile."))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_admin_api_manages_profiles_behind_its_tokens_and_refuses_bad_ones() {
    let sys = start();
    let token = sys.admin_token("ops");
    assert!(listed(&sys, &token).is_empty());

    let stock = json!({
        "name": "Acme X1 stock client", "man": "Acme*", "models": ["X1", "X1-*"],
        "fumo_root": "./FwUpdate/stock", "scomo_root": "./SCOMO", "encoding": "wbxml",
        "auth_scheme": "md5", "max_msg_size": 4096, "hold_secs": 8,
    });
    let added = send(&sys, "POST", &token, "/profiles", &stock);
    assert_eq!(added.status, 201, "{}", text(&added));
    let added = added.json();
    let id = added["id"].as_i64().expect("an id");
    assert!(id > 0);
    assert_eq!(
        (added["fumo_root"].as_str(), added["encoding"].as_str(), added["hold_secs"].as_u64()),
        (Some("./FwUpdate/stock"), Some("wbxml"), Some(8))
    );
    assert_eq!(listed(&sys, &token), [added]);

    // A profile that breaks a rule: 400 with the rule, nothing stored.
    for (why, body, says) in [
        ("a relative FUMO node", json!({ "name": "n", "models": ["X"], "fumo_root": "FUMO" }), "./"),
        ("a dot segment", json!({ "name": "n", "models": ["X"], "fumo_root": "./a/../DMAcc" }), ".."),
        ("a query", json!({ "name": "n", "models": ["X"], "scomo_root": "./SCOMO?list=Struct" }), "?"),
        ("a hold past the origin's", json!({ "name": "n", "models": ["X"], "hold_secs": HOLD + 1 }), "hold_secs"),
        ("a message cap too small", json!({ "name": "n", "models": ["X"], "max_msg_size": 100 }), "max_msg_size"),
        ("no model", json!({ "name": "n", "models": [] }), "model"),
        ("no name", json!({ "name": " ", "models": ["X"] }), "name"),
    ] {
        let r = send(&sys, "POST", &token, "/profiles", &body);
        assert_eq!(r.status, 400, "{why}: {}", text(&r));
        assert!(r.json()["error"].as_str().is_some_and(|e| e.contains(says)), "{why}: {}", text(&r));
    }
    let r = send(&sys, "POST", &token, "/profiles", &json!({ "name": "n", "models": ["X"], "encoding": "json" }));
    assert_eq!(r.status, 422, "an encoding that is none: {}", text(&r));
    assert_eq!(listed(&sys, &token).len(), 1, "nothing refused was stored");

    // Replaced: the path's id wins over the body's; a bad replacement changes nothing.
    let changed = json!({ "id": 999, "name": "Acme X1", "models": ["X1"], "fumo_root": "./FUMO", "hold_secs": 5 });
    let r = send(&sys, "PUT", &token, &format!("/profiles/{id}"), &changed);
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.json()["id"], id);
    let r = send(
        &sys,
        "PUT",
        &token,
        &format!("/profiles/{id}"),
        &json!({ "name": "n", "models": ["X"], "fumo_root": "./" }),
    );
    assert_eq!(r.status, 400);
    let now = listed(&sys, &token);
    assert_eq!(
        (now[0]["name"].as_str(), now[0]["fumo_root"].as_str(), now[0]["man"].as_str()),
        (Some("Acme X1"), Some("./FUMO"), None)
    );
    assert_eq!(send(&sys, "PUT", &token, "/profiles/999", &changed).status, 404);

    // A read-only token lists and changes nothing.
    let out =
        sys.origin_cmd(&["admin-token", "create", "--name", "dashboard", "--read-only"]).output().expect("create");
    let reader = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
    assert_eq!(listed(&sys, &reader).len(), 1);
    for (method, path) in
        [("POST", "/profiles".to_owned()), ("PUT", format!("/profiles/{id}")), ("DELETE", format!("/profiles/{id}"))]
    {
        let r = send(&sys, method, &reader, &path, &stock);
        assert_eq!(r.status, 403, "{method} {path}: {}", text(&r));
    }
    // No token, or a wrong one: 401.
    assert_eq!(get_with(&api(&sys, "/profiles"), &[]).status, 401);
    assert_eq!(send(&sys, "DELETE", "pdm_admin_x", &format!("/profiles/{id}"), &Value::Null).status, 401);

    let r = send(&sys, "DELETE", &token, &format!("/profiles/{id}"), &Value::Null);
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(send(&sys, "DELETE", &token, &format!("/profiles/{id}"), &Value::Null).status, 404);
    assert!(listed(&sys, &token).is_empty());
    assert_eq!(audit_actions(&sys, &token), ["profile.delete", "profile.update", "profile.add"], "each change, once");

    // The OpenAPI document lists the endpoints.
    let doc = get_with(&api(&sys, "/openapi.json"), &[]).json();
    assert!(
        doc["paths"]["/profiles"]["post"].is_object() && doc["paths"]["/profiles/{id}"]["put"].is_object(),
        "{}",
        doc["paths"]
    );
}

#[test]
fn the_cli_adds_lists_and_removes_profiles() {
    let sys = start();
    let run = |args: &[&str]| {
        let out = sys.origin_cmd(args).output().expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[
        "profile",
        "add",
        "--name",
        "stock X1",
        "--man",
        "Acme",
        "--models",
        "X1,X1-*",
        "--fumo-root",
        "./FwUpdate/stock",
        "--encoding",
        "wbxml",
        "--auth-scheme",
        "md5",
        "--max-msg-size",
        "2048",
        "--hold-secs",
        "7",
    ]);
    assert!(ok, "{err}");
    let id: i64 = out.trim().rsplit(' ').next().and_then(|n| n.parse().ok()).expect(&out);
    let (ok, out, _) = run(&["profile", "list"]);
    assert!(ok);
    for part in [
        &format!("{id:>4}  stock X1"),
        "man=Acme",
        "models=X1,X1-*",
        "fumo_root=./FwUpdate/stock",
        "scomo_root=-",
        "encoding=wbxml",
        "auth=md5",
        "max_msg_size=2048",
        "hold_secs=7",
    ] {
        assert!(out.contains(part), "{part:?} in {out}");
    }
    // The API sees what the CLI added.
    let token = sys.admin_token("ops");
    assert_eq!(listed(&sys, &token)[0]["fumo_root"], "./FwUpdate/stock");

    // The same checks as the API: refused with the reason, exit 1, nothing stored.
    let (ok, _, err) = run(&["profile", "add", "--name", "n", "--models", "X", "--fumo-root", "./a/../b"]);
    assert!(!ok && err.contains("fumo_root") && err.contains(".."), "{err}");
    let (ok, _, err) = run(&["profile", "add", "--name", "n", "--models", "X", "--hold-secs", "11"]);
    assert!(!ok && err.contains("hold_secs"), "{err}");
    let (ok, _, err) = run(&["profile", "add", "--name", "n", "--models", "X", "--encoding", "json"]);
    assert!(!ok && err.contains("xml or wbxml"), "{err}");
    assert_eq!(listed(&sys, &token).len(), 1);

    let (ok, out, err) = run(&["profile", "remove", &id.to_string()]);
    assert!(ok && out.contains(&format!("removed device profile {id}")), "{err}");
    let (ok, _, err) = run(&["profile", "remove", &id.to_string()]);
    assert!(!ok && err.contains(&format!("no device profile {id}")), "{err}");
    assert_eq!(run(&["profile", "list"]).1, "");
    let log = send(&sys, "GET", &token, "/audit", &Value::Null).json();
    let by_cli = log
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("profile.")))
        .all(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("cli:")));
    assert!(by_cli && audit_actions(&sys, &token) == ["profile.delete", "profile.add"], "{log}");
}

fn form(url: &str, cookie: &str, body: &str) -> Reply {
    post_with(url, &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie)], body.as_bytes())
}

/// Signs in with `token`; the session cookie and this session's form token (from the
/// profiles page).
fn sign_in(sys: &System, token: &str) -> (String, String) {
    let r = post_with(
        &format!("{}/admin/sign-in", sys.origin),
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Sec-Fetch-Site", "same-origin")],
        format!("token={token}").as_bytes(),
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    let cookie = r.header("set-cookie").and_then(|c| c.split(';').next()).expect("cookie").to_owned();
    let page = get_with(&format!("{}/admin/profiles", sys.origin), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200);
    let html = text(&page);
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("form token");
    (cookie, csrf.to_owned())
}

#[test]
fn the_console_adds_and_removes_profiles_with_its_form_token() {
    let sys = start();
    let token = sys.admin_token("ops");
    let url = |p: &str| format!("{}{p}", sys.origin);
    assert_eq!(get_with(&url("/admin/profiles"), &[]).header("location"), Some("/admin/sign-in"));
    let (cookie, csrf) = sign_in(&sys, &token);
    let fields = "name=Acme+X1&man=Acme&models=X1%2C+X1-*&fumo_root=.%2FFwUpdate%2Fstock&scomo_root=&encoding=wbxml&auth_scheme=md5&max_msg_size=&hold_secs=6";

    // Without this session's form token: refused, nothing added.
    let r = form(&url("/admin/profiles"), &cookie, &format!("csrf=AAAA&{fields}"));
    assert_eq!(r.status, 403, "{}", text(&r));
    assert!(listed(&sys, &token).is_empty());

    let r = form(&url("/admin/profiles"), &cookie, &format!("csrf={csrf}&{fields}"));
    assert_eq!(r.status, 303, "{}", text(&r));
    let shown = listed(&sys, &token);
    let id = shown[0]["id"].as_i64().expect("id");
    assert_eq!(r.header("location"), Some(format!("/admin/profiles?added={id}").as_str()));
    assert_eq!(
        (
            shown[0]["models"].clone(),
            shown[0]["fumo_root"].as_str(),
            shown[0]["scomo_root"].as_str(),
            shown[0]["hold_secs"].as_u64()
        ),
        (json!(["X1", "X1-*"]), Some("./FwUpdate/stock"), None, Some(6))
    );
    let page = text(&get_with(&url("/admin/profiles"), &[("Cookie", &cookie)]));
    assert!(
        page.contains(&format!("data-profile=\"{id}\""))
            && page.contains("./FwUpdate/stock")
            && page.contains("held ≤ 6 s"),
        "{page}"
    );

    // A bad profile: the page again with the reason.
    let r = form(&url("/admin/profiles"), &cookie, &format!("csrf={csrf}&name=n&models=X&fumo_root=FUMO"));
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("must start with ./"), "{}", text(&r));
    let r = form(&url("/admin/profiles"), &cookie, &format!("csrf={csrf}&name=n&models=X&hold_secs=soon"));
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("whole number"), "{}", text(&r));

    // A read-only sign-in sees the list and removes nothing.
    let out =
        sys.origin_cmd(&["admin-token", "create", "--name", "dashboard", "--read-only"]).output().expect("create");
    let reader = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
    let (r_cookie, r_csrf) = sign_in(&sys, &reader);
    let r = form(&url(&format!("/admin/profiles/{id}/remove")), &r_cookie, &format!("csrf={r_csrf}"));
    assert_eq!(r.status, 403);
    assert!(text(&r).contains("read-only"));
    // Nor does a post without the form token.
    assert_eq!(form(&url(&format!("/admin/profiles/{id}/remove")), &cookie, "").status, 403);
    assert_eq!(listed(&sys, &token).len(), 1);

    let r = form(&url(&format!("/admin/profiles/{id}/remove")), &cookie, &format!("csrf={csrf}"));
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("/admin/profiles?removed={id}").as_str())),
        "{}",
        text(&r)
    );
    assert!(listed(&sys, &token).is_empty());
    let actors: Vec<Value> = send(&sys, "GET", &token, "/audit", &Value::Null)
        .json()
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("profile.")))
        .map(|e| e["actor"].clone())
        .collect();
    assert!(
        actors.len() == 2 && actors.iter().all(|a| a.as_str().is_some_and(|a| a.starts_with("console:"))),
        "{actors:?}"
    );
}
