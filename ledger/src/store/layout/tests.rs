//! Format 2's values: the golden bytes of a chunk and of a run (`golden/chunk-v2.json`) are what the
//! writer stores and what a ledger opened on them reads; chunks and runs split at their bounds and
//! refuse malformed bytes; and `verify` catches a chunk or run altered on disk (its index section,
//! its key, a record's byte, a run's length or key).

use std::path::Path;

use super::*;
use crate::error::LedgerError;
use crate::event::{EventData, NewEvent};
use crate::sequence::{Append, Head};
use crate::store::{Clock, Ledger, LedgerConfig, Trees, open_sled};
use crate::time::{Date, Timestamp};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/chunk-v2.json");

fn id(n: u128) -> EventId {
    EventId::from_uuid(uuid::Uuid::from_u128(0x0192_f0c4_0000_4000_8000_0000_0000_0000 + n))
}

fn event(n: u128, type_name: &str, data: serde_json::Value) -> NewEvent {
    let data = EventData::from_json(type_name, data).expect("valid sample data");
    NewEvent::new(Date::from_ymd(2022, 6, 13).expect("valid date"), "storsthlm-registrator", data).with_id(id(n))
}

fn party(n: u128, slug: &str) -> NewEvent {
    event(
        n,
        "PartyRegistered",
        serde_json::json!({"party": slug, "name": format!("Party {slug}"), "kind": "MUNICIPALITY"}),
    )
}

/// A ledger whose record time is fixed, so that its bytes are reproducible.
fn fixed_ledger(dir: &Path) -> Ledger {
    let clock = Clock::custom(|| Timestamp::from_micros(1_655_716_364_000_000));
    Ledger::open(dir, LedgerConfig { clock, ..LedgerConfig::default() }).expect("opens")
}

/// The golden group: three events of two streams in one append.
fn golden_append() -> Append {
    Append::new()
        .with(party(1, "stockholm"))
        .with(event(
            2,
            "DistrictRegistered",
            serde_json::json!({"district": "bromma", "municipality": "stockholm", "name": "Bromma"}),
        ))
        .with(party(3, "nacka"))
}

/// The only entry of a tree of the closed ledger in `dir`.
fn only_entry(dir: &Path, tree: &str) -> (Vec<u8>, Vec<u8>) {
    let db = open_sled(dir).expect("sled opens");
    let tree = db.open_tree(tree).expect("tree");
    assert_eq!(tree.len(), 1, "one value for the group");
    let (key, value) = tree.first().expect("reads").expect("an entry");
    (key.to_vec(), value.to_vec())
}

#[test]
fn the_writer_stores_a_group_as_the_golden_chunk_and_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ledger = fixed_ledger(tmp.path());
    ledger.append(golden_append()).expect("appends");
    drop(ledger);
    let (chunk_key, chunk) = only_entry(tmp.path(), "chunks");
    let (run_key, run) = only_entry(tmp.path(), "tree_hashes");
    let written = serde_json::json!({
        "chunk_key": hex::encode(chunk_key),
        "chunk": hex::encode(chunk),
        "run_key": hex::encode(run_key),
        "run": hex::encode(run),
    });
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&written).expect("JSON") + "\n";
        std::fs::write(GOLDEN, text).expect("writes the golden file");
    }
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(GOLDEN).expect("golden file")).expect("JSON");
    assert_eq!(written, golden, "format 2's bytes changed: that needs a new format version and a migration");
}

