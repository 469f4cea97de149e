//! The package #0 decoder (bare and inside a WSP push) never panics, and what it accepts
//! re-encodes to the same package.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaldm_shared::pkg0::Package0;

fuzz_target!(|data: &[u8]| {
    // The WSP push unwrapping must answer on anything too.
    let _ = Package0::decode_delivered(data);
    if let Ok(d) = Package0::decode(data) {
        // A digest check on garbage must answer, not panic.
        let _ = d.verify_digest(b"password", b"");
        if let Ok(bytes) = d.package.encode(b"password", b"") {
            let again = Package0::decode(&bytes).expect("our own package #0 decodes");
            assert_eq!(again.package, d.package, "package #0 round trip changed it");
            again.verify_digest(b"password", b"").expect("our own digest verifies");
        }
    }
});
