//! Event id → position, without holding the ids: a hash table of log indexes, each compared
//! against the id in its compact event's record (`ledger::CompactEvent::id`).
//!
//! A map from id to position held every id a second time (16 bytes, plus the position, per event:
//! about 50 MB at a million events with the table's slack); this table holds 4 bytes per slot, and
//! a snapshot need not carry the ids at all.

use hashbrown::HashTable;
use ledger::{CompactEvent, EventId};
use std::hash::BuildHasher;

/// The log index (position − 1) of every applied event, found by its id.
///
/// Invariant: every index in the table is an index of the log it is used with, and fewer than 2^32
/// events are applied (the projections hold each in memory).
#[derive(Clone, Default)]
pub(crate) struct Ids {
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ids").field("len", &self.table.len()).finish()
    }
}

impl Ids {
    /// The ids of every event of `log`, or `None` if one is there twice or cannot be read.
    pub(crate) fn of(log: &[CompactEvent]) -> Option<Self> {
        let mut ids = Self { table: HashTable::with_capacity(log.len()), hasher: Default::default() };
        for (index, compact) in log.iter().enumerate() {
            let id = compact.id()?;
            if ids.get(id, log).is_some() {
                return None;
            }
            ids.insert(id, u32::try_from(index).ok()?, log);
        }
        Some(ids)
    }

    /// The log index of the event with this id.
    pub(crate) fn get(&self, id: EventId, log: &[CompactEvent]) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        self.table.find(hash, |n| id_at(log, *n) == Some(id)).map(|n| *n as usize)
    }

    /// Notes that the event with this id is at `index` of `log` (it may not be there yet).
    pub(crate) fn insert(&mut self, id: EventId, index: u32, log: &[CompactEvent]) {
        let hash = self.hasher.hash_one(id);
        let hasher = &self.hasher;
        // A slot whose id cannot be read (memory corrupted) rehashes as 0: it is then not found,
        // which `expand` would have refused anyway.
        self.table.insert_unique(hash, index, |n| id_at(log, *n).map_or(0, |id| hasher.hash_one(id)));
    }

    /// Makes room for `additional` more ids, so that a fold of that many events never grows the
    /// table (growing reads every id held again, from its record).
    pub(crate) fn reserve(&mut self, additional: usize, log: &[CompactEvent]) {
        let hasher = &self.hasher;
        self.table.reserve(additional, |n| id_at(log, *n).map_or(0, |id| hasher.hash_one(id)));
    }

    /// Forgets the event with this id at `index`.
    pub(crate) fn remove(&mut self, id: EventId, index: usize) {
        let hash = self.hasher.hash_one(id);
        if let Ok(entry) = self.table.find_entry(hash, |n| *n as usize == index) {
            entry.remove();
        }
    }

    /// How many ids it holds.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every (index, id) it holds, for the tests of withdrawal.
    #[cfg(test)]
    pub(crate) fn all(&self, log: &[CompactEvent]) -> Vec<(usize, Option<EventId>)> {
        let mut all: Vec<_> = self.table.iter().map(|n| (*n as usize, id_at(log, *n))).collect();
        all.sort();
        all
    }
}

fn id_at(log: &[CompactEvent], index: u32) -> Option<EventId> {
    log.get(index as usize)?.id()
}
