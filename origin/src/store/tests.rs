//! Store behaviour every backend must show, run on SQLite and on PostgreSQL (a throwaway
//! cluster that `make test` starts; `PDM_TEST_POSTGRES` is its admin URL).

use portaldm_shared::catalog::PackageRules;
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use portaldm_shared::portal::PortalState;
use portaldm_shared::session::server::ServerSession;
use portaldm_shared::syncml::xml;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::*;
use crate::admin::api_types::PackageStatus;

/// A fresh store of one backend, and the folder that must live as long as it (SQLite).
struct Fresh(Box<dyn Store>, #[allow(dead_code)] Option<tempfile::TempDir>);

async fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    Fresh(Box::new(SqliteStore::open(&url).await.expect("opens")), Some(dir))
}

async fn postgres() -> Fresh {
    let url = fresh_postgres_database().await;
    Fresh(Box::new(PgStore::open(&url).await.expect("opens")), None)
}

/// A new database on the throwaway PostgreSQL; its URL.
async fn fresh_postgres_database() -> String {
    let admin = std::env::var("PDM_TEST_POSTGRES")
        .expect("PDM_TEST_POSTGRES is not set: run the tests with `make test` (it starts a throwaway PostgreSQL)");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.expect("admin connection");
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("random");
    let db = format!("store_{}", hex::encode(id));
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut conn).await.expect("create database");
    format!("{}/{db}", admin.rsplit_once('/').expect("url with a database").0)
}

/// Each behaviour as one test per backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $name() { let f = super::sqlite().await; super::$name(f.0.as_ref()).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $name() { let f = super::postgres().await; super::$name(f.0.as_ref()).await; })*
        }
    };
}

on_both!(
    a_token_opens_one_session_only,
    a_choice_is_taken_once_and_only_while_choosing,
    an_end_for_an_undecided_session_does_not_overwrite_a_choice,
    results_are_recorded_once_for_the_right_device,
    a_phone_at_its_choice_point_is_identified_seen_and_registered_at_once,
    a_verified_result_writes_its_device_with_it,
    packages_round_trip_and_blobs_are_known,
    a_revoked_package_is_gone,
    device_accounts_keep_their_nonces_until_replaced,
    admin_changes_are_audited_in_order,
    admin_tokens_are_stored_hashed_and_revoked_once,
    revoked_packages_stay_listed_for_admins,
    recent_sessions_are_newest_first_and_filter_by_state,
    device_history_keeps_each_change_of_complete_details,
    a_sweep_deletes_what_has_outlived_its_use_and_nothing_else,
    a_sweep_deletes_a_trigger_no_phone_answered_once_its_token_is_dead,
    a_devinfo_only_upsert_keeps_the_stored_devdetail,
    a_write_over_the_row_as_read_merges_with_it_and_rereads_a_row_changed_since,
    a_device_absent_when_read_but_written_since_is_merged_with_that_write,
    a_held_message_s_writes_land_only_on_the_row_it_read,
    devinfo_reports_racing_firmware_updates_never_write_the_older_firmware_back,
    a_result_written_over_the_device_as_read_merges_and_adds_history_only_for_a_change,
    a_result_for_a_delivery_swept_since_is_unknown_and_writes_nothing,
);

/// Takes an opened portal session `sid` to choosing at `now`, as its phone and browser do.
async fn choosing(s: &dyn Store, sid: &str, now: i64) {
    assert!(s.phone_identified(sid, &device(), &KnownDevice::default(), now).await.expect("identified"));
    assert!(s.identify(sid, true, now).await.expect("confirmed"));
}

fn device() -> DeviceDetails {
    DeviceDetails { dev_id: "IMEI:1".into(), model: Some("M".into()), fw_v: Some("1.0".into()), ..Default::default() }
}

fn portal(sid: &str) -> PortalRecord {
    PortalRecord {
        sid: sid.into(),
        bnd: "b".into(),
        nsid: 7,
        dev_id: "IMEI:1".into(),
        state: PortalState::Connecting,
        device: device(),
        package_id: None,
        delivery: None,
        exec_status: None,
        result_code: None,
        expires_at: i64::MAX,
        place: portaldm_shared::catalog::Place { country: Some("DE".into()), operator: Some("edge.op-a".into()) },
        phone_seen_at: 0,
    }
}

/// A real server session, as the DM handler would save it.
fn session(sid: &str) -> ServerSession {
    use portaldm_shared::keys::NamedKey;
    use portaldm_shared::rand::TestRng;
    use portaldm_shared::session::client::ClientSession;
    use portaldm_shared::token::{Claims, TokenSigner, TokenVerifier};
    let seed = NamedKey::generate("k", &mut TestRng(1)).expect("key");
    let c = Claims {
        iss: "e".into(),
        aud: "o".into(),
        sid: sid.into(),
        nsid: 7,
        srv: "s".into(),
        iat: 0,
        nbf: 0,
        exp: u64::MAX / 2000,
        jti: "j".into(),
        bnd: "b".into(),
        colo: "c".into(),
        ctry: None,
        net: None,
    };
    let token = TokenSigner::new(&seed).expect("signer").sign(&c).expect("signs");
    let pkg1 = xml::decode(&xml::encode(&ClientSession::server_initiated(device(), "u", "7", &token).first_message()))
        .expect("decodes");
    let v = TokenVerifier::new(&[seed.ed25519_public()], "o", "s")
        .verify(&token, portaldm_shared::time::UnixMillis(1000))
        .expect("verifies");
    ServerSession::accept_portal(&pkg1, &v, "u", portaldm_shared::media::DmEncoding::Xml, cont(), None)
        .expect("accepts")
        .0
}

fn delivery(correlator: &str) -> FumoDelivery {
    FumoDelivery {
        node: "n".into(),
        pkg_name: "p".into(),
        pkg_version: "2".into(),
        url: "u".into(),
        sha256: "s".into(),
        size: 1,
        correlator: correlator.into(),
        inline: false,
        signature: None,
        kind: Default::default(),
        settings: vec![],
        two_step: false,
        device_root: None,
    }
}

