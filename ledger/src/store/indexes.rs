//! The in-memory indexes of format 2: event id → position and stream → positions, rebuilt at open
//! from the chunks' index sections (no body is decoded) and extended by the writer after each
//! commit group's transaction.
//!
//! They hold what sled holds, which may be one group ahead of the published durable head: readers
//! that answer callers (`Ledger::read_stream`, `Ledger::get_by_id`) cut at the head, as they cut
//! the log.
//!
//! **Memory** (session 15): arrays by log index – the stream's number and the previous event of
//! the same stream (4 bytes each) – and two hash tables of 4-byte indexes into them, plus each
//! stream's name once in one string and 16 bytes per stream (the maps they replace, an id →
//! position map and a name → positions map with an allocation per stream, took about 125 bytes an
//! event). The ids themselves are not held (session 26): only 64 bits of each (its [`Tag`]), so
//! the id table finds *candidates* – in practice exactly the one event, or none – which the
//! caller confirms against the id in the log ([`first_confirmed`]); 16 bytes an event became
//! 8 (8 MB at a million events, in a server and in an import alike).
//!
//! The rebuild reads every chunk through sled (about 1 s at a million events), so [`Indexing`]
//! runs it on a thread of its own from the open: a server folds its projections from the log,
//! which needs no index, on the other core meanwhile, and whatever needs an index waits for it.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use hashbrown::HashTable;

use super::layout::Chunk;
use crate::error::{LedgerError, Result};
use crate::id::{EventId, Position, StreamId};

/// Where every event is, by id and by stream.
///
/// Invariant: the events are those at positions `1..=tags.len()`, each in exactly one stream;
/// `tags`, `stream_of` and `prev` have one entry per event; `by_id` holds every log index once,
/// under its tag's hash; every index in `by_id` and `by_name` is in range; fewer than 2^32 events
/// and 4 GiB of stream names (the open refuses more).
pub(crate) struct Indexes {
    /// Every event's id's tag, by log index (position − 1).
    tags: Vec<u64>,
    /// Log indexes, found by their tags.
    by_id: HashTable<u32>,
    /// How an id's tag is taken.
    tag: Tag,
    /// Every event's stream (its number in `streams`), by log index.
    stream_of: Vec<u32>,
    /// Every event's previous event of the same stream, as its position (0: none), by log index.
    prev: Vec<u32>,
    /// Every stream, numbered in the order first seen.
    streams: Vec<Stream>,
    /// Stream numbers, found by the name at them.
    by_name: HashTable<u32>,
    /// Every stream's name, concatenated.
    names: String,
    hasher: foldhash::fast::RandomState,
}

/// One stream: its name in `names`, its last event (a position, 0: none) and how many it has.
#[derive(Debug, Clone, Copy)]
struct Stream {
    name: u32,
    name_len: u32,
    last: u32,
    count: u32,
}

impl std::fmt::Debug for Indexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexes").field("events", &self.tags.len()).field("streams", &self.streams.len()).finish()
    }
}

/// The name of `stream` in `names` (every stream's name, concatenated).
fn name_in<'a>(names: &'a str, stream: &Stream) -> &'a str {
    let start = stream.name as usize;
    names.get(start..start + stream.name_len as usize).unwrap_or_default()
}

/// The 64 bits of an event id the indexes keep: the top 64 bits of the id (as a 128-bit number)
/// times an odd multiplier chosen at random for each log's indexes (multiply-shift hashing, which
/// spreads ids that differ anywhere: two given ids share a tag with a probability of about 2^-63).
/// The multiplier is written in the kept file beside the tags, so the same ids give the same tags
/// in the next process; being random, nobody outside the machine can choose ids that share one.
///
/// 64 bits rather than 32 (session 26): a lookup of an id not in the log must not need a read,
/// and with 32 bits a million-event import met about 120 false candidates, each a read of a cold
/// chunk of up to a few MB – a second of its nine. With 64 none is expected below billions of
/// events; a candidate found is still confirmed against the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    multiplier: u128,
}

