//! The decoded streams kept between queries: a query folds a stream from its events, which the
//! store holds compact, so the events of the streams folded lately are kept decoded, up to a bound.
//!
//! An entry is a whole stream as it was when decoded; a stream that grew since is extended by its
//! new events (a stream only grows, except under a speculation, whose withdrawal forgets the
//! streams it touched). Past the bound everything is dropped, as the materialized timelines do:
//! the next questions decode what they need again.
//!
//! Beside a kept stream, the fold validation asks of it (an agreement's state over everything its
//! stream records, [`AgreementFold`]) is kept too, to be extended by the stream's next events
//! instead of folded again for every event judged. A fold names the last event it folded, so it
//! outlives its stream's decoded events (decoded again, the same events extend it); it goes when
//! its stream is forgotten, and all of them past a bound of their own.

use std::sync::{Arc, Mutex, PoisonError};

use foldhash::HashMap;
use ledger::RecordedEvent;

use crate::agreement::AgreementFold;

/// A stream's decoded events, in stream order. A `Vec` so that the newest event of a stream that
/// no question holds at the moment is added in place.
pub(crate) type Events = Arc<Vec<Arc<RecordedEvent>>>;

/// How many decoded events the cache keeps by default (about 350 bytes each, with their `Arc`).
pub(crate) const MAX_EVENTS: usize = 64 * 1024;

/// How many agreement folds the cache keeps (a few KiB each; an import or a writer asks about a
/// few agreements at a time, one after the other).
const MAX_FOLDS: usize = 512;

/// The cache. Cloning gives an empty one: a clone of the projections may diverge, and stream
/// numbers with it.
#[derive(Default)]
pub(super) struct Decoded {
    inner: Mutex<Inner>,
}

struct Inner {
    streams: HashMap<u32, Events>,
    /// How many events `streams` holds in all.
    events: usize,
    /// How many it may hold ([`MAX_EVENTS`] unless the owner said otherwise).
    max_events: usize,
    /// Agreement folds by stream number.
    folds: HashMap<u32, AgreementFold>,
}

impl Default for Inner {
    fn default() -> Self {
        Self { streams: HashMap::default(), events: 0, max_events: MAX_EVENTS, folds: HashMap::default() }
    }
}

impl Clone for Decoded {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Decoded")
            .field("streams", &inner.streams.len())
            .field("events", &inner.events)
            .field("folds", &inner.folds.len())
            .finish()
    }
}

