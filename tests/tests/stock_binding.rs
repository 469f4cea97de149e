//! Binding a stock client's session (no token) to its browser by the package #0 session id,
//! when ids clash and when someone guesses them: never a device bound to the wrong browser
//! without that browser's user seeing which phone answered and saying yes, never an offer or a
//! choice for the guesser. The stock handset (`portaldm_tests::stock`) plays every phone.

use std::time::Duration;

use portaldm_shared::stock::Spellings;
use portaldm_tests::browser::{Browser, get};
use portaldm_tests::stock::{End, Handset, SessionIdStyle, SessionLog, StockError, pkg0};
use portaldm_tests::{Options, System};

/// A stock handset `dev_id` with an md5 account, modelled on the demo phone.
fn phone(sys: &System, dev_id: &str) -> Handset {
    let mut h = sys.stock_handset(dev_id);
    h.profile.model = "PDM-Phone-1".into();
    Handset::new(h.profile)
}

/// A package #0 for this system whose session id is `nsid`, as the edge writes one.
fn package0(sys: &System, h: &Handset, nsid: u16) -> Vec<u8> {
    pkg0::encode(12, 3, true, nsid, &h.profile.account.server_id, b"", &sys.keys().server_password, b"")
}

fn commands(logs: &[SessionLog]) -> Vec<String> {
    logs.iter().flat_map(|l| &l.exchanges).flat_map(|e| e.received.cmds.iter().map(|c| c.kind.clone())).collect()
}

fn metric(sys: &System, line_start: &str) -> u64 {
    let text = String::from_utf8(get(&format!("{}/metrics", sys.origin)).body).expect("utf-8");
    text.lines().find(|l| l.starts_with(line_start)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0)
}

/// Triggers until two live triggers can be meant by one SessionID (each spelling counts), and
/// returns the browsers and an id whose upper-case hex spells both.
fn two_triggers_one_session_id(sys: &System) -> (Vec<(Browser, u16)>, u16) {
    // Which upper-case hex SessionIDs can mean each id.
    let mut meaning: std::collections::HashMap<u16, Vec<u16>> = std::collections::HashMap::new();
    for v in 1..=u16::MAX {
        for id in Spellings::of(&format!("{v:X}")).ids() {
            meaning.entry(*id).or_default().push(v);
        }
    }
    let mut counts: std::collections::HashMap<u16, u32> = std::collections::HashMap::new();
    let mut browsers: Vec<(Browser, u16)> = Vec::new();
    // Each id is meant by itself and its byte swap at least: among n triggers at least about
    // n² / 65,536 pairs clash, so 400 miss in a few runs in a hundred (e^-2.4 or less), 1,500
    // about once in e^34. It returns at the first clash, after about 200 triggers.
    for _ in 0..1500 {
        let mut b = Browser::new(&sys.edge);
        let trig = b.get("/portal/trigger");
        assert_eq!(trig.status, 200);
        let nsid = pkg0::decode(&trig.body).expect("package #0").session_id;
        // Its first look at the session shows the trigger to the origin.
        assert_eq!(b.session()["state"], "waiting");
        browsers.push((b, nsid));
        for v in meaning.get(&nsid).into_iter().flatten() {
            let n = counts.entry(*v).or_default();
            *n += 1;
            if *n == 2 {
                return (browsers, *v);
            }
        }
    }
    panic!("no clash in 1,500 triggers (about 1 in e^34)");
}

