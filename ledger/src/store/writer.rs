//! The single writer, with a pipelined group commit.
//!
//! Appends arrive on a channel. The writer thread takes the first waiting request, then everything
//! else already waiting (up to `MAX_BATCH_EVENTS`), admits each request in order on top of the ones
//! before it, and writes all admitted records into sled as a few plain inserts (in sled's memory: readers
//! cut at the published head, so they do not see it yet). It then hands the group to the sync
//! stage (its own thread, `ledger-sync`), which appends the group's entry to the commit journal
//! and `fdatasync`s it (`journal.rs`), publishes the new head, and only then replies. While the
//! sync stage syncs, the writer goes on admitting, sealing and writing the groups after it (up to
//! [`GROUPS_IN_FLIGHT`]); when the sync returns, the stage takes every group written meanwhile and
//! makes them all durable with one write of their entries and one `fdatasync`. The CPU work of the
//! groups overlaps the disk's wait, concurrent writers share one `fdatasync`, no time of the
//! writer thread is spent waiting for it, and a request never waits for a sync to end before it
//! is admitted.
//!
//! **Leaves in parallel.** A group of at least [`PARALLEL_LEAVES`] events is admitted without its
//! Merkle leaves, which are then computed half on the writer's thread and half on a helper thread
//! (`ledger-leaves`); should one fail (an event too large in its canonical form), the group is
//! admitted again leaf by leaf, which refuses that request alone, as a smaller group does.
//!
//! **A lone append commits on its caller's thread.** A blocking [`Ledger::append`](crate::Ledger::append)
//! that finds the writer idle (no request queued, neither the writer nor its sync stage busy, no
//! import staged) takes the writer's lock and runs the same commit and sync stage itself
//! ([`Inbox::commit_here`]): no hop to the writer's thread and back, about a third of a
//! lone append's cost beyond the disk's. Otherwise it queues as above. Async callers always queue
//! (a runtime's thread must not wait on the disk).
//!
//! Every [`LedgerConfig::journal_limit`] bytes of journal, and at a clean close, the sync stage
//! *checkpoints*: sled's `flush()` and the `fdatasync` of its files (`durability.rs`), then the
//! journal emptied. A group that stores nothing (conflicts, retries of stored events) still passes
//! through the sync stage, so an idempotent retry is never answered with an event whose sync has
//! not returned yet. The publish of a staged import is made durable by a checkpoint (its events are
//! in sled already; the journal does not list them).
//!
//! The group's inserts write a few keys whatever its size (format 2, `store/layout.rs`): its
//! records in a chunk (or a few, for a large group), the Merkle tree's new hashes in one run, and
//! the head; the in-memory id and stream indexes are extended after it. The checkpoint of the new
//! tree is signed before it and published with the head after the sync.
//!
//! Invariant: the published head, the published checkpoint and the head manifest always describe
//! what is durable on disk; the writer's own `head` may be groups ahead of them (written, not yet
//! synced).
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
//! - sled's transaction (writer thread), the journal's write or sled's `flush()` at a checkpoint
//!   (sync stage) failed (`Broken`): the group
//!   is not acknowledged and sled cannot write again in this process, so every later append fails
//!   at once with the same kind of error (`StorageFull` without `resumes`, or the storage error). Reopening sled would recover
//!   exactly what a crash at that moment leaves, but every reader shares this sled instance and
//!   its file lock, so it is left to a restart (see RELIABILITY.md).
//! - an `fdatasync` failed (the journal's, or sled's at a checkpoint) (`Poisoned`): the kernel may have dropped the
//!   dirty pages while still showing them to reads, so what is on disk is unknown; appends are
//!   refused with [`LedgerError::Poisoned`] until an operator has looked.
//!
//! Either way an error reply means not acknowledged, an acknowledged append stays durable, and
//! no append waits: a broken writer answers every request at once. The state is shared by the two
//! stages: a group already written when the other stage fails is refused too, never acknowledged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use tokio::sync::{oneshot, watch};

use super::durability::Syncer;
use super::journal::Journal;
use super::layout::{self, Entry};
use super::{CommitObservation, Durability, LedgerConfig, Observed, Published, Trees};
use crate::error::{LedgerError, Result};
use crate::id::Position;
use crate::merkle::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::merkle::{Growth, TreeHash};
use crate::sequence::{Append, AppendOutcome, Head, Leaves, Overlay, Sealed, admit, compute_leaves};

/// The most events one group commit takes on before it writes (a single larger request is still
/// taken whole).
const MAX_BATCH_EVENTS: usize = 4096;

/// How many written groups may wait for the sync stage (all made durable by its next sync).
const GROUPS_IN_FLIGHT: usize = 64;

/// An append waiting for the writer.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) append: Append,
    pub(crate) reply: Reply,
    pub(crate) kind: Kind,
}

/// What a request asks of the writer (see `store/staging.rs` for the three kinds of a staged import).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An ordinary append: admitted, written, synced, published, answered.
    Commit,
    /// A step of a staged import: admitted and written after everything before it, answered at
    /// once, neither synced nor visible. Ordinary appends wait until the import ends.
    Stage,
    /// The end of a staged import: the head moves over everything staged in one transaction,
    /// which is synced and published like a commit group.
    Publish,
    /// A staged import given up: what it wrote is removed.
    Abandon,
}

/// Where the writer answers: a blocking caller waits on a std channel (usable from any thread,
/// even one that drives an async runtime), an async caller on a oneshot.
#[derive(Debug)]
pub(crate) enum Reply {
    Blocking(mpsc::SyncSender<Result<AppendOutcome>>),
    Async(oneshot::Sender<Result<AppendOutcome>>),
    /// A staged step's caller ([`Kind::Stage`]), who also takes the step's records: the bytes
    /// stored for each new event, in order (an import applies them without encoding each again).
    Staged(mpsc::SyncSender<Result<(AppendOutcome, Vec<Vec<u8>>)>>),
}

impl Reply {
    /// Sends the answer. A caller that stopped waiting has lost nothing: its events are stored.
    fn send(self, outcome: Result<AppendOutcome>) {
        self.send_with_records(outcome, Vec::new());
    }

