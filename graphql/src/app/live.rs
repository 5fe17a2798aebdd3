//! The projections the server answers from, kept up to date with the ledger.
//!
//! The write path hands each committed event straight to [`LiveProjections::apply_committed`] (no
//! second read of what is already in hand), so a command's answer and the next query see it
//! (read-your-writes); a follower task also catches up from the ledger whenever its head moves, for
//! appends made any other way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ledger::{CompactEvent, Ledger, LedgerError, Position, RecordedEvent};
use projections::{ProjectionError, Projections};
use tokio::sync::watch;

use crate::error::ApiError;

/// Why the ledger could not be folded into projections.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    /// Reading the log failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The projections refused an event (out of order, or a different event at a known position).
    #[error("the ledger could not be folded: {0}")]
    Projection(#[from] ProjectionError),
    /// The thread reading the log ahead of the fold could not be started, or failed.
    #[error("the thread reading the ledger for the fold failed")]
    Reader,
}

impl From<std::io::Error> for FoldError {
    fn from(e: std::io::Error) -> Self {
        FoldError::Ledger(LedgerError::from(e))
    }
}

/// Applies every event after `projections`' head up to the ledger's head (blocking). The one place
/// the server, the importer and `samverkan at` fold the log.
///
/// A long way behind (a server's start, an import's fold of the ledger), reading and decoding run on
/// a thread of their own, a batch ahead of the applying: the two take about as long as each other,
/// so on two cores the fold takes about half the time.
pub(crate) fn apply_new(projections: &mut Projections, ledger: &Ledger) -> Result<Position, FoldError> {
    let from = projections.head().next();
    if ledger.head().position.get().saturating_sub(from.get()) < PIPELINE_FROM {
        for entry in ledger.read_compact_from(from) {
            let (event, compact) = entry?;
            projections.apply_compact(&event, compact)?;
        }
        spill(projections, ledger);
        return Ok(projections.head());
    }
    fold_pipelined(projections, ledger, from, PIPELINE_BATCH)
}

/// Has the projections write the records they hold in memory to a spill file beside the ledger,
/// once those are many (`Projections::spill_records`): a long-running server, a fold of a whole
/// ledger and an import hold the indexes in memory, not every event's bytes. A spill that fails
/// (a full disk) is logged; the records stay in memory.
pub(crate) fn spill(projections: &mut Projections, ledger: &Ledger) {
    let dir = ledger.dir().parent().unwrap_or(ledger.dir());
    if let Err(e) = projections.spill_records(dir) {
        tracing::warn!(error = %e, dir = %dir.display(), "the projections' records could not be spilled to disk; they stay in memory");
    }
}

/// [`apply_new`]'s fold with reading and decoding on a thread of their own, `batch` events ahead.
fn fold_pipelined(
    projections: &mut Projections,
    ledger: &Ledger,
    from: Position,
    batch: usize,
) -> Result<Position, FoldError> {
    // Room for every event up to the head as of now: the indexes then never grow (and rehash)
    // during the fold.
    let events = ledger.head().position.get().saturating_sub(from.get()).saturating_add(1);
    projections.reserve(usize::try_from(events).unwrap_or(0));
    std::thread::scope(|scope| {
        // Two batches in the channel at most: memory stays a few batches, whatever the log's length.
        let (batches, inbox) =
            std::sync::mpsc::sync_channel::<Result<Vec<(RecordedEvent, CompactEvent)>, LedgerError>>(2);
        let reader = std::thread::Builder::new().name("fold-reader".into()).spawn_scoped(scope, move || {
            let mut events = ledger.read_compact_from(from);
            loop {
                let next: Result<Vec<(RecordedEvent, CompactEvent)>, LedgerError> =
                    events.by_ref().take(batch).collect();
                let last = matches!(&next, Ok(b) if b.len() < batch) || next.is_err();
                // The applier stopped (it failed): nothing more to read for it.
                if batches.send(next).is_err() || last {
                    return;
                }
            }
        })?;
        for batch in inbox {
            for (event, compact) in batch? {
                projections.apply_compact(&event, compact)?;
            }
            spill(projections, ledger);
        }
        // The channel ended: the reader has returned (a panic in it is a bug, reported as one).
        reader.join().map_err(|_| FoldError::Reader)?;
        Ok(projections.head())
    })
}

