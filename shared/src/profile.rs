//! Device profiles: what an operator knows about a handset model's own DM client, so the
//! server need not find it out in every session. A profile names the model (and optionally
//! the maker) with the catalog's `*` patterns ([`crate::catalog::glob_match`]) and says where
//! the device's FUMO and SCOMO nodes are, how it encodes and authenticates, a cap on the
//! messages it is sent, and how long its requests may be held before it gives up.
//!
//! [`matching`] picks the profile for a device: of those that fit, one naming the maker beats
//! one naming only the model; among equals the lowest id wins. [`DeviceProfile::check`] is
//! the one validation the API, the CLI and the console share.

use serde::{Deserialize, Serialize};

use crate::auth::Scheme;
use crate::catalog::glob_match;
use crate::device::DeviceDetails;
use crate::fumo::FumoPlace;
use crate::media::DmEncoding;
use crate::scomo::ScomoPlace;
use crate::session::package::MIN_MSG_SIZE;

/// Longest profile name.
pub const MAX_NAME: usize = 64;
/// Longest maker or model pattern.
pub const MAX_PATTERN: usize = 64;
/// Most model patterns in one profile.
pub const MAX_MODELS: usize = 32;
/// Longest node path (`fumo_root`, `scomo_root`).
pub const MAX_PATH: usize = 128;

/// How one handset model's DM client is served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceProfile {
    /// Assigned by the store; ignored in a request.
    #[serde(default)]
    pub id: i64,
    /// What the operator calls it.
    pub name: String,
    /// Maker pattern (`DevInfo/Man`, `*` wildcards); none: any maker.
    #[serde(default)]
    pub man: Option<String>,
    /// Model patterns (`DevInfo/Mod`, `*` wildcards), as catalog packages name models.
    pub models: Vec<String>,
    /// The device's FUMO node (e.g. `./FwUpdate/stock`), one that takes `DownloadAndUpdate`:
    /// no discovery needed.
    #[serde(default)]
    pub fumo_root: Option<String>,
    /// The device's SCOMO root (e.g. `./SCOMO`).
    #[serde(default)]
    pub scomo_root: Option<String>,
    /// The encoding it speaks (`xml` or `wbxml`).
    #[serde(default, with = "encoding")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "wbxml"))]
    pub encoding: Option<DmEncoding>,
    /// The authentication scheme it uses (`basic`, `md5`, `hmac`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "md5"))]
    pub auth_scheme: Option<Scheme>,
    /// A cap on the messages it is sent, below the `MaxMsgSize` it announces (some clients
    /// announce more than they take), bytes.
    #[serde(default)]
    pub max_msg_size: Option<u64>,
    /// How long its HTTP requests may be held while the user chooses (seconds; at most the
    /// origin's `hold_secs`): its client gives up sooner.
    #[serde(default)]
    pub hold_secs: Option<u64>,
}

/// Why a profile is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// No name, or a name too long.
    #[error("a profile needs a name of 1 to {MAX_NAME} characters")]
    Name,
    /// No model pattern, or too many.
    #[error("a profile needs 1 to {MAX_MODELS} model patterns")]
    Models,
    /// A maker or model pattern that is empty, too long or holds control characters.
    #[error("the pattern {0:?} is not usable: 1 to {MAX_PATTERN} printable characters")]
    Pattern(String),
    /// A node path that is not an absolute, plain DM tree URI.
    #[error("{field} {path:?} is not a node path: {why}")]
    Path {
        /// `fumo_root` or `scomo_root`.
        field: &'static str,
        /// The path given.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A message cap too small for a header and a command.
    #[error("max_msg_size {0} is below the smallest message portaldm can build ({MIN_MSG_SIZE} bytes)")]
    MsgSize(u64),
    /// A hold of zero, or longer than the origin holds any request.
    #[error("hold_secs {given} must be 1 to {limit} (the origin's hold_secs)")]
    Hold {
        /// The hold given.
        given: u64,
        /// The origin's limit.
        limit: u64,
    },
}

