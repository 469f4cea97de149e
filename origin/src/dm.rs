//! `POST /dm`: the DM server. Decodes, finds or opens the session, lets the core decide,
//! persists, and holds package 4 open while the user chooses.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use portaldm_shared::auth::server::{ClientProved, Verdict};
use portaldm_shared::auth::{self, HmacProof};
use portaldm_shared::binding::BrowserBinding;
use portaldm_shared::catalog::Place;
use portaldm_shared::fumo::{DeliveryKind, FumoDelivery, ResultCode};
use portaldm_shared::media::{self, DmEncoding};
use portaldm_shared::portal::PortalState;
use portaldm_shared::session::continuation::{self, Continuation};
use portaldm_shared::session::hold;
use portaldm_shared::session::opening::{self, Opening};
use portaldm_shared::session::refuse;
use portaldm_shared::session::report::ReportOpening;
use portaldm_shared::session::server::{Admission, HeldAnswer, HeldMessage, Kind, ServerSession, Step};
use portaldm_shared::syncml;
use portaldm_shared::syncml::codes::StatusCode;
use portaldm_shared::syncml::{Chal, SyncMl};
use portaldm_shared::text::Quoted;
use tokio::time::{Instant, timeout_at};

use crate::clock::{OsRandom, now_ms};
use crate::error::AppError;
use crate::pending::{Parkable, Parked};
use crate::state::AppState;
use crate::store::{DeviceAccount, DmRecord, KnownDevice, PortalRecord, RecordOutcome};

/// The handler, for `/dm` and for the `RespURI` paths (`/dm/<secret>`) sessions continue on.
pub async fn post_dm(
    State(st): State<AppState>,
    parkable: Option<Extension<Parkable>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let start = Instant::now();
    let presented = continuation::in_path(uri.path()).map(str::to_owned);
    drop(uri);
    // Everything up to a hold runs in its own allocation, freed before the hold: a message
    // held for minutes keeps only `Held` and the wait (BENCHMARKS.md, held sessions).
    let held = match Box::pin(answer_dm(&st, presented, headers, body)).await {
        Ok(Answer::Now(response)) => {
            crate::metrics::dm_message(start.elapsed(), false);
            return Ok(response);
        }
        Ok(Answer::Held(held)) => held,
        Err(e) => {
            crate::metrics::dm_message(start.elapsed(), false);
            return Err(e);
        }
    };
    let busy = start.elapsed();
    let Held { point, seal, request_type } = held;
    // The router's deadline, which sees only the part above, bounds each step below (its own
    // timer while it runs, not one kept through the wait): a store or blob read that stalls
    // gets the origin's own 504, before the edge gives up.
    let deadline = start + crate::app::request_timeout(&st.cfg);
    let finish = async move {
        let Answered { bytes, took } = wait_for_choice(point, &st, &seal, deadline).await?;
        // What the origin itself spent, without the time the message waited for the user.
        crate::metrics::dm_message(busy + took, true);
        let hmac = seal
            .sealed
            .as_deref()
            .and_then(|(device, _, proved)| device.auth.hmac(proved, &device.account, &bytes.bytes));
        Ok(dm_response(&request_type, bytes, hmac))
    };
    if parkable.is_none() {
        return finish.await;
    }
    // The connection loop waits for the answer, outside the router's future and this one,
    // and outside the request's span, which would be kept for minutes (`answer` logs).
    // `map`, not an `async` block awaiting `finish`: that would keep `finish` twice, once as
    // the block's capture and once as the future it awaits (BENCHMARKS.md, held sessions).
    Ok(Parked::response(Box::pin(finish.map(IntoResponse::into_response))))
}

/// What a DM message gets: its answer now, or a hold for the user's choice.
enum Answer {
    Now(Response),
    Held(Held),
}

/// Takes the request by value: its header values and body are slices of hyper's read buffer,
/// and a message held for minutes while the user chooses must not keep that buffer alive.
async fn answer_dm(
    st: &AppState,
    presented: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, AppError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = text(header::CONTENT_TYPE.as_str()).unwrap_or_default();
    let hmac_header = text(auth::HMAC_HEADER);
    // The handset's address as the edge saw it (only requests with its credential get here).
    let client = text(portaldm_shared::edgeauth::CLIENT_HEADER).unwrap_or_default();
    drop(headers);
    let enc = media::dm_encoding(&content_type).ok_or(AppError::UnsupportedMedia(
        "expected application/vnd.syncml.dm+xml or application/vnd.syncml.dm+wbxml",
    ))?;
    let msg = match syncml::decode(enc, &body) {
        Ok(msg) => msg,
        Err(e) => {
            // A header that parses gets a SyncML answer (505 for another DM version), unsealed.
            let hdr = syncml::decode_header(enc, &body).map_err(|_| AppError::BadRequest(e.to_string()))?;
            tracing::info!(dev_id = %Quoted(&hdr.source), error = %e, "DM message body refused");
            let reply = portaldm_shared::session::refuse_undecodable(&hdr, &st.cfg.dm_uri);
            let bytes = syncml::encode(enc, &reply).map_err(|e| AppError::Internal(e.into()))?;
            return Ok(Answer::Now(dm_response(&content_type, Encoded { bytes, enc }, None)));
        }
    };
    let presented = presented.as_deref();
    let peer = Peer { hmac: hmac_header.as_deref(), presented, client: &client };
    Ok(match authenticate_and_exchange(st, enc, &msg, peer, body).await? {
        Exchanged::Reply(answer, hmac) => Answer::Now(dm_response(&content_type, answer, hmac)),
        Exchanged::Hold(point, seal) => Answer::Held(Held { point, seal, request_type: content_type.into() }),
    })
}

