//! One DM session as a stock handset runs it: package 1, then answer each server message until
//! the server has nothing more, re-sending after a challenge and refusing a server that cannot
//! prove itself.

use super::msg::{AuthMeta, Cmd, Cred, Hdr, Item, Msg};
use super::{Encoding, FumoJob, Handset, NonceRotation, StockError, auth_md5, http, msg, wbxml};

const MD5: &str = "syncml:auth-md5";

/// How a session opens.
#[derive(Debug, Clone)]
pub(crate) enum Opening {
    /// Alert 1201 (plus generic alerts) with this SessionID.
    Client { session_id: String, alerts: Vec<Cmd> },
    /// Alert 1200 with the SessionID read from a package #0.
    Server { session_id: String },
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The server sent `Final` and nothing the handset must answer.
    Final,
    /// The server's message had no `Final` and no command: nothing to send, so the session is
    /// over (no Alert 1222, as libdmclient).
    NoFinal,
    /// The server refused the handset's header with this code and gave nothing to retry with.
    Refused(u16),
}

/// One POST and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Where it went.
    pub url: String,
    /// What the handset sent.
    pub sent: Msg,
    /// The bytes sent (XML or WBXML).
    pub sent_bytes: Vec<u8>,
    /// The server's answer.
    pub received: Msg,
    /// The answer's Content-Type.
    pub content_type: Option<String>,
    /// The answer as XML (converted by libwbxml when it came as WBXML).
    pub received_xml: String,
}

/// A whole session.
#[derive(Debug, Clone)]
pub struct SessionLog {
    /// The SessionID used.
    pub session_id: String,
    /// Each message and its answer.
    pub exchanges: Vec<Exchange>,
    /// How it ended.
    pub end: End,
    /// The server proved itself at least once.
    pub server_proved: bool,
    /// Server messages refused for want of a valid server credential.
    pub server_refusals: u32,
    /// Re-sends after a challenge.
    pub auth_retries: u32,
    /// The URIs the server read with `Get`.
    pub gets: Vec<String>,
}

fn status(c: &Cmd, msg_ref: &str, code: u16, target: Option<&str>) -> Cmd {
    Cmd {
        msg_ref: Some(msg_ref.into()),
        cmd_ref: Some(c.cmd_id.clone()),
        cmd: Some(c.kind.clone()),
        target_refs: target.map(|t| vec![t.to_owned()]).unwrap_or_default(),
        data: Some(code.to_string()),
        ..Cmd::new("Status")
    }
}

fn devinfo(h: &Handset) -> Cmd {
    let items = ["DmV", "Lang", "DevId", "Man", "Mod"]
        .iter()
        .map(|k| {
            let uri = format!("./DevInfo/{k}");
            Item {
                source: Some(uri.clone()),
                format: Some("chr".into()),
                typ: Some("text/plain".into()),
                data: Some(h.tree.value(&uri).unwrap_or_default().to_owned()),
                ..Item::default()
            }
        })
        .collect();
    Cmd { items, ..Cmd::new("Replace") }
}

fn alert(code: &str) -> Cmd {
    Cmd { data: Some(code.into()), ..Cmd::new("Alert") }
}

fn encode(enc: Encoding, m: &Msg) -> Result<Vec<u8>, StockError> {
    let xml = msg::to_xml(m);
    match enc {
        Encoding::Xml => Ok(xml),
        Encoding::Wbxml => wbxml::encode(&xml),
    }
}

/// Reads the answer as its Content-Type says (a WBXML document starts with its version byte).
fn decode(ct: Option<&str>, body: &[u8]) -> Result<(Msg, String), StockError> {
    let is_wbxml = ct.is_some_and(|c| c.contains("wbxml")) || body.first().is_some_and(|&b| b <= 0x03);
    let xml = if is_wbxml { wbxml::decode(body)? } else { body.to_vec() };
    let m = msg::from_xml(&xml)?;
    Ok((m, String::from_utf8_lossy(&xml).into_owned()))
}

