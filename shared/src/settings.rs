//! Settings packages: values a server sets in the device's management tree directly, in the
//! DM session, all or nothing (an `Atomic` of `Replace`s). The package's bytes are a JSON
//! document, checked when the package is added:
//!
//! ```json
//! { "settings": [ { "uri": "./Settings/APN/Name", "value": "internet.example" },
//!                 { "uri": "./Settings/Wifi/Calling", "value": "true", "format": "bool" } ] }
//! ```
//!
//! A device applies only what lies under the roots it allows (dmclient: `[settings] roots`,
//! `./Settings/` by default); anything else fails the whole `Atomic`.

use serde::{Deserialize, Serialize};

use crate::syncml::{Command, Container, Item, ItemCommand, Meta};

/// Largest settings document.
pub const MAX_BYTES: usize = 64 * 1024;
/// Most settings in one package.
pub const MAX_SETTINGS: usize = 256;
/// Longest value.
pub const MAX_VALUE: usize = 1024;
/// The root a device allows by default.
pub const DEFAULT_ROOT: &str = "./Settings/";

/// One value to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// The node (`./…`).
    pub uri: String,
    /// Its new value.
    pub value: String,
    /// `chr` (default), `int` or `bool`.
    #[serde(default = "chr")]
    pub format: String,
}

fn chr() -> String {
    "chr".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    settings: Vec<Setting>,
}

/// Why a settings document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Not the JSON document described above.
    #[error("not a settings document: {0}")]
    Malformed(String),
    /// Over a limit.
    #[error("{0}")]
    TooLarge(&'static str),
    /// A node or value that cannot be set.
    #[error("setting {index}: {why}")]
    Invalid {
        /// Which setting (from 0).
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
}

/// Reads and checks a settings document.
pub fn parse(bytes: &[u8]) -> Result<Vec<Setting>, SettingsError> {
    if bytes.len() > MAX_BYTES {
        return Err(SettingsError::TooLarge("a settings document is at most 64 KiB"));
    }
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| SettingsError::Malformed(e.to_string()))?;
    if doc.settings.is_empty() || doc.settings.len() > MAX_SETTINGS {
        return Err(SettingsError::TooLarge("a settings package holds 1 to 256 settings"));
    }
    for (index, s) in doc.settings.iter().enumerate() {
        let bad = |why| Err(SettingsError::Invalid { index, why });
        let segments_ok = s.uri.strip_prefix("./").is_some_and(|rest| {
            !rest.is_empty() && rest.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        });
        if !segments_ok || s.uri.len() > 256 || s.uri.chars().any(char::is_control) {
            return bad("the node must be a ./path without empty, . or .. segments, at most 256 bytes");
        }
        if s.value.len() > MAX_VALUE {
            return bad("a value is at most 1 KiB");
        }
        match s.format.as_str() {
            "chr" => {}
            "int" if s.value.trim().parse::<i64>().is_ok() => {}
            "bool" if matches!(s.value.as_str(), "true" | "false") => {}
            "int" | "bool" => return bad("the value does not fit its format"),
            _ => return bad("the format must be chr, int or bool"),
        }
    }
    Ok(doc.settings)
}

/// The commands that set `settings`: one `Atomic` holding one `Replace`.
pub fn commands(settings: &[Setting], next_cmd_id: &mut dyn FnMut() -> String) -> Vec<Command> {
    let atomic_id = next_cmd_id();
    let items = settings
        .iter()
        .map(|s| Item::target_data(&s.uri, Meta::typed(Some(&s.format), Some("text/plain")), Some(s.value.clone())))
        .collect();
    let replace = Command::Replace(ItemCommand { cmd_id: next_cmd_id(), items, ..ItemCommand::default() });
    vec![Command::Atomic(Container {
        cmd_id: atomic_id,
        no_resp: false,
        meta: Meta::default(),
        commands: vec![replace],
    })]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_parses_into_one_atomic_replace() {
        let doc = br#"{"settings":[{"uri":"./Settings/APN/Name","value":"internet"},
                                   {"uri":"./Settings/Volte","value":"true","format":"bool"}]}"#;
        let s = parse(doc).expect("parses");
        assert_eq!(s[0].format, "chr");
        let mut n = 0;
        let cmds = commands(&s, &mut || {
            n += 1;
            n.to_string()
        });
        let [Command::Atomic(a)] = cmds.as_slice() else { panic!("{cmds:?}") };
        let [Command::Replace(r)] = a.commands.as_slice() else { panic!("{a:?}") };
        assert_eq!((a.cmd_id.as_str(), r.cmd_id.as_str(), r.items.len()), ("1", "2", 2));
        assert_eq!(r.items[1].meta.format.as_deref(), Some("bool"));
    }

    #[test]
    fn bad_documents_are_refused() {
        let bad = [
            &br#"{"settings":[]}"#[..],
            br#"{"settings":[{"uri":"Settings/x","value":"1"}]}"#,
            br#"{"settings":[{"uri":"./Settings/../DMAcc/x","value":"1"}]}"#,
            br#"{"settings":[{"uri":"./Settings//x","value":"1"}]}"#,
            br#"{"settings":[{"uri":"./Settings/x","value":"one","format":"int"}]}"#,
            br#"{"settings":[{"uri":"./Settings/x","value":"yes","format":"bool"}]}"#,
            br#"{"settings":[{"uri":"./Settings/x","value":"1","format":"b64"}]}"#,
            br#"{"settings":[{"uri":"./Settings/x","value":"1","extra":1}]}"#,
            br#"not json"#,
        ];
        for b in bad {
            assert!(parse(b).is_err(), "{}", String::from_utf8_lossy(b));
        }
        let many = format!(r#"{{"settings":[{}]}}"#, vec![r#"{"uri":"./Settings/x","value":"1"}"#; 257].join(","));
        assert!(matches!(parse(many.as_bytes()), Err(SettingsError::TooLarge(_))));
        assert!(matches!(parse(&vec![b' '; MAX_BYTES + 1]), Err(SettingsError::TooLarge(_))));
    }
}