impl Tag {
    /// A multiplier drawn at random (a version-4 UUID's bits: the crate draws them from the
    /// operating system), made odd.
    fn random() -> Self {
        Self::with(uuid::Uuid::new_v4().as_u128())
    }

    fn with(multiplier: u128) -> Self {
        Self { multiplier: multiplier | 1 }
    }

    /// The tag 0 for every id (the multiplier 0, which [`Tag::with`] never makes): every lookup
    /// then has every event as a candidate, for the tests of the confirmation.
    #[cfg(test)]
    pub(crate) fn constant() -> Self {
        Self { multiplier: 0 }
    }

    /// The id's tag, also the id table's hash of it.
    fn of(self, id: EventId) -> u64 {
        (id.as_uuid().as_u128().wrapping_mul(self.multiplier) >> 64) as u64
    }
}

/// The first of `candidates` (first first) whose event, as `read` reads it from the log with its
/// id, has the id `id`: its position and what `read` gave. A candidate the log does not hold is
/// corrupt – the index says an event is there.
pub(crate) fn first_confirmed<T>(
    candidates: Vec<Position>,
    id: EventId,
    mut read: impl FnMut(Position) -> Result<Option<(EventId, T)>>,
) -> Result<Option<(Position, T)>> {
    for at in candidates {
        match read(at)? {
            Some((there, found)) if there == id => return Ok(Some((at, found))),
            Some(_) => {}
            None => {
                return Err(LedgerError::Corrupt {
                    position: at,
                    reason: "the id index points at a missing record".into(),
                });
            }
        }
    }
    Ok(None)
}

/// What a position past the indexes' 32-bit limit is refused with.
fn too_many(position: Position) -> LedgerError {
    LedgerError::Corrupt { position, reason: "the in-memory indexes hold at most 2^32 − 1 events".into() }
}

