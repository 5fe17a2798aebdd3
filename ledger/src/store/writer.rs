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
    poisoned: bool,
    /// Why it is poisoned, when the cause was a full disk (then every later append hears that).
    full: Option<String>,
    /// The ledger's directory, where the head manifest lives.
    dir: std::path::PathBuf,
    /// The head the manifest names, and when it was written.
    manifest: (Head, std::time::Instant),
}

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
        Self {
            db,
            trees,
            syncer,
            config,
            head,
            head_tx,
            checkpoint,
            observer,
            poisoned: false,
            full: None,
            dir,
            manifest,
        }
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
        if !self.poisoned {
            if let Err(e) = self.db.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
            self.write_manifest(true);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if self.poisoned {
            for request in batch {
                request.reply.send(Err(match &self.full {
                    Some(reason) => LedgerError::StorageFull { reason: reason.clone() },
                    None => LedgerError::Poisoned,
                }));
            }
            return;
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
            if let Err(e) = self.write(&records, &head, &grown.added) {
                // The transaction did not apply: nothing of this batch is stored. sled 0.34 keeps a
                // write error as its own from then on, so a full disk stops appends like a failed
                // sync does.
                tracing::error!(error = %e, "append transaction failed");
                if let Some(reason) = disk_full(&e) {
                    self.poisoned = true;
                    self.full = Some(reason);
                }
                let reason = e.to_string();
                for request in batch {
                    request.reply.send(Err(self.full_or(LedgerError::Io(std::io::Error::other(reason.clone())))));
                }
                return;
            }
            let syncing = std::time::Instant::now();
            if let Err(e) = self.sync() {
                // After a failed sync the kernel may have dropped the dirty pages; what is durable is
                // unknown until sled recovers on reopen. Refuse everything from now on.
                tracing::error!(error = %e, "sync failed; the ledger refuses further appends");
                self.poisoned = true;
                self.full = disk_full(&e);
                let reason = e.to_string();
                for request in batch {
                    request.reply.send(Err(self.full_or(LedgerError::Io(std::io::Error::other(reason.clone())))));
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

    /// [`LedgerError::StorageFull`] when the disk is full, else `other`.
    fn full_or(&self, other: LedgerError) -> LedgerError {
        match &self.full {
            Some(reason) => LedgerError::StorageFull { reason: reason.clone() },
            None => other,
        }
    }

    fn sync(&mut self) -> Result<()> {
        match self.config.durability {
            Durability::Fsync => self.syncer.flush_and_sync(&self.db),
            Durability::FlushOnly => self.db.flush().map(|_| ()).map_err(Into::into),
        }
    }
}

/// What the operating system said, when `error` is a full disk or an exhausted quota (`ENOSPC`,
/// `EDQUOT`), however sled or the syncer wrapped it.
fn disk_full(error: &LedgerError) -> Option<String> {
    let io = match error {
        LedgerError::Io(e) => Some(e),
        LedgerError::Storage(sled::Error::Io(e)) => Some(e),
        _ => None,
    }?;
    let full = io.kind() == std::io::ErrorKind::StorageFull
        || io.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(io.raw_os_error(), Some(28 | 122));
    full.then(|| io.to_string())
}

/// What one commit group adds to the Merkle tree.
struct Grown {
    root: TreeHash,
    added: Vec<([u8; 8], TreeHash)>,
}
