//! dmclient's jobs survive the device stopping: killed mid-download or while the installer runs, the job is
//! finished by the next run without a second install, and the right result reaches the
//! portal once; `dmclient status` shows the FUMO states.

use std::process::Command;
use std::time::{Duration, Instant};

use portaldm_tests::browser::Browser;
use portaldm_tests::{Options, System, bin, jobs};
use serde_json::json;
use sha2::Digest as _;

fn dmclient(cfg: &std::path::Path, args: &[&str]) -> std::process::Output {
    portaldm_tests::dmclient(cfg).args(args).output().expect("dmclient runs")
}

/// A handset whose installer takes 1 s, counts its runs in `installs`, and leaves its FUMO
/// result where dmclient can find it even if dmclient is gone by then (then touches
/// `finished`, [`installer_finished`]): chooses the first offer, and is killed (SIGKILL) while
/// its installer runs. Returns its configuration, the browser, and the install counter.
fn killed_while_installing(sys: &System) -> (std::path::PathBuf, Browser, std::path::PathBuf) {
    let (started, count) = (sys.dir.path().join("started"), sys.dir.path().join("installs"));
    let finished = sys.dir.path().join("finished");
    let script = format!(
        "echo run >> '{}'; touch '{}'; sleep 1; echo 200 > \"$PDM_RESULT_FILE\"; touch '{}'",
        count.display(),
        started.display(),
        finished.display()
    );
    let cfg = sys.client_config_with_installer("slow.toml", &script);
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let mut client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the installer never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    client.kill().expect("kill");
    let _ = client.wait();
    let job = jobs(sys).pop().expect("job on disk");
    assert_eq!(job["state"], "UpdateProgressing", "{job}");
    (cfg, phone, count)
}

/// Waits until the orphaned installer of [`killed_while_installing`] has left its result.
fn installer_finished(sys: &System) {
    let finished = sys.dir.path().join("finished");
    portaldm_tests::wait_until("the orphaned installer finished", Duration::from_secs(20), || finished.exists());
}