async fn a_held_message_s_writes_land_only_on_the_row_it_read(s: &dyn Store) {
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"package 2", &KnownDevice::default(), 1)
            .await
            .expect("opens")
    );
    let dm = session("a");
    let read = s.dm_lookup(&dm.device.dev_id, &dm.session_id).await.expect("looks up").session.expect("saved");
    // Parked over the row it read; its last answer stays.
    assert!(s.save_if_unchanged(&dm, None, read.version, 2).await.expect("parks"));
    let parked = s.dm_lookup(&dm.device.dev_id, &dm.session_id).await.expect("looks up").session.expect("saved");
    assert_eq!(parked.last_reply.as_deref(), Some(&b"package 2"[..]));
    assert!(parked.version > read.version, "a write counts");
    // A second copy of the message, which read the row before the park, does not write over it.
    assert!(!s.save_if_unchanged(&dm, None, read.version, 3).await.expect("stale park"), "a stale park wrote");
    assert!(
        !s.save_if_unchanged(&dm, Some(&b"stale"[..]), read.version, 3).await.expect("stale answer"),
        "a stale answer wrote"
    );
    // The copy that read the parked row answers; the next message's write is not undone.
    assert!(s.save_if_unchanged(&dm, Some(&b"package 4"[..]), parked.version, 4).await.expect("answers"));
    let answered = s.dm_lookup(&dm.device.dev_id, &dm.session_id).await.expect("looks up").session.expect("saved");
    assert!(answered.version > parked.version, "an answer counts");
    s.save_dm_session(&dm, b"package 6", 5).await.expect("next message");
    assert!(!s.save_if_unchanged(&dm, None, answered.version, 6).await.expect("late park"), "any write counts");
    let now = s.dm_lookup(&dm.device.dev_id, &dm.session_id).await.expect("looks up").session.expect("saved");
    assert_eq!((now.last_reply.as_deref(), now.updated_at), (Some(&b"package 6"[..]), 5));
    // A session swept (or never stored) is not written back by a park.
    let mut gone = dm.clone();
    gone.session_id = "8".into();
    assert!(!s.save_if_unchanged(&gone, None, 0, 7).await.expect("park"), "a park created a row");
    assert!(s.dm_lookup(&dm.device.dev_id, "8").await.expect("looks up").session.is_none());
}

async fn a_token_opens_one_session_only(s: &dyn Store) {
    assert!(
        s.open_portal(("j1", 1), &portal("a"), &session("a"), b"reply", &KnownDevice::default(), 1)
            .await
            .expect("opens")
    );
    assert!(
        !s.open_portal(("j1", 1), &portal("b"), &session("b"), b"reply", &KnownDevice::default(), 1)
            .await
            .expect("refuses")
    );
    assert!(s.portal("b").await.expect("reads").is_none(), "a refused replay writes nothing");
    assert_eq!(s.portal("a").await.expect("reads").expect("there").place, portal("a").place, "where it came from");
    let found = s.dm_lookup("IMEI:1", "7").await.expect("reads");
    assert!(found.account.is_none(), "no account");
    let rec = found.session.expect("saved");
    assert_eq!(rec.last_reply.as_deref(), Some(&b"reply"[..]));
    assert_eq!(rec.session, session("a"));
}

async fn a_choice_is_taken_once_and_only_while_choosing(s: &dyn Store) {
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    assert!(!s.select("a", 1, &delivery("c1"), 2).await.expect("select"), "not choosing yet");
    choosing(s, "a", 2).await;
    assert!(s.select("a", 1, &delivery("c1"), 3).await.expect("select"));
    assert!(!s.select("a", 2, &delivery("c2"), 4).await.expect("select"), "a second choice is refused");
    let p = s.portal("a").await.expect("reads").expect("there");
    assert_eq!((p.state, p.package_id), (PortalState::Selected, Some(1)));
    assert_eq!(p.delivery, Some(delivery("c1")));
}

async fn an_end_for_an_undecided_session_does_not_overwrite_a_choice(s: &dyn Store) {
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    assert!(!s.end_undecided("a", &device(), 2).await.expect("ends"), "ended one still connecting");
    choosing(s, "a", 2).await;
    assert!(s.select("a", 1, &delivery("c1"), 3).await.expect("select"));
    assert!(!s.end_undecided("a", &device(), 4).await.expect("ends"), "said it ended a choice");
    assert_eq!(s.portal("a").await.expect("reads").expect("there").state, PortalState::Selected);
    assert!(
        s.open_portal(("k", 1), &portal("b"), &session("b"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    choosing(s, "b", 2).await;
    assert!(s.end_undecided("b", &device(), 4).await.expect("ends"));
    assert_eq!(s.portal("b").await.expect("reads").expect("there").state, PortalState::Ended);
    assert!(!s.select("b", 1, &delivery("c2"), 5).await.expect("select"), "chose in an ended session");
}

async fn a_phone_at_its_choice_point_is_identified_seen_and_registered_at_once(s: &dyn Store) {
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    let full = DeviceDetails { fw_v: Some("2.0".into()), ..device() };
    assert!(s.phone_identified("a", &full, &KnownDevice::default(), 5).await.expect("identified"));
    let p = s.portal("a").await.expect("reads").expect("there");
    assert_eq!((p.state, p.phone_seen_at, p.device.fw_v.as_deref()), (PortalState::Identified, 5, Some("2.0")));
    let d = s.device("IMEI:1").await.expect("device").expect("registered");
    assert_eq!(d.details.fw_v.as_deref(), Some("2.0"));
    // The DM session's look-up reads its portal session in the same statement.
    let dm = session("a");
    let found = s.dm_lookup(&dm.device.dev_id, &dm.session_id).await.expect("looks up");
    let with = found.session.and_then(|rec| rec.portal).expect("its portal session");
    assert_eq!((with.sid.as_str(), with.state), ("a", PortalState::Identified));
    // A message sent again does not take a session the user has moved on back.
    assert!(s.identify("a", true, 6).await.expect("identify"));
    assert!(
        !s.phone_identified("a", &full, &KnownDevice::default(), 7).await.expect("again"),
        "said it moved a decided session"
    );
    assert_eq!(s.portal("a").await.expect("reads").expect("there").state, PortalState::Choosing);
}

async fn a_verified_result_writes_its_device_with_it(s: &dyn Store) {
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    choosing(s, "a", 2).await;
    assert!(s.select("a", 1, &delivery("c1"), 3).await.expect("select"));
    let after = DeviceDetails { fw_v: Some("3.0".into()), ..device() };
    assert_eq!(
        s.record_result("IMEI:1", "c1", ResultCode(200), Some((&after, &KnownDevice::default())), 4).await.expect("r"),
        RecordOutcome::Recorded
    );
    let d = s.device("IMEI:1").await.expect("device").expect("registered");
    assert_eq!(d.details.fw_v.as_deref(), Some("3.0"));
}

async fn results_are_recorded_once_for_the_right_device(s: &dyn Store) {
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    choosing(s, "a", 2).await;
    assert!(s.select("a", 1, &delivery("c1"), 3).await.expect("select"));
    assert_eq!(s.awaits_result("IMEI:1", "c1").await.expect("r"), Some(true));
    assert_eq!(s.awaits_result("IMEI:2", "c1").await.expect("r"), None);
    // A report naming no delivery to its device writes nothing, not even the device.
    let stranger = DeviceDetails { dev_id: "IMEI:2".into(), ..device() };
    assert_eq!(
        s.record_result("IMEI:2", "c1", ResultCode(200), Some((&stranger, &KnownDevice::default())), 4)
            .await
            .expect("r"),
        RecordOutcome::Unknown
    );
    assert!(s.device("IMEI:2").await.expect("device").is_none(), "an unverified report wrote its device");
    assert_eq!(s.record_result("IMEI:1", "nope", ResultCode(200), None, 4).await.expect("r"), RecordOutcome::Unknown);
    assert_eq!(s.record_result("IMEI:1", "c1", ResultCode(410), None, 5).await.expect("r"), RecordOutcome::Recorded);
    assert_eq!(s.awaits_result("IMEI:1", "c1").await.expect("r"), Some(false));
    assert_eq!(s.record_result("IMEI:1", "c1", ResultCode(200), None, 6).await.expect("r"), RecordOutcome::Duplicate);
    // The client's late Exec status does not overwrite the reported outcome.
    s.delivered("c1", 202, PortalState::Delivered, 7).await.expect("delivered");
    let p = s.portal("a").await.expect("reads").expect("there");
    assert_eq!((p.state, p.result_code, p.exec_status), (PortalState::Failed, Some(410), Some(202)));
    // The registry shows the device and its one result, as recorded first.
    let results = s.results_for("IMEI:1").await.expect("results");
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].correlator.as_str(), results[0].code, results[0].recorded_at), ("c1", 410, 5));
    assert!(s.results_for("IMEI:2").await.expect("results").is_empty());
    assert_eq!(s.result_counts(1).await.expect("counts"), vec![(410, 1)], "per package, by code");
    assert!(s.result_counts(2).await.expect("counts").is_empty());
    let d = s.device("IMEI:1").await.expect("device").expect("known");
    assert_eq!(d.details.dev_id, "IMEI:1");
    assert!(s.device("IMEI:404").await.expect("device").is_none());
}

