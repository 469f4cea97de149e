//! What a stock session that names no trigger costs the origin: each one polls the store for
//! up to `stock_wait_ms`, so how many may wait at once is bounded, and the rest are refused at
//! once instead of adding to the polling.

use std::time::{Duration, Instant};

use portaldm_shared::stock::Spellings;
use portaldm_tests::browser::Browser;
use portaldm_tests::stock::{End, Handset, StockError, pkg0};
use portaldm_tests::{Options, System};

#[test]
fn stock_sessions_waiting_for_a_trigger_at_once_are_bounded() {
    let sys = System::start(Options {
        origin_extra: "stock_settle_ms = 100\nstock_wait_ms = 3000\nstock_max_waiting = 2\n",
        ..Options::default()
    });
    // A live trigger that none of the guesses names: the store has something to look at.
    let mut b = Browser::new(&sys.edge);
    let nsid = pkg0::decode(&b.get("/portal/trigger").body).expect("package #0").session_id;
    assert_eq!(b.session()["state"], "waiting");
    let wrong: Vec<u16> = (1..=u16::MAX).filter(|g| !Spellings::of(&format!("{g:X}")).contains(nsid)).take(6).collect();
    let started = Instant::now();
    let sessions: Vec<_> = wrong
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let h = Handset::new(sys.stock_handset(&format!("IMEI:99000086247{i:04}")).profile);
            let bytes =
                pkg0::encode(12, 3, true, *g, &h.profile.account.server_id, b"", &sys.keys().server_password, b"");
            std::thread::spawn(move || {
                let mut h = h;
                let t = Instant::now();
                let code = match h.on_package0(&bytes) {
                    Ok(logs) => match logs[0].end {
                        End::Refused(code) => code,
                        ref other => panic!("{other:?}"),
                    },
                    Err(StockError::Http { status, .. }) => status,
                    Err(e) => panic!("{e}"),
                };
                (code, t.elapsed())
            })
        })
        .collect();
    let results: Vec<(u16, Duration)> = sessions.into_iter().map(|s| s.join().expect("thread")).collect();
    let waited = results.iter().filter(|(code, _)| *code == 404).count();
    let refused_at_once = results.iter().filter(|(code, t)| *code == 429 && *t < Duration::from_millis(2000)).count();
    assert!(waited <= 2, "at most stock_max_waiting sessions wait: {results:?}");
    assert_eq!(waited + refused_at_once, results.len(), "the rest are refused without waiting: {results:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(b.session()["state"], "waiting", "the live trigger is untouched");
}
