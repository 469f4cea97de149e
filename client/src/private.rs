//! The device's state (DM nonces, jobs, downloads, installed packages) on disk readable by
//! its owner only: files 0600, folders 0700, created with that mode so there is no moment
//! another user of the device could read them.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// The mode of a state file.
const FILE_MODE: u32 = 0o600;
/// The mode of a state folder.
const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents as 0700, and narrows `dir` to 0700 if it was there
/// already (left by an older dmclient). A sticky folder such as `/tmp`, shared on purpose, is
/// not narrowed.
pub fn dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o1000 == 0 && mode & 0o777 != DIR_MODE {
        std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Options that create a file as 0600 (an existing file keeps its mode: see [`narrow`]).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Narrows the open file `f` to 0600, for one that existed before with a wider mode.
pub fn narrow(f: &File) -> std::io::Result<()> {
    f.set_permissions(Permissions::from_mode(FILE_MODE))
}

/// Writes `bytes` to `path` as 0600 and syncs it when `sync` (before a rename makes it count).
pub fn write(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let mut f = options().write(true).create(true).truncate(true).open(path)?;
    narrow(&f)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_all()?;
    }
    Ok(())
}

/// Copies `from` to `to` as 0600 (`std::fs::copy` would copy `from`'s mode) and syncs it.
pub fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut src = File::open(from)?;
    let mut dst = options().write(true).create(true).truncate(true).open(to)?;
    narrow(&dst)?;
    std::io::copy(&mut src, &mut dst)?;
    dst.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn files_and_folders_are_the_owners_only_even_when_they_were_there_before() {
        let tmp = tempfile::tempdir().expect("tmp");
        let d = tmp.path().join("state/jobs");
        dir(&d).expect("dir");
        assert_eq!((mode(&tmp.path().join("state")), mode(&d)), (0o700, 0o700));
        std::fs::set_permissions(&d, Permissions::from_mode(0o755)).expect("widen");
        dir(&d).expect("again");
        assert_eq!(mode(&d), 0o700, "an older folder is narrowed");
        let f = d.join("job.json");
        std::fs::write(&f, b"old").expect("old file");
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).expect("widen");
        write(&f, b"new", true).expect("write");
        assert_eq!((mode(&f), std::fs::read(&f).expect("read")), (0o600, b"new".to_vec()));
        let src = tmp.path().join("pkg.bin");
        std::fs::write(&src, b"pkg").expect("pkg");
        std::fs::set_permissions(&src, Permissions::from_mode(0o755)).expect("widen");
        copy(&src, &d.join("pkg.bin")).expect("copy");
        assert_eq!(mode(&d.join("pkg.bin")), 0o600, "not the source's mode");
    }
}
