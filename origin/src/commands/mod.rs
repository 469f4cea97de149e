//! One file per subcommand; this module dispatches and turns errors into exit codes.

mod admin_token;
pub mod catalog;
mod dev_setup;
mod device;
mod keys;
mod profile;
mod serve;

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;

/// Runs the command; prints `error:` and its causes and exits 1 on failure.
pub fn run(cli: Cli) -> ExitCode {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"))
    };
    // RUST_LOG_FORMAT=json (beside RUST_LOG): one JSON object per line, for log shippers.
    if std::env::var("RUST_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
        tracing_subscriber::fmt().json().with_env_filter(filter()).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            // Colours only for a person at a terminal, never into log files.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::DevSetup(args) => dev_setup::run(&args),
            Command::Serve => serve::run(Config::load(&cli.config)?).await,
            Command::Migrate => {
                open_store(&Config::load(&cli.config)?).await?;
                println!("database is up to date");
                Ok(())
            }
            Command::Catalog(c) => catalog::run(&Config::load(&cli.config)?, c).await,
            Command::Device(c) => device::run(&Config::load(&cli.config)?, c).await,
            Command::AdminToken(c) => admin_token::run(&Config::load(&cli.config)?, c).await,
            Command::Keys(c) => keys::run(&Config::load(&cli.config)?, c),
            Command::Profile(c) => profile::run(&Config::load(&cli.config)?, c).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  Caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Opens the configured store.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if cfg.database.starts_with("sqlite:") {
        let folder = cfg.database.strip_prefix("sqlite://").and_then(|p| std::path::Path::new(p).parent());
        if let Some(path) = folder.filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(path)?;
        }
        Ok(Arc::new(SqliteStore::open(&cfg.database).await?))
    } else if cfg.database.starts_with("postgres://") || cfg.database.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(&cfg.database).await?))
    } else {
        anyhow::bail!("unsupported database URL {:?}: use sqlite://PATH or postgres://…", cfg.database)
    }
}
