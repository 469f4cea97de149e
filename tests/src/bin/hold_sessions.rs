//! Holds N portal DM sessions open at the origin in package 4 (waiting for a choice that never
//! comes), for the held-session memory benchmark (`scripts/bench-held.sh`): each simulated
//! handset opens its session with a freshly signed token, answers the server's Gets, and then
//! blocks in the held request. Prints `held N` once every session is waiting, then holds
//! until killed.
//!
//! Usage: hold_sessions <dev-setup dir> <origin base URL> <sessions> [first IMEI]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portaldm_shared::device::DeviceDetails;
use portaldm_shared::keys::NamedKey;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::syncml::xml;
use portaldm_shared::token::{Claims, TokenSigner};
use portaldm_shared::{edgeauth, media};

fn key(dir: &str, name: &str) -> NamedKey {
    let text = std::fs::read_to_string(format!("{dir}/keys.toml")).expect("keys.toml");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} = ")))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("key in keys.toml");
    NamedKey::parse(&value).expect("key")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, origin, n, rest @ ..] = &args[..] else {
        eprintln!("usage: hold_sessions <dev-setup dir> <origin URL> <sessions> [first IMEI]");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("sessions");
    let first: u64 = rest.first().and_then(|v| v.parse().ok()).unwrap_or(380_000_000_000_000);
    let signer = Arc::new(TokenSigner::new(&key(dir, "token_key")).expect("signer"));
    let edge = Arc::new(vec![key(dir, "edge_key")]);
    let origin = Arc::new(origin.trim_end_matches('/').to_owned());
    let waiting = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    for i in 0..n {
        // At most 200 sessions opening at once, so the store's writes keep up.
        while i > waiting.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) + 200 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (signer, edge, origin, w, f) =
            (signer.clone(), edge.clone(), origin.clone(), waiting.clone(), failed.clone());
        let spawned = std::thread::Builder::new().stack_size(128 * 1024).spawn(move || {
            if let Err(e) = hold(&signer, &edge, &origin, first + i as u64, i, &w)
                && f.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("session {i}: {e}");
            }
        });
        if spawned.is_err() {
            failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    while waiting.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "held {} failed {} in {:.1} s",
        waiting.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// One handset: open, answer, then wait in the held request (counted in `waiting`).
fn hold(
    signer: &TokenSigner,
    edge: &[NamedKey],
    origin: &str,
    imei: u64,
    i: usize,
    waiting: &AtomicUsize,
) -> Result<(), String> {
    let secs = portaldm_tests::now().as_secs();
    let nsid = (i % 65_534) as u16 + 1;
    let claims = Claims {
        iss: "bench".into(),
        aud: "portaldm-origin".into(),
        sid: format!("held-{imei}"),
        nsid,
        srv: "portaldm".into(),
        iat: secs,
        nbf: secs,
        exp: secs + 3600,
        jti: format!("held-{imei}"),
        bnd: "bench".into(),
        colo: "BENCH".into(),
        ctry: None,
    };
    let token = signer.sign(&claims).map_err(|e| e.to_string())?;
    let device = DeviceDetails {
        dev_id: format!("IMEI:{imei}"),
        model: Some("PDM-Phone-1".into()),
        fw_v: Some("1.0.0".into()),
        man: Some("portaldm".into()),
        ..DeviceDetails::default()
    };
    let mut s = ClientSession::server_initiated(device, &format!("{origin}/dm"), &format!("{nsid:X}"), &token);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3600)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut out = s.first_message();
    for round in 0.. {
        let body = xml::encode(&out);
        let cred = edgeauth::sign(edge, "POST", "/dm", portaldm_tests::now()).map_err(|e| e.to_string())?;
        if round == 1 {
            // Package 3 (the device's details): the answer is held until a choice.
            waiting.fetch_add(1, Ordering::Relaxed);
        }
        let mut r = agent
            .post(&format!("{origin}/dm"))
            .header("Content-Type", media::DM_XML)
            .header(edgeauth::HEADER, &cred)
            .send(&body[..])
            .map_err(|e| e.to_string())?;
        let answer = r.body_mut().read_to_vec().map_err(|e| e.to_string())?;
        let msg = xml::decode(&answer).map_err(|e| e.to_string())?;
        match s.handle(&msg).map_err(|e| e.to_string())? {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => return Ok(()),
        }
        if round > 50 {
            return Err("too many rounds".into());
        }
    }
    Ok(())
}
