//! The origin's configuration: a TOML file, with `PORTALDM_<KEY>` environment overrides.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use portaldm_shared::auth::Scheme;
use portaldm_shared::auth::server::Policy;
use portaldm_shared::keys::{NamedKey, parse_key_list};
use portaldm_shared::session::hold;
use serde::Deserialize;

mod overrides;

/// Everything the origin is configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// sqlx database URL (`sqlite://path.db`).
    pub database: String,
    /// Folder of package blobs, named by SHA-256 (unused when `blob_s3_bucket` is set).
    pub blob_dir: PathBuf,
    /// An S3-compatible bucket for the blobs instead of the folder (R2: the bucket the edge's
    /// `BLOBS` binding serves).
    #[serde(default)]
    pub blob_s3_bucket: Option<String>,
    /// The bucket's endpoint (R2: `https://<account>.r2.cloudflarestorage.com`); AWS S3 if unset.
    #[serde(default)]
    pub blob_s3_endpoint: Option<String>,
    /// The bucket's region (`auto`, R2's, if unset).
    #[serde(default)]
    pub blob_s3_region: Option<String>,
    /// The bucket's access key id (`PORTALDM_BLOB_S3_ACCESS_KEY_ID`; the AWS_* variables are not read).
    #[serde(default)]
    pub blob_s3_access_key_id: Option<String>,
    /// The bucket's secret access key; best given as `PORTALDM_BLOB_S3_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub blob_s3_secret_access_key: Option<Secret>,
    /// The DM server's ServerID.
    pub server_id: String,
    /// The session token audience this origin accepts.
    pub audience: String,
    /// This server's URI in SyncML headers (where clients post, through the edge).
    pub dm_uri: String,
    /// Public base URL of the edge, for CDN download URLs.
    pub public_url: String,
    /// Trusted token public keys, `kid:base64url`, comma-separated.
    pub token_public_keys: String,
    /// CDN URL keys shared with the edge, `kid:base64url`, comma-separated; the first signs.
    pub cdn_keys: String,
    /// Keys the edge signs its requests with (`x-portaldm-edge`), `kid:base64url`, comma-separated.
    pub edge_keys: String,
    /// Longest hold of a package-4 message while the user chooses (seconds, 1 to
    /// `session::hold::MAX_SECS`, which the edge's and dmclient's timeouts are built around).
    #[serde(default = "default_hold")]
    pub hold_secs: u64,
    /// Lets `hold_secs` be 0 (answer at once; the handset asks again) or longer than the edge
    /// waits: only for benchmarks that load the origin directly, with no edge in front.
    #[serde(default)]
    pub hold_unchecked: bool,
    /// Lifetime of a download URL (seconds).
    #[serde(default = "default_download_ttl")]
    pub download_ttl_secs: u64,
    /// Lifetime of a portal session once its DM session opened (seconds).
    #[serde(default = "default_portal_ttl")]
    pub portal_ttl_secs: u64,
    /// Largest package upload through the admin API (bytes).
    #[serde(default = "default_max_upload")]
    pub max_upload_bytes: u64,
    /// Largest request body accepted (bytes).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How long a new connection may stay silent before its first byte (seconds, 1 to 3600;
    /// default 10); then it is closed.
    #[serde(default = "default_first_byte_timeout")]
    pub first_byte_timeout_secs: u64,
    /// How long a keep-alive connection may idle between requests (seconds, 1 to 86400;
    /// default 60); then it is closed. A request in flight, such as a DM message held while the
    /// user chooses, is not idle. Handsets and the edge reuse connections: keep it generous.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Most connections open at once, held DM sessions' included (1 to 1,000,000); past it a
    /// new connection gets 503 with `Retry-After` and is closed, while the open ones are served
    /// on. Default: three quarters of the process's open-files limit (`ulimit -n`; 768 where it
    /// cannot be read), leaving the rest for the database, blob files and logs. Keep it below
    /// that limit: raise `ulimit -n` (systemd `LimitNOFILE`) to hold more sessions.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Packages up to this size are delivered inside the DM session (`Update/PkgData`,
    /// split over messages) when the device's MaxObjSize allows; 0 (default) never.
    #[serde(default)]
    pub inline_max_bytes: u64,
    /// Firmware by URL in two steps (FUMO `Download`, then `Update` when the device reports
    /// the download done) instead of one `DownloadAndUpdate`; false (default) one step.
    #[serde(default)]
    pub fumo_two_step: bool,
    /// Ed25519 seed (`kid:base64url`) that signs packages as they are added; devices that
    /// trust its public key refuse unsigned or wrongly signed packages.
    #[serde(default)]
    pub package_signing_key: Option<String>,
    /// Which devices must hold a DM account: `open` (default) or `accounts`.
    #[serde(default)]
    pub dm_auth: Policy,
    /// The scheme a device without an account is challenged with (`md5` by default).
    #[serde(default = "default_challenge")]
    pub dm_auth_challenge: Scheme,
    /// DM messages that prove no account (devices without one, refused credentials, a live
    /// session's id without its secret) one client address may send per minute, on average;
    /// past it (and its burst, half as many) they get 429 with `Retry-After`. 0: no limit.
    #[serde(default = "default_unauth_per_address")]
    pub dm_unauth_per_minute_per_address: u32,
    /// Open a portal session only when the phone's DM session comes from the network the
    /// trigger was requested from (the same IPv4 /24 or IPv6 /64, as the edge saw both): a
    /// trigger carried to another phone elsewhere is refused. Off by default: a phone may
    /// browse over Wi-Fi and manage over its mobile data; and it needs an edge that knows
    /// client addresses (`PDM_TRUST_CLOUDFLARE` or `PDM_CLIENT_ADDRESS_HEADER`), else every
    /// portal session is refused.
    #[serde(default)]
    pub dm_same_network: bool,
    /// Misses (refused credentials, a live session's id without its secret) per DevId and
    /// minute: a scan of one device's sessions or password. 0: no limit.
    #[serde(default = "default_unauth_per_device")]
    pub dm_unauth_per_minute_per_device: u32,
    /// Serve stock DM clients, which carry no session token: their Alert 1200 session binds to
    /// the one live trigger its SessionID names (`shared::stock`), else it is refused. On by
    /// default; off, only clients that carry the token open portal sessions.
    #[serde(default = "default_stock_binding")]
    pub stock_binding: bool,
    /// How long a stock session waits for its trigger's browser to show the trigger, in ms (its
    /// package 2 waits as long).
    #[serde(default = "default_stock_wait")]
    pub stock_wait_ms: u64,
    /// How long, once one trigger matches, the binding looks for a second one that would make
    /// it ambiguous, in ms.
    #[serde(default = "default_stock_settle")]
    pub stock_settle_ms: u64,
    /// Most stock sessions waiting for their trigger at once: each polls the store until it
    /// binds or `stock_wait_ms` passes, so past this a session is refused (429) at once.
    #[serde(default = "default_stock_max_waiting")]
    pub stock_max_waiting: usize,
}

