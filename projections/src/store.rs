//! The store: every applied event indexed by stream, plus the lists of known entities.
//!
//! `apply` only indexes (pushes an `Arc` onto its stream's list and notes new ids), so it is O(1)
//! and pure. Queries fold only the streams they need, cut at the record-time horizon by binary
//! search (record time never decreases along the log, so "recorded by T" is a prefix of every
//! stream).
//!
//! Streams are numbered in first-seen order, and lookups go by name without parsing a `StreamId`.
//! Every event is kept in log order in its compact form (the ledger's record bytes, about a quarter
//! of the decoded event: issue 19), so the server answers `because`, `history` and event lookups
//! from memory instead of reading the ledger again; a stream's events are decoded when a query
//! folds it, and the decoded streams are kept in a bounded cache (`decoded.rs`).

use std::collections::BTreeSet;

use std::sync::Arc;

use ledger::{
    AgreementEvent, AgreementId, BodyId, ByStream, CaseEvent, CaseId, CompactEvent, Date, DecisionId, DutyId,
    EventData, EventId, GroupEvent, GroupId, PartyEvent, PartyId, Position, ProblemEvent, ProblemId, RecordedEvent,
    StreamId, Timestamp,
};

use crate::error::{ProjectionError, Result};
use crate::fold::{Horizon, Visible};
use crate::materialized::Timelines;

// Withdraws speculative events index by index: a field added to `Projections` must be withdrawn
// there too (it names every field, so it does not compile until it is).
mod speculation;
pub use speculation::Speculation;

// The decoded streams kept between queries.
mod decoded;
// The projections as bytes, for a start-up that folds only what follows.
mod snapshot;
// Ids numbered in first-seen order, each held once.
mod registry;
// The streams' names and positions, without an allocation per stream.
mod streams;
// Event id → position, the ids read from the compact events.
mod ids;
// The records: a snapshot's left in its file, later ones spilled to a file of their own or in memory.
mod records;
// Where each record begins in its file, four bytes each.
mod offsets;
use decoded::{Decoded, Events};

use crate::agreement::{AgreementFold, AgreementState};
use ids::Ids;
use records::Records;
pub(crate) use registry::Registry;
pub use snapshot::SNAPSHOT_FORMAT;
use streams::{Cited, Entities, EntitiesSeed, Lists, Names};

/// The projections of one ledger: feed it every event in log order with [`Projections::apply`],
/// then ask it questions on both time axes.
///
/// Cloning shares the compact events' bytes and copies the indexes (a server judging an import
/// clones its projections once); the clone starts with an empty cache of decoded streams.
#[derive(Debug, Clone, Default)]
pub struct Projections {
    head: u64,
    head_recorded_at: Option<Timestamp>,
    /// The streams' names, numbered in first-seen order: a stream's number indexes `lists`.
    streams: Names,
    /// Each stream's positions, in stream order.
    lists: Lists,
    /// Every event in log order, compact: the event at position `p` is at index `p - 1`.
    log: Records,
    /// What queries look at without decoding, per event in log order: record time, stream, type.
    facts: Vec<Fact>,
    /// Event id → its index in `log`.
    ids: Ids,
    pub(crate) agreements: Registry<AgreementId>,
    pub(crate) parties: Registry<PartyId>,
    pub(crate) groups: Registry<GroupId>,
    pub(crate) cases: Registry<CaseId>,
    pub(crate) problems: Registry<ProblemId>,
    pub(crate) bodies: Entities<BodyId>,
    pub(crate) decisions: Entities<DecisionId>,
    pub(crate) duties: Registry<DutyId>,
    pub(crate) follow_up_years: BTreeSet<i32>,
    /// The record time of every event of a `party/…` stream, in log order (see
    /// [`Projections::party_epoch`]).
    party_recorded: Vec<Timestamp>,
    /// Every event that cites a decision, in log order.
    citations: Vec<Citation>,
    /// The decisions cited, numbered in first-cited order (by their streams in `streams`).
    cited: Cited,
    /// The positions of every retraction, in log order.
    retractions: Vec<u64>,
    /// The agreement answers materialized so far (see [`crate::materialized`]).
    pub(crate) timelines: Timelines,
    /// Streams decoded by earlier queries.
    decoded: Decoded,
}

/// Whether projections could read every record they were asked for ([`Projections::health`]),
/// asked without them.
#[derive(Debug, Clone)]
pub struct Health(Arc<std::sync::OnceLock<String>>);

