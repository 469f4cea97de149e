//! The stock handset (`portaldm_tests::stock`, an OMA DM 1.2 client written from the specs
//! with no portaldm protocol code) against the real origin, and its own parts on their own.

use portaldm_tests::browser::Browser;
use portaldm_tests::stock::{Account, End, Handset, Profile, SessionIdStyle, SessionLog, Tree, auth, pkg0};
use portaldm_tests::{Options, System};

const DEV_ID: &str = "IMEI:490154203237518";

/// The value of `key` in the `[account.auth]` table the origin printed.
fn field(table: &str, key: &str) -> String {
    let line = table.lines().find(|l| l.starts_with(&format!("{key} ="))).unwrap_or_else(|| panic!("{key}: {table}"));
    serde_json::from_str(line.split_once('=').expect("key = value").1.trim()).expect("a quoted string")
}

/// Gives the demo device an md5 account and returns a stock handset holding it.
fn md5_handset(sys: &System) -> Handset {
    let out = sys.origin_cmd(&["device", "account", DEV_ID, "--scheme", "md5"]).output().expect("origin runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).expect("utf-8");
    let account = Account {
        node: "portaldm".into(),
        server_id: field(&table, "server_name"),
        addr: String::new(),
        client_name: field(&table, "client_name"),
        client_password: field(&table, "client_password"),
        server_name: field(&table, "server_name"),
        server_password: field(&table, "server_password"),
    };
    Handset::new(Profile::new(DEV_ID, &format!("{}/dm", sys.edge), account))
}

fn transcript(logs: &[SessionLog]) -> String {
    logs.iter()
        .flat_map(|l| l.exchanges.iter())
        .map(|e| {
            format!(
                "--> {}\n{}\n<-- {:?}\n{}\n",
                e.url,
                String::from_utf8_lossy(&e.sent_bytes),
                e.content_type,
                e.received_xml
            )
        })
        .collect()
}

fn check_in_runs_clean(phone: &mut Handset) {
    let logs = phone.check_in().unwrap_or_else(|e| panic!("check-in: {e}"));
    let t = transcript(&logs);
    assert_eq!(logs.len(), 1, "{t}");
    let log = &logs[0];
    assert_eq!(log.end, End::Final, "{t}");
    assert!(log.server_proved, "the server proved itself: {t}");
    assert_eq!(log.server_refusals, 0, "{t}");
    let first = &log.exchanges[0].received;
    assert_eq!(first.header_status().map(|s| s.code()), Some(212), "{t}");
    assert!(log.gets.iter().any(|g| g.starts_with("./DevDetail")), "the server read DevDetail: {t}");
    assert!(log.exchanges.len() >= 2 && log.exchanges[1].url != log.exchanges[0].url, "RespURI followed: {t}");
}

#[test]
fn a_stock_md5_handset_checks_in_over_xml() {
    let sys = System::start(Options::default());
    let mut phone = md5_handset(&sys);
    check_in_runs_clean(&mut phone);
}

#[test]
fn a_stock_md5_handset_checks_in_over_wbxml_through_libwbxml() {
    let sys = System::start(Options::default());
    let mut phone = md5_handset(&sys);
    phone.profile.encoding = portaldm_tests::stock::Encoding::Wbxml;
    check_in_runs_clean(&mut phone);
}
