//! Event id → position, without holding the ids: a hash table of log indexes, each compared
//! against the id in its compact event's record (`ledger::CompactEvent::id`).
//!
//! A map from id to position held every id a second time (16 bytes, plus the position, per event:
//! about 50 MB at a million events with the table's slack); this table holds 4 bytes per slot (the
//! index), and beside it 32 bits of each id's hash by index, and a snapshot need not carry the ids
//! at all. The hashes are kept so that the table grows without reading any id again: the records
//! may be in a file (`records.rs`), and a million reads at the first append after a start would
//! stall it. They are kept by index rather than in the slots (8 bytes a slot, session 15) because
//! a table has up to twice as many slots as entries: 14.7 MB instead of 18.9 at a million events
//! (issue 18, session 25).

use hashbrown::HashTable;
use ledger::EventId;
use std::hash::BuildHasher;

/// The log index (position − 1) of every applied event, found by its id.
///
/// Invariant: every index in the table is an index of the log it is used with, below
/// `hashes.len()`, and `hashes` holds the 32-bit hash of the id at each index in the table;
/// fewer than 2^32 events are applied (the projections hold each in memory).
#[derive(Clone, Default)]
pub(crate) struct Ids {
    /// Log indexes.
    table: HashTable<u32>,
    /// The id's hash folded to 32 bits, by log index.
    hashes: Vec<u32>,
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
        let mut ids =
            Self { table: HashTable::with_capacity(len), hashes: Vec::with_capacity(len), hasher: Default::default() };
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

    /// The table's hash of the entry at `index` (from its 32 bits kept by index).
    fn hash_at(hashes: &[u32], index: u32) -> u64 {
        Self::spread(hashes.get(index as usize).copied().unwrap_or_default())
    }

    /// The log index of the event with this id; `id_at` reads the id of the event at an index.
    pub(crate) fn get(&self, id: EventId, id_at: impl Fn(u32) -> Option<EventId>) -> Option<usize> {
        let h = self.hash32(id);
        let hashes = &self.hashes;
        self.table
            .find(Self::spread(h), |n| hashes.get(*n as usize) == Some(&h) && id_at(*n) == Some(id))
            .map(|n| *n as usize)
    }

    /// Notes that the event with this id is at `index` (it may not be there yet): the next index
    /// after those noted.
    pub(crate) fn insert(&mut self, id: EventId, index: u32) {
        let h = self.hash32(id);
        let at = index as usize;
        if at >= self.hashes.len() {
            self.hashes.resize(at + 1, 0);
        }
        self.hashes[at] = h;
        let hashes = &self.hashes;
        self.table.insert_unique(Self::spread(h), index, |n| Self::hash_at(hashes, *n));
    }

    /// Makes room for `additional` more ids.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let hashes = &self.hashes;
        self.table.reserve(additional, |n| Self::hash_at(hashes, *n));
        self.hashes.reserve(additional);
    }

    /// Forgets the event with this id at `index` (a speculation's, withdrawn last first).
    pub(crate) fn remove(&mut self, id: EventId, index: usize) {
        let h = self.hash32(id);
        if let Ok(entry) = self.table.find_entry(Self::spread(h), |n| *n as usize == index) {
            entry.remove();
        }
        if index + 1 == self.hashes.len() {
            self.hashes.pop();
        }
    }

    /// How many ids it holds.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every (index, id) it holds, for the tests of withdrawal.
    #[cfg(test)]
    pub(crate) fn all(&self, id_at: impl Fn(u32) -> Option<EventId>) -> Vec<(usize, Option<EventId>)> {
        let mut all: Vec<_> = self.table.iter().map(|n| (*n as usize, id_at(*n))).collect();
        all.sort();
        all
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn id(n: u128) -> EventId {
        let hex = format!("{n:032x}");
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]).parse().unwrap()
    }

    proptest! {
        /// Ids noted one index after another (the table growing many times, each growth hashing
        /// from the kept hashes, never reading an id) are found at their indexes, and no other is;
        /// the last ones withdrawn in reverse are gone, the rest still found; read whole (`of`)
        /// the same, and refused with an id twice.
        #[test]
        fn ids_are_found_at_their_indexes_through_growth_and_withdrawal(
            raw in prop::collection::hash_set(any::<u128>(), 0..600),
            withdrawn in 0usize..50,
        ) {
            let log: Vec<EventId> = raw.into_iter().map(id).collect();
            let id_at = |n: u32| log.get(n as usize).copied();
            let mut ids = Ids::default();
            for (index, event) in log.iter().enumerate() {
                ids.insert(*event, index as u32);
            }
            for (index, event) in log.iter().enumerate() {
                prop_assert_eq!(ids.get(*event, id_at), Some(index));
            }
            prop_assert_eq!(ids.get(id(u128::MAX - 7), id_at), None);
            let keep = log.len().saturating_sub(withdrawn);
            for index in (keep..log.len()).rev() {
                ids.remove(log[index], index);
            }
            prop_assert_eq!(ids.len(), keep);
            for (index, event) in log.iter().enumerate() {
                prop_assert_eq!(ids.get(*event, id_at), (index < keep).then_some(index));
            }
            let whole = Ids::of(log.len(), id_at).unwrap();
            for (index, event) in log.iter().enumerate() {
                prop_assert_eq!(whole.get(*event, id_at), Some(index));
            }
            if let Some(first) = log.first() {
                let twice: Vec<EventId> = log.iter().copied().chain([*first]).collect();
                prop_assert!(Ids::of(twice.len(), |n| twice.get(n as usize).copied()).is_none());
            }
        }
    }
}