    /// [`Reply::send`], with the records of the new events for a staged step's caller.
    fn send_with_records(self, outcome: Result<AppendOutcome>, records: Vec<Vec<u8>>) {
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Async(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Staged(tx) => {
                let _ = tx.send(outcome.map(|outcome| (outcome, records)));
            }
        }
    }
}

pub(crate) struct Writer {
    trees: Trees,
    config: LedgerConfig,
    /// The head of everything written to sled: durable, or on its way to the sync stage.
    head: Head,
    /// Shared with the sync stage, which may break it too.
    state: Shared<State>,
    /// The ledger's directory, for the free-space check.
    dir: std::path::PathBuf,
    /// The sync stage, handed to its thread when [`Writer::run`] starts.
    sync: Option<SyncStage>,
    /// While an import is staged: the head before it, and how many events it staged.
    staging: Option<(Head, usize)>,
    /// Ordinary appends that came while an import was staged, in arrival order.
    parked: Vec<Request>,
    /// How many groups went to the sync stage's thread (it counts those it completed).
    handed: u64,
    /// Set once the last request was served: nothing is committed after it.
    closed: bool,
    /// The Merkle tree's stored hashes this writer read or wrote lately (see [`Cached`]).
    hashes: std::cell::RefCell<std::collections::HashMap<u64, TreeHash>>,
    /// The thread that computes half of a large group's leaves (`None`: it could not start).
    leaves: Option<LeafHelper>,
}

/// The fewest events of a group whose leaves are shared with the [`LeafHelper`]: below it the
/// hand-over (a thread's wake-up, 25–50 µs on the project's machines) costs about what it saves.
const PARALLEL_LEAVES: usize = 8;

/// A thread computing Merkle leaves for the writer: the second half of a large group's while the
/// writer computes the first. The leaf (RFC 8785 of the event's line, hashed) was 62 % of the
/// writer thread's time with 64 writers (BENCHMARKS.md, session 13).
struct LeafHelper {
    jobs: mpsc::Sender<Vec<Sealed>>,
    done: mpsc::Receiver<Result<Vec<Sealed>>>,
}

/// Why a group's leaves were not all computed.
enum LeafFailure {
    /// A leaf failed (the group is admitted again, leaf by leaf).
    Leaf,
    /// The helper's thread is gone (it panicked): its records with it.
    HelperGone,
}

impl LeafHelper {
    fn start() -> Option<Self> {
        let (jobs, inbox) = mpsc::channel::<Vec<Sealed>>();
        let (results, done) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("ledger-leaves".into()).spawn(move || {
            while let Ok(mut records) = inbox.recv() {
                let outcome = leaves_of(&mut records).map(|()| records);
                if results.send(outcome).is_err() {
                    break;
                }
            }
        });
        match spawned {
            Ok(_) => Some(Self { jobs, done }),
            Err(e) => {
                tracing::warn!(error = %e, "the ledger's leaf helper could not start; leaves are computed on the writer's thread");
                None
            }
        }
    }

    /// Computes the leaves of `records`: the second half on the helper's thread, the first here.
    /// On a failure `records` may have lost its second half: the caller admits the group again.
    fn compute(&self, records: &mut Vec<Sealed>) -> std::result::Result<(), LeafFailure> {
        let tail = records.split_off(records.len() / 2);
        if let Err(mpsc::SendError(mut tail)) = self.jobs.send(tail) {
            let computed = leaves_of(records).and_then(|()| leaves_of(&mut tail));
            records.append(&mut tail);
            computed.map_err(|_| LeafFailure::Leaf)?;
            return Err(LeafFailure::HelperGone);
        }
        let mine = leaves_of(records);
        let mut theirs = match self.done.recv() {
            Ok(Ok(tail)) => tail,
            Ok(Err(_)) => return Err(LeafFailure::Leaf),
            Err(_) => return Err(LeafFailure::HelperGone),
        };
        mine.map_err(|_| LeafFailure::Leaf)?;
        records.append(&mut theirs);
        Ok(())
    }
}

/// Computes each record's leaf (`sequence::leaves_of`, without the failing event's id).
fn leaves_of(records: &mut [Sealed]) -> Result<()> {
    crate::sequence::leaves_of(records).map_err(|(_, e)| e)
}

/// How many of the Merkle tree's hashes the writer keeps at most before it starts over.
const CACHED_HASHES: usize = 1 << 16;

/// The tree's stored hashes as the writer reads them: from its cache, else from sled (then kept).
/// Growing the tree by a group reads the hashes on its right edge, each a range lookup in sled
/// (about a tenth of a lone append's CPU, BENCHMARKS.md); they are mostly the ones the group
/// before wrote. The cache holds only hashes sled holds: a group's new hashes are added after
/// sled took them ([`Writer::commit`]), and it is emptied when a staged import is removed.
struct Cached<'a> {
    trees: &'a Trees,
    cache: &'a std::cell::RefCell<std::collections::HashMap<u64, TreeHash>>,
}

impl crate::merkle::Stored for Cached<'_> {
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<TreeHash>> {
        let mut cache = self.cache.borrow_mut();
        let missing: Vec<u64> = indexes.iter().copied().filter(|i| !cache.contains_key(i)).collect();
        if !missing.is_empty() {
            let read = self.trees.hashes(&missing)?;
            keep(&mut cache, missing.into_iter().zip(read));
        }
        indexes
            .iter()
            .map(|i| {
                cache.get(i).copied().ok_or_else(|| LedgerError::Corrupt {
                    position: Position::new(0),
                    reason: format!("the Merkle tree's stored hash {i} is missing"),
                })
            })
            .collect()
    }
}

/// Adds `hashes` to the writer's cache, which starts over rather than grow past [`CACHED_HASHES`].
fn keep(cache: &mut std::collections::HashMap<u64, TreeHash>, hashes: impl ExactSizeIterator<Item = (u64, TreeHash)>) {
    if cache.len() + hashes.len() > CACHED_HASHES {
        cache.clear();
    }
    cache.extend(hashes);
}

