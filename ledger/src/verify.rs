//! `verify`: walk the whole log and prove it was not altered.

use crate::chain::Hash;
use crate::encoding;
use crate::error::{LedgerError, Result};
use crate::event::{EventData, RecordedEvent};
use crate::id::{EventId, Position};
use crate::merkle::{self, Stored, TreeHash};
use crate::sequence::Head;
use crate::store::{self, Chunk, Indexes, Trees, layout};
use crate::time::Timestamp;

/// How often (in events) the progress callback is called.
const PROGRESS_EVERY: u64 = 4096;

/// What a successful verification saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifyReport {
    /// How many events were checked.
    pub events: u64,
    /// The head they lead to.
    pub head: Head,
    /// The Merkle root of the whole log, recomputed from the events.
    pub root: TreeHash,
}

/// Checks, for every chunk in position order: its key is the position of its first record and it
/// begins where the one before ended (no gap, no overlap), and its index section names each
/// record's id and stream. For every record: the positions are gapless from 1; each record's
/// `prevHash` is the previous record's hash; each record's hash matches SHA-256 over its stored bytes
/// (so any changed byte is caught); the record decodes, belongs at its key, and its stream versions
/// count up from 1 without gaps; record time never decreases; a retraction sits in its target's
/// stream; every hash the Merkle tree stores is the one recomputed from the events (leaf bytes,
/// leaf hash, completed subtrees), its runs follow each other without a gap or an overlap, the tree
/// holds nothing more and covers exactly the log; and the last record is the stored head.
///
/// Returns the first failure as a typed error. `progress(done, total)` is called as it goes.
pub(crate) fn verify_log(
    trees: &Trees,
    head: Head,
    progress: &mut dyn FnMut(Position, Position),
) -> Result<VerifyReport> {
    walk(trees, head, Scope::Whole, progress)
}

/// What a walk covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The whole log, which must end at the head (nothing is appended meanwhile).
    Whole,
    /// The log up to a head taken at the start, while appends go on past it: what comes after is
    /// not looked at, and the tree's size and its entries beyond are not compared.
    UpTo,
}

/// Like [`verify_log`], of the events up to `head` only, while the ledger keeps appending.
pub(crate) fn verify_up_to(
    trees: &Trees,
    head: Head,
    progress: &mut dyn FnMut(Position, Position),
) -> Result<VerifyReport> {
    walk(trees, head, Scope::UpTo, progress)
}

fn walk(trees: &Trees, head: Head, scope: Scope, progress: &mut dyn FnMut(Position, Position)) -> Result<VerifyReport> {
    let mut expected = Position::FIRST;
    let mut prev = Hash::GENESIS;
    let mut last_time = Timestamp::EPOCH;
    // What the walk keeps itself: a version per stream and a bit per event (session 15: the ids and
    // streams are looked up in the ledger's in-memory indexes, which the walk checks against every
    // record as it goes, instead of maps of its own – 90 MB at a million events).
    let mut seen = Seen::default();
    let mut count = 0u64;
    let chunks = match scope {
        Scope::Whole => trees.chunks.iter(),
        Scope::UpTo => trees.chunks.range(..=head.position.to_key()),
    };
    // The Merkle tree's runs are checked as the walk reaches them (`check_tree` reads the same
    // leaves of sled then): a second scan of them after the walk paged them all in again, the
    // step in a serving process's memory at the end of every verification (session 22).
    let mut runs = Runs::new(trees);
    'chunks: for entry in chunks {
        let (key, value) = entry?;
        let chunk = Chunk::parse(&key, &value)?;
        store::settle(&trees.chunks, &key, store::SETTLE_VERIFY)?;
        // Every chunk begins where the one before ended: no gap, no overlap.
        if chunk.first() > expected {
            return Err(LedgerError::Gap { expected, found: chunk.first() });
        }
        if chunk.first() < expected {
            return Err(LedgerError::Corrupt {
                position: chunk.first(),
                reason: format!(
                    "a chunk under key {} overlaps the one before it, which ends at {}",
                    chunk.first(),
                    expected.get() - 1
                ),
            });
        }
        for item in chunk.items() {
            let item = item?;
            let position = item.position;
            if scope == Scope::UpTo && position > head.position {
                break 'chunks;
            }
            let fields = encoding::chain_fields(position, item.record)?;
            if fields.prev_hash != prev {
                return Err(LedgerError::ChainBroken { position, expected: prev, found: fields.prev_hash });
            }
            if fields.computed_hash != fields.stored_hash {
                return Err(LedgerError::ChainBroken {
                    position,
                    expected: fields.computed_hash,
                    found: fields.stored_hash,
                });
            }
            let event = encoding::decode(position, item.record)?;
            if item.id != event.id || item.stream != event.stream.as_str() {
                return Err(LedgerError::Corrupt {
                    position,
                    reason: format!(
                        "the chunk's index section says event {} in stream {}, the record is {} in {}",
                        item.id, item.stream, event.id, event.stream
                    ),
                });
            }
            // A retraction's target is looked up before the indexes are held: its confirmation
            // reads the log, which the writer must not wait for.
            let retracted = match &event.data {
                EventData::EventRetracted(r) => trees.position_of(r.event)?,
                _ => None,
            };
            check_event(&event, last_time, &*trees.indexes()?, &mut |at| trees.id_at(at), retracted, &mut seen)?;
            check_tree(trees, count, &event)?;
            last_time = event.recorded_at;
            prev = fields.stored_hash;
            count += 1;
            expected = position.next();
            if count % PROGRESS_EVERY == 0 {
                progress(position, head.position);
            }
        }
        runs.check_before(tlog_tiles::stored_hash_count(count), Position::new(count))?;
    }
    let last = Position::new(count);
    progress(last, head.position);
    if last != head.position {
        return Err(LedgerError::Corrupt {
            position: last,
            reason: format!("the log ends at {last} but the head says {}", head.position),
        });
    }
    if prev != head.hash {
        return Err(LedgerError::ChainBroken { position: last, expected: prev, found: head.hash });
    }
    let root = merkle::root(trees, count)?;
    let stored_count = tlog_tiles::stored_hash_count(count);
    runs.finish(last, stored_count, scope)?;
    if scope == Scope::UpTo {
        return Ok(VerifyReport { events: count, head, root });
    }
    let covered = trees.tree_size()?;
    if covered != count {
        return Err(LedgerError::Corrupt {
            position: last,
            reason: format!("the Merkle tree says it covers {covered} events, the log has {count}"),
        });
    }
    Ok(VerifyReport { events: count, head, root })
}

