use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Cap, Conns, HEADER_READ_TIMEOUT, REFUSAL};
use crate::pending::{Parkable, Parked};

const MAX_BODY: usize = 64;

/// What the test handler waits for, and what it tells.
#[derive(Clone, Default)]
struct Triggers {
    /// Lets a held message be answered.
    release: Arc<Notify>,
    /// Told when a held message's handler is dropped, answered or not.
    dropped: Arc<Notify>,
}

struct Dropped(Arc<Notify>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// A server's connection deadlines and cap.
#[derive(Clone, Copy)]
struct Limits {
    first_byte: Duration,
    idle: Duration,
    cap: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { first_byte: Duration::from_secs(5), idle: Duration::from_secs(5), cap: 1000 }
    }
}

/// A server with `/dm` echoing its body (or held until `release` when the body is "hold"),
/// and `/other`; returns its address and shutdown token.
async fn start(triggers: Triggers) -> (String, CancellationToken) {
    start_with(triggers, Limits::default()).await
}

/// [`start`], with these deadlines and cap.
async fn start_with(triggers: Triggers, limits: Limits) -> (String, CancellationToken) {
    let (addr, shutdown, _) = start_tracked(triggers, limits).await;
    (addr, shutdown)
}

/// [`start_with`], also returning the tracker of the tasks that wait for parked answers.
async fn start_tracked(triggers: Triggers, limits: Limits) -> (String, CancellationToken, TaskTracker) {
    let app = Router::new()
        .route(
            "/dm",
            post(|State(t): State<Triggers>, parkable: Option<Extension<Parkable>>, body: Bytes| async move {
                if body.as_ref() == b"hold" {
                    let _dropped = Dropped(t.dropped.clone());
                    t.release.notified().await;
                }
                if body.as_ref() == b"park-panic" {
                    return Parked::response(Box::pin(async { panic!("a parked answer's handler panicked") }));
                }
                if body.as_ref() == b"park" {
                    // Only the connection loop's requests may give their wait back.
                    assert!(parkable.is_some(), "a request read here is not marked parkable");
                    let pending = async move {
                        let _dropped = Dropped(t.dropped.clone());
                        t.release.notified().await;
                        ([("x-echo", "parked")], "parked").into_response()
                    };
                    return Parked::response(Box::pin(pending));
                }
                ([("x-echo", "yes")], body).into_response()
            }),
        )
        .route("/other", get(|| async { "other" }))
        .route("/portal/page", get(|| async { "page" }))
        .route("/portal/cached", get(|| async { (StatusCode::NOT_MODIFIED, [("etag", "\"v1\"")]) }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(triggers);
    let mut http = Builder::new(TokioExecutor::new());
    http.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let shutdown = CancellationToken::new();
    let conns = Arc::new(Conns {
        app: crate::app::wrap(app),
        http,
        max_body: MAX_BODY,
        body_timeout: Duration::from_millis(300),
        first_byte_timeout: limits.first_byte,
        idle_timeout: limits.idle,
        cap: Cap::new(limits.cap),
        shutdown: shutdown.clone(),
        tasks: TaskTracker::new(),
    });
    let tasks = conns.tasks.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(conns.accept(stream));
        }
    });
    (addr, shutdown, tasks)
}

