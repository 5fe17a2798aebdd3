//! Staged imports: nothing staged is visible or durable before the publish; the publish makes all
//! of it visible at once; an abandoned or crashed import leaves nothing behind; appends that came
//! meanwhile are committed after it, in order.

use std::path::Path;

use crate::event::{EventData, NewEvent};
use crate::id::{EventId, Position};
use crate::sequence::{Append, AppendOutcome};
use crate::store::{Ledger, LedgerConfig};
use crate::time::Date;

fn id(n: u128) -> EventId {
    EventId::from_uuid(uuid::Uuid::from_u128(0x0192_f0c4_0000_4000_8000_0000_0000_0000 + n))
}

fn party(n: u128) -> NewEvent {
    let data = serde_json::json!({"party": format!("p{n}"), "name": format!("Party {n}"), "kind": "MUNICIPALITY"});
    let data = EventData::from_json("PartyRegistered", data).expect("valid sample data");
    NewEvent::new(Date::from_ymd(2022, 6, 13).expect("valid date"), "test", data).with_id(id(n))
}

fn parties(range: std::ops::Range<u128>) -> Append {
    range.fold(Append::new(), |a, n| a.with(party(n)))
}

fn open(dir: &Path) -> Ledger {
    Ledger::open(dir, LedgerConfig::default()).expect("opens")
}

fn staged_events(outcome: AppendOutcome) -> usize {
    match outcome {
        AppendOutcome::Committed(c) => c.iter().filter(|c| !c.already_stored).count(),
        AppendOutcome::Conflict(c) => panic!("conflict {c:?}"),
    }
}

#[test]
fn staged_steps_are_invisible_until_the_publish_shows_them_all_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = open(dir.path());
    ledger.append(parties(0..3)).expect("appended");
    let before = ledger.head();

    let mut staging = ledger.stage().expect("staging");
    assert!(matches!(ledger.stage(), Err(crate::LedgerError::InUse { .. })), "one staging at a time");
    assert_eq!(staged_events(staging.append(parties(3..1500)).expect("step 1")), 1497);
    assert_eq!(staged_events(staging.append(parties(1500..2000)).expect("step 2")), 500);
    // A step sees the steps before it: the same id again is already stored.
    assert_eq!(staged_events(staging.append(parties(1999..2000)).expect("step 3")), 0);
    assert_eq!(ledger.head(), before, "nothing staged is published");
    assert!(ledger.get(Position::new(4)).expect("get").is_none());
    assert!(ledger.get_by_id(id(5)).expect("get_by_id").is_none());
    assert_eq!(ledger.read_from(Position::FIRST).count(), 3);
    assert_eq!(ledger.tree_root(3).expect("root"), ledger.tree_root(before.position.get()).expect("root"));

    // An ordinary append meanwhile waits and follows the import.
    let waiting = {
        let ledger = ledger.clone();
        std::thread::spawn(move || ledger.append(Append::one(party(5000))))
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!waiting.is_finished(), "an append waits while an import is staged");
    assert_eq!(ledger.head(), before);

    let head = staging.publish().expect("published");
    assert_eq!(head.position.get(), 2000);
    let late = waiting.join().expect("thread").expect("append");
    match late {
        AppendOutcome::Committed(c) => assert_eq!(c[0].event.position(), Position::new(2001)),
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger.read_from(Position::FIRST).count(), 2001);
    assert_eq!(ledger.get_by_id(id(1999)).expect("get").map(|e| e.position().get()), Some(2000));
    ledger.verify(&mut |_, _| {}).expect("verifies");
    let root = ledger.tree_root(2001).expect("root");
    drop(ledger);

    let ledger = open(dir.path());
    assert_eq!(ledger.head().position.get(), 2001);
    assert_eq!(ledger.tree_root(2001).expect("root"), root);
    ledger.verify(&mut |_, _| {}).expect("verifies after a reopen");
}

