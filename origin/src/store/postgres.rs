//! The PostgreSQL backend (scale-out: any number of origin replicas over one database).
//! Choices made wake held DM sessions on every replica through `LISTEN/NOTIFY`.

use async_trait::async_trait;
use portaldm_shared::admin::api::{AdminTokenView, AuditEntry, PackageStatus, PackageView, SessionView};
use portaldm_shared::auth::Account;
use portaldm_shared::auth::server::ServerAuth;
use portaldm_shared::catalog::{CatalogPackage, PackageKind};
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use portaldm_shared::portal::PortalState;
use portaldm_shared::session::server::ServerSession;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use tokio::sync::broadcast;

use super::catalog_cache::CatalogCache;
use super::{
    Changed, ConsoleSession, DeviceAccount, DeviceRecord, DmLookup, DmRecord, NewPackage, PortalRecord, RecordOutcome,
    ResultPoint, ResultRecord, Store, StoreError, StoreResult, Swept, json, parse, retention,
};

/// The channel a choice is announced on; the payload is the portal session id.
const WAKE_CHANNEL: &str = "portaldm_select";

/// A store in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL runs concurrent writers itself.
    writer: PgPool,
    /// The published catalog as last read.
    catalog: CatalogCache,
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
        Ok(PgStore { writer: pool.clone(), pool, catalog: CatalogCache::default() })
    }

    /// A transaction.
    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// A choice was made in `tx`: announced on commit, to every replica holding this
    /// session's package 4.
    async fn on_selected(tx: &mut PgConnection, sid: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(WAKE_CHANNEL).bind(sid).execute(&mut *tx).await?;
        Ok(())
    }

    /// Forwards the choices announced by any replica to `wake`.
    async fn wakeups(&self, wake: broadcast::Sender<String>) -> StoreResult<()> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        tokio::spawn(async move {
            // PgListener reconnects by itself after a dropped connection.
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        let _ = wake.send(n.payload().to_owned());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "wake-up listener failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }
}

super::sql::store_impl!(PgStore, PgConnection, sqlx::postgres::PgRow);