async fn a_result_for_a_delivery_swept_since_is_unknown_and_writes_nothing(s: &dyn Store) {
    let day = 24 * 60 * 60 * 1000;
    let now = 400 * day;
    let old = PortalRecord { expires_at: now - 60 * day, ..portal("a") };
    assert!(
        s.open_portal(("j", now - 60 * day), &old, &session("a"), b"r", &KnownDevice::default(), now - 61 * day)
            .await
            .expect("opens")
    );
    choosing(s, "a", now - 61 * day).await;
    assert!(s.select("a", 1, &delivery("c1"), now - 61 * day).await.expect("select"));
    assert_eq!(
        s.record_result("IMEI:1", "c1", ResultCode(200), None, now - 61 * day).await.expect("r"),
        RecordOutcome::Recorded
    );
    assert_eq!(s.sweep(now).await.expect("sweeps").portal_sessions, 1);
    assert_eq!(s.results_for("IMEI:1").await.expect("results").len(), 1, "the result outlives its portal row");
    // The old correlator again, with other details: it proves nothing now.
    let claimed = DeviceDetails { model: Some("Other".into()), ..device() };
    assert_eq!(
        s.record_result("IMEI:1", "c1", ResultCode(200), Some((&claimed, &KnownDevice::default())), now)
            .await
            .expect("r"),
        RecordOutcome::Unknown
    );
    let d = s.device("IMEI:1").await.expect("device").expect("known");
    assert_eq!(d.details.model.as_deref(), Some("M"), "nothing written");
}

async fn packages_round_trip_and_blobs_are_known(s: &dyn Store) {
    let p = NewPackage {
        rules: PackageRules {
            name: "fw".into(),
            version: "1.2".into(),
            models: vec!["X*".into()],
            base_min: Some("1.0".into()),
            base_max: None,
            notes: "n".into(),
            hw_revisions: vec![],
            delta_from: None,
            rollout_percent: 100,
            notes_by_lang: Default::default(),
            kind: Default::default(),
            countries: vec![],
            operators: vec![],
        },
        blob: "ab".repeat(32),
        size: 9,
        signature: Some("pkg1.sig".into()),
        publish: true,
    };
    let id = s.add_package(&p, "test", 1).await.expect("adds");
    let all = s.packages().await.expect("lists");
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].id, all[0].rules.models.clone(), all[0].size), (id, vec!["X*".to_owned()], 9));
    assert_eq!(all[0].signature.as_deref(), Some("pkg1.sig"));
    assert!(s.blob_published(id, &"ab".repeat(32)).await.expect("q"));
    assert!(!s.blob_published(id, &"cd".repeat(32)).await.expect("q"), "not this package's blob");
    assert!(!s.blob_published(id + 1, &"ab".repeat(32)).await.expect("q"), "not this blob's package");

    // The rules beyond model and base range round-trip too; a draft is not published.
    let q = NewPackage {
        rules: PackageRules {
            version: "1.3".into(),
            hw_revisions: vec!["rev-B*".into()],
            delta_from: Some("1.2".into()),
            rollout_percent: 25,
            notes_by_lang: [("de".to_owned(), "Neu".to_owned())].into_iter().collect(),
            kind: Default::default(),
            countries: vec!["DE".into()],
            operators: vec!["edge.op-a".into()],
            ..p.rules.clone()
        },
        blob: "cd".repeat(32),
        publish: false,
        ..p
    };
    let draft = s.add_package(&q, "test", 2).await.expect("adds");
    assert_eq!(s.packages().await.expect("lists").len(), 1, "drafts are not offered");
    assert!(!s.blob_published(draft, &"cd".repeat(32)).await.expect("q"));
    assert_eq!(s.set_rollout(draft, 50, "test", 3).await.expect("rollout"), Changed::Done);
    assert_eq!(s.publish(draft, "test", 4).await.expect("publishes"), Changed::Done);
    assert_eq!(s.publish(draft, "test", 5).await.expect("publishes"), Changed::Refused, "only drafts");
    assert_eq!(s.publish(draft + 100, "test", 5).await.expect("publishes"), Changed::Missing);
    let got = s.packages().await.expect("lists").iter().find(|p| p.id == draft).cloned().expect("published now");
    assert_eq!(
        (
            got.rules.hw_revisions,
            got.rules.delta_from,
            got.rules.rollout_percent,
            got.rules.notes_by_lang.get("de").cloned()
        ),
        (vec!["rev-B*".to_owned()], Some("1.2".to_owned()), 50, Some("Neu".to_owned()))
    );
    assert_eq!((got.rules.countries, got.rules.operators), (vec!["DE".to_owned()], vec!["edge.op-a".to_owned()]));
    assert!(s.revoke(draft, "test", 6).await.expect("revokes"));
    assert_eq!(s.set_rollout(draft, 60, "test", 7).await.expect("rollout"), Changed::Refused, "revoked is final");
    assert_eq!(s.publish(draft, "test", 7).await.expect("publishes"), Changed::Refused);
}

/// A published firmware package for model X with this blob.
fn published(blob: String) -> NewPackage {
    NewPackage {
        rules: PackageRules {
            name: "fw".into(),
            version: "1.2".into(),
            models: vec!["X".into()],
            base_min: None,
            base_max: None,
            notes: String::new(),
            hw_revisions: vec![],
            delta_from: None,
            rollout_percent: 100,
            notes_by_lang: Default::default(),
            kind: Default::default(),
            countries: vec![],
            operators: vec![],
        },
        blob,
        size: 1,
        signature: None,
        publish: true,
    }
}

