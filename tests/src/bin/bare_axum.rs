//! The floor for `bench_dm`: an axum server whose every POST answers a fixed small body at
//! once, on the same machine, loaded by the same client, so that the DM server's rate can be
//! read as a share of what HTTP on loopback allows here.
//!
//! Usage: `bare_axum PORT` (127.0.0.1); prints `listening` when ready.

use axum::Router;
use axum::routing::post;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // The origin's runtime: tokio's multi-threaded one, a worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let app = Router::new()
            .route("/dm", post(|| async { ([("content-type", "application/vnd.syncml.dm+xml")], "<SyncML/>") }))
            .route("/portal/api/identify", post(|| async { "{}" }))
            .route("/portal/api/select", post(|| async { "{}" }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}
