//! Durability: before an append is acknowledged, its commit group's entry is written to the
//! ledger's commit journal (`JOURNAL`, `ledger/src/store/journal.rs`) and an `fdatasync` of the
//! journal that began after that write has returned (the group commit is pipelined, so with
//! concurrent writers an earlier group's sync is not enough); the journal is emptied only after
//! sled's flush and an `fdatasync` of sled's `db` file. Watched for real with strace on a child
//! process (installed by `scripts/test`).

use std::process::Command;

const CHILD: &str = env!("CARGO_BIN_EXE_ledger-crash-child");

#[test]
fn every_acknowledged_append_is_preceded_by_an_fdatasync_of_the_journal_after_its_write() {
    const APPENDS: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let trace = dir.path().join("trace.txt");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-xx", "-s", "256", "-e", "trace=fdatasync,write,pwrite64,ftruncate", "-e"])
        .args(["signal=none", "-o"])
        .arg(&trace)
        .arg(CHILD)
        .arg(&data)
        .args(["count", &APPENDS.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace runs (scripts/test installs it)");
    assert!(status.success(), "child under strace failed: {status}");
    let trace = std::fs::read_to_string(&trace).expect("trace written");

    // Walk the calls in order of their returns. Each "ack" written to stdout must have been
    // preceded, since the previous ack, by a write to <data>/JOURNAL and then an fdatasync of it.
    let mut calls = parse_trace(&trace, &data);
    calls.retain(|c| c.exit.is_some());
    calls.sort_by_key(|c| c.exit);
    let (mut written, mut synced_after_write, mut db_synced) = (false, false, false);
    let (mut acks, mut emptied) = (0, 0);
    for call in &calls {
        match call.kind {
            Kind::JournalWrite(_) => (written, synced_after_write) = (true, false),
            Kind::JournalSync => synced_after_write |= written,
            Kind::DbSync => db_synced = true,
            Kind::JournalTruncate => {
                // Emptied at open (after sled's sync of what it replayed) and at the close.
                assert!(db_synced, "the journal was emptied before sled's db file was synced (line {})", call.entry);
                db_synced = false;
                emptied += 1;
            }
            Kind::Ack(_) => {
                assert!(synced_after_write, "ack #{} came without a journal write and its fdatasync", acks + 1);
                (written, synced_after_write) = (false, false);
                acks += 1;
            }
            Kind::Other => {}
        }
    }
    assert_eq!(acks, APPENDS, "the trace shows every ack");
    assert!(emptied >= 2, "the journal is emptied at open and at the close, saw {emptied}");
}

/// The group commit is pipelined (`ledger/src/store/writer.rs`): the writer writes group k+1 into
/// sled while group k syncs. So "some fdatasync since the previous ack" proves nothing with
/// concurrent writers; here every ack must come after an `fdatasync` of the journal that began
/// after the first `pwrite` to it carrying that event (found by its id's 16 bytes in the written
/// data) had returned, and returned itself before the ack was written.
#[test]
fn with_concurrent_writers_every_ack_follows_a_sync_that_began_after_its_event_was_written() {
    const THREADS: usize = 4;
    const EACH: usize = 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let trace = dir.path().join("trace.txt");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-xx", "-s", "4194304", "-e", "trace=pwrite64,fdatasync,write", "-e"])
        .args(["signal=none", "-o"])
        .arg(&trace)
        .arg(CHILD)
        .arg(&data)
        .args(["threads", &THREADS.to_string(), &EACH.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace runs (scripts/test installs it)");
    assert!(status.success(), "child under strace failed: {status}");
    let trace = std::fs::read_to_string(&trace).expect("trace written");
    // `-xx` escapes the file names of `-y` too.
    let calls = parse_trace(&trace, &data);

    let acks: Vec<(usize, ledger::EventId)> = calls
        .iter()
        .filter_map(|c| match &c.kind {
            Kind::Ack(id) => Some((c.entry, *id)),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), THREADS * EACH, "the trace shows every ack");
    let syncs: Vec<(usize, usize)> =
        calls.iter().filter_map(|c| matches!(c.kind, Kind::JournalSync).then_some((c.entry, c.exit?))).collect();
    for (ack, id) in acks {
        let needle = escaped(id.as_bytes());
        let written = calls
            .iter()
            .filter_map(|c| match &c.kind {
                Kind::JournalWrite(data) if data.contains(&needle) => c.exit,
                _ => None,
            })
            .min()
            .unwrap_or_else(|| panic!("event {id} was acknowledged but never written to the journal"));
        assert!(written < ack, "event {id} was acknowledged before it was written");
        assert!(
            syncs.iter().any(|&(start, end)| start > written && end < ack),
            "event {id} was acknowledged without an fdatasync of the journal between its write and the ack"
        );
    }
}

/// One system call of the trace, with the indexes of the lines of its entry and (when it
/// returned successfully) its exit.
#[derive(Debug)]
struct Call {
    kind: Kind,
    entry: usize,
    exit: Option<usize>,
}

#[derive(Debug)]
enum Kind {
    /// `pwrite64` to the journal, with its data as strace wrote it (`\xNN` escapes).
    JournalWrite(String),
    /// `fdatasync` of the journal.
    JournalSync,
    /// `ftruncate` of the journal (emptied).
    JournalTruncate,
    /// `fdatasync` of sled's db file.
    DbSync,
    /// The child's `ack <position> <id> <hash>` line on stdout.
    Ack(ledger::EventId),
    Other,
}

/// Parses `strace -f -y -xx` output: a call is one line, or an `<unfinished ...>` line and a
/// `<... resumed>` line of the same thread when another thread's call came in between.
fn parse_trace(trace: &str, data: &std::path::Path) -> Vec<Call> {
    // `-xx` escapes the file names of `-y` too.
    let path = |name: &str| format!("{}>", escaped(format!("{}/{name}", data.display()).as_bytes()));
    let (journal_path, db_path) = (path("JOURNAL"), path("db"));
    let mut calls: Vec<Call> = Vec::new();
    let mut open: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (line_no, line) in trace.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        let succeeded = |text: &str| text.rsplit_once(" = ").is_some_and(|(_, ret)| !ret.starts_with('-'));
        if rest.starts_with("<...") {
            if let Some(index) = open.remove(pid) {
                calls[index].exit = succeeded(rest).then_some(line_no);
            }
            continue;
        }
        let kind = if rest.starts_with("pwrite64(") && rest.contains(&journal_path) {
            Kind::JournalWrite(rest.to_owned())
        } else if rest.starts_with("fdatasync(") && rest.contains(&journal_path) {
            Kind::JournalSync
        } else if rest.starts_with("ftruncate(") && rest.contains(&journal_path) {
            Kind::JournalTruncate
        } else if rest.starts_with("fdatasync(") && rest.contains(&db_path) {
            Kind::DbSync
        } else if rest.starts_with("write(1") {
            ack_id(rest).map_or(Kind::Other, Kind::Ack)
        } else {
            Kind::Other
        };
        let unfinished = rest.ends_with("<unfinished ...>");
        calls.push(Call { kind, entry: line_no, exit: (!unfinished && succeeded(rest)).then_some(line_no) });
        if unfinished {
            open.insert(pid, calls.len() - 1);
        }
    }
    calls
}

/// Bytes as strace's `-xx` writes them.
fn escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

/// The event id of an `ack` line written to stdout, from strace's `\xNN` escapes.
fn ack_id(call: &str) -> Option<ledger::EventId> {
    let start = call.find('"')? + 1;
    let end = start + call[start..].find('"')?;
    let bytes: Vec<u8> = call[start..end]
        .split("\\x")
        .filter(|s| !s.is_empty())
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut words = text.strip_prefix("ack ")?.split_whitespace();
    words.next()?;
    words.next()?.parse().ok()
}
