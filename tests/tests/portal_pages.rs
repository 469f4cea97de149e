//! The portal's pages and forms over HTTP (the browser runs are in `browser_portal.rs`): one
//! cached landing page per language at the edge, private session pages, and forms refused
//! with a page that says why — from another site, without a session, malformed, for a
//! package not offered, or too late.

use std::time::Duration;

use portaldm_tests::browser::{Browser, get_with, post_with};
use portaldm_tests::{Options, System};

fn text(r: &portaldm_tests::browser::Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn the_landing_page_is_cached_once_per_language() {
    let sys = System::start(Options::default());
    let url = format!("{}/portal/", sys.edge);
    let de = get_with(&url, &[("Accept-Language", "de-CH, en;q=0.5")]);
    assert!(
        text(&de).contains("<html lang=\"de\"") && text(&de).contains("Auf diesem Telefon starten"),
        "{}",
        text(&de)
    );
    assert_eq!(de.header("content-language"), Some("de"));
    let en = get_with(&url, &[("Accept-Language", "fr, en-GB;q=0.8")]);
    assert!(text(&en).contains("<html lang=\"en\"") && text(&en).contains("Start on this phone"));
    // Second requests are hits, each in its own language.
    let de2 = get_with(&url, &[("Accept-Language", "de")]);
    assert_eq!((de2.header("x-edge-cache"), de2.header("content-language")), (Some("HIT"), Some("de")));
    let en2 = get_with(&url, &[]);
    assert_eq!((en2.header("x-edge-cache"), en2.header("content-language")), (Some("HIT"), Some("en")));
    for r in [&de, &en] {
        assert!(r.header("content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
        assert_eq!(r.header("vary"), Some("Accept-Language"));
    }
    // Assets are cached too, and the session page never is.
    for asset in ["portal.css", "portal.js"] {
        let a = get_with(&format!("{}/portal/assets/{asset}", sys.edge), &[]);
        assert_eq!(a.status, 200);
        assert!(a.header("cache-control").is_some_and(|c| c.contains("public")));
    }
    assert_eq!(get_with(&format!("{}/portal/assets/nope.js", sys.edge), &[]).status, 404);
    let status = get_with(&format!("{}/portal/status", sys.edge), &[]);
    assert_eq!((status.status, status.header("cache-control")), (200, Some("no-store")));
}

#[test]
fn forms_are_refused_with_a_page_that_says_why() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let cookie = phone.cookie.clone().expect("cookie");
    let form = |path: &str, headers: &[(&str, &str)], body: &str| {
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        post_with(&format!("{}{path}", sys.edge), &h, body.as_bytes())
    };

    // Before the phone connects: nothing to choose yet.
    let early = form("/portal/choose", &[("Cookie", &cookie)], "package_id=2");
    assert_eq!(early.status, 409, "{}", text(&early));
    // The refusal says why, and the page shows the session as it is: waiting for the phone.
    let early = text(&early);
    assert!(early.contains(r#"<p class="notice" role="alert">This session is not choosing any more.</p>"#), "{early}");
    assert!(early.contains("<h2>Waiting for your phone…</h2>"), "{early}");

    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    phone.wait_for("choosing", Duration::from_secs(20));

    // This session's id with another browser's secret.
    let mut stranger = Browser::new(&sys.edge);
    stranger.get("/portal/trigger");
    let stranger_secret =
        stranger.binding_cookie().and_then(|c| c.split_once('.')).map(|(_, s)| s.to_owned()).expect("secret");
    let forged = format!("{}.{stranger_secret}", cookie.split_once('.').expect("sid").0);
    // (why, path, headers, form body, status, what the page says)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str, u16, &'a str);
    let cases: [Case; 8] = [
        (
            "another site (Origin)",
            "/portal/select",
            vec![("Cookie", &cookie), ("Origin", "https://evil.example")],
            "package_id=2",
            403,
            "another site",
        ),
        (
            "another site (Sec-Fetch-Site)",
            "/portal/select",
            vec![("Cookie", &cookie), ("Sec-Fetch-Site", "cross-site")],
            "package_id=2",
            403,
            "another site",
        ),
        ("no session cookie", "/portal/choose", vec![], "package_id=2", 401, "Start on this phone first"),
        (
            "another browser's secret",
            "/portal/choose",
            vec![("Cookie", &forged)],
            "package_id=2",
            403,
            "belongs to another browser",
        ),
        (
            "a garbled cookie",
            "/portal/choose",
            vec![("Cookie", "__Host-pdm=%%%")],
            "package_id=2",
            401,
            "Start on this phone first",
        ),
        ("a malformed form", "/portal/choose", vec![("Cookie", &cookie)], "package_id=two", 400, "incomplete"),
        (
            "a package not offered",
            "/portal/choose",
            vec![("Cookie", &cookie)],
            "package_id=4",
            404,
            "not offered to this phone",
        ),
        (
            "an unknown package",
            "/portal/select",
            vec![("Cookie", &cookie)],
            "package_id=999",
            404,
            "not offered to this phone",
        ),
    ];
    for (why, path, headers, body, status, says) in cases {
        let r = form(path, &headers, body);
        assert_eq!(r.status, status, "{why}: {}", text(&r));
        assert!(text(&r).contains(says), "{why}: page says {says:?}: {}", text(&r));
    }

    // The real choice: "install this?" first, then the choice; a second one is too late.
    let ask = form("/portal/choose", &[("Cookie", &cookie)], "package_id=2");
    assert_eq!(ask.status, 200);
    assert!(text(&ask).contains("Install PDM Phone 1 firmware 1.2.0?"), "{}", text(&ask));
    let chosen = form("/portal/select", &[("Cookie", &cookie)], "package_id=2");
    assert_eq!((chosen.status, chosen.header("location")), (303, Some("/portal/status")));
    let again = form("/portal/select", &[("Cookie", &cookie)], "package_id=2");
    assert_eq!(again.status, 409);
    assert!(text(&again).contains("not choosing any more"));
    let out = portaldm_tests::wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = get_with(&format!("{}/portal/status", sys.edge), &[("Cookie", &cookie)]);
    assert!(text(&done).contains("is installed"), "{}", text(&done));
    assert!(!text(&done).contains("http-equiv=\"refresh\""), "a finished page stops refreshing");
}
