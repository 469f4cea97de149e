//! The origin's persistent state behind one trait; SQL lives only in the backends.

pub mod catalog_cache;
pub mod postgres;
mod sql;
pub mod sqlite;
mod sqlite_conns;

use async_trait::async_trait;
use portaldm_shared::auth::Account;
use portaldm_shared::auth::server::ServerAuth;
use portaldm_shared::catalog::CatalogPackage;
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use portaldm_shared::portal::PortalState;
use portaldm_shared::session::server::ServerSession;

use crate::admin::api_types::{AdminTokenView, AuditEntry, PackageView, SessionView};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The database failed to migrate.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored JSON value no longer parses.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// A device's row kept changing under a write merged with it (other writers won each time).
    #[error("a device row kept changing while written")]
    Contended,
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, out of connections) or a
    /// write lost to another (a deadlock, a serialization failure, a row that kept changing):
    /// worth retrying shortly, unlike a failed query.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed
            )
        ) || matches!(self, StoreError::Contended)
            || matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "40P01" || c == "40001"))
    }
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;

/// How long what the origin stores outlives its use, and how often it is swept
/// ([`Store::sweep`]).
pub mod retention {
    use std::time::Duration;

    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    /// A portal session is kept this long after it expired (the console shows it; a device
    /// may report a slow install's result late).
    pub const PORTAL_AFTER_EXPIRY_MS: i64 = 30 * DAY_MS;
    /// A device's history rows are kept this long (its latest row always).
    pub const HISTORY_MS: i64 = 365 * DAY_MS;
    /// A DM session idle this long is forgotten: the session machine would not continue it.
    pub const DM_SESSION_MS: i64 = portaldm_shared::session::server::IDLE_LIMIT_MS as i64;
    /// How long after its expiry a token is still accepted (the verifier's clock leeway),
    /// with a margin: its used id is kept at least that long.
    pub const TOKEN_LEEWAY_MS: i64 = 2 * portaldm_shared::token::LEEWAY_SECS as i64 * 1000;
    /// How often a serving origin sweeps.
    pub const EVERY: Duration = Duration::from_secs(10 * 60);
}

/// What one [`Store::sweep`] deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Used token ids whose tokens have expired.
    pub tokens: u64,
    /// DM sessions idle past [`retention::DM_SESSION_MS`].
    pub dm_sessions: u64,
    /// Portal sessions past [`retention::PORTAL_AFTER_EXPIRY_MS`] after their expiry, and
    /// triggers no phone answered once their tokens are dead.
    pub portal_sessions: u64,
    /// Device history rows past [`retention::HISTORY_MS`], each device's latest kept.
    pub history: u64,
    /// Console sign-ins that have ended.
    pub console_sessions: u64,
}

/// A value as the JSON the backends store.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored JSON value read back.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A portal session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalRecord {
    /// Portal session id (from the token).
    pub sid: String,
    /// SHA-256 of the browser's secret (from the token).
    pub bnd: String,
    /// The pkg#0 session id.
    pub nsid: u16,
    /// The device.
    pub dev_id: String,
    /// Where it stands.
    pub state: PortalState,
    /// The device details.
    pub device: DeviceDetails,
    /// The chosen package.
    pub package_id: Option<i64>,
    /// The delivery prepared for the chosen package.
    pub delivery: Option<FumoDelivery>,
    /// The client's status for the Exec.
    pub exec_status: Option<u16>,
    /// The reported result.
    pub result_code: Option<u16>,
    /// When it expires (Unix ms).
    pub expires_at: i64,
    /// Where it comes from (from the token): which packages limited by place it is offered.
    pub place: portaldm_shared::catalog::Place,
    /// When the phone's DM session last answered while the user decides (Unix ms; 0: not
    /// known).
    pub phone_seen_at: i64,
}

