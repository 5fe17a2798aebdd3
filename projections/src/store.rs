//! The store: every applied event indexed by stream, plus the lists of known entities.
//!
//! `apply` only indexes (pushes an `Arc` onto its stream's list and notes new ids), so it is O(1)
//! and pure. Queries fold only the streams they need, cut at the record-time horizon by binary
//! search (record time never decreases along the log, so "recorded by T" is a prefix of every
//! stream).
//!
//! Streams are numbered in first-seen order, and lookups go by name without parsing a `StreamId`.
//! Every event is also kept in log order, so the server answers `because`, `history` and event
//! lookups from memory instead of reading the ledger again.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use ledger::{
    AgreementEvent, AgreementId, BodyId, ByStream, CaseEvent, CaseId, DecisionId, DutyId, EventData, EventId,
    GroupEvent, GroupId, PartyEvent, PartyId, Position, ProblemEvent, ProblemId, RecordedEvent, StreamId, Timestamp,
};

use crate::error::{ProjectionError, Result};
use crate::fold::{Horizon, Visible};
use crate::materialized::Timelines;

// Withdraws speculative events index by index: a field added to `Projections` must be withdrawn
// there too (it names every field, so it does not compile until it is).
mod speculation;
pub use speculation::Speculation;

/// Ids in the order they were first seen.
#[derive(Debug, Clone)]
pub(crate) struct Registry<T> {
    order: Vec<T>,
    seen: HashSet<T>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self { order: Vec::new(), seen: HashSet::default() }
    }
}

impl<T: Clone + Eq + Hash> Registry<T> {
    fn note(&mut self, id: &T) {
        if self.seen.insert(id.clone()) {
            self.order.push(id.clone());
        }
    }

    /// Every id, in first-seen order.
    pub(crate) fn all(&self) -> &[T] {
        &self.order
    }
}

