//! Two-sided session tests: a server and a client session stepped by hand, every message
//! going through the XML codec as it would on the wire (held package 4, inline packages over
//! several messages, repeats, persistence, session end, result reports, and what the client
//! refuses to run).

use super::ProtocolError;
use super::client::*;
use crate::device::DeviceDetails;
use crate::fumo::ResultCode;
use crate::fumo::{FumoDelivery, FumoResult};
use crate::keys::NamedKey;
use crate::media::DmEncoding;
use crate::rand::TestRng;
use crate::session::report::ReportOpening;
use crate::session::server::{HeldAnswer, ServerSession, State, Step, token_of};
use crate::syncml::codes::{AlertCode, StatusCode};
use crate::syncml::xml;
use crate::syncml::{Command, Item, ItemCommand, Meta, SyncHdr, SyncMl};
use crate::time::UnixMillis;
use crate::token::{Claims, TokenSigner, TokenVerified, TokenVerifier};

pub(super) const NOW: UnixMillis = UnixMillis(1_700_000_000_000);

pub(super) fn wire(m: &SyncMl) -> SyncMl {
    xml::decode(&xml::encode(m)).expect("own messages decode")
}

pub(super) fn device() -> DeviceDetails {
    DeviceDetails {
        dev_id: "IMEI:490154203237518".into(),
        man: Some("Acme".into()),
        model: Some("X1".into()),
        dm_v: Some("1.2".into()),
        lang: Some("en-US".into()),
        fw_v: Some("1.0".into()),
        sw_v: Some("1.0".into()),
        hw_v: Some("A".into()),
        dev_typ: Some("phone".into()),
        oem: Some("Acme".into()),
        fumo: Default::default(),
        scomo: Default::default(),
    }
}

pub(super) fn token(nsid: u16) -> (String, TokenVerifier) {
    let seed = NamedKey::generate("k1", &mut TestRng(9)).expect("key");
    let c = Claims {
        iss: "edge".into(),
        aud: "origin".into(),
        sid: "portal-1".into(),
        nsid,
        srv: "portaldm".into(),
        iat: NOW.as_secs(),
        nbf: NOW.as_secs(),
        exp: NOW.as_secs() + 300,
        jti: "j".into(),
        bnd: "b".into(),
        colo: "L".into(),
        ctry: None,
        net: None,
    };
    let t = TokenSigner::new(&seed).expect("signer").sign(&c).expect("signs");
    (t, TokenVerifier::new(&[seed.ed25519_public()], "origin", "portaldm"))
}

pub(super) fn delivery() -> FumoDelivery {
    FumoDelivery {
        node: "pdm1".into(),
        pkg_name: "X1 firmware".into(),
        pkg_version: "1.2".into(),
        url: "https://edge.example/dl/ab?d=x&e=1&s=k.m".into(),
        sha256: "ab".repeat(32),
        size: 1234,
        correlator: "corr-1".into(),
        inline: false,
        signature: None,
        kind: Default::default(),
        settings: vec![],
        two_step: false,
        device_root: None,
    }
}

fn open() -> (ClientSession, ServerSession, SyncMl) {
    open_in(DmEncoding::Xml)
}

/// A portal session opened by a package 1 in `enc`.
fn open_in(enc: DmEncoding) -> (ClientSession, ServerSession, SyncMl) {
    open_with(enc, cont())
}

/// [`open_in`], the session's continuation secret `secret`.
fn open_with(
    enc: DmEncoding,
    secret: crate::session::continuation::Continuation,
) -> (ClientSession, ServerSession, SyncMl) {
    let (t, v) = token(0x2A);
    let mut client = ClientSession::server_initiated(device(), "https://srv/dm", "2A", &t);
    let pkg1 = wire(&client.first_message());
    let verified: TokenVerified = v.verify(token_of(&pkg1).expect("token alert"), NOW).expect("verifies");
    let (server, pkg2) =
        ServerSession::accept_portal(&pkg1, &verified, "https://srv/dm", enc, secret, None).expect("accepts");
    (client, server, wire(&pkg2))
}

/// A portal session opened and its package 3 read: package 4 held while the user chooses;
/// the phone's package 3 as sent.
fn held() -> (ClientSession, ServerSession, SyncMl) {
    let (mut client, mut server, pkg2) = open();
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    (client, server, pkg3)
}

pub(super) fn send(step: ClientStep) -> SyncMl {
    match step {
        ClientStep::Send(m) => wire(&m),
        ClientStep::Done => panic!("client ended early"),
    }
}

#[test]
fn full_portal_session_with_held_package_4() {
    let (mut client, mut server, pkg2) = open();
    assert_eq!(server.device.model.as_deref(), Some("X1"));
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    assert_eq!(server.device.fw_v.as_deref(), Some("1.0"));

    // No choice yet: held message without Final; the client asks for the next one.
    let hold = wire(&server.poll_hold().expect("hold"));
    assert!(!hold.body.final_);
    let next = send(client.handle(&hold).expect("hold"));
    assert!(next.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.code() == AlertCode::NEXT_MESSAGE)));
    assert_eq!(server.handle(&next).expect("1222"), Step::AwaitChoice);

    let pkg4 = wire(&server.poll_deliver(&delivery(), None).expect("deliver"));
    assert!(pkg4.body.final_);
    let pkg5 = send(client.handle(&pkg4).expect("pkg4"));
    assert_eq!(client.deliveries(), &[delivery()]);
    let Step::Delivered { correlator, status, reply, .. } = server.handle(&pkg5).expect("pkg5") else {
        panic!("expected Delivered")
    };
    assert_eq!((correlator.as_str(), status), ("corr-1", StatusCode::ACCEPTED));
    assert_eq!(client.handle(&wire(&reply)).expect("closing"), ClientStep::Done);
    assert_eq!(server.state, State::Ended);
}