/// What the transport says about a DM message besides its body.
#[derive(Clone, Copy)]
struct Peer<'a> {
    /// The `x-syncml-hmac` header, if any.
    hmac: Option<&'a str>,
    /// The secret of the path it was posted to (`/dm/<secret>`), if any.
    presented: Option<&'a str>,
    /// The handset's address, as the edge forwarded it.
    client: &'a str,
}

/// An encoded answer and the encoding it is in (the client's, or its session's: a device
/// profile may name another).
struct Encoded {
    bytes: Vec<u8>,
    enc: DmEncoding,
}

/// The HTTP answer to a DM message of type `request_type`: the client's own type family in
/// the answer's encoding, and the HMAC if sealed so.
fn dm_response(request_type: &str, answer: Encoded, hmac: Option<String>) -> Response {
    let answer_type = media::answer_type(request_type, answer.enc);
    let mut response = ([(header::CONTENT_TYPE, answer_type)], answer.bytes).into_response();
    if let Some(v) = hmac.and_then(|h| HeaderValue::from_str(&h).ok()) {
        response.headers_mut().insert(auth::HMAC_HEADER, v);
    }
    response
}

/// An exchange's end: the answer (and its `x-syncml-hmac` value), or a hold with the sealing
/// its answer will need.
enum Exchanged {
    Reply(Encoded, Option<String>),
    Hold(Box<HoldPoint>, Seal),
}

/// Checks the device's DM account (if it has one, or policy demands one), then runs the
/// exchange.
async fn authenticate_and_exchange(
    st: &AppState,
    enc: DmEncoding,
    msg: &SyncMl,
    peer: Peer<'_>,
    body: Bytes,
) -> Result<Exchanged, AppError> {
    let Peer { hmac: hmac_header, presented, client } = peer;
    // Every message that proves no account draws on its address's limit; a miss on its
    // DevId's too (`unauth_limit`).
    let unproven = |miss: bool| {
        let miss_of = miss.then_some(msg.hdr.source.as_str());
        st.unauth.admit(client, miss_of, crate::clock::now()).map_err(|l| AppError::TooMany(l.retry_after_secs))
    };
    if let Err(e) = portaldm_shared::session::check_version(&msg.hdr) {
        // Answered in SyncML (505 on the header), before any credential is looked at.
        let x = Exchange { st, enc, sealed: None };
        return Ok(Exchanged::Reply(refusal(&x, msg, e.status(), &e).await?, None));
    }
    // Before the look-up, which reads the session's portal session too (`Stored`).
    let since = st.wake.since_now();
    let found = st.store.dm_lookup(&msg.hdr.source, &msg.hdr.session_id).await?;
    let idle = |rec: &DmRecord| now_ms().saturating_sub(rec.updated_at).max(0) as u64;
    let admission = found.session.as_ref().map_or(Admission::Open, |rec| rec.session.admit(msg, idle(rec), presented));
    if admission == Admission::Stranger {
        unproven(true)?;
        // Answered as a device without an account is, unsealed, and nothing is stored.
        tracing::info!(dev_id = %Quoted(&msg.hdr.source), "DM message for a live session without its secret");
        let scheme = challenge_for(st, msg, found.account.as_ref().map(|a| a.account.scheme)).await?;
        let reply = auth::server::unknown_device(msg, &st.cfg.dm_uri, scheme, &mut OsRandom)
            .map_err(|e| AppError::Internal(e.into()))?;
        return Ok(Exchanged::Reply(Exchange { st, enc, sealed: None }.encode(&reply)?, None));
    }
    let stored = found.session.filter(|_| admission == Admission::Continue).map(|rec| Stored { rec, since });
    let Some(mut device) = found.account else {
        // A later message (not a message 1) that continues no session is a guess.
        unproven(admission != Admission::Continue && msg.hdr.msg_id != "1")?;
        let x = Exchange { st, enc, sealed: None };
        if st.cfg.dm_auth.requires_account() {
            let scheme = challenge_for(st, msg, None).await?;
            let reply = auth::server::unknown_device(msg, &st.cfg.dm_uri, scheme, &mut OsRandom)
                .map_err(|e| AppError::Internal(e.into()))?;
            tracing::info!(dev_id = %Quoted(&msg.hdr.source), "DM message from a device without an account refused");
            return Ok(Exchanged::Reply(x.encode(&reply)?, None));
        }
        drop(body);
        return Ok(match exchange(&x, msg, client, stored, &found.device).await? {
            Flow::Reply(answer) => Exchanged::Reply(answer, None),
            Flow::Hold(point) => {
                let enc = point.session.encoding_for(enc);
                Exchanged::Hold(point, Seal { enc, sealed: None })
            }
        });
    };
    let proof = HmacProof { header: hmac_header, body: &body };
    let verdict = device
        .auth
        .check(
            &device.account,
            msg,
            proof,
            admission == Admission::Continue,
            &st.cfg.dm_uri,
            crate::clock::now(),
            &mut OsRandom,
        )
        .map_err(|e| AppError::Internal(e.into()));
    // Only the credential check reads the raw bytes; the exchange may hold for minutes.
    drop(body);
    let (flow, sealing) = match verdict? {
        Verdict::Refused { reply, error, ended } => {
            tracing::info!(dev_id = %Quoted(&msg.hdr.source), %error, ended, "DM credentials refused");
            // The authentication state is saved below whatever the limit says.
            if let Err(e) = unproven(true) {
                st.store.save_auth_state(&msg.hdr.source, &device.auth, now_ms()).await?;
                return Err(e);
            }
            // Unsealed: the server proves itself only to a client that has proved itself.
            (Exchange { st, enc, sealed: None }.encode(&reply).map(Flow::Reply), None)
        }
        Verdict::Accepted { chal, proved } => {
            let x = Exchange { st, enc, sealed: Some((&device, chal.clone(), proved.clone())) };
            (exchange(&x, msg, client, stored, &found.device).await, Some((chal, proved)))
        }
    };
    // Kept whatever happened next (and before any hold): the nonce handed out is the one the
    // device will use.
    st.store.save_auth_state(&msg.hdr.source, &device.auth, now_ms()).await?;
    Ok(match (flow?, sealing) {
        (Flow::Reply(answer), sealing) => {
            let hmac = sealing.and_then(|(_, proved)| device.auth.hmac(&proved, &device.account, &answer.bytes));
            Exchanged::Reply(answer, hmac)
        }
        (Flow::Hold(point), Some((chal, proved))) => {
            let enc = point.session.encoding_for(enc);
            Exchanged::Hold(point, Seal { enc, sealed: Some(Box::new((device, chal, proved))) })
        }
        (Flow::Hold(point), None) => {
            let enc = point.session.encoding_for(enc);
            Exchanged::Hold(point, Seal { enc, sealed: None })
        }
    })
}