/// The hold of `hold_secs` in milliseconds, saturated.
fn hold_ms(hold_secs: u64) -> i64 {
    i64::try_from(hold_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl PortalRecord {
    /// Its state as the browser sees it at `now_ms`, with the origin's hold of `hold_secs`:
    /// an undecided session whose phone left has ended (`PortalState::as_of`).
    pub fn state_now(&self, now_ms: i64, hold_secs: u64) -> PortalState {
        self.state.as_of(now_ms, self.expires_at, self.phone_seen_at, hold_ms(hold_secs))
    }

    /// Whether it is undecided and has ended as the browser sees it at `now_ms`
    /// (`PortalState::lapsed_as_of`): its end is for the store to write.
    pub fn lapsed_now(&self, now_ms: i64, hold_secs: u64) -> bool {
        self.state.lapsed_as_of(now_ms, self.expires_at, self.phone_seen_at, hold_ms(hold_secs))
    }

    /// A new portal session for `device`, nothing chosen yet.
    pub fn new(
        sid: String,
        bnd: String,
        nsid: u16,
        device: &DeviceDetails,
        state: PortalState,
        expires_at: i64,
    ) -> Self {
        PortalRecord {
            sid,
            bnd,
            nsid,
            dev_id: device.dev_id.clone(),
            state,
            device: device.clone(),
            package_id: None,
            delivery: None,
            exec_status: None,
            result_code: None,
            expires_at,
            place: portaldm_shared::catalog::Place::default(),
            phone_seen_at: 0,
        }
    }
}

/// A DM session as stored, with the last answer sent (for repeats).
#[derive(Debug, Clone)]
pub struct DmRecord {
    /// The session machine.
    pub session: ServerSession,
    /// The encoded last answer.
    pub last_reply: Option<Vec<u8>>,
    /// Last update (Unix ms).
    pub updated_at: i64,
    /// Its write's version: the time it was created (Unix ms), plus one for every write since
    /// (a held message's writes land only on the row it read).
    pub version: i64,
    /// Its portal session, as read with it (`None`: it serves none, or was saved before the
    /// store recorded which).
    pub portal: Option<PortalRecord>,
}

/// What [`Store::dm_lookup`] found for a DM message.
#[derive(Debug, Default)]
pub struct DmLookup {
    /// The device's DM account, if it has one.
    pub account: Option<DeviceAccount>,
    /// The stored session of that id, if any.
    pub session: Option<DmRecord>,
    /// The device's registry row as read with them.
    pub device: KnownDevice,
}

/// A device's registry row as a DM message's look-up read it, handed back to the store when
/// the message writes the device's details: the write merges with it and knows whether the
/// history needs a row without reading the row again, and reads it afresh if it changed since
/// (the write lands only on the row as read). `KnownDevice::default()`: not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownDevice(Option<Option<String>>);

impl KnownDevice {
    /// The row as read: its stored details (JSON), or `None` for a device not in the registry.
    pub(crate) fn read(stored: Option<String>) -> Self {
        KnownDevice(Some(stored))
    }

    /// The stored details as read (`Some(None)`: no row), or `None` if nothing was read.
    pub(crate) fn as_read(&self) -> Option<Option<&str>> {
        self.0.as_ref().map(Option::as_deref)
    }
}

/// A new catalog package.
#[derive(Debug, Clone)]
pub struct NewPackage {
    /// What it is and who is offered it.
    pub rules: portaldm_shared::catalog::PackageRules,
    /// Blob id.
    pub blob: String,
    /// Size.
    pub size: u64,
    /// The operator's signature (`shared::pkgsig`), if signed.
    pub signature: Option<String>,
    /// Offered at once (false: a draft).
    pub publish: bool,
}

impl NewPackage {
    /// What the audit log records of it: the rules without the notes' text (their languages
    /// only), the blob, its size, whether it is signed and whether it is published.
    pub fn audit_detail(&self) -> StoreResult<serde_json::Value> {
        let mut detail = serde_json::to_value(&self.rules).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(d) = detail.as_object_mut() {
            d.remove("notes");
            d.remove("notes_by_lang");
            d.insert("languages".into(), serde_json::json!(self.rules.notes_by_lang.keys().collect::<Vec<_>>()));
            d.insert("blob".into(), self.blob.clone().into());
            d.insert("size".into(), self.size.into());
            d.insert("signed".into(), self.signature.is_some().into());
            d.insert("publish".into(), self.publish.into());
        }
        Ok(detail)
    }
}

/// What a change of a package's state did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// Done.
    Done,
    /// No such package.
    Missing,
    /// Not possible from the state it is in (e.g. publishing a revoked package).
    Refused,
}

/// A console sign-in as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the cookie's secret.
    pub secret_sha256: String,
    /// The admin token it was opened with (revoking the token ends it).
    pub token_id: String,
    /// When it ends (Unix ms).
    pub expires_at: i64,
}

