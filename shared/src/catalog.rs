//! Catalog matching: which packages fit a device, and in what order they are offered.
//!
//! A firmware package fits when the device's model matches one of its model patterns
//! (`*` matches any run of characters, case-insensitive), its hardware revision (`HwV`)
//! matches one of the package's revision patterns (when it lists any), the device's firmware
//! lies in the package's base range (inclusive, by [`crate::fwver`]) or, for a delta, is
//! exactly the one version the delta applies to, the package is newer than what the device
//! runs, and the device falls inside the package's staged rollout. Offers are newest first;
//! the newest is recommended.
//!
//! A package may also be limited to countries (ISO 3166-1 alpha-2) and operators: it is then
//! offered only to portal sessions known to come from one of them ([`Place`]: the country the
//! edge saw the browser in, and the operator whose edge minted the trigger, its `iss`). A
//! session whose country or operator is unknown (a device's own update request) gets none.
//!
//! A rollout of `p` percent offers the package to the devices whose [`rollout_bucket`] for
//! it is below `p`: the same devices every time, more of them (never fewer) as `p` grows,
//! and a different sample for every package.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use serde::{Deserialize, Serialize};

use crate::device::DeviceDetails;
use crate::fwver;

/// What a package installs, and so how it is delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PackageKind {
    /// Firmware: FUMO; its version is compared with the phone's firmware.
    #[default]
    Firmware,
    /// An application: SCOMO `DownloadInstall`; the base range still limits which
    /// firmware it runs on.
    Application,
    /// Settings (`crate::settings`), set in the session; like an application, not compared
    /// with the firmware's version.
    Settings,
}

impl PackageKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Firmware => "firmware",
            PackageKind::Application => "application",
            PackageKind::Settings => "settings",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firmware" => Some(PackageKind::Firmware),
            "application" => Some(PackageKind::Application),
            "settings" => Some(PackageKind::Settings),
            _ => None,
        }
    }

    /// The management object it is delivered through.
    pub fn delivery(self) -> crate::fumo::DeliveryKind {
        match self {
            PackageKind::Firmware => crate::fumo::DeliveryKind::Firmware,
            PackageKind::Application => crate::fumo::DeliveryKind::Application,
            PackageKind::Settings => crate::fumo::DeliveryKind::Settings,
        }
    }
}

/// What an admin says of a package when adding it: what it is, its notes, and which devices
/// are offered it. One type for the admin API's request, the store's insert and the catalog,
/// so a new rule is written once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageRules {
    /// Display name and `PkgName`.
    pub name: String,
    /// `PkgVersion`: the firmware version it installs.
    pub version: String,
    /// Model patterns it fits (`*` wildcards).
    pub models: Vec<String>,
    /// Lowest base firmware it applies to, inclusive.
    #[serde(default)]
    pub base_min: Option<String>,
    /// Highest base firmware it applies to, inclusive.
    #[serde(default)]
    pub base_max: Option<String>,
    /// Release notes (in the operator's default language).
    #[serde(default)]
    pub notes: String,
    /// Hardware revision patterns it fits (`HwV`, `*` wildcards); empty: any revision.
    #[serde(default)]
    pub hw_revisions: Vec<String>,
    /// For a delta package: the one base firmware it applies to (the base range is unused).
    #[serde(default)]
    pub delta_from: Option<String>,
    /// Share of the fitting devices it is offered to, 0 to 100 (default 100; see
    /// [`rollout_bucket`]).
    #[serde(default = "full_rollout")]
    pub rollout_percent: u8,
    /// Release notes by language tag (`de`, `pt-BR`), beside the default `notes`.
    #[serde(default)]
    pub notes_by_lang: BTreeMap<String, String>,
    /// `firmware` (default, FUMO), `application` (SCOMO) or `settings`.
    #[serde(default)]
    pub kind: PackageKind,
    /// Countries it is offered in (ISO 3166-1 alpha-2, upper case); empty: everywhere.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Operators it is offered by (the `iss` their edge mints with, `PDM_ISSUER`); empty:
    /// every operator.
    #[serde(default)]
    pub operators: Vec<String>,
}