/// Runs one session to its end.
pub(crate) fn run(h: &mut Handset, opening: Opening) -> Result<SessionLog, StockError> {
    let (session_id, mut outgoing) = match opening {
        Opening::Client { session_id, alerts } => {
            let mut cmds = vec![alert("1201"), devinfo(h)];
            cmds.extend(alerts);
            (session_id, cmds)
        }
        Opening::Server { session_id } => (session_id, vec![alert("1200"), devinfo(h)]),
    };
    let lim = h.profile.limits;
    let limits = http::HttpLimits { connect: lim.connect, answer: lim.answer, max_body: lim.max_body };
    let mut log = SessionLog {
        session_id: session_id.clone(),
        exchanges: Vec::new(),
        end: End::Final,
        server_proved: false,
        server_refusals: 0,
        auth_retries: 0,
        gets: Vec::new(),
    };
    let mut url = h.profile.account.addr.clone();
    let mut send_cred = true;
    for msg_id in 1u32.. {
        if log.exchanges.len() >= lim.max_messages {
            return Err(StockError::TooManyMessages(lim.max_messages));
        }
        let mut cmds = Vec::with_capacity(outgoing.len());
        for (i, mut c) in outgoing.drain(..).enumerate() {
            c.cmd_id = (i + 1).to_string();
            cmds.push(c);
        }
        // The commands of ours that need an answer, by the CmdID they went out with.
        let awaiting: Vec<Cmd> = cmds.iter().filter(|c| c.kind != "Status" && c.kind != "Results").cloned().collect();
        let a = &h.profile.account;
        let cred = send_cred.then(|| Cred {
            meta: AuthMeta { typ: MD5.into(), format: "b64".into(), next_nonce: None },
            data: auth_md5::md5_cred(&a.client_name, &a.client_password, &auth_md5::nonce_bytes(&h.client_nonce)),
        });
        let sent = Msg {
            hdr: Hdr {
                session_id: session_id.clone(),
                msg_id: msg_id.to_string(),
                target: a.addr.clone(),
                source: h.profile.dev_id.clone(),
                resp_uri: None,
                cred,
                max_msg_size: Some(lim.max_msg_size),
            },
            cmds,
            final_: true,
        };
        let bytes = encode(h.profile.encoding, &sent)?;
        let r = http::request("POST", &url, Some(h.profile.encoding.content_type()), &bytes, limits)?;
        if r.status != 200 {
            let body = String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).into_owned();
            return Err(StockError::Http { status: r.status, body });
        }
        let (received, received_xml) = decode(r.content_type.as_deref(), &r.body)?;
        log.exchanges.push(Exchange {
            url: url.clone(),
            sent: sent.clone(),
            sent_bytes: bytes,
            received: received.clone(),
            content_type: r.content_type.clone(),
            received_xml,
        });
        if let Some(next) = received.hdr.resp_uri.clone() {
            url = next;
        }

        // 1. What the server said about our message.
        send_cred = false;
        let mut resend: Vec<Cmd> = Vec::new();
        let mut challenged = false;
        for s in received.cmds.iter().filter(|c| c.kind == "Status") {
            let md5_nonce = s.chal.as_ref().filter(|c| c.typ == MD5).and_then(|c| c.next_nonce.clone());
            let is_header = s.cmd_ref.as_deref() == Some("0") || s.cmd.as_deref() == Some("SyncHdr");
            let code = s.code();
            if is_header {
                if let Some(n) = &md5_nonce {
                    h.client_nonce = n.clone();
                }
                match code {
                    200 | 212 => {}
                    401 | 407 if md5_nonce.is_some() => challenged = true,
                    other => {
                        log.end = End::Refused(other);
                        return Ok(log);
                    }
                }
            } else if matches!(code, 401 | 407) {
                if let Some(n) = &md5_nonce {
                    h.client_nonce = n.clone();
                }
                let refd = s.cmd_ref.as_deref().unwrap_or_default();
                if let Some(c) = awaiting.iter().find(|c| c.cmd_id == refd)
                    && !resend.iter().any(|r| r.cmd_id == c.cmd_id)
                {
                    resend.push(c.clone());
                }
            }
        }
        if challenged && resend.is_empty() {
            // A header challenge alone: the whole message goes again.
            resend = awaiting.clone();
        }
        if !resend.is_empty() {
            log.auth_retries += 1;
            if log.auth_retries > lim.max_auth_retries {
                log.end = End::Refused(received.header_status().map(Cmd::code).unwrap_or(401));
                return Ok(log);
            }
            send_cred = true;
        }

        // 2. Did the server prove itself?
        let commands: Vec<&Cmd> = received.cmds.iter().filter(|c| c.kind != "Status" && c.kind != "Results").collect();
        let proof_ok = received.hdr.cred.as_ref().map(|c| {
            c.meta.typ == MD5
                && c.data == auth_md5::md5_cred(&a_server(h).0, &a_server(h).1, &auth_md5::nonce_bytes(&h.server_nonce))
        });
        let proved = match proof_ok {
            Some(ok) => ok,
            // Once proved in this session, later messages need not carry it again.
            None => log.server_proved,
        };
        let msg_ref = received.hdr.msg_id.clone();
        let mut hdr_status = Cmd {
            msg_ref: Some(msg_ref.clone()),
            cmd_ref: Some("0".into()),
            cmd: Some("SyncHdr".into()),
            target_refs: vec![received.hdr.target.clone()],
            source_refs: vec![received.hdr.source.clone()],
            ..Cmd::new("Status")
        };
        let will_send = !commands.is_empty() || !resend.is_empty();
        let mut reply: Vec<Cmd> = Vec::new();
        if proved {
            log.server_proved = true;
            let checked = proof_ok.is_some();
            hdr_status.data = Some(if checked { "212" } else { "200" }.into());
            if checked && (will_send || h.profile.nonce_rotation == NonceRotation::EveryCheck) {
                h.server_nonce = auth_md5::fresh_nonce();
                hdr_status.chal = Some(chal(&h.server_nonce));
            }
            reply.push(hdr_status);
            for c in &commands {
                execute(h, c, &msg_ref, &mut reply, &mut log);
            }
        } else {
            log.server_refusals += 1;
            if log.server_refusals > lim.max_server_refusals {
                return Err(StockError::ServerNotAuthenticated { refusals: log.server_refusals });
            }
            h.server_nonce = auth_md5::fresh_nonce();
            hdr_status.data = Some("401".into());
            hdr_status.chal = Some(chal(&h.server_nonce));
            reply.push(hdr_status);
            // Nothing runs without a proven server.
            for c in &commands {
                reply.push(status(c, &msg_ref, 401, None));
            }
        }
        // Nothing asked and nothing to re-send: over. A server that has not proved itself and
        // ended its package with Final gets the refusal (and a nonce) instead, a bounded number of times.
        if commands.is_empty() && resend.is_empty() && (proved || !received.final_) {
            log.end = if received.final_ { End::Final } else { End::NoFinal };
            return Ok(log);
        }
        outgoing = reply;
        outgoing.extend(resend);
    }
    Ok(log)
}