#[test]
fn a_ledger_made_of_the_golden_chunk_and_run_reads_and_verifies() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(GOLDEN).expect("golden file")).expect("JSON");
    let bytes = |field: &str| hex::decode(golden[field].as_str().expect("hex string")).expect("hex");
    let (chunk_key, chunk, run_key, run) = (bytes("chunk_key"), bytes("chunk"), bytes("run_key"), bytes("run"));

    // The reader's view of the bytes.
    let parsed = Chunk::parse(&chunk_key, &chunk).expect("parses");
    assert_eq!((parsed.first(), parsed.end()), (Position::new(1), Position::new(4)));
    let items: Vec<Item<'_>> = parsed.items().map(|i| i.expect("item")).collect();
    let streams: Vec<&str> = items.iter().map(|i| i.stream).collect();
    assert_eq!(streams, ["party/stockholm", "party/stockholm", "party/nacka"]);
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), [id(1), id(2), id(3)]);
    let last = crate::encoding::decode(Position::new(3), items[2].record).expect("decodes");
    assert_eq!(run_span(&run_key, &run).expect("a run"), (0, 4), "3 leaves store 4 hashes");

    // A directory holding only those bytes opens as a ledger, reads and verifies.
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let db = open_sled(tmp.path()).expect("sled opens");
        let meta = db.open_tree("meta").expect("meta");
        meta.insert("format", crate::store::FORMAT_MARKER).expect("writes");
        let head = Head { position: Position::new(3), hash: last.hash, recorded_at: last.recorded_at };
        meta.insert("head", &Trees::encode_head(&head)[..]).expect("writes");
        meta.insert("tree_size", &3u64.to_be_bytes()[..]).expect("writes");
        db.open_tree("chunks").expect("chunks").insert(chunk_key, chunk).expect("writes");
        db.open_tree("tree_hashes").expect("tree").insert(run_key, run).expect("writes");
        db.flush().expect("flush");
    }
    let ledger = Ledger::open(tmp.path(), LedgerConfig::default()).expect("opens");
    let events: Vec<_> = ledger.read_from(Position::FIRST).map(|e| e.expect("reads")).collect();
    assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), [id(1), id(2), id(3)]);
    assert_eq!(ledger.verify(&mut |_, _| {}).expect("verifies").events, 3);
    let stockholm = crate::id::StreamId::parse("party/stockholm").expect("stream");
    assert_eq!(ledger.stream_version(&stockholm).expect("version"), 2);
    assert_eq!(ledger.get_by_id(id(2)).expect("reads").map(|e| e.position), Some(Position::new(2)));
}

fn entry<'a>(n: u128, stream: &'a str, record: &'a [u8]) -> Entry<'a> {
    Entry { id: id(n), stream, record }
}

#[test]
fn a_chunk_holds_at_most_6_kib_unless_one_record_needs_more() {
    let small = vec![7u8; 10];
    let many: Vec<Entry<'_>> = (0..2500).map(|n| entry(n, "party/p", &small)).collect();
    let chunks_of_many = chunks(Position::new(10), &many).expect("chunks");
    // Each small record takes its entry, its stream name and its 10 bytes: as many as fit.
    let per_chunk = (CHUNK_MAX_BYTES - HEADER_LEN) / (ENTRY_LEN + "party/p".len() + small.len());
    let keys: Vec<u64> = chunks_of_many.iter().map(|(key, _)| key.get()).collect();
    assert_eq!(keys, (0..2500).step_by(per_chunk).map(|n| 10 + n as u64).collect::<Vec<_>>());
    let big = vec![1u8; crate::encoding::MAX_BODY_BYTES + 67];
    let large: Vec<Entry<'_>> = (0..3).map(|n| entry(n, "party/p", &big)).collect();
    let chunks_of_large = chunks(Position::new(1), &large).expect("chunks");
    assert_eq!(chunks_of_large.len(), 3, "a record of the largest size is a chunk of its own");
    let medium = vec![2u8; 2 * 1024];
    let some: Vec<Entry<'_>> = (0..5).map(|n| entry(n, "party/p", &medium)).collect();
    let chunks_of_some = chunks(Position::new(1), &some).expect("chunks");
    assert_eq!(chunks_of_some.iter().map(|(key, _)| key.get()).collect::<Vec<_>>(), [1, 3, 5]);
    for (key, bytes) in chunks_of_many.iter().chain(&chunks_of_large).chain(&chunks_of_some) {
        let chunk = Chunk::parse(&key.to_key(), bytes).expect("parses");
        assert!(bytes.len() <= CHUNK_MAX_BYTES || chunk.items().count() == 1, "{} bytes", bytes.len());
        for (item, range) in chunk.items().zip(chunk.record_ranges()) {
            let item = item.expect("item");
            assert_eq!(chunk.record(item.position), Some(item.record));
            assert_eq!(&bytes[range], item.record);
        }
        assert_eq!(chunk.record(chunk.end()), None);
        assert_eq!(chunk.record(Position::new(key.get() - 1)), None);
    }
}