fn default_stock_max_waiting() -> usize {
    256
}

fn default_stock_binding() -> bool {
    true
}

fn default_stock_wait() -> u64 {
    10_000
}

fn default_stock_settle() -> u64 {
    1_000
}

fn default_unauth_per_address() -> u32 {
    // Generous: carriers put many handsets behind one address; a portal flow is 6 messages.
    600
}

fn default_unauth_per_device() -> u32 {
    60
}

/// A secret from the configuration: readable by the code, never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

fn default_listen() -> String {
    "127.0.0.1:8081".into()
}
fn default_hold() -> u64 {
    hold::MAX_SECS
}
fn default_download_ttl() -> u64 {
    3600
}
fn default_portal_ttl() -> u64 {
    900
}
fn default_challenge() -> Scheme {
    Scheme::Md5
}
fn default_max_upload() -> u64 {
    4 << 30
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_first_byte_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}

/// The largest `max_connections` accepted.
const MAX_CONNECTIONS: usize = 1_000_000;

/// The process's open-files limit (its soft `RLIMIT_NOFILE`), where the OS tells it.
pub fn open_files_limit() -> Option<u64> {
    // Linux: "Max open files            1024                 524288               files".
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// A configuration value out of its range.
#[derive(Debug, thiserror::Error)]
#[error("{key} = {value} is out of range ({min} to {max})")]
pub struct OutOfRange {
    key: &'static str,
    value: u64,
    min: u64,
    max: u64,
}

/// Checks that `value` of `key` lies in `min..=max`.
fn in_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), OutOfRange> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(OutOfRange { key, value, min, max }) }
}

