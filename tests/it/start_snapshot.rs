//! Start-up from the projections' snapshot (issue 19), with the real program: a server stopped
//! gracefully leaves `projections.snapshot` in its data directory; the next start reads it and
//! folds only the events after it. A damaged snapshot, one of an older format and one of another
//! ledger are refused, the refusal is said on standard error, and the server folds the whole
//! ledger. In every case its answers are those of a server that folded the whole ledger.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{create_token, post, start_server_reporting};

const SNAPSHOT: &str = "projections.snapshot";

/// Answers that touch every part of the projections: agreements on two axes, findings, decisions,
/// a page of events from the end, parties.
fn answers(addr: std::net::SocketAddr, token: &str) -> Value {
    let query = r#"{
        now: agreements(at: "2024-06-01") { id status inForce version because { position } }
        before: agreements(at: "2022-08-01", asKnownAt: "2023-01-01T00:00:00Z") { id status inForce }
        findings(at: "2024-06-01") { kind }
        decisions(last: 20) { edges { node { id citedBy { position } } } }
        events(last: 30, types: ["DecisionRecorded", "PartyAdopted"]) { totalCount edges { node { position type hash } } }
        parties(at: "2024-06-01") { id kind }
    }"#;
    let answer = post(addr, token, &json!({ "query": query })).expect("the server answers");
    assert!(answer.get("errors").is_none(), "{answer:#}");
    answer
}

/// Starts the server on `data`, returns its one line on how it built its projections, its
/// answers, and the server.
fn start(data: &Path, token: &str) -> (crate::process::Server, String, Value) {
    let (server, lines) = start_server_reporting(data, &[]);
    let line =
        lines.into_iter().find(|l| l.contains("snapshot")).expect("the server says how it built its projections");
    let answers = answers(server.addr, token);
    (server, line, answers)
}

fn stop(mut server: crate::process::Server) {
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(60)).is_some_and(|s| s.success()), "a clean stop");
}

fn record_decision(addr: std::net::SocketAddr, token: &str, id: &str) {
    let query = "mutation($input: RecordDecisionInput!) { recordDecision(input: $input) { position } }";
    let input = json!({ "decision": id, "body": "nacka-kf", "subject": "Ett beslut efter ögonblicksbilden", "effective": "2024-02-01" });
    let answer = post(addr, token, &json!({ "query": query, "variables": { "input": input } })).expect("answers");
    assert!(answer["data"]["recordDecision"]["position"].is_u64(), "{answer:#}");
}

