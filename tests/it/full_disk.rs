//! A full disk (issue 20), through the real server on a small tmpfs the test mounts itself: writes
//! are refused at once with `STORAGE_FULL` (never `INTERNAL`, never a hang) and store nothing,
//! reads, `/healthz` and the online backup (`export` through the server) go on, SIGTERM still ends
//! the server within its grace period, and after a restart with space freed every acknowledged
//! event is there and writes work again. Where the machine cannot mount a tmpfs (no privilege),
//! the test says so and returns.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{SAMVERKAN, create_token, path_arg, post, start_server_with};

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `megabytes`, or says why it cannot.
    fn mount(megabytes: u32) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs", path_arg(&path)])
            .output()
            .map_err(|e| format!("mount cannot run: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
        }
        Ok(Self { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Fills the file system holding `dir` with a file, until it refuses; returns the file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    loop {
        match file.write_all(&block) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "the disk filled up: {e}");
                break;
            }
        }
    }
    let _ = file.sync_all();
    path
}

fn register(party: &str) -> Value {
    let query = format!(
        "mutation {{ registerParty(input: {{party: \"{party}\", name: \"P\", kind: MUNICIPALITY, effective: \"2026-01-01\"}}) {{ position }} }}"
    );
    json!({ "query": query })
}

fn head(addr: std::net::SocketAddr) -> u64 {
    let answer = post(addr, "", &json!({"query": "{ ledger { position } }"})).expect("reads are answered");
    answer["data"]["ledger"]["position"].as_u64().expect("a position")
}

#[test]
fn a_full_disk_refuses_writes_with_storage_full_and_keeps_reads_backups_and_shutdown() {
    let mount = match Tmpfs::mount(24) {
        Ok(mount) => mount,
        Err(reason) => {
            println!("full_disk: skipped, a tmpfs cannot be mounted here: {reason}");
            return;
        }
    };
    let data = mount.path.join("data");
    let mut server = start_server_with(&data, &["--shutdown-grace", "2"]);
    let addr = server.addr;
    let token = create_token(&data, "SECRETARIAT", "registrator");
    let before = post(addr, &token, &register("before-full")).expect("answered");
    assert!(before["errors"].is_null(), "{before}");

    // sled writes into log segments it has already allocated, so appends can still succeed for a
    // while on a full disk (durably: each one waits for its sync); the first one that needs space
    // is refused, and so is every one after it.
    let filler = fill(&mount.path);
    let mut stored = Vec::new();
    let mut refused = None;
    for attempt in 0..3_000 {
        let party = format!("full-{attempt}");
        let started = Instant::now();
        let answer = post(addr, &token, &register(&party)).expect("answered, not hung");
        assert!(started.elapsed() < Duration::from_secs(5), "answered at once: {:?}", started.elapsed());
        if answer["errors"].is_null() {
            stored.push(party);
        } else {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the full disk refused a write within 3,000");
    println!("full_disk: {} writes acknowledged on the full disk before the first refusal", stored.len());
    let acknowledged = head(addr);
    for attempt in 0..3 {
        let answer = if attempt == 0 {
            refused.clone()
        } else {
            post(addr, &token, &register(&format!("again-{attempt}"))).expect("answered, not hung")
        };
        assert_eq!(answer["errors"][0]["extensions"]["code"], json!("STORAGE_FULL"), "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("disk") && message.contains("nothing was recorded"), "{message}");
    }
    // Reads, health and the online backup go on.
    assert_eq!(head(addr), acknowledged, "nothing of the refused writes is visible");
    let health = post(addr, "", &json!({"query": "{ agreement(id: \"hok\") { status } }"})).expect("answered");
    assert!(health["errors"].is_null(), "{health}");
    let exported = Command::new(SAMVERKAN)
        .args(["export", "--data", path_arg(&data)])
        .env("RUST_LOG", "error")
        .output()
        .expect("runs");
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    assert_eq!(String::from_utf8_lossy(&exported.stdout).lines().count() as u64, acknowledged, "a whole backup");

    // SIGTERM ends it within its grace period, full disk or not.
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).is_some(), "the server exits after SIGTERM");

    // Space freed, started again: every acknowledged event is there, and writes work.
    std::fs::remove_file(&filler).expect("free the space");
    let server = start_server_with(&data, &[]);
    assert_eq!(head(server.addr), acknowledged);
    for party in &stored {
        let found = post(server.addr, "", &json!({"query": format!("{{ party(id: \"{party}\") {{ id }} }}")}))
            .expect("answered");
        assert_eq!(found["data"]["party"]["id"], json!(party), "acknowledged on the full disk, and kept");
    }
    let after = post(server.addr, &token, &register("after-full")).expect("answered");
    assert!(after["errors"].is_null(), "{after}");
    assert_eq!(head(server.addr), acknowledged + 1);
    drop(server);
}
