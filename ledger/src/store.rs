//! The durable ledger: sled trees on disk, a group-committing writer thread, and readers.
//!
//! **Format 2** (`samverkan-ledger/2`; issue 18: a sled key costs about 10 µs to write, so an event
//! writes a fraction of one). Trees, all keys big-endian so that sled's bytewise order is numeric:
//! - `chunks`: position of the first record → a chunk, the records of (part of) one commit group
//!   with an index section (event ids, stream names); see `store/layout.rs` for the bytes. Gapless
//!   from 1, found by a range lookup (the last key not after the position). The records are
//!   `encoding`'s bytes, unchanged from format 1, so every hash and proof is too.
//! - `tree_hashes`: stored hash index of a run's first hash → the run, the Merkle tree's hashes a
//!   commit group added (see `merkle`), read by range lookups, a run at a time.
//! - `meta`: `format` → the format marker; `head` → position ‖ hash ‖ record time (micros);
//!   `tree_size` → how many leaves the stored hashes cover.
//!
//! The id and stream indexes are in memory (`store/indexes.rs`), rebuilt at open from the
//! chunks' index sections and extended by the writer. One append (of one or more events) is one
//! sled transaction across `chunks`, `tree_hashes` and `meta`, so after a crash either all of it is
//! there or none of it: a commit group writes a few keys, not five per event. A format-1 ledger (a
//! key per record, index entry and stored hash) is migrated when it is opened
//! (`store/migrate.rs`), and a ledger from before the tree gets it built.
//!
//! After every commit group the writer signs a checkpoint of the new tree with the log key (when
//! one is configured) and publishes it with the head, both only once the events are durable: a
//! signed checkpoint never names events a crash could still take back.
//!
//! **What is durable when `append` returns `Ok`** (with the default [`Durability::Fsync`]): every
//! event of that append, in its chunk with its index section, the tree's new hashes and the new
//! head, is in sled (in memory, at least) and in the commit journal (`JOURNAL`,
//! `store/journal.rs`), whose `fdatasync` has returned. It survives a process crash and, as far as
//! the drive honours cache flushes, a power loss: an open writes into sled whatever only the
//! journal holds. Concurrent appends share one journal write and sync (group commit), and the
//! writer writes the next group while the previous one syncs (see `store/writer.rs`): an append is
//! answered only after a sync that began after its group's entry was written. sled itself is
//! flushed and synced at checkpoints (every 16 MiB of journal, at open and at a clean close).

mod durability;
mod indexes;
mod journal;
pub(crate) mod layout;
mod manifest;
mod migrate;
mod read_only;
mod staging;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use tokio::sync::{oneshot, watch};

use crate::chain::Hash;
use crate::compact::CompactEvent;
use crate::encoding;
use crate::error::{LedgerError, Result};
use crate::event::RecordedEvent;
use crate::id::{EventId, Position, StreamId};
use crate::merkle::checkpoint::{LogKey, SignedCheckpoint};
use crate::merkle::{self, TreeHash};
use crate::sequence::{Append, AppendOutcome, Head, Index};
use crate::time::Timestamp;
pub(crate) use indexes::Indexes;
use indexes::Indexing;
#[cfg(test)]
pub(crate) use indexes::Tag;
pub(crate) use layout::Chunk;
pub use staging::{StagedStep, Staging};

/// The marker stored under `meta/format` (format 1's is in `store/migrate.rs`). Format 3 is format
/// 2's trees with the commit journal (`store/journal.rs`) beside them: a binary that knows only
/// format 2 would ignore the journal and lose what only it holds, so it must refuse the directory.
const FORMAT_MARKER: &[u8] = b"samverkan-ledger/3";

/// Format 2's marker: the same trees, no journal; opening one turns it into format 3.
const V2_MARKER: &[u8] = b"samverkan-ledger/2";

/// What an append waits for before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The commit journal's `fdatasync` (and at checkpoints sled's flush and the `fdatasync`/`fsync`
    /// of its files): survives power loss.
    #[default]
    Fsync,
    /// The journal written, not synced (sled flushed at checkpoints, not synced): survives a
    /// process crash but not necessarily a power loss. For throwaway data and bulk loads in tests
    /// and benchmarks.
    FlushOnly,
}

/// The source of record time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Timestamp::now))
    }

    /// A custom clock (tests: a clock that steps backwards).
    pub fn custom(f: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub(crate) fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// What an append waits for.
    pub durability: Durability,
    /// Where record time comes from.
    pub clock: Clock,
    /// The key checkpoints are signed with; without one the tree is kept but nothing is signed.
    pub log_key: Option<Arc<LogKey>>,
    /// The free space (bytes) the ledger leaves on its file system: a commit group that would
    /// leave less is refused with [`LedgerError::StorageFull`] before anything is written, and
    /// appends resume once there is more. Room for what sled writes besides the records (a new
    /// segment, a snapshot) and for the manifest; see `store/writer.rs`. 0 turns the check off,
    /// leaving sled to meet a full disk itself (tests of that path).
    pub min_free_bytes: u64,
    /// How large the commit journal grows before the ledger checkpoints (flushes and syncs sled,
    /// then empties the journal; `store/journal.rs`): a larger one costs a longer replay at open
    /// after a crash, a smaller one more checkpoints. Tests use a small one to checkpoint often.
    pub journal_limit: u64,
}

/// The default of [`LedgerConfig::journal_limit`]: 16 MiB, about 40,000 events of 300 bytes,
/// replayed at open in a fraction of a second.
pub const DEFAULT_JOURNAL_LIMIT: u64 = 16 * 1024 * 1024;

