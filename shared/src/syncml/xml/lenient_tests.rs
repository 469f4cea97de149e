//! Tests of lenient XML decoding: each quirk class real handsets send, from a small
//! hand-made message, while what portaldm writes stays strict.

use super::*;

/// A package 1 under the SyncML start tag `root`, with `body` as its SyncBody's content.
fn message(root: &str, session_id: &str, msg_id: &str, body: &str) -> String {
    format!(
        "{root}<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>{session_id}</SessionID>\
         <MsgID>{msg_id}</MsgID><Target><LocURI>https://dm.example/dm</LocURI></Target>\
         <Source><LocURI>IMEI:490154203237518</LocURI></Source></SyncHdr><SyncBody>{body}<Final/></SyncBody></SyncML>"
    )
}

const ALERT: &str = "<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>";
const SYNCML: &str = "<SyncML xmlns=\"SYNCML:SYNCML1.2\">";

#[test]
fn msg_id_0_decodes_and_non_numbers_do_not() {
    let m = decode(message(SYNCML, "1", "0", ALERT).as_bytes()).expect("MsgID 0 decodes");
    assert_eq!(m.hdr.msg_id, "0");
    assert_eq!(decode(message(SYNCML, "1", " 7 ", ALERT).as_bytes()).map(|m| m.hdr.msg_id), Ok("7".into()));
    for bad in ["", "x", "-1", "1.5", "0x1", "99999999999"] {
        assert!(matches!(decode(message(SYNCML, "1", bad, ALERT).as_bytes()), Err(DecodeError::Invalid(_))), "{bad:?}");
    }
}

#[test]
fn command_id_0_decodes() {
    let body = "<Alert><CmdID>0</CmdID><Data>1201</Data></Alert><Replace><CmdID>0</CmdID><Item>\
        <Source><LocURI>./DevInfo/Lang</LocURI></Source><Data>en</Data></Item></Replace>";
    let m = decode(message(SYNCML, "1", "1", body).as_bytes()).expect("decodes");
    assert_eq!(m.body.commands.iter().map(Command::cmd_id).collect::<Vec<_>>(), ["0", "0"]);
}

#[test]
fn session_ids_in_any_form_are_kept_as_sent() {
    for id in ["1A2B", "1a2b", "6699", "0", "1234567890123", "0x1A2B", "9999999999999999999999"] {
        let m = decode(message(SYNCML, id, "1", ALERT).as_bytes()).expect(id);
        assert_eq!(m.hdr.session_id, id);
        // And they go back out as they came.
        assert_eq!(decode(&encode(&m)).map(|m| m.hdr.session_id), Ok(id.to_owned()));
    }
}

#[test]
fn any_syncml_namespace_or_none_decodes() {
    let expected = decode(message(SYNCML, "1", "1", ALERT).as_bytes()).expect("decodes");
    for root in [
        "<SyncML>",
        "<SyncML xmlns=\"SYNCML:SYNCML1.1\">",
        "<SyncML xmlns='syncml:syncml1.2'>",
        "<SyncML xmlns=\"urn:x-unexpected\">",
    ] {
        assert_eq!(decode(message(root, "1", "1", ALERT).as_bytes()).as_ref(), Ok(&expected), "{root}");
    }
    // What portaldm writes still names SyncML 1.2.
    assert!(String::from_utf8_lossy(&encode(&expected)).contains("<SyncML xmlns=\"SYNCML:SYNCML1.2\">"));
}

#[test]
fn elements_out_of_dtd_order_decode() {
    let x = "<SyncML><SyncHdr><Source><LocURI>IMEI:1</LocURI><LocName>u</LocName></Source><MsgID>2</MsgID>\
        <Meta><MaxMsgSize>8192</MaxMsgSize></Meta><Target><LocURI>srv</LocURI></Target><SessionID>7</SessionID>\
        <VerProto>DM/1.2</VerProto><VerDTD>1.2</VerDTD></SyncHdr><SyncBody><Final/>\
        <Alert><Item><Data>200</Data><Source><LocURI>./FUMO</LocURI></Source></Item><Correlator>c1</Correlator>\
        <Data>1226</Data><CmdID>3</CmdID></Alert>\
        <Status><Data>200</Data><Cmd>SyncHdr</Cmd><CmdRef>0</CmdRef><MsgRef>1</MsgRef><CmdID>4</CmdID></Status>\
        <Replace><Item><Data>5</Data><Meta><Format>int</Format></Meta><Source><LocURI>./X</LocURI></Source></Item>\
        <CmdID>5</CmdID></Replace></SyncBody></SyncML>";
    let m = decode(x.as_bytes()).expect("decodes");
    assert_eq!((m.hdr.source.as_str(), m.hdr.target.as_str(), m.hdr.msg_id.as_str()), ("IMEI:1", "srv", "2"));
    assert_eq!((m.hdr.ver_dtd.as_str(), m.hdr.meta.max_msg_size), ("1.2", Some(8192)));
    assert!(m.body.final_);
    let Command::Alert(a) = &m.body.commands[0] else { panic!("Alert") };
    assert_eq!((a.cmd_id.as_str(), a.data, a.correlator.as_deref()), ("3", 1226, Some("c1")));
    assert_eq!((a.items[0].source.as_deref(), a.items[0].data.as_deref()), (Some("./FUMO"), Some("200")));
    let Command::Status(s) = &m.body.commands[1] else { panic!("Status") };
    assert_eq!((s.msg_ref.as_str(), s.cmd_ref.as_str(), s.cmd.as_str(), s.data), ("1", "0", "SyncHdr", 200));
    let Command::Replace(r) = &m.body.commands[2] else { panic!("Replace") };
    assert_eq!((r.cmd_id.as_str(), r.items[0].meta.format.as_deref()), ("5", Some("int")));
    // What portaldm writes from it is in DTD order again.
    let out = String::from_utf8(encode(&m)).expect("UTF-8");
    let at = |s: &str| out.find(s).expect(s);
    assert!(
        at("<CmdID>3") < at("<Data>1226") && at("<Data>1226") < at("<Correlator>") && at("<Correlator>") < at("<Item>")
    );
    assert!(at("<VerDTD>") < at("<MsgID>") && at("<MsgID>") < at("<Target>") && at("<Target>") < at("<Source>"));
}