async fn a_revoked_package_is_gone(s: &dyn Store) {
    let p = published("ef".repeat(32));
    let id = s.add_package(&p, "test", 1).await.expect("adds");
    let twin = s.add_package(&p, "test", 1).await.expect("adds the same blob again");
    assert_eq!(s.packages().await.expect("lists").len(), 2, "listed (and the listing kept)");
    assert!(s.revoke(twin, "test", 2).await.expect("revokes"));
    assert!(s.blob_published(id, &"ef".repeat(32)).await.expect("q"), "the other package with these bytes");
    assert!(!s.blob_published(twin, &"ef".repeat(32)).await.expect("q"));
    assert!(s.revoke(id, "test", 2).await.expect("revokes"));
    assert!(!s.revoke(id, "test", 3).await.expect("revokes"), "only once");
    assert!(!s.revoke(id + 100, "test", 3).await.expect("revokes"), "unknown id");
    assert!(s.packages().await.expect("lists").is_empty());
    assert!(!s.blob_published(id, &"ef".repeat(32)).await.expect("q"));
}

async fn device_accounts_keep_their_nonces_until_replaced(s: &dyn Store) {
    use portaldm_shared::auth::server::ServerAuth;
    use portaldm_shared::auth::{Account, Nonce, Scheme, Secret};
    assert!(s.device_account("IMEI:1").await.expect("q").is_none());
    let account = Account { scheme: Scheme::Md5, client: Secret::from_password("IMEI:1", "pw"), server: None };
    s.set_device_account("IMEI:1", &account, "test", 1).await.expect("sets");
    let got = s.device_account("IMEI:1").await.expect("q").expect("there");
    assert_eq!((got.account, got.auth), (account.clone(), ServerAuth::default()));

    let mut auth = ServerAuth::default();
    auth.client_nonce = Nonce::from_bytes(b"next");
    s.save_auth_state("IMEI:1", &auth, 2).await.expect("saves");
    assert_eq!(s.device_account("IMEI:1").await.expect("q").expect("there").auth, auth);
    // A DM message's lookup finds the same account, with no session of that id yet.
    let found = s.dm_lookup("IMEI:1", "9").await.expect("q");
    assert_eq!(found.account.map(|a| (a.account, a.auth)), Some((account.clone(), auth.clone())));
    assert!(found.session.is_none());
    // Saving state for a device without an account creates nothing.
    s.save_auth_state("IMEI:2", &auth, 2).await.expect("saves");
    assert!(s.device_account("IMEI:2").await.expect("q").is_none());
    // A new account starts afresh.
    let hmac = Account { scheme: Scheme::Hmac, ..account };
    s.set_device_account("IMEI:1", &hmac, "test", 3).await.expect("replaces");
    let got = s.device_account("IMEI:1").await.expect("q").expect("there");
    assert_eq!((got.account, got.auth), (hmac, ServerAuth::default()));
}

async fn admin_changes_are_audited_in_order(s: &dyn Store) {
    let p = NewPackage {
        rules: PackageRules {
            name: "fw".into(),
            version: "1.2".into(),
            models: vec!["X".into()],
            base_min: None,
            base_max: None,
            notes: String::new(),
            hw_revisions: vec![],
            delta_from: None,
            rollout_percent: 100,
            notes_by_lang: Default::default(),
            kind: Default::default(),
            countries: vec![],
            operators: vec![],
        },
        blob: "ab".repeat(32),
        size: 5,
        signature: None,
        publish: true,
    };
    let id = s.add_package(&p, "cli:ann", 10).await.expect("adds");
    s.audit("token:1 (ci)", "blob.upload", &"ab".repeat(32), &serde_json::json!({"size": 5}), 11)
        .await
        .expect("audits");
    assert!(s.revoke(id, "token:1 (ci)", 12).await.expect("revokes"));
    assert!(!s.revoke(id, "token:1 (ci)", 13).await.expect("revokes"), "a refused change is not audited");
    let log = s.audit_log(10).await.expect("reads");
    let got: Vec<_> = log.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.at)).collect();
    assert_eq!(
        got,
        [("token:1 (ci)", "package.revoke", 12), ("token:1 (ci)", "blob.upload", 11), ("cli:ann", "package.add", 10)]
    );
    assert_eq!(log[2].target, id.to_string());
    assert_eq!(log[2].detail["version"], "1.2");
    assert_eq!(s.audit_log(1).await.expect("reads").len(), 1);
}

async fn admin_tokens_are_stored_hashed_and_revoked_once(s: &dyn Store) {
    s.create_admin_token("0123456789ab", "ci", &"0f".repeat(32), true, "cli:ann", 1).await.expect("creates");
    let (view, hash) = s.admin_token("0123456789ab").await.expect("q").expect("there");
    assert_eq!((view.name.as_str(), view.revoked_at, view.read_only, hash), ("ci", None, true, "0f".repeat(32)));
    assert!(s.admin_token("ffffffffffff").await.expect("q").is_none());
    assert!(s.revoke_admin_token("0123456789ab", "cli:ann", 5).await.expect("revokes"));
    assert!(!s.revoke_admin_token("0123456789ab", "cli:ann", 6).await.expect("revokes"));
    assert_eq!(s.admin_tokens().await.expect("lists")[0].revoked_at, Some(5));
    let actions: Vec<_> = s.audit_log(10).await.expect("reads").into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["admin_token.revoke", "admin_token.create"]);
}

async fn revoked_packages_stay_listed_for_admins(s: &dyn Store) {
    let mut p = NewPackage {
        rules: PackageRules {
            name: "fw".into(),
            version: "1.0".into(),
            models: vec!["X".into()],
            base_min: None,
            base_max: None,
            notes: String::new(),
            hw_revisions: vec![],
            delta_from: None,
            rollout_percent: 100,
            notes_by_lang: Default::default(),
            kind: Default::default(),
            countries: vec![],
            operators: vec![],
        },
        blob: "cd".repeat(32),
        size: 1,
        signature: None,
        publish: true,
    };
    let a = s.add_package(&p, "t", 1).await.expect("adds");
    p.rules.version = "2.0".into();
    let b = s.add_package(&p, "t", 2).await.expect("adds");
    s.revoke(a, "t", 3).await.expect("revokes");
    let all = s.all_packages().await.expect("lists");
    let got: Vec<_> = all.iter().map(|v| (v.package.id, v.status, v.created_at)).collect();
    assert_eq!(got, [(b, PackageStatus::Published, 2), (a, PackageStatus::Revoked, 1)]);
}

async fn recent_sessions_are_newest_first_and_filter_by_state(s: &dyn Store) {
    for (i, sid) in ["s1", "s2", "s3"].iter().enumerate() {
        let mut p = portal(sid);
        p.state = if i == 0 { PortalState::Identified } else { PortalState::Waiting };
        s.create_portal(&p, 100 + i as i64).await.expect("creates");
    }
    assert!(s.identify("s1", true, 200).await.expect("moves"));
    let all: Vec<_> = s.recent_sessions(None, 10).await.expect("lists").into_iter().map(|v| v.sid).collect();
    assert_eq!(all, ["s1", "s3", "s2"]);
    let choosing = s.recent_sessions(Some(PortalState::Choosing), 10).await.expect("lists");
    assert_eq!(choosing.len(), 1);
    assert_eq!((choosing[0].state.as_str(), choosing[0].model.as_deref()), ("choosing", Some("M")));
    assert_eq!(s.recent_sessions(None, 2).await.expect("lists").len(), 2);
}