impl Indexes {
    /// Empty indexes whose ids are tagged by `tag` (a kept file's, or in the tests one every id
    /// shares).
    pub(crate) fn tagged(tag: Tag) -> Self {
        Self {
            tags: Vec::new(),
            by_id: HashTable::new(),
            tag,
            stream_of: Vec::new(),
            prev: Vec::new(),
            streams: Vec::new(),
            by_name: HashTable::new(),
            names: String::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub(crate) fn empty() -> Self {
        Self::tagged(Tag::random())
    }

    /// Rebuilds the indexes from every chunk of `chunks`, in log order.
    pub(crate) fn rebuild(chunks: &sled::Tree) -> Result<Self> {
        Self::empty().extend_after(chunks, Position::new(0))
    }

    /// These indexes (of the events up to `after`) extended with every event after `after`.
    fn extend_after(mut self, chunks: &sled::Tree, after: Position) -> Result<Self> {
        // The chunk holding the first event after `after` (the last one not starting after it),
        // then every later one.
        let from = match chunks.range(..=after.next().to_key()).next_back().transpose()? {
            Some((key, _)) => key,
            None => sled::IVec::from(&after.next().to_key()),
        };
        for entry in chunks.range(from..) {
            let (key, value) = entry?;
            let chunk = Chunk::parse(&key, &value)?;
            super::settle(chunks, &key, super::SETTLE_READS)?;
            for item in chunk.items() {
                let item = item?;
                if item.position <= after {
                    continue;
                }
                // Checked once per stream: a name the index section made up is refused.
                let number = match self.stream_number(item.stream) {
                    Some(number) => number,
                    None => {
                        let stream = StreamId::parse(item.stream).map_err(|e| LedgerError::Corrupt {
                            position: item.position,
                            reason: format!("chunk: the index section names {e}"),
                        })?;
                        self.new_stream(stream.as_str(), item.position)?
                    }
                };
                self.push(item.id, number, item.position)?;
            }
        }
        Ok(self)
    }

    fn hash_name(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    fn name(&self, stream: &Stream) -> &str {
        name_in(&self.names, stream)
    }

    /// The number of the stream named `name`, if it has been seen.
    fn stream_number(&self, name: &str) -> Option<u32> {
        let hash = self.hash_name(name);
        self.by_name.find(hash, |&n| self.streams.get(n as usize).is_some_and(|s| self.name(s) == name)).copied()
    }

    /// Numbers a stream not seen before (its first event at `position`, for an error).
    fn new_stream(&mut self, name: &str, position: Position) -> Result<u32> {
        let number = u32::try_from(self.streams.len()).map_err(|_| too_many(position))?;
        let start = u32::try_from(self.names.len()).map_err(|_| too_many(position))?;
        let name_len = u32::try_from(name.len()).map_err(|_| too_many(position))?;
        start.checked_add(name_len).ok_or_else(|| too_many(position))?;
        self.names.push_str(name);
        self.streams.push(Stream { name: start, name_len, last: 0, count: 0 });
        let hash = self.hash_name(name);
        let (streams, names, hasher) = (&self.streams, &self.names, &self.hasher);
        self.by_name.insert_unique(hash, number, |&n| {
            hasher.hash_one(streams.get(n as usize).map_or("", |s| name_in(names, s)))
        });
        Ok(number)
    }

    /// Adds the next event, of the stream numbered `number`.
    fn push(&mut self, id: EventId, number: u32, position: Position) -> Result<()> {
        let index = u32::try_from(self.tags.len()).map_err(|_| too_many(position))?;
        let at = index.checked_add(1).ok_or_else(|| too_many(position))?;
        if position.get() != u64::from(at) {
            return Err(LedgerError::Corrupt {
                position,
                reason: format!("the in-memory indexes expected the event at position {at} next"),
            });
        }
        let stream = self.streams.get_mut(number as usize).ok_or_else(|| too_many(position))?;
        self.prev.push(stream.last);
        stream.last = at;
        stream.count += 1;
        self.stream_of.push(number);
        self.tags.push(self.tag.of(id));
        self.index_id(index);
        Ok(())
    }

    /// Finds the event at log index `index` by its tag from now on. Two events with one id (a
    /// damaged log: the writer never stores one twice) are both found as candidates, so that
    /// `verify` sees the second one's id at an earlier position too.
    fn index_id(&mut self, index: u32) {
        let tags = &self.tags;
        let Some(&tag) = tags.get(index as usize) else { return };
        self.by_id.insert_unique(tag, index, |&i| tags.get(i as usize).copied().unwrap_or(0));
    }

    /// Adds an event (the next in the log, the next of its stream).
    pub(crate) fn add(&mut self, id: EventId, stream: &StreamId, position: Position) -> Result<()> {
        let number = match self.stream_number(stream.as_str()) {
            Some(number) => number,
            None => self.new_stream(stream.as_str(), position)?,
        };
        self.push(id, number, position)
    }

    /// Forgets every event after `head` (a staged import removed).
    pub(crate) fn truncate(&mut self, head: Position) {
        let keep = usize::try_from(head.get()).unwrap_or(usize::MAX).min(self.tags.len());
        for index in (keep..self.tags.len()).rev() {
            let hash = self.tags[index];
            if let Ok(entry) = self.by_id.find_entry(hash, |&i| i as usize == index) {
                entry.remove();
            }
            if let Some(stream) = self.streams.get_mut(self.stream_of[index] as usize) {
                stream.last = self.prev[index];
                stream.count = stream.count.saturating_sub(1);
            }
        }
        self.tags.truncate(keep);
        self.stream_of.truncate(keep);
        self.prev.truncate(keep);
        // Streams first seen after `head` are the last ones numbered: forgotten with their names.
        while let Some(stream) = self.streams.last().copied().filter(|s| s.count == 0) {
            let number = (self.streams.len() - 1) as u32;
            let hash = self.hash_name(self.name(&stream));
            if let Ok(entry) = self.by_name.find_entry(hash, |&n| n == number) {
                entry.remove();
            }
            self.names.truncate(stream.name as usize);
            self.streams.pop();
        }
    }

    /// How many events `stream` has.
    pub(crate) fn stream_version(&self, stream: &StreamId) -> u64 {
        self.stream_number(stream.as_str()).and_then(|n| self.streams.get(n as usize)).map_or(0, |s| s.count.into())
    }

    /// Where the event `id` may be, first first: every position whose event's id has the same tag –
    /// the event itself, if it is in the log, and almost never another (see [`Tag`]). The caller
    /// confirms each against the id in the log ([`first_confirmed`]).
    pub(crate) fn candidates(&self, id: EventId) -> Vec<Position> {
        let tag = self.tag.of(id);
        let tags = &self.tags;
        let mut found: Vec<Position> = self
            .by_id
            .iter_hash(tag)
            .filter(|&&i| tags.get(i as usize) == Some(&tag))
            .map(|&i| Position::new(u64::from(i) + 1))
            .collect();
        found.sort_unstable();
        found
    }

    /// Where the event `id` first is, each candidate confirmed by `id_at` (the id of the event at
    /// a position, read from the log). The ledger's own lookups take the candidates and let go of
    /// the indexes before they read (`Trees::position_of`): a reader must not hold the writer up.
    #[cfg(test)]
    pub(crate) fn position_of(
        &self,
        id: EventId,
        mut id_at: impl FnMut(Position) -> Result<Option<EventId>>,
    ) -> Result<Option<Position>> {
        let found = first_confirmed(self.candidates(id), id, |at| Ok(id_at(at)?.map(|there| (there, ()))))?;
        Ok(found.map(|(at, ())| at))
    }

    /// The stream of the event at `position`: its number (streams are numbered from 0 in the order
    /// first seen) and its name.
    pub(crate) fn stream_at(&self, position: Position) -> Option<(u32, &str)> {
        let index = usize::try_from(position.get().checked_sub(1)?).ok()?;
        let number = *self.stream_of.get(index)?;
        Some((number, self.name(self.streams.get(number as usize)?)))
    }

    /// The positions of a stream's events, last first (`last` is the stream's last position).
    fn walk(&self, last: u32) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(Some(last).filter(|p| *p != 0), |p| {
            self.prev.get(*p as usize - 1).copied().filter(|prev| *prev != 0 && prev < p)
        })
    }

    /// The positions of `stream`'s events up to `end`, in stream order.
    pub(crate) fn stream_positions(&self, stream: &StreamId, end: Position) -> Vec<Position> {
        let Some(s) = self.stream_number(stream.as_str()).and_then(|n| self.streams.get(n as usize)) else {
            return Vec::new();
        };
        self.positions_up_to(s, end.get()).into_iter().map(Position::new).collect()
    }

    /// The positions of the stream `s` up to `end`, in stream order.
    fn positions_up_to(&self, s: &Stream, end: u64) -> Vec<u64> {
        let mut positions: Vec<u64> = self.walk(s.last).map(u64::from).filter(|p| *p <= end).collect();
        positions.reverse();
        positions
    }

    /// How many streams have an event among the first `events`: streams are numbered in the order
    /// first seen, so they are the streams numbered below the largest number there.
    fn streams_reaching(&self, events: usize) -> usize {
        self.stream_of.get(..events).and_then(|of| of.iter().max()).map_or(0, |max| *max as usize + 1)
    }

    /// Every stream's name and positions up to `end` (in stream order), streams in the order first
    /// seen: what the kept file holds (the tests' reference for [`write_kept`]).
    #[cfg(test)]
    fn streams_up_to(&self, end: u64) -> Vec<(&str, Vec<u64>)> {
        self.streams
            .iter()
            .map(|s| (self.name(s), self.positions_up_to(s, end)))
            .filter(|(_, positions)| !positions.is_empty())
            .collect()
    }

    /// The indexes of a kept file: its streams (name, positions) and its ids in log order. `None`
    /// unless every event is in exactly one stream, each stream's positions ascending.
    #[cfg(test)]
    fn of_kept(streams: Vec<(Box<str>, Vec<u64>)>, tag: Tag, ids: Vec<EventId>) -> Option<Self> {
        let mut kept = KeptBuilder::new(ids.len(), tag)?;
        for (name, positions) in &streams {
            let mut stream = kept.stream(name)?;
            for &position in positions {
                kept.place(&mut stream, position)?;
            }
            kept.end_stream(stream)?;
        }
        for id in ids {
            kept.tag(tag.of(id))?;
        }
        kept.finish()
    }
}

/// The indexes of a kept file, built as it is read: stream by stream, then the ids' tags. Every
/// check of the kept form is here: every event in exactly one stream, each stream's positions
/// ascending and within the log, no stream twice, as many tags as events.
struct KeptBuilder {
    indexes: Indexes,
    stream_of: Vec<u32>,
    prev: Vec<u32>,
    len: u32,
}

/// A stream being read: its number, its last position so far and how many it has.
struct KeptStream {
    number: u32,
    last: u32,
    count: u32,
}

impl KeptBuilder {
    /// For a log of `events` events whose ids were tagged by `tag`.
    fn new(events: usize, tag: Tag) -> Option<Self> {
        let len = u32::try_from(events).ok()?;
        let mut indexes = Indexes::tagged(tag);
        indexes.tags = Vec::with_capacity(events);
        Some(Self { indexes, stream_of: vec![u32::MAX; events], prev: vec![0u32; events], len })
    }

    /// The next stream, named `name`: `None` if it came before.
    fn stream(&mut self, name: &str) -> Option<KeptStream> {
        if self.indexes.stream_number(name).is_some() {
            return None;
        }
        let number = self.indexes.new_stream(name, Position::new(0)).ok()?;
        Some(KeptStream { number, last: 0, count: 0 })
    }

    /// The stream's next event.
    fn place(&mut self, stream: &mut KeptStream, position: u64) -> Option<()> {
        let p = u32::try_from(position).ok().filter(|p| *p > stream.last && *p <= self.len)?;
        let slot = self.stream_of.get_mut(p as usize - 1)?;
        if *slot != u32::MAX {
            return None;
        }
        *slot = stream.number;
        *self.prev.get_mut(p as usize - 1)? = stream.last;
        stream.last = p;
        stream.count = stream.count.checked_add(1)?;
        Some(())
    }

    /// The stream's last event and count, once all its positions are read.
    fn end_stream(&mut self, stream: KeptStream) -> Option<()> {
        let kept = self.indexes.streams.get_mut(stream.number as usize)?;
        kept.last = stream.last;
        kept.count = stream.count;
        Some(())
    }

    /// The next event's id's tag, in log order.
    fn tag(&mut self, tag: u64) -> Option<()> {
        if self.indexes.tags.len() >= self.len as usize {
            return None;
        }
        self.indexes.tags.push(tag);
        Some(())
    }

    /// The indexes, once every stream and tag is read: `None` unless every event has a stream and
    /// a tag.
    fn finish(self) -> Option<Indexes> {
        let Self { mut indexes, stream_of, prev, len } = self;
        if indexes.tags.len() != len as usize || stream_of.contains(&u32::MAX) {
            return None;
        }
        indexes.by_id = HashTable::with_capacity(indexes.tags.len());
        for index in 0..len {
            indexes.index_id(index);
        }
        indexes.stream_of = stream_of;
        indexes.prev = prev;
        Some(indexes)
    }
}

/// Reads a kept file's body – `(streams as (name, positions), tags)` in bincode – straight into
/// the indexes, names borrowed from `body` (decoding it into vectors of owned names and positions
/// first, then building, held about 90 MB more at a million events' start, session 22). `None` if
/// it does not decode to exactly `body`'s length; what it read is checked by
/// [`KeptBuilder::finish`] (after the caller has let go of the file's bytes).
fn decode_kept(body: &[u8], events: usize, tag: Tag) -> Option<KeptBuilder> {
    let mut kept = KeptBuilder::new(events, tag)?;
    let ((), read) = bincode::serde::seed_decode_from_slice(Pair(KeptFile(&mut kept)), body, config()).ok()?;
    (read == body.len()).then_some(kept)
}

/// A visitor of the kept file's parts, handed to serde as the seed of a sequence.
struct Seq<V>(V);

impl<'de, V: serde::de::Visitor<'de, Value = ()>> serde::de::DeserializeSeed<'de> for Seq<V> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_seq(self.0)
    }
}

