//! Sections 1 and 2: durable appends. A single appender against a raw `write + fdatasync` loop on
//! the same disk, and 1, 8 and 64 concurrent appenders against a raw group-commit loop and against
//! SQLite (WAL, synchronous=FULL, one transaction per append), all in the same run.
//!
//! The baselines run interleaved with the ledger (single appends: operation by operation;
//! concurrent: window by window, in rounds), so a burst of load from other work on the machine hits
//! both sides instead of skewing the ratio.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use ledger::{Append, AppendOutcome, Ledger, LedgerConfig, NewEvent};

use crate::report::{Report, Samples, Verdict, median, rate, ratio, us};
use crate::sqlite::SqliteLog;
use crate::{Plan, Side};

/// The size of one raw record: about what the ledger writes for the benchmark's event (a
/// `DecisionRecorded` record with its index entries), so the raw loops move comparable bytes.
const RAW_RECORD: usize = 256;

/// The event every append section writes: a decision in its own stream.
pub(crate) fn event(writer: usize, i: u64) -> NewEvent {
    samverkan_tests::decision(&format!("w{writer}-{i}"))
}

/// What the single-append section hands on: the fsync p50 the subscription target is relative to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SingleResult {
    pub(crate) raw_fdatasync_p50: f64,
}

/// Section 1: one appender at a time, alternating with two raw loops: appending to a
/// growing file (what a log does, and what sled does: every sync also commits the file's new size
/// to the filesystem journal) and overwriting a block of an already written file (the cheapest
/// durable write this disk offers: no metadata to commit).
pub(crate) fn single(plan: &Plan, dir: &Path, report: &mut Report) -> anyhow::Result<SingleResult> {
    let ledger = Ledger::open(dir.join("ledger-single"), LedgerConfig::default())?;
    let mut raw = OpenOptions::new().create(true).append(true).open(dir.join("raw-single.log"))?;
    let mut over = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("raw-overwrite.dat"))?;
    over.write_all(&vec![0u8; RAW_RECORD * 64])?;
    over.sync_all()?;
    let record = vec![b'x'; RAW_RECORD];
    let (mut raw_lat, mut over_lat, mut ledger_lat) = (Samples::default(), Samples::default(), Samples::default());
    // Warm up all three (file creation, sled's first segment).
    for i in 0..10 {
        raw_append(&mut raw, &record)?;
        raw_overwrite(&mut over, &record, i)?;
        commit(&ledger, event(0, 1_000_000 + i))?;
    }
    // Alternating one operation of each: the disk's latency here swings by an order of magnitude
    // with what other processes are syncing, and alternation gives all three the same conditions.
    for i in 0..plan.single_appends as u64 {
        let t = Instant::now();
        raw_append(&mut raw, &record)?;
        raw_lat.push(t.elapsed());
        let t = Instant::now();
        raw_overwrite(&mut over, &record, i)?;
        over_lat.push(t.elapsed());
        let e = event(0, i);
        let t = Instant::now();
        commit(&ledger, e)?;
        ledger_lat.push(t.elapsed());
    }
    let (rp50, lp50) = (raw_lat.p50(), ledger_lat.p50());
    report.row(
        "1",
        format!("single durable append, p50 ({} appends)", ledger_lat.len()),
        us(lp50),
        format!("raw append+fdatasync p50 {}", us(rp50)),
        ratio(lp50, rp50),
        "≤ 1.3× raw p50",
        Verdict::of(lp50 <= 1.3 * rp50),
    );
    report.row(
        "1",
        "single durable append, p99",
        us(ledger_lat.p99()),
        format!("raw append+fdatasync p99 {}", us(raw_lat.p99())),
        ratio(ledger_lat.p99(), raw_lat.p99()),
        "",
        Verdict::Info,
    );
    report.row(
        "1",
        "— single durable append against the cheapest durable write (p50 / p99)",
        format!("{} / {}", us(lp50), us(ledger_lat.p99())),
        format!("raw overwrite+fdatasync {} / {}", us(over_lat.p50()), us(over_lat.p99())),
        ratio(lp50, over_lat.p50()),
        "",
        Verdict::Info,
    );
    Ok(SingleResult { raw_fdatasync_p50: rp50 })
}

