//! `serve`: run the DM server and portal API until SIGINT or SIGTERM.

use std::time::Duration;

use anyhow::Context as _;

use crate::app::{AppState, router};
use crate::config::Config;

/// Runs the server.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let store = super::open_store(&cfg).await?;
    std::fs::create_dir_all(&cfg.blob_dir).with_context(|| format!("creating {}", cfg.blob_dir.display()))?;
    let listener =
        tokio::net::TcpListener::bind(&cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let hold = cfg.hold_secs;
    let state = AppState::new(cfg, store.clone())?;
    store.forward_wakeups(state.wake.clone()).await.context("listening for wake-ups")?;
    let app = router(state);
    // Tests and scripts read this line to learn the port.
    println!("portaldm-origin listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = rx.await;
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        r = &mut server => return r.context("server failed"),
        _ = shutdown_signal() => {}
    }
    tracing::info!("shutting down: finishing in-flight messages");
    let _ = tx.send(());
    // Held package-4 messages finish within the hold time; never hang past it.
    match tokio::time::timeout(Duration::from_secs(hold + 5), server).await {
        Ok(r) => r.context("server failed"),
        Err(_) => {
            tracing::warn!("in-flight requests did not finish in time");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
