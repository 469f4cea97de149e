//! The SQL both backends run: one implementation of [`Store`](super::Store), expanded for
//! SQLite and for PostgreSQL by [`store_impl`]. The statements use `$n` placeholders, which
//! both take (SQLite numbers them in order of first appearance, and every statement here
//! uses them in order). What differs stays with each backend: opening the pool, how a
//! transaction begins (`begin`: SQLite takes its write lock up front), how a device row is read
//! for a write merged with it (`DEVICE_TO_WRITE`: locked on PostgreSQL), how a user's decision is
//! written (`decide`: PostgreSQL notifies the other replicas in the same transaction) and how wake-ups
//! arrive (`wakeups`).

/// Implements [`Store`](super::Store) for `$store` (with `read`, `write`, `catalog`, `begin`,
/// `decide`, `wakeups`, `background` and `DEVICE_TO_WRITE`), whose connections are `$conn` and
/// rows `$row`.
macro_rules! store_impl {
    ($store:ident, $conn:ty, $row:ty) => {
        fn portal_from_row(r: &$row) -> StoreResult<PortalRecord> {
            let state: String = r.try_get("state")?;
            let delivery: Option<String> = r.try_get("delivery")?;
            Ok(PortalRecord {
                sid: r.try_get("sid")?,
                bnd: r.try_get("bnd")?,
                nsid: u16::try_from(r.try_get::<i64, _>("nsid")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                dev_id: r.try_get("dev_id")?,
                state: PortalState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("portal state {state}")))?,
                device: parse(&r.try_get::<String, _>("device")?)?,
                package_id: r.try_get("package_id")?,
                delivery: delivery.as_deref().map(parse).transpose()?,
                exec_status: r.try_get::<Option<i64>, _>("exec_status")?.map(|v| v as u16),
                result_code: r.try_get::<Option<i64>, _>("result_code")?.map(|v| v as u16),
                expires_at: r.try_get("expires_at")?,
                place: parse(&r.try_get::<String, _>("place")?)?,
                phone_seen_at: r.try_get("phone_seen_at")?,
            })
        }

        async fn use_jti_on(c: &mut $conn, jti: &str, expires_at: i64) -> StoreResult<bool> {
            let done = sqlx::query("INSERT INTO used_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
                .bind(jti)
                .bind(expires_at)
                .execute(&mut *c)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        /// Writes a device's details on `c`, which must be in a transaction (its reread's lock
        /// and the history row go with the write).
        async fn upsert_device_on(c: &mut $conn, d: &DeviceDetails, known: &KnownDevice, now: i64) -> StoreResult<()> {
            if let Some(stored) = known.as_read() {
                if write_device_over_on(c, d, stored, now).await? {
                    return Ok(());
                }
                // The row changed since it was read: written over it as it is now, below.
            }
            if d.has_dev_detail() {
                // Complete details replace the row, whatever it holds.
                let details = json(d)?;
                sqlx::query(
                    "INSERT INTO devices (dev_id, details, first_seen, last_seen) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (dev_id) DO UPDATE SET details = excluded.details, last_seen = excluded.last_seen",
                )
                .bind(&d.dev_id)
                .bind(&details)
                .bind(now)
                .bind(now)
                .execute(&mut *c)
                .await?;
                // History only of complete details (DevDetail read), and only when they changed.
                if d.fw_v.is_some() {
                    history_on(c, &d.dev_id, &details, now).await?;
                }
                return Ok(());
            }
            // DevInfo alone keeps the rest of the row, so it lands only on the row it was merged
            // with, read locked (PostgreSQL takes no write lock up front): a DevDetail write is
            // never overwritten with the older details. Only a row inserted since the read (a
            // missing row locks nothing) sends it round again.
            for _ in 0..WRITE_OVER_TRIES {
                let stored: Option<String> = sqlx::query($store::DEVICE_TO_WRITE)
                    .bind(&d.dev_id)
                    .fetch_optional(&mut *c)
                    .await?
                    .map(|row| row.try_get("details"))
                    .transpose()?;
                if write_device_over_on(c, d, stored.as_deref(), now).await? {
                    return Ok(());
                }
            }
            Err(StoreError::Contended)
        }

        /// How often a DevInfo write rereads a device row: only one inserted since its read
        /// (a missing row locks nothing) sends it round again.
        const WRITE_OVER_TRIES: usize = 3;

        /// `d`, or for DevInfo alone (package 1, a result report), `d` keeping what the registry's
        /// `stored` details knew of the rest.
        fn merged<'d>(d: &'d DeviceDetails, stored: Option<&str>) -> StoreResult<std::borrow::Cow<'d, DeviceDetails>> {
            Ok(match stored {
                Some(stored) if !d.has_dev_detail() => std::borrow::Cow::Owned(d.clone().keeping(&parse(stored)?)),
                _ => std::borrow::Cow::Borrowed(d),
            })
        }

        /// Writes `d` (merged with `stored`, the registry's row as read: `None`, no row) only
        /// over that row; false, and nothing written, if it changed since.
        async fn write_device_over_on(c: &mut $conn, d: &DeviceDetails, stored: Option<&str>, now: i64) -> StoreResult<bool> {
            let d = merged(d, stored)?;
            let details = json(&*d)?;
            let done = match stored {
                None => sqlx::query(
                    "INSERT INTO devices (dev_id, details, first_seen, last_seen) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (dev_id) DO NOTHING",
                )
                .bind(&d.dev_id)
                .bind(&details)
                .bind(now)
                .bind(now),
                Some(stored) => sqlx::query(
                    "INSERT INTO devices (dev_id, details, first_seen, last_seen) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (dev_id) DO UPDATE SET details = excluded.details, last_seen = excluded.last_seen \
                     WHERE devices.details = $5",
                )
                .bind(&d.dev_id)
                .bind(&details)
                .bind(now)
                .bind(now)
                .bind(stored),
            }
            .execute(&mut *c)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            // Details the row held already are its latest history row: every write of complete
            // details adds them when they differ from that row (and 0015 gave the older ones theirs).
            if d.fw_v.is_some() && stored != Some(details.as_str()) {
                history_on(c, &d.dev_id, &details, now).await?;
            }
            Ok(true)
        }

        /// A history row of complete `details`, only if they differ from the device's latest.
        async fn history_on(c: &mut $conn, dev_id: &str, details: &str, now: i64) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO device_history (dev_id, details, seen_at) SELECT $1, $2, $3 WHERE COALESCE((SELECT details FROM device_history WHERE dev_id = $4 ORDER BY id DESC LIMIT 1), '') <> $5",
            )
            .bind(dev_id)
            .bind(details)
            .bind(now)
            .bind(dev_id)
            .bind(details)
            .execute(&mut *c)
            .await?;
            Ok(())
        }

        /// A token-opened session takes over the row its browser registered, if still waiting.
        const OPEN_WAITING: &str = "ON CONFLICT (sid) DO UPDATE SET dev_id = excluded.dev_id, state = excluded.state, \
             device = excluded.device, expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
             place = excluded.place WHERE portal_sessions.state = 'waiting'";

        async fn create_portal_on(c: &mut $conn, p: &PortalRecord, now: i64) -> StoreResult<()> {
            insert_portal_on(c, p, "{}", "", now).await.map(|_| ())
        }

        /// Inserts the portal session `p` (with `live_trigger`, JSON, for a registered
        /// trigger), `on_conflict` deciding what an existing row gets; whether a row changed.
        async fn insert_portal_on(
            c: &mut $conn,
            p: &PortalRecord,
            live_trigger: &str,
            on_conflict: &'static str,
            now: i64,
        ) -> StoreResult<bool> {
            let sql = format!(
                "INSERT INTO portal_sessions (sid, bnd, nsid, dev_id, state, device, expires_at, created_at, updated_at, \
                 place, live_trigger) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) {on_conflict}"
            );
            let done = sqlx::query(&sql)
                .bind(&p.sid)
                .bind(&p.bnd)
                .bind(i64::from(p.nsid))
                .bind(&p.dev_id)
                .bind(p.state.as_str())
                .bind(json(&p.device)?)
                .bind(p.expires_at)
                .bind(now)
                .bind(now)
                .bind(json(&p.place)?)
                .bind(live_trigger)
                .execute(&mut *c)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn save_dm_on(c: &mut $conn, s: &ServerSession, last_reply: &[u8], now: i64) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO dm_sessions (dev_id, session_id, session, last_reply, updated_at, portal_sid, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $5) \
                 ON CONFLICT (dev_id, session_id) DO UPDATE SET session = excluded.session, \
                 last_reply = excluded.last_reply, updated_at = excluded.updated_at, portal_sid = excluded.portal_sid, \
                 version = dm_sessions.version + 1",
            )
            .bind(&s.device.dev_id)
            .bind(s.session_id.to_ascii_uppercase())
            .bind(json(s)?)
            .bind(last_reply)
            .bind(now)
            .bind(Some(s.portal_sid.as_str()).filter(|sid| !sid.is_empty()))
            .execute(&mut *c)
            .await?;
            Ok(())
        }

        #[async_trait]
        impl Store for $store {
            async fn open_portal(
                &self,
                (jti, jti_expires_at): (&str, i64),
                portal: &PortalRecord,
                session: &ServerSession,
                reply: &[u8],
                known: &KnownDevice,
                now: i64,
            ) -> StoreResult<bool> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                if !use_jti_on(&mut tx, jti, jti_expires_at).await? {
                    return Ok(false); // dropped: rolled back
                }
                upsert_device_on(&mut tx, &session.device, known, now).await?;
                // The browser may have registered the trigger already (it waits for the phone).
                let opened = insert_portal_on(&mut tx, portal, "{}", OPEN_WAITING, now).await?;
                if !opened {
                    return Ok(false); // dropped: rolled back
                }
                save_dm_on(&mut tx, session, reply, now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn register_trigger(
                &self,
                p: &PortalRecord,
                trigger: &portaldm_shared::stock::LiveTrigger,
                now: i64,
            ) -> StoreResult<()> {
                let mut c = self.write().await?;
                insert_portal_on(&mut c, p, &json(trigger)?, "ON CONFLICT (sid) DO NOTHING", now).await?;
                Ok(())
            }

            async fn live_triggers(
                &self,
                nsids: &[u16],
                now: i64,
            ) -> StoreResult<Vec<portaldm_shared::stock::LiveTrigger>> {
                // At most four spellings (`stock::Spellings`); 0 is never a trigger's id.
                let id = |i: usize| i64::from(nsids.get(i).copied().unwrap_or(0));
                let rows = sqlx::query(
                    "SELECT live_trigger FROM portal_sessions WHERE state = 'waiting' AND nsid IN ($1, $2, $3, $4) \
                     AND expires_at > $5",
                )
                .bind(id(0))
                .bind(id(1))
                .bind(id(2))
                .bind(id(3))
                .bind(now)
                .fetch_all(&mut *self.read().await?)
                .await?;
                // A row that does not read as a trigger is skipped, not a failure for every
                // session that names its id.
                let mut live = Vec::with_capacity(rows.len());
                for r in &rows {
                    match parse(&r.try_get::<String, _>(0)?) {
                        Ok(t) => live.push(t),
                        Err(e) => tracing::warn!(error = %e, "a waiting portal session's trigger is unreadable"),
                    }
                }
                Ok(live)
            }

            async fn bind_stock(
                &self,
                trigger: &portaldm_shared::stock::LiveTrigger,
                session: &ServerSession,
                reply: &[u8],
                expires_at: i64,
                now: i64,
            ) -> StoreResult<bool> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let jti_expires = i64::try_from(trigger.expires_at.0).unwrap_or(i64::MAX);
                if !use_jti_on(&mut tx, &trigger.jti, jti_expires).await? {
                    return Ok(false); // dropped: rolled back
                }
                // The device before the portal row, as every transaction writing both does
                // (one lock order: no deadlock between replicas); rolled back if not bound.
                upsert_device_on(&mut tx, &session.device, &KnownDevice::default(), now).await?;
                let bound = sqlx::query(
                    "UPDATE portal_sessions SET state = 'connecting', dev_id = $1, device = $2, expires_at = $3, \
                     updated_at = $4 WHERE sid = $5 AND state = 'waiting'",
                )
                .bind(&session.device.dev_id)
                .bind(json(&session.device)?)
                .bind(expires_at)
                .bind(now)
                .bind(&trigger.sid)
                .execute(&mut *tx)
                .await?;
                if bound.rows_affected() != 1 {
                    return Ok(false);
                }
                save_dm_on(&mut tx, session, reply, now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn end_waiting(&self, sids: &[String], now: i64) -> StoreResult<()> {
                for sid in sids {
                    sqlx::query("UPDATE portal_sessions SET state = 'ended', updated_at = $1 WHERE sid = $2 AND state = 'waiting'")
                        .bind(now)
                        .bind(sid)
                        .execute(&mut *self.write().await?)
                        .await?;
                }
                Ok(())
            }

            async fn create_portal(&self, p: &PortalRecord, now: i64) -> StoreResult<()> {
                create_portal_on(&mut *self.write().await?, p, now).await
            }

            async fn upsert_device(&self, d: &DeviceDetails, known: &KnownDevice, now: i64) -> StoreResult<()> {
                // A transaction: the row, its history and the lock its reread takes go together.
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                upsert_device_on(&mut tx, d, known, now).await?;
                Ok(tx.commit().await?)
            }

            async fn save_dm_session(&self, s: &ServerSession, last_reply: &[u8], now: i64) -> StoreResult<()> {
                save_dm_on(&mut *self.write().await?, s, last_reply, now).await
            }

            async fn save_if_unchanged(&self, s: &ServerSession, answer: Option<&[u8]>, version: i64, now: i64) -> StoreResult<bool> {
                // Only over the row read (a hold always comes from a stored session; one swept or
                // replaced meanwhile is not written again). Parked, its last answer stays.
                let done = sqlx::query(
                    "UPDATE dm_sessions SET session = $1, last_reply = COALESCE($2, last_reply), updated_at = $3, \
                     version = version + 1 WHERE dev_id = $4 AND session_id = $5 AND version = $6",
                )
                .bind(json(s)?)
                .bind(answer)
                .bind(now)
                .bind(&s.device.dev_id)
                .bind(s.session_id.to_ascii_uppercase())
                .bind(version)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn portal(&self, sid: &str) -> StoreResult<Option<PortalRecord>> {
                let row =
                    sqlx::query("SELECT * FROM portal_sessions WHERE sid = $1").bind(sid).fetch_optional(&mut *self.read().await?).await?;
                row.as_ref().map(portal_from_row).transpose()
            }

            async fn end_undecided(&self, sid: &str, device: &DeviceDetails, now: i64) -> StoreResult<bool> {
                // Only while undecided: a choice that landed meanwhile is not overwritten.
                let done = sqlx::query(
                    "UPDATE portal_sessions SET state = $1, device = $2, updated_at = $3 \
                     WHERE sid = $4 AND state IN ($5, $6)",
                )
                .bind(PortalState::Ended.as_str())
                .bind(json(device)?)
                .bind(now)
                .bind(sid)
                .bind(PortalState::UNDECIDED[0].as_str())
                .bind(PortalState::UNDECIDED[1].as_str())
                .execute(&mut *self.write().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn select(&self, sid: &str, package_id: i64, delivery: &FumoDelivery, now: i64) -> StoreResult<bool> {
                let decision = sqlx::query(
                    "UPDATE portal_sessions SET state = 'selected', package_id = $1, delivery = $2, correlator = $3, \
                     updated_at = $4 WHERE sid = $5 AND state = 'choosing'",
                )
                .bind(package_id)
                .bind(json(delivery)?)
                .bind(&delivery.correlator)
                .bind(now)
                .bind(sid);
                self.decide(decision, sid, true).await
            }

            async fn forward_wakeups(&self, wake: std::sync::Arc<crate::wake::Registry>) -> StoreResult<()> {
                self.wakeups(wake).await
            }

            async fn start_background(&self) -> StoreResult<()> {
                self.background().await
            }

            async fn delivered(&self, correlator: &str, exec_status: u16, state: PortalState, now: i64) -> StoreResult<()> {
                // A result may already have arrived (the client reported before its status got through).
                sqlx::query(
                    "UPDATE portal_sessions SET exec_status = $1, state = CASE WHEN result_code IS NULL THEN $2 ELSE state END, \
                     updated_at = $3 WHERE correlator = $4",
                )
                .bind(i64::from(exec_status))
                .bind(state.as_str())
                .bind(now)
                .bind(correlator)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(())
            }

            async fn awaits_result(&self, dev_id: &str, correlator: &str) -> StoreResult<Option<bool>> {
                let row = sqlx::query("SELECT result_code FROM portal_sessions WHERE correlator = $1 AND dev_id = $2")
                    .bind(correlator)
                    .bind(dev_id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                Ok(match row {
                    Some(row) => Some(row.try_get::<Option<i64>, _>("result_code")?.is_none()),
                    None => None,
                })
            }

            async fn record_result(
                &self,
                dev_id: &str,
                correlator: &str,
                code: ResultCode,
                device: Option<(&DeviceDetails, &KnownDevice)>,
                now: i64,
            ) -> StoreResult<RecordOutcome> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                // Recorded only for a delivery to this device, once: the common case in one statement.
                let inserted = sqlx::query(
                    "INSERT INTO results (correlator, dev_id, portal_sid, package_id, code, recorded_at) \
                     SELECT $1, $2, sid, package_id, $3, $4 FROM portal_sessions WHERE correlator = $5 AND dev_id = $6 \
                     ON CONFLICT (correlator) DO NOTHING RETURNING portal_sid",
                )
                .bind(correlator)
                .bind(dev_id)
                .bind(i64::from(code.0))
                .bind(now)
                .bind(correlator)
                .bind(dev_id)
                .fetch_optional(&mut *tx)
                .await?;
                let sid = match inserted {
                    Some(row) => Some(row.try_get::<String, _>("portal_sid")?),
                    None => {
                        // A duplicate: the result row the conflict met, for a delivery still
                        // known (results outlive their portal rows, and an old correlator proves
                        // nothing). A portal row committed after the insert read them is unknown.
                        let recorded = sqlx::query(
                            "SELECT 1 FROM results r JOIN portal_sessions p ON p.correlator = r.correlator \
                             AND p.dev_id = r.dev_id WHERE r.correlator = $1 AND r.dev_id = $2",
                        )
                        .bind(correlator)
                        .bind(dev_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if recorded.is_none() {
                            // Nothing unverified is written.
                            return Ok(RecordOutcome::Unknown);
                        }
                        None
                    }
                };
                if let Some((device, known)) = device {
                    upsert_device_on(&mut tx, device, known, now).await?;
                }
                let Some(sid) = sid else {
                    tx.commit().await?;
                    return Ok(RecordOutcome::Duplicate);
                };
                sqlx::query("UPDATE portal_sessions SET result_code = $1, state = $2, updated_at = $3 WHERE sid = $4")
                    .bind(i64::from(code.0))
                    .bind(PortalState::after_result(code).as_str())
                    .bind(now)
                    .bind(&sid)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(RecordOutcome::Recorded)
            }

            async fn dm_lookup(&self, dev_id: &str, session_id: &str) -> StoreResult<DmLookup> {
                // One statement instead of four: each is a round trip to a connection's thread.
                let row = sqlx::query(
                    "SELECT a.account, a.auth_state, s.session, s.last_reply, s.updated_at, s.version, \
                     p.sid, p.bnd, p.nsid, p.dev_id, p.state, p.device, p.package_id, p.delivery, p.exec_status, \
                     p.result_code, p.expires_at, p.place, p.phone_seen_at, d.details AS registered \
                     FROM (SELECT CAST($1 AS TEXT) AS dev_id) k \
                     LEFT JOIN device_accounts a ON a.dev_id = k.dev_id \
                     LEFT JOIN devices d ON d.dev_id = k.dev_id \
                     LEFT JOIN dm_sessions s ON s.dev_id = k.dev_id AND s.session_id = $2 \
                     LEFT JOIN portal_sessions p ON p.sid = s.portal_sid",
                )
                .bind(dev_id)
                .bind(session_id.to_ascii_uppercase())
                .fetch_one(&mut *self.read().await?)
                .await?;
                let account = match row.try_get::<Option<String>, _>("account")? {
                    Some(account) => Some(DeviceAccount {
                        account: parse(&account)?,
                        auth: parse(&row.try_get::<String, _>("auth_state")?)?,
                    }),
                    None => None,
                };
                let session = match row.try_get::<Option<String>, _>("session")? {
                    Some(session) => Some(DmRecord {
                        session: parse(&session)?,
                        last_reply: row.try_get("last_reply")?,
                        updated_at: row.try_get("updated_at")?,
                        version: row.try_get("version")?,
                        // A portal row that does not read fails only the reads that need it
                        // (the choice point reads it again), not every message of the session.
                        portal: match row.try_get::<Option<String>, _>("sid")? {
                            Some(_) => portal_from_row(&row)
                                .map_err(|e| tracing::warn!(error = %e, "portal session read with its DM session is unreadable"))
                                .ok(),
                            None => None,
                        },
                    }),
                    None => None,
                };
                let device = KnownDevice::read(row.try_get("registered")?);
                Ok(DmLookup { account, session, device })
            }

            async fn add_package(&self, p: &NewPackage, actor: &str, now: i64) -> StoreResult<i64> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let row = sqlx::query(
                    "INSERT INTO packages (name, version, models, base_min, base_max, blob, size, notes, created_at, signature, hw_revisions, delta_from, rollout_percent, notes_by_lang, published, kind, countries, operators) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
                )
                .bind(&p.rules.name)
                .bind(&p.rules.version)
                .bind(json(&p.rules.models)?)
                .bind(&p.rules.base_min)
                .bind(&p.rules.base_max)
                .bind(&p.blob)
                .bind(p.size as i64)
                .bind(&p.rules.notes)
                .bind(now)
                .bind(&p.signature)
                .bind(json(&p.rules.hw_revisions)?)
                .bind(&p.rules.delta_from)
                .bind(i64::from(p.rules.rollout_percent))
                .bind(json(&p.rules.notes_by_lang)?)
                .bind(i64::from(p.publish))
                .bind(p.rules.kind.as_str())
                .bind(json(&p.rules.countries)?)
                .bind(json(&p.rules.operators)?)
                .fetch_one(&mut *tx)
                .await?;
                let id: i64 = row.try_get("id")?;
                let detail = p.audit_detail()?;
                audit_on(&mut tx, actor, "package.add", &id.to_string(), &detail, now).await?;
                tx.commit().await?;
                self.catalog.clear();
                Ok(id)
            }

            async fn revoke(&self, id: i64, actor: &str, now: i64) -> StoreResult<bool> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let done =
                    sqlx::query("UPDATE packages SET published = 0, revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                audit_on(&mut tx, actor, "package.revoke", &id.to_string(), &serde_json::json!({}), now).await?;
                tx.commit().await?;
                self.catalog.clear();
                Ok(true)
            }

            async fn publish(&self, id: i64, actor: &str, now: i64) -> StoreResult<Changed> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let state = sqlx::query("SELECT published, revoked_at FROM packages WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(state) = state else { return Ok(Changed::Missing) };
                if state.try_get::<Option<i64>, _>("revoked_at")?.is_some() || state.try_get::<i64, _>("published")? == 1 {
                    return Ok(Changed::Refused);
                }
                sqlx::query("UPDATE packages SET published = 1 WHERE id = $1").bind(id).execute(&mut *tx).await?;
                audit_on(&mut tx, actor, "package.publish", &id.to_string(), &serde_json::json!({}), now).await?;
                tx.commit().await?;
                self.catalog.clear();
                Ok(Changed::Done)
            }

            async fn set_rollout(&self, id: i64, percent: u8, actor: &str, now: i64) -> StoreResult<Changed> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let state = sqlx::query("SELECT rollout_percent, revoked_at FROM packages WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(state) = state else { return Ok(Changed::Missing) };
                if state.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
                    return Ok(Changed::Refused);
                }
                let from: i64 = state.try_get("rollout_percent")?;
                sqlx::query("UPDATE packages SET rollout_percent = $1 WHERE id = $2")
                    .bind(i64::from(percent))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let detail = serde_json::json!({ "from": from, "to": percent });
                audit_on(&mut tx, actor, "package.rollout", &id.to_string(), &detail, now).await?;
                tx.commit().await?;
                self.catalog.clear();
                Ok(Changed::Done)
            }

            async fn all_packages(&self) -> StoreResult<Vec<PackageView>> {
                let rows = sqlx::query("SELECT * FROM packages ORDER BY id DESC").fetch_all(&mut *self.read().await?).await?;
                rows.iter()
                    .map(|r| {
                        let status = if r.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
                            PackageStatus::Revoked
                        } else if r.try_get::<i64, _>("published")? == 1 {
                            PackageStatus::Published
                        } else {
                            PackageStatus::Draft
                        };
                        Ok(PackageView { package: package_from_row(r)?, status, created_at: r.try_get("created_at")? })
                    })
                    .collect()
            }

            async fn recent_sessions(&self, state: Option<PortalState>, limit: u32) -> StoreResult<Vec<SessionView>> {
                let rows = sqlx::query(
                    "SELECT sid, dev_id, state, device, package_id, result_code, created_at, updated_at FROM portal_sessions WHERE ($1 IS NULL OR state = $2) ORDER BY updated_at DESC LIMIT $3",
                )
                .bind(state.map(PortalState::as_str))
                .bind(state.map(PortalState::as_str))
                .bind(i64::from(limit))
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let device: DeviceDetails = parse(&r.try_get::<String, _>("device")?)?;
                        Ok(SessionView {
                            sid: r.try_get("sid")?,
                            dev_id: r.try_get("dev_id")?,
                            state: r.try_get("state")?,
                            model: device.model,
                            fw_v: device.fw_v,
                            package_id: r.try_get("package_id")?,
                            result_code: r.try_get::<Option<i64>, _>("result_code")?.and_then(|v| u16::try_from(v).ok()),
                            created_at: r.try_get("created_at")?,
                            updated_at: r.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn create_admin_token(
                &self,
                id: &str,
                name: &str,
                secret_sha256: &str,
                read_only: bool,
                actor: &str,
                now: i64,
            ) -> StoreResult<()> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                sqlx::query(
                    "INSERT INTO admin_tokens (id, name, secret_sha256, created_at, read_only) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(name)
                .bind(secret_sha256)
                .bind(now)
                .bind(i64::from(read_only))
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "name": name, "read_only": read_only });
                audit_on(&mut tx, actor, "admin_token.create", id, &detail, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn admin_token(&self, id: &str) -> StoreResult<Option<(AdminTokenView, String)>> {
                let row = sqlx::query("SELECT * FROM admin_tokens WHERE id = $1").bind(id).fetch_optional(&mut *self.read().await?).await?;
                row.map(|r| Ok((admin_token_from_row(&r)?, r.try_get("secret_sha256")?))).transpose()
            }

            async fn admin_tokens(&self) -> StoreResult<Vec<AdminTokenView>> {
                let rows = sqlx::query("SELECT * FROM admin_tokens ORDER BY created_at, id").fetch_all(&mut *self.read().await?).await?;
                rows.iter().map(admin_token_from_row).collect()
            }

            async fn revoke_admin_token(&self, id: &str, actor: &str, now: i64) -> StoreResult<bool> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let done = sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                audit_on(&mut tx, actor, "admin_token.revoke", id, &serde_json::json!({}), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn audit(
                &self,
                actor: &str,
                action: &str,
                target: &str,
                detail: &serde_json::Value,
                now: i64,
            ) -> StoreResult<()> {
                audit_on(&mut *self.write().await?, actor, action, target, detail, now).await
            }

            async fn create_console_session(&self, id: &str, c: &ConsoleSession, actor: &str, now: i64) -> StoreResult<()> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                // Expired sign-ins are of no use to anyone: swept as new ones are made.
                sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO console_sessions (id, secret_sha256, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(&c.secret_sha256)
                .bind(&c.token_id)
                .bind(now)
                .bind(c.expires_at)
                .execute(&mut *tx)
                .await?;
                audit_on(&mut tx, actor, "console.sign_in", id, &serde_json::json!({}), now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn console_session(&self, id: &str) -> StoreResult<Option<ConsoleSession>> {
                let row = sqlx::query("SELECT secret_sha256, token_id, expires_at FROM console_sessions WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                row.map(|r| {
                    Ok(ConsoleSession {
                        secret_sha256: r.try_get("secret_sha256")?,
                        token_id: r.try_get("token_id")?,
                        expires_at: r.try_get("expires_at")?,
                    })
                })
                .transpose()
            }

            async fn delete_console_session(&self, id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM console_sessions WHERE id = $1").bind(id).execute(&mut *self.write().await?).await?;
                Ok(())
            }

            async fn results_since(&self, since: i64, limit: u32) -> StoreResult<Vec<ResultPoint>> {
                let rows = sqlx::query(
                    "SELECT r.recorded_at, r.package_id, r.code, d.details FROM results r LEFT JOIN devices d ON d.dev_id = r.dev_id WHERE r.recorded_at >= $1 ORDER BY r.recorded_at LIMIT $2",
                )
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        let details: Option<String> = r.try_get("details")?;
                        let model = details.as_deref().map(parse::<DeviceDetails>).transpose()?.and_then(|d| d.model);
                        Ok(ResultPoint {
                            recorded_at: r.try_get("recorded_at")?,
                            package_id: r.try_get("package_id")?,
                            code: u16::try_from(r.try_get::<i64, _>("code")?).unwrap_or(0),
                            model,
                        })
                    })
                    .collect()
            }

            async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
                let rows = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.read().await?)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditEntry {
                            id: r.try_get("id")?,
                            at: r.try_get("at")?,
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            target: r.try_get("target")?,
                            detail: parse(&r.try_get::<String, _>("detail")?)?,
                        })
                    })
                    .collect()
            }

            async fn packages(&self) -> StoreResult<std::sync::Arc<[CatalogPackage]>> {
                let ticket = match self.catalog.get() {
                    Ok(kept) => return Ok(kept),
                    Err(ticket) => ticket,
                };
                let rows = sqlx::query("SELECT * FROM packages WHERE published = 1 ORDER BY id").fetch_all(&mut *self.read().await?).await?;
                let read: std::sync::Arc<[CatalogPackage]> = rows.iter().map(package_from_row).collect::<StoreResult<_>>()?;
                self.catalog.keep(ticket, read.clone());
                Ok(read)
            }

            async fn device(&self, dev_id: &str) -> StoreResult<Option<DeviceRecord>> {
                let row = sqlx::query("SELECT details, first_seen, last_seen FROM devices WHERE dev_id = $1")
                    .bind(dev_id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(DeviceRecord {
                    details: parse(&row.try_get::<String, _>("details")?)?,
                    first_seen: row.try_get("first_seen")?,
                    last_seen: row.try_get("last_seen")?,
                }))
            }

            async fn device_history(&self, dev_id: &str, limit: u32) -> StoreResult<Vec<(i64, DeviceDetails)>> {
                let rows =
                    sqlx::query("SELECT details, seen_at FROM device_history WHERE dev_id = $1 ORDER BY id DESC LIMIT $2")
                        .bind(dev_id)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *self.read().await?)
                        .await?;
                rows.iter().map(|r| Ok((r.try_get("seen_at")?, parse(&r.try_get::<String, _>("details")?)?))).collect()
            }

            async fn results_for(&self, dev_id: &str) -> StoreResult<Vec<ResultRecord>> {
                let rows = sqlx::query(
                    "SELECT correlator, package_id, code, recorded_at FROM results WHERE dev_id = $1 \
                     ORDER BY recorded_at DESC, correlator",
                )
                .bind(dev_id)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ResultRecord {
                            correlator: r.try_get("correlator")?,
                            package_id: r.try_get("package_id")?,
                            code: u16::try_from(r.try_get::<i64, _>("code")?).unwrap_or(0),
                            recorded_at: r.try_get("recorded_at")?,
                        })
                    })
                    .collect()
            }

            async fn result_counts(&self, package_id: i64) -> StoreResult<Vec<(u16, u64)>> {
                let rows =
                    sqlx::query("SELECT code, COUNT(*) AS n FROM results WHERE package_id = $1 GROUP BY code ORDER BY code")
                        .bind(package_id)
                        .fetch_all(&mut *self.read().await?)
                        .await?;
                rows.iter()
                    .map(|r| {
                        let code = u16::try_from(r.try_get::<i64, _>("code")?).unwrap_or(0);
                        Ok((code, u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0)))
                    })
                    .collect()
            }

            async fn device_account(&self, dev_id: &str) -> StoreResult<Option<DeviceAccount>> {
                let row = sqlx::query("SELECT account, auth_state FROM device_accounts WHERE dev_id = $1")
                    .bind(dev_id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(DeviceAccount {
                    account: parse(&row.try_get::<String, _>("account")?)?,
                    auth: parse(&row.try_get::<String, _>("auth_state")?)?,
                }))
            }

            async fn set_device_account(&self, dev_id: &str, account: &Account, actor: &str, now: i64) -> StoreResult<()> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                sqlx::query(
                    "INSERT INTO device_accounts (dev_id, account, auth_state, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (dev_id) DO UPDATE SET account = excluded.account, auth_state = excluded.auth_state, \
                     updated_at = excluded.updated_at",
                )
                .bind(dev_id)
                .bind(json(account)?)
                .bind(json(&ServerAuth::default())?)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({
                    "scheme": account.scheme, "client_name": account.client.name,
                    "server_auth": account.server.is_some(),
                });
                audit_on(&mut tx, actor, "device.account", dev_id, &detail, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn save_auth_state(&self, dev_id: &str, auth: &ServerAuth, now: i64) -> StoreResult<()> {
                sqlx::query("UPDATE device_accounts SET auth_state = $1, updated_at = $2 WHERE dev_id = $3")
                    .bind(json(auth)?)
                    .bind(now)
                    .bind(dev_id)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(())
            }

            async fn blob_published(&self, package: i64, blob: &str) -> StoreResult<bool> {
                let row = sqlx::query("SELECT 1 FROM packages WHERE id = $1 AND blob = $2 AND published = 1")
                    .bind(package)
                    .bind(blob)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                Ok(row.is_some())
            }

            async fn portal_state_counts(&self) -> StoreResult<Vec<(String, i64)>> {
                let rows =
                    sqlx::query("SELECT state, COUNT(*) FROM portal_sessions GROUP BY state").fetch_all(&mut *self.read().await?).await?;
                Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect())
            }

            async fn phone_identified(&self, sid: &str, device: &DeviceDetails, known: &KnownDevice, now: i64) -> StoreResult<bool> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                upsert_device_on(&mut tx, device, known, now).await?;
                let done = sqlx::query(
                    "UPDATE portal_sessions SET state = $1, device = $2, phone_seen_at = $3, updated_at = $4 \
                     WHERE sid = $5 AND state = $6",
                )
                .bind(PortalState::Identified.as_str())
                .bind(json(device)?)
                .bind(now)
                .bind(now)
                .bind(sid)
                // Only from connecting: a message sent again must not take a decided session back.
                .bind(PortalState::Connecting.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn save_dm_session_and_device(
                &self,
                s: &ServerSession,
                last_reply: &[u8],
                device: &DeviceDetails,
                known: &KnownDevice,
                now: i64,
            ) -> StoreResult<()> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                upsert_device_on(&mut tx, device, known, now).await?;
                save_dm_on(&mut tx, s, last_reply, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn phone_seen(&self, sid: &str, now: i64) -> StoreResult<()> {
                sqlx::query("UPDATE portal_sessions SET phone_seen_at = $1 WHERE sid = $2")
                    .bind(now)
                    .bind(sid)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(())
            }

            async fn identify(&self, sid: &str, mine: bool, now: i64) -> StoreResult<bool> {
                let to = if mine { PortalState::Choosing } else { PortalState::Ended };
                let decision =
                    sqlx::query("UPDATE portal_sessions SET state = $1, updated_at = $2 WHERE sid = $3 AND state = $4")
                        .bind(to.as_str())
                        .bind(now)
                        .bind(sid)
                        .bind(PortalState::Identified.as_str());
                // "Not mine" ends the held session at once, wherever it is held.
                self.decide(decision, sid, !mine).await
            }

            async fn sweep(&self, now: i64) -> StoreResult<Swept> {
                let run = |sql: &'static str, before: i64| async move {
                    let done = sqlx::query(sql).bind(before).execute(&mut *self.write().await?).await?;
                    StoreResult::Ok(done.rows_affected())
                };
                Ok(Swept {
                    // A token is accepted until its expiry plus the verifier's leeway: its id
                    // must stay used until then.
                    tokens: run("DELETE FROM used_tokens WHERE expires_at < $1", now - retention::TOKEN_LEEWAY_MS)
                        .await?,
                    dm_sessions: run("DELETE FROM dm_sessions WHERE updated_at < $1", now - retention::DM_SESSION_MS)
                        .await?,
                    portal_sessions: run(
                        "DELETE FROM portal_sessions WHERE expires_at < $1",
                        now - retention::PORTAL_AFTER_EXPIRY_MS,
                    )
                    .await?
                        // A trigger no phone answered (waiting, or ended by a clash) holds nothing
                        // to show or report: it goes once its token can no longer register it, or
                        // minting and one look would keep a row a month each.
                        + run(
                            "DELETE FROM portal_sessions WHERE dev_id = '' AND state IN ('waiting', 'ended') \
                             AND expires_at < $1",
                            now - retention::TOKEN_LEEWAY_MS,
                        )
                        .await?,
                    history: run(
                        "DELETE FROM device_history WHERE seen_at < $1 \
                         AND id NOT IN (SELECT MAX(id) FROM device_history GROUP BY dev_id)",
                        now - retention::HISTORY_MS,
                    )
                    .await?,
                    console_sessions: run("DELETE FROM console_sessions WHERE expires_at < $1", now).await?,
                })
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&mut *self.read().await?).await?;
                Ok(())
            }

            async fn device_profiles(&self) -> StoreResult<Vec<portaldm_shared::profile::DeviceProfile>> {
                let rows = sqlx::query("SELECT * FROM device_profiles ORDER BY id").fetch_all(&mut *self.read().await?).await?;
                rows.iter().map(profile_from_row).collect()
            }

            async fn profiles_to_match(&self) -> StoreResult<std::sync::Arc<[portaldm_shared::profile::DeviceProfile]>> {
                let ticket = match self.profiles.get() {
                    Ok(kept) => return Ok(kept),
                    Err(ticket) => ticket,
                };
                let read: std::sync::Arc<[_]> = self.device_profiles().await?.into();
                self.profiles.keep(ticket, read.clone());
                Ok(read)
            }

            async fn add_profile(
                &self,
                p: &portaldm_shared::profile::DeviceProfile,
                actor: &str,
                now: i64,
            ) -> StoreResult<i64> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let row = bind_profile(
                    sqlx::query(
                        "INSERT INTO device_profiles (name, man, models, fumo_root, scomo_root, encoding, auth_scheme, max_msg_size, hold_secs, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    ),
                    p,
                )?
                .bind(now)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let id: i64 = row.try_get("id")?;
                let stored = portaldm_shared::profile::DeviceProfile { id, ..p.clone() };
                audit_on(&mut tx, actor, "profile.add", &id.to_string(), &serde_json::to_value(&stored).unwrap_or_default(), now).await?;
                tx.commit().await?;
                self.profiles.clear();
                Ok(id)
            }

            async fn update_profile(
                &self,
                p: &portaldm_shared::profile::DeviceProfile,
                actor: &str,
                now: i64,
            ) -> StoreResult<bool> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let done = bind_profile(
                    sqlx::query(
                        "UPDATE device_profiles SET name = $1, man = $2, models = $3, fumo_root = $4, scomo_root = $5, \
                         encoding = $6, auth_scheme = $7, max_msg_size = $8, hold_secs = $9, updated_at = $10 WHERE id = $11",
                    ),
                    p,
                )?
                .bind(now)
                .bind(p.id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                audit_on(&mut tx, actor, "profile.update", &p.id.to_string(), &serde_json::to_value(p).unwrap_or_default(), now).await?;
                tx.commit().await?;
                self.profiles.clear();
                Ok(true)
            }

            async fn delete_profile(&self, id: i64, actor: &str, now: i64) -> StoreResult<bool> {
                let mut w = self.write().await?;
                let mut tx = Self::begin(&mut w).await?;
                let done = sqlx::query("DELETE FROM device_profiles WHERE id = $1").bind(id).execute(&mut *tx).await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                audit_on(&mut tx, actor, "profile.delete", &id.to_string(), &serde_json::json!({}), now).await?;
                tx.commit().await?;
                self.profiles.clear();
                Ok(true)
            }
        }

        /// A statement of this backend with its parameters bound so far.
        type Bound<'q> = sqlx::query::Query<
            'q,
            <$row as sqlx::Row>::Database,
            <<$row as sqlx::Row>::Database as sqlx::Database>::Arguments<'q>,
        >;

        /// Binds a profile's stored fields as `$1` to `$9`, in the order the insert and the
        /// update name their columns (the callers bind the rest).
        fn bind_profile<'q>(q: Bound<'q>, p: &'q portaldm_shared::profile::DeviceProfile) -> StoreResult<Bound<'q>> {
            Ok(q.bind(&p.name)
                .bind(&p.man)
                .bind(json(&p.models)?)
                .bind(&p.fumo_root)
                .bind(&p.scomo_root)
                .bind(p.encoding.map(portaldm_shared::profile::encoding_name))
                .bind(p.auth_scheme.map(portaldm_shared::profile::scheme_name))
                .bind(p.max_msg_size.map(|n| n as i64))
                .bind(p.hold_secs.map(|n| n as i64)))
        }

        fn package_from_row(r: &$row) -> StoreResult<CatalogPackage> {
            Ok(CatalogPackage {
                id: r.try_get("id")?,
                rules: PackageRules {
                    name: r.try_get("name")?,
                    version: r.try_get("version")?,
                    models: parse(&r.try_get::<String, _>("models")?)?,
                    base_min: r.try_get("base_min")?,
                    base_max: r.try_get("base_max")?,
                    notes: r.try_get("notes")?,
                    hw_revisions: parse(&r.try_get::<String, _>("hw_revisions")?)?,
                    delta_from: r.try_get("delta_from")?,
                    rollout_percent: u8::try_from(r.try_get::<i64, _>("rollout_percent")?)
                        .map_err(|e| StoreError::Corrupt(format!("rollout_percent: {e}")))?,
                    notes_by_lang: parse(&r.try_get::<String, _>("notes_by_lang")?)?,
                    kind: {
                        let kind: String = r.try_get("kind")?;
                        PackageKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("package kind {kind}")))?
                    },
                    countries: parse(&r.try_get::<String, _>("countries")?)?,
                    operators: parse(&r.try_get::<String, _>("operators")?)?,
                },
                blob: r.try_get("blob")?,
                size: r.try_get::<i64, _>("size")? as u64,
                signature: r.try_get("signature")?,
            })
        }

        fn admin_token_from_row(r: &$row) -> StoreResult<AdminTokenView> {
            Ok(AdminTokenView {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
                read_only: r.try_get::<i64, _>("read_only")? != 0,
            })
        }

        /// Appends to the audit log on `conn` (inside the change's transaction where there is one).
        async fn audit_on(
            conn: &mut $conn,
            actor: &str,
            action: &str,
            target: &str,
            detail: &serde_json::Value,
            now: i64,
        ) -> StoreResult<()> {
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(now)
                .bind(actor)
                .bind(action)
                .bind(target)
                .bind(json(detail)?)
                .execute(conn)
                .await?;
            Ok(())
        }

        fn profile_from_row(r: &$row) -> StoreResult<portaldm_shared::profile::DeviceProfile> {
            let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("profile {what} {v}"));
            let count = |n: Option<i64>| n.map(|n| u64::try_from(n).map_err(|_| corrupt("number", &n.to_string()))).transpose();
            let encoding: Option<String> = r.try_get("encoding")?;
            let scheme: Option<String> = r.try_get("auth_scheme")?;
            Ok(portaldm_shared::profile::DeviceProfile {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                man: r.try_get("man")?,
                models: parse(&r.try_get::<String, _>("models")?)?,
                fumo_root: r.try_get("fumo_root")?,
                scomo_root: r.try_get("scomo_root")?,
                encoding: encoding
                    .map(|e| portaldm_shared::profile::parse_encoding(&e).ok_or_else(|| corrupt("encoding", &e)))
                    .transpose()?,
                auth_scheme: scheme
                    .map(|s| portaldm_shared::auth::Scheme::parse(&s).ok_or_else(|| corrupt("scheme", &s)))
                    .transpose()?,
                max_msg_size: count(r.try_get("max_msg_size")?)?,
                hold_secs: count(r.try_get("hold_secs")?)?,
            })
        }
    };
}

pub(super) use store_impl;
