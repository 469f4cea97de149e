//! Sessions of devices with a profile (`crate::profile`): the message cap no client header can
//! raise, the encoding answers go out in, and the nodes it names instead of a search.

use super::client::ClientSession;
use super::tests::{cont, delivery, device, send, token, wire};
use crate::media::DmEncoding;
use crate::profile::DeviceProfile;
use crate::scomo::ScomoPlace;
use crate::session::server::{ServerSession, Step, token_of};
use crate::syncml::codes::StatusCode;
use crate::syncml::{Command, SyncMl, xml};

fn profile() -> DeviceProfile {
    DeviceProfile { name: "X1".into(), models: vec!["X1".into()], ..DeviceProfile::default() }
}

/// A portal session opened for a device of `p`, and its package 2.
fn open_with(p: &DeviceProfile, wire_enc: DmEncoding) -> (ClientSession, ServerSession, SyncMl) {
    let (t, v) = token(0x2A);
    let mut client = ClientSession::server_initiated(device(), "https://srv/dm", "2A", &t);
    let pkg1 = wire(&client.first_message());
    let verified = v.verify(token_of(&pkg1).expect("token alert"), crate::session::tests::NOW).expect("verifies");
    let (server, pkg2) =
        ServerSession::accept_portal(&pkg1, &verified, "https://srv/dm", wire_enc, cont(), Some(p)).expect("accepts");
    (client, server, wire(&pkg2))
}

/// The URIs package 2 reads.
fn gets(m: &SyncMl) -> Vec<String> {
    m.body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Get(g) => Some(g.items.iter().filter_map(|i| i.target.clone()).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn the_profiles_cap_holds_whatever_the_clients_headers_announce() {
    let p = DeviceProfile { max_msg_size: Some(2048), ..profile() };
    let (mut client, mut server, pkg2) = open_with(&p, DmEncoding::Xml);
    let mut pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    // The client announces far more than it takes, in every header.
    pkg3.hdr.meta.max_msg_size = Some(1 << 20);
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let firmware: Vec<u8> = (0..9000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut msg = wire(&server.poll_deliver(&delivery(), Some(&firmware)).expect("deliver"));
    let mut parts = 1;
    let step = loop {
        assert!(xml::encode(&msg).len() <= 2048, "part {parts} is {} bytes", xml::encode(&msg).len());
        let mut answer = send(client.handle(&msg).expect("part"));
        answer.hdr.meta.max_msg_size = Some(1 << 20);
        if msg.body.final_ {
            break server.handle(&answer).expect("pkg5");
        }
        match server.handle(&answer).expect("1222") {
            Step::Reply(next) => msg = wire(&next),
            other => panic!("expected the next part, got {other:?}"),
        }
        parts += 1;
    };
    assert!(parts >= 6, "12 KB of base64 in 2 KiB messages: {parts} parts");
    assert!(matches!(step, Step::Delivered { status: StatusCode::ACCEPTED, .. }), "{step:?}");
    assert_eq!(client.pkg_data(&client.deliveries()[0]), Some(firmware));
}

#[test]
fn the_session_answers_in_the_profiles_encoding_or_the_clients() {
    let p = DeviceProfile { encoding: Some(DmEncoding::Wbxml), ..profile() };
    let named = open_with(&p, DmEncoding::Xml).1;
    assert_eq!(named.encoding_for(DmEncoding::Xml), DmEncoding::Wbxml);
    // Without one, each answer in its message's encoding (a client may switch mid-session).
    let own = open_with(&profile(), DmEncoding::Xml).1;
    assert_eq!(
        (own.encoding_for(DmEncoding::Xml), own.encoding_for(DmEncoding::Wbxml)),
        (DmEncoding::Xml, DmEncoding::Wbxml)
    );
}

#[test]
fn what_the_profile_names_is_not_searched_for_and_the_rest_is() {
    let both = DeviceProfile {
        fumo_root: Some("./FwUpdate/stock".into()),
        scomo_root: Some("./Apps/SCOMO".into()),
        ..profile()
    };
    let (_, server, pkg2) = open_with(&both, DmEncoding::Xml);
    assert!(!gets(&pkg2).iter().any(|g| g == "."), "nothing searched: {:?}", gets(&pkg2));
    assert_eq!(server.device.scomo, ScomoPlace::At { root: "./Apps/SCOMO".into() });
    assert_eq!(server.device.fumo.root(), Some("./FwUpdate/stock"));
    // A FUMO node alone: the SCOMO root is still looked for.
    let fumo_only = DeviceProfile { scomo_root: None, ..both };
    let (_, server, pkg2) = open_with(&fumo_only, DmEncoding::Xml);
    assert!(gets(&pkg2).iter().any(|g| g == "."), "the tree is listed: {:?}", gets(&pkg2));
    assert_eq!(server.device.scomo, ScomoPlace::Unknown);
}