/// The answers of a server on a copy of `data` without its snapshot: a full fold.
fn full_fold(data: &Path, token: &str) -> Value {
    let copy = tempfile::tempdir().expect("tempdir");
    let target = copy.path().join("data");
    copy_dir(data, &target);
    let _ = std::fs::remove_file(target.join(SNAPSHOT));
    let (server, line, answers) = start(&target, token);
    assert!(line.contains("no snapshot"), "{line}");
    drop(server);
    answers
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "server.json" {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_server_starts_from_its_snapshot_and_answers_as_a_full_fold_and_never_uses_a_bad_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let token = create_token(&data, "SECRETARIAT", "ogonblick");

    // First start: nothing to start from. A clean stop leaves the snapshot.
    let (server, line, first) = start(&data, &token);
    assert!(line.contains("no snapshot; folded the whole ledger"), "{line}");
    let seeded: u64 = first["data"]["events"]["totalCount"].as_u64().expect("a count");
    assert!(seeded > 0);
    stop(server);
    assert!(data.join(SNAPSHOT).is_file(), "a stopped server leaves its snapshot");

    // Second start: from the snapshot, nothing after it.
    let (server, line, second) = start(&data, &token);
    assert!(
        line.contains("started from the snapshot at position") && line.contains("folded 0 events after it"),
        "{line}"
    );
    assert_eq!(second, first, "the same answers as the full fold it was written from");
    // An event after the snapshot; then a crash, which writes no snapshot.
    record_decision(server.addr, &token, "efter-ogonblicksbilden");
    let mut server = server;
    server.kill();

    // Third start: the snapshot, then the one event after it.
    let (server, line, third) = start(&data, &token);
    assert!(line.contains("folded 1 events after it"), "{line}");
    drop(server);
    let reference = full_fold(&data, &token);
    assert_eq!(third, reference, "a start from the snapshot answers as a full fold");
    assert_ne!(third, first, "the event after the snapshot is in the answers");

    let good = std::fs::read(data.join(SNAPSHOT)).expect("the snapshot");
    let refused = |bytes: &[u8], why: &str| {
        std::fs::write(data.join(SNAPSHOT), bytes).expect("write");
        let (server, line, answers) = start(&data, &token);
        assert!(line.contains("the snapshot was not used") && line.contains(why), "{why}: {line}");
        assert!(line.contains("folded the whole ledger"), "{line}");
        assert_eq!(answers, reference, "{why}: a refused snapshot changes no answer");
        drop(server);
    };

    // A flipped byte in the middle (the events' bytes) and one near the end (the indexes).
    for at in [good.len() / 2, good.len() - 40] {
        let mut damaged = good.clone();
        damaged[at] ^= 0x01;
        refused(&damaged, "checksum");
    }
    // Cut short: its checksum is checked before anything in it is believed.
    refused(&good[..good.len() / 3], "checksum");
    // An older format: the same bytes under format 0.
    let mut older = good.clone();
    older[16..20].copy_from_slice(&0u32.to_le_bytes());
    refused(&older, "format 0");

    // Another ledger's snapshot: a second data directory, seeded alike but with another event at
    // the same position as this ledger's decision.
    let other = tmp.path().join("other");
    let other_token = create_token(&other, "SECRETARIAT", "annan");
    let (server, _, _) = start(&other, &other_token);
    record_decision(server.addr, &other_token, "ett-annat-beslut");
    stop(server);
    let foreign = std::fs::read(other.join(SNAPSHOT)).expect("the other snapshot");
    refused(&foreign, "of another ledger");
}

/// The records of a snapshot stay in its file while the server runs (issue 19). Bytes damaged in
/// that file under the running server are never read as events: every answer computed since is
/// refused as UNAVAILABLE (not an answer missing what could not be read), so is a command, nothing
/// is appended, `/healthz` fails so that a supervisor restarts the server, and the restart refuses
/// the damaged snapshot and answers as a full fold.
#[test]
fn a_snapshot_damaged_under_a_running_server_fails_it_and_never_changes_an_answer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let token = create_token(&data, "SECRETARIAT", "skadad");
    let (server, _, first) = start(&data, &token);
    stop(server);
    let (server, line, second) = start(&data, &token);
    assert!(line.contains("started from the snapshot"), "{line}");
    assert_eq!(second, first);

    // Most of the file is the events' records, the last ones just before the checksum: damage
    // them in place (what the first answers decoded is still in memory, and still right).
    let path = data.join(SNAPSHOT);
    let mut bytes = std::fs::read(&path).expect("the snapshot");
    let (from, to) = (bytes.len() / 4, bytes.len() - 8);
    for byte in &mut bytes[from..to] {
        *byte ^= 0x5A;
    }
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).expect("opens in place");
        file.seek(SeekFrom::Start(from as u64)).expect("seeks");
        file.write_all(&bytes[from..to]).expect("damages in place");
        file.sync_all().expect("syncs");
    }

    let query = json!({ "query": r#"{ agreements(at: "2024-06-01") { id status } events(last: 30) { edges { node { position } } } }"# });
    let answer = post(server.addr, &token, &query).expect("the server answers");
    assert!(answer.get("data").is_none_or(Value::is_null), "no answer from damaged records: {answer:#}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{answer:#}");
    // From now on every answer is refused, even one that reads no record.
    let small =
        post(server.addr, &token, &json!({ "query": "{ parties(at: \"2024-06-01\") { id } }" })).expect("answers");
    assert_eq!(small["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{small:#}");
    let mutation = "mutation($input: RecordDecisionInput!) { recordDecision(input: $input) { position } }";
    let input =
        json!({ "decision": "efter-skadan", "body": "nacka-kf", "subject": "Ett beslut", "effective": "2024-02-01" });
    let refused =
        post(server.addr, &token, &json!({ "query": mutation, "variables": { "input": input } })).expect("answers");
    assert!(refused["data"]["recordDecision"].is_null(), "{refused:#}");
    let (status, body) = crate::process::exchange(
        server.addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .expect("/healthz answers");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("failed"), "{body}");
    stop(server);

    // The restart refuses the damaged snapshot, folds the ledger, and nothing was appended.
    let (server, line, after) = start(&data, &token);
    assert!(line.contains("the snapshot was not used") && line.contains("folded the whole ledger"), "{line}");
    assert_eq!(after, first, "the same answers as before the damage: nothing was appended");
    drop(server);
}

/// A restore: `samverkan import` into a new data directory keeps the projections it judged the
/// lines on as the snapshot, and the first start reads it instead of folding every event – with
/// the answers of a full fold.
#[test]
fn an_import_leaves_the_snapshot_the_first_start_reads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");
    let output = std::process::Command::new(crate::process::SAMVERKAN)
        .args(["import", fixture, "--data", crate::process::path_arg(&data)])
        .output()
        .expect("import runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(data.join(SNAPSHOT).is_file(), "the import left the snapshot");
    let token = create_token(&data, "SECRETARIAT", "aterstallning");
    let (server, line, answers) = start(&data, &token);
    assert!(
        line.contains("started from the snapshot at position") && line.contains("folded 0 events after it"),
        "{line}"
    );
    drop(server);
    assert_eq!(answers, full_fold(&data, &token), "the answers of a full fold");
}