/// One result with the reporting device's model, for charts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultPoint {
    /// When it was recorded (Unix ms).
    pub recorded_at: i64,
    /// The package delivered, if known.
    pub package_id: Option<i64>,
    /// FUMO result code.
    pub code: u16,
    /// The device's model, if known.
    pub model: Option<String>,
}

/// What recording a result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recorded now.
    Recorded,
    /// Already recorded earlier (the client repeated its report): not counted twice.
    Duplicate,
    /// No delivery with this correlator for this device.
    Unknown,
}

/// A device's DM account and the server's authentication state for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAccount {
    /// Scheme and keys.
    pub account: Account,
    /// Nonces and tries.
    pub auth: ServerAuth,
}

/// A device as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Its latest details.
    pub details: DeviceDetails,
    /// First contact (ms).
    pub first_seen: i64,
    /// Latest contact (ms).
    pub last_seen: i64,
}

/// One recorded result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRecord {
    /// The delivery's correlator.
    pub correlator: String,
    /// The package delivered, if known.
    pub package_id: Option<i64>,
    /// The FUMO result code.
    pub code: u16,
    /// When it was recorded (ms).
    pub recorded_at: i64,
}

/// Everything the origin persists.
#[async_trait]
pub trait Store: Send + Sync {
    /// Opens a portal-triggered DM session in one transaction: uses the token id (`jti`, with
    /// when its token expires; false, and nothing written, if it was used before), records the device, creates the portal
    /// session (or moves the one its browser registered on from waiting) and saves the DM
    /// session with its first answer.
    async fn open_portal(
        &self,
        jti: (&str, i64),
        portal: &PortalRecord,
        session: &ServerSession,
        reply: &[u8],
        known: &KnownDevice,
        now: i64,
    ) -> StoreResult<bool>;
    /// Records a trigger its browser has shown (`portal` in state waiting, `trigger` what a
    /// stock session binds by); nothing if its portal session exists already.
    async fn register_trigger(
        &self,
        portal: &PortalRecord,
        trigger: &portaldm_shared::stock::LiveTrigger,
        now: i64,
    ) -> StoreResult<()>;
    /// The live triggers (shown, waiting, not expired at `now`) with any of the ids `nsids`.
    async fn live_triggers(&self, nsids: &[u16], now: i64) -> StoreResult<Vec<portaldm_shared::stock::LiveTrigger>>;
    /// Binds a stock client's DM session to the waiting portal session of `trigger` in one
    /// transaction: spends its token id, moves it to connecting with the device (to expire at
    /// `expires_at`), records the device and saves the DM session with its first answer.
    /// False, and nothing written, if the trigger was spent or bound meanwhile.
    async fn bind_stock(
        &self,
        trigger: &portaldm_shared::stock::LiveTrigger,
        session: &ServerSession,
        reply: &[u8],
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool>;
    /// Ends the portal sessions `sids` that still wait for their phone (a clash: their browsers
    /// start again).
    async fn end_waiting(&self, sids: &[String], now: i64) -> StoreResult<()>;
    /// Creates a portal session that no browser is bound to (a device's own update request).
    async fn create_portal(&self, portal: &PortalRecord, now: i64) -> StoreResult<()>;
    /// Records what a device reported (`known`: its registry row as its message read it);
    /// [`StoreError::Contended`] if the row kept changing under the write.
    async fn upsert_device(&self, device: &DeviceDetails, known: &KnownDevice, now: i64) -> StoreResult<()>;
    /// Reads a portal session.
    async fn portal(&self, sid: &str) -> StoreResult<Option<PortalRecord>>;
    /// Ends a portal session whose user had not decided (its phone or its deadline left), with
    /// the device details; whether it did (`false`: a choice or an end came first).
    async fn end_undecided(&self, sid: &str, device: &DeviceDetails, now: i64) -> StoreResult<bool>;
    /// Records that the phone's DM session answered at `now` while the user decides.
    async fn phone_seen(&self, sid: &str, now: i64) -> StoreResult<()>;
    /// The phone reached its choice point for the first time: its details go to the registry
    /// and the portal session, if still `connecting`, becomes `identified`, seen now, in one
    /// transaction. Whether it did.
    async fn phone_identified(
        &self,
        sid: &str,
        device: &DeviceDetails,
        known: &KnownDevice,
        now: i64,
    ) -> StoreResult<bool>;
    /// Writes a DM session and its last answer with the device's details, in one transaction.
    async fn save_dm_session_and_device(
        &self,
        s: &ServerSession,
        last_reply: &[u8],
        device: &DeviceDetails,
        known: &KnownDevice,
        now: i64,
    ) -> StoreResult<()>;
    /// Records the browser's user's answer to "is this your phone?" if the session is still
    /// asking: choosing (`mine`) or ended; false when it was not asking.
    async fn identify(&self, sid: &str, mine: bool, now: i64) -> StoreResult<bool>;
    /// Records the user's choice if the session is still choosing; false otherwise.
    async fn select(&self, sid: &str, package_id: i64, delivery: &FumoDelivery, now: i64) -> StoreResult<bool>;
    /// Records the client's Exec status for a delivery.
    async fn delivered(&self, correlator: &str, exec_status: u16, state: PortalState, now: i64) -> StoreResult<()>;
    /// Whether the delivery `correlator` to `dev_id` still waits for its outcome: `None` when
    /// there is no such delivery.
    async fn awaits_result(&self, dev_id: &str, correlator: &str) -> StoreResult<Option<bool>>;
    /// Records a result once; with `device`, its details too in the same transaction when
    /// the correlator names a delivery to it (not for an unknown one: nothing unverified is
    /// written).
    async fn record_result(
        &self,
        dev_id: &str,
        correlator: &str,
        code: ResultCode,
        device: Option<(&DeviceDetails, &KnownDevice)>,
        now: i64,
    ) -> StoreResult<RecordOutcome>;
    /// What a DM message needs first, in one read: its device's account (if any), the
    /// stored session it may continue and the device's registry row.
    async fn dm_lookup(&self, dev_id: &str, session_id: &str) -> StoreResult<DmLookup>;
    /// Writes a DM session and its last answer.
    async fn save_dm_session(&self, s: &ServerSession, last_reply: &[u8], now: i64) -> StoreResult<()>;
    /// Writes a continued DM session only over the row of `version` as read: false when another
    /// write came first (another copy of the message, its next message). With its `answer`, or,
    /// for a held message (`ServerSession::held_message`), parked without one (its last answer
    /// stays): it then waits here, not in the origin's memory, until the user's choice.
    async fn save_if_unchanged(
        &self,
        s: &ServerSession,
        answer: Option<&[u8]>,
        version: i64,
        now: i64,
    ) -> StoreResult<bool>;
    /// Adds a package; audited as `actor`'s `package.add`.
    async fn add_package(&self, p: &NewPackage, actor: &str, now: i64) -> StoreResult<i64>;
    /// Withdraws a published package: never offered again, its download URLs stop working
    /// (unless another published package has the same bytes). False if there was none.
    /// Audited as `package.revoke`.
    async fn revoke(&self, id: i64, actor: &str, now: i64) -> StoreResult<bool>;
    /// Publishes a draft; audited as `package.publish`.
    async fn publish(&self, id: i64, actor: &str, now: i64) -> StoreResult<Changed>;
    /// Sets the rollout share of a draft or published package; audited as `package.rollout`.
    async fn set_rollout(&self, id: i64, percent: u8, actor: &str, now: i64) -> StoreResult<Changed>;
    /// Every package, published or revoked, newest first.
    async fn all_packages(&self) -> StoreResult<Vec<PackageView>>;
    /// Portal sessions changed most recently, optionally in one state, newest first.
    async fn recent_sessions(&self, state: Option<PortalState>, limit: u32) -> StoreResult<Vec<SessionView>>;
    /// Stores a new admin token (its secret's hash), read-only or not; audited as `admin_token.create`.
    async fn create_admin_token(
        &self,
        id: &str,
        name: &str,
        secret_sha256: &str,
        read_only: bool,
        actor: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// An admin token and its secret's hash.
    async fn admin_token(&self, id: &str) -> StoreResult<Option<(AdminTokenView, String)>>;
    /// Every admin token, oldest first.
    async fn admin_tokens(&self) -> StoreResult<Vec<AdminTokenView>>;
    /// Revokes an admin token; false if there was no live one. Audited as `admin_token.revoke`.
    async fn revoke_admin_token(&self, id: &str, actor: &str, now: i64) -> StoreResult<bool>;
    /// Records an admin action that changes nothing else in the database (e.g. a blob upload).
    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
        now: i64,
    ) -> StoreResult<()>;
    /// Opens a console session (audited as `console.sign_in` by the token's actor).
    async fn create_console_session(&self, id: &str, s: &ConsoleSession, actor: &str, now: i64) -> StoreResult<()>;
    /// A console session, if it exists (expired ones included: the caller checks).
    async fn console_session(&self, id: &str) -> StoreResult<Option<ConsoleSession>>;
    /// Ends a console session.
    async fn delete_console_session(&self, id: &str) -> StoreResult<()>;
    /// Results recorded since `since` (ms), oldest first, at most `limit`.
    async fn results_since(&self, since: i64, limit: u32) -> StoreResult<Vec<ResultPoint>>;
    /// The latest audit entries, newest first.
    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// All published packages: a copy at most [`catalog_cache::MAX_AGE`] old, and never
    /// older than this store's own last catalog change.
    async fn packages(&self) -> StoreResult<std::sync::Arc<[CatalogPackage]>>;
    /// Whether package `package` is published with this blob.
    async fn blob_published(&self, package: i64, blob: &str) -> StoreResult<bool>;
    /// Portal sessions per stored state (for metrics).
    async fn portal_state_counts(&self) -> StoreResult<Vec<(String, i64)>>;
    /// Whether the database answers (for readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// A device from the registry.
    async fn device(&self, dev_id: &str) -> StoreResult<Option<DeviceRecord>>;
    /// What a device reported over time (complete details, a row per change), newest first.
    async fn device_history(&self, dev_id: &str, limit: u32) -> StoreResult<Vec<(i64, DeviceDetails)>>;
    /// A device's recorded results, newest first.
    async fn results_for(&self, dev_id: &str) -> StoreResult<Vec<ResultRecord>>;
    /// How the deliveries of a package ended: (FUMO code, count), by code.
    async fn result_counts(&self, package_id: i64) -> StoreResult<Vec<(u16, u64)>>;
    /// A device's DM account, if it has one.
    async fn device_account(&self, dev_id: &str) -> StoreResult<Option<DeviceAccount>>;
    /// Sets (or replaces) a device's DM account; its authentication state starts afresh.
    /// Audited as `device.account` (the scheme, never keys).
    async fn set_device_account(&self, dev_id: &str, account: &Account, actor: &str, now: i64) -> StoreResult<()>;
    /// Saves the authentication state of a device that has an account.
    async fn save_auth_state(&self, dev_id: &str, auth: &ServerAuth, now: i64) -> StoreResult<()>;
    /// Deletes what has outlived its use at `now` ([`retention`]); nothing else grows without
    /// bound but packages, devices, results and the audit log, which are the record.
    async fn sweep(&self, now: i64) -> StoreResult<Swept>;
    /// Wakes the held messages of `wake` whose session another replica announced (a single
    /// process needs nothing).
    async fn forward_wakeups(&self, _wake: std::sync::Arc<crate::wake::Registry>) -> StoreResult<()> {
        Ok(())
    }
    /// Starts what a serving store does beside its calls (SQLite: copying its WAL back into
    /// the database off the writer).
    async fn start_background(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Every device profile, by id.
    async fn device_profiles(&self) -> StoreResult<Vec<portaldm_shared::profile::DeviceProfile>>;
    /// Every device profile, to match a device against: a copy at most
    /// [`catalog_cache::MAX_AGE`] old, and never older than this store's own last change.
    async fn profiles_to_match(&self) -> StoreResult<std::sync::Arc<[portaldm_shared::profile::DeviceProfile]>>;
    /// Adds a device profile (checked by the caller; its `id` ignored) and returns its id;
    /// audited as `profile.add`.
    async fn add_profile(&self, p: &portaldm_shared::profile::DeviceProfile, actor: &str, now: i64)
    -> StoreResult<i64>;
    /// Replaces the device profile `p.id`; false if there is none. Audited as `profile.update`.
    async fn update_profile(
        &self,
        p: &portaldm_shared::profile::DeviceProfile,
        actor: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// Deletes a device profile; false if there was none. Audited as `profile.delete`.
    async fn delete_profile(&self, id: i64, actor: &str, now: i64) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests;
