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
    drive_agent(sys, name, "dmclient", dmclient_config, locale, javascript, expect)
}

/// [`drive`] with the phone's DM client `agent` (a binary taking `-c CONFIG trigger FILE`).
fn drive_agent(
    sys: &System,
    name: &str,
    agent: &str,
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
            ("DMCLIENT_BIN", bin(agent).display().to_string()),
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

/// A stock handset's own DM client (`stock-handset`: written from the OMA specs, no portaldm
/// element, md5 both ways) takes the trigger Chromium received: the session binds by its
/// SessionID, the page asks "is this your phone?", lists the offers, and the firmware goes to
/// the handset's own FUMO node; the page shows it installed.
fn stock_flow_in_chromium(name: &str, encoding: &str, session_id: &str) {
    // The stock client leaves when a held package 4 ends without Final: hold long enough for
    // the page's user to confirm and choose.
    let sys = System::start(Options { hold_secs: 20, origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    let h = sys.stock_handset("IMEI:490154203237518");
    let a = &h.profile.account;
    let config = sys.dir.path().join(format!("{name}.conf"));
    let text = format!(
        "dev_id = {}\ndm_url = {}/dm\nserver_id = {}\nclient_name = {}\nclient_password = {}\nserver_name = {}\n\
         server_password = {}\nmodel = PDM-Phone-1\nencoding = {encoding}\nsession_id = {session_id}\n",
        h.profile.dev_id, sys.edge, a.server_id, a.client_name, a.client_password, a.server_name, a.server_password
    );
    std::fs::write(&config, text).expect("write");
    let seen = drive_agent(
        &sys,
        name,
        "stock-handset",
        &config,
        "en-US",
        true,
        json!({ "lang": "en", "offers": ["1.2.0", "1.1.0"], "done": "Done: PDM Phone 1 firmware 1.2.0 is installed." }),
    );
    assert_eq!(seen["steps"], json!(["landing", "waiting", "identify", "offers", "confirm", "progress", "result"]));
    let log = seen["dmclient"]["log"].as_str().unwrap_or_default();
    assert!(log.contains("installed") && log.contains("./FwUpdate/stock/DownloadAndUpdate"), "{log}");
}

#[test]
fn a_stock_handset_updates_through_the_portal_in_chromium() {
    stock_flow_in_chromium("portal-stock-xml", "xml", "upper");
}

#[test]
fn a_stock_wbxml_handset_with_libdmclients_byte_swap_updates_through_the_portal_in_chromium() {
    stock_flow_in_chromium("portal-stock-wbxml", "wbxml", "swapped");
}
