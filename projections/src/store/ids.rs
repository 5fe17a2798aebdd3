//! Event id → position, without holding the ids: a hash table of log indexes, each compared
//! against the id in its compact event's record (`ledger::CompactEvent::id`).
//!
//! A map from id to position held every id a second time (16 bytes, plus the position, per event:
//! about 50 MB at a million events with the table's slack); this table holds 8 bytes per slot (the
//! index and 32 bits of the id's hash), and a snapshot need not carry the ids at all. The hash is
//! kept so that the table grows without reading any id again: the records may be in a file
//! (`records.rs`), and a million reads at the first append after a start would stall it.

use hashbrown::HashTable;
use ledger::EventId;
use std::hash::BuildHasher;

/// The log index (position − 1) of every applied event, found by its id.
///
/// Invariant: every index in the table is an index of the log it is used with, and fewer than 2^32
/// events are applied (the projections hold each in memory).
#[derive(Clone, Default)]
pub(crate) struct Ids {
    /// (index, the id's hash folded to 32 bits).
    table: HashTable<(u32, u32)>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ids").field("len", &self.table.len()).finish()
    }
}

impl Ids {
    /// The ids `0..len` gives by index (`id_at`), or `None` if one is there twice or cannot be read.
    pub(crate) fn of(len: usize, id_at: impl Fn(u32) -> Option<EventId>) -> Option<Self> {
        let mut ids = Self { table: HashTable::with_capacity(len), hasher: Default::default() };
        for index in 0..len {
            let index = u32::try_from(index).ok()?;
            let id = id_at(index)?;
            if ids.get(id, &id_at).is_some() {
                return None;
            }
            ids.insert(id, index);
        }
        Some(ids)
    }

    /// The id's hash, folded to the 32 bits the table keeps.
    fn hash32(&self, id: EventId) -> u32 {
        let full = self.hasher.hash_one(id);
        (full ^ (full >> 32)) as u32
    }

    /// The table's hash of an entry's 32 bits (the same bits high and low: hashbrown takes the
    /// bucket from the low bits and its tag from the high ones).
    fn spread(hash32: u32) -> u64 {
        u64::from(hash32) | (u64::from(hash32) << 32)
    }

    /// The log index of the event with this id; `id_at` reads the id of the event at an index.
    pub(crate) fn get(&self, id: EventId, id_at: impl Fn(u32) -> Option<EventId>) -> Option<usize> {
        let h = self.hash32(id);
        self.table.find(Self::spread(h), |(n, hn)| *hn == h && id_at(*n) == Some(id)).map(|(n, _)| *n as usize)
    }

    /// Notes that the event with this id is at `index` (it may not be there yet).
    pub(crate) fn insert(&mut self, id: EventId, index: u32) {
        let h = self.hash32(id);
        self.table.insert_unique(Self::spread(h), (index, h), |(_, hn)| Self::spread(*hn));
    }

    /// Makes room for `additional` more ids.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, |(_, hn)| Self::spread(*hn));
    }

    /// Forgets the event with this id at `index`.
    pub(crate) fn remove(&mut self, id: EventId, index: usize) {
        let h = self.hash32(id);
        if let Ok(entry) = self.table.find_entry(Self::spread(h), |(n, _)| *n as usize == index) {
            entry.remove();
        }
    }

    /// How many ids it holds.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every (index, id) it holds, for the tests of withdrawal.
    #[cfg(test)]
    pub(crate) fn all(&self, id_at: impl Fn(u32) -> Option<EventId>) -> Vec<(usize, Option<EventId>)> {
        let mut all: Vec<_> = self.table.iter().map(|(n, _)| (*n as usize, id_at(*n))).collect();
        all.sort();
        all
    }
}
