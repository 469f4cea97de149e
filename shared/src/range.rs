//! HTTP byte ranges and validators for package downloads (RFC 9110, 13.1 and 14): which
//! bytes of a blob a `GET` gets, decided once for the origin and the edge alike.

/// What a download request asks for, after its conditional headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// 304: the client's copy (`If-None-Match`) is current.
    NotModified,
    /// 200: the whole blob.
    Full,
    /// 206: bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// 416: the range lies outside the blob.
    Unsatisfiable,
}

impl Selection {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Selection::NotModified => 304,
            Selection::Full => 200,
            Selection::Partial { .. } => 206,
            Selection::Unsatisfiable => 416,
        }
    }

    /// The `Content-Range` header value, where one is sent.
    pub fn content_range(self, len: u64) -> Option<String> {
        match self {
            Selection::Partial { start, end } => Some(format!("bytes {start}-{end}/{len}")),
            Selection::Unsatisfiable => Some(format!("bytes */{len}")),
            _ => None,
        }
    }

    /// The headers of this answer about a blob of `len` bytes with entity tag `tag`, as
    /// (lower-case name, value): `etag` and `accept-ranges` always, `content-type` unless 304,
    /// `content-range` for 206 and 416. `Content-Length` is the sender's, which knows its body.
    pub fn headers(self, len: u64, tag: &str) -> Vec<(&'static str, String)> {
        let mut h = vec![("etag", tag.to_owned()), ("accept-ranges", "bytes".to_owned())];
        if self != Selection::NotModified {
            h.push(("content-type", "application/octet-stream".to_owned()));
        }
        if let Some(cr) = self.content_range(len) {
            h.push(("content-range", cr));
        }
        h
    }

    /// How many body bytes go out.
    pub fn body_len(self, len: u64) -> u64 {
        match self {
            Selection::Full => len,
            Selection::Partial { start, end } => end - start + 1,
            _ => 0,
        }
    }
}

/// The strong `ETag` of a blob: its SHA-256, quoted.
pub fn etag(blob: &str) -> String {
    format!("\"{blob}\"")
}

/// Whether a request's `If-None-Match` lists `tag` (or `*`): then the answer is 304.
pub fn not_modified(if_none_match: Option<&str>, tag: &str) -> bool {
    if_none_match.is_some_and(|h| etag_listed(h, tag))
}

fn etag_listed(header: &str, tag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// Decides what to send for a blob of `len` bytes with entity tag `tag`, given the request's
/// `If-None-Match`, `Range` and `If-Range` headers. Only single ranges are honoured; a
/// malformed or multi-range `Range` is ignored (the whole blob is sent), as RFC 9110 allows.
pub fn select(
    len: u64,
    tag: &str,
    if_none_match: Option<&str>,
    range: Option<&str>,
    if_range: Option<&str>,
) -> Selection {
    if not_modified(if_none_match, tag) {
        return Selection::NotModified;
    }
    let Some(range) = range else { return Selection::Full };
    // A range whose validator no longer matches gets the whole, current blob.
    if if_range.is_some_and(|v| v.trim() != tag) {
        return Selection::Full;
    }
    let Some(spec) = range.trim().strip_prefix("bytes=") else { return Selection::Full };
    if spec.contains(',') {
        return Selection::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Selection::Full };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), parse(a), parse(b)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                Selection::Unsatisfiable
            } else {
                Selection::Partial { start: len.saturating_sub(n), end: len - 1 }
            }
        }
        // bytes=A- and bytes=A-B.
        (false, Some(start), end) if b.trim().is_empty() || end.is_some() => {
            if start >= len {
                return Selection::Unsatisfiable;
            }
            let end = end.map_or(len - 1, |e| e.min(len - 1));
            if end < start { Selection::Full } else { Selection::Partial { start, end } }
        }
        _ => Selection::Full,
    }
}

