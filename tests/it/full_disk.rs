//! A full disk (issue 20), on a small tmpfs each test mounts itself (skipped, with the reason
//! printed, where the machine does not let it mount one): the real server refuses writes at once
//! with `STORAGE_FULL` while queries, `/healthz` and the export through it go on, and writes again
//! as soon as space is freed, without a restart, with every acknowledged event kept; SIGTERM ends it
//! within its grace period while the disk is full; `verify` and `export` on the stopped server's
//! full disk work. And the ledger itself when sled meets `ENOSPC` (no free-space margin): every
//! append fails fast, and a reopen after space was freed has every acknowledged event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ledger::{Append, AppendOutcome, Ledger, LedgerConfig, LedgerError};
use samverkan_tests::decision;
use serde_json::{Value, json};

use crate::process::{SAMVERKAN, create_token, exchange, path_arg, post, start_server_with};

/// A tmpfs of `megabytes` mounted on a new temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or says why it cannot and returns `None` (the test is then skipped).
    fn mount(megabytes: u32, test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700"), "tmpfs", path_arg(dir.path())])
            .output();
        match output {
            Ok(out) if out.status.success() => Some(Self { dir }),
            Ok(out) => {
                println!("skipped {test}: cannot mount a tmpfs: {}", String::from_utf8_lossy(&out.stderr).trim());
                None
            }
            Err(e) => {
                println!("skipped {test}: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, so that a failing test that still holds a file there does not leave it mounted.
        let _ = Command::new("umount").args(["-l", path_arg(self.dir.path())]).status();
    }
}

/// Fills the file system holding `dir` completely with a new file `name` in it; returns the file.
fn fill(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("filler");
    for chunk in [1 << 20, 4096, 1] {
        let bytes = vec![0xa5u8; chunk];
        loop {
            match file.write(&bytes) {
                Ok(n) if n == chunk => {}
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }
    // The data is in the page cache of a tmpfs: that is where it takes its space.
    file.flush().expect("flush");
    assert_eq!(fs2::available_space(dir).expect("statvfs"), 0, "the disk is full");
    path
}

const RECORD: &str = "mutation($input: RecordDecisionInput!) { recordDecision(input: $input) { id position } }";

/// Records a decision; the stored event's id and position, or the error's code and message.
fn record(addr: std::net::SocketAddr, token: &str, n: usize) -> Result<(String, u64), (String, String)> {
    let input = json!({
        "decision": format!("full-disk-{n}"), "body": "nacka-kf", "subject": "Fullt",
        "effective": "2024-02-01", "eventId": uuid::Uuid::new_v4().to_string(),
    });
    let answer = post(addr, token, &json!({"query": RECORD, "variables": {"input": input}})).expect("an answer");
    let event = &answer["data"]["recordDecision"];
    match (event["id"].as_str(), event["position"].as_u64()) {
        (Some(id), Some(position)) => Ok((id.to_owned(), position)),
        _ => {
            let error = &answer["errors"][0];
            let code = error["extensions"]["code"].as_str().unwrap_or("none").to_owned();
            Err((code, error["message"].as_str().unwrap_or_default().to_owned()))
        }
    }
}

/// `samverkan export --data DIR` (through a running server, or read-only on a stopped one): the
/// exported event ids by position.
fn export(data: &Path) -> Vec<(u64, String)> {
    let output = Command::new(SAMVERKAN).args(["export", "--data", path_arg(data)]).output().expect("export runs");
    assert!(output.status.success(), "export failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("a JSON line");
            (event["position"].as_u64().expect("position"), event["id"].as_str().expect("id").to_owned())
        })
        .collect()
}

fn assert_all_present(exported: &[(u64, String)], acknowledged: &[(String, u64)]) {
    for (id, position) in acknowledged {
        assert!(
            exported.iter().any(|(p, i)| p == position && i == id),
            "the acknowledged event {id} at {position} is missing from the export"
        );
    }
}

#[test]
fn a_full_disk_refuses_writes_at_once_keeps_reads_and_writes_again_once_freed() {
    let Some(tmpfs) = Tmpfs::mount(64, "a_full_disk_refuses_writes_at_once") else { return };
    let data = tmpfs.path().join("data");
    let token = create_token(&data, "SECRETARIAT", "writer");
    let mut server = start_server_with(&data, &["--shutdown-grace", "2"]);
    let addr = server.addr;

    let mut acknowledged: Vec<(String, u64)> = (0..5).map(|n| record(addr, &token, n).expect("recorded")).collect();

    let filler = fill(tmpfs.path(), "filler");
    let mut refused = Vec::new();
    for n in 5..25 {
        let started = Instant::now();
        match record(addr, &token, n) {
            Ok(stored) => panic!("a write on a full disk was acknowledged: {stored:?}"),
            Err((code, message)) => {
                assert_eq!(code, "STORAGE_FULL", "{message}");
                assert!(message.contains("disk holding the ledger is full"), "{message}");
                assert!(message.contains("nothing was recorded"), "{message}");
                assert_eq!(crate::support::leaked_internals(&message), None, "{message}");
                refused.push(started.elapsed());
            }
        }
    }
    let slowest = refused.iter().max().copied().unwrap_or_default();
    assert!(slowest < Duration::from_secs(1), "refusals took up to {slowest:?}");
    println!("{} writes refused on the full disk, the slowest in {slowest:?}", refused.len());

    // Reads go on: a query, the liveness probe, an export through the server.
    let head = acknowledged.last().map(|(_, p)| *p).expect("acknowledged");
    let answer = post(addr, &token, &json!({"query": "{ ledger { position } }"})).expect("a query answers");
    assert_eq!(answer["data"]["ledger"]["position"].as_u64(), Some(head), "{answer}");
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(exchange(addr, &healthz, Duration::from_secs(5)).map(|(status, _)| status), Some(200));
    let exported = export(&data);
    assert_eq!(exported.len() as u64, head, "the export through the server has every event");
    assert_all_present(&exported, &acknowledged);

    // Space freed: the next write succeeds, with no restart.
    std::fs::remove_file(&filler).expect("remove the filler");
    let started = Instant::now();
    for n in 25..30 {
        acknowledged.push(record(addr, &token, n).expect("recorded once space is free"));
    }
    println!("5 writes after freeing space in {:?}", started.elapsed());
    let exported = export(&data);
    assert_all_present(&exported, &acknowledged);
    assert_eq!(exported.len() as u64, acknowledged.last().map(|(_, p)| *p).expect("acknowledged"));

    // Full again, with a write refused: SIGTERM ends the server within its grace period.
    let filler = fill(tmpfs.path(), "filler");
    assert_eq!(record(addr, &token, 30).map_err(|(code, _)| code), Err("STORAGE_FULL".to_owned()));
    let started = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(10)).expect("the server exits within 10 s of SIGTERM");
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(4), "SIGTERM took {took:?} with a 2 s grace period");
    println!("SIGTERM on the full disk: exited in {took:?}");

    // The stopped server's directory on the full disk (full again: its exit freed `server.json`):
    // verify and a rescue export, writing nothing.
    let last_page = fill(tmpfs.path(), "filler-2");
    let output = Command::new(SAMVERKAN).args(["verify", "--data", path_arg(&data)]).output().expect("verify runs");
    assert!(output.status.success(), "verify on a full disk: {}", String::from_utf8_lossy(&output.stderr));
    let expected = format!("ok: {} events", exported.len());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with(&expected), "{output:?}");
    let rescued = export(&data);
    assert_eq!(rescued, exported, "the rescue export is the export");
    assert_eq!(fs2::available_space(tmpfs.path()).expect("statvfs"), 0, "nothing was written");
    std::fs::remove_file(filler).expect("remove the filler");
    std::fs::remove_file(last_page).expect("remove the filler");
}

