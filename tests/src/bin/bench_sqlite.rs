//! The floor under the origin's SQLite store: what one statement costs through sqlx on this
//! machine, with the origin's settings (WAL, `synchronous = NORMAL`, one connection, tokio's
//! multi-threaded runtime), so that a DM session's statements can be priced.
//!
//! Usage: `bench_sqlite [SECS]` (default 3 per figure). Each figure runs alone and prints the
//! process's CPU (user + system, all threads, from `/proc/self/stat`) per operation:
//! - `select`: a point read of a 1.5 KB row by its key (a DM session's look-up);
//! - `upsert`: an insert-or-update of that row (a session's save);
//! - `tx_upsert`: the same inside `BEGIN IMMEDIATE` … `COMMIT` (three hand-overs);
//! - `pair`: two upserts sent as one query string (one hand-over), per pair.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};

const UPSERT: &str =
    "INSERT INTO s (k, v, t) VALUES ($1, $2, $3) ON CONFLICT (k) DO UPDATE SET v = excluded.v, t = excluded.t";
const PAIR: &str = "INSERT INTO s (k, v, t) VALUES ($1, $2, $3) ON CONFLICT (k) DO UPDATE SET v = excluded.v, t = excluded.t; \
     INSERT INTO s (k, v, t) VALUES ($4, $2, $3) ON CONFLICT (k) DO UPDATE SET v = excluded.v, t = excluded.t";
const KEYS: i64 = 1000;

/// What is measured.
#[derive(Clone, Copy)]
enum Op {
    Select,
    Upsert,
    TxUpsert,
    Pair,
}

/// One operation on key `k`.
async fn once(c: &mut SqliteConnection, op: Op, k: i64, v: &str) -> Result<(), sqlx::Error> {
    match op {
        Op::Select => sqlx::query("SELECT v, t FROM s WHERE k = $1").bind(k).fetch_one(&mut *c).await.map(drop),
        Op::Upsert => sqlx::query(UPSERT).bind(k).bind(v).bind(k).execute(&mut *c).await.map(drop),
        Op::TxUpsert => {
            let mut tx = c.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(UPSERT).bind(k).bind(v).bind(k).execute(&mut *tx).await?;
            tx.commit().await
        }
        Op::Pair => {
            let other = (k + KEYS / 2) % KEYS;
            sqlx::query(PAIR).bind(k).bind(v).bind(k).bind(other).execute(&mut *c).await.map(drop)
        }
    }
}

/// Runs `op` for `secs`: CPU microseconds per operation.
async fn measure(c: &mut SqliteConnection, op: Op, secs: u64, v: &str) -> Result<f64, sqlx::Error> {
    let cpu0 = portaldm_tests::own_cpu_ms().unwrap_or(0);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    while Instant::now() < end {
        once(c, op, n as i64 % KEYS, v).await?;
        n += 1;
    }
    let cpu = portaldm_tests::own_cpu_ms().unwrap_or(0).saturating_sub(cpu0);
    Ok(cpu as f64 * 1000.0 / n.max(1) as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("floor.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut c: SqliteConnection = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .connect()
            .await?;
        sqlx::query("CREATE TABLE s (k INTEGER PRIMARY KEY, v TEXT NOT NULL, t INTEGER NOT NULL)")
            .execute(&mut c)
            .await?;
        let value = "x".repeat(1500);
        for k in 0..KEYS {
            sqlx::query(UPSERT).bind(k).bind(&value).bind(0i64).execute(&mut c).await?;
        }
        let mut line = String::from("sqlite_floor");
        for (name, op) in
            [("select", Op::Select), ("upsert", Op::Upsert), ("tx_upsert", Op::TxUpsert), ("pair", Op::Pair)]
        {
            line += &format!(" {name}_us={:.1}", measure(&mut c, op, secs, &value).await?);
        }
        println!("{line}");
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
