//! FUMO (`urn:oma:mo:oma-fumo:1.0`): the firmware delivery commands and the result alert.
//!
//! The server writes `PkgName`, `PkgVersion`, `DownloadAndUpdate/PkgURL` and integrity
//! data under `Ext` into `./FUMO/<node>`, then `Exec`s `DownloadAndUpdate` with a
//! `Correlator`. The client answers 202, and later reports the outcome in a new session
//! with a generic alert (OMA-TS-DM_FUMO-V1_0, 6.3, 8). A small package can instead travel
//! inside the session: `Update/PkgData` (b64, chunked with `MoreData` when it exceeds a
//! message) and an `Exec` of `Update`. Or in two steps (FUMO 1.0, 6.1): `Download/PkgURL`
//! and an `Exec` of `Download`; the device reports the download done (the `download` alert,
//! 200) in a new session, and the server answers that report with an `Exec` of `Update`,
//! whose outcome the device reports like any other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::syncml::codes::AlertCode;
use crate::syncml::{Alert, Command, Exec, Item, ItemCommand, Meta};

/// The FUMO management object URN.
pub const MO_URN: &str = "urn:oma:mo:oma-fumo:1.0";
/// Meta Type of the DownloadAndUpdate result alert.
pub const RESULT_ALERT_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";
/// Meta Type of the generic alert a device sends to ask for a firmware update itself.
pub const DEVICE_REQUEST_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.devicerequest";
/// Meta Type of the Update result alert (inline delivery, or the second of two steps).
pub const UPDATE_ALERT_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.update";
/// Meta Type of the Download result alert (the first of two steps).
pub const DOWNLOAD_ALERT_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.download";
/// Root of the FUMO subtree portaldm writes.
pub const ROOT: &str = "./FUMO/";

/// FUMO result codes (FUMO 1.0, 6.3) as a newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResultCode(pub u16);

impl ResultCode {
    /// 200: successful.
    pub const SUCCESS: ResultCode = ResultCode(200);
    /// 402: corrupted firmware update package.
    pub const CORRUPTED: ResultCode = ResultCode(402);
    /// 404: failed firmware update package validation.
    pub const VALIDATION_FAILED: ResultCode = ResultCode(404);
    /// 407: download timeout.
    pub const DOWNLOAD_TIMEOUT: ResultCode = ResultCode(407);
    /// 410: firmware update failed.
    pub const UPDATE_FAILED: ResultCode = ResultCode(410);
    /// 412: download server unavailable.
    pub const DOWNLOAD_SERVER_UNAVAILABLE: ResultCode = ResultCode(412);
    /// 400: management client error.
    pub const CLIENT_ERROR: ResultCode = ResultCode(400);
    /// 408: not implemented (the device cannot take this kind of update).
    pub const NOT_IMPLEMENTED: ResultCode = ResultCode(408);

    /// The outcome of a delivery the device refused in the session itself (its Status for the
    /// `Exec`, or for the commands that set it up): no result alert will follow, so this is
    /// the result. A node it does not have, a command it does not allow or support (404, 405,
    /// 406) means it cannot take this kind of update (408); anything else is a client error.
    pub fn of_refused_delivery(status: crate::syncml::codes::StatusCode) -> ResultCode {
        match status.0 {
            404..=406 => ResultCode::NOT_IMPLEMENTED,
            _ => ResultCode::CLIENT_ERROR,
        }
    }

    /// A plain-words description of the code.
    pub fn describe(self) -> &'static str {
        match self.0 {
            200 => "installed successfully",
            400 => "the device reported a failure",
            402 => "the package arrived corrupted",
            404 => "the package failed validation",
            407 => "the download timed out",
            408 => "the device does not support this kind of update",
            410 => "the update failed on the device",
            412 => "the download server was unavailable",
            _ => "the device reported an unknown failure",
        }
    }
}

/// What a delivery carries, and so which management object it goes through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// Firmware, through FUMO (`./FUMO/<node>`).
    #[default]
    Firmware,
    /// An application, through SCOMO (`./SCOMO/Download/<node>`, `crate::scomo`).
    Application,
    /// Settings, written into the device's tree in the session (`crate::settings`): no
    /// download, and the `Atomic`'s status is the result.
    Settings,
}

