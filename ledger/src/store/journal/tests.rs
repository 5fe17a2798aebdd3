//! The commit journal: entries read back, cut off, damaged, replayed once, refused when foreign.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::chain::Hash;
use crate::time::Timestamp;

fn head(position: u64, byte: u8) -> Head {
    Head {
        position: Position::new(position),
        hash: Hash::from_bytes([byte; 32]),
        recorded_at: Timestamp::from_micros(7),
    }
}

/// Two consecutive groups' entries, as the writer builds them.
fn two_groups() -> (Head, Head, Vec<u8>, Vec<u8>) {
    let (first, second) = (head(2, 1), head(3, 2));
    let a = entry(
        &Head::EMPTY,
        &first,
        &[(Position::new(1), b"chunk one".to_vec())],
        &[([0, 0, 0, 0, 0, 0, 0, 0], b"run".to_vec())],
    )
    .unwrap();
    let b = entry(&first, &second, &[(Position::new(3), b"chunk two".to_vec())], &[]).unwrap();
    (first, second, a, b)
}

fn journal_of(entries: &[&[u8]]) -> Vec<u8> {
    let mut bytes = HEADER.to_vec();
    for e in entries {
        bytes.extend_from_slice(e);
    }
    bytes
}

fn sled_trees() -> (tempfile::TempDir, sled::Db, sled::Tree, sled::Tree, sled::Tree) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path().join("sled")).open().unwrap();
    let (c, h, m) = (db.open_tree("c").unwrap(), db.open_tree("h").unwrap(), db.open_tree("m").unwrap());
    (dir, db, c, h, m)
}

/// The first `n` lines of the fixture history, parsed.
fn history(n: usize) -> Vec<crate::jsonl::ImportLine> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl")).unwrap();
    text.lines().take(n).enumerate().map(|(i, l)| crate::jsonl::parse_line(i + 1, l).unwrap()).collect()
}

#[test]
fn entries_read_back_what_was_written() {
    let (first, second, a, b) = two_groups();
    let bytes = journal_of(&[&a, &b]);
    let read = entries(&bytes).unwrap().unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!((read[0].before, read[0].after), (Head::EMPTY, first));
    assert_eq!(read[0].chunks, vec![(Position::new(1).to_key(), &b"chunk one"[..])]);
    assert_eq!(read[0].runs, vec![([0; 8], &b"run"[..])]);
    assert_eq!((read[1].before, read[1].after), (first, second));
    assert!(read[1].runs.is_empty());
}

#[test]
fn the_journal_ends_at_an_entry_cut_off_or_damaged() {
    let (_, _, a, b) = two_groups();
    for cut in 1..b.len() {
        let mut bytes = journal_of(&[&a, &b]);
        bytes.truncate(bytes.len() - cut);
        assert_eq!(entries(&bytes).unwrap().unwrap().len(), 1, "cut {cut} bytes off the second entry");
    }
    let mut bytes = journal_of(&[&a, &b]);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(entries(&bytes).unwrap().unwrap().len(), 1, "a flipped bit in the second entry ends the journal");
    // Zeros after the last entry (a file extended by a power cut without its data) end it too.
    let mut bytes = journal_of(&[&a]);
    bytes.extend_from_slice(&[0; 64]);
    assert_eq!(entries(&bytes).unwrap().unwrap().len(), 1);
}

#[test]
fn a_file_cut_inside_its_header_is_empty_and_another_file_is_refused() {
    assert!(entries(b"").unwrap().is_none());
    assert!(entries(&HEADER[..10]).unwrap().is_none());
    assert!(matches!(entries(b"samverkan-journal/2\n\0\0\0\0\0\0\0\0\0\0\0\0"), Err(LedgerError::Corrupt { .. })));
    assert!(matches!(entries(b"something else entirely"), Err(LedgerError::Corrupt { .. })));
}

#[test]
fn replay_writes_what_sled_lacks_once_and_skips_what_it_has() {
    let (_, second, a, b) = two_groups();
    let (dir, _db, c, h, m) = sled_trees();
    std::fs::write(dir.path().join(FILE), journal_of(&[&a, &b])).unwrap();
    assert_eq!(replay(dir.path(), Groups { chunks: &c, hashes: &h, meta: &m }).unwrap(), 2);
    assert_eq!(super::super::read_head(&m).unwrap(), second);
    assert_eq!(c.get(Position::new(3).to_key()).unwrap().unwrap().as_ref(), b"chunk two");
    assert_eq!(h.get([0; 8]).unwrap().unwrap().as_ref(), b"run");
    assert_eq!(m.get("tree_size").unwrap().unwrap().as_ref(), &Position::new(3).to_key()[..]);
    // Opened again (sled wrote it all out): nothing to do.
    assert_eq!(replay(dir.path(), Groups { chunks: &c, hashes: &h, meta: &m }).unwrap(), 0);
    assert_eq!(super::super::read_head(&m).unwrap(), second);
}