/// Writes commit groups of 300 ordinary events, 30,000 in all, walks them as a verification does,
/// and finds that sled stored no page as a blob: every leaf of full chunks or runs is below sled's
/// blob threshold, so its cache counts what it holds and evicts it. (With 96 KiB chunks sled wrote
/// its leaves as blobs, which its cache counts as a few bytes each and never evicts: one walk of
/// the log kept all of it in memory.)
#[test]
fn sled_stores_no_page_of_an_ordinary_log_as_a_blob() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ledger = fixed_ledger(tmp.path());
    let name = "x".repeat(200);
    for group in 0..100u128 {
        let append = (0..300u128).fold(Append::new(), |append, n| {
            let party = format!("p{group}-{n}");
            append.with(event(
                group * 1000 + n,
                "PartyRegistered",
                serde_json::json!({"party": party, "name": name, "kind": "MUNICIPALITY"}),
            ))
        });
        ledger.append(append).expect("appends");
    }
    assert_eq!(ledger.head().position.get(), 30_000);
    assert_eq!(ledger.verify(&mut |_, _| {}).expect("verifies").events, 30_000);
    drop(ledger);
    let blobs = std::fs::read_dir(tmp.path().join("blobs")).expect("blobs").count();
    assert_eq!(blobs, 0, "sled stored {blobs} of its pages as blobs");
}

/// A leaf of sled holds up to 17 values before it splits: full chunks or runs, with their keys and
/// lengths, stay below sled's blob threshold (a quarter of its 512 KiB segment, less a header).
const _: () =
    assert!(17 * (CHUNK_MAX_BYTES + 32) < 128 * 1024 - 64 && 17 * (RUN_WRITE_HASHES * 32 + 32) < 128 * 1024 - 64);

#[test]
fn malformed_chunks_are_refused_as_corrupt() {
    let record = vec![3u8; 10];
    let (key, good) = chunks(Position::new(5), &[entry(1, "party/p", &record)]).expect("chunks").remove(0);
    assert_eq!(key, Position::new(5));
    let key = key.to_key();
    assert!(Chunk::parse(&key, &good).is_ok());
    let mut cases: Vec<(&str, Vec<u8>, Vec<u8>)> = Vec::new();
    cases.push(("empty", key.to_vec(), Vec::new()));
    cases.push(("short key", key[1..].to_vec(), good.clone()));
    cases.push(("key 0", 0u64.to_be_bytes().to_vec(), good.clone()));
    let mut version = good.clone();
    version[0] = 2;
    cases.push(("version", key.to_vec(), version));
    let mut none = good.clone();
    none[1..3].copy_from_slice(&0u16.to_be_bytes());
    cases.push(("no records", key.to_vec(), none));
    let mut longer = good.clone();
    longer.push(0);
    cases.push(("a trailing byte", key.to_vec(), longer));
    cases.push(("a missing byte", key.to_vec(), good[..good.len() - 1].to_vec()));
    let mut length = good.clone();
    length[3..7].copy_from_slice(&u32::MAX.to_be_bytes());
    cases.push(("a record length", key.to_vec(), length));
    for (what, key, bytes) in cases {
        assert!(matches!(Chunk::parse(&key, &bytes), Err(LedgerError::Corrupt { .. })), "{what}");
    }
}

