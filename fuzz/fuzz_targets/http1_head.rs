//! The origin loop's HTTP/1.1 framing (`shared::http1`) never panics, never frames a request
//! hyper would frame differently (a second length, chunked, `Expect`, `Upgrade`), keeps the
//! body within its bound and the head within the bytes read, and does not change its mind
//! when more bytes follow a complete head (what follows is the body, never more head).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaldm_shared::http1::{Head, Method, frame};

const MAX_BODY: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Head::Framed(f) = frame(data, MAX_BODY) else { return };
    assert!(f.head_len <= data.len(), "head longer than the bytes read");
    assert!(data[..f.head_len].ends_with(b"\n"), "head does not end at a line end");
    assert!(f.content_length <= MAX_BODY, "body past its bound");
    let lengths = f.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-length")).count();
    match f.method {
        Method::Post => assert_eq!(lengths, 1, "a POST framed without exactly one length"),
        Method::Get => assert!(lengths <= 1, "a GET framed with two lengths"),
    }
    for banned in ["transfer-encoding", "expect", "upgrade"] {
        assert!(!f.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(banned)), "framed with {banned}");
    }
    let mut longer = data.to_vec();
    longer.extend_from_slice(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(frame(&longer, MAX_BODY), Head::Framed(f), "bytes after the head changed its framing");
});
