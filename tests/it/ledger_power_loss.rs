//! Power loss, simulated: SIGKILL cannot tell a skipped `fsync` from a done one, so this test records
//! every file-system operation of a real child process (an `LD_PRELOAD` shim, `tests/shim/record_io.c`,
//! built here with the system's C compiler) and then, for every `fsync`/`fdatasync` the child
//! completed, rebuilds the directory a power cut right after it would leave – only what a sync
//! covered survives (the model is in `ledger_power_loss/replay.rs`) – opens it with `Ledger::open`,
//! verifies the chain and checks that every append acknowledged before that sync is there with its
//! position, id and hash. The child opens, appends (one at a time and from four threads) and closes
//! the ledger several times, and every third run dies between writes and their sync, so the
//! boundaries cover sled's recovery (of a clean close and of a crash), its snapshot at open and the
//! head manifest's rewrites, not only commits. `POWER_LOSS_BOUNDARIES` sets how many boundaries the
//! trace must hold (CI: 150).

mod replay;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ledger::{EventId, Hash, Ledger, LedgerConfig, Position};
use replay::{Model, Op, Record, Step, SyncCall};

const CHILD: &str = env!("CARGO_BIN_EXE_ledger-crash-child");

/// An append the child acknowledged.
#[derive(Debug, Clone)]
struct Ack {
    position: Position,
    id: EventId,
    hash: Hash,
}

