//! The XML decoder never panics, and what it accepts re-encodes to a message that decodes
//! to the same model (our encoder and decoder agree on everything the decoder lets in).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaldm_shared::syncml::xml;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = xml::decode(data) {
        let again = xml::decode(&xml::encode(&msg)).expect("our own encoding decodes");
        assert_eq!(again, msg, "XML round trip changed the message");
    }
});
