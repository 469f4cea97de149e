//! The stock test handset (`portaldm_tests::stock`) as a program, for the Chromium portal test
//! to hand a trigger to as a phone's content dispatcher would:
//! `stock-handset -c CONFIG trigger FILE`. CONFIG holds `key = value` lines: `dev_id`, `dm_url`,
//! `server_id`, `client_name`, `client_password`, `server_name`, `server_password`, and
//! optionally `model`, `encoding` (`xml`, `wbxml`) and `session_id` (`upper`, `lower`,
//! `decimal`, `swapped`). Exits 0 when the firmware it was sent is downloaded and reported
//! installed, 1 otherwise (with what happened on stderr).

use std::collections::BTreeMap;
use std::process::ExitCode;

use portaldm_tests::stock::{Account, Encoding, Handset, Profile, SessionIdStyle};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stock-handset: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flag, config, verb, file] = &args[..] else {
        return Err("usage: stock-handset -c CONFIG trigger FILE".into());
    };
    if flag != "-c" || verb != "trigger" {
        return Err("usage: stock-handset -c CONFIG trigger FILE".into());
    }
    let text = std::fs::read_to_string(config).map_err(|e| format!("{config}: {e}"))?;
    let cfg: BTreeMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let get = |k: &str| cfg.get(k).map(|v| (*v).to_owned()).ok_or(format!("{config}: no {k}"));
    let account = Account {
        node: "operator".into(),
        server_id: get("server_id")?,
        addr: String::new(),
        client_name: get("client_name")?,
        client_password: get("client_password")?,
        server_name: get("server_name")?,
        server_password: get("server_password")?,
    };
    let mut profile = Profile::new(&get("dev_id")?, &get("dm_url")?, account);
    if let Ok(model) = get("model") {
        profile.model = model;
    }
    profile.encoding = match get("encoding").as_deref() {
        Ok("wbxml") => Encoding::Wbxml,
        _ => Encoding::Xml,
    };
    profile.pkg0_session_id = match get("session_id").as_deref() {
        Ok("lower") => SessionIdStyle::LowerHex,
        Ok("decimal") => SessionIdStyle::Decimal,
        Ok("swapped") => SessionIdStyle::ByteSwapped,
        _ => SessionIdStyle::UpperHex,
    };
    let trigger = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let mut phone = Handset::new(profile);
    let logs = phone.on_package0(&trigger).map_err(|e| e.to_string())?;
    for log in &logs {
        eprintln!("session {}: {} exchanges, ended {:?}", log.session_id, log.exchanges.len(), log.end);
    }
    match phone.downloads.last() {
        Some(d) if d.result == 200 => {
            eprintln!("installed {} bytes from {}", d.bytes, d.job.node);
            Ok(())
        }
        Some(d) => Err(format!("download reported {}", d.result)),
        None => Err("nothing was delivered".into()),
    }
}