/// The projections of one ledger: feed it every event in log order with [`Projections::apply`],
/// then ask it questions on both time axes.
///
/// Cloning is cheap-ish (events are shared behind `Arc`), so a server can keep a snapshot per
/// request if it wants.
#[derive(Debug, Clone, Default)]
pub struct Projections {
    head: u64,
    head_recorded_at: Option<Timestamp>,
    /// Stream name → index into `lists`.
    streams: HashMap<Box<str>, u32>,
    /// Each stream's events in stream order.
    lists: Vec<Vec<Arc<RecordedEvent>>>,
    /// Every event in log order: the event at position `p` is at index `p - 1`.
    log: Vec<Arc<RecordedEvent>>,
    /// Event id → position.
    position_of: HashMap<EventId, u64>,
    pub(crate) agreements: Registry<AgreementId>,
    pub(crate) parties: Registry<PartyId>,
    pub(crate) groups: Registry<GroupId>,
    pub(crate) cases: Registry<CaseId>,
    pub(crate) problems: Registry<ProblemId>,
    pub(crate) bodies: Registry<BodyId>,
    pub(crate) decisions: Registry<DecisionId>,
    pub(crate) duties: Registry<DutyId>,
    pub(crate) follow_up_years: BTreeSet<i32>,
    /// The record time of every event of a `party/…` stream, in log order (see
    /// [`Projections::party_epoch`]).
    party_recorded: Vec<Timestamp>,
    /// The agreement answers materialized so far (see [`crate::materialized`]).
    pub(crate) timelines: Timelines,
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
    /// This keeps a copy of the event; a caller that owns the event and has no further use for it
    /// should call [`Projections::apply_owned`], which does the same without the copy.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<()> {
        if self.admit(event)? {
            self.index(Arc::new(event.clone()));
        }
        Ok(())
    }

    /// [`Projections::apply`] for an event the caller gives away (as read from the ledger): the
    /// projections keep it as it is instead of a copy.
    pub fn apply_owned(&mut self, event: RecordedEvent) -> Result<()> {
        if self.admit(&event)? {
            self.index(Arc::new(event));
        }
        Ok(())
    }

    /// [`Projections::apply`] for an event already shared (as a writer hands it back after its
    /// commit): the projections keep this very `Arc`.
    pub fn apply_shared(&mut self, event: Arc<RecordedEvent>) -> Result<()> {
        if self.admit(&event)? {
            self.index(event);
        }
        Ok(())
    }

    /// The applied event at `position`.
    pub fn event(&self, position: Position) -> Option<&Arc<RecordedEvent>> {
        let index = usize::try_from(position.get().checked_sub(1)?).ok()?;
        self.log.get(index)
    }

    /// The applied event with this id.
    pub fn event_by_id(&self, id: EventId) -> Option<&Arc<RecordedEvent>> {
        self.event(Position::new(*self.position_of.get(&id)?))
    }

    /// Every applied event after `after`, in log order.
    pub fn events_after(&self, after: Position) -> &[Arc<RecordedEvent>] {
        let start = usize::try_from(after.get()).unwrap_or(usize::MAX).min(self.log.len());
        &self.log[start..]
    }

    /// Every applied event of one stream, in stream order (empty for a stream never seen).
    pub fn stream_events(&self, stream: &StreamId) -> &[Arc<RecordedEvent>] {
        self.streams.get(stream.as_str()).and_then(|list| self.lists.get(*list as usize)).map_or(&[], Vec::as_slice)
    }

    /// Whether `event` is the next one to index (`Ok(false)`: applied before, ignore it).
    fn admit(&self, event: &RecordedEvent) -> Result<bool> {
        let position = event.position().get();
        if position <= self.head {
            return if self.position_of.contains_key(&event.id()) {
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
    fn index(&mut self, event: Arc<RecordedEvent>) {
        self.note_ids(event.data());
        let name = event.stream().as_str();
        let list = match self.streams.get(name) {
            Some(list) => *list,
            None => {
                // Invariant: fewer than 2^32 streams (a u32 per event id keeps the index small).
                let list = u32::try_from(self.lists.len()).unwrap_or(u32::MAX);
                self.lists.push(Vec::new());
                self.streams.insert(name.into(), list);
                list
            }
        };
        if name.starts_with("party/") {
            self.party_recorded.push(event.recorded_at());
        }
        self.position_of.insert(event.id(), event.position().get());
        self.head = event.position().get();
        self.head_recorded_at = Some(event.recorded_at());
        if let Some(events) = self.lists.get_mut(list as usize) {
            events.push(Arc::clone(&event));
        }
        self.log.push(event);
    }

    /// Notes the entity ids an event introduces, so that list queries know what to fold.
    ///
    /// An id is noted by the event that creates its entity, not by whatever event of its stream comes
    /// first, so the lists keep their order of creation. Each stream with a list is matched over all
    /// its own events, so a new event type makes the compiler ask whether it introduces an id.
    fn note_ids(&mut self, data: &EventData) {
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
            ByStream::Body(e) => self.bodies.note(&e.body),
            ByStream::Decision(e) => self.decisions.note(&e.decision),
            ByStream::Duty(e) => self.duties.note(&e.duty),
            // No list query folds the county stream one entity at a time; a retraction introduces
            // nothing.
            ByStream::County(_) | ByStream::Retraction(_) => {}
        }
    }

    /// The events of a stream visible on the horizon.
    pub(crate) fn visible(&self, stream: &StreamId, horizon: Horizon) -> Visible<'_> {
        self.visible_named(stream.as_str(), horizon)
    }

    /// The events of the stream with this name visible on the horizon (none if there is no such
    /// stream, which includes any name that is not a valid stream name).
    fn visible_named(&self, name: &str, horizon: Horizon) -> Visible<'_> {
        match self.streams.get(name).and_then(|list| self.lists.get(*list as usize)) {
            Some(all) => {
                let cut = all.partition_point(|e| e.recorded_at() <= horizon.known);
                Visible::of(&all[..cut], horizon)
            }
            None => Visible::default(),
        }
    }

    /// The events of an entity's stream (`agreement`, `party`, …) visible on the horizon.
    pub(crate) fn visible_entity(&self, kind: &str, slug: &str, horizon: Horizon) -> Visible<'_> {
        let mut name = String::with_capacity(kind.len() + 1 + slug.len());
        name.push_str(kind);
        name.push('/');
        name.push_str(slug);
        self.visible_named(&name, horizon)
    }

    /// The events of an entity's stream recorded by `known` (retractions not yet applied): a prefix
    /// of the stream, whose length identifies it.
    pub(crate) fn entity_prefix(&self, kind: &str, slug: &str, known: Timestamp) -> &[Arc<RecordedEvent>] {
        let mut name = String::with_capacity(kind.len() + 1 + slug.len());
        name.push_str(kind);
        name.push('/');
        name.push_str(slug);
        match self.streams.get(name.as_str()).and_then(|list| self.lists.get(*list as usize)) {
            Some(all) => &all[..recorded_by(all, known, |e| e.recorded_at())],
            None => &[],
        }
    }

    /// The number of the entity's stream (for [`Projections::stream_cut`]), if it has events.
    pub(crate) fn entity_stream(&self, kind: &str, slug: &str) -> Option<u32> {
        let mut name = String::with_capacity(kind.len() + 1 + slug.len());
        name.push_str(kind);
        name.push('/');
        name.push_str(slug);
        self.streams.get(name.as_str()).copied()
    }

    /// How many events of the stream numbered `list` are recorded by `known`.
    pub(crate) fn stream_cut(&self, list: u32, known: Timestamp) -> usize {
        self.lists.get(list as usize).map_or(0, |all| recorded_by(all, known, |e| e.recorded_at()))
    }

    /// How many events of party streams are recorded by `known`: every party's kind as known at
    /// `known` is decided by that prefix of the party events.
    pub(crate) fn party_epoch(&self, known: Timestamp) -> usize {
        recorded_by(&self.party_recorded, known, |t| *t)
    }

    /// The stored event with this id, if it is recorded by `known` and not retracted by then.
    pub(crate) fn find_event(&self, id: EventId, known: Timestamp) -> Option<(&RecordedEvent, bool)> {
        let event = self.event_by_id(id)?;
        let list = self.streams.get(event.stream().as_str())?;
        let all = self.lists.get(*list as usize)?;
        let cut = all.partition_point(|e| e.recorded_at() <= known);
        let prefix = &all[..cut];
        let event = prefix.iter().find(|e| e.id() == id)?;
        let retracted = prefix.iter().any(|e| matches!(e.data(), EventData::EventRetracted(r) if r.event == id));
        Some((event, retracted))
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
