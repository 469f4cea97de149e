//! The SQLite connections the store owns outright, checked out and back without sqlx's pool.
//! The pool pings a connection's thread each time one is returned: one more hand-over there
//! and back per store call, and the one writer unavailable meanwhile. Here a connection is
//! pinged only when its last check is a moment old, so one whose thread died fails its calls
//! for at most [`CHECK_EVERY`] before it is opened afresh; and one left inside a transaction
//! nobody can end is replaced before it is handed out.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection is handed out unchecked after it was last seen alive.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long a caller waits for a free connection (sqlx's pool default).
const WAIT_AT_MOST: Duration = Duration::from_secs(30);

/// A fixed number of connections to one database, each used by one caller at a time.
pub struct Conns {
    idle: Mutex<Vec<Idle>>,
    /// How long a caller waits for a free connection.
    wait: Duration,
    /// One per connection: a caller waits here for a free one.
    places: Semaphore,
    /// How a connection is opened afresh.
    opts: Mutex<SqliteConnectOptions>,
}

/// A connection not in use, and when it last answered a ping (or was opened).
struct Idle {
    conn: SqliteConnection,
    checked: Instant,
}

/// A connection in use; back to its set when dropped.
pub struct Conn<'a> {
    /// `Some` until dropped.
    conn: Option<Idle>,
    set: &'a Conns,
    _place: SemaphorePermit<'a>,
}

