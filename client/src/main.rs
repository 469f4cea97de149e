//! `dmclient`: portaldm's reference OMA DM device agent.

mod check;
mod cli;
mod config;
mod confirm;
mod deliver;
mod download;
mod exit;
mod handler;
mod http;
mod install;
mod jobs;
mod nonces;
mod private;
mod probe;
mod random;
mod report;
mod session;
mod settings;
mod slots;
mod status;
mod swarm;
mod trigger;

fn main() -> std::process::ExitCode {
    let cli = <cli::Cli as clap::Parser>::parse();
    let result = match config::Config::load(&cli.config) {
        Ok(cfg) => match cli.command {
            cli::Command::Trigger { file } => trigger::run(&cfg, &file),
            cli::Command::Report { wait: false, .. } => report::run_pending(&cfg),
            cli::Command::Report { wait: true, max_wait_secs } => {
                report::run_until_reported(&cfg, max_wait_secs.map(std::time::Duration::from_secs))
            }
            cli::Command::Check => check::run(&cfg),
            cli::Command::Status => status::run(&cfg),
            cli::Command::Swarm { edge, devices, concurrency, duration_secs, first_imei } => swarm::run(
                &cfg,
                &swarm::Plan {
                    edge,
                    devices,
                    concurrency,
                    duration: duration_secs.map(std::time::Duration::from_secs),
                    first_imei,
                },
            ),
            cli::Command::InstallHandler { system } => handler::install(&cli.config, system).map(|written| {
                for p in written {
                    println!("wrote {}", p.display());
                }
            }),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  Caused by: {s}");
                source = s.source();
            }
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
