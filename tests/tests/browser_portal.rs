//! The portal in real headless Chromium (Debian's, driven by Playwright from
//! `tests/browser/handset.mjs`) through the real edge and origin: the browser opens the
//! portal, receives the trigger, which the test hands to dmclient as a phone's content
//! dispatcher would, shows the offers, asks for confirmation, follows the progress and shows
//! the result — with JavaScript, without it, and in German. No console errors; screenshots
//! of every step are kept in `target/browser-artifacts/<test>/`.

use portaldm_tests::{Options, System, bin, chromium};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Runs the handset driver against `sys` with `dmclient_config`; returns what it saw.
pub fn drive(
    sys: &System,
    name: &str,
    dmclient_config: &std::path::Path,
    locale: &str,
    javascript: bool,
    expect: Value,
) -> Value {
    chromium::run(
        "handset.mjs",
        name,
        &[
            ("EDGE_URL", sys.edge.clone()),
            ("DMCLIENT_BIN", bin("dmclient").display().to_string()),
            ("DMCLIENT_CONFIG", dmclient_config.display().to_string()),
            ("LOCALE", locale.to_owned()),
            ("JAVASCRIPT", if javascript { "1" } else { "0" }.to_owned()),
            ("EXPECT", expect.to_string()),
        ],
    )
}

/// The staged package is the chosen one, byte for byte.
fn staged_is(sys: &System, version: &str) {
    let staged = std::fs::read_dir(sys.staged_dir()).expect("staged").next().expect("one file").expect("entry").path();
    let bytes = std::fs::read(staged).expect("read");
    let list = sys.origin_cmd(&["catalog", "list"]).output().expect("catalog list");
    let list = String::from_utf8_lossy(&list.stdout);
    let line = list.lines().find(|l| l.contains(&format!(" {version} "))).expect("package listed");
    assert!(line.contains(&hex::encode(Sha256::digest(&bytes))), "staged bytes are {version}'s: {line}");
}

#[test]
fn a_handset_updates_through_the_portal_in_chromium() {
    let sys = System::start(Options { hold_secs: 2, ..Options::default() });
    let seen = drive(
        &sys,
        "portal-en",
        &sys.client_config(),
        "en-US",
        true,
        json!({
            "lang": "en", "offers": ["1.2.0", "1.1.0"], "done": "Done: PDM Phone 1 firmware 1.2.0 is installed.",
        }),
    );
    assert_eq!(seen["steps"], json!(["landing", "waiting", "identify", "offers", "confirm", "progress", "result"]));
    staged_is(&sys, "1.2.0");
}

#[test]
fn the_portal_works_without_javascript() {
    let sys = System::start(Options { hold_secs: 2, ..Options::default() });
    drive(
        &sys,
        "portal-nojs",
        &sys.client_config(),
        "en-US",
        false,
        json!({
            "lang": "en", "offers": ["1.2.0", "1.1.0"], "done": "is installed",
        }),
    );
    staged_is(&sys, "1.2.0");
}

#[test]
fn a_german_phone_gets_the_portal_in_german() {
    let sys = System::start(Options { hold_secs: 2, ..Options::default() });
    // The phone's own language (DevInfo/Lang) decides once it has connected.
    let text = std::fs::read_to_string(sys.client_config())
        .expect("dmclient.toml")
        .replace("lang = \"en-US\"", "lang = \"de-DE\"");
    let config = sys.dir.path().join("dmclient-de.toml");
    std::fs::write(&config, text).expect("write");
    let seen = drive(
        &sys,
        "portal-de",
        &config,
        "de-DE",
        true,
        json!({
            "lang": "de", "offers": ["1.2.0", "1.1.0"], "waiting": "Warten auf Ihr Telefon", "mine": "Ja, das ist mein Telefon", "confirm": "Ja, installieren",
            "done": "Fertig: PDM Phone 1 firmware 1.2.0 ist installiert.",
        }),
    );
    assert!(seen["offers"][0].as_str().is_some_and(|o| o.contains("Empfohlen")), "{seen}");
}
