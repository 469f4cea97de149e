//! WBXML through a real third-party codec: libwbxml's `xml2wbxml` and `wbxml2xml` (Debian
//! libwbxml2-utils), run on temp files with a deadline, so portaldm's own codec is checked against it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::StockError;

/// How long one conversion may take.
const DEADLINE: Duration = Duration::from_secs(10);

fn run(tool: &str, args: &[&str], dir: &Path) -> Result<(), StockError> {
    let mut child = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| StockError::Wbxml(format!("{tool}: {e} (install libwbxml2-utils)")))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return if status.success() { Ok(()) } else { Err(StockError::Wbxml(format!("{tool} failed: {status}"))) };
        }
        if start.elapsed() > DEADLINE {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            return Err(StockError::Wbxml(format!("{tool} took longer than {DEADLINE:?}")));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// XML to WBXML 1.2 (SyncML 1.2 public id, no string table, as handsets send).
pub fn encode(xml: &[u8]) -> Result<Vec<u8>, StockError> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("in.xml"), xml)?;
    run("xml2wbxml", &["-v", "1.2", "-n", "-o", "out.wbxml", "in.xml"], dir.path())?;
    Ok(std::fs::read(dir.path().join("out.wbxml"))?)
}

/// WBXML to XML.
pub fn decode(wbxml: &[u8]) -> Result<Vec<u8>, StockError> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("in.wbxml"), wbxml)?;
    run("wbxml2xml", &["-o", "out.xml", "in.wbxml"], dir.path())?;
    Ok(std::fs::read(dir.path().join("out.xml"))?)
}
