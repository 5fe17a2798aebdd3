//! Admission of appends: idempotency, optimistic concurrency, stream versions, record time and
//! sealing into the chain. Pure logic over an `Index`, shared by the durable writer and the in-memory
//! chain, so both produce byte-identical records.

use std::sync::Arc;

use crate::chain::Hash;
use crate::encoding::{Unsealed, seal};
use crate::error::{LedgerError, Result};
use crate::event::{EventData, NewEvent, RecordedEvent, StreamTarget};
use crate::id::{EventId, Position, StreamId};
use crate::time::Timestamp;

/// How far in the future an imported record time may lie (clock skew between machines).
const FUTURE_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;

/// The longest `recordedBy` accepted, in bytes.
const MAX_RECORDED_BY: usize = 200;

/// The end of the log: what the next append chains onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last position, 0 when the log is empty.
    pub position: Position,
    /// The last hash ([`Hash::GENESIS`] when empty).
    pub hash: Hash,
    /// The last record time ([`Timestamp::EPOCH`] when empty).
    pub recorded_at: Timestamp,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Head = Head { position: Position::new(0), hash: Hash::GENESIS, recorded_at: Timestamp::EPOCH };
}

/// One or more events to append atomically, with optional expectations on stream versions.
#[derive(Debug, Clone, Default)]
pub struct Append {
    pub(crate) entries: Vec<Entry>,
    pub(crate) expected: Vec<(StreamId, u64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) event: NewEvent,
    /// Set only by imports: the original record time.
    pub(crate) recorded_at: Option<Timestamp>,
    /// Set only by imports: the line the event came from, and what the line says the ledger will
    /// assign. A restore must reproduce them exactly.
    pub(crate) import: Option<ImportClaims>,
}

/// What an exported line says about where its event sits in the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImportClaims {
    pub(crate) line: usize,
    pub(crate) position: Option<Position>,
    pub(crate) stream: Option<StreamId>,
    pub(crate) stream_version: Option<u64>,
    pub(crate) prev_hash: Option<Hash>,
    pub(crate) hash: Option<Hash>,
}

impl ImportClaims {
    /// Checks a sealed event against the claims.
    fn check(&self, event: &RecordedEvent) -> Result<()> {
        let mismatch = |field: &str, claimed: String, actual: String| {
            Err(LedgerError::Import {
                line: self.line,
                reason: format!("{field} is {claimed} in the file but would be {actual} in this ledger"),
            })
        };
        if let Some(p) = self.position.filter(|p| *p != event.position) {
            return mismatch("position", p.to_string(), event.position.to_string());
        }
        if let Some(s) = self.stream.as_ref().filter(|s| **s != event.stream) {
            return mismatch("stream", s.to_string(), event.stream.to_string());
        }
        if let Some(v) = self.stream_version.filter(|v| *v != event.stream_version) {
            return mismatch("streamVersion", v.to_string(), event.stream_version.to_string());
        }
        if let Some(h) = self.prev_hash.filter(|h| *h != event.prev_hash) {
            return mismatch("prevHash", h.to_string(), event.prev_hash.to_string());
        }
        if let Some(h) = self.hash.filter(|h| *h != event.hash) {
            return mismatch("hash", h.to_string(), event.hash.to_string());
        }
        Ok(())
    }
}

impl Append {
    /// An empty append.
    pub fn new() -> Self {
        Self::default()
    }

    /// An append of one event.
    pub fn one(event: NewEvent) -> Self {
        Self::new().with(event)
    }

    /// Adds an event; the ledger sets its record time.
    pub fn with(mut self, event: NewEvent) -> Self {
        self.entries.push(Entry { event, recorded_at: None, import: None });
        self
    }

    /// Adds an event carrying its original record time (restore, backfill). It is rejected if it
    /// would make record time go backwards, or lies in the future.
    pub fn with_imported(mut self, event: NewEvent, recorded_at: Option<Timestamp>) -> Self {
        self.entries.push(Entry { event, recorded_at, import: None });
        self
    }

    /// Adds a line of a JSON Lines import.
    pub(crate) fn with_import_line(
        mut self,
        event: NewEvent,
        recorded_at: Option<Timestamp>,
        claims: ImportClaims,
    ) -> Self {
        self.entries.push(Entry { event, recorded_at, import: Some(claims) });
        self
    }

    /// Requires `stream` to be at `version` (0: the stream does not exist yet) before this append;
    /// otherwise the append stores nothing and returns [`AppendOutcome::Conflict`].
    pub fn expect_version(mut self, stream: StreamId, version: u64) -> Self {
        self.expected.push((stream, version));
        self
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One event of a successful append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The event as stored.
    pub event: RecordedEvent,
    /// True if an event with this id was already stored (an idempotent retry): nothing new was
    /// written for it and `event` is the original.
    pub already_stored: bool,
}

/// A lost optimistic-concurrency race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConflict {
    /// The stream.
    pub stream: StreamId,
    /// The version the caller expected.
    pub expected: u64,
    /// The version it is at.
    pub actual: u64,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Every event is stored (newly, or already before), in request order.
    Committed(Vec<Committed>),
    /// A stream was not at the expected version; nothing was stored.
    Conflict(VersionConflict),
}

