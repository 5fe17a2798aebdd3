//! The streams' names and each stream's positions, in the forms a county's log fits in: most of
//! its streams have one event (a decision, a body, a party), so neither a name nor a list may cost
//! an allocation of its own.
//!
//! At a million events (514,442 streams, 490,390 of them with one event) the names as a
//! `Box<str>` each and the positions as a `Vec<u64>` each were the largest part of a server's
//! projections (issue 19: the peak of a start without a snapshot). Here every name lives in one
//! string and a stream of one event holds its position in its own slot. Both serialize exactly as
//! the `Vec<Box<str>>` and `Vec<Vec<u64>>` they replace, so a snapshot's bytes did not change.

use std::hash::BuildHasher;
use std::marker::PhantomData;

use hashbrown::HashTable;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::ser::SerializeSeq;

/// Names numbered in first-seen order, each held once in one string: the streams' names, and the
/// slugs of the decisions cited (which need not have a stream).
///
/// Invariant: the names together are shorter than 4 GiB (the ledger's own index of names holds
/// the same bound).
#[derive(Clone, Default)]
pub(crate) struct Names {
    /// Every name, concatenated in order.
    text: String,
    /// Where each name ends in `text` (it begins where the one before it ends).
    ends: Vec<u32>,
    /// Each name's number, found by the name's hash.
    numbers: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Names {
    /// The name numbered `number`.
    pub(crate) fn at(&self, number: u32) -> Option<&str> {
        ((number as usize) < self.ends.len()).then(|| name_at(&self.text, &self.ends, number))
    }

    /// The number of a name, if it was seen.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        self.numbers.find(hash, |n| self.at(*n) == Some(name)).copied()
    }

    /// The number of a name, numbering it if it is new.
    pub(crate) fn number(&mut self, name: &str) -> u32 {
        self.insert(name).unwrap_or_else(|seen| seen)
    }

    /// Numbers a name not seen before (`Ok`), or gives the number it has (`Err`); the name is
    /// hashed once either way.
    fn insert(&mut self, name: &str) -> Result<u32, u32> {
        let hash = self.hasher.hash_one(name);
        let Self { text, ends, numbers, hasher } = self;
        // Invariant: fewer than 2^32 streams, and their names shorter than 4 GiB together.
        let number = u32::try_from(ends.len()).unwrap_or(u32::MAX);
        let entry =
            numbers.entry(hash, |n| name_at(text, ends, *n) == name, |n| hasher.hash_one(name_at(text, ends, *n)));
        match entry {
            hashbrown::hash_table::Entry::Occupied(seen) => Err(*seen.get()),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(number);
                text.push_str(name);
                ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
                Ok(number)
            }
        }
    }

    /// Every name, in first-seen order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|n| name_at(&self.text, &self.ends, n as u32))
    }

    /// How many names it holds.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Forgets every name numbered after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.ends.len() > len {
            let number = self.ends.len() - 1;
            let hash = self.hasher.hash_one(name_at(&self.text, &self.ends, number as u32));
            if let Ok(entry) = self.numbers.find_entry(hash, |n| *n as usize == number) {
                entry.remove();
            }
            self.ends.pop();
            let start = self.ends.last().map_or(0, |end| *end as usize);
            self.text.truncate(start);
        }
    }

    /// How many numbers its table holds (always [`Names::len`]: for the tests of withdrawal).
    #[cfg(test)]
    pub(crate) fn numbered(&self) -> usize {
        self.numbers.len()
    }
}

/// The name numbered `n` (empty past the end: the table never asks for one).
fn name_at<'a>(text: &'a str, ends: &[u32], n: u32) -> &'a str {
    let n = n as usize;
    let end = ends.get(n).map_or(0, |end| *end as usize);
    let start = n.checked_sub(1).and_then(|before| ends.get(before)).map_or(0, |start| *start as usize);
    text.get(start..end).unwrap_or_default()
}

impl serde::Serialize for Names {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Names {
    /// A sequence of names, refused if one is there twice.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(NamesVisitor)
    }
}

struct NamesVisitor;

