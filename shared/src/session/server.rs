//! The server side of a portal-triggered DM session (docs/architecture.md, "The DM session").
//!
//! Call order: [`ServerSession::accept_portal`] with package 1 and a verified token (it
//! answers package 2: `Get ./DevDetail/…`); then [`ServerSession::handle`] for each later
//! client message. When it returns [`Step::AwaitChoice`], the device is known: tell the
//! portal, wait (≤ 25 s) for the user, and answer with exactly one of
//! [`ServerSession::poll_hold`] (no choice yet, no `Final`), [`ServerSession::poll_deliver`]
//! (the delivery, with `Final`) or [`ServerSession::poll_end`] (session over). A repeated
//! client message gets [`Step::Repeat`]: resend the previous answer; unless its answer is
//! still owed (the session was stored while its package 4 waits): then it is held again.
//! A session read back while its message waits says where that message stands
//! ([`ServerSession::held_message`], [`ServerSession::held_answer`]).

use serde::{Deserialize, Serialize};

use super::continuation::{Continuation, opening_digest};
use super::discovery::{Answers, Discovery, Next};
use super::package::{Assembled, Assembler, Limits, Outbox};
use super::{CmdIds, ProtocolError, check_version, command_status, header_status, message, reply_header};
use crate::auth::server::MAX_TRIES;
use crate::device::{DEVDETAIL, DEVINFO, DeviceDetails};
use crate::fumo::{DeliveryKind, FumoDelivery};
use crate::media::DmEncoding;
use crate::profile::DeviceProfile;
use crate::syncml::codes::{AlertCode, SESSION_TOKEN_TYPE, StatusCode};
use crate::syncml::{Alert, Command, Item, ItemCommand, Meta, Status, SyncHdr, SyncMl};
use crate::token::TokenVerified;

/// The largest object the server takes from a client (a chunked DevDetail value, say).
pub const MAX_OBJ_SIZE: u64 = 1 << 20;

/// A DM session idle longer than this is forgotten.
pub const IDLE_LIMIT_MS: u64 = 30 * 60 * 1000;

/// Where the session stands, named after what it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Package 2 sent; waiting for the Results of `Get ./DevDetail`.
    ExpectDevDetail,
    /// Device known; package 4 is being held while the user chooses.
    Choosing,
    /// The delivery was sent; waiting for the client's Status for the `Exec`.
    ExpectExecStatus {
        /// The correlator of the delivery.
        correlator: String,
        /// What was delivered (settings: the status is the outcome).
        #[serde(default)]
        kind: DeliveryKind,
    },
    /// Over.
    Ended,
}

/// What the caller must do after [`ServerSession::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// Send this message.
    Reply(SyncMl),
    /// The device details are complete: tell the portal, wait for a choice, then poll.
    AwaitChoice,
    /// The client acknowledged the delivery's `Exec` with `status`; send `reply`.
    Delivered {
        /// The correlator of the delivery.
        correlator: String,
        /// What was delivered (settings: `status` is the outcome).
        kind: DeliveryKind,
        /// The client's status for the Exec (202 accepted, or a failure).
        status: StatusCode,
        /// The closing message.
        reply: SyncMl,
    },
    /// The client repeated its last message: resend the previous answer.
    Repeat,
    /// A check-in session has read the device: record its details and send `reply`, which
    /// ends the session.
    CheckedIn(SyncMl),
    /// A device asked for an update and has been read: record its details, then answer with
    /// [`ServerSession::poll_deliver`] (the recommended offer) or [`ServerSession::poll_end`]
    /// (nothing to offer).
    UpdateRequested,
}

/// Whether MsgID `a` comes before `b` (both numbers, as every client numbers them; one that
/// is not a number is not taken for older).
fn older_than(a: &str, b: &str) -> bool {
    matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if a < b)
}

/// The client message a held package 4 answers, and the session it belongs to
/// ([`ServerSession::held_message`]): what a session waiting in the store is asked about when
/// the user's choice or the hold's end comes. The session is named by its continuation secret
/// and portal session, not its SessionID alone: a new session of the same device may reuse
/// the SessionID (a 16-bit number, or `1` every time for some clients) while one waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMessage {
    msg_id: Box<str>,
    /// A digest of the session's continuation secret and portal session: kept by every waiting
    /// message, so 8 bytes rather than the strings (the secret is random: no collision can be
    /// aimed at).
    session: u64,
}

/// Where a held message stands in its session as read back ([`ServerSession::held_answer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum HeldAnswer {
    /// Still owed: decide it (`poll_deliver`, `poll_end` or `poll_hold`).
    Owed,
    /// Answered already (the client sent it again and that copy was answered): send the
    /// session's last answer, as for [`Step::Repeat`].
    Answered,
    /// The session has moved past it, or another session took its place: nothing to answer.
    Gone,
}

