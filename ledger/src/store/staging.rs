//! Staged imports: an import of any size, all or nothing, in bounded memory.
//!
//! [`Ledger::stage`] gives a [`Staging`]. Each [`Staging::append`] is one step: the writer admits
//! it after everything staged before it, seals it and writes its chunks and Merkle runs after the
//! head – without moving the head, and with the `staging` mark in `meta` naming the first staged
//! position – and answers at once with the sealed events (for the caller to judge). Nothing staged
//! is visible: every reader cuts at the published head. [`Staging::publish`] moves the head and
//! the tree size over everything staged in one transaction, which the writer's sync stage makes
//! durable before it publishes the head and answers. Dropping a `Staging` unpublished (a rejected
//! line, an error, a panic) removes what it staged.
//!
//! While an import is staged, ordinary appends wait in the writer (parked in arrival order) and
//! are committed after the publish or the removal.
//!
//! A crash before the publish leaves chunks and runs after the head and the mark; the next open
//! removes them (`reclaim`) before it rebuilds the indexes, so a crashed import leaves nothing
//! visible and nothing behind. Chunks after the head without the mark are still refused as
//! corruption by the open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use super::writer::{Kind, Reply, Request};
use super::{Ledger, Trees};
use crate::compact::CompactEvent;
use crate::error::{LedgerError, Result};
use crate::id::Position;
use crate::sequence::{Append, AppendOutcome, Head};

/// The `meta` key marking an import staged after the head: the first staged position.
pub(crate) const MARK: &str = "staging";

/// How many keys one removal batch deletes.
const REMOVE_BATCH: usize = 1024;

/// An import being staged (see the module docs). Dropped without [`Staging::publish`], it removes
/// what it staged.
#[derive(Debug)]
pub struct Staging {
    ledger: Ledger,
    /// Shared with the ledger: one staging at a time.
    open: Arc<AtomicBool>,
    done: bool,
    /// The head the publish will make: the last event staged, or the head staging began at.
    last: Head,
}

impl Ledger {
    /// Begins a staged import (see `store/staging.rs`). Fails with [`LedgerError::InUse`] while
    /// another one is open, and with [`LedgerError::Closed`] on a read-only ledger.
    pub fn stage(&self) -> Result<Staging> {
        if self.shared.requests.is_none() {
            return Err(LedgerError::Closed);
        }
        let open = Arc::clone(&self.shared.staging);
        if open.swap(true, Ordering::AcqRel) {
            return Err(LedgerError::InUse { path: self.dir().to_path_buf() });
        }
        Ok(Staging { ledger: self.clone(), open, done: false, last: self.head() })
    }
}

/// A step sent to the writer and not yet answered ([`Staging::send`]).
#[derive(Debug)]
#[must_use = "a step's answer is what the import judges"]
pub struct StagedStep {
    reply: mpsc::Receiver<Result<(AppendOutcome, Vec<Vec<u8>>)>>,
}

impl Staging {
    /// Asks the writer to publish or abandon, and waits for its answer.
    fn ask(&self, append: Append, kind: Kind) -> Result<AppendOutcome> {
        let (reply, rx) = mpsc::sync_channel(1);
        let requests = self.ledger.shared.requests.as_ref().ok_or(LedgerError::Closed)?;
        requests.send(Request { append, reply: Reply::Blocking(reply), kind })?;
        rx.recv().map_err(|_| LedgerError::Closed)?
    }

    /// Stages `append` after everything staged so far: the events it would store, sealed (with
    /// positions, stream versions and hashes), or the conflict it meets. Not visible, not durable.
    pub fn append(&mut self, append: Append) -> Result<AppendOutcome> {
        let step = self.send(append)?;
        self.receive(step)
    }

    /// Sends `append` to be staged after everything sent before it, without waiting: the writer
    /// seals and writes it while the caller judges the step before (an import's pipeline). Its
    /// answer is [`Staging::receive`]'s; steps are answered in the order they were sent.
    pub fn send(&mut self, append: Append) -> Result<StagedStep> {
        let (reply, rx) = mpsc::sync_channel(1);
        let requests = self.ledger.shared.requests.as_ref().ok_or(LedgerError::Closed)?;
        requests.send(Request { append, reply: Reply::Staged(reply), kind: Kind::Stage })?;
        Ok(StagedStep { reply: rx })
    }