#[test]
fn a_device_killed_during_the_install_finishes_the_job_once_with_the_right_result() {
    let sys = System::start(Options::default());
    let (cfg, mut phone, count) = killed_while_installing(&sys);
    let status = dmclient(&cfg, &["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("state 60 installing"), "{:?}", status);

    // The installer, orphaned, still finishes; the next run learns its outcome.
    installer_finished(&sys);
    let again = dmclient(&cfg, &["report"]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("interrupted"), "{log}");
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    assert_eq!(std::fs::read_to_string(&count).expect("count").lines().count(), 1, "installed exactly once");
    let job = jobs(&sys).pop().expect("job on disk");
    assert_eq!((job["state"].as_str(), job["reported"].as_bool()), (Some("UpdateSuccessfulNoData"), Some(true)));

    // Nothing is left to do: another run changes nothing and installs nothing.
    assert!(dmclient(&cfg, &["report"]).status.success());
    assert_eq!(std::fs::read_to_string(&count).expect("count").lines().count(), 1);
    let status = String::from_utf8_lossy(&dmclient(&cfg, &["status"]).stdout).into_owned();
    assert!(status.contains("state 100 updated, result 200 (installed successfully), reported"), "{status}");
}

/// An origin that delivers firmware in FUMO's two steps.
fn two_step() -> Options {
    Options { origin_extra: "fumo_two_step = true\n", ..Options::default() }
}

#[test]
fn a_two_step_delivery_is_downloaded_reported_then_installed_on_the_servers_order() {
    let sys = System::start(two_step());
    let (count, kind) = (sys.dir.path().join("installs"), sys.dir.path().join("kind"));
    let script = format!("echo run >> '{}'; echo \"$PDM_PKG_KIND\" > '{}'", count.display(), kind.display());
    let cfg = sys.client_config_with_installer("two-step.toml", &script);
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = portaldm_tests::wait_with_timeout(client, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("the server ordered the install"), "{log}");
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    assert_eq!(std::fs::read_to_string(&kind).expect("installer ran").trim(), "firmware");
    let job = jobs(&sys).pop().expect("job on disk");
    assert_eq!(job["delivery"]["two_step"], true, "{job}");
    assert_eq!(job["update_correlator"], job["delivery"]["correlator"], "{job}");
    assert_eq!((job["state"].as_str(), job["reported"].as_bool()), (Some("UpdateSuccessfulNoData"), Some(true)));

    // The device lost what happened after its download report (as after a crash right after
    // the report): it reports the download again. The outcome is recorded, so the server
    // orders nothing and nothing is installed twice.
    let file = sys
        .dir
        .path()
        .join("dmclient/jobs")
        .join(format!("{}.json", job["delivery"]["correlator"].as_str().expect("c")));
    let mut rewound = job.clone();
    rewound["state"] = json!("DownloadComplete");
    rewound["update_correlator"] = json!(null);
    rewound["reported"] = json!(false);
    rewound["result"] = json!(null);
    std::fs::write(&file, rewound.to_string()).expect("rewind");
    let again = dmclient(&cfg, &["report"]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(10), "waiting for an order that will not come: {log}");
    assert!(log.contains("has not ordered the install"), "{log}");
    assert_eq!(std::fs::read_to_string(&count).expect("count").lines().count(), 1, "installed exactly once");
    let status = String::from_utf8_lossy(&dmclient(&cfg, &["status"]).stdout).into_owned();
    assert!(status.contains("state 40 downloaded") && status.contains("waiting for the server's order"), "{status}");
}

#[test]
fn a_device_killed_while_installing_a_two_step_update_reports_it_once() {
    let sys = System::start(two_step());
    let (cfg, mut phone, count) = killed_while_installing(&sys);
    let job = jobs(&sys).pop().expect("job on disk");
    assert!(job["update_correlator"].is_string(), "the order was kept before the install: {job}");
    installer_finished(&sys);
    let again = dmclient(&cfg, &["report"]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("interrupted") && log.contains("/Update"), "{log}");
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    assert_eq!(std::fs::read_to_string(&count).expect("count").lines().count(), 1, "installed exactly once");
}

#[test]
fn firmware_goes_into_the_inactive_slot_which_then_runs() {
    let sys = System::start(two_step());
    let slots = sys.dir.path().join("slots");
    let text = std::fs::read_to_string(sys.client_config()).expect("dmclient.toml");
    let stage = text.lines().find(|l| l.starts_with("stage_dir")).expect("stage_dir").to_owned();
    let cfg = sys.dir.path().join("slots.toml");
    std::fs::write(&cfg, text.replace(&stage, &format!("slots_dir = {:?}", slots.display().to_string())))
        .expect("write");
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let chosen = view["offers"][0]["package"].clone();
    assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": chosen["id"] })).status, 200);
    let out = portaldm_tests::wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    // A fresh device runs from slot a: the update went into b, which is now active.
    assert_eq!(std::fs::read_to_string(slots.join("active")).expect("active").trim(), "b");
    let fw = std::fs::read(slots.join("b/firmware.bin")).expect("firmware");
    assert_eq!(hex::encode(sha2::Sha256::digest(&fw)), chosen["blob"].as_str().expect("blob"));
    let status = String::from_utf8_lossy(&dmclient(&cfg, &["status"]).stdout).into_owned();
    let version = chosen["version"].as_str().expect("version");
    assert!(
        status.contains(&format!(
            "slots    active b ({} {version}), fallback a (empty)",
            chosen["name"].as_str().expect("name")
        )),
        "{status}"
    );
}

#[test]
fn the_installed_handler_runs_dmclient_on_a_trigger_the_browser_saved() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let (data, conf, home) = (sys.dir.path().join("xdg-data"), sys.dir.path().join("xdg-config"), sys.dir.path());
    let out = Command::new(bin("dmclient"))
        .arg("-c")
        .arg(sys.client_config())
        .arg("install-handler")
        .env("XDG_DATA_HOME", &data)
        .env("XDG_CONFIG_HOME", &conf)
        .env("HOME", home)
        .output()
        .expect("install-handler");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let desktop = std::fs::read_to_string(data.join("applications/portaldm-dmclient.desktop")).expect("desktop entry");
    assert!(desktop.contains("MimeType=application/vnd.syncml.notification;"), "{desktop}");
    let mimeapps = std::fs::read_to_string(conf.join("mimeapps.list")).expect("mimeapps.list");
    assert!(
        mimeapps.contains("[Default Applications]\napplication/vnd.syncml.notification=portaldm-dmclient.desktop;")
    );
    let mime = std::fs::read_to_string(data.join("mime/packages/portaldm-notification.xml")).expect("mime type");
    assert!(mime.contains("type=\"application/vnd.syncml.notification\""));

    // What a browser's content dispatcher does: save the trigger, run the Exec line with it.
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let file = sys.dir.path().join("trigger.bin");
    std::fs::write(&file, &trig.body).expect("save trigger");
    let exec = desktop.lines().find_map(|l| l.strip_prefix("Exec=")).expect("Exec line");
    let command = exec.replace("%f", &format!("'{}'", file.display()));
    let handler = Command::new("sh").arg("-c").arg(&command).spawn().expect("handler runs");
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = portaldm_tests::wait_with_timeout(handler, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
}

#[test]
fn swarm_runs_many_handsets_through_the_whole_flow() {
    // One step (DownloadAndUpdate), and FUMO's two (Download, then the ordered Update).
    for (opts, devices) in [(Options::default(), 24), (two_step(), 6)] {
        let sys = System::start(opts);
        let out = Command::new(bin("dmclient"))
            .arg("-c")
            .arg(sys.client_config())
            .args(["swarm", "--edge", &sys.edge, "--devices", &devices.to_string(), "--concurrency", "6"])
            .output()
            .expect("swarm runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(&format!("completed {devices} flows")), "{text}");
        assert!(!text.contains("failed"), "{text}");
        for step in ["trigger", "choosing", "select", "delivery", "download", "result", "flow"] {
            assert!(text.lines().any(|l| l.starts_with(step)), "no latencies for {step}: {text}");
        }
    }
}

#[test]
fn a_package_not_signed_by_a_trusted_key_is_refused_and_reported() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let text = std::fs::read_to_string(sys.client_config()).expect("config");
    assert!(text.contains("package_keys"), "dev-setup makes devices require signed packages");
    let line = text.lines().find(|l| l.starts_with("package_keys")).expect("package_keys").to_owned();
    // A device that trusts another key only.
    let stranger = portaldm_shared::keys::NamedKey::generate("pkg1", &mut portaldm_shared::rand::TestRng(5))
        .expect("key")
        .ed25519_public();
    let cfg = sys.dir.path().join("other-key.toml");
    std::fs::write(&cfg, text.replace(&line, &format!("package_keys = \"{}\"", stranger.to_entry()))).expect("write");

    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    assert!(view["offers"][0]["package"]["signature"].as_str().is_some_and(|s| s.starts_with("pkg1.")));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = portaldm_tests::wait_with_timeout(client, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{log}");
    assert!(log.contains("signature does not match"), "{log}");
    let done = phone.wait_for_any(&["failed"], Duration::from_secs(10));
    assert_eq!(done["result"]["code"], 404, "{done}");
    assert_eq!(sys.installed(), Vec::<std::path::PathBuf>::new(), "nothing installed");
}

#[test]
fn a_device_without_a_device_table_describes_itself() {
    let sys = System::start(Options::default());
    let text = std::fs::read_to_string(sys.client_config()).expect("config");
    let start = text.find("[device]").expect("[device]");
    let end = start + text[start..].find("\n\n").expect("end of [device]") + 2;
    let probing = format!("probe_device = true\n{}{}", &text[..start], &text[end..]);
    let cfg = sys.dir.path().join("probing.toml");
    std::fs::write(&cfg, probing).expect("write");
    let out = std::process::Command::new(portaldm_tests::bin("dmclient"))
        .arg("-c")
        .arg(&cfg)
        .arg("status")
        .output()
        .expect("status");
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if std::path::Path::new("/etc/machine-id").exists() {
        assert!(out.status.success(), "{said}");
        assert!(said.contains("device   LINUX:"), "the DevId comes from /etc/machine-id: {said}");
    } else {
        assert_eq!(out.status.code(), Some(2), "no DevId to be found is a configuration error: {said}");
    }
}

/// A loopback proxy to `upstream` (`host:port`) that passes answers back at about
/// `bytes_per_sec`; its base URL.
fn throttled_proxy(upstream: String, bytes_per_sec: u64) -> String {
    use std::io::{Read as _, Write as _};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let Ok(mut server) = TcpStream::connect(&upstream) else { return };
                let (Ok(mut from_client), Ok(mut to_server)) = (client.try_clone(), server.try_clone()) else { return };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_client, &mut to_server);
                    let _ = to_server.shutdown(Shutdown::Write);
                });
                let mut client = client;
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = server.read(&mut buf) {
                    if n == 0 || client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(n as u64 * 1_000_000 / bytes_per_sec));
                }
                let _ = client.shutdown(Shutdown::Both);
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_device_killed_during_the_download_resumes_it_and_installs_once() {
    use sha2::Digest as _;
    let mut sys = System::start(Options::default());
    // A 6 MiB package, served to the device at about 1 MB/s: it can be stopped halfway.
    let bytes: Vec<u8> = (0..6u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let file = sys.dir.path().join("big.bin");
    std::fs::write(&file, &bytes).expect("write");
    let added = sys
        .origin_cmd(&["catalog", "add", "--name", "Big Update", "--version", "9.0.0", "--models", "PDM-Phone-1"])
        .arg(&file)
        .output()
        .expect("catalog add");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let proxy = throttled_proxy(sys.edge.trim_start_matches("http://").to_owned(), 1_000_000);
    let origin_toml = sys.dir.path().join("origin.toml");
    let text = std::fs::read_to_string(&origin_toml).expect("origin.toml");
    let line = text.lines().find(|l| l.starts_with("public_url")).expect("public_url").to_owned();
    std::fs::write(&origin_toml, text.replace(&line, &format!("public_url = \"{proxy}\""))).expect("write");
    sys.kill_origin();
    sys.start_origin();

    let count = sys.dir.path().join("installs");
    let cfg = sys.client_config_with_installer("counting.toml", &format!("echo run >> '{}'", count.display()));

    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let mut client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let offer =
        view["offers"].as_array().expect("offers").iter().find(|o| o["package"]["name"] == "Big Update").cloned();
    let pick = json!({ "package_id": offer.expect("the big package is offered")["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let part = sys.dir.path().join("dmclient/jobs").join(format!("{sha}.part"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 1 << 20 {
        assert!(Instant::now() < deadline, "the download never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The device stops (SIGKILL) in the middle of the download.
    client.kill().expect("kill");
    let _ = client.wait();
    let have = std::fs::metadata(&part).expect("part file kept").len();
    assert!(have < bytes.len() as u64, "stopped halfway: {have}");
    let job = jobs(&sys).pop().expect("job on disk");
    assert_eq!(job["state"], "DownloadProgressing", "{job}");

    let again = dmclient(&cfg, &["report"]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("resuming download at"), "the download resumed: {log}");
    assert_eq!(phone.wait_for("done", Duration::from_secs(30))["result"]["code"], 200);
    assert_eq!(std::fs::read_to_string(&count).expect("count").lines().count(), 1, "installed exactly once");
    assert!(dmclient(&cfg, &["report"]).status.success());
    assert_eq!(std::fs::read_to_string(&count).expect("count").lines().count(), 1);
}