/// One request's context: the state, the wire encoding the answer must use, and the device
/// account that seals it (the server's proof and the client's next nonce).
struct Exchange<'a> {
    st: &'a AppState,
    enc: DmEncoding,
    sealed: Option<(&'a DeviceAccount, Option<Chal>, ClientProved)>,
}

impl Exchange<'_> {
    /// `msg` sealed and encoded as the client's message was.
    fn encode(&self, msg: &SyncMl) -> Result<Encoded, AppError> {
        self.encode_in(self.enc, msg)
    }

    /// `msg` sealed and encoded in `enc` (a session's answers go out in its own encoding).
    fn encode_in(&self, enc: DmEncoding, msg: &SyncMl) -> Result<Encoded, AppError> {
        let bytes = match self.sealed.as_ref() {
            Some((device, chal, proved)) => {
                let mut msg = msg.clone();
                auth::server::attach(&mut msg, chal.clone());
                device.auth.seal(proved, &device.account, &mut msg);
                syncml::encode(enc, &msg)
            }
            None => syncml::encode(enc, msg),
        };
        Ok(Encoded { bytes: bytes.map_err(|e| AppError::Internal(e.into()))?, enc })
    }
}

/// An `Exchange` kept across a hold: the encoding and the device account that seals the answer.
struct Seal {
    enc: DmEncoding,
    sealed: Option<Box<(DeviceAccount, Option<Chal>, ClientProved)>>,
}

/// A session's step: its answer, or a hold for the user's choice.
enum Flow {
    Reply(Encoded),
    Hold(Box<HoldPoint>),
}

/// Where a hold starts: the session in package 4, registered for its portal session's
/// changes, and the portal session as read after registering (so a choice made in between
/// is not missed).
struct HoldPoint {
    /// Boxed: freed while the message waits (`wait_for_choice`).
    session: Box<ServerSession>,
    /// The version of its stored row, as read for this message: what its writes land on.
    version: i64,
    wake: crate::wake::Waiting,
    /// The portal record read as the hold began (boxed: freed at the first decision, and
    /// a record is a third of the hold point's size).
    portal: Option<Box<Option<PortalRecord>>>,
}

/// A package 4 held open while the user chooses: what answering it needs, and no more.
struct Held {
    point: Box<HoldPoint>,
    seal: Seal,
    /// The client's `Content-Type`, whose family the answer's type keeps.
    request_type: Box<str>,
}

/// Answers `msg`: continuing `stored` (the session it was admitted to, as read with the
/// device's account), else opening a session.
async fn exchange(
    x: &Exchange<'_>,
    msg: &SyncMl,
    client: &str,
    stored: Option<Stored>,
    known: &KnownDevice,
) -> Result<Flow, AppError> {
    if let Some(Stored { rec, since }) = stored {
        let portal = rec.portal.map(|p| (p, since));
        return continue_session(x, rec.session, rec.version, rec.last_reply, portal, msg, known).await;
    }
    open_session(x, msg, client, known).await.map(Flow::Reply)
}

async fn refusal(
    x: &Exchange<'_>,
    msg: &SyncMl,
    code: StatusCode,
    why: &(dyn std::fmt::Display + Sync),
) -> Result<Encoded, AppError> {
    tracing::info!(dev_id = %Quoted(&msg.hdr.source), code = code.0, %why, "DM message refused");
    if code == StatusCode::MISSING_CREDENTIALS && x.sealed.is_none() {
        // Credentials are what is missing: a challenge, so the client has something to act on
        // (a fresh nonce, kept nowhere, as for a device without an account).
        let st = x.st;
        // Unsealed: no accepted account, so the one the message names (if any) is not known here.
        let scheme = challenge_for(st, msg, None).await?;
        let reply = auth::server::unknown_device(msg, &st.cfg.dm_uri, scheme, &mut OsRandom)
            .map_err(|e| AppError::Internal(e.into()))?;
        return x.encode(&reply);
    }
    x.encode(&refuse(msg, &x.st.cfg.dm_uri, code))
}

