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
//! neighbour's shares the neighbour's view). Past the byte bound, the spans asked least recently
//! go until a quarter of the bound is free: a county-wide list asked on more dates than fit keeps
//! the dates asked last, and only the dates that went are folded again (dropping everything, as
//! this did before, made every answer after the bound a fold of the whole county).

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
/// 1–4 KiB with its parties, so this holds every agreement of the 1M-event benchmark (16,959) on
/// about three dates that differ. Past it, the spans asked least recently go.
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
    /// When it was last kept or asked (the timelines' clock): the least recent go first.
    used: u64,
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
    fn answer(&mut self, at: Date) -> Option<&mut Span> {
        let after = self.spans.partition_point(|s| s.from.is_none_or(|from| from <= at));
        // Spans that start on or before `at`, nearest first; the nearest usually holds it.
        self.spans[..after].iter_mut().rev().take(2).find(|s| s.holds_on(at))
    }

    /// Counts each kept view once, on the first span that holds it (after spans went, a view
    /// another span shared may be left on a span that counted nothing); returns the new total.
    fn recount(&mut self) -> usize {
        for i in 0..self.spans.len() {
            let (before, rest) = self.spans.split_at_mut(i);
            let Some(span) = rest.first_mut() else { break };
            span.bytes = match &span.view {
                Some(view) if !before.iter().any(|s| s.view.as_ref().is_some_and(|v| Arc::ptr_eq(v, view))) => {
                    weight(view)
                }
                _ => 0,
            };
        }
        self.bytes()
    }

    /// The bytes of the views this timeline keeps (a view shared by neighbours counted once).
    fn bytes(&self) -> usize {
        self.spans.iter().map(|s| s.bytes).sum()
    }
}

#[derive(Debug)]
struct Map {
    by_agreement: HashMap<AgreementId, Timeline>,
    /// The bytes of the views over all timelines.
    bytes: usize,
    /// Ticks once for every span kept or asked.
    clock: u64,
    /// The byte bound ([`BYTES`]; smaller in tests).
    budget: usize,
}

impl Default for Map {
    fn default() -> Self {
        Self { by_agreement: HashMap::new(), bytes: 0, clock: 0, budget: BYTES }
    }
}

impl Map {
    /// Removes the spans asked least recently until the kept views take at most three quarters
    /// of the budget, never a span used at `keep` or later (the answer being kept). Returns how
    /// many spans went.
    fn evict(&mut self, keep: u64) -> usize {
        let over = self.bytes.saturating_sub(self.budget / 4 * 3);
        // Only spans that count bytes free anything; a span sharing a view goes with its owner
        // when it is as old, and takes over the count when it is newer (`recount`).
        let mut costs: Vec<(u64, usize)> = self
            .by_agreement
            .values()
            .flat_map(|t| t.spans.iter())
            .filter(|s| s.bytes > 0 && s.used < keep)
            .map(|s| (s.used, s.bytes))
            .collect();
        costs.sort_unstable();
        // Every span used before `cutoff` goes: the least recent ones that free enough.
        let mut freed = 0;
        let mut cutoff = 0;
        for (used, bytes) in costs {
            if freed >= over {
                break;
            }
            freed += bytes;
            cutoff = used + 1;
        }
        let mut removed = 0;
        let mut total = 0;
        self.by_agreement.retain(|_, timeline| {
            let before = timeline.spans.len();
            timeline.spans.retain(|s| s.used >= cutoff);
            removed += before - timeline.spans.len();
            if timeline.spans.len() < before {
                timeline.recount();
            }
            total += timeline.bytes();
            !timeline.spans.is_empty()
        });
        self.bytes = total;
        removed
    }
}

