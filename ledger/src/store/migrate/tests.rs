//! The migration from format 1, on a data directory written by format 1's own code
//! (`golden/v1-ledger`): every event, the head, the Merkle root, proofs, tiles and bundles are
//! what that code answered; `verify` passes; the ledger reopens as format 2 and appends continue
//! the same chain. An interruption after any of its transactions (a crash) leaves a ledger whose
//! next open finishes the migration with the same result.

use std::path::Path;

use sha2::Digest;

use super::*;
use crate::store::{Ledger, LedgerConfig, open_sled};

fn golden() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/v1-ledger")
}

/// Writes the format-1 data directory into `dir`.
fn unpack(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for file in ["conf", "HEAD"] {
        std::fs::copy(golden().join(file), dir.join(file)).expect("copy");
    }
    let gz = std::fs::File::open(golden().join("db.gz")).expect("db.gz");
    let mut db = std::fs::File::create(dir.join("db")).expect("db");
    std::io::copy(&mut flate2::read::GzDecoder::new(gz), &mut db).expect("gunzip");
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(golden().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("JSON")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn hex_list(hashes: &[crate::merkle::TreeHash]) -> serde_json::Value {
    hashes.iter().map(|h| serde_json::Value::String(hex::encode(h.0))).collect()
}

/// Everything format 1's code answered on the fixture, answered again.
fn check_answers(ledger: &Ledger) {
    let expected = expected();
    let size = expected["events"].as_u64().expect("events");
    assert_eq!(ledger.head().position.get(), size);
    assert_eq!(ledger.head().hash.to_string(), expected["head_hash"]);
    assert_eq!(hex::encode(ledger.tree_root(size).expect("root").0), expected["root"]);
    let mut export = Vec::new();
    crate::jsonl::export(ledger, &mut export, &mut |_, _| {}).expect("exports");
    assert_eq!(sha256_hex(&export), expected["export_sha256"], "every event, byte for byte");
    assert_eq!(hex_list(&ledger.inclusion_proof(123, size).expect("proof")), expected["inclusion_123"]);
    assert_eq!(hex_list(&ledger.consistency_proof(300, size).expect("proof")), expected["consistency_300"]);
    assert_eq!(sha256_hex(&ledger.hash_tile(0, 0, 256).expect("tile")), expected["tile_0_0_sha256"]);
    let partial = u32::try_from(size - 256).expect("small");
    assert_eq!(sha256_hex(&ledger.hash_tile(0, 1, partial).expect("tile")), expected["tile_0_1_partial_sha256"]);
    assert_eq!(sha256_hex(&ledger.entry_bundle(0, 256).expect("bundle")), expected["bundle_0_sha256"]);
    let report = ledger.verify(&mut |_, _| {}).expect("verifies");
    assert_eq!(report.events, size);
    assert_eq!(hex::encode(report.root.0), expected["root"]);
    // The in-memory indexes, rebuilt from the chunks, agree with the events.
    for event in ledger.read_from(crate::id::Position::FIRST) {
        let event = event.expect("reads");
        assert_eq!(ledger.get_by_id(event.id).expect("by id").as_ref(), Some(&event));
        let stream: Vec<_> = ledger.read_stream(&event.stream).map(|e| e.expect("reads")).collect();
        assert_eq!(stream.get(event.stream_version as usize - 1), Some(&event));
        assert!(ledger.stream_version(&event.stream).expect("version") >= event.stream_version);
    }
}

/// The format marker and the trees of the closed ledger in `dir`.
fn format_and_trees(dir: &Path) -> (Vec<u8>, Vec<String>) {
    let db = open_sled(dir).expect("sled opens");
    let marker = db.open_tree("meta").expect("meta").get("format").expect("reads").expect("a marker").to_vec();
    let names = db.tree_names().iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
    (marker, names)
}

/// Line `n` (from 1) of the fixture history the golden ledger holds the first 400 lines of.
fn history_line(n: usize) -> crate::jsonl::ImportLine {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl"))
        .expect("fixture history");
    let line = text.lines().nth(n - 1).expect("the line exists");
    crate::jsonl::parse_line(n, line).expect("parses")
}

#[test]
fn a_format_1_ledger_written_by_the_old_code_migrates_with_every_answer_unchanged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    unpack(&dir);
    let (marker, names) = format_and_trees(&dir);
    assert_eq!(marker, V1_MARKER);
    assert!(names.iter().any(|n| n == "log"), "{names:?}");

    let ledger = Ledger::open(&dir, LedgerConfig::default()).expect("opens and migrates");
    check_answers(&ledger);
    drop(ledger);
    let (marker, names) = format_and_trees(&dir);
    assert_eq!(marker, FORMAT_MARKER);
    for old in V1_TREES {
        assert!(!names.iter().any(|n| n == old), "{old} is dropped: {names:?}");
    }

    // Reopened as format 2, and the chain goes on exactly as the history it came from.
    let ledger = Ledger::open(&dir, LedgerConfig::default()).expect("reopens");
    check_answers(&ledger);
    let next = history_line(401);
    let id = next.event.id.expect("the history's lines carry ids");
    crate::jsonl::import(&ledger, vec![next])
        .expect("the 401st event's position, prev hash and hash are the history's");
    let event = ledger.get_by_id(id).expect("reads").expect("stored");
    assert_eq!(event.position.get(), 401);
    assert_eq!(ledger.read_stream(&event.stream).last().map(|e| e.expect("reads")), Some(event.clone()));
    assert_eq!(ledger.stream_version(&event.stream).expect("version"), event.stream_version);
    assert_eq!(ledger.verify(&mut |_, _| {}).expect("verifies").events, 401);
    drop(ledger);
    let ledger = Ledger::open(&dir, LedgerConfig::default()).expect("reopens");
    assert_eq!(ledger.get_by_id(id).expect("reads"), Some(event));
}

#[test]
fn a_read_only_open_of_a_format_1_ledger_migrates_only_its_private_copy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    unpack(&dir);
    let before = std::fs::read(dir.join("db")).expect("db");
    let ledger = Ledger::open_read_only(&dir, LedgerConfig::default()).expect("opens");
    check_answers(&ledger);
    drop(ledger);
    assert!(std::fs::read(dir.join("db")).expect("db") == before, "the data directory is untouched");
    assert_eq!(format_and_trees(&dir).0, V1_MARKER);
}

