//! Tests across both encodings: the header alone, and DM 1.1.2 messages reaching the
//! version check that answers them in SyncML.

use super::*;
use crate::session::check_version;

const HDR: &str = "<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1A2B</SessionID>\
    <MsgID>3</MsgID><Target><LocURI>https://dm.example/dm</LocURI></Target>\
    <Source><LocURI>IMEI:1</LocURI></Source><Cred><Meta><Type>syncml:auth-basic</Type></Meta>\
    <Data>dTpw</Data></Cred></SyncHdr>";

fn with_body(body: &str) -> String {
    format!("<SyncML xmlns='SYNCML:SYNCML1.2'>{HDR}<SyncBody>{body}</SyncBody></SyncML>")
}

/// The header every test message carries, decoded from a message whose body is fine.
fn expected() -> SyncHdr {
    decode(DmEncoding::Xml, with_body("<Final/>").as_bytes()).expect("decodes").hdr
}

#[test]
fn the_header_decodes_when_the_body_does_not() {
    let unknown_command = with_body("<Frobnicate><CmdID>1</CmdID></Frobnicate>");
    let bad_code = with_body("<Alert><CmdID>1</CmdID><Data>twelve</Data></Alert>");
    let unclosed = format!("<SyncML>{HDR}<SyncBody><Alert><CmdID>1</Cmd");
    let mut not_utf8 = format!("<SyncML>{HDR}<SyncBody><Alert><Data>").into_bytes();
    not_utf8.extend_from_slice(b"\xff\xfe</Data></Alert></SyncBody></SyncML>");
    for bytes in [unknown_command.as_bytes(), bad_code.as_bytes(), unclosed.as_bytes(), &not_utf8] {
        assert!(decode(DmEncoding::Xml, bytes).is_err(), "the whole message is refused");
        assert_eq!(decode_header(DmEncoding::Xml, bytes), Ok(expected()));
    }
    // In WBXML: the body's Alert carries a Data that is not a code.
    let m = SyncMl { hdr: expected(), body: SyncBody::default() };
    let mut wb = wbxml::encode(&m).expect("encodes");
    let final_at = wb.len() - 2; // ... SyncBody(empty) END-of-SyncML
    assert_eq!(&wb[final_at..], [0x2B, 0x01], "an empty SyncBody, then the root's END");
    wb.truncate(final_at);
    // SyncBody with content: Alert(CmdID "1", Data "x"), then ENDs.
    wb.extend_from_slice(&[0x6B, 0x46, 0x4B, 0x03, b'1', 0x00, 0x01, 0x4F, 0x03, b'x', 0x00, 0x01, 0x01, 0x01, 0x01]);
    assert!(matches!(decode(DmEncoding::Wbxml, &wb), Err(DecodeError::Invalid(_))));
    assert_eq!(decode_header(DmEncoding::Wbxml, &wb), Ok(expected()));
    // And a body cut short, or with a tag no page has.
    wb.truncate(final_at + 3);
    assert!(decode(DmEncoding::Wbxml, &wb).is_err());
    assert_eq!(decode_header(DmEncoding::Wbxml, &wb), Ok(expected()));
    wb.truncate(final_at);
    wb.extend_from_slice(&[0x6B, 0x7F, 0x01, 0x01, 0x01]);
    assert!(matches!(decode(DmEncoding::Wbxml, &wb), Err(DecodeError::Malformed(_))));
    assert_eq!(decode_header(DmEncoding::Wbxml, &wb), Ok(expected()));
}

#[test]
fn a_broken_header_is_still_refused() {
    let no_source = "<SyncML><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>\
        <MsgID>1</MsgID><Target><LocURI>s</LocURI></Target></SyncHdr><SyncBody/></SyncML>";
    assert!(matches!(decode_header(DmEncoding::Xml, no_source.as_bytes()), Err(DecodeError::Invalid(_))));
    let cut = &HDR[..HDR.len() - 5];
    assert!(matches!(
        decode_header(DmEncoding::Xml, format!("<SyncML>{cut}").as_bytes()),
        Err(DecodeError::Malformed(_))
    ));
    let not_syncml = format!("<Html>{HDR}</Html>");
    assert!(matches!(decode_header(DmEncoding::Xml, not_syncml.as_bytes()), Err(DecodeError::Invalid(_))));
    assert!(decode_header(DmEncoding::Wbxml, &[0x02, 0x05, 0x6a, 0x00, 0x45, 0x01]).is_err(), "WML");
    assert!(decode_header(DmEncoding::Wbxml, &[]).is_err());
}

#[test]
fn the_header_alone_is_bounded_like_the_message() {
    let deep = format!("<SyncML><SyncHdr>{}", "<Meta>".repeat(100));
    assert_eq!(decode_header(DmEncoding::Xml, deep.as_bytes()), Err(DecodeError::Limit("nesting depth")));
    let long = format!("<SyncML><SyncHdr><SessionID>{}</SessionID>", "A".repeat(tree::MAX_TEXT_BYTES + 1));
    assert_eq!(decode_header(DmEncoding::Xml, long.as_bytes()), Err(DecodeError::Limit("element text size")));
    let many = format!("<SyncML><SyncHdr>{}</SyncHdr></SyncML>", "<X/>".repeat(tree::MAX_ELEMENTS));
    assert_eq!(decode_header(DmEncoding::Xml, many.as_bytes()), Err(DecodeError::Limit("element count")));
    let mut huge = with_body("").into_bytes();
    huge.resize(tree::MAX_MESSAGE_BYTES + 1, b' ');
    assert_eq!(decode_header(DmEncoding::Xml, &huge), Err(DecodeError::Limit("message size")));
    let mut wb = wbxml::encode(&SyncMl { hdr: expected(), ..SyncMl::default() }).expect("encodes");
    wb.resize(tree::MAX_MESSAGE_BYTES + 1, 0);
    assert_eq!(decode_header(DmEncoding::Wbxml, &wb), Err(DecodeError::Limit("message size")));
}

/// DM 1.1.2 package 1, as an OMA DM 1.1.2 client writes it.
const DM_112: &str = "<SyncML xmlns='SYNCML:SYNCML1.1'><SyncHdr><VerDTD>1.1</VerDTD><VerProto>DM/1.1</VerProto>\
    <SessionID>42</SessionID><MsgID>1</MsgID><Target><LocURI>http://dm.example/dm</LocURI></Target>\
    <Source><LocURI>IMEI:1</LocURI></Source></SyncHdr><SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>\
    <Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Meta>\
    <Format xmlns='syncml:metinf'>chr</Format></Meta><Data>IMEI:1</Data></Item></Replace><Final/></SyncBody></SyncML>";

#[test]
fn dm_1_1_2_messages_reach_the_version_check() {
    let x = decode(DmEncoding::Xml, DM_112.as_bytes()).expect("XML decodes");
    // The same message as libwbxml writes it: public id 0x0FD3, the SyncML 1.1 one.
    let mut wb = wbxml::encode(&x).expect("encodes");
    assert_eq!(&wb[..3], [0x02, 0xA4, 0x01], "portaldm writes 1.2's id");
    wb.splice(1..3, [0x9F, 0x53]);
    let w = decode(DmEncoding::Wbxml, &wb).expect("WBXML decodes");
    assert_eq!(w, x);
    for hdr in [&x.hdr, &w.hdr, &decode_header(DmEncoding::Wbxml, &wb).expect("header")] {
        let refused = check_version(hdr).expect_err("DM 1.1 is not spoken");
        assert_eq!(refused.status(), codes::StatusCode(505));
    }
}