/// Where a device keeps its FUMO node, as its session found it (`session::discovery`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FumoPlace {
    /// Not looked for, or the device does not list its tree: the server's own node
    /// `./FUMO/<node>`, which portaldm's dmclient takes (another client refuses it, and its
    /// refusal is the recorded result).
    #[default]
    Unknown,
    /// The device's own FUMO node at `root` (e.g. `./FwUpdate/stock`), written only as FUMO
    /// defines it.
    At {
        /// The node's URI.
        root: String,
        /// It has `DownloadAndUpdate` (else only `Download` and `Update`).
        download_and_update: bool,
    },
    /// The device lists its tree and has no FUMO node within the search's bounds.
    Absent,
}

impl FumoPlace {
    /// Whether firmware can be delivered to this device: to its own node by
    /// `DownloadAndUpdate`, or to the server's node when nothing is known.
    pub fn takes_firmware(&self) -> bool {
        match self {
            FumoPlace::Unknown => true,
            FumoPlace::At { download_and_update, .. } => *download_and_update,
            FumoPlace::Absent => false,
        }
    }

    /// Whether nothing is known (the default, left out of stored JSON).
    pub fn is_unknown(&self) -> bool {
        *self == FumoPlace::Unknown
    }

    /// The device's own node, if it has one.
    pub fn root(&self) -> Option<&str> {
        match self {
            FumoPlace::At { root, .. } => Some(root),
            _ => None,
        }
    }
}

/// A delivery (firmware by FUMO or an application by SCOMO), as the server sends it and the
/// client receives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FumoDelivery {
    /// The node name under `./FUMO/`.
    pub node: String,
    /// `PkgName`.
    pub pkg_name: String,
    /// `PkgVersion`.
    pub pkg_version: String,
    /// `DownloadAndUpdate/PkgURL` (or `Download/PkgURL`): the signed CDN URL.
    pub url: String,
    /// `Ext/PkgSHA256`: hex.
    pub sha256: String,
    /// `Ext/PkgSize`: bytes.
    pub size: u64,
    /// The `Correlator` the result alert echoes.
    pub correlator: String,
    /// Whether the package travels inside the DM session (`Update/PkgData`), not by URL.
    #[serde(default)]
    pub inline: bool,
    /// `Ext/PkgSignature`: the operator's signature (`shared::pkgsig`), if the package is signed.
    #[serde(default)]
    pub signature: Option<String>,
    /// Firmware (FUMO), an application (SCOMO) or settings.
    #[serde(default)]
    pub kind: DeliveryKind,
    /// The values a settings delivery sets (empty for the others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<crate::settings::Setting>,
    /// Firmware by URL in two steps: `Exec Download`, then `Exec Update` once the device
    /// reported the download done.
    #[serde(default)]
    pub two_step: bool,
    /// The device's own FUMO node (`FumoPlace::At`) or, for an application, its SCOMO root
    /// (`ScomoPlace::At`): written there, with the object's leaves only (no `Ext` of
    /// portaldm's); `None`: `./FUMO/<node>` or `./SCOMO/Download/<node>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_root: Option<String>,
}

/// The server's order to install a downloaded firmware package: an `Exec` of
/// `./FUMO/<node>/Update`, sent in the session that reported the download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOrder {
    /// The FUMO node the package was downloaded into.
    pub node: String,
    /// The `Correlator` the Update's result alert echoes.
    pub correlator: String,
}

impl UpdateOrder {
    /// The `Exec` target.
    pub fn target(&self) -> String {
        format!("{ROOT}{}/Update", self.node)
    }

    /// The `Exec` command.
    pub fn exec(&self, cmd_id: String) -> Command {
        Command::Exec(Exec {
            cmd_id,
            no_resp: false,
            correlator: Some(self.correlator.clone()),
            items: vec![Item::target_data(&self.target(), Meta::default(), None)],
        })
    }

    /// The report of the ordered Update's outcome.
    pub fn outcome(&self, code: ResultCode) -> FumoResult {
        FumoResult { source: self.target(), correlator: self.correlator.clone(), code }
    }

