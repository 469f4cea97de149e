//! `serve`: run the DM server and portal API until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{app, request_timeout};
use crate::config::{Config, open_files_limit};
use crate::http1::{Cap, Conns, HEADER_READ_TIMEOUT, MAX_HEAD};
use crate::state::AppState;

/// Runs the server.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let store = super::open_store(&cfg).await?;
    let listener =
        tokio::net::TcpListener::bind(&cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(cfg, store.clone()).context("blob store or keys")?;
    tracing::info!(blobs = state.blobs.label(), "package blobs");
    store.forward_wakeups(state.wake.clone()).await.context("listening for wake-ups")?;
    store.start_background().await.context("starting the store's background work")?;
    tokio::spawn(sweep_forever(store.clone()));
    let max_body = state.cfg.max_body_bytes;
    let body_timeout = request_timeout(&state.cfg);
    // Held messages end within the request deadline (their own 504 at worst): wait that long.
    let finishing = request_timeout(&state.cfg) + Duration::from_secs(1);
    let first_byte_timeout = Duration::from_secs(state.cfg.first_byte_timeout_secs);
    let idle_timeout = Duration::from_secs(state.cfg.idle_timeout_secs);
    let max_connections = state.cfg.connection_cap();
    if let Some(files) = open_files_limit().filter(|&files| max_connections as u64 >= files) {
        tracing::warn!(max_connections, files, "max_connections is not below the open-files limit (ulimit -n)");
    }
    let app = app(state);
    // Tests and scripts read this line to learn the port.
    println!("portaldm-origin listening on http://{addr}");
    tracing::info!(%addr, max_connections, "listening");
    let mut http = Builder::new(TokioExecutor::new());
    // A client that dribbles its headers (slowloris) is cut off. hyper's header timer runs from
    // the end of the previous answer, so it also closes an HTTP/1.1 connection hyper serves
    // after that long idle; `http1::hand_to_hyper` bounds the rest by the idle deadline.
    // The read buffer stays at hyper's smallest (8 KiB) instead of growing to 16 KiB and more.
    // Bodies stream through it; only a request head over 8 KiB is refused (431).
    http.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_HEAD);
    let conns = Arc::new(Conns {
        app,
        http,
        max_body,
        body_timeout,
        first_byte_timeout,
        idle_timeout,
        cap: Cap::new(max_connections),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    let tasks = conns.tasks.clone();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors, say: back off briefly rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                tasks.spawn(conns.accept(stream));
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight messages");
    conns.shutdown.cancel();
    tasks.close();
    // Held package-4 messages finish within the request deadline; never hang past it.
    if tokio::time::timeout(finishing, tasks.wait()).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time");
    }
    Ok(())
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

/// Sweeps the store now and every [`retention::EVERY`] (replicas may overlap: the deletes
/// are idempotent). A failed sweep is logged and tried again next time.
async fn sweep_forever(store: Arc<dyn crate::store::Store>) {
    let mut every = tokio::time::interval(crate::store::retention::EVERY);
    loop {
        every.tick().await;
        match store.sweep(crate::clock::now_ms()).await {
            Ok(swept) if swept != crate::store::Swept::default() => tracing::info!(?swept, "store swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "store sweep failed; trying again later"),
        }
    }
}