/// How a message naming a stored session is taken ([`ServerSession::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Admission {
    /// It continues the session (or repeats its message 1).
    Continue,
    /// It opens a new session: the stored one is over, idle too long, or this is another
    /// session's message 1 reusing the SessionID.
    Open,
    /// It claims to continue the session without its secret: refuse it as if there were no
    /// session, and change nothing.
    Stranger,
}

/// Why the session exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Triggered from the portal: the user chooses, the server delivers.
    #[default]
    Portal,
    /// Opened by an authenticated device (Alert 1201 without results): the server reads
    /// `./DevDetail` and records the device.
    CheckIn,
    /// A result report whose download (the first of FUMO's two steps) the server answered
    /// with an `Exec` of `Update`: it waits for that Exec's status.
    Report,
}

/// A server-side DM session, persisted between HTTP requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSession {
    /// SyncHdr/SessionID.
    pub session_id: String,
    /// The portal session this DM session serves (empty for a check-in).
    pub portal_sid: String,
    /// Why the session exists.
    #[serde(default)]
    pub kind: Kind,
    /// The device asked for a firmware update (FUMO device request).
    #[serde(default)]
    pub wants_update: bool,
    /// What the device has told us.
    pub device: DeviceDetails,
    /// Where the session stands.
    pub state: State,
    server_uri: String,
    next_msg_id: u32,
    last_client_msg_id: String,
    /// The client header and statuses owed in the next answer, while choosing.
    pending: Option<(SyncHdr, Vec<Status>)>,
    /// The commands of the last answer (without its header Status) and its Final flag: what
    /// is sent again when the client refused the server's credentials.
    #[serde(default)]
    last_sent: (Vec<Command>, bool),
    /// How often the client refused the server's credentials.
    #[serde(default)]
    proof_refusals: u8,
    /// How often the delivery was sent again to a client that had not received it, in all: a
    /// resend split anew leaves the rest of what it resends to go again, so a count per part
    /// would let a client draw the package over and over.
    #[serde(default, skip_serializing_if = "is_zero")]
    delivery_resends: u8,
    /// The encoding the session opened in (the profile's, when it names one).
    #[serde(default)]
    wire: DmEncoding,
    /// The client's MaxMsgSize and MaxObjSize.
    #[serde(default)]
    peer: Limits,
    /// The rest of a package larger than one message.
    #[serde(default)]
    outbox: Outbox,
    /// A chunked item the client is sending.
    #[serde(default)]
    inbox: Assembler,
    /// The secret of this session's `RespURI`, which its later messages must be posted to.
    #[serde(default)]
    continuation: Continuation,
    /// The digest of the message that opened the session (a repeat of it is answered again).
    #[serde(default)]
    opening: String,
    /// The search for the device's FUMO node, while it goes on (portal sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    discovery: Option<Discovery>,
    /// How long this device's package 4 may be held (its profile's hold), when not the
    /// server's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_secs: Option<u64>,
    /// The largest message this device is sent (its profile's cap), whatever its headers
    /// announce: `peer` is re-read from each of them, this is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msg_cap: Option<u64>,
    /// The encoding its profile names, which every answer goes out in; `None`: each answer
    /// in the encoding of the message it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answer_in: Option<DmEncoding>,
}

impl ServerSession {
    /// Opens a session from package 1 carrying a verified token; returns package 2.
    pub fn accept_portal(
        msg: &SyncMl,
        token: &TokenVerified,
        server_uri: &str,
        wire: DmEncoding,
        continuation: Continuation,
        profile: Option<&DeviceProfile>,
    ) -> Result<(Self, SyncMl), ProtocolError> {
        check_version(&msg.hdr)?;
        let claims = token.claims();
        if !msg.hdr.session_id.eq_ignore_ascii_case(&format!("{:X}", claims.nsid)) {
            return Err(ProtocolError::TokenMismatch("SessionID is not the trigger's session id"));
        }
        Self::accept_server_initiated(msg, claims.sid.clone(), server_uri, wire, continuation, profile)
    }

    /// Opens a stock client's portal session (Alert 1200 with no token), bound to the portal
    /// session `portal_sid` by its SessionID (`crate::stock`); returns package 2.
    pub fn accept_stock(
        msg: &SyncMl,
        portal_sid: String,
        server_uri: &str,
        wire: DmEncoding,
        continuation: Continuation,
        profile: Option<&DeviceProfile>,
    ) -> Result<(Self, SyncMl), ProtocolError> {
        check_version(&msg.hdr)?;
        Self::accept_server_initiated(msg, portal_sid, server_uri, wire, continuation, profile)
    }

    /// Whether `msg` could open a stock client's portal session ([`ServerSession::accept_stock`]),
    /// checked before the server waits for its trigger.
    pub fn check_stock_opening(msg: &SyncMl) -> Result<(), ProtocolError> {
        check_version(&msg.hdr)?;
        Self::server_initiated_device(msg).map(|_| ())
    }

