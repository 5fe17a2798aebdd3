//! The migration of a format-1 ledger (`samverkan-ledger/1`: trees `log`, `streams`, `ids`,
//! `merkle`, a sled key per record, index entry and stored hash) to format 2 (`layout`), done by
//! `Ledger::open` when it finds one.
//!
//! In bounded steps, each one sled transaction that also saves the progress in `meta`: the records
//! of up to [`STEP_EVENTS`] events (or [`STEP_BYTES`]) become chunks, then the stored hashes become
//! runs (of at most [`layout::RUN_WRITE_HASHES`]). The head and `tree_size` keep their keys and bytes. Then
//! everything is flushed and synced, and one transaction flips the marker to format 2 and removes
//! the progress; only after that are the old trees dropped. So a crash at any point leaves a valid
//! format-1 ledger (the new trees are ignored by it, and the next open resumes from the saved
//! progress) or a valid format-2 one (whose open drops old trees still left over).
//!
//! The record bytes are copied unchanged, so every hash, proof and checkpoint stays the same; each
//! record is decoded once for its index section (id and stream), which also checks that it belongs
//! at its key.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::durability::Syncer;
use super::layout::{self, Entry};
use super::{CHUNKS, FORMAT_MARKER, HASHES};
use crate::encoding;
use crate::error::{LedgerError, Result};
use crate::id::Position;

/// Format 1's marker under `meta/format`.
pub(super) const V1_MARKER: &[u8] = b"samverkan-ledger/1";

/// Format 1's trees, dropped once the marker says format 2.
const V1_TREES: [&str; 4] = ["log", "streams", "ids", "merkle"];

/// The most events one step converts (the tests take smaller steps, to have several of each kind
/// in a small ledger).
const STEP_EVENTS: usize = if cfg!(test) { 64 } else { 4096 };

/// The most stored hashes one step converts.
const STEP_HASHES: usize = if cfg!(test) { 300 } else { layout::RUN_MAX_HASHES };

/// The most record bytes one step converts (a step of large records stops earlier).
const STEP_BYTES: usize = 8 * 1024 * 1024;

/// `meta` key: the last position already in `chunks`.
const PROGRESS_EVENTS: &str = "migrate_events";

/// `meta` key: how many stored hashes are already in `tree_hashes`.
const PROGRESS_HASHES: &str = "migrate_hashes";

/// Where a migration stops: at the end, or (tests: a crash) after so many transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Until {
    Done,
    #[cfg(test)]
    Transactions(usize),
}

/// Migrates the format-1 ledger in `db` to format 2, syncing with `syncer` (none for the private
/// copy of a read-only open, which only flushes).
pub(super) fn migrate(db: &sled::Db, syncer: Option<&mut Syncer>) -> Result<()> {
    migrate_until(db, syncer, Until::Done).map(|_| ())
}