/// Builds the shim into `dir` with `$CC` (or `cc`).
fn build_shim(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("shim/record_io.c");
    let out = dir.join("record_io.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| panic!("the C compiler {cc} runs (it builds rusqlite's SQLite too): {e}"));
    assert!(status.success(), "{cc} failed to build {}", source.display());
    out
}

/// Runs the child once under the shim and returns what it printed. With `exit_at`, the shim ends
/// the child (status 137) as it is about to make that many syncs, a crash with written but unsynced
/// data. With `journal_limit`, the ledger checkpoints at that size of its commit journal.
fn run_child(
    shim: &Path,
    data: &Path,
    trace: &Path,
    args: &[&str],
    exit_at: Option<u64>,
    journal_limit: Option<u64>,
) -> String {
    let mut command = Command::new(CHILD);
    command.arg(data).args(args).env("LD_PRELOAD", shim).env("RECORD_IO_DIR", data).env("RECORD_IO_TRACE", trace);
    if let Some(bytes) = journal_limit {
        command.env("CHILD_JOURNAL_LIMIT", bytes.to_string());
    }
    if let Some(n) = exit_at {
        command.env("RECORD_IO_EXIT_AT", n.to_string());
    }
    let output = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).output().expect("child starts");
    match exit_at {
        None => assert!(output.status.success(), "child {args:?} failed: {}", output.status),
        Some(n) => assert_eq!(output.status.code(), Some(137), "child {args:?} was to die at sync {n}"),
    }
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn parse_ack(line: &str) -> Ack {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [_ack, position, id, hash] = parts[..] else { panic!("unexpected child output {line:?}") };
    Ack {
        position: Position::new(position.parse().expect("position")),
        id: id.parse().expect("event id"),
        hash: hash.parse().expect("hash"),
    }
}

fn is_boundary(record: &Record) -> bool {
    matches!(record.op, Op::Sync { how: SyncCall::Fsync | SyncCall::Fdatasync, result: 0, .. })
}

fn read_trace(trace: &Path) -> Vec<Record> {
    replay::parse(&std::fs::read(trace).expect("trace written")).expect("trace parses")
}

/// A traced workload.
struct Traced {
    records: Vec<Record>,
    runs: u64,
    /// The acknowledgements the child printed.
    printed: usize,
}

/// Where the dying runs die: as they call their n-th sync. The first few are in the open (sled's
/// recovery and snapshot, the directory's and the manifest's syncs), the later ones between a
/// commit's writes and its `fdatasync`.
const EXIT_AT: [u64; 12] = [2, 14, 1, 19, 3, 8, 4, 22, 5, 11, 6, 7];

/// Runs the child under the shim until the trace holds `target` boundaries: runs of one open, some
/// appends and a close – one writer, then four – and a run that dies as it calls a sync
/// ([`EXIT_AT`]).
fn trace_workload(shim: &Path, data: &Path, trace: &Path, target: usize) -> Traced {
    let mut printed = 0;
    let mut runs: u64 = 0;
    loop {
        // Every other round of three, the ledger checkpoints every 2 KiB of journal (about five
        // appends), so that crash states fall between a checkpoint's flush, its sync and the
        // journal's truncation, not only at the open and the close.
        let limit = ((runs / 3) % 2 == 1).then_some(2048);
        let out = match runs % 3 {
            0 => run_child(shim, data, trace, &["count", "30"], None, limit),
            1 => run_child(shim, data, trace, &["threads", "4", "10"], None, limit),
            _ => run_child(
                shim,
                data,
                trace,
                &["count", "1000"],
                Some(EXIT_AT[(runs / 3) as usize % EXIT_AT.len()]),
                limit,
            ),
        };
        printed += out.lines().filter(|l| l.starts_with("ack ")).count();
        runs += 1;
        let records = read_trace(trace);
        if records.iter().filter(|r| is_boundary(r)).count() >= target {
            return Traced { records, runs, printed };
        }
        assert!(runs < target as u64, "{runs} runs and still fewer than {target} boundaries: is the shim recording?");
    }
}

/// What a replay checked.
#[derive(Debug)]
struct Replayed {
    /// Crash states opened and checked (one per boundary, and the one after the last).
    states: usize,
    /// Acknowledgements in the trace.
    acks: usize,
}

/// Replays the trace: every durable state the model gives is rebuilt in `scratch`, opened and
/// checked against the acknowledgements made while it was the durable state. The first state that
/// fails is the error, described.
fn replay_all(records: &[Record], data: &Path, scratch: &Path) -> Result<Replayed, String> {
    let mut model = Model::new(data);
    let mut acks: Vec<Ack> = Vec::new();
    let mut out = String::new();
    let mut states = 0;
    let mut since = "the start".to_string();
    for (index, record) in records.iter().enumerate() {
        if is_boundary(record) {
            // The durable state since the last boundary held until this sync returned: a power cut
            // just before that leaves it, and every append acknowledged by then must be in it.
            check_state(&model, scratch, &acks)
                .map_err(|e| format!("a power cut after {since}, before record {index} ({record:?}): {e}"))?;
            states += 1;
            since = format!("record {index} ({record:?}), {} acknowledged appends then", acks.len());
        }
        let step = model.apply(record).unwrap_or_else(|e| panic!("record {index} ({record:?}): {e}"));
        assert_eq!(step == Step::Boundary, is_boundary(record), "record {index}: the model and the test disagree");
        if let Op::Out { data } = &record.op {
            out.push_str(std::str::from_utf8(data).expect("utf-8 output"));
            while let Some(end) = out.find('\n') {
                let line: String = out.drain(..=end).collect();
                acks.push(parse_ack(line.trim_end()));
            }
        }
    }
    check_state(&model, scratch, &acks).map_err(|e| format!("a power cut after {since}, the last sync: {e}"))?;
    let _ = std::fs::remove_dir_all(scratch);
    Ok(Replayed { states: states + 1, acks: acks.len() })
}

/// Rebuilds the model's durable state in `scratch`, opens it, verifies the chain and checks that it
/// holds every acknowledged append.
fn check_state(model: &Model, scratch: &Path, acks: &[Ack]) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir(scratch).map_err(|e| format!("scratch: {e}"))?;
    model.materialize(scratch).map_err(|e| format!("rebuilding: {e}"))?;
    // sled 0.34.7 writes its `conf` once, when it creates the database, and never syncs it; an
    // empty one is rewritten at open, but a torn one fails it. The ledger syncs it (durability.rs).
    let conf = std::fs::metadata(scratch.join("conf")).map(|m| m.len());
    if scratch.join("db").exists() && !matches!(conf, Ok(len) if len > 8) {
        return Err(format!("sled's db is there but its conf is not ({conf:?})"));
    }
    let ledger = Ledger::open(scratch, LedgerConfig::default()).map_err(|e| format!("open failed: {e}"))?;
    let report = ledger.verify(&mut |_, _| {}).map_err(|e| format!("verify failed: {e}"))?;
    for ack in acks {
        let event =
            ledger.get(ack.position).map_err(|e| format!("reading {}: {e}", ack.position))?.ok_or_else(|| {
                format!("acknowledged position {} is missing (the log holds {})", ack.position, report.events)
            })?;
        if event.id() != ack.id || event.hash() != ack.hash {
            return Err(format!("a different event at acknowledged position {}", ack.position));
        }
    }
    Ok(())
}

#[test]
fn a_power_cut_after_any_sync_loses_no_acknowledged_append_and_the_directory_opens() {
    let target: usize = std::env::var("POWER_LOSS_BOUNDARIES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = build_shim(dir.path());
    let data = dir.path().join("data");
    // The model's one assumption about the world outside the trace: the directory exists.
    std::fs::create_dir(&data).expect("data dir");
    let trace = dir.path().join("trace");
    let traced = trace_workload(&shim, &data, &trace, target);
    let tracing = started.elapsed();

    let replayed = match replay_all(&traced.records, &data, &dir.path().join("replay")) {
        Ok(replayed) => replayed,
        Err(failure) => {
            let kept = dir.keep();
            panic!(
                "{failure}\nthe rebuilt directory: {}\nthe trace: {}",
                kept.join("replay").display(),
                kept.join("trace").display()
            );
        }
    };
    assert_eq!(replayed.acks, traced.printed, "the trace holds every acknowledgement the child printed");
    assert!(replayed.states > target, "{} crash states replayed, {target} boundaries asked for", replayed.states);
    let count = |f: &dyn Fn(&Op) -> bool| traced.records.iter().filter(|r| f(&r.op)).count();
    let syncs = |how: SyncCall| count(&|op| matches!(op, Op::Sync { how: h, .. } if *h == how));
    eprintln!(
        "power loss: {} runs, {} acknowledged appends, {} records ({} writes, {} truncations, {} renames, \
         {} unlinks; {} fdatasync, {} fsync, {} sync_file_range); {} crash states opened and checked, nothing \
         acknowledged lost; traced in {:.1} s, {:.1} s in all",
        traced.runs,
        traced.printed,
        traced.records.len(),
        count(&|op| matches!(op, Op::Write { .. })),
        count(&|op| matches!(op, Op::Truncate { .. })),
        count(&|op| matches!(op, Op::Rename { .. })),
        count(&|op| matches!(op, Op::Unlink { .. })),
        syncs(SyncCall::Fdatasync),
        syncs(SyncCall::Fsync),
        syncs(SyncCall::SyncFileRange),
        replayed.states,
        tracing.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The replay can fail: a ledger that acknowledges after sled's flush alone (`sync_file_range`, no
/// `fdatasync`) survives every SIGKILL, and the replay must catch it losing appends.
#[test]
fn the_replay_catches_a_ledger_that_acknowledges_before_its_data_is_synced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = build_shim(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let trace = dir.path().join("trace");
    let output = Command::new(CHILD)
        .arg(&data)
        .args(["count", "10"])
        .env("CHILD_DURABILITY", "flush-only")
        .env("LD_PRELOAD", &shim)
        .env("RECORD_IO_DIR", &data)
        .env("RECORD_IO_TRACE", &trace)
        .output()
        .expect("child starts");
    assert!(output.status.success(), "child failed: {}", output.status);
    let failure = replay_all(&read_trace(&trace), &data, &dir.path().join("replay"))
        .expect_err("acknowledged appends that were never synced are lost at some boundary");
    assert!(failure.contains("acknowledged position 1 is missing"), "{failure}");
}
