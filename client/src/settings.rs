//! The settings a server set (settings packages), kept in `state_dir/settings.json` for the
//! device's own software to apply: node → value, merged over what was there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the settings are kept.
pub fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("settings.json")
}

/// Merges `written` into the kept settings (write then rename: whole or not at all).
pub fn keep(state_dir: &Path, written: Vec<(String, String)>) -> std::io::Result<()> {
    let path = file(state_dir);
    let mut all: BTreeMap<String, String> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    all.extend(written);
    let text = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
    crate::private::dir(state_dir)?;
    let tmp = path.with_extension("json.tmp");
    crate::private::write(&tmp, &text, false)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_merge_over_what_was_kept() {
        let dir = tempfile::tempdir().expect("dir");
        keep(dir.path(), vec![("./Settings/a".into(), "1".into()), ("./Settings/b".into(), "2".into())])
            .expect("keeps");
        keep(dir.path(), vec![("./Settings/b".into(), "3".into())]).expect("keeps");
        let all: BTreeMap<String, String> =
            serde_json::from_slice(&std::fs::read(file(dir.path())).expect("read")).expect("json");
        assert_eq!(all.get("./Settings/a").map(String::as_str), Some("1"));
        assert_eq!(all.get("./Settings/b").map(String::as_str), Some("3"));
    }
}
