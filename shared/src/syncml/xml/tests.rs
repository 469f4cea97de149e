//! Tests of the XML codec: third-party vectors, round trips and hostile input.

use proptest::prelude::*;

use super::*;
use crate::syncml::codes::AlertCode;

const LIBDM_PKG1: &[u8] = include_bytes!("../../../fixtures/vectors/libdmclient-pkg1-basic-auth.xml");
const LIBDM_PKG3: &[u8] = include_bytes!("../../../fixtures/vectors/libdmclient-pkg3-exec-generic-alert.xml");

#[test]
fn decodes_libdmclient_package1() {
    let m = decode(LIBDM_PKG1).expect("decodes");
    assert_eq!(m.hdr.ver_proto, "DM/1.2");
    assert_eq!(m.hdr.source, "DMCtest");
    assert_eq!(m.hdr.meta.max_msg_size, Some(16384));
    let cred = m.hdr.cred.as_ref().expect("cred");
    assert_eq!(cred.meta.type_.as_deref(), Some("syncml:auth-basic"));
    assert!(m.body.final_);
    let Command::Alert(a) = &m.body.commands[0] else { panic!("first is Alert") };
    assert_eq!(a.code(), AlertCode::CLIENT_INITIATED);
    let Command::Replace(r) = &m.body.commands[1] else { panic!("second is Replace") };
    assert_eq!(r.items.len(), 13);
    let devid = r.items.iter().find(|i| i.source.as_deref() == Some("./DevInfo/DevId")).expect("DevId");
    assert_eq!(devid.data.as_deref(), Some("DMCtest"));
    let node = r.items.iter().find(|i| i.source.as_deref() == Some("./DevInfo/Ext")).expect("node");
    assert_eq!(node.meta.format_lower().as_deref(), Some("node"));
}

#[test]
fn decodes_libdmclient_generic_alert_after_exec() {
    let m = decode(LIBDM_PKG3).expect("decodes");
    let Command::Status(s) = &m.body.commands[0] else { panic!("Status") };
    assert_eq!((s.cmd.as_str(), s.data), ("SyncHdr", 212));
    assert_eq!(s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()), Some("NzJYZFBqRE03UGM9"));
    let Command::Alert(a) = &m.body.commands[1] else { panic!("Alert") };
    assert_eq!(a.code(), AlertCode::GENERIC);
    assert_eq!(a.items[0].data.as_deref(), Some("200"));
}

#[test]
fn round_trips_the_vectors() {
    for v in [LIBDM_PKG1, LIBDM_PKG3] {
        let m = decode(v).expect("decodes");
        assert_eq!(decode(&encode(&m)).expect("re-decodes"), m);
    }
}

#[test]
fn rejects_non_syncml_and_missing_parts() {
    assert!(matches!(decode(b"<html/>"), Err(DecodeError::Invalid(_))));
    assert!(matches!(decode(b"<SyncML><SyncBody/></SyncML>"), Err(DecodeError::Invalid(_))));
    let no_data = b"<SyncML><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>\
        <MsgID>1</MsgID><Target><LocURI>s</LocURI></Target><Source><LocURI>d</LocURI></Source></SyncHdr>\
        <SyncBody><Alert><CmdID>1</CmdID><Data>x</Data></Alert></SyncBody></SyncML>";
    assert!(matches!(decode(no_data), Err(DecodeError::Invalid(_))));
    let unknown = String::from_utf8_lossy(no_data).replace("Alert", "Frobnicate");
    assert!(matches!(decode(unknown.as_bytes()), Err(DecodeError::Invalid(_))));
}

