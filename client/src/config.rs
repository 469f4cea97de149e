//! dmclient's configuration file (TOML): device identity, DM account, install method.

use std::path::{Path, PathBuf};

use portaldm_shared::auth::{self, Scheme, Secret};
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::keys::{NamedKey, parse_key_list};
use serde::Deserialize;

use crate::exit::ClientError;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where jobs and pending results are kept.
    pub state_dir: PathBuf,
    /// What this device is, as reported in `./DevInfo` and `./DevDetail`.
    #[serde(default)]
    pub device: DeviceDetails,
    /// Fill what `[device]` leaves out from the system itself (`probe`).
    #[serde(default)]
    pub probe_device: bool,
    /// The DM account.
    pub account: Account,
    /// How updates are installed.
    pub install: Install,
    /// Which settings a server may set.
    #[serde(default)]
    pub settings: Settings,
    /// The command that asks the phone's user whether to accept a trigger that asks for
    /// user interaction (portal triggers do), as program and arguments; exit 0 accepts.
    /// Without one, such triggers are refused (`confirm`).
    #[serde(default)]
    pub confirm: Option<Vec<String>>,
}

/// Settings packages: the subtrees a server may set values in. What it sets is kept in
/// `state_dir/settings.json` for the device's software to apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Subtrees (`./Settings/` by default); `[]` refuses every settings package.
    #[serde(default = "default_roots")]
    pub roots: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { roots: default_roots() }
    }
}

fn default_roots() -> Vec<String> {
    vec![portaldm_shared::settings::DEFAULT_ROOT.to_owned()]
}

/// One DM account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The server's ServerID.
    pub server_id: String,
    /// Where DM messages are posted (never taken from a trigger).
    pub dm_url: String,
    /// Server password for the pkg#0 digest.
    pub server_password: Option<String>,
    /// Nonce for the pkg#0 digest.
    #[serde(default)]
    pub nonce: String,
    /// Token audience expected.
    pub audience: String,
    /// Trusted token public keys, `kid:base64url`, comma-separated.
    pub trusted_keys: String,
    /// Trusted package-signing public keys, `kid:base64url`, comma-separated. When set, every
    /// package must carry a valid signature by one of them before it is installed.
    pub package_keys: Option<String>,
    /// How DM messages are encoded on the wire.
    #[serde(default)]
    pub encoding: Encoding,
    /// DM authentication; without it the session token (or the result's correlator) is the
    /// only proof, which servers with open enrolment accept.
    pub auth: Option<AccountAuth>,
}

/// The DM account's credentials (`[account.auth]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountAuth {
    /// `md5`, `hmac` or `basic`.
    pub scheme: Scheme,
    /// The client's user name (usually the DevId).
    pub client_name: String,
    /// The client's password.
    pub client_password: String,
    /// The server's user name; with `server_password`, the server must prove itself.
    pub server_name: Option<String>,
    /// The server's password.
    pub server_password: Option<String>,
}

impl std::fmt::Debug for AccountAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountAuth")
            .field("scheme", &self.scheme)
            .field("client_name", &self.client_name)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl AccountAuth {
    /// The account as the core models it (keys, not passwords).
    pub fn account(&self) -> Result<auth::Account, ClientError> {
        let server = match (&self.server_name, &self.server_password) {
            (Some(n), Some(p)) => Some(Secret::from_password(n, p)),
            (None, None) => None,
            _ => return Err(ClientError::Config("[account.auth] needs both server_name and server_password".into())),
        };
        Ok(auth::Account {
            scheme: self.scheme,
            client: Secret::from_password(&self.client_name, &self.client_password),
            server,
        })
    }
}

/// The DM message encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `application/vnd.syncml.dm+xml`.
    #[default]
    Xml,
    /// `application/vnd.syncml.dm+wbxml`.
    Wbxml,
}

impl Encoding {
    /// The core's view of it.
    pub fn dm(self) -> portaldm_shared::media::DmEncoding {
        match self {
            Encoding::Xml => portaldm_shared::media::DmEncoding::Xml,
            Encoding::Wbxml => portaldm_shared::media::DmEncoding::Wbxml,
        }
    }
}

/// How a downloaded update is installed: a command, staging into a folder, or A/B slots.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Command and arguments; run with `PDM_PACKAGE`, `PDM_PKG_NAME`, `PDM_PKG_VERSION`, `PDM_SHA256`.
    pub command: Option<Vec<String>>,
    /// Folder the verified package is copied into.
    pub stage_dir: Option<PathBuf>,
    /// A/B slots (`crate::slots`): firmware goes into the inactive slot, which then becomes
    /// the active one; applications are staged under `apps/`.
    pub slots_dir: Option<PathBuf>,
}

impl Config {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ClientError::Config(format!("cannot read {}: {e}", path.display())))?;
        // A key this version does not know (often a typo) is an error, not silently ignored:
        // serde_ignored names it wherever it is, `[device]` included.
        let mut unknown = Vec::new();
        let de =
            toml::Deserializer::parse(&text).map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
        let cfg: Config = serde_ignored::deserialize(de, |key| unknown.push(key.to_string()))
            .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
        if !unknown.is_empty() {
            return Err(ClientError::Config(format!("{}: unknown key {}", path.display(), unknown.join(", "))));
        }
        cfg.trusted_keys()?;
        cfg.package_keys()?;
        if let Some(a) = &cfg.account.auth {
            a.account()?;
        }
        let i = &cfg.install;
        match [i.command.is_some(), i.stage_dir.is_some(), i.slots_dir.is_some()].iter().filter(|s| **s).count() {
            0 => return Err(ClientError::Config("[install] needs `command`, `stage_dir` or `slots_dir`".into())),
            1 => {}
            _ => {
                return Err(ClientError::Config(
                    "[install] takes one of `command`, `stage_dir` and `slots_dir`".into(),
                ));
            }
        }
        let mut cfg = cfg;
        if cfg.probe_device {
            let probed = crate::probe::probe(Path::new("/"), std::env::var("LANG").ok());
            crate::probe::fill(&mut cfg.device, probed);
        }
        if cfg.device.dev_id.trim().is_empty() {
            return Err(ClientError::Config(
                "[device] dev_id is empty (set it, or probe_device = true on a system with /etc/machine-id)".into(),
            ));
        }
        Ok(cfg)
    }

    /// The trusted token keys.
    pub fn trusted_keys(&self) -> Result<Vec<NamedKey>, ClientError> {
        parse_key_list(&self.account.trusted_keys)
            .map_err(|e| ClientError::Config(format!("account.trusted_keys: {e}")))
    }

    /// The trusted package keys (empty: signatures are not required).
    pub fn package_keys(&self) -> Result<Vec<NamedKey>, ClientError> {
        match &self.account.package_keys {
            Some(list) => parse_key_list(list).map_err(|e| ClientError::Config(format!("account.package_keys: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    /// The device as the core models it.
    pub fn device(&self) -> DeviceDetails {
        self.device.clone()
    }
}