/// What the writer's thread and the callers share: the writer, and its sync stage.
struct Core {
    writer: Mutex<Writer>,
    stage: Option<Arc<Mutex<SyncStage>>>,
}

/// Where the writer hands written groups: the sync stage (to complete one itself when the stage is
/// idle) and the channel to the stage's thread.
struct Hand<'a> {
    stage: Option<&'a Mutex<SyncStage>>,
    to_sync: &'a mpsc::SyncSender<Written>,
}

/// The callers' side of the writer: requests go to the writer's thread; a blocking caller that
/// finds the writer idle commits on its own thread instead ([`Inbox::commit_here`]).
pub(crate) struct Inbox {
    tx: mpsc::Sender<Request>,
    /// Requests sent and not yet taken by the writer's thread.
    queued: Arc<AtomicUsize>,
    core: Arc<Core>,
}

impl Inbox {
    /// Sends a request to the writer's thread.
    pub(crate) fn send(&self, request: Request) -> Result<()> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.send(request).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            LedgerError::Closed
        })
    }

    /// Commits `append` on the calling thread and waits until it is durable, when the writer is
    /// idle: no request queued, neither the writer nor its sync stage busy, no import staged. It is
    /// then the same group, admitted, written, journalled, synced and published by the same code
    /// the writer's thread runs, without the two thread hops there and back (a lone append's
    /// largest cost beyond the disk's; BENCHMARKS.md). Gives `append` back when the writer is not
    /// idle: the caller then sends it and waits its turn.
    pub(crate) fn commit_here(&self, append: Append) -> std::result::Result<Result<AppendOutcome>, Append> {
        if self.queued.load(Ordering::Acquire) != 0 {
            return Err(append);
        }
        let Ok(mut writer) = self.core.writer.try_lock() else { return Err(append) };
        if writer.closed || writer.staging.is_some() {
            return Err(append);
        }
        let Some(Ok(mut stage)) = self.core.stage.as_deref().map(Mutex::try_lock) else { return Err(append) };
        if stage.completed != writer.handed {
            return Err(append);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request { append, reply: Reply::Blocking(reply), kind: Kind::Commit };
        if let Some(written) = writer.commit(vec![request]) {
            stage.finish(written);
        }
        drop(stage);
        drop(writer);
        // Answered above (`commit` refuses with an answer, `finish` answers every request).
        Ok(answer.recv().map_err(|_| LedgerError::Closed).and_then(|outcome| outcome))
    }
}

/// The writer's thread's side of the inbox; counts what it takes.
struct Queue {
    rx: mpsc::Receiver<Request>,
    queued: Arc<AtomicUsize>,
}

impl Queue {
    /// The next request, waiting for it; `None` once every sender is gone.
    fn recv(&self) -> Option<Request> {
        let request = self.rx.recv().ok()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(request)
    }

    /// The next request if one waits.
    fn try_recv(&self) -> Option<Request> {
        let request = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(request)
    }
}

/// The writer's thread: serves requests until every sender is gone, then waits for the sync stage
/// to answer what it was given and to checkpoint a last time.
pub(crate) struct Runner {
    queue: Queue,
    core: Arc<Core>,
    to_sync: mpsc::SyncSender<Written>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// Runs on the writer's thread until the ledger closes.
    pub(crate) fn run(self) {
        let Runner { queue, core, to_sync, thread } = self;
        {
            let hand = Hand { stage: core.stage.as_deref(), to_sync: &to_sync };
            // A request of another kind taken while gathering a batch, served next.
            let mut held: Option<Request> = None;
            loop {
                let first = match held.take() {
                    Some(request) => request,
                    None => match queue.recv() {
                        Some(request) => request,
                        None => break,
                    },
                };
                match core.writer.lock() {
                    Ok(mut writer) => writer.serve(first, &mut held, &queue, &hand),
                    // A caller's thread panicked while committing: what it was doing cannot be
                    // trusted to be durable.
                    Err(_) => first.reply.send(Err(LedgerError::Poisoned)),
                }
            }
            if let Ok(mut writer) = core.writer.lock() {
                writer.wind_up(&hand);
            }
        }
        drop(to_sync);
        if let Some(handle) = thread {
            if handle.join().is_err() {
                tracing::error!("the ledger's sync thread panicked");
            }
        }
    }
}

/// A value the writer and its sync stage share.
type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

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

/// Answers every request with the error of a failed `state`.
fn refuse_all(state: State, replies: impl IntoIterator<Item = Reply>) {
    for reply in replies {
        reply.send(Err(match state {
            State::Broken { full } => broken(full, "sled refused an earlier write"),
            // Never called for a healthy writer; refusing is the safe answer all the same.
            State::Poisoned | State::Healthy => LedgerError::Poisoned,
        }));
    }
}

/// Reads the shared state. A poisoned lock means a thread of the writer panicked while holding it:
/// nothing it was doing can be trusted to have been made durable, so the writer counts as poisoned.
fn read_state(state: &Shared<State>) -> State {
    state.lock().map_or(State::Poisoned, |s| *s)
}

/// Moves a healthy writer into `to`; a writer already failed keeps its first failure.
fn fail(state: &Shared<State>, to: State) {
    if let Ok(mut s) = state.lock() {
        if *s == State::Healthy {
            *s = to;
        }
    }
}

/// How much more space than the records' own size a commit group may take on disk: the index
/// entries, the Merkle tree's hashes and the rewritten tree nodes that go with them.
const SPACE_PER_RECORD_BYTE: u64 = 4;

/// How often at most the head manifest is rewritten after commits (it may lag the head; see
/// `manifest.rs`).
const MANIFEST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A commit group the writer has admitted (and, when it stores events, written to sled), on its
/// way to the sync stage, which answers it once a sync covers it.
struct Written {
    /// Every request of the group with its outcome.
    replies: Vec<(Reply, Result<AppendOutcome>)>,
    /// The head after the group (the previous group's head when it stores nothing).
    head: Head,
    /// How many events it stores (0: conflicts and retries only).
    events: usize,
    /// The checkpoint of the tree after the group, when a log key signs them.
    signed: Option<Result<SignedCheckpoint, CheckpointError>>,
    /// How the sync stage makes it durable.
    durable: Durable,
}