impl<'de> Visitor<'de> for NamesVisitor {
    type Value = Names;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of stream names")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
        let mut names = Names::default();
        let capacity = seq.size_hint().unwrap_or(0).min(1 << 20);
        names.ends.reserve(capacity);
        // The table is empty: reserving moves no entry, so no hash is asked for.
        names.numbers.reserve(capacity, |_| 0);
        while seq.next_element_seed(NameInto(&mut names))?.is_some() {}
        Ok(names)
    }
}

/// One name, appended to the names as it is read (no allocation of its own).
struct NameInto<'n>(&'n mut Names);

impl<'de> DeserializeSeed<'de> for NameInto<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a stream name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<(), E> {
        if u32::try_from(self.0.text.len() + name.len()).is_err() {
            return Err(E::custom("the stream names are longer than 4 GiB together"));
        }
        match self.0.insert(name) {
            Ok(_) => Ok(()),
            Err(_) => Err(E::custom(format!("the stream {name} is listed twice"))),
        }
    }
}

/// Each stream's positions, in stream order, by the stream's number.
///
/// A stream of one event keeps its position in its slot; a longer one, the index of its list in
/// `many` with the top bit set; 0 is a stream without events (only while a speculation is
/// withdrawn). Which form a stream has never changes an answer: [`Lists::get`] reads both.
#[derive(Clone, Default)]
pub(crate) struct Lists {
    slots: Vec<u64>,
    many: Vec<Vec<u64>>,
}

/// The top bit: a slot that holds the index of its list in `many`.
const MANY: u64 = 1 << 63;

impl std::fmt::Debug for Lists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Lists {
    /// The positions of the stream numbered `list` (none for a number past the end).
    pub(crate) fn get(&self, list: u32) -> &[u64] {
        match self.slots.get(list as usize) {
            None | Some(0) => &[],
            Some(slot) if slot & MANY != 0 => {
                usize::try_from(slot & !MANY).ok().and_then(|n| self.many.get(n)).map_or(&[], Vec::as_slice)
            }
            Some(slot) => std::slice::from_ref(slot),
        }
    }

    /// How many streams it holds.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Appends `position` to the stream numbered `list`; a number one past the end is a new stream.
    pub(crate) fn push(&mut self, list: u32, position: u64) {
        let n = list as usize;
        if n == self.slots.len() {
            self.slots.push(0);
        }
        let Some(slot) = self.slots.get_mut(n) else { return };
        match *slot {
            // A position the slot can hold (never 0, never with the top bit) goes there.
            0 if position != 0 && position & MANY == 0 => *slot = position,
            0 => {
                *slot = MANY | self.many.len() as u64;
                self.many.push(vec![position]);
            }
            held if held & MANY != 0 => {
                if let Some(list) = usize::try_from(held & !MANY).ok().and_then(|n| self.many.get_mut(n)) {
                    list.push(position);
                }
            }
            single => {
                *slot = MANY | self.many.len() as u64;
                self.many.push(vec![single, position]);
            }
        }
    }

    /// Takes the last position off the stream numbered `list` (a speculation withdrawn: it
    /// withdraws in the reverse order it applied, so a list that became long by the push undone
    /// here is the last in `many` and goes back into its slot).
    pub(crate) fn pop(&mut self, list: u32) {
        let Some(slot) = self.slots.get_mut(list as usize) else { return };
        if *slot & MANY == 0 {
            *slot = 0;
            return;
        }
        let Ok(index) = usize::try_from(*slot & !MANY) else { return };
        let last = index + 1 == self.many.len();
        let Some(positions) = self.many.get_mut(index) else { return };
        positions.pop();
        if last
            && let [single] = positions[..]
            && single != 0
            && single & MANY == 0
        {
            *slot = single;
            self.many.pop();
        } else if last && positions.is_empty() {
            *slot = 0;
            self.many.pop();
        }
    }

    /// Forgets every stream numbered after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.slots.len() > len {
            if let Some(slot) = self.slots.pop()
                && slot & MANY != 0
                && usize::try_from(slot & !MANY).is_ok_and(|index| index + 1 == self.many.len())
            {
                self.many.pop();
            }
        }
    }

    /// Every stream's positions, in stream number order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &[u64]> + '_ {
        (0..self.slots.len()).map(|n| self.get(n as u32))
    }

    /// How many streams keep their positions in a list of their own (for the tests).
    #[cfg(test)]
    pub(crate) fn long(&self) -> usize {
        self.many.len()
    }
}

