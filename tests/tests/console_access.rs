//! The admin console's doors over HTTP: pages need a sign-in; sign-in needs a live admin
//! token; every form needs this session's form token and refuses other sites; a revoked
//! token or a sign-out ends the session; nothing of it goes through the edge.

use portaldm_tests::browser::{Reply, get_with, post_with};
use portaldm_tests::{Options, System};

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn form(url: &str, cookie: Option<&str>, extra: &[(&str, &str)], body: &str) -> Reply {
    let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(c) = cookie {
        h.push(("Cookie", c));
    }
    h.extend_from_slice(extra);
    post_with(url, &h, body.as_bytes())
}

/// The sign-in page's form token and the cookie that carries it (`name=value`).
fn sign_in_form(sys: &System) -> (String, String) {
    let page = get_with(&format!("{}/admin/sign-in", sys.origin), &[]);
    let set = page.header("set-cookie").expect("the form's cookie").to_owned();
    // `__Host-`: no sibling subdomain or plain-http page can plant its own form token.
    assert!(set.starts_with("__Host-pdmadm_signin="), "{set}");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/;"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let html = text(&page);
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("form token");
    (set.split(';').next().expect("pair").to_owned(), csrf.to_owned())
}

/// Signs in with `token` from the sign-in page's form (as a browser that sends no
/// `Sec-Fetch-Site` would); the session cookie and this session's form token.
fn sign_in(sys: &System, token: &str) -> (String, String) {
    let (form_cookie, form_csrf) = sign_in_form(sys);
    let body = format!("token={token}&csrf={form_csrf}");
    let r = form(&format!("{}/admin/sign-in", sys.origin), Some(&form_cookie), &[], &body);
    assert_eq!((r.status, r.header("location")), (303, Some("/admin/catalog")), "{}", text(&r));
    let set = r.header("set-cookie").expect("cookie").to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().expect("pair").to_owned();
    let page = get_with(&format!("{}/admin/catalog", sys.origin), &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200);
    let html = text(&page);
    let csrf =
        html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("form token").to_owned();
    (cookie, csrf)
}

