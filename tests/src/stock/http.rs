//! HTTP/1.1 as a handset speaks it: one new TCP connection per request (`Connection: close`,
//! no keep-alive), deadlines on connect and read, a cap on what it reads, chunked bodies understood.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use super::StockError;

/// Deadlines and caps for one request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Connect deadline.
    pub connect: Duration,
    /// Deadline for the whole answer.
    pub answer: Duration,
    /// Largest body read.
    pub max_body: usize,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// `(host:port, path)` of an `http://` URL.
pub fn split_url(url: &str) -> Result<(String, String), StockError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| StockError::BadUrl(url.into()))?;
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if auth.is_empty() || auth.contains('@') || path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(StockError::BadUrl(url.into()));
    }
    let auth = if auth.contains(':') { auth.to_owned() } else { format!("{auth}:80") };
    Ok((auth, path.to_owned()))
}

/// One request on a new connection.
pub fn request(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
    limits: HttpLimits,
) -> Result<Response, StockError> {
    let (auth, path) = split_url(url)?;
    let addr = auth.to_socket_addrs()?.next().ok_or_else(|| StockError::BadUrl(url.into()))?;
    let mut s = TcpStream::connect_timeout(&addr, limits.connect)?;
    s.set_write_timeout(Some(limits.answer))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {auth}\r\nUser-Agent: StockHandset/1.0 (OMA DM 1.2)\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\nAccept: {ct}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let deadline = Instant::now() + limits.answer;
    let cap = limits.max_body + 64 * 1024;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now()).ok_or(StockError::Timeout)?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        if raw.len() > cap {
            return Err(StockError::TooLarge(limits.max_body));
        }
        if complete(&raw) {
            break;
        }
    }
    parse(&raw, limits.max_body)
}

/// True once a Content-Length body has fully arrived (so a server that keeps the socket open
/// after the answer does not cost the deadline).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()))
        .is_some_and(|len| raw.len() >= end + 4 + len)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse(raw: &[u8], max_body: usize) -> Result<Response, StockError> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| StockError::BadHttp("no end of headers".into()))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| StockError::BadHttp("headers are not text".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        // The server's bytes, cut: a hostile answer does not grow the error.
        let cut: String = status_line.chars().take(80).flat_map(char::escape_debug).collect();
        return Err(StockError::BadHttp(format!("status line \"{cut}\"")));
    }
    let status = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| StockError::BadHttp(status_line.chars().take(80).collect()))?;
    let (mut ct, mut len, mut chunked) = (None, None, false);
    for l in lines {
        let Some((k, v)) = l.split_once(':') else { continue };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => ct = Some(v.to_owned()),
            "content-length" => len = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest, max_body)?
    } else {
        let n = len.unwrap_or(rest.len());
        rest.get(..n).ok_or_else(|| StockError::BadHttp("body shorter than Content-Length".into()))?.to_vec()
    };
    if body.len() > max_body {
        return Err(StockError::TooLarge(max_body));
    }
    Ok(Response { status, content_type: ct, body })
}

fn dechunk(mut rest: &[u8], max_body: usize) -> Result<Vec<u8>, StockError> {
    let mut out = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or_else(|| StockError::BadHttp("chunk size line".into()))?;
        let size = std::str::from_utf8(&rest[..eol]).ok().map(|s| s.split(';').next().unwrap_or("").trim().to_owned());
        let size = size
            .and_then(|s| usize::from_str_radix(&s, 16).ok())
            .ok_or_else(|| StockError::BadHttp("chunk size".into()))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if out.len() + size > max_body {
            return Err(StockError::TooLarge(max_body));
        }
        out.extend_from_slice(rest.get(..size).ok_or_else(|| StockError::BadHttp("chunk truncated".into()))?);
        rest = rest.get(size + 2..).ok_or_else(|| StockError::BadHttp("chunk truncated".into()))?;
    }
}