/// How a group is made durable.
enum Durable {
    /// Its journal entry is appended and synced (`journal.rs`).
    Journal(Vec<u8>),
    /// sled is flushed and synced, and the journal emptied: for the publish of a staged import,
    /// whose events sled already holds (written and flushed step by step) and no entry lists.
    Checkpoint,
}

/// The second stage of the writer: sled's flush and the sync, then the answers (see the module
/// docs). It owns everything that may only move once events are durable: the published head and
/// checkpoint, the commit observer and the head manifest.
struct SyncStage {
    db: sled::Db,
    syncer: Syncer,
    /// The commit journal, emptied at every checkpoint.
    journal: Journal,
    /// Its size that makes the stage checkpoint.
    journal_limit: u64,
    /// How many groups the stage's own thread has completed (the writer completes a group itself
    /// only when this equals the number it handed over: nothing is in flight).
    completed: u64,
    durability: Durability,
    state: Shared<State>,
    head_tx: watch::Sender<Head>,
    checkpoint: Published,
    observer: Observed,
    /// The ledger's directory, where the head manifest lives.
    dir: std::path::PathBuf,
    /// The durable head.
    head: Head,
    /// The head the manifest names, and when it was written.
    manifest: (Head, std::time::Instant),
    /// The in-memory indexes, kept in the directory at a clean close (`indexes.rs`).
    indexes: std::sync::Arc<super::indexes::Indexing>,
}

impl Writer {
    pub(crate) fn new(
        db: sled::Db,
        trees: Trees,
        (syncer, journal): (Syncer, Journal),
        config: LedgerConfig,
        head: Head,
        (head_tx, checkpoint, observer): (watch::Sender<Head>, Published, Observed),
        dir: std::path::PathBuf,
    ) -> Self {
        let state: Shared<State> = std::sync::Arc::new(std::sync::Mutex::new(State::Healthy));
        let sync = SyncStage {
            db,
            syncer,
            journal,
            journal_limit: config.journal_limit,
            completed: 0,
            durability: config.durability,
            state: state.clone(),
            head_tx,
            checkpoint,
            observer,
            dir: dir.clone(),
            head,
            manifest: (head, std::time::Instant::now()),
            indexes: std::sync::Arc::clone(&trees.indexes),
        };
        Self {
            trees,
            config,
            head,
            state,
            dir,
            sync: Some(sync),
            staging: None,
            parked: Vec::new(),
            handed: 0,
            closed: false,
            hashes: std::cell::RefCell::default(),
            leaves: LeafHelper::start(),
        }
    }

