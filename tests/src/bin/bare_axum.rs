//! The floors for `bench_dm`: an axum server whose every POST answers a fixed small body, on
//! the same machine, loaded by the same client, so that the DM server's cost can be read
//! against what HTTP on loopback costs here, and against the least any store through sqlx
//! adds to it.
//!
//! Usage: `bare_axum PORT [--store STORE]` (127.0.0.1); prints `listening` when ready.
//! Without `--store` every POST is answered at once. With it, each answer first does the least
//! store work a durable DM session needs, with the origin's settings, over a table of 1,000
//! rows of 2,000 bytes (a stored DM session with its last answer):
//! - every `/dm` POST reads one row by its key and then writes it back (each DM message's
//!   look-up and save), and every portal POST writes one row (the browser's decision);
//! - `sqlite:FILE`: SQLite in WAL mode with `synchronous = NORMAL`, the reads on two reader
//!   connections and every write on the one writer, each statement its own transaction;
//! - `sqlite-batched:FILE`: the same reads, and the writes queued to one task that sends all
//!   those waiting as one multi-row upsert (group commit: one statement and one commit for
//!   many sessions' writes, each answer still waiting for its own commit);
//! - `postgres:URL`: the same statements on PostgreSQL through a pool of 16 connections (the origin's).
//! - `sqlite-writes:FILE` and `sqlite-writes-batched:FILE`: as `sqlite:` and `sqlite-batched:`
//!   without the reads: the floor of a single process that keeps its live sessions in memory
//!   and only writes each message durably.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, PgPool, SqliteConnection};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Rows in the table (the keys cycle through them).
const KEYS: u64 = 1000;
/// The most writes one batched statement carries.
const BATCH: usize = 64;

const UPSERT: &str = "INSERT INTO s (k, v, t) VALUES ($1, $2, $3) \
     ON CONFLICT (k) DO UPDATE SET v = excluded.v, t = excluded.t";
const SELECT: &str = "SELECT v, t FROM s WHERE k = $1";
const CREATE: &str = "CREATE TABLE IF NOT EXISTS s (k BIGINT PRIMARY KEY, v TEXT NOT NULL, t BIGINT NOT NULL)";

/// A write waiting for the batching writer: its key, and where to say it is committed.
type Queued = (i64, oneshot::Sender<Result<(), String>>);

/// Where the rows are.
enum Store {
    None,
    Sqlite { readers: Vec<Mutex<SqliteConnection>>, writer: Mutex<SqliteConnection> },
    SqliteBatched { readers: Vec<Mutex<SqliteConnection>>, queue: mpsc::UnboundedSender<Queued> },
    Postgres(PgPool),
}

struct Floor {
    store: Store,
    /// Whether a DM message reads its row first (not when sessions are kept in memory).
    reads: bool,
    value: String,
    next: AtomicU64,
    reader: AtomicUsize,
}

type Shared = Arc<Floor>;

impl Floor {
    fn key(&self) -> i64 {
        (self.next.fetch_add(1, Ordering::Relaxed) % KEYS) as i64
    }

    async fn read(&self, k: i64) -> Result<(), sqlx::Error> {
        match &self.store {
            _ if !self.reads => Ok(()),
            Store::None => Ok(()),
            Store::Sqlite { readers, .. } | Store::SqliteBatched { readers, .. } => {
                let r = &readers[self.reader.fetch_add(1, Ordering::Relaxed) % readers.len()];
                sqlx::query(SELECT).bind(k).fetch_one(&mut *r.lock().await).await.map(drop)
            }
            Store::Postgres(pool) => sqlx::query(SELECT).bind(k).fetch_one(pool).await.map(drop),
        }
    }

    async fn write(&self, k: i64) -> Result<(), sqlx::Error> {
        match &self.store {
            Store::None => Ok(()),
            Store::Sqlite { writer, .. } => {
                let upsert = sqlx::query(UPSERT).bind(k).bind(&self.value).bind(k);
                upsert.execute(&mut *writer.lock().await).await.map(drop)
            }
            Store::SqliteBatched { queue, .. } => {
                let (done, committed) = oneshot::channel();
                queue.send((k, done)).map_err(|_| sqlx::Error::PoolClosed)?;
                committed.await.map_err(|_| sqlx::Error::PoolClosed)?.map_err(sqlx::Error::Protocol)
            }
            Store::Postgres(pool) => {
                sqlx::query(UPSERT).bind(k).bind(&self.value).bind(k).execute(pool).await.map(drop)
            }
        }
    }
}

