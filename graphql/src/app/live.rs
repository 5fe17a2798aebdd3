//! The projections the server answers from, kept up to date with the ledger.
//!
//! The write path hands each committed event straight to [`LiveProjections::apply_committed`] (no
//! second read of what is already in hand), so a command's answer and the next query see it
//! (read-your-writes); a follower task also catches up from the ledger whenever its head moves, for
//! appends made any other way.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ledger::{CompactEvent, Ledger, LedgerError, Position, RecordedEvent};
use projections::{ProjectionError, Projections};

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

/// Projections behind a lock, with the ledger they follow.
#[derive(Debug)]
pub struct LiveProjections {
    ledger: Ledger,
    inner: RwLock<Projections>,
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
        let live = Arc::new(Self { ledger, inner: RwLock::new(start), health, failure_logged });
        live.catch_up()?;
        live.ledger.wait_indexed()?;
        Ok(live)
    }

    /// Applies every event after the projections' head up to the ledger's head (blocking; quick when
    /// only a few events are new).
    pub fn catch_up(&self) -> Result<Position, ApiError> {
        let mut projections = self.inner.write().map_err(|_| ApiError::internal(&"projections lock poisoned"))?;
        apply_new(&mut projections, &self.ledger).map_err(|e| match e {
            FoldError::Ledger(e) => ApiError::from(e),
            FoldError::Projection(e) => ApiError::internal(&e),
            FoldError::Reader => ApiError::internal(&e),
        })
    }

    /// Applies an event just committed, as the writer handed it back. When it is not the next one
    /// (an append made another way came in between), the projections catch up from the ledger
    /// instead, which includes it. A failure is logged and left to the follower: the event is
    /// stored, and the caller must not be told otherwise.
    pub fn apply_committed(&self, event: Arc<RecordedEvent>) {
        let applied = match self.inner.write() {
            Ok(mut projections) if event.position() <= projections.head().next() => {
                let applied = projections.apply(&event).map_err(FoldError::from);
                spill(&mut projections, &self.ledger);
                applied
            }
            Ok(mut projections) => apply_new(&mut projections, &self.ledger).map(|_| ()),
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
mod tests {
    use ledger::{LedgerConfig, Position};
    use projections::Projections;

    use super::{apply_new, fold_pipelined};

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