/// The default of [`LedgerConfig::min_free_bytes`]: 16 MiB, a few of sled's 512 KiB segments and
/// the snapshot of a large ledger's page table.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 16 * 1024 * 1024;

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            clock: Clock::default(),
            log_key: None,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            journal_limit: DEFAULT_JOURNAL_LIMIT,
        }
    }
}

/// The ledger's trees, and the in-memory indexes rebuilt from them.
#[derive(Debug, Clone)]
pub(crate) struct Trees {
    pub(crate) chunks: sled::Tree,
    pub(crate) hashes: sled::Tree,
    pub(crate) meta: sled::Tree,
    /// Shared by the writer (who extends them after each transaction) and every reader; rebuilt
    /// on a thread of their own from the open.
    pub(crate) indexes: Arc<Indexing>,
}

/// The names of format 2's trees besides `meta`.
const CHUNKS: &str = "chunks";
const HASHES: &str = "tree_hashes";

impl Trees {
    /// The ledger's trees in sled's database `db` (each created empty if missing), with the
    /// indexes being rebuilt from the chunks (see [`Indexing`]).
    fn open(db: &sled::Db, dir: Option<&Path>) -> Result<Self> {
        let chunks = db.open_tree(CHUNKS)?;
        let indexes = Indexing::start(&chunks, dir)?;
        Ok(Self { chunks, hashes: db.open_tree(HASHES)?, meta: db.open_tree("meta")?, indexes: Arc::new(indexes) })
    }

    /// The indexes, for reading, once rebuilt.
    pub(crate) fn indexes(&self) -> Result<std::sync::RwLockReadGuard<'_, indexes::Indexes>> {
        self.indexes.read()
    }

    /// The chunk holding `position`, if any: the last chunk whose key is not after it.
    fn chunk_of(&self, position: Position) -> Result<Option<(sled::IVec, sled::IVec)>> {
        Ok(self.chunks.range(..=position.to_key()).next_back().transpose()?)
    }

    /// The stored bytes of the record at `position`.
    pub(crate) fn record(&self, position: Position) -> Result<Option<Vec<u8>>> {
        let Some((key, value)) = self.chunk_of(position)? else { return Ok(None) };
        let chunk = layout::Chunk::parse(&key, &value)?;
        Ok(chunk.record(position).map(<[u8]>::to_vec))
    }

    /// The id of the event at `position`, from its chunk's index section (no record decoded).
    pub(crate) fn id_at(&self, position: Position) -> Result<Option<EventId>> {
        let Some((key, value)) = self.chunk_of(position)? else { return Ok(None) };
        Ok(layout::Chunk::parse(&key, &value)?.id(position))
    }

    /// Where the event `id` first is: the first of the id index's candidates whose id in its
    /// chunk's index section is `id`. The candidates are taken and the indexes let go of before
    /// anything is read, so that the writer, which extends them after each commit, never waits
    /// for a read of the log.
    pub(crate) fn position_of(&self, id: EventId) -> Result<Option<Position>> {
        let candidates = self.indexes()?.candidates(id);
        let found = indexes::first_confirmed(candidates, id, |at| Ok(self.id_at(at)?.map(|there| (there, ()))))?;
        Ok(found.map(|(at, ())| at))
    }

    /// The event with id `id`, if it is at `end` or before: as [`Trees::position_of`], each
    /// candidate confirmed by the record read for the answer (one read of its chunk).
    fn find_up_to(&self, id: EventId, end: Position) -> Result<Option<RecordedEvent>> {
        let mut candidates = self.indexes()?.candidates(id);
        candidates.retain(|at| *at <= end);
        let found = indexes::first_confirmed(candidates, id, |at| Ok(self.get(at)?.map(|event| (event.id, event))))?;
        Ok(found.map(|(_, event)| event))
    }

    fn get(&self, position: Position) -> Result<Option<RecordedEvent>> {
        let Some((key, value)) = self.chunk_of(position)? else { return Ok(None) };
        let chunk = layout::Chunk::parse(&key, &value)?;
        chunk.record(position).map(|record| encoding::decode(position, record)).transpose()
    }

    /// The records from `start` (inclusive) to `end` (inclusive), in log order, chunk by chunk.
    fn records(&self, start: Position, end: Position) -> Records {
        let from = match self.chunk_of(start) {
            Ok(Some((key, _))) => key,
            _ => sled::IVec::from(&start.to_key()),
        };
        Records { chunks: self.chunks.range(from..), tree: self.chunks.clone(), current: None, start, end }
    }

    fn head(&self) -> Result<Head> {
        read_head(&self.meta)
    }

    /// How many leaves the stored Merkle tree covers.
    pub(crate) fn tree_size(&self) -> Result<u64> {
        read_tree_size(&self.meta)
    }

    fn encode_head(head: &Head) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..8].copy_from_slice(&head.position.to_key());
        out[8..40].copy_from_slice(head.hash.as_bytes());
        out[40..].copy_from_slice(&head.recorded_at.as_micros().to_be_bytes());
        out
    }
}

/// The head recorded in `meta` (the same key and bytes in both formats).
fn read_head(meta: &sled::Tree) -> Result<Head> {
    match meta.get("head")? {
        None => Ok(Head::EMPTY),
        Some(bytes) => decode_head(&bytes),
    }
}

/// A head as `meta/head` (and the journal) stores it: position, hash, record time.
fn decode_head(bytes: &[u8]) -> Result<Head> {
    let wrong = || LedgerError::Corrupt { position: Position::new(0), reason: "head record has the wrong size".into() };
    let pos: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(wrong)?;
    let hash: [u8; 32] = bytes.get(8..40).and_then(|b| b.try_into().ok()).ok_or_else(wrong)?;
    let micros: [u8; 8] = bytes.get(40..48).and_then(|b| b.try_into().ok()).ok_or_else(wrong)?;
    if bytes.len() != 48 {
        return Err(wrong());
    }
    Ok(Head {
        position: Position::new(u64::from_be_bytes(pos)),
        hash: Hash::from_bytes(hash),
        recorded_at: Timestamp::from_micros(i64::from_be_bytes(micros)),
    })
}

