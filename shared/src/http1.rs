//! The framing of an HTTP/1.1 request head, for the origin's own connection loop: which
//! requests it may read itself (a GET, or a POST whose body has one plain `Content-Length`)
//! and which it must leave to hyper (everything else). Sans-I/O over the bytes read so far;
//! `httparse` tokenises, this decides.
//!
//! Why here: the loop keeps a held DM message cheaper than hyper does, and whatever frames
//! HTTP bytes outside hyper must be one small part with a fuzz target (`fuzz/fuzz_targets/
//! http1_head.rs`), so that a request the loop reads differently from hyper (request
//! smuggling) is found by the fuzzer, not by a peer.

/// The most headers a request read by the loop may carry; more go to hyper.
pub const MAX_HEADERS: usize = 32;

/// A request method the loop reads itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A page or a poll: no body.
    Get,
    /// A DM message or a portal call: a `Content-Length` body.
    Post,
}

/// What the bytes read so far of a request head say.
#[derive(Debug, PartialEq, Eq)]
pub enum Head<'a> {
    /// The head is not complete yet: read more (up to the loop's head limit).
    Partial,
    /// Not a request the loop reads (malformed, another method or version, chunked,
    /// `Expect`, `Upgrade`, a body too large or of unclear length): hyper answers it.
    Other,
    /// A request the loop reads itself.
    Framed(Framed<'a>),
}

/// A complete head the loop reads, borrowing the bytes it was parsed from.
#[derive(Debug, PartialEq, Eq)]
pub struct Framed<'a> {
    /// GET or POST.
    pub method: Method,
    /// The request target as sent (origin form, with any query).
    pub target: &'a str,
    /// Bytes of the head, up to the body.
    pub head_len: usize,
    /// Bytes of the body that follow the head (0 for a GET).
    pub content_length: usize,
    /// False when the client asked to close after this request.
    pub keep_alive: bool,
    /// The headers as sent, in order.
    pub headers: Vec<(&'a str, &'a [u8])>,
}

/// Frames the request head at the start of `buf`; a body longer than `max_body` is hyper's
/// (which refuses it with 413).
pub fn frame(buf: &[u8], max_body: usize) -> Head<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Head::Other;
    };
    let method = match method {
        "POST" => Method::Post,
        "GET" => Method::Get,
        _ => return Head::Other,
    };
    let mut content_length = None;
    let mut keep_alive = true;
    let mut owned = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = h.name;
        // Framing the loop does not do: hyper's, whole.
        if ["transfer-encoding", "expect", "upgrade"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            return Head::Other;
        }
        if name.eq_ignore_ascii_case("content-length") {
            // One value of digits only: `+1`, `1,1`, spaces inside or a second header are hyper's.
            let n = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (content_length, n) {
                (None, Some(n)) if n <= max_body => content_length = Some(n),
                _ => return Head::Other,
            }
        }
        if name.eq_ignore_ascii_case("connection")
            && h.value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        {
            keep_alive = false;
        }
        owned.push((name, h.value));
    }
    // A POST says how long its body is (chunked ones are hyper's); a GET has none.
    let content_length = match (content_length, method) {
        (Some(n), _) => n,
        (None, Method::Get) => 0,
        (None, Method::Post) => return Head::Other,
    };
    Head::Framed(Framed { method, target, head_len, content_length, keep_alive, headers: owned })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(buf: &[u8]) -> Framed<'_> {
        match frame(buf, 1024) {
            Head::Framed(f) => f,
            other => panic!("not framed: {other:?}"),
        }
    }

    #[test]
    fn a_post_with_one_length_is_framed() {
        let f = framed(b"POST /dm HTTP/1.1\r\nHost: o\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((f.method, f.target, f.content_length, f.keep_alive), (Method::Post, "/dm", 5, true));
        assert_eq!(f.head_len, 49);
        assert_eq!(f.headers, vec![("Host", &b"o"[..]), ("Content-Length", &b"5"[..])]);
    }

    #[test]
    fn a_get_has_no_body_and_may_close() {
        let f = framed(b"GET /portal/x?y=1 HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n");
        assert_eq!((f.method, f.target, f.content_length, f.keep_alive), (Method::Get, "/portal/x?y=1", 0, false));
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert_eq!(frame(b"POST /dm HTTP/1.1\r\nContent-Le", 1024), Head::Partial);
        assert_eq!(frame(b"", 1024), Head::Partial);
    }

    #[test]
    fn framing_the_loop_does_not_do_goes_to_hyper() {
        for head in [
            &b"POST /dm HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST /dm HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /dm HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            b"POST /dm HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            b"POST /dm HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            b"POST /dm HTTP/1.1\r\nContent-Length: \r\n\r\n",
            b"POST /dm HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST /dm HTTP/1.1\r\nContent-Length: 1025\r\n\r\n",
            b"POST /dm HTTP/1.1\r\n\r\n",
            b"POST /dm HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            b"GET /portal HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"POST /dm HTTP/1.0\r\nContent-Length: 5\r\n\r\n",
            b"PUT /dm HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            b"HEAD /portal HTTP/1.1\r\n\r\n",
            b"POST /dm HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            assert_eq!(frame(head, 1024), Head::Other, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn more_headers_than_the_loop_keeps_go_to_hyper() {
        let mut head = b"GET /portal HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            head.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert_eq!(frame(&head, 1024), Head::Other);
    }
}
