//! The origin's connections. DM messages (`POST /dm`) and the portal's pages and calls
//! (`GET`/`POST` under `/portal`, and `GET /healthz`), over HTTP/1.1 with no body or a plain
//! `Content-Length` one, are read here and passed to the same router as every other request;
//! any other request hands the connection, with the bytes already read, to hyper.
//!
//! Why: a DM message held for minutes while the user chooses is a request in flight, and hyper
//! keeps two 8 KiB buffers and its connection state for each one. Here a held message's
//! handler gives its wait back (`pending`): the router's future and the connection's task are
//! freed, and a small task keeps only the socket and the wait until the answer is written
//! (BENCHMARKS.md, held sessions). The portal's requests are read here too because the edge
//! pools its connections to the origin: a connection opened for a portal page carries DM
//! messages later. Their answers are small and written whole; `/blobs` (streamed), the admin
//! API and console, and everything this loop is unsure of (HTTP/1.0, chunked bodies,
//! `Expect`, upgrades, HTTP/2, `HEAD`, malformed or oversized heads and bodies) go to hyper,
//! which answers or refuses them as for any other route.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use portaldm_shared::http1;

use tower_http::catch_panic::{DefaultResponseForPanic, ResponseForPanic as _};

use crate::app::App;
use crate::pending::{Parkable, Parked, Pending};

/// The longest request head read here, hyper's smallest buffer (a longer one goes to hyper,
/// which refuses it with 431).
pub const MAX_HEAD: usize = 8192;

/// How long a client may take to send a request's headers (slowloris), here and in hyper.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection past the cap is told before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 5\r\n\
    content-type: text/plain; charset=utf-8\r\ncontent-length: 48\r\nconnection: close\r\n\r\n\
    too many connections open: try again in a while\n";

/// How long a refused connection is kept to let its client read the refusal.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

/// Refused connections kept lingering at once; past that they are closed at once.
const MAX_LINGERING: usize = 64;

/// What every connection shares.
pub struct Conns {
    /// The origin's routes, for DM messages and (through hyper) everything else.
    pub app: App,
    /// hyper, for every request not read here.
    pub http: Builder<TokioExecutor>,
    /// The largest body read here; a larger one goes to hyper (which answers 413).
    pub max_body: usize,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// How long a new connection may stay silent before it is closed.
    pub first_byte_timeout: Duration,
    /// How long a connection may stay open with no request in flight (a held message is one).
    pub idle_timeout: Duration,
    /// The connections open at once, and their cap.
    pub cap: Cap,
    /// Cancelled when the server stops: idle connections close, busy ones after their answer.
    pub shutdown: CancellationToken,
    /// The tasks that wait for answers still to come (`pending`), which shutdown waits for
    /// with the connections'.
    pub tasks: TaskTracker,
}

/// The cap on connections open at once: past it, a new connection is refused with 503.
pub struct Cap {
    /// One permit per connection that may be open; each served connection holds one.
    open: Arc<Semaphore>,
    /// Refused connections still lingering (see [`refuse`]).
    lingering: Arc<Semaphore>,
    /// Whether the last connection accepted was refused (logged once per run of refusals).
    refusing: AtomicBool,
    /// Connections refused since the server started.
    refused: AtomicU64,
}

impl Cap {
    /// At most `max` connections open at once (at most [`Semaphore::MAX_PERMITS`]).
    pub fn new(max: usize) -> Cap {
        Cap {
            open: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
            lingering: Arc::new(Semaphore::new(MAX_LINGERING)),
            refusing: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        }
    }
}

impl Conns {
    /// What to run for a connection just accepted: serving it, or refusing it when the cap's
    /// connections are open. The cap counts connections, held messages' included.
    pub fn accept(self: &Arc<Self>, stream: TcpStream) -> impl Future<Output = ()> + Send + 'static {
        // Taken here, in the accept loop, so that connections are counted in the order accepted.
        let permit = self.cap.open.clone().try_acquire_owned();
        let conns = self.clone();
        async move {
            match permit {
                Ok(permit) => {
                    if conns.cap.refusing.swap(false, Ordering::Relaxed) {
                        tracing::info!(
                            refused = conns.cap.refused.load(Ordering::Relaxed),
                            "below the connection cap again"
                        );
                    }
                    serve(stream, conns, permit).await;
                }
                Err(_) => refuse(stream, &conns).await,
            }
        }
    }
}