#[test]
fn an_inline_package_spans_messages_within_the_clients_max_msg_size() {
    let (mut client, mut server, pkg2) = open();
    let mut pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    // A handset with small messages: the server must keep to 2 KiB.
    pkg3.hdr.meta.max_msg_size = Some(2048);
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let firmware: Vec<u8> = (0..9000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut msg = wire(&server.poll_deliver(&delivery(), Some(&firmware)).expect("deliver"));
    let mut parts = 1;
    let step = loop {
        assert!(xml::encode(&msg).len() <= 2048, "part {parts} is {} bytes", xml::encode(&msg).len());
        let mut answer = send(client.handle(&msg).expect("part"));
        answer.hdr.meta.max_msg_size = Some(2048);
        if msg.body.final_ {
            break server.handle(&answer).expect("pkg5");
        }
        // Each chunk is acknowledged with 213 and the client asks for more.
        assert!(answer.body.commands.iter().any(|c| matches!(c, Command::Status(s) if s.data == 213)));
        match server.handle(&answer).expect("1222") {
            Step::Reply(next) => msg = wire(&next),
            other => panic!("expected the next part, got {other:?}"),
        }
        parts += 1;
    };
    assert!(parts >= 6, "12 KB of base64 in 2 KiB messages: {parts} parts");
    let Step::Delivered { status, .. } = step else { panic!("expected Delivered, got {step:?}") };
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = &client.deliveries()[0];
    assert!(got.inline);
    assert_eq!(client.pkg_data(got), Some(firmware));
}

/// A portal session held at package 4 for a phone whose package 3 announced `max_msg` as its
/// MaxMsgSize; the phone's package 3 as sent.
fn held_at(max_msg: u64) -> (ClientSession, ServerSession, SyncMl) {
    let (mut client, mut server, pkg2) = open();
    let mut pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    pkg3.hdr.meta.max_msg_size = Some(max_msg);
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    (client, server, pkg3)
}

/// How one inline package went to a phone that lost some of its parts.
struct Lossy {
    /// What the phone assembled.
    got: Vec<u8>,
    /// How many messages of the package the phone got.
    parts: usize,
    /// For each part lost, how much data it carried and how much its resend did.
    carried: Vec<(usize, usize)>,
}

/// `firmware` inline in parts of at most `max_msg` bytes; the message after each part in
/// `lost` (0: package 4's first message) never arrives, and the phone sends its last message
/// again under a new MsgID with `extra` commands more (and, with `copy_max`, announcing that
/// MaxMsgSize from then on). The server session is stored and read back between messages, as
/// the origin does. `None` if the server refused to send a lost part again.
fn deliver_losing(firmware: &[u8], max_msg: u64, lost: &[usize], extra: usize, copy_max: Option<u64>) -> Option<Lossy> {
    let (mut client, mut server, pkg3) = held_at(max_msg);
    let stored = |s: &ServerSession| -> ServerSession {
        serde_json::from_str(&serde_json::to_string(s).expect("stores")).expect("reads back")
    };
    let mut msg = wire(&server.poll_deliver(&delivery(), Some(firmware)).expect("deliver"));
    let data = |m: &SyncMl| -> usize {
        let items = |c: &Command| match c {
            Command::Replace(c) | Command::Add(c) => {
                c.items.iter().map(|i| i.data.as_ref().map_or(0, String::len)).sum()
            }
            _ => 0,
        };
        m.body.commands.iter().map(items).sum()
    };
    // The answer to `last` never arrives: the phone sends `last` again, renumbered.
    let again = |server: &mut ServerSession, last: &SyncMl| {
        let mut again = last.clone();
        again.hdr.msg_id = (again.hdr.msg_id.parse::<u32>().expect("msg id") + 1).to_string();
        again.hdr.meta.max_msg_size = copy_max.or(again.hdr.meta.max_msg_size);
        for id in 0..extra {
            again.body.commands.push(Command::Alert(crate::syncml::Alert {
                cmd_id: (90 + id).to_string(),
                data: AlertCode::GENERIC.0,
                ..Default::default()
            }));
        }
        *server = stored(server);
        match server.handle(&wire(&again)) {
            Ok(Step::Reply(resent)) => Some(wire(&resent)),
            Err(ProtocolError::Unexpected(_)) => None,
            other => panic!("expected the lost part again or a refusal, got {other:?}"),
        }
    };
    // The phone's MsgIDs, shifted past those its copies took.
    let mut shift = 0;
    let mut carried = Vec::new();
    if lost.contains(&0) {
        // Package 4's first message lost: package 3 again.
        shift += 1;
        let resent = again(&mut server, &pkg3)?;
        carried.push((data(&msg), data(&resent)));
        msg = resent;
    }
    let mut parts = 1;
    // The phone's MaxMsgSize as it last announced it.
    let max_msg = |resent: bool| if resent { copy_max.unwrap_or(max_msg) } else { max_msg };
    let mut roomier = lost.contains(&0);
    // The chunks as the phone gets them: only an item's first carries a Size, the whole item's;
    // a chunk with more to come ends its message.
    let (mut declared, mut sum) = (None, 0);
    let step = loop {
        let len = xml::encode(&msg).len();
        assert!(len as u64 <= max_msg(roomier), "part {parts} is {len} bytes");
        let open_at = msg
            .body
            .commands
            .iter()
            .position(|c| matches!(c, Command::Replace(r) if r.items.iter().any(|i| i.more_data)));
        if let Some(at) = open_at {
            assert_eq!(
                at + 1,
                msg.body.commands.len(),
                "a chunk with more to come before another command, part {parts}"
            );
        }
        for c in &msg.body.commands {
            let Command::Replace(r) = c else { continue };
            for i in &r.items {
                match declared {
                    None if i.more_data => (declared, sum) = (Some(i.meta.size.expect("a first chunk's Size")), 0),
                    None => continue,
                    Some(_) => assert_eq!(i.meta.size, None, "a Size on a later chunk, part {parts}"),
                }
                sum += i.data.as_ref().map_or(0, String::len) as u64;
                if !i.more_data {
                    assert_eq!(declared.take(), Some(sum), "the Size declared is not the data sent");
                }
            }
        }
        let mut answer = send(client.handle(&msg).expect("part"));
        answer.hdr.meta.max_msg_size = Some(max_msg(roomier));
        answer.hdr.msg_id = (answer.hdr.msg_id.parse::<u32>().expect("msg id") + shift).to_string();
        server = stored(&server);
        if msg.body.final_ {
            break server.handle(&answer).expect("pkg5");
        }
        let next = match server.handle(&answer).expect("1222") {
            Step::Reply(next) => wire(&next),
            other => panic!("expected the next part, got {other:?}"),
        };
        msg = if lost.contains(&parts) {
            shift += 1;
            roomier = true;
            let resent = again(&mut server, &answer)?;
            carried.push((data(&next), data(&resent)));
            resent
        } else {
            next
        };
        parts += 1;
    };
    let Step::Delivered { status, .. } = step else { panic!("expected Delivered, got {step:?}") };
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = &client.deliveries()[0];
    Some(Lossy { got: client.pkg_data(got).expect("the package's data"), parts, carried })
}

fn firmware(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_part_of_a_longer_package_lost_on_the_way_is_sent_again_not_skipped() {
    let sent = firmware(9000);
    // Package 4's first message (the first chunk, with the Size), the next, one further on.
    for lost in [0, 1, 3] {
        let Lossy { got, parts, carried } = deliver_losing(&sent, 2048, &[lost], 0, None).expect("delivered");
        assert!(parts >= 6, "{parts} parts");
        assert_eq!(carried.len(), 1);
        assert_eq!(carried[0].0, carried[0].1, "the same part again");
        assert!(got == sent, "lost after part {lost}: {} bytes assembled of {}", got.len(), sent.len());
    }
}

#[test]
fn a_lost_part_sent_again_to_a_longer_message_is_chunked_anew_with_the_items_size() {
    let sent = firmware(9000);
    // Enough statuses more that the part no longer fits as it went and is split again.
    for (lost, extra) in [(0, 2), (0, 6), (1, 2), (1, 6)] {
        let Lossy { got, carried, .. } = deliver_losing(&sent, 2048, &[lost], extra, None).expect("delivered");
        let (lost, resent) = carried[0];
        assert!(resent < lost, "{extra} commands more: {resent} bytes of data again, {lost} lost");
        assert!(got == sent, "{extra} commands more: {} bytes assembled of {}", got.len(), sent.len());
    }
}

/// How often `msg`, sent again and again under new MsgIDs without ever answering, gets an
/// answer before the server refuses it.
fn sent_again_until_refused(server: &mut ServerSession, msg: &SyncMl) -> u8 {
    let mut sent = 0;
    let first = msg.hdr.msg_id.parse::<u32>().expect("msg id") + 1;
    for id in first..first + 17 {
        let mut m = msg.clone();
        m.hdr.msg_id = id.to_string();
        match server.handle(&m) {
            Ok(Step::Reply(_)) => sent += 1,
            Err(ProtocolError::Unexpected(_)) => break,
            other => panic!("{other:?}"),
        }
    }
    sent
}

#[test]
fn a_lost_part_sent_again_with_more_room_is_that_part_alone() {
    // The phone's copy announces a larger MaxMsgSize: the part goes again as it was, not
    // joined with the rest of the package (a resend never draws more than it resends).
    let sent = firmware(9000);
    for lost in [0, 1, 3] {
        let Lossy { got, carried, .. } = deliver_losing(&sent, 2048, &[lost], 0, Some(16_000)).expect("delivered");
        assert_eq!(carried[0].0, carried[0].1, "lost after part {lost}: the resend carried other data");
        assert!(got == sent, "{} bytes assembled of {}", got.len(), sent.len());
    }
}

#[test]
fn three_lost_parts_arrive_and_the_bound_is_for_the_whole_delivery() {
    let sent = firmware(9000);
    let Lossy { got, carried, .. } = deliver_losing(&sent, 2048, &[0, 2, 4], 0, None).expect("delivered");
    assert_eq!(carried.len(), 3);
    assert!(got == sent, "{} bytes assembled of {}", got.len(), sent.len());
    // A fourth part lost, another one, is one resend too many: each may carry as much as the
    // message it resends, so their number in all is what bounds what a client can draw.
    assert!(deliver_losing(&sent, 2048, &[0, 2, 4, 5], 0, None).is_none(), "a fourth resend in one delivery");
    // And one part lost over and over: the same bound.
    let (mut client, mut server, _) = held_at(2048);
    let first = wire(&server.poll_deliver(&delivery(), Some(&sent)).expect("deliver"));
    let answer = send(client.handle(&first).expect("part 1"));
    let Step::Reply(_lost) = server.handle(&answer).expect("part 2") else { panic!("no part 2") };
    assert_eq!(sent_again_until_refused(&mut server, &answer), crate::auth::server::MAX_TRIES);
}

#[test]
fn a_client_alternating_room_and_claimed_losses_draws_a_bounded_amount() {
    // A hostile phone: it acknowledges with a huge MaxMsgSize (the whole rest comes at once),
    // then claims that message lost with a small one (a sliver is sent again), then
    // acknowledges that with a huge one again, and so on. What the server sends in all must
    // stay a small multiple of the package, not grow with its square.
    let (mut client, mut server, _) = held_at(2048);
    let package = firmware(20_000);
    let first = wire(&server.poll_deliver(&delivery(), Some(&package)).expect("deliver"));
    let ack = send(client.handle(&first).expect("part 1"));
    let (mut last, mut next_id, mut drawn) = (first, ack.hdr.msg_id.parse::<u32>().expect("msg id"), 0);
    // The attack must have been played: losses claimed and answered, then refused.
    let (mut resent, mut ended) = (0, false);
    for round in 0..400 {
        let claims_loss = round % 2 == 1;
        let mut m = ack.clone();
        m.hdr.msg_id = next_id.to_string();
        next_id += 1;
        m.hdr.meta.max_msg_size = Some(if claims_loss { 2048 } else { 1 << 30 });
        let answering = last.hdr.msg_id.parse::<u32>().expect("msg id") - u32::from(claims_loss);
        for c in &mut m.body.commands {
            if let Command::Status(st) = c {
                st.msg_ref = answering.to_string();
            }
        }
        match server.handle(&wire(&m)) {
            Ok(Step::Reply(reply)) => {
                drawn += xml::encode(&reply).len();
                resent += usize::from(claims_loss);
                last = reply;
            }
            _ => {
                ended = true;
                break;
            }
        }
    }
    let whole = xml::encode(&first_message_of(&package)).len();
    assert!(ended && resent >= 1 && drawn > whole, "the attack did not run: {resent} resends, {drawn} bytes");
    assert!(drawn <= 6 * whole, "{drawn} bytes drawn for a package of about {whole}");
}

/// About how large `data` is as one inline message (its base64 and the commands around it).
fn first_message_of(data: &[u8]) -> SyncMl {
    let (_, mut server, _) = held();
    server.poll_deliver(&delivery(), Some(data)).expect("deliver")
}

#[test]
fn lost_parts_are_sent_again_no_more_often_than_the_bound() {
    let (_, mut server, pkg3) = held_at(2048);
    let _lost = server.poll_deliver(&delivery(), Some(&firmware(9000))).expect("deliver");
    // Package 3 again and again: the first part each time, as often as the bound allows.
    assert_eq!(sent_again_until_refused(&mut server, &pkg3), crate::auth::server::MAX_TRIES);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
    /// Whatever the message size, the package's length and which parts are lost (each once),
    /// the phone assembles what was sent, each chunk as the rules want it.
    #[test]
    fn any_parts_lost_once_each_arrive_whole(
        len in 1u32..14_000,
        max_msg in 2048u64..6000,
        lost in proptest::collection::btree_set(0usize..8, 0..=3),
        extra in 0usize..3,
        copy_max in proptest::option::of(2048u64..16_000),
    ) {
        let sent = firmware(len);
        let lost: Vec<usize> = lost.into_iter().collect();
        let Lossy { got, .. } = deliver_losing(&sent, max_msg, &lost, extra, copy_max).expect("delivered");
        proptest::prop_assert!(got == sent, "{} bytes assembled of {}", got.len(), sent.len());
    }
}

#[test]
fn a_client_that_opened_in_wbxml_and_goes_on_in_xml_gets_no_message_past_its_max_msg_size() {
    // Answers follow each request's encoding (no profile says otherwise): sized for WBXML,
    // the same commands in XML would be two to three times as large.
    let (mut client, mut server, pkg2) = open_in(DmEncoding::Wbxml);
    let mut pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    pkg3.hdr.meta.max_msg_size = Some(2048);
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let firmware: Vec<u8> = (0..6000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut msg = wire(&server.poll_deliver(&delivery(), Some(&firmware)).expect("deliver"));
    for part in 1.. {
        assert!(xml::encode(&msg).len() <= 2048, "part {part} is {} bytes in XML", xml::encode(&msg).len());
        let mut answer = send(client.handle(&msg).expect("part"));
        answer.hdr.meta.max_msg_size = Some(2048);
        if msg.body.final_ {
            break;
        }
        match server.handle(&answer).expect("1222") {
            Step::Reply(next) => msg = wire(&next),
            other => panic!("expected the next part, got {other:?}"),
        }
    }
}

#[test]
fn an_inline_package_too_large_for_the_client_goes_by_url() {
    let (mut client, mut server, pkg2) = open();
    let mut pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    pkg3.hdr.meta.max_obj_size = Some(100);
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let pkg4 = wire(&server.poll_deliver(&delivery(), Some(&[7u8; 1000])).expect("deliver"));
    assert!(pkg4.body.final_);
    send(client.handle(&pkg4).expect("pkg4"));
    assert_eq!(client.deliveries(), &[delivery()], "by URL");
}

#[test]
fn a_repeated_client_message_is_answered_again_not_reprocessed() {
    let (_, mut server, pkg3) = held();
    // Its answer still owed: held again (not answered with package 2).
    assert_eq!(server.handle(&pkg3).expect("again, held"), Step::AwaitChoice);
    let _ = server.poll_hold().expect("hold");
    assert_eq!(server.handle(&pkg3).expect("again, answered"), Step::Repeat);
}

#[test]
fn a_held_message_read_back_from_the_store_says_where_it_stands() {
    let (mut client, mut server, pkg2) = open();
    assert_eq!(server.held_message(), None, "nothing held in package 2");
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let held = server.held_message().expect("package 4 held");
    // Stored while it waits, and read back when the choice comes.
    let stored = serde_json::to_string(&server).expect("serializes");
    let mut back: ServerSession = serde_json::from_str(&stored).expect("restores");
    assert_eq!(back.held_answer(&held), HeldAnswer::Owed);
    // Another copy of the message was held and answered meanwhile.
    let hold = wire(&back.poll_hold().expect("hold"));
    assert_eq!(back.held_answer(&held), HeldAnswer::Answered);
    // The session went on to the next message: this one is long answered.
    let next = send(client.handle(&hold).expect("hold"));
    assert_eq!(back.handle(&next).expect("1222"), Step::AwaitChoice);
    assert_eq!(back.held_answer(&held), HeldAnswer::Gone);
    assert_eq!(back.held_answer(&back.held_message().expect("held again")), HeldAnswer::Owed);
}

#[test]
fn a_new_session_under_the_same_session_id_is_not_the_held_one() {
    let (_, server, _) = held();
    let held = server.held_message().expect("held");
    // The same device opens another session with the same SessionID, and reaches its own
    // held package 3 (the same MsgID) while the first one waits.
    let fresh = crate::session::continuation::Continuation::generate(&mut TestRng(7)).expect("random");
    let (mut other, mut newer, pkg2) = open_with(DmEncoding::Xml, fresh);
    let pkg3 = send(other.handle(&pkg2).expect("pkg2"));
    assert_eq!(newer.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    assert_eq!(newer.session_id, server.session_id);
    assert_eq!(newer.held_answer(&held), HeldAnswer::Gone, "the first session's wait would answer the second's");
    let mut elsewhere = server.clone();
    elsewhere.portal_sid = "portal-2".into();
    assert_eq!(elsewhere.held_answer(&held), HeldAnswer::Gone, "another portal session");
}

#[test]
fn a_held_client_that_sends_package_3_again_under_a_new_msg_id_is_held_again() {
    let (_, mut server, pkg3) = held();
    let first = server.held_message().expect("held");
    let copy = |id: &str| {
        let mut m = pkg3.clone();
        m.hdr.msg_id = id.into();
        m
    };
    assert_eq!(server.handle(&copy("3")).expect("package 3 again"), Step::AwaitChoice);
    assert_eq!(server.held_answer(&first), HeldAnswer::Gone, "the answer is owed to the newer message");
    // A late copy of the older message does not take the answer back.
    let msg_id_2 = pkg3.hdr.msg_id.clone();
    assert!(server.handle(&copy(&msg_id_2)).is_err(), "a late copy of the first message took the held answer back");
    let hold = server.poll_hold().expect("hold");
    assert_eq!(header_status_ref(&hold), "3", "package 4 answers the newer message");
    // Once answered, anything but Alert 1222 that answers that answer is refused again.
    let mut answering = copy("4");
    for c in &mut answering.body.commands {
        if let Command::Status(s) = c {
            s.msg_ref = hold.hdr.msg_id.clone();
        }
    }
    assert!(server.handle(&answering).is_err());
    // But package 3 again, answering package 2 still (the hold's answer was lost), is held again.
    assert_eq!(server.handle(&copy("5")).expect("held again"), Step::AwaitChoice);
    assert_eq!(header_status_ref(&server.poll_hold().expect("hold")), "5");
    // And a late copy of an older one is not, once the hold has gone out.
    assert!(server.handle(&copy("3")).is_err(), "a late copy took the held answer back");
}

#[test]
fn a_client_that_never_got_the_delivery_gets_it_again_when_it_asks_under_a_new_msg_id() {
    let (mut client, mut server, pkg3) = held();
    // The delivery is made (and saved), and lost on its way to the phone.
    let lost = wire(&server.poll_deliver(&delivery(), None).expect("deliver"));
    let copy = |id: &str| {
        let mut m = pkg3.clone();
        m.hdr.msg_id = id.into();
        m
    };
    // A late copy of an older message gets nothing.
    assert!(server.handle(&copy("1")).is_err(), "a message older than the delivery's got it");
    // The phone sends its package 3 again under a new MsgID: the delivery again, addressed to it.
    let Step::Reply(again) = server.handle(&copy("3")).expect("package 3 again") else {
        panic!("the delivery was not sent again")
    };
    let again = wire(&again);
    assert_eq!(header_status_ref(&again), "3");
    assert!(again.body.final_);
    let execs = |m: &SyncMl| m.body.commands.iter().filter(|c| matches!(c, Command::Exec(_))).count();
    assert_eq!((execs(&lost), execs(&again)), (1, 1));
    // It runs it, and its status ends the session as the first would have.
    let mut pkg5 = send(client.handle(&again).expect("the delivery"));
    assert_eq!(client.deliveries(), &[delivery()]);
    // Numbered after the copy, as by the phone that sent it.
    pkg5.hdr.msg_id = "4".into();
    let Step::Delivered { correlator, status, .. } = server.handle(&pkg5).expect("pkg5") else {
        panic!("expected Delivered")
    };
    assert_eq!((correlator.as_str(), status), ("corr-1", StatusCode::ACCEPTED));
}

#[test]
fn the_delivery_is_sent_again_only_to_a_message_that_answers_an_earlier_one_and_only_so_often() {
    let (mut client, mut server, pkg3) = held();
    let pkg4 = wire(&server.poll_deliver(&delivery(), None).expect("deliver"));
    // A package 5 that answers the delivery but leaves out the Exec's status is refused.
    let mut pkg5 = send(client.handle(&pkg4).expect("pkg4"));
    pkg5.body.commands.retain(|c| !matches!(c, Command::Status(s) if s.cmd == "Exec"));
    assert!(matches!(server.clone().handle(&pkg5), Err(ProtocolError::Incomplete(_))));
    // A package 5 with the Exec's status ends the delivery, whatever message its statuses name.
    let mut lax = send(client.clone().handle(&pkg4).expect("pkg4"));
    for c in &mut lax.body.commands {
        if let Command::Status(s) = c {
            s.msg_ref = "1".into();
        }
    }
    assert!(matches!(server.clone().handle(&lax), Ok(Step::Delivered { .. })), "a status for the Exec got a resend");
    // So is a message that answers none of the server's messages.
    let mut bare = pkg3.clone();
    bare.hdr.msg_id = "3".into();
    bare.body.commands.retain(|c| !matches!(c, Command::Status(_)));
    assert!(matches!(server.clone().handle(&bare), Err(ProtocolError::Incomplete(_))));
    // A session stored before any resend reads as one stored by the version before the counter.
    let stored = serde_json::to_string(&server).unwrap();
    assert!(!stored.contains("delivery_resends"), "{stored}");
    assert_eq!(serde_json::from_str::<ServerSession>(&stored).unwrap(), server);
    // Asked again and again without ever answering: sent a bounded number of times.
    assert_eq!(sent_again_until_refused(&mut server, &pkg3), crate::auth::server::MAX_TRIES);
    // And it survives being stored between messages.
    let stored: ServerSession = serde_json::from_str(&serde_json::to_string(&server).unwrap()).unwrap();
    assert_eq!(stored, server);
}

#[test]
fn a_settings_delivery_sent_again_to_a_longer_message_numbers_every_command_once() {
    let (_, mut server, pkg3) = held();
    let d = settings_delivery(&[("./Ext/A", "1")]);
    let _lost = server.poll_deliver(&d, None).expect("deliver");
    // Sent again with two commands more, so more statuses come before the Atomic.
    let mut again = pkg3.clone();
    again.hdr.msg_id = "3".into();
    for id in ["90", "91"] {
        again.body.commands.push(Command::Alert(crate::syncml::Alert {
            cmd_id: id.into(),
            data: AlertCode::GENERIC.0,
            ..Default::default()
        }));
    }
    let Step::Reply(resent) = server.handle(&wire(&again)).expect("package 3 again") else {
        panic!("the delivery was not sent again")
    };
    fn ids<'a>(cmds: &'a [Command], out: &mut Vec<&'a str>) {
        for c in cmds {
            out.push(c.cmd_id());
            if let Command::Atomic(k) | Command::Sequence(k) = c {
                ids(&k.commands, out);
            }
        }
    }
    let resent = wire(&resent);
    let mut all = Vec::new();
    ids(&resent.body.commands, &mut all);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "a CmdID used twice: {all:?}");
    assert!(resent.body.commands.iter().any(|c| matches!(c, Command::Atomic(_))), "no Atomic sent again");
}

#[test]
fn package_3_naming_another_dev_id_is_refused() {
    let (mut client, mut server, pkg2) = open();
    let mut pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    let other =
        Item { source: Some("./DevInfo/DevId".into()), data: Some("IMEI:000000000000000".into()), ..Item::default() };
    let results = pkg3.body.commands.iter_mut().find_map(|c| match c {
        Command::Results(r) => Some(r),
        _ => None,
    });
    results.expect("package 3 has Results").items.push(other);
    assert!(
        matches!(server.handle(&wire(&pkg3)), Err(ProtocolError::Unexpected(_))),
        "another device's DevId was taken"
    );
}

fn header_status_ref(m: &SyncMl) -> String {
    m.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd == "SyncHdr" => Some(s.msg_ref.clone()),
            _ => None,
        })
        .expect("a header status")
}