/// The batching writer: every write waiting, as one statement, then each told.
async fn batch_writer(mut c: SqliteConnection, mut queue: mpsc::UnboundedReceiver<Queued>, value: String) {
    let mut waiting = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut waiting, BATCH).await > 0 {
        let rows = (0..waiting.len()).map(|i| format!("(${}, $1, ${})", i + 2, i + 2)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO s (k, v, t) VALUES {rows} ON CONFLICT (k) DO UPDATE SET v = excluded.v, t = excluded.t"
        );
        let mut q = sqlx::query(&sql).bind(&value);
        for (k, _) in &waiting {
            q = q.bind(*k);
        }
        let done = q.execute(&mut c).await.map(drop).map_err(|e| e.to_string());
        for (_, tell) in waiting.drain(..) {
            let _ = tell.send(done.clone());
        }
    }
}

async fn dm(State(f): State<Shared>) -> Result<([(&'static str, &'static str); 1], &'static str), StatusCode> {
    let k = f.key();
    f.read(k).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    f.write(k).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(([("content-type", "application/vnd.syncml.dm+xml")], "<SyncML/>"))
}

async fn portal(State(f): State<Shared>) -> Result<&'static str, StatusCode> {
    f.write(f.key()).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok("{}")
}

async fn sqlite(file: &str) -> Result<Vec<SqliteConnection>, sqlx::Error> {
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{file}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(opts.connect().await?);
    }
    Ok(conns)
}

/// The store named by `--store`, and whether a DM message reads its row first.
async fn open(store: Option<&str>, value: &str) -> Result<(Store, bool), Box<dyn std::error::Error>> {
    let Some(store) = store else { return Ok((Store::None, true)) };
    let (kind, at) = store.split_once(':').ok_or("--store KIND:WHERE")?;
    let reads = !kind.starts_with("sqlite-writes");
    let store = match kind {
        "sqlite" | "sqlite-batched" | "sqlite-writes" | "sqlite-writes-batched" => {
            let mut conns = sqlite(at).await?;
            let mut writer = conns.pop().ok_or("no connection")?;
            sqlx::query(CREATE).execute(&mut writer).await?;
            for k in 0..KEYS {
                sqlx::query(UPSERT).bind(k as i64).bind(value).bind(0i64).execute(&mut writer).await?;
            }
            let readers = conns.into_iter().map(Mutex::new).collect();
            if !kind.ends_with("batched") {
                Store::Sqlite { readers, writer: Mutex::new(writer) }
            } else {
                let (queue, rx) = mpsc::unbounded_channel();
                tokio::spawn(batch_writer(writer, rx, value.to_owned()));
                Store::SqliteBatched { readers, queue }
            }
        }
        "postgres" => {
            let pool = PgPoolOptions::new().max_connections(16).connect(at).await?;
            sqlx::query(CREATE).execute(&pool).await?;
            for k in 0..KEYS {
                sqlx::query(UPSERT).bind(k as i64).bind(value).bind(0i64).execute(&pool).await?;
            }
            Store::Postgres(pool)
        }
        other => return Err(format!("unknown store {other}").into()),
    };
    Ok((store, reads))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let store = match (args.next().as_deref(), args.next()) {
        (Some("--store"), Some(s)) => Some(s),
        (None, _) => None,
        _ => return Err("usage: bare_axum PORT [--store STORE]".into()),
    };
    // The origin's runtime: tokio's multi-threaded one, a worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let value = "x".repeat(2000);
        let (store, reads) = open(store.as_deref(), &value).await?;
        let floor = Arc::new(Floor { store, reads, value, next: AtomicU64::new(0), reader: AtomicUsize::new(0) });
        let app = Router::new()
            .route("/dm", post(dm))
            .route("/portal/api/identify", post(portal))
            .route("/portal/api/select", post(portal))
            .with_state(floor);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