/// A visitor of the kept file's parts, handed to serde as the seed of a pair (a tuple of two).
struct Pair<V>(V);

impl<'de, V: serde::de::Visitor<'de, Value = ()>> serde::de::DeserializeSeed<'de> for Pair<V> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_tuple(2, self.0)
    }
}

/// The file's body: the streams, then the tags.
struct KeptFile<'b>(&'b mut KeptBuilder);

impl<'de> serde::de::Visitor<'de> for KeptFile<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the kept indexes: streams, then tags")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        use serde::de::Error as _;
        let missing = || A::Error::custom("the kept indexes end early");
        seq.next_element_seed(Seq(KeptSeq(&mut *self.0, Part::Streams)))?.ok_or_else(missing)?;
        seq.next_element_seed(Seq(KeptSeq(self.0, Part::Tags)))?.ok_or_else(missing)
    }
}

#[derive(Clone, Copy)]
enum Part {
    Streams,
    Tags,
}

/// One of the body's two sequences, each element handed to the builder as it is read.
struct KeptSeq<'b>(&'b mut KeptBuilder, Part);

impl<'de> serde::de::Visitor<'de> for KeptSeq<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of the kept indexes")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        use serde::de::Error as _;
        let KeptSeq(kept, part) = self;
        match part {
            Part::Streams => while seq.next_element_seed(Pair(KeptStreamSeed(&mut *kept)))?.is_some() {},
            Part::Tags => {
                while let Some(tag) = seq.next_element::<u64>()? {
                    kept.tag(tag).ok_or_else(|| A::Error::custom("more tags than events"))?;
                }
            }
        }
        Ok(())
    }
}

