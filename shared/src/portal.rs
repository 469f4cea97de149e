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
    /// The device is known; before any offer is listed, the browser's user confirms that the
    /// phone that answered (its model and masked DevId) is theirs.
    Identified,
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
            PortalState::Identified => "identified",
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
            "identified" => PortalState::Identified,
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
    /// waiting for its phone, confirming the phone or choosing when it expires has ended (a
    /// choice already made still goes through).
    pub fn at(self, now_ms: i64, expires_ms: i64) -> Self {
        let open = self.is_undecided() || self == PortalState::Waiting;
        if open && now_ms > expires_ms { PortalState::Ended } else { self }
    }

    /// The state as it stands at `now_ms` for the browser: [`PortalState::at`], and a session
    /// still undecided whose phone has not answered since `phone_seen_ms` for a whole hold
    /// (`hold_ms`) and [`PHONE_GRACE_MS`] more has ended too: the phone left (a client that
    /// ignores a package 4 without `Final` sends no Alert 1222), and a choice now would reach
    /// nobody. `phone_seen_ms` 0 is not known.
    pub fn as_of(self, now_ms: i64, expires_ms: i64, phone_seen_ms: i64, hold_ms: i64) -> Self {
        let gone = phone_seen_ms > 0 && now_ms.saturating_sub(phone_seen_ms) > hold_ms.saturating_add(PHONE_GRACE_MS);
        if self.is_undecided() && gone { PortalState::Ended } else { self.at(now_ms, expires_ms) }
    }

    /// Whether a session in this state was undecided and has ended by `now_ms` because it
    /// expired ([`PortalState::at`]): its end is for the store to write.
    pub fn lapsed(self, now_ms: i64, expires_ms: i64) -> bool {
        self.is_undecided() && self.at(now_ms, expires_ms) == PortalState::Ended
    }

    /// [`PortalState::lapsed`] as the browser sees it: expired, or its phone left
    /// ([`PortalState::as_of`]).
    pub fn lapsed_as_of(self, now_ms: i64, expires_ms: i64, phone_seen_ms: i64, hold_ms: i64) -> bool {
        self.is_undecided() && self.as_of(now_ms, expires_ms, phone_seen_ms, hold_ms) == PortalState::Ended
    }

    /// Whether the browser's user has yet to decide (is this my phone, what to install): the
    /// held DM session waits on.
    pub fn is_undecided(self) -> bool {
        Self::UNDECIDED.contains(&self)
    }

    /// The states in which the user has yet to decide ([`PortalState::is_undecided`]).
    pub const UNDECIDED: [PortalState; 2] = [PortalState::Identified, PortalState::Choosing];

    /// The state after the phone reported `code` for the delivery.
    pub fn after_result(code: ResultCode) -> Self {
        if code == ResultCode::SUCCESS { PortalState::Done } else { PortalState::Failed }
    }

    /// Whether nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(self, PortalState::Done | PortalState::Failed | PortalState::Ended)
    }
}

/// How long after a held package 4 ended the phone may take to ask for the next one before
/// its portal session counts as abandoned.
pub const PHONE_GRACE_MS: i64 = 20_000;

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

/// `POST /portal/api/identify` body: the browser's user's answer to "is this your phone?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifyRequest {
    /// True: it is; offers are listed. False: it is not; the session ends.
    pub mine: bool,
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

/// The languages the portal's pages are written in; the first is the fallback.
pub const PAGE_LANGUAGES: [&str; 2] = ["en", "de"];

/// The page language for a phone: the first of [`languages`] whose primary language the
/// portal is written in, else English. The edge keys its cached pages by it, and the origin
/// renders in it, so both agree.
pub fn page_language(device_lang: Option<&str>, accept_language: Option<&str>) -> &'static str {
    for tag in languages(device_lang, accept_language) {
        let primary = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        if let Some(l) = PAGE_LANGUAGES.iter().find(|l| **l == primary) {
            return l;
        }
    }
    PAGE_LANGUAGES[0]
}