    /// A portal session from a server-initiated package 1 (Alert 1200, DevInfo), for a device
    /// of `profile`: where it says the FUMO node and SCOMO root are, they are not looked for;
    /// the session answers in its encoding (the client's, `wire`, otherwise), holds package 4
    /// no longer than its hold and sends no message larger than its cap.
    fn accept_server_initiated(
        msg: &SyncMl,
        portal_sid: String,
        server_uri: &str,
        wire: DmEncoding,
        continuation: Continuation,
        profile: Option<&DeviceProfile>,
    ) -> Result<(Self, SyncMl), ProtocolError> {
        let mut device = Self::server_initiated_device(msg)?;
        let fumo = profile.and_then(DeviceProfile::fumo_place);
        let scomo = profile.and_then(DeviceProfile::scomo_place);
        let search = Discovery::start(fumo.is_some(), scomo.is_some());
        device.fumo = fumo.unwrap_or_default();
        device.scomo = scomo.unwrap_or_default();
        let answer_in = profile.and_then(|p| p.encoding);
        let wire = answer_in.unwrap_or(wire);
        let mut s = Self::opened(msg, portal_sid, Kind::Portal, false, device, server_uri, wire, continuation);
        s.answer_in = answer_in;
        s.hold_secs = profile.and_then(|p| p.hold_secs);
        s.msg_cap = profile.and_then(|p| p.max_msg_size);
        Ok(s.open_with_get(msg, search))
    }

    /// The encoding the answer to a message in `request` goes out in: the device profile's,
    /// when it names one, else the message's own.
    pub fn encoding_for(&self, request: DmEncoding) -> DmEncoding {
        self.answer_in.unwrap_or(request)
    }

    /// The DevInfo a package 1 carries (for choosing the device's profile before it opens).
    pub fn devinfo_of(msg: &SyncMl) -> DeviceDetails {
        let mut device = DeviceDetails::default();
        for c in &msg.body.commands {
            if let Command::Replace(r) = c {
                device.absorb(&r.items);
            }
        }
        device
    }

    /// The device a server-initiated package 1 describes, if it is one (Alert 1200, its DevId
    /// in DevInfo and in the header).
    fn server_initiated_device(msg: &SyncMl) -> Result<DeviceDetails, ProtocolError> {
        let mut device = DeviceDetails::default();
        let mut server_initiated = false;
        for c in &msg.body.commands {
            match c {
                Command::Alert(a) if a.code() == AlertCode::SERVER_INITIATED => server_initiated = true,
                Command::Replace(r) => device.absorb(&r.items),
                _ => {}
            }
        }
        if !server_initiated {
            return Err(ProtocolError::Incomplete("package 1 has no Alert 1200"));
        }
        if device.dev_id.is_empty() {
            return Err(ProtocolError::Incomplete("package 1 has no ./DevInfo/DevId"));
        }
        if device.dev_id != msg.hdr.source {
            return Err(ProtocolError::Unexpected("./DevInfo/DevId differs from the header Source"));
        }
        Ok(device)
    }

    /// Opens a check-in session from an authenticated client's package 1 (Alert 1201, no
    /// results to report); returns package 2 (`Get ./DevDetail/…`).
    pub fn accept_check_in(
        msg: &SyncMl,
        server_uri: &str,
        wire: DmEncoding,
        continuation: Continuation,
    ) -> Result<(Self, SyncMl), ProtocolError> {
        check_version(&msg.hdr)?;
        let mut device = DeviceDetails { dev_id: msg.hdr.source.clone(), ..DeviceDetails::default() };
        let mut client_initiated = false;
        let mut wants_update = false;
        for c in &msg.body.commands {
            match c {
                Command::Alert(a) if a.code() == AlertCode::CLIENT_INITIATED => client_initiated = true,
                Command::Alert(a) if crate::fumo::is_device_request(a) => wants_update = true,
                Command::Replace(r) => device.absorb(&r.items),
                _ => {}
            }
        }
        if !client_initiated {
            return Err(ProtocolError::Incomplete("package 1 has no Alert 1201"));
        }
        if device.dev_id != msg.hdr.source {
            return Err(ProtocolError::Unexpected("./DevInfo/DevId differs from the header Source"));
        }
        let s = Self::opened(msg, String::new(), Kind::CheckIn, wants_update, device, server_uri, wire, continuation);
        Ok(s.open_with_get(msg, None))
    }

    /// Answers a report session (`cmds`: its statuses, numbered from 1) with the order to
    /// install a downloaded package; the session then waits for the `Exec`'s status.
    pub(crate) fn ordering_update(
        msg: &SyncMl,
        device: DeviceDetails,
        mut cmds: Vec<Command>,
        order: &crate::fumo::UpdateOrder,
        server_uri: &str,
        wire: DmEncoding,
        continuation: Continuation,
    ) -> (Self, SyncMl) {
        let mut s = Self::opened(msg, String::new(), Kind::Report, false, device, server_uri, wire, continuation);
        cmds.push(order.exec((cmds.len() + 1).to_string()));
        s.state = State::ExpectExecStatus { correlator: order.correlator.clone(), kind: DeliveryKind::Firmware };
        let reply = s.reply(&msg.hdr, cmds, true);
        (s, reply)
    }

