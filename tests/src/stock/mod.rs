//! A stock handset for the tests: an OMA DM 1.2 client written from the OMA specifications and
//! from what maker-shipped clients do on the wire, sharing no protocol code with portaldm.
//!
//! It keeps its own tree (DevInfo, DevDetail, DMAcc, a FUMO node, optionally a SCOMO root, MO
//! types as node properties), answers a package #0 with an Alert 1200 session, checks in with Alert 1201, authenticates both ways with
//! `syncml:auth-md5`, speaks XML (quick-xml) or WBXML (libwbxml's tools), opens a new
//! connection per POST, follows `RespURI`, and reports a FUMO download in a new session.

pub mod auth_md5;
mod error;
pub mod http;
pub mod msg;
pub mod pkg0;
mod session;
pub mod tree;
pub mod wbxml;

use std::time::Duration;

pub use error::StockError;
pub use pkg0::SessionIdStyle;
pub use session::{End, Exchange, SessionLog};
pub use tree::Tree;

/// XML or WBXML on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/vnd.syncml+xml`.
    Xml,
    /// `application/vnd.syncml+wbxml`.
    Wbxml,
}

impl Encoding {
    /// The Content-Type libdmclient posts.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Xml => "application/vnd.syncml+xml",
            Encoding::Wbxml => "application/vnd.syncml+wbxml",
        }
    }
}

/// Which SessionID a client-initiated session uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSessionIds {
    /// The same one every time (many handsets use `1`).
    Reuse(String),
    /// 1, 2, 3... in decimal.
    Count,
}

/// When the handset changes the nonce the server must prove itself with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRotation {
    /// libdmclient: every time it checks a server credential, even on the server's last message,
    /// whose new nonce it never gets to send (so the next session's first proof is refused).
    EveryCheck,
    /// Only when the new nonce goes out in a Chal.
    WhenSent,
}

/// The DMAcc account of the handset's one server.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account node's name under `./DMAcc`.
    pub node: String,
    /// The server's ServerID.
    pub server_id: String,
    /// The server's address (where the first message of a session goes).
    pub addr: String,
    /// The name the handset authenticates with.
    pub client_name: String,
    /// Its password.
    pub client_password: String,
    /// The name the server proves itself with.
    pub server_name: String,
    /// The server's password.
    pub server_password: String,
}

/// Caps and deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most messages the handset sends in one session.
    pub max_messages: usize,
    /// How many times it re-sends after a 401/407 with a Chal.
    pub max_auth_retries: u32,
    /// How many server messages without a valid credential it answers before giving up.
    pub max_server_refusals: u32,
    /// Largest answer (and firmware download) read.
    pub max_body: usize,
    /// Connect deadline.
    pub connect: Duration,
    /// Deadline for each answer.
    pub answer: Duration,
    /// The MaxMsgSize it announces.
    pub max_msg_size: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_messages: 16,
            max_auth_retries: 3,
            max_server_refusals: 3,
            max_body: 512 * 1024,
            connect: Duration::from_secs(5),
            answer: Duration::from_secs(15),
            max_msg_size: 16384,
        }
    }
}

/// What makes one handset: its identity, its account, its habits.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `./DevInfo/DevId` (also the SyncHdr Source).
    pub dev_id: String,
    /// `./DevInfo/Man`.
    pub man: String,
    /// `./DevInfo/Mod`.
    pub model: String,
    /// `./DevInfo/Lang`.
    pub lang: String,
    /// `./DevDetail/FwV`.
    pub fw_v: String,
    /// `./DevDetail/SwV`.
    pub sw_v: String,
    /// `./DevDetail/HwV`.
    pub hw_v: String,
    /// `./DevDetail/DevTyp`.
    pub dev_typ: String,
    /// `./DevDetail/OEM`.
    pub oem: String,
    /// Where its FUMO node is (`./FwUpdate/<name>`).
    pub fumo: String,
    /// Where its SCOMO root is, if it has one (`./Apps/SCOMO`).
    pub scomo: Option<String>,
    /// Its server account.
    pub account: Account,
    /// XML or WBXML.
    pub encoding: Encoding,
    /// How it writes a package #0 session id.
    pub pkg0_session_id: SessionIdStyle,
    /// Which SessionID its own sessions use.
    pub client_session_ids: ClientSessionIds,
    /// When it changes its own nonce.
    pub nonce_rotation: NonceRotation,
    /// Check the package #0 digest with the server password and this nonce (most handsets don't).
    pub pkg0_digest_nonce: Option<Vec<u8>>,
    /// Caps and deadlines.
    pub limits: Limits,
}

