//! Section 6: footprint. Bytes on disk of the ledger against its JSON Lines export (and SQLite's
//! file for the same rows), and a child process serving the data directory exactly as
//! `samverkan serve` does: time from spawn until `/healthz` answers, and its peak RSS (`VmHWM`)
//! after a county-wide query.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dataset::Dataset;
use crate::report::{Report, Verdict, bytes, ratio};
use crate::server::Http;

/// The longest the child may take to serve.
const BOUND: Duration = Duration::from_secs(300);

/// Apparent size and allocated size of everything under `path`.
fn disk_usage(path: &Path) -> anyhow::Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok((meta.len(), meta.blocks() * 512));
    }
    let mut total = (0, 0);
    for entry in std::fs::read_dir(path)? {
        let (a, b) = disk_usage(&entry?.path())?;
        total = (total.0 + a, total.1 + b);
    }
    Ok(total)
}

/// A `VmHWM`/`VmRSS` value of `/proc/PID/status`, in bytes.
pub(crate) fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub(crate) fn run(data: &Dataset, report: &mut Report) -> anyhow::Result<()> {
    let (ledger_len, ledger_alloc) = disk_usage(&data.ledger_dir())?;
    let jsonl = std::fs::metadata(&data.jsonl)?.len();
    let (sqlite_len, _) = disk_usage(&data.sqlite)?;
    report.row(
        "6",
        format!("bytes on disk, {} events (allocated; apparent {})", data.events(), bytes(ledger_len)),
        bytes(ledger_alloc),
        format!("JSON Lines export {} (SQLite with the same JSON: {})", bytes(jsonl), bytes(sqlite_len)),
        ratio(ledger_alloc as f64, jsonl as f64),
        "≤ 3× JSONL",
        Verdict::of(ledger_alloc as f64 <= 3.0 * jsonl as f64),
    );

    // A free port for the child (a small race with other processes binding meanwhile).
    let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let exe = std::env::current_exe()?;
    let start = Instant::now();
    let mut child = Command::new(exe)
        .arg("serve-child")
        .args(["serve", "--no-seed", "--data"])
        .arg(&data.data_dir)
        .args(["--listen", &addr.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| -> anyhow::Result<(f64, u64)> {
        let mut http = loop {
            if let Ok(mut http) = Http::connect(addr) {
                if matches!(http.request("GET", "/healthz", ""), Ok((200, _))) {
                    break http;
                }
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the server exited with {status} before serving");
            }
            anyhow::ensure!(start.elapsed() < BOUND, "the server did not serve within {BOUND:?}");
            std::thread::sleep(Duration::from_millis(5));
        };
        let serving = start.elapsed().as_secs_f64();
        http.graphql("{ agreements(at: \"2020-01-01\") { id status inForce version } }")?;
        let peak = proc_status(child.id(), "VmHWM:").ok_or_else(|| anyhow::anyhow!("no VmHWM for the child"))?;
        Ok((serving, peak))
    })();
    let _ = child.kill();
    let _ = child.wait();
    let (serving, peak) = result?;
    report.row(
        "6",
        "start to serving (`samverkan serve`: open, fold the whole ledger, bind, /healthz answers)",
        format!("{serving:.2} s"),
        "",
        "",
        "≤ 2 s",
        Verdict::of(serving <= 2.0),
    );
    report.row(
        "6",
        "peak RSS of the serving process (VmHWM, after a county-wide query)",
        bytes(peak),
        "",
        "",
        "≤ 1 GiB",
        Verdict::of(peak <= 1024 * 1024 * 1024),
    );
    Ok(())
}
