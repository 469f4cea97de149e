//! Tests of lenient WBXML decoding: each quirk class real handsets send, from a small
//! hand-made document, and the bounds that still hold on its path.

use super::*;
use crate::syncml::{Command, Item, ItemCommand};

/// How a hand-made document is written: its header, string table and string forms.
struct Form<'a> {
    version: u8,
    public_id: PublicId,
    table: &'a [u8],
    /// Texts written as string-table references (`STR_T` index) instead of inline.
    refs: &'a [(&'a str, u32)],
    /// Every text as `OPAQUE`, not only what holds a NUL.
    opaque: bool,
}

enum PublicId {
    Number(u32),
    /// Public id 0: the identifier is the string-table entry at this index.
    InTable(u32),
}

impl Default for Form<'_> {
    fn default() -> Self {
        Form { version: 0x02, public_id: PublicId::Number(PUBLIC_ID_SYNCML_12), table: b"", refs: &[], opaque: false }
    }
}

/// The WBXML form of an XML document (written compact: no whitespace between elements),
/// its elements in the order written.
fn wbxml(xml: &str, form: &Form<'_>) -> Vec<u8> {
    wbxml_of(&tree::parse(xml.as_bytes()).expect("test XML parses"), form)
}

fn wbxml_of(root: &Element<'_>, form: &Form<'_>) -> Vec<u8> {
    let mut out = vec![form.version];
    match form.public_id {
        PublicId::Number(id) => put_mb(&mut out, id),
        PublicId::InTable(index) => {
            out.push(0);
            put_mb(&mut out, index);
        }
    }
    put_mb(&mut out, UTF8);
    put_mb(&mut out, form.table.len() as u32);
    out.extend_from_slice(form.table);
    put_element(&mut out, root, &mut 0, form);
    out
}

fn put_element(out: &mut Vec<u8>, el: &Element<'_>, page: &mut u8, form: &Form<'_>) {
    let (p, token) = tag_token(&el.name).expect("a SyncML element");
    if p != *page {
        out.extend_from_slice(&[SWITCH_PAGE, p]);
        *page = p;
    }
    let content = !el.text.is_empty() || !el.children.is_empty();
    out.push(if content { token | HAS_CONTENT } else { token });
    if !content {
        return;
    }
    if !el.text.is_empty() {
        if let Some((_, index)) = form.refs.iter().find(|(s, _)| *s == el.text) {
            out.push(STR_T);
            put_mb(out, *index);
        } else if form.opaque || el.text.contains('\0') {
            out.push(OPAQUE);
            put_mb(out, el.text.len() as u32);
            out.extend_from_slice(el.text.as_bytes());
        } else {
            out.push(STR_I);
            out.extend_from_slice(el.text.as_bytes());
            out.push(0);
        }
    }
    for c in &el.children {
        put_element(out, c, page, form);
    }
    out.push(END);
}

const HDR: &str = "<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1A2B</SessionID>\
    <MsgID>1</MsgID><Target><LocURI>https://dm.example/dm</LocURI></Target>\
    <Source><LocURI>IMEI:490154203237518</LocURI></Source></SyncHdr>";

/// A package 1 with `body` as its SyncBody's content.
fn package(body: &str) -> String {
    format!("<SyncML>{HDR}<SyncBody>{body}<Final/></SyncBody></SyncML>")
}

const PACKAGE1_BODY: &str = "<Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Replace><CmdID>2</CmdID>\
    <Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Meta><Format>chr</Format></Meta>\
    <Data>IMEI:490154203237518</Data></Item></Replace>";

#[test]
fn the_helper_writes_what_the_encoder_writes() {
    // So what the tests below change is the quirk alone.
    let m = xml::decode(package(PACKAGE1_BODY).as_bytes()).expect("decodes");
    let strict = encode(&m).expect("encodes");
    assert_eq!(decode(&wbxml(&package(PACKAGE1_BODY), &Form::default())).expect("decodes"), m);
    assert_eq!(decode(&strict).expect("decodes"), m);
}

#[test]
fn a_last_string_table_entry_without_its_nul_runs_to_the_table_end() {
    let doc = wbxml(
        &package(PACKAGE1_BODY),
        &Form {
            table: b"./DevInfo/DevId\0IMEI:490154203237518",
            refs: &[("IMEI:490154203237518", 16)],
            ..Form::default()
        },
    );
    let m = decode(&doc).expect("decodes");
    assert_eq!(m.hdr.source, "IMEI:490154203237518");
    let Command::Replace(r) = &m.body.commands[1] else { panic!("Replace") };
    assert_eq!(r.items[0].data.as_deref(), Some("IMEI:490154203237518"));
    // The terminated entry before it still ends at its NUL.
    let doc = wbxml(
        &package(PACKAGE1_BODY),
        &Form { table: b"./DevInfo/DevId\0IMEI", refs: &[("./DevInfo/DevId", 0)], ..Form::default() },
    );
    let Command::Replace(r) = &decode(&doc).expect("decodes").body.commands[1] else { panic!("Replace") };
    assert_eq!(r.items[0].source.as_deref(), Some("./DevInfo/DevId"));
}