/// Whether a state-changing browser request comes from another site and must be refused:
/// `Sec-Fetch-Site: cross-site` (browsers set it and pages cannot), or an `Origin` that is not
/// `own_origin` (`scheme://host[:port]`, as a URL's origin serialises it: scheme, host and port
/// all count, so a plain-http page of the same host is another origin). The `SameSite=Lax`
/// cookie already keeps other sites' forms cookieless; this refuses them outright, and also
/// same-site-but-other-origin posts.
pub fn is_cross_site(sec_fetch_site: Option<&str>, origin: Option<&str>, own_origin: Option<&str>) -> bool {
    if sec_fetch_site.is_some_and(|s| s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site")) {
        return true;
    }
    match (origin, own_origin) {
        // Privacy-sensitive contexts send `Origin: null`: not ours.
        (Some(o), Some(own)) => o.eq_ignore_ascii_case("null") || !o.eq_ignore_ascii_case(own),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_language_is_the_first_the_portal_speaks() {
        assert_eq!(page_language(Some("de-AT"), Some("en")), "de");
        assert_eq!(page_language(Some("fr"), Some("fr-CH, de;q=0.4, en;q=0.3")), "de");
        assert_eq!(page_language(None, Some("es")), "en");
        assert_eq!(page_language(None, None), "en");
        assert_eq!(page_language(Some("DE_de"), None), "de");
    }

    #[test]
    fn posts_from_other_sites_are_cross_site() {
        let own = Some("https://p.example");
        assert!(!is_cross_site(Some("same-origin"), Some("https://p.example"), own));
        assert!(!is_cross_site(None, None, own), "no Origin: an older browser's form, same site");
        assert!(is_cross_site(Some("cross-site"), None, own));
        assert!(is_cross_site(Some("same-site"), None, own), "a sibling subdomain is another origin");
        assert!(is_cross_site(None, Some("https://evil.example"), own));
        assert!(is_cross_site(None, Some("null"), own));
        assert!(is_cross_site(None, Some("null"), Some("null")), "an opaque origin is nobody's");
        assert!(is_cross_site(None, Some("http://p.example"), own), "the same host over plain http");
        assert!(is_cross_site(None, Some("https://p.example:8443"), own), "another port");
        assert!(!is_cross_site(None, Some("HTTPS://P.example"), own));
        assert!(!is_cross_site(None, Some("http://127.0.0.1:8787"), Some("http://127.0.0.1:8787")));
    }

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
    fn an_undecided_session_whose_phone_left_has_ended() {
        let (hold, seen) = (25_000, 1_000_000);
        let later = seen + hold + PHONE_GRACE_MS;
        assert_eq!(PortalState::Choosing.as_of(later, i64::MAX, seen, hold), PortalState::Choosing);
        assert_eq!(PortalState::Choosing.as_of(later + 1, i64::MAX, seen, hold), PortalState::Ended);
        assert_eq!(PortalState::Identified.as_of(later + 1, i64::MAX, seen, hold), PortalState::Ended);
        assert_eq!(PortalState::Selected.as_of(later + 1, i64::MAX, seen, hold), PortalState::Selected);
        assert_eq!(PortalState::Choosing.as_of(later + 1, i64::MAX, 0, hold), PortalState::Choosing, "not known");
        assert!(PortalState::Choosing.lapsed_as_of(later + 1, i64::MAX, seen, hold));
        assert!(!PortalState::Choosing.lapsed_as_of(later, i64::MAX, seen, hold));
        assert!(!PortalState::Selected.lapsed_as_of(later + 1, 0, seen, hold), "a choice is never lapsed");
    }

    #[test]
    fn only_an_undecided_session_expires() {
        assert_eq!(PortalState::Choosing.at(10, 20), PortalState::Choosing);
        assert_eq!(PortalState::Choosing.at(30, 20), PortalState::Ended);
        assert_eq!(PortalState::Identified.at(30, 20), PortalState::Ended);
        assert_eq!(PortalState::parse(PortalState::Identified.as_str()), Some(PortalState::Identified));
        assert_eq!(PortalState::Selected.at(30, 20), PortalState::Selected, "a choice made goes through");
        assert_eq!(PortalState::Done.at(30, 20), PortalState::Done);
        assert!(PortalState::Choosing.lapsed(30, 20) && PortalState::Identified.lapsed(30, 20));
        assert!(!PortalState::Choosing.lapsed(10, 20), "not yet");
        assert!(!PortalState::Selected.lapsed(30, 20) && !PortalState::Ended.lapsed(30, 20));
        assert!(!PortalState::Waiting.lapsed(30, 20), "no phone: nothing to end in its name");
    }
}