/// Serves one connection until the client closes it, it idles past shutdown, or it is handed
/// to hyper (which then serves it to the end). `permit` is its place under the cap, held
/// until it closes, an answer still to come included.
async fn serve(stream: TcpStream, conns: Arc<Conns>, permit: OwnedSemaphorePermit) {
    // Boxed: once an answer is to come, all of this is freed and a smaller task waits for it.
    let next = Box::pin(requests(stream, Vec::new(), conns.first_byte_timeout, &conns)).await;
    if let Next::Awaiting(awaiting) = next {
        conns.tasks.spawn(awaiting_answer(awaiting, conns.clone(), permit));
    }
}

/// What is left of a connection when its loop stops.
enum Next {
    /// Closed, or served by hyper to its end.
    Closed,
    /// A request's answer is still to come.
    Awaiting(Awaiting),
}

/// A connection whose request's answer is still to come (`pending`), and no more.
struct Awaiting {
    stream: TcpStream,
    /// What the client sent meanwhile (pipelined), read after the answer.
    buf: Vec<u8>,
    pending: Pending,
    keep_alive: bool,
}

/// Waits for an answer still to come and writes it, then serves the connection on. This is
/// what a held message keeps while the user chooses, so it is an `async` block over its
/// captures, used in place: an `async fn` would keep each argument twice (its capture and its
/// local), and fields moved out before an `await` would take their own room as well.
#[expect(clippy::manual_async_fn, reason = "an async fn keeps its arguments twice (above)")]
fn awaiting_answer(
    mut awaiting: Awaiting,
    conns: Arc<Conns>,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send {
    async move {
        // Held until the connection closes: its place under the cap.
        let _permit = &permit;
        loop {
            let answer = std::panic::AssertUnwindSafe(&mut awaiting.pending).catch_unwind();
            let Some(answer) = unless_hung_up(&awaiting.stream, &mut awaiting.buf, WhenFull::HangUp, answer).await
            else {
                tracing::debug!("held answer dropped: its client hung up");
                return;
            };
            // A handler that panics gets the router's panic catcher's answer (and log line).
            let (status, write) = {
                let response = answer.unwrap_or_else(|panic| {
                    DefaultResponseForPanic::default().response_for_panic(panic).map(Body::new)
                });
                (
                    response.status().as_u16(),
                    Box::pin(write_answer(&mut awaiting.stream, response, awaiting.keep_alive, &conns)),
                )
            };
            let went_on = write.await;
            tracing::debug!(status, went_on, "held answer written");
            if !went_on {
                return;
            }
            let next = {
                let Awaiting { stream, buf, pending, .. } = awaiting;
                drop(pending);
                Box::pin(requests(stream, buf, conns.idle_timeout, &conns))
            };
            match next.await {
                Next::Closed => return,
                Next::Awaiting(next) => awaiting = next,
            }
        }
    }
}

/// Serves requests until the connection closes, goes to hyper, or an answer is still to come.
/// `buf` holds bytes already read; the first request must start within `wait`.
async fn requests(mut stream: TcpStream, mut buf: Vec<u8>, mut wait: Duration, conns: &Arc<Conns>) -> Next {
    loop {
        if buf.is_empty() {
            let deadline = Instant::now() + wait;
            tokio::select! {
                read = timeout_at(deadline, next_bytes(&mut stream, &mut buf)) => match read {
                    Ok(Ok(n)) if n > 0 => {}
                    Err(_) => {
                        tracing::debug!(waited = ?wait, "connection closed: no request in time");
                        return Next::Closed;
                    }
                    _ => return Next::Closed,
                },
                _ = conns.shutdown.cancelled() => return Next::Closed,
            }
        }
        wait = conns.idle_timeout;
        let deadline = Instant::now() + HEADER_READ_TIMEOUT;
        let head = loop {
            match parse_head(&buf, conns.max_body) {
                Head::Here(head) => break head,
                Head::Partial if buf.len() < MAX_HEAD => {
                    match timeout_at(deadline, read_some(&mut stream, &mut buf)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        // Closed, failed, or too slow: cut off, as hyper does.
                        _ => return Next::Closed,
                    }
                }
                Head::Partial | Head::Other => {
                    Box::pin(hand_to_hyper(stream, buf, conns.clone())).await;
                    return Next::Closed;
                }
            }
        };
        let end = head.len + head.content_length;
        if buf.len() < end {
            buf.reserve_exact(end - buf.len());
            let body_deadline = Instant::now() + conns.body_timeout;
            while buf.len() < end {
                match timeout_at(body_deadline, stream.read_buf(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    Ok(_) => return Next::Closed,
                    Err(_) => {
                        tracing::warn!("request body not received in time");
                        let _ = write_response(&mut stream, timeout_response(), false).await;
                        return Next::Closed;
                    }
                }
            }
        }
        let keep_alive = head.keep_alive;
        let request = head.into_request(&buf[..end]);
        // Keep only what the client sent after this request (pipelined), nothing while held.
        buf.drain(..end);
        if buf.is_empty() {
            buf = Vec::new();
        } else {
            buf.shrink_to_fit();
        }
        let call = conns.app.clone().oneshot(request);
        let Some(answered) = unless_hung_up(&stream, &mut buf, WhenFull::StopReading, call).await else {
            return Next::Closed;
        };
        let mut response = match answered {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        if let Some(pending) = Parked::take(&mut response) {
            return Next::Awaiting(Awaiting { stream, buf, pending, keep_alive });
        }
        if !Box::pin(write_answer(&mut stream, response, keep_alive, conns)).await {
            return Next::Closed;
        }
    }
}

/// What waiting for an answer does once the client has sent [`MAX_HEAD`] bytes ahead of it.
#[derive(Clone, Copy, PartialEq)]
enum WhenFull {
    /// Stops reading until the answer comes (a request being answered now).
    StopReading,
    /// Cuts the client off: while an answer waits for minutes, a head's worth sent ahead is
    /// more than any DM client or the edge sends, and its hang-up would go unseen.
    HangUp,
}

/// Waits for `answer` while watching the client: `None` when it hung up first, and the
/// answer is dropped, cancelling it (hyper's default too: a held DM message must not outlive
/// its handset). What the client sends meanwhile is kept in `buf`, at most [`MAX_HEAD`] bytes
/// (room is made only then: a held message with a quiet client keeps none). A poll function
/// over the socket's readiness, not a future of its own: this is what a held message keeps
/// while the user chooses.
async fn unless_hung_up<F: Future>(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    full: WhenFull,
    answer: F,
) -> Option<F::Output> {
    let mut answer = std::pin::pin!(answer);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(answered) = answer.as_mut().poll(cx) {
            return Poll::Ready(Some(answered));
        }
        loop {
            let room = MAX_HEAD.saturating_sub(buf.len()).min(512);
            if room == 0 {
                if full == WhenFull::StopReading {
                    return Poll::Pending;
                }
                tracing::debug!("connection closed: a head's worth sent ahead of a held answer");
                return Poll::Ready(None);
            }
            match stream.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(())) => {
                    let mut chunk = [0u8; 512];
                    match stream.try_read(&mut chunk[..room]) {
                        Ok(0) => return Poll::Ready(None),
                        // More may follow; a `WouldBlock` clears the readiness polled next.
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return Poll::Ready(None),
                    }
                }
            }
        }
    })
    .await
}