/// How far behind the ledger [`apply_new`] reads on a thread of its own.
const PIPELINE_FROM: u64 = 16 * 1024;

/// Events per batch handed from the reading thread to the applying one.
const PIPELINE_BATCH: usize = 1024;

/// How many of the events applied last are kept decoded for the subscriptions that follow the
/// head ([`LiveProjections::recent_from`]): four of a subscription's reads (`REPLAY_CHUNK`).
const RECENT: usize = 1024;

/// Projections behind a lock, with the ledger they follow.
#[derive(Debug)]
pub struct LiveProjections {
    ledger: Ledger,
    inner: RwLock<Projections>,
    /// The projections' head, published after every apply: what a subscription following the
    /// head waits for (the ledger's head moves first, at the commit).
    applied: watch::Sender<Position>,
    /// The last applied events, decoded once, in log order without a gap (at most [`RECENT`]): a
    /// thousand subscribers of a new event share these instead of each decoding it again.
    recent: Mutex<VecDeque<Arc<RecordedEvent>>>,
    /// Whether the projections could read every record asked for, without their lock.
    health: projections::Health,
    /// Whether a failure of `health` was logged (once is enough: every answer after it fails).
    failure_logged: std::sync::atomic::AtomicBool,
}

impl LiveProjections {
    /// Folds the whole ledger (blocking), and waits for the ledger's indexes, which a ledger opened
    /// with [`Ledger::open_while_indexing`] rebuilds meanwhile: nothing is served before both are
    /// complete, and an index that could not be rebuilt stops the start.
    pub fn load(ledger: Ledger) -> Result<Arc<Self>, ApiError> {
        Self::load_from(ledger, Projections::new())
    }

    /// [`LiveProjections::load`] from projections of the ledger's first events (a snapshot's):
    /// only the events after them are folded.
    pub fn load_from(ledger: Ledger, start: Projections) -> Result<Arc<Self>, ApiError> {
        let health = start.health_handle();
        let failure_logged = std::sync::atomic::AtomicBool::new(false);
        let applied = watch::Sender::new(start.head());
        let live = Arc::new(Self {
            ledger,
            inner: RwLock::new(start),
            applied,
            recent: Mutex::default(),
            health,
            failure_logged,
        });
        live.catch_up()?;
        live.ledger.wait_indexed()?;
        Ok(live)
    }

    /// Applies every event after the projections' head up to the ledger's head (blocking; quick when
    /// only a few events are new).
    pub fn catch_up(&self) -> Result<Position, ApiError> {
        let mut projections = self.inner.write().map_err(|_| ApiError::internal(&"projections lock poisoned"))?;
        let before = projections.head();
        let folded = apply_new(&mut projections, &self.ledger);
        // What was applied before a failure stays applied, and is published.
        self.publish(&projections, before, None);
        folded.map_err(|e| match e {
            FoldError::Ledger(e) => ApiError::from(e),
            FoldError::Projection(e) => ApiError::internal(&e),
            FoldError::Reader => ApiError::internal(&e),
        })
    }

    /// After the projections' head moved from `before`: keeps the new events in [`Self::recent`]
    /// (`event`, when it is the one new event and already in hand; else decoded once from the
    /// projections) and publishes the head. Called with the write lock held, so that the ring
    /// follows the projections in order.
    fn publish(&self, projections: &Projections, before: Position, event: Option<&Arc<RecordedEvent>>) {
        let head = projections.head();
        if head <= before {
            return;
        }
        let new = match event {
            Some(event) if event.position() == head && before.next() == head => vec![Arc::clone(event)],
            _ => {
                let from = before.get().max(head.get().saturating_sub(RECENT as u64));
                projections.events_after(Position::new(from), RECENT)
            }
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            let follows =
                |e: &Arc<RecordedEvent>| recent.back().is_none_or(|last| last.position().next() == e.position());
            if new.first().is_some_and(|first| !follows(first)) {
                recent.clear();
            }
            recent.extend(new);
            let excess = recent.len().saturating_sub(RECENT);
            recent.drain(..excess);
        }
        self.applied.send_replace(head);
    }