#[test]
fn session_end_while_choosing_closes_cleanly() {
    let (mut client, mut server, _) = held();
    let end = wire(&server.poll_end().expect("end"));
    assert!(end.body.final_);
    assert_eq!(client.handle(&end).expect("end"), ClientStep::Done);
    assert!(client.deliveries().is_empty());
}

#[test]
fn a_reused_session_id_opens_a_new_session_only_when_the_old_one_is_over() {
    let (mut client, mut server, pkg2) = open();
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert!(server.continued_by(&pkg3, 1_000));
    assert!(!server.continued_by(&pkg3, crate::session::server::IDLE_LIMIT_MS), "idle too long");
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let _ = server.poll_end().expect("end");
    let mut first = pkg3.clone();
    first.hdr.msg_id = "1".into();
    assert!(!server.continued_by(&first, 1_000), "message 1 after the end is a new session");
    assert!(server.continued_by(&pkg3, 1_000), "a repeat of the last message still belongs to it");
}

#[test]
fn a_message_1_reusing_the_session_id_of_a_live_session_opens_a_new_one() {
    let (t, v) = token(0x2A);
    let mut client = ClientSession::server_initiated(device(), "https://srv/dm", "2A", &t);
    let pkg1 = wire(&client.first_message());
    let verified: TokenVerified = v.verify(token_of(&pkg1).expect("token alert"), NOW).expect("verifies");
    let (mut server, pkg2) =
        ServerSession::accept_portal(&pkg1, &verified, "https://srv/dm", DmEncoding::Xml, cont(), None)
            .expect("accepts");
    // Still at its first message: the same message 1 is that message repeated, another is not.
    assert!(server.continued_by(&pkg1, 1_000), "a repeated message 1");
    let mut other = pkg1.clone();
    other.body.commands.truncate(1);
    assert!(!server.continued_by(&other, 1_000), "another message 1 is another session");
    let pkg3 = send(client.handle(&wire(&pkg2)).expect("pkg2"));
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    // Moved on (held in package 4, not ended): even the same message 1 is a new session now.
    assert!(!server.continued_by(&pkg1, 1_000), "a new session that reuses the SessionID");
}