/// How many leaves the stored Merkle tree covers, as `meta` says (both formats).
fn read_tree_size(meta: &sled::Tree) -> Result<u64> {
    match meta.get("tree_size")? {
        None => Ok(0),
        Some(bytes) => Position::from_key(&bytes).map(Position::get).ok_or_else(|| LedgerError::Corrupt {
            position: Position::new(0),
            reason: format!("the tree size record is {} bytes, not 8", bytes.len()),
        }),
    }
}

/// Records read chunk by chunk: each chunk is one sled read, its records slices of it (sharing the
/// chunk's one owner: no allocation per record).
struct Records {
    chunks: sled::Iter,
    /// The tree `chunks` iterates, for [`settle`].
    tree: sled::Tree,
    /// The chunk being read and where its records are.
    current: Option<(bytes::Bytes, Position, std::vec::IntoIter<std::ops::Range<usize>>)>,
    /// The next position to yield.
    start: Position,
    end: Position,
}

impl Iterator for Records {
    type Item = Result<(Position, bytes::Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.start > self.end {
                return None;
            }
            if let Some((bytes, first, ranges)) = &mut self.current {
                if let Some(range) = ranges.next() {
                    let position = *first;
                    *first = first.next();
                    if position < self.start {
                        continue;
                    }
                    self.start = position.next();
                    return Some(Ok((position, bytes.slice(range))));
                }
                self.current = None;
            }
            let (key, value) = match self.chunks.next()? {
                Ok(entry) => entry,
                Err(e) => {
                    self.start = self.end.next();
                    return Some(Err(e.into()));
                }
            };
            if let Err(e) = settle(&self.tree, &key, SETTLE_READS) {
                self.start = self.end.next();
                return Some(Err(e));
            }
            let ranges = match layout::Chunk::parse(&key, &value) {
                Ok(chunk) => {
                    if chunk.first() > self.start {
                        // A chunk missing: the next one begins after the position asked for.
                        let found = chunk.first();
                        let expected = self.start;
                        self.start = self.end.next();
                        return Some(Err(LedgerError::Gap { expected, found }));
                    }
                    (chunk.first(), chunk.record_ranges())
                }
                Err(e) => {
                    self.start = self.end.next();
                    return Some(Err(e));
                }
            };
            self.current = Some((bytes::Bytes::from_owner(value), ranges.0, ranges.1.into_iter()));
        }
    }
}

impl merkle::Stored for Trees {
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<TreeHash>> {
        // Runs of consecutive indexes (a tile, a group's growth) read one run value once.
        let mut run: Option<(u64, u64, sled::IVec)> = None;
        let missing = |index: u64, why: &str| LedgerError::Corrupt {
            position: Position::new(0),
            reason: format!("the Merkle tree's stored hash {index} is {why}"),
        };
        indexes
            .iter()
            .map(|&index| {
                if !matches!(&run, Some((first, count, _)) if (*first..first + count).contains(&index)) {
                    let found = self.hashes.range(..=index.to_be_bytes()).next_back().transpose()?;
                    let Some((key, value)) = found else { return Err(missing(index, "missing")) };
                    let (first, count) = layout::run_span(&key, &value)?;
                    run = Some((first, count, value));
                }
                match &run {
                    Some((first, _, bytes)) => {
                        layout::run_hash(*first, bytes, index).ok_or_else(|| missing(index, "missing"))
                    }
                    None => Err(missing(index, "missing")),
                }
            })
            .collect()
    }
}

impl Index for Trees {
    fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        Ok(self.indexes()?.stream_version(stream))
    }

    fn find(&self, id: EventId) -> Result<Option<RecordedEvent>> {
        self.find_up_to(id, Position::new(u64::MAX))
    }
}

struct Shared {
    dir: PathBuf,
    trees: Trees,
    clock: Clock,
    requests: Option<writer::Inbox>,
    head: watch::Receiver<Head>,
    checkpoint: Published,
    observer: Observed,
    log_key: Option<Arc<LogKey>>,
    /// Whether a staged import is open (`store/staging.rs`): one at a time.
    staging: Arc<std::sync::atomic::AtomicBool>,
    /// The writer thread, and the channel on which it says it has finished.
    writer: Mutex<Option<(JoinHandle<()>, mpsc::Receiver<()>)>>,
    /// For a read-only ledger, the copy of sled's files it reads, held only to be removed after sled
    /// is closed (a field dropped after `trees`).
    _scratch: Option<read_only::Scratch>,
}

/// How long closing the ledger waits for its writer to finish what it was given and flush. A
/// writer that takes longer is stuck in sled (see `store/writer.rs`); it is left behind, logged,
/// so that a server's shutdown is never held by it. Nothing acknowledged is lost that way: an
/// append is acknowledged only after its sync.
const WRITER_CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// The latest signed checkpoint, shared by the writer (who replaces it) and the readers.
pub(crate) type Published = Arc<std::sync::RwLock<Option<Arc<SignedCheckpoint>>>>;

/// What the writer observed of one sync, for an operator's metrics: the events it made durable
/// (one commit group's, or those of every group written while the sync before ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitObservation {
    /// Events the sync made durable.
    pub events: usize,
    /// How long making them durable took (the commit journal's write and `fdatasync`, or a
    /// checkpoint).
    pub sync: std::time::Duration,
}

