//! The client side of a DM session, as dmclient runs it.
//!
//! Call order: create with [`ClientSession::server_initiated`] (after a trigger) or
//! [`ClientSession::report`] (to report a result); send [`ClientSession::first_message`];
//! then feed each server answer to [`ClientSession::handle`] and send what
//! [`ClientStep::Send`] carries until [`ClientStep::Done`].

use std::collections::BTreeMap;

use super::package::{Assembled, Assembler, Limits, Outbox};
use super::{CmdIds, ProtocolError, check_version, command_status, message, reply_header};
use crate::auth::HmacProof;
use crate::auth::client::{ClientAuth, HeaderOutcome};
use crate::device::{DEVINFO, DeviceDetails};
use crate::fumo::{FumoDelivery, FumoResult, UpdateOrder};
use crate::media::DmEncoding;
use crate::syncml::codes::{AlertCode, SESSION_TOKEN_TYPE, StatusCode};
use crate::syncml::{Alert, Command, Item, ItemCommand, Meta, Results, Status, SyncHdr, SyncMl};

/// The largest object dmclient takes inside a session (an inline firmware package, as base64).
pub const MAX_OBJ_SIZE: u64 = 16 << 20;

/// A SessionID for a client-initiated session: 16 random bits, never 0, in the hex form
/// package #0 session ids take.
pub fn fresh_session_id(rng: &mut dyn crate::rand::SecureRandom) -> Result<String, crate::rand::RandomUnavailable> {
    Ok(format!("{:X}", u16::from_be_bytes(crate::rand::bytes::<2>(rng)?).max(1)))
}

/// What the caller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum ClientStep {
    /// Send this message.
    Send(Box<SyncMl>),
    /// The session is over.
    Done,
}

/// A client-side DM session.
#[derive(Debug, Clone)]
pub struct ClientSession {
    device: DeviceDetails,
    server_uri: String,
    session_id: String,
    next_msg_id: u32,
    opening: Vec<Command>,
    tree: BTreeMap<String, String>,
    deliveries: Vec<FumoDelivery>,
    report_statuses: Vec<StatusCode>,
    auth: Option<ClientAuth>,
    wire: DmEncoding,
    resp_uri: Option<String>,
    peer: Limits,
    outbox: Outbox,
    inbox: Assembler,
    ended: bool,
    /// Where a server may set values besides the FUMO and SCOMO download subtrees.
    settings_roots: Vec<String>,
    /// The FUMO node whose finished download this session reports: the one node the server
    /// may order an `Update` for.
    awaiting_update: Option<String>,
    /// The Updates the server ordered (accepted with 202).
    updates: Vec<UpdateOrder>,
}

impl ClientSession {
    fn new(device: DeviceDetails, server_uri: &str, session_id: &str) -> Self {
        ClientSession {
            device,
            server_uri: server_uri.to_owned(),
            session_id: session_id.to_owned(),
            next_msg_id: 1,
            opening: Vec::new(),
            tree: BTreeMap::new(),
            deliveries: Vec::new(),
            report_statuses: Vec::new(),
            auth: None,
            wire: DmEncoding::Xml,
            resp_uri: None,
            peer: Limits::default(),
            outbox: Outbox::default(),
            inbox: Assembler::default(),
            ended: false,
            settings_roots: vec![crate::settings::DEFAULT_ROOT.to_owned()],
            awaiting_update: None,
            updates: Vec::new(),
        }
    }

    /// The subtrees a server may set values in (settings packages), instead of `./Settings/`.
    pub fn with_settings_roots(mut self, roots: Vec<String>) -> Self {
        self.settings_roots = roots;
        self
    }