    /// Answers a report session with `cmds` (its statuses, numbered from 1) and ends it; the
    /// session is kept so a client that refuses this answer's proof gets it again, proved
    /// with the nonce it names.
    pub(crate) fn closing(
        msg: &SyncMl,
        device: DeviceDetails,
        cmds: Vec<Command>,
        server_uri: &str,
        wire: DmEncoding,
        continuation: Continuation,
    ) -> (Self, SyncMl) {
        let mut s = Self::opened(msg, String::new(), Kind::Report, false, device, server_uri, wire, continuation);
        s.state = State::Ended;
        let reply = s.reply(&msg.hdr, cmds, true);
        (s, reply)
    }

    /// A session opened by `msg`, before its first answer.
    #[allow(clippy::too_many_arguments)]
    fn opened(
        msg: &SyncMl,
        portal_sid: String,
        kind: Kind,
        wants_update: bool,
        device: DeviceDetails,
        server_uri: &str,
        wire: DmEncoding,
        continuation: Continuation,
    ) -> Self {
        ServerSession {
            session_id: msg.hdr.session_id.clone(),
            portal_sid,
            kind,
            wants_update,
            device,
            state: State::ExpectDevDetail,
            server_uri: server_uri.to_owned(),
            next_msg_id: 1,
            last_client_msg_id: msg.hdr.msg_id.clone(),
            pending: None,
            last_sent: (Vec::new(), false),
            proof_refusals: 0,
            delivery_resends: 0,
            wire,
            peer: Limits::default().updated(&msg.hdr),
            outbox: Outbox::default(),
            inbox: Assembler::default(),
            continuation,
            opening: opening_digest(msg),
            discovery: None,
            hold_secs: None,
            msg_cap: None,
            answer_in: None,
        }
    }