/// Called by the writer after every sync that made events durable, on the thread that synced: it
/// must be quick.
pub type CommitObserver = Arc<dyn Fn(CommitObservation) + Send + Sync>;

/// The observer slot, shared by the writer (who calls it) and the ledger (who sets it).
pub(crate) type Observed = Arc<std::sync::RwLock<Option<CommitObserver>>>;

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel stops the writer after it has finished what it was given.
        self.requests.take();
        if let Ok(mut slot) = self.writer.lock() {
            if let Some((handle, done)) = slot.take() {
                match done.recv_timeout(WRITER_CLOSE_BOUND) {
                    Err(mpsc::RecvTimeoutError::Timeout) => tracing::error!(
                        "the ledger's writer did not finish within {} s; closing without it",
                        WRITER_CLOSE_BOUND.as_secs()
                    ),
                    // Finished (or gone in a panic): joining returns at once.
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                        let _ = handle.join();
                    }
                }
            }
        }
    }
}

/// A handle on an open ledger. Cheap to clone; the ledger closes when the last clone is dropped.
#[derive(Clone)]
pub struct Ledger {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("dir", &self.shared.dir).field("head", &*self.shared.head.borrow()).finish()
    }
}

impl Ledger {
    /// Opens the ledger in `dir`, creating it if `dir` is missing or empty.
    ///
    /// Fails with [`LedgerError::NotALedger`] if `dir` holds something else, and with an integrity
    /// error if the stored head does not match the log's last record.
    pub fn open(dir: impl AsRef<Path>, config: LedgerConfig) -> Result<Self> {
        let ledger = Self::open_while_indexing(dir, config)?;
        ledger.wait_indexed()?;
        Ok(ledger)
    }

    /// [`Ledger::open`], returning while the in-memory id and stream indexes are still being
    /// rebuilt from the log on a thread of their own (about 1 s at a million events), so that the
    /// caller can read the log meanwhile (a server folding its projections): reading by position
    /// needs no index. Anything that does (an append, [`Ledger::get_by_id`],
    /// [`Ledger::read_stream`], [`Ledger::stream_version`]) waits for them. Call
    /// [`Ledger::wait_indexed`] before serving: a chunk whose index section cannot be read fails
    /// there instead of in the open.
    pub fn open_while_indexing(dir: impl AsRef<Path>, config: LedgerConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        check_directory(&dir)?;
        for moved in manifest::move_aside_stale_snapshots(&dir)? {
            tracing::warn!(file = %moved.display(), "moved an incomplete sled snapshot file aside before opening");
        }
        let committed = manifest::Manifest::read(&dir)?;
        let db = open_sled(&dir)?;
        let mut syncer = durability::Syncer::open(&dir)?;
        let trees = prepare(&dir, &db, committed.as_ref(), Some(&mut syncer))?;
        let head = trees.head()?;
        check_head(&trees, &head)?;
        build_tree(&trees, &head)?;
        let checkpoint: Published = Arc::new(std::sync::RwLock::new(sign(&config, &trees, head.position.get())?));
        syncer.flush_and_sync(&db)?;
        // What the journal held is in sled and durable now.
        let journal = journal::Journal::open_empty(&dir, config.journal_limit)?;
        // The manifest names this head from now on (an upgrade from a ledger without one, too).
        if committed.is_none_or(|c| c != manifest::Manifest::of(&head)) {
            manifest::Manifest::of(&head).write(&dir)?;
        }

        let (head_tx, head_rx) = watch::channel(head);
        let clock = config.clock.clone();
        let log_key = config.log_key.clone();
        let observer: Observed = Arc::default();
        let published = (head_tx, checkpoint.clone(), observer.clone());
        let writer = writer::Writer::new(db, trees.clone(), (syncer, journal), config, head, published, dir.clone());
        let (requests, runner) = writer.start();
        let (finished, done) = mpsc::channel();
        let handle = std::thread::Builder::new().name("ledger-writer".into()).spawn(move || {
            runner.run();
            let _ = finished.send(());
        })?;
        Ok(Self {
            shared: Arc::new(Shared {
                dir,
                trees,
                clock,
                requests: Some(requests),
                head: head_rx,
                checkpoint,
                observer,
                log_key,
                staging: Arc::default(),
                writer: Mutex::new(Some((handle, done))),
                _scratch: None,
            }),
        })
    }

    /// Keeps the in-memory indexes of the log up to the published head in the ledger's directory
    /// (`INDEXES`), so that the next open reads them instead of every chunk of the log (about 1 s
    /// and 290 MB of sled's memory at a million events). A clean close does it too; a server calls
    /// this when it stops. A failure is logged, and the next open rebuilds them.
    pub fn keep_indexes(&self) {
        if self.shared.requests.is_some() {
            self.shared.trees.indexes.save(&self.shared.dir, &self.head());
        }
    }

    /// Waits until the in-memory indexes are rebuilt (at once after [`Ledger::open`]). Fails with
    /// the integrity error that stopped the rebuild, and so does everything that needs them.
    pub fn wait_indexed(&self) -> Result<()> {
        self.shared.trees.indexes.wait()
    }