    /// The order an `Exec` of `target` gives, when it is an Update of a plain FUMO node.
    pub fn from_exec(target: &str, correlator: Option<&str>) -> Option<Self> {
        let node = target.strip_prefix(ROOT)?.strip_suffix("/Update")?;
        if node.is_empty() || node.contains('/') {
            return None;
        }
        Some(UpdateOrder { node: node.to_owned(), correlator: correlator?.to_owned() })
    }
}

/// Whether a server may write `uri` in a client's tree: the FUMO and SCOMO download subtrees.
pub fn is_writable(uri: &str) -> bool {
    uri.starts_with(ROOT) || uri.starts_with(crate::scomo::ROOT)
}

/// The leaf under a FUMO node that carries the package's URL (FUMO 1.0, 5.3): the operation's
/// `PkgURL`; none for an inline package.
fn fumo_url_leaf(inline: bool, two_step: bool) -> Option<&'static str> {
    match (inline, two_step) {
        (true, _) => None,
        (false, true) => Some("Download/PkgURL"),
        (false, false) => Some("DownloadAndUpdate/PkgURL"),
    }
}

impl FumoDelivery {
    /// The operation node the `Exec` targets and the result alert names.
    pub fn operation(&self) -> String {
        match self.kind {
            DeliveryKind::Application => self.uri(crate::scomo::OPERATION),
            DeliveryKind::Firmware => self.uri(self.fumo_operation()),
            DeliveryKind::Settings => "./Settings".to_owned(),
        }
    }

