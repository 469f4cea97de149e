//! Request paths as the edge routes them: the raw path must already be in the one form that
//! every normaliser on the way (the runtime's `fetch`, a zone's URL normalisation, the
//! origin's router) leaves as it is, so what the edge routes on is what the origin serves.
//!
//! A path such as `/portal/../admin/api/tokens` or `/portal/%2e%2e/metrics` passes a prefix
//! check on its raw form and reaches `/admin/…` once a URL parser resolves its dot segments
//! (RFC 3986, 5.2.4; WHATWG URL, which also reads `\` as `/` and drops tabs and line breaks).
//! Such paths are refused, never resolved: a client with a legitimate reason to send one does
//! not exist.

/// Why a raw path is not canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// It does not start with `/`.
    #[error("the path does not start with /")]
    NotAbsolute,
    /// A `.` or `..` segment, in any spelling (`%2e`, `.%2E`, …).
    #[error("the path has a dot segment")]
    DotSegment,
    /// An empty segment (`//`) before the last one.
    #[error("the path has an empty segment")]
    EmptySegment,
    /// An encoded `/` or `\`, or an encoded character that needs no encoding.
    #[error("the path has a percent-encoding that normalises to something else")]
    Encoding,
    /// A character no path may carry as it is (controls, spaces, `\`, non-ASCII, …).
    #[error("the path has a character that must be percent-encoded")]
    Character,
}

/// Longest path considered; longer ones are refused as they are by the head limits anyway.
const MAX_PATH_BYTES: usize = 4096;

/// `raw` itself if it is canonical: absolute, only RFC 3986 `pchar`s and `/`, no dot or empty
/// segment (a trailing `/` is allowed), and percent-encodings only of characters that need
/// them (never of an unreserved character, `/` or `\`).
pub fn canonical(raw: &str) -> Result<&str, PathRefusal> {
    if !raw.starts_with('/') {
        return Err(PathRefusal::NotAbsolute);
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathRefusal::Character);
    }
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(PathRefusal::Encoding);
                };
                let decoded = (hi * 16 + lo) as u8;
                if is_unreserved(decoded) || decoded == b'/' || decoded == b'\\' {
                    return Err(PathRefusal::Encoding);
                }
                i += 3;
            }
            c if is_unreserved(c) || is_sub_delim(c) || matches!(c, b':' | b'@' | b'/') => i += 1,
            _ => return Err(PathRefusal::Character),
        }
    }
    // Encoded dots were refused above, so a dot segment can only be spelled plainly here.
    let segments: Vec<&str> = raw[1..].split('/').collect();
    for (n, s) in segments.iter().enumerate() {
        if *s == "." || *s == ".." {
            return Err(PathRefusal::DotSegment);
        }
        if s.is_empty() && n + 1 < segments.len() {
            return Err(PathRefusal::EmptySegment);
        }
    }
    Ok(raw)
}

/// The raw path of an absolute URL (`scheme://authority/path?query#fragment`): the part
/// from the first `/` after the authority up to `?` or `#`; `/` when there is none.
pub fn of_url(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    match rest.find('/') {
        Some(at) => &rest[at..],
        None => "/",
    }
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(c: u8) -> bool {
    matches!(c, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_their_own_canonical_form() {
        for p in ["/", "/portal", "/portal/", "/portal/api/session", "/dm", "/dl/abc.def?x", "/a/b%20c", "/a/%C3%A9"] {
            let p = p.split('?').next().unwrap_or(p);
            assert_eq!(canonical(p), Ok(p), "{p}");
        }
    }

    #[test]
    fn dot_segments_in_any_spelling_are_refused() {
        for p in [
            "/portal/../admin/api/tokens",
            "/portal/%2e%2e/metrics",
            "/portal/%2E%2E/readyz",
            "/portal/.%2e/admin/sign-in",
            "/portal/./api",
            "/portal/..",
            "/..",
        ] {
            assert!(canonical(p).is_err(), "{p}");
        }
        assert_eq!(canonical("/portal/../admin"), Err(PathRefusal::DotSegment));
        assert_eq!(canonical("/portal/%2e%2e/metrics"), Err(PathRefusal::Encoding));
    }

    #[test]
    fn what_url_parsers_rewrite_is_refused() {
        for p in [
            "/portal\\..\\admin",
            "/portal/.\t./admin",
            "/portal/%2f..%2fadmin",
            "/portal/%5c..",
            "/portal//admin",
            "/portal/%61pi/session",
            "/portal/%zz",
            "/portal/%2",
            "/portal/\u{e9}",
            "/portal/a b",
            "portal/",
        ] {
            assert!(canonical(p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn dots_inside_a_segment_are_fine() {
        assert!(canonical("/portal/assets/portal.css").is_ok());
        assert!(canonical("/portal/...").is_ok());
        assert!(canonical("/portal/a..b").is_ok());
    }

    #[test]
    fn the_path_of_a_url_is_what_follows_its_authority() {
        assert_eq!(of_url("https://edge.example/portal/../admin?x=1#f"), "/portal/../admin");
        assert_eq!(of_url("http://127.0.0.1:8787"), "/");
        assert_eq!(of_url("http://h/dl/x?d=1"), "/dl/x");
        assert_eq!(of_url("http://h?q=/a"), "/");
    }
}