async fn device_history_keeps_each_change_of_complete_details(s: &dyn Store) {
    let partial = DeviceDetails { dev_id: "IMEI:9".into(), model: Some("M".into()), ..Default::default() };
    s.upsert_device(&partial, &KnownDevice::default(), 1).await.expect("upserts");
    assert!(s.device_history("IMEI:9", 10).await.expect("q").is_empty(), "DevInfo alone is not a snapshot");
    let v1 = DeviceDetails { fw_v: Some("1.0".into()), ..partial.clone() };
    s.upsert_device(&v1, &KnownDevice::default(), 2).await.expect("upserts");
    s.upsert_device(&partial, &KnownDevice::default(), 3).await.expect("upserts");
    s.upsert_device(&v1, &KnownDevice::default(), 4).await.expect("upserts");
    let v2 = DeviceDetails { fw_v: Some("1.2".into()), ..partial };
    s.upsert_device(&v2, &KnownDevice::default(), 5).await.expect("upserts");
    let h = s.device_history("IMEI:9", 10).await.expect("q");
    let got: Vec<(i64, Option<String>)> = h.into_iter().map(|(at, d)| (at, d.fw_v)).collect();
    assert_eq!(got, [(5, Some("1.2".into())), (2, Some("1.0".into()))], "a row per change, newest first");
    assert_eq!(s.device_history("IMEI:9", 1).await.expect("q").len(), 1);
}

async fn a_sweep_deletes_what_has_outlived_its_use_and_nothing_else(s: &dyn Store) {
    let day = 24 * 60 * 60 * 1000;
    let now = 400 * day;
    // Old: a token used long ago, a session idle for a day, a portal session over for months.
    let old = PortalRecord { expires_at: now - 60 * day, ..portal("old") };
    assert!(
        s.open_portal(("j-old", now - 60 * day), &old, &session("old"), b"r", &KnownDevice::default(), now - day)
            .await
            .expect("opens")
    );
    // Live: all of it fresh.
    let live = PortalRecord { expires_at: now + 60_000, ..portal("live") };
    let mut fresh = session("live");
    fresh.session_id = "8".into();
    assert!(
        s.open_portal(("j-live", now + 60_000), &live, &fresh, b"r", &KnownDevice::default(), now)
            .await
            .expect("opens")
    );
    // History: an old row replaced by a newer one, and another device's only (old) row.
    let v1 = DeviceDetails { dev_id: "IMEI:5".into(), fw_v: Some("1".into()), ..Default::default() };
    s.upsert_device(&v1, &KnownDevice::default(), 10).await.expect("upserts");
    s.upsert_device(&DeviceDetails { fw_v: Some("2".into()), ..v1.clone() }, &KnownDevice::default(), now - day)
        .await
        .expect("upserts");
    let lone = DeviceDetails { dev_id: "IMEI:6".into(), fw_v: Some("1".into()), ..Default::default() };
    s.upsert_device(&lone, &KnownDevice::default(), 10).await.expect("upserts");

    let swept = s.sweep(now).await.expect("sweeps");
    assert_eq!((swept.tokens, swept.dm_sessions, swept.portal_sessions, swept.history), (1, 1, 1, 1), "{swept:?}");
    assert!(s.portal("old").await.expect("reads").is_none());
    assert!(s.portal("live").await.expect("reads").is_some(), "a live portal session stays");
    assert!(s.dm_lookup("IMEI:1", "7").await.expect("reads").session.is_none(), "the idle DM session went");
    assert!(s.dm_lookup("IMEI:1", "8").await.expect("reads").session.is_some(), "the fresh one stays");
    assert_eq!(s.device_history("IMEI:5", 10).await.expect("q").len(), 1, "the newer row stays");
    assert_eq!(s.device_history("IMEI:6", 10).await.expect("q").len(), 1, "a device's latest row always stays");
    // A used token id stays refused while its token lives.
    assert!(
        !s.open_portal(
            ("j-live", now + 60_000),
            &portal("again"),
            &session("again"),
            b"r",
            &KnownDevice::default(),
            now
        )
        .await
        .expect("q")
    );
    assert_eq!(s.sweep(now).await.expect("sweeps"), Swept::default(), "nothing more to sweep");
}

async fn a_sweep_deletes_a_trigger_no_phone_answered_once_its_token_is_dead(s: &dyn Store) {
    // Any browser can register a trigger (mint, then look once): one unanswered must not be
    // kept the month an answered portal session is, or minting alone grows the database.
    let day = 24 * 60 * 60 * 1000;
    let now = 400 * day;
    let register = |sid: &'static str, expires_at: i64| async move {
        let trigger = portaldm_shared::stock::LiveTrigger {
            sid: sid.into(),
            nsid: 7,
            jti: format!("j-{sid}"),
            minted_at: portaldm_shared::time::UnixMillis(0),
            expires_at: portaldm_shared::time::UnixMillis(expires_at as u64),
            net: None,
        };
        let p = PortalRecord {
            dev_id: String::new(),
            device: DeviceDetails::default(),
            state: PortalState::Waiting,
            expires_at,
            ..portal(sid)
        };
        s.register_trigger(&p, &trigger, expires_at - 60_000).await.expect("registers");
    };
    register("dead", now - 60 * 60 * 1000).await;
    register("clashed", now - 60 * 60 * 1000).await;
    s.end_waiting(&["clashed".to_owned()], now - 2 * 60 * 60 * 1000).await.expect("ends");
    register("live", now + 60_000).await;
    let swept = s.sweep(now).await.expect("sweeps");
    assert_eq!(swept.portal_sessions, 2, "{swept:?}");
    assert!(s.portal("dead").await.expect("reads").is_none(), "an unanswered trigger goes with its token");
    assert!(s.portal("clashed").await.expect("reads").is_none(), "and one a clash ended");
    assert!(s.portal("live").await.expect("reads").is_some(), "a live one stays");
    assert_eq!(s.live_triggers(&[7], now).await.expect("reads").len(), 1);
}

async fn a_devinfo_only_upsert_keeps_the_stored_devdetail(s: &dyn Store) {
    let full = DeviceDetails { dev_id: "IMEI:3".into(), fw_v: Some("1.0".into()), hw_v: Some("A".into()), ..device() };
    s.upsert_device(&full, &KnownDevice::default(), 1).await.expect("upserts");
    let info = DeviceDetails { dev_id: "IMEI:3".into(), lang: Some("de".into()), ..Default::default() };
    s.upsert_device(&info, &KnownDevice::default(), 2).await.expect("upserts");
    let d = s.device("IMEI:3").await.expect("reads").expect("known").details;
    assert_eq!((d.fw_v.as_deref(), d.hw_v.as_deref(), d.lang.as_deref()), (Some("1.0"), Some("A"), Some("de")));
    assert_eq!(d.model.as_deref(), Some("M"));
}

