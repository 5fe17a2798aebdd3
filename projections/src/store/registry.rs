//! Ids numbered in first-seen order, each held once (stream names have a form of their own:
//! `streams.rs`).
//!
//! A registry is the ids in order and a hash table of their numbers, found by the id's hash and
//! compared against the id in `order`: unlike a map from id to number beside the list, it does not
//! hold every id twice (at a million events, the decisions and the stream names alone were tens
//! of megabytes of copies), and a snapshot's registry is rebuilt without cloning one id.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

/// Ids in the order they were first seen, each with its number (its index in that order).
#[derive(Clone)]
pub(crate) struct Registry<T> {
    order: Vec<T>,
    /// Each id's number, found by the id's hash.
    numbers: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self { order: Vec::new(), numbers: HashTable::new(), hasher: Default::default() }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.order).finish()
    }
}

impl<T: Eq + Hash> Registry<T> {
    /// The registry of ids in this order, unless one is there twice.
    pub(crate) fn from_order(order: Vec<T>) -> Option<Self> {
        let hasher = foldhash::fast::RandomState::default();
        let mut numbers = HashTable::with_capacity(order.len());
        for (number, id) in order.iter().enumerate() {
            let hash = hasher.hash_one(id);
            if numbers.find(hash, |n: &u32| order.get(*n as usize) == Some(id)).is_some() {
                return None;
            }
            let number = u32::try_from(number).ok()?;
            numbers.insert_unique(hash, number, |n| order.get(*n as usize).map_or(0, |id| hasher.hash_one(id)));
        }
        Some(Self { order, numbers, hasher })
    }

    /// The number of an id (or of what it borrows as: a stream's name as `&str`), if it was seen.
    pub(crate) fn get<Q>(&self, id: &Q) -> Option<u32>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(id);
        self.numbers.find(hash, |n| self.order.get(*n as usize).is_some_and(|seen| seen.borrow() == id)).copied()
    }

    /// The id's number in first-seen order, noting it if it is new.
    pub(crate) fn number<Q>(&mut self, id: &Q) -> u32
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<T>,
    {
        if let Some(number) = self.get(id) {
            return number;
        }
        // Invariant: fewer than 2^32 ids of a kind.
        let number = u32::try_from(self.order.len()).unwrap_or(u32::MAX);
        let hash = self.hasher.hash_one(id);
        let (order, hasher) = (&self.order, &self.hasher);
        self.numbers.insert_unique(hash, number, |n| order.get(*n as usize).map_or(0, |id| hasher.hash_one(id)));
        self.order.push(id.to_owned().into());
        number
    }

    /// Notes an id.
    pub(crate) fn note<Q>(&mut self, id: &Q)
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<T>,
    {
        self.number(id);
    }

    /// Forgets every id noted after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.order.len() > len {
            let Some(id) = self.order.pop() else { break };
            let number = self.order.len();
            let hash = self.hasher.hash_one(&id);
            if let Ok(entry) = self.numbers.find_entry(hash, |n| *n as usize == number) {
                entry.remove();
            }
        }
    }
}

impl<T> Registry<T> {
    /// Every id, in first-seen order.
    pub(crate) fn all(&self) -> &[T] {
        &self.order
    }

    /// The id numbered `number`.
    #[cfg(test)]
    pub(crate) fn at(&self, number: u32) -> Option<&T> {
        self.order.get(number as usize)
    }

    /// How many ids it holds.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// How many numbers its table holds (always [`Registry::len`]: for the tests of withdrawal).
    #[cfg(test)]
    pub(crate) fn numbered(&self) -> usize {
        self.numbers.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::Registry;

    /// Numbers in first-seen order, found by a borrowed name, forgotten by truncation, rebuilt from
    /// an order unless it repeats an id.
    #[test]
    fn ids_are_numbered_once_found_by_borrow_and_forgotten_from_the_end() {
        let mut names: Registry<Box<str>> = Registry::default();
        for (n, name) in ["b", "a", "c", "a", "b"].into_iter().enumerate() {
            let number = names.number(name);
            assert_eq!(names.at(number).map(|s| &**s), Some(name), "{n}");
        }
        assert_eq!(names.all().iter().map(|s| &**s).collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!((names.get("a"), names.get("c"), names.get("d")), (Some(1), Some(2), None));
        names.truncate(1);
        assert_eq!((names.get("b"), names.get("a"), names.get("c")), (Some(0), None, None));
        assert_eq!((names.len(), names.numbered()), (1, 1));
        assert_eq!(names.number("c"), 1);

        let many: Vec<Box<str>> = (0..10_000).map(|n| format!("agreement/a-{n}").into()).collect();
        let rebuilt = Registry::from_order(many.clone()).expect("no id twice");
        assert!(many.iter().enumerate().all(|(n, name)| rebuilt.get(&**name) == Some(n as u32)));
        let mut twice = many;
        twice.push("agreement/a-17".into());
        assert!(Registry::from_order(twice).is_none());
    }
}