/// What the sequencer needs to know about what is already stored.
pub(crate) trait Index {
    /// The current version of a stream (0 if it has no events).
    fn stream_version(&self, stream: &StreamId) -> Result<u64>;
    /// The stored event with this id.
    fn find(&self, id: EventId) -> Result<Option<RecordedEvent>>;
}

/// The maps of an [`Overlay`]: foldhash, as the ledger's indexes (`store/indexes.rs`); SipHash
/// was a tenth of the writer's time in an import (BENCHMARKS.md, session 18).
type Map<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// An index over a base index plus events admitted but not yet written.
#[derive(Debug)]
pub(crate) struct Overlay<'a, I: Index> {
    base: &'a I,
    versions: Map<StreamId, u64>,
    /// The events admitted, shared with their [`Sealed`] records.
    events: Map<EventId, Arc<RecordedEvent>>,
}

impl<'a, I: Index> Overlay<'a, I> {
    pub(crate) fn new(base: &'a I) -> Self {
        Self::with_capacity(base, 0)
    }

    /// An overlay with room for `events` admissions.
    fn with_capacity(base: &'a I, events: usize) -> Self {
        let hasher = foldhash::fast::RandomState::default();
        Self {
            base,
            versions: Map::with_capacity_and_hasher(events, hasher.clone()),
            events: Map::with_capacity_and_hasher(events, hasher),
        }
    }

    fn record(&mut self, event: &Arc<RecordedEvent>) {
        self.versions.insert(event.stream.clone(), event.stream_version);
        self.events.insert(event.id, Arc::clone(event));
    }

    /// What this overlay admitted, without its base.
    fn into_parts(self) -> (Map<StreamId, u64>, Map<EventId, Arc<RecordedEvent>>) {
        (self.versions, self.events)
    }
}

impl<I: Index> Index for Overlay<'_, I> {
    fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        match self.versions.get(stream) {
            Some(v) => Ok(*v),
            None => self.base.stream_version(stream),
        }
    }

    fn find(&self, id: EventId) -> Result<Option<RecordedEvent>> {
        match self.events.get(&id) {
            Some(e) => Ok(Some(RecordedEvent::clone(e))),
            None => self.base.find(id),
        }
    }
}

/// A sealed record, ready to write.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    pub(crate) record: Vec<u8>,
    /// The event, shared with the overlay that admitted it.
    pub(crate) event: Arc<RecordedEvent>,
    /// Its Merkle leaf hash (`merkle`), when the admission was for writing ([`Leaves::Compute`]).
    pub(crate) leaf: Option<crate::merkle::TreeHash>,
}

/// Whether an admission computes the Merkle leaves of the events it seals: the writer's does;
/// a preview's, which writes nothing, does not (the leaf – the event's RFC 8785 form hashed – is
/// the largest cost of sealing, and a server previews every mutation it judges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaves {
    /// For writing.
    Compute,
    /// For a preview or an in-memory chain.
    Skip,
}

/// Computes each record's Merkle leaf, in order; a failure names its event.
pub(crate) fn leaves_of(records: &mut [Sealed]) -> std::result::Result<(), (EventId, LedgerError)> {
    for sealed in records {
        let leaf = crate::merkle::event_leaf_hash(&sealed.event).map_err(|e| (sealed.event.id, e))?;
        sealed.leaf = Some(leaf);
    }
    Ok(())
}

