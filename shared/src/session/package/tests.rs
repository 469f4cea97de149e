use proptest::prelude::*;

use super::*;
use crate::syncml::{Meta, SyncBody, wbxml, xml};

fn base() -> SyncMl {
    SyncMl {
        hdr: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: "1".into(),
            msg_id: "1".into(),
            target: "IMEI:1".into(),
            source: "https://dm.example/dm".into(),
            ..SyncHdr::default()
        },
        body: SyncBody::default(),
    }
}

fn replace(target: &str, data: String) -> Command {
    Command::Replace(ItemCommand {
        cmd_id: "9".into(),
        items: vec![Item::target_data(target, Meta::typed(Some("b64"), None), Some(data))],
        ..ItemCommand::default()
    })
}

/// Sends `commands` through an outbox into messages of at most `max` bytes and reassembles
/// them as a receiver would; returns the messages' sizes and the items received.
fn send_all(commands: Vec<Command>, max: u64, enc: DmEncoding) -> (Vec<usize>, Vec<Item>, Vec<StatusCode>) {
    let mut out = Outbox::default();
    out.push(commands, true);
    let limits = Limits { max_msg: Some(max), max_obj: None };
    let mut asm = Assembler::default();
    let (mut sizes, mut items, mut codes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..10_000 {
        let mut msg = base();
        out.fill(&mut msg, limits, enc);
        let bytes = crate::syncml::encode(enc, &msg).expect("encodes");
        sizes.push(bytes.len());
        let got = crate::syncml::decode(enc, &bytes).expect("decodes");
        for c in &got.body.commands {
            if let Command::Replace(r) = c {
                for i in &r.items {
                    match asm.take(i, None) {
                        Assembled::Complete(i) => items.push(i),
                        Assembled::Buffered => codes.push(StatusCode::CHUNK_BUFFERED),
                        Assembled::Refused(code) => codes.push(code),
                    }
                }
            }
        }
        if got.body.final_ {
            assert!(out.is_empty());
            return (sizes, items, codes);
        }
    }
    panic!("the package never ended");
}

#[test]
fn a_large_object_is_chunked_within_max_msg_size_and_reassembled() {
    for enc in [DmEncoding::Xml, DmEncoding::Wbxml] {
        let data: String = (0..20_000).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
        let cmds = vec![replace("./FUMO/a/PkgName", "small".into()), replace("./FUMO/a/Update/PkgData", data.clone())];
        let (sizes, items, codes) = send_all(cmds, 4096, enc);
        assert!(sizes.len() >= 5, "{enc:?}: {sizes:?}");
        assert!(sizes.iter().all(|&s| s <= 4096), "{enc:?}: {sizes:?}");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].data.as_deref(), Some(data.as_str()));
        assert_eq!(items[1].meta.size, Some(20_000), "the first chunk declares the total size");
        assert!(!items[1].more_data);
        assert!(codes.iter().all(|c| *c == StatusCode::CHUNK_BUFFERED));
    }
}

#[test]
fn many_small_commands_are_spread_over_messages() {
    let cmds: Vec<Command> = (0..200).map(|i| replace(&format!("./Ext/n{i}"), "x".repeat(50))).collect();
    let (sizes, items, codes) = send_all(cmds, 2048, DmEncoding::Xml);
    assert!(sizes.len() > 5 && sizes.iter().all(|&s| s <= 2048), "{sizes:?}");
    assert_eq!(items.len(), 200);
    assert!(codes.is_empty(), "nothing was chunked");
}

#[test]
fn a_message_sent_again_is_that_message_alone_whatever_the_room() {
    let cmds: Vec<Command> = (0..40).map(|i| replace(&format!("./Ext/n{i}"), "x".repeat(50))).collect();
    let mut out = Outbox::default();
    out.push(cmds, true);
    let small = Limits { max_msg: Some(1024), max_obj: None };
    let mut first = base();
    out.fill(&mut first, small, DmEncoding::Xml);
    let sent = first.body.commands.clone();
    assert!(!first.body.final_ && sent.len() > 1, "{} commands", sent.len());
    // Sent again to a peer that now takes far larger messages: the same commands, no more,
    // and what was queued after them still queued.
    let mut again = base();
    out.refill(&mut again, sent.clone(), Limits { max_msg: Some(64_000), max_obj: None }, DmEncoding::Xml);
    assert_eq!(again.body.commands, sent);
    assert!(!again.body.final_);
    let mut rest = base();
    out.fill(&mut rest, Limits { max_msg: None, max_obj: None }, DmEncoding::Xml);
    assert!(rest.body.final_);
    assert_eq!(sent.len() + rest.body.commands.len(), 40, "a command lost or sent twice");
}