#[test]
fn runs_are_written_of_at_most_192_hashes_and_refuse_partial_hashes() {
    let hashes: Vec<TreeHash> = (0..500u32).map(|n| crate::merkle::leaf_hash(&n.to_be_bytes())).collect();
    let runs = runs(7, &hashes);
    let spans: Vec<(u64, u64)> = runs.iter().map(|(key, bytes)| run_span(key, bytes).expect("a run")).collect();
    assert_eq!(RUN_WRITE_HASHES, 192);
    assert_eq!(spans, [(7, 192), (199, 192), (391, 116)]);
    assert_eq!(run_hash(199, &runs[1].1, 199 + 5), Some(hashes[192 + 5]));
    assert_eq!(run_hash(199, &runs[1].1, 198), None);
    assert_eq!(run_hash(199, &runs[1].1, 199 + 192), None);
    // A run as long as the writer wrote before session 15 is still read; a longer one is not.
    let old = vec![1u8; 32 * RUN_MAX_HASHES];
    assert_eq!(run_span(&0u64.to_be_bytes(), &old).expect("a run"), (0, 2048));
    for bad in [Vec::new(), vec![0u8; 31], vec![0u8; 33], vec![0u8; 32 * (RUN_MAX_HASHES + 1)]] {
        assert!(run_span(&0u64.to_be_bytes(), &bad).is_err(), "{} bytes", bad.len());
    }
    assert!(run_span(&[0u8; 7], &[0u8; 32]).is_err());
}

/// Five events in three commit groups: chunks at 1 (2 events), 3 (2) and 5 (1).
fn three_chunks(dir: &Path) {
    let ledger = fixed_ledger(dir);
    ledger.append(Append::new().with(party(1, "p1")).with(party(2, "p2"))).expect("appends");
    ledger.append(Append::new().with(party(3, "p3")).with(party(4, "p4"))).expect("appends");
    ledger.append(Append::one(party(5, "p5"))).expect("appends");
}

/// Edits the closed ledger in `dir` through sled, then opens it and verifies.
fn tampered(edit: impl FnOnce(&sled::Tree, &sled::Tree)) -> Result<crate::verify::VerifyReport> {
    let tmp = tempfile::tempdir().expect("tempdir");
    three_chunks(tmp.path());
    {
        let db = open_sled(tmp.path()).expect("sled opens");
        edit(&db.open_tree("chunks").expect("chunks"), &db.open_tree("tree_hashes").expect("tree"));
        db.flush().expect("flush");
    }
    Ledger::open(tmp.path(), LedgerConfig::default())?.verify(&mut |_, _| {})
}

/// Rewrites the chunk under `key` with `edit`.
fn edit_chunk(chunks: &sled::Tree, key: u64, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = chunks.get(key.to_be_bytes()).expect("reads").expect("the chunk").to_vec();
    edit(&mut bytes);
    chunks.insert(key.to_be_bytes(), bytes).expect("writes");
}

/// Moves the chunk under `from` to `to`.
fn move_chunk(chunks: &sled::Tree, from: u64, to: u64) {
    let bytes = chunks.remove(from.to_be_bytes()).expect("removes").expect("the chunk");
    chunks.insert(to.to_be_bytes(), bytes).expect("writes");
}

fn corrupt_at<T: std::fmt::Debug>(result: Result<T>, at: u64, words: &str) {
    match result {
        Err(LedgerError::Corrupt { position, reason }) => {
            assert_eq!(position.get(), at, "{reason}");
            assert!(reason.contains(words), "{reason}");
        }
        other => panic!("expected a corrupt record at {at}, got {other:?}"),
    }
}

