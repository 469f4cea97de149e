//! A/B firmware slots: a new firmware goes into the slot that is not running, and one atomic
//! rename makes it the active one; the other slot keeps the previous firmware to fall back to.
//!
//! Layout under `slots_dir`: `a/` and `b/` (each `firmware.bin` and `package.json`), and
//! `active`, naming the active slot (`a` when absent: a fresh device runs from `a`). A crash
//! before the rename leaves the old slot active and the update not done; after it, done.

use std::path::{Path, PathBuf};

use portaldm_shared::fumo::FumoDelivery;
use serde::{Deserialize, Serialize};

/// The two slots.
pub const SLOTS: [&str; 2] = ["a", "b"];

/// What a slot holds, as written beside its firmware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotPackage {
    /// `PkgName`.
    pub name: String,
    /// `PkgVersion`.
    pub version: String,
    /// SHA-256 of `firmware.bin`, hex.
    pub sha256: String,
}

/// The active slot's name.
pub fn active(dir: &Path) -> std::io::Result<&'static str> {
    match std::fs::read_to_string(dir.join("active")) {
        Ok(s) => SLOTS.into_iter().find(|n| *n == s.trim()).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a slot name", dir.join("active").display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SLOTS[0]),
        Err(e) => Err(e),
    }
}

/// The slot that is not running.
pub fn inactive(dir: &Path) -> std::io::Result<&'static str> {
    let a = active(dir)?;
    Ok(if a == SLOTS[0] { SLOTS[1] } else { SLOTS[0] })
}

/// What `slot` holds, if anything.
pub fn package(dir: &Path, slot: &str) -> Option<SlotPackage> {
    let bytes = std::fs::read(dir.join(slot).join("package.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `package` into the inactive slot, then makes that slot active.
pub fn install(dir: &Path, d: &FumoDelivery, package: &Path) -> std::io::Result<PathBuf> {
    let slot = inactive(dir)?;
    let target = dir.join(slot);
    // Whatever the slot held is the firmware before the previous one: replaced.
    match std::fs::remove_dir_all(&target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    crate::private::dir(dir)?;
    crate::private::dir(&target)?;
    let firmware = target.join("firmware.bin");
    crate::private::copy(package, &firmware)?;
    let meta = SlotPackage { name: d.pkg_name.clone(), version: d.pkg_version.clone(), sha256: d.sha256.clone() };
    write_synced(&target.join("package.json"), &serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?)?;
    // The switch: one rename, after everything it points at is on disk.
    let tmp = dir.join(".active.tmp");
    write_synced(&tmp, slot.as_bytes())?;
    std::fs::rename(&tmp, dir.join("active"))?;
    std::fs::File::open(dir).and_then(|f| f.sync_all())?;
    Ok(firmware)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::private::write(path, bytes, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(version: &str) -> FumoDelivery {
        FumoDelivery { pkg_name: "fw".into(), pkg_version: version.into(), sha256: "ab".into(), ..Default::default() }
    }

    #[test]
    fn updates_alternate_slots_and_keep_the_previous_firmware() {
        let dir = tempfile::tempdir().expect("dir");
        let pkg = dir.path().join("pkg");
        let slots = dir.path().join("slots");
        std::fs::create_dir_all(&slots).expect("slots");
        assert_eq!(active(&slots).expect("fresh"), "a");

        std::fs::write(&pkg, b"one").expect("pkg");
        install(&slots, &delivery("1"), &pkg).expect("first");
        assert_eq!(active(&slots).expect("active"), "b");
        assert_eq!(std::fs::read(slots.join("b/firmware.bin")).expect("fw"), b"one");

        std::fs::write(&pkg, b"two").expect("pkg");
        install(&slots, &delivery("2"), &pkg).expect("second");
        assert_eq!(active(&slots).expect("active"), "a");
        assert_eq!(package(&slots, "a").map(|p| p.version), Some("2".into()));
        // The fallback is the firmware that ran before.
        assert_eq!(package(&slots, "b").map(|p| p.version), Some("1".into()));
    }

    #[test]
    fn a_failed_write_leaves_the_running_slot_active() {
        let dir = tempfile::tempdir().expect("dir");
        let slots = dir.path().join("slots");
        std::fs::create_dir_all(&slots).expect("slots");
        assert!(install(&slots, &delivery("1"), &dir.path().join("missing")).is_err());
        assert_eq!(active(&slots).expect("active"), "a");
        std::fs::write(slots.join("active"), "c").expect("garbage");
        assert!(active(&slots).is_err(), "an unknown slot name is an error, not a guess");
    }
}
