//! The queue of commands waiting for the write path's next batch (`batch.rs`), and what each is
//! answered with: kept apart from the combiner so that `App` can hold the queue without importing
//! the combiner that works on `App`.

use std::sync::{Arc, Mutex, PoisonError};

use ledger::{NewEvent, RecordedEvent};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// What [`record`](super::record::record) committed.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The event as stored; the projections hold this very value.
    pub event: Arc<RecordedEvent>,
    /// The command was an idempotent retry: the event was stored before, nothing new was recorded.
    pub already_stored: bool,
}

/// A command waiting to be judged: parsed, its caller authorised.
#[derive(Debug)]
pub(super) struct Pending {
    /// The event, its id set (the caller's, else a fresh one), so that a preview and the append
    /// give it the same id.
    pub(super) event: NewEvent,
    /// Optimistic concurrency on the event's stream.
    pub(super) expected_version: Option<u64>,
    /// Where the answer goes.
    pub(super) reply: oneshot::Sender<Result<Committed, ApiError>>,
}

/// The queue of commands waiting for the next batch.
#[derive(Debug, Default)]
pub(super) struct Queue {
    inner: Mutex<Waiting>,
}

/// What the queue's lock guards.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// The commands, in the order they arrived.
    pub(super) pending: Vec<Pending>,
    /// Whether a combiner task is running (it takes the queue until it finds it empty).
    pub(super) running: bool,
    /// Accepted commands of the batch being committed that were sent to the ledger and whose
    /// outcome has not been taken yet.
    pub(super) at_ledger: usize,
}

impl Queue {
    /// How many commands wait.
    pub(super) fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// How many accepted commands were sent to the ledger and wait for its outcome.
    pub(super) fn at_ledger(&self) -> usize {
        self.lock().at_ledger
    }

    /// The queue, locked.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // The queue is consistent between any two statements, so a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
