//! The portal session as the browser sees it: its states, their order, and the JSON view.

use serde::{Deserialize, Serialize};

use crate::catalog::Offer;
use crate::device::DeviceDetails;
use crate::fumo::ResultCode;

/// Where a portal session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalState {
    /// The trigger was minted; the phone's DM client has not opened its session yet.
    Waiting,
    /// The DM session is open; the device details are being read.
    Connecting,
    /// The device is known; the user is choosing among the offers.
    Choosing,
    /// The user chose; the delivery goes out in the held DM session.
    Selected,
    /// The phone accepted the delivery and is downloading and installing.
    Delivered,
    /// The phone reported success.
    Done,
    /// The phone reported a failure, or refused the delivery.
    Failed,
    /// The session ended without a delivery (expired, or the phone went away).
    Ended,
}

impl PortalState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PortalState::Waiting => "waiting",
            PortalState::Connecting => "connecting",
            PortalState::Choosing => "choosing",
            PortalState::Selected => "selected",
            PortalState::Delivered => "delivered",
            PortalState::Done => "done",
            PortalState::Failed => "failed",
            PortalState::Ended => "ended",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => PortalState::Waiting,
            "connecting" => PortalState::Connecting,
            "choosing" => PortalState::Choosing,
            "selected" => PortalState::Selected,
            "delivered" => PortalState::Delivered,
            "done" => PortalState::Done,
            "failed" => PortalState::Failed,
            "ended" => PortalState::Ended,
            _ => return None,
        })
    }

    /// The state as it stands at `now_ms` for a session expiring at `expires_ms`: one still
    /// choosing when it expires has ended (a choice already made still goes through).
    pub fn at(self, now_ms: i64, expires_ms: i64) -> Self {
        if self == PortalState::Choosing && now_ms > expires_ms { PortalState::Ended } else { self }
    }

    /// The state after the phone reported `code` for the delivery.
    pub fn after_result(code: ResultCode) -> Self {
        if code == ResultCode::SUCCESS { PortalState::Done } else { PortalState::Failed }
    }

    /// Whether nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(self, PortalState::Done | PortalState::Failed | PortalState::Ended)
    }
}

/// The result as the browser shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultView {
    /// The FUMO result code.
    pub code: u16,
    /// Plain words for it.
    pub message: String,
}

impl ResultView {
    /// The view of a result code.
    pub fn of(code: ResultCode) -> Self {
        ResultView { code: code.0, message: code.describe().to_owned() }
    }
}

/// `GET /portal/api/session`: everything the browser may know of its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The state.
    pub state: PortalState,
    /// The device, once known.
    pub device: Option<DeviceDetails>,
    /// The compatible offers, while choosing and after.
    pub offers: Vec<Offer>,
    /// The chosen package id.
    pub selected: Option<i64>,
    /// The outcome, once reported.
    pub result: Option<ResultView>,
}

/// `POST /portal/api/select` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectRequest {
    /// The chosen package id (one of the offers).
    pub package_id: i64,
}

/// The languages to show a phone's portal in, best first: the phone's own (`DevInfo/Lang`),
/// then the browser's `Accept-Language` by weight (ties in the order given; `q=0` and `*`
/// dropped). At most 8, to bound the work on a hostile header.
pub fn languages(device_lang: Option<&str>, accept_language: Option<&str>) -> Vec<String> {
    let mut weighted: Vec<(u16, usize, String)> = Vec::new();
    for (i, part) in accept_language.unwrap_or("").split(',').take(32).enumerate() {
        let mut fields = part.split(';');
        let tag = fields.next().unwrap_or("").trim();
        if tag.is_empty()
            || tag == "*"
            || tag.len() > 35
            || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            continue;
        }
        let q = fields.find_map(|f| f.trim().strip_prefix("q=")).map_or(Some(1000), |q| {
            q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).map(|q| (q * 1000.0) as u16)
        });
        match q {
            Some(q) if q > 0 => weighted.push((q, i, tag.to_owned())),
            _ => {}
        }
    }
    weighted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<String> = Vec::new();
    let device = device_lang.map(str::trim).filter(|l| !l.is_empty() && l.len() <= 35).map(str::to_owned);
    for tag in device.into_iter().chain(weighted.into_iter().map(|w| w.2)) {
        if !out.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            out.push(tag);
        }
    }
    out.truncate(8);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phones_language_comes_first_then_the_browsers_by_weight() {
        assert_eq!(languages(Some("de-DE"), Some("fr;q=0.5, en-GB, en;q=0.8")), ["de-DE", "en-GB", "en", "fr"]);
        assert_eq!(languages(None, Some("*, es;q=0, pt-BR;q=0.9")), ["pt-BR"]);
        assert_eq!(languages(Some("en"), Some("EN, de")), ["en", "de"], "no duplicates");
        assert_eq!(languages(None, Some("x;q=abc, <script>, de;q=2")), Vec::<String>::new());
        assert_eq!(languages(None, None), Vec::<String>::new());
        let hostile = vec!["de"; 10_000].join(",");
        assert_eq!(languages(None, Some(&hostile)), ["de"]);
    }

    #[test]
    fn only_a_choosing_session_expires() {
        assert_eq!(PortalState::Choosing.at(10, 20), PortalState::Choosing);
        assert_eq!(PortalState::Choosing.at(30, 20), PortalState::Ended);
        assert_eq!(PortalState::Selected.at(30, 20), PortalState::Selected, "a choice made goes through");
        assert_eq!(PortalState::Done.at(30, 20), PortalState::Done);
    }
}