#[test]
fn replay_refuses_a_journal_that_does_not_follow_sleds_head() {
    let (_, _, _, b) = two_groups();
    // The second group alone: it follows a head sled does not have.
    let (dir, _db, c, h, m) = sled_trees();
    std::fs::write(dir.path().join(FILE), journal_of(&[&b])).unwrap();
    assert!(matches!(
        replay(dir.path(), Groups { chunks: &c, hashes: &h, meta: &m }),
        Err(LedgerError::Corrupt { .. })
    ));
    assert!(c.is_empty() && m.is_empty(), "nothing was written");
    // The same position after another head (another ledger's journal).
    let other = entry(&Head::EMPTY, &head(2, 9), &[], &[]).unwrap();
    let (_, _, a, _) = two_groups();
    std::fs::write(dir.path().join(FILE), journal_of(&[&a])).unwrap();
    assert_eq!(replay(dir.path(), Groups { chunks: &c, hashes: &h, meta: &m }).unwrap(), 1);
    let follow = entry(&head(2, 9), &head(3, 9), &[], &[]).unwrap();
    std::fs::write(dir.path().join(FILE), journal_of(&[&other, &follow])).unwrap();
    assert!(matches!(
        replay(dir.path(), Groups { chunks: &c, hashes: &h, meta: &m }),
        Err(LedgerError::Corrupt { .. })
    ));
}

/// The file's bytes: what `journal_of` would write, then zeros only (the reserve).
fn split_reserve(bytes: &[u8], written: usize) -> (&[u8], &[u8]) {
    let (entries, zeros) = bytes.split_at(written);
    assert!(zeros.iter().all(|&b| b == 0), "the reserve after the entries holds something");
    (entries, zeros)
}

#[test]
fn an_emptied_journal_holds_its_header_then_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open_empty(dir.path(), crate::DEFAULT_JOURNAL_LIMIT).unwrap();
    let (_, _, a, _) = two_groups();
    journal.write(&a).unwrap();
    journal.sync().unwrap();
    let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
    let expected = journal_of(&[&a]);
    assert_eq!(split_reserve(&bytes, expected.len()).0, expected);
    assert_eq!(entries(&bytes).unwrap().unwrap().len(), 1, "the zeros after the entry are no entry");
    journal.empty(true).unwrap();
    let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
    assert_eq!(split_reserve(&bytes, HEADER.len()).0, HEADER.to_vec());
    assert_eq!(journal.len(), HEADER.len() as u64);
    assert_eq!(entries(&bytes).unwrap().unwrap().len(), 0);
}

/// Entries go over zeros the file already has (its length does not change while they fit, so an
/// `fdatasync` writes no metadata); an entry past the reserve reserves whole steps more, and every
/// entry reads back.
#[test]
fn entries_are_written_over_the_reserve_and_it_grows_by_steps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let mut journal = Journal::open_empty(dir.path(), 4096).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096, "one step reserved at the start");
    let (_, _, a, b) = two_groups();
    let mut written: Vec<&[u8]> = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..40 {
        let entry: &[u8] = if i % 2 == 0 { &a } else { &b };
        journal.write(entry).unwrap();
        written.push(entry);
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    journal.sync().unwrap();
    assert!(sizes.iter().all(|size| size % 4096 == 0), "the file grows by whole steps: {sizes:?}");
    assert!(sizes.windows(2).filter(|w| w[0] != w[1]).count() >= 1, "it grew past the first step: {sizes:?}");
    assert!(sizes.windows(2).filter(|w| w[0] == w[1]).count() > 30, "most entries did not grow it: {sizes:?}");
    let bytes = std::fs::read(&path).unwrap();
    let expected = journal_of(&written);
    assert!(bytes.len() as u64 - journal.len() < 4096 + expected.len() as u64);
    assert_eq!(split_reserve(&bytes, expected.len()).0, expected);
    assert_eq!(entries(&bytes).unwrap().unwrap().len(), 40);
    // A single entry larger than a step is written whole, the reserve past it.
    let large = entry(&Head::EMPTY, &head(1, 1), &[(Position::new(1), vec![7u8; 10_000])], &[]).unwrap();
    journal.empty(true).unwrap();
    journal.write(&large).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(split_reserve(&bytes, HEADER.len() + large.len()).0, journal_of(&[&large]));
}

