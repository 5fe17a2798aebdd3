//! The in-memory indexes of format 2: event id → position and stream → positions, rebuilt at open
//! from the chunks' index sections (no body is decoded) and extended by the writer after each
//! commit group's transaction.
//!
//! They hold what sled holds, which may be one group ahead of the published durable head: readers
//! that answer callers (`Ledger::read_stream`, `Ledger::get_by_id`) cut at the head, as they cut
//! the log. Memory: 25–50 bytes per event for the id map (hash map buckets of 24 bytes, at most
//! 7/8 full, doubling) and 8 per event in the stream lists, plus a name per stream: a million
//! events take about 60 MB.

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