impl Profile {
    /// A handset `dev_id` with an md5 account at `addr`, XML, reusing SessionID 1.
    pub fn new(dev_id: &str, addr: &str, account: Account) -> Profile {
        Profile {
            dev_id: dev_id.into(),
            man: "Stockmaker".into(),
            model: "SM-1".into(),
            lang: "en".into(),
            fw_v: "1.0.0".into(),
            sw_v: "1.0".into(),
            hw_v: "A1".into(),
            dev_typ: "phone".into(),
            oem: "Stockmaker OEM".into(),
            fumo: "./FwUpdate/stock".into(),
            scomo: None,
            account: Account { addr: addr.into(), ..account },
            encoding: Encoding::Xml,
            pkg0_session_id: SessionIdStyle::UpperHex,
            client_session_ids: ClientSessionIds::Reuse("1".into()),
            nonce_rotation: NonceRotation::EveryCheck,
            pkg0_digest_nonce: None,
            limits: Limits::default(),
        }
    }
}

/// A FUMO (or SCOMO) job the server started with an accepted Exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FumoJob {
    /// The node the Exec named.
    pub node: String,
    /// An application through SCOMO (`Operations/DownloadInstall`), not firmware.
    pub app: bool,
    /// The Exec's Correlator.
    pub correlator: Option<String>,
    /// The PkgURL at the time of the Exec.
    pub url: String,
}

/// What a FUMO download came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The job.
    pub job: FumoJob,
    /// Bytes downloaded.
    pub bytes: usize,
    /// The FUMO result code reported (200 success, 4xx failures).
    pub result: u16,
}

/// One handset with its tree and nonces.
#[derive(Debug, Clone)]
pub struct Handset {
    /// Its profile.
    pub profile: Profile,
    /// Its management tree.
    pub tree: Tree,
    /// The nonce it computes its own credential with (the server gives it).
    pub client_nonce: String,
    /// The nonce the server must prove itself with (the handset gives it).
    pub server_nonce: String,
    sessions: u32,
    pending: Option<FumoJob>,
    /// Downloads done, in order.
    pub downloads: Vec<Download>,
}

