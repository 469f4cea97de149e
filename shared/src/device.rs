//! Device details: what a handset reports about itself in `./DevInfo` and `./DevDetail`.

use serde::{Deserialize, Serialize};

use crate::syncml::{Item, Meta};

/// The DevInfo leaves sent in package 1 (OMA-TS-DM_StdObj-V1_2, 5.3).
pub const DEVINFO: [&str; 5] = ["./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang"];
/// The DevDetail leaves the server reads in package 2 (StdObj 5.4).
pub const DEVDETAIL: [&str; 5] =
    ["./DevDetail/FwV", "./DevDetail/SwV", "./DevDetail/HwV", "./DevDetail/DevTyp", "./DevDetail/OEM"];
/// Longest value kept for any one leaf.
pub const MAX_LEAF_LEN: usize = 256;

/// Everything portaldm knows about a device from its DM tree.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceDetails {
    /// `DevId` (e.g. `IMEI:…`).
    pub dev_id: String,
    /// `Man`.
    pub man: Option<String>,
    /// `Mod`.
    pub model: Option<String>,
    /// `DmV`.
    pub dm_v: Option<String>,
    /// `Lang`.
    pub lang: Option<String>,
    /// `FwV`.
    pub fw_v: Option<String>,
    /// `SwV`.
    pub sw_v: Option<String>,
    /// `HwV`.
    pub hw_v: Option<String>,
    /// `DevTyp`.
    pub dev_typ: Option<String>,
    /// `OEM`.
    pub oem: Option<String>,
    /// Where its FUMO node is, as its last portal session found it.
    #[serde(default, skip_serializing_if = "crate::fumo::FumoPlace::is_unknown")]
    pub fumo: crate::fumo::FumoPlace,
    /// Where its SCOMO root is, as its last portal session found it.
    #[serde(default, skip_serializing_if = "crate::scomo::ScomoPlace::is_unknown")]
    pub scomo: crate::scomo::ScomoPlace,
}

impl DeviceDetails {
    /// Records the value of a DevInfo or DevDetail leaf; other URIs are ignored.
    pub fn set(&mut self, uri: &str, value: &str) {
        let uri = uri.strip_prefix("./").unwrap_or(uri);
        let value: String = value.chars().take(MAX_LEAF_LEN).collect();
        let slot = match uri {
            "DevInfo/DevId" => {
                self.dev_id = value;
                return;
            }
            "DevInfo/Man" => &mut self.man,
            "DevInfo/Mod" => &mut self.model,
            "DevInfo/DmV" => &mut self.dm_v,
            "DevInfo/Lang" => &mut self.lang,
            "DevDetail/FwV" => &mut self.fw_v,
            "DevDetail/SwV" => &mut self.sw_v,
            "DevDetail/HwV" => &mut self.hw_v,
            "DevDetail/DevTyp" => &mut self.dev_typ,
            "DevDetail/OEM" => &mut self.oem,
            _ => return,
        };
        *slot = Some(value);
    }

    /// The value of a DevInfo or DevDetail leaf, if known.
    pub fn get(&self, uri: &str) -> Option<&str> {
        match uri.strip_prefix("./").unwrap_or(uri) {
            "DevInfo/DevId" => Some(self.dev_id.as_str()),
            "DevInfo/Man" => self.man.as_deref(),
            "DevInfo/Mod" => self.model.as_deref(),
            "DevInfo/DmV" => self.dm_v.as_deref(),
            "DevInfo/Lang" => self.lang.as_deref(),
            "DevDetail/FwV" => self.fw_v.as_deref(),
            "DevDetail/SwV" => self.sw_v.as_deref(),
            "DevDetail/HwV" => self.hw_v.as_deref(),
            "DevDetail/DevTyp" => self.dev_typ.as_deref(),
            "DevDetail/OEM" => self.oem.as_deref(),
            _ => None,
        }
    }

    /// These details as a browser may see them: the DevId masked ([`masked_dev_id`]), so a
    /// browser that triggered some phone never learns its IMEI.
    pub fn as_shown_to_browser(&self) -> DeviceDetails {
        DeviceDetails {
            dev_id: masked_dev_id(&self.dev_id),
            fumo: Default::default(),
            scomo: Default::default(),
            ..self.clone()
        }
    }

    /// Whether `./DevDetail` was read (a DevInfo-only report carries none of it).
    pub fn has_dev_detail(&self) -> bool {
        self.fw_v.is_some()
            || self.sw_v.is_some()
            || self.hw_v.is_some()
            || self.dev_typ.is_some()
            || self.oem.is_some()
    }

    /// These details, with every field they lack taken from `known` (what the registry held
    /// for the same device): a report carrying DevInfo only must not erase FwV, SwV or HwV.
    pub fn keeping(mut self, known: &DeviceDetails) -> Self {
        if known.dev_id != self.dev_id {
            return self;
        }
        let fill = |mine: &mut Option<String>, theirs: &Option<String>| {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        };
        fill(&mut self.man, &known.man);
        fill(&mut self.model, &known.model);
        fill(&mut self.dm_v, &known.dm_v);
        fill(&mut self.lang, &known.lang);
        fill(&mut self.fw_v, &known.fw_v);
        fill(&mut self.sw_v, &known.sw_v);
        fill(&mut self.hw_v, &known.hw_v);
        fill(&mut self.dev_typ, &known.dev_typ);
        fill(&mut self.oem, &known.oem);
        self
    }