    /// Package 2: 212 for the header, statuses, and a Get of the DevDetail leaves; a portal
    /// session may also start looking for the device's FUMO node and SCOMO root (`search`: a
    /// Get of the root, in a command of its own: a device that refuses it still answers the
    /// DevDetail one).
    fn open_with_get(mut self, msg: &SyncMl, search: Option<(Discovery, Vec<String>)>) -> (Self, SyncMl) {
        let mut ids = CmdIds::default();
        let mut cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), StatusCode::AUTH_ACCEPTED))];
        cmds.extend(statuses(&msg.hdr, &msg.body.commands, &mut ids, |_| StatusCode::OK));
        let items = DEVDETAIL.iter().map(|u| Item::target_data(u, Meta::default(), None)).collect();
        cmds.push(Command::Get(ItemCommand { cmd_id: ids.next(), items, ..ItemCommand::default() }));
        if let Some((search, ask)) = search.filter(|_| self.kind == Kind::Portal) {
            self.discovery = Some(search);
            cmds.push(get_nodes(&ask, ids.next()));
        }
        let reply = self.reply(&msg.hdr, cmds, true);
        (self, reply)
    }

    /// Whether `msg`, arriving `idle_ms` after this session last moved, continues it. The
    /// 16-bit SessionID repeats (some clients use `1` for every session): a message 1 opens a
    /// new session unless it repeats this session's own message 1 (its answer was lost, and
    /// the session has not moved on), and any message after [`IDLE_LIMIT_MS`] does too.
    pub fn continued_by(&self, msg: &SyncMl, idle_ms: u64) -> bool {
        let repeat_of_first = || {
            self.last_client_msg_id == "1"
                && self.state != State::Ended
                && (self.opening.is_empty() || self.opening == opening_digest(msg))
        };
        idle_ms < IDLE_LIMIT_MS && (msg.hdr.msg_id != "1" || repeat_of_first())
    }

    /// Whether a later message (not a repeated message 1) posted with `presented` as the
    /// secret of its path proves it belongs to this session (`continuation`). Sessions stored
    /// before secrets existed have none to prove.
    pub fn proves(&self, presented: Option<&str>) -> bool {
        self.continuation.is_none() || self.continuation.matches(presented)
    }

    /// How `msg`, which names this session (its SessionID and DevId), is taken, arriving
    /// `idle_ms` after the session last moved and posted with `presented` as the secret of
    /// its path. Decided before any credential is looked at: a stranger who guessed a live
    /// session's id must neither continue it nor touch its authentication state.
    pub fn admit(&self, msg: &SyncMl, idle_ms: u64, presented: Option<&str>) -> Admission {
        if !self.continued_by(msg, idle_ms) {
            Admission::Open
        } else if msg.hdr.msg_id == "1" || self.proves(presented) {
            Admission::Continue
        } else {
            Admission::Stranger
        }
    }

    /// Whether `msg` is the next message of this session (same SessionID and device).
    pub fn owns(&self, msg: &SyncMl) -> bool {
        msg.hdr.session_id.eq_ignore_ascii_case(&self.session_id) && msg.hdr.source == self.device.dev_id
    }

    /// Takes a later client message.
    pub fn handle(&mut self, msg: &SyncMl) -> Result<Step, ProtocolError> {
        check_version(&msg.hdr)?;
        if !self.owns(msg) {
            return Err(ProtocolError::Unexpected("message belongs to another session"));
        }
        if msg.hdr.msg_id == self.last_client_msg_id {
            // Its answer is still owed (the session was stored while its package 4 waits for
            // the user): held again, not answered with the message before it.
            return Ok(if self.answer_owed() { Step::AwaitChoice } else { Step::Repeat });
        }
        // A client that refuses the server's proof on a session's last message (libdmclient
        // does when its nonce was lost) gets that message again, proved with its new nonce.
        if self.state == State::Ended && !(refuses_server(msg) && self.proof_refusals + 1 < MAX_TRIES) {
            return Err(ProtocolError::Ended);
        }
        // A late copy of an older message does not take a held answer from a newer one, nor
        // the delivery sent again ([`ServerSession::missed_last`]).
        let delivering = matches!(self.state, State::ExpectExecStatus { .. });
        if (self.state == State::Choosing || delivering) && older_than(&msg.hdr.msg_id, &self.last_client_msg_id) {
            return Err(ProtocolError::Unexpected("a message older than the one the server last answered"));
        }
        self.last_client_msg_id = msg.hdr.msg_id.clone();
        self.peer = self.peer.updated(&msg.hdr);
        let aborted =
            msg.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.code() == AlertCode::SESSION_ABORT));
        // A client that refused the server's credentials executed nothing. Its Status carries
        // the nonce to use (the auth layer has taken it): send the same commands again, a
        // bounded number of times, then give up.
        let refused_us = refuses_server(msg);
        if refused_us && !aborted {
            self.proof_refusals += 1;
            if self.proof_refusals < MAX_TRIES {
                let (again, _) = self.last_sent.clone();
                let split = again.iter().position(|c| !matches!(c, Command::Status(_))).unwrap_or(again.len());
                let mut cmds = vec![Command::Status(header_status(&msg.hdr, "1".into(), StatusCode::OK))];
                let mut again = again;
                let commands = again.split_off(split);
                cmds.extend(again);
                return Ok(Step::Reply(self.send_with(&msg.hdr, cmds, Some(commands))));
            }
        }
        if aborted || refused_us {
            self.state = State::Ended;
            self.outbox = Outbox::default();
            let mut ids = CmdIds::default();
            let cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), StatusCode::OK))];
            return Ok(Step::Reply(self.reply(&msg.hdr, cmds, true)));
        }
        // A client answering an earlier message of ours than the last never got the last:
        // while the delivery's status is awaited, its last message goes again (a part of a
        // longer delivery too: that part alone, `resend_delivery`).
        if delivering && exec_status(msg).is_none() && self.missed_last(msg) {
            return self.resend_delivery(msg);
        }
        if !self.outbox.is_empty() {
            return self.continue_package(msg);
        }
        match self.state.clone() {
            State::ExpectDevDetail => {
                let mut got = false;
                let mut listed = Answers::default();
                let mut ids = CmdIds::default();
                let mut cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), StatusCode::OK))];
                for c in &msg.body.commands {
                    if let Command::Results(r) = c {
                        // Chunked values (MoreData) are joined before they are read.
                        let mut whole = Vec::new();
                        for i in &r.items {
                            match self.inbox.take(i, Some(MAX_OBJ_SIZE)) {
                                Assembled::Complete(i) => whole.push(i),
                                Assembled::Buffered => {}
                                Assembled::Refused(code) => {
                                    cmds.push(Command::Status(command_status(&msg.hdr.msg_id, c, ids.next(), code)));
                                }
                            }
                        }
                        self.device.absorb(&whole);
                        // Its DevId was checked against the header when the session opened; a
                        // Results item naming another would write that device's record.
                        if self.device.dev_id != msg.hdr.source {
                            return Err(ProtocolError::Unexpected("./DevInfo/DevId differs from the header Source"));
                        }
                        listed.extend(&whole);
                        got = true;
                    }
                }
                if !msg.body.final_ {
                    // The client's package goes on: ask for its next message.
                    cmds.push(Command::Alert(Alert {
                        cmd_id: ids.next(),
                        data: AlertCode::NEXT_MESSAGE.0,
                        ..Alert::default()
                    }));
                    return Ok(Step::Reply(self.reply(&msg.hdr, cmds, false)));
                }
                if self.kind == Kind::CheckIn && self.wants_update {
                    // Held like a portal session, but the server chooses (the recommended offer).
                    self.inbox.abandon();
                    self.state = State::Choosing;
                    self.owe(msg);
                    return Ok(Step::UpdateRequested);
                }
                if self.kind == Kind::CheckIn {
                    // Whatever the device answered (or if it only reported alerts), the
                    // check-in ends here; generic alerts got their 200 above.
                    self.inbox.abandon();
                    self.state = State::Ended;
                    cmds.extend(statuses(&msg.hdr, &msg.body.commands, &mut ids, |_| StatusCode::OK));
                    return Ok(Step::CheckedIn(self.reply(&msg.hdr, cmds, true)));
                }
                let first_round = self.discovery.as_ref().is_none_or(Discovery::is_first_round);
                if !got && first_round {
                    return Err(ProtocolError::Incomplete("package 3 has no Results for ./DevDetail"));
                }
                if let Some(mut search) = self.discovery.take() {
                    match search.take(&listed) {
                        Next::Ask(uris) => {
                            self.discovery = Some(search);
                            cmds.extend(statuses(&msg.hdr, &msg.body.commands, &mut ids, |_| StatusCode::OK));
                            cmds.push(get_nodes(&uris, ids.next()));
                            return Ok(Step::Reply(self.reply(&msg.hdr, cmds, true)));
                        }
                        Next::Done(found) => {
                            if let Some(fumo) = found.fumo {
                                self.device.fumo = fumo;
                            }
                            if let Some(scomo) = found.scomo {
                                self.device.scomo = scomo;
                            }
                        }
                    }
                }
                self.inbox.abandon();
                self.state = State::Choosing;
                self.owe(msg);
                Ok(Step::AwaitChoice)
            }
            State::Choosing => {
                let next = msg
                    .body
                    .commands
                    .iter()
                    .any(|c| matches!(c, Command::Alert(a) if a.code() == AlertCode::NEXT_MESSAGE));
                // A client still waiting for package 4 that sends something else (its package 3
                // again, under a new MsgID) is held again, its answer now owed to that message:
                // while the answer is owed, or when the hold's answer never reached it (the
                // message answers an earlier one of ours than the last).
                if !next && !self.answer_owed() && !self.missed_last(msg) {
                    return Err(ProtocolError::Unexpected("expected Alert 1222 while package 4 is held"));
                }
                self.owe(msg);
                Ok(Step::AwaitChoice)
            }
            State::ExpectExecStatus { correlator, kind } => {
                let status = exec_status(msg)
                    .ok_or(ProtocolError::Incomplete("package 5 has no Status for the Exec or Atomic"))?;
                self.state = State::Ended;
                let mut ids = CmdIds::default();
                let mut cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), StatusCode::OK))];
                cmds.extend(statuses(&msg.hdr, &msg.body.commands, &mut ids, |_| StatusCode::OK));
                let reply = self.reply(&msg.hdr, cmds, true);
                Ok(Step::Delivered { correlator, kind, status, reply })
            }
            State::Ended => Err(ProtocolError::Ended),
        }
    }

    /// Whether `msg` answers an earlier message of ours than the last one, and not the last:
    /// its client never got the last (it was saved, then lost on the way, and the client sent
    /// its package 3 or Alert 1222 again under a new MsgID). A message answering none of ours
    /// is not taken for that.
    fn missed_last(&self, msg: &SyncMl) -> bool {
        let last = self.next_msg_id.saturating_sub(1);
        let mut earlier = false;
        for c in &msg.body.commands {
            if let Command::Status(s) = c {
                match s.msg_ref.trim().parse::<u32>() {
                    Ok(r) if r == last => return false,
                    Ok(r) if r < last => earlier = true,
                    _ => {}
                }
            }
        }
        earlier
    }

    /// The delivery's most recent message again (a part of a longer one: that part alone,
    /// split anew if this answer has less room), addressed to `msg`, whose client never got it
    /// ([`ServerSession::missed_last`]) and which carries no status for it: a bounded number of
    /// times for the whole delivery, then the session refuses. (Not in a report session: its
    /// first answer is the delivery, and nothing comes before it to answer.)
    fn resend_delivery(&mut self, msg: &SyncMl) -> Result<Step, ProtocolError> {
        let part: Vec<Command> =
            self.last_sent.0.iter().filter(|c| !matches!(c, Command::Status(_))).cloned().collect();
        if part.is_empty() || self.delivery_resends >= MAX_TRIES {
            return Err(ProtocolError::Unexpected("the delivery was sent again as often as it is"));
        }
        self.delivery_resends += 1;
        let mut ids = CmdIds::default();
        let mut cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), StatusCode::OK))];
        cmds.extend(statuses(&msg.hdr, &msg.body.commands, &mut ids, |_| StatusCode::OK));
        // Renumbered after this message's statuses as it is sent.
        Ok(Step::Reply(self.send_with(&msg.hdr, cmds, Some(part))))
    }

    /// The client message whose package 4 is held, while its answer is owed
    /// ([`Step::AwaitChoice`] until one of the `poll_*` answers it).
    pub fn held_message(&self) -> Option<HeldMessage> {
        self.answer_owed()
            .then(|| HeldMessage { msg_id: self.last_client_msg_id.as_str().into(), session: self.identity() })
    }

    /// Whether this session, read back after `mine` (the same session as a message left it) lost
    /// its save, has answered that message `msg` already: another copy of it was saved first,
    /// and this session's last answer is `msg`'s too.
    pub fn answered_copy_of(&self, mine: &ServerSession, msg: &SyncMl) -> bool {
        self.answer_to(&msg.hdr.msg_id, mine.identity()) == HeldAnswer::Answered
    }

    /// Whether a package 4 is held and its answer owed (no allocation: every message asks).
    fn answer_owed(&self) -> bool {
        self.state == State::Choosing && self.pending.is_some()
    }

    /// What tells this session from another that took its SessionID ([`HeldMessage`]).
    fn identity(&self) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one((&self.continuation, &self.portal_sid))
    }

    /// Where the held message `held` stands in this session, as read back from the store.
    pub fn held_answer(&self, held: &HeldMessage) -> HeldAnswer {
        self.answer_to(&held.msg_id, held.session)
    }

    /// Where the message `msg_id` of the session named `session` ([`HeldMessage`]) stands here.
    fn answer_to(&self, msg_id: &str, session: u64) -> HeldAnswer {
        if self.identity() != session || *self.last_client_msg_id != *msg_id {
            HeldAnswer::Gone
        } else if self.answer_owed() {
            HeldAnswer::Owed
        } else {
            HeldAnswer::Answered
        }
    }

    /// No choice yet: a package-4 message without `Final`, holding the session open.
    pub fn poll_hold(&mut self) -> Result<SyncMl, ProtocolError> {
        let (hdr, cmds) = self.take_pending()?;
        Ok(self.reply(&hdr, cmds, false))
    }

    /// The user chose: the delivery, with `Final`.
    ///
    /// With `pkg_data` (the origin offers small packages inline) the package travels inside
    /// the session when the client's MaxObjSize allows it, split over messages as needed;
    /// otherwise by its URL.
    pub fn poll_deliver(&mut self, delivery: &FumoDelivery, pkg_data: Option<&[u8]>) -> Result<SyncMl, ProtocolError> {
        let (hdr, mut cmds) = self.take_pending()?;
        let mut ids = CmdIds::default();
        // Renumber from after the owed statuses.
        for _ in 0..cmds.len() {
            ids.next();
        }
        // The object on the wire is the base64 text: 4 bytes for every 3.
        let fits = |d: &[u8]| self.peer.max_obj.is_none_or(|m| (d.len() as u64).div_ceil(3) * 4 <= m);
        match pkg_data.filter(|d| fits(d)) {
            Some(data) => cmds.extend(delivery.inline_commands(data, &mut || ids.next())),
            None => cmds.extend(delivery.commands(&mut || ids.next())),
        }
        self.state = State::ExpectExecStatus { correlator: delivery.correlator.clone(), kind: delivery.kind };
        Ok(self.reply(&hdr, cmds, true))
    }

    /// The portal session is over: a message with `Final` and no command ends the session.
    pub fn poll_end(&mut self) -> Result<SyncMl, ProtocolError> {
        let (hdr, cmds) = self.take_pending()?;
        self.state = State::Ended;
        Ok(self.reply(&hdr, cmds, true))
    }

    fn owe(&mut self, msg: &SyncMl) {
        let mut ids = CmdIds::default();
        let mut st = vec![header_status(&msg.hdr, ids.next(), StatusCode::OK)];
        st.extend(statuses(&msg.hdr, &msg.body.commands, &mut ids, |_| StatusCode::OK).into_iter().filter_map(|c| {
            match c {
                Command::Status(s) => Some(s),
                _ => None,
            }
        }));
        self.pending = Some((msg.hdr.clone(), st));
        // The client accepted the server's credentials in `msg`, so what was last sent will
        // never be sent again: a session held while the user chooses does not keep it.
        self.last_sent = Default::default();
    }

    fn take_pending(&mut self) -> Result<(SyncHdr, Vec<Command>), ProtocolError> {
        if self.state != State::Choosing {
            return Err(ProtocolError::Unexpected("no package 4 is being held"));
        }
        let (hdr, st) = self.pending.take().ok_or(ProtocolError::Unexpected("no client message to answer"))?;
        Ok((hdr, st.into_iter().map(Command::Status).collect()))
    }

    /// The next message of a package larger than one message, answering the client's
    /// Alert 1222 (and its 213s for chunks). A failure status for a part ends the delivery.
    fn continue_package(&mut self, msg: &SyncMl) -> Result<Step, ProtocolError> {
        let failed = msg.body.commands.iter().find_map(|c| match c {
            Command::Status(s) if s.cmd != "SyncHdr" && s.code().0 >= 300 => Some(s.code()),
            _ => None,
        });
        let mut ids = CmdIds::default();
        let mut cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), StatusCode::OK))];
        cmds.extend(statuses(&msg.hdr, &msg.body.commands, &mut ids, |_| StatusCode::OK));
        if let (Some(status), State::ExpectExecStatus { correlator, kind }) = (failed, self.state.clone()) {
            self.outbox = Outbox::default();
            self.state = State::Ended;
            let reply = self.reply(&msg.hdr, cmds, true);
            return Ok(Step::Delivered { correlator, kind, status, reply });
        }
        Ok(Step::Reply(self.send(&msg.hdr, cmds)))
    }

    /// A message answering `to`: its statuses, then as much of `commands` (and of what is
    /// still queued) as fits the client's MaxMsgSize.
    fn reply(&mut self, to: &SyncHdr, commands: Vec<Command>, final_: bool) -> SyncMl {
        let split = commands.iter().position(|c| !matches!(c, Command::Status(_))).unwrap_or(commands.len());
        let mut statuses = commands;
        let rest = statuses.split_off(split);
        self.outbox.push(rest, final_);
        self.send(to, statuses)
    }

    fn send(&mut self, to: &SyncHdr, statuses: Vec<Command>) -> SyncMl {
        self.send_with(to, statuses, None)
    }

    /// [`ServerSession::send`], with `again`, the commands of the last message sent, to send
    /// again instead of what is queued ([`Outbox::refill`]).
    fn send_with(&mut self, to: &SyncHdr, statuses: Vec<Command>, again: Option<Vec<Command>>) -> SyncMl {
        let mut hdr = reply_header(to, self.next_msg_id, &self.server_uri, &to.source);
        hdr.resp_uri = (!self.continuation.is_none()).then(|| self.continuation.resp_uri(&self.server_uri));
        self.next_msg_id += 1;
        let mut msg = message(hdr, statuses, false);
        // Sized in the encoding it will go out in: the profile's, or, when each answer follows
        // its request's encoding, XML, the larger, so that a client switching encodings
        // mid-session never gets more than its MaxMsgSize (or the profile's cap).
        let sized_in = self.answer_in.unwrap_or(DmEncoding::Xml);
        let limits = self.peer.capped(self.msg_cap);
        match again {
            Some(again) => self.outbox.refill(&mut msg, again, limits, sized_in),
            None => self.outbox.fill(&mut msg, limits, sized_in),
        }
        let rest = msg.body.commands.iter().filter(|c| !matches!(c, Command::Status(s) if s.cmd == "SyncHdr")).cloned();
        self.last_sent = (rest.collect(), msg.body.final_);
        msg
    }
}

