//! `dmclient install-handler`: registers dmclient as the handler of
//! `application/vnd.syncml.notification` on a Linux desktop or handset (XDG), so the browser
//! hands a trigger to `dmclient trigger FILE` as a phone's content dispatcher does.

use std::path::{Path, PathBuf};

use portaldm_shared::media::NOTIFICATION;

use crate::exit::ClientError;

/// The desktop entry's file name.
pub const DESKTOP_FILE: &str = "portaldm-dmclient.desktop";

fn home_dir(var: &str, fallback: &str) -> Result<PathBuf, ClientError> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(v));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| ClientError::Config(format!("neither {var} nor HOME is set")))?;
    Ok(PathBuf::from(home).join(fallback))
}

fn io(e: std::io::Error) -> ClientError {
    ClientError::State(e)
}

/// Writes the desktop entry, the MIME type definition and the default-application entry,
/// for this user or (`system`) for every user; returns what it wrote.
pub fn install(config: &Path, system: bool) -> Result<Vec<PathBuf>, ClientError> {
    let exe = std::env::current_exe().map_err(io)?;
    let config = std::fs::canonicalize(config).map_err(io)?;
    let (data, conf) = if system {
        (PathBuf::from("/usr/share"), PathBuf::from("/etc/xdg"))
    } else {
        (home_dir("XDG_DATA_HOME", ".local/share")?, home_dir("XDG_CONFIG_HOME", ".config")?)
    };
    let quote = |p: &Path| format!("\"{}\"", p.display().to_string().replace('\\', "\\\\").replace('"', "\\\""));
    let desktop = format!(
        "[Desktop Entry]\nType=Application\nName=portaldm device management\n\
         Comment=Answers device-management triggers from an operator's portal\n\
         Exec={} -c {} trigger %f\nMimeType={NOTIFICATION};\nNoDisplay=true\nTerminal=false\n",
        quote(&exe),
        quote(&config)
    );
    let apps = data.join("applications");
    std::fs::create_dir_all(&apps).map_err(io)?;
    let desktop_path = apps.join(DESKTOP_FILE);
    std::fs::write(&desktop_path, desktop).map_err(io)?;

    // The type itself, for systems whose shared-mime-info does not know it.
    let mime_dir = data.join("mime/packages");
    std::fs::create_dir_all(&mime_dir).map_err(io)?;
    let mime_path = mime_dir.join("portaldm-notification.xml");
    let mime = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mime-info xmlns=\"http://www.freedesktop.org/standards/shared-mime-info\">\n  \
         <mime-type type=\"{NOTIFICATION}\">\n    <comment>OMA DM trigger (package #0)</comment>\n  </mime-type>\n</mime-info>\n"
    );
    std::fs::write(&mime_path, mime).map_err(io)?;

    // The default handler, merged into mimeapps.list (what xdg-mime would do).
    std::fs::create_dir_all(&conf).map_err(io)?;
    let list_path = conf.join("mimeapps.list");
    let old = std::fs::read_to_string(&list_path).unwrap_or_default();
    std::fs::write(&list_path, with_default(&old, NOTIFICATION, DESKTOP_FILE)).map_err(io)?;

    // Refresh the caches where the tools exist; the files above are what matters.
    let _ = std::process::Command::new("update-mime-database").arg(data.join("mime")).output();
    let _ = std::process::Command::new("update-desktop-database").arg(&apps).output();
    Ok(vec![desktop_path, mime_path, list_path])
}

/// `mimeapps.list` text with `mime=desktop` as the default in `[Default Applications]`.
fn with_default(old: &str, mime: &str, desktop: &str) -> String {
    let entry = format!("{mime}={desktop};");
    let mut out = Vec::new();
    let (mut in_defaults, mut placed) = (false, false);
    for line in old.lines() {
        if line.trim_start().starts_with('[') {
            if in_defaults && !placed {
                out.push(entry.clone());
                placed = true;
            }
            in_defaults = line.trim() == "[Default Applications]";
        }
        if in_defaults && line.split('=').next().is_some_and(|k| k.trim() == mime) {
            continue; // replaced below
        }
        out.push(line.to_owned());
    }
    if in_defaults && !placed {
        out.push(entry.clone());
        placed = true;
    }
    if !placed {
        if !out.is_empty() && !out.last().is_some_and(|l| l.is_empty()) {
            out.push(String::new());
        }
        out.push("[Default Applications]".into());
        out.push(entry);
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mimeapps_default_is_added_or_replaced_and_other_entries_kept() {
        let fresh = with_default("", "a/b", "x.desktop");
        assert_eq!(fresh, "[Default Applications]\na/b=x.desktop;\n");
        let old = "[Added Associations]\na/b=y.desktop;\n\n[Default Applications]\nc/d=z.desktop;\na/b=old.desktop;\n";
        let new = with_default(old, "a/b", "x.desktop");
        assert!(new.contains("[Added Associations]\na/b=y.desktop;"), "{new}");
        assert!(
            new.contains("c/d=z.desktop;") && new.contains("a/b=x.desktop;") && !new.contains("old.desktop"),
            "{new}"
        );
        let other = with_default("[Added Associations]\nq/r=s.desktop;\n", "a/b", "x.desktop");
        assert!(other.ends_with("\n[Default Applications]\na/b=x.desktop;\n"), "{other}");
    }
}
