//! An in-memory chain that seals events exactly as the durable ledger does, with nothing on disk.
//!
//! For pure tests of projections and for generating large histories quickly: the events it yields
//! have the same positions, stream versions and hashes a fresh ledger would give the same appends at
//! the same record times.

use std::collections::HashMap;

use crate::error::Result;
use crate::event::RecordedEvent;
use crate::id::{EventId, StreamId};
use crate::sequence::{Append, AppendOutcome, Head, Index, Overlay, admit};
use crate::time::Timestamp;

#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryIndex {
    versions: HashMap<StreamId, u64>,
    ids: HashMap<EventId, usize>,
    events: Vec<RecordedEvent>,
}

impl Index for MemoryIndex {
    fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        Ok(self.versions.get(stream).copied().unwrap_or(0))
    }

    fn find(&self, id: EventId) -> Result<Option<RecordedEvent>> {
        Ok(self.ids.get(&id).and_then(|i| self.events.get(*i)).cloned())
    }
}

/// A hash chain held in memory.
#[derive(Debug, Clone)]
pub struct MemoryChain {
    index: MemoryIndex,
    head: Head,
}

impl Default for MemoryChain {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryChain {
    /// An empty chain.
    pub fn new() -> Self {
        Self { index: MemoryIndex::default(), head: Head::EMPTY }
    }

    /// Appends with the same rules as [`crate::Ledger::append`], using `now` as the clock.
    pub fn append(&mut self, append: &Append, now: Timestamp) -> Result<AppendOutcome> {
        let mut head = self.head;
        let admitted = {
            let mut overlay = Overlay::new(&self.index);
            admit(&mut overlay, &mut head, append, now, crate::sequence::Leaves::Skip)?
        };
        for sealed in admitted.sealed {
            let event = std::sync::Arc::unwrap_or_clone(sealed.event);
            self.index.versions.insert(event.stream.clone(), event.stream_version);
            self.index.ids.insert(event.id, self.index.events.len());
            self.index.events.push(event);
        }
        self.head = head;
        Ok(admitted.outcome)
    }

    /// The head.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Every event, in position order.
    pub fn events(&self) -> &[RecordedEvent] {
        &self.index.events
    }

    /// Takes the events out.
    pub fn into_events(self) -> Vec<RecordedEvent> {
        self.index.events
    }
}