/// The runs' own checks, which the recomputed hashes do not cover: a run that repeats a stored
/// hash with its right value (overlapping the run before) and a run past the last stored hash.
#[test]
fn runs_that_overlap_or_go_past_the_tree_are_caught() {
    let overlapping = tampered(|_, tree| {
        let (key, run) = tree.first().expect("reads").expect("a run");
        let first = u64::from_be_bytes(key.as_ref().try_into().expect("8 bytes"));
        assert!(run.len() >= 64, "the first run holds two hashes or more");
        // Its hashes from the second on, under the second's index: each stored hash is still read
        // with its right value, but two runs hold it.
        tree.insert((first + 1).to_be_bytes(), &run[32..]).expect("writes");
    });
    // Found once the walk has passed the first commit group (two events).
    corrupt_at(overlapping, 2, "does not follow the one before");
    let past = tampered(|_, tree| {
        // Five events store 2·5 − popcount(5) = 8 hashes: indexes 0 to 7.
        tree.insert(8u64.to_be_bytes(), vec![7u8; 32]).expect("writes");
    });
    corrupt_at(past, 5, "the Merkle tree stores 9 hashes; a log of 5 events has 8");
}

#[test]
fn an_untouched_ledger_verifies() {
    assert_eq!(tampered(|_, _| {}).expect("verifies").events, 5);
}

#[test]
fn a_wrong_id_in_an_index_section_is_caught() {
    // Entry 1 (position 4) of the chunk at 3: its id is bytes 4..20 of the entry.
    let result = tampered(|chunks, _| edit_chunk(chunks, 3, |bytes| bytes[HEADER_LEN + ENTRY_LEN + 4] ^= 0x40));
    corrupt_at(result, 4, "index section");
}

#[test]
fn a_wrong_stream_in_an_index_section_is_caught() {
    // "party/p3" becomes "party/p9", a valid stream: the open indexes it, `verify` compares.
    let result = tampered(|chunks, _| {
        edit_chunk(chunks, 3, |bytes| {
            let at = HEADER_LEN + 2 * ENTRY_LEN + "party/p".len();
            assert_eq!(bytes[at], b'3');
            bytes[at] = b'9';
        })
    });
    corrupt_at(result, 3, "index section");
}

#[test]
fn a_chunk_under_an_earlier_key_is_caught_as_an_overlap() {
    corrupt_at(tampered(|chunks, _| move_chunk(chunks, 3, 2)), 2, "overlaps");
}

#[test]
fn a_chunk_under_a_later_key_is_caught_as_a_gap() {
    match tampered(|chunks, _| move_chunk(chunks, 3, 4)) {
        Err(LedgerError::Gap { expected, found }) => assert_eq!((expected.get(), found.get()), (3, 4)),
        other => panic!("expected a gap, got {other:?}"),
    }
}

#[test]
fn a_chunk_past_the_head_is_refused_at_open() {
    // The head manifest finds it first; without one, the stored head does.
    corrupt_at(tampered(|chunks, _| move_chunk(chunks, 5, 6)), 5, "manifest");
    let tmp = tempfile::tempdir().expect("tempdir");
    three_chunks(tmp.path());
    std::fs::remove_file(tmp.path().join(crate::store::manifest::FILE)).expect("removes HEAD");
    {
        let db = open_sled(tmp.path()).expect("sled opens");
        move_chunk(&db.open_tree("chunks").expect("chunks"), 5, 6);
        db.flush().expect("flush");
    }
    match Ledger::open(tmp.path(), LedgerConfig::default()) {
        Err(LedgerError::Corrupt { position, reason }) => {
            assert_eq!(position.get(), 6, "{reason}");
            assert!(reason.contains("head says 5"), "{reason}");
        }
        other => panic!("expected the open to refuse, got {other:?}"),
    }
}

#[test]
fn a_flipped_record_byte_inside_a_chunk_is_caught_at_its_position() {
    let result = tampered(|chunks, _| edit_chunk(chunks, 3, |bytes| *bytes.last_mut().expect("bytes") ^= 0x01));
    assert!(
        matches!(&result, Err(LedgerError::ChainBroken { position, .. } | LedgerError::Corrupt { position, .. }) if position.get() == 4),
        "{result:?}"
    );
}