fn raw_overwrite(file: &mut File, record: &[u8], i: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(record, (i % 64) * RAW_RECORD as u64)?;
    file.sync_data()
}

fn raw_append(file: &mut File, record: &[u8]) -> std::io::Result<()> {
    file.write_all(record)?;
    file.sync_data()
}

pub(crate) fn commit(ledger: &Ledger, event: NewEvent) -> anyhow::Result<ledger::Timestamp> {
    match ledger.append(Append::one(event))? {
        AppendOutcome::Committed(c) => Ok(c[0].event.recorded_at()),
        AppendOutcome::Conflict(c) => anyhow::bail!("unexpected conflict {c:?}"),
    }
}

/// One side's result for one writer count.
#[derive(Debug, Default, Clone)]
pub(crate) struct Throughput {
    pub(crate) appends: u64,
    pub(crate) seconds: f64,
    pub(crate) commits: u64,
    pub(crate) latency: Samples,
}

impl Throughput {
    pub(crate) fn rate(&self) -> f64 {
        self.appends as f64 / self.seconds.max(1e-9)
    }
    pub(crate) fn batch(&self) -> f64 {
        self.appends as f64 / self.commits.max(1) as f64
    }

    /// The run with the median rate, so its batch size and latencies belong to that rate.
    pub(crate) fn median_of(runs: &[Throughput]) -> Throughput {
        let m = median(&runs.iter().map(Throughput::rate).collect::<Vec<_>>());
        runs.iter().min_by(|a, b| (a.rate() - m).abs().total_cmp(&(b.rate() - m).abs())).cloned().unwrap_or_default()
    }
}