impl Health {
    /// `Ok`, or why a record could not be read (for good).
    pub fn check(&self) -> Result<()> {
        match self.0.get() {
            Some(reason) => Err(ProjectionError::Unreadable { reason: reason.clone() }),
            None => Ok(()),
        }
    }
}

/// What is known of an event without decoding it.
#[derive(Debug, Clone, Copy)]
struct Fact {
    recorded_at: Timestamp,
    list: u32,
    /// Its type's index in `EventData::TYPES`.
    kind: u8,
}

/// An event that cites a decision: its position, the decision (its number in `cited`), its
/// effective date – 12 bytes (a `(u64, u32, Date)` was 16: 3.3 MB more at a million events, whose
/// 823,398 citations are most of an import's index, issue 18).
///
/// Invariant: fewer than 2^32 events (as for `Fact`).
#[derive(Debug, Clone, Copy)]
struct Citation {
    position: u32,
    decision: u32,
    effective: Date,
}

/// An event's stream and type, without decoding it.
#[derive(Debug, Clone, Copy)]
pub struct EventSummary<'a> {
    /// The event's stream.
    pub stream: &'a str,
    /// Its type's name (`PartyRegistered`, …).
    pub type_name: &'static str,
}

impl Projections {
    /// Empty projections (position 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Projections over a whole log, applied in order.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Result<Self> {
        let mut projections = Self::new();
        for event in events {
            projections.apply(event)?;
        }
        Ok(projections)
    }

    /// The last position applied (0 when empty).
    pub fn head(&self) -> Position {
        Position::new(self.head)
    }

    /// Applies the next event of the log. Pure and O(1): it indexes the event; queries fold.
    ///
    /// An event at or below the head that was applied before (same id) is ignored, so a subscriber
    /// that replays from a slightly earlier position is harmless.
    ///
    /// This encodes the event again into its compact form; a caller that has the stored bytes (as
    /// read from the ledger) should call [`Projections::apply_compact`].
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<()> {
        if self.admit(event)? {
            self.index(event, compact_of(event)?);
        }
        Ok(())
    }

    /// Makes room for `events` more events, for a fold that knows how many it will apply (the
    /// start-up fold: the ledger's head). Only a hint: applying more is correct, only slower.
    pub fn reserve(&mut self, events: usize) {
        self.ids.reserve(events);
        self.log.reserve(events);
        self.facts.reserve(events);
    }

    /// [`Projections::apply`] for an event read from the ledger with its stored bytes.
    ///
    /// Invariant (the caller's): `compact` is `event`'s compact form, as
    /// [`ledger::Ledger::read_compact_from`] gives them.
    pub fn apply_compact(&mut self, event: &RecordedEvent, compact: CompactEvent) -> Result<()> {
        if self.admit(event)? {
            self.index(event, compact);
        }
        Ok(())
    }

    /// [`Projections::apply_compact`] of an event the caller shares: the next question about its
    /// stream finds it decoded (`store/decoded.rs`) instead of decoding its record again.
    ///
    /// Invariant (the caller's): as for [`Projections::apply_compact`].
    pub fn apply_compact_shared(&mut self, event: Arc<RecordedEvent>, compact: CompactEvent) -> Result<()> {
        if self.admit(&event)? {
            self.index(&event, compact);
            if let Some(list) = self.streams.get(event.stream().as_str()) {
                let len = self.lists.get(list).len();
                self.decoded.extend(list, len.saturating_sub(1), event);
            }
        }
        Ok(())
    }

    /// Keeps at most `events` decoded events between questions from now on (by default 65,536:
    /// a county's every event at the size of a real history). An import, which asks about each
    /// stream only while its lines pass, keeps fewer ([`Projections::DECODED_FOR_IMPORT`]).
    pub fn keep_decoded(&mut self, events: usize) {
        self.decoded.bound(events);
    }

    /// The default of [`Projections::keep_decoded`].
    pub const DECODED: usize = decoded::MAX_EVENTS;

    /// What an import keeps decoded: at a million events 16,384 judged as fast as 65,536 and held
    /// 25–32 MB less at the peak (BENCHMARKS.md, session 23); 8,192 another 5–8 MB less, in the
    /// same time within the machine's noise (session 25).
    pub const DECODED_FOR_IMPORT: usize = 8 * 1024;

    /// Spills the records held in memory past `bytes` from now on (by default
    /// [`Projections::SPILL`]): an import, whose peak memory is the point, spills past
    /// [`Projections::SPILL_FOR_IMPORT`] and hands back projections with the default.
    pub fn spill_past(&mut self, bytes: usize) {
        self.log.spill_past(bytes);
    }

    /// The default of [`Projections::spill_past`]: 8 MiB, a county's whole log, which a server then
    /// keeps in memory (its replays and questions read no file; a 20,000-event replay measured the
    /// same either way within this machine's noise, session 25).
    pub const SPILL: usize = records::SPILL_BYTES;

    /// What an import spills past: 2 MiB held a 1M import about 6 MB lower than 8 (session 25).
    pub const SPILL_FOR_IMPORT: usize = 2 << 20;

    /// When the events applied since the last spill hold as many bytes of records in memory as
    /// [`Projections::spill_past`] says, or more, writes them to a spill file in `dir` (created
    /// unlinked: nothing is left behind) and reads them from there from now on (`store/records.rs`), so that the memory of a server or an
    /// import does not grow with the events' bytes. `Ok(true)` when it spilled. A spill that
    /// fails (a full disk) keeps them in memory.
    ///
    /// Never call it under a speculation: what it spills cannot be withdrawn.
    pub fn spill_records(&mut self, dir: &std::path::Path) -> std::io::Result<bool> {
        if !self.log.wants_spill() {
            return Ok(false);
        }
        self.log.spill(dir).map(|()| true)
    }

    /// Whether every record the projections were asked for could be read. Once one could not (a
    /// snapshot's file damaged or unreadable under a running server), this fails for good, and
    /// whoever hands out an answer computed from these projections must ask after computing it
    /// and give this error instead (`store/records.rs`).
    pub fn health(&self) -> Result<()> {
        self.health_handle().check()
    }

    /// [`Projections::health`] of these projections and their clones, to ask without holding them
    /// (a server asks it for every answer it hands out, and must not wait for a writer's lock).
    pub fn health_handle(&self) -> Health {
        Health(self.log.failure_handle())
    }

    /// The applied event at `position`.
    pub fn event(&self, position: Position) -> Option<Arc<RecordedEvent>> {
        let index = usize::try_from(position.get().checked_sub(1)?).ok()?;
        Some(expand(&self.log.get(index)?))
    }

    /// The applied event with this id.
    pub fn event_by_id(&self, id: EventId) -> Option<Arc<RecordedEvent>> {
        Some(expand(&self.log.get(self.ids.get(id, |n| self.log.id_at(n))?)?))
    }

    /// Whether an event with this id is applied.
    pub fn has_event(&self, id: EventId) -> bool {
        self.ids.get(id, |n| self.log.id_at(n)).is_some()
    }

    /// The position of the applied event with this id.
    fn position_of(&self, id: EventId) -> Option<u64> {
        self.ids.get(id, |n| self.log.id_at(n)).map(|index| index as u64 + 1)
    }

    /// The stream and type of the event at `position`, without decoding it.
    pub fn summary(&self, position: Position) -> Option<EventSummary<'_>> {
        let index = usize::try_from(position.get().checked_sub(1)?).ok()?;
        let fact = self.facts.get(index)?;
        let type_name = EventData::TYPES.get(usize::from(fact.kind)).copied()?;
        Some(EventSummary { stream: self.stream_name(fact.list)?, type_name })
    }

    /// Up to `limit` applied events after `after`, in log order.
    pub fn events_after(&self, after: Position, limit: usize) -> Vec<Arc<RecordedEvent>> {
        self.compact_after(after, limit).iter().map(expand).collect()
    }

    /// As [`Projections::events_after`], the events as their record bytes, not decoded.
    pub fn compact_after(&self, after: Position, limit: usize) -> Vec<CompactEvent> {
        let start = usize::try_from(after.get()).unwrap_or(usize::MAX).min(self.log.len());
        self.log.range(start, limit)
    }

    /// The positions of one stream's applied events, in stream order.
    pub fn stream_positions(&self, stream: &StreamId) -> &[u64] {
        self.streams.get(stream.as_str()).map_or(&[], |list| self.lists.get(list))
    }

    /// The ids of `entities`, in the order they were noted.
    pub(crate) fn ids<'a, T: streams::Entity>(&'a self, entities: &'a Entities<T>) -> impl Iterator<Item = T> + 'a {
        entities.ids(&self.streams)
    }

    /// The name of the stream numbered `list`.
    fn stream_name(&self, list: u32) -> Option<&str> {
        self.streams.at(list)
    }

    /// The decoded events of the stream numbered `list`, all of them, from the cache or decoded now.
    fn decoded_list(&self, list: u32) -> Events {
        let positions = self.lists.get(list);
        self.decoded.get(list, positions.len(), |from| {
            positions[from..]
                .iter()
                .filter_map(|p| self.log.get(usize::try_from(p.saturating_sub(1)).ok()?))
                .map(|compact| expand(&compact))
                .collect()
        })
    }

    /// Whether `event` is the next one to index (`Ok(false)`: applied before, ignore it).
    fn admit(&self, event: &RecordedEvent) -> Result<bool> {
        let position = event.position().get();
        if position <= self.head {
            return if self.has_event(event.id()) {
                Ok(false)
            } else {
                Err(ProjectionError::Diverged { position: event.position() })
            };
        }
        if position != self.head + 1 {
            return Err(ProjectionError::OutOfOrder { head: self.head(), got: event.position() });
        }
        if let Some(head) = self.head_recorded_at.filter(|head| event.recorded_at() < *head) {
            return Err(ProjectionError::RecordTimeBackwards { head, got: event.recorded_at() });
        }
        Ok(true)
    }

    /// Indexes an admitted event.
    fn index(&mut self, event: &RecordedEvent, compact: CompactEvent) {
        let name = event.stream().as_str();
        // Invariant: fewer than 2^32 streams (a u32 per event keeps the facts small).
        let list = self.streams.number(name);
        // Invariant: fewer than 256 event types (`EventData::TYPES`).
        let kind = u8::try_from(event.data().type_index()).unwrap_or(u8::MAX);
        self.note_ids(event.data(), list);
        if name.starts_with("party/") {
            self.party_recorded.push(event.recorded_at());
        }
        let position = event.position().get();
        if let Some(decision) = event.data().cited_decision() {
            let number = self.cited.number(decision.as_str(), &self.streams);
            // Invariant: fewer than 2^32 events (each is indexed in memory).
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            self.citations.push(Citation { position, decision: number, effective: event.effective() });
        }
        if let EventData::EventRetracted(_) = event.data() {
            self.retractions.push(position);
        }
        // Invariant: fewer than 2^32 events (each is indexed in memory).
        self.ids.insert(event.id(), u32::try_from(self.log.len()).unwrap_or(u32::MAX));
        self.head = position;
        self.head_recorded_at = Some(event.recorded_at());
        self.lists.push(list, position);
        self.facts.push(Fact { recorded_at: event.recorded_at(), list, kind });
        self.log.push(compact);
    }

    /// Notes the entity ids an event introduces, so that list queries know what to fold. The
    /// decisions and the bodies (most of a county's entities) are noted by the number of their
    /// stream (numbered `list`), whose name holds the id (`streams.rs`).
    ///
    /// An id is noted by the event that creates its entity, not by whatever event of its stream comes
    /// first, so the lists keep their order of creation. Each stream with a list is matched over all
    /// its own events, so a new event type makes the compiler ask whether it introduces an id.
    fn note_ids(&mut self, data: &EventData, list: u32) {
        // A decision's or a body's stream holds only its own events (and retractions of them, which
        // come after): its first event is the one that introduces it.
        let new_stream = self.lists.get(list).is_empty();
        match data.by_stream() {
            ByStream::Party(e) => match e {
                PartyEvent::Registered(e) => self.parties.note(&e.party),
                PartyEvent::DistrictRegistered(_) => {}
            },
            ByStream::Agreement(e) => match e {
                AgreementEvent::Drafted(e) => self.agreements.note(&e.agreement),
                AgreementEvent::VersionProposed(_)
                | AgreementEvent::VersionDecided(_)
                | AgreementEvent::VersionRecommended(_)
                | AgreementEvent::PartyAdopted(_)
                | AgreementEvent::PartyDeclined(_)
                | AgreementEvent::RequiredPartiesChanged(_)
                | AgreementEvent::VersionPublished(_)
                | AgreementEvent::NoticeGiven(_)
                | AgreementEvent::NoticeWithdrawn(_)
                | AgreementEvent::ContinuationDecided(_)
                | AgreementEvent::Terminated(_)
                | AgreementEvent::Superseded(_)
                | AgreementEvent::InterpretationIssued(_)
                | AgreementEvent::StewardAssigned(_)
                | AgreementEvent::StatutoryBasisCited(_) => {}
            },
            ByStream::Group(e) => match e {
                GroupEvent::Established(e) => self.groups.note(&e.group),
                GroupEvent::MandateChanged(_)
                | GroupEvent::Renamed(_)
                | GroupEvent::MemberAppointed(_)
                | GroupEvent::MemberLeft(_)
                | GroupEvent::Dissolved(_) => {}
            },
            ByStream::Case(e) => match e {
                CaseEvent::Opened(e) => self.cases.note(&e.case),
                CaseEvent::Escalated(_) | CaseEvent::Resolved(_) | CaseEvent::Withdrawn(_) => {}
            },
            ByStream::Problem(e) => match e {
                ProblemEvent::Reported(e) => self.problems.note(&e.problem),
                ProblemEvent::Answered(_) | ProblemEvent::RaisedToVis(_) => {}
            },
            // Any event of a follow-up year makes the year known.
            ByStream::FollowUp(e) => {
                self.follow_up_years.insert(e.year());
            }
            ByStream::Body(_) if new_stream => self.bodies.push(list),
            ByStream::Decision(_) if new_stream => self.decisions.push(list),
            ByStream::Body(_) | ByStream::Decision(_) => {}
            ByStream::Duty(e) => self.duties.note(&e.duty),
            // No list query folds the county stream one entity at a time; a retraction introduces
            // nothing.
            ByStream::County(_) | ByStream::Retraction(_) => {}
        }
    }

    /// The events of a stream visible on the horizon.
    pub(crate) fn visible(&self, stream: &StreamId, horizon: Horizon) -> Visible {
        self.visible_named(stream.as_str(), horizon)
    }

    /// The events of the stream with this name visible on the horizon (none if there is no such
    /// stream, which includes any name that is not a valid stream name).
    fn visible_named(&self, name: &str, horizon: Horizon) -> Visible {
        match self.streams.get(name) {
            Some(list) => {
                let all = self.decoded_list(list);
                let cut = all.partition_point(|e| e.recorded_at() <= horizon.known);
                Visible::of(&all[..cut], horizon)
            }
            None => Visible::default(),
        }
    }

    /// The events of an entity's stream (`agreement`, `party`, …) visible on the horizon.
    pub(crate) fn visible_entity(&self, kind: &str, slug: &str, horizon: Horizon) -> Visible {
        self.visible_named(&entity_name(kind, slug), horizon)
    }

    /// The state of the agreement fold over the events of the stream numbered `list` recorded by
    /// `known`: the kept fold extended, or a new one (see [`crate::agreement::AgreementFold`]).
    pub(crate) fn kept_fold_state(&self, list: u32, known: Timestamp) -> Option<Arc<AgreementState>> {
        let all = self.decoded_list(list);
        let prefix = &all[..recorded_by(&all, known, |e| e.recorded_at())];
        let fold = match self.decoded.take_fold(list) {
            Some(mut kept) => {
                if kept.extend_to(prefix) {
                    kept
                } else {
                    AgreementFold::of(prefix)
                }
            }
            None => AgreementFold::of(prefix),
        };
        let state = fold.state().cloned();
        self.decoded.keep_fold(list, fold);
        state
    }

    /// The events of an entity's stream recorded by `known` (retractions not yet applied): a prefix
    /// of the stream, whose length identifies it.
    pub(crate) fn entity_prefix(&self, kind: &str, slug: &str, known: Timestamp) -> Vec<Arc<RecordedEvent>> {
        match self.streams.get(entity_name(kind, slug).as_str()) {
            Some(list) => {
                let all = self.decoded_list(list);
                all[..recorded_by(&all, known, |e| e.recorded_at())].to_vec()
            }
            None => Vec::new(),
        }
    }

    /// The number of the entity's stream (for [`Projections::stream_cut`]), if it has events.
    pub(crate) fn entity_stream(&self, kind: &str, slug: &str) -> Option<u32> {
        self.streams.get(entity_name(kind, slug).as_str())
    }

    /// How many events of the stream numbered `list` are recorded by `known`.
    pub(crate) fn stream_cut(&self, list: u32, known: Timestamp) -> usize {
        recorded_by(self.lists.get(list), known, |p| self.recorded_at(*p))
    }

    /// The record time of the event at `position` (the earliest there is for one not applied,
    /// which no caller asks for).
    fn recorded_at(&self, position: u64) -> Timestamp {
        usize::try_from(position.saturating_sub(1))
            .ok()
            .and_then(|index| self.facts.get(index))
            .map_or(Timestamp::from_micros(i64::MIN), |fact| fact.recorded_at)
    }

    /// How many events of party streams are recorded by `known`: every party's kind as known at
    /// `known` is decided by that prefix of the party events.
    pub(crate) fn party_epoch(&self, known: Timestamp) -> usize {
        recorded_by(&self.party_recorded, known, |t| *t)
    }

    /// The stored event with this id, if it is recorded by `known` and not retracted by then.
    pub(crate) fn find_event(&self, id: EventId, known: Timestamp) -> Option<(Arc<RecordedEvent>, bool)> {
        let position = self.position_of(id)?;
        let list = self.facts.get(usize::try_from(position.checked_sub(1)?).ok()?)?.list;
        let all = self.decoded_list(list);
        let cut = all.partition_point(|e| e.recorded_at() <= known);
        let prefix = &all[..cut];
        let event = prefix.iter().find(|e| e.id() == id)?;
        let retracted = prefix.iter().any(|e| matches!(e.data(), EventData::EventRetracted(r) if r.event == id));
        Some((Arc::clone(event), retracted))
    }

    /// For every decision, the events citing it that happened by `at` as known at `known` (retracted
    /// events do not count), from the index of citations: nothing is decoded but the retractions.
    #[cfg(test)]
    pub(crate) fn citations(&self, at: Date, known: Timestamp) -> std::collections::HashMap<DecisionId, Vec<Position>> {
        self.citations_where(at, known, |_| true)
            .into_iter()
            .filter_map(|(number, positions)| Some((self.cited.at(number, &self.streams)?.parse().ok()?, positions)))
            .collect()
    }

    /// The number under which a decision's citations are indexed (first cited, first numbered), if
    /// anything ever cited it.
    pub(crate) fn cited_number(&self, decision: &DecisionId) -> Option<u32> {
        self.cited.get(decision.as_str(), &self.streams)
    }

    /// [`Projections::citations`] of the decisions whose cited numbers pass `wanted`, by number:
    /// one pass over the index without a key made per citation.
    pub(crate) fn citations_where(
        &self,
        at: Date,
        known: Timestamp,
        wanted: impl Fn(u32) -> bool,
    ) -> std::collections::HashMap<u32, Vec<Position>> {
        let retracted: std::collections::HashSet<u64> = self
            .retractions
            .iter()
            .take_while(|p| self.recorded_at(**p) <= known)
            .filter_map(|p| match self.event(Position::new(*p))?.data() {
                EventData::EventRetracted(r) => self.position_of(r.event),
                _ => None,
            })
            .collect();
        let mut out: std::collections::HashMap<u32, Vec<Position>> = std::collections::HashMap::new();
        for &Citation { position, decision, effective } in &self.citations {
            let position = u64::from(position);
            if self.recorded_at(position) > known {
                break;
            }
            if effective <= at && wanted(decision) && !retracted.contains(&position) {
                out.entry(decision).or_default().push(Position::new(position));
            }
        }
        out
    }
}

