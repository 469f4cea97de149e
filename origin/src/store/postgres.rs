//! The PostgreSQL backend (scale-out: any number of origin replicas over one database).
//! A choice wakes the held DM message of its portal session on whichever replica holds it,
//! through `LISTEN/NOTIFY`.

use async_trait::async_trait;
use portaldm_shared::auth::Account;
use portaldm_shared::auth::server::ServerAuth;
use portaldm_shared::catalog::{CatalogPackage, PackageKind, PackageRules};
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use portaldm_shared::portal::PortalState;
use portaldm_shared::session::server::ServerSession;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgListener, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{Connection as _, PgConnection, PgPool, Postgres, Row, Transaction};
use std::sync::Arc;
use std::time::Duration;

use crate::wake::Registry;

use super::catalog_cache::CatalogCache;
use super::{
    Changed, ConsoleSession, DeviceAccount, DeviceRecord, DmLookup, DmRecord, KnownDevice, NewPackage, PortalRecord,
    RecordOutcome, ResultPoint, ResultRecord, Store, StoreError, StoreResult, Swept, json, parse, retention,
};
use crate::admin::api_types::{AdminTokenView, AuditEntry, PackageStatus, PackageView, SessionView};

/// The channel a portal session's decision is announced on; the payload is the session's id
/// and, after a space, the announcing process's [`PgStore::instance`].
const WAKE_CHANNEL: &str = "portaldm_select";

/// The portal session id a notice on [`WAKE_CHANNEL`] names, unless it came from the process
/// `me`, which woke its own waiters when it made the change (`AppState::wake`): PostgreSQL
/// delivers a NOTIFY to the listener of the session that sent it too. A notice without an
/// instance (from an older replica) names a session to wake.
fn heard<'a>(payload: &'a str, me: &str) -> Option<&'a str> {
    match payload.split_once(' ') {
        Some((_, from)) if from == me => None,
        Some((sid, _)) => Some(sid),
        None => Some(payload),
    }
}

/// A store in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The published catalog as last read.
    catalog: CatalogCache,
    /// The device profiles as last read.
    profiles: CatalogCache<portaldm_shared::profile::DeviceProfile>,
    /// This process, in its own notices, so that it can skip them.
    instance: Arc<str>,
}

impl PgStore {
    /// Connects to `url` and applies migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        // Unique among the replicas (not a secret): two processes would need the same id
        // and the same nanosecond.
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let instance = Arc::from(format!("{:x}.{:x}", std::process::id(), since.as_nanos()));
        Ok(PgStore { pool, catalog: CatalogCache::default(), profiles: CatalogCache::default(), instance })
    }

    /// A connection from the pool.
    async fn read(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// A connection from the same pool: PostgreSQL runs concurrent writers itself.
    async fn write(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// Reads a device's row for a write merged with it, locked until the transaction ends.
    const DEVICE_TO_WRITE: &str = "SELECT details FROM devices WHERE dev_id = $1 FOR UPDATE";

    /// A transaction on `c`.
    async fn begin(c: &mut PgConnection) -> StoreResult<Transaction<'_, Postgres>> {
        Ok(c.begin().await?)
    }

    /// Writes a user's decision on `sid` (one `UPDATE`); whether it changed a row. One that
    /// did and is to be `announce`d (a choice, or "not my phone") is announced on commit, in
    /// the same transaction, to whichever replica holds this session's package 4.
    async fn decide(&self, decision: Query<'_, Postgres, PgArguments>, sid: &str, announce: bool) -> StoreResult<bool> {
        let mut c = self.write().await?;
        if !announce {
            return Ok(decision.execute(&mut *c).await?.rows_affected() == 1);
        }
        let mut tx = Self::begin(&mut c).await?;
        let changed = decision.execute(&mut *tx).await?.rows_affected() == 1;
        if changed {
            let payload = format!("{sid} {}", self.instance);
            sqlx::query("SELECT pg_notify($1, $2)").bind(WAKE_CHANNEL).bind(payload).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Nothing beside the calls: PostgreSQL checkpoints on its own.
    async fn background(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Wakes the held messages of `wake` whose session another replica announced.
    async fn wakeups(&self, wake: Arc<Registry>) -> StoreResult<()> {
        let listener = listen(&self.pool).await?;
        tokio::spawn(hear_forever(self.pool.clone(), listener, wake, self.instance.clone()));
        Ok(())
    }
}

async fn listen(pool: &PgPool) -> StoreResult<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(WAKE_CHANNEL).await?;
    Ok(listener)
}

/// Hands each notice to `wake`. Notices sent while the listener was not connected are lost:
/// once it listens again, every held message looks at its session again, so a choice made
/// meanwhile is delivered at once (and in any case by the hold's deadline).
async fn hear_forever(pool: PgPool, mut listener: PgListener, wake: Arc<Registry>, me: Arc<str>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => {
                if let Some(sid) = heard(n.payload(), &me) {
                    wake.wake(sid);
                }
            }
            // The connection was lost and made again (sqlx listens again before saying so).
            Ok(None) => {
                let woken = wake.wake_all();
                tracing::warn!(woken, "wake-up listener reconnected; every held message looks again");
            }
            Err(e) => {
                tracing::warn!(error = %e, "wake-up listener failed; reconnecting");
                listener = loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match listen(&pool).await {
                        Ok(l) => break l,
                        Err(e) => tracing::warn!(error = %e, "wake-up listener could not reconnect; retrying"),
                    }
                };
                let woken = wake.wake_all();
                tracing::warn!(woken, "wake-up listener reconnected; every held message looks again");
            }
        }
    }
}

#[cfg(test)]
mod notices {
    use super::heard;

    #[test]
    fn a_process_skips_its_own_notices_and_hears_the_others() {
        assert_eq!(heard("sid1 me", "me"), None, "woken once already, by the choosing process itself");
        assert_eq!(heard("sid1 other", "me"), Some("sid1"));
        assert_eq!(heard("sid1", "me"), Some("sid1"), "an older replica's notice");
    }
}

super::sql::store_impl!(PgStore, PgConnection, sqlx::postgres::PgRow);