    /// The FUMO operation node: `Update` (inline), `Download` (two steps) or `DownloadAndUpdate`.
    fn fumo_operation(&self) -> &'static str {
        match (self.inline, self.two_step) {
            (true, _) => "Update",
            (false, true) => "Download",
            (false, false) => "DownloadAndUpdate",
        }
    }

    /// The `Update` the server orders once a two-step download is done.
    pub fn update_order(&self) -> UpdateOrder {
        UpdateOrder { node: self.node.clone(), correlator: self.correlator.clone() }
    }

    /// The `Replace` and `Exec` commands carrying the package itself (`pkg_data`) inside
    /// the session; the caller has decided the client can take an object this large.
    pub fn inline_commands(&self, pkg_data: &[u8], next_cmd_id: &mut dyn FnMut() -> String) -> Vec<Command> {
        use base64::Engine as _;
        let inline = FumoDelivery { inline: true, url: String::new(), ..self.clone() };
        let mut cmds = inline.commands(next_cmd_id);
        let data = base64::engine::general_purpose::STANDARD.encode(pkg_data);
        let item = Item::target_data(
            &self.uri("Update/PkgData"),
            Meta::typed(Some("b64"), Some("application/octet-stream")),
            Some(data),
        );
        let pkg = Command::Replace(ItemCommand { cmd_id: next_cmd_id(), items: vec![item], ..ItemCommand::default() });
        cmds.insert(1, pkg);
        cmds
    }

    fn uri(&self, leaf: &str) -> String {
        match (self.kind, &self.device_root) {
            (DeliveryKind::Firmware, Some(root)) => return format!("{root}/{leaf}"),
            // SCOMO 1.0, 5.4.1: the server's own `<root>/Download/<x>`.
            (DeliveryKind::Application, Some(root)) => return format!("{root}/Download/{}/{leaf}", self.node),
            _ => {}
        }
        let root = match self.kind {
            DeliveryKind::Firmware | DeliveryKind::Settings => ROOT,
            DeliveryKind::Application => crate::scomo::ROOT,
        };
        format!("{root}{}/{leaf}", self.node)
    }

    /// The leaves a delivery writes, by management object: (leaf, value).
    fn leaves(&self) -> Vec<(&'static str, Option<String>)> {
        let chr = |v: &str| Some(v.to_owned());
        let mut leaves = match self.kind {
            // FUMO: PkgName, PkgVersion, DownloadAndUpdate/PkgURL or Download/PkgURL (FUMO 1.0,
            // 5.3); an inline package has no URL.
            DeliveryKind::Firmware => {
                let mut v = vec![("PkgName", chr(&self.pkg_name)), ("PkgVersion", chr(&self.pkg_version))];
                v.extend(fumo_url_leaf(self.inline, self.two_step).map(|leaf| (leaf, chr(&self.url))));
                v
            }
            // Settings have no leaves of their own: `commands` writes the values themselves.
            DeliveryKind::Settings => return vec![],
            // SCOMO: PkgID, Name, PkgURL under Download/<x> (SCOMO 1.0, 5.4.1); the version
            // has no standard leaf and goes under Ext.
            DeliveryKind::Application => vec![
                ("PkgID", chr(&self.pkg_name)),
                ("Name", chr(&self.pkg_name)),
                ("PkgURL", chr(&self.url)),
                ("Ext/PkgVersion", chr(&self.pkg_version)),
            ],
        };
        if self.device_root.is_some() {
            // The device's own node has no portaldm leaves: never write what it lacks.
            leaves.retain(|(leaf, _)| !leaf.starts_with("Ext/"));
            return leaves;
        }
        leaves.extend([
            ("Ext/PkgSHA256", chr(&self.sha256)),
            ("Ext/PkgSize", Some(self.size.to_string())),
            ("Ext/PkgSignature", self.signature.clone()),
        ]);
        leaves
    }

    /// The `Replace` and `Exec` commands, numbered by `next_cmd_id`.
    pub fn commands(&self, next_cmd_id: &mut dyn FnMut() -> String) -> Vec<Command> {
        if self.kind == DeliveryKind::Settings {
            return crate::settings::commands(&self.settings, next_cmd_id);
        }
        let mut items: Vec<Item> = Vec::new();
        if let (DeliveryKind::Application, Some(_)) = (self.kind, &self.device_root) {
            // A device's own SCOMO root: the download node is added before its leaves.
            let node = self.uri("");
            let node = node.trim_end_matches('/');
            items.push(Item::target_data(node, Meta { format: Some("node".into()), ..Meta::default() }, None));
        }
        items.extend(
            self.leaves().into_iter().filter(|(leaf, data)| *leaf != "Ext/PkgSignature" || data.is_some()).map(
                |(leaf, data)| {
                    let format = if leaf == "Ext/PkgSize" { "int" } else { "chr" };
                    Item::target_data(&self.uri(leaf), Meta::typed(Some(format), Some("text/plain")), data)
                },
            ),
        );
        let write = ItemCommand { cmd_id: next_cmd_id(), items, ..ItemCommand::default() };
        // A SCOMO download node is the server's to create (Add); FUMO's nodes exist (Replace).
        let write = match self.kind {
            DeliveryKind::Firmware | DeliveryKind::Settings => Command::Replace(write),
            DeliveryKind::Application => Command::Add(write),
        };
        let exec = Command::Exec(Exec {
            cmd_id: next_cmd_id(),
            no_resp: false,
            correlator: Some(self.correlator.clone()),
            items: vec![Item::target_data(&self.operation(), Meta::default(), None)],
        });
        vec![write, exec]
    }

    /// Rebuilds a delivery from the FUMO leaves a client received and the `Exec` target.
    pub fn from_tree(tree: &BTreeMap<String, String>, exec_target: &str, correlator: Option<&str>) -> Option<Self> {
        if let Some(rest) = exec_target.strip_prefix(crate::scomo::ROOT) {
            return Self::from_scomo_tree(tree, rest, correlator);
        }
        let rest = exec_target.strip_prefix(ROOT)?;
        let (node, inline, two_step) = if let Some(node) = rest.strip_suffix("/DownloadAndUpdate") {
            (node, false, false)
        } else if let Some(node) = rest.strip_suffix("/Download") {
            (node, false, true)
        } else {
            (rest.strip_suffix("/Update")?, true, false)
        };
        if node.is_empty() || node.contains('/') {
            return None;
        }
        let get = |leaf: &str| tree.get(&format!("{ROOT}{node}/{leaf}")).cloned();
        // An Update without PkgData is the second of two steps ([`UpdateOrder`]), not a delivery.
        if inline && get("Update/PkgData").is_none() {
            return None;
        }
        let url = match fumo_url_leaf(inline, two_step) {
            Some(leaf) => get(leaf)?,
            None => String::new(),
        };
        Some(FumoDelivery {
            node: node.to_owned(),
            pkg_name: get("PkgName").unwrap_or_default(),
            pkg_version: get("PkgVersion").unwrap_or_default(),
            url,
            sha256: get("Ext/PkgSHA256")?,
            size: get("Ext/PkgSize")?.parse().ok()?,
            correlator: correlator?.to_owned(),
            inline,
            signature: get("Ext/PkgSignature"),
            kind: DeliveryKind::Firmware,
            settings: vec![],
            two_step,
            device_root: None,
        })
    }

    /// [`FumoDelivery::from_tree`] for an `Exec` of `./SCOMO/Download/<rest>`.
    fn from_scomo_tree(tree: &BTreeMap<String, String>, rest: &str, correlator: Option<&str>) -> Option<Self> {
        let node = rest.strip_suffix(&format!("/{}", crate::scomo::OPERATION))?;
        if node.is_empty() || node.contains('/') {
            return None;
        }
        let get = |leaf: &str| tree.get(&format!("{}{node}/{leaf}", crate::scomo::ROOT)).cloned();
        Some(FumoDelivery {
            node: node.to_owned(),
            pkg_name: get("Name").or_else(|| get("PkgID")).unwrap_or_default(),
            pkg_version: get("Ext/PkgVersion").unwrap_or_default(),
            url: get("PkgURL")?,
            sha256: get("Ext/PkgSHA256")?,
            size: get("Ext/PkgSize")?.parse().ok()?,
            correlator: correlator?.to_owned(),
            inline: false,
            signature: get("Ext/PkgSignature"),
            kind: DeliveryKind::Application,
            settings: vec![],
            two_step: false,
            device_root: None,
        })
    }

    /// The package bytes of an inline delivery, from the client's tree.
    pub fn pkg_data(&self, tree: &BTreeMap<String, String>) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let b64 = tree.get(&self.uri("Update/PkgData"))?;
        let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(compact).ok()
    }
}