/// A package as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogPackage {
    /// Catalog id.
    pub id: i64,
    /// What it is and who is offered it.
    #[serde(flatten)]
    pub rules: PackageRules,
    /// Blob id (SHA-256 of the bytes, hex).
    pub blob: String,
    /// Size in bytes.
    pub size: u64,
    /// The operator's signature over its SHA-256 and size (`shared::pkgsig`), if signed.
    #[serde(default)]
    pub signature: Option<String>,
}

/// Where a portal session comes from, as far as portaldm knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The country the edge saw the browser in ([`country_code`]).
    pub country: Option<String>,
    /// The operator whose edge minted the trigger (the token's `iss`).
    pub operator: Option<String>,
}

/// A country code as packages name countries: two ASCII letters or digits, upper case
/// (Cloudflare's `T1`, Tor, included); `XX` (Cloudflare: unknown) and anything else: `None`.
pub fn country_code(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphanumeric()) && !s.eq_ignore_ascii_case("xx");
    ok.then(|| s.to_ascii_uppercase())
}

/// Whether a package limited by country or operator may be offered in `place`.
pub fn fits_place(pkg: &CatalogPackage, place: &Place) -> bool {
    let listed = |list: &[String], v: &Option<String>| {
        list.is_empty() || v.as_deref().is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
    };
    listed(&pkg.rules.countries, &place.country) && listed(&pkg.rules.operators, &place.operator)
}

fn full_rollout() -> u8 {
    100
}

/// A package offered to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The package.
    pub package: CatalogPackage,
    /// The one portaldm recommends.
    pub recommended: bool,
    /// Its release notes in the best language for this phone ([`notes_for`]).
    #[serde(default)]
    pub notes: String,
}

/// Case-insensitive match of `text` against `pattern` with `*` wildcards.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !t.starts_with(first) || t.len() < first.len() + last.len() || !t.ends_with(last) {
        return false;
    }
    let mut rest = &t[first.len()..t.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Where `dev_id` falls in the staged rollout of package `package_id`: 0 to 99, fixed for
/// the pair, uniformly spread, independent between packages.
pub fn rollout_bucket(package_id: i64, dev_id: &str) -> u8 {
    let mut h = Sha256::new();
    h.update(b"portaldm rollout\0");
    h.update(package_id.to_be_bytes());
    h.update(dev_id.as_bytes());
    let d = h.finalize();
    (u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 100) as u8
}

/// Whether `pkg` may be offered to `device`: the rules of this module's header.
pub fn is_compatible(pkg: &CatalogPackage, device: &DeviceDetails) -> bool {
    let (Some(model), Some(fw)) = (device.model.as_deref(), device.fw_v.as_deref()) else {
        return false;
    };
    let hw_fits = pkg.rules.hw_revisions.is_empty()
        || device.hw_v.as_deref().is_some_and(|hw| pkg.rules.hw_revisions.iter().any(|p| glob_match(p, hw)));
    let base_fits = match pkg.rules.delta_from.as_deref() {
        Some(from) => fwver::compare(fw, from) == Ordering::Equal,
        None => {
            pkg.rules.base_min.as_deref().is_none_or(|min| fwver::compare(fw, min) != Ordering::Less)
                && pkg.rules.base_max.as_deref().is_none_or(|max| fwver::compare(fw, max) != Ordering::Greater)
        }
    };
    pkg.rules.models.iter().any(|m| glob_match(m, model))
        && hw_fits
        && base_fits
        // Only firmware replaces the phone's firmware, so only firmware must be newer.
        && (pkg.rules.kind != PackageKind::Firmware || fwver::compare(&pkg.rules.version, fw) == Ordering::Greater)
        && rollout_bucket(pkg.id, &device.dev_id) < pkg.rules.rollout_percent
}

/// The release notes of `pkg` in the first of `langs` (language tags, best first) that it
/// has, matching a tag exactly or by its primary language (`pt-BR` finds `pt`, `pt` finds
/// `pt-PT`), case-insensitive; the default notes otherwise.
pub fn notes_for<'a>(pkg: &'a CatalogPackage, langs: &[&str]) -> &'a str {
    let primary = |tag: &str| tag.split(['-', '_']).next().unwrap_or(tag).to_ascii_lowercase();
    for lang in langs {
        let lang = lang.trim();
        if let Some((_, n)) = pkg.rules.notes_by_lang.iter().find(|(k, _)| k.eq_ignore_ascii_case(lang)) {
            return n;
        }
        if let Some((_, n)) = pkg.rules.notes_by_lang.iter().find(|(k, _)| primary(k) == primary(lang)) {
            return n;
        }
    }
    &pkg.rules.notes
}