/// The runs of stored hashes follow each other from index 0 without a gap or an overlap, each a
/// whole number of hashes; for the whole log they end exactly at the log's stored hash count (the
/// hashes themselves are compared with the recomputed ones event by event, `check_tree`). While
/// appends go on, only the runs up to that count are looked at. Checked in step with the walk:
/// [`Runs::check_before`] as it goes, [`Runs::finish`] at its end.
struct Runs<'t> {
    trees: &'t Trees,
    runs: std::iter::Peekable<sled::Iter>,
    /// Where the next run must begin.
    next: u64,
}

impl<'t> Runs<'t> {
    fn new(trees: &'t Trees) -> Self {
        Self { trees, runs: trees.hashes.iter().peekable(), next: 0 }
    }

    /// Checks every run that begins before stored hash `end` (`at`: where the walk is, for an
    /// error).
    fn check_before(&mut self, end: u64, at: Position) -> Result<()> {
        while self.next_begins_before(end)? {
            self.take(at)?;
        }
        Ok(())
    }

    /// Whether the next run begins before stored hash `end`.
    fn next_begins_before(&mut self, end: u64) -> Result<bool> {
        match self.runs.peek() {
            None => Ok(false),
            // A key that is no position is reported by `take`.
            Some(Ok((key, _))) => Ok(Position::from_key(key).is_none_or(|first| first.get() < end)),
            // The error itself is taken (and returned) by `take`.
            Some(Err(_)) => Ok(true),
        }
    }

    /// Checks the next run: it begins where the one before ended.
    fn take(&mut self, at: Position) -> Result<()> {
        let Some(entry) = self.runs.next() else { return Ok(()) };
        let (key, value) = entry?;
        let (first, count) = layout::run_span(&key, &value)?;
        store::settle(&self.trees.hashes, &key, store::SETTLE_VERIFY)?;
        if first != self.next {
            return Err(LedgerError::Corrupt {
                position: at,
                reason: format!(
                    "the Merkle tree's run at stored hash {first} does not follow the one before, which ends at {}",
                    self.next
                ),
            });
        }
        self.next = first + count;
        Ok(())
    }

    /// The runs the walk has not reached, then how far they go: exactly `stored_count` hashes for
    /// the whole log (the last event `last`), at least that many while appends go on.
    fn finish(mut self, last: Position, stored_count: u64, scope: Scope) -> Result<()> {
        match scope {
            Scope::Whole => {
                while self.runs.peek().is_some() {
                    self.take(last)?;
                }
            }
            Scope::UpTo => self.check_before(stored_count, last)?,
        }
        let next = self.next;
        if next < stored_count || (scope == Scope::Whole && next > stored_count) {
            return Err(LedgerError::Corrupt {
                position: last,
                reason: format!(
                    "the Merkle tree stores {next} hashes; a log of {} events has {stored_count}",
                    last.get()
                ),
            });
        }
        Ok(())
    }
}

