//! The command line: clap definitions only.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// portaldm's origin: OMA DM server, portal API and catalog.
#[derive(Debug, Parser)]
#[command(name = "portaldm-origin", version)]
pub struct Cli {
    /// Configuration file (TOML); `PORTALDM_<KEY>` environment variables override its keys.
    #[arg(long, short, global = true, env = "PORTALDM_CONFIG", default_value = "origin.toml")]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the DM server and portal API.
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage the package catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Manage devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Manage admin API tokens.
    #[command(subcommand)]
    AdminToken(AdminTokenCommand),
    /// Show the keys this origin trusts and uses, by key id.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a local development setup (keys, origin, edge and dmclient configuration).
    DevSetup(DevSetupArgs),
    /// Manage device profiles: how a handset model's own DM client is served.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

/// Catalog subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Add a firmware package from a file, or from a blob uploaded before (`--blob`).
    Add(Box<AddArgs>),
    /// Store a package file as a blob (named by its SHA-256) without adding a package.
    Upload {
        /// The package file.
        file: PathBuf,
    },
    /// List packages, newest first (revoked ones marked).
    List,
    /// Show one published package: its rules, blob, signature, and how its deliveries ended.
    Show {
        /// The package id (see `catalog list`).
        id: i64,
    },
    /// Publish a draft: offered from now on.
    Publish {
        /// The package id (see `catalog list`).
        id: i64,
    },
    /// Set the share of fitting devices a package is offered to (0 to 100).
    Rollout {
        /// The package id (see `catalog list`).
        id: i64,
        /// Percent of devices, chosen deterministically per device.
        percent: u8,
    },
    /// Revoke a package: never offered again, its download URLs stop working.
    Revoke {
        /// The package id (see `catalog list`).
        id: i64,
    },
    /// Load the demo catalog (synthetic firmware for the demo phone models).
    Demo,
    /// Print a signed download URL of a published package for one device (for support, or
    /// to load-test the edge), valid for `download_ttl_secs`.
    Url {
        /// The package id (see `catalog list`).
        id: i64,
        /// The DevId the URL is issued to.
        #[arg(long)]
        device: String,
    },
}

/// Arguments of `catalog add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Package name.
    #[arg(long)]
    pub name: String,
    /// The firmware version it installs.
    #[arg(long)]
    pub version: String,
    /// Model patterns it fits (`*` wildcards), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub models: Vec<String>,
    /// Lowest base firmware it applies to.
    #[arg(long)]
    pub base_min: Option<String>,
    /// Highest base firmware it applies to.
    #[arg(long)]
    pub base_max: Option<String>,
    /// A delta: the one base firmware it applies to (instead of a range).
    #[arg(long, conflicts_with_all = ["base_min", "base_max"])]
    pub delta_from: Option<String>,
    /// Hardware revision patterns it fits (`HwV`), comma-separated; default any.
    #[arg(long, value_delimiter = ',')]
    pub hw_revisions: Vec<String>,
    /// Countries it is offered in (ISO 3166-1 alpha-2), comma-separated; default everywhere.
    #[arg(long, value_delimiter = ',')]
    pub countries: Vec<String>,
    /// Operators it is offered by (their edge's `PDM_ISSUER`), comma-separated; default all.
    #[arg(long, value_delimiter = ',')]
    pub operators: Vec<String>,
    /// Percent of fitting devices it is offered to.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub rollout: u8,
    /// Release notes (default language).
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Release notes in another language, `LANG=TEXT` (repeatable), e.g. `de=Fehlerbehebungen`.
    #[arg(long = "notes-lang", value_parser = parse_lang_notes)]
    pub notes_lang: Vec<(String, String)>,
    /// `firmware` (FUMO) or `application` (SCOMO `DownloadInstall`).
    #[arg(long, default_value = "firmware", value_parser = parse_kind)]
    pub kind: portaldm_shared::catalog::PackageKind,
    /// Add it as a draft, offered only once published (`catalog publish`).
    #[arg(long)]
    pub draft: bool,
    /// The package file.
    #[arg(required_unless_present = "blob", conflicts_with = "blob")]
    pub file: Option<PathBuf>,
    /// The SHA-256 of a blob stored with `catalog upload` (instead of a file).
    #[arg(long)]
    pub blob: Option<String>,
}

fn parse_kind(s: &str) -> Result<portaldm_shared::catalog::PackageKind, String> {
    portaldm_shared::catalog::PackageKind::parse(s).ok_or_else(|| "firmware or application".to_owned())
}

fn parse_lang_notes(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(l, n)| (l.trim().to_owned(), n.to_owned())).ok_or_else(|| "expected LANG=TEXT".to_owned())
}