#[test]
fn when_sled_itself_runs_out_of_space_appends_fail_fast_and_a_reopen_keeps_every_acknowledged_one() {
    let Some(tmpfs) = Tmpfs::mount(16, "when_sled_itself_runs_out_of_space") else { return };
    let dir = tmpfs.path().join("ledger");
    // No margin: sled meets ENOSPC itself.
    let config = LedgerConfig { min_free_bytes: 0, ..LedgerConfig::default() };
    let ledger = Ledger::open(&dir, config.clone()).expect("opens");
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        acknowledged.push(committed(ledger.append(Append::one(decision(&format!("d{n}")))).expect("append")));
    }
    let filler = fill(tmpfs.path(), "filler");

    // Append until sled meets the full disk (a write into a page it already has takes no space),
    // each append bounded in time: the writer must never hang.
    let bounded = |n: usize| {
        let (tx, rx) = std::sync::mpsc::channel();
        let ledger = ledger.clone();
        std::thread::spawn(move || {
            let _ = tx.send(ledger.append(Append::one(decision(&format!("e{n}")))));
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("append {n} hung on a full disk"))
    };
    let mut failed = None;
    for n in 0..2000 {
        match bounded(n) {
            Ok(outcome) => acknowledged.push(committed(outcome)),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let failed = failed.expect("an append failed on the full disk");
    assert!(failed.is_out_of_space(), "{failed}");
    println!("sled met the full disk after {} appends: {failed}", acknowledged.len() - 20);

    // Every later append fails at once, the same way, even with space back.
    std::fs::remove_file(&filler).expect("remove the filler");
    for n in 0..5 {
        let started = Instant::now();
        let error = bounded(10_000 + n).expect_err("refused until reopened");
        assert!(matches!(error, LedgerError::StorageFull { resumes: false }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    // Reopened (the restart): every acknowledged event is there, the chain verifies, appends work.
    drop(ledger);
    let ledger = Ledger::open(&dir, config).expect("reopens once space is free");
    let report = ledger.verify(&mut |_, _| {}).expect("verifies");
    for (position, id) in &acknowledged {
        let stored = ledger.read_from(*position).next().expect("present").expect("readable");
        assert_eq!(stored.position(), *position);
        assert_eq!(stored.id(), *id, "the acknowledged event at {position}");
    }
    assert!(report.events >= acknowledged.len() as u64);
    ledger.append(Append::one(decision("after"))).expect("appends again");
}

fn committed(outcome: AppendOutcome) -> (ledger::Position, ledger::EventId) {
    match outcome {
        AppendOutcome::Committed(c) => {
            let event = &c[0].event;
            (event.position(), event.id())
        }
        AppendOutcome::Conflict(c) => panic!("unexpected conflict {c:?}"),
    }
}