/// Writes `response`; true when the connection goes on (kept alive, not shutting down).
async fn write_answer(stream: &mut TcpStream, response: Response<Body>, keep_alive: bool, conns: &Conns) -> bool {
    let keep_alive = keep_alive && !conns.shutdown.is_cancelled();
    write_response(stream, response, keep_alive).await.is_ok() && keep_alive
}

/// Waits for the client's next bytes and reads them; room is made only once they are there, so
/// that a silent or idle connection keeps no buffer.
async fn next_bytes(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    stream.readable().await?;
    read_some(stream, buf).await
}

/// Tells a connection past the cap so (503, `Retry-After`) and closes it.
async fn refuse(mut stream: TcpStream, conns: &Conns) {
    let refused = conns.cap.refused.fetch_add(1, Ordering::Relaxed) + 1;
    if !conns.cap.refusing.swap(true, Ordering::Relaxed) {
        tracing::warn!(refused, "connection cap reached: refusing new connections with 503");
    } else {
        tracing::debug!(refused, "connection refused: cap reached");
    }
    let Ok(_lingering) = conns.cap.lingering.clone().try_acquire_owned() else {
        // Too many lingering already: a new socket's send buffer is empty, so the answer goes
        // out in this one write or not at all.
        let _ = stream.try_write(REFUSAL);
        return;
    };
    // Closing with the client's bytes unread would reset the connection, and its client could
    // lose the answer: read them until it closes, briefly.
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 512];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// Reads what has arrived, into spare room of `buf`.
async fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    // DM messages are a few KiB: most heads and bodies arrive in one read of this size.
    buf.reserve(2048);
    stream.read_buf(buf).await
}

