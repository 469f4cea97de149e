//! The edge as `wrangler dev --env dev` runs it from the real wrangler.toml (Miniflare's
//! workerd): package bytes come from the R2 bucket binding (wrangler's local R2), the origin
//! only confirms each download may be served, and minting works with its Durable Object.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portaldm_shared::cdn;
use portaldm_tests::browser::{get, get_with, head};
use portaldm_tests::{Options, System, free_port, now, workspace};
use sha2::{Digest as _, Sha256};

/// `wrangler` from the project's pinned npm tools, with its state inside `dir`.
fn wrangler(dir: &Path) -> Command {
    let mut c = Command::new(workspace().join("node_modules/.bin/wrangler"));
    c.current_dir(workspace())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_CACHE_HOME", dir.join("xdg-cache"));
    c
}

/// `wrangler dev` and the workerd it starts, stopped as one process group.
struct WranglerDev(Child);

impl Drop for WranglerDev {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

#[test]
fn wrangler_dev_serves_packages_from_r2_and_the_origin_still_decides() {
    let sys = System::start(Options::default());
    let dir = sys.dir.path();
    let listing = sys.origin_cmd(&["catalog", "list"]).output().expect("list");
    let text = String::from_utf8_lossy(&listing.stdout).into_owned();
    let line = text.lines().next().expect("a package");
    let id = line.split_whitespace().next().expect("id").to_owned();
    let blob = line.split("sha256=").nth(1).expect("sha").trim().to_owned();
    let bytes = std::fs::read(dir.join("blobs").join(&blob)).expect("blob");

    let state = dir.join("wrangler-state");
    let put = wrangler(dir)
        .args(["r2", "object", "put", &format!("portaldm-blobs-dev/{blob}"), "--file"])
        .arg(dir.join("blobs").join(&blob))
        .args(["--local", "--env", "dev", "--persist-to"])
        .arg(&state)
        .output()
        .expect("wrangler r2 object put");
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    // The origin no longer has the bytes: whatever is served comes from R2.
    std::fs::remove_file(dir.join("blobs").join(&blob)).expect("remove blob");

    let port = free_port();
    let log = std::fs::File::create(dir.join("wrangler-dev.log")).expect("log");
    let child = wrangler(dir)
        .args(["dev", "--env", "dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--show-interactive-dev-session=false", "--env-file"])
        .arg(dir.join("dev.vars"))
        .arg("--persist-to")
        .arg(&state)
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .process_group(0)
        .spawn()
        .expect("wrangler dev starts");
    let _dev = WranglerDev(child);
    let edge = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !portaldm_tests::browser::agent().get(&format!("{edge}/portal/")).call().is_ok_and(|r| r.status() == 200) {
        assert!(
            Instant::now() < deadline,
            "wrangler dev did not come up; see {}",
            dir.join("wrangler-dev.log").display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let mint = get(&format!("{edge}/portal/trigger"));
    assert_eq!((mint.status, mint.header("content-type")), (200, Some(portaldm_shared::media::NOTIFICATION)));

    let keys = sys.keys();
    let path =
        cdn::sign(std::slice::from_ref(&keys.cdn), &blob, id.parse().expect("id"), "IMEI:1", now().as_secs() + 600)
            .expect("sign");
    let url = format!("{edge}{path}");
    let etag = format!("\"{blob}\"");
    let part = get_with(&url, &[("Range", "bytes=100-199")]);
    assert_eq!((part.status, &part.body[..]), (206, &bytes[100..200]), "a range straight from R2");
    let len = bytes.len();
    assert_eq!(part.header("content-range"), Some(format!("bytes 100-199/{len}").as_str()));
    for cut in [1, 65_536, len - 1] {
        let rest = get_with(&url, &[("Range", &format!("bytes={cut}-")), ("If-Range", &etag)]);
        let whole = [&bytes[..cut], &rest.body[..]].concat();
        assert_eq!(hex::encode(Sha256::digest(&whole)), blob, "resumed at {cut}");
    }
    let h = head(&url);
    assert_eq!((h.status, h.header("content-length")), (200, Some(len.to_string().as_str())));
    assert_eq!(get_with(&url, &[("If-None-Match", &etag)]).status, 304);
    assert_eq!(get(&url.replace("IMEI%3A1", "IMEI%3A2")).status, 403, "the signature is checked first");

    // Revoked at the origin: R2 still has the bytes, but the download is refused at once.
    let revoked = sys.origin_cmd(&["catalog", "revoke", &id]).output().expect("revoke");
    assert!(revoked.status.success());
    assert_eq!(get_with(&url, &[("Range", "bytes=0-9")]).status, 404);
}