/// The materialized timelines of every agreement asked about (behind a lock: answers are given
/// through `&Projections`, by many readers at once).
#[derive(Debug, Default)]
pub(crate) struct Timelines {
    inner: Mutex<Map>,
    /// How many answers a timeline held.
    hits: AtomicU64,
    /// How many spans the byte budget removed.
    evicted: AtomicU64,
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
        self.keep(projections, id, known, deps, Span { from, until, view: view.clone(), bytes: 0, used: 0 });
        view
    }

    /// How many answers a timeline held (rather than a fold).
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many answers the byte budget removed (each one asked again is a fold).
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
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
        let mut map = self.inner.lock().ok()?;
        let map = &mut *map;
        let timeline = map.by_agreement.get_mut(id)?;
        if !timeline.is_cut_of(projections, known) {
            return None;
        }
        let span = timeline.answer(at)?;
        map.clock += 1;
        span.used = map.clock;
        Some(span.view.clone())
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
        map.clock += 1;
        span.used = map.clock;
        let keep = span.used;
        timeline.spans.insert(at, span);
        map.bytes += adds;
        if map.bytes > map.budget {
            // Evicted after keeping, and never the answer just folded.
            let removed = map.evict(keep);
            self.evicted.fetch_add(removed as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use ledger::{AgreementKind, Binding};

    use super::*;
    use crate::testkit::*;

    /// Twelve agreements whose answers differ on 2021-06-01 (a draft), 2022-06-01 (version 1) and
    /// 2023-06-01 (version 2).
    fn county() -> Given {
        let mut given = Given::new().parties(2);
        for i in 0..12 {
            let id = format!("a{i}");
            given = given
                .event("2021-01-01", drafted(&id, AgreementKind::Guideline, Binding::Decision, parties(2)))
                .event("2021-02-01", proposed(&id, 1, None, None))
                .event("2021-03-01", decided(&id, 1, Some("2022-01-01")))
                .event("2022-02-01", proposed(&id, 2, None, None))
                .event("2022-03-01", decided(&id, 2, Some("2023-01-01")));
        }
        given
    }

    /// Asks the county-wide list on `at`, checks it against the fold, and says how many of its
    /// answers a timeline held.
    fn ask(projections: &Projections, at: &str, known: Timestamp) -> u64 {
        let before = projections.materialized_answers();
        let views = projections.agreements_shared(d(at), known);
        let folded = projections.agreements_by_fold(d(at), known);
        assert_eq!(views.len(), 12);
        assert!(views.iter().zip(&folded).all(|(a, b)| **a == *b), "the list on {at} differs from the fold");
        projections.materialized_answers() - before
    }

    #[test]
    fn past_the_budget_the_dates_asked_least_recently_go_and_the_rest_stay() {
        let given = county();
        let known = given.now();
        let mut projections = given.projections();
        // Room for about one and a half dates of views.
        let one_date: usize = projections.agreements_by_fold(d("2022-06-01"), known).iter().map(weight).sum();
        projections.timelines = Timelines::default();
        if let Ok(mut map) = projections.timelines.inner.lock() {
            map.budget = one_date * 3 / 2;
        }
        assert_eq!(ask(&projections, "2021-06-01", known), 0);
        assert_eq!(ask(&projections, "2021-06-01", known), 12, "a date asked again is a lookup");
        assert_eq!(ask(&projections, "2022-06-01", known), 0);
        assert!(projections.timelines.evicted() > 0, "two dates do not fit");
        // The date asked last stayed whole; the one before it went (its spans were the oldest).
        assert_eq!(ask(&projections, "2022-06-01", known), 12);
        assert_eq!(ask(&projections, "2021-06-01", known), 0);
        assert_eq!(ask(&projections, "2023-06-01", known), 0);
        assert_eq!(ask(&projections, "2023-06-01", known), 12);
        let kept = projections.timelines.inner.lock().map(|m| m.bytes).unwrap_or(usize::MAX);
        assert!(kept <= one_date * 3 / 2, "{kept} bytes kept, over the budget");
    }

    #[test]
    fn a_view_shared_by_neighbours_is_counted_once_and_moves_to_the_span_that_stays() {
        let given = county();
        let projections = given.projections();
        let view = Arc::new(projections.agreements_by_fold(d("2022-06-01"), given.now()).remove(0));
        let w = weight(&view);
        let span = |from: &str, until: &str, bytes, used| Span {
            from: Some(d(from)),
            until: Some(d(until)),
            view: Some(Arc::clone(&view)),
            bytes,
            used,
        };
        let timeline = Timeline {
            deps: Vec::new(),
            party_epoch: 0,
            spans: vec![span("2022-01-01", "2022-03-01", w, 1), span("2022-03-01", "2023-01-01", 0, 2)],
        };
        let mut map = Map { budget: 0, bytes: w, clock: 3, ..Map::default() };
        map.by_agreement.insert(aid("a0"), timeline);
        // Over a budget of nothing, the span asked first goes: it held the count of the view, and
        // freeing it is enough, since the view is also the other span's.
        assert_eq!(map.evict(3), 1);
        assert_eq!(map.bytes, w, "the view is still kept, so still counted");
        let left = &map.by_agreement[&aid("a0")].spans;
        assert_eq!((left.len(), left[0].bytes, left[0].used), (1, w, 2));
        // The span being kept never goes.
        assert_eq!(map.evict(2), 0);
    }
}
