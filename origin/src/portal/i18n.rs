//! The portal's words, one TOML file per language in `origin/i18n/`, kept out of the code.

use std::collections::HashMap;
use std::sync::LazyLock;

use portaldm_shared::portal::PAGE_LANGUAGES;

/// The words of one language.
#[derive(Debug, Default)]
pub struct Strings {
    map: HashMap<String, String>,
}

/// The language files, in the order of [`PAGE_LANGUAGES`].
const FILES: [(&str, &str); 2] =
    [("en", include_str!("../../i18n/en.toml")), ("de", include_str!("../../i18n/de.toml"))];

static ALL: LazyLock<Vec<(&'static str, Strings)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(lang, text)| {
            let map = toml::from_str::<HashMap<String, String>>(text).unwrap_or_else(|e| {
                // A test parses every file, so this is not reached by a built origin.
                tracing::error!(%lang, error = %e, "language file does not parse");
                HashMap::new()
            });
            (*lang, Strings { map })
        })
        .collect()
});

/// The words for `lang` (one of [`PAGE_LANGUAGES`]; anything else gets English).
pub fn strings(lang: &str) -> &'static Strings {
    let all = &*ALL;
    all.iter().find(|(l, _)| *l == lang).or(all.first()).map(|(_, s)| s).unwrap_or_else(|| empty())
}

fn empty() -> &'static Strings {
    static EMPTY: LazyLock<Strings> = LazyLock::new(Strings::default);
    &EMPTY
}

impl Strings {
    /// The text for `key`, else English's, else the key itself (visible, never a crash).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.map.get(key).or_else(|| strings(PAGE_LANGUAGES[0]).map.get(key)).map(String::as_str).unwrap_or(key)
    }

    /// The text for `key` with its `{name}` placeholders filled.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.get(key).to_owned();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// A size in bytes as people read it: `256 KB`, `1.4 MB` (`1,4 MB` in German).
    pub fn size(&self, bytes: u64) -> String {
        if bytes < 1_000_000 {
            let kb = bytes.div_ceil(1000).max(1);
            return self.fmt("size.kb", &[("n", &kb.to_string())]);
        }
        let tenths = (bytes + 50_000) / 100_000;
        let n = format!("{}{}{}", tenths / 10, self.get("size.decimal"), tenths % 10);
        self.fmt("size.mb", &[("n", &n)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        let mut k: Vec<String> = toml::from_str::<HashMap<String, String>>(text).expect("parses").into_keys().collect();
        k.sort();
        k
    }

    #[test]
    fn every_language_file_parses_and_has_every_key() {
        assert_eq!(FILES.map(|f| f.0), PAGE_LANGUAGES, "one file per page language, in order");
        let english = keys(FILES[0].1);
        for (lang, text) in FILES {
            assert_eq!(keys(text), english, "{lang} has exactly English's keys");
        }
    }

    #[test]
    fn every_key_the_templates_and_code_use_exists() {
        let mut sources = String::new();
        for dir in ["templates/portal", "src/portal"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(dir).expect("folder") {
                sources.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("reads"));
            }
        }
        let english = keys(FILES[0].1);
        let mut used = 0;
        for quoted in sources.split('"').skip(1).step_by(2) {
            let looks_like_key = quoted.contains('.')
                && quoted.split('.').all(|p| {
                    !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                })
                && [
                    "page.", "start.", "state.", "device.", "offers.", "offer.", "confirm.", "size.", "result.",
                    "advice.", "error.", "lang.",
                ]
                .iter()
                .any(|p| quoted.starts_with(p));
            if looks_like_key {
                used += 1;
                assert!(english.contains(&quoted.to_owned()), "{quoted:?} is used but not in en.toml");
            }
        }
        assert!(used > 20, "the scan found the keys ({used})");
    }

    #[test]
    fn sizes_read_naturally() {
        let (en, de) = (strings("en"), strings("de"));
        assert_eq!(en.size(262_144), "263 KB");
        assert_eq!(en.size(1), "1 KB");
        assert_eq!(en.size(1_449_999), "1.4 MB");
        assert_eq!(de.size(1_450_000), "1,5 MB");
        assert_eq!(strings("xx").get("state.waiting"), en.get("state.waiting"));
        assert_eq!(de.fmt("state.done", &[("name", "A"), ("version", "2")]), "Fertig: A 2 ist installiert.");
        assert_eq!(en.get("no.such.key"), "no.such.key");
    }
}