/// Admin token subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token and print it (shown once; only its hash is stored).
    Create {
        /// What or who it is for.
        #[arg(long)]
        name: String,
        /// It may read the admin API and the console, and change nothing.
        #[arg(long)]
        read_only: bool,
    },
    /// List tokens (ids and names, never secrets).
    List,
    /// Revoke a token: refused from the next request on.
    Revoke {
        /// The token id (see `admin-token list`).
        id: String,
    },
}

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the configured keys by id.
    List,
    /// Make a new key and print where it goes, trusted beside the current ones (verify-only
    /// for now; `rotate` makes the new one sign).
    Add {
        /// Which key: `token`, `cdn`, `edge` or `package`.
        kind: String,
        /// Its id (unique among this kind's keys).
        #[arg(long)]
        kid: String,
    },
    /// Make a new key and print where it goes to sign from now on, the current ones kept for
    /// verifying what they signed until it expires.
    Rotate {
        /// Which key: `token`, `cdn`, `edge` or `package`.
        kind: String,
        /// Its id (unique among this kind's keys).
        #[arg(long)]
        kid: String,
    },
}

/// Device subcommands.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Show what the registry knows about a device: details, account, results.
    Show {
        /// The device's DevId.
        dev_id: String,
    },
    /// Give a device a DM account (replacing any it had); prints the device's side of it.
    Account {
        /// The device's DevId.
        dev_id: String,
        /// `md5` (default), `hmac` or `basic`.
        #[arg(long, default_value = "md5")]
        scheme: String,
        /// The client's user name (default: the DevId).
        #[arg(long)]
        client_name: Option<String>,
        /// The client's password (default: generated).
        #[arg(long, env = "PDM_CLIENT_PASSWORD", hide_env_values = true)]
        client_password: Option<String>,
        /// The server's user name (default: the ServerID).
        #[arg(long)]
        server_name: Option<String>,
        /// The server's password (default: generated).
        #[arg(long, env = "PDM_SERVER_PASSWORD", hide_env_values = true)]
        server_password: Option<String>,
        /// Do not prove the server to the device.
        #[arg(long)]
        no_server_auth: bool,
    },
}

/// Arguments of `dev-setup`.
#[derive(Debug, clap::Args)]
pub struct DevSetupArgs {
    /// Folder to write into (keys already there are kept).
    #[arg(long, default_value = ".dev")]
    pub dir: PathBuf,
    /// Origin port on 127.0.0.1.
    #[arg(long, default_value_t = 8081)]
    pub origin_port: u16,
    /// Edge port on 127.0.0.1.
    #[arg(long, default_value_t = 8787)]
    pub edge_port: u16,
    /// The built edge bundle folder (holding worker.mjs and index_bg.wasm).
    #[arg(long, default_value = "edge/build")]
    pub edge_bundle: PathBuf,
}

/// Device profile subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List device profiles, by id.
    List,
    /// Add a device profile; prints its id.
    Add(Box<ProfileArgs>),
    /// Remove a device profile: its devices are served as if it never existed.
    Remove {
        /// The profile id (see `profile list`).
        id: i64,
    },
}

/// Arguments of `profile add`: every field but the name and models may be left out
/// (unknown: the session finds out or uses its defaults).
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// What to call it.
    #[arg(long)]
    pub name: String,
    /// Maker pattern (`DevInfo/Man`, `*` wildcards); default any maker.
    #[arg(long)]
    pub man: Option<String>,
    /// Model patterns (`DevInfo/Mod`, `*` wildcards), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub models: Vec<String>,
    /// The device's FUMO node, e.g. `./FwUpdate/stock`.
    #[arg(long)]
    pub fumo_root: Option<String>,
    /// The device's SCOMO root, e.g. `./SCOMO`.
    #[arg(long)]
    pub scomo_root: Option<String>,
    /// The encoding it speaks: `xml` or `wbxml`.
    #[arg(long, value_parser = parse_encoding)]
    pub encoding: Option<portaldm_shared::media::DmEncoding>,
    /// The authentication scheme it uses: `basic`, `md5` or `hmac`.
    #[arg(long, value_parser = parse_scheme)]
    pub auth_scheme: Option<portaldm_shared::auth::Scheme>,
    /// A cap on the messages it is sent (bytes), below the MaxMsgSize it announces.
    #[arg(long)]
    pub max_msg_size: Option<u64>,
    /// How long its requests may be held while the user chooses (seconds, at most the
    /// origin's `hold_secs`).
    #[arg(long)]
    pub hold_secs: Option<u64>,
}

fn parse_encoding(s: &str) -> Result<portaldm_shared::media::DmEncoding, String> {
    portaldm_shared::profile::parse_encoding(s).ok_or_else(|| "xml or wbxml".to_owned())
}

fn parse_scheme(s: &str) -> Result<portaldm_shared::auth::Scheme, String> {
    portaldm_shared::auth::Scheme::parse(s).ok_or_else(|| "basic, md5 or hmac".to_owned())
}