impl Decoded {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache holds only what can be decoded again: a panic while it was held leaves it usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `len` events of the stream numbered `list`: kept, or decoded by `decode_from(n)` (the
    /// stream's events from its `n`-th on) after those kept. Decoding runs without the lock.
    pub(super) fn get(
        &self,
        list: u32,
        len: usize,
        decode_from: impl FnOnce(usize) -> Vec<Arc<RecordedEvent>>,
    ) -> Events {
        let kept = {
            let inner = self.lock();
            match inner.streams.get(&list) {
                Some(events) if events.len() == len => return Arc::clone(events),
                Some(events) if events.len() < len => Some(Arc::clone(events)),
                _ => None,
            }
        };
        let from = kept.as_ref().map_or(0, |k| k.len());
        let mut all: Vec<Arc<RecordedEvent>> = Vec::with_capacity(len);
        if let Some(kept) = &kept {
            all.extend(kept.iter().cloned());
        }
        all.extend(decode_from(from));
        let events: Events = Arc::new(all);
        let mut inner = self.lock();
        if events.len() > inner.max_events / 4 {
            // A stream this long would crowd out every other: decoded for this question only.
            return events;
        }
        if inner.events + events.len() > inner.max_events {
            inner.streams.clear();
            inner.events = 0;
        }
        if let Some(old) = inner.streams.insert(list, Arc::clone(&events)) {
            inner.events -= old.len();
        }
        inner.events += events.len();
        events
    }

    /// Adds `event`, the newest of the stream numbered `list`, to the stream's kept events if they
    /// are the `len_before` that came before it: the event just applied is not decoded again by
    /// the next question about its stream (an import asks one for every event it judges).
    pub(super) fn extend(&self, list: u32, len_before: usize, event: Arc<RecordedEvent>) {
        let mut inner = self.lock();
        let Some(kept) = inner.streams.get_mut(&list) else {
            // A new stream (a decision's, say, which the next event cites) is kept from its first.
            if len_before == 0 && inner.events < inner.max_events {
                inner.streams.insert(list, Arc::new(vec![event]));
                inner.events += 1;
            }
            return;
        };
        if kept.len() != len_before {
            return;
        }
        match Arc::get_mut(kept) {
            // No question holds the stream's events now: the event is added in place.
            Some(all) => all.push(event),
            None => {
                let mut all = Vec::with_capacity(len_before + 1);
                all.extend(kept.iter().cloned());
                all.push(event);
                *kept = Arc::new(all);
            }
        }
        inner.events += 1;
    }

    /// Takes the agreement fold kept for the stream numbered `list`, to extend or replace it and
    /// keep it again ([`Decoded::keep_fold`]) without holding the lock meanwhile.
    pub(super) fn take_fold(&self, list: u32) -> Option<AgreementFold> {
        self.lock().folds.remove(&list)
    }

    /// Keeps `fold` for the stream numbered `list`.
    pub(super) fn keep_fold(&self, list: u32, fold: AgreementFold) {
        let mut inner = self.lock();
        if inner.folds.len() >= MAX_FOLDS {
            inner.folds.clear();
        }
        inner.folds.insert(list, fold);
    }

    /// Keeps at most `max_events` decoded events from now on (forgetting every one kept if more
    /// are).
    pub(super) fn bound(&self, max_events: usize) {
        let mut inner = self.lock();
        inner.max_events = max_events;
        if inner.events > max_events {
            inner.streams.clear();
            inner.events = 0;
        }
    }

    /// How many decoded events are kept (for the tests).
    #[cfg(test)]
    pub(super) fn events(&self) -> usize {
        self.lock().events
    }

    /// Forgets the stream numbered `list`.
    pub(super) fn forget(&self, list: u32) {
        let mut inner = self.lock();
        if let Some(old) = inner.streams.remove(&list) {
            inner.events -= old.len();
        }
        inner.folds.remove(&list);
    }

    /// Forgets every stream numbered `first` or higher.
    pub(super) fn forget_from(&self, first: u32) {
        let mut inner = self.lock();
        let gone: usize = inner.streams.iter().filter(|(list, _)| **list >= first).map(|(_, e)| e.len()).sum();
        inner.streams.retain(|list, _| *list < first);
        inner.events -= gone;
        inner.folds.retain(|list, _| *list < first);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use std::sync::Arc;

    use super::Decoded;
    use ledger::{AgreementKind, Binding};

    use crate::testkit::{Given, drafted, parties, proposed};

    /// Past its bound the cache forgets what it kept, and a stream longer than a quarter of it is
    /// decoded for its question only; a lower bound set later forgets at once.
    #[test]
    fn the_cache_keeps_no_more_events_than_its_bound() {
        let mut given = Given::new().parties(2);
        for n in 0..12 {
            given = given
                .event("2022-01-01", drafted(&format!("a{n}"), AgreementKind::Main, Binding::AllParties, parties(2)));
        }
        let events: Vec<_> = given.chain.events().iter().map(|e| Arc::new(e.clone())).collect();
        let decoded = Decoded::default();
        decoded.bound(8);
        for (list, event) in events.iter().enumerate() {
            decoded.get(list as u32, 1, |_| vec![Arc::clone(event)]);
            assert!(decoded.events() <= 8, "{}", decoded.events());
        }
        let two: Vec<_> = events[..2].to_vec();
        decoded.get(100, 2, |_| two.clone());
        assert!(decoded.get(100, 2, |_| two.clone()).len() == 2 && decoded.events() <= 8);
        let three: Vec<_> = events[..3].to_vec();
        decoded.get(101, 3, |_| three.clone());
        let mut decoded_again = false;
        decoded.get(101, 3, |_| {
            decoded_again = true;
            three.clone()
        });
        assert!(decoded_again, "a stream of more than a quarter of the bound is not kept");
        decoded.bound(1);
        assert_eq!(decoded.events(), 0);
    }

    #[test]
    fn a_kept_stream_is_extended_by_its_next_event_and_a_new_one_starts_with_its_first() {
        let given = Given::new()
            .parties(2)
            .event("2022-01-01", drafted("hok", AgreementKind::Main, Binding::AllParties, parties(2)))
            .event("2022-01-02", proposed("hok", 1, None, None));
        let events: Vec<_> = given.chain.events().iter().map(|e| Arc::new(e.clone())).collect();
        let (first, rest) = events.split_at(2);
        let decoded = Decoded::default();
        let kept = decoded.get(7, 2, |from| first[from..].to_vec());
        assert_eq!(kept.len(), 2);
        // The third event, added as the stream's newest: found without decoding.
        decoded.extend(7, 2, Arc::clone(&rest[0]));
        let grown = decoded.get(7, 3, |_| panic!("the extended stream is kept whole"));
        assert!(grown.iter().zip(&events).all(|(a, b)| Arc::ptr_eq(a, b)), "the events in stream order");
        // An event that does not follow what is kept (another length, a stream not kept) is not
        // added; the first event of a new stream starts it.
        decoded.extend(7, 2, Arc::clone(&rest[1]));
        decoded.extend(9, 3, Arc::clone(&rest[1]));
        decoded.extend(8, 0, Arc::clone(&rest[2]));
        assert!(Arc::ptr_eq(&decoded.get(7, 3, |_| panic!("unchanged"))[2], &rest[0]));
        assert_eq!(decoded.get(9, 4, |from| events[1 + from..5].to_vec()).len(), 4, "nothing kept for stream 9");
        assert!(Arc::ptr_eq(&decoded.get(8, 1, |_| panic!("kept from its first"))[0], &rest[2]));
    }
}