    /// Waits for the answer to a step sent with [`Staging::send`] (see [`Staging::append`]); steps
    /// are received in the order they were sent.
    pub fn receive(&mut self, step: StagedStep) -> Result<AppendOutcome> {
        self.receive_compact(step).map(|(outcome, _)| outcome)
    }

    /// [`Staging::receive`], with the compact form of each new event (those not already stored,
    /// in order): the bytes the writer stored for it, for the caller to keep instead of encoding
    /// the event again (`Projections::apply_compact`).
    pub fn receive_compact(&mut self, step: StagedStep) -> Result<(AppendOutcome, Vec<CompactEvent>)> {
        let (outcome, records) = step.reply.recv().map_err(|_| LedgerError::Closed)??;
        let mut compact = Vec::with_capacity(records.len());
        if let AppendOutcome::Committed(committed) = &outcome {
            let new = committed.iter().filter(|c| !c.already_stored);
            for (committed, record) in new.zip(records) {
                compact.push(CompactEvent::from_bytes(committed.event.position(), record.into())?);
            }
        }
        if let AppendOutcome::Committed(committed) = &outcome {
            if let Some(last) = committed.iter().filter(|c| !c.already_stored).map(|c| &c.event).next_back() {
                self.last = Head { position: last.position(), hash: last.hash(), recorded_at: last.recorded_at() };
            }
        }
        Ok((outcome, compact))
    }

    /// Publishes everything staged in one atomic step and waits until it is durable; returns the
    /// new head.
    pub fn publish(mut self) -> Result<Head> {
        self.done = true;
        self.ask(Append::new(), Kind::Publish)?;
        // Not the ledger's head now: an append that waited for the import may follow it at once.
        Ok(self.last)
    }

    /// Removes everything staged (what dropping the `Staging` does, with its error).
    pub fn abandon(mut self) -> Result<()> {
        self.done = true;
        self.ask(Append::new(), Kind::Abandon).map(|_| ())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.ask(Append::new(), Kind::Abandon) {
                tracing::error!(error = %e, "a staged import could not be removed; the next open reclaims it");
            }
        }
        self.open.store(false, Ordering::Release);
    }
}

/// Removes the chunks after `head` and the Merkle runs after its tree, then the mark (last, so an
/// interrupted removal is finished by the next open).
pub(crate) fn remove_after(trees: &Trees, head: Position) -> Result<()> {
    remove_staged(&trees.chunks, &trees.hashes, &trees.meta, head)
}

/// [`remove_after`] on the trees themselves (the open has no `Trees` yet).
fn remove_staged(chunks: &sled::Tree, hashes: &sled::Tree, meta: &sled::Tree, head: Position) -> Result<()> {
    remove_after_head(chunks, hashes, head)?;
    meta.remove(MARK)?;
    Ok(())
}

/// Removes the chunks after `head` and the Merkle tree's stored hashes after its `head` leaves.
pub(crate) fn remove_after_head(chunks: &sled::Tree, hashes: &sled::Tree, head: Position) -> Result<()> {
    remove_from(chunks, &head.next().to_key())?;
    remove_from(hashes, &tlog_tiles::stored_hash_count(head.get()).to_be_bytes())
}

fn remove_from(tree: &sled::Tree, from: &[u8]) -> Result<()> {
    loop {
        let keys: Vec<sled::IVec> =
            tree.range(from..).keys().take(REMOVE_BATCH).collect::<std::result::Result<_, _>>()?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key);
        }
        tree.apply_batch(batch)?;
    }
}

/// At open, before the indexes are built: removes an import that was staged and never published
/// (a crash, a kill). Returns how many chunks it removed.
pub(crate) fn reclaim(db: &sled::Db, head: Position) -> Result<usize> {
    let meta = db.open_tree("meta")?;
    if meta.get(MARK)?.is_none() {
        return Ok(0);
    }
    let chunks = db.open_tree(super::CHUNKS)?;
    let count = chunks.range(head.next().to_key()..).count();
    remove_staged(&chunks, &db.open_tree(super::HASHES)?, &meta, head)?;
    Ok(count)
}

#[cfg(test)]
mod tests;