/// Opens the session `msg` asks for; `client` is the handset's address as the edge saw it.
/// (`known`: the device's registry row as the look-up read it.)
async fn open_session(x: &Exchange<'_>, msg: &SyncMl, client: &str, known: &KnownDevice) -> Result<Encoded, AppError> {
    let st = x.st;
    let now = now_ms();
    let token = match opening::open(msg) {
        Opening::Portal { token } => token,
        Opening::StockPortal(_) if st.cfg.stock_binding => return open_stock(x, msg, client).await,
        Opening::StockPortal(_) => {
            return refusal(x, msg, StatusCode::NOT_FOUND, &"no session token (stock clients are not served here)")
                .await;
        }
        Opening::Report => return open_report(x, msg, known).await,
        Opening::Refuse(code, why) => return refusal(x, msg, code, &why).await,
    };
    let verified = match st.verifier.verify(token, crate::clock::now()) {
        Ok(v) => v,
        Err(e) => return refusal(x, msg, StatusCode::UNAUTHORIZED, &e).await,
    };
    let profile = profile_of(st, msg).await?;
    let (session, pkg2) =
        match ServerSession::accept_portal(msg, &verified, &st.cfg.dm_uri, x.enc, fresh()?, profile.as_ref()) {
            Ok(opened) => opened,
            Err(e) => return refusal(x, msg, e.status(), &e).await,
        };
    let claims = verified.claims();
    if st.cfg.dm_same_network && !claims.same_network(client) {
        return refusal(
            x,
            msg,
            StatusCode::UNAUTHORIZED,
            &"the phone is not on the network the trigger was requested from",
        )
        .await;
    }
    let expires_at = now + (st.cfg.portal_ttl_secs as i64) * 1000;
    let mut portal = PortalRecord::new(
        claims.sid.clone(),
        claims.bnd.clone(),
        claims.nsid,
        &session.device,
        PortalState::Connecting,
        expires_at,
    );
    // The operator is whoever's edge minted the trigger; the country, where it saw the browser.
    portal.place = Place { country: claims.ctry.clone(), operator: Some(claims.iss.clone()) };
    let bytes = x.encode_in(session.encoding_for(x.enc), &pkg2)?;
    // Single use, checked after the cheap checks so garbage cannot burn a token; one
    // transaction, so a crash cannot burn it without opening the session.
    let jti_expires = (claims.exp as i64) * 1000;
    if !st.store.open_portal((&claims.jti, jti_expires), &portal, &session, &bytes.bytes, known, now).await? {
        return refusal(x, msg, StatusCode::UNAUTHORIZED, &"session token was already used").await;
    }
    tracing::info!(dev_id = %Quoted(&session.device.dev_id), sid = %claims.sid, "portal DM session opened");
    Ok(bytes)
}