impl DeviceProfile {
    /// Checks every field; `max_hold_secs` is the origin's own hold limit.
    pub fn check(&self, max_hold_secs: u64) -> Result<(), ProfileError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(ProfileError::Name);
        }
        if self.models.is_empty() || self.models.len() > MAX_MODELS {
            return Err(ProfileError::Models);
        }
        for p in self.man.iter().chain(&self.models) {
            if p.is_empty() || p.chars().count() > MAX_PATTERN || p.chars().any(char::is_control) {
                return Err(ProfileError::Pattern(p.clone()));
            }
        }
        for (field, path) in [("fumo_root", &self.fumo_root), ("scomo_root", &self.scomo_root)] {
            if let Some(path) = path {
                node_path(path).map_err(|why| ProfileError::Path { field, path: path.clone(), why })?;
            }
        }
        if let Some(n) = self.max_msg_size.filter(|&n| n < MIN_MSG_SIZE as u64) {
            return Err(ProfileError::MsgSize(n));
        }
        if let Some(given) = self.hold_secs.filter(|&h| h == 0 || h > max_hold_secs) {
            return Err(ProfileError::Hold { given, limit: max_hold_secs });
        }
        Ok(())
    }

    /// The profile checked, its name trimmed: what the store keeps.
    pub fn checked(mut self, max_hold_secs: u64) -> Result<Self, ProfileError> {
        self.name = self.name.trim().to_owned();
        self.check(max_hold_secs)?;
        Ok(self)
    }

    /// Whether it fits `device`: the model matches one of its patterns, and the maker its
    /// maker pattern when it names one. A device that reports no model fits none.
    pub fn fits(&self, device: &DeviceDetails) -> bool {
        let Some(model) = device.model.as_deref() else { return false };
        let man_fits = match (&self.man, device.man.as_deref()) {
            (None, _) => true,
            (Some(p), Some(man)) => glob_match(p, man),
            (Some(_), None) => false,
        };
        man_fits && self.models.iter().any(|p| glob_match(p, model))
    }

    /// Where the device's FUMO node is, when the profile says (no discovery needed): a node
    /// that takes `DownloadAndUpdate`, as FUMO nodes that portaldm can deliver to do.
    pub fn fumo_place(&self) -> Option<FumoPlace> {
        self.fumo_root.as_ref().map(|root| FumoPlace::At { root: root.clone(), download_and_update: true })
    }

    /// Where the device's SCOMO root is, when the profile says (not searched for).
    pub fn scomo_place(&self) -> Option<ScomoPlace> {
        self.scomo_root.as_ref().map(|root| ScomoPlace::At { root: root.clone() })
    }

    /// How long to hold this device's requests, with the origin's own hold `origin_secs`: the
    /// shorter.
    pub fn hold_for(&self, origin_secs: u64) -> u64 {
        self.hold_secs.map_or(origin_secs, |h| h.min(origin_secs))
    }
}

/// The scheme of the challenge a device is sent. A device with an account gets its account's
/// (`account`), the only one its credentials are checked in, so no profile moves it to a
/// weaker one. When accounts are required every device without one gets the server's own
/// `default`, so a profile chosen by the DevInfo a sender writes cannot tell known devices
/// from unknown ones. Otherwise a device gets its profile's scheme, else `default`.
pub fn challenge_scheme(
    profile: Option<&DeviceProfile>,
    account: Option<Scheme>,
    accounts_required: bool,
    default: Scheme,
) -> Scheme {
    match account {
        Some(scheme) => scheme,
        None if accounts_required => default,
        None => profile.and_then(|p| p.auth_scheme).unwrap_or(default),
    }
}

/// The profile for `device`: of those that fit, one naming the maker beats one naming only
/// the model; among equals, the lowest id.
pub fn matching<'a>(profiles: &'a [DeviceProfile], device: &DeviceDetails) -> Option<&'a DeviceProfile> {
    profiles.iter().filter(|p| p.fits(device)).min_by_key(|p| (p.man.is_none(), p.id))
}

