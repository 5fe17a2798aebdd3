//! What a query may see: the two time axes, and the slice of a stream visible on them.

use ledger::{Date, EventData, Position, RecordedEvent, Timestamp};

/// The two time axes of a query.
///
/// `known` is record time: only events recorded at or before it count, minus those retracted by a
/// retraction recorded at or before it. `at` is valid time: only events whose effective date is on
/// or before it have happened yet. `at: None` means "whatever their date", which validation uses to
/// see everything the ledger knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Horizon {
    pub(crate) at: Option<Date>,
    pub(crate) known: Timestamp,
}

impl Horizon {
    /// A query at a valid date as known at an instant.
    pub(crate) fn new(at: Date, known: Timestamp) -> Self {
        Self { at: Some(at), known }
    }

    /// Everything recorded by `known`, whatever its effective date.
    pub(crate) fn everything(known: Timestamp) -> Self {
        Self { at: None, known }
    }

    /// Whether an event with this effective date has happened by `at`.
    pub(crate) fn has_happened(&self, effective: Date) -> bool {
        self.at.is_none_or(|at| effective <= at)
    }
}

/// The events of one stream that a query may see, in stream order, retractions already applied.
#[derive(Debug, Default)]
pub(crate) struct Visible<'a> {
    /// The events that count (never an `EventRetracted`).
    pub(crate) events: Vec<&'a RecordedEvent>,
    /// The positions of the retractions that removed events from this slice: they are part of
    /// why the answer is what it is.
    pub(crate) retractions: Vec<Position>,
}

impl<'a> Visible<'a> {
    /// Splits a stream's events, already cut at the record-time horizon, into the events that
    /// count at `horizon.at` and the retractions.
    pub(crate) fn of(prefix: &'a [std::sync::Arc<RecordedEvent>], horizon: Horizon) -> Self {
        // Invariant: a retraction lives in the stream of the event it retracts and is recorded after
        // it, so the retractions that count are exactly those in this record-time prefix.
        let retracted: std::collections::HashSet<ledger::EventId> = prefix
            .iter()
            .filter_map(|e| match e.data() {
                EventData::EventRetracted(r) => Some(r.event),
                _ => None,
            })
            .collect();
        let mut visible = Visible::default();
        for event in prefix {
            if let EventData::EventRetracted(_) = event.data() {
                visible.retractions.push(event.position());
            } else if !retracted.contains(&event.id()) && horizon.has_happened(event.effective()) {
                visible.events.push(event);
            }
        }
        visible
    }

    /// The positions the answer rests on: every visible event and every retraction.
    pub(crate) fn positions(&self) -> Vec<Position> {
        let mut out: Vec<Position> =
            self.events.iter().map(|e| e.position()).chain(self.retractions.iter().copied()).collect();
        out.sort();
        out
    }
}