#[test]
fn every_server_message_names_the_sessions_resp_uri_and_the_client_follows_it() {
    let (mut client, mut server, pkg2) = open();
    let resp = pkg2.hdr.resp_uri.clone().expect("package 2 carries a RespURI");
    let path = crate::path::of_url(&resp);
    assert!(server.proves(crate::session::continuation::in_path(path)));
    assert!(!server.proves(None), "a later message without the secret does not belong");
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert_eq!(client.next_url(), resp, "dmclient posts the rest of the session to the RespURI");
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    assert_eq!(server.poll_hold().expect("hold").hdr.resp_uri.as_deref(), Some(resp.as_str()));
}

#[test]
fn a_held_session_keeps_nothing_of_package_2() {
    let (mut client, mut server, pkg2) = open();
    let before = serde_json::to_string(&server).expect("serializes");
    assert!(before.contains("./DevDetail"), "package 2 asks for DevDetail: {before}");
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let held = serde_json::to_string(&server).expect("serializes");
    assert!(!held.contains("./DevDetail"), "held session still carries package 2: {held}");
    // Its answer is still whole when the user chooses.
    let pkg4 = wire(&server.poll_deliver(&delivery(), None).expect("deliver"));
    assert!(pkg4.body.final_);
    let pkg5 = send(client.handle(&pkg4).expect("pkg4"));
    assert!(matches!(server.handle(&pkg5).expect("pkg5"), Step::Delivered { .. }));
}