    /// The values the server set under the settings roots in this session (applied: an
    /// `Atomic` that failed left none).
    pub fn settings_written(&self) -> Vec<(String, String)> {
        self.tree
            .iter()
            .filter(|(k, _)| self.settings_roots.iter().any(|r| k.starts_with(r.as_str())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether the server may write `uri`: under the FUMO or SCOMO download subtrees or a
    /// settings root, and never through a `.` or `..` segment.
    fn may_write(&self, uri: &str) -> bool {
        let plain =
            uri.strip_prefix("./").is_some_and(|rest| rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
        plain && (crate::fumo::is_writable(uri) || self.settings_roots.iter().any(|r| uri.starts_with(r.as_str())))
    }

    /// A session answering a trigger: Alert 1200, DevInfo, and the session token.
    pub fn server_initiated(device: DeviceDetails, server_uri: &str, session_id_hex: &str, token: &str) -> Self {
        let mut s = Self::new(device, server_uri, session_id_hex);
        let mut ids = CmdIds::default();
        s.opening = vec![
            Command::Alert(Alert { cmd_id: ids.next(), data: AlertCode::SERVER_INITIATED.0, ..Alert::default() }),
            s.devinfo(ids.next()),
            Command::Alert(Alert {
                cmd_id: ids.next(),
                data: AlertCode::GENERIC.0,
                items: vec![Item {
                    meta: Meta::typed(Some("chr"), Some(SESSION_TOKEN_TYPE)),
                    data: Some(token.to_owned()),
                    ..Item::default()
                }],
                ..Alert::default()
            }),
        ];
        s
    }

    /// A client-initiated session asking for a firmware update (`dmclient check`): Alert 1201,
    /// DevInfo, and the FUMO device-request generic alert. Needs a DM account.
    pub fn check(device: DeviceDetails, server_uri: &str, session_id_hex: &str) -> Self {
        let mut s = Self::new(device, server_uri, session_id_hex);
        let mut ids = CmdIds::default();
        s.opening = vec![
            Command::Alert(Alert { cmd_id: ids.next(), data: AlertCode::CLIENT_INITIATED.0, ..Alert::default() }),
            s.devinfo(ids.next()),
            Command::Alert(crate::fumo::device_request(ids.next())),
        ];
        s
    }

    /// A client-initiated session that reports `result`.
    pub fn report(device: DeviceDetails, server_uri: &str, session_id_hex: &str, result: &FumoResult) -> Self {
        let mut s = Self::new(device, server_uri, session_id_hex);
        let mut ids = CmdIds::default();
        s.opening = vec![
            Command::Alert(Alert { cmd_id: ids.next(), data: AlertCode::CLIENT_INITIATED.0, ..Alert::default() }),
            s.devinfo(ids.next()),
            Command::Alert(result.alert(ids.next())),
        ];
        s.awaiting_update = result.downloaded_node().map(str::to_owned);
        s
    }

    /// Authenticates this session with a DM account (without one, the session token or the
    /// result report is the only proof).
    pub fn with_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The session's authentication state (its nonces are kept for the next session).
    pub fn auth(&self) -> Option<&ClientAuth> {
        self.auth.as_ref()
    }

    /// The `x-syncml-hmac` header to send with `body`, when the account uses HMAC.
    pub fn hmac_header(&self, body: &[u8]) -> Option<String> {
        self.auth.as_ref().and_then(|a| a.hmac(body))
    }

    fn devinfo(&self, cmd_id: String) -> Command {
        Command::Replace(ItemCommand { cmd_id, items: self.device.items(&DEVINFO), ..ItemCommand::default() })
    }

    /// Package 1.
    pub fn first_message(&mut self) -> SyncMl {
        let hdr = self.header();
        message(hdr, self.opening.clone(), true)
    }

    /// How many messages this side has built (each one is one HTTP request).
    pub fn messages_sent(&self) -> u32 {
        self.next_msg_id - 1
    }

    /// The deliveries the server has handed over (accepted with 202).
    pub fn deliveries(&self) -> &[FumoDelivery] {
        &self.deliveries
    }

    /// The Updates the server ordered for a reported download (accepted with 202).
    pub fn updates_ordered(&self) -> &[UpdateOrder] {
        &self.updates
    }

    /// The server's statuses for the result alerts of a report session.
    pub fn report_statuses(&self) -> &[StatusCode] {
        &self.report_statuses
    }

    fn header(&mut self) -> SyncHdr {
        let mut h = reply_header(&SyncHdr::default(), self.next_msg_id, &self.device.dev_id, &self.server_uri);
        h.session_id = self.session_id.clone();
        h.cred = self.auth.as_ref().and_then(ClientAuth::cred);
        h.meta.max_obj_size = Some(MAX_OBJ_SIZE);
        self.next_msg_id += 1;
        h
    }

    /// Takes a server message and says what to send next.
    pub fn handle(&mut self, msg: &SyncMl) -> Result<ClientStep, ProtocolError> {
        self.handle_proved(msg, HmacProof::NONE)
    }

    /// [`ClientSession::handle`] with the transport's HMAC proof (checked under HMAC).
    pub fn handle_proved(&mut self, msg: &SyncMl, proof: HmacProof<'_>) -> Result<ClientStep, ProtocolError> {
        if self.ended {
            return Err(ProtocolError::Ended);
        }
        check_version(&msg.hdr)?;
        if !msg.hdr.session_id.eq_ignore_ascii_case(&self.session_id) {
            return Err(ProtocolError::Unexpected("answer is for another session"));
        }
        if let Some(auth) = &mut self.auth {
            let ours = msg.body.commands.iter().find_map(|c| match c {
                Command::Status(s) if s.cmd == "SyncHdr" && s.cmd_ref == "0" => Some(s),
                _ => None,
            });
            if let Some(s) = ours
                && auth.on_header_status(s)? == HeaderOutcome::Retry
            {
                // Challenged: nothing was executed; open again with the new nonce.
                return Ok(ClientStep::Send(Box::new(self.first_message())));
            }
        }
        if self.auth.as_ref().is_some_and(ClientAuth::server_refused) {
            // The server was told it failed to prove itself; whatever it says now is not obeyed.
            self.ended = true;
            return Ok(ClientStep::Done);
        }
        self.peer = self.peer.updated(&msg.hdr);
        if let Some(u) = msg.hdr.resp_uri.as_deref().filter(|u| same_origin(u, &self.server_uri)) {
            self.resp_uri = Some(u.to_owned());
        }
        let (code, chal) = match &mut self.auth {
            Some(a) => a.check_server(msg, proof),
            None => (StatusCode::OK, None),
        };
        let mut ids = CmdIds::default();
        let mut out = vec![Command::Status(Status {
            cmd_id: ids.next(),
            msg_ref: msg.hdr.msg_id.clone(),
            cmd_ref: "0".into(),
            cmd: "SyncHdr".into(),
            target_refs: vec![msg.hdr.target.clone()],
            source_refs: vec![msg.hdr.source.clone()],
            chal,
            data: code.0,
            ..Status::default()
        })];
        if code.0 >= 400 {
            // Execute nothing for a server that did not prove itself; hand it a fresh nonce.
            let hdr = self.header();
            return Ok(ClientStep::Send(Box::new(message(hdr, out, true))));
        }
        let mut answered = false;
        for c in &msg.body.commands {
            if let Command::Status(st) = c {
                self.take_status(st)?;
                continue;
            }
            answered |= !matches!(c, Command::Results(_))
                && !matches!(c, Command::Alert(a) if a.code() == AlertCode::NEXT_MESSAGE);
            self.execute(&msg.hdr.msg_id, c, &mut ids, &mut out);
        }
        let asks_more =
            msg.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.code() == AlertCode::NEXT_MESSAGE));
        if !msg.body.final_ && !asks_more {
            // The server's package goes on (a held package 4, a chunked object): ask for
            // its next message.
            out.push(Command::Alert(Alert { cmd_id: ids.next(), data: AlertCode::NEXT_MESSAGE.0, ..Alert::default() }));
            return Ok(ClientStep::Send(Box::new(self.send(out, false))));
        }
        if !answered && !asks_more && self.outbox.is_empty() {
            self.ended = true;
            return Ok(ClientStep::Done);
        }
        Ok(ClientStep::Send(Box::new(self.send(out, true))))
    }

    /// Runs one server command, appending its Status (unless `NoResp`) and any Results to
    /// `out`; returns the status code.
    fn execute(&mut self, msg_id: &str, c: &Command, ids: &mut CmdIds, out: &mut Vec<Command>) -> StatusCode {
        let mut results = None;
        let mut nested = Vec::new();
        let code = match c {
            Command::Get(g) => {
                let found: Vec<Item> = g
                    .items
                    .iter()
                    .filter_map(|i| i.target.as_deref())
                    .filter_map(|u| self.device.items(&[u]).pop())
                    .collect();
                if found.is_empty() {
                    StatusCode::NOT_FOUND
                } else {
                    results = Some(found);
                    StatusCode::OK
                }
            }
            Command::Replace(r) | Command::Add(r) => {
                let ok = r.items.iter().all(|i| i.target.as_deref().is_some_and(|t| self.may_write(t)));
                let mut code = if ok { StatusCode::OK } else { StatusCode::NOT_ALLOWED };
                for i in r.items.iter().filter(|_| ok) {
                    // Chunked values (MoreData) are joined before they are stored.
                    match self.inbox.take(i, Some(MAX_OBJ_SIZE)) {
                        Assembled::Complete(i) => {
                            if let (Some(t), Some(d)) = (i.target, i.data) {
                                self.tree.insert(t, d);
                            }
                        }
                        Assembled::Buffered => code = StatusCode::CHUNK_BUFFERED,
                        Assembled::Refused(c) => code = c,
                    }
                }
                code
            }
            Command::Exec(e) => {
                let target = e.items.first().and_then(|i| i.target.as_deref()).unwrap_or_default();
                let order = UpdateOrder::from_exec(target, e.correlator.as_deref())
                    .filter(|o| self.awaiting_update.as_deref() == Some(o.node.as_str()));
                match (FumoDelivery::from_tree(&self.tree, target, e.correlator.as_deref()), order) {
                    (Some(d), _) => {
                        self.deliveries.push(d);
                        StatusCode::ACCEPTED
                    }
                    // Only the download this session reports can be updated, and only once.
                    (None, Some(o)) if self.updates.is_empty() => {
                        self.updates.push(o);
                        StatusCode::ACCEPTED
                    }
                    (None, _) => StatusCode::NOT_FOUND,
                }
            }
            // The server asks for the rest of this client's package.
            Command::Alert(a) if a.code() == AlertCode::NEXT_MESSAGE => StatusCode::OK,
            Command::Sequence(seq) => {
                // In order; a failure does not stop the rest (RepPro 6.6.14).
                for inner in &seq.commands {
                    self.execute(msg_id, inner, ids, &mut nested);
                }
                StatusCode::OK
            }
            Command::Atomic(atomic) => {
                // All or nothing: on any failure the tree and deliveries are put back, the
                // commands that had worked report 216 and the Atomic 507 (RepPro 6.6.3).
                let (tree, deliveries, updates) = (self.tree.clone(), self.deliveries.len(), self.updates.len());
                let codes: Vec<StatusCode> =
                    atomic.commands.iter().map(|inner| self.execute(msg_id, inner, ids, &mut nested)).collect();
                if codes.iter().any(|c| c.0 >= 300) {
                    self.tree = tree;
                    self.deliveries.truncate(deliveries);
                    self.updates.truncate(updates);
                    for st in nested.iter_mut() {
                        if let Command::Status(st) = st
                            && st.data < 300
                        {
                            st.data = StatusCode::ROLLED_BACK.0;
                        }
                    }
                    nested.retain(|c| !matches!(c, Command::Results(_)));
                    StatusCode::ATOMIC_FAILED
                } else {
                    StatusCode::OK
                }
            }
            Command::Results(_) | Command::Status(_) => return StatusCode::OK,
            Command::Alert(_) | Command::Delete(_) | Command::Copy(_) => StatusCode::NOT_SUPPORTED,
        };
        if !c.no_resp() {
            let mut st = command_status(msg_id, c, ids.next(), code);
            if let Command::Exec(e) = c {
                st.target_refs = e.items.first().and_then(|i| i.target.clone()).into_iter().collect();
            }
            out.push(Command::Status(st));
        }
        if let (Some(items), Command::Get(g)) = (results, c) {
            out.push(Command::Results(Results {
                cmd_id: ids.next(),
                msg_ref: Some(msg_id.to_owned()),
                cmd_ref: g.cmd_id.clone(),
                items,
                ..Results::default()
            }));
        }
        out.append(&mut nested);
        code
    }

    /// A message with the statuses at the head of `out`, then as much of the rest (and of
    /// what is still queued) as fits the server's MaxMsgSize.
    fn send(&mut self, mut out: Vec<Command>, final_: bool) -> SyncMl {
        let split = out.iter().position(|c| !matches!(c, Command::Status(_))).unwrap_or(out.len());
        let rest = out.split_off(split);
        self.outbox.push(rest, final_);
        let hdr = self.header();
        let mut msg = message(hdr, out, false);
        self.outbox.fill(&mut msg, self.peer, self.wire);
        msg
    }

    /// Where the next message goes: the server's `RespURI`, when it gave one on the same
    /// origin as the configured DM URL (a server cannot send the device elsewhere), else
    /// the DM URL.
    pub fn next_url(&self) -> &str {
        self.resp_uri.as_deref().unwrap_or(&self.server_uri)
    }

    /// The package bytes of an inline delivery (`Update/PkgData`), once received.
    pub fn pkg_data(&self, delivery: &FumoDelivery) -> Option<Vec<u8>> {
        delivery.pkg_data(&self.tree)
    }

    /// Sets the wire encoding, which message sizes are measured in (XML by default).
    pub fn with_wire(mut self, wire: DmEncoding) -> Self {
        self.wire = wire;
        self
    }

    fn take_status(&mut self, s: &Status) -> Result<(), ProtocolError> {
        let code = s.code();
        // A refused header ends the session: challenges an account can answer were followed
        // by ClientAuth before this point, so what reaches here is final.
        if s.cmd == "SyncHdr" && code.0 >= 400 {
            return Err(if matches!(code.0, 401 | 407) {
                ProtocolError::Unauthorized(code.0)
            } else {
                ProtocolError::Refused(code.0)
            });
        }
        let is_result_alert = s.cmd == "Alert"
            && self.opening.iter().any(
                |c| matches!(c, Command::Alert(a) if a.cmd_id == s.cmd_ref && FumoResult::from_alert(a).is_some()),
            );
        if is_result_alert && s.msg_ref == "1" {
            self.report_statuses.push(code);
        }
        Ok(())
    }
}

/// Whether two http(s) URLs share scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    fn origin(u: &str) -> Option<String> {
        let (scheme, rest) = u.split_once("://")?;
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return None;
        }
        let host = rest.split(['/', '?', '#']).next()?;
        if host.is_empty() || host.contains('@') {
            return None;
        }
        Some(format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
    }
    origin(a).is_some_and(|o| Some(o) == origin(b))
}