impl Conns {
    /// Opens `n` connections with `opts`.
    pub async fn open(opts: &SqliteConnectOptions, n: usize) -> Result<Self, sqlx::Error> {
        let mut idle = Vec::with_capacity(n);
        for _ in 0..n {
            idle.push(Idle { conn: opts.connect().await?, checked: Instant::now() });
        }
        Ok(Conns {
            idle: Mutex::new(idle),
            wait: WAIT_AT_MOST,
            places: Semaphore::new(n),
            opts: Mutex::new(opts.clone()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Idle>> {
        // A list of idle connections: whatever a panicking holder left is still one.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections opened from now on (to replace one) are opened with `opts`; those open
    /// keep what they were opened with.
    pub fn reopen_with(&self, opts: SqliteConnectOptions) {
        *self.opts.lock().unwrap_or_else(|p| p.into_inner()) = opts;
    }

    /// A free connection, waiting for one if all are in use.
    pub async fn get(&self) -> Result<Conn<'_>, sqlx::Error> {
        let place = match tokio::time::timeout(self.wait, self.places.acquire()).await {
            Ok(place) => place.map_err(|_| sqlx::Error::PoolClosed)?,
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
        };
        // Popped before any await: a caller cancelled below drops its connection, and the
        // next one to find the list short opens another. (A dropped connection's thread
        // finishes what was queued on it first, so its replacement may wait a moment in
        // SQLite's busy handler.)
        let idle = self.lock().pop();
        let conn = match idle {
            Some(idle) if idle.checked.elapsed() < CHECK_EVERY && !idle.conn.is_in_transaction() => idle,
            Some(idle) => self.checked(idle).await?,
            None => self.fresh().await?,
        };
        Ok(Conn { conn: Some(conn), set: self, _place: place })
    }

    /// `idle` if it answers a ping outside any transaction, else a fresh connection.
    async fn checked(&self, mut idle: Idle) -> Result<Idle, sqlx::Error> {
        // The ping waits for what is queued ahead of it, such as the rollback of a
        // transaction dropped unfinished.
        match idle.conn.ping().await {
            Ok(()) if !idle.conn.is_in_transaction() => Ok(Idle { checked: Instant::now(), ..idle }),
            Ok(()) => {
                // A `BEGIN` that ran for a caller cancelled before it held the transaction
                // (sqlx checks a custom `BEGIN` in a second step): nothing will end it.
                // Closing the connection rolls it back.
                tracing::warn!("SQLite connection left inside a transaction; opening another");
                drop(idle);
                self.fresh().await
            }
            Err(error) => {
                tracing::warn!(%error, "SQLite connection did not answer; opening another");
                self.fresh().await
            }
        }
    }

    async fn fresh(&self) -> Result<Idle, sqlx::Error> {
        let opts = self.opts.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(Idle { conn: opts.connect().await?, checked: Instant::now() })
    }
}

impl Deref for Conn<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match &self.conn {
            Some(idle) => &idle.conn,
            None => unreachable!("a connection is taken only on drop"),
        }
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match &mut self.conn {
            Some(idle) => &mut idle.conn,
            None => unreachable!("a connection is taken only on drop"),
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        // A transaction dropped unfinished has already queued its rollback on the
        // connection's thread, ahead of whatever the next caller sends.
        if let Some(idle) = self.conn.take() {
            self.set.lock().push(idle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SqliteConnectOptions {
        SqliteConnectOptions::new().in_memory(true)
    }

    #[tokio::test]
    async fn a_caller_waits_for_a_free_connection() {
        let set = Conns::open(&opts(), 1).await.unwrap();
        let first = set.get().await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(50), set.get()).await;
        assert!(second.is_err(), "a second caller got the only connection");
        drop(first);
        let again = tokio::time::timeout(Duration::from_secs(5), set.get()).await;
        assert!(again.is_ok(), "the connection was not given back");
    }

    #[tokio::test]
    async fn a_caller_waits_for_a_connection_only_so_long() {
        let mut set = Conns::open(&opts(), 1).await.unwrap();
        set.wait = Duration::from_millis(20);
        let _first = set.get().await.unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), set.get()).await.expect("gave up in time");
        assert!(matches!(second, Err(sqlx::Error::PoolTimedOut)), "{:?}", second.err());
    }

    #[tokio::test]
    async fn a_connection_lost_in_a_cancelled_checkout_is_replaced() {
        let set = Conns::open(&opts(), 1).await.unwrap();
        // What a checkout cancelled while its ping waits leaves: its place back, the
        // connection gone with its future.
        drop(set.lock().pop());
        let mut conn = tokio::time::timeout(Duration::from_secs(5), set.get()).await.unwrap().unwrap();
        let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(one, 1);
        drop(conn);
        assert_eq!(set.lock().len(), 1, "the new connection is kept");
    }

    #[tokio::test]
    async fn a_replacement_is_opened_with_the_options_set_last() {
        let set = Conns::open(&opts(), 1).await.unwrap();
        set.reopen_with(opts().pragma("wal_autocheckpoint", "4321"));
        drop(set.lock().pop());
        let mut conn = set.get().await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(pages, 4321);
    }

    #[tokio::test]
    async fn a_connection_not_checked_for_a_while_is_pinged_and_kept() {
        let set = Conns::open(&opts(), 1).await.unwrap();
        let stale = Instant::now() - CHECK_EVERY * 2;
        set.lock()[0].checked = stale;
        let conn = set.get().await.unwrap();
        assert!(conn.conn.as_ref().is_some_and(|c| c.checked > stale), "not checked again");
    }

    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteConnectOptions::new().filename(dir.path().join("t.db")).create_if_missing(true);
        let set = Conns::open(&opts, 1).await.unwrap();
        {
            let mut conn = set.get().await.unwrap();
            sqlx::query("CREATE TABLE t (v INTEGER)").execute(&mut *conn).await.unwrap();
            // As a cancelled `begin_with` leaves it: begun, and no `Transaction` to end it.
            let tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
            std::mem::forget(tx);
        }
        let mut conn = set.get().await.unwrap();
        assert!(!conn.is_in_transaction(), "handed out inside the stranded transaction");
        sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *conn).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn an_unfinished_transaction_is_rolled_back_before_the_next_caller() {
        let set = Conns::open(&opts(), 1).await.unwrap();
        {
            let mut conn = set.get().await.unwrap();
            sqlx::query("CREATE TABLE t (v INTEGER)").execute(&mut *conn).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *tx).await.unwrap();
            // Dropped without commit.
        }
        let mut conn = set.get().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(n, 0);
        // And the connection is not left inside a transaction.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
}