#[test]
fn an_unterminated_last_entry_is_bounded_like_any_other() {
    // 32 KiB entry without a NUL, referenced 15,000 times: past the element text bound.
    let mut doc = vec![0x02];
    put_mb(&mut doc, PUBLIC_ID_SYNCML_12);
    put_mb(&mut doc, UTF8);
    put_mb(&mut doc, 32 * 1024);
    doc.extend(std::iter::repeat_n(b'A', 32 * 1024));
    doc.push(0x2D | HAS_CONTENT);
    for _ in 0..15_000 {
        doc.extend_from_slice(&[STR_T, 0x00]);
    }
    doc.push(END);
    assert_eq!(parse(&doc), Err(DecodeError::Limit("element text size")));
    // And an index past the table is still refused.
    let doc = wbxml(&package(PACKAGE1_BODY), &Form { table: b"abc", refs: &[("1201", 3)], ..Form::default() });
    assert!(matches!(decode(&doc), Err(DecodeError::Malformed(_))));
}

#[test]
fn the_public_id_may_be_a_string_table_entry() {
    let m = xml::decode(package(PACKAGE1_BODY).as_bytes()).expect("decodes");
    for (table, index) in [
        (&b"-//SYNCML//DTD SyncML 1.2//EN\0"[..], 0),
        (b"IMEI:1\0-//SYNCML//DTD SyncML 1.1//EN\0", 7),
        (b"-//SYNCML//DTD SYNCML 1.2//EN", 0),
        // The identifier as the last entry, unterminated.
        (b"x\0-//SYNCML//DTD SyncML 1.2//EN", 2),
    ] {
        let form = Form { public_id: PublicId::InTable(index), table, ..Form::default() };
        assert_eq!(
            decode(&wbxml(&package(PACKAGE1_BODY), &form)).as_ref(),
            Ok(&m),
            "{:?}",
            String::from_utf8_lossy(table)
        );
    }
    for table in [&b"-//WAPFORUM//DTD WML 1.3//EN\0"[..], b"-//SYNCML//DTD DevInf 1.2//EN\0"] {
        let form = Form { public_id: PublicId::InTable(0), table, ..Form::default() };
        assert!(matches!(decode(&wbxml(&package(PACKAGE1_BODY), &form)), Err(DecodeError::Invalid(_))));
    }
}

#[test]
fn wbxml_versions_1_1_to_1_3_decode() {
    let m = xml::decode(package(PACKAGE1_BODY).as_bytes()).expect("decodes");
    for version in [0x01, 0x02, 0x03] {
        let doc = wbxml(&package(PACKAGE1_BODY), &Form { version, ..Form::default() });
        assert_eq!(decode(&doc).as_ref(), Ok(&m), "version byte {version:#04x}");
    }
    // WBXML 1.0 has no charset field; a version from the future is not guessed at.
    for version in [0x00, 0x04] {
        let doc = wbxml(&package(PACKAGE1_BODY), &Form { version, ..Form::default() });
        assert!(matches!(decode(&doc), Err(DecodeError::Malformed(_))), "version byte {version:#04x}");
    }
}

#[test]
fn every_string_may_be_opaque() {
    let m = xml::decode(package(PACKAGE1_BODY).as_bytes()).expect("decodes");
    let doc = wbxml(&package(PACKAGE1_BODY), &Form { opaque: true, ..Form::default() });
    assert!(doc.windows(5).any(|w| w == [OPAQUE, 3, b'1', b'.', b'2']), "VerDTD as opaque");
    assert_eq!(decode(&doc), Ok(m));
}

#[test]
fn elements_out_of_dtd_order_decode() {
    let body = "<Alert><Item><Source><LocURI>./FUMO</LocURI></Source><Data>200</Data></Item>\
        <Correlator>c1</Correlator><Data>1226</Data><CmdID>3</CmdID></Alert>";
    let hdr = "<SyncHdr><Source><LocURI>IMEI:1</LocURI></Source><MsgID>2</MsgID><Target><LocURI>srv</LocURI></Target>\
        <SessionID>7</SessionID><VerProto>DM/1.2</VerProto><VerDTD>1.2</VerDTD></SyncHdr>";
    let doc = wbxml(&format!("<SyncML>{hdr}<SyncBody><Final/>{body}</SyncBody></SyncML>"), &Form::default());
    let m = decode(&doc).expect("decodes");
    assert_eq!((m.hdr.source.as_str(), m.hdr.target.as_str(), m.hdr.msg_id.as_str()), ("IMEI:1", "srv", "2"));
    assert!(m.body.final_);
    let Command::Alert(a) = &m.body.commands[0] else { panic!("Alert") };
    assert_eq!((a.cmd_id.as_str(), a.data, a.correlator.as_deref()), ("3", 1226, Some("c1")));
    assert_eq!(a.items[0].data.as_deref(), Some("200"));
}

