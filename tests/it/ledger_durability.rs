//! Durability: before an append is acknowledged, an `fdatasync` reaches sled's `db` file. Watched
//! for real with strace on a child process (installed by `scripts/test`).

use std::process::Command;

const CHILD: &str = env!("CARGO_BIN_EXE_ledger-crash-child");

#[test]
fn every_acknowledged_append_is_preceded_by_an_fdatasync_of_the_sled_db_file() {
    const APPENDS: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let trace = dir.path().join("trace.txt");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,sync_file_range,write", "-e", "signal=none", "-o"])
        .arg(&trace)
        .arg(CHILD)
        .arg(&data)
        .args(["count", &APPENDS.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace runs (scripts/test installs it)");
    assert!(status.success(), "child under strace failed: {status}");
    let trace = std::fs::read_to_string(&trace).expect("trace written");

    // Walk the syscalls in order. Each "ack" written to stdout must have been preceded, since the
    // previous ack, by sled's sync_file_range and then an fdatasync on <data>/db.
    let db_path = format!("{}/db>", data.display());
    let mut synced_since_ack = false;
    let mut range_synced_since_ack = false;
    let mut acks = 0;
    let mut db_syncs = 0;
    for line in trace.lines() {
        if line.contains("fdatasync(") && line.contains(&db_path) && line.ends_with("= 0") {
            synced_since_ack = true;
            db_syncs += 1;
        } else if line.contains("sync_file_range(") && line.contains(&db_path) {
            range_synced_since_ack = true;
        } else if line.contains("write(1") && line.contains("\"ack ") {
            assert!(synced_since_ack, "ack #{} was written before any fdatasync of the db file:\n{line}", acks + 1);
            assert!(range_synced_since_ack, "ack #{} came without sled's flush", acks + 1);
            synced_since_ack = false;
            range_synced_since_ack = false;
            acks += 1;
        }
    }
    assert_eq!(acks, APPENDS, "the trace shows every ack");
    assert!(db_syncs >= APPENDS, "at least one fdatasync per sequential append, saw {db_syncs}");
}
