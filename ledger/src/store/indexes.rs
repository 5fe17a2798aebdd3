//! The in-memory indexes of format 2: event id → position and stream → positions, rebuilt at open
//! from the chunks' index sections (no body is decoded) and extended by the writer after each
//! commit group's transaction.
//!
//! They hold what sled holds, which may be one group ahead of the published durable head: readers
//! that answer callers (`Ledger::read_stream`, `Ledger::get_by_id`) cut at the head, as they cut
//! the log. Memory: 25–50 bytes per event for the id map (hash map buckets of 24 bytes, at most
//! 7/8 full, doubling) and 8 per event in the stream lists, plus a name per stream: a million
//! events take about 60 MB.
//!
//! The rebuild reads every chunk through sled (about 1 s at a million events), so [`Indexing`]
//! runs it on a thread of its own from the open: a server folds its projections from the log,
//! which needs no index, on the other core meanwhile, and whatever needs an index waits for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use foldhash::HashMap;

use super::layout::Chunk;
use crate::error::{LedgerError, Result};
use crate::id::{EventId, Position, StreamId};

/// Where every event is, by id and by stream.
#[derive(Debug)]
pub(crate) struct Indexes {
    /// Each stream's positions, in stream order: version `v` is at `[v - 1]`. Keyed by the name
    /// (a valid `StreamId`'s), so that the open looks a name up without building a `StreamId`.
    streams: HashMap<Box<str>, Vec<u64>>,
    ids: HashMap<EventId, u64>,
}

impl Indexes {
    /// Rebuilds the indexes from every chunk of `chunks`, in log order.
    pub(crate) fn rebuild(chunks: &sled::Tree) -> Result<Self> {
        Self { streams: HashMap::default(), ids: HashMap::default() }.extend_after(chunks, Position::new(0))
    }

    /// These indexes (of the events up to `after`) extended with every event after `after`.
    fn extend_after(mut self, chunks: &sled::Tree, after: Position) -> Result<Self> {
        let indexes = &mut self;
        // The chunk holding the first event after `after` (the last one not starting after it),
        // then every later one.
        let from = match chunks.range(..=after.next().to_key()).next_back().transpose()? {
            Some((key, _)) => key,
            None => sled::IVec::from(&after.next().to_key()),
        };
        for entry in chunks.range(from..) {
            let (key, value) = entry?;
            let chunk = Chunk::parse(&key, &value)?;
            for item in chunk.items() {
                let item = item?;
                if item.position <= after {
                    continue;
                }
                match indexes.streams.get_mut(item.stream) {
                    Some(positions) => positions.push(item.position.get()),
                    None => {
                        // Checked once per stream: a name the index section made up is refused.
                        let stream = StreamId::parse(item.stream).map_err(|e| LedgerError::Corrupt {
                            position: item.position,
                            reason: format!("chunk: the index section names {e}"),
                        })?;
                        indexes.streams.insert(stream.as_str().into(), vec![item.position.get()]);
                    }
                }
                indexes.ids.insert(item.id, item.position.get());
            }
        }
        Ok(self)
    }

    /// Adds an event (the next of its stream).
    pub(crate) fn add(&mut self, id: EventId, stream: &StreamId, position: Position) {
        match self.streams.get_mut(stream.as_str()) {
            Some(positions) => positions.push(position.get()),
            None => {
                self.streams.insert(stream.as_str().into(), vec![position.get()]);
            }
        }
        self.ids.insert(id, position.get());
    }

    /// Forgets every event after `head` (a staged import removed).
    pub(crate) fn truncate(&mut self, head: Position) {
        let head = head.get();
        self.ids.retain(|_, position| *position <= head);
        self.streams.retain(|_, positions| {
            let keep = positions.partition_point(|p| *p <= head);
            positions.truncate(keep);
            !positions.is_empty()
        });
    }

    /// How many events `stream` has.
    pub(crate) fn stream_version(&self, stream: &StreamId) -> u64 {
        self.streams.get(stream.as_str()).map_or(0, |p| p.len() as u64)
    }

    /// Where the event `id` is.
    pub(crate) fn position_of(&self, id: EventId) -> Option<Position> {
        self.ids.get(&id).copied().map(Position::new)
    }

    /// The positions of `stream`'s events up to `end`, in stream order.
    pub(crate) fn stream_positions(&self, stream: &StreamId, end: Position) -> Vec<Position> {
        let Some(positions) = self.streams.get(stream.as_str()) else { return Vec::new() };
        let upto = positions.partition_point(|p| *p <= end.get());
        positions[..upto].iter().copied().map(Position::new).collect()
    }
}

/// The indexes of an open ledger, being rebuilt on a thread of their own until the first caller
/// that needs them waits for that thread.
#[derive(Debug)]
pub(crate) struct Indexing {
    indexes: RwLock<Indexes>,
    /// Set once the rebuild is in `indexes`: the fast path of every later access.
    ready: AtomicBool,
    build: Mutex<Build>,
}