#[test]
fn an_abandoned_import_leaves_nothing_and_appends_continue_from_the_old_head() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = open(dir.path());
    ledger.append(parties(0..3)).expect("appended");
    let before = ledger.head();
    {
        let mut staging = ledger.stage().expect("staging");
        staging.append(parties(3..2000)).expect("staged");
        // Dropped without a publish: a rejected line, an error.
    }
    assert_eq!(ledger.head(), before);
    ledger.append(parties(3..5)).expect("the same events append normally");
    assert_eq!(ledger.head().position.get(), 5);
    ledger.verify(&mut |_, _| {}).expect("verifies");
    drop(ledger);
    let ledger = open(dir.path());
    assert_eq!(ledger.head().position.get(), 5);
    ledger.verify(&mut |_, _| {}).expect("verifies after a reopen");
    // And a new import stages and publishes.
    let mut staging = ledger.stage().expect("staging again");
    staging.append(parties(5..10)).expect("staged");
    staging.publish().expect("published");
    assert_eq!(ledger.head().position.get(), 10);
}

/// The writer keeps the Merkle tree's right edge in memory (`writer.rs`, `Cached`); a second
/// staged step reads the first step's hashes through it. After the import is removed those are
/// gone (the cache is emptied, and a commit's own hashes replace any it held at their indexes):
/// the appends that follow grow the tree the events make.
#[test]
fn appends_after_an_abandoned_import_of_several_steps_grow_the_tree_from_what_is_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = open(dir.path());
    ledger.append(parties(0..3)).expect("appended");
    {
        let mut staging = ledger.stage().expect("staging");
        staging.append(parties(3..50)).expect("staged");
        staging.append(parties(50..90)).expect("staged");
    }
    for i in 3..40 {
        ledger.append(parties(i..i + 1)).expect("appended");
    }
    ledger.verify(&mut |_, _| {}).expect("the stored tree is the tree of the events");
    drop(ledger);
    let ledger = open(dir.path());
    assert_eq!(ledger.head().position.get(), 40);
    ledger.verify(&mut |_, _| {}).expect("verifies after a reopen");
}

#[test]
fn an_import_staged_when_the_process_died_is_reclaimed_at_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = open(dir.path());
    ledger.append(parties(0..3)).expect("appended");
    let before = ledger.head();
    let mut staging = ledger.stage().expect("staging");
    staging.append(parties(3..3000)).expect("staged");
    // What a kill leaves: the staged chunks and runs after the head and the mark, flushed to disk
    // (as sled may have written them), and no publish. Copy sled's files as they are now.
    ledger.shared.trees.meta.flush().expect("flush");
    let copy = tempfile::tempdir().expect("copy dir");
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
        }
    }
    std::mem::forget(staging);
    drop(ledger);

    {
        let db = crate::store::open_sled(copy.path()).expect("sled");
        assert!(db.open_tree("meta").expect("meta").get(super::MARK).expect("get").is_some(), "the mark was copied");
    }
    let ledger = open(copy.path());
    assert_eq!(ledger.head(), before, "nothing staged is visible after a crash");
    ledger.verify(&mut |_, _| {}).expect("verifies: the staged chunks are gone");
    ledger.append(parties(3..6)).expect("appends continue");
    assert_eq!(ledger.head().position.get(), 6);
}

/// The compact events a staged step is answered with are the bytes the ledger then holds for those
/// events, one per new event (none for one already stored), so an import can keep them as they are.
#[test]
fn a_step_is_answered_with_the_stored_bytes_of_its_new_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = open(dir.path());
    ledger.append(parties(0..3)).expect("appended");
    let mut staging = ledger.stage().expect("staging");
    let mut answered = Vec::new();
    for step in [parties(3..50), parties(49..60)] {
        let sent = staging.send(step).expect("sent");
        let (outcome, compact) = staging.receive_compact(sent).expect("staged");
        assert_eq!(compact.len(), staged_events(outcome));
        answered.extend(compact);
    }
    assert_eq!(answered.len(), 57, "position 4 to 60, the repeated id once");
    staging.publish().expect("published");
    let stored: Vec<_> = ledger.read_compact_from(Position::new(4)).map(|read| read.expect("reads").1).collect();
    assert_eq!(stored.len(), answered.len());
    for (stored, answered) in stored.iter().zip(&answered) {
        assert_eq!(stored.position(), answered.position());
        assert_eq!(stored.as_bytes(), answered.as_bytes());
    }
}