impl serde::Serialize for Lists {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.slots.len()))?;
        for positions in self.iter() {
            seq.serialize_element(positions)?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for Lists {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListsVisitor)
    }
}

struct ListsVisitor;

impl<'de> Visitor<'de> for ListsVisitor {
    type Value = Lists;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of lists of positions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lists, A::Error> {
        let mut lists = Lists::default();
        lists.slots.reserve(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(()) = seq.next_element_seed(ListInto(&mut lists))? {}
        Ok(lists)
    }
}

/// One stream's positions, appended to the lists as they are read.
struct ListInto<'l>(&'l mut Lists);

impl<'de> DeserializeSeed<'de> for ListInto<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of positions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let list = u32::try_from(self.0.slots.len()).map_err(|_| serde::de::Error::custom("too many streams"))?;
        self.0.slots.push(0);
        while let Some(position) = seq.next_element::<u64>()? {
            self.0.push(list, position);
        }
        Ok(())
    }
}

/// The entities of one kind (the decisions, the parties, …) in the order they were first noted,
/// each as its stream's number: an entity's id is its stream's name after the kind
/// (`decision/<id>`), so the names are not held a second time (at a million events, 408,531
/// decisions were a `String` each).
#[derive(Clone)]
pub(crate) struct Entities<T> {
    streams: Vec<u32>,
    id: PhantomData<fn() -> T>,
}

/// An entity's id type and the kind of its streams.
pub(crate) trait Entity: std::str::FromStr {
    /// `decision`, `party`, …: what its streams' names begin with, before the `/`.
    const KIND: &'static str;
}

macro_rules! entity {
    ($($id:ty => $kind:literal),* $(,)?) => {
        $(impl Entity for $id {
            const KIND: &'static str = $kind;
        })*
    };
}

entity!(ledger::BodyId => "body", ledger::DecisionId => "decision");

impl<T> Default for Entities<T> {
    fn default() -> Self {
        Self { streams: Vec::new(), id: PhantomData }
    }
}

impl<T: Entity> std::fmt::Debug for Entities<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", T::KIND, self.streams)
    }
}

impl<T: Entity> Entities<T> {
    /// Notes the entity of the stream numbered `stream` (the caller notes each once).
    pub(crate) fn push(&mut self, stream: u32) {
        self.streams.push(stream);
    }

    /// How many it holds.
    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    /// Forgets every entity noted after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.streams.truncate(len);
    }

    /// The slug of every entity, in the order noted, read from `names`.
    pub(crate) fn slugs<'a>(&'a self, names: &'a Names) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = T::KIND.len() + 1;
        self.streams.iter().map(move |n| names.at(*n).and_then(|name| name.get(prefix..)).unwrap_or_default())
    }

    /// Every entity's id, in the order noted.
    ///
    /// Invariant: each stream's name is its kind, `/` and a valid slug (the ledger derives it from
    /// the event's id), so no id is ever left out.
    pub(crate) fn ids<'a>(&'a self, names: &'a Names) -> impl Iterator<Item = T> + 'a {
        self.slugs(names).filter_map(|slug| slug.parse().ok())
    }
}

/// Reads the slugs of a snapshot's entities of one kind as the numbers of their streams in
/// `names`; a slug without its stream, or there twice, is refused.
pub(crate) struct EntitiesSeed<'n, T> {
    pub(crate) names: &'n Names,
    pub(crate) entities: Entities<T>,
}