    /// Opens the ledger in `dir` for reading only, writing nothing into `dir`: for `export` and
    /// `verify` on a stopped server, which must work on a full disk.
    ///
    /// sled 0.34.7 has no read-only mode: opening a database writes a new snapshot file whenever
    /// the log has moved on since the last one (and fails, leaving a `snap.*.generating` file, on
    /// a full disk), and [`Ledger::open`] itself rewrites the head manifest and syncs. So this
    /// copies sled's files (`conf`, `db`, the complete `snap.*` files, `blobs/`) into a private
    /// temporary directory (`TMPDIR`) under a shared lock on sled's `db` file, and opens the copy,
    /// which it removes when the ledger closes. The copy takes as much space in `TMPDIR` as sled's
    /// files; it fails with [`LedgerError::Io`] when there is none. The checks are those of
    /// [`Ledger::open`]: the head manifest in `dir`, the format marker, the head. An incomplete
    /// snapshot file is left where it is and not copied, as `open` would move it aside. The commit
    /// journal (`JOURNAL`) is read from `dir` and what only it holds is written into the copy, so a
    /// directory a crash left reads with every acknowledged event; `dir`'s journal is not touched.
    ///
    /// Fails with [`LedgerError::InUse`] while another process has the ledger open, and with
    /// [`LedgerError::NotALedger`] when `dir` holds no ledger. Appends answer
    /// [`LedgerError::Closed`].
    pub fn open_read_only(dir: impl AsRef<Path>, config: LedgerConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !(dir.join("conf").is_file() && dir.join("db").is_file()) {
            return Err(LedgerError::NotALedger { path: dir, reason: "it holds no sled database".into() });
        }
        let committed = manifest::Manifest::read(&dir)?;
        let scratch = read_only::Scratch::copy_of(&dir)?;
        let db = open_sled(scratch.path())?;
        // A format-1 ledger is migrated in the copy only (flushed, not synced: it is thrown away).
        let trees = prepare(&dir, &db, committed.as_ref(), None)?;
        let head = trees.head()?;
        check_head(&trees, &head)?;
        // Only in the copy: a ledger from before the tree gets one to read checkpoints from.
        build_tree(&trees, &head)?;
        let checkpoint: Published = Arc::new(std::sync::RwLock::new(sign(&config, &trees, head.position.get())?));
        trees.indexes.wait()?;
        // No writer: the head never moves (the sender is dropped; the receiver keeps its value).
        let (_, head_rx) = watch::channel(head);
        Ok(Self {
            shared: Arc::new(Shared {
                dir,
                trees,
                clock: config.clock,
                requests: None,
                head: head_rx,
                checkpoint,
                observer: Arc::default(),
                log_key: config.log_key,
                staging: Arc::default(),
                writer: Mutex::new(None),
                _scratch: Some(scratch),
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    fn send(&self, append: Append, reply: writer::Reply) -> Result<()> {
        let requests = self.shared.requests.as_ref().ok_or(LedgerError::Closed)?;
        requests.send(writer::Request { append, reply, kind: writer::Kind::Commit })
    }

    /// Appends atomically and waits until the events are durable (see the module docs). Blocks the
    /// calling thread (safe from any thread); from async code prefer [`Ledger::append_async`].
    pub fn append(&self, append: Append) -> Result<AppendOutcome> {
        let requests = self.shared.requests.as_ref().ok_or(LedgerError::Closed)?;
        // When the writer is idle the group is committed on this thread (`writer.rs`).
        let append = match requests.commit_here(append) {
            Ok(outcome) => return outcome,
            Err(append) => append,
        };
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(append, writer::Reply::Blocking(reply))?;
        rx.recv().map_err(|_| LedgerError::Closed)?
    }

    /// Like [`Ledger::append`], for async callers.
    pub async fn append_async(&self, append: Append) -> Result<AppendOutcome> {
        let (reply, rx) = oneshot::channel();
        self.send(append, writer::Reply::Async(reply))?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }

    /// What `append` would store if nothing else were appended first: the events with the positions,
    /// stream versions, record times and hashes they would get, or the conflict or error it would
    /// meet. Writes nothing. For validating a whole batch (an import) before appending it.
    pub fn preview(&self, append: &Append) -> Result<AppendOutcome> {
        let mut head = self.head();
        let mut overlay = crate::sequence::Overlay::new(&self.shared.trees);
        crate::sequence::admit(&mut overlay, &mut head, append, self.shared.clock.now(), crate::sequence::Leaves::Skip)
            .map(|a| a.outcome)
    }

    /// The current head. It only ever moves forward, and only after the events up to it are durable.
    pub fn head(&self) -> Head {
        *self.shared.head.borrow()
    }

    /// A receiver that is notified whenever the head moves. Subscribers wait on it for "head moved
    /// past N" and then read the log themselves, so a slow subscriber costs no memory in the ledger.
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.shared.head.clone()
    }

    /// The event at `position`, if it is in the log up to the head (a group written but not yet
    /// durable is not).
    pub fn get(&self, position: Position) -> Result<Option<RecordedEvent>> {
        if position > self.head().position {
            return Ok(None);
        }
        self.shared.trees.get(position)
    }

    /// The event with id `id`, if it is in the log up to the head.
    pub fn get_by_id(&self, id: EventId) -> Result<Option<RecordedEvent>> {
        self.shared.trees.find_up_to(id, self.head().position)
    }

    /// Events from `from` (inclusive) in log order, up to the head as of this call. Lazy: it reads
    /// from sled as it goes, a chunk (one commit group's records, or part of a large one) at a time.
    pub fn read_from(&self, from: Position) -> impl Iterator<Item = Result<RecordedEvent>> + Send + 'static {
        let end = self.head().position;
        let start = from.max(Position::FIRST);
        self.shared
            .trees
            .records(start, end)
            .map(|entry| entry.and_then(|(position, record)| encoding::decode(position, &record)))
    }

    /// [`Ledger::read_from`], each event with its stored bytes as a [`CompactEvent`] (for a reader
    /// that keeps them: no second encoding).
    pub fn read_compact_from(
        &self,
        from: Position,
    ) -> impl Iterator<Item = Result<(RecordedEvent, CompactEvent)>> + Send + 'static {
        let end = self.head().position;
        let start = from.max(Position::FIRST);
        self.shared.trees.records(start, end).map(|entry| {
            entry.and_then(|(position, record)| {
                encoding::decode(position, &record).map(|event| (event, CompactEvent::stored(position, record)))
            })
        })
    }

    /// The events of one stream, in stream order, up to the head as of this call.
    pub fn read_stream(&self, stream: &StreamId) -> impl Iterator<Item = Result<RecordedEvent>> + Send + 'static {
        let trees = self.shared.trees.clone();
        let end = self.head().position;
        let (positions, failed) = match trees.indexes() {
            Ok(indexes) => (indexes.stream_positions(stream, end), None),
            Err(e) => (Vec::new(), Some(e)),
        };
        failed.map(Err).into_iter().chain(positions.into_iter().map(move |position| {
            trees
                .get(position)?
                .ok_or(LedgerError::Corrupt { position, reason: "the stream index points at a missing record".into() })
        }))
    }

    /// The current version of a stream (0 if it has no events).
    pub fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        self.shared.trees.stream_version(stream)
    }

