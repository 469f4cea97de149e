//! The SQLite backend (the embedded default).

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use portaldm_shared::auth::Account;
use portaldm_shared::auth::server::ServerAuth;
use portaldm_shared::catalog::{CatalogPackage, PackageKind, PackageRules};
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use portaldm_shared::portal::PortalState;
use portaldm_shared::session::server::ServerSession;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection as _, Row, Sqlite, SqliteConnection, Transaction};

use super::catalog_cache::CatalogCache;
use super::sqlite_conns::{Conn, Conns};
use super::{
    Changed, ConsoleSession, DeviceAccount, DeviceRecord, DmLookup, DmRecord, KnownDevice, NewPackage, PortalRecord,
    RecordOutcome, ResultPoint, ResultRecord, Store, StoreError, StoreResult, Swept, json, parse, retention,
};
use crate::admin::api_types::{AdminTokenView, AuditEntry, PackageStatus, PackageView, SessionView};

/// A store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    /// Readers, one per core (2 to 8): in WAL mode they never wait for the writer.
    readers: Arc<Conns>,
    /// The one connection that writes. SQLite lets one writer in at a time and makes the
    /// others sleep in its busy handler (1, 2, 5 … 100 ms steps), even after the lock is
    /// free; here writers queue for this one instead and start as soon as it is free.
    writer: Arc<Conns>,
    /// How its connections are opened (the checkpointer's, once it serves).
    opts: SqliteConnectOptions,
    /// Whether the database lives in memory (no file, no WAL).
    in_memory: bool,
    /// The published catalog as last read.
    catalog: CatalogCache,
    /// The device profiles as last read.
    profiles: CatalogCache<portaldm_shared::profile::DeviceProfile>,
}

/// Creates the database file `path`, if missing, readable by its owner only (0600): it holds
/// device credentials and session secrets. Made here because SQLite would create it with the
/// umask's mode (usually world-readable); its `-wal` and `-shm` files take the file's mode.
/// An existing file that others can read (an older install's) is narrowed to 0600.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "database file was readable by others; narrowed to 0600");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            create_private(opts.get_filename()).map_err(sqlx::Error::Io)?;
        }
        // Connections of our own rather than sqlx's pools: a SQLite connection is a file
        // handle and a thread in this process, and the pool's pings on acquire and release
        // are each a hand-over to that thread and back (`sqlite_conns`).
        let writer = Conns::open(&opts, 1).await?;
        sqlx::migrate!("./migrations/sqlite").run(&mut *writer.get().await?).await?;
        // A reader is a thread of its own that every statement is handed to and back from,
        // and reads from the page cache are CPU work: more readers than cores only add
        // threads to wake.
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        let readers = Conns::open(&opts, readers).await?;
        Ok(SqliteStore {
            readers: Arc::new(readers),
            writer: Arc::new(writer),
            opts,
            in_memory,
            catalog: CatalogCache::default(),
            profiles: CatalogCache::default(),
        })
    }

    /// A reader.
    async fn read(&self) -> StoreResult<Conn<'_>> {
        Ok(self.readers.get().await?)
    }

    /// The writer, once it is free.
    async fn write(&self) -> StoreResult<Conn<'_>> {
        Ok(self.writer.get().await?)
    }

    /// Reads a device's row for a write merged with it (the transaction holds the write lock).
    const DEVICE_TO_WRITE: &str = "SELECT details FROM devices WHERE dev_id = $1";

    /// A transaction on the writer that holds SQLite's write lock from its start (`BEGIN
    /// IMMEDIATE`), so that it never deadlocks upgrading a read lock against another process
    /// (an admin's CLI) writing the same file.
    async fn begin(writer: &mut SqliteConnection) -> StoreResult<Transaction<'_, Sqlite>> {
        Ok(writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Writes a user's decision on `sid` (one `UPDATE`); whether it changed a row. One
    /// statement is its own transaction, and there is no one else to tell: the held messages
    /// of this one process hear of it through `AppState::wake`.
    async fn decide<'q>(
        &self,
        decision: Query<'q, Sqlite, SqliteArguments<'q>>,
        _sid: &str,
        _announce: bool,
    ) -> StoreResult<bool> {
        Ok(decision.execute(&mut *self.write().await?).await?.rows_affected() == 1)
    }

    /// Starts copying the WAL back into the database every [`CHECKPOINT_EVERY`] on a
    /// connection of its own (`PRAGMA wal_checkpoint(PASSIVE)`, which never blocks the
    /// writer), and lets the writer's own checkpoints, which it waits for, wait until
    /// [`WRITER_CHECKPOINT_PAGES`]. A store that does not serve (the CLI) keeps SQLite's
    /// default of 1,000 pages; one in memory has no WAL.
    async fn background(&self) -> StoreResult<()> {
        if self.in_memory {
            return Ok(());
        }
        let checkpointer = Conns::open(&self.opts, 1).await?;
        // On the writer open now, and on any that replaces it.
        self.writer.reopen_with(self.opts.clone().pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string()));
        sqlx::query(&format!("PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}"))
            .execute(&mut *self.write().await?)
            .await?;
        tokio::spawn(checkpoint_forever(checkpointer));
        Ok(())
    }

    /// Nothing to forward: every session is held by this process.
    async fn wakeups(&self, _wake: std::sync::Arc<crate::wake::Registry>) -> StoreResult<()> {
        Ok(())
    }
}

/// How often a serving store copies its WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The WAL's size in pages at which a serving store's writer checkpoints itself. Under
/// sustained writes the WAL cannot start over while commits keep landing during the
/// checkpointer's copies, so it grows to this size (about 40 MB); the writer's checkpoint then
/// finds most frames copied already, and the WAL starts over.
const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Copies the WAL back into the database every [`CHECKPOINT_EVERY`]. A failure is logged
/// when it starts and when it ends, not at every try.
async fn checkpoint_forever(conns: Conns) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        every.tick().await;
        let done = match conns.get().await {
            Ok(mut c) => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut *c).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match done {
            Err(e) if !failing => {
                tracing::warn!(error = %e, "WAL checkpoint failed; trying again every {CHECKPOINT_EVERY:?}");
                failing = true;
            }
            Ok(()) if failing => {
                tracing::info!("WAL checkpoints work again");
                failing = false;
            }
            _ => {}
        }
    }
}

super::sql::store_impl!(SqliteStore, SqliteConnection, sqlx::sqlite::SqliteRow);
