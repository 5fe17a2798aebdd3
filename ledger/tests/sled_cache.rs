//! What a walk of the log leaves in memory. sled 0.34.7 counts page accesses per shard only once
//! 64 have queued there, and a scan touches each leaf once, so a walk of a log larger than its
//! cache used to keep every page it read (`store::settle`, BENCHMARKS.md session 22). This test
//! writes a log several times larger than the cache, reopens it, and measures resident memory
//! before and after a full read and after `verify`.
//!
//! The measurement runs in a child process of this test binary, under the binaries' allocator
//! (jemalloc) told to hand freed pages back to the system at once (`_RJEM_MALLOC_CONF`, read before
//! `main`), so that its resident memory follows its live memory. That is why it is a test binary
//! of its own rather than a module of `tests/it` (STYLE.md's one binary): that binary keeps the
//! system's allocator, whose resident memory does not follow what is freed.

use std::process::Command;

use ledger::{Append, Date, EventData, EventId, Ledger, LedgerConfig, NewEvent, Position, StreamId};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Set in the child that measures.
const CHILD: &str = "SAMVERKAN_SLED_CACHE_CHILD";

/// The process's resident memory, in MB.
fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024.0 / 1e6
}

const EVENTS: u128 = 36_000;
const PER_APPEND: u128 = 400;

fn event(n: u128, name: &str) -> NewEvent {
    let party = format!("p{n}");
    let data = EventData::from_json(
        "PartyRegistered",
        serde_json::json!({"party": party, "name": name, "kind": "MUNICIPALITY"}),
    )
    .expect("valid sample data");
    let date = Date::from_ymd(2022, 6, 13).expect("valid date");
    NewEvent::new(date, "storsthlm-registrator", data)
        .with_id(EventId::from_uuid(uuid::Uuid::from_u128(0x0192_f0c4_0000_4000_8000_0000_0000_0000 + n)))
}

/// A log of ~180 MB (36,000 events of ~5 KB; sled's cache is 32 MiB) read from a fresh open: the
/// read and the verification each leave well under half of it in memory (they left all of it).
#[test]
fn a_walk_of_the_log_leaves_little_of_it_in_memory() {
    if std::env::var_os(CHILD).is_none() {
        let exe = std::env::current_exe().expect("the test binary");
        let status = Command::new(exe)
            .args(["--exact", "a_walk_of_the_log_leaves_little_of_it_in_memory", "--nocapture", "--test-threads", "1"])
            .env(CHILD, "1")
            .env("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
            .status()
            .expect("runs the measuring child");
        assert!(status.success(), "the measuring child failed: {status}");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let name = "n".repeat(5_000);
    {
        let ledger = Ledger::open(tmp.path(), LedgerConfig::default()).expect("opens");
        for first in (0..EVENTS).step_by(PER_APPEND as usize) {
            let append = (first..first + PER_APPEND).fold(Append::new(), |a, n| a.with(event(n, &name)));
            ledger.append(append).expect("appends");
        }
    }
    let ledger = Ledger::open(tmp.path(), LedgerConfig::default()).expect("reopens");
    // The in-memory indexes are built (or loaded) on a thread of their own: wait for them.
    let stream = StreamId::parse("party/p0").expect("stream");
    assert_eq!(ledger.stream_version(&stream).expect("version"), 1);
    let log_mb = EVENTS as f64 * name.len() as f64 / 1e6;

    let before = resident_mb();
    let mut read = 0u64;
    for event in ledger.read_compact_from(Position::FIRST) {
        event.expect("reads");
        read += 1;
    }
    assert_eq!(read, EVENTS as u64);
    let after_read = resident_mb();
    let report = ledger.verify(&mut |_, _| {}).expect("verifies");
    assert_eq!(report.events, EVENTS as u64);
    let after_verify = resident_mb();
    eprintln!(
        "a log of {log_mb:.0} MB: {before:.1} MB resident before, {after_read:.1} MB after reading it, \
         {after_verify:.1} MB after verifying it"
    );
    assert!(after_read - before < log_mb * 0.4, "reading the log left {:.1} MB more in memory", after_read - before);
    assert!(
        after_verify - before < log_mb * 0.4,
        "reading and verifying the log left {:.1} MB more in memory",
        after_verify - before
    );
}