/// Section 2: 1, 8 and 64 writers; each writer appends one event at a time and waits for it.
pub(crate) fn concurrent(plan: &Plan, dir: &Path, report: &mut Report) -> anyhow::Result<()> {
    let ledger = Ledger::open(dir.join("ledger-concurrent"), LedgerConfig::default())?;
    let sqlite = SqliteLog::create(&dir.join("concurrent.sqlite"))?;
    let sqlite = Arc::new(std::sync::Mutex::new(sqlite));
    let raw_path = dir.join("raw-group.log");
    let mut serial = 0u64;
    for &writers in &plan.writers {
        let (mut raw_runs, mut ledger_runs, mut sqlite_runs) = (Vec::new(), Vec::new(), Vec::new());
        let mut sqlite_own_runs = Vec::new();
        for _ in 0..plan.rounds_concurrent {
            if plan.sides.contains(&Side::Raw) {
                raw_runs.push(raw_group(writers, plan.window, &raw_path)?);
            }
            if plan.sides.contains(&Side::Ledger) {
                ledger_runs.push(ledger_group(writers, plan.window, &ledger, &mut serial)?);
            }
            if plan.sides.contains(&Side::Sqlite) {
                sqlite_runs.push(sqlite_group(writers, plan.window, &sqlite, &mut serial)?);
                let path = dir.join("concurrent.sqlite");
                sqlite_own_runs.push(sqlite_own_connections(writers, plan.window, &path, &mut serial)?);
            }
        }
        eprintln!(
            "  {writers} writers: raw {:?}, ledger {:?}, sqlite {:?} (own connections {:?}) appends/s; ledger commits {:?}, raw commits {:?}",
            raw_runs.iter().map(|r| r.rate().round()).collect::<Vec<_>>(),
            ledger_runs.iter().map(|r| r.rate().round()).collect::<Vec<_>>(),
            sqlite_runs.iter().map(|r| r.rate().round()).collect::<Vec<_>>(),
            sqlite_own_runs.iter().map(|r| r.rate().round()).collect::<Vec<_>>(),
            ledger_runs.iter().map(|r| (r.appends, r.commits)).collect::<Vec<_>>(),
            raw_runs.iter().map(|r| (r.appends, r.commits)).collect::<Vec<_>>(),
        );
        let pick = Throughput::median_of;
        let (raw, led, sql) = (pick(&raw_runs), pick(&ledger_runs), pick(&sqlite_runs));
        let sql_own = pick(&sqlite_own_runs);
        // Issue 18's targets: 8 writers ≥ 0.7× the raw group commit, 64 writers ≥ 0.8× and ≥ 3×
        // SQLite (in both of its configurations).
        let raw_target = match writers {
            8 => Some(0.7),
            64 => Some(0.8),
            _ => None,
        };
        let target_sqlite = writers == 64;
        report.row(
            "2",
            format!(
                "{writers} writers: ledger appends (mean batch {:.1}, p50 {}, p99 {})",
                led.batch(),
                us(led.latency.p50()),
                us(led.latency.p99())
            ),
            rate(led.rate(), "appends"),
            format!("raw group commit {} (mean batch {:.1})", rate(raw.rate(), "appends"), raw.batch()),
            ratio(led.rate(), raw.rate()),
            raw_target.map_or(String::new(), |t| format!("≥ {t}× raw")),
            raw_target
                .map_or(Verdict::Info, |t| Verdict::compared(led.rate(), raw.rate(), led.rate() >= t * raw.rate())),
        );
        report.row(
            "2",
            format!(
                "{writers} writers: ledger against SQLite WAL+FULL (SQLite p50 {}, p99 {})",
                us(sql.latency.p50()),
                us(sql.latency.p99())
            ),
            rate(led.rate(), "appends"),
            format!("SQLite {}", rate(sql.rate(), "appends")),
            ratio(led.rate(), sql.rate()),
            if target_sqlite { "≥ 3× SQLite" } else { "" },
            if target_sqlite {
                Verdict::compared(led.rate(), sql.rate(), led.rate() >= 3.0 * sql.rate())
            } else {
                Verdict::Info
            },
        );
        report.row(
            "2",
            format!(
                "{writers} writers: ledger against SQLite WAL+FULL, a connection per writer (SQLite p50 {}, p99 {})",
                us(sql_own.latency.p50()),
                us(sql_own.latency.p99())
            ),
            rate(led.rate(), "appends"),
            format!("SQLite {}", rate(sql_own.rate(), "appends")),
            ratio(led.rate(), sql_own.rate()),
            if target_sqlite { "≥ 3× SQLite" } else { "" },
            if target_sqlite {
                Verdict::compared(led.rate(), sql_own.rate(), led.rate() >= 3.0 * sql_own.rate())
            } else {
                Verdict::Info
            },
        );
    }
    Ok(())
}

/// Runs `writers` threads until `window` has passed; each calls `append(writer, i)` in a loop and
/// returns the latencies and whatever `append` returned.
pub(crate) fn drive<T: Send + 'static>(
    writers: usize,
    window: Duration,
    append: impl Fn(usize, u64) -> anyhow::Result<T> + Send + Sync + 'static,
) -> anyhow::Result<(Vec<T>, Samples, f64)> {
    let append = Arc::new(append);
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(writers + 1));
    let mut handles = Vec::new();
    for w in 0..writers {
        let (append, stop, barrier) = (append.clone(), stop.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || -> anyhow::Result<(Vec<T>, Samples)> {
            let mut out = Vec::new();
            let mut lat = Samples::default();
            barrier.wait();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                out.push(append(w, i)?);
                lat.push(t.elapsed());
                i += 1;
            }
            Ok((out, lat))
        }));
    }
    barrier.wait();
    let start = Instant::now();
    std::thread::sleep(window);
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut latency = Samples::default();
    for h in handles {
        let (out, lat) = h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        all.extend(out);
        latency.extend(&lat);
    }
    // Writers finish the append they were in; the window ends when the last one returns.
    let seconds = start.elapsed().as_secs_f64();
    Ok((all, latency, seconds))
}