#[test]
fn console_forms_need_the_session_and_its_form_token() {
    let sys = System::start(Options::default());
    let token = sys.admin_token("ops");
    let url = |p: &str| format!("{}{p}", sys.origin);

    // Signed out: every page sends to the sign-in page; bad tokens do not sign in.
    for page in ["/admin/catalog", "/admin/sessions", "/admin/devices", "/admin/results"] {
        let r = get_with(&url(page), &[]);
        assert_eq!((r.status, r.header("location")), (303, Some("/admin/sign-in")), "{page}");
        let r = get_with(&url(page), &[("Cookie", "pdmadm=AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]);
        assert_eq!(r.status, 303, "{page} with a made-up session");
    }
    // The last character changed (to one it is not: a random token can end in `A`).
    let changed = format!("{}{}", &token[..token.len() - 1], if token.ends_with('A') { 'B' } else { 'A' });
    let same_origin = [("Sec-Fetch-Site", "same-origin")];
    for bad in ["", "pdm_admin_x", &token[..token.len() - 1], &changed] {
        let r = form(&url("/admin/sign-in"), None, &same_origin, &format!("token={bad}"));
        assert_eq!(r.status, 401, "token {bad:?}");
        assert!(text(&r).contains("not a valid admin token"));
    }
    let r = form(&url("/admin/sign-in"), None, &[("Sec-Fetch-Site", "cross-site")], &format!("token={token}"));
    assert_eq!(r.status, 403, "a sign-in posted by another site");
    // Neither a same-origin Sec-Fetch-Site nor the form's own token (cookie and field): a
    // form another site made could sign this browser in to its own console.
    let (form_cookie, form_csrf) = sign_in_form(&sys);
    let (_, other_csrf) = sign_in_form(&sys);
    for (why, cookie, body) in [
        ("neither", None, format!("token={token}")),
        ("the field without its cookie", None, format!("token={token}&csrf={form_csrf}")),
        ("the cookie without the field", Some(form_cookie.as_str()), format!("token={token}")),
        ("another form's token", Some(form_cookie.as_str()), format!("token={token}&csrf={other_csrf}")),
    ] {
        let r = form(&url("/admin/sign-in"), cookie, &[], &body);
        assert_eq!((r.status, r.header("location")), (403, None), "{why}");
        assert!(text(&r).contains("did not come from this console"), "{why}");
    }
    let r = form(&url("/admin/sign-in"), None, &same_origin, &format!("token={token}"));
    assert_eq!(r.status, 303, "a browser that says the post is same-origin needs no form token");

    let (cookie, csrf) = sign_in(&sys, &token);
    let revoke2 = url("/admin/catalog/2/revoke");
    // Without the form token, with another's, or from another site: refused, nothing changed.
    let (other_cookie, other_csrf) = sign_in(&sys, &token);
    for (why, extra, body) in [
        ("no form token", vec![], String::new()),
        ("a wrong form token", vec![], "csrf=AAAA".to_owned()),
        ("another session's form token", vec![], format!("csrf={other_csrf}")),
        ("another site", vec![("Sec-Fetch-Site", "cross-site")], format!("csrf={csrf}")),
    ] {
        let r = form(&revoke2, Some(&cookie), &extra, &body);
        assert_eq!(r.status, 403, "{why}: {}", text(&r));
    }
    let list = sys.origin_cmd(&["catalog", "list"]).output().expect("list");
    assert!(!String::from_utf8_lossy(&list.stdout).contains("REVOKED"), "nothing was revoked");
    // With it: done.
    let r = form(&revoke2, Some(&cookie), &[], &format!("csrf={csrf}"));
    assert_eq!((r.status, r.header("location")), (303, Some("/admin/catalog?changed=2")), "{}", text(&r));
    // Bad values get a page that says why.
    let r = form(&url("/admin/catalog/1/rollout"), Some(&cookie), &[], &format!("csrf={csrf}&percent=250"));
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("0 to 100"));
    let r = form(&url("/admin/catalog/2/publish"), Some(&cookie), &[], &format!("csrf={csrf}"));
    assert_eq!(r.status, 409, "a revoked package is not a draft: {}", text(&r));
    let r = get_with(&url("/admin/devices?dev_id=nobody"), &[("Cookie", &cookie)]);
    assert_eq!(r.status, 404);

    // A multipart upload whose form token does not come first stores nothing.
    let blobs_before = std::fs::read_dir(sys.dir.path().join("blobs")).expect("blobs").count();
    let body = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\r\nDATA\r\n--B--\r\n";
    let r = post_with(
        &url("/admin/catalog/upload"),
        &[("Cookie", &cookie), ("Content-Type", "multipart/form-data; boundary=B")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", text(&r));
    assert_eq!(std::fs::read_dir(sys.dir.path().join("blobs")).expect("blobs").count(), blobs_before);

    // Signing out ends that session only; revoking the token ends the rest.
    let r = form(&url("/admin/sign-out"), Some(&cookie), &[], &format!("csrf={csrf}"));
    assert_eq!(r.status, 303);
    assert_eq!(get_with(&url("/admin/catalog"), &[("Cookie", &cookie)]).status, 303);
    assert_eq!(get_with(&url("/admin/catalog"), &[("Cookie", &other_cookie)]).status, 200);
    let id = &token[10..22];
    assert!(sys.origin_cmd(&["admin-token", "revoke", id]).output().expect("revoke").status.success());
    assert_eq!(get_with(&url("/admin/catalog"), &[("Cookie", &other_cookie)]).status, 303);

    // A read-only token signs in and reads, changes nothing, and can still sign out.
    let out = sys.origin_cmd(&["admin-token", "create", "--name", "auditor", "--read-only"]).output().expect("create");
    let reader = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
    let (rc, rcsrf) = sign_in(&sys, &reader);
    assert_eq!(get_with(&url("/admin/results"), &[("Cookie", &rc)]).status, 200);
    let r = form(&url("/admin/catalog/1/revoke"), Some(&rc), &[], &format!("csrf={rcsrf}"));
    assert_eq!(r.status, 403, "{}", text(&r));
    assert!(text(&r).contains("read-only"));
    assert_eq!(form(&url("/admin/sign-out"), Some(&rc), &[], &format!("csrf={rcsrf}")).status, 303);

    // The edge forwards none of the console.
    assert_eq!(get_with(&format!("{}/admin/sign-in", sys.edge), &[]).status, 404);
}