impl<'de, T: Entity> DeserializeSeed<'de> for EntitiesSeed<'_, T> {
    type Value = Entities<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Entities<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Entity> Visitor<'de> for EntitiesSeed<'_, T> {
    type Value = Entities<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a sequence of {} ids", T::KIND)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Entities<T>, A::Error> {
        let mut seen = vec![false; self.names.len()];
        let mut name = String::new();
        while let Some(slug) = seq.next_element::<&'de str>()? {
            name.clear();
            name.push_str(T::KIND);
            name.push('/');
            name.push_str(slug);
            let stream = self
                .names
                .get(&name)
                .ok_or_else(|| serde::de::Error::custom(format!("{} {slug} has no stream", T::KIND)))?;
            match seen.get_mut(stream as usize) {
                Some(seen) if !*seen => *seen = true,
                _ => return Err(serde::de::Error::custom(format!("{} {slug} is listed twice", T::KIND))),
            }
            self.entities.push(stream);
        }
        Ok(self.entities)
    }
}

/// The decisions cited, numbered in first-cited order, each held as its stream's number when it
/// has one (`decision/<id>`): the slug is then that name's end, not held a second time (at a
/// million events, 408,531 cited decisions, every one with its stream, were 13 MB of slugs and
/// their table). A decision cited without a stream (yet) keeps its slug in `orphans`.
///
/// Every question takes the streams' names it was built with: they resolve a reference.
///
/// Invariant: each entry of `refs` is a stream number of those names whose name is `decision/`
/// and the slug, or (top bit set) a number of `orphans`; `numbers` holds each cited number once,
/// hashed by its slug; speculation withdraws cited decisions before the streams they refer to.
#[derive(Clone, Default)]
pub(crate) struct Cited {
    refs: Vec<u32>,
    orphans: Names,
    numbers: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for Cited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cited").field("refs", &self.refs).field("orphans", &self.orphans).finish()
    }
}

/// The top bit of a reference: the rest is a number of `orphans`, not of a stream.
const ORPHAN: u32 = 1 << 31;

impl Cited {
    /// The slug of the cited decision numbered `number`.
    pub(crate) fn at<'a>(&'a self, number: u32, streams: &'a Names) -> Option<&'a str> {
        slug_of(*self.refs.get(number as usize)?, &self.orphans, streams)
    }

    /// The number of a cited decision, if it was cited.
    pub(crate) fn get(&self, slug: &str, streams: &Names) -> Option<u32> {
        let hash = self.hasher.hash_one(slug);
        self.numbers.find(hash, |n| self.at(*n, streams) == Some(slug)).copied()
    }

    /// The number of a cited decision, numbering it if it is new.
    pub(crate) fn number(&mut self, slug: &str, streams: &Names) -> u32 {
        let hash = self.hasher.hash_one(slug);
        let Self { refs, orphans, numbers, hasher } = self;
        let at = |n: &u32| refs.get(*n as usize).and_then(|r| slug_of(*r, orphans, streams));
        if let Some(seen) = numbers.find(hash, |n| at(n) == Some(slug)) {
            return *seen;
        }
        // Invariant: fewer than 2^31 cited decisions and orphans (each is a citing event's).
        let number = u32::try_from(refs.len()).unwrap_or(u32::MAX);
        let reference = match streams.get(&super::entity_name(<ledger::DecisionId as Entity>::KIND, slug)) {
            Some(stream) if stream < ORPHAN => stream,
            _ => ORPHAN | orphans.number(slug),
        };
        refs.push(reference);
        let (refs, orphans) = (&*refs, &*orphans);
        numbers.insert_unique(hash, number, |n| {
            hasher.hash_one(refs.get(*n as usize).and_then(|r| slug_of(*r, orphans, streams)).unwrap_or_default())
        });
        number
    }

    /// The cited decisions' slugs of a snapshot (`slugs`, in their numbers' order), as references
    /// to `streams` where they have one.
    pub(crate) fn of_slugs(slugs: &Names, streams: &Names) -> Self {
        let mut cited = Self::default();
        cited.refs.reserve(slugs.len());
        cited.numbers.reserve(slugs.len(), |_| 0);
        for slug in slugs.iter() {
            cited.number(slug, streams);
        }
        cited
    }

    /// How many decisions are cited.
    pub(crate) fn len(&self) -> usize {
        self.refs.len()
    }

