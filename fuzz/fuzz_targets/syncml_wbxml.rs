//! The WBXML decoder never panics, never produces more text than its bounds allow (string
//! table references amplify), and what it accepts re-encodes (as WBXML and as XML) to
//! messages that decode to the same model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaldm_shared::syncml::tree::{MAX_DECODED_BYTES, MAX_TEXT_BYTES};
use portaldm_shared::syncml::{wbxml, xml};

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = wbxml::parse(data) {
        assert!(tree.decoded_bytes() <= MAX_DECODED_BYTES, "decoded past the message bound");
        assert!(tree.longest_text() <= MAX_TEXT_BYTES, "an element's text past its bound");
    }
    if let Ok(msg) = wbxml::decode(data) {
        if let Ok(bytes) = wbxml::encode(&msg) {
            let again = wbxml::decode(&bytes).expect("our own WBXML decodes");
            assert_eq!(again, msg, "WBXML round trip changed the message");
        }
        let via_xml = xml::decode(&xml::encode(&msg)).expect("our own XML decodes");
        assert_eq!(via_xml, msg, "WBXML to XML changed the message");
    }
});