async fn a_write_over_the_row_as_read_merges_with_it_and_rereads_a_row_changed_since(s: &dyn Store) {
    let v1 = DeviceDetails { dev_id: "IMEI:4".into(), fw_v: Some("1.0".into()), ..device() };
    s.upsert_device(&v1, &KnownDevice::default(), 1).await.expect("upserts");
    let stale = s.dm_lookup("IMEI:4", "1").await.expect("reads").device;
    assert_ne!(stale, KnownDevice::default(), "the look-up reads the registry's row");
    // Written by another message after this one's look-up: an update landed.
    let v2 = DeviceDetails { fw_v: Some("2.0".into()), ..v1.clone() };
    s.upsert_device(&v2, &KnownDevice::default(), 2).await.expect("upserts");
    let info = DeviceDetails { dev_id: "IMEI:4".into(), lang: Some("de".into()), ..Default::default() };
    s.upsert_device(&info, &stale, 3).await.expect("upserts");
    let d = s.device("IMEI:4").await.expect("reads").expect("known");
    assert_eq!(
        (d.details.fw_v.as_deref(), d.details.lang.as_deref()),
        (Some("2.0"), Some("de")),
        "merged with the row as it is"
    );
    assert_eq!(d.last_seen, 3);
    let history = s.device_history("IMEI:4", 10).await.expect("q");
    assert_eq!(history.len(), 3, "v1, v2 and v2 in German");
    assert_eq!(history[0].1, d.details, "the latest history row is the registry's");
    // The same report again over a current read: seen, nothing changed, no history row.
    let current = s.dm_lookup("IMEI:4", "1").await.expect("reads").device;
    s.upsert_device(&info, &current, 4).await.expect("upserts");
    let again = s.device("IMEI:4").await.expect("reads").expect("known");
    assert_eq!((again.details, again.last_seen), (d.details, 4));
    assert_eq!(s.device_history("IMEI:4", 10).await.expect("q").len(), 3);
    // Complete details over a current read write a history row when they changed.
    let read = s.dm_lookup("IMEI:4", "1").await.expect("reads").device;
    let v3 = DeviceDetails { fw_v: Some("3.0".into()), ..v1 };
    s.upsert_device(&v3, &read, 5).await.expect("upserts");
    let history = s.device_history("IMEI:4", 10).await.expect("q");
    assert_eq!((history.len(), history[0].1.fw_v.as_deref()), (4, Some("3.0")));
}

async fn a_device_absent_when_read_but_written_since_is_merged_with_that_write(s: &dyn Store) {
    let unknown = s.dm_lookup("IMEI:8", "1").await.expect("reads").device;
    let full = DeviceDetails { dev_id: "IMEI:8".into(), fw_v: Some("1.0".into()), ..device() };
    s.upsert_device(&full, &KnownDevice::default(), 1).await.expect("upserts");
    let info = DeviceDetails { dev_id: "IMEI:8".into(), lang: Some("fr".into()), ..Default::default() };
    s.upsert_device(&info, &unknown, 2).await.expect("upserts");
    let d = s.device("IMEI:8").await.expect("reads").expect("known");
    assert_eq!((d.details.fw_v.as_deref(), d.details.lang.as_deref(), d.first_seen), (Some("1.0"), Some("fr"), 1));
    // Absent when read and still absent: inserted as reported.
    let none = s.dm_lookup("IMEI:7", "1").await.expect("reads").device;
    let lone = DeviceDetails { dev_id: "IMEI:7".into(), model: Some("Q".into()), ..Default::default() };
    s.upsert_device(&lone, &none, 3).await.expect("upserts");
    assert_eq!(s.device("IMEI:7").await.expect("reads").expect("known").details, lone);
}

/// DevInfo reports (package 1, result reports) racing a phone's firmware updates, as replicas
/// over one PostgreSQL write them: a report merged with a row read before an update lands
/// never writes the older firmware back.
async fn devinfo_reports_racing_firmware_updates_never_write_the_older_firmware_back(s: &dyn Store) {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    const UPDATES: u32 = 120;
    let fw = |v: u32| DeviceDetails { dev_id: "IMEI:9".into(), fw_v: Some(format!("{v:04}")), ..device() };
    let read_fw = || async {
        let d = s.device("IMEI:9").await.expect("reads").expect("known").details;
        d.fw_v.as_deref().and_then(|v| v.parse::<u32>().ok()).expect("firmware kept")
    };
    s.upsert_device(&fw(0), &KnownDevice::default(), 0).await.expect("upserts");
    let done = AtomicBool::new(false);
    let updates = async {
        for v in 1..=UPDATES {
            s.upsert_device(&fw(v), &KnownDevice::default(), i64::from(v)).await.expect("updates");
            tokio::task::yield_now().await;
        }
        done.store(true, Relaxed);
    };
    // The same phone's reports, as several messages in flight write them.
    let reports = || {
        let done = &done;
        async move {
            let info = DeviceDetails { dev_id: "IMEI:9".into(), lang: Some("de".into()), ..Default::default() };
            while !done.load(Relaxed) {
                s.upsert_device(&info, &KnownDevice::default(), 1).await.expect("reports");
            }
        }
    };
    let watch = async {
        let mut seen = 0;
        while !done.load(Relaxed) {
            let now = read_fw().await;
            assert!(now >= seen, "firmware {seen} was written back to {now}");
            seen = now;
        }
    };
    tokio::join!(updates, reports(), reports(), reports(), watch);
    assert_eq!(read_fw().await, UPDATES, "the last update is the registry's");
}

/// A result report's DevInfo over the row its look-up read: merged with it, seen, and no
/// history row for details that did not change; changed details over a stale read reread.
async fn a_result_written_over_the_device_as_read_merges_and_adds_history_only_for_a_change(s: &dyn Store) {
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    choosing(s, "a", 2).await;
    assert!(s.select("a", 1, &delivery("c1"), 3).await.expect("select"));
    let before = s.device_history("IMEI:1", 10).await.expect("q").len();
    let read = s.dm_lookup("IMEI:1", "1").await.expect("reads").device;
    let info = DeviceDetails { dev_id: "IMEI:1".into(), model: Some("M".into()), ..Default::default() };
    assert_eq!(
        s.record_result("IMEI:1", "c1", ResultCode(200), Some((&info, &read)), 4).await.expect("r"),
        RecordOutcome::Recorded
    );
    let d = s.device("IMEI:1").await.expect("device").expect("known");
    assert_eq!((d.details.clone(), d.last_seen), (device(), 4), "merged with the row as read, seen");
    assert_eq!(s.device_history("IMEI:1", 10).await.expect("q").len(), before, "nothing changed");
    // The phone updated (another message wrote it) after this report's look-up: a duplicate
    // report over the stale read keeps the update and its history row.
    let updated = DeviceDetails { fw_v: Some("3.0".into()), ..device() };
    s.upsert_device(&updated, &KnownDevice::default(), 5).await.expect("upserts");
    let lang = DeviceDetails { lang: Some("de".into()), ..info };
    assert_eq!(
        s.record_result("IMEI:1", "c1", ResultCode(200), Some((&lang, &read)), 6).await.expect("r"),
        RecordOutcome::Duplicate
    );
    let d = s.device("IMEI:1").await.expect("device").expect("known");
    assert_eq!((d.details.fw_v.as_deref(), d.details.lang.as_deref()), (Some("3.0"), Some("de")));
    let history = s.device_history("IMEI:1", 10).await.expect("q");
    assert_eq!((history.len(), &history[0].1), (before + 2, &d.details), "3.0, then 3.0 in German");
}

