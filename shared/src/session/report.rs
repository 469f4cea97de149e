//! The server side of a client-initiated session that reports FUMO results (Alert 1201 with
//! generic alerts 1226). It is one exchange: read the results with [`ReportOpening::read`],
//! record them, then answer with [`ReportOpening::reply`] giving one status per result.
//! A report of a finished two-step download is answered instead with
//! [`ReportOpening::reply_ordering_update`], which opens a short session for the `Update`.

use super::{CmdIds, ProtocolError, check_version, command_status, header_status, message, reply_header};
use crate::device::DeviceDetails;
use crate::fumo::{FumoResult, UpdateOrder};
use crate::media::DmEncoding;
use crate::session::server::ServerSession;
use crate::syncml::codes::{AlertCode, StatusCode};
use crate::syncml::{Command, SyncMl};

/// A client-initiated session that carries results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOpening {
    /// The device as it describes itself.
    pub device: DeviceDetails,
    /// The FUMO results, in message order.
    pub results: Vec<FumoResult>,
}

impl ReportOpening {
    /// Whether `msg` opens a client-initiated session (Alert 1201).
    pub fn is_report(msg: &SyncMl) -> bool {
        msg.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.code() == AlertCode::CLIENT_INITIATED))
    }

    /// Reads the device and results of a client-initiated package 1. Without the proof that the
    /// device's credentials were accepted (`proved`) the session must carry a result: a result names its
    /// delivery's random correlator, which is the proof; anything else needs credentials.
    pub fn read(msg: &SyncMl, proved: Option<&crate::auth::server::ClientProved>) -> Result<Self, ProtocolError> {
        check_version(&msg.hdr)?;
        if !Self::is_report(msg) {
            return Err(ProtocolError::Incomplete("no Alert 1201"));
        }
        let mut device = DeviceDetails { dev_id: msg.hdr.source.clone(), ..DeviceDetails::default() };
        let mut results = Vec::new();
        for c in &msg.body.commands {
            match c {
                Command::Replace(r) => device.absorb(&r.items),
                Command::Alert(a) => results.extend(FumoResult::from_alert(a)),
                _ => {}
            }
        }
        if device.dev_id != msg.hdr.source {
            return Err(ProtocolError::Unexpected("./DevInfo/DevId differs from the header Source"));
        }
        if results.is_empty() && proved.is_none() {
            return Err(ProtocolError::NeedsCredentials("a client-initiated session without a result"));
        }
        Ok(ReportOpening { device, results })
    }

    /// The answer: `verdicts[i]` is the status for `results[i]`; the session ends.
    pub fn reply(&self, msg: &SyncMl, server_uri: &str, verdicts: &[StatusCode]) -> SyncMl {
        message(reply_header(&msg.hdr, 1, server_uri, &msg.hdr.source), self.statuses(msg, verdicts), true)
    }

    /// The answer with `verdicts` that ends an authenticated device's report session; the
    /// returned session (persist it) answers a refusal of the server's proof again.
    pub fn reply_closing(
        &self,
        msg: &SyncMl,
        server_uri: &str,
        verdicts: &[StatusCode],
        wire: DmEncoding,
        continuation: super::continuation::Continuation,
    ) -> (ServerSession, SyncMl) {
        let statuses = self.statuses(msg, verdicts);
        ServerSession::closing(msg, self.device.clone(), statuses, server_uri, wire, continuation)
    }

    /// The answer with `verdicts`, followed by the order to install a package whose download
    /// this report says is done; the returned session (persist it) takes the Exec's status.
    pub fn reply_ordering_update(
        &self,
        msg: &SyncMl,
        server_uri: &str,
        verdicts: &[StatusCode],
        order: &UpdateOrder,
        wire: DmEncoding,
        continuation: super::continuation::Continuation,
    ) -> (ServerSession, SyncMl) {
        let statuses = self.statuses(msg, verdicts);
        ServerSession::ordering_update(msg, self.device.clone(), statuses, order, server_uri, wire, continuation)
    }

    /// The header status and one status per command of `msg`, numbered from 1.
    fn statuses(&self, msg: &SyncMl, verdicts: &[StatusCode]) -> Vec<Command> {
        let mut ids = CmdIds::default();
        let mut cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), StatusCode::AUTH_ACCEPTED))];
        let mut nth = 0;
        for c in &msg.body.commands {
            let code = match c {
                Command::Status(_) | Command::Results(_) => continue,
                c if c.no_resp() => continue,
                Command::Alert(a) if FumoResult::from_alert(a).is_some() => {
                    let v = verdicts.get(nth).copied().unwrap_or(StatusCode::FAILED);
                    nth += 1;
                    v
                }
                _ => StatusCode::OK,
            };
            cmds.push(Command::Status(command_status(&msg.hdr.msg_id, c, ids.next(), code)));
        }
        cmds
    }
}
