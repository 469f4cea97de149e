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

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_of_mutated_vector_never_panics(at in 0usize..1001, byte in any::<u8>()) {
        let mut v = LIBDM_PKG1.to_vec();
        let at = at.min(v.len() - 1);
        v[at] = byte;
        let _ = decode(&v);
    }
}