impl Config {
    /// Reads `path` and applies `PORTALDM_*` overrides.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_toml(&text, std::env::vars()).with_context(|| format!("invalid configuration in {}", path.display()))
    }

    /// The configuration in `text` with the `PORTALDM_<KEY>` overrides among `vars`, each read
    /// as its key's type, then checked.
    pub fn from_toml(text: &str, vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let table: toml::Table = toml::from_str(text).context("not TOML")?;
        let cfg: Config = overrides::deserialize(overrides::merge(table, vars))?;
        cfg.token_keys().context("token_public_keys")?;
        cfg.cdn_key_list().context("cdn_keys")?;
        cfg.edge_key_list().context("edge_keys")?;
        cfg.package_key().context("package_signing_key")?;
        cfg.check_connection_limits()?;
        cfg.check_hold()?;
        Ok(cfg)
    }

    /// Checks the connection deadlines and cap: a zero would close or refuse every connection,
    /// a huge deadline would overflow the clock.
    pub fn check_connection_limits(&self) -> Result<(), OutOfRange> {
        in_range("first_byte_timeout_secs", self.first_byte_timeout_secs, 1, 3600)?;
        in_range("idle_timeout_secs", self.idle_timeout_secs, 1, 86_400)?;
        if let Some(max) = self.max_connections {
            in_range("max_connections", max as u64, 1, MAX_CONNECTIONS as u64)?;
        }
        Ok(())
    }

    /// Checks `hold_secs`: 0 would answer every held message at once (the handset asking again
    /// without pause); a longer hold than the edge waits for would end in its 504.
    pub fn check_hold(&self) -> Result<(), OutOfRange> {
        if self.hold_unchecked { Ok(()) } else { in_range("hold_secs", self.hold_secs, 1, hold::MAX_SECS) }
    }

    /// The cap on connections open at once: `max_connections`, or by default three quarters
    /// of the open-files limit.
    pub fn connection_cap(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let files = open_files_limit().unwrap_or(1024).min(MAX_CONNECTIONS as u64 * 4 / 3);
            usize::try_from(files / 4 * 3).unwrap_or(MAX_CONNECTIONS).max(1)
        })
    }

    /// The configured keys by id, for `keys list` and the admin API.
    pub fn keys_view(&self) -> anyhow::Result<crate::admin::api_types::KeysView> {
        let kids = |keys: Vec<NamedKey>| keys.into_iter().map(|k| k.kid).collect();
        Ok(crate::admin::api_types::KeysView {
            token_keys: kids(self.token_keys()?),
            cdn_keys: kids(self.cdn_key_list()?),
            edge_keys: kids(self.edge_key_list()?),
            package_key: self.package_key()?.map(|k| k.kid),
        })
    }

    /// The package signing key, if configured.
    pub fn package_key(&self) -> anyhow::Result<Option<NamedKey>> {
        Ok(self.package_signing_key.as_deref().map(NamedKey::parse).transpose()?)
    }

    /// The trusted token public keys.
    pub fn token_keys(&self) -> anyhow::Result<Vec<NamedKey>> {
        Ok(parse_key_list(&self.token_public_keys)?)
    }

    /// The edge request keys.
    pub fn edge_key_list(&self) -> anyhow::Result<Vec<NamedKey>> {
        Ok(parse_key_list(&self.edge_keys)?)
    }

    /// The CDN keys.
    pub fn cdn_key_list(&self) -> anyhow::Result<Vec<NamedKey>> {
        Ok(parse_key_list(&self.cdn_keys)?)
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    /// A configuration with only the required keys, and `extra`.
    fn config(extra: &str) -> Config {
        let text = format!(
            "database = \"sqlite://x.db\"\nblob_dir = \"blobs\"\nserver_id = \"s\"\naudience = \"a\"\n\
             dm_uri = \"http://e/dm\"\npublic_url = \"http://e\"\ntoken_public_keys = \"\"\ncdn_keys = \"\"\n\
             edge_keys = \"\"\n{extra}"
        );
        toml::from_str(&text).expect("config")
    }

    /// The required keys, with keys that parse (all zeros).
    const REQUIRED: &str = "database = \"sqlite://x.db\"\nblob_dir = \"blobs\"\nserver_id = \"s\"\naudience = \"a\"\n\
        dm_uri = \"http://e/dm\"\npublic_url = \"http://e\"\n\
        token_public_keys = \"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n\
        cdn_keys = \"c1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n\
        edge_keys = \"e1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n";

    /// The required keys' file, loaded with the environment `vars`.
    fn with_env(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let text = format!("{REQUIRED}hold_secs = 20\n");
        Config::from_toml(&text, vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn overrides_take_their_keys_types() {
        let cfg = with_env(&[
            ("PORTALDM_AUDIENCE", "1234"),
            ("PORTALDM_BLOB_S3_SECRET_ACCESS_KEY", "0042"),
            ("PORTALDM_SERVER_ID", "true"),
            ("PORTALDM_HOLD_SECS", "21"),
            ("PORTALDM_MAX_CONNECTIONS", "20"),
            ("PORTALDM_FUMO_TWO_STEP", "true"),
            ("PORTALDM_DM_AUTH", "accounts"),
            ("PORTALDM_CONFIG", "elsewhere.toml"),
            ("HOME", "/root"),
        ])
        .expect("config");
        assert_eq!((cfg.audience.as_str(), cfg.server_id.as_str()), ("1234", "true"));
        assert_eq!(cfg.blob_s3_secret_access_key.map(|s| s.0).as_deref(), Some("0042"));
        assert_eq!((cfg.hold_secs, cfg.max_connections, cfg.fumo_two_step), (21, Some(20), true));
        assert_eq!(cfg.dm_auth, portaldm_shared::auth::server::Policy::Accounts);
        // Without the override, the file's value.
        assert_eq!(with_env(&[]).expect("config").hold_secs, 20);
    }

    #[test]
    fn a_bad_override_names_its_variable() {
        for (var, text) in [
            ("PORTALDM_HOLD_SECS", "soon"),
            ("PORTALDM_HOLD_SECS", "-1"),
            ("PORTALDM_DM_UNAUTH_PER_MINUTE_PER_ADDRESS", "5000000000"),
            ("PORTALDM_FUMO_TWO_STEP", "yes"),
            ("PORTALDM_DM_AUTH", "closed"),
        ] {
            let err = with_env(&[(var, text)]).map(|_| ()).map_err(|e| format!("{e:#}"));
            assert!(err.as_ref().is_err_and(|e| e.contains(var)), "{var}={text}: {err:?}");
        }
        let err = with_env(&[("PORTALDM_NO_SUCH_KEY", "1")]).map(|_| ()).map_err(|e| format!("{e:#}"));
        assert!(err.as_ref().is_err_and(|e| e.contains("no_such_key")), "{err:?}");
    }

    #[test]
    fn a_bad_file_value_names_its_key() {
        let text = format!("{REQUIRED}hold_secs = \"20\"\n");
        let err = Config::from_toml(&text, []).map(|_| ()).map_err(|e| format!("{e:#}"));
        assert!(err.as_ref().is_err_and(|e| e.contains("hold_secs")), "{err:?}");
    }

    #[test]
    fn hold_is_checked_against_the_limit_the_edge_waits_for() {
        let load = |extra: &str| Config::from_toml(&format!("{REQUIRED}{extra}\n"), []).map_err(|e| format!("{e:#}"));
        assert_eq!(load("").map(|c| c.hold_secs), Ok(25));
        assert_eq!(load("hold_secs = 25").map(|c| c.hold_secs), Ok(25));
        for bad in ["hold_secs = 0", "hold_secs = 26", "hold_secs = 3600"] {
            let err = load(bad).map(|_| ());
            assert!(
                err.as_ref().is_err_and(|e| e.contains("hold_secs") && e.contains("out of range")),
                "{bad}: {err:?}"
            );
        }
        assert_eq!(load("hold_secs = 3600\nhold_unchecked = true").map(|c| c.hold_secs), Ok(3600));
        assert_eq!(load("hold_secs = 0\nhold_unchecked = true").map(|c| c.hold_secs), Ok(0));
    }

    #[test]
    fn connection_limits_default_and_are_checked() {
        let cfg = config("");
        assert_eq!((cfg.first_byte_timeout_secs, cfg.idle_timeout_secs, cfg.max_connections), (10, 60, None));
        assert!(cfg.check_connection_limits().is_ok() && cfg.connection_cap() >= 1);
        assert_eq!(config("max_connections = 20\n").connection_cap(), 20);
        for bad in [
            "first_byte_timeout_secs = 0",
            "idle_timeout_secs = 0",
            "idle_timeout_secs = 100000",
            "max_connections = 0",
        ] {
            let err = config(&format!("{bad}\n")).check_connection_limits().map_err(|e| e.to_string());
            assert!(err.as_ref().is_err_and(|e| e.contains("out of range")), "{bad}: {err:?}");
        }
    }
}