/// Recomputes the tree's hashes for one more event (reading the stored hashes already checked)
/// and compares them with the stored ones.
/// `before` is how many events come before this one.
fn check_tree(trees: &Trees, before: u64, event: &RecordedEvent) -> Result<()> {
    let start = tlog_tiles::stored_hash_count(before);
    let leaf = merkle::leaf_hash(&merkle::leaf_bytes(event)?);
    // Memory stays flat: each step reads only what earlier events stored, already checked.
    let mut step = merkle::Growth::new(trees, before);
    step.push(leaf)?;
    let expected: Vec<TreeHash> = step.added().map(|(_, h)| *h).collect();
    let indexes: Vec<u64> = (start..start + expected.len() as u64).collect();
    let stored = trees.hashes(&indexes).map_err(|e| LedgerError::Corrupt {
        position: event.position,
        reason: format!("the Merkle tree does not cover this event: {e}"),
    })?;
    if stored != expected {
        return Err(LedgerError::Corrupt {
            position: event.position,
            reason: "the Merkle tree's hashes for this event are not the ones its bytes give: \
                     the tree was altered or the event was"
                .into(),
        });
    }
    Ok(())
}

/// What the walk has seen so far, beside the indexes: each stream's version reached (by its number
/// in the indexes) and which events are retractions (a bit per position).
#[derive(Debug, Default)]
pub(crate) struct Seen {
    versions: Vec<u32>,
    retractions: Vec<u64>,
}

impl Seen {
    fn is_retraction(&self, position: Position) -> bool {
        let index = position.get().saturating_sub(1);
        self.retractions.get((index / 64) as usize).is_some_and(|word| word >> (index % 64) & 1 == 1)
    }

    fn note_retraction(&mut self, position: Position) {
        let index = position.get().saturating_sub(1);
        let word = (index / 64) as usize;
        if self.retractions.len() <= word {
            self.retractions.resize(word + 1, 0);
        }
        self.retractions[word] |= 1 << (index % 64);
    }
}