/// Which part of a body chunk that starts `offset` bytes into the blob and is `chunk_len`
/// bytes long falls inside `start..=end`: the byte range within the chunk, if any. (A partial
/// answer cut out of a whole-blob stream, as the edge does from its cache.)
pub fn window(offset: u64, chunk_len: usize, start: u64, end: u64) -> Option<std::ops::Range<usize>> {
    let chunk_end = offset.checked_add(chunk_len as u64)?; // exclusive
    let from = start.max(offset);
    let to = end.checked_add(1)?.min(chunk_end);
    if from >= to {
        return None;
    }
    Some((from - offset) as usize..(to - offset) as usize)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T: &str = "\"abc\"";

    #[test]
    fn single_ranges() {
        assert_eq!(select(100, T, None, Some("bytes=0-9"), None), Selection::Partial { start: 0, end: 9 });
        assert_eq!(select(100, T, None, Some("bytes=90-"), None), Selection::Partial { start: 90, end: 99 });
        assert_eq!(select(100, T, None, Some("bytes=-10"), None), Selection::Partial { start: 90, end: 99 });
        assert_eq!(select(100, T, None, Some("bytes=-500"), None), Selection::Partial { start: 0, end: 99 });
        assert_eq!(select(100, T, None, Some("bytes=50-500"), None), Selection::Partial { start: 50, end: 99 });
        assert_eq!(select(100, T, None, Some("bytes=100-"), None), Selection::Unsatisfiable);
        assert_eq!(select(100, T, None, Some("bytes=-0"), None), Selection::Unsatisfiable);
        assert_eq!(select(0, T, None, Some("bytes=0-"), None), Selection::Unsatisfiable);
    }

    #[test]
    fn odd_ranges_get_the_whole_blob() {
        for r in ["bytes=0-1,5-6", "items=0-1", "bytes=x-y", "bytes=9-3", "bytes=", "bytes=-"] {
            assert_eq!(select(100, T, None, Some(r), None), Selection::Full, "{r}");
        }
    }

    #[test]
    fn validators() {
        assert_eq!(select(100, T, Some(T), Some("bytes=0-9"), None), Selection::NotModified);
        assert_eq!(select(100, T, Some("\"x\", W/\"abc\""), None, None), Selection::NotModified);
        assert_eq!(select(100, T, Some("\"x\""), None, None), Selection::Full);
        assert_eq!(select(100, T, None, Some("bytes=5-"), Some(T)), Selection::Partial { start: 5, end: 99 });
        assert_eq!(select(100, T, None, Some("bytes=5-"), Some("\"old\"")), Selection::Full);
    }

    #[test]
    fn headers() {
        let p = Selection::Partial { start: 5, end: 9 };
        assert_eq!((p.status(), p.content_range(100).as_deref(), p.body_len(100)), (206, Some("bytes 5-9/100"), 5));
        assert_eq!(Selection::Unsatisfiable.content_range(100).as_deref(), Some("bytes */100"));
    }

    #[test]
    fn each_answer_gets_its_headers() {
        let h = |sel: Selection| sel.headers(100, T);
        let (tag, ranges, octets) = (
            ("etag", T.to_owned()),
            ("accept-ranges", "bytes".to_owned()),
            ("content-type", "application/octet-stream".to_owned()),
        );
        assert_eq!(h(Selection::Full), [tag.clone(), ranges.clone(), octets.clone()]);
        assert_eq!(
            h(Selection::Partial { start: 5, end: 9 }),
            [tag.clone(), ranges.clone(), octets.clone(), ("content-range", "bytes 5-9/100".to_owned())]
        );
        assert_eq!(
            h(Selection::Unsatisfiable),
            [tag.clone(), ranges.clone(), octets, ("content-range", "bytes */100".to_owned())]
        );
        assert_eq!(h(Selection::NotModified), [tag, ranges]);
    }

    #[test]
    fn windows() {
        assert_eq!(window(0, 10, 5, 7), Some(5..8));
        assert_eq!(window(10, 10, 5, 12), Some(0..3));
        assert_eq!(window(10, 10, 0, 9), None);
        assert_eq!(window(10, 10, 20, 30), None);
        assert_eq!(window(10, 10, 0, 100), Some(0..10));
        assert_eq!(window(0, 0, 0, 0), None);
    }

    proptest! {
        #[test]
        fn windows_cut_exactly_the_range(
            chunks in proptest::collection::vec(0usize..50, 0..20),
            start in 0u64..600,
            n in 1u64..600,
        ) {
            let blob: Vec<u8> = (0..chunks.iter().sum::<usize>()).map(|i| i as u8).collect();
            let end = start + n - 1;
            let (mut offset, mut out) = (0u64, Vec::new());
            for len in &chunks {
                let chunk = &blob[offset as usize..offset as usize + len];
                if let Some(w) = window(offset, *len, start, end) {
                    out.extend_from_slice(&chunk[w]);
                }
                offset += *len as u64;
            }
            let lo = (start as usize).min(blob.len());
            let hi = ((end + 1) as usize).min(blob.len());
            prop_assert_eq!(&out[..], &blob[lo..hi]);
        }

        #[test]
        fn partial_ranges_stay_inside_the_blob(len in 0u64..1000, h in "bytes=[0-9 ,-]{0,12}") {
            if let Selection::Partial { start, end } = select(len, T, None, Some(&h), None) {
                prop_assert!(start <= end && end < len);
            }
        }
    }
}