#[test]
fn accepts_prefixed_namespaces_and_any_format_case() {
    let x = b"<s:SyncML xmlns:s='SYNCML:SYNCML1.2' xmlns:m='syncml:metinf'><s:SyncHdr><s:VerDTD>1.2</s:VerDTD>\
        <s:VerProto>DM/1.2</s:VerProto><s:SessionID>A</s:SessionID><s:MsgID>1</s:MsgID><s:Target><s:LocURI>srv</s:LocURI>\
        </s:Target><s:Source><s:LocURI>dev</s:LocURI></s:Source></s:SyncHdr><s:SyncBody><s:Replace><s:CmdID>1</s:CmdID>\
        <s:Item><s:Source><s:LocURI>./DevInfo/Mod</s:LocURI></s:Source><s:Meta><m:Format>Chr</m:Format></s:Meta>\
        <s:Data><![CDATA[X&Y]]></s:Data></s:Item></s:Replace><s:Final/></s:SyncBody></s:SyncML>";
    let m = decode(x).expect("decodes");
    let Command::Replace(r) = &m.body.commands[0] else { panic!("Replace") };
    assert_eq!(r.items[0].meta.format_lower().as_deref(), Some("chr"));
    assert_eq!(r.items[0].data.as_deref(), Some("X&Y"));
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,20}".prop_map(|s| s.trim().to_owned())
}

fn item() -> impl Strategy<Value = Item> {
    (proptest::option::of(text()), proptest::option::of(text()), proptest::option::of(text()), any::<bool>()).prop_map(
        |(target, source, data, more_data)| Item {
            target: target.filter(|s| !s.is_empty()),
            source: source.filter(|s| !s.is_empty()),
            meta: Meta::typed(Some("chr"), Some("text/plain")),
            data,
            more_data,
        },
    )
}

fn command() -> impl Strategy<Value = Command> {
    let id = "[1-9][0-9]{0,3}";
    prop_oneof![
        (id, any::<u16>(), proptest::option::of("[a-z0-9]{1,8}"), proptest::collection::vec(item(), 0..3)).prop_map(
            |(cmd_id, data, correlator, items)| Command::Alert(Alert {
                cmd_id,
                no_resp: false,
                data,
                correlator,
                items
            })
        ),
        (id, "[1-9]", "[0-9]{1,3}", any::<u16>()).prop_map(|(cmd_id, msg_ref, cmd_ref, data)| {
            Command::Status(Status {
                cmd_id,
                msg_ref,
                cmd_ref,
                cmd: "Get".into(),
                target_refs: vec!["./DevDetail/FwV".into()],
                data,
                ..Status::default()
            })
        }),
        (id, proptest::collection::vec(item(), 1..4)).prop_map(|(cmd_id, items)| Command::Replace(ItemCommand {
            cmd_id,
            items,
            ..ItemCommand::default()
        })),
        (id, proptest::option::of("[a-z0-9]{1,8}"), item()).prop_map(|(cmd_id, correlator, i)| {
            Command::Exec(Exec { cmd_id, no_resp: false, correlator, items: vec![i] })
        }),
    ]
}

/// Commands with Atomic and Sequence containers (with their own CmdID, NoResp and Meta).
fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        3 => command(),
        1 => ("[1-9][0-9]{0,3}", any::<bool>(), any::<bool>(), proptest::collection::vec(command(), 0..3)).prop_map(
            |(cmd_id, no_resp, atomic, commands)| {
                let c = Container { cmd_id, no_resp, meta: Meta::default(), commands };
                if atomic { Command::Atomic(c) } else { Command::Sequence(c) }
            }
        ),
    ]
}

proptest! {
    #[test]
    fn decode_of_encode_is_identity(
        sid in "[0-9A-F]{1,4}", msg in "[1-9][0-9]{0,2}", src in text(), cmds in proptest::collection::vec(any_command(), 0..6),
        fin in any::<bool>(),
    ) {
        let m = SyncMl {
            hdr: SyncHdr {
                ver_dtd: "1.2".into(), ver_proto: "DM/1.2".into(), session_id: sid, msg_id: msg,
                target: "http://srv/dm".into(), source: if src.is_empty() { "dev".into() } else { src },
                meta: Meta { max_msg_size: Some(16384), ..Meta::default() }, ..SyncHdr::default()
            },
            body: SyncBody { commands: cmds, final_: fin },
        };
        prop_assert_eq!(decode(&encode(&m)).expect("decodes"), m);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_of_mutated_vector_never_panics(cut in 0usize..2886, byte in any::<u8>()) {
        let mut v = LIBDM_PKG1.to_vec();
        let at = cut.min(v.len() - 1);
        v[at] = byte;
        let _ = decode(&v);
        let _ = decode(&LIBDM_PKG1[..at]);
    }
}