/// What the bytes read so far start with.
enum Head {
    /// A request this loop serves.
    Here(RequestHead),
    /// Not a whole head yet.
    Partial,
    /// Anything else: hyper's.
    Other,
}

/// A request's head, owned (the bytes it was parsed from are freed before the answer).
struct RequestHead {
    method: Method,
    /// Bytes of the head, up to the body.
    len: usize,
    content_length: usize,
    keep_alive: bool,
    target: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Parses a request head, and says whether the request is served here. The framing is
/// decided in `shared::http1` (fuzzed there); this adds the route and owns the parts.
fn parse_head(buf: &[u8], max_body: usize) -> Head {
    let framed = match http1::frame(buf, max_body) {
        http1::Head::Framed(f) => f,
        http1::Head::Partial => return Head::Partial,
        http1::Head::Other => return Head::Other,
    };
    let Ok(target) = framed.target.parse::<Uri>() else { return Head::Other };
    let method = match framed.method {
        http1::Method::Post => Method::POST,
        http1::Method::Get => Method::GET,
    };
    if !served_here(&method, target.path()) {
        return Head::Other;
    }
    let mut headers = Vec::with_capacity(framed.headers.len());
    for (name, value) in framed.headers {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
            (Ok(n), Ok(v)) => headers.push((n, v)),
            _ => return Head::Other,
        }
    }
    Head::Here(RequestHead {
        method,
        len: framed.head_len,
        content_length: framed.content_length,
        keep_alive: framed.keep_alive,
        target,
        headers,
    })
}

/// The routes read here: DM messages, the portal's pages and calls (answers of a few KiB),
/// and the health check. `/blobs` answers stream, so they stay with hyper.
fn served_here(method: &Method, path: &str) -> bool {
    let portal = portaldm_shared::media::is_portal_path(path);
    match *method {
        // `/dm` and the RespURI paths sessions continue on (`/dm/<secret>`).
        Method::POST => portaldm_shared::session::continuation::is_dm_path(path) || portal,
        Method::GET => portal || path == crate::app::HEALTH_PATH,
        _ => false,
    }
}

impl RequestHead {
    /// The request the router gets, its body from `message` (head and body as read).
    fn into_request(self, message: &[u8]) -> Request<Body> {
        let mut request = Request::new(Body::from(message[self.len..].to_vec()));
        request.extensions_mut().insert(Parkable);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.target;
        *request.version_mut() = Version::HTTP_11;
        let headers = request.headers_mut();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        request
    }
}

fn timeout_response() -> Response<Body> {
    let mut r = Response::new(Body::from("request body not received in time"));
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    r
}