/// The generic alert (1226) a device sends to ask for an update without a browser.
pub fn device_request(cmd_id: String) -> Alert {
    Alert {
        cmd_id,
        no_resp: false,
        data: AlertCode::GENERIC.0,
        correlator: None,
        items: vec![Item::source_data("./FUMO", Meta::typed(Some("chr"), Some(DEVICE_REQUEST_TYPE)), Some("0".into()))],
    }
}

/// Whether `alert` asks for a firmware update.
pub fn is_device_request(alert: &Alert) -> bool {
    alert.code() == AlertCode::GENERIC
        && alert
            .items
            .iter()
            .any(|i| i.meta.type_.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(DEVICE_REQUEST_TYPE)))
}

/// The outcome of a DownloadAndUpdate, as the client reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FumoResult {
    /// The operation's URI (`./FUMO/<node>/DownloadAndUpdate`, `…/Download`, `…/Update`, or
    /// SCOMO's `./SCOMO/Download/<node>/Operations/DownloadInstall`).
    pub source: String,
    /// The correlator from the `Exec`.
    pub correlator: String,
    /// The result code.
    pub code: ResultCode,
}

impl FumoResult {
    /// The FUMO node of a two-step download that finished well: not an outcome yet, the
    /// device now waits for the server's [`UpdateOrder`].
    pub fn downloaded_node(&self) -> Option<&str> {
        let node = self.source.strip_prefix(ROOT)?.strip_suffix("/Download")?;
        (self.code == ResultCode::SUCCESS && !node.is_empty() && !node.contains('/')).then_some(node)
    }

    /// The Update a finished two-step download calls for: its node, under this report's
    /// correlator.
    pub fn update_order(&self) -> Option<UpdateOrder> {
        let node = self.downloaded_node()?;
        Some(UpdateOrder { node: node.to_owned(), correlator: self.correlator.clone() })
    }