impl Handset {
    /// A handset from `profile`, with its tree filled in and empty nonces (a fresh account's).
    pub fn new(profile: Profile) -> Handset {
        let mut t = Tree::new();
        let p = &profile;
        for (k, v) in [("DevId", &p.dev_id), ("Man", &p.man), ("Mod", &p.model), ("Lang", &p.lang)] {
            t.set(&format!("./DevInfo/{k}"), v);
        }
        t.set("./DevInfo/DmV", "1.2");
        for (k, v) in [("FwV", &p.fw_v), ("SwV", &p.sw_v), ("HwV", &p.hw_v), ("DevTyp", &p.dev_typ), ("OEM", &p.oem)] {
            t.set(&format!("./DevDetail/{k}"), v);
        }
        t.set("./DevDetail/URI/MaxDepth", "0");
        t.set_typed("./DevDetail/LrgObj", "false", "bool");
        let a = &p.account;
        let acc = format!("./DMAcc/{}", a.node);
        t.set(&format!("{acc}/ServerID"), &a.server_id);
        t.set(&format!("{acc}/Name"), &a.server_id);
        t.set(&format!("{acc}/AppAddr/srv/Addr"), &a.addr);
        t.set(&format!("{acc}/AppAddr/srv/AddrType"), "URI");
        t.set(&format!("{acc}/AppAuth/client/AAuthLevel"), "CLCRED");
        t.set(&format!("{acc}/AppAuth/client/AAuthType"), "DIGEST");
        t.set(&format!("{acc}/AppAuth/client/AAuthName"), &a.client_name);
        t.set(&format!("{acc}/AppAuth/client/AAuthSecret"), &a.client_password);
        t.set(&format!("{acc}/AppAuth/server/AAuthLevel"), "SRVCRED");
        t.set(&format!("{acc}/AppAuth/server/AAuthType"), "DIGEST");
        t.set(&format!("{acc}/AppAuth/server/AAuthName"), &a.server_name);
        t.set(&format!("{acc}/AppAuth/server/AAuthSecret"), &a.server_password);
        t.set_secret(&format!("{acc}/AppAuth/client/AAuthSecret"));
        t.set_secret(&format!("{acc}/AppAuth/server/AAuthSecret"));
        let f = &p.fumo;
        t.set(&format!("{f}/PkgName"), "");
        t.set(&format!("{f}/PkgVersion"), "");
        t.set(&format!("{f}/DownloadAndUpdate/PkgURL"), "");
        t.set_typed(&format!("{f}/State"), "10", "int");
        t.set_mo_type(f, "urn:oma:mo:oma-fumo:1.0");
        if let Some(s) = &p.scomo {
            // SCOMO 1.0, 5.4: the server adds download nodes under Download.
            t.set_interior(&format!("{s}/Download"));
            t.set_interior(&format!("{s}/Inventory/Deployed"));
            t.set_mo_type(s, "urn:oma:mo:oma-scomo:1.0");
        }
        Handset {
            profile,
            tree: t,
            client_nonce: String::new(),
            server_nonce: String::new(),
            sessions: 0,
            pending: None,
            downloads: Vec::new(),
        }
    }

    fn next_client_session_id(&mut self) -> String {
        self.sessions += 1;
        match &self.profile.client_session_ids {
            ClientSessionIds::Reuse(id) => id.clone(),
            ClientSessionIds::Count => self.sessions.to_string(),
        }
    }

    /// A client-initiated session (Alert 1201), then any FUMO work it started, reported in a
    /// new session of its own; one log per session.
    pub fn check_in(&mut self) -> Result<Vec<SessionLog>, StockError> {
        let sid = self.next_client_session_id();
        let first = session::run(self, session::Opening::Client { session_id: sid, alerts: Vec::new() })?;
        let mut logs = vec![first];
        logs.extend(self.finish_fumo()?);
        Ok(logs)
    }

    /// Answers a package #0 (bytes as delivered): decodes it, opens an Alert 1200 session with
    /// the configured SessionID spelling, then does any FUMO work it started.
    pub fn on_package0(&mut self, bytes: &[u8]) -> Result<Vec<SessionLog>, StockError> {
        let n = pkg0::decode(bytes)?;
        if n.server_id != self.profile.account.server_id {
            return Err(StockError::Pkg0(format!("unknown server {:?}", n.server_id)));
        }
        if let Some(nonce) = &self.profile.pkg0_digest_nonce
            && !n.digest_matches(&self.profile.account.server_password, nonce)
        {
            return Err(StockError::Pkg0("digest does not match".into()));
        }
        let sid = n.session_id_as(self.profile.pkg0_session_id);
        let first = session::run(self, session::Opening::Server { session_id: sid })?;
        let mut logs = vec![first];
        logs.extend(self.finish_fumo()?);
        Ok(logs)
    }

    /// The FUMO job waiting after an accepted Exec.
    pub fn pending_fumo(&self) -> Option<&FumoJob> {
        self.pending.as_ref()
    }

