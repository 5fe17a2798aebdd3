//! Section 9: `samverkan import` of the dataset's JSON Lines export into a fresh data directory, as
//! a child process exactly as an operator runs it (parse, validate with the projections' rules,
//! append all or nothing): events per second over the whole command, and the child's peak RSS
//! (`VmHWM`, read from `/proc` while it runs; the last reading before it exits is its peak).
//!
//! The disk is settled first (`sync`), so that the kernel's writing back of the dataset just
//! built does not run inside the measurement; the import's own durability (its `fdatasync`s and
//! the final flush) stays inside the measured time.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dataset::Dataset;
use crate::footprint::proc_status;
use crate::report::{Report, Verdict, bytes, rate};

/// How often the child's high-water mark is read.
const POLL: Duration = Duration::from_millis(10);

pub(crate) fn run(data: &Dataset, dir: &std::path::Path, report: &mut Report) -> anyhow::Result<()> {
    let target = dir.join("imported");
    anyhow::ensure!(!target.exists(), "{} exists already", target.display());
    let exe = std::env::current_exe()?;
    let settle = Instant::now();
    let synced = Command::new("sync").status()?;
    anyhow::ensure!(synced.success(), "sync exited with {synced}");
    eprintln!("  sync before the import: {:.2} s", settle.elapsed().as_secs_f64());
    let start = Instant::now();
    let mut child = Command::new(exe)
        .arg("serve-child")
        .arg("import")
        .arg(&data.jsonl)
        .arg("--data")
        .arg(&target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut peak = 0;
    let mut cpu = (0.0f64, 0.0f64);
    let status = loop {
        if let Some(hwm) = proc_status(child.id(), "VmHWM:") {
            peak = peak.max(hwm);
        }
        cpu = cpu_seconds(child.id()).unwrap_or(cpu);
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(POLL);
    };
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut stderr)?;
        }
        anyhow::bail!("samverkan import exited with {status}: {stderr}");
    }
    let events = data.events();
    let per_second = events as f64 / seconds;
    let (user, system) = cpu;
    eprintln!("  import: {seconds:.2} s, CPU (as of the last reading) user {user:.2} s, system {system:.2} s");
    let cpu = user + system;
    report.row(
        "9",
        format!("`samverkan import` of {events} events into a new data directory (whole command)"),
        rate(per_second, "events"),
        format!("{seconds:.1} s (CPU {cpu:.1} s), after `sync`"),
        "",
        "≥ 100,000 events/s",
        Verdict::of(per_second >= 100_000.0),
    );
    report.row(
        "9",
        format!("peak RSS of `samverkan import` of {events} events (VmHWM)"),
        bytes(peak),
        format!("JSON Lines file {}", bytes(std::fs::metadata(&data.jsonl)?.len())),
        "",
        "≤ 256 MiB at any size",
        Verdict::of(peak <= 256 * 1024 * 1024),
    );
    std::fs::remove_dir_all(&target)?;
    Ok(())
}

/// The CPU time (user, system) a process has used so far, from `/proc/<pid>/stat` (in clock ticks
/// of 1/100 s, Linux's `USER_HZ` on every platform it runs on).
pub(crate) fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command's name is in parentheses and may hold spaces: the fields are counted after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user as f64 / 100.0, system as f64 / 100.0))
}
