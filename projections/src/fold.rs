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
pub(crate) struct Visible {
    /// The events that count (never an `EventRetracted`).
    pub(crate) events: Vec<std::sync::Arc<RecordedEvent>>,
    /// The positions of the retractions that removed events from this slice: they are part of
    /// why the answer is what it is.
    pub(crate) retractions: Vec<Position>,
}

impl Visible {
    /// Splits a stream's events, already cut at the record-time horizon, into the events that
    /// count at `horizon.at` and the retractions.
    pub(crate) fn of(prefix: &[std::sync::Arc<RecordedEvent>], horizon: Horizon) -> Self {
        Self::split(prefix, |effective| horizon.has_happened(effective))
    }

    /// [`Visible::of`] at a day under evaluation, which notes the effective dates that decide
    /// what has happened by it.
    pub(crate) fn on_day(prefix: &[std::sync::Arc<RecordedEvent>], day: &ValidDay) -> Self {
        Self::split(prefix, |effective| day.reached(effective))
    }

    fn split(prefix: &[std::sync::Arc<RecordedEvent>], has_happened: impl Fn(Date) -> bool) -> Self {
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
            } else if !retracted.contains(&event.id()) && has_happened(event.effective()) {
                visible.events.push(std::sync::Arc::clone(event));
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

/// A valid date under evaluation that notes every comparison made against it, and so learns the
/// interval of dates on which the same evaluation would take the same path.
///
/// Evaluation never looks at the date itself, only through [`ValidDay::reached`] and the helpers
/// built on it; each comparison narrows `[from, until)` to the side of its threshold the date is
/// on. Any date in the final interval answers every comparison the same way, so (the evaluated
/// state and its inputs being equal) it gets the same answer: that is what lets
/// [`crate::materialized`] reuse an answer for every date of its interval. Narrowing more than
/// needed only costs reuse, never correctness.
#[derive(Debug, Clone)]
pub(crate) struct ValidDay {
    day: Date,
    /// The first day of the interval (`None`: unbounded).
    from: std::cell::Cell<Option<Date>>,
    /// The first day after the interval (`None`: unbounded).
    until: std::cell::Cell<Option<Date>>,
}

impl ValidDay {
    /// The date `day`, with nothing compared yet (the whole axis).
    pub(crate) fn new(day: Date) -> Self {
        Self { day, from: std::cell::Cell::new(None), until: std::cell::Cell::new(None) }
    }

    /// Whether `threshold` is on or before the day (`threshold <= day`).
    pub(crate) fn reached(&self, threshold: Date) -> bool {
        if threshold <= self.day {
            if self.from.get().is_none_or(|from| from < threshold) {
                self.from.set(Some(threshold));
            }
            true
        } else {
            if self.until.get().is_none_or(|until| threshold < until) {
                self.until.set(Some(threshold));
            }
            false
        }
    }

    /// Whether the day is on or before `last` (`day <= last`).
    pub(crate) fn on_or_before(&self, last: Date) -> bool {
        if self.day <= last {
            // The interval ends after `last` (nothing follows `Date::MAX`, whose next day saturates).
            if last < Date::MAX {
                self.reached(last.next_day());
            }
            true
        } else {
            self.reached(last.next_day());
            false
        }
    }

    /// How many of `sorted` (ascending) are on or before the day, noting the two neighbours of the
    /// cut (all that decides it).
    pub(crate) fn count_reached(&self, sorted: impl Fn(usize) -> Option<Date>, len: usize) -> usize {
        let mut lo = 0;
        let mut hi = len;
        // Binary search on the raw day; the comparisons that decide the result are then noted.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if sorted(mid).is_some_and(|d| d <= self.day) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if let Some(before) = lo.checked_sub(1).and_then(&sorted) {
            self.reached(before);
        }
        if let Some(after) = sorted(lo) {
            self.reached(after);
        }
        lo
    }

    /// The interval learnt so far: `(from, until)`, `None` for unbounded.
    pub(crate) fn interval(&self) -> (Option<Date>, Option<Date>) {
        (self.from.get(), self.until.get())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::ValidDay;
    use ledger::Date;

    fn day(n: i64) -> Date {
        let mut d = Date::from_ymd(2020, 1, 1).expect("date");
        for _ in 0..n {
            d = d.next_day();
        }
        d
    }

    /// Every comparison made on a day answers the same on every day of the interval it learnt, and
    /// differently just outside it (the interval is not narrower than the comparisons make it).
    #[test]
    fn a_valid_day_learns_the_interval_on_which_every_comparison_agrees() {
        let thresholds = [3, 7, 7, 12, 20];
        let sorted: Vec<Date> = thresholds.iter().map(|t| day(*t)).collect();
        for at in 0..25 {
            let probe = ValidDay::new(day(at));
            let ask = |p: &ValidDay| {
                let mut answers: Vec<bool> = sorted.iter().map(|t| p.reached(*t)).collect();
                answers.extend(sorted.iter().map(|t| p.on_or_before(*t)));
                answers.push(p.count_reached(|i| sorted.get(i).copied(), sorted.len()) == 2);
                answers
            };
            let expected = ask(&probe);
            let (from, until) = probe.interval();
            for other in 0..25 {
                let inside = from.is_none_or(|f| f <= day(other)) && until.is_none_or(|u| day(other) < u);
                let same = ask(&ValidDay::new(day(other))) == expected;
                assert_eq!(inside, same, "asked on day {at}, compared on day {other}: {from:?}..{until:?}");
            }
        }
        // The last date there is: on or before it is every day, and the interval stays open.
        let last = ValidDay::new(Date::MAX);
        assert!(last.on_or_before(Date::MAX));
        assert_eq!(last.interval(), (None, None));
    }
}
