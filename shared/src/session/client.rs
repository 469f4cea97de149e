//! The client side of a DM session, as dmclient runs it.
//!
//! Call order: create with [`ClientSession::server_initiated`] (after a trigger) or
//! [`ClientSession::report`] (to report a result); send [`ClientSession::first_message`];
//! then feed each server answer to [`ClientSession::handle`] and send what
//! [`ClientStep::Send`] carries until [`ClientStep::Done`].

use std::collections::BTreeMap;

use super::{CmdIds, ProtocolError, check_version, command_status, message, reply_header};
use crate::auth::HmacProof;
use crate::auth::client::{ClientAuth, HeaderOutcome};
use crate::device::{DEVINFO, DeviceDetails};
use crate::fumo::{FumoDelivery, FumoResult, ROOT as FUMO_ROOT};
use crate::syncml::codes::{AlertCode, SESSION_TOKEN_TYPE, StatusCode};
use crate::syncml::{Alert, Command, Item, ItemCommand, Meta, Results, Status, SyncHdr, SyncMl};

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
    ended: bool,
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
            ended: false,
        }
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

    /// A client-initiated session that reports `result`.
    pub fn report(device: DeviceDetails, server_uri: &str, session_id_hex: &str, result: &FumoResult) -> Self {
        let mut s = Self::new(device, server_uri, session_id_hex);
        let mut ids = CmdIds::default();
        s.opening = vec![
            Command::Alert(Alert { cmd_id: ids.next(), data: AlertCode::CLIENT_INITIATED.0, ..Alert::default() }),
            s.devinfo(ids.next()),
            Command::Alert(result.alert(ids.next())),
        ];
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

    /// The deliveries the server has handed over (accepted with 202).
    pub fn deliveries(&self) -> &[FumoDelivery] {
        &self.deliveries
    }

    /// The server's statuses for the result alerts of a report session.
    pub fn report_statuses(&self) -> &[StatusCode] {
        &self.report_statuses
    }

    fn header(&mut self) -> SyncHdr {
        let mut h = reply_header(&SyncHdr::default(), self.next_msg_id, &self.device.dev_id, &self.server_uri);
        h.session_id = self.session_id.clone();
        h.cred = self.auth.as_ref().and_then(ClientAuth::cred);
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
            match c {
                Command::Status(s) => self.take_status(s)?,
                Command::Get(g) => {
                    answered = true;
                    let found: Vec<Item> = g
                        .items
                        .iter()
                        .filter_map(|i| i.target.as_deref())
                        .filter_map(|u| self.device.items(&[u]).pop())
                        .collect();
                    let code = if found.is_empty() { StatusCode::NOT_FOUND } else { StatusCode::OK };
                    out.push(Command::Status(command_status(&msg.hdr.msg_id, c, ids.next(), code)));
                    if !found.is_empty() {
                        out.push(Command::Results(Results {
                            cmd_id: ids.next(),
                            msg_ref: Some(msg.hdr.msg_id.clone()),
                            cmd_ref: g.cmd_id.clone(),
                            items: found,
                            ..Results::default()
                        }));
                    }
                }
                Command::Replace(r) | Command::Add(r) => {
                    answered = true;
                    let ok = r.items.iter().all(|i| i.target.as_deref().is_some_and(|t| t.starts_with(FUMO_ROOT)));
                    if ok {
                        for i in &r.items {
                            if let (Some(t), Some(d)) = (&i.target, &i.data) {
                                self.tree.insert(t.clone(), d.clone());
                            }
                        }
                    }
                    let code = if ok { StatusCode::OK } else { StatusCode::NOT_ALLOWED };
                    out.push(Command::Status(command_status(&msg.hdr.msg_id, c, ids.next(), code)));
                }
                Command::Exec(e) => {
                    answered = true;
                    let target = e.items.first().and_then(|i| i.target.as_deref()).unwrap_or_default();
                    let code = match FumoDelivery::from_tree(&self.tree, target, e.correlator.as_deref()) {
                        Some(d) => {
                            self.deliveries.push(d);
                            StatusCode::ACCEPTED
                        }
                        None => StatusCode::NOT_FOUND,
                    };
                    let mut st = command_status(&msg.hdr.msg_id, c, ids.next(), code);
                    st.target_refs = vec![target.to_owned()];
                    out.push(Command::Status(st));
                }
                Command::Alert(_)
                | Command::Delete(_)
                | Command::Copy(_)
                | Command::Atomic(_)
                | Command::Sequence(_) => {
                    answered = true;
                    out.push(Command::Status(command_status(
                        &msg.hdr.msg_id,
                        c,
                        ids.next(),
                        StatusCode::NOT_SUPPORTED,
                    )));
                }
                Command::Results(_) => {}
            }
        }
        if !msg.body.final_ {
            // The server holds its package open: ask for the next message.
            out.push(Command::Alert(Alert { cmd_id: ids.next(), data: AlertCode::NEXT_MESSAGE.0, ..Alert::default() }));
            let hdr = self.header();
            return Ok(ClientStep::Send(Box::new(message(hdr, out, false))));
        }
        if !answered {
            self.ended = true;
            return Ok(ClientStep::Done);
        }
        let hdr = self.header();
        Ok(ClientStep::Send(Box::new(message(hdr, out, true))))
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

#[cfg(test)]
mod tests;