/// Opens a stock client's portal session (no token): binds it to the one live trigger its
/// SessionID names, waiting for the trigger's browser to show it (`shared::stock`).
async fn open_stock(x: &Exchange<'_>, msg: &SyncMl, client: &str) -> Result<Encoded, AppError> {
    use portaldm_shared::stock::{Binder, Binding, Policy, Poll};
    let st = x.st;
    let policy = Policy {
        same_network: st.cfg.dm_same_network,
        wait_ms: st.cfg.stock_wait_ms,
        settle_ms: st.cfg.stock_settle_ms,
    };
    // Each waiting session polls the store; a flood of them (DevIds are free, and an account's
    // sessions draw on no limit) must not become a flood of reads.
    // A package 1 that could not open a session is refused before it costs a wait.
    if let Err(e) = ServerSession::check_stock_opening(msg) {
        return refusal(x, msg, e.status(), &e).await;
    }
    let Some(_waiting) = Waiting::enter(st.cfg.stock_max_waiting) else {
        tracing::info!(dev_id = %Quoted(&msg.hdr.source), "stock session refused: too many waiting");
        return Err(AppError::TooMany(st.cfg.stock_wait_ms.div_ceil(1000).max(1)));
    };
    let mut binder = Binder::new(&msg.hdr.session_id, client, policy, crate::clock::now());
    let binding = loop {
        let live = st.store.live_triggers(binder.spellings().ids(), now_ms()).await?;
        match binder.poll(&live, crate::clock::now()) {
            Poll::Done(b) => break b,
            Poll::Retry(at) => {
                let wait = at.0.saturating_sub(crate::clock::now().0);
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
        }
    };
    crate::metrics::stock_binding(match &binding {
        Binding::Bound(_) => "bound",
        Binding::NoTrigger => "no_trigger",
        Binding::OtherNetwork => "other_network",
        Binding::Clash(_) => "clash",
    });
    let trigger = match binding {
        Binding::Bound(t) => t,
        Binding::NoTrigger | Binding::OtherNetwork => {
            // A guess costs the DevId a miss, as a wrong secret does; and a trigger from another
            // network is answered as no trigger, so nobody learns which ids are live.
            st.unauth
                .admit("", Some(&msg.hdr.source), crate::clock::now())
                .map_err(|l| AppError::TooMany(l.retry_after_secs))?;
            let why = match binding {
                Binding::OtherNetwork => "no portal session for this trigger (its trigger came from another network)",
                _ => "no portal session for this trigger (no live trigger has this SessionID)",
            };
            return refusal(x, msg, StatusCode::NOT_FOUND, &why).await;
        }
        Binding::Clash(all) => {
            // Never a guess: both browsers are told to start again.
            let sids: Vec<String> = all.into_iter().map(|t| t.sid).collect();
            st.store.end_waiting(&sids, now_ms()).await?;
            return refusal(
                x,
                msg,
                StatusCode::NOT_FOUND,
                &"two live triggers have this SessionID; both sessions ended",
            )
            .await;
        }
    };
    let profile = profile_of(st, msg).await?;
    let (session, pkg2) = match ServerSession::accept_stock(
        msg,
        trigger.sid.clone(),
        &st.cfg.dm_uri,
        x.enc,
        fresh()?,
        profile.as_ref(),
    ) {
        Ok(opened) => opened,
        Err(e) => return refusal(x, msg, e.status(), &e).await,
    };
    let bytes = x.encode_in(session.encoding_for(x.enc), &pkg2)?;
    let now = now_ms();
    let expires_at = now + (st.cfg.portal_ttl_secs as i64) * 1000;
    if !st.store.bind_stock(&trigger, &session, &bytes.bytes, expires_at, now).await? {
        return refusal(x, msg, StatusCode::NOT_FOUND, &"the trigger was used meanwhile").await;
    }
    tracing::info!(dev_id = %Quoted(&session.device.dev_id), sid = %trigger.sid, "stock DM session bound to its trigger");
    Ok(bytes)
}

/// Stock sessions waiting for their trigger in this process.
static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One stock session's place among those waiting for their trigger, given up on drop.
struct Waiting;

impl Waiting {
    /// A place, if fewer than `max` hold one.
    fn enter(max: usize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        WAITING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok().map(|_| Waiting)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Opens a client-initiated session: results to record (and an Update to order), or a check-in.
async fn open_report(x: &Exchange<'_>, msg: &SyncMl, known: &KnownDevice) -> Result<Encoded, AppError> {
    let st = x.st;
    let now = now_ms();
    // The device's credentials were accepted for this message if, and only if, it is sealed.
    let proved = x.sealed.as_ref().map(|(_, _, proved)| proved);
    let opening = match ReportOpening::read(msg, proved) {
        Ok(o) => o,
        Err(e) => return refusal(x, msg, e.status(), &e).await,
    };
    if opening.results.is_empty() {
        // Only an authenticated device gets here (`ReportOpening::read`).
        st.store.upsert_device(&opening.device, known, now).await?;
        // An authenticated device checking in: read its DevDetail in a short session.
        let (session, pkg2) = match ServerSession::accept_check_in(msg, &st.cfg.dm_uri, x.enc, fresh()?) {
            Ok(opened) => opened,
            Err(e) => return refusal(x, msg, e.status(), &e).await,
        };
        let bytes = x.encode(&pkg2)?;
        st.store.save_dm_session(&session, &bytes.bytes, now).await?;
        tracing::info!(dev_id = %Quoted(&session.device.dev_id), "check-in session opened");
        return Ok(bytes);
    }
    let mut verdicts = Vec::with_capacity(opening.results.len());
    let mut order = None;
    // A report proves itself by its correlators (or the device's credentials): until one
    // names a delivery to this device, nothing it says is written.
    let mut verified = proved.is_some();
    // Whether the device's details were written with a result already.
    let mut written = false;
    for r in &opening.results {
        if let Some(next) = r.update_order() {
            // The first of two steps is done; not an outcome. Order the Update while the
            // delivery still waits for its outcome (again, if the device asks again).
            let awaits = st.store.awaits_result(&opening.device.dev_id, &r.correlator).await?;
            tracing::info!(dev_id = %Quoted(&opening.device.dev_id), correlator = %Quoted(&r.correlator), ?awaits, "download done");
            verified |= awaits.is_some();
            verdicts.push(if awaits.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND });
            if awaits == Some(true) && order.is_none() {
                order = Some(next);
            }
            continue;
        }
        // The device's details go with the first result that names a delivery to it.
        let device = (!verified).then_some((&opening.device, known));
        let outcome = st.store.record_result(&opening.device.dev_id, &r.correlator, r.code, device, now).await?;
        written |= device.is_some() && outcome != RecordOutcome::Unknown;
        if outcome == RecordOutcome::Recorded {
            crate::metrics::result(r.code.0);
        }
        tracing::info!(dev_id = %Quoted(&opening.device.dev_id), correlator = %Quoted(&r.correlator), code = r.code.0, ?outcome, "result");
        verified |= outcome != RecordOutcome::Unknown;
        verdicts.push(match outcome {
            RecordOutcome::Recorded | RecordOutcome::Duplicate => StatusCode::OK,
            RecordOutcome::Unknown => StatusCode::NOT_FOUND,
        });
    }
    if verified && !written {
        st.store.upsert_device(&opening.device, known, now).await?;
    }
    if let Some(order) = order {
        let (session, reply) = opening.reply_ordering_update(msg, &st.cfg.dm_uri, &verdicts, &order, x.enc, fresh()?);
        let bytes = x.encode(&reply)?;
        st.store.save_dm_session(&session, &bytes.bytes, now).await?;
        tracing::info!(dev_id = %Quoted(&opening.device.dev_id), correlator = %Quoted(&order.correlator), "update ordered");
        return Ok(bytes);
    }
    if proved.is_none() {
        // Unsealed, so nothing to prove again; and an unverified report writes nothing.
        return x.encode(&opening.reply(msg, &st.cfg.dm_uri, &verdicts));
    }
    let (session, reply) = opening.reply_closing(msg, &st.cfg.dm_uri, &verdicts, x.enc, fresh()?);
    let bytes = x.encode(&reply)?;
    st.store.save_dm_session(&session, &bytes.bytes, now).await?;
    Ok(bytes)
}

/// A stored session a message continues, and when it was read in the wake-up registry's
/// history: its portal session, read in the same statement, stands for the state at a hold
/// only if that session did not change since.
struct Stored {
    rec: DmRecord,
    since: crate::wake::Since,
}

/// Continues `session` (its stored row's `version`); `portal` is its portal session as read
/// with it, and when.
async fn continue_session(
    x: &Exchange<'_>,
    mut session: ServerSession,
    version: i64,
    last_reply: Option<Vec<u8>>,
    portal: Option<(PortalRecord, crate::wake::Since)>,
    msg: &SyncMl,
    known: &KnownDevice,
) -> Result<Flow, AppError> {
    let st = x.st;
    let step = match session.handle(msg) {
        Ok(step) => step,
        Err(e) => return refusal(x, msg, e.status(), &e).await.map(Flow::Reply),
    };
    // Whether the device's details are written with the session (one transaction).
    let mut with_device = false;
    let reply = match step {
        Step::Repeat => {
            // In the encoding it first went out in, whatever this request's is.
            return last_reply
                .map(|bytes| Flow::Reply(Encoded { enc: DmEncoding::of_own_message(&bytes), bytes }))
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("repeat with no stored answer")));
        }
        Step::Reply(m) => m,
        Step::AwaitChoice => {
            // Registered before the state is trusted, so a choice made in between is not
            // missed: the state read with the session stands if no change came since.
            let (wake, portal) = match portal {
                Some((known, since)) => match st.wake.register_since(&session.portal_sid, since) {
                    (wake, false) if known.sid == session.portal_sid => (wake, Some(known)),
                    (wake, _) => (wake, None),
                },
                None => (st.wake.register(&session.portal_sid), None),
            };
            let mut portal = match portal {
                Some(known) => Some(known),
                None => st.store.portal(&session.portal_sid).await?,
            };
            // Whether the hold may start from what was read (one read of the portal session less).
            let mut current = true;
            if let Some(p) = portal.as_mut().filter(|p| p.state == PortalState::Connecting) {
                // Before any offer is listed, the browser's user confirms the phone is theirs;
                // the phone is seen now (one transaction with its details).
                if st.store.phone_identified(&session.portal_sid, &session.device, known, now_ms()).await? {
                    (p.state, p.device) = (PortalState::Identified, session.device.clone());
                    let packages = st.store.packages().await?;
                    let offers = portaldm_shared::catalog::offers(&packages, &session.device, &p.place, &[]);
                    crate::metrics::offers_shown(offers.len());
                } else {
                    // It moved on since it was read: the hold reads it afresh.
                    current = false;
                }
            } else if portal.as_ref().is_some_and(|p| p.state.is_undecided()) {
                // The phone is here again (its Alert 1222 after a held package 4).
                st.store.phone_seen(&session.portal_sid, now_ms()).await?;
            }
            let portal = current.then(|| Box::new(portal));
            return Ok(Flow::Hold(Box::new(HoldPoint { session: Box::new(session), version, wake, portal })));
        }
        Step::UpdateRequested => {
            st.store.upsert_device(&session.device, known, now_ms()).await?;
            let internal = |e: portaldm_shared::session::ProtocolError| AppError::Internal(e.into());
            match requested_delivery(st, &session).await? {
                Some(d) => {
                    let data = inline_bytes(st, &d).await;
                    session.poll_deliver(&d, data.as_deref()).map_err(internal)?
                }
                None => session.poll_end().map_err(internal)?,
            }
        }
        Step::CheckedIn(reply) => {
            // The details are written with the session, below.
            with_device = true;
            tracing::info!(dev_id = %Quoted(&session.device.dev_id), "device checked in");
            reply
        }
        Step::Delivered { correlator, kind, status, reply } => {
            let state = if status.0 < 300 { PortalState::Delivered } else { PortalState::Failed };
            st.store.delivered(&correlator, status.0, state, now_ms()).await?;
            // Settings were set (or not) in this session: the Atomic's status is the result. A
            // refused delivery (a device without the node, say) or Update order is the outcome
            // too: no result alert will follow, nothing will be installed.
            let refused = status.0 >= 300;
            if kind == DeliveryKind::Settings || refused {
                let code = match (kind, refused) {
                    (DeliveryKind::Settings, false) => ResultCode::SUCCESS,
                    (DeliveryKind::Settings, true) => ResultCode::UPDATE_FAILED,
                    _ if session.kind == Kind::Report => ResultCode::UPDATE_FAILED,
                    _ => ResultCode::of_refused_delivery(status),
                };
                let outcome = st.store.record_result(&session.device.dev_id, &correlator, code, None, now_ms()).await?;
                if outcome == RecordOutcome::Recorded {
                    crate::metrics::result(code.0);
                }
                tracing::info!(dev_id = %Quoted(&session.device.dev_id), correlator = %Quoted(&correlator), code = code.0, "result in the session");
            }
            reply
        }
    };
    let bytes = x.encode_in(session.encoding_for(x.enc), &reply)?;
    if with_device {
        st.store.save_dm_session_and_device(&session, &bytes.bytes, &session.device, known, now_ms()).await?;
    } else if !st.store.save_if_unchanged(&session, Some(&bytes.bytes), version, now_ms()).await? {
        // Another message was saved since this one read the session: its answer stands. A copy
        // of this very message gets that answer too; anything else is refused.
        let stored = st.store.dm_lookup(&session.device.dev_id, &session.session_id).await?.session;
        return match stored.filter(|rec| rec.session.answered_copy_of(&session, msg)).and_then(|rec| rec.last_reply) {
            Some(bytes) => Ok(Flow::Reply(Encoded { enc: DmEncoding::of_own_message(&bytes), bytes })),
            None => Err(AppError::Conflict("the DM session was written by another message meanwhile")),
        };
    }
    Ok(Flow::Reply(bytes))
}

