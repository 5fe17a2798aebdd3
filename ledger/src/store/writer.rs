//! The single writer thread, with group commit.
//!
//! Appends arrive on a channel. The writer takes the first waiting request, then everything else
//! already waiting (up to `MAX_BATCH_EVENTS`), admits each request in order on top of the ones before
//! it, writes all admitted records in one sled transaction, flushes and syncs once, publishes the new
//! head, and only then replies. Concurrent writers therefore share one `fdatasync`: throughput grows
//! with concurrency while every acknowledged append is durable.
//!
//! The same transaction stores the Merkle tree's new hashes; the checkpoint of the new tree is signed
//! before it and published with the head after the sync.
//!
//! Invariant: `self.head`, the published head and the published checkpoint always describe what
//! is durable on disk.
//!
//! **A full disk.** Before it writes a commit group the writer asks the file system how much space
//! is free; with less than [`LedgerConfig::min_free_bytes`] plus a few times the group's size, it
//! refuses the group with [`LedgerError::StorageFull`] (`resumes`) without touching sled. That is
//! the ordinary way a full disk shows: nothing was written, nothing has to be recovered, and the
//! next group after space was freed simply succeeds. It matters because sled does not survive its
//! own failed writes: sled 0.34.7 stores the first IO error of a buffer write in a global error
//! slot (`Config::set_global_error`), never clears it while the database is open, and refuses
//! every later write with it; on one path (`Log::exit_reservation`) it sets the slot without
//! waking a thread waiting in `flush()`, which can then wait forever. Keeping sled away from
//! `ENOSPC` is what keeps writes fast-failing and resumable.
//!
//! When sled fails anyway (the space went between the check and the write, or the margin was too
//! small), the writer distinguishes where:
//! - sled's transaction or its `flush()` failed (`Broken`): the group is not acknowledged and sled
//!   cannot write again in this process, so every later append fails at once with the same kind of
//!   error (`StorageFull` without `resumes`, or the storage error). Reopening sled would recover
//!   exactly what a crash at that moment leaves, but every reader shares this sled instance and
//!   its file lock, so it is left to a restart (see RELIABILITY.md).
//! - `fdatasync` failed after a successful flush (`Poisoned`): the kernel may have dropped the
//!   dirty pages while still showing them to reads, so what is on disk is unknown; appends are
//!   refused with [`LedgerError::Poisoned`] until an operator has looked.
//!
//! Either way an error reply means not acknowledged, an acknowledged append stays durable, and
//! no append waits: a broken writer answers every request at once.

use std::sync::mpsc;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use tokio::sync::{oneshot, watch};

use super::durability::Syncer;
use super::{CommitObservation, Durability, LedgerConfig, Observed, Published, Trees};
use crate::error::{LedgerError, Result};
use crate::merkle::{Growth, TreeHash};
use crate::sequence::{Append, AppendOutcome, Head, Overlay, Sealed, admit};

/// The most events one group commit takes on before it writes (a single larger request is still
/// taken whole).
const MAX_BATCH_EVENTS: usize = 4096;

/// An append waiting for the writer.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) append: Append,
    pub(crate) reply: Reply,
}

/// Where the writer answers: a blocking caller waits on a std channel (usable from any thread,
/// even one that drives an async runtime), an async caller on a oneshot.
#[derive(Debug)]
pub(crate) enum Reply {
    Blocking(mpsc::SyncSender<Result<AppendOutcome>>),
    Async(oneshot::Sender<Result<AppendOutcome>>),
}

