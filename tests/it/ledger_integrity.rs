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

/// Where the records of a format-2 chunk lie in its bytes (`ledger/src/store/layout.rs`: version,
/// count, 22-byte entries of record length ‖ id ‖ stream name length, the names, the records).
pub(crate) fn record_ranges(chunk: &[u8]) -> Vec<std::ops::Range<usize>> {
    assert_eq!(chunk[0], 1, "chunk layout version");
    let count = usize::from(u16::from_be_bytes([chunk[1], chunk[2]]));
    let entry = |i: usize| &chunk[3 + 22 * i..3 + 22 * (i + 1)];
    let record_len = |i: usize| u32::from_be_bytes(entry(i)[..4].try_into().expect("4 bytes")) as usize;
    let names: usize = (0..count).map(|i| usize::from(u16::from_be_bytes([entry(i)[20], entry(i)[21]]))).sum();
    let mut at = 3 + 22 * count + names;
    (0..count)
        .map(|i| {
            at += record_len(i);
            at - record_len(i)..at
        })
        .collect()
}

/// Every stored record, in log order, read from the chunks of the sled database `db`.
pub(crate) fn stored_records(db: &sled::Db) -> Vec<Vec<u8>> {
    let chunks = db.open_tree("chunks").expect("chunks tree");
    let mut records = Vec::new();
    for entry in chunks.iter() {
        let (_, chunk) = entry.expect("read");
        records.extend(record_ranges(&chunk).into_iter().map(|range| chunk[range].to_vec()));
    }
    records
}

/// Changes the stored record at `position` in place, writing its chunk back through sled directly.
pub(crate) fn alter_record(dir: &std::path::Path, position: u64, alter: impl FnOnce(&mut [u8])) {
    let db = open_sled(dir);
    let chunks = db.open_tree("chunks").expect("chunks tree");
    let (key, chunk) = chunks.range(..=position.to_be_bytes()).next_back().expect("a chunk holds it").expect("read");
    let first = u64::from_be_bytes(key.as_ref().try_into().expect("8-byte key"));
    let mut value = chunk.to_vec();
    let range = record_ranges(&value)[usize::try_from(position - first).expect("small")].clone();
    alter(&mut value[range]);
    chunks.insert(key, value).expect("write");
    db.flush().expect("flush");
    drop(chunks);
    drop(db);
    wait_for_sled_to_let_go(dir);
}

/// sled releases its file lock when its last background thread of a closed database ends, a moment
/// after the `Db` is dropped (longer on a busy machine). A command run next in this process (a
/// read-only `verify`, which does not wait) must find it released.
pub(crate) fn wait_for_sled_to_let_go(dir: &std::path::Path) {
    for _ in 0..250 {
        let free =
            std::fs::File::open(dir.join("db")).map(|f| fs2::FileExt::try_lock_exclusive(&f).is_ok()).unwrap_or(true);
        if free {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("sled still holds {} after 5 s", dir.display());
}

/// Overwrites the Merkle tree's stored hash at `index` with zeros, through sled directly.
pub(crate) fn zero_stored_hash(dir: &std::path::Path, index: u64) {
    let db = open_sled(dir);
    let tree = db.open_tree("tree_hashes").expect("the tree");
    let (key, run) = tree.range(..=index.to_be_bytes()).next_back().expect("a run holds it").expect("read");
    let first = u64::from_be_bytes(key.as_ref().try_into().expect("8-byte key"));
    let at = usize::try_from(index - first).expect("small") * 32;
    let mut value = run.to_vec();
    value[at..at + 32].fill(0);
    tree.insert(key, value).expect("write");
    db.flush().expect("flush");
}

/// Changes one byte of the stored record at `position` by writing through sled directly.
fn flip_byte(dir: &std::path::Path, position: u64, offset: usize) {
    alter_record(dir, position, |record| {
        let at = offset % record.len();
        record[at] ^= 0x01;
    });
}

/// Writes five events in five commit groups (a chunk each) and closes the ledger.
fn five_chunks(dir: &std::path::Path) {
    let ledger = Ledger::open(dir, LedgerConfig::default()).expect("opens");
    for event in [party("nacka"), decision("d1"), party("solna"), decision("d2"), decision("d3")] {
        ledger.append(Append::one(event)).expect("append");
    }
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
fn a_deleted_chunk_is_reported_as_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    five_chunks(dir.path());
    {
        let db = open_sled(dir.path());
        db.open_tree("chunks").expect("chunks").remove(2u64.to_be_bytes()).expect("remove");
        db.flush().expect("flush");
    }
    let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("opens");
    match ledger.verify(&mut |_, _| {}) {
        Err(LedgerError::Gap { expected, found }) => assert_eq!((expected.get(), found.get()), (2, 3)),
        other => panic!("expected a gap, got {other:?}"),
    }
}

#[test]
fn a_swapped_pair_of_chunks_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    five_chunks(dir.path());
    {
        let db = open_sled(dir.path());
        let chunks = db.open_tree("chunks").expect("chunks");
        let a = chunks.get(2u64.to_be_bytes()).expect("read").expect("exists");
        let b = chunks.get(3u64.to_be_bytes()).expect("read").expect("exists");
        chunks.insert(2u64.to_be_bytes(), b).expect("write");
        chunks.insert(3u64.to_be_bytes(), a).expect("write");
        db.flush().expect("flush");
    }
    let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("opens");
    let err = ledger.verify(&mut |_, _| {}).expect_err("a swap must not verify");
    assert!(
        matches!(err, LedgerError::ChainBroken { position, .. } | LedgerError::Corrupt { position, .. } if position == Position::new(2)),
        "{err:?}"
    );
}