#[test]
fn survives_persistence_between_messages() {
    let (mut client, server, pkg2) = open();
    let json = serde_json::to_string(&server).expect("serializes");
    let mut server: ServerSession = serde_json::from_str(&json).expect("restores");
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
}

#[test]
fn refuses_a_token_for_another_trigger() {
    let (t, v) = token(0x2B);
    let mut client = ClientSession::server_initiated(device(), "https://srv/dm", "2A", &t);
    let pkg1 = wire(&client.first_message());
    let verified = v.verify(token_of(&pkg1).expect("token"), NOW).expect("verifies");
    assert!(matches!(
        ServerSession::accept_portal(&pkg1, &verified, "s", DmEncoding::Xml, cont(), None),
        Err(ProtocolError::TokenMismatch(_))
    ));
}

#[test]
fn out_of_order_messages_are_refused() {
    let (_client, mut server, _pkg2) = open();
    let _ = server.poll_hold();
    let hdr = SyncHdr { ver_dtd: "1.2".into(), ver_proto: "DM/1.2".into(), msg_id: "9".into(), ..SyncHdr::default() };
    let stray = wire(&SyncMl { hdr, ..SyncMl::default() });
    assert!(server.handle(&stray).is_err());
}

#[test]
fn a_refused_header_ends_the_session_with_the_servers_reason() {
    let (t, _) = token(0x2A);
    let pkg1 = wire(&ClientSession::server_initiated(device(), "s", "2A", &t).first_message());
    for (code, expected) in [
        (401, ProtocolError::Unauthorized(401)),
        (407, ProtocolError::Unauthorized(407)),
        (400, ProtocolError::Refused(400)),
    ] {
        let mut client = ClientSession::server_initiated(device(), "s", "2A", &t);
        let _ = client.first_message();
        let answer = wire(&crate::session::refuse(&pkg1, "s", StatusCode(code)));
        assert_eq!(client.handle(&answer), Err(expected));
    }
}

