//! The portal in real headless Chromium (Debian's, driven by Playwright from
//! `tests/browser/handset.mjs`) through the real edge and origin: the browser opens the
//! portal, receives the trigger, which the test hands to dmclient as a phone's content
//! dispatcher would, shows the offers, asks for confirmation, follows the progress and shows
//! the result — with JavaScript, without it, and in German. No console errors; screenshots
//! of every step are kept in `target/browser-artifacts/<test>/`.

use std::path::PathBuf;
use std::process::Command;

use portaldm_tests::{Options, System, bin, workspace};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Runs the browser driver against `sys` with `dmclient_config`; returns what it saw.
fn drive(
    sys: &System,
    name: &str,
    dmclient_config: &std::path::Path,
    locale: &str,
    javascript: bool,
    expect: Value,
) -> Value {
    let out_dir: PathBuf = workspace().join("target/browser-artifacts").join(name);
    let _ = std::fs::remove_dir_all(&out_dir);
    let node = std::env::var("NODE_BIN").unwrap_or_else(|_| "node".into());
    let out = Command::new(node)
        .arg(workspace().join("tests/browser/handset.mjs"))
        .current_dir(workspace())
        .env("EDGE_URL", &sys.edge)
        .env("DMCLIENT_BIN", bin("dmclient"))
        .env("DMCLIENT_CONFIG", dmclient_config)
        .env("OUT_DIR", &out_dir)
        .env("LOCALE", locale)
        .env("JAVASCRIPT", if javascript { "1" } else { "0" })
        .env("EXPECT", expect.to_string())
        .output()
        .expect("node runs (scripts/setup.sh installs Node.js, Chromium and playwright-core)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("driver printed no summary: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        out.status.success() && seen["ok"] == true,
        "browser run {name} failed: {seen:#}\nscreenshots in {}",
        out_dir.display()
    );
    for step in seen["steps"].as_array().expect("steps") {
        let n = std::fs::read_dir(&out_dir)
            .expect("artefacts")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(step.as_str().unwrap_or("?")))
            .count();
        assert_eq!(n, 1, "a screenshot of {step}");
    }
    seen
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
    assert_eq!(seen["steps"], json!(["landing", "waiting", "offers", "confirm", "progress", "result"]));
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
            "lang": "de", "offers": ["1.2.0", "1.1.0"], "waiting": "Warten auf Ihr Telefon", "confirm": "Ja, installieren",
            "done": "Fertig: PDM Phone 1 firmware 1.2.0 ist installiert.",
        }),
    );
    assert!(seen["offers"][0].as_str().is_some_and(|o| o.contains("Empfohlen")), "{seen}");
}