/// One stream: its name (borrowed), then its positions.
struct KeptStreamSeed<'b>(&'b mut KeptBuilder);

impl<'de> serde::de::Visitor<'de> for KeptStreamSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a stream's name and positions")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        use serde::de::Error as _;
        let bad = || A::Error::custom("the kept indexes do not put every event in exactly one stream");
        let name: &'de str = seq.next_element()?.ok_or_else(bad)?;
        let mut stream = self.0.stream(name).ok_or_else(bad)?;
        seq.next_element_seed(Seq(KeptPositions(&mut *self.0, &mut stream)))?.ok_or_else(bad)?;
        self.0.end_stream(stream).ok_or_else(bad)
    }
}

/// A stream's positions.
struct KeptPositions<'b>(&'b mut KeptBuilder, &'b mut KeptStream);

impl<'de> serde::de::Visitor<'de> for KeptPositions<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a stream's positions")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        use serde::de::Error as _;
        let KeptPositions(kept, stream) = self;
        while let Some(position) = seq.next_element::<u64>()? {
            kept.place(stream, position)
                .ok_or_else(|| A::Error::custom("the kept indexes do not put every event in exactly one stream"))?;
        }
        Ok(())
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
    /// The head whose indexes this process last kept in the file: the close does not write the
    /// same file again after an import kept it (`Ledger::keep_indexes`) beside its snapshot.
    kept: Mutex<Option<crate::sequence::Head>>,
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
            indexes: RwLock::new(Indexes::empty()),
            ready: AtomicBool::new(false),
            build: Mutex::new(build),
            kept: Mutex::new(None),
        })
    }

    fn built(indexes: Indexes) -> Self {
        Self {
            indexes: RwLock::new(indexes),
            ready: AtomicBool::new(true),
            build: Mutex::new(Build::Ready(None)),
            kept: Mutex::new(None),
        }
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
    /// beside it, synced and renamed over the old one – unless this process already kept them at
    /// this head. A failure is logged: the next open then rebuilds them.
    pub(crate) fn save(&self, dir: &std::path::Path, head: &crate::sequence::Head) {
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.as_ref() == Some(head) {
            return;
        }
        let indexes = self.indexes.read().unwrap_or_else(PoisonError::into_inner);
        match save(dir, &indexes, head) {
            Ok(true) => *kept = Some(*head),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the ledger's indexes could not be kept for the next open"),
        }
    }
}

