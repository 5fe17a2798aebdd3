//! Materialized agreement timelines: every answer the fold gives is kept with the interval of
//! valid dates it holds on, per record-time cut, so that a later question inside that interval is
//! a lookup (a binary search) instead of a fold.
//!
//! The fold ([`Projections::agreement_by_fold`]) stays the specification; this only remembers its
//! answers, and says exactly when one may be reused:
//!
//! - **Valid time.** The fold sees a valid date only through [`ValidDay`], which notes every
//!   comparison made against it (which events have happened by it, every "from", "until" and "ends
//!   on" of the evaluation, the parent's). The answer holds on the whole interval of dates that
//!   answer all those comparisons the same way. An event effective on day E is one such
//!   comparison, so no answer for a day before E is reused for E or after.
//! - **Record time.** An answer as known at `known` rests on the prefix of each agreement stream it
//!   read (its own, its parents') recorded by then, and on the party streams (the parties' kinds),
//!   and on nothing else. A [`Timeline`] holds the length of each of those prefixes and the number
//!   of party events; a question as known at another instant reuses it only if every one of them
//!   is the same then. Stream prefixes never change (the log only grows and record time never
//!   decreases), so an event recorded later – a late-recorded decision, a retraction – makes a new
//!   cut for the instants at and after its recording and leaves every earlier cut as it was.
//!
//! `apply` does not touch this (it stays O(1)); a new event simply makes the next question on its
//! stream miss, fold, and start the stream's new timeline. Memory is bounded: each agreement keeps
//! the timeline of one cut (the one asked last), a timeline at most [`SPANS_PER_TIMELINE`] spans,
//! and all timelines together about [`BYTES`] of kept views (a span whose answer equals its
//! neighbour's shares the neighbour's view); past a bound, the timelines are dropped and rebuilt by
//! the questions that follow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ledger::{AgreementId, Date, PartyId, PartyKind, Timestamp};

use crate::agreement::AgreementView;
use crate::fold::ValidDay;
use crate::store::Projections;

/// The most spans one agreement's timeline keeps (past it, it starts over).
pub(crate) const SPANS_PER_TIMELINE: usize = 64;

/// About how many bytes of kept views all timelines may hold together (see [`weight`]). A view is
/// 1–4 KiB with its parties, so this holds every agreement of the 1M-event benchmark (16,959) on a
/// date with room to spare. Past it, every timeline is dropped.
pub(crate) const BYTES: usize = 64 << 20;

/// About how many bytes a kept view takes (its heap included; strings estimated).
fn weight(view: &AgreementView) -> usize {
    use std::mem::size_of;
    size_of::<AgreementView>()
        + view.title.len()
        + view.versions.len() * (size_of::<crate::agreement::VersionView>() + 96)
        + view.parties.len() * (size_of::<crate::agreement::Participation>() + 24)
        + view.pending_parties.len() * 48
        + view.statutory_basis.len() * 48
        + view
            .interpretations
            .iter()
            .map(|i| size_of::<crate::agreement::Interpretation>() + i.text.len())
            .sum::<usize>()
        + view.because.len() * size_of::<ledger::Position>()
}

/// How the fold learns the parties' kinds.
pub(crate) enum Kinds {
    /// Looked up for each answer, for its parties of interest.
    Single,
    /// Every party's kind, looked up once when the first answer has to be folded (a county-wide
    /// list), then shared.
    Lazy(Option<HashMap<PartyId, PartyKind>>),
}

/// One answer and the valid dates it holds on: `from <= at < until` (`None`: unbounded).
#[derive(Debug)]
struct Span {
    from: Option<Date>,
    until: Option<Date>,
    view: Option<Arc<AgreementView>>,
    /// What keeping `view` costs here: 0 when it is shared with a neighbour.
    bytes: usize,
}

impl Span {
    fn holds_on(&self, at: Date) -> bool {
        self.from.is_none_or(|from| from <= at) && self.until.is_none_or(|until| at < until)
    }
}

/// An agreement stream an answer read, and the length of its prefix in the answer's cut.
#[derive(Debug)]
struct Dep {
    id: AgreementId,
    /// The stream's number, once it has events (so that checking a cut needs no name lookup).
    stream: Option<u32>,
    cut: usize,
}

impl Dep {
    fn new(projections: &Projections, (id, cut): (AgreementId, usize)) -> Self {
        let stream = projections.entity_stream("agreement", id.as_str());
        Self { id, stream, cut }
    }

    /// Whether the stream has the same prefix as known at `known`.
    fn holds(&self, projections: &Projections, known: Timestamp) -> bool {
        let stream = self.stream.or_else(|| projections.entity_stream("agreement", self.id.as_str()));
        stream.map_or(0, |list| projections.stream_cut(list, known)) == self.cut
    }
}

/// The answers of one agreement for one record-time cut.
#[derive(Debug)]
struct Timeline {
    /// Every agreement stream an answer read (its own first, then its parents').
    deps: Vec<Dep>,
    /// How many party events this cut has (the parties' kinds).
    party_epoch: usize,
    /// The answers, ordered by `from` (spans may overlap, where they agree).
    spans: Vec<Span>,
}

impl Timeline {
    /// Whether this timeline is the cut of `known`.
    fn is_cut_of(&self, projections: &Projections, known: Timestamp) -> bool {
        self.party_epoch == projections.party_epoch(known) && self.deps.iter().all(|dep| dep.holds(projections, known))
    }