fn dm(body: &str, extra: &str) -> String {
    format!(
        "POST /dm HTTP/1.1\r\nhost: t\r\ncontent-type: application/vnd.syncml.dm+xml\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A loop with the default routes, and one connection to it.
async fn connected() -> TcpStream {
    let (addr, _) = start(Triggers::default()).await;
    TcpStream::connect(&addr).await.expect("connect")
}

/// Reads until the connection closes or `answers` whole answers (heads with a
/// content-length body) have arrived; returns them as text.
async fn read_answers(s: &mut TcpStream, answers: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < answers {
        let answer = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = whole_answer(&answer) {
            out.push(answer[..end].to_owned());
            got.drain(..end);
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer in 5 s; have {:?}", String::from_utf8_lossy(&got)),
        }
    }
    out
}

/// The length of the first whole answer in `text`, if one has arrived.
fn whole_answer(text: &str) -> Option<usize> {
    let head_end = text.find("\r\n\r\n")? + 4;
    let head = text[..head_end].to_ascii_lowercase();
    let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length: "))?.trim().parse().ok()?;
    (text.len() >= head_end + len).then_some(head_end + len)
}

/// Writes `bytes` and reads `answers` answers.
async fn send(s: &mut TcpStream, bytes: impl AsRef<[u8]>, answers: usize) -> Vec<String> {
    s.write_all(bytes.as_ref()).await.expect("write");
    read_answers(s, answers).await
}

/// Reads until what has arrived satisfies `done` (answers without a length, which
/// [`read_answers`] cannot frame); returns it as text.
async fn read_until(s: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&String::from_utf8_lossy(&got)) {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            other => panic!("{other:?} after {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

async fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    matches!(tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
}

// Both write a `date` header, this loop first and hyper last: which one answered.
fn by_hyper(answer: &str) -> bool {
    let first_header = answer.split("\r\n").nth(1).unwrap_or("").to_ascii_lowercase();
    assert!(answer.to_ascii_lowercase().contains("\r\ndate: "), "no date: {answer:?}");
    !first_header.starts_with("date: ")
}

#[tokio::test]
async fn dm_messages_are_answered_here_in_order_on_one_connection() {
    let mut s = connected().await;
    // Two messages in one write (pipelined), then a third after the answers.
    let answers = send(&mut s, format!("{}{}", dm("<first/>", ""), dm("<second/>", "")).as_bytes(), 2).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(answers[0].starts_with("HTTP/1.1 200 OK\r\n") && answers[0].ends_with("<first/>"), "{answers:?}");
    assert!(answers[1].ends_with("<second/>"), "{answers:?}");
    assert!(answers.iter().all(|a| a.contains("x-echo: yes") && !by_hyper(a)), "{answers:?}");
    let third = send(&mut s, dm("<third/>", "").as_bytes(), 1).await;
    assert!(third[0].ends_with("<third/>") && !by_hyper(&third[0]), "{third:?}");
}

#[tokio::test]
async fn other_requests_go_to_hyper_with_the_bytes_already_read() {
    let mut s = connected().await;
    let a = send(&mut s, b"GET /other HTTP/1.1\r\nhost: t\r\n\r\n", 1).await;
    assert!(a[0].starts_with("HTTP/1.1 200 OK") && a[0].ends_with("other") && by_hyper(&a[0]), "{a:?}");
    // hyper keeps a connection that is not the edge's, DM messages included.
    let a = send(&mut s, dm("<x/>", "").as_bytes(), 1).await;
    assert!(a[0].ends_with("<x/>") && by_hyper(&a[0]), "{a:?}");
}

#[tokio::test]
async fn the_edge_s_requests_answered_by_hyper_close_their_connection() {
    let mut s = connected().await;
    let edge = format!("GET /other HTTP/1.1\r\nhost: t\r\n{}: x\r\n\r\n", portaldm_shared::edgeauth::HEADER);
    let a = send(&mut s, edge.as_bytes(), 1).await;
    assert!(a[0].ends_with("other") && by_hyper(&a[0]), "{a:?}");
    assert!(a[0].to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{a:?}");
    assert!(closed(&mut s).await, "the edge's next request, a DM message held for minutes, would stay with hyper");
}

#[tokio::test]
async fn chunked_dm_messages_and_http_1_0_go_to_hyper() {
    let (addr, _) = start(Triggers::default()).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(b"POST /dm HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n4\r\n<c/>\r\n0\r\n\r\n")
        .await
        .expect("write");
    let a = read_answers(&mut s, 1).await;
    assert!(a[0].starts_with("HTTP/1.1 200") && a[0].ends_with("<c/>") && by_hyper(&a[0]), "{a:?}");
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let a = send(&mut s, b"POST /dm HTTP/1.0\r\ncontent-length: 4\r\n\r\n<d/>", 1).await;
    assert!(a[0].ends_with("<d/>") && by_hyper(&a[0]), "{a:?}");
}

#[tokio::test]
async fn an_oversized_dm_body_is_refused_with_413() {
    let mut s = connected().await;
    let a = send(&mut s, dm(&"x".repeat(MAX_BODY + 1), "").as_bytes(), 1).await;
    assert!(a[0].starts_with("HTTP/1.1 413"), "{a:?}");
}

#[tokio::test]
async fn malformed_heads_and_content_lengths_get_hyper_s_400() {
    let (addr, _) = start(Triggers::default()).await;
    for bad in [
        "POST /dm HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\n<x/>".to_owned(),
        "POST /dm HTTP/1.1\r\nhost: t\r\ncontent-length: +4\r\n\r\n<x/>".to_owned(),
        "POST /dm HTTP/1.1\r\nbad header\r\n\r\n".to_owned(),
    ] {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(bad.as_bytes()).await.expect("write");
        let mut text = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut text)).await;
        let text = String::from_utf8_lossy(&text);
        assert!(text.starts_with("HTTP/1.1 400"), "{bad:?} answered {text:?}");
    }
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let mut s = connected().await;
    let a = send(&mut s, dm("<x/>", "connection: close\r\n").as_bytes(), 1).await;
    assert!(a[0].contains("connection: close") && a[0].ends_with("<x/>"), "{a:?}");
    assert!(closed(&mut s).await, "connection left open");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_gets_408() {
    let mut s = connected().await;
    let a = send(&mut s, b"POST /dm HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n<x", 1).await;
    assert!(a[0].starts_with("HTTP/1.1 408"), "{a:?}");
    assert!(closed(&mut s).await, "connection left open");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_answers_held_ones() {
    let triggers = Triggers::default();
    let (addr, shutdown) = start(triggers.clone()).await;
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(dm("<x/>", "").as_bytes()).await.expect("write");
    assert_eq!(read_answers(&mut idle, 1).await.len(), 1);
    let mut held = TcpStream::connect(&addr).await.expect("connect");
    held.write_all(dm("hold", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    assert!(closed(&mut idle).await, "idle connection left open at shutdown");
    triggers.release.notify_one();
    let a = read_answers(&mut held, 1).await;
    assert!(a[0].ends_with("hold") && a[0].contains("connection: close"), "{a:?}");
    assert!(closed(&mut held).await, "held connection left open after its answer");
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_its_held_message() {
    let triggers = Triggers::default();
    let (addr, _) = start(triggers.clone()).await;
    let mut held = TcpStream::connect(&addr).await.expect("connect");
    held.write_all(dm("hold", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    let dropped = tokio::time::timeout(Duration::from_secs(5), triggers.dropped.notified()).await;
    assert!(dropped.is_ok(), "the held handler outlived its client");
}

#[tokio::test]
async fn a_message_sent_while_one_is_held_is_answered_after_it() {
    let triggers = Triggers::default();
    let (addr, _) = start(triggers.clone()).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(dm("hold", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(dm("<next/>", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    triggers.release.notify_one();
    let a = read_answers(&mut s, 2).await;
    assert!(a.len() == 2 && a[0].ends_with("hold") && a[1].ends_with("<next/>"), "{a:?}");
}

#[tokio::test]
async fn portal_requests_are_answered_here_and_the_connection_stays_for_dm_messages() {
    let mut s = connected().await;
    let a = send(&mut s, b"GET /portal/page HTTP/1.1\r\nhost: t\r\n\r\n", 1).await;
    assert!(a[0].starts_with("HTTP/1.1 200 OK") && a[0].ends_with("page") && !by_hyper(&a[0]), "{a:?}");
    // As on a connection the edge's pool opened for a page: the DM message is read here too.
    let a = send(&mut s, dm("<x/>", "").as_bytes(), 1).await;
    assert!(a[0].ends_with("<x/>") && !by_hyper(&a[0]), "{a:?}");
}

#[tokio::test]
async fn a_304_is_written_without_a_body_or_a_length() {
    let mut s = connected().await;
    s.write_all(format!("GET /portal/cached HTTP/1.1\r\nhost: t\r\n\r\n{}", dm("<after/>", "")).as_bytes())
        .await
        .expect("write");
    // The 304's head, then the DM answer right after it: nothing between them.
    let text = read_until(&mut s, |t| t.ends_with("<after/>")).await;
    let (head, rest) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 304 Not Modified") && head.contains("etag: \"v1\""), "{text:?}");
    assert!(!head.to_ascii_lowercase().contains("content-length"), "{text:?}");
    assert!(rest.starts_with("HTTP/1.1 200 OK") && !by_hyper(&text), "{text:?}");
}

#[tokio::test]
async fn head_requests_go_to_hyper() {
    let mut s = connected().await;
    s.write_all(b"HEAD /portal/page HTTP/1.1\r\nhost: t\r\n\r\n").await.expect("write");
    let head = read_until(&mut s, |t| t.contains("\r\n\r\n")).await;
    assert!(head.starts_with("HTTP/1.1 200 OK") && by_hyper(&head), "{head:?}");
}

/// Waits up to `limit` for the server to close `s` with nothing sent; how long it took.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    let mut b = [0u8; 64];
    match tokio::time::timeout(limit, s.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Some(start.elapsed()),
        Ok(Ok(n)) => panic!("sent {:?} instead of closing", String::from_utf8_lossy(&b[..n])),
        Err(_) => None,
    }
}

/// Short deadlines, for the tests of them.
fn short(first_byte_ms: u64, idle_ms: u64) -> Limits {
    Limits {
        first_byte: Duration::from_millis(first_byte_ms),
        idle: Duration::from_millis(idle_ms),
        ..Limits::default()
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_first_byte_deadline() {
    let (addr, _) = start_with(Triggers::default(), short(300, 5000)).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let took = closed_within(&mut s, Duration::from_secs(3)).await;
    assert!(took.is_some_and(|t| t >= Duration::from_millis(250)), "closed after {took:?}");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_deadline_not_the_first_byte_one() {
    let (addr, _) = start_with(Triggers::default(), short(200, 600)).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let a = send(&mut s, dm("<x/>", "").as_bytes(), 1).await;
    assert!(a[0].ends_with("<x/>") && !by_hyper(&a[0]), "{a:?}");
    let took = closed_within(&mut s, Duration::from_secs(3)).await;
    assert!(took.is_some_and(|t| t >= Duration::from_millis(500)), "closed after {took:?}");
}

#[tokio::test]
async fn a_held_message_is_not_idle() {
    let triggers = Triggers::default();
    let (addr, _) = start_with(triggers.clone(), short(200, 200)).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(dm("hold", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(800)).await;
    triggers.release.notify_one();
    let a = read_answers(&mut s, 1).await;
    assert!(a.len() == 1 && a[0].ends_with("hold"), "{a:?}");
}

#[tokio::test]
async fn an_idle_connection_served_by_hyper_is_closed_after_the_idle_deadline() {
    let (addr, _) = start_with(Triggers::default(), short(5000, 400)).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let a = send(&mut s, b"GET /other HTTP/1.1\r\nhost: t\r\n\r\n", 1).await;
    assert!(a[0].ends_with("other") && by_hyper(&a[0]), "{a:?}");
    // hyper's own header timer here is HEADER_READ_TIMEOUT, far longer.
    let took = closed_within(&mut s, Duration::from_secs(3)).await;
    assert!(took.is_some_and(|t| t >= Duration::from_millis(300)), "closed after {took:?}");
}

#[tokio::test]
async fn half_an_http2_preface_is_closed_after_the_idle_deadline() {
    let (addr, _) = start_with(Triggers::default(), short(5000, 400)).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    // hyper waits for the whole 24-byte preface before it reads any further.
    s.write_all(b"PRI * HTTP/2.0\r\n").await.expect("write");
    let took = closed_within(&mut s, Duration::from_secs(3)).await;
    assert!(took.is_some(), "left open");
}

#[tokio::test]
async fn a_message_held_on_a_connection_served_by_hyper_is_not_idle() {
    let triggers = Triggers::default();
    let (addr, _) = start_with(triggers.clone(), short(5000, 200)).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(b"POST /dm HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n4\r\nhold\r\n0\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(800)).await;
    triggers.release.notify_one();
    let a = read_answers(&mut s, 1).await;
    assert!(a.len() == 1 && a[0].ends_with("hold") && by_hyper(&a[0]), "{a:?}");
}

#[tokio::test]
async fn past_the_cap_a_connection_gets_503_and_open_ones_are_served_on() {
    let (addr, _) = start_with(Triggers::default(), Limits { cap: 2, ..Limits::default() }).await;
    let mut busy = TcpStream::connect(&addr).await.expect("connect");
    assert_eq!(send(&mut busy, dm("<a/>", "").as_bytes(), 1).await.len(), 1);
    let silent = TcpStream::connect(&addr).await.expect("connect");
    let mut refused = TcpStream::connect(&addr).await.expect("connect");
    let text = read_until(&mut refused, |t| t.ends_with('\n') && t.contains("\r\n\r\n")).await;
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && text.contains("retry-after: 5\r\n"),
        "{text:?}"
    );
    assert!(closed(&mut refused).await, "refused connection left open");
    // The connections already open are served on.
    let a = send(&mut busy, dm("<b/>", "").as_bytes(), 1).await;
    assert!(a[0].ends_with("<b/>"), "{a:?}");
    // Once one closes, a new connection is served again.
    drop(silent);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut next = TcpStream::connect(&addr).await.expect("connect");
    let a = send(&mut next, dm("<c/>", "").as_bytes(), 1).await;
    assert!(a.len() == 1 && a[0].ends_with("<c/>"), "{a:?}");
}

#[tokio::test]
async fn a_parked_answer_is_written_when_ready_and_the_connection_goes_on() {
    let triggers = Triggers::default();
    let (addr, _) = start(triggers.clone()).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(dm("park", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Sent while the answer is still to come: kept, and answered after it.
    s.write_all(dm("<next/>", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    triggers.release.notify_one();
    let a = read_answers(&mut s, 2).await;
    assert!(
        a[0].starts_with("HTTP/1.1 200 OK") && a[0].contains("x-echo: parked") && a[0].ends_with("parked"),
        "{a:?}"
    );
    assert!(!by_hyper(&a[0]) && a[1].ends_with("<next/>"), "{a:?}");
    // And the connection is served on, parked again.
    s.write_all(dm("park", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    triggers.release.notify_one();
    let a = read_answers(&mut s, 1).await;
    assert!(a[0].ends_with("parked"), "{a:?}");
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_its_parked_answer() {
    let triggers = Triggers::default();
    let (addr, _) = start(triggers.clone()).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(dm("park", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    let dropped = tokio::time::timeout(Duration::from_secs(5), triggers.dropped.notified()).await;
    assert!(dropped.is_ok(), "the parked answer outlived its client");
}

#[tokio::test]
async fn a_parked_answer_keeps_its_connection_under_the_cap() {
    let triggers = Triggers::default();
    let (addr, _) = start_with(triggers.clone(), Limits { cap: 1, ..Limits::default() }).await;
    let mut parked = TcpStream::connect(&addr).await.expect("connect");
    parked.write_all(dm("park", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = TcpStream::connect(&addr).await.expect("connect");
    let text = read_until(&mut refused, |t| t.ends_with('\n') && t.contains("\r\n\r\n")).await;
    assert!(text.starts_with("HTTP/1.1 503"), "a parked connection left the cap: {text:?}");
    triggers.release.notify_one();
    assert!(read_answers(&mut parked, 1).await[0].ends_with("parked"));
    drop(parked);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut next = TcpStream::connect(&addr).await.expect("connect");
    assert!(send(&mut next, dm("<c/>", "").as_bytes(), 1).await[0].ends_with("<c/>"));
}

#[tokio::test]
async fn shutdown_answers_parked_messages_and_closes_them() {
    let triggers = Triggers::default();
    let (addr, shutdown) = start(triggers.clone()).await;
    let mut parked = TcpStream::connect(&addr).await.expect("connect");
    parked.write_all(dm("park", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    triggers.release.notify_one();
    let a = read_answers(&mut parked, 1).await;
    assert!(a[0].ends_with("parked") && a[0].contains("connection: close"), "{a:?}");
    assert!(closed(&mut parked).await, "parked connection left open after its answer");
}

#[tokio::test]
async fn shutdown_waits_for_parked_answers() {
    let triggers = Triggers::default();
    let (addr, shutdown, tasks) = start_tracked(triggers.clone(), Limits::default()).await;
    let mut parked = TcpStream::connect(&addr).await.expect("connect");
    parked.write_all(dm("park", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // As the server does when it stops: no new tasks, then wait for those left.
    shutdown.cancel();
    tasks.close();
    let early = tokio::time::timeout(Duration::from_millis(200), tasks.wait()).await;
    assert!(early.is_err(), "shutdown did not wait for the parked answer");
    triggers.release.notify_one();
    assert!(read_answers(&mut parked, 1).await[0].ends_with("parked"));
    let done = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    assert!(done.is_ok(), "the parked answer's task outlived its answer");
}

#[tokio::test]
async fn a_head_s_worth_sent_ahead_of_a_parked_answer_cuts_the_client_off() {
    let triggers = Triggers::default();
    let (addr, _) = start(triggers.clone()).await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(dm("park", "").as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // More than any DM client sends ahead of an answer; the socket stays open.
    s.write_all(&[b'x'; super::MAX_HEAD + 1024]).await.expect("write");
    let dropped = tokio::time::timeout(Duration::from_secs(5), triggers.dropped.notified()).await;
    assert!(dropped.is_ok(), "the parked answer kept waiting for a client that sent a head's worth ahead");
    assert!(closed(&mut s).await, "the connection was left open");
}

#[tokio::test]
async fn a_parked_answer_that_panics_gets_500_and_the_connection_goes_on() {
    let mut s = connected().await;
    let a = send(&mut s, dm("park-panic", "").as_bytes(), 1).await;
    assert!(a[0].starts_with("HTTP/1.1 500"), "{a:?}");
    let a = send(&mut s, dm("<after/>", "").as_bytes(), 1).await;
    assert!(a[0].ends_with("<after/>"), "{a:?}");
}

#[test]
fn the_refusal_is_one_whole_answer() {
    let text = std::str::from_utf8(REFUSAL).expect("utf-8");
    let end = whole_answer(text);
    assert_eq!(end, Some(text.len()), "{text:?}");
    assert!(text.ends_with("try again in a while\n") && text.contains("\r\nconnection: close\r\n"), "{text:?}");
}
