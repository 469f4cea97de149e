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
    Report,
    /// Show the account and every job with its FUMO state.
    Status,
    /// Register dmclient (with this configuration) as the XDG handler of
    /// `application/vnd.syncml.notification`, so a browser hands triggers to it.
    InstallHandler {
        /// For every user (`/usr/share`, `/etc/xdg`) instead of this user.
        #[arg(long)]
        system: bool,
    },
}