    /// Starts the writer: its sync stage on a thread of its own, and the [`Runner`] to run on the
    /// writer's thread, and the [`Inbox`] through which callers reach both.
    pub(crate) fn start(mut self) -> (Inbox, Runner) {
        // Groups written while the stage syncs wait here (the writer blocks only when this many
        // wait; until session 13 this was a rendezvous, which split a fixed set of writers over two
        // alternating groups and kept half of them waiting for a sync to end; BENCHMARKS.md).
        let (to_sync, groups) = mpsc::sync_channel::<Written>(GROUPS_IN_FLIGHT);
        let stage = self.sync.take().map(|stage| Arc::new(Mutex::new(stage)));
        let thread = stage.clone().map(|stage| {
            std::thread::Builder::new().name("ledger-sync".into()).spawn(move || SyncStage::run(&stage, groups))
        });
        let thread = match thread {
            Some(Ok(handle)) => Some(handle),
            Some(Err(e)) => {
                tracing::error!(error = %e, "the ledger's sync thread could not start; appends are refused");
                fail(&self.state, State::Poisoned);
                None
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(Core { writer: Mutex::new(self), stage });
        let inbox = Inbox { tx, queued: Arc::clone(&queued), core: Arc::clone(&core) };
        (inbox, Runner { queue: Queue { rx, queued }, core, to_sync, thread })
    }

    /// Serves `first` (and, for a commit, everything waiting behind it) on the writer's thread.
    fn serve(&mut self, first: Request, held: &mut Option<Request>, queue: &Queue, hand: &Hand<'_>) {
        match first.kind {
            Kind::Commit if self.staging.is_some() => self.parked.push(first),
            Kind::Commit => {
                let mut events = first.append.len();
                let mut batch = vec![first];
                while events < MAX_BATCH_EVENTS {
                    match queue.try_recv() {
                        Some(next) if next.kind == Kind::Commit => {
                            events += next.append.len();
                            batch.push(next);
                        }
                        Some(other) => {
                            *held = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                if let Some(written) = self.commit(batch) {
                    let waiting = waiting(held, queue);
                    self.hand_over(written, hand, waiting);
                }
            }
            Kind::Stage => self.stage(first),
            Kind::Publish | Kind::Abandon => {
                let parked = std::mem::take(&mut self.parked);
                if let Some(written) = self.end_staging(first) {
                    let waiting = !parked.is_empty() || waiting(held, queue);
                    self.hand_over(written, hand, waiting);
                }
                if !parked.is_empty() {
                    if let Some(written) = self.commit(parked) {
                        let waiting = waiting(held, queue);
                        self.hand_over(written, hand, waiting);
                    }
                }
            }
        }
    }

    /// Gives a written group to the sync stage. It is completed on this thread when the stage is
    /// idle, no request waits and every request of it is an async caller's: a lone async append
    /// (a mutation over HTTP) then crosses one thread less (the hop to the sync thread was about a
    /// third of a single append's time beyond the disk's). A blocking caller is here only because
    /// it found the writer busy (alone it commits on its own thread, `Inbox::commit_here`), so
    /// more are likely on their way: the sync thread takes the group, and this thread is free to
    /// admit them meanwhile (8 blocking writers +15 %, BENCHMARKS.md, session 13). With requests
    /// waiting, likewise.
    fn hand_over(&mut self, written: Written, hand: &Hand<'_>, waiting: bool) {
        let blocking = written.replies.iter().any(|(reply, _)| matches!(reply, Reply::Blocking(_)));
        if !waiting && !blocking {
            if let Some(Ok(mut stage)) = hand.stage.map(|s| s.try_lock()) {
                if stage.completed == self.handed {
                    stage.finish(written);
                    return;
                }
            }
        }
        self.handed += 1;
        if let Err(mpsc::SendError(written)) = hand.to_sync.send(written) {
            // The sync stage is gone (it panicked): nothing more can be made durable.
            fail(&self.state, State::Poisoned);
            for (reply, _) in written.replies {
                reply.send(Err(LedgerError::Poisoned));
            }
        }
    }

    /// After the last request: an import that never ended (its handle went with the ledger) is
    /// given up, then the appends parked behind it are committed.
    fn wind_up(&mut self, hand: &Hand<'_>) {
        self.closed = true;
        if self.staging.is_some() {
            if let Err(e) = self.abandon() {
                tracing::error!(error = %e, "an unfinished import could not be removed; the next open reclaims it");
            }
        }
        let parked = std::mem::take(&mut self.parked);
        if !parked.is_empty() {
            if let Some(written) = self.commit(parked) {
                self.hand_over(written, hand, false);
            }
        }
    }

    /// Admits a group and writes it to sled. Requests it refuses are answered here (an error is
    /// never an acknowledgement); the rest go to the sync stage, even a group that stores nothing,
    /// so that a retry answered with an event of an earlier group waits for that group's sync.
    fn commit(&mut self, batch: Vec<Request>) -> Option<Written> {
        let state = read_state(&self.state);
        if state != State::Healthy {
            refuse_all(state, batch.into_iter().map(|request| request.reply));
            return None;
        }
        let now = self.config.clock.now();
        // A large group's leaves are computed after its admission, half by the leaf helper; should
        // one fail (an event too large in its canonical form), the group is admitted again with
        // each leaf computed as its event is sealed, which refuses just that request, as always.
        let events: usize = batch.iter().map(|request| request.append.len()).sum();
        let helper = self.leaves.as_ref().filter(|_| events >= PARALLEL_LEAVES);
        let (mut head, mut outcomes, mut records) =
            self.admit_all(&batch, now, if helper.is_some() { Leaves::Skip } else { Leaves::Compute });
        if let Some(helper) = helper {
            if let Err(e) = helper.compute(&mut records) {
                if matches!(e, LeafFailure::HelperGone) {
                    tracing::error!("the ledger's leaf helper is gone; leaves are computed on the writer's thread");
                    self.leaves = None;
                }
                (head, outcomes, records) = self.admit_all(&batch, now, Leaves::Compute);
            }
        }

        let mut signed = None;
        let mut durable = Durable::Journal(Vec::new());
        if !records.is_empty() {
            // Before sled is touched: refusing here leaves nothing to recover (module docs).
            let bytes: u64 = records.iter().map(|r| r.record.len() as u64).sum();
            if let Some((free, needed)) = self.too_little_space(bytes) {
                tracing::warn!(free, needed, "too little free space; the append was refused");
                for request in batch {
                    request.reply.send(Err(LedgerError::StorageFull { resumes: true }));
                }
                return None;
            }
            let grown = match self.grow(&records) {
                Ok(grown) => grown,
                Err(e) => {
                    tracing::error!(error = %e, "the Merkle tree or the chunks could not be built");
                    let reason = e.to_string();
                    for request in batch {
                        request.reply.send(Err(LedgerError::Io(std::io::Error::other(reason.clone()))));
                    }
                    return None;
                }
            };
            let entry = match super::journal::entry(&self.head, &head, &grown.chunks, &grown.runs) {
                Ok(entry) => entry,
                Err(e) => {
                    let reason = e.to_string();
                    for request in batch {
                        request.reply.send(Err(LedgerError::Io(std::io::Error::other(reason.clone()))));
                    }
                    return None;
                }
            };
            durable = Durable::Journal(entry);
            signed = self.config.log_key.as_ref().map(|key| key.sign(head.position.get(), grown.root));
            // A failure of sled's transaction: nothing of this group is acknowledged, and sled
            // keeps the error for every later write (module docs).
            if let Err(e) = self.write(&records, &head, &grown) {
                let full = e.is_out_of_space();
                tracing::error!(error = %e, "sled could not write an append; the ledger refuses appends until restarted");
                fail(&self.state, State::Broken { full });
                let reason = e.to_string();
                for request in batch {
                    request.reply.send(Err(broken(full, &reason)));
                }
                return None;
            }
            self.head = head;
            self.remember(&grown);
        }
        let replies = batch.into_iter().map(|request| request.reply).zip(outcomes).collect();
        Some(Written { replies, head, events: records.len(), signed, durable })
    }

    /// Admits each request of a group in order on top of the ones before it: the head after them,
    /// each request's outcome, and the records to write.
    fn admit_all(
        &self,
        batch: &[Request],
        now: crate::time::Timestamp,
        leaves: Leaves,
    ) -> (Head, Vec<Result<AppendOutcome>>, Vec<Sealed>) {
        let mut head = self.head;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut records: Vec<Sealed> = Vec::new();
        let mut overlay = Overlay::new(&self.trees);
        for request in batch {
            match admit(&mut overlay, &mut head, &request.append, now, leaves) {
                Ok(admitted) => {
                    records.extend(admitted.sealed);
                    outcomes.push(Ok(admitted.outcome));
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        (head, outcomes, records)
    }

    /// The values a group stores besides the head: its records in chunks, and the Merkle tree's
    /// new hashes in runs with the tree's new root. Built before sled is touched, so that a failure
    /// here refuses the group and leaves the writer healthy.
    fn grow(&self, records: &[Sealed]) -> Result<Grown> {
        let cached = Cached { trees: &self.trees, cache: &self.hashes };
        let mut growth = Growth::new(&cached, self.head.position.get());
        for sealed in records {
            // Computed at admission (`Leaves::Compute`); computed here should it not have been.
            let leaf = match sealed.leaf {
                Some(leaf) => leaf,
                None => crate::merkle::event_leaf_hash(&sealed.event)?,
            };
            growth.push(leaf)?;
        }
        let root = growth.root()?;
        let first = tlog_tiles::stored_hash_count(self.head.position.get());
        let runs = layout::runs(first, growth.added().map(|(_, hash)| hash));
        let added = growth.added().map(|(index, hash)| (index, *hash)).collect();
        let entries: Vec<Entry<'_>> = records
            .iter()
            .map(|sealed| Entry { id: sealed.event.id, stream: sealed.event.stream.as_str(), record: &sealed.record })
            .collect();
        let chunks = layout::chunks(self.head.position.next(), &entries)?;
        Ok(Grown { root, runs, chunks, added })
    }

    /// Writes the group's chunks, runs and new head in one transaction, then extends the in-memory
    /// indexes (readers cut them at the published head).
    fn write(&self, records: &[Sealed], head: &Head, grown: &Grown) -> Result<()> {
        self.write_as(records, head, grown, None)
    }

    /// [`Writer::write`], or for a staged import (`staged`: the position its first event took) the
    /// same without moving the head: the `staging` mark in `meta` says what lies after the head
    /// is an import's, to be reclaimed at open if it is never published.
    fn write_as(&self, records: &[Sealed], head: &Head, grown: &Grown, staged: Option<Position>) -> Result<()> {
        let (chunks, runs) = (&grown.chunks, &grown.runs);
        match staged {
            None => {
                // Plain inserts in this order, not a transaction: sled 0.34.7 writes out and
                // `sync_file_range`s its IO buffer twice for every batch or transaction
                // (`pin_log`), 2 × 65 µs of this thread per group. The commit journal makes the
                // group durable and atomic; sled's recovery keeps a prefix of its log, so after a
                // crash its head (written last) never names a chunk or run it lacks, and what it
                // holds past its head (never acknowledged, or in the journal) is written again or
                // removed at open (`journal::replay`, `journal::trim`).
                super::journal::insert_group(
                    &self.trees,
                    chunks.iter().map(|(p, v)| (p.to_key(), v.as_slice())),
                    runs.iter().map(|(k, v)| (*k, v.as_slice())),
                    head,
                )?;
            }
            Some(first) => {
                let trees = (&self.trees.chunks, &self.trees.hashes, &self.trees.meta);
                trees
                    .transaction(|(chunk_tree, hash_tree, meta)| {
                        for (key, value) in chunks {
                            chunk_tree.insert(&key.to_key()[..], value.as_slice())?;
                        }
                        for (key, value) in runs {
                            hash_tree.insert(&key[..], value.as_slice())?;
                        }
                        meta.insert(super::staging::MARK, &first.to_key()[..])?;
                        Ok::<(), ConflictableTransactionError<()>>(())
                    })
                    .map_err(super::migrate::transaction_error)?;
            }
        }
        let mut indexes = self.trees.indexes.write()?;
        for sealed in records {
            indexes.add(sealed.event.id, &sealed.event.stream, sealed.event.position)?;
        }
        Ok(())
    }

    /// A step of a staged import: admitted after everything staged so far, written after the head
    /// without moving it, and answered at once (nothing of it is visible or durable until the
    /// publish).
    fn stage(&mut self, request: Request) {
        let state = read_state(&self.state);
        if state != State::Healthy {
            refuse_all(state, [request.reply]);
            return;
        }
        let (before, staged) = self.staging.unwrap_or((self.head, 0));
        let mut head = self.head;
        // Sealed without leaves, which are then computed on every core (an import's step is
        // thousands of events; the leaves were half of this thread's time).
        let admitted = {
            let mut overlay = Overlay::new(&self.trees);
            admit(&mut overlay, &mut head, &request.append, self.config.clock.now(), Leaves::Skip)
        };
        let mut admitted = match admitted {
            Ok(admitted) => admitted,
            Err(e) => return request.reply.send(Err(e)),
        };
        if let Err(e) = compute_leaves(&mut admitted.sealed, &request.append) {
            return request.reply.send(Err(e));
        }
        let records = admitted.sealed;
        if !records.is_empty() {
            let bytes: u64 = records.iter().map(|r| r.record.len() as u64).sum();
            if let Some((free, needed)) = self.too_little_space(bytes) {
                tracing::warn!(free, needed, "too little free space; an import's step was refused");
                return request.reply.send(Err(LedgerError::StorageFull { resumes: true }));
            }
            let grown = match self.grow(&records) {
                Ok(grown) => grown,
                Err(e) => return request.reply.send(Err(e)),
            };
            if let Err(e) = self.write_as(&records, &head, &grown, Some(before.position.next())) {
                let full = e.is_out_of_space();
                tracing::error!(error = %e, "sled could not write an import's step; the ledger refuses appends until restarted");
                fail(&self.state, State::Broken { full });
                return request.reply.send(Err(broken(full, &e.to_string())));
            }
            // Written out (not synced): sled's memory stays bounded whatever the import's size, and
            // a kill leaves the step on disk for the next open to reclaim.
            if let Err(e) = self.trees.meta.flush() {
                let full = LedgerError::from(e).is_out_of_space();
                fail(&self.state, State::Broken { full });
                return request.reply.send(Err(broken(full, "sled could not write an import's step")));
            }
            // An import writes the whole log through here: the step's pages are read again so that
            // sled's cache counts them and evicts (`settle`). Only memory depends on it: a read
            // that fails here changes nothing written, and whatever reads next reports the fault.
            for (key, _) in &grown.chunks {
                let _ = super::settle(&self.trees.chunks, &key.to_key(), super::SETTLE_READS);
            }
            for (key, _) in &grown.runs {
                let _ = super::settle(&self.trees.hashes, key, super::SETTLE_READS);
            }
            self.head = head;
        }
        self.staging = Some((before, staged + records.len()));
        let records = records.into_iter().map(|sealed| sealed.record).collect();
        request.reply.send_with_records(Ok(admitted.outcome), records);
    }

    /// Publishes or abandons a staged import. A publish moves the head over everything staged in
    /// one transaction and goes to the sync stage like a commit group (answered once durable and
    /// visible); an abandon removes what was staged and is answered at once.
    fn end_staging(&mut self, request: Request) -> Option<Written> {
        let state = read_state(&self.state);
        if state != State::Healthy {
            refuse_all(state, [request.reply]);
            return None;
        }
        let Some((_, staged)) = self.staging else {
            // Nothing staged: nothing to publish or remove, answered after the groups before it.
            let replies = vec![(request.reply, Ok(AppendOutcome::Committed(Vec::new())))];
            return Some(Written { replies, head: self.head, events: 0, signed: None, durable: Durable::Checkpoint });
        };
        if request.kind == Kind::Abandon {
            let outcome = self.abandon().map(|()| AppendOutcome::Committed(Vec::new()));
            request.reply.send(outcome);
            return None;
        }
        let head = self.head;
        let published = (|| -> Result<Option<Result<SignedCheckpoint, CheckpointError>>> {
            let root = crate::merkle::root(&self.trees, head.position.get())?;
            let signed = self.config.log_key.as_ref().map(|key| key.sign(head.position.get(), root));
            let head_bytes = Trees::encode_head(&head);
            let tree_size = head.position.to_key();
            self.trees
                .meta
                .transaction(|meta| {
                    meta.insert("head", &head_bytes[..])?;
                    meta.insert("tree_size", &tree_size[..])?;
                    meta.remove(super::staging::MARK)?;
                    Ok::<(), ConflictableTransactionError<()>>(())
                })
                .map_err(super::migrate::transaction_error)?;
            Ok(signed)
        })();
        match published {
            Ok(signed) => {
                self.staging = None;
                let replies = vec![(request.reply, Ok(AppendOutcome::Committed(Vec::new())))];
                // At least one event, so that the sync stage syncs and publishes the new head.
                Some(Written { replies, head, events: staged.max(1), signed, durable: Durable::Checkpoint })
            }
            Err(e) => {
                let full = e.is_out_of_space();
                tracing::error!(error = %e, "sled could not publish an import; the ledger refuses appends until restarted");
                fail(&self.state, State::Broken { full });
                request.reply.send(Err(broken(full, &e.to_string())));
                None
            }
        }
    }

    /// Removes what a staged import wrote after the head it began at, and the mark; forgets it in
    /// the indexes. An interruption leaves the mark, and the next open finishes the removal.
    fn abandon(&mut self) -> Result<()> {
        let Some((before, _)) = self.staging else { return Ok(()) };
        // It may hold hashes of what is removed now.
        self.hashes.borrow_mut().clear();
        super::staging::remove_after(&self.trees, before.position)?;
        self.trees.indexes.write()?.truncate(before.position);
        self.head = before;
        self.staging = None;
        Ok(())
    }

    /// Keeps a group's new hashes, once sled holds them.
    fn remember(&self, grown: &Grown) {
        keep(&mut self.hashes.borrow_mut(), grown.added.iter().copied());
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

impl SyncStage {
    /// Makes each group durable and answers it, until the writer is gone; then checkpoints a last
    /// time so that a clean shutdown leaves sled with nothing to recover and the journal empty.
    fn run(stage: &std::sync::Mutex<Self>, groups: mpsc::Receiver<Written>) {
        while let Ok(group) = groups.recv() {
            // Every group written while the last sync ran: made durable by one write and one sync.
            let mut batch = vec![group];
            while let Ok(next) = groups.try_recv() {
                batch.push(next);
            }
            let count = batch.len() as u64;
            // A panic while completing a group poisons the lock: the writer's next hand-over then
            // finds this thread gone and refuses everything (`State::Poisoned`).
            let Ok(mut stage) = stage.lock() else { return };
            stage.finish_all(batch);
            stage.completed += count;
        }
        if let Ok(mut stage) = stage.lock() {
            stage.close();
        }
    }

    /// Completes a group, then keeps the manifest and the journal's size in bounds.
    fn finish(&mut self, group: Written) {
        self.finish_all(vec![group]);
    }

    /// Completes groups in order – each run of groups made durable by the journal with one write
    /// and one sync, a staged import's publish by a checkpoint – then keeps the manifest and the
    /// journal's size in bounds.
    fn finish_all(&mut self, groups: Vec<Written>) {
        let mut run = Vec::with_capacity(groups.len());
        for group in groups {
            match group.durable {
                Durable::Journal(_) => run.push(group),
                Durable::Checkpoint => {
                    if !run.is_empty() {
                        self.complete(std::mem::take(&mut run));
                    }
                    self.complete(vec![group]);
                }
            }
        }
        if !run.is_empty() {
            self.complete(run);
        }
        self.write_manifest(false);
        if self.journal.len() >= self.journal_limit && read_state(&self.state) == State::Healthy {
            // Everything in the journal has been answered; the next group waits for this.
            let _ = self.checkpoint();
        }
    }

    /// The last checkpoint, once the writer is gone.
    fn close(&mut self) {
        if read_state(&self.state) == State::Healthy && self.checkpoint().is_ok() {
            self.write_manifest(true);
            // The writer is gone: the indexes hold exactly the log up to the head.
            self.indexes.save(&self.dir, &self.head);
        }
    }

    /// Makes `groups` durable together – their journal entries with one write and one sync, or,
    /// for a staged import's publish (given alone), a checkpoint – publishes the head and
    /// checkpoint of the last one that stores events, and only then answers each in order.
    fn complete(&mut self, mut groups: Vec<Written>) {
        let state = read_state(&self.state);
        if state != State::Healthy {
            // A failure after these groups were written (the writer's next write, or the sync of
            // the groups before): they are not acknowledged.
            refuse_all(state, groups.into_iter().flat_map(|group| group.replies.into_iter().map(|(reply, _)| reply)));
            return;
        }
        let events: usize = groups.iter().map(|group| group.events).sum();
        if events > 0 {
            let syncing = std::time::Instant::now();
            let entries: Vec<&[u8]> = groups
                .iter()
                .filter(|group| group.events > 0)
                .filter_map(|group| match &group.durable {
                    Durable::Journal(entry) => Some(entry.as_slice()),
                    Durable::Checkpoint => None,
                })
                .collect();
            let made = if groups.iter().any(|group| matches!(group.durable, Durable::Checkpoint)) {
                self.checkpoint()
            } else if let [entry] = entries.as_slice() {
                self.journal(entry)
            } else {
                self.journal(&entries.concat())
            };
            if let Err(failure) = made {
                refuse_with(&failure, groups);
                return;
            }
            if let Some(last) = groups.iter_mut().rev().find(|group| group.events > 0) {
                let signed = last.signed.take();
                self.publish(last.head, signed);
            }
            if let Some(observe) = self.observer.read().ok().and_then(|slot| slot.clone()) {
                observe(CommitObservation { events, sync: syncing.elapsed() });
            }
        }
        // A group that stores nothing is answered once every group before it is durable, which
        // it is here: the stage takes the groups in order.
        for (reply, outcome) in groups.into_iter().flat_map(|group| group.replies) {
            // A caller that stopped waiting has lost nothing: its events are stored.
            reply.send(outcome);
        }
    }

    /// Moves the durable head to `head` and replaces the published checkpoint with `signed`.
    fn publish(&mut self, head: Head, signed: Option<Result<SignedCheckpoint, CheckpointError>>) {
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
    }

    /// Appends a group's journal entry and syncs it (when the configuration asks). A failed write
    /// breaks the ledger as a failed sled write does; a failed sync poisons it (module docs).
    fn journal(&mut self, entry: &[u8]) -> std::result::Result<(), Failure> {
        if let Err(e) = self.journal.write(entry) {
            tracing::error!(error = %e, "the commit journal could not be written; the ledger refuses appends until restarted");
            let full = LedgerError::from(e).is_out_of_space();
            fail(&self.state, State::Broken { full });
            return Err(Failure::Broken { full, reason: "the commit journal could not be written".into() });
        }
        if self.durability == Durability::Fsync {
            if let Err(e) = self.journal.sync() {
                tracing::error!(error = %e, "sync of the commit journal failed; the ledger refuses further appends");
                fail(&self.state, State::Poisoned);
                return Err(Failure::Poisoned);
            }
        }
        Ok(())
    }

    /// sled's flush and the sync of its files, then the journal emptied: everything written so far
    /// is durable in sled alone.
    fn checkpoint(&mut self) -> std::result::Result<(), Failure> {
        // sled's flush writes every buffer up to the latest write.
        if let Err(e) = self.db.flush().map_err(LedgerError::from) {
            let full = e.is_out_of_space();
            tracing::error!(error = %e, "sled could not write; the ledger refuses appends until restarted");
            fail(&self.state, State::Broken { full });
            return Err(Failure::Broken { full, reason: e.to_string() });
        }
        if let Err(e) = self.sync() {
            // After a failed sync the kernel may have dropped the dirty pages while still showing
            // them to reads; what is durable is unknown. Refuse everything from now on.
            tracing::error!(error = %e, "sync failed; the ledger refuses further appends");
            fail(&self.state, State::Poisoned);
            return Err(Failure::Poisoned);
        }
        if let Err(e) = self.journal.empty(self.durability == Durability::Fsync) {
            // What the journal holds is in sled; a journal in an unknown state must not take more.
            tracing::error!(error = %e, "the commit journal could not be emptied; the ledger refuses further appends");
            fail(&self.state, State::Poisoned);
            return Err(Failure::Poisoned);
        }
        Ok(())
    }

    /// After sled's flush: `fdatasync`/`fsync` of what sled wrote, when the configuration asks.
    fn sync(&mut self) -> Result<()> {
        match self.durability {
            Durability::Fsync => self.syncer.sync().map_err(Into::into),
            Durability::FlushOnly => Ok(()),
        }
    }

    /// Rewrites the head manifest when the durable head moved and the last write is older than
    /// [`MANIFEST_EVERY`] (or `force`). A failure is logged: the manifest only guards, and a stale
    /// one still does.
    fn write_manifest(&mut self, force: bool) {
        let (written, at) = self.manifest;
        // Without fsync the head is not durable against power loss, and the manifest must never
        // name more than is: then it is written only when the ledger closes (after the last flush).
        let durable = self.durability == Durability::Fsync;
        if written == self.head || !(force || (durable && at.elapsed() >= MANIFEST_EVERY)) {
            return;
        }
        match super::manifest::Manifest::of(&self.head).write(&self.dir) {
            Ok(()) => self.manifest = (self.head, std::time::Instant::now()),
            Err(e) => tracing::error!(error = %e, "the head manifest could not be written"),
        }
    }
}

/// What one commit group stores, ready to write.
struct Grown {
    /// The Merkle tree's root after the group.
    root: TreeHash,
    /// The tree's new stored hashes, as the runs to store (`layout::runs`).
    runs: Vec<([u8; 8], Vec<u8>)>,
    /// The group's records, as the chunks to store (`layout::chunks`).
    chunks: Vec<(crate::id::Position, Vec<u8>)>,
    /// The tree's new stored hashes with their indexes.
    added: Vec<(u64, TreeHash)>,
}

/// Why the sync stage could not make a group durable (the state it left the ledger in).
enum Failure {
    Broken { full: bool, reason: String },
    Poisoned,
}

impl Failure {
    /// The error each request of the group is answered with.
    fn error(&self) -> LedgerError {
        match self {
            Failure::Broken { full, reason } => broken(*full, reason),
            Failure::Poisoned => LedgerError::Poisoned,
        }
    }
}

/// Answers every request of `groups` with the error of `failure` (none of them is durable).
fn refuse_with(failure: &Failure, groups: Vec<Written>) {
    for (reply, _) in groups.into_iter().flat_map(|group| group.replies) {
        reply.send(Err(failure.error()));
    }
}

/// Whether a request waits: the one `held` back, or one taken from `queue` now (then held).
fn waiting(held: &mut Option<Request>, queue: &Queue) -> bool {
    if held.is_some() {
        return true;
    }
    match queue.try_recv() {
        Some(request) => {
            *held = Some(request);
            true
        }
        None => false,
    }
}

/// The error for an append refused because sled failed earlier (or now, for `reason`).
fn broken(full: bool, reason: &str) -> LedgerError {
    if full {
        LedgerError::StorageFull { resumes: false }
    } else {
        LedgerError::Io(std::io::Error::other(format!("{reason}; the ledger refuses appends until restarted")))
    }
}
