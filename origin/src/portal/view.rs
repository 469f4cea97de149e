//! What a portal page shows, built from the session and the offers in the page's language;
//! the templates in `origin/templates/portal/` only lay it out.

use askama::Template;
use portaldm_shared::catalog::{Offer, PackageKind};
use portaldm_shared::portal::PortalState;

use super::i18n::Strings;
use crate::store::PortalRecord;

/// One offer as listed.
#[derive(Debug, Clone)]
pub struct OfferRow {
    /// Package id (the form's value).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// "Size: 263 KB".
    pub size: String,
    /// Just the size.
    pub size_only: String,
    /// Release notes in the page's language.
    pub notes: String,
    /// The recommended one.
    pub recommended: bool,
    /// "Install 1.2.0…".
    pub install: String,
}

/// The offers of one kind.
#[derive(Debug, Clone)]
pub struct Group {
    /// Element id of its heading.
    pub id: &'static str,
    /// "Firmware", "Apps".
    pub heading: String,
    /// Newest first.
    pub offers: Vec<OfferRow>,
}

/// What the live part of the page shows.
#[derive(Debug, Clone)]
pub enum Body {
    /// No session yet: how to start.
    Start,
    /// The trigger is out; the phone has not connected.
    Waiting,
    /// The phone connected; its details are being read.
    Connecting,
    /// "Is this your phone?": the phone that answered, before any offer is listed.
    Identified {
        /// "portaldm PDM-Phone-1 (IMEI:•••7518)".
        phone: String,
    },
    /// The offers, to choose from.
    Choosing {
        /// "PDM-Phone-1 on firmware 1.0.0".
        device: String,
        /// Firmware, then applications; empty groups left out.
        groups: Vec<Group>,
    },
    /// "Install this?", before the choice is sent.
    Confirm {
        /// "Install X 1.2?".
        heading: String,
        /// What will happen.
        detail: String,
        /// The offer.
        offer: OfferRow,
    },
    /// Chosen and on its way, or being installed.
    Progress {
        /// What is happening.
        message: String,
        /// What to keep in mind, if anything.
        detail: Option<String>,
        /// Whether the phone accepted the delivery (downloading and installing).
        delivered: bool,
    },
    /// Installed.
    Done {
        /// "Done: X 1.2 is installed."
        message: String,
    },
    /// Not installed: why, in plain words, and what to try.
    Failed {
        /// The result in plain words.
        reason: String,
        /// "Result code 410".
        code: String,
        /// What to try next.
        advice: String,
    },
    /// Over without a delivery.
    Ended,
}

/// A whole portal page, or its live part.
pub struct View {
    /// The page language (`<html lang>`).
    pub lang: &'static str,
    /// Its words.
    pub t: &'static Strings,
    /// What it shows.
    pub body: Body,
    /// A message above it (an error), if any.
    pub notice: Option<String>,
    /// Whether nothing more will change (no polling, no refresh).
    pub is_final: bool,
    /// The landing page: the script starts the trigger.
    pub start: bool,
}

/// The full page.
#[derive(Template)]
#[template(path = "portal/page.html")]
pub struct PageTemplate<'a> {
    /// The view.
    pub v: &'a View,
}

/// Only the live part, for the script to swap in.
#[derive(Template)]
#[template(path = "portal/live.html")]
pub struct LiveTemplate<'a> {
    /// The view.
    pub v: &'a View,
}

fn row(t: &Strings, o: &Offer) -> OfferRow {
    let p = &o.package;
    let size_only = t.size(p.size);
    OfferRow {
        id: p.id,
        name: p.rules.name.clone(),
        version: p.rules.version.clone(),
        size: t.fmt("offer.size", &[("size", &size_only)]),
        size_only,
        notes: o.notes.clone(),
        recommended: o.recommended,
        install: t.fmt("offer.install", &[("version", &p.rules.version)]),
    }
}

/// The result of `code` in plain words and what to try next.
fn result_words(t: &Strings, code: u16) -> (&str, &str) {
    let reason = match code {
        200 => t.get("result.200"),
        402 => t.get("result.402"),
        404 => t.get("result.404"),
        407 => t.get("result.407"),
        408 => t.get("result.408"),
        410 => t.get("result.410"),
        412 => t.get("result.412"),
        _ => t.get("result.other"),
    };
    let advice = match code {
        407 | 412 => t.get("advice.download"),
        402 | 404 => t.get("advice.package"),
        410 => t.get("advice.device"),
        _ => t.get("advice.other"),
    };
    (reason, advice)
}

impl View {
    /// The landing page: no session yet.
    pub fn start(lang: &'static str, t: &'static Strings) -> View {
        View { lang, t, body: Body::Start, notice: None, is_final: false, start: true }
    }