#[test]
fn two_live_triggers_one_session_id_can_mean_are_refused_and_both_browsers_start_again() {
    let sys = System::start(Options {
        unlimited_minting: true,
        origin_extra: "stock_settle_ms = 100\nstock_wait_ms = 500\n",
        ..Options::default()
    });
    let (mut browsers, v) = two_triggers_one_session_id(&sys);
    let meant = Spellings::of(&format!("{v:X}"));
    let mut handset = phone(&sys, "IMEI:356938035643809");
    handset.profile.pkg0_session_id = SessionIdStyle::UpperHex;
    let logs = handset.on_package0(&package0(&sys, &handset, v)).expect("the session runs");
    assert_eq!(logs[0].session_id, format!("{v:X}"));
    assert_eq!(logs[0].end, End::Refused(404), "refused, not guessed");
    assert!(commands(&logs).iter().all(|c| c == "Status"), "the server asks the phone nothing");
    let mut ended = 0;
    for (b, nsid) in &mut browsers {
        let state = b.session()["state"].as_str().expect("state").to_owned();
        if meant.contains(*nsid) {
            assert_eq!(state, "ended", "a browser the session may have meant starts again");
            ended += 1;
        } else {
            assert_eq!(state, "waiting", "the others are untouched");
        }
    }
    assert!(ended >= 2);
    assert_eq!(metric(&sys, "portaldm_stock_bindings_total{outcome=\"clash\"}"), 1);
    let log = std::fs::read_to_string(sys.dir.path().join("origin.log")).unwrap_or_default();
    assert!(log.contains("two live triggers have this SessionID"), "{log}");
    assert!(!log.contains("stock DM session bound"), "{log}");
}

#[test]
fn a_guessed_session_id_gets_no_offer_and_no_choice_and_guessing_is_limited() {
    let sys = System::start(Options {
        origin_extra: "stock_settle_ms = 100\nstock_wait_ms = 300\ndm_unauth_per_minute_per_device = 4\n",
        ..Options::default()
    });
    let mut victim = Browser::new(&sys.edge);
    let trig = victim.get("/portal/trigger");
    let nsid = pkg0::decode(&trig.body).expect("package #0").session_id;
    assert_eq!(victim.session()["state"], "waiting");

    // Wrong guesses: 404, and the guessing DevId is soon limited.
    let mut guesser = phone(&sys, "IMEI:990000862471854");
    let wrong = (1..=u16::MAX).filter(|g| !Spellings::of(&format!("{g:X}")).contains(nsid));
    let mut codes = Vec::new();
    for g in wrong.take(6) {
        let bytes = package0(&sys, &guesser, g);
        codes.push(match guesser.on_package0(&bytes) {
            Ok(logs) => match logs[0].end {
                End::Refused(code) => code,
                ref other => panic!("{other:?}"),
            },
            Err(StockError::Http { status, .. }) => status,
            Err(e) => panic!("{e}"),
        });
    }
    // 4 a minute, a burst of 2.
    assert_eq!(&codes[..2], &[404, 404], "{codes:?}");
    assert!(codes[2..].iter().all(|c| *c == 429), "misses are limited per DevId: {codes:?}");
    assert_eq!(victim.session()["state"], "waiting", "wrong guesses touch nothing");

    // A right guess binds, but the browser's user sees another phone and says no: no offer was
    // listed, nothing is delivered, and the guesser's session ends with nothing to do.
    let mut lucky = phone(&sys, "IMEI:990000862471862");
    lucky.profile.model = "Guesser-9".into();
    lucky.profile.man = "Nobody".into();
    let mut lucky = Handset::new(lucky.profile);
    let bytes = package0(&sys, &lucky, nsid);
    let session = std::thread::spawn(move || lucky.on_package0(&bytes));
    let asked = victim.wait_for("identified", Duration::from_secs(20));
    assert!(asked["device"].to_string().contains("Guesser-9"), "the browser sees which phone answered: {asked}");
    assert!(asked["offers"].as_array().is_some_and(|o| o.is_empty()), "{asked}");
    assert_eq!(victim.identify(false).status, 200);
    let logs = session.join().expect("thread").expect("session");
    let cmds = commands(&logs);
    assert!(!cmds.iter().any(|c| c == "Replace" || c == "Exec" || c == "Add"), "nothing delivered: {cmds:?}");
    assert_eq!(victim.session()["state"], "ended");
    // The victim's own phone, late, finds the trigger spent; its browser starts again.
    let mut own = phone(&sys, "IMEI:356938035643817");
    let logs = own.on_package0(&trig.body).expect("session");
    assert_eq!(logs[0].end, End::Refused(404));
}