/// The file the indexes are kept in, in the ledger's directory.
pub(crate) const FILE: &str = "INDEXES";

/// What the file starts with; then the format, the head (position, hash), the [`Tag`]'s
/// multiplier (16 bytes, little-endian), the indexes in bincode (`streams` as name and positions,
/// the ids' tags in log order) and the CRC-32 of all before it (a guard against damage: the file
/// is a cache of what the log holds, checked against the log's record at its head before it is
/// used). Format 1 (session 8) ended with a SHA-256 instead; format 2 (sessions 9–25) held the
/// ids themselves instead of the multiplier and the tags. A file of another format is refused, and
/// the indexes rebuilt from the log (about a second at a million events), once.
const MAGIC: &[u8; 16] = b"samverkan-index\x01";
const FORMAT: u32 = 3;
const HEADER: usize = 16 + 4 + 8 + 32 + 16;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding()
}

/// Whether the file was written.
fn save(dir: &std::path::Path, indexes: &Indexes, head: &crate::sequence::Head) -> std::io::Result<bool> {
    let Some(tags) = usize::try_from(head.position.get()).ok().and_then(|end| indexes.tags.get(..end)) else {
        // Not the whole log (cannot happen for a healthy writer): nothing is kept, and the file
        // there is left as it is.
        return Ok(false);
    };
    super::durability::replace_file_with(dir, FILE, |out| write_kept(out, indexes, tags, &head.hash)).map(|()| true)
}