impl Reply {
    /// Sends the answer. A caller that stopped waiting has lost nothing: its events are stored.
    fn send(self, outcome: Result<AppendOutcome>) {
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Async(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

pub(crate) struct Writer {
    db: sled::Db,
    trees: Trees,
    syncer: Syncer,
    config: LedgerConfig,
    head: Head,
    head_tx: watch::Sender<Head>,
    checkpoint: Published,
    observer: Observed,
    state: State,
    /// The ledger's directory, where the head manifest lives.
    dir: std::path::PathBuf,
    /// The head the manifest names, and when it was written.
    manifest: (Head, std::time::Instant),
}

/// Whether the writer can still write (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Healthy,
    /// sled failed to write (`full`: for lack of space); it refuses every write from now on.
    Broken {
        full: bool,
    },
    /// A sync failed: what is durable is unknown.
    Poisoned,
}

/// How much more space than the records' own size a commit group may take on disk: the index
/// entries, the Merkle tree's hashes and the rewritten tree nodes that go with them.
const SPACE_PER_RECORD_BYTE: u64 = 4;

/// How often at most the head manifest is rewritten after commits (it may lag the head; see
/// `manifest.rs`).
const MANIFEST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Writer {
    pub(crate) fn new(
        db: sled::Db,
        trees: Trees,
        syncer: Syncer,
        config: LedgerConfig,
        head: Head,
        (head_tx, checkpoint, observer): (watch::Sender<Head>, Published, Observed),
        dir: std::path::PathBuf,
    ) -> Self {
        let manifest = (head, std::time::Instant::now());
        Self { db, trees, syncer, config, head, head_tx, checkpoint, observer, state: State::Healthy, dir, manifest }
    }

    /// Rewrites the head manifest when the head moved and the last write is older than
    /// [`MANIFEST_EVERY`] (or `now`), after the sync that made the head durable. A failure is logged:
    /// the manifest only guards, and a stale one still does.
    fn write_manifest(&mut self, force: bool) {
        let (written, at) = self.manifest;
        // Without fsync the head is not durable against power loss, and the manifest must never
        // name more than is: then it is written only when the ledger closes (after the last flush).
        let durable = self.config.durability == Durability::Fsync;
        if written == self.head || !(force || (durable && at.elapsed() >= MANIFEST_EVERY)) {
            return;
        }
        match super::manifest::Manifest::of(&self.head).write(&self.dir) {
            Ok(()) => self.manifest = (self.head, std::time::Instant::now()),
            Err(e) => tracing::error!(error = %e, "the head manifest could not be written"),
        }
    }

    /// Serves requests until every sender is gone.
    pub(crate) fn run(mut self, inbox: mpsc::Receiver<Request>) {
        while let Ok(first) = inbox.recv() {
            let mut events = first.append.len();
            let mut batch = vec![first];
            while events < MAX_BATCH_EVENTS {
                match inbox.try_recv() {
                    Ok(next) => {
                        events += next.append.len();
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
            self.write_manifest(false);
        }
        // A last flush so that a clean shutdown leaves sled with nothing to recover.
        if self.state == State::Healthy {
            if let Err(e) = self.db.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
            self.write_manifest(true);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        match self.state {
            State::Healthy => {}
            State::Broken { full } => {
                for request in batch {
                    request.reply.send(Err(broken(full, "sled refused an earlier write")));
                }
                return;
            }
            State::Poisoned => {
                for request in batch {
                    request.reply.send(Err(LedgerError::Poisoned));
                }
                return;
            }
        }
        let now = self.config.clock.now();
        let mut head = self.head;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut records: Vec<Sealed> = Vec::new();
        {
            let mut overlay = Overlay::new(&self.trees);
            for request in &batch {
                match admit(&mut overlay, &mut head, &request.append, now) {
                    Ok(admitted) => {
                        records.extend(admitted.sealed);
                        outcomes.push(Ok(admitted.outcome));
                    }
                    Err(e) => outcomes.push(Err(e)),
                }
            }
        }

        if !records.is_empty() {
            // Before sled is touched: refusing here leaves nothing to recover (module docs).
            let bytes: u64 = records.iter().map(|r| r.record.len() as u64).sum();
            if let Some((free, needed)) = self.too_little_space(bytes) {
                tracing::warn!(free, needed, "too little free space; the append was refused");
                for request in batch {
                    request.reply.send(Err(LedgerError::StorageFull { resumes: true }));
                }
                return;
            }
            let grown = match self.grow(&records) {
                Ok(grown) => grown,
                Err(e) => {
                    tracing::error!(error = %e, "the Merkle tree could not be extended");
                    let reason = e.to_string();
                    for request in batch {
                        request.reply.send(Err(LedgerError::Io(std::io::Error::other(reason.clone()))));
                    }
                    return;
                }
            };
            let signed = self.config.log_key.as_ref().map(|key| key.sign(head.position.get(), grown.root));
            // A failure of sled's transaction or of its flush: nothing of this batch is
            // acknowledged, and sled keeps the error for every later write (module docs).
            let syncing = std::time::Instant::now();
            if let Err(e) = self.write(&records, &head, &grown.added).and_then(|()| self.flush()) {
                let full = e.is_out_of_space();
                tracing::error!(error = %e, "sled could not write an append; the ledger refuses appends until restarted");
                self.state = State::Broken { full };
                let reason = e.to_string();
                for request in batch {
                    request.reply.send(Err(broken(full, &reason)));
                }
                return;
            }
            if let Err(e) = self.sync() {
                // After a failed sync the kernel may have dropped the dirty pages while still showing
                // them to reads; what is durable is unknown. Refuse everything from now on.
                tracing::error!(error = %e, "sync failed; the ledger refuses further appends");
                self.state = State::Poisoned;
                for request in batch {
                    request.reply.send(Err(LedgerError::Poisoned));
                }
                return;
            }
            match signed {
                Some(Ok(checkpoint)) => {
                    if let Ok(mut slot) = self.checkpoint.write() {
                        *slot = Some(std::sync::Arc::new(checkpoint));
                    }
                }
                // The events are durable either way; the previous checkpoint stays until one signs.
                Some(Err(e)) => tracing::error!(error = %e, "the checkpoint could not be signed"),
                None => {}
            }
            self.head = head;
            self.head_tx.send_replace(head);
            if let Some(observe) = self.observer.read().ok().and_then(|slot| slot.clone()) {
                observe(CommitObservation { events: records.len(), sync: syncing.elapsed() });
            }
        }
        for (request, outcome) in batch.into_iter().zip(outcomes) {
            // A caller that stopped waiting has lost nothing: its events are stored.
            request.reply.send(outcome);
        }
    }

    /// The Merkle tree's hashes for the records, and its new root.
    fn grow(&self, records: &[Sealed]) -> Result<Grown> {
        let mut growth = Growth::new(&self.trees, self.head.position.get());
        for sealed in records {
            growth.push(sealed.leaf)?;
        }
        let root = growth.root()?;
        let added = growth.added().map(|(index, hash)| (index.to_be_bytes(), *hash)).collect();
        Ok(Grown { root, added })
    }

    /// Writes the records, their index entries, the tree's new hashes and the new head in one
    /// transaction.
    fn write(&self, records: &[Sealed], head: &Head, tree: &[([u8; 8], TreeHash)]) -> Result<()> {
        let head_bytes = Trees::encode_head(head);
        let tree_size = head.position.to_key();
        let trees = (&self.trees.log, &self.trees.streams, &self.trees.ids, &self.trees.meta, &self.trees.merkle);
        trees
            .transaction(|(log, streams, ids, meta, merkle)| {
                for sealed in records {
                    let event = &sealed.event;
                    let key = event.position.to_key();
                    log.insert(&key[..], sealed.record.as_slice())?;
                    streams.insert(Trees::stream_key(&event.stream, event.stream_version), &key[..])?;
                    ids.insert(&event.id.as_bytes()[..], &key[..])?;
                }
                for (index, hash) in tree {
                    merkle.insert(&index[..], &hash.0[..])?;
                }
                meta.insert("head", &head_bytes[..])?;
                meta.insert("tree_size", &tree_size[..])?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => LedgerError::Storage(e),
                TransactionError::Abort(()) => LedgerError::InvalidEvent("transaction aborted".into()),
            })
    }

    /// sled's flush: its buffers written with `pwrite` (and `sync_file_range`).
    fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(Into::into)
    }

    /// After [`Writer::flush`]: `fdatasync`/`fsync` of what sled wrote, when the configuration asks.
    fn sync(&mut self) -> Result<()> {
        match self.config.durability {
            Durability::Fsync => self.syncer.sync().map_err(Into::into),
            Durability::FlushOnly => Ok(()),
        }
    }

    /// The free space of the ledger's file system and what a group of `bytes` of records needs
    /// (beyond [`LedgerConfig::min_free_bytes`]), when there is less. A file system that cannot
    /// say is written to (sled then reports what happens).
    fn too_little_space(&self, bytes: u64) -> Option<(u64, u64)> {
        if self.config.min_free_bytes == 0 {
            return None;
        }
        let needed = self.config.min_free_bytes.saturating_add(bytes.saturating_mul(SPACE_PER_RECORD_BYTE));
        match fs2::available_space(&self.dir) {
            Ok(free) if free < needed => Some((free, needed)),
            _ => None,
        }
    }
}

/// What one commit group adds to the Merkle tree.
struct Grown {
    root: TreeHash,
    added: Vec<([u8; 8], TreeHash)>,
}

/// The error for an append refused because sled failed earlier (or now, for `reason`).
fn broken(full: bool, reason: &str) -> LedgerError {
    if full {
        LedgerError::StorageFull { resumes: false }
    } else {
        LedgerError::Io(std::io::Error::other(format!("{reason}; the ledger refuses appends until restarted")))
    }
}