/// The offers for `device`: firmware first, then applications, then settings, each newest
/// first with its newest recommended (per name for applications and settings), with release notes in the first of `langs` available.
pub fn offers(packages: &[CatalogPackage], device: &DeviceDetails, place: &Place, langs: &[&str]) -> Vec<Offer> {
    // Firmware and applications only to a device that can take them (`FumoPlace`,
    // `ScomoPlace`): never to a node it lacks.
    let takes = |p: &CatalogPackage| match p.rules.kind {
        PackageKind::Firmware => device.fumo.takes_firmware(),
        PackageKind::Application => device.scomo.takes_applications(),
        PackageKind::Settings => true,
    };
    let mut fit: Vec<&CatalogPackage> =
        packages.iter().filter(|p| is_compatible(p, device) && fits_place(p, place) && takes(p)).collect();
    let rank = |k: PackageKind| match k {
        PackageKind::Firmware => 0,
        PackageKind::Application => 1,
        PackageKind::Settings => 2,
    };
    fit.sort_by(|a, b| {
        rank(a.rules.kind)
            .cmp(&rank(b.rules.kind))
            .then(fwver::compare(&b.rules.version, &a.rules.version))
            .then(a.id.cmp(&b.id))
    });
    let mut out: Vec<Offer> = Vec::with_capacity(fit.len());
    for p in fit {
        // An application is recommended only once per name (its newest version).
        let first_of_group = match p.rules.kind {
            PackageKind::Firmware => !out.iter().any(|o| o.package.rules.kind == PackageKind::Firmware),
            PackageKind::Application | PackageKind::Settings => {
                !out.iter().any(|o| o.package.rules.kind == p.rules.kind && o.package.rules.name == p.rules.name)
            }
        };
        out.push(Offer { package: p.clone(), recommended: first_of_group, notes: notes_for(p, langs).to_owned() });
    }
    out
}