/// Why `path` is not an absolute DM tree URI of plain node names (OMA-TS-DM_TND-V1_2, 6:
/// `./` then `/`-separated names), or `Ok`.
fn node_path(path: &str) -> Result<(), &'static str> {
    if path.len() > MAX_PATH {
        return Err("longer than 128 characters");
    }
    let Some(rest) = path.strip_prefix("./") else { return Err("it must start with ./") };
    // A query would make it a property or a listing request, not a node.
    if path.contains('?') || path.contains('#') {
        return Err("no ? or # in a node path");
    }
    if path.chars().any(char::is_control) {
        return Err("no control characters in a node path");
    }
    for segment in rest.split('/') {
        match segment {
            "" => return Err("empty segment (// or a trailing /)"),
            "." | ".." => return Err("no . or .. segments"),
            _ => {}
        }
    }
    Ok(())
}

/// `DmEncoding` as profiles name it: `xml` or `wbxml`.
mod encoding {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::media::DmEncoding;

    /// Writes `xml` or `wbxml`.
    pub fn serialize<S: Serializer>(v: &Option<DmEncoding>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(e) => s.serialize_some(super::encoding_name(*e)),
            None => s.serialize_none(),
        }
    }

    /// Reads `xml` or `wbxml`, any case.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DmEncoding>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::parse_encoding(&s)
                .map(Some)
                // Quoted: the value is echoed in the refusal, so it is cut and escaped.
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("encoding {}: expected xml or wbxml", crate::text::Quoted(&s)))
                }),
        }
    }
}

/// How profiles name an encoding: `xml` or `wbxml`.
pub fn encoding_name(e: DmEncoding) -> &'static str {
    match e {
        DmEncoding::Xml => "xml",
        DmEncoding::Wbxml => "wbxml",
    }
}

/// How profiles name a scheme: `basic`, `md5` or `hmac` (what [`Scheme::parse`] reads).
pub fn scheme_name(s: Scheme) -> &'static str {
    match s {
        Scheme::Basic => "basic",
        Scheme::Md5 => "md5",
        Scheme::Hmac => "hmac",
    }
}