    /// Walks the whole log and checks it: gapless positions, prev-hash links, hashes recomputed
    /// over the stored bytes, decodability, stream versions, record-time order, retraction streams,
    /// every stored hash of the Merkle tree recomputed from the events, and the head.
    pub fn verify(&self, progress: &mut dyn FnMut(Position, Position)) -> Result<crate::verify::VerifyReport> {
        crate::verify::verify_log(&self.shared.trees, self.head(), progress)
    }

    /// [`Ledger::verify`] of the events up to the head as of this call, while appends go on (a
    /// server's background verification): the same checks of every event and of the tree's hashes
    /// for them, and, when the latest signed checkpoint is of that size, its root against the one
    /// recomputed. What is appended meanwhile is left to the next run.
    pub fn verify_online(&self, progress: &mut dyn FnMut(Position, Position)) -> Result<crate::verify::VerifyReport> {
        let checkpoint = self.checkpoint();
        let report = crate::verify::verify_up_to(&self.shared.trees, self.head(), progress)?;
        if let Some(c) = checkpoint.filter(|c| c.size == report.events) {
            if c.root != report.root {
                return Err(LedgerError::Corrupt {
                    position: report.head.position,
                    reason: format!(
                        "the signed checkpoint of {} events says root {}, the events give {}",
                        c.size, c.root, report.root
                    ),
                });
            }
        }
        Ok(report)
    }

    /// Has `observer` called after every sync that made events durable from now on (replacing any
    /// earlier one): how many events it made durable and how long it took.
    pub fn observe_commits(&self, observer: CommitObserver) {
        if let Ok(mut slot) = self.shared.observer.write() {
            *slot = Some(observer);
        }
    }

    /// The latest signed checkpoint (none without a log key). It covers exactly the events up to
    /// a head that has been published, and is replaced after every commit group.
    pub fn checkpoint(&self) -> Option<Arc<SignedCheckpoint>> {
        self.shared.checkpoint.read().ok().and_then(|c| c.clone())
    }

    /// The verifier key of the log key checkpoints are signed with.
    pub fn log_vkey(&self) -> Option<&str> {
        self.shared.log_key.as_deref().map(LogKey::vkey)
    }

    /// Refuses a tree size beyond the durable head.
    fn check_size(&self, size: u64) -> Result<()> {
        let head = self.head().position.get();
        if size > head {
            return Err(merkle::bad_request(format!("the log has {head} events; there is no tree of size {size}")));
        }
        Ok(())
    }

    /// The Merkle root of the first `size` events.
    pub fn tree_root(&self, size: u64) -> Result<TreeHash> {
        self.check_size(size)?;
        merkle::root(&self.shared.trees, size)
    }

    /// The inclusion proof (RFC 6962 audit path) of leaf `index` (the event at position
    /// `index + 1`) in the tree of the first `size` events.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<TreeHash>> {
        self.check_size(size)?;
        merkle::inclusion(&self.shared.trees, index, size)
    }

    /// The consistency proof from the tree of the first `old` events to that of the first `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>> {
        self.check_size(new)?;
        merkle::consistency(&self.shared.trees, old, new)
    }

    /// A C2SP hash tile of the current tree: `level`, `index`, `width` (1–256) hashes.
    pub fn hash_tile(&self, level: u8, index: u64, width: u32) -> Result<Vec<u8>> {
        merkle::hash_tile(&self.shared.trees, level, index, width, self.head().position.get())
    }

    /// A C2SP entry bundle: the leaves `256·index ..+ width` of the current tree, each as a
    /// big-endian 16-bit length and the leaf bytes.
    pub fn entry_bundle(&self, index: u64, width: u32) -> Result<Vec<u8>> {
        let head = self.head().position.get();
        let full = 1u64 << merkle::TILE_HEIGHT;
        let start = index.checked_mul(full);
        let end = start.and_then(|s| s.checked_add(u64::from(width)));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(merkle::bad_request(format!("there is no entry bundle {index}")));
        };
        if width == 0 || u64::from(width) > full || end > head {
            return Err(merkle::bad_request(format!(
                "entry bundle {index} of width {width} is beyond the log of {head} events"
            )));
        }
        let mut out = Vec::new();
        for event in self.read_from(Position::new(start + 1)).take(width as usize) {
            let bytes = merkle::leaf_bytes(&event?)?;
            let len = u16::try_from(bytes.len())
                .map_err(|_| LedgerError::InvalidEvent(format!("a leaf of {} bytes cannot be bundled", bytes.len())))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }
}

