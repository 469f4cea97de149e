//! Every captured third-party message (`shared/fixtures/vectors`, copied byte for byte from the
//! vectors handed to the project) posted to the real origin through the edge, out of any
//! session, as a stranger's device would send it: each gets a SyncML answer in the client's own
//! type, never an HTTP error, with the header status its real situation calls for.

use portaldm_shared::syncml::{self, Command};
use portaldm_tests::browser::post;
use portaldm_tests::{Options, System};

/// The header code each vector gets from a server that knows neither the device nor a session,
/// and why.
const EXPECTED: &[(&str, u16, &str)] = &[
    ("libdmclient-pkg1-basic-auth.xml", 401, "a credential that opens nothing"),
    ("libdmclient-pkg1.wbxml", 401, "a credential that opens nothing"),
    ("libdmclient-pkg1-md5.xml", 401, "a credential that opens nothing"),
    ("libdmclient-pkg1-fumo-device-request.xml", 401, "an update request needs the device's account"),
    ("libdmclient-pkg1-alert1200-after-pkg0-md5.xml", 404, "no live trigger has its SessionID"),
    ("libdmclient-result-report-fumo-200.wbxml", 212, "a report is taken; its unknown correlator gets 404"),
    ("libdmclient-pkg3-results.wbxml", 407, "a later message of no session"),
    ("libdmclient-pkg3-exec-generic-alert.xml", 407, "a later message of no session"),
    ("libdmclient-pkg3-server-auth-accepted-results.xml", 407, "a later message of no session"),
    ("libdmclient-statuses-404-fumo-without-tree.xml", 407, "a later message of no session"),
    ("libdmclient-pkg3-refuses-server-proof-401-chal.wbxml", 407, "a later message of no session"),
];

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/vectors")
}

#[test]
fn every_vector_is_listed_and_the_copies_match_the_handed_vectors() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".xml") || n.ends_with(".wbxml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(n, ..)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "each vector has its expected answer");
    // Where the vectors handed to the project are beside it, the copies are byte for byte.
    let handed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    if let Ok(dir) = std::fs::read_dir(&handed) {
        for e in dir.flatten() {
            let name = e.file_name().into_string().unwrap_or_default();
            if name.ends_with(".xml") || name.ends_with(".wbxml") {
                let copy = std::fs::read(fixtures().join(&name)).unwrap_or_else(|_| panic!("{name} is not copied"));
                assert_eq!(copy, std::fs::read(e.path()).expect("read"), "{name}");
            }
        }
    }
}

#[test]
fn every_vector_gets_a_syncml_answer_with_the_right_code() {
    let sys =
        System::start(Options { origin_extra: "stock_wait_ms = 300\nstock_settle_ms = 100\n", ..Options::default() });
    let dm = format!("{}/dm", sys.edge);
    for (name, code, why) in EXPECTED {
        let bytes = std::fs::read(fixtures().join(name)).expect("vector");
        let wbxml = name.ends_with(".wbxml");
        let ct = if wbxml { "application/vnd.syncml+wbxml" } else { "application/vnd.syncml+xml" };
        let enc =
            if wbxml { portaldm_shared::media::DmEncoding::Wbxml } else { portaldm_shared::media::DmEncoding::Xml };
        let sent = syncml::decode(enc, &bytes).unwrap_or_else(|e| panic!("{name} decodes: {e}"));
        let r = post(&dm, ct, &bytes);
        assert_eq!(r.status, 200, "{name}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some(ct), "{name}: answered in its own type");
        let answer = syncml::decode(enc, &r.body).unwrap_or_else(|e| panic!("{name}: the answer decodes: {e}"));
        let Some(Command::Status(hdr)) = answer.body.commands.first() else { panic!("{name}: {answer:?}") };
        assert_eq!((hdr.cmd.as_str(), hdr.msg_ref.as_str()), ("SyncHdr", sent.hdr.msg_id.as_str()), "{name}");
        assert_eq!(hdr.data, *code, "{name}: {why}: {answer:?}");
        assert!(answer.body.final_, "{name}: the server's package ends");
        if matches!(code, 401 | 407) {
            assert!(hdr.chal.is_some(), "{name}: a challenge to act on");
        }
        if *name == "libdmclient-result-report-fumo-200.wbxml" {
            let alert = answer.body.commands.iter().find_map(|c| match c {
                Command::Status(s) if s.cmd == "Alert" && s.data != 200 => Some(s.data),
                _ => None,
            });
            assert_eq!(alert, Some(404), "{name}: the result names no delivery of ours");
        }
    }
}