pub(crate) fn ledger_group(
    writers: usize,
    window: Duration,
    ledger: &Ledger,
    serial: &mut u64,
) -> anyhow::Result<Throughput> {
    *serial += 1;
    let base = *serial * 100_000_000;
    let ledger = ledger.clone();
    let (times, latency, seconds) = drive(writers, window, move |w, i| commit(&ledger, event(w, base + i)))?;
    // The writer gives every event of one group commit the same record time, so distinct record
    // times count the commits.
    let commits = times.iter().map(|t| t.as_micros()).collect::<HashSet<_>>().len() as u64;
    Ok(Throughput { appends: times.len() as u64, seconds, commits, latency })
}

fn sqlite_group(
    writers: usize,
    window: Duration,
    sqlite: &Arc<std::sync::Mutex<SqliteLog>>,
    serial: &mut u64,
) -> anyhow::Result<Throughput> {
    *serial += 1;
    let base = *serial * 100_000_000;
    let sqlite = sqlite.clone();
    let (done, latency, seconds) = drive(writers, window, move |w, i| {
        let e = event(w, base + i);
        let mut log = sqlite.lock().map_err(|_| anyhow::anyhow!("sqlite lock poisoned"))?;
        log.append(&e)
    })?;
    let appends = done.len() as u64;
    Ok(Throughput { appends, seconds, commits: appends, latency })
}

/// SQLite with a connection of its own per writer, all on the same file: the writers contend for
/// SQLite's write lock (`BEGIN IMMEDIATE`) through its busy handler, which sleeps and retries.
fn sqlite_own_connections(
    writers: usize,
    window: Duration,
    path: &Path,
    serial: &mut u64,
) -> anyhow::Result<Throughput> {
    *serial += 1;
    let base = *serial * 100_000_000;
    // One mutex per writer, each only ever taken by its own writer: a way to give every thread of
    // `drive` a connection of its own.
    let connections =
        (0..writers).map(|_| SqliteLog::create(path).map(std::sync::Mutex::new)).collect::<anyhow::Result<Vec<_>>>()?;
    let (done, latency, seconds) = drive(writers, window, move |w, i| {
        let e = event(w, base + i);
        let connection = connections.get(w).ok_or_else(|| anyhow::anyhow!("no connection for writer {w}"))?;
        let mut log = connection.lock().map_err(|_| anyhow::anyhow!("sqlite lock poisoned"))?;
        log.append(&e)
    })?;
    let appends = done.len() as u64;
    Ok(Throughput { appends, seconds, commits: appends, latency })
}

/// A request to the raw group committer.
struct RawRequest {
    record: Vec<u8>,
    done: mpsc::SyncSender<()>,
}

/// The disk's group-commit limit: one committer thread takes every record waiting, writes them
/// with one `write` and one `fdatasync`, then releases their writers. No encoding, no index.
fn raw_group(writers: usize, window: Duration, path: &Path) -> anyhow::Result<Throughput> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let (tx, rx) = mpsc::channel::<RawRequest>();
    let committer = std::thread::spawn(move || -> std::io::Result<u64> {
        let mut commits = 0;
        let mut buffer = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while let Ok(next) = rx.try_recv() {
                batch.push(next);
            }
            buffer.clear();
            for r in &batch {
                buffer.extend_from_slice(&r.record);
            }
            file.write_all(&buffer)?;
            file.sync_data()?;
            commits += 1;
            for r in batch {
                let _ = r.done.send(());
            }
        }
        Ok(commits)
    });
    let sender = tx.clone();
    let (done, latency, seconds) = drive(writers, window, move |_, _| {
        let (done, wait) = mpsc::sync_channel(1);
        let request = RawRequest { record: vec![b'x'; RAW_RECORD], done };
        sender.send(request).map_err(|_| anyhow::anyhow!("the committer stopped"))?;
        wait.recv()?;
        Ok(())
    })?;
    drop(tx);
    let commits = committer.join().map_err(|_| anyhow::anyhow!("committer panicked"))??;
    Ok(Throughput { appends: done.len() as u64, seconds, commits, latency })
}