/// What the rebuild's thread gives: the indexes, and up to which position they were read from the
/// kept file.
type Built = (Indexes, Option<Position>);

#[derive(Debug)]
enum Build {
    /// The rebuild's thread, until someone joins it: the indexes, and the position up to which
    /// they were read from the kept file, if they were.
    Running(Option<JoinHandle<Result<Built>>>),
    /// Built; up to which position from the kept file.
    #[cfg_attr(not(test), allow(dead_code))]
    Ready(Option<Position>),
    /// Why the rebuild failed (the first waiter got the error itself).
    Failed(String),
}

impl Indexing {
    /// Starts rebuilding the indexes from `chunks` on a thread of their own (inline when no thread
    /// can be started).
    ///
    /// Invariant: nothing writes `chunks` until the rebuild is done: the writer needs the indexes
    /// to admit anything, and so waits for them first.
    ///
    /// With the ledger's directory, the indexes its last clean close kept there (`INDEXES`) are
    /// read instead, when intact and of this log, and only the events after them are indexed.
    pub(crate) fn start(chunks: &sled::Tree, dir: Option<&std::path::Path>) -> Result<Self> {
        let source = chunks.clone();
        let kept = dir.map(|dir| dir.join(FILE));
        let build = match std::thread::Builder::new().name("ledger-index".into()).spawn(move || {
            match kept.and_then(|file| load(&file, &source)) {
                Some((indexes, at)) => indexes.extend_after(&source, at).map(|i| (i, Some(at))),
                None => Indexes::rebuild(&source).map(|i| (i, None)),
            }
        }) {
            Ok(handle) => Build::Running(Some(handle)),
            Err(e) => {
                tracing::warn!(error = %e, "no thread for the index rebuild; rebuilding before the open returns");
                return Ok(Self::built(Indexes::rebuild(chunks)?));
            }
        };
        Ok(Self {
            indexes: RwLock::new(Indexes { streams: HashMap::default(), ids: HashMap::default() }),
            ready: AtomicBool::new(false),
            build: Mutex::new(build),
        })
    }

    fn built(indexes: Indexes) -> Self {
        Self { indexes: RwLock::new(indexes), ready: AtomicBool::new(true), build: Mutex::new(Build::Ready(None)) }
    }

    /// Waits until the rebuild is done. Its error goes to the first caller as it was (the open,
    /// for a server the end of its start-up fold); later callers get a [`LedgerError::Corrupt`]
    /// that repeats it, so nothing ever reads half-built indexes.
    pub(crate) fn wait(&self) -> Result<()> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut build = self.build.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *build {
            Build::Ready(_) => Ok(()),
            Build::Failed(reason) => Err(LedgerError::Corrupt {
                position: Position::new(0),
                reason: format!("the in-memory indexes could not be rebuilt at open: {reason}"),
            }),
            Build::Running(handle) => {
                // Joined under the lock: every other caller waits here for the same outcome.
                let outcome = match handle.take().map(JoinHandle::join) {
                    Some(Ok(outcome)) => outcome,
                    Some(Err(_)) | None => Err(LedgerError::Corrupt {
                        position: Position::new(0),
                        reason: "the index rebuild's thread panicked".into(),
                    }),
                };
                match outcome {
                    Ok((indexes, kept)) => {
                        match kept {
                            Some(at) => tracing::info!(%at, "the ledger's indexes were read from the kept file"),
                            None => tracing::info!("the ledger's indexes were rebuilt from the log"),
                        }
                        *self.indexes.write().unwrap_or_else(PoisonError::into_inner) = indexes;
                        *build = Build::Ready(kept);
                        self.ready.store(true, Ordering::Release);
                        Ok(())
                    }
                    Err(e) => {
                        *build = Build::Failed(e.to_string());
                        Err(e)
                    }
                }
            }
        }
    }

    /// Up to which position the indexes were read from the kept file (`None`: rebuilt from the
    /// log), once they are built.
    #[cfg(test)]
    pub(crate) fn kept_at(&self) -> Result<Option<Position>> {
        self.wait()?;
        Ok(match &*self.build.lock().unwrap_or_else(PoisonError::into_inner) {
            Build::Ready(kept) => *kept,
            _ => None,
        })
    }

    /// The indexes, for reading, once rebuilt. A writer that panicked while extending them left
    /// them at most one group ahead of the head, which readers cut at anyway.
    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, Indexes>> {
        self.wait()?;
        Ok(self.indexes.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The indexes, for the writer, once rebuilt.
    pub(crate) fn write(&self) -> Result<RwLockWriteGuard<'_, Indexes>> {
        self.wait()?;
        Ok(self.indexes.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Keeps the indexes of the events up to `head` in `dir` (`INDEXES`), for the next open: written
    /// beside it, synced and renamed over the old one. A failure is logged: the next open then
    /// rebuilds them.
    pub(crate) fn save(&self, dir: &std::path::Path, head: &crate::sequence::Head) {
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        let indexes = self.indexes.read().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = save(dir, &indexes, head) {
            tracing::warn!(error = %e, "the ledger's indexes could not be kept for the next open");
        }
    }
}

/// The file the indexes are kept in, in the ledger's directory.
pub(crate) const FILE: &str = "INDEXES";

/// What the file starts with; then the format, the head (position, hash), the indexes in bincode
/// (`streams` as name and positions, the ids in log order) and the CRC-32 of all before it (a
/// guard against damage: the file is a cache of what the log holds, checked against the log's
/// record at its head before it is used). Format 1 (session 8) ended with a SHA-256 instead.
const MAGIC: &[u8; 16] = b"samverkan-index\x01";
const FORMAT: u32 = 2;
const HEADER: usize = 16 + 4 + 8 + 32;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding()
}

fn save(dir: &std::path::Path, indexes: &Indexes, head: &crate::sequence::Head) -> std::io::Result<()> {
    let end = head.position.get();
    let mut ids: Vec<(u64, EventId)> =
        indexes.ids.iter().filter(|(_, p)| **p <= end).map(|(id, p)| (*p, *id)).collect();
    if ids.len() as u64 != end {
        // Not the whole log (cannot happen for a healthy writer): nothing is kept.
        return Ok(());
    }
    ids.sort_unstable_by_key(|(p, _)| *p);
    let ids: Vec<EventId> = ids.into_iter().map(|(_, id)| id).collect();
    let streams: Vec<(&str, &[u64])> = indexes
        .streams
        .iter()
        .map(|(name, positions)| (&**name, &positions[..positions.partition_point(|p| *p <= end)]))
        .filter(|(_, positions)| !positions.is_empty())
        .collect();
    let mut bytes = Vec::with_capacity(HEADER + 4 + ids.len() * 17);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&end.to_le_bytes());
    bytes.extend_from_slice(head.hash.as_bytes());
    let body = bincode::serde::encode_to_vec((&streams, &ids), config()).map_err(std::io::Error::other)?;
    bytes.extend_from_slice(&body);
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    super::durability::replace_file(dir, FILE, &bytes)
}

