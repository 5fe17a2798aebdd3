//! The projections the server answers from, kept up to date with the ledger.
//!
//! The write path hands each committed event straight to [`LiveProjections::apply_committed`] (no
//! second read of what is already in hand), so a command's answer and the next query see it
//! (read-your-writes); a follower task also catches up from the ledger whenever its head moves, for
//! appends made any other way.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ledger::{Ledger, LedgerError, Position, RecordedEvent};
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
}

/// Applies every event after `projections`' head up to the ledger's head (blocking). The one place
/// the server, the importer and `samverkan at` fold the log.
pub(crate) fn apply_new(projections: &mut Projections, ledger: &Ledger) -> Result<Position, FoldError> {
    for event in ledger.read_from(projections.head().next()) {
        projections.apply_owned(event?)?;
    }
    Ok(projections.head())
}

/// Projections behind a lock, with the ledger they follow.
#[derive(Debug)]
pub struct LiveProjections {
    ledger: Ledger,
    inner: RwLock<Projections>,
}

impl LiveProjections {
    /// Folds the whole ledger (blocking).
    pub fn load(ledger: Ledger) -> Result<Arc<Self>, ApiError> {
        let live = Arc::new(Self { ledger, inner: RwLock::new(Projections::new()) });
        live.catch_up()?;
        Ok(live)
    }

    /// Applies every event after the projections' head up to the ledger's head (blocking; quick when
    /// only a few events are new).
    pub fn catch_up(&self) -> Result<Position, ApiError> {
        let mut projections = self.inner.write().map_err(|_| ApiError::internal(&"projections lock poisoned"))?;
        apply_new(&mut projections, &self.ledger).map_err(|e| match e {
            FoldError::Ledger(e) => ApiError::from(e),
            FoldError::Projection(e) => ApiError::internal(&e),
        })
    }

    /// Applies an event just committed, as the writer handed it back. When it is not the next one
    /// (an append made another way came in between), the projections catch up from the ledger
    /// instead, which includes it. A failure is logged and left to the follower: the event is
    /// stored, and the caller must not be told otherwise.
    pub fn apply_committed(&self, event: Arc<RecordedEvent>) {
        let applied = match self.inner.write() {
            Ok(mut projections) if event.position() <= projections.head().next() => {
                projections.apply_shared(event).map_err(FoldError::from)
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
