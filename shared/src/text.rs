//! Peer text made safe to log or echo: cut to a bound and escaped, so a handset or a browser
//! can neither forge log lines, send escapes to an operator's terminal, nor make a refusal
//! as large as what it sent.

use std::fmt;

/// Most characters of one peer value shown in a log line or an error message.
pub const MAX_QUOTED_CHARS: usize = 64;

/// Peer text as it may be logged or echoed: at most [`MAX_QUOTED_CHARS`] characters, control
/// and non-printable characters, quotes and backslashes escaped (`\n`, `\u{1b}`, `\"`), and
/// `…` where it was cut.
#[derive(Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_cut(f, self.0, MAX_QUOTED_CHARS)
    }
}

fn write_cut(f: &mut impl fmt::Write, s: &str, max_chars: usize) -> fmt::Result {
    let mut chars = s.chars();
    for c in chars.by_ref().take(max_chars) {
        write!(f, "{}", c.escape_debug())?;
    }
    if chars.next().is_some() {
        f.write_str("…")?;
    }
    Ok(())
}

/// Most characters of a parser's own message kept when it may quote the peer's input.
pub const MAX_MESSAGE_CHARS: usize = 160;

/// A parser's message that may quote peer input (quick-xml's, say), cut to
/// [`MAX_MESSAGE_CHARS`] and escaped like [`Quoted`].
pub fn excerpt(message: &str) -> String {
    let mut out = String::new();
    let _ = write_cut(&mut out, message, MAX_MESSAGE_CHARS);
    out
}

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// [`Quoted`] as an owned string, for error values that outlive the input.
pub fn quote(s: &str) -> String {
    Quoted(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_text() {
        let long = "a".repeat(10_000);
        let q = quote(&long);
        assert_eq!(q.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(q.ends_with('…'));
        assert_eq!(quote("short"), "short");
    }

    #[test]
    fn escapes_line_breaks_and_terminal_escapes() {
        let q = quote("IMEI:1\n2026-12-01 INFO forged line \u{1b}[31mred\"");
        assert!(!q.contains('\n') && !q.contains('\u{1b}'), "{q}");
        assert!(q.contains("\\n") && q.contains("\\u{1b}") && q.contains("\\\""), "{q}");
    }

    #[test]
    fn excerpts_are_longer_but_bounded() {
        let e = excerpt(&format!("expected `</a>`, but `</{}>` found", "b".repeat(100_000)));
        assert_eq!(e.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(e.starts_with("expected `</a>`"));
    }

    #[test]
    fn debug_form_is_quoted() {
        assert_eq!(format!("{:?}", Quoted("a\tb")), "\"a\\tb\"");
    }
}
