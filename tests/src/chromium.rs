//! Runs a Playwright driver (`tests/browser/*.mjs`) against a running system in Debian's
//! headless Chromium, and reads back what it saw.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::workspace;

/// Where a driver run keeps its screenshots: `target/browser-artifacts/<name>/`.
pub fn artefacts(name: &str) -> PathBuf {
    workspace().join("target/browser-artifacts").join(name)
}

/// Runs `tests/browser/<script>` with `envs` (and `OUT_DIR`); fails the test, naming the
/// screenshots, unless it succeeds with a screenshot of every step it reports.
pub fn run(script: &str, name: &str, envs: &[(&str, String)]) -> Value {
    let out_dir = artefacts(name);
    let _ = std::fs::remove_dir_all(&out_dir);
    let node = std::env::var("NODE_BIN").unwrap_or_else(|_| "node".into());
    let mut cmd = Command::new(node);
    cmd.arg(workspace().join("tests/browser").join(script)).current_dir(workspace()).env("OUT_DIR", &out_dir);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("node runs (scripts/setup.sh installs Node.js, Chromium and playwright-core)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen: Value =
        stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| {
            panic!("{script} printed no summary: {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
        });
    assert!(
        out.status.success() && seen["ok"] == true,
        "browser run {name} failed: {seen:#}\nscreenshots in {}",
        out_dir.display()
    );
    for step in seen["steps"].as_array().expect("steps") {
        let step = step.as_str().unwrap_or("?");
        let shots = std::fs::read_dir(&out_dir)
            .expect("artefacts")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(&format!("-{step}.png")))
            .count();
        assert_eq!(shots, 1, "a screenshot of {step}");
    }
    seen
}