/// Writes an answer: its status line, headers and whole body, in one write.
async fn write_response(stream: &mut TcpStream, response: Response<Body>, keep_alive: bool) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    // The router's answers to what is read here are whole in memory (encoded SyncML, a page,
    // JSON, an error).
    let body = axum::body::to_bytes(body, usize::MAX).await.map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(256 + body.len());
    let reason = parts.status.canonical_reason().unwrap_or("");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    // First, where hyper writes it last (its tests tell the two apart by that).
    out.extend_from_slice(format!("date: {}\r\n", httpdate::fmt_http_date(std::time::SystemTime::now())).as_bytes());
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // 204 and 304 have no body, and a 304's length would be the full answer's (RFC 9110).
    let bodiless = matches!(parts.status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    if !bodiless {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(&body);
    }
    stream.write_all(&out).await?;
    if !keep_alive {
        stream.shutdown().await?;
    }
    Ok(())
}

/// Serves the rest of the connection with hyper, starting with the bytes already read.
async fn hand_to_hyper(stream: TcpStream, read: Vec<u8>, conns: Arc<Conns>) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        let line = read.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(&line[..line.len().min(120)]);
        tracing::debug!(read = read.len(), first_line = %line.trim_end(), "connection handed to hyper");
    }
    let io = TokioIo::new(Rewound { read, at: 0, stream });
    // hyper's header timer bounds an HTTP/1.1 head and the wait for it, but not the wait for
    // the rest of an HTTP/2 preface nor an HTTP/2 connection between requests: this does.
    let activity = Arc::new(Activity::new());
    let conn =
        conns.http.serve_connection_with_upgrades(io, Counted { app: conns.app.clone(), activity: activity.clone() });
    let mut conn = std::pin::pin!(conn);
    loop {
        let idle = activity.idle_deadline(conns.idle_timeout);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = conns.shutdown.cancelled() => break,
            // Woken when its last request in flight ends, to count from then.
            _ = activity.settled.notified(), if idle.is_none() => {}
            _ = sleep_until(idle.unwrap_or_else(Instant::now)), if idle.is_some() => {
                if activity.idle_deadline(conns.idle_timeout).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!("connection closed: idle past the deadline");
                    return;
                }
            }
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// A hyper-served connection's requests in flight, and since when it has had none.
struct Activity {
    /// When the connection was handed over; `idle_since` counts from it.
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `start` to when the last request in flight ended.
    idle_since: AtomicU64,
    /// Told when the last request in flight ends.
    settled: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            settled: Notify::new(),
        }
    }

    /// When the connection will have idled `limit`, if it has no request in flight.
    fn idle_deadline(&self, limit: Duration) -> Option<Instant> {
        (self.in_flight.load(Ordering::Acquire) == 0)
            .then(|| self.start + Duration::from_millis(self.idle_since.load(Ordering::Acquire)) + limit)
    }
}

/// One request in flight on a hyper-served connection, from its head until its answer's body
/// is written (or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let since = u64::try_from(a.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.idle_since.store(since, Ordering::Release);
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.settled.notify_one();
        }
    }
}

/// The routes as hyper calls them, each request counted in flight until its answer is written.
struct Counted {
    app: App,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Counted {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::enter(self.activity.clone());
        // A connection the edge pools comes back to the loop: hyper closes it after this
        // answer, and the edge's next request (a DM message, held for minutes while the user
        // chooses) arrives on a new connection, read here, rather than held in hyper with
        // its buffers and state (BENCHMARKS.md, held sessions).
        let from_edge =
            request.version() == Version::HTTP_11 && request.headers().contains_key(portaldm_shared::edgeauth::HEADER);
        let call = self.app.clone().oneshot(request.map(Body::new));
        Box::pin(async move {
            let mut response = match call.await {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            };
            // Requests read by hyper are not marked `Parkable`; should a stand-in come anyway,
            // its answer is waited for here rather than sent as it is.
            if let Some(pending) = Parked::take(&mut response) {
                response = pending.await;
            }
            if from_edge {
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response.map(|body| Tracked { body: Body::new(body), _in_flight: in_flight }))
        })
    }
}

/// An answer's body that keeps its request counted in flight until it is written.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection some of whose bytes were already read: those are read again first.
struct Rewound {
    read: Vec<u8>,
    at: usize,
    stream: TcpStream,
}

impl AsyncRead for Rewound {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.read.len() {
            let n = buf.remaining().min(this.read.len() - this.at);
            buf.put_slice(&this.read[this.at..this.at + n]);
            this.at += n;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