/// The indexes kept in `file`, and the position they go up to, when the file is intact and of this
/// log: the record at that position is in `chunks` with the hash the file names (and so, by the
/// chain, is every record before it). Anything else is logged and `None`: the caller rebuilds.
fn load(file: &std::path::Path, chunks: &sled::Tree) -> Option<(Indexes, Position)> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return refuse(file, &format!("cannot be read: {e}")),
    };
    if bytes.len() < HEADER + 4 || &bytes[..16] != MAGIC {
        return refuse(file, "are not the ledger's kept indexes");
    }
    let format = bytes.get(16..20).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes);
    if format != Some(FORMAT) {
        return refuse(file, &format!("are of format {format:?}; this build reads {FORMAT}"));
    }
    let (content, checksum) = bytes.split_at(bytes.len() - 4);
    if checksum != crc32fast::hash(content).to_le_bytes() {
        return refuse(file, "are damaged (the checksum does not match)");
    }
    let number = |range: std::ops::Range<usize>| content.get(range).and_then(|b| <[u8; 8]>::try_from(b).ok());
    let at = Position::new(u64::from_le_bytes(number(20..28)?));
    let hash = &content[28..HEADER];
    if at.get() > 0 {
        let stored = chunks.range(..=at.to_key()).next_back().transpose().ok().flatten().and_then(|(key, value)| {
            let chunk = Chunk::parse(&key, &value).ok()?;
            crate::encoding::chain_fields(at, chunk.record(at)?).ok()
        });
        match stored {
            Some(fields) if fields.stored_hash.as_bytes() == hash => {}
            _ => return refuse(file, &format!("do not match the log's event at position {at}")),
        }
    }
    type Kept = (Vec<(Box<str>, Vec<u64>)>, Vec<EventId>);
    let ((streams, ids), read): (Kept, usize) = match bincode::serde::decode_from_slice(&content[HEADER..], config()) {
        Ok(decoded) => decoded,
        Err(e) => return refuse(file, &format!("cannot be decoded: {e}")),
    };
    if read != content.len() - HEADER || ids.len() as u64 != at.get() {
        return refuse(file, "do not hold what their header says");
    }
    let indexes = Indexes {
        streams: streams.into_iter().collect(),
        ids: ids.into_iter().enumerate().map(|(index, id)| (id, index as u64 + 1)).collect(),
    };
    Some((indexes, at))
}

fn refuse<T>(file: &std::path::Path, why: &str) -> Option<T> {
    tracing::warn!(file = %file.display(), "the kept indexes {why}; rebuilding them from the log");
    None
}