/// A held message's answer, saved with its session (or the one another copy got), and what
/// the step that made it took.
struct Answered {
    bytes: Encoded,
    took: std::time::Duration,
}

/// Where a look at a held message leaves it.
enum Look {
    /// Answered.
    Answered(Answered),
    /// Still waiting for the user.
    Waiting,
    /// Its session was written by someone else since it was read (another copy of the
    /// message, its next message): look again at once.
    Again,
}

/// Waits up to the hold for the user's choice and answers package 4. The first decision is
/// made from the hold point. A message that then waits keeps its session in the store, not in
/// memory (`Store::save_if_unchanged` without an answer): only [`HeldInStore`] and the wait stay here, and each
/// look after a wake-up runs in its own allocation, freed before the next wait. Every write
/// lands only on the row it read (`version`); one that finds the row changed looks again.
/// (An `async` block, not an `async fn`, which would keep each argument twice.)
#[expect(clippy::manual_async_fn, reason = "an async fn keeps its arguments twice (above)")]
fn wait_for_choice<'a>(
    point: Box<HoldPoint>,
    st: &'a AppState,
    seal: &'a Seal,
    deadline: Instant,
) -> impl Future<Output = Result<Answered, AppError>> + Send + 'a {
    async move {
        // A flag, not the `Look`, across the wait: what a waiting message keeps is counted.
        let (parked, mut again) = match by(deadline, Box::pin(first_decision(point, st, seal, deadline))).await? {
            Ok(answered) => return Ok(answered),
            Err((parked, look)) => (parked, matches!(look, Look::Again)),
        };
        loop {
            let woken = again || timeout_at(parked.deadline, parked.wake.changed()).await.is_ok();
            if Instant::now() >= deadline {
                return Err(AppError::Late(LATE));
            }
            match by(deadline, Box::pin(read_back(st, &parked, woken, seal))).await? {
                Look::Answered(answered) => return Ok(answered),
                Look::Waiting => again = false,
                Look::Again => again = true,
            }
        }
    }
}

