//! Catalog matching: which packages fit a device, and in what order they are offered.
//!
//! A firmware package fits when the device's model matches one of its model patterns
//! (`*` matches any run of characters, case-insensitive), the device's firmware lies in
//! the package's base range (inclusive, by [`crate::fwver`]), and the package is newer than
//! what the device runs. Offers are newest first; the newest is recommended.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::device::DeviceDetails;
use crate::fwver;

/// A package as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogPackage {
    /// Catalog id.
    pub id: i64,
    /// Display and `PkgName`.
    pub name: String,
    /// `PkgVersion`: the firmware version it installs.
    pub version: String,
    /// Model patterns it fits.
    pub models: Vec<String>,
    /// Lowest base firmware it applies to, inclusive.
    pub base_min: Option<String>,
    /// Highest base firmware it applies to, inclusive.
    pub base_max: Option<String>,
    /// Blob id (SHA-256 of the bytes, hex).
    pub blob: String,
    /// Size in bytes.
    pub size: u64,
    /// Release notes.
    pub notes: String,
    /// The operator's signature over its SHA-256 and size (`shared::pkgsig`), if signed.
    #[serde(default)]
    pub signature: Option<String>,
}

/// A package offered to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The package.
    pub package: CatalogPackage,
    /// The one portaldm recommends.
    pub recommended: bool,
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

/// Whether `pkg` may be offered to `device`.
pub fn is_compatible(pkg: &CatalogPackage, device: &DeviceDetails) -> bool {
    let (Some(model), Some(fw)) = (device.model.as_deref(), device.fw_v.as_deref()) else {
        return false;
    };
    pkg.models.iter().any(|m| glob_match(m, model))
        && pkg.base_min.as_deref().is_none_or(|min| fwver::compare(fw, min) != Ordering::Less)
        && pkg.base_max.as_deref().is_none_or(|max| fwver::compare(fw, max) != Ordering::Greater)
        && fwver::compare(&pkg.version, fw) == Ordering::Greater
}

/// The offers for `device`, newest first, the first recommended.
pub fn offers(packages: &[CatalogPackage], device: &DeviceDetails) -> Vec<Offer> {
    let mut fit: Vec<&CatalogPackage> = packages.iter().filter(|p| is_compatible(p, device)).collect();
    fit.sort_by(|a, b| fwver::compare(&b.version, &a.version).then(a.id.cmp(&b.id)));
    fit.into_iter().enumerate().map(|(i, p)| Offer { package: p.clone(), recommended: i == 0 }).collect()
}

/// The offer delivered when the device itself asks for an update: the recommended one.
pub fn recommended(offers: &[Offer]) -> Option<&Offer> {
    offers.iter().find(|o| o.recommended).or(offers.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(id: i64, version: &str, models: &[&str], min: Option<&str>, max: Option<&str>) -> CatalogPackage {
        CatalogPackage {
            id,
            name: format!("fw-{version}"),
            version: version.into(),
            models: models.iter().map(|s| s.to_string()).collect(),
            base_min: min.map(Into::into),
            base_max: max.map(Into::into),
            blob: "0".repeat(64),
            size: 1,
            notes: String::new(),
            signature: None,
        }
    }

    fn device(model: &str, fw: &str) -> DeviceDetails {
        DeviceDetails { dev_id: "d".into(), model: Some(model.into()), fw_v: Some(fw.into()), ..Default::default() }
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
        let o = offers(&pkgs, &device("X1", "1.0"));
        let ids: Vec<i64> = o.iter().map(|o| o.package.id).collect();
        assert_eq!(ids, vec![2, 1]);
        assert!(o[0].recommended && !o[1].recommended);
        assert_eq!(recommended(&o).map(|o| o.package.id), Some(2));
        assert!(offers(&pkgs, &DeviceDetails::default()).is_empty());
        assert!(recommended(&[]).is_none());
    }
}