/// Checks one event, the next in the log after everything `seen`, against the walk so far and
/// against the ledger's in-memory `indexes` (which must place it where the log does: its id at its
/// position, its position in its stream; so every earlier event the indexes are asked about was
/// checked against its record before). Refuses an id seen before, a stream version that does not
/// follow, record time going back, and a retraction of anything but an earlier event of its own
/// stream that is not itself a retraction. `id_at` reads the id at a position (an earlier
/// candidate of the event's id is confirmed with it); `retracted` is where the event a retraction
/// names first is in the log, looked up by the caller before it held the indexes.
pub(crate) fn check_event(
    event: &RecordedEvent,
    last_time: Timestamp,
    indexes: &Indexes,
    id_at: &mut dyn FnMut(Position) -> Result<Option<EventId>>,
    retracted: Option<Position>,
    seen: &mut Seen,
) -> Result<()> {
    let position = event.position;
    let corrupt = |reason: String| LedgerError::Corrupt { position, reason };
    if event.recorded_at < last_time {
        return Err(corrupt(format!("record time {} is before the previous record's {last_time}", event.recorded_at)));
    }
    // The index's candidates for the id, first first: an earlier one with the same id in the log
    // is the id twice; this position must be among them.
    let mut here = false;
    for at in indexes.candidates(event.id) {
        if at >= position {
            here = at == position;
            break;
        }
        if id_at(at)? == Some(event.id) {
            return Err(corrupt(format!("event id {} appears twice (first at {at})", event.id)));
        }
    }
    if !here {
        return Err(corrupt(format!(
            "the in-memory id index does not find event {} here: it does not match the log",
            event.id
        )));
    }
    let number = match indexes.stream_at(position) {
        Some((number, name)) if name == event.stream.as_str() => number,
        other => {
            return Err(corrupt(format!(
                "the in-memory stream index puts this event in {:?}, the record in {}: it does not match the log",
                other.map(|(_, name)| name),
                event.stream
            )));
        }
    };
    let slot = number as usize;
    if seen.versions.len() <= slot {
        seen.versions.resize(slot + 1, 0);
    }
    let version = u64::from(seen.versions[slot]);
    if event.stream_version != version + 1 {
        return Err(corrupt(format!(
            "stream {} version {} follows version {version}",
            event.stream, event.stream_version
        )));
    }
    // Fewer than 2^32 events, so fewer than 2^32 of one stream.
    seen.versions[slot] = u32::try_from(event.stream_version).map_err(|_| corrupt("a stream of 2^32 events".into()))?;
    if let EventData::EventRetracted(r) = &event.data {
        // The retracted event came before, is in this stream and is not itself a retraction.
        let target = retracted.filter(|at| *at < position);
        let in_stream = target.and_then(|at| indexes.stream_at(at)).is_some_and(|(n, _)| n == number);
        if !in_stream || target.is_some_and(|at| seen.is_retraction(at)) {
            return Err(corrupt(format!("retraction of {} is not in that event's stream", r.event)));
        }
        seen.note_retraction(position);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{Seen, check_event};
    use crate::event::{EventData, EventRetracted, PartyKind, PartyRegistered, RecordedEvent};
    use crate::id::PartyId;
    use crate::store::Indexes;
    use crate::{Append, AppendOutcome, MemoryChain, NewEvent, Timestamp};

    /// Two parties registered, then the first one's registration retracted: sealed for real.
    fn history() -> Vec<RecordedEvent> {
        let mut chain = MemoryChain::new();
        let mut record = |data: EventData, at: i64| match chain
            .append(
                &Append::one(NewEvent::new("2024-01-01".parse().expect("date"), "test", data)),
                Timestamp::from_micros(at),
            )
            .expect("appends")
        {
            AppendOutcome::Committed(mut c) => c.remove(0).event,
            AppendOutcome::Conflict(c) => panic!("{c:?}"),
        };
        let party = |slug: &str| {
            EventData::PartyRegistered(PartyRegistered {
                party: PartyId::new(slug).expect("slug"),
                name: slug.into(),
                kind: PartyKind::Municipality,
            })
        };
        let first = record(party("a"), 1);
        let second = record(party("b"), 2);
        let retraction = record(EventData::EventRetracted(EventRetracted { event: first.id, reason: "fel".into() }), 3);
        vec![first, second, retraction]
    }

    /// The walk over `events`, with indexes built from them as the open builds them from chunks.
    fn walk(events: &[RecordedEvent]) -> Result<(), String> {
        let random = walk_indexed(events, Indexes::empty());
        let shared = walk_indexed(events, Indexes::tagged(crate::store::Tag::constant()));
        assert_eq!(random, shared, "the same walk whether the ids' tags differ or all are the same");
        random
    }

    /// The walk over `events` with `indexes` (empty) built as the open builds them.
    fn walk_indexed(events: &[RecordedEvent], mut indexes: Indexes) -> Result<(), String> {
        for event in events {
            indexes.add(event.id, &event.stream, event.position).map_err(|e| e.to_string())?;
        }
        let mut seen = Seen::default();
        let mut last = Timestamp::EPOCH;
        for event in events {
            let mut id_at = |at: crate::Position| Ok(events.get(at.get() as usize - 1).map(|e| e.id));
            let retracted = match &event.data {
                EventData::EventRetracted(r) => indexes.position_of(r.event, &mut id_at).map_err(|e| e.to_string())?,
                _ => None,
            };
            check_event(event, last, &indexes, &mut id_at, retracted, &mut seen).map_err(|e| e.to_string())?;
            last = event.recorded_at;
        }
        Ok(())
    }

    /// The walk's per-event checks: a sound history passes; an id twice, a retraction of an event
    /// in another stream, of a retraction or of an unknown event, a stream version skipped, and
    /// record time going back are each refused.
    #[test]
    fn the_walk_refuses_duplicate_ids_misplaced_retractions_and_skipped_versions() {
        let events = history();
        assert_eq!(walk(&events), Ok(()));

        let mut twice = events.clone();
        twice[1].id = twice[0].id;
        assert!(walk(&twice).is_err_and(|e| e.contains("appears twice")), "{:?}", walk(&twice));

        let mut elsewhere = events.clone();
        elsewhere[2].stream = elsewhere[1].stream.clone();
        elsewhere[2].stream_version = 2;
        assert!(walk(&elsewhere).is_err_and(|e| e.contains("not in that event's stream")), "{:?}", walk(&elsewhere));

        let mut of_unknown = events.clone();
        if let EventData::EventRetracted(r) = &mut of_unknown[2].data {
            r.event = crate::EventId::new_random();
        }
        assert!(walk(&of_unknown).is_err_and(|e| e.contains("not in that event's stream")));

        let mut of_retraction = events.clone();
        let mut again = events[2].clone();
        again.id = crate::EventId::new_random();
        again.position = again.position.next();
        again.stream_version = 3;
        again.data = EventData::EventRetracted(EventRetracted { event: events[2].id, reason: "igen".into() });
        of_retraction.push(again);
        assert!(walk(&of_retraction).is_err_and(|e| e.contains("not in that event's stream")));

        let mut skipped = events.clone();
        skipped[2].stream_version = 3;
        assert!(walk(&skipped).is_err_and(|e| e.contains("version 3 follows version 1")), "{:?}", walk(&skipped));

        let mut backwards = events;
        backwards[1].recorded_at = Timestamp::from_micros(0);
        assert!(walk(&backwards).is_err_and(|e| e.contains("before the previous")));
    }
}
