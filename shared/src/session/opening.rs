//! How a message that continues no session opens one: the one decision tree over a package 1
//! (a portal session carrying its token, a stock client's portal session, a client-initiated
//! report or check-in, or a refusal with the code for the real reason).

use crate::session::report::ReportOpening;
use crate::session::server::token_of;
use crate::stock::Spellings;
use crate::syncml::codes::{AlertCode, StatusCode};
use crate::syncml::{Command, SyncMl};

/// What a package 1 opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening<'a> {
    /// A portal session, by the token the trigger carried (dmclient, clients that carry it).
    Portal {
        /// The session token.
        token: &'a str,
    },
    /// A stock client's portal session (Alert 1200, no token): bound to a live trigger by the
    /// ids its SessionID may spell (`crate::stock`).
    StockPortal(Spellings),
    /// A client-initiated session (Alert 1201): results to report, or a check-in.
    Report,
    /// Nothing to open: the code for the header and why, for the log.
    Refuse(StatusCode, &'static str),
}

/// Decides what `msg`, which continues no session, opens.
pub fn open(msg: &SyncMl) -> Opening<'_> {
    if let Some(token) = token_of(msg) {
        return Opening::Portal { token };
    }
    if ReportOpening::is_report(msg) {
        return Opening::Report;
    }
    let server_initiated =
        msg.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.code() == AlertCode::SERVER_INITIATED));
    if !server_initiated {
        return Opening::Refuse(StatusCode::MISSING_CREDENTIALS, "no session token and no result report");
    }
    // A server-initiated session the server knows no trigger for is not found (404): a client
    // that proved itself is not told to send credentials again.
    let spellings = Spellings::of(&msg.hdr.session_id);
    if spellings.ids().is_empty() {
        return Opening::Refuse(StatusCode::NOT_FOUND, "no portal session for this trigger (SessionID names none)");
    }
    Opening::StockPortal(spellings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::DmEncoding;
    use crate::syncml;

    fn vector(name: &str) -> SyncMl {
        let path = format!("{}/fixtures/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let enc = if name.ends_with(".wbxml") { DmEncoding::Wbxml } else { DmEncoding::Xml };
        syncml::decode(enc, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn each_vectors_package_1_opens_what_it_is() {
        let stock = vector("libdmclient-pkg1-alert1200-after-pkg0-md5.xml");
        let Opening::StockPortal(s) = open(&stock) else { panic!("{:?}", open(&stock)) };
        assert!(s.contains(0x6424), "the byte-swapped package #0 id is a candidate");
        assert_eq!(open(&vector("libdmclient-pkg1-md5.xml")), Opening::Report);
        assert_eq!(open(&vector("libdmclient-result-report-fumo-200.wbxml")), Opening::Report);
        assert_eq!(open(&vector("libdmclient-pkg1-fumo-device-request.xml")), Opening::Report);
    }

    /// The code each command of a refusal got.
    fn command_codes(m: &SyncMl) -> Vec<(String, u16)> {
        m.body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) if s.cmd != "SyncHdr" => Some((s.cmd.clone(), s.data)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_refusal_gives_each_command_a_status_a_client_can_act_on() {
        let msg = vector("libdmclient-pkg1-md5.xml");
        let needs = crate::session::refuse(&msg, "http://s/dm", StatusCode::MISSING_CREDENTIALS);
        let codes = command_codes(&needs);
        assert!(!codes.is_empty() && codes.iter().all(|(_, c)| *c == 407), "re-send these with credentials: {codes:?}");
        let gone = crate::session::refuse(&msg, "http://s/dm", StatusCode::NOT_FOUND);
        assert!(command_codes(&gone).iter().all(|(_, c)| *c == 215), "not executed");
        // A hostile message with many commands cannot make a refusal grow.
        let mut many = msg.clone();
        let first = many.body.commands[0].clone();
        many.body.commands = vec![first; 50];
        let r = crate::session::refuse(&many, "http://s/dm", StatusCode::UNAUTHORIZED);
        assert_eq!(command_codes(&r).len(), crate::session::MAX_REFUSED_STATUSES);
    }

    #[test]
    fn a_server_initiated_session_whose_session_id_spells_no_trigger_is_not_found() {
        let mut msg = vector("libdmclient-pkg1-alert1200-after-pkg0-md5.xml");
        msg.hdr.session_id = "1234567890123".into();
        assert!(matches!(open(&msg), Opening::Refuse(StatusCode::NOT_FOUND, _)));
        msg.body.commands.clear();
        assert!(matches!(open(&msg), Opening::Refuse(StatusCode::MISSING_CREDENTIALS, _)));
    }
}
