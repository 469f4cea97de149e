//! The stock handset's typed errors: every way a server (or the handset's own limits) can end a session.

use std::fmt;

/// Why the stock handset gave up.
#[derive(Debug)]
pub enum StockError {
    /// A socket or file operation failed.
    Io(std::io::Error),
    /// A URL the handset cannot reach (not `http://host:port/...`).
    BadUrl(String),
    /// The server answered with an HTTP status other than 200.
    Http {
        /// The HTTP status.
        status: u16,
        /// The start of the body, as text.
        body: String,
    },
    /// The HTTP answer could not be read as HTTP/1.x.
    BadHttp(String),
    /// An answer larger than the handset's cap.
    TooLarge(usize),
    /// The server took longer than the handset's deadline.
    Timeout,
    /// The server's SyncML could not be read.
    Parse(String),
    /// libwbxml's tools failed or are missing.
    Wbxml(String),
    /// The package #0 could not be decoded.
    Pkg0(String),
    /// The server never proved itself within the handset's tries.
    ServerNotAuthenticated {
        /// How many server messages the handset refused.
        refusals: u32,
    },
    /// The session went on past the handset's message cap.
    TooManyMessages(usize),
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StockError::Io(e) => write!(f, "i/o: {e}"),
            StockError::BadUrl(u) => write!(f, "unusable URL {u:?}"),
            StockError::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            StockError::BadHttp(why) => write!(f, "bad HTTP answer: {why}"),
            StockError::TooLarge(n) => write!(f, "answer larger than {n} bytes"),
            StockError::Timeout => write!(f, "the server did not answer in time"),
            StockError::Parse(why) => write!(f, "unreadable SyncML: {why}"),
            StockError::Wbxml(why) => write!(f, "libwbxml: {why}"),
            StockError::Pkg0(why) => write!(f, "package #0: {why}"),
            StockError::ServerNotAuthenticated { refusals } => {
                write!(f, "the server failed to authenticate itself ({refusals} messages refused)")
            }
            StockError::TooManyMessages(n) => write!(f, "more than {n} messages in one session"),
        }
    }
}

impl std::error::Error for StockError {}

impl From<std::io::Error> for StockError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => StockError::Timeout,
            _ => StockError::Io(e),
        }
    }
}
