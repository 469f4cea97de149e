//! Ordering of real firmware version strings.
//!
//! A version is split into runs of digits and runs of letters; separators (`.`, `-`, `_`,
//! `+`, space) only split. Runs are compared left to right: two numbers numerically, two
//! words case-insensitively, a number above a word (so `1.2.10` > `1.2.b3`). When one
//! version is a prefix of the other, the longer one is newer (`1.2.1` > `1.2`).
//! Examples in order: `1.2.9` < `1.2.10-b45` < `1.2.10-b46` < `1.3`; `R17A.0.3` < `R17B.0.1`.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq)]
enum Run<'a> {
    Num(&'a str),
    Word(&'a str),
}

fn runs(v: &str) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Run::Num(v[start..i].trim_start_matches('0')));
        } else if b[i].is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Run::Word(&v[start..i]));
        } else {
            i += 1;
        }
    }
    out
}

/// Compares two firmware versions by the documented ordering.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ra, rb) = (runs(a), runs(b));
    for (x, y) in ra.iter().zip(rb.iter()) {
        let o = match (x, y) {
            // Digit strings without leading zeros: longer is larger, then lexicographic.
            (Run::Num(p), Run::Num(q)) => p.len().cmp(&q.len()).then_with(|| p.cmp(q)),
            (Run::Word(p), Run::Word(q)) => p.to_ascii_lowercase().cmp(&q.to_ascii_lowercase()),
            (Run::Num(_), Run::Word(_)) => Ordering::Greater,
            (Run::Word(_), Run::Num(_)) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ra.len().cmp(&rb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_real_versions() {
        let ordered = ["1.2", "1.2.1", "1.2.9", "1.2.10-b45", "1.2.10-b46", "1.3", "10.0"];
        for w in ordered.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Ordering::Greater);
        }
        assert_eq!(compare("R17A.0.3", "R17B.0.1"), Ordering::Less);
        assert_eq!(compare("1.02", "1.2"), Ordering::Equal);
        assert_eq!(compare("v1.2", "V1.2"), Ordering::Equal);
        assert_eq!(compare("99999999999999999999999.1", "1.1"), Ordering::Greater);
    }
}
