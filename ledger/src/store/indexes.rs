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
        let mut indexes = Self { streams: HashMap::default(), ids: HashMap::default() };
        for entry in chunks.iter() {
            let (key, value) = entry?;
            let chunk = Chunk::parse(&key, &value)?;
            for item in chunk.items() {
                let item = item?;
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
        Ok(indexes)
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

#[derive(Debug)]
enum Build {
    /// The rebuild's thread, until someone joins it.
    Running(Option<JoinHandle<Result<Indexes>>>),
    Ready,
    /// Why the rebuild failed (the first waiter got the error itself).
    Failed(String),
}

impl Indexing {
    /// Starts rebuilding the indexes from `chunks` on a thread of their own (inline when no thread
    /// can be started).
    ///
    /// Invariant: nothing writes `chunks` until the rebuild is done: the writer needs the indexes
    /// to admit anything, and so waits for them first.
    pub(crate) fn start(chunks: &sled::Tree) -> Result<Self> {
        let source = chunks.clone();
        let build =
            match std::thread::Builder::new().name("ledger-index".into()).spawn(move || Indexes::rebuild(&source)) {
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
        Self { indexes: RwLock::new(indexes), ready: AtomicBool::new(true), build: Mutex::new(Build::Ready) }
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
            Build::Ready => Ok(()),
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
                    Ok(indexes) => {
                        *self.indexes.write().unwrap_or_else(PoisonError::into_inner) = indexes;
                        *build = Build::Ready;
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
}