/// The name of an entity's stream.
fn entity_name(kind: &str, slug: &str) -> String {
    let mut name = String::with_capacity(kind.len() + 1 + slug.len());
    name.push_str(kind);
    name.push('/');
    name.push_str(slug);
    name
}

/// The compact form of an event given without its stored bytes (encoded again).
fn compact_of(event: &RecordedEvent) -> Result<CompactEvent> {
    CompactEvent::of(event)
        .map_err(|e| ProjectionError::Unencodable { position: event.position(), reason: e.to_string() })
}

/// The event a compact one stands for.
fn expand(compact: &CompactEvent) -> Arc<RecordedEvent> {
    match compact.expand() {
        Ok(event) => Arc::new(event),
        // Invariant: a compact event's bytes decoded (or were encoded from the event) when it was
        // applied, and decoding is deterministic, so this is memory corrupted under us: there is
        // no answer to give that would not be wrong.
        Err(e) => panic!("a compact event at {} no longer decodes: {e}", compact.position()),
    }
}

/// How many of `items` (in record-time order) are recorded by `known`. Most questions are asked
/// as known now, which takes them all: that is checked first, without a search.
fn recorded_by<T>(items: &[T], known: Timestamp, recorded_at: impl Fn(&T) -> Timestamp) -> usize {
    match items.last() {
        Some(last) if recorded_at(last) > known => items.partition_point(|item| recorded_at(item) <= known),
        _ => items.len(),
    }
}