/// The bytes of a journal with one entry, pinned: a change of the format must be a new format.
#[test]
fn golden_bytes_of_a_journal_with_one_entry() {
    let (_, _, a, _) = two_groups();
    let hex = hex::encode(journal_of(&[&a]));
    assert_eq!(hex, GOLDEN_JOURNAL, "the journal's bytes changed: that is a new format (samverkan-journal/2)");
}

const GOLDEN_JOURNAL: &str = concat!(
    // The header: `samverkan-journal/1\n`, zeros to 32 bytes.
    "73616d7665726b616e2d6a6f75726e616c2f310a000000000000000000000000",
    // The entry's body length (140) and CRC-32, little-endian.
    "8c0000002453e550",
    // The head before: the empty log (position, hash, record time).
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    // The head after: position 2, its hash, recorded at 7 µs.
    "000000000000000201010101010101010101010101010101010101010101010101010101010101010000000000000007",
    // One chunk: its key (position 1), length 9, the bytes.
    "01000000",
    "0000000000000001",
    "09000000",
    "6368756e6b206f6e65",
    // One run: its key, length 3, the bytes.
    "01000000",
    "0000000000000000",
    "03000000",
    "72756e",
);

/// A format-2 directory (today's trees, no journal) opens as format 3 with every event, gets its
/// journal, and appends on.
#[test]
fn a_format_2_ledger_opens_as_format_3_with_every_event() {
    use crate::store::{Ledger, LedgerConfig, open_sled};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let lines = history(60);
    let ledger = Ledger::open(&dir, LedgerConfig::default()).unwrap();
    crate::jsonl::import(&ledger, lines[..50].to_vec()).unwrap();
    let head = ledger.head();
    drop(ledger);
    {
        // What format 2's code left: its marker, no journal.
        let db = open_sled(&dir).unwrap();
        db.open_tree("meta").unwrap().insert("format", crate::store::V2_MARKER).unwrap();
        db.flush().unwrap();
    }
    std::fs::remove_file(dir.join(FILE)).unwrap();

    let ledger = Ledger::open(&dir, LedgerConfig::default()).expect("a format-2 directory opens");
    assert_eq!(ledger.head(), head);
    assert_eq!(ledger.verify(&mut |_, _| {}).unwrap().events, 50);
    let bytes = std::fs::read(dir.join(FILE)).unwrap();
    assert_eq!(split_reserve(&bytes, HEADER.len()).0, HEADER.to_vec(), "its journal, empty");
    crate::jsonl::import(&ledger, lines[50..].to_vec()).unwrap();
    drop(ledger);
    let db = open_sled(&dir).unwrap();
    let marker = db.open_tree("meta").unwrap().get("format").unwrap().unwrap();
    assert_eq!(marker.as_ref(), crate::store::FORMAT_MARKER);
    assert_eq!(crate::store::FORMAT_MARKER, b"samverkan-ledger/3");
    drop(db);
    let ledger = Ledger::open(&dir, LedgerConfig::default()).unwrap();
    assert_eq!(ledger.verify(&mut |_, _| {}).unwrap().events, 60);
}

/// Real chunks of `records` records from `first`.
fn chunks_of(first: u64, records: u64) -> Vec<(Position, Vec<u8>)> {
    let ids: Vec<crate::id::EventId> =
        (0..records).map(|n| crate::id::EventId::from_uuid(uuid::Uuid::from_u128(u128::from(first + n)))).collect();
    let entries: Vec<_> =
        ids.iter().map(|&id| crate::store::layout::Entry { id, stream: "s", record: b"record" }).collect();
    crate::store::layout::chunks(Position::new(first), &entries).unwrap()
}