/// Writes the kept file of the indexes of the events whose tags are `tags` (the first of the log,
/// up to the head whose hash is `hash`) to `out`, as it goes: the streams' positions are walked one stream at a
/// time and the checksum is taken of the bytes passing through, so saving a million events'
/// indexes takes no memory beyond a stream's positions (building the file first took about 150 MB
/// at a server's stop).
fn write_kept(
    out: &mut dyn std::io::Write,
    indexes: &Indexes,
    tags: &[u64],
    hash: &crate::chain::Hash,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let end = tags.len() as u64;
    let mut out = crate::Crc32Writer::new(out);
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT.to_le_bytes())?;
    out.write_all(&end.to_le_bytes())?;
    out.write_all(hash.as_bytes())?;
    out.write_all(&indexes.tag.multiplier.to_le_bytes())?;
    let streams = KeptStreams { indexes, end, count: indexes.streams_reaching(tags.len()) };
    bincode::serde::encode_into_std_write((&streams, tags), &mut out, config()).map_err(std::io::Error::other)?;
    let (out, checksum) = out.finish();
    out.write_all(&checksum.to_le_bytes())
}

/// The kept file's streams, serialized as the sequence of (name, positions up to `end`) of the
/// first `count` streams – those with an event up to `end` – without collecting it.
struct KeptStreams<'a> {
    indexes: &'a Indexes,
    end: u64,
    count: usize,
}

impl serde::Serialize for KeptStreams<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.count))?;
        for stream in self.indexes.streams.iter().take(self.count) {
            seq.serialize_element(&(self.indexes.name(stream), self.indexes.positions_up_to(stream, self.end)))?;
        }
        seq.end()
    }
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
    let hash = &content[28..60];
    let multiplier = content.get(60..HEADER).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(u128::from_le_bytes)?;
    if multiplier % 2 == 0 {
        return refuse(file, "name an even multiplier for the ids' tags");
    }
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
    let events = usize::try_from(at.get()).ok()?;
    let Some(kept) = decode_kept(&content[HEADER..], events, Tag::with(multiplier)) else {
        return refuse(file, "cannot be decoded, or do not put every event in exactly one stream");
    };
    drop(bytes);
    let Some(indexes) = kept.finish() else {
        return refuse(file, "do not put every event in exactly one stream");
    };
    Some((indexes, at))
}

fn refuse<T>(file: &std::path::Path, why: &str) -> Option<T> {
    tracing::warn!(file = %file.display(), "the kept indexes {why}; rebuilding them from the log");
    None
}

#[cfg(test)]
mod tests;