/// Parses `xml` or `wbxml` (any case).
pub fn parse_encoding(s: &str) -> Option<DmEncoding> {
    match s.trim().to_ascii_lowercase().as_str() {
        "xml" => Some(DmEncoding::Xml),
        "wbxml" => Some(DmEncoding::Wbxml),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::package::Limits;

    fn profile(id: i64, man: Option<&str>, models: &[&str]) -> DeviceProfile {
        DeviceProfile {
            id,
            name: format!("p{id}"),
            man: man.map(Into::into),
            models: models.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        }
    }

    fn device(man: Option<&str>, model: Option<&str>) -> DeviceDetails {
        DeviceDetails {
            dev_id: "IMEI:1".into(),
            man: man.map(Into::into),
            model: model.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn the_maker_and_model_beat_the_model_alone_and_ties_go_to_the_lowest_id() {
        let ps = [
            profile(5, None, &["X1*"]),
            profile(9, Some("acme*"), &["X1"]),
            profile(7, Some("ACME Corp"), &["x1"]),
            profile(3, None, &["X*"]),
        ];
        let id = |d: &DeviceDetails| matching(&ps, d).map(|p| p.id);
        assert_eq!(id(&device(Some("Acme Corp"), Some("X1"))), Some(7), "maker named, lowest id");
        assert_eq!(id(&device(Some("Other"), Some("X1"))), Some(3), "model only, lowest id");
        assert_eq!(id(&device(None, Some("X1"))), Some(3), "no maker reported: no maker profile fits");
        assert_eq!(id(&device(Some("Acme"), Some("Y1"))), None);
        assert_eq!(id(&device(Some("Acme"), None)), None, "no model reported: none fits");
        assert_eq!(matching(&[], &device(None, Some("X1"))), None);
    }

    #[test]
    fn refuses_node_paths_that_are_not_plain_absolute_uris() {
        let with = |root: &str| DeviceProfile { fumo_root: Some(root.into()), ..profile(1, None, &["X1"]) };
        assert_eq!(with("./FwUpdate/stock").check(25), Ok(()));
        assert_eq!(with("./FUMO").check(25), Ok(()));
        for bad in [
            "FUMO",
            "/FUMO",
            "./",
            "./a//b",
            "./a/",
            "./a/../DMAcc",
            "./a/./b",
            "./FUMO?list=Struct",
            "./a#b",
            "./a\u{1}",
        ] {
            assert!(matches!(with(bad).check(25), Err(ProfileError::Path { field: "fumo_root", .. })), "{bad:?}");
        }
        let long = format!("./{}", "a".repeat(MAX_PATH - 1));
        assert!(with(&long).check(25).is_err());
        assert!(with(&long[..MAX_PATH]).check(25).is_ok());
        let scomo = DeviceProfile { scomo_root: Some("../SCOMO".into()), ..profile(1, None, &["X1"]) };
        assert!(matches!(scomo.check(25), Err(ProfileError::Path { field: "scomo_root", .. })));
    }

    #[test]
    fn refuses_holds_past_the_origins_and_caps_too_small() {
        let p = profile(1, None, &["X1"]);
        let hold = |h| DeviceProfile { hold_secs: Some(h), ..p.clone() }.check(25);
        assert_eq!(hold(25), Ok(()));
        assert_eq!(hold(26), Err(ProfileError::Hold { given: 26, limit: 25 }));
        assert_eq!(hold(0), Err(ProfileError::Hold { given: 0, limit: 25 }));
        let cap = |n| DeviceProfile { max_msg_size: Some(n), ..p.clone() }.check(25);
        assert_eq!(cap(MIN_MSG_SIZE as u64), Ok(()));
        assert_eq!(cap(100), Err(ProfileError::MsgSize(100)));
        assert_eq!(DeviceProfile { models: vec![], ..p.clone() }.check(25), Err(ProfileError::Models));
        assert_eq!(DeviceProfile { name: "  ".into(), ..p.clone() }.check(25), Err(ProfileError::Name));
        assert!(matches!(
            DeviceProfile { man: Some(String::new()), ..p.clone() }.check(25),
            Err(ProfileError::Pattern(_))
        ));
        assert_eq!(DeviceProfile { name: " stock ".into(), ..p }.checked(25).map(|p| p.name), Ok("stock".into()));
    }

    #[test]
    fn the_cap_lowers_what_the_device_announced() {
        let announced = |m| Limits { max_msg: m, max_obj: None };
        assert_eq!(announced(Some(10_000)).capped(Some(4000)).max_msg, Some(4000));
        assert_eq!(announced(Some(2000)).capped(Some(4000)).max_msg, Some(2000));
        assert_eq!(announced(None).capped(Some(4000)).max_msg, Some(4000));
        assert_eq!(announced(Some(10_000)).capped(None).max_msg, Some(10_000));
    }

    #[test]
    fn a_profiles_scheme_is_the_challenge_a_device_without_an_account_gets() {
        let p = DeviceProfile { auth_scheme: Some(Scheme::Basic), ..profile(1, None, &["X1"]) };
        assert_eq!(challenge_scheme(Some(&p), None, false, Scheme::Md5), Scheme::Basic);
        assert_eq!(challenge_scheme(Some(&profile(2, None, &["X1"])), None, false, Scheme::Md5), Scheme::Md5);
        assert_eq!(challenge_scheme(None, None, false, Scheme::Hmac), Scheme::Hmac);
        // A device with an account is never moved off its account's scheme (to Basic, say).
        assert_eq!(challenge_scheme(Some(&p), Some(Scheme::Md5), false, Scheme::Md5), Scheme::Md5);
        // With accounts required, a profile does not tell an unknown device from a known one.
        assert_eq!(challenge_scheme(Some(&p), None, true, Scheme::Md5), Scheme::Md5);
        let s = DeviceProfile { scomo_root: Some("./Apps/SCOMO".into()), ..p };
        assert_eq!(s.scomo_place(), Some(ScomoPlace::At { root: "./Apps/SCOMO".into() }));
    }

    #[test]
    fn a_profile_names_the_fumo_node_and_never_holds_past_the_origin() {
        let p = DeviceProfile {
            fumo_root: Some("./FwUpdate/stock".into()),
            hold_secs: Some(8),
            ..profile(1, None, &["X1"])
        };
        assert_eq!(p.fumo_place(), Some(FumoPlace::At { root: "./FwUpdate/stock".into(), download_and_update: true }));
        assert!(p.fumo_place().is_some_and(|f| f.takes_firmware()));
        assert_eq!((p.hold_for(25), p.hold_for(5)), (8, 5), "the origin's limit lowered since the profile was made");
        let bare = profile(2, None, &["X1"]);
        assert_eq!((bare.fumo_place(), bare.hold_for(25)), (None, 25));
    }

    #[test]
    fn json_names_the_encoding_and_scheme_in_lower_case() {
        let p = DeviceProfile {
            encoding: Some(DmEncoding::Wbxml),
            auth_scheme: Some(Scheme::Md5),
            ..profile(1, None, &["X1"])
        };
        let v = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!((v["encoding"].as_str(), v["auth_scheme"].as_str()), (Some("wbxml"), Some("md5")));
        let back: Result<DeviceProfile, _> = serde_json::from_value(v);
        assert_eq!(back.ok(), Some(p));
        let bad = serde_json::json!({ "name": "n", "models": ["X"], "encoding": "json" });
        assert!(serde_json::from_value::<DeviceProfile>(bad).is_err());
        // A refused value is echoed cut and escaped, not whole.
        let huge = serde_json::json!({ "name": "n", "models": ["X"], "encoding": format!("\u{1b}[2J{}", "x".repeat(100_000)) });
        let why = serde_json::from_value::<DeviceProfile>(huge).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(why.len() < 1_000 && !why.contains('\u{1b}'), "{} bytes: {}", why.len(), &why[..why.len().min(80)]);
        let unknown = serde_json::json!({ "name": "n", "models": ["X"], "fumo": "./FUMO" });
        assert!(serde_json::from_value::<DeviceProfile>(unknown).is_err(), "a misspelt field is refused");
    }

    proptest::proptest! {
        #[test]
        fn matching_never_panics(
            pats in proptest::collection::vec(("[a-zA-Z*]{0,6}", proptest::option::of("[a-zA-Z*]{0,4}"), 0i64..20), 0..8),
            man in proptest::option::of("[a-zA-Z]{0,6}"),
            model in proptest::option::of("\\PC{0,8}"),
        ) {
            let ps: Vec<DeviceProfile> =
                pats.iter().map(|(m, man, id)| profile(*id, man.as_deref(), &[m.as_str()])).collect();
            let d = device(man.as_deref(), model.as_deref());
            if let Some(p) = matching(&ps, &d) {
                proptest::prop_assert!(p.fits(&d));
                // Nothing that fits is more specific, or as specific with a lower id.
                proptest::prop_assert!(ps.iter().filter(|q| q.fits(&d)).all(|q| (q.man.is_none(), q.id) >= (p.man.is_none(), p.id)));
            } else {
                proptest::prop_assert!(!ps.iter().any(|q| q.fits(&d)));
            }
        }

        #[test]
        fn the_check_refuses_paths_with_dot_segments_or_queries(
            pre in "[A-Za-z0-9]{1,8}",
            bad in proptest::sample::select(vec!["..", ".", "", "a?b", "?", "a#"]),
            post in "[A-Za-z0-9]{1,8}",
        ) {
            let p = DeviceProfile { fumo_root: Some(format!("./{pre}/{bad}/{post}")), ..profile(1, None, &["X1"]) };
            proptest::prop_assert!(p.check(25).is_err());
            let ok = DeviceProfile { fumo_root: Some(format!("./{pre}/{post}")), ..p };
            proptest::prop_assert!(ok.check(25).is_ok());
        }
    }
}