#[test]
fn a_migration_interrupted_after_any_transaction_is_finished_by_the_next_open() {
    let mut transactions = 0;
    for stop_after in 1.. {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("ledger");
        unpack(&dir);
        let finished = {
            let db = open_sled(&dir).expect("sled opens");
            let finished = migrate_until(&db, None, Until::Transactions(stop_after)).expect("migrates");
            let marker = db.open_tree("meta").expect("meta").get("format").expect("reads").expect("marker");
            if marker.as_ref() == V1_MARKER {
                // Still a whole format-1 ledger.
                assert_eq!(db.open_tree("log").expect("log").len(), 400, "after {stop_after}");
            }
            finished
        };
        let ledger = Ledger::open(&dir, LedgerConfig::default()).expect("opens and finishes the migration");
        check_answers(&ledger);
        if finished {
            transactions = stop_after;
            break;
        }
    }
    // 400 events in steps of 64, 799 stored hashes in steps of 300, the marker, the old trees.
    assert_eq!(transactions, 7 + 3 + 2);
}

#[test]
fn a_migration_whose_progress_does_not_match_its_chunks_starts_over() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    unpack(&dir);
    {
        let db = open_sled(&dir).expect("sled opens");
        assert!(!migrate_until(&db, None, Until::Transactions(3)).expect("migrates"));
        db.open_tree("meta").expect("meta").insert(PROGRESS_EVENTS, &10u64.to_be_bytes()[..]).expect("writes");
        db.flush().expect("flush");
    }
    let ledger = Ledger::open(&dir, LedgerConfig::default()).expect("opens and migrates again");
    check_answers(&ledger);
}

#[test]
fn a_format_1_ledger_from_before_the_merkle_tree_gets_its_tree_built_after_the_migration() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    unpack(&dir);
    {
        let db = open_sled(&dir).expect("sled opens");
        db.drop_tree("merkle").expect("drops the tree");
        db.open_tree("meta").expect("meta").remove("tree_size").expect("removes its size");
        db.flush().expect("flush");
    }
    let ledger = Ledger::open(&dir, LedgerConfig::default()).expect("opens, migrates, builds the tree");
    check_answers(&ledger);
}