#[test]
fn report_session_records_the_result() {
    let r = FumoResult {
        source: "./FUMO/pdm1/DownloadAndUpdate".into(),
        correlator: "corr-1".into(),
        code: ResultCode::SUCCESS,
    };
    let mut client = ClientSession::report(device(), "https://srv/dm", "3", &r);
    let pkg1 = wire(&client.first_message());
    assert!(ReportOpening::is_report(&pkg1));
    let opening = ReportOpening::read(&pkg1, None).expect("reads");
    assert_eq!(opening.results, vec![r]);
    let reply = wire(&opening.reply(&pkg1, "https://srv/dm", &[StatusCode::OK]));
    assert_eq!(client.handle(&reply).expect("reply"), ClientStep::Done);
    assert_eq!(client.report_statuses(), &[StatusCode::OK]);
}

#[test]
fn a_reported_download_is_answered_with_the_update_order() {
    let downloaded =
        FumoResult { source: "./FUMO/pdm1/Download".into(), correlator: "corr-2".into(), code: ResultCode::SUCCESS };
    let mut client = ClientSession::report(device(), "https://srv/dm", "4", &downloaded);
    let pkg1 = wire(&client.first_message());
    let opening = ReportOpening::read(&pkg1, None).expect("reads");
    let order = opening.results[0].update_order().expect("a finished download");
    let (mut server, reply) =
        opening.reply_ordering_update(&pkg1, "https://srv/dm", &[StatusCode::OK], &order, DmEncoding::Xml, cont());
    assert_eq!(
        server.state,
        State::ExpectExecStatus { correlator: "corr-2".into(), kind: crate::fumo::DeliveryKind::Firmware }
    );
    let statuses = send(client.handle(&wire(&reply)).expect("takes the order"));
    assert_eq!(client.report_statuses(), &[StatusCode::OK]);
    assert_eq!(client.updates_ordered(), std::slice::from_ref(&order));
    assert!(client.deliveries().is_empty());
    let Step::Delivered { correlator, status, reply, .. } = server.handle(&wire(&statuses)).expect("status") else {
        panic!("the Exec's status ends the session")
    };
    assert_eq!((correlator.as_str(), status), ("corr-2", StatusCode::ACCEPTED));
    assert_eq!(client.handle(&wire(&reply)).expect("end"), ClientStep::Done);

    // A session reporting anything else, or another node, takes no Update order.
    for (source, node) in [("./FUMO/pdm1/DownloadAndUpdate", "pdm1"), ("./FUMO/pdm1/Download", "pdm2")] {
        let r = FumoResult { source: source.into(), ..downloaded.clone() };
        let mut client = ClientSession::report(device(), "https://srv/dm", "5", &r);
        let pkg1 = wire(&client.first_message());
        let opening = ReportOpening::read(&pkg1, None).expect("reads");
        let other = crate::fumo::UpdateOrder { node: node.into(), correlator: "corr-2".into() };
        let (_, reply) =
            opening.reply_ordering_update(&pkg1, "https://srv/dm", &[StatusCode::OK], &other, DmEncoding::Xml, cont());
        let out = send(client.handle(&wire(&reply)).expect("answers"));
        let exec_status = out.body.commands.iter().find_map(|c| match c {
            Command::Status(s) if s.cmd == "Exec" => Some(s.data),
            _ => None,
        });
        assert_eq!(exec_status, Some(404), "{source} {node}");
        assert!(client.updates_ordered().is_empty());
    }
}

