//! Tests of the WBXML codec: the libdmclient vectors, round trips and hostile bytes.

use proptest::prelude::*;

use super::*;
use crate::syncml::Command;
use crate::syncml::codes::AlertCode;

const LIBDM_PKG1: &[u8] = include_bytes!("../../../fixtures/vectors/libdmclient-pkg1.wbxml");
const LIBDM_PKG3: &[u8] = include_bytes!("../../../fixtures/vectors/libdmclient-pkg3-results.wbxml");
const LIBDM_PKG1_XML: &[u8] = include_bytes!("../../../fixtures/vectors/libdmclient-pkg1-basic-auth.xml");

#[test]
fn decodes_libdmclient_package1() {
    let m = decode(LIBDM_PKG1).expect("decodes");
    assert_eq!((m.hdr.ver_dtd.as_str(), m.hdr.ver_proto.as_str()), ("1.2", "DM/1.2"));
    assert_eq!(m.hdr.source, "DMCtest");
    let Command::Alert(a) = &m.body.commands[0] else { panic!("Alert first") };
    assert_eq!(a.code(), AlertCode::CLIENT_INITIATED);
    let Command::Replace(r) = &m.body.commands[1] else { panic!("Replace second") };
    let devid = r.items.iter().find(|i| i.source.as_deref() == Some("./DevInfo/DevId")).expect("DevId");
    assert_eq!(devid.data.as_deref(), Some("DMCtest"));
    assert!(m.body.final_);
}

#[test]
fn the_wbxml_and_xml_package1_carry_the_same_devinfo() {
    let w = decode(LIBDM_PKG1).expect("wbxml");
    let x = xml::decode(LIBDM_PKG1_XML).expect("xml");
    let items = |m: &SyncMl| match &m.body.commands[1] {
        Command::Replace(r) => r.items.iter().map(|i| (i.source.clone(), i.data.clone())).collect::<Vec<_>>(),
        _ => panic!("Replace"),
    };
    assert_eq!(items(&w), items(&x));
}

#[test]
fn decodes_libdmclient_results() {
    let m = decode(LIBDM_PKG3).expect("decodes");
    assert!(m.body.commands.iter().any(|c| matches!(c, Command::Status(_))));
    assert!(m.body.commands.iter().any(|c| matches!(c, Command::Results(_))));
}

#[test]
fn round_trips_the_vectors() {
    for v in [LIBDM_PKG1, LIBDM_PKG3] {
        let m = decode(v).expect("decodes");
        assert_eq!(decode(&encode(&m).expect("encodes")).expect("re-decodes"), m);
    }
    let x = xml::decode(LIBDM_PKG1_XML).expect("xml");
    assert_eq!(decode(&encode(&x).expect("encodes")).expect("decodes"), x);
}

#[test]
fn multibyte_integers_round_trip() {
    for v in [0u32, 1, 127, 128, 0x1201, 16383, 16384, u32::MAX] {
        let mut out = Vec::new();
        put_mb(&mut out, v);
        assert_eq!(Reader { b: &out, pos: 0 }.mb().expect("reads"), v);
    }
    assert!(Reader { b: &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], pos: 0 }.mb().is_err());
}

#[test]
fn rejects_foreign_and_broken_documents() {
    assert!(decode(&[]).is_err());
    assert!(matches!(decode(&[0x02, 0x05, 0x6a, 0x00, 0x45, 0x01]), Err(DecodeError::Invalid(_))), "WML public id");
    assert!(decode(&LIBDM_PKG1[..LIBDM_PKG1.len() / 2]).is_err(), "truncated");
    let mut deep = vec![0x02, 0xa4, 0x01, 0x6a, 0x00];
    deep.extend(std::iter::repeat_n(0x6d, 100));
    assert_eq!(decode(&deep), Err(DecodeError::Limit("nesting depth")));
}

/// A WBXML 1.2 SyncML document whose string table holds one entry of `entry_len` bytes
/// (`A`s), with `body` after the header.
fn with_table(entry_len: usize, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x02];
    put_mb(&mut out, PUBLIC_ID_SYNCML_12);
    put_mb(&mut out, UTF8);
    put_mb(&mut out, entry_len as u32 + 1);
    out.extend(std::iter::repeat_n(b'A', entry_len));
    out.push(0);
    out.extend_from_slice(body);
    out
}

const SYNCML_WITH_CONTENT: u8 = 0x2D | HAS_CONTENT;
const DATA_WITH_CONTENT: u8 = 0x0F | HAS_CONTENT;

#[test]
fn string_table_references_cannot_grow_one_element_past_its_bound() {
    // 2 bytes of input for 32 KiB of text, 15,000 times: 64 KiB in, 480 MiB out unbounded.
    let mut body = vec![SYNCML_WITH_CONTENT];
    for _ in 0..15_000 {
        body.extend_from_slice(&[STR_T, 0x00]);
    }
    body.push(END);
    let bomb = with_table(32 * 1024 - 1, &body);
    assert!(bomb.len() <= 64 * 1024, "{}", bomb.len());
    assert_eq!(parse(&bomb), Err(DecodeError::Limit("element text size")));
    assert_eq!(decode(&bomb), Err(DecodeError::Limit("element text size")));
}

#[test]
fn string_table_references_cannot_grow_a_message_past_its_bound() {
    // Each Data element stays under the element bound; together they would be 200 MiB.
    let mut body = vec![SYNCML_WITH_CONTENT];
    for _ in 0..6_500 {
        body.extend_from_slice(&[DATA_WITH_CONTENT, STR_T, 0x00, END]);
    }
    body.push(END);
    let bomb = with_table(32 * 1024 - 1, &body);
    assert!(bomb.len() <= 64 * 1024, "{}", bomb.len());
    assert_eq!(parse(&bomb), Err(DecodeError::Limit("decoded size")));
}

#[test]
fn a_string_table_reference_within_the_bounds_decodes() {
    let doc = with_table(5, &[SYNCML_WITH_CONTENT, DATA_WITH_CONTENT, STR_T, 0x00, END, END]);
    let tree = parse(&doc).expect("parses");
    assert_eq!(tree.child_text("Data").as_deref(), Some("AAAAA"));
}

#[test]
fn refusals_do_not_quote_what_the_peer_sent_whole() {
    // A literal tag name of 30,000 bytes (from the string table) as the root.
    let doc = with_table(30_000, &[0x04 | HAS_CONTENT, 0x00, END]);
    let err = decode(&doc).expect_err("not SyncML").to_string();
    assert!(err.len() < 400, "{} bytes", err.len());
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn whatever_parses_stays_within_the_decoded_bounds(
        refs in 0usize..40_000,
        entry in 0usize..40_000,
        spread in any::<bool>(),
    ) {
        let mut body = vec![SYNCML_WITH_CONTENT];
        for _ in 0..refs {
            if spread {
                body.extend_from_slice(&[DATA_WITH_CONTENT, STR_T, 0x00, END]);
            } else {
                body.extend_from_slice(&[STR_T, 0x00]);
            }
        }
        body.push(END);
        if let Ok(tree) = parse(&with_table(entry, &body)) {
            prop_assert!(tree.decoded_bytes() <= tree::MAX_DECODED_BYTES);
            prop_assert!(tree.longest_text() <= tree::MAX_TEXT_BYTES);
        }
    }

    #[test]
    fn decode_of_mutated_vector_never_panics(at in 0usize..1001, byte in any::<u8>()) {
        let mut v = LIBDM_PKG1.to_vec();
        let at = at.min(v.len() - 1);
        v[at] = byte;
        let _ = decode(&v);
    }
}