/// What a held message that misses the request's deadline is told (504).
const LATE: &str = "held message not answered within the request deadline";

/// `step`, unless the request's `deadline` passes first.
async fn by<T>(deadline: Instant, step: impl Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    timeout_at(deadline, step).await.unwrap_or(Err(AppError::Late(LATE)))
}

/// A held message waiting, its session in the store.
struct HeldInStore {
    /// The session's DevId and SessionID, to read it back: one allocation, split at `split`.
    key: Box<str>,
    split: usize,
    held: HeldMessage,
    wake: crate::wake::Waiting,
    /// The hold's end.
    deadline: Instant,
}

/// Package 4 answered from the hold point, or the message parked to wait for the user (and
/// whether to look again at once: its session was written meanwhile).
async fn first_decision(
    point: Box<HoldPoint>,
    st: &AppState,
    seal: &Seal,
    deadline: Instant,
) -> Result<Result<Answered, (HeldInStore, Look)>, AppError> {
    let start = Instant::now();
    let HoldPoint { mut session, version, wake, portal } = *point;
    let held = session.held_message().ok_or_else(|| AppError::Internal(anyhow::anyhow!("a hold with nothing held")))?;
    // The device's profile may hold it shorter (its client times out sooner), and the hold
    // leaves time to answer within the request's deadline.
    let hold = session.hold_secs.map_or(st.cfg.hold_secs, |h| h.min(st.cfg.hold_secs));
    let hold = hold::hold_within(std::time::Duration::from_secs(hold), deadline.saturating_duration_since(start));
    let until = start + hold;
    let reply = match Box::pin(decide(st, &mut session, portal.map(|known| *known))).await? {
        Some(reply) => Some(reply),
        None if Instant::now() >= until => Some(session.poll_hold().map_err(protocol)?),
        None => None,
    };
    let look = match reply {
        Some(reply) => match answer(st, seal, &session, &reply, version).await? {
            Some(bytes) => return Ok(Ok(Answered { bytes, took: start.elapsed() })),
            None => Look::Again,
        },
        None if st.store.save_if_unchanged(&session, None, version, now_ms()).await? => Look::Waiting,
        None => Look::Again,
    };
    let (key, split) =
        ([session.device.dev_id.as_str(), &session.session_id].concat().into(), session.device.dev_id.len());
    Ok(Err((HeldInStore { key, split, held, wake, deadline: until }, look)))
}

/// The parked message's session read back after a wake-up (`woken`) or at the hold's end, and
/// package 4 answered if it is decided (at the hold's end it is: the hold's own answer).
async fn read_back(st: &AppState, parked: &HeldInStore, woken: bool, seal: &Seal) -> Result<Look, AppError> {
    let start = Instant::now();
    let (dev_id, session_id) = parked.key.split_at(parked.split);
    let Some(rec) = st.store.dm_lookup(dev_id, session_id).await?.session else {
        return Err(AppError::Conflict("the held message's DM session is gone"));
    };
    let DmRecord { session, last_reply, portal, version, .. } = rec;
    let mut session = Box::new(session);
    match session.held_answer(&parked.held) {
        HeldAnswer::Owed => {}
        HeldAnswer::Answered => {
            let bytes = last_reply.ok_or_else(|| AppError::Internal(anyhow::anyhow!("answered, not stored")))?;
            tracing::info!(sid = %Quoted(&session.portal_sid), "held message answered as its other copy was");
            let bytes = Encoded { enc: DmEncoding::of_own_message(&bytes), bytes };
            return Ok(Look::Answered(Answered { bytes, took: start.elapsed() }));
        }
        HeldAnswer::Gone => return Err(AppError::Conflict("the held message's DM session has moved on")),
    }
    // The portal session as read with it, unless it did not read (then `decide` reads it): at
    // the hold's end too, so that a choice made just then is delivered, not held over.
    let reply = match Box::pin(decide(st, &mut session, portal.map(Some))).await? {
        Some(reply) => reply,
        // Past the hold's end, a wake-up (or a look again) gets the hold's answer too.
        None if woken && Instant::now() < parked.deadline => return Ok(Look::Waiting),
        None => session.poll_hold().map_err(protocol)?,
    };
    Ok(match answer(st, seal, &session, &reply, version).await? {
        Some(bytes) => Look::Answered(Answered { bytes, took: start.elapsed() }),
        None => Look::Again,
    })
}

/// `reply`, sealed and encoded, saved with `session` over the row of `version`; `None` when
/// that row was written meanwhile.
async fn answer(
    st: &AppState,
    seal: &Seal,
    session: &ServerSession,
    reply: &SyncMl,
    version: i64,
) -> Result<Option<Encoded>, AppError> {
    let sealed = seal.sealed.as_deref().map(|(device, chal, proved)| (device, chal.clone(), proved.clone()));
    let bytes = Exchange { st, enc: seal.enc, sealed }.encode(reply)?;
    if !st.store.save_if_unchanged(session, Some(&bytes.bytes), version, now_ms()).await? {
        return Ok(None);
    }
    tracing::info!(sid = %Quoted(&session.portal_sid), "held message answered");
    Ok(Some(bytes))
}