    /// The page for a session (none yet: waiting for the phone) and its offers.
    pub fn session(
        lang: &'static str,
        t: &'static Strings,
        p: Option<&PortalRecord>,
        state: PortalState,
        offers: &[Offer],
    ) -> View {
        let Some(p) = p else {
            return View { lang, t, body: Body::Waiting, notice: None, is_final: false, start: false };
        };
        let chosen = offers.iter().find(|o| Some(o.package.id) == p.package_id).map(|o| &o.package);
        let (name, version) = chosen
            .map(|c| (c.rules.name.as_str(), c.rules.version.as_str()))
            .or_else(|| p.delivery.as_ref().map(|d| (d.pkg_name.as_str(), d.pkg_version.as_str())))
            .unwrap_or(("", ""));
        let body = match state {
            PortalState::Waiting => Body::Waiting,
            PortalState::Connecting => Body::Connecting,
            PortalState::Identified => Body::Identified {
                phone: t.fmt(
                    "identify.phone",
                    &[
                        ("maker", p.device.man.as_deref().unwrap_or("?")),
                        ("model", p.device.model.as_deref().unwrap_or("?")),
                        ("id", &portaldm_shared::device::masked_dev_id(&p.device.dev_id)),
                    ],
                ),
            },
            PortalState::Choosing => Body::Choosing {
                device: t.fmt(
                    "device.summary",
                    &[
                        ("model", p.device.model.as_deref().unwrap_or("?")),
                        ("firmware", p.device.fw_v.as_deref().unwrap_or("?")),
                    ],
                ),
                groups: [
                    (PackageKind::Firmware, "group-firmware", "offers.firmware"),
                    (PackageKind::Application, "group-apps", "offers.applications"),
                ]
                .into_iter()
                .map(|(kind, id, key)| Group {
                    id,
                    heading: t.get(key).to_owned(),
                    offers: offers.iter().filter(|o| o.package.rules.kind == kind).map(|o| row(t, o)).collect(),
                })
                .filter(|g| !g.offers.is_empty())
                .collect(),
            },
            PortalState::Selected => {
                Body::Progress { message: t.get("state.selected").to_owned(), detail: None, delivered: false }
            }
            PortalState::Delivered => Body::Progress {
                message: t.fmt("state.delivered", &[("name", name), ("version", version)]),
                detail: Some(t.get("state.delivered.detail").to_owned()),
                delivered: true,
            },
            PortalState::Done => Body::Done { message: t.fmt("state.done", &[("name", name), ("version", version)]) },
            PortalState::Failed => {
                let code = p.result_code.unwrap_or(0);
                let (reason, advice) = result_words(t, code);
                Body::Failed {
                    reason: reason.to_owned(),
                    code: t.fmt("result.code", &[("code", &code.to_string())]),
                    advice: advice.to_owned(),
                }
            }
            PortalState::Ended => Body::Ended,
        };
        View { lang, t, body, notice: None, is_final: state.is_final(), start: false }
    }

    /// "Install this?" for one offer.
    pub fn confirm(lang: &'static str, t: &'static Strings, offer: &Offer) -> View {
        let o = row(t, offer);
        let heading = t.fmt("confirm.heading", &[("name", &o.name), ("version", &o.version)]);
        let detail = match offer.package.rules.kind {
            PackageKind::Settings => t.get("confirm.settings").to_owned(),
            _ => t.fmt("confirm.detail", &[("size", &o.size_only)]),
        };
        // Nothing changes while the user decides: no polling away from the question.
        View { lang, t, body: Body::Confirm { heading, detail, offer: o }, notice: None, is_final: true, start: false }
    }

    /// The same view with a message above it.
    pub fn with_notice(mut self, notice: &str) -> View {
        self.notice = Some(notice.to_owned());
        self
    }

    /// The result code a failure shows (for tests of the wording).
    #[cfg(test)]
    pub fn failed_words(t: &Strings, code: u16) -> (String, String) {
        let (a, b) = result_words(t, code);
        (a.to_owned(), b.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::i18n::strings;

    #[test]
    fn failures_are_explained_with_what_to_try() {
        let t = strings("en");
        assert_eq!(View::failed_words(t, 412).0, "The download server could not be reached.");
        assert!(View::failed_words(t, 412).1.contains("data connection"));
        assert!(View::failed_words(t, 499).0.contains("problem"));
        assert!(View::failed_words(strings("de"), 410).1.contains("Speicher"));
    }

    #[test]
    fn pages_escape_what_they_show() {
        let t = strings("en");
        let v = View::start("en", t).with_notice("<script>alert(1)</script>");
        let html = PageTemplate { v: &v }.render().expect("renders");
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("lang=\"en\""));
    }
}