    /// The answer on `at`, if a span holds it.
    fn answer(&self, at: Date) -> Option<&Span> {
        let after = self.spans.partition_point(|s| s.from.is_none_or(|from| from <= at));
        // Spans that start on or before `at`, nearest first; the nearest usually holds it.
        self.spans[..after].iter().rev().take(2).find(|s| s.holds_on(at))
    }

    /// The bytes of the views this timeline keeps (a view shared by neighbours counted once).
    fn bytes(&self) -> usize {
        self.spans.iter().map(|s| s.bytes).sum()
    }
}

#[derive(Debug, Default)]
struct Map {
    by_agreement: HashMap<AgreementId, Timeline>,
    /// The bytes of the views over all timelines.
    bytes: usize,
}

/// The materialized timelines of every agreement asked about (behind a lock: answers are given
/// through `&Projections`, by many readers at once).
#[derive(Debug, Default)]
pub(crate) struct Timelines {
    inner: Mutex<Map>,
    /// How many answers a timeline held.
    hits: AtomicU64,
    /// How many times the byte budget dropped every timeline.
    drops: AtomicU64,
}

impl Clone for Timelines {
    /// A clone starts empty: what is materialized is only ever a cache of the fold.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Timelines {
    /// The agreement's view on `at` as known at `known`: from a timeline if one holds it, otherwise
    /// folded and kept.
    pub(crate) fn agreement(
        &self,
        projections: &Projections,
        id: &AgreementId,
        at: Date,
        known: Timestamp,
        kinds: &mut Kinds,
    ) -> Option<Arc<AgreementView>> {
        if let Some(answer) = self.lookup(projections, id, at, known) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return answer;
        }
        let day = ValidDay::new(at);
        let mut deps = Vec::new();
        let all_kinds = match kinds {
            Kinds::Single => None,
            Kinds::Lazy(kinds) => {
                Some(&*kinds.get_or_insert_with(|| projections.party_kinds(projections.parties.all().iter(), known)))
            }
        };
        let view = projections.agreement_view(id, &day, known, 0, all_kinds, &mut deps).map(Arc::new);
        let (from, until) = day.interval();
        self.keep(projections, id, known, deps, Span { from, until, view: view.clone(), bytes: 0 });
        view
    }

    /// How many answers a timeline held (rather than a fold).
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many times the byte budget dropped every timeline.
    pub(crate) fn drops(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }

    /// `Some(answer)` if a timeline of the cut of `known` holds the answer on `at`.
    fn lookup(
        &self,
        projections: &Projections,
        id: &AgreementId,
        at: Date,
        known: Timestamp,
    ) -> Option<Option<Arc<AgreementView>>> {
        // A poisoned lock only means another reader panicked mid-update; the fold still answers.
        let map = self.inner.lock().ok()?;
        let timeline = map.by_agreement.get(id)?;
        if !timeline.is_cut_of(projections, known) {
            return None;
        }
        timeline.answer(at).map(|span| span.view.clone())
    }

    /// Keeps a folded answer: in the agreement's timeline if that is the cut of `known`, otherwise
    /// in a new timeline that replaces it.
    fn keep(
        &self,
        projections: &Projections,
        id: &AgreementId,
        known: Timestamp,
        deps: Vec<(AgreementId, usize)>,
        mut span: Span,
    ) {
        let Ok(mut map) = self.inner.lock() else { return };
        let map = &mut *map;
        let same_cut = map.by_agreement.get(id).is_some_and(|t| t.is_cut_of(projections, known));
        if !same_cut {
            let fresh = Timeline { deps: Vec::new(), party_epoch: projections.party_epoch(known), spans: Vec::new() };
            if let Some(old) = map.by_agreement.insert(id.clone(), fresh) {
                map.bytes = map.bytes.saturating_sub(old.bytes());
            }
        }
        let Some(timeline) = map.by_agreement.get_mut(id) else { return };
        // Invariant: every dep of this answer has the length it has in the timeline's cut (the
        // timeline is the cut of `known`, and the answer was folded as known at `known`); a dep
        // the timeline did not have yet joins it, so that no span is reused once it changes.
        for dep in deps {
            if !timeline.deps.iter().any(|d| d.id == dep.0) {
                timeline.deps.push(Dep::new(projections, dep));
            }
        }
        if timeline.spans.len() >= SPANS_PER_TIMELINE {
            map.bytes = map.bytes.saturating_sub(timeline.bytes());
            timeline.spans.clear();
        }
        let at = timeline.spans.partition_point(|s| s.from <= span.from);
        // An answer equal to a neighbour's (the same state on both sides of a date that changed
        // nothing) shares the neighbour's view.
        let neighbours = [at.checked_sub(1), Some(at)];
        let shared = neighbours
            .into_iter()
            .flatten()
            .filter_map(|i| timeline.spans.get(i)?.view.as_ref())
            .find(|v| span.view.as_ref().is_some_and(|view| Arc::ptr_eq(v, view) || ***v == **view));
        match (shared, &span.view) {
            (Some(shared), _) => span.view = Some(Arc::clone(shared)),
            (None, Some(view)) => span.bytes = weight(view),
            (None, None) => {}
        }
        let adds = span.bytes;
        timeline.spans.insert(at, span);
        map.bytes += adds;
        if map.bytes > BYTES {
            // Dropped after keeping, so that the answer just folded is not lost with the rest.
            self.drops.fetch_add(1, Ordering::Relaxed);
            let kept = map.by_agreement.remove(id);
            map.by_agreement.clear();
            map.bytes = kept.as_ref().map_or(0, Timeline::bytes);
            if let Some(kept) = kept {
                map.by_agreement.insert(id.clone(), kept);
            }
        }
    }
}