    /// Forgets every cited decision numbered after the first `len`; `streams` must still hold
    /// the streams they refer to (withdraw these first).
    pub(crate) fn truncate(&mut self, len: usize, streams: &Names) {
        while self.refs.len() > len {
            let number = self.refs.len() - 1;
            let reference = self.refs[number];
            let hash = self.hasher.hash_one(slug_of(reference, &self.orphans, streams).unwrap_or_default());
            if let Ok(entry) = self.numbers.find_entry(hash, |n| *n as usize == number) {
                entry.remove();
            }
            self.refs.pop();
            if reference & ORPHAN != 0 {
                self.orphans.truncate((reference & !ORPHAN) as usize);
            }
        }
    }

    /// Every slug, in the order cited.
    pub(crate) fn slugs<'a>(&'a self, streams: &'a Names) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        self.refs.iter().map(move |r| slug_of(*r, &self.orphans, streams).unwrap_or_default())
    }

    /// How many numbers its table holds and how many orphans it keeps (for the tests of withdrawal).
    #[cfg(test)]
    pub(crate) fn numbered(&self) -> (usize, usize) {
        (self.numbers.len(), self.orphans.len())
    }
}

/// The slug a reference of [`Cited`] stands for.
fn slug_of<'a>(reference: u32, orphans: &'a Names, streams: &'a Names) -> Option<&'a str> {
    if reference & ORPHAN != 0 {
        return orphans.at(reference & !ORPHAN);
    }
    let name = streams.at(reference)?;
    name.strip_prefix(<ledger::DecisionId as Entity>::KIND)?.strip_prefix('/')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;

    use super::{Cited, Entities, EntitiesSeed, Lists, Names};
    use ledger::DecisionId;

    /// One step of a log as the cited decisions see it: a stream first seen, or a citation.
    #[derive(Debug, Clone)]
    enum Step {
        Stream(String),
        Cite(String),
    }

    fn step() -> impl Strategy<Value = Step> {
        let slug = "d-[a-e]";
        prop_oneof![
            slug.prop_map(|s| Step::Stream(format!("decision/{s}"))),
            slug.prop_map(|s| Step::Stream(format!("body/{s}"))),
            slug.prop_map(Step::Cite),
        ]
    }

    /// Applies `steps` to the names and the cited decisions, and to a model of both (the names in
    /// first-seen order, the slugs in first-cited order).
    fn run(steps: &[Step], names: &mut Names, cited: &mut Cited, model: &mut (Vec<String>, Vec<String>, usize)) {
        for step in steps {
            match step {
                Step::Stream(name) => {
                    names.number(name);
                    if !model.0.contains(name) {
                        model.0.push(name.clone());
                    }
                }
                Step::Cite(slug) => {
                    let number = cited.number(slug, names);
                    if !model.1.contains(slug) {
                        model.1.push(slug.clone());
                        // Cited while it has no stream: its slug is kept.
                        model.2 += usize::from(!model.0.contains(&format!("decision/{slug}")));
                    }
                    assert_eq!(model.1.iter().position(|s| s == slug), Some(number as usize));
                }
            }
        }
    }

    /// The cited decisions answer as the model: every number's slug, every slug's number, the
    /// slugs in order; a slug never cited has no number.
    fn cited_agrees(cited: &Cited, names: &Names, model: &[String]) {
        assert_eq!(cited.len(), model.len());
        assert!(cited.slugs(names).eq(model.iter().map(String::as_str)));
        for (number, slug) in model.iter().enumerate() {
            assert_eq!(cited.at(number as u32, names), Some(slug.as_str()));
            assert_eq!(cited.get(slug, names), Some(number as u32));
        }
        assert_eq!(cited.at(model.len() as u32, names), None);
        assert_eq!(cited.get("d-z", names), None);
        assert_eq!(cited.numbered().0, model.len(), "each number once in the table");
        let cited_with_stream = model.iter().filter(|s| names.get(&format!("decision/{s}")).is_some()).count();
        assert!(cited.numbered().1 >= model.len() - cited_with_stream, "a slug without a stream is kept");
    }

    proptest! {
        /// Decisions cited before, after and without their streams are numbered in first-cited
        /// order and read back by number and by slug; read again from their slugs (a snapshot)
        /// they answer the same; a speculation's citations and streams withdrawn (the cited first)
        /// leave exactly what was there, orphans too.
        #[test]
        fn cited_decisions_are_numbered_once_by_their_streams_or_slugs(
            before in proptest::collection::vec(step(), 0..40),
            speculative in proptest::collection::vec(step(), 0..20),
        ) {
            let (mut names, mut cited, mut model) = (Names::default(), Cited::default(), Default::default());
            run(&before, &mut names, &mut cited, &mut model);
            cited_agrees(&cited, &names, &model.1);
            prop_assert_eq!(cited.numbered().1, model.2, "a slug is kept only while its stream is not there");
            let mut slugs = Names::default();
            for slug in &model.1 {
                slugs.number(slug);
            }
            let read = Cited::of_slugs(&slugs, &names);
            cited_agrees(&read, &names, &model.1);
            // Read back, a decision cited before its stream came refers to the stream.
            prop_assert_eq!(read.numbered().0, cited.numbered().0);
            prop_assert!(read.numbered().1 <= cited.numbered().1);

            let (marks, kept) = ((names.len(), cited.len()), (model.clone(), cited.numbered()));
            run(&speculative, &mut names, &mut cited, &mut model);
            cited_agrees(&cited, &names, &model.1);
            cited.truncate(marks.1, &names);
            names.truncate(marks.0);
            cited_agrees(&cited, &names, &kept.0.1);
            prop_assert_eq!(cited.numbered(), kept.1, "no orphan or number left behind");
        }
    }

    fn config() -> impl bincode::config::Config {
        bincode::config::standard().with_little_endian().with_variable_int_encoding()
    }

    /// What a model of one stream per `Vec` gives, and the same bytes, for any pushes; a
    /// speculation's pushes popped in reverse (and its new streams truncated) leave exactly what
    /// was there, with no list kept apart for nothing.
    fn lists_agree_with_vectors(pushes: &[(u32, u64)], speculative: &[(u32, u64)]) {
        let mut lists = Lists::default();
        let mut model: Vec<Vec<u64>> = Vec::new();
        let apply = |lists: &mut Lists, model: &mut Vec<Vec<u64>>, (stream, position): (u32, u64)| {
            // A stream number at most one past the end (as the names give them).
            let list = stream % (model.len() as u32 + 1);
            if list as usize == model.len() {
                model.push(Vec::new());
            }
            model[list as usize].push(position);
            lists.push(list, position);
            list
        };
        for push in pushes {
            apply(&mut lists, &mut model, *push);
        }
        let check = |lists: &Lists, model: &Vec<Vec<u64>>| {
            assert_eq!(lists.len(), model.len());
            assert!(lists.iter().eq(model.iter().map(Vec::as_slice)));
            let bytes = bincode::serde::encode_to_vec(lists, config()).unwrap();
            assert_eq!(bytes, bincode::serde::encode_to_vec(model, config()).unwrap(), "the same bytes");
            let (back, read): (Lists, usize) = bincode::serde::decode_from_slice(&bytes, config()).unwrap();
            assert_eq!(read, bytes.len());
            assert!(back.iter().eq(model.iter().map(Vec::as_slice)));
        };
        check(&lists, &model);
        let (before, long, streams) = (model.clone(), lists.long(), model.len());
        let mut applied = Vec::new();
        for push in speculative {
            applied.push(apply(&mut lists, &mut model, *push));
        }
        check(&lists, &model);
        for list in applied.into_iter().rev() {
            lists.pop(list);
        }
        lists.truncate(streams);
        check(&lists, &before);
        assert_eq!(lists.long(), long, "no list left apart by the withdrawal");
    }

    proptest! {
        #[test]
        fn lists_hold_what_vectors_hold(
            pushes in proptest::collection::vec((0u32..40, prop_oneof![1u64..1_000_000, Just(0), Just(u64::MAX)]), 0..200),
            speculative in proptest::collection::vec((0u32..45, 1u64..1_000_000), 0..20),
        ) {
            lists_agree_with_vectors(&pushes, &speculative);
        }

        /// Numbered in first-seen order, found by name, the same bytes as a `Vec<Box<str>>`, read
        /// back; truncation forgets exactly the names after the cut.
        #[test]
        fn names_are_numbered_once_and_read_back(
            seen in proptest::collection::vec("[a-c]{1,3}/[a-z0-9-]{0,6}", 0..120),
            cut in 0usize..120,
        ) {
            let mut names = Names::default();
            let mut order: Vec<Box<str>> = Vec::new();
            for name in &seen {
                let number = names.number(name);
                if !order.iter().any(|n| **n == **name) {
                    order.push(name.as_str().into());
                }
                prop_assert_eq!(order.iter().position(|n| **n == **name), Some(number as usize));
                prop_assert_eq!(names.at(number), Some(name.as_str()));
            }
            prop_assert!(names.iter().eq(order.iter().map(|n| &**n)));
            prop_assert_eq!(names.numbered(), order.len());
            let bytes = bincode::serde::encode_to_vec(&names, config()).unwrap();
            prop_assert_eq!(&bytes, &bincode::serde::encode_to_vec(&order, config()).unwrap());
            let (back, _): (Names, usize) = bincode::serde::decode_from_slice(&bytes, config()).unwrap();
            prop_assert!(order.iter().enumerate().all(|(n, name)| back.get(name) == Some(n as u32)));

            let cut = cut.min(order.len());
            names.truncate(cut);
            prop_assert_eq!((names.len(), names.numbered()), (cut, cut));
            prop_assert!(order.iter().enumerate().all(|(n, name)| names.get(name) == (n < cut).then_some(n as u32)));
            prop_assert_eq!(names.at(cut as u32), None);
            // Numbering goes on from the cut.
            if let Some(name) = order.get(cut) {
                prop_assert_eq!(names.number(name), cut as u32);
            }
        }
    }

    #[test]
    fn names_listed_twice_are_refused() {
        let order: Vec<Box<str>> = vec!["party/a".into(), "party/b".into(), "party/a".into()];
        let bytes = bincode::serde::encode_to_vec(&order, config()).unwrap();
        let refused = bincode::serde::decode_from_slice::<Names, _>(&bytes, config());
        assert!(refused.is_err_and(|e| e.to_string().contains("party/a is listed twice")));
    }

    /// Decisions noted by their streams' numbers give their ids in the order noted, write the bytes
    /// of a `Vec<DecisionId>`, and read back from them; a slug without its stream, or listed twice,
    /// is refused.
    #[test]
    fn entities_are_their_streams_names() {
        let mut names = Names::default();
        let mut decisions: Entities<DecisionId> = Entities::default();
        for name in ["party/a", "decision/d-2", "body/vis", "decision/d-1", "decision/d-1-b"] {
            let number = names.number(name);
            if name.starts_with("decision/") {
                decisions.push(number);
            }
        }
        let ids: Vec<DecisionId> = decisions.ids(&names).collect();
        let want: Vec<DecisionId> = ["d-2", "d-1", "d-1-b"].into_iter().map(|s| DecisionId::new(s).unwrap()).collect();
        assert_eq!(ids, want);
        let slugs: Vec<&str> = decisions.slugs(&names).collect();
        let bytes = bincode::serde::encode_to_vec(&slugs, config()).unwrap();
        assert_eq!(bytes, bincode::serde::encode_to_vec(&want, config()).unwrap());

        let read = |bytes: &[u8]| {
            bincode::serde::seed_decode_from_slice(
                EntitiesSeed { names: &names, entities: Entities::default() },
                bytes,
                config(),
            )
            .map(|(entities, _): (Entities<DecisionId>, usize)| entities.ids(&names).collect::<Vec<_>>())
        };
        assert_eq!(read(&bytes).unwrap(), want);
        let unknown = bincode::serde::encode_to_vec(vec!["d-2", "d-3"], config()).unwrap();
        assert!(read(&unknown).is_err_and(|e| e.to_string().contains("decision d-3 has no stream")));
        let twice = bincode::serde::encode_to_vec(vec!["d-1", "d-2", "d-1"], config()).unwrap();
        assert!(read(&twice).is_err_and(|e| e.to_string().contains("decision d-1 is listed twice")));
    }
}