#[test]
fn client_refuses_writes_outside_fumo_and_unknown_exec() {
    let (mut client, _server, pkg2) = open();
    let mut m = pkg2.clone();
    m.body.commands = vec![
        Command::Replace(ItemCommand {
            cmd_id: "1".into(),
            items: vec![Item::target_data("./DevInfo/DevId", Meta::default(), Some("evil".into()))],
            ..ItemCommand::default()
        }),
        Command::Exec(crate::syncml::Exec {
            cmd_id: "2".into(),
            items: vec![Item::target_data("./FUMO/nope/DownloadAndUpdate", Meta::default(), None)],
            ..Default::default()
        }),
    ];
    let out = send(client.handle(&m).expect("handles"));
    let codes: Vec<u16> = out
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd != "SyncHdr" => Some(s.data),
            _ => None,
        })
        .collect();
    assert_eq!(codes, vec![405, 404]);
    assert!(client.deliveries().is_empty());
}

/// A server message to the open session carrying `commands`, with Final.
fn server_msg(commands: Vec<Command>) -> SyncMl {
    let (_, _, mut pkg2) = open();
    pkg2.hdr.msg_id = "2".into();
    pkg2.body.commands = commands;
    pkg2.body.final_ = true;
    pkg2
}

fn replace(id: &str, target: &str, data: &str) -> Command {
    Command::Replace(ItemCommand {
        cmd_id: id.into(),
        items: vec![Item::target_data(target, Meta::default(), Some(data.into()))],
        ..ItemCommand::default()
    })
}

fn codes(m: &SyncMl) -> Vec<(String, String, u16)> {
    m.body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd != "SyncHdr" => Some((s.cmd.clone(), s.cmd_ref.clone(), s.data)),
            _ => None,
        })
        .collect()
}