#[test]
fn meta_on_the_command_applies_to_items_without_their_own() {
    let body = "<Replace><CmdID>2</CmdID><Meta><Format>chr</Format><Type>text/plain</Type></Meta>\
        <Item><Source><LocURI>./DevInfo/Mod</LocURI></Source><Data>X1</Data></Item>\
        <Item><Source><LocURI>./DevInfo/Size</LocURI></Source><Meta><Format>int</Format></Meta><Data>5</Data></Item>\
        </Replace>";
    let m = decode(&wbxml(&package(body), &Form::default())).expect("decodes");
    let Command::Replace(ItemCommand { items, .. }) = &m.body.commands[0] else { panic!("Replace") };
    let formats = |i: &Item| (i.meta.format.clone(), i.meta.type_.clone());
    assert_eq!(formats(&items[0]), (Some("chr".into()), Some("text/plain".into())));
    assert_eq!(formats(&items[1]), (Some("int".into()), Some("text/plain".into())));
}

#[test]
fn command_id_0_decodes() {
    let body = "<Alert><CmdID>0</CmdID><Data>1201</Data></Alert>";
    let m = decode(&wbxml(&package(body), &Form::default())).expect("decodes");
    assert_eq!(m.body.commands[0].cmd_id(), "0");
}

#[test]
fn nul_bytes_inside_data_are_kept() {
    let xml = package(PACKAGE1_BODY);
    let mut root = tree::parse(xml.as_bytes()).expect("parses");
    let replace = root.children[1].children.iter_mut().find(|c| c.name == "Replace").expect("Replace");
    let data = replace.children[1].children.iter_mut().find(|c| c.name == "Data").expect("Data");
    data.text = "\0AB\0C\0".into();
    let Command::Replace(r) = &decode(&wbxml_of(&root, &Form::default())).expect("decodes").body.commands[1] else {
        panic!("Replace")
    };
    assert_eq!(r.items[0].data.as_deref(), Some("\0AB\0C\0"));
    // A NUL as an entity, between inline strings, is kept too.
    let mut doc = wbxml(&package("<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>"), &Form::default());
    let at = doc.windows(5).position(|w| w == b"1201\0").expect("the Data string");
    doc.splice(at + 5..at + 5, [ENTITY, 0x00, STR_I, b'x', 0x00]);
    let tree = parse(&doc).expect("parses");
    let alert = tree.child("SyncBody").and_then(|b| b.child("Alert")).expect("Alert");
    assert_eq!(alert.child("Data").map(|d| d.text.as_ref()), Some("1201\0x"));
}

/// A DM 1.1.2 package 1 as libwbxml 0.11.8 writes it (`xml2wbxml`): WBXML 1.3, public id
/// 0x0FD3 (SyncML 1.1), a string table holding the DevId, Data as opaque.
const DM_112_LIBWBXML: &str = "039f536a07494d45493a31006d6c7103312e3100017203444d2f312e3100016503343200015b033100016e57\
    03687474703a2f2f646d2e6578616d706c652f646d000101675783000101016b464b033100014f0331323031000101604b03320001546757\
    032e2f446576496e666f2f44657649640001015a0001470363687200010100004fc306494d45493a31010101120101";

/// The bytes of a hex string.
fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn a_dm_1_1_2_message_decodes() {
    let m = decode(&unhex(DM_112_LIBWBXML)).expect("decodes");
    assert_eq!((m.hdr.ver_dtd.as_str(), m.hdr.ver_proto.as_str()), ("1.1", "DM/1.1"));
    assert_eq!((m.hdr.session_id.as_str(), m.hdr.source.as_str()), ("42", "IMEI:1"));
    let Command::Replace(r) = &m.body.commands[1] else { panic!("Replace") };
    assert_eq!(r.items[0].data.as_deref(), Some("IMEI:1"));
    // The same in numeric form from a WBXML 1.2 writer.
    let doc =
        wbxml(&package(PACKAGE1_BODY), &Form { public_id: PublicId::Number(PUBLIC_ID_SYNCML_11), ..Form::default() });
    assert!(decode(&doc).is_ok());
    // SyncML 1.0 is not DM at all.
    let doc = wbxml(&package(PACKAGE1_BODY), &Form { public_id: PublicId::Number(0x0FD1), ..Form::default() });
    assert!(matches!(decode(&doc), Err(DecodeError::Invalid(_))));
}