/// The offer delivered when the device itself asks for a firmware update: the recommended
/// firmware.
pub fn recommended(offers: &[Offer]) -> Option<&Offer> {
    offers.iter().find(|o| o.recommended && o.package.rules.kind == PackageKind::Firmware)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(id: i64, version: &str, models: &[&str], min: Option<&str>, max: Option<&str>) -> CatalogPackage {
        CatalogPackage {
            id,
            rules: PackageRules {
                name: format!("fw-{version}"),
                version: version.into(),
                models: models.iter().map(|s| s.to_string()).collect(),
                base_min: min.map(Into::into),
                base_max: max.map(Into::into),
                notes: String::new(),
                hw_revisions: vec![],
                delta_from: None,
                rollout_percent: 100,
                notes_by_lang: BTreeMap::new(),
                kind: PackageKind::Firmware,
                countries: vec![],
                operators: vec![],
            },
            blob: "0".repeat(64),
            size: 1,
            signature: None,
        }
    }

    fn device(model: &str, fw: &str) -> DeviceDetails {
        DeviceDetails { dev_id: "d".into(), model: Some(model.into()), fw_v: Some(fw.into()), ..Default::default() }
    }

    #[test]
    fn countries_and_operators_limit_where_a_package_is_offered() {
        let open = pkg(1, "2.0", &["X1"], None, None);
        let mut german = CatalogPackage { id: 2, ..open.clone() };
        german.rules.countries = vec!["DE".into(), "AT".into()];
        let mut ours = CatalogPackage { id: 3, ..open.clone() };
        ours.rules.operators = vec!["edge.op-a".into()];
        let pkgs = [open, german, ours];
        let ids = |place: &Place| -> Vec<i64> {
            offers(&pkgs, &device("X1", "1.0"), place, &[]).iter().map(|o| o.package.id).collect()
        };
        let at = |c: &str, op: &str| Place { country: country_code(c), operator: Some(op.into()) };
        assert_eq!(ids(&at("de", "edge.op-a")), [1, 2, 3]);
        assert_eq!(ids(&at("AT", "edge.op-b")), [1, 2]);
        assert_eq!(ids(&at("FR", "EDGE.OP-A")), [1, 3], "operator ids compare without case");
        assert_eq!(ids(&Place::default()), [1], "unknown place: only unlimited packages");
        assert_eq!((country_code("XX"), country_code("t1"), country_code("DEU")), (None, Some("T1".into()), None));
    }

    #[test]
    fn globs() {
        assert!(glob_match("PDM-*", "pdm-x1"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c*e", "abde"));
        assert!(!glob_match("X1", "X10"));
    }

    #[test]
    fn offers_only_what_fits_newest_first() {
        let pkgs = vec![
            pkg(1, "1.1", &["X1"], Some("1.0"), Some("1.0.9")),
            pkg(2, "1.2", &["X1"], Some("1.0"), None),
            pkg(3, "2.0", &["X2"], None, None),        // other model
            pkg(4, "1.5", &["X1"], Some("1.1"), None), // needs newer base firmware
            pkg(5, "0.9", &["X*"], None, None),        // a downgrade
        ];
        let o = offers(&pkgs, &device("X1", "1.0"), &Place::default(), &[]);
        let ids: Vec<i64> = o.iter().map(|o| o.package.id).collect();
        assert_eq!(ids, vec![2, 1]);
        assert!(o[0].recommended && !o[1].recommended);
        assert_eq!(recommended(&o).map(|o| o.package.id), Some(2));
        assert!(offers(&pkgs, &DeviceDetails::default(), &Place::default(), &[]).is_empty());
        assert!(recommended(&[]).is_none());
    }

    #[test]
    fn hardware_revisions_limit_when_listed() {
        let mut p = pkg(1, "2.0", &["X1"], None, None);
        p.rules.hw_revisions = vec!["rev-B*".into()];
        let mut d = device("X1", "1.0");
        assert!(!is_compatible(&p, &d), "no HwV reported: not offered");
        d.hw_v = Some("REV-B2".into());
        assert!(is_compatible(&p, &d));
        d.hw_v = Some("rev-A1".into());
        assert!(!is_compatible(&p, &d));
        p.rules.hw_revisions.clear();
        assert!(is_compatible(&p, &d), "no revision rule: any");
    }

    #[test]
    fn a_delta_applies_to_its_one_base_version() {
        let mut p = pkg(1, "1.3.0", &["X1"], Some("0.1"), None);
        p.rules.delta_from = Some("1.2.10-b45".into());
        assert!(is_compatible(&p, &device("X1", "1.2.10-b45")));
        assert!(is_compatible(&p, &device("X1", "1.2.010-B45")), "the same version by fwver's ordering");
        assert!(!is_compatible(&p, &device("X1", "1.2.10-b46")));
        assert!(!is_compatible(&p, &device("X1", "1.2.9")), "the base range does not widen a delta");
    }

    #[test]
    fn firmware_comes_first_and_each_application_has_its_newest_recommended() {
        let mut pkgs = vec![pkg(1, "1.2", &["X1"], None, None), pkg(2, "1.3", &["X1"], None, None)];
        for (id, name, v) in [(3, "Maps", "3.0"), (4, "Maps", "3.1"), (5, "Mail", "9.0")] {
            let mut a = pkg(id, v, &["X1"], None, None);
            a.rules.kind = PackageKind::Application;
            a.rules.name = name.into();
            pkgs.push(a);
        }
        let o = offers(&pkgs, &device("X1", "1.0"), &Place::default(), &[]);
        let got: Vec<(i64, bool)> = o.iter().map(|o| (o.package.id, o.recommended)).collect();
        assert_eq!(got, [(2, true), (1, false), (5, true), (4, true), (3, false)]);
        assert_eq!(recommended(&o).map(|o| o.package.id), Some(2), "a device's own request gets firmware");
        assert!(recommended(&o[2..]).is_none(), "never an application");
    }

    #[test]
    fn a_device_without_a_scomo_root_is_offered_no_application() {
        use crate::scomo::ScomoPlace;
        let mut app = pkg(2, "3.0", &["X1"], None, None);
        app.rules.kind = PackageKind::Application;
        let pkgs = vec![pkg(1, "1.2", &["X1"], None, None), app];
        let ids = |scomo: ScomoPlace| -> Vec<i64> {
            let d = DeviceDetails { scomo, ..device("X1", "1.0") };
            offers(&pkgs, &d, &Place::default(), &[]).iter().map(|o| o.package.id).collect()
        };
        assert_eq!(ids(ScomoPlace::Absent), [1], "searched, and no SCOMO root: firmware only");
        assert_eq!(ids(ScomoPlace::Unknown), [1, 2]);
        assert_eq!(ids(ScomoPlace::At { root: "./Apps/SCOMO".into() }), [1, 2]);
    }

    #[test]
    fn an_application_is_offered_whatever_its_version_within_its_base_range() {
        let mut p = pkg(1, "0.3", &["X1"], Some("1.0"), None);
        p.rules.kind = PackageKind::Application;
        assert!(is_compatible(&p, &device("X1", "1.2")), "an app's version is not a firmware version");
        assert!(!is_compatible(&p, &device("X1", "0.9")), "it needs firmware 1.0 or later");
        assert_eq!(p.rules.kind.delivery(), crate::fumo::DeliveryKind::Application);
        assert_eq!(PackageKind::parse(p.rules.kind.as_str()), Some(p.rules.kind));
    }

    #[test]
    fn notes_follow_the_phones_language() {
        let mut p = pkg(1, "2.0", &["X1"], None, None);
        p.rules.notes = "Bug fixes.".into();
        p.rules.notes_by_lang.insert("de".into(), "Fehlerbehebungen.".into());
        p.rules.notes_by_lang.insert("pt-BR".into(), "Correções.".into());
        assert_eq!(notes_for(&p, &["de-AT", "en"]), "Fehlerbehebungen.");
        assert_eq!(notes_for(&p, &["PT-br"]), "Correções.");
        assert_eq!(notes_for(&p, &["pt-PT"]), "Correções.", "by primary language");
        assert_eq!(notes_for(&p, &["fr", "de"]), "Fehlerbehebungen.", "the first language it has");
        assert_eq!(notes_for(&p, &["fr"]), "Bug fixes.");
        assert_eq!(notes_for(&p, &[]), "Bug fixes.");
        let o = offers(&[p], &device("X1", "1.0"), &Place::default(), &["de"]);
        assert_eq!(o[0].notes, "Fehlerbehebungen.");
    }

    #[test]
    fn a_rollout_of_zero_offers_nothing_and_of_a_hundred_everything() {
        let mut p = pkg(7, "2.0", &["X1"], None, None);
        let devices: Vec<DeviceDetails> =
            (0..200).map(|i| DeviceDetails { dev_id: format!("IMEI:{i:015}"), ..device("X1", "1.0") }).collect();
        p.rules.rollout_percent = 0;
        assert!(devices.iter().all(|d| !is_compatible(&p, d)));
        p.rules.rollout_percent = 100;
        assert!(devices.iter().all(|d| is_compatible(&p, d)));
    }

    proptest::proptest! {
        #[test]
        fn a_growing_rollout_only_adds_devices(id in 0i64..1000, dev in "[A-Z]{4}:[0-9]{6,15}", a in 0u8..=100, b in 0u8..=100) {
            let (lo, hi) = (a.min(b), a.max(b));
            let mut p = pkg(id, "2.0", &["X1"], None, None);
            let d = DeviceDetails { dev_id: dev, ..device("X1", "1.0") };
            p.rules.rollout_percent = lo;
            let in_lo = is_compatible(&p, &d);
            p.rules.rollout_percent = hi;
            proptest::prop_assert!(!in_lo || is_compatible(&p, &d));
        }

    }

    proptest::proptest! {
        // Each case hashes 4000 ids: fewer cases keep the suite quick.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        #[test]
        fn a_rollout_reaches_about_its_share(id in 0i64..1000, percent in 5u8..=95) {
            let n = 4000;
            let hit = (0..n).filter(|i| rollout_bucket(id, &format!("IMEI:{i}")) < percent).count();
            let share = hit as f64 / n as f64 * 100.0;
            // 4000 draws: the standard deviation is under 0.8 points; 4 points is > 5 sigma.
            proptest::prop_assert!((share - f64::from(percent)).abs() < 4.0, "{share} vs {percent}");
        }
    }
}