    /// Takes every leaf item (Source LocURI + Data) it knows.
    pub fn absorb(&mut self, items: &[Item]) {
        for i in items {
            if let (Some(uri), Some(data)) = (&i.source, &i.data)
                && i.meta.format_lower().as_deref() != Some("node")
            {
                self.set(uri, data);
            }
        }
    }

    /// Items for the given leaves that have values, as the client reports them.
    ///
    /// An interior node (`./DevInfo`, `./DevDetail`) answers with `Format node` and the names
    /// of its children, `/`-separated, as a Get on an interior node must (TND, RepPro 6.6.7).
    pub fn items(&self, uris: &[&str]) -> Vec<Item> {
        uris.iter()
            .filter_map(|u| {
                let u = u.trim_end_matches('/');
                if let Some(leaves) = Self::children(u) {
                    let names: Vec<&str> =
                        leaves.iter().filter(|l| self.get(l).is_some()).filter_map(|l| l.rsplit('/').next()).collect();
                    return Some(Item::source_data(u, Meta::typed(Some("node"), None), Some(names.join("/"))));
                }
                self.get(u).map(|v| Item::source_data(u, Meta::typed(Some("chr"), Some("text/plain")), Some(v.into())))
            })
            .collect()
    }

    /// The leaves under an interior node this model knows.
    fn children(uri: &str) -> Option<&'static [&'static str]> {
        match uri {
            "./DevInfo" | "DevInfo" => Some(&DEVINFO),
            "./DevDetail" | "DevDetail" => Some(&DEVDETAIL),
            _ => None,
        }
    }
}

/// A DevId as a person may be shown it to recognise their phone: its scheme (`IMEI:`) and
/// last four characters, the rest as `•`, at most 24 characters in all.
pub fn masked_dev_id(dev_id: &str) -> String {
    let (scheme, id) = match dev_id.split_once(':') {
        Some((scheme, id)) if scheme.len() <= 8 => (&dev_id[..=scheme.len()], id),
        _ => ("", dev_id),
    };
    let chars: Vec<char> = id.chars().collect();
    let shown = chars.len().min(4);
    let hidden = (chars.len() - shown).min(16);
    let tail: String = chars[chars.len() - shown..].iter().collect();
    format!("{scheme}{}{tail}", "•".repeat(hidden))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_dev_id_shows_its_scheme_and_last_four() {
        assert_eq!(masked_dev_id("IMEI:490154203237518"), "IMEI:•••••••••••7518");
        assert_eq!(masked_dev_id("abc"), "abc");
        assert_eq!(masked_dev_id(&"9".repeat(200)).chars().count(), 20);
        let d = DeviceDetails { dev_id: "IMEI:490154203237518".into(), ..DeviceDetails::default() };
        assert!(!d.as_shown_to_browser().dev_id.contains("4901542"));
    }

    #[test]
    fn a_devinfo_only_report_keeps_the_known_devdetail() {
        let known = DeviceDetails {
            dev_id: "IMEI:1".into(),
            model: Some("X1".into()),
            fw_v: Some("1.0".into()),
            hw_v: Some("r2".into()),
            ..DeviceDetails::default()
        };
        let report = DeviceDetails { dev_id: "IMEI:1".into(), model: Some("X1b".into()), ..DeviceDetails::default() };
        assert!(!report.has_dev_detail() && known.has_dev_detail());
        let kept = report.clone().keeping(&known);
        assert_eq!(
            (kept.model.as_deref(), kept.fw_v.as_deref(), kept.hw_v.as_deref()),
            (Some("X1b"), Some("1.0"), Some("r2"))
        );
        let other = DeviceDetails { dev_id: "IMEI:2".into(), ..known };
        assert_eq!(report.clone().keeping(&other), report, "another device's details are never mixed in");
    }

    #[test]
    fn absorbs_leaves_and_skips_interior_nodes() {
        let mut d = DeviceDetails::default();
        d.absorb(&[
            Item::source_data("./DevInfo/DevId", Meta::default(), Some("IMEI:1".into())),
            Item::source_data("./DevInfo/Mod", Meta::typed(Some("Chr"), None), Some("X1".into())),
            Item::source_data("./DevInfo/Man", Meta::typed(Some("node"), None), Some("a/b".into())),
            Item::source_data("./DevDetail/FwV", Meta::default(), Some("1.2".into())),
        ]);
        assert_eq!(d.dev_id, "IMEI:1");
        assert_eq!(d.model.as_deref(), Some("X1"));
        assert_eq!(d.man, None);
        assert_eq!(d.fw_v.as_deref(), Some("1.2"));
        assert_eq!(d.items(&DEVINFO).len(), 2);
        let node = d.items(&["./DevInfo"]);
        assert_eq!(node[0].meta.format.as_deref(), Some("node"));
        assert_eq!(node[0].data.as_deref(), Some("DevId/Mod"));
    }
}