#[test]
fn atomic_is_all_or_nothing_and_sequence_runs_every_command() {
    let (mut client, _, pkg2) = open();
    send(client.handle(&pkg2).expect("pkg2"));
    let atomic = Command::Atomic(crate::syncml::Container {
        cmd_id: "1".into(),
        commands: vec![replace("2", "./FUMO/a/PkgName", "x"), replace("3", "./Elsewhere/x", "y")],
        ..Default::default()
    });
    let exec = Command::Exec(crate::syncml::Exec {
        cmd_id: "4".into(),
        correlator: Some("c".into()),
        items: vec![Item::target_data("./FUMO/a/DownloadAndUpdate", Meta::default(), None)],
        ..Default::default()
    });
    let answer = send(client.handle(&server_msg(vec![atomic, exec])).expect("atomic"));
    let got = codes(&answer);
    assert_eq!(got[0], ("Atomic".into(), "1".into(), 507));
    assert!(got.contains(&("Replace".into(), "2".into(), 216)), "rolled back: {got:?}");
    assert!(got.contains(&("Replace".into(), "3".into(), 405)), "{got:?}");
    assert!(got.contains(&("Exec".into(), "4".into(), 404)), "the rolled-back leaf is gone: {got:?}");

    let seq = Command::Sequence(crate::syncml::Container {
        cmd_id: "5".into(),
        commands: vec![replace("6", "./Elsewhere/x", "y"), replace("7", "./FUMO/a/PkgName", "x")],
        ..Default::default()
    });
    let answer = send(client.handle(&server_msg(vec![seq])).expect("sequence"));
    assert_eq!(
        codes(&answer),
        vec![
            ("Sequence".into(), "5".into(), 200),
            ("Replace".into(), "6".into(), 405),
            ("Replace".into(), "7".into(), 200)
        ]
    );
}

#[test]
fn no_resp_suppresses_the_status_but_not_the_command() {
    let (mut client, _, pkg2) = open();
    send(client.handle(&pkg2).expect("pkg2"));
    let mut quiet = replace("1", "./FUMO/a/PkgName", "x");
    if let Command::Replace(r) = &mut quiet {
        r.no_resp = true;
    }
    let get = Command::Get(ItemCommand {
        cmd_id: "2".into(),
        no_resp: true,
        items: vec![Item::target_data("./DevInfo", Meta::default(), None)],
        ..ItemCommand::default()
    });
    let answer = send(client.handle(&server_msg(vec![quiet, get])).expect("noresp"));
    assert!(codes(&answer).is_empty(), "{:?}", codes(&answer));
    let results = answer.body.commands.iter().find_map(|c| match c {
        Command::Results(r) => Some(r.clone()),
        _ => None,
    });
    let node = &results.expect("Results still sent").items[0];
    assert_eq!(node.meta.format.as_deref(), Some("node"), "interior node");
    assert_eq!(node.data.as_deref(), Some("DevId/Man/Mod/DmV/Lang"));
}

#[test]
fn resp_uri_is_followed_only_on_the_same_origin() {
    let (mut client, _, mut pkg2) = open();
    assert_eq!(client.next_url(), "https://srv/dm");
    pkg2.hdr.resp_uri = Some("https://evil.example/dm".into());
    let _ = client.handle(&pkg2).expect("pkg2");
    assert_eq!(client.next_url(), "https://srv/dm", "another host is ignored");
    let mut next = server_msg(vec![]);
    next.hdr.resp_uri = Some("https://SRV/dm?s=42".into());
    let _ = client.handle(&next);
    assert_eq!(client.next_url(), "https://SRV/dm?s=42");
}

#[test]
fn fresh_session_ids_are_nonzero_hex() {
    let mut rng = TestRng(11);
    for _ in 0..200 {
        let id = fresh_session_id(&mut rng).expect("rng");
        assert!(u16::from_str_radix(&id, 16).is_ok_and(|v| v != 0), "{id}");
        assert_eq!(id, id.to_uppercase());
    }
}

/// A settings delivery: `settings` as one Atomic.
fn settings_delivery(settings: &[(&str, &str)]) -> FumoDelivery {
    FumoDelivery {
        kind: crate::fumo::DeliveryKind::Settings,
        settings: settings
            .iter()
            .map(|(uri, value)| crate::settings::Setting {
                uri: (*uri).into(),
                value: (*value).into(),
                format: "chr".into(),
            })
            .collect(),
        ..delivery()
    }
}

/// Runs a portal session that delivers `d`; the server's step for package 5 and the client.
fn deliver_settings(d: &FumoDelivery) -> (Step, ClientSession) {
    let (mut client, mut server, _) = held();
    let pkg4 = wire(&server.poll_deliver(d, None).expect("deliver"));
    let pkg5 = send(client.handle(&pkg4).expect("pkg4"));
    (server.handle(&pkg5).expect("pkg5"), client)
}

#[test]
fn settings_are_set_all_at_once_and_their_status_is_the_outcome() {
    let d = settings_delivery(&[("./Settings/APN/Name", "internet"), ("./Settings/APN/User", "web")]);
    let (step, client) = deliver_settings(&d);
    let Step::Delivered { correlator, status, .. } = step else { panic!("expected Delivered, got {step:?}") };
    assert_eq!((correlator.as_str(), status), ("corr-1", StatusCode::OK));
    assert_eq!(
        client.settings_written(),
        [
            ("./Settings/APN/Name".to_owned(), "internet".to_owned()),
            ("./Settings/APN/User".to_owned(), "web".to_owned())
        ]
    );
    assert!(client.deliveries().is_empty(), "nothing to download");
}

#[test]
fn a_setting_outside_the_devices_roots_fails_them_all() {
    for outside in ["./DMAcc/portaldm/AppAddr", "./Settings/../DMAcc/x", "./Settings/./x"] {
        let d = settings_delivery(&[("./Settings/APN/Name", "internet"), (outside, "evil")]);
        let (step, client) = deliver_settings(&d);
        let Step::Delivered { status, .. } = step else { panic!("expected Delivered") };
        assert_eq!(status, StatusCode::ATOMIC_FAILED, "{outside}");
        assert!(client.settings_written().is_empty(), "{outside}: all or nothing");
    }
}

/// A session's continuation secret, from a fixed seed.
pub(super) fn cont() -> crate::session::continuation::Continuation {
    crate::session::continuation::Continuation::generate(&mut crate::rand::TestRng(99)).expect("random")
}