/// Another process on the same database (a replica, or the CLI on the SQLite file) changes
/// the catalog: a store that listed it before sees the change within the kept copy's age.
#[tokio::test]
async fn another_process_s_catalog_change_shows_within_the_max_age() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = SqliteStore::open(&url).await.expect("opens");
    let cli = SqliteStore::open(&url).await.expect("opens again");
    assert!(server.packages().await.expect("lists").is_empty());
    cli.add_package(&published("ab".repeat(32)), "cli", 1).await.expect("adds");
    let deadline = std::time::Instant::now() + catalog_cache::MAX_AGE * 3;
    while server.packages().await.expect("lists").is_empty() {
        assert!(std::time::Instant::now() < deadline, "still not listed after {:?}", catalog_cache::MAX_AGE * 3);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn on_postgres_a_wakeup_listener_that_lost_its_connection_wakes_every_held_message_and_hears_again() {
    use std::time::Duration;
    let url = fresh_postgres_database().await;
    let store = PgStore::open(&url).await.expect("opens");
    let wake = crate::wake::Registry::new();
    let (held, later) = (wake.register("s1"), wake.register("s2"));
    store.forward_wakeups(wake.clone()).await.expect("listens");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.expect("connection");
    // Cut the listener off, as a network failure or a restart would: whatever was announced
    // meanwhile is lost, so every held message must look at its session again.
    let cut = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(&mut conn)
    .await
    .expect("terminate");
    assert_eq!(cut.rows_affected(), 1, "one listener");
    tokio::time::timeout(Duration::from_secs(10), held.changed()).await.expect("woken after the reconnect");
    // And it listens again: another replica's notice wakes its session.
    sqlx::query("SELECT pg_notify('portaldm_select', 's2 another-replica')").execute(&mut conn).await.expect("notify");
    tokio::time::timeout(Duration::from_secs(10), later.changed()).await.expect("woken by the notice");
}

fn cont() -> portaldm_shared::session::continuation::Continuation {
    portaldm_shared::session::continuation::Continuation::generate(&mut portaldm_shared::rand::TestRng(99))
        .expect("random")
}

/// Device profiles, on both backends.
mod profiles {
    use super::*;
    use portaldm_shared::auth::Scheme;
    use portaldm_shared::media::DmEncoding;
    use portaldm_shared::profile::DeviceProfile;

    on_both!(profiles_round_trip_and_every_change_is_audited);

    async fn profiles_round_trip_and_every_change_is_audited(s: &dyn Store) {
        assert!(s.device_profiles().await.expect("lists").is_empty());
        let full = DeviceProfile {
            id: 0,
            name: "stock X1".into(),
            man: Some("Acme*".into()),
            models: vec!["X1".into(), "X1-*".into()],
            fumo_root: Some("./FwUpdate/stock".into()),
            scomo_root: Some("./Vendor/SCOMO".into()),
            encoding: Some(DmEncoding::Wbxml),
            auth_scheme: Some(Scheme::Md5),
            max_msg_size: Some(4096),
            hold_secs: Some(8),
        };
        let bare = DeviceProfile { name: "any Y".into(), models: vec!["Y*".into()], ..Default::default() };
        let a = s.add_profile(&full, "cli:ann", 10).await.expect("adds");
        let b = s.add_profile(&bare, "token:1 (ci)", 11).await.expect("adds");
        let got = s.device_profiles().await.expect("lists");
        assert_eq!(got, [DeviceProfile { id: a, ..full.clone() }, DeviceProfile { id: b, ..bare.clone() }]);

        let changed = DeviceProfile { id: b, hold_secs: Some(5), encoding: Some(DmEncoding::Xml), ..bare.clone() };
        assert!(s.update_profile(&changed, "token:1 (ci)", 12).await.expect("updates"));
        assert!(!s.update_profile(&DeviceProfile { id: 999, ..bare }, "x", 13).await.expect("q"), "no such profile");
        assert_eq!(s.device_profiles().await.expect("lists")[1], changed);

        assert!(s.delete_profile(a, "cli:ann", 14).await.expect("deletes"));
        assert!(!s.delete_profile(a, "cli:ann", 15).await.expect("q"), "deleted once");
        assert_eq!(s.device_profiles().await.expect("lists"), [changed]);

        let log = s.audit_log(10).await.expect("reads");
        let got: Vec<_> = log.iter().map(|e| (e.action.as_str(), e.target.clone(), e.at)).collect();
        assert_eq!(
            got,
            [
                ("profile.delete", a.to_string(), 14),
                ("profile.update", b.to_string(), 12),
                ("profile.add", b.to_string(), 11),
                ("profile.add", a.to_string(), 10),
            ],
            "refused changes are not audited"
        );
        assert_eq!(log[3].detail["fumo_root"], "./FwUpdate/stock");
        assert_eq!(log[1].detail["hold_secs"], 5);
    }
}

/// The audit log keeps what it kept before the rules became one type: the rules without the
/// notes' text, their languages, the blob, its size, signed or not, published or not.
#[test]
fn a_package_add_is_audited_with_its_rules_and_without_its_notes() {
    let mut p = published("ab".repeat(32));
    p.rules.notes = "secret plans".into();
    p.rules.notes_by_lang = [("de".to_owned(), "Geheim".to_owned())].into_iter().collect();
    p.signature = Some("sig".into());
    let expected = serde_json::json!({
        "name": "fw", "version": "1.2", "models": ["X"], "base_min": null, "base_max": null,
        "blob": "ab".repeat(32), "size": 1, "signed": true, "hw_revisions": [], "delta_from": null,
        "rollout_percent": 100, "languages": ["de"], "publish": true, "kind": "firmware",
        "countries": [], "operators": [],
    });
    assert_eq!(p.audit_detail().expect("detail"), expected);
}

/// A portal row that no longer reads (a newer replica's state, say) fails only what needs
/// it: the DM session's look-up still answers, without it.
#[tokio::test]
async fn an_unreadable_portal_row_does_not_fail_its_dm_session_s_look_up() {
    use sqlx::{ConnectOptions as _, Connection as _};
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = SqliteStore::open(&url).await.expect("opens");
    assert!(
        s.open_portal(("j", 1), &portal("a"), &session("a"), b"r", &KnownDevice::default(), 1).await.expect("opens")
    );
    let mut raw = url.parse::<sqlx::sqlite::SqliteConnectOptions>().expect("url").connect().await.expect("connects");
    sqlx::query("UPDATE portal_sessions SET state = 'from-the-future' WHERE sid = 'a'")
        .execute(&mut raw)
        .await
        .expect("corrupts");
    raw.close().await.expect("closes");
    let dm = session("a");
    let found = s.dm_lookup(&dm.device.dev_id, &dm.session_id).await.expect("still looks up");
    let rec = found.session.expect("the DM session");
    assert!(rec.portal.is_none(), "an unreadable portal session was returned");
}

/// What a serving SQLite store commits reaches the database file itself within moments, copied
/// there by its checkpointer; the writer alone would leave it in the WAL until the WAL reached
/// 1,000 pages.
#[tokio::test]
async fn a_serving_sqlite_store_copies_its_wal_back_in_the_background() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display())).await.expect("opens");
    let marker = "IMEI:checkpointed-in-the-background";
    let in_file = || std::fs::read(&path).expect("reads").windows(marker.len()).any(|w| w == marker.as_bytes());
    store
        .upsert_device(&DeviceDetails { dev_id: marker.into(), ..Default::default() }, &KnownDevice::default(), 1)
        .await
        .expect("writes");
    assert!(!in_file(), "committed, and not yet in the database file: in the WAL");
    store.start_background().await.expect("starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !in_file() {
        assert!(std::time::Instant::now() < deadline, "the WAL was not copied back within 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Still readable, of course.
    assert!(store.device(marker).await.expect("reads").is_some());
}

/// Migrations 0001–0014 of `backend` alone, copied to a folder of their own.
async fn migrations_before_0015(backend: &str) -> (sqlx::migrate::Migrator, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    for entry in std::fs::read_dir(from).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
        if name.as_str() < "0015" {
            std::fs::copy(&path, dir.path().join(name)).expect("copies");
        }
    }
    (sqlx::migrate::Migrator::new(dir.path()).await.expect("reads"), dir)
}

