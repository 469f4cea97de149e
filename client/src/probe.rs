//! What a Linux device can say about itself, for a `[device]` that leaves fields out
//! (`probe_device = true`): `/etc/machine-id` (DevId), `/sys/class/dmi/id` (manufacturer,
//! model, hardware version), `/etc/os-release` (firmware version), the kernel release
//! (software version), `LANG` (language).

use std::path::Path;

use portaldm_shared::device::DeviceDetails;

/// The first line of a small file, trimmed; `None` when absent or empty.
fn line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let first = text.lines().next()?.trim();
    (!first.is_empty()).then(|| first.chars().take(portaldm_shared::device::MAX_LEAF_LEN).collect())
}

/// `KEY=value` from an os-release file (quotes removed).
fn os_release(root: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(root.join("etc/os-release"))
        .or_else(|_| std::fs::read_to_string(root.join("usr/lib/os-release")))
        .ok()?;
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').trim_matches('\'').to_owned())
        .filter(|v| !v.is_empty())
}

/// What the system under `root` (normally `/`) says about itself.
pub fn probe(root: &Path, lang: Option<String>) -> DeviceDetails {
    let dmi = |name: &str| line(&root.join("sys/class/dmi/id").join(name));
    let release = os_release(root, "VERSION_ID").or_else(|| os_release(root, "BUILD_ID"));
    let os = os_release(root, "ID");
    DeviceDetails {
        dev_id: line(&root.join("etc/machine-id")).map(|id| format!("LINUX:{id}")).unwrap_or_default(),
        man: dmi("sys_vendor").or_else(|| dmi("board_vendor")),
        model: dmi("product_name").or_else(|| dmi("board_name")),
        dm_v: Some("1.2".into()),
        lang: lang
            .map(|l| l.split(['.', '@']).next().unwrap_or("").replace('_', "-"))
            .filter(|l| !l.is_empty() && l != "C" && l != "POSIX"),
        fw_v: match (os, release) {
            (Some(os), Some(v)) => Some(format!("{os}-{v}")),
            (None, v) => v,
            (Some(os), None) => Some(os),
        },
        sw_v: line(&root.join("proc/sys/kernel/osrelease")),
        hw_v: dmi("product_version").or_else(|| dmi("board_version")),
        dev_typ: Some("linux".into()),
        oem: None,
        fumo: Default::default(),
        scomo: Default::default(),
    }
}

/// `given` with each empty field taken from `probed`: what the file says wins.
pub fn fill(given: &mut DeviceDetails, probed: DeviceDetails) {
    if given.dev_id.trim().is_empty() {
        given.dev_id = probed.dev_id;
    }
    for (mine, found) in [
        (&mut given.man, probed.man),
        (&mut given.model, probed.model),
        (&mut given.dm_v, probed.dm_v),
        (&mut given.lang, probed.lang),
        (&mut given.fw_v, probed.fw_v),
        (&mut given.sw_v, probed.sw_v),
        (&mut given.hw_v, probed.hw_v),
        (&mut given.dev_typ, probed.dev_typ),
        (&mut given.oem, probed.oem),
    ] {
        if mine.is_none() {
            *mine = found;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn a_linux_system_describes_itself() {
        let root = tempfile::tempdir().expect("dir");
        let r = root.path();
        write(r, "etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        write(r, "etc/os-release", "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"13\"\n");
        write(r, "sys/class/dmi/id/sys_vendor", "Acme\n");
        write(r, "sys/class/dmi/id/product_name", "Gateway 5\n");
        write(r, "sys/class/dmi/id/product_version", "rev B\n");
        write(r, "proc/sys/kernel/osrelease", "6.18.0-1-amd64\n");
        let d = probe(r, Some("de_DE.UTF-8".into()));
        assert_eq!(d.dev_id, "LINUX:0123456789abcdef0123456789abcdef");
        assert_eq!(
            (d.man.as_deref(), d.model.as_deref(), d.hw_v.as_deref()),
            (Some("Acme"), Some("Gateway 5"), Some("rev B"))
        );
        assert_eq!((d.fw_v.as_deref(), d.sw_v.as_deref()), (Some("debian-13"), Some("6.18.0-1-amd64")));
        assert_eq!(d.lang.as_deref(), Some("de-DE"));
    }

    #[test]
    fn what_is_missing_stays_missing_and_the_file_wins() {
        let root = tempfile::tempdir().expect("dir");
        let d = probe(root.path(), Some("C".into()));
        assert_eq!((d.dev_id.as_str(), d.man, d.lang), ("", None, None));
        let mut given =
            DeviceDetails { dev_id: "IMEI:1".into(), model: Some("Mine".into()), ..DeviceDetails::default() };
        write(root.path(), "sys/class/dmi/id/product_name", "Probed\n");
        write(root.path(), "sys/class/dmi/id/sys_vendor", "Vendor\n");
        fill(&mut given, probe(root.path(), None));
        assert_eq!(
            (given.dev_id.as_str(), given.model.as_deref(), given.man.as_deref()),
            ("IMEI:1", Some("Mine"), Some("Vendor"))
        );
    }
}
