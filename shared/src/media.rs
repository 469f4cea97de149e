//! Media types portaldm speaks and the rules for recognising them.

/// The path DM messages are posted to, at the edge and at the origin.
pub const DM_PATH: &str = "/dm";

/// Whether `path` is the portal's (its pages, assets and API): what the edge forwards to the
/// origin beside DM messages, and what the origin's connection loop reads itself.
pub fn is_portal_path(path: &str) -> bool {
    path == "/portal" || path.starts_with("/portal/")
}

/// OMA DM 1.2 package #0, the trigger that starts a DM session.
pub const NOTIFICATION: &str = "application/vnd.syncml.notification";
/// SyncML DM in XML (OMA DM 1.2).
pub const DM_XML: &str = "application/vnd.syncml.dm+xml";
/// SyncML DM in WBXML (OMA DM 1.2).
pub const DM_WBXML: &str = "application/vnd.syncml.dm+wbxml";
/// The older SyncML XML type some clients (libdmclient) still post with.
pub const SYNCML_XML: &str = "application/vnd.syncml+xml";
/// The older SyncML WBXML type.
pub const SYNCML_WBXML: &str = "application/vnd.syncml+wbxml";

/// How a DM message body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DmEncoding {
    #[default]
    /// XML text.
    Xml,
    /// WAP binary XML.
    Wbxml,
}

impl DmEncoding {
    /// The encoding of a message the server encoded itself (a stored answer sent again): a
    /// WBXML document starts with its version byte (0x01–0x03), an XML one never does.
    pub fn of_own_message(bytes: &[u8]) -> DmEncoding {
        match bytes.first() {
            Some(0x01..=0x03) => DmEncoding::Wbxml,
            _ => DmEncoding::Xml,
        }
    }
}

/// Classifies a `Content-Type` header value (parameters such as `charset` ignored).
pub fn dm_encoding(content_type: &str) -> Option<DmEncoding> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(DM_XML) || essence.eq_ignore_ascii_case(SYNCML_XML) {
        Some(DmEncoding::Xml)
    } else if essence.eq_ignore_ascii_case(DM_WBXML) || essence.eq_ignore_ascii_case(SYNCML_WBXML) {
        Some(DmEncoding::Wbxml)
    } else {
        None
    }
}

/// The `Content-Type` of an answer in `enc` to a request of type `request`: the client's own
/// type when the encodings agree (libdmclient posts the older `vnd.syncml+…`), else the same
/// family's type for `enc` (a device profile may name an encoding other than the client's).
pub fn answer_type(request: &str, enc: DmEncoding) -> String {
    let essence = request.split(';').next().unwrap_or(DM_XML).trim().to_ascii_lowercase();
    if dm_encoding(&essence) == Some(enc) {
        return essence;
    }
    let older = essence == SYNCML_XML || essence == SYNCML_WBXML;
    match (older, enc) {
        (true, DmEncoding::Xml) => SYNCML_XML,
        (true, DmEncoding::Wbxml) => SYNCML_WBXML,
        (false, DmEncoding::Xml) => DM_XML,
        (false, DmEncoding::Wbxml) => DM_WBXML,
    }
    .to_owned()
}

/// Whether an `Accept` header lists the trigger type.
pub fn accepts_notification(accept: &str) -> bool {
    accept.split(',').any(|part| part.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(NOTIFICATION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_own_message_says_its_encoding() {
        let m = crate::syncml::SyncMl::default();
        let wbxml = crate::syncml::wbxml::encode(&m).expect("encodes");
        assert_eq!(DmEncoding::of_own_message(&wbxml), DmEncoding::Wbxml);
        assert_eq!(DmEncoding::of_own_message(&crate::syncml::xml::encode(&m)), DmEncoding::Xml);
    }

    #[test]
    fn recognises_all_dm_types_with_parameters() {
        assert_eq!(dm_encoding("application/vnd.syncml.dm+xml; charset=UTF-8"), Some(DmEncoding::Xml));
        assert_eq!(dm_encoding("application/vnd.syncml+xml"), Some(DmEncoding::Xml));
        assert_eq!(dm_encoding("Application/VND.syncml.dm+wbxml"), Some(DmEncoding::Wbxml));
        assert_eq!(dm_encoding("text/xml"), None);
    }

    #[test]
    fn an_answer_keeps_the_clients_type_family_in_the_encoding_it_goes_out_in() {
        assert_eq!(answer_type("application/vnd.syncml+xml", DmEncoding::Xml), SYNCML_XML);
        assert_eq!(answer_type("Application/VND.syncml.dm+xml; charset=UTF-8", DmEncoding::Xml), DM_XML);
        assert_eq!(answer_type("application/vnd.syncml+xml", DmEncoding::Wbxml), SYNCML_WBXML);
        assert_eq!(answer_type("application/vnd.syncml.dm+wbxml", DmEncoding::Xml), DM_XML);
    }

    #[test]
    fn finds_notification_in_accept() {
        assert!(accepts_notification("text/html, application/vnd.syncml.notification;q=0.9"));
        assert!(!accepts_notification("text/html,*/*"));
    }

    #[test]
    fn portal_paths_are_the_portal_and_what_is_under_it() {
        for p in ["/portal", "/portal/", "/portal/api/session", "/portal/assets/portal.css"] {
            assert!(is_portal_path(p), "{p}");
        }
        for p in ["/", "/portals", "/portalx/a", "/dm", "/blobs/x", "/admin/portal/"] {
            assert!(!is_portal_path(p), "{p}");
        }
    }
}