/// Devices as a database from before 0007 holds them: complete details without a history row
/// (IMEI:1), DevInfo alone (IMEI:2), and one whose history is current (IMEI:3).
const OLD_DEVICES: [(&str, &str); 3] = [
    ("IMEI:1", r#"{"dev_id":"IMEI:1","fw_v":"1.0"}"#),
    ("IMEI:2", r#"{"dev_id":"IMEI:2","model":"M"}"#),
    ("IMEI:3", r#"{"dev_id":"IMEI:3","fw_v":"2.0"}"#),
];

/// The statements that write [`OLD_DEVICES`] and IMEI:3's history row (literals: the same text
/// on both backends).
fn old_rows() -> Vec<String> {
    let mut rows: Vec<String> = OLD_DEVICES
        .iter()
        .map(|(dev, details)| {
            format!("INSERT INTO devices (dev_id, details, first_seen, last_seen) VALUES ('{dev}', '{details}', 1, 7)")
        })
        .collect();
    let (dev, details) = OLD_DEVICES[2];
    rows.push(format!("INSERT INTO device_history (dev_id, details, seen_at) VALUES ('{dev}', '{details}', 5)"));
    rows
}

/// What 0015 must leave: a history row for IMEI:1, none for IMEI:2, IMEI:3's one.
async fn every_complete_device_has_its_latest_history(s: &dyn Store) {
    let rows = |dev: &'static str| async move { s.device_history(dev, 10).await.expect("q") };
    let first = rows("IMEI:1").await;
    assert_eq!((first.len(), first[0].0, first[0].1.fw_v.as_deref()), (1, 7, Some("1.0")));
    assert!(rows("IMEI:2").await.is_empty(), "DevInfo alone is not a snapshot");
    assert_eq!(rows("IMEI:3").await.len(), 1, "a current history gets no second row");
}

#[tokio::test]
async fn migrating_sqlite_gives_each_complete_device_its_history_row() {
    let (old, _keep) = migrations_before_0015("sqlite").await;
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.expect("connects");
    old.run(&mut c).await.expect("migrates to 0014");
    for sql in old_rows() {
        sqlx::query(&sql).execute(&mut c).await.expect("inserts");
    }
    drop(c);
    let s = SqliteStore::open(&url).await.expect("opens and migrates");
    every_complete_device_has_its_latest_history(&s).await;
}

#[tokio::test]
async fn migrating_postgres_gives_each_complete_device_its_history_row() {
    let (old, _keep) = migrations_before_0015("postgres").await;
    let url = fresh_postgres_database().await;
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.expect("connects");
    old.run(&mut c).await.expect("migrates to 0014");
    for sql in old_rows() {
        sqlx::query(&sql).execute(&mut c).await.expect("inserts");
    }
    drop(c);
    let s = PgStore::open(&url).await.expect("opens and migrates");
    every_complete_device_has_its_latest_history(&s).await;
}

/// A write that lost to another on PostgreSQL (a deadlock, 40P01; a serialization failure,
/// 40001), as the server reports it: worth retrying, so a 503 with Retry-After, not a 500.
#[tokio::test]
async fn on_postgres_a_deadlock_or_a_serialization_failure_is_a_503_to_retry() {
    use axum::response::IntoResponse as _;
    use sqlx::Connection as _;
    let url = fresh_postgres_database().await;
    let (mut a, mut b) = (
        sqlx::PgConnection::connect(&url).await.expect("connection a"),
        sqlx::PgConnection::connect(&url).await.expect("connection b"),
    );
    sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)").execute(&mut a).await.expect("table");
    sqlx::query("INSERT INTO t VALUES (1, 0), (2, 0)").execute(&mut a).await.expect("rows");
    let set = |k: i32| sqlx::query("UPDATE t SET v = v + 1 WHERE k = $1").bind(k);
    let refused = |e: sqlx::Error| {
        let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned());
        let e = crate::error::AppError::Store(StoreError::Db(e));
        (code, e.status(), e.into_response().headers().contains_key(axum::http::header::RETRY_AFTER))
    };
    let unavailable = axum::http::StatusCode::SERVICE_UNAVAILABLE;

    // Each holds one row and asks for the other's: the server ends one of them.
    let (mut ta, mut tb) = (a.begin().await.expect("begin a"), b.begin().await.expect("begin b"));
    set(1).execute(&mut *ta).await.expect("a locks 1");
    set(2).execute(&mut *tb).await.expect("b locks 2");
    let (ra, rb) = tokio::join!(set(2).execute(&mut *ta), set(1).execute(&mut *tb));
    let lost = match (ra, rb) {
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
        other => panic!("no deadlock reported: {other:?}"),
    };
    assert_eq!(refused(lost), (Some("40P01".into()), unavailable, true));
    drop((ta, tb));

    // A repeatable-read transaction writing a row another changed since its snapshot.
    let mut ta = a.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ").await.expect("begin a");
    sqlx::query("SELECT v FROM t WHERE k = 1").fetch_one(&mut *ta).await.expect("a's snapshot");
    set(1).execute(&mut b).await.expect("b writes 1");
    let lost = set(1).execute(&mut *ta).await.expect_err("a's write over a changed row");
    assert_eq!(refused(lost), (Some("40001".into()), unavailable, true));

    // A failed query stays a 500.
    let failed = sqlx::query("INSERT INTO t VALUES (1, 0)").execute(&mut b).await.expect_err("duplicate key");
    assert_eq!(refused(failed).1, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
}
