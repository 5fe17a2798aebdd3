//! The decoded streams kept between queries: a query folds a stream from its events, which the
//! store holds compact, so the events of the streams folded lately are kept decoded, up to a bound.
//!
//! An entry is a whole stream as it was when decoded; a stream that grew since is extended by its
//! new events (a stream only grows, except under a speculation, whose withdrawal forgets the
//! streams it touched). Past the bound everything is dropped, as the materialized timelines do:
//! the next questions decode what they need again.

use std::sync::{Arc, Mutex, PoisonError};

use foldhash::HashMap;
use ledger::RecordedEvent;

/// A stream's decoded events, in stream order.
pub(crate) type Events = Arc<[Arc<RecordedEvent>]>;

/// How many decoded events the cache keeps (about 1 KiB each).
const MAX_EVENTS: usize = 64 * 1024;

/// The cache. Cloning gives an empty one: a clone of the projections may diverge, and stream
/// numbers with it.
#[derive(Default)]
pub(super) struct Decoded {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    streams: HashMap<u32, Events>,
    /// How many events `streams` holds in all.
    events: usize,
}

impl Clone for Decoded {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Decoded").field("streams", &inner.streams.len()).field("events", &inner.events).finish()
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
        let events: Events = all.into();
        if events.len() > MAX_EVENTS / 4 {
            // A stream this long would crowd out every other: decoded for this question only.
            return events;
        }
        let mut inner = self.lock();
        if inner.events + events.len() > MAX_EVENTS {
            inner.streams.clear();
            inner.events = 0;
        }
        if let Some(old) = inner.streams.insert(list, Arc::clone(&events)) {
            inner.events -= old.len();
        }
        inner.events += events.len();
        events
    }

    /// Forgets the stream numbered `list`.
    pub(super) fn forget(&self, list: u32) {
        let mut inner = self.lock();
        if let Some(old) = inner.streams.remove(&list) {
            inner.events -= old.len();
        }
    }

    /// Forgets every stream numbered `first` or higher.
    pub(super) fn forget_from(&self, first: u32) {
        let mut inner = self.lock();
        let gone: usize = inner.streams.iter().filter(|(list, _)| **list >= first).map(|(_, e)| e.len()).sum();
        inner.streams.retain(|list, _| *list < first);
        inner.events -= gone;
    }
}