/// What sled holds past its head after a crash (a group written, its head not, the journal without
/// it) is removed; a log without such leftovers, or damaged otherwise, is left alone.
#[test]
fn trim_removes_what_sled_holds_past_its_head() {
    let (dir, _db, c, h, m) = sled_trees();
    let groups = Groups { chunks: &c, hashes: &h, meta: &m };
    let (first, second) = (head(2, 1), head(3, 2));
    let one = chunks_of(1, 2);
    insert_group(groups, one.iter().map(|(p, v)| (p.to_key(), v.as_slice())), [], &first).unwrap();
    assert_eq!(replay(dir.path(), groups).unwrap(), 0, "no journal");
    assert_eq!(trim(groups).unwrap(), 0, "nothing past the head");
    // The second group's chunk, run and tree size, but not its head.
    let two = chunks_of(3, 1);
    c.insert(two[0].0.to_key(), two[0].1.as_slice()).unwrap();
    let past = tlog_tiles::stored_hash_count(first.position.get());
    h.insert(past.to_be_bytes(), &b"run two"[..]).unwrap();
    m.insert("tree_size", &second.position.to_key()[..]).unwrap();
    assert_eq!(trim(groups).unwrap(), 1);
    assert_eq!(super::super::read_head(&m).unwrap(), first);
    assert!(c.get(Position::new(3).to_key()).unwrap().is_none());
    assert!(c.get(Position::new(1).to_key()).unwrap().is_some(), "the head's own chunk stays");
    assert!(h.get(past.to_be_bytes()).unwrap().is_none());
    assert_eq!(super::super::read_tree_size(&m).unwrap(), first.position.get());
    // A chunk past the head that does not begin right after it is damage: left for the open's
    // checks to report.
    let far = chunks_of(5, 1);
    c.insert(far[0].0.to_key(), far[0].1.as_slice()).unwrap();
    assert_eq!(trim(groups).unwrap(), 0);
    assert!(c.get(Position::new(5).to_key()).unwrap().is_some());
}

/// With a small limit the journal is emptied again and again while appends go on (a checkpoint
/// after the group that crossed it), never grows far past it, and a reopen has every event.
#[test]
fn the_journal_stays_near_its_limit_and_a_reopen_has_every_event() {
    use crate::store::{Ledger, LedgerConfig};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let lines = history(120);
    let config = || LedgerConfig { journal_limit: 4096, ..LedgerConfig::default() };
    let ledger = Ledger::open(&dir, config()).unwrap();
    let (mut largest, mut emptied) = (0, 0);
    let mut last = 0;
    for line in lines {
        crate::jsonl::import(&ledger, vec![line]).unwrap();
        let bytes = std::fs::read(dir.join(FILE)).unwrap();
        let held = entries(&bytes).unwrap().unwrap().len();
        if held < last {
            emptied += 1;
        }
        (largest, last) = (largest.max(bytes.len()), held);
    }
    assert!(emptied >= 3, "emptied {emptied} times");
    assert!(largest < 4096 + 8192, "the journal grew to {largest} bytes");
    let head = ledger.head();
    drop(ledger);
    let ledger = Ledger::open(&dir, config()).unwrap();
    assert_eq!(ledger.head(), head);
    assert_eq!(ledger.verify(&mut |_, _| {}).unwrap().events, 120);
}

/// A copy of a live ledger's directory is what a crash leaves: sled has not written the last groups
/// out (no checkpoint yet), the journal holds them. Opening the copy – read-only (`verify`,
/// `export` on a stopped server) or for writing – has every acknowledged event; the read-only open
/// leaves the copy's journal as it was.
#[test]
fn a_copy_taken_while_the_ledger_runs_opens_with_every_event_the_journal_holds() {
    use crate::store::{Ledger, LedgerConfig};
    let tmp = tempfile::tempdir().unwrap();
    let (live, copy) = (tmp.path().join("live"), tmp.path().join("copy"));
    let lines = history(40);
    let ledger = Ledger::open(&live, LedgerConfig::default()).unwrap();
    for line in lines {
        crate::jsonl::import(&ledger, vec![line]).unwrap();
    }
    let head = ledger.head();
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&live).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
    }
    let sled_head = {
        let db = crate::store::open_sled(&copy).unwrap();
        super::super::read_head(&db.open_tree("meta").unwrap()).unwrap()
    };
    assert!(sled_head.position < head.position, "sled had not written the last groups out: {sled_head:?}");
    let journal = std::fs::read(copy.join(FILE)).unwrap();
    assert!(journal.len() > HEADER.len(), "the journal holds the groups since the open");
    {
        let read_only = Ledger::open_read_only(&copy, LedgerConfig::default()).unwrap();
        assert_eq!(read_only.head(), head);
        assert_eq!(read_only.verify(&mut |_, _| {}).unwrap().events, 40);
    }
    assert_eq!(std::fs::read(copy.join(FILE)).unwrap(), journal, "a read-only open writes nothing");
    drop(ledger);
    let reopened = Ledger::open(&copy, LedgerConfig::default()).unwrap();
    assert_eq!(reopened.head(), head);
    assert_eq!(reopened.verify(&mut |_, _| {}).unwrap().events, 40);
}