#[test]
fn a_chunk_with_more_to_come_ends_its_message() {
    // A chunk sent again whole, its item's next chunk queued behind it: never both in one.
    let mut out = Outbox::default();
    out.push(vec![replace("./Ext/big", "y".repeat(6000))], true);
    let limits = Limits { max_msg: Some(2048), max_obj: None };
    let mut first = base();
    out.fill(&mut first, limits, DmEncoding::Xml);
    let sent = first.body.commands.clone();
    // Sent again with less room, it is split anew: its own rest, then the item's, follow.
    let mut again = base();
    out.refill(&mut again, sent, Limits { max_msg: Some(1024), max_obj: None }, DmEncoding::Xml);
    let roomy = Limits { max_msg: Some(64_000), max_obj: None };
    let (mut next, mut last) = (base(), base());
    out.fill(&mut next, roomy, DmEncoding::Xml);
    out.fill(&mut last, roomy, DmEncoding::Xml);
    let count = |m: &SyncMl| m.body.commands.len();
    assert_eq!((count(&again), count(&next), count(&last)), (1, 1, 1), "two chunks of one item in one message");
    assert!(last.body.final_ && out.is_empty());
}

#[test]
fn a_package_that_fits_is_one_final_message_with_renumbered_commands() {
    let mut out = Outbox::default();
    out.push(vec![replace("./a", "1".into()), replace("./b", "2".into())], true);
    let mut msg = base();
    out.fill(&mut msg, Limits::default(), DmEncoding::Xml);
    assert!(msg.body.final_ && out.is_empty());
    let ids: Vec<&str> = msg.body.commands.iter().map(Command::cmd_id).collect();
    assert_eq!(ids, ["1", "2"]);
    // A package that is not final stays open even when everything was sent.
    let mut out = Outbox::default();
    out.push(vec![replace("./a", "1".into())], false);
    let mut msg = base();
    out.fill(&mut msg, Limits::default(), DmEncoding::Xml);
    assert!(!msg.body.final_);
}

#[test]
fn multi_item_commands_split_between_items() {
    let items =
        (0..40).map(|i| Item::target_data(&format!("./Ext/x{i}"), Meta::default(), Some("v".repeat(40)))).collect();
    let cmd = Command::Replace(ItemCommand { cmd_id: "1".into(), items, ..ItemCommand::default() });
    let (sizes, items, codes) = send_all(vec![cmd], 1024, DmEncoding::Wbxml);
    assert!(sizes.len() > 1 && sizes.iter().all(|&s| s <= 1024), "{sizes:?}");
    assert_eq!(items.len(), 40);
    assert_eq!(items[39].target.as_deref(), Some("./Ext/x39"), "order kept");
    assert!(codes.is_empty());
}

#[test]
fn the_assembler_refuses_wrong_sizes_interleaving_and_oversized_objects() {
    let chunk = |target: &str, data: &str, more: bool, size: Option<u64>| Item {
        target: Some(target.into()),
        meta: Meta { size, ..Meta::default() },
        data: Some(data.into()),
        more_data: more,
        ..Item::default()
    };
    let mut a = Assembler::default();
    assert_eq!(a.take(&chunk("./x", "abc", true, Some(10)), None), Assembled::Buffered);
    assert_eq!(a.take(&chunk("./x", "def", false, None), None), Assembled::Refused(StatusCode::SIZE_MISMATCH));
    assert!(!a.is_open());

    assert_eq!(a.take(&chunk("./x", "abc", true, Some(6)), None), Assembled::Buffered);
    assert_eq!(a.take(&chunk("./y", "def", false, None), None), Assembled::Refused(StatusCode::BAD_REQUEST));

    assert_eq!(a.take(&chunk("./x", "abc", true, Some(600)), Some(100)), Assembled::Refused(StatusCode::TOO_LARGE));
    assert_eq!(a.take(&chunk("./x", "abc", true, None), Some(4)), Assembled::Buffered);
    assert_eq!(a.take(&chunk("./x", "abc", true, None), Some(4)), Assembled::Refused(StatusCode::TOO_LARGE));

    assert_eq!(a.take(&chunk("./x", "abc", true, Some(6)), None), Assembled::Buffered);
    assert_eq!(
        a.take(&chunk("./x", "def", false, None), None),
        Assembled::Complete(chunk("./x", "abcdef", false, Some(6)))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_package_arrives_whole_within_the_limit(
        lens in proptest::collection::vec(0usize..6000, 1..6),
        max in 700u64..5000,
        wb in any::<bool>(),
    ) {
        let enc = if wb { DmEncoding::Wbxml } else { DmEncoding::Xml };
        let cmds: Vec<Command> = lens.iter().enumerate()
            .map(|(i, &n)| replace(&format!("./o{i}"), "Zz&<é".chars().cycle().take(n).collect()))
            .collect();
        let (sizes, items, _) = send_all(cmds.clone(), max, enc);
        prop_assert!(sizes.iter().all(|&s| s as u64 <= max), "{:?} > {}", sizes, max);
        prop_assert_eq!(items.len(), cmds.len());
        for (got, sent) in items.iter().zip(&cmds) {
            let Command::Replace(r) = sent else { unreachable!() };
            prop_assert_eq!(&got.data, &r.items[0].data);
        }
    }
}

#[test]
fn own_encoders_agree_on_sizes() {
    // The outbox measures with the real encoders; both must encode what it builds.
    let msg = base();
    assert!(!xml::encode(&msg).is_empty());
    assert!(wbxml::encode(&msg).is_ok());
}
