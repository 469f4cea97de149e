//! `portaldm-origin`: the OMA DM server, portal API and catalog.

mod accounts;
mod admin;
mod app;
mod blobs;
mod blobstore;
mod catalog_changes;
mod cli;
mod clock;
mod commands;
mod config;
mod console;
mod dm;
mod edge_purge;
mod error;
mod http1;
mod linger;
mod metrics;
mod own_routes;
mod pending;
mod portal;
mod profiles;
mod require_edge;
mod state;
mod store;
mod unauth_limit;
mod wake;

/// mimalloc: per-thread heaps that take frees from other threads cheaply (sqlx's SQLite
/// threads allocate what tokio's frees).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    commands::run(<cli::Cli as clap::Parser>::parse())
}