#[test]
fn meta_on_the_command_applies_to_items_without_their_own() {
    let body = "<Replace><CmdID>2</CmdID><Meta><Format xmlns='syncml:metinf'>b64</Format>\
        <Type xmlns='syncml:metinf'>application/octet-stream</Type><Size>3</Size></Meta>\
        <Item><Target><LocURI>./A</LocURI></Target><Data>QUJD</Data></Item>\
        <Item><Target><LocURI>./B</LocURI></Target><Meta><Type>text/plain</Type></Meta><Data>QUJD</Data></Item>\
        </Replace>";
    let m = decode(message(SYNCML, "1", "1", body).as_bytes()).expect("decodes");
    let Command::Replace(r) = &m.body.commands[0] else { panic!("Replace") };
    assert_eq!(r.meta.format.as_deref(), Some("b64"), "the command keeps its own");
    fn fields(i: &Item) -> (Option<&str>, Option<&str>, Option<u64>) {
        (i.meta.format.as_deref(), i.meta.type_.as_deref(), i.meta.size)
    }
    assert_eq!(fields(&r.items[0]), (Some("b64"), Some("application/octet-stream"), Some(3)));
    assert_eq!(fields(&r.items[1]), (Some("b64"), Some("text/plain"), Some(3)));
    // Results too (its Meta is in the DTD for that).
    let body = "<Results><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Meta><Format>chr</Format></Meta>\
        <Item><Source><LocURI>./DevDetail/FwV</LocURI></Source><Data>1.0</Data></Item></Results>";
    let m = decode(message(SYNCML, "1", "2", body).as_bytes()).expect("decodes");
    let Command::Results(r) = &m.body.commands[0] else { panic!("Results") };
    assert_eq!(r.items[0].meta.format.as_deref(), Some("chr"));
}

#[test]
fn a_dm_1_1_2_message_decodes() {
    let x = "<SyncML xmlns='SYNCML:SYNCML1.1'><SyncHdr><VerDTD>1.1</VerDTD><VerProto>DM/1.1</VerProto>\
        <SessionID>42</SessionID><MsgID>1</MsgID><Target><LocURI>http://dm.example/dm</LocURI></Target>\
        <Source><LocURI>IMEI:1</LocURI></Source></SyncHdr><SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>\
        <Final/></SyncBody></SyncML>";
    let m = decode(x.as_bytes()).expect("decodes");
    assert_eq!((m.hdr.ver_dtd.as_str(), m.hdr.ver_proto.as_str()), ("1.1", "DM/1.1"));
}

#[test]
fn a_long_command_meta_is_not_copied_into_every_item() {
    // One Type on the command, 500 items: copied, a long one would be 500 times the input.
    let long = "t".repeat(MAX_INHERITED_META + 1);
    let items = "<Item><Target><LocURI>./a</LocURI></Target></Item>".repeat(500);
    let body = format!(
        "<Replace><CmdID>2</CmdID><Meta><Type xmlns=\"syncml:metinf\">{long}</Type></Meta>{items}</Replace>\
         <Replace><CmdID>3</CmdID><Meta><Type xmlns=\"syncml:metinf\">text/plain</Type></Meta>{items}</Replace>"
    );
    let m = decode(message(SYNCML, "1", "1", &format!("{ALERT}{body}")).as_bytes()).expect("decodes");
    let types = |n: usize| match &m.body.commands[n] {
        Command::Replace(r) => r.items.iter().map(|i| i.meta.type_.clone()).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert!(types(1).iter().all(Option::is_none), "the long Type was copied into the items");
    assert!(types(2).iter().all(|t| t.as_deref() == Some("text/plain")), "a short one still is");
}
