//! Keys, configurations, the database and the device's state are readable by their owner
//! only: files 0600, the folders holding them 0700, after `dev-setup` (also over an older,
//! world-readable setup) and after a dmclient run.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use portaldm_tests::browser::Browser;
use portaldm_tests::{Options, System, bin, wait_with_timeout, workspace};
use serde_json::json;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn assert_mode(p: &Path, want: u32) {
    assert_eq!(mode(p), want, "{} is {:o}, not {want:o}", p.display(), mode(p));
}

const SECRETS: [&str; 5] = ["keys.toml", "origin.toml", "dmclient.toml", "workerd.capnp", "dev.vars"];

fn dev_setup(dir: &Path) {
    let out = Command::new(bin("portaldm-origin"))
        .args(["dev-setup", "--dir"])
        .arg(dir)
        .arg("--edge-bundle")
        .arg(workspace().join("edge/build"))
        .output()
        .expect("dev-setup runs");
    assert!(out.status.success(), "dev-setup: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dev_setup_writes_its_secrets_for_its_owner_only_and_narrows_an_older_setup() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("fresh/.dev");
    dev_setup(&dir);
    assert_mode(&dir, 0o700);
    for f in SECRETS {
        assert_mode(&dir.join(f), 0o600);
    }
    // A setup written by an older version, world-readable: narrowed when run again.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("widen");
    for f in SECRETS {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).expect("widen");
    }
    dev_setup(&dir);
    assert_mode(&dir, 0o700);
    for f in SECRETS {
        assert_mode(&dir.join(f), 0o600);
    }
}

#[test]
fn the_database_and_a_devices_state_are_their_owners_only() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let dir = sys.dir.path();
    assert_mode(dir, 0o700);
    for f in SECRETS {
        assert_mode(&dir.join(f), 0o600);
    }
    // The database sqlx created (and its WAL files, which SQLite gives the same mode).
    for f in ["origin.db", "origin.db-wal", "origin.db-shm"] {
        if f == "origin.db" || dir.join(f).exists() {
            assert_mode(&dir.join(f), 0o600);
        }
    }

    // A device with an account (so it keeps nonces) runs the whole flow.
    let out = sys.origin_cmd(&["device", "account", "IMEI:490154203237518", "--scheme", "md5"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = dir.join("auth.toml");
    let text = std::fs::read_to_string(sys.client_config()).expect("dmclient.toml");
    std::fs::write(&cfg, format!("{text}\n{}", String::from_utf8_lossy(&out.stdout))).expect("write");
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));

    let state = dir.join("dmclient");
    for d in [state.clone(), state.join("jobs"), sys.staged_dir()] {
        assert_mode(&d, 0o700);
    }
    assert_mode(&state.join("auth-nonces.json"), 0o600);
    let mut seen = 0;
    for folder in [state.join("jobs"), sys.staged_dir()] {
        for entry in std::fs::read_dir(&folder).expect("read_dir").flatten() {
            if entry.path().is_file() {
                assert_mode(&entry.path(), 0o600);
                seen += 1;
            }
        }
    }
    assert!(seen >= 2, "a job file and an installed package: {seen}");
}