/// Computes the Merkle leaves of records sealed without them ([`Leaves::Skip`]), on every core:
/// each leaf is its event's RFC 8785 form hashed, independent of the others, and the largest cost
/// of sealing (issue 18: half of an import's writer thread). An error names the import line of the
/// event, as [`admit`] does.
pub(crate) fn compute_leaves(records: &mut [Sealed], append: &Append) -> Result<()> {
    /// Fewer than this per thread is not worth a thread.
    const PER_THREAD: usize = 256;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8);
    let per = records.len().div_ceil(threads).max(PER_THREAD);
    // An error names its event (`Some`), or is the system's refusal of a thread (`None`).
    let leaves_of = |chunk: &mut [Sealed]| leaves_of(chunk).map_err(|(id, e)| (Some(id), e));
    let outcome = std::thread::scope(|scope| {
        let mut chunks = records.chunks_mut(per);
        let first = chunks.next();
        // A thread the system refuses is an error of the step (refused whole), not a panic.
        let mut others = Vec::new();
        let mut refused = None;
        for chunk in chunks {
            match std::thread::Builder::new().name("ledger-leaves".into()).spawn_scoped(scope, move || leaves_of(chunk))
            {
                Ok(handle) => others.push(handle),
                Err(e) => refused = Some((None, LedgerError::Io(e))),
            }
        }
        let mut outcome = first.map_or(Ok(()), leaves_of);
        for other in others {
            // A panic in a leaf is a bug; it is raised here as it would have been inline.
            let result = other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            outcome = outcome.and(result);
        }
        match refused {
            Some(refused) => outcome.and(Err(refused)),
            None => outcome,
        }
    });
    outcome.map_err(|(id, e)| {
        let Some(id) = id else { return e };
        let claims = append.entries.iter().find(|entry| entry.event.id == Some(id)).and_then(|e| e.import.as_ref());
        match claims {
            Some(claims) if !matches!(e, LedgerError::Import { .. }) => {
                LedgerError::Import { line: claims.line, reason: e.to_string() }
            }
            _ => e,
        }
    })
}

/// The result of admitting one append.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) outcome: AppendOutcome,
    /// The new records to write (empty for a conflict or a pure retry).
    pub(crate) sealed: Vec<Sealed>,
}

/// Admits one append on top of `overlay` and `head`. On success the overlay and head include the
/// new events; on any error or conflict both are unchanged.
pub(crate) fn admit<I: Index>(
    overlay: &mut Overlay<'_, I>,
    head: &mut Head,
    append: &Append,
    now: Timestamp,
    leaves: Leaves,
) -> Result<Admitted> {
    let mut local = Overlay::with_capacity(&*overlay, append.entries.len());
    let mut local_head = *head;
    let mut results: Vec<Committed> = Vec::with_capacity(append.entries.len());
    let mut sealed = Vec::new();
    let mut new_count = 0;

    // Idempotency first: an event whose id is stored already is answered with the original, even if
    // the caller's expected version has moved on since (that is what a retry after a lost reply
    // looks like).
    let mut ids = Vec::with_capacity(append.entries.len());
    for entry in &append.entries {
        let id = entry.event.id.unwrap_or_else(EventId::new_random);
        ids.push(id);
        if local.find(id)?.is_none() {
            new_count += 1;
        }
    }
    if new_count > 0 {
        for (stream, expected) in &append.expected {
            let actual = local.stream_version(stream)?;
            if actual != *expected {
                let conflict = VersionConflict { stream: stream.clone(), expected: *expected, actual };
                return Ok(Admitted { outcome: AppendOutcome::Conflict(conflict), sealed: Vec::new() });
            }
        }
    }

    for (entry, id) in append.entries.iter().zip(ids) {
        let before = sealed.len();
        admit_entry(&mut local, &mut local_head, entry, id, now, &mut results, &mut sealed)
            .and_then(|()| {
                // The leaf of the event just sealed, if one was and the admission is for writing.
                let grew = sealed.len() > before;
                match sealed.last_mut() {
                    Some(last) if grew && leaves == Leaves::Compute => {
                        last.leaf = Some(crate::merkle::event_leaf_hash(&last.event)?);
                        Ok(())
                    }
                    _ => Ok(()),
                }
            })
            .map_err(|e| match &entry.import {
                Some(claims) if !matches!(e, LedgerError::Import { .. }) => {
                    LedgerError::Import { line: claims.line, reason: e.to_string() }
                }
                _ => e,
            })?;
    }

    let (versions, events) = local.into_parts();
    overlay.versions.extend(versions);
    overlay.events.extend(events);
    *head = local_head;
    Ok(Admitted { outcome: AppendOutcome::Committed(results), sealed })
}

/// Admits one event of an append.
fn admit_entry<I: Index>(
    local: &mut Overlay<'_, I>,
    local_head: &mut Head,
    entry: &Entry,
    id: EventId,
    now: Timestamp,
    results: &mut Vec<Committed>,
    sealed: &mut Vec<Sealed>,
) -> Result<()> {
    {
        if let Some(existing) = local.find(id)? {
            if !same_event(&existing, &entry.event) {
                return Err(LedgerError::IdReused { id, position: existing.position });
            }
            results.push(Committed { event: existing, already_stored: true });
            return Ok(());
        }
        check_recorded_by(&entry.event.recorded_by)?;
        let stream = match entry.event.data.stream() {
            StreamTarget::Stream(stream) => stream,
            StreamTarget::OfEvent(target) => match local.find(target)? {
                Some(t) if !matches!(t.data, EventData::EventRetracted(_)) => t.stream,
                Some(_) => {
                    return Err(LedgerError::InvalidEvent(format!(
                        "event {target} is itself a retraction and cannot be retracted; record the retracted event again instead"
                    )));
                }
                None => return Err(LedgerError::UnknownEvent(target)),
            },
        };
        let recorded_at = record_time(entry.recorded_at, local_head.recorded_at, now)?;
        let stream_version = local.stream_version(&stream)? + 1;
        let position = local_head.position.next();
        let (record, event) = seal(
            Unsealed {
                id,
                position,
                stream,
                stream_version,
                effective: entry.event.effective,
                recorded_at,
                recorded_by: entry.event.recorded_by.clone(),
                source: entry.event.source.clone(),
                data: &entry.event.data,
            },
            local_head.hash,
        )?;
        if let Some(claims) = &entry.import {
            claims.check(&event)?;
        }
        let event = Arc::new(event);
        local.record(&event);
        *local_head = Head { position, hash: event.hash, recorded_at };
        results.push(Committed { event: RecordedEvent::clone(&event), already_stored: false });
        sealed.push(Sealed { record, event, leaf: None });
    }
    Ok(())
}