/// The profile of the device opening a portal session with `msg` (by its DevInfo), if any.
async fn profile_of(st: &AppState, msg: &SyncMl) -> Result<Option<portaldm_shared::profile::DeviceProfile>, AppError> {
    let device = ServerSession::devinfo_of(msg);
    if device.model.is_none() {
        // No model, no profile fits: no read.
        return Ok(None);
    }
    let profiles = st.store.profiles_to_match().await?;
    Ok(portaldm_shared::profile::matching(&profiles, &device).cloned())
}

/// The scheme the sender of `msg` is challenged in (`shared::profile::challenge_scheme`):
/// `account` is its account's scheme, if it has one; the profile is read only when it counts.
async fn challenge_for(
    st: &AppState,
    msg: &SyncMl,
    account: Option<portaldm_shared::auth::Scheme>,
) -> Result<portaldm_shared::auth::Scheme, AppError> {
    let required = st.cfg.dm_auth.requires_account();
    let profile = if account.is_none() && !required { profile_of(st, msg).await? } else { None };
    Ok(portaldm_shared::profile::challenge_scheme(profile.as_ref(), account, required, st.cfg.dm_auth_challenge))
}

/// A new session's continuation secret.
fn fresh() -> Result<Continuation, AppError> {
    Continuation::generate(&mut OsRandom).map_err(|e| AppError::Internal(e.into()))
}

fn protocol(e: portaldm_shared::session::ProtocolError) -> AppError {
    AppError::Internal(e.into())
}

/// Package 4 from the portal session's state (`known`, or read now), or `None` while the user
/// is still choosing.
async fn decide(
    st: &AppState,
    session: &mut ServerSession,
    known: Option<Option<PortalRecord>>,
) -> Result<Option<SyncMl>, AppError> {
    let mut portal = match known {
        Some(read) => read,
        None => st.store.portal(&session.portal_sid).await?,
    };
    let now = now_ms();
    // The session ran out while undecided; a choice that landed meanwhile still goes.
    if let Some(p) = portal.as_ref().filter(|p| p.state.lapsed(now, p.expires_at))
        && !st.store.end_undecided(&p.sid, &session.device, now).await?
    {
        portal = st.store.portal(&session.portal_sid).await?;
    }
    let Some(portal) = portal else {
        return session.poll_end().map(Some).map_err(protocol);
    };
    let reply = match portal.state.at(now, portal.expires_at) {
        PortalState::Identified | PortalState::Choosing => return Ok(None),
        PortalState::Selected => match &portal.delivery {
            Some(d) => {
                let data = inline_bytes(st, d).await;
                session.poll_deliver(d, data.as_deref())
            }
            None => return Err(AppError::Internal(anyhow::anyhow!("selected without a delivery"))),
        },
        _ => session.poll_end(),
    };
    reply.map(Some).map_err(protocol)
}

/// The package bytes to offer for inline delivery, if the package is small enough. A blob
/// that cannot be read is delivered by URL instead (the download then reports the problem).
async fn inline_bytes(st: &AppState, d: &portaldm_shared::fumo::FumoDelivery) -> Option<Vec<u8>> {
    // Only FUMO has an inline form (`Update/PkgData`); SCOMO always downloads, and so does a
    // device's own FUMO node (found with DownloadAndUpdate).
    if d.kind != portaldm_shared::fumo::DeliveryKind::Firmware
        || d.device_root.is_some()
        || d.size > st.cfg.inline_max_bytes
        || !portaldm_shared::cdn::is_blob_id(&d.sha256)
    {
        return None;
    }
    let max = usize::try_from(st.cfg.inline_max_bytes).unwrap_or(usize::MAX);
    match st.blobs.read_small(&d.sha256, max).await {
        Ok(bytes) if bytes.len() as u64 == d.size => Some(bytes),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(blob = %d.sha256, error = %e, "blob unreadable; delivering by URL");
            None
        }
    }
}

/// The delivery a device that asked for an update gets: the recommended offer, recorded as a
/// portal session no browser is bound to, so its result is tracked like any other. `None` when
/// nothing is offered to this device.
async fn requested_delivery(st: &AppState, session: &ServerSession) -> Result<Option<FumoDelivery>, AppError> {
    let packages = st.store.packages().await?;
    // The device asked itself: where it is is unknown, so packages limited by place are not offered.
    let offers = portaldm_shared::catalog::offers(&packages, &session.device, &Place::default(), &[]);
    let Some(offer) = portaldm_shared::catalog::recommended(&offers) else {
        tracing::info!(dev_id = %Quoted(&session.device.dev_id), "update requested; nothing to offer");
        return Ok(None);
    };
    // A portal session id like any other; its browser secret is thrown away, so no browser
    // can ever bind to it (empty bnd).
    let sid = BrowserBinding::generate(&mut OsRandom).map_err(|e| AppError::Internal(e.into()))?.sid;
    let now = now_ms();
    let expires_at = now + (st.cfg.portal_ttl_secs as i64) * 1000;
    let record = PortalRecord::new(sid, String::new(), 0, &session.device, PortalState::Choosing, expires_at);
    st.store.create_portal(&record, now).await?;
    let delivery = crate::portal::delivery_for(st, &record, offer, crate::clock::now()).await?;
    if !st.store.select(&record.sid, offer.package.id, &delivery, now).await? {
        return Err(AppError::Internal(anyhow::anyhow!("a fresh request session was not choosing")));
    }
    tracing::info!(dev_id = %Quoted(&record.dev_id), package = offer.package.id, "update requested; delivering the recommended offer");
    Ok(Some(delivery))
}