    fn finish_fumo(&mut self) -> Result<Option<SessionLog>, StockError> {
        let Some(job) = self.pending.take() else { return Ok(None) };
        if job.app {
            return self.finish_app(job);
        }
        let f = self.profile.fumo.clone();
        self.tree.replace(&format!("{f}/State"), "30");
        let lim = self.profile.limits;
        let limits = http::HttpLimits { connect: lim.connect, answer: lim.answer, max_body: lim.max_body };
        // FUMO 1.0 result codes: 200 success, 411 bad URL, 412 download server unavailable.
        let (result, bytes) = match http::request("GET", &job.url, None, &[], limits) {
            Ok(r) if r.status == 200 && !r.body.is_empty() => (200, r.body.len()),
            Ok(_) => (412, 0),
            Err(StockError::BadUrl(_)) => (411, 0),
            Err(_) => (412, 0),
        };
        if result == 200 {
            // A stock handset "installs" by taking the package's version as its firmware version.
            let v = self.tree.value(&format!("{f}/PkgVersion")).unwrap_or_default().to_owned();
            if !v.is_empty() {
                self.tree.replace("./DevDetail/FwV", &v);
            }
            self.tree.replace(&format!("{f}/State"), "100");
        } else {
            self.tree.replace(&format!("{f}/State"), "20");
        }
        self.downloads.push(Download { job: job.clone(), bytes, result });
        let alert = msg::Cmd {
            correlator: job.correlator.clone(),
            data: Some("1226".into()),
            items: vec![msg::Item {
                source: Some(job.node.clone()),
                format: Some("chr".into()),
                typ: Some("org.openmobilealliance.dm.firmwareupdate.downloadandupdate".into()),
                data: Some(result.to_string()),
                ..msg::Item::default()
            }],
            ..msg::Cmd::new("Alert")
        };
        let sid = self.next_client_session_id();
        session::run(self, session::Opening::Client { session_id: sid, alerts: vec![alert] }).map(Some)
    }

    /// Downloads an application and reports SCOMO's `OperationComplete` (1200 success, 1402
    /// download failed) in a new session; "installs" it into `Inventory/Deployed`.
    fn finish_app(&mut self, job: FumoJob) -> Result<Option<SessionLog>, StockError> {
        let lim = self.profile.limits;
        let limits = http::HttpLimits { connect: lim.connect, answer: lim.answer, max_body: lim.max_body };
        let (result, bytes) = match http::request("GET", &job.url, None, &[], limits) {
            Ok(r) if r.status == 200 && !r.body.is_empty() => (200, r.body.len()),
            _ => (412, 0),
        };
        // `<root>/Download/<x>/Operations/DownloadInstall` → `<root>`, `<x>`.
        let mut parts = job.node.rsplitn(4, '/').skip(2);
        let (x, root) =
            (parts.next().unwrap_or_default(), parts.next().unwrap_or_default().trim_end_matches("/Download"));
        if result == 200 {
            let name = self.tree.value(&format!("{root}/Download/{x}/Name")).unwrap_or_default().to_owned();
            self.tree.set(&format!("{root}/Inventory/Deployed/{x}/Name"), &name);
        }
        self.downloads.push(Download { job: job.clone(), bytes, result });
        let alert = msg::Cmd {
            correlator: job.correlator.clone(),
            data: Some("1226".into()),
            items: vec![msg::Item {
                source: Some(job.node.clone()),
                format: Some("chr".into()),
                typ: Some("urn:oma:at:scomo:1.0:OperationComplete".into()),
                data: Some(if result == 200 { "1200" } else { "1402" }.into()),
                ..msg::Item::default()
            }],
            ..msg::Cmd::new("Alert")
        };
        let sid = self.next_client_session_id();
        session::run(self, session::Opening::Client { session_id: sid, alerts: vec![alert] }).map(Some)
    }
}