/// Builds the Merkle tree's stored hashes for events it does not cover yet: all of them in a ledger
/// from before the tree, none otherwise. In transactions of a few thousand events, each moving
/// `meta/tree_size` with the hashes, so an interrupted build resumes where it stopped.
fn build_tree(trees: &Trees, head: &Head) -> Result<()> {
    use sled::Transactional;
    const STEP: usize = 4096;
    let mut size = trees.tree_size()?;
    if size > head.position.get() {
        return Err(LedgerError::Corrupt {
            position: head.position,
            reason: format!("the Merkle tree covers {size} events but the log has {}", head.position.get()),
        });
    }
    if size == head.position.get() {
        return Ok(());
    }
    let from = size;
    let mut events = trees.records(Position::new(size + 1), head.position);
    while size < head.position.get() {
        let mut growth = merkle::Growth::new(trees, size);
        for entry in events.by_ref().take(STEP) {
            let (position, record) = entry?;
            let event = encoding::decode(position, &record)?;
            growth.push(merkle::leaf_hash(&merkle::leaf_bytes(&event)?))?;
        }
        if growth.size() == size {
            break;
        }
        let new_size = growth.size();
        let first = tlog_tiles::stored_hash_count(size);
        let runs = layout::runs(first, growth.added().map(|(_, hash)| hash));
        (&trees.hashes, &trees.meta)
            .transaction(|(tree, meta)| {
                for (key, value) in &runs {
                    tree.insert(&key[..], value.as_slice())?;
                }
                meta.insert("tree_size", &Position::new(new_size).to_key())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => LedgerError::Storage(e),
                sled::transaction::TransactionError::Abort(()) => {
                    LedgerError::InvalidEvent("transaction aborted".into())
                }
            })?;
        size = new_size;
    }
    tracing::info!(events = size - from, "built the Merkle tree over events it did not cover");
    Ok(())
}

/// Reads the format marker; checks sled's state against the head manifest before anything is
/// written (a state behind it is refused as it is found); migrates a format-1 ledger (syncing
/// with `syncer`; see `store/migrate.rs`), marks a new one; and opens format 2's trees.
fn prepare(
    dir: &Path,
    db: &sled::Db,
    committed: Option<&manifest::Manifest>,
    syncer: Option<&mut durability::Syncer>,
) -> Result<Trees> {
    let meta = db.open_tree("meta")?;
    let marker = meta.get("format")?;
    match marker.as_deref() {
        Some(marker @ (FORMAT_MARKER | V2_MARKER)) => {
            if marker == V2_MARKER {
                meta.insert("format", FORMAT_MARKER)?;
            }
            let reclaimed = staging::reclaim(db, read_head(&meta)?.position)?;
            if reclaimed > 0 {
                tracing::warn!(chunks = reclaimed, "removed an import that was staged and never published");
            }
            let (chunks, hashes) = (db.open_tree(CHUNKS)?, db.open_tree(HASHES)?);
            let groups = journal::Groups { chunks: &chunks, hashes: &hashes, meta: &meta };
            let replayed = journal::replay(dir, groups)?;
            if replayed > 0 {
                tracing::info!(groups = replayed, "wrote the commit groups only the journal held into sled");
            }
            let trimmed = journal::trim(groups)?;
            if trimmed > 0 {
                tracing::warn!(
                    chunks = trimmed,
                    "removed a commit group sled held past its head (written, never acknowledged)"
                );
            }
            let trees = Trees::open(db, Some(dir))?;
            if let Some(committed) = committed {
                check_manifest(dir, &trees.head()?, committed, |p| trees.record(p))?;
            }
            let dropped = migrate::drop_old_trees(db)?;
            if dropped > 0 {
                tracing::warn!(dropped, "dropped format 1's trees left over by an interrupted migration");
            }
            Ok(trees)
        }
        Some(migrate::V1_MARKER) => {
            if let Some(committed) = committed {
                let log = db.open_tree("log")?;
                check_manifest(dir, &read_head(&meta)?, committed, |p| Ok(log.get(p.to_key())?.map(|v| v.to_vec())))?;
            }
            migrate::migrate(db, syncer)?;
            Trees::open(db, Some(dir))
        }
        Some(other) => Err(LedgerError::NotALedger {
            path: dir.to_path_buf(),
            reason: format!("unsupported format {:?}", String::from_utf8_lossy(other)),
        }),
        None => {
            if let Some(committed) = committed {
                check_manifest(dir, &Head::EMPTY, committed, |_| Ok(None))?;
            }
            let mut empty = meta.is_empty();
            for name in db.tree_names() {
                if name.as_ref() != b"meta" && name.as_ref() != b"__sled__default" {
                    empty &= db.open_tree(name)?.is_empty();
                }
            }
            if !empty {
                return Err(LedgerError::NotALedger {
                    path: dir.to_path_buf(),
                    reason: "sled database without a ledger marker".into(),
                });
            }
            meta.insert("format", FORMAT_MARKER)?;
            Trees::open(db, Some(dir))
        }
    }
}

/// The checkpoint of the first `size` events, signed with the configured key.
fn sign(config: &LedgerConfig, trees: &Trees, size: u64) -> Result<Option<Arc<SignedCheckpoint>>> {
    let Some(key) = &config.log_key else { return Ok(None) };
    let root = merkle::root(trees, size)?;
    key.sign(size, root).map(|c| Some(Arc::new(c))).map_err(|e| LedgerError::InvalidEvent(e.to_string()))
}