    /// Up to `max` of the last applied events from `from` on, when they are still kept decoded
    /// (`None` when `from` is older than those kept, or not applied yet).
    pub fn recent_from(&self, from: Position, max: usize) -> Option<Vec<Arc<RecordedEvent>>> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let first = recent.front()?.position();
        let skip = usize::try_from(from.get().checked_sub(first.get())?).ok()?;
        (skip < recent.len()).then(|| recent.iter().skip(skip).take(max).cloned().collect())
    }

    /// The projections' head as published after each apply, to wait for it to move.
    pub fn watch_applied(&self) -> watch::Receiver<Position> {
        self.applied.subscribe()
    }

    /// Applies an event just committed, as the writer handed it back. When it is not the next one
    /// (an append made another way came in between), the projections catch up from the ledger
    /// instead, which includes it. A failure is logged and left to the follower: the event is
    /// stored, and the caller must not be told otherwise.
    pub fn apply_committed(&self, event: Arc<RecordedEvent>) {
        let applied = match self.inner.write() {
            Ok(mut projections) if event.position() <= projections.head().next() => {
                let before = projections.head();
                let applied = projections.apply(&event).map_err(FoldError::from);
                spill(&mut projections, &self.ledger);
                self.publish(&projections, before, Some(&event));
                applied
            }
            Ok(mut projections) => {
                let before = projections.head();
                let applied = apply_new(&mut projections, &self.ledger).map(|_| ());
                self.publish(&projections, before, None);
                applied
            }
            Err(_) => {
                tracing::error!("projections lock poisoned");
                return;
            }
        };
        if let Err(e) = applied {
            tracing::error!(error = %e, "projections could not apply a committed event");
        }
    }

    /// [`Projections::health`], without waiting for the projections' lock.
    pub fn health(&self) -> Result<(), ApiError> {
        self.health.check().map_err(|e| {
            if !self.failure_logged.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::error!(error = %e, "the projections cannot read their records; every answer is refused until a restart");
            }
            ApiError::from(e)
        })
    }

    /// Read access for a query.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, Projections>, ApiError> {
        self.inner.read().map_err(|_| ApiError::internal(&"projections lock poisoned"))
    }

    /// Write access, for the write path's speculation (`batch.rs`): whatever it applies on top it
    /// withdraws before it drops the guard, so no reader sees it.
    pub(super) fn write(&self) -> Result<RwLockWriteGuard<'_, Projections>, ApiError> {
        self.inner.write().map_err(|_| ApiError::internal(&"projections lock poisoned"))
    }

    /// Follows the ledger's head until it closes: catches up after every move.
    pub async fn follow(self: Arc<Self>) {
        let mut head = self.ledger.watch_head();
        while head.changed().await.is_ok() {
            let live = self.clone();
            match tokio::task::spawn_blocking(move || live.catch_up()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = ?e, "projections could not catch up"),
                Err(e) => tracing::error!(error = %e, "projection follower failed"),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ledger::{LedgerConfig, Position};
    use projections::Projections;

    use super::{LiveProjections, RECENT, apply_new, fold_pipelined};

    /// A `DecisionRecorded` numbered `i` (decision `d{i}`), for tests that append to the ledger
    /// directly.
    pub(crate) fn decision(i: u64) -> ledger::NewEvent {
        let data = ledger::DecisionRecorded {
            decision: ledger::DecisionId::new(format!("d{i}")).expect("slug"),
            body: ledger::BodyId::new("vis").expect("slug"),
            reference: None,
            paragraph: None,
            subject: format!("decision {i}"),
            summary: None,
        };
        ledger::NewEvent::new(ledger::Date::from_ymd(2022, 6, 13).expect("date"), "tests", data)
    }

    /// `n` decisions appended in one commit; their events as stored.
    fn decisions(ledger: &ledger::Ledger, from: u64, n: u64) -> Vec<ledger::RecordedEvent> {
        let append = (from..from + n).fold(ledger::Append::new(), |append, i| append.with(decision(i)));
        match ledger.append(append).expect("appended") {
            ledger::AppendOutcome::Committed(c) => c.into_iter().map(|c| c.event).collect(),
            ledger::AppendOutcome::Conflict(c) => panic!("conflict {c:?}"),
        }
    }

    fn positions(events: &[std::sync::Arc<ledger::RecordedEvent>]) -> Vec<u64> {
        events.iter().map(|e| e.position().get()).collect()
    }

    #[test]
    fn the_events_applied_last_are_kept_decoded_gaplessly_within_their_bound_and_the_head_is_published() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = ledger::Ledger::open(dir.path(), LedgerConfig::default()).expect("ledger");
        decisions(&ledger, 0, 10);
        let live = LiveProjections::load(ledger.clone()).expect("loaded");
        let applied = live.watch_applied();
        assert_eq!(*applied.borrow(), Position::new(10));
        assert_eq!(live.recent_from(Position::new(1), 100).as_deref().map(positions), Some((1..=10).collect()));
        assert_eq!(live.recent_from(Position::new(8), 2).as_deref().map(positions), Some(vec![8, 9]));
        assert!(live.recent_from(Position::new(11), 10).is_none(), "not applied yet");
        assert!(live.recent_from(Position::new(0), 10).is_none(), "positions count from 1");

        // Appended another way, folded by a catch-up: the ring keeps the newest RECENT, in order.
        decisions(&ledger, 10, RECENT as u64 + 100);
        assert_eq!(*applied.borrow(), Position::new(10), "published only once applied");
        live.catch_up().expect("caught up");
        let head = 10 + RECENT as u64 + 100;
        assert_eq!(*applied.borrow(), Position::new(head));
        let oldest = head - RECENT as u64 + 1;
        let kept = live.recent_from(Position::new(oldest), usize::MAX).expect("kept");
        assert_eq!(positions(&kept), (oldest..=head).collect::<Vec<_>>());
        assert!(live.recent_from(Position::new(oldest - 1), 1).is_none(), "older than the ring");

        // Handed over by the write path: the very event in hand is what subscribers share.
        let event = std::sync::Arc::new(decisions(&ledger, 5000, 1).remove(0));
        live.apply_committed(std::sync::Arc::clone(&event));
        assert_eq!(*applied.borrow(), event.position());
        let newest = live.recent_from(event.position(), 10).expect("kept");
        assert!(std::sync::Arc::ptr_eq(&newest[0], &event));
        assert_eq!(live.recent_from(Position::new(oldest + 1), usize::MAX).map(|k| k.len()), Some(RECENT));
        assert!(live.recent_from(Position::new(oldest), 1).is_none(), "the oldest made room");

        // An event the projections hold already changes nothing.
        live.apply_committed(std::sync::Arc::clone(&event));
        assert_eq!(live.recent_from(Position::new(oldest + 1), usize::MAX).map(|k| k.len()), Some(RECENT));
    }

    #[test]
    fn the_pipelined_fold_gives_the_projections_the_plain_fold_gives() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = ledger::Ledger::open(dir.path(), LedgerConfig::default()).expect("ledger");
        let fixtures = include_str!("../../../fixtures/history.jsonl");
        let lines = ledger::jsonl::read_lines(fixtures.as_bytes(), &mut |_| {}).expect("the fixtures parse");
        ledger::jsonl::import(&ledger, lines).expect("the fixtures import");
        let head = ledger.head().position;
        assert!(head.get() > 100, "the fixtures hold a history");

        let mut plain = Projections::new();
        apply_new(&mut plain, &ledger).expect("plain fold");
        // Batches that do and do not divide the log, from the start and from half-way.
        for batch in [1, 7, 64, head.get() as usize, head.get() as usize + 1] {
            let mut pipelined = Projections::new();
            fold_pipelined(&mut pipelined, &ledger, Position::FIRST, batch).expect("pipelined fold");
            assert_eq!(pipelined.head(), head, "batch {batch}");
            let mut resumed = Projections::new();
            for entry in ledger.read_compact_from(Position::FIRST).take(head.get() as usize / 2) {
                let (event, compact) = entry.expect("event");
                resumed.apply_compact(&event, compact).expect("applied");
            }
            let from = resumed.head().next();
            fold_pipelined(&mut resumed, &ledger, from, batch).expect("resumed fold");
            for p in [&pipelined, &resumed] {
                let got: Vec<_> = p.events_after(Position::new(0), usize::MAX).iter().map(|e| e.hash()).collect();
                let want: Vec<_> = plain.events_after(Position::new(0), usize::MAX).iter().map(|e| e.hash()).collect();
                assert_eq!(got, want, "batch {batch}");
            }
        }
    }
}
