//! Where the operator asks for it (`dm_same_network`), a portal session opens only for a phone
//! whose DM session comes from the network the trigger was requested from, as the edge saw
//! both: a trigger carried to a phone elsewhere is refused, and the browser can trigger again.

use portaldm_shared::device::DeviceDetails;
use portaldm_shared::edgeauth;
use portaldm_shared::pkg0::Package0;
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::syncml::{Command, xml};
use portaldm_tests::browser::{Browser, post_with};
use portaldm_tests::{Options, System, now};

/// Package 1 answering `trigger`, posted to the origin as the edge would for a handset at
/// `address`; the SyncML header status of the answer.
fn open_from(sys: &System, trigger: &[u8], address: &str) -> u16 {
    let pkg = Package0::decode(trigger).expect("pkg0").package;
    let device = DeviceDetails { dev_id: "IMEI:77".into(), model: Some("PDM-Phone-1".into()), ..Default::default() };
    let token = pkg.token().expect("token").to_owned();
    let mut s = ClientSession::server_initiated(device, "http://x/dm", &pkg.session_id_hex(), &token);
    let body = xml::encode(&s.first_message());
    let cred = edgeauth::sign(std::slice::from_ref(&sys.keys().edge), "POST", "/dm", now()).expect("sign");
    let r = post_with(
        &format!("{}/dm", sys.origin),
        &[
            ("Content-Type", "application/vnd.syncml.dm+xml"),
            (edgeauth::HEADER, &cred),
            (edgeauth::CLIENT_HEADER, address),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answer = xml::decode(&r.body).expect("SyncML");
    answer
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd == "SyncHdr" => Some(s.data),
            _ => None,
        })
        .expect("header status")
}

#[test]
fn a_trigger_opens_a_session_only_from_the_network_it_was_requested_from() {
    let sys = System::start(Options {
        trust_cloudflare: true,
        origin_extra: "dm_same_network = true\n",
        ..Options::default()
    });
    let mut browser = Browser::new(&sys.edge).with_header("CF-Connecting-IP", "203.0.113.9");
    let far = browser.get("/portal/trigger").body;
    assert_eq!(open_from(&sys, &far, "198.51.100.1"), 401, "a phone on another network");
    assert_eq!(open_from(&sys, &far, "unknown"), 401, "a phone whose network is unknown");
    assert_eq!(browser.session()["state"], "waiting", "nothing was opened");
    // The same browser triggers again; its own phone, on its network, opens the session.
    let near = browser.get("/portal/trigger").body;
    assert_eq!(open_from(&sys, &near, "203.0.113.77"), 212);
    assert_eq!(browser.session()["state"], "connecting");
}

#[test]
fn without_the_option_the_network_is_not_compared() {
    let sys = System::start(Options { trust_cloudflare: true, ..Options::default() });
    let mut browser = Browser::new(&sys.edge).with_header("CF-Connecting-IP", "203.0.113.9");
    let trigger = browser.get("/portal/trigger").body;
    assert_eq!(open_from(&sys, &trigger, "198.51.100.1"), 212);
}