/// sled's page cache. sled's default is 1 GiB, which a full read of a large log (a server folding its
/// projections at start, a catch-up subscriber) fills completely; the projections already hold
/// every event, so a large cache only doubles the memory. Log reads are sequential and recent
/// events are small, so this much keeps the hot part of every tree cached.
///
/// Measured (issues 19, session 15): the bound holds only for pages below sled's blob threshold –
/// the cache counts a blob page as its pointer's few bytes and so never evicts it, which is why
/// the chunks and runs are written in 6 KiB values (`layout`). A million-event log written so:
/// the background verification's walk leaves ~80 MiB more resident with 32 MiB here, ~135 MiB
/// with 128 MiB (it was ~300 MiB with the old 96 KiB chunks, whatever this was set to).
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Reads the value under `key` of `tree` (just read by a scan) again `reads` times, so that
/// sled's cache counts the scan's pages and evicts them down to its capacity as the scan goes.
///
/// sled 0.34.7 queues each page access in one of 256 shards and counts a shard's accesses (and
/// evicts from it) only once 64 have queued there; a scan's iterator touches each leaf once. A
/// walk of a million-event log (~2,800 leaves of ~100 KB, about 11 per shard) therefore never
/// filled a queue, and every leaf it read stayed in memory, whatever `cache_capacity` said:
/// 265 MB of sled's pages after one walk, 37 MB with two reads of each chunk's key, 26 MB with
/// four (BENCHMARKS.md, session 22). What stays beyond the cache's capacity is the accesses still
/// queued: up to 64 per shard, so fewer leaves the more often each is read.
pub(crate) fn settle(tree: &sled::Tree, key: &[u8], reads: usize) -> Result<()> {
    for _ in 0..reads {
        tree.get(key)?;
    }
    Ok(())
}

/// How often a read of the log (a fold, a replay, an export) reads each chunk again: a few
/// microseconds a chunk of ~20 events.
pub(crate) const SETTLE_READS: usize = 2;

/// How often the verification (which runs beside a serving process, and is not timed against
/// anything) reads each chunk and run again.
pub(crate) const SETTLE_VERIFY: usize = 4;

/// Opens sled. sled releases its file lock only when its last background task of a closed database
/// finishes, which can be a moment after the `Ledger` is dropped; a reopen in the same process waits
/// for that (bounded), and a lock still held after the bound is reported as held by another process.
fn open_sled(dir: &Path) -> Result<sled::Db> {
    const ATTEMPTS: u32 = 100;
    let mut attempt = 0;
    loop {
        match sled::Config::new().path(dir).cache_capacity(CACHE_BYTES).flush_every_ms(None).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                attempt += 1;
                if attempt == ATTEMPTS {
                    return Err(LedgerError::InUse { path: dir.to_path_buf() });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Refuses directories that hold something other than a sled database.
fn check_directory(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
        Ok(meta) if !meta.is_dir() => {
            Err(LedgerError::NotALedger { path: dir.to_path_buf(), reason: "it is not a directory".into() })
        }
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)?;
            let empty = entries.next().is_none();
            if empty || (dir.join("conf").is_file() && dir.join("db").is_file()) {
                Ok(())
            } else {
                Err(LedgerError::NotALedger {
                    path: dir.to_path_buf(),
                    reason: "the directory is not empty and holds no sled database".into(),
                })
            }
        }
    }
}

/// sled's log must hold the head the manifest names: as long or longer, with the same hash at the
/// manifest's position (`record` reads a stored record). Anything else is sled's data lost or
/// replaced (a deleted snapshot file, a restored older copy), refused with what was found and what
/// was expected.
fn check_manifest(
    dir: &Path,
    head: &Head,
    committed: &manifest::Manifest,
    record: impl Fn(Position) -> Result<Option<Vec<u8>>>,
) -> Result<()> {
    let found = || format!("sled holds {} events (head {})", head.position.get(), head.hash);
    let expected = format!(
        "the manifest {} records {} committed events (head {})",
        dir.join(manifest::FILE).display(),
        committed.position.get(),
        committed.hash
    );
    let advice = "sled's files are missing or damaged (a deleted snapshot file, a restored older copy); \
                  nothing was changed – restore the data directory from a backup, or move HEAD aside only \
                  if you know the shorter log is right";
    if head.position < committed.position {
        return Err(LedgerError::Corrupt {
            position: committed.position,
            reason: format!("{}, but {expected}: {advice}", found()),
        });
    }
    if committed.position.get() > 0 {
        let hash = match record(committed.position)? {
            Some(bytes) => Some(encoding::decode(committed.position, &bytes)?.hash()),
            None => None,
        };
        if hash != Some(committed.hash) {
            return Err(LedgerError::Corrupt {
                position: committed.position,
                reason: format!(
                    "{}, and the event at {} is not the one {expected}: {advice}",
                    found(),
                    committed.position.get()
                ),
            });
        }
    }
    Ok(())
}

/// The stored head must name the log's last record.
fn check_head(trees: &Trees, head: &Head) -> Result<()> {
    let last = match trees.chunks.last()? {
        None => None,
        Some((key, value)) => {
            let chunk = layout::Chunk::parse(&key, &value)?;
            let position = Position::new(chunk.end().get() - 1);
            chunk.record(position).map(|record| (position, record.to_vec()))
        }
    };
    match (last, head.position.get()) {
        (None, 0) => Ok(()),
        (None, _) => {
            Err(LedgerError::Corrupt { position: head.position, reason: "head points past an empty log".into() })
        }
        (Some((position, value)), _) => {
            if position != head.position {
                return Err(LedgerError::Corrupt {
                    position,
                    reason: format!("the log ends at {position} but the head says {}", head.position),
                });
            }
            let fields = encoding::chain_fields(position, &value)?;
            if fields.computed_hash != fields.stored_hash {
                return Err(LedgerError::ChainBroken {
                    position,
                    expected: fields.computed_hash,
                    found: fields.stored_hash,
                });
            }
            if fields.stored_hash != head.hash {
                return Err(LedgerError::ChainBroken { position, expected: head.hash, found: fields.stored_hash });
            }
            encoding::decode(position, &value)?;
            Ok(())
        }
    }
}
