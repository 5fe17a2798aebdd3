//! Integrity: `verify` walks the real log on disk and reports the first break precisely; bytes
//! altered through sled itself (not just in memory) are caught, never accepted, never a panic.

use ledger::{Append, Ledger, LedgerConfig, LedgerError, Position};
use samverkan_tests::{decision, party};

/// Writes five events and closes the ledger.
fn five_events(dir: &std::path::Path) {
    let ledger = Ledger::open(dir, LedgerConfig::default()).expect("opens");
    let batch = Append::new().with(party("nacka")).with(decision("d1")).with(party("solna")).with(decision("d2"));
    ledger.append(batch).expect("append");
    ledger.append(Append::one(decision("d3"))).expect("append");
}

/// Opens the sled database under a closed ledger, waiting (bounded) for sled to release the lock
/// of the previous handle, which its background threads hold a moment after the drop.
pub(crate) fn open_sled(dir: &std::path::Path) -> sled::Db {
    for _ in 0..100 {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("sled opens: {e}"),
        }
    }
    panic!("sled's lock was not released within 2 s");
}

/// Changes one byte of the stored record at `position` by writing through sled directly.
fn flip_byte(dir: &std::path::Path, position: u64, offset: usize) {
    let db = open_sled(dir);
    let log = db.open_tree("log").expect("log tree");
    let key = position.to_be_bytes();
    let mut value = log.get(key).expect("read").expect("record exists").to_vec();
    let at = offset % value.len();
    value[at] ^= 0x01;
    log.insert(key, value).expect("write");
    db.flush().expect("flush");
}

#[test]
fn verify_passes_on_an_untouched_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    five_events(dir.path());
    let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("opens");
    let mut calls = Vec::new();
    let report = ledger.verify(&mut |done, total| calls.push((done, total))).expect("verifies");
    assert_eq!(report.events, 5);
    assert_eq!(calls.last(), Some(&(Position::new(5), Position::new(5))), "progress reports the end");
}

#[test]
fn verify_reports_a_flipped_byte_anywhere_in_a_stored_event_at_its_position() {
    // Offsets in the header, the prev hash, the stored hash and the body.
    for offset in [0usize, 2, 3, 40, 70, 90, 120, 10_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        five_events(dir.path());
        flip_byte(dir.path(), 3, offset);
        let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("opens: the head record is intact");
        match ledger.verify(&mut |_, _| {}) {
            Err(LedgerError::ChainBroken { position, expected, found }) => {
                assert_eq!(position, Position::new(3), "offset {offset}");
                assert_ne!(expected, found);
            }
            Err(LedgerError::Corrupt { position, .. }) => assert_eq!(position, Position::new(3), "offset {offset}"),
            other => panic!("offset {offset}: expected a chain break at 3, got {other:?}"),
        }
    }
}

#[test]
fn a_tampered_last_record_is_refused_when_the_ledger_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    five_events(dir.path());
    flip_byte(dir.path(), 5, 100);
    match Ledger::open(dir.path(), LedgerConfig::default()) {
        Err(LedgerError::ChainBroken { position, .. }) => assert_eq!(position, Position::new(5)),
        Err(LedgerError::Corrupt { position, .. }) => assert_eq!(position, Position::new(5)),
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

#[test]
fn a_deleted_record_is_reported_as_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    five_events(dir.path());
    {
        let db = open_sled(dir.path());
        db.open_tree("log").expect("log").remove(2u64.to_be_bytes()).expect("remove");
        db.flush().expect("flush");
    }
    let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("opens");
    match ledger.verify(&mut |_, _| {}) {
        Err(LedgerError::Gap { expected, found }) => assert_eq!((expected.get(), found.get()), (2, 3)),
        other => panic!("expected a gap, got {other:?}"),
    }
}

#[test]
fn a_swapped_pair_of_records_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    five_events(dir.path());
    {
        let db = open_sled(dir.path());
        let log = db.open_tree("log").expect("log");
        let a = log.get(2u64.to_be_bytes()).expect("read").expect("exists");
        let b = log.get(3u64.to_be_bytes()).expect("read").expect("exists");
        log.insert(2u64.to_be_bytes(), b).expect("write");
        log.insert(3u64.to_be_bytes(), a).expect("write");
        db.flush().expect("flush");
    }
    let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("opens");
    let err = ledger.verify(&mut |_, _| {}).expect_err("a swap must not verify");
    assert!(
        matches!(err, LedgerError::ChainBroken { position, .. } | LedgerError::Corrupt { position, .. } if position == Position::new(2)),
        "{err:?}"
    );
}