/// The status a message gives the delivery's Exec (a settings delivery is an Atomic: its
/// status is the outcome).
fn exec_status(msg: &SyncMl) -> Option<StatusCode> {
    msg.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd == "Exec" || s.cmd == "Atomic" => Some(s.code()),
        _ => None,
    })
}

/// Whether a counter is at zero (not serialised then).
fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// Statuses for every command of a message except Status and Results (which get none).
pub(crate) fn statuses(
    hdr: &SyncHdr,
    cmds: &[Command],
    ids: &mut CmdIds,
    code: impl Fn(&Command) -> StatusCode,
) -> Vec<Command> {
    cmds.iter()
        .filter(|c| !matches!(c, Command::Status(_) | Command::Results(_)) && !c.no_resp())
        .map(|c| Command::Status(command_status(&hdr.msg_id, c, ids.next(), code(c))))
        .collect()
}

/// Whether `msg` refuses the server's credentials (401 or 407 on the server's header).
fn refuses_server(msg: &SyncMl) -> bool {
    msg.body.commands.iter().any(|c| {
        matches!(c, Command::Status(s) if s.cmd == "SyncHdr" && matches!(s.code(), StatusCode::UNAUTHORIZED | StatusCode::MISSING_CREDENTIALS))
    })
}

/// A `Get` of the nodes `uris`.
fn get_nodes(uris: &[String], cmd_id: String) -> Command {
    let items = uris.iter().map(|u| Item::target_data(u, Meta::default(), None)).collect();
    Command::Get(ItemCommand { cmd_id, items, ..ItemCommand::default() })
}

/// The session-token alert of package 1, if present.
pub fn token_of(msg: &SyncMl) -> Option<&str> {
    msg.body.commands.iter().find_map(|c| match c {
        Command::Alert(Alert { data, items, .. }) if AlertCode(*data) == AlertCode::GENERIC => {
            items.iter().find(|i| i.meta.type_.as_deref() == Some(SESSION_TOKEN_TYPE)).and_then(|i| i.data.as_deref())
        }
        _ => None,
    })
}

/// The DevInfo leaves a client must send in package 1.
pub const REQUIRED_DEVINFO: &[&str] = &DEVINFO;