#[test]
fn an_altered_run_is_caught() {
    let truncated = tampered(|_, tree| {
        let (key, run) = tree.last().expect("reads").expect("a run");
        tree.insert(key, &run[..run.len() - 1]).expect("writes");
    });
    assert!(
        matches!(truncated, Err(LedgerError::Corrupt { ref reason, .. }) if reason.contains("Merkle")),
        "{truncated:?}"
    );
    let moved = tampered(|_, tree| {
        let (key, run) = tree.last().expect("reads").expect("a run");
        tree.remove(&key).expect("removes");
        let first = u64::from_be_bytes(key.as_ref().try_into().expect("8 bytes"));
        tree.insert((first + 1).to_be_bytes(), run).expect("writes");
    });
    assert!(matches!(moved, Err(LedgerError::Corrupt { ref reason, .. }) if reason.contains("Merkle")), "{moved:?}");
    let zeroed = tampered(|_, tree| {
        let (key, run) = tree.first().expect("reads").expect("a run");
        let mut run = run.to_vec();
        run[..32].fill(0);
        tree.insert(key, run).expect("writes");
    });
    assert!(matches!(zeroed, Err(LedgerError::Corrupt { ref reason, .. }) if reason.contains("Merkle")), "{zeroed:?}");
}

#[test]
fn a_large_group_is_several_chunks_and_runs_and_reads_back_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ledger = fixed_ledger(tmp.path());
    ledger.append(Append::one(party(0, "first"))).expect("appends");
    let group = (1..=1100).fold(Append::new(), |append, n| append.with(party(n, &format!("p{n}"))));
    ledger.append(group).expect("appends");
    let root = ledger.tree_root(1101).expect("root");
    let proof = ledger.inclusion_proof(700, 1101).expect("proof");
    drop(ledger);
    {
        let db = open_sled(tmp.path()).expect("sled opens");
        let chunks: Vec<u64> = db
            .open_tree("chunks")
            .expect("chunks")
            .iter()
            .map(|e| u64::from_be_bytes(e.expect("reads").0.as_ref().try_into().expect("8 bytes")))
            .collect();
        assert!(chunks.len() >= 3 && chunks[..2] == [1, 2], "the group is split: {chunks:?}");
        let runs = db.open_tree("tree_hashes").expect("tree").len();
        // A tree of n leaves stores 2n − popcount(n) hashes: the first group's one, then the rest.
        let stored = 2 * 1101 - 1101u32.count_ones() as usize;
        assert_eq!(runs, 1 + (stored - 1).div_ceil(RUN_WRITE_HASHES), "the first group's run and the large group's");
    }
    let ledger = Ledger::open(tmp.path(), LedgerConfig::default()).expect("reopens");
    assert_eq!(ledger.verify(&mut |_, _| {}).expect("verifies").root, root);
    assert_eq!(ledger.inclusion_proof(700, 1101).expect("proof"), proof);
    let leaf = crate::merkle::leaf_hash(
        &crate::merkle::leaf_bytes(&ledger.get(Position::new(701)).expect("reads").expect("event")).expect("leaf"),
    );
    assert!(crate::merkle::check_inclusion(&proof, 1101, root, 700, leaf));
    let positions: Vec<u64> = ledger.read_from(Position::new(500)).map(|e| e.expect("reads").position.get()).collect();
    assert_eq!(positions, (500..=1101).collect::<Vec<_>>());
    assert_eq!(ledger.get_by_id(id(1100)).expect("reads").map(|e| e.position), Some(Position::new(1101)));
    assert!(!ledger.entry_bundle(2, 256).expect("bundle").is_empty());
}

