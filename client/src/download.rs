//! Downloads a package to disk while hashing it, resuming with `Range`, and checks SHA-256
//! and size. Partial bytes live in `<dir>/<sha256>.part`, so a cut download (in this run or
//! a crashed earlier one) continues where it stopped instead of starting over.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use portaldm_shared::range;
use sha2::{Digest as _, Sha256};

/// Attempts per download; each after the first resumes from the bytes already on disk.
const ATTEMPTS: u32 = 4;

/// Why one attempt stopped.
enum Stop {
    /// Worth another attempt (connection cut, server unavailable).
    Retry(ResultCode),
    /// Final.
    Fail(ResultCode),
}

/// Fetches `d` into `dir`; the verified file's path, or the FUMO result code on failure.
pub fn fetch(agent: &ureq::Agent, d: &FumoDelivery, dir: &Path) -> Result<PathBuf, ResultCode> {
    fetch_with_backoff(agent, d, dir, std::time::Duration::from_millis(300))
}

/// [`fetch`], waiting `base × 2^attempt` before each retry.
fn fetch_with_backoff(
    agent: &ureq::Agent,
    d: &FumoDelivery,
    dir: &Path,
    base: std::time::Duration,
) -> Result<PathBuf, ResultCode> {
    if !(d.url.starts_with("https://") || d.url.starts_with("http://")) || !portaldm_shared::cdn::is_blob_id(&d.sha256)
    {
        return Err(ResultCode::VALIDATION_FAILED);
    }
    let part = part_path(dir, d);
    let mut last = ResultCode::DOWNLOAD_SERVER_UNAVAILABLE;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(base * (1 << attempt));
        }
        match attempt_once(agent, d, &part) {
            Ok(()) => return verify(d, &part),
            Err(Stop::Retry(code)) => last = code,
            Err(Stop::Fail(code)) => {
                let _ = std::fs::remove_file(&part);
                return Err(code);
            }
        }
    }
    Err(last)
}

/// Where the bytes of `d` are kept while they arrive and until they are installed.
pub fn part_path(dir: &Path, d: &FumoDelivery) -> PathBuf {
    dir.join(format!("{}.part", d.sha256))
}

/// Keeps the bytes of an inline delivery (received inside the DM session) where a download
/// would have put them; [`verify_part`] checks them.
pub fn store_inline(d: &FumoDelivery, bytes: &[u8], dir: &Path) -> std::io::Result<()> {
    crate::private::dir(dir)?;
    crate::private::write(&part_path(dir, d), bytes, false)
}

/// Checks what is in the part file of `d` (an inline delivery's bytes).
pub fn verify_part(d: &FumoDelivery, dir: &Path) -> Result<PathBuf, ResultCode> {
    if !portaldm_shared::cdn::is_blob_id(&d.sha256) {
        return Err(ResultCode::VALIDATION_FAILED);
    }
    let part = part_path(dir, d);
    if !part.exists() {
        return Err(ResultCode::CORRUPTED);
    }
    verify(d, &part)
}

fn attempt_once(agent: &ureq::Agent, d: &FumoDelivery, part: &Path) -> Result<(), Stop> {
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > d.size {
        let _ = std::fs::remove_file(part);
        have = 0;
    }
    let mut req = agent.get(&d.url);
    if have > 0 {
        eprintln!("resuming download at {have} of {} bytes", d.size);
        req = req.header("Range", &format!("bytes={have}-")).header("If-Range", &range::etag(&d.sha256));
    }
    let resp = req.call().map_err(|_| Stop::Retry(ResultCode::DOWNLOAD_SERVER_UNAVAILABLE))?;
    let status = resp.status().as_u16();
    let content_range = resp.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let append = match status {
        206 if have > 0 && content_range.starts_with(&format!("bytes {have}-")) => true,
        200 => false,
        416 if have == d.size => return Ok(()), // everything is already here
        500..=599 => return Err(Stop::Retry(ResultCode::DOWNLOAD_SERVER_UNAVAILABLE)),
        _ => return Err(Stop::Fail(ResultCode::DOWNLOAD_SERVER_UNAVAILABLE)),
    };
    let mut file = crate::private::options()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .map_err(|_| Stop::Fail(ResultCode::UPDATE_FAILED))?;
    // A part left by an older dmclient may be wider.
    crate::private::narrow(&file).map_err(|_| Stop::Fail(ResultCode::UPDATE_FAILED))?;
    let mut total = if append { have } else { 0 };
    let bar = progress(d, total);
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => {
                let _ = file.sync_all(); // keep what arrived: the next attempt resumes from it
                return Err(Stop::Retry(ResultCode::DOWNLOAD_TIMEOUT));
            }
        };
        total += n as u64;
        if total > d.size {
            return Err(Stop::Fail(ResultCode::CORRUPTED)); // more than announced: stop reading
        }
        file.write_all(&buf[..n]).map_err(|_| Stop::Fail(ResultCode::UPDATE_FAILED))?;
        bar.set_position(total);
    }
    bar.finish_and_clear();
    file.sync_all().map_err(|_| Stop::Fail(ResultCode::UPDATE_FAILED))?;
    if total < d.size {
        return Err(Stop::Retry(ResultCode::DOWNLOAD_TIMEOUT));
    }
    Ok(())
}

