//! Section 6: footprint. Bytes on disk of the ledger against its JSON Lines export (and SQLite's
//! file for the same rows), and a child process serving the data directory exactly as
//! `samverkan serve` does: time from spawn until `/healthz` answers, and its peak RSS (`VmHWM`)
//! after a county-wide query – once folding the whole ledger, once from the snapshot the first
//! (gracefully stopped) run left – and again once the background verification that every start
//! runs has finished (its peak, and what stays resident after it).

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

    // The first start folds the whole ledger; a graceful stop keeps the snapshot and the ledger's
    // indexes; the second start reads them.
    let mut rows = Vec::new();
    for (what, target) in
        [("no snapshot: fold the whole ledger", "≤ 2 s"), ("from the snapshot the first one left", "≤ 1 s")]
    {
        rows.push((what, target, serve_once(data)?));
    }
    for (what, target, Served { serving, .. }) in &rows {
        let limit = if target.contains('1') { 1.0 } else { 2.0 };
        report.row(
            "6",
            format!("start to serving (`samverkan serve`: open, {what}, bind, /healthz answers)"),
            format!("{serving:.2} s"),
            "",
            "",
            *target,
            Verdict::of(*serving <= limit),
        );
    }
    for (what, _, Served { peak, .. }) in &rows {
        report.row(
            "6",
            format!("peak RSS of the serving process (VmHWM, after a county-wide query; {what})"),
            bytes(*peak),
            "",
            "",
            "≤ 400 MiB",
            Verdict::of(*peak <= 400 * 1024 * 1024),
        );
    }
    for (what, _, Served { verified: (peak, resident), .. }) in &rows {
        report.row(
            "6",
            format!("peak RSS after the first background verification (VmHWM; VmRSS after it in the baseline column; {what})"),
            bytes(*peak),
            format!("resident after it {}", bytes(*resident)),
            "",
            "≤ 400 MiB",
            Verdict::of(*peak <= 400 * 1024 * 1024),
        );
    }
    for (what, _, Served { stop, .. }) in &rows {
        report.row(
            "6",
            format!("peak RSS of the whole run, read until the graceful stop (which writes the snapshot and the ledger's indexes) exits (VmHWM; {what})"),
            stop.map_or_else(|| "not read".to_owned(), bytes),
            "",
            "",
            "≤ 400 MiB",
            Verdict::of(stop.is_some_and(|peak| peak <= 400 * 1024 * 1024)),
        );
    }
    Ok(())
}

/// Starts `samverkan serve` on the data directory, times it until `/healthz` answers, asks a
/// county-wide question, reads its peak RSS, waits for the background verification the start
/// began, reads its peak and resident RSS again, and stops it gracefully (which keeps the
/// snapshot), reading its peak RSS until it exits.
fn serve_once(data: &Dataset) -> anyhow::Result<Served> {
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
    let result = (|| -> anyhow::Result<Served> {
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
        let status = |key: &str| proc_status(child.id(), key).ok_or_else(|| anyhow::anyhow!("no {key} for the child"));
        let peak = status("VmHWM:")?;
        // The verification's last success, in the metrics, once it has finished.
        loop {
            let (_, metrics) = http.request("GET", "/metrics", "")?;
            let verified = String::from_utf8_lossy(&metrics).lines().any(|line| {
                line.strip_prefix("samverkan_verify_last_success_events ")
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .is_some_and(|n| n > 0.0)
            });
            if verified {
                break;
            }
            anyhow::ensure!(start.elapsed() < BOUND, "the background verification did not finish within {BOUND:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Served { serving, peak, verified: (status("VmHWM:")?, status("VmRSS:")?), stop: None })
    })();
    // SIGTERM: the graceful stop, which keeps the snapshot for the next start.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + BOUND;
    // The peak is a high-water mark: the last reading before the process is gone holds the stop's.
    let mut stop_peak = None;
    while child.try_wait()?.is_none() {
        if let Some(peak) = proc_status(child.id(), "VmHWM:") {
            stop_peak = Some(peak);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.wait();
    result.map(|served| Served { stop: stop_peak, ..served })
}

/// What one serving child measured.
struct Served {
    /// Seconds from spawn to `/healthz` answering.
    serving: f64,
    /// Peak RSS after the county-wide question.
    peak: u64,
    /// Peak and resident RSS after the first background verification.
    verified: (u64, u64),
    /// Peak RSS read last before the child exited.
    stop: Option<u64>,
}