/// [`migrate`], stopping early as `until` says; returns whether it finished.
pub(super) fn migrate_until(db: &sled::Db, mut syncer: Option<&mut Syncer>, until: Until) -> Result<bool> {
    let started = std::time::Instant::now();
    let meta = db.open_tree("meta")?;
    let log = db.open_tree("log")?;
    let merkle = db.open_tree("merkle")?;
    let chunks = db.open_tree(CHUNKS)?;
    let hashes = db.open_tree(HASHES)?;
    let head = super::read_head(&meta)?;
    let tree_size = super::read_tree_size(&meta)?;
    let total_hashes = tlog_tiles::stored_hash_count(tree_size);
    let mut budget = match until {
        Until::Done => usize::MAX,
        #[cfg(test)]
        Until::Transactions(n) => n,
    };

    let mut done = progress(&meta, PROGRESS_EVENTS)?;
    // The chunks written so far must end where the progress says; anything else (none expected:
    // each step is one transaction with its progress) starts the migration over.
    let chunks_end = match chunks.last()? {
        Some((key, value)) => layout::Chunk::parse(&key, &value)?.end().get() - 1,
        None => 0,
    };
    let mut hashes_done = progress(&meta, PROGRESS_HASHES)?;
    let hashes_end = match hashes.last()? {
        Some((key, value)) => {
            let (first, count) = layout::run_span(&key, &value)?;
            first + count
        }
        None => 0,
    };
    if chunks_end != done || hashes_end != hashes_done || done > head.position.get() {
        tracing::warn!(done, chunks_end, hashes_done, hashes_end, "restarting an inconsistent ledger migration");
        chunks.clear()?;
        hashes.clear()?;
        meta.remove(PROGRESS_EVENTS)?;
        meta.remove(PROGRESS_HASHES)?;
        (done, hashes_done) = (0, 0);
    }
    if done == 0 && hashes_done == 0 {
        tracing::warn!(
            events = head.position.get(),
            stored_hashes = total_hashes,
            "migrating the ledger from format 1 (a sled key per event) to format 2 (chunks)"
        );
    } else {
        tracing::warn!(
            events = head.position.get(),
            done,
            stored_hashes = total_hashes,
            hashes_done,
            "resuming the ledger's migration from format 1 to format 2"
        );
    }

    while done < head.position.get() {
        if budget == 0 {
            return Ok(false);
        }
        let mut records = Vec::new();
        let mut bytes = 0;
        for entry in log.range(Position::new(done + 1).to_key()..) {
            let (key, value) = entry?;
            let expected = Position::new(done + 1 + records.len() as u64);
            let position = Position::from_key(&key)
                .ok_or_else(|| LedgerError::Corrupt { position: expected, reason: "malformed log key".into() })?;
            if position != expected {
                return Err(LedgerError::Gap { expected, found: position });
            }
            if position > head.position {
                break;
            }
            let event = encoding::decode(position, &value)?;
            bytes += value.len();
            records.push((event.id, event.stream, value));
            if records.len() == STEP_EVENTS || bytes >= STEP_BYTES || position == head.position {
                break;
            }
        }
        if records.is_empty() {
            return Err(LedgerError::Corrupt {
                position: Position::new(done + 1),
                reason: format!("the log ends at {done} but the head says {}", head.position),
            });
        }
        let entries: Vec<Entry<'_>> =
            records.iter().map(|(id, stream, record)| Entry { id: *id, stream: stream.as_str(), record }).collect();
        let new = layout::chunks(Position::new(done + 1), &entries)?;
        let next = done + records.len() as u64;
        (&chunks, &meta)
            .transaction(|(chunks, meta)| {
                for (key, value) in &new {
                    chunks.insert(&key.to_key()[..], value.as_slice())?;
                }
                meta.insert(PROGRESS_EVENTS, &next.to_be_bytes()[..])?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        done = next;
        budget -= 1;
        // sled keeps what it has not written out in memory: writing each step out (no sync; the
        // one before the marker flip is what makes it durable) keeps the migration's memory flat.
        db.flush()?;
        if done % (16 * STEP_EVENTS as u64) == 0 {
            tracing::info!(done, events = head.position.get(), "migrating the ledger to format 2");
        }
    }

    while hashes_done < total_hashes {
        if budget == 0 {
            return Ok(false);
        }
        let mut run = Vec::new();
        for entry in merkle.range(hashes_done.to_be_bytes()..).take(STEP_HASHES) {
            let (key, value) = entry?;
            let index = hashes_done + run.len() as u64;
            if index >= total_hashes {
                break;
            }
            if key.as_ref() != index.to_be_bytes() || value.len() != 32 {
                return Err(LedgerError::Corrupt {
                    position: Position::new(0),
                    reason: format!("format 1's Merkle tree has no 32-byte hash at stored index {index}"),
                });
            }
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&value);
            run.push(crate::merkle::TreeHash(hash));
        }
        if run.is_empty() {
            return Err(LedgerError::Corrupt {
                position: Position::new(0),
                reason: format!("format 1's Merkle tree ends at stored index {hashes_done}, not {total_hashes}"),
            });
        }
        let next = hashes_done + run.len() as u64;
        let values = layout::runs(hashes_done, &run);
        (&hashes, &meta)
            .transaction(|(hashes, meta)| {
                for (key, value) in &values {
                    hashes.insert(&key[..], value.as_slice())?;
                }
                meta.insert(PROGRESS_HASHES, &next.to_be_bytes()[..])?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        hashes_done = next;
        budget -= 1;
        db.flush()?;
    }

    // Everything converted is durable before the marker names format 2.
    flush(db, syncer.as_deref_mut())?;
    if budget == 0 {
        return Ok(false);
    }
    meta.transaction(|meta| {
        meta.insert("format", FORMAT_MARKER)?;
        meta.remove(PROGRESS_EVENTS)?;
        meta.remove(PROGRESS_HASHES)?;
        Ok::<(), ConflictableTransactionError<()>>(())
    })
    .map_err(transaction_error)?;
    flush(db, syncer.as_deref_mut())?;
    budget -= 1;
    if budget == 0 {
        return Ok(false);
    }
    let dropped = drop_old_trees(db)?;
    flush(db, syncer)?;
    tracing::warn!(
        events = head.position.get(),
        stored_hashes = total_hashes,
        old_trees = dropped,
        seconds = started.elapsed().as_secs_f64(),
        "migrated the ledger to format 2"
    );
    Ok(true)
}

/// Drops format 1's trees (also those left over by a migration interrupted after its marker flip);
/// returns how many there were.
///
/// sled's `drop_tree` reads every page of a tree into memory to free it: dropping format 1's trees
/// of a million events at once took the process from 0.5 to 1.8 GB. So each tree is first emptied
/// in batches, each written out before the next, and then dropped: memory stays near sled's cache,
/// at a price in time (about 100 s a million events, once; a crash meanwhile leaves a format-2
/// ledger whose next open goes on emptying).
pub(super) fn drop_old_trees(db: &sled::Db) -> Result<usize> {
    const BATCH: usize = 16 * 1024;
    let names = db.tree_names();
    let mut dropped = 0;
    for old in V1_TREES {
        if !names.iter().any(|name| name.as_ref() == old.as_bytes()) {
            continue;
        }
        let tree = db.open_tree(old)?;
        let (mut removed, mut batches) = (0usize, 0u64);
        loop {
            let keys = tree.iter().keys().take(BATCH).collect::<std::result::Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                break;
            }
            removed += keys.len();
            let mut batch = sled::Batch::default();
            for key in keys {
                batch.remove(key);
            }
            tree.apply_batch(batch)?;
            db.flush()?;
            batches += 1;
            if batches % 16 == 0 {
                tracing::info!(tree = old, removed, "emptying format 1's trees");
            }
        }
        drop(tree);
        db.drop_tree(old)?;
        dropped += 1;
    }
    Ok(dropped)
}

fn progress(meta: &sled::Tree, key: &str) -> Result<u64> {
    match meta.get(key)? {
        None => Ok(0),
        Some(bytes) => Position::from_key(&bytes).map(Position::get).ok_or_else(|| LedgerError::Corrupt {
            position: Position::new(0),
            reason: format!("the migration's progress {key} is {} bytes, not 8", bytes.len()),
        }),
    }
}

fn flush(db: &sled::Db, syncer: Option<&mut Syncer>) -> Result<()> {
    match syncer {
        Some(syncer) => syncer.flush_and_sync(db),
        None => db.flush().map(|_| ()).map_err(Into::into),
    }
}

/// A sled transaction's failure as the ledger's error (the ledger's transactions never abort).
pub(crate) fn transaction_error(e: TransactionError<()>) -> LedgerError {
    match e {
        TransactionError::Storage(e) => LedgerError::Storage(e),
        TransactionError::Abort(()) => LedgerError::InvalidEvent("transaction aborted".into()),
    }
}

#[cfg(test)]
mod tests;