/// The indexes are rebuilt on a thread of their own: a ledger opened with `open_while_indexing`
/// reads its log by position at once, and an index section the rebuild cannot read fails the wait
/// and everything that needs the indexes – never an answer from half-built ones – while `open`
/// itself refuses such a ledger as before.
#[test]
fn an_unreadable_index_section_fails_everything_that_needs_the_indexes_and_reading_by_position_does_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    three_chunks(tmp.path());
    {
        let db = open_sled(tmp.path()).expect("sled opens");
        // The indexes a clean close kept would be read instead of the index sections.
        std::fs::remove_file(tmp.path().join(crate::store::indexes::FILE)).expect("kept indexes");
        // "party/p3" becomes "parzy/p3": no stream has that kind.
        edit_chunk(&db.open_tree("chunks").expect("chunks"), 3, |bytes| {
            let at = HEADER_LEN + 2 * ENTRY_LEN + "par".len();
            assert_eq!(bytes[at], b't');
            bytes[at] = b'z';
        });
        db.flush().expect("flush");
    }
    corrupt_at(Ledger::open(tmp.path(), LedgerConfig::default()), 3, "index section");

    let ledger = Ledger::open_while_indexing(tmp.path(), LedgerConfig::default()).expect("opens");
    let read: Vec<u64> = ledger.read_from(Position::FIRST).map(|e| e.expect("decodes").position().get()).collect();
    assert_eq!(read, [1, 2, 3, 4, 5], "reading by position needs no index");
    corrupt_at(ledger.wait_indexed(), 3, "index section");
    // Later callers hear it again, whoever they are.
    corrupt_at(ledger.wait_indexed(), 0, "could not be rebuilt");
    assert!(matches!(ledger.get_by_id(id(1)), Err(LedgerError::Corrupt { .. })));
    assert!(matches!(
        ledger.stream_version(&crate::StreamId::parse("party/p1").expect("stream")),
        Err(LedgerError::Corrupt { .. })
    ));
    let appended = ledger.append(Append::one(party(6, "p6")));
    assert!(matches!(appended, Err(LedgerError::Corrupt { .. })), "an append without indexes: {appended:?}");
    assert_eq!(ledger.head().position.get(), 5, "nothing was appended");
}