/// A progress bar on a terminal; hidden (logs only) when stderr is not one.
fn progress(d: &FumoDelivery, at: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(d.size).with_position(at);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("{} {}", d.pkg_name, d.pkg_version));
    bar
}

/// Checks size and SHA-256 of the whole file; a mismatch removes it.
fn verify(d: &FumoDelivery, part: &Path) -> Result<PathBuf, ResultCode> {
    let mut file = std::fs::File::open(part).map_err(|_| ResultCode::UPDATE_FAILED)?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|_| ResultCode::UPDATE_FAILED)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    if total != d.size || !hex::encode(hasher.finalize()).eq_ignore_ascii_case(&d.sha256) {
        let _ = std::fs::remove_file(part);
        return Err(ResultCode::CORRUPTED);
    }
    Ok(part.to_path_buf())
}

#[cfg(test)]
mod tests {
    //! Downloads cut at random byte offsets, against a server whose ranges and validators are
    //! `shared::range`'s: every one resumes and ends with the right SHA-256.

    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use portaldm_shared::rand::{SecureRandom as _, TestRng};

    use super::*;

    /// Serves `blob` (any path), cutting the next responses after the body offsets in `cuts`;
    /// also returns the body bytes each response carried.
    fn serve(blob: Arc<Vec<u8>>, cuts: Arc<Mutex<Vec<u64>>>) -> (String, Arc<Mutex<Vec<u64>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/dl/x", listener.local_addr().expect("addr"));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let (mut range, mut if_range) = (None, None);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.trim_end().split_once(':') {
                        match k.to_ascii_lowercase().as_str() {
                            "range" => range = Some(v.trim().to_owned()),
                            "if-range" => if_range = Some(v.trim().to_owned()),
                            _ => {}
                        }
                    }
                }

                let tag = range::etag(&hex::encode(Sha256::digest(&blob[..])));
                let len = blob.len() as u64;
                let sel = range::select(len, &tag, None, range.as_deref(), if_range.as_deref());
                let (from, n) = match sel {
                    range::Selection::Partial { start, end } => (start, end - start + 1),
                    _ => (0, sel.body_len(len)),
                };
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {n}\r\nETag: {tag}\r\nConnection: close\r\n",
                    sel.status()
                );
                if let Some(cr) = sel.content_range(len) {
                    head.push_str(&format!("Content-Range: {cr}\r\n"));
                }
                head.push_str("\r\n");
                let cut = cuts.lock().expect("lock").pop();
                let body = &blob[from as usize..(from + n) as usize];
                let sent = cut.map_or(body.len(), |c| (c as usize).min(body.len()));
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body[..sent]);
                seen.lock().expect("lock").push(sent as u64);
            }
        });
        (url, ranges)
    }

    fn below(rng: &mut TestRng, n: u64) -> u64 {
        let mut b = [0u8; 8];
        rng.fill(&mut b).expect("rng");
        u64::from_le_bytes(b) % n.max(1)
    }

    #[test]
    fn downloads_cut_at_random_offsets_resume_and_verify() {
        let runs: u64 = std::env::var("PDM_FAULT_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
        let mut rng = TestRng(0x5eed_d0e5);
        let agent = crate::http::agent();
        for run in 0..runs {
            let len = 1 + below(&mut rng, 300_000);
            let blob: Vec<u8> = (0..len).map(|_| below(&mut rng, 256) as u8).collect();
            // One to three cuts, each at a random offset of what that response carries.
            let cuts: Vec<u64> = (0..1 + below(&mut rng, 3)).map(|_| below(&mut rng, len)).collect();
            let (url, sent) = serve(Arc::new(blob.clone()), Arc::new(Mutex::new(cuts.clone())));
            let d = FumoDelivery {
                url,
                sha256: hex::encode(Sha256::digest(&blob)),
                size: len,
                pkg_name: "p".into(),
                pkg_version: "1".into(),
                ..FumoDelivery::default()
            };
            let dir = tempfile::tempdir().expect("dir");
            let got = fetch_with_backoff(&agent, &d, dir.path(), std::time::Duration::ZERO);
            let path = got.unwrap_or_else(|c| panic!("run {run}: {len} bytes cut at {cuts:?} failed with {c:?}"));
            assert_eq!(std::fs::read(path).expect("read"), blob, "run {run}");
            // Resumed, not restarted: no byte crossed the wire twice.
            let sent = sent.lock().expect("lock").clone();
            assert_eq!(sent.iter().sum::<u64>(), len, "run {run}: bytes per response {sent:?}");
        }
    }
}