    /// The generic alert (1226) that reports this result.
    pub fn alert(&self, cmd_id: String) -> Alert {
        if self.source.starts_with(crate::scomo::ROOT) {
            // SCOMO's OperationComplete, in SCOMO's codes.
            return Alert {
                cmd_id,
                no_resp: false,
                data: AlertCode::GENERIC.0,
                correlator: Some(self.correlator.clone()),
                items: vec![Item::source_data(
                    &self.source,
                    Meta::typed(Some("int"), Some(crate::scomo::RESULT_ALERT_TYPE)),
                    Some(crate::scomo::to_wire(self.code).to_string()),
                )],
            };
        }
        Alert {
            cmd_id,
            no_resp: false,
            data: AlertCode::GENERIC.0,
            correlator: Some(self.correlator.clone()),
            items: vec![Item::source_data(
                &self.source,
                Meta::typed(
                    Some("int"),
                    Some(if self.source.ends_with("/Update") {
                        UPDATE_ALERT_TYPE
                    } else if self.source.ends_with("/Download") {
                        DOWNLOAD_ALERT_TYPE
                    } else {
                        RESULT_ALERT_TYPE
                    }),
                ),
                Some(self.code.0.to_string()),
            )],
        }
    }

    /// Reads a FUMO result from a generic alert, if it is one.
    pub fn from_alert(alert: &Alert) -> Option<Self> {
        if alert.code() != AlertCode::GENERIC {
            return None;
        }
        let item = alert.items.first()?;
        if item.meta.type_.as_deref() == Some(crate::scomo::RESULT_ALERT_TYPE) {
            return Some(FumoResult {
                source: item.source.clone().unwrap_or_default(),
                correlator: alert.correlator.clone()?,
                code: crate::scomo::from_wire(crate::scomo::parse_data(item.data.as_deref()?)?),
            });
        }
        if !matches!(item.meta.type_.as_deref(), Some(RESULT_ALERT_TYPE | UPDATE_ALERT_TYPE | DOWNLOAD_ALERT_TYPE)) {
            return None;
        }
        Some(FumoResult {
            source: item.source.clone().unwrap_or_default(),
            correlator: alert.correlator.clone()?,
            code: ResultCode(item.data.as_deref()?.trim().parse().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `d`'s commands, numbered from 1.
    fn numbered(d: &FumoDelivery) -> Vec<Command> {
        let mut id = 0;
        d.commands(&mut || {
            id += 1;
            id.to_string()
        })
    }

    /// What `items` write: target → data.
    fn leaves_of(items: &[Item]) -> BTreeMap<String, String> {
        items.iter().map(|i| (i.target.clone().unwrap_or_default(), i.data.clone().unwrap_or_default())).collect()
    }

    #[test]
    fn client_rebuilds_what_server_sends() {
        let d = FumoDelivery {
            node: "pdm7".into(),
            pkg_name: "fw".into(),
            pkg_version: "1.2".into(),
            url: "https://edge/dl/x?d=1".into(),
            sha256: "ab".into(),
            size: 42,
            correlator: "c1".into(),
            inline: false,
            signature: None,
            kind: DeliveryKind::Firmware,
            settings: vec![],
            two_step: false,
            device_root: None,
        };
        let mut id = 4;
        let cmds = d.commands(&mut || {
            id += 1;
            id.to_string()
        });
        assert_eq!(id, 6);
        let (Command::Replace(r), Command::Exec(e)) = (&cmds[0], &cmds[1]) else { panic!("Replace, Exec") };
        let tree = leaves_of(&r.items);
        let target = e.items[0].target.as_deref().unwrap_or_default();
        assert_eq!(FumoDelivery::from_tree(&tree, target, e.correlator.as_deref()), Some(d));
        assert_eq!(FumoDelivery::from_tree(&tree, "./FUMO/../x/DownloadAndUpdate", Some("c")), None);
    }

    #[test]
    fn inline_delivery_carries_the_bytes() {
        let d = FumoDelivery {
            node: "pdm8".into(),
            pkg_name: "fw".into(),
            pkg_version: "1.3".into(),
            url: "https://edge/dl/x".into(),
            sha256: "cd".into(),
            size: 5,
            correlator: "c2".into(),
            inline: false,
            signature: None,
            kind: DeliveryKind::Firmware,
            settings: vec![],
            two_step: false,
            device_root: None,
        };
        let mut id = 0;
        let cmds = d.inline_commands(b"bytes", &mut || {
            id += 1;
            id.to_string()
        });
        let mut tree = BTreeMap::new();
        let mut exec = None;
        for c in &cmds {
            match c {
                Command::Replace(r) => {
                    for i in &r.items {
                        tree.insert(i.target.clone().unwrap_or_default(), i.data.clone().unwrap_or_default());
                    }
                }
                Command::Exec(e) => exec = Some(e.clone()),
                _ => {}
            }
        }
        assert!(!tree.keys().any(|k| k.contains("PkgURL")), "no URL for an inline delivery");
        let exec = exec.expect("exec");
        let target = exec.items[0].target.as_deref().unwrap_or_default();
        assert_eq!(target, "./FUMO/pdm8/Update");
        let got = FumoDelivery::from_tree(&tree, target, exec.correlator.as_deref()).expect("rebuilt");
        assert!(got.inline && got.url.is_empty());
        assert_eq!(got.pkg_data(&tree).as_deref(), Some(&b"bytes"[..]));
        assert_eq!(got.operation(), "./FUMO/pdm8/Update");
    }

    #[test]
    fn an_application_goes_through_scomo_and_back() {
        let d = FumoDelivery {
            node: "pdm9".into(),
            pkg_name: "Maps".into(),
            pkg_version: "3.1".into(),
            url: "https://edge/dl/y?d=1".into(),
            sha256: "ef".into(),
            size: 7,
            correlator: "c3".into(),
            inline: false,
            signature: Some("pkg1.sig".into()),
            kind: DeliveryKind::Application,
            settings: vec![],
            two_step: false,
            device_root: None,
        };
        let cmds = numbered(&d);
        let (Command::Add(a), Command::Exec(e)) = (&cmds[0], &cmds[1]) else { panic!("Add, Exec: {cmds:?}") };
        let tree = leaves_of(&a.items);
        assert!(tree.contains_key("./SCOMO/Download/pdm9/PkgURL") && tree.contains_key("./SCOMO/Download/pdm9/PkgID"));
        assert!(tree.keys().all(|k| is_writable(k)));
        let target = e.items[0].target.as_deref().unwrap_or_default();
        assert_eq!(target, "./SCOMO/Download/pdm9/Operations/DownloadInstall");
        assert_eq!(FumoDelivery::from_tree(&tree, target, e.correlator.as_deref()), Some(d.clone()));
        assert_eq!(FumoDelivery::from_tree(&tree, "./SCOMO/Download/pdm9/Operations/Remove", Some("c")), None);

        // The result goes back as SCOMO's OperationComplete with SCOMO's code, and reads as ours.
        for code in [ResultCode::SUCCESS, ResultCode::UPDATE_FAILED] {
            let r = FumoResult { source: d.operation(), correlator: "c3".into(), code };
            let alert = r.alert("5".into());
            let item = &alert.items[0];
            assert_eq!(item.meta.type_.as_deref(), Some(crate::scomo::RESULT_ALERT_TYPE));
            assert_eq!(item.data.as_deref(), Some(crate::scomo::to_wire(code).to_string().as_str()));
            assert_eq!(FumoResult::from_alert(&alert), Some(r));
        }
    }

    #[test]
    fn an_application_goes_under_the_devices_own_scomo_root_with_scomos_leaves_only() {
        let d = FumoDelivery {
            node: "pdm9".into(),
            pkg_name: "Maps".into(),
            url: "https://edge/dl/y?d=1".into(),
            correlator: "c3".into(),
            signature: Some("pkg1.sig".into()),
            kind: DeliveryKind::Application,
            device_root: Some("./Apps/SCOMO".into()),
            ..FumoDelivery::default()
        };
        let cmds = numbered(&d);
        let (Command::Add(a), Command::Exec(e)) = (&cmds[0], &cmds[1]) else { panic!("Add, Exec: {cmds:?}") };
        let targets: Vec<&str> = a.items.iter().filter_map(|i| i.target.as_deref()).collect();
        assert_eq!(
            targets,
            [
                "./Apps/SCOMO/Download/pdm9",
                "./Apps/SCOMO/Download/pdm9/PkgID",
                "./Apps/SCOMO/Download/pdm9/Name",
                "./Apps/SCOMO/Download/pdm9/PkgURL"
            ],
            "the download node first, then SCOMO's own leaves (no Ext)"
        );
        assert_eq!(a.items[0].meta.format.as_deref(), Some("node"));
        assert_eq!(e.items[0].target.as_deref(), Some("./Apps/SCOMO/Download/pdm9/Operations/DownloadInstall"));
        assert_eq!(d.operation(), "./Apps/SCOMO/Download/pdm9/Operations/DownloadInstall");
    }
    #[test]
    fn a_two_step_delivery_downloads_then_is_ordered_to_update() {
        let d = FumoDelivery {
            node: "pdm4".into(),
            pkg_name: "fw".into(),
            pkg_version: "2.0".into(),
            url: "https://edge/dl/z?d=1".into(),
            sha256: "ab".into(),
            size: 9,
            correlator: "c4".into(),
            two_step: true,
            ..FumoDelivery::default()
        };
        let cmds = numbered(&d);
        let (Command::Replace(r), Command::Exec(e)) = (&cmds[0], &cmds[1]) else { panic!("Replace, Exec") };
        let tree = leaves_of(&r.items);
        assert!(tree.contains_key("./FUMO/pdm4/Download/PkgURL"));
        assert!(!tree.keys().any(|k| k.contains("DownloadAndUpdate")));
        let target = e.items[0].target.as_deref().unwrap_or_default();
        assert_eq!(target, "./FUMO/pdm4/Download");
        assert_eq!(FumoDelivery::from_tree(&tree, target, e.correlator.as_deref()), Some(d.clone()));

        // The download's report is not an outcome; the Update's is.
        let downloaded = FumoResult { source: d.operation(), correlator: "c4".into(), code: ResultCode::SUCCESS };
        let alert = downloaded.alert("3".into());
        assert_eq!(alert.items[0].meta.type_.as_deref(), Some(DOWNLOAD_ALERT_TYPE));
        assert_eq!(FumoResult::from_alert(&alert).as_ref().and_then(FumoResult::downloaded_node), Some("pdm4"));
        let failed = FumoResult { code: ResultCode::DOWNLOAD_SERVER_UNAVAILABLE, ..downloaded.clone() };
        assert_eq!(failed.downloaded_node(), None);

        // The order, and nothing else, reads back from its Exec; an Update without PkgData is
        // not an inline delivery.
        let order = d.update_order();
        assert_eq!(downloaded.update_order().as_ref(), Some(&order), "the report calls for this order");
        assert_eq!(failed.update_order(), None);
        let Command::Exec(e) = order.exec("7".into()) else { panic!("Exec") };
        let target = e.items[0].target.as_deref().unwrap_or_default();
        assert_eq!(target, "./FUMO/pdm4/Update");
        assert_eq!(UpdateOrder::from_exec(target, e.correlator.as_deref()), Some(order.clone()));
        assert_eq!(FumoDelivery::from_tree(&tree, target, e.correlator.as_deref()), None);
        assert_eq!(UpdateOrder::from_exec("./FUMO/a/b/Update", Some("c")), None);
        assert_eq!(UpdateOrder::from_exec("./FUMO/pdm4/Update", None), None);
        let updated = order.outcome(ResultCode::SUCCESS);
        assert_eq!((updated.source.as_str(), updated.correlator.as_str()), (target, "c4"));
        assert_eq!(updated.alert("1".into()).items[0].meta.type_.as_deref(), Some(UPDATE_ALERT_TYPE));
        assert_eq!(updated.downloaded_node(), None);
    }

    #[test]
    fn result_alert_round_trips() {
        let r =
            FumoResult { source: "./FUMO/p/DownloadAndUpdate".into(), correlator: "c".into(), code: ResultCode(410) };
        assert_eq!(FumoResult::from_alert(&r.alert("3".into())), Some(r));
    }
}