/// Whether a stored event is the same as a proposed one (for idempotent retries).
fn same_event(stored: &RecordedEvent, proposed: &NewEvent) -> bool {
    stored.effective == proposed.effective
        && stored.recorded_by == proposed.recorded_by
        && stored.source == proposed.source
        && stored.data == proposed.data
}

fn check_recorded_by(recorded_by: &str) -> Result<()> {
    if recorded_by.trim().is_empty() || recorded_by.len() > MAX_RECORDED_BY || recorded_by.chars().any(char::is_control)
    {
        return Err(LedgerError::InvalidEvent(format!(
            "recordedBy must be 1–{MAX_RECORDED_BY} bytes of printable text, got {recorded_by:?}"
        )));
    }
    Ok(())
}

/// Record time: set by the ledger from its clock, but never before the head's (a clock that steps
/// back does not make record time decrease). An import may carry the original record time, which
/// must not be before the head's nor in the future.
fn record_time(given: Option<Timestamp>, head: Timestamp, now: Timestamp) -> Result<Timestamp> {
    match given {
        None => Ok(now.max(head)),
        Some(t) if t < head => Err(LedgerError::RecordTimeBackwards { given: t, head }),
        Some(t) if t.as_micros() > now.as_micros().saturating_add(FUTURE_SKEW_MICROS) => {
            Err(LedgerError::RecordTimeInFuture { given: t, now })
        }
        Some(t) => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_computed_on_every_core_are_the_leaves_computed_one_by_one() {
        use crate::{PartyId, PartyKind, PartyRegistered};
        let mut append = Append::new();
        for i in 0..1_000 {
            let party = PartyId::new(format!("kommun-{i}")).expect("an id");
            let data =
                PartyRegistered { party, name: format!("Kommun {i} – Södertälje"), kind: PartyKind::Municipality };
            let mut event = NewEvent::new(crate::Date::from_ymd(2022, 1, 1).expect("a date"), "test", data);
            event.id = Some(EventId::new_random());
            append = append.with(event);
        }
        let index = crate::memory::MemoryIndex::default();
        let now = Timestamp::from_micros(1_700_000_000_000_000);
        let sealed = |leaves| {
            let mut head = Head::EMPTY;
            admit(&mut Overlay::new(&index), &mut head, &append, now, leaves).expect("admitted").sealed
        };
        let one_by_one = sealed(Leaves::Compute);
        let mut parallel = sealed(Leaves::Skip);
        assert!(parallel.iter().all(|s| s.leaf.is_none()));
        compute_leaves(&mut parallel, &append).expect("leaves");
        assert_eq!(parallel.len(), 1_000);
        for (a, b) in one_by_one.iter().zip(&parallel) {
            assert_eq!(a.event.id, b.event.id);
            assert!(a.leaf.is_some());
            assert_eq!(a.leaf, b.leaf, "position {}", a.event.position);
        }
    }

    #[test]
    fn record_time_never_goes_backwards() {
        let head = Timestamp::from_micros(1_000);
        assert_eq!(record_time(None, head, Timestamp::from_micros(500)).ok(), Some(head));
        assert_eq!(record_time(None, head, Timestamp::from_micros(2_000)).ok(), Some(Timestamp::from_micros(2_000)));
        assert!(matches!(
            record_time(Some(Timestamp::from_micros(999)), head, Timestamp::from_micros(5_000)),
            Err(LedgerError::RecordTimeBackwards { .. })
        ));
        assert_eq!(record_time(Some(head), head, Timestamp::from_micros(5_000)).ok(), Some(head));
        assert!(matches!(
            record_time(Some(Timestamp::from_micros(10 * 60 * 1_000_000)), head, Timestamp::from_micros(0)),
            Err(LedgerError::RecordTimeInFuture { .. })
        ));
    }
}