/// The indexes a clean close keeps (`INDEXES`) are read at the next open, with only the events
/// after them indexed from the log; a damaged file, one of another format, one of another log and
/// one past the head are refused and the indexes rebuilt. In every case they answer as a rebuild does.
#[test]
fn the_kept_indexes_are_read_when_they_are_this_logs_and_rebuilt_otherwise() {
    use crate::store::indexes::FILE;
    let tmp = tempfile::tempdir().expect("tempdir");
    three_chunks(tmp.path());
    let kept = std::fs::read(tmp.path().join(FILE)).expect("a clean close keeps the indexes");
    // Three more events after the kept ones, then the older file back.
    {
        let ledger = fixed_ledger(tmp.path());
        assert_eq!(ledger.shared.trees.indexes.kept_at().expect("built"), Some(Position::new(5)));
        ledger.append(Append::new().with(party(6, "p6")).with(party(7, "p1-bis"))).expect("appends");
        ledger.append(Append::one(party(8, "p8"))).expect("appends");
    }
    std::fs::write(tmp.path().join(FILE), &kept).expect("the older file back");
    let answers = |ledger: &Ledger| {
        let ids: Vec<Option<u64>> =
            (1..=8).map(|n| ledger.get_by_id(id(n)).expect("reads").map(|e| e.position().get())).collect();
        let versions: Vec<u64> = ["p1", "p2", "p3", "p4", "p5", "p6", "p1-bis", "p8", "p9"]
            .iter()
            .map(|p| ledger.stream_version(&crate::StreamId::parse(&format!("party/{p}")).expect("stream")).expect("v"))
            .collect();
        (ids, versions)
    };
    let expected = ((1..=8).map(Some).collect::<Vec<_>>(), vec![1, 1, 1, 1, 1, 1, 1, 1, 0]);
    {
        let ledger = fixed_ledger(tmp.path());
        assert_eq!(
            ledger.shared.trees.indexes.kept_at().expect("built"),
            Some(Position::new(5)),
            "read, then extended"
        );
        assert_eq!(answers(&ledger), expected);
    }
    let refused = |bytes: Vec<u8>, what: &str| {
        std::fs::write(tmp.path().join(FILE), bytes).expect("write");
        let ledger = fixed_ledger(tmp.path());
        assert_eq!(ledger.shared.trees.indexes.kept_at().expect("built"), None, "{what}: rebuilt");
        assert_eq!(answers(&ledger), expected, "{what}");
    };
    let mut damaged = kept.clone();
    damaged[kept.len() / 2] ^= 0x01;
    refused(damaged, "a flipped byte");
    refused(kept[..kept.len() - 1].to_vec(), "cut short");
    // Intact files of other formats are refused too: format 1's (session 8, SHA-256 at the end),
    // format 2's (sessions 9–25, the ids themselves); and a multiplier of the ids' tags that is
    // even (which the writer never makes).
    let resealed = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = kept[..kept.len() - 4].to_vec();
        change(&mut bytes);
        let checksum = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        bytes
    };
    refused(resealed(&|b| b[16..20].copy_from_slice(&1u32.to_le_bytes())), "format 1");
    refused(resealed(&|b| b[16..20].copy_from_slice(&2u32.to_le_bytes())), "format 2");
    refused(resealed(&|b| b[60] &= 0xfe), "an even multiplier");
    // The same bytes resealed unchanged are read (the changes above are what is refused).
    std::fs::write(tmp.path().join(FILE), resealed(&|_| {})).expect("write");
    assert_eq!(fixed_ledger(tmp.path()).shared.trees.indexes.kept_at().expect("built"), Some(Position::new(5)));
    // Another log's: its event at 5 has another hash.
    let other = tempfile::tempdir().expect("tempdir");
    {
        let ledger = Ledger::open(other.path(), LedgerConfig::default()).expect("opens");
        for n in 1..=5 {
            ledger.append(Append::one(party(100 + n, &format!("q{n}")))).expect("appends");
        }
    }
    refused(std::fs::read(other.path().join(FILE)).expect("kept"), "another log's");
}

/// Indexes kept at the head (`Ledger::keep_indexes`, an import beside its snapshot) are not written
/// again by the close at the same head; after another append the close keeps them again.
#[test]
fn the_close_does_not_keep_again_the_indexes_kept_at_its_head() {
    use std::os::unix::fs::MetadataExt;

    use crate::store::indexes::FILE;
    let tmp = tempfile::tempdir().expect("tempdir");
    three_chunks(tmp.path());
    let inode = || std::fs::metadata(tmp.path().join(FILE)).expect("kept").ino();
    {
        let ledger = fixed_ledger(tmp.path());
        ledger.append(Append::one(party(6, "p6"))).expect("appends");
        ledger.keep_indexes();
    }
    let kept = inode();
    {
        let ledger = fixed_ledger(tmp.path());
        ledger.keep_indexes();
        let again = inode();
        assert_ne!(again, kept, "kept by this process (a new file renamed over the old)");
        drop(ledger);
        assert_eq!(inode(), again, "the close at the same head leaves the file as it is");
    }
    {
        let ledger = fixed_ledger(tmp.path());
        ledger.keep_indexes();
        let before = inode();
        ledger.append(Append::one(party(7, "p7"))).expect("appends");
        drop(ledger);
        assert_ne!(inode(), before, "a close past the head kept replaces the file");
    }
    let ledger = fixed_ledger(tmp.path());
    assert_eq!(ledger.shared.trees.indexes.kept_at().expect("built"), Some(Position::new(7)));
}
