//! The command line: clap definitions only.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// dmclient: the device agent that answers portaldm triggers.
#[derive(Debug, Parser)]
#[command(name = "dmclient", version, after_help = crate::exit::HELP)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short, global = true, env = "DMCLIENT_CONFIG", default_value = "/etc/dmclient.toml")]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer a trigger (`application/vnd.syncml.notification`) as a content dispatcher hands it over.
    Trigger {
        /// The package #0 file, or `-` for standard input.
        file: PathBuf,
    },
    /// Ask the server for an update without a browser (FUMO device request); the recommended
    /// update, if any, is delivered, installed and reported. Needs `[account.auth]`.
    Check,
    /// Finish unfinished jobs now: resume downloads, recover interrupted installs, send
    /// results that could not be reported earlier.
    Report {
        /// Keep going until every result is reported: retry with the jobs' back-off (15 s to
        /// 1 h, with jitter) instead of giving up after one try; for a boot-time service.
        #[arg(long)]
        wait: bool,
        /// With `--wait`: give up after this many seconds (default: never).
        #[arg(long)]
        max_wait_secs: Option<u64>,
    },
    /// Show the account and every job with its FUMO state.
    Status,
    /// Load generator: many simulated handsets run the whole portal flow through the edge
    /// (trigger, DM session, offers and choice, download, result) and the latency of each step
    /// is reported. Uses this configuration's account and device as the template.
    Swarm {
        /// The edge's base URL.
        #[arg(long)]
        edge: String,
        /// Flows in all (0: run for --duration-secs).
        #[arg(long, default_value_t = 100)]
        devices: usize,
        /// Flows at once.
        #[arg(long, default_value_t = 10)]
        concurrency: usize,
        /// Stop starting new flows after this many seconds.
        #[arg(long)]
        duration_secs: Option<u64>,
        /// IMEI of the first simulated handset (the others count up).
        #[arg(long, default_value_t = 350_000_000_000_000)]
        first_imei: u64,
    },
    /// Register dmclient (with this configuration) as the XDG handler of
    /// `application/vnd.syncml.notification`, so a browser hands triggers to it.
    InstallHandler {
        /// For every user (`/usr/share`, `/etc/xdg`) instead of this user.
        #[arg(long)]
        system: bool,
    },
}