fn a_server(h: &Handset) -> (String, String) {
    (h.profile.account.server_name.clone(), h.profile.account.server_password.clone())
}

fn chal(nonce: &str) -> AuthMeta {
    AuthMeta { typ: MD5.into(), format: "b64".into(), next_nonce: Some(nonce.into()) }
}

/// The download node `<root>/Download/<x>` an Exec of `node` names, when `node` is its
/// `Operations/DownloadInstall` and the handset has a SCOMO root with that download node.
fn scomo_download(h: &Handset, node: &str) -> Option<String> {
    let root = h.profile.scomo.as_deref()?;
    let dl = node.strip_suffix("/Operations/DownloadInstall")?;
    let x = dl.strip_prefix(&format!("{root}/Download/"))?;
    (!x.is_empty() && !x.contains('/') && h.tree.node(dl).is_some()).then(|| dl.to_owned())
}

/// Runs one server command against the tree; pushes its Status (and Results).
fn execute(h: &mut Handset, c: &Cmd, msg_ref: &str, out: &mut Vec<Cmd>, log: &mut SessionLog) {
    let fumo = h.profile.fumo.clone();
    match c.kind.as_str() {
        "Atomic" | "Sequence" => {
            out.push(status(c, msg_ref, 200, None));
            for inner in &c.inner {
                execute(h, inner, msg_ref, out, log);
            }
        }
        "Alert" => {
            // UI alerts (display, confirm, input, choice) and session alerts: acknowledged.
            let code = c.data.as_deref().unwrap_or_default();
            let ok = matches!(code, "1100" | "1101" | "1102" | "1103" | "1104" | "1222" | "1223");
            out.push(status(c, msg_ref, if ok { 200 } else { 406 }, None));
        }
        "Get" => {
            let mut results = Vec::new();
            for it in &c.items {
                let uri = it.target.clone().unwrap_or_default();
                log.gets.push(uri.clone());
                match h.tree.get(&uri) {
                    Ok(v) => {
                        out.push(status(c, msg_ref, 200, Some(&uri)));
                        results.push(Item {
                            source: Some(uri),
                            // A property's value goes without Meta (TND 7.4).
                            format: (!v.format.is_empty()).then_some(v.format),
                            typ: v.typ,
                            data: Some(v.data),
                            ..Item::default()
                        });
                    }
                    Err(code) => out.push(status(c, msg_ref, code, Some(&uri))),
                }
            }
            if c.items.is_empty() {
                out.push(status(c, msg_ref, 400, None));
            }
            if !results.is_empty() {
                out.push(Cmd {
                    msg_ref: Some(msg_ref.into()),
                    cmd_ref: Some(c.cmd_id.clone()),
                    items: results,
                    ..Cmd::new("Results")
                });
            }
        }
        "Replace" | "Add" | "Delete" => {
            for it in &c.items {
                let uri = it.target.clone().unwrap_or_default();
                let data = it.data.as_deref().unwrap_or_default();
                let code = match c.kind.as_str() {
                    "Replace" => h.tree.replace(&uri, data),
                    "Add" => h.tree.add(&uri, data, it.format.as_deref().or(c.format.as_deref())),
                    _ => h.tree.delete(&uri),
                };
                out.push(status(c, msg_ref, code, Some(&uri)));
            }
            if c.items.is_empty() {
                out.push(status(c, msg_ref, 400, None));
            }
        }
        "Exec" => {
            for it in &c.items {
                let uri = it.target.clone().unwrap_or_default();
                let node = super::tree::normalize(&uri).unwrap_or_default();
                let code = if node == format!("{fumo}/DownloadAndUpdate") {
                    let pkg_url = h.tree.value(&format!("{fumo}/DownloadAndUpdate/PkgURL")).unwrap_or_default();
                    if pkg_url.is_empty() {
                        // Nothing to download: FUMO's "not acceptable".
                        405
                    } else {
                        h.pending = Some(FumoJob {
                            node,
                            app: false,
                            correlator: c.correlator.clone(),
                            url: pkg_url.to_owned(),
                        });
                        202
                    }
                } else if let Some(dl) = scomo_download(h, &node) {
                    // SCOMO 1.0, 5.4.1: DownloadInstall of a download node the server added.
                    match h.tree.value(&format!("{dl}/PkgURL")).filter(|u| !u.is_empty()) {
                        Some(url) => {
                            let url = url.to_owned();
                            h.pending = Some(FumoJob { node, app: true, correlator: c.correlator.clone(), url });
                            202
                        }
                        None => 405,
                    }
                } else if h.tree.node(&uri).is_some() {
                    405
                } else {
                    404
                };
                out.push(status(c, msg_ref, code, Some(&uri)));
            }
        }
        _ => out.push(status(c, msg_ref, 406, None)),
    }
}
