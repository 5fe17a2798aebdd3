//! The [`App`] value: what every command and every query of the server works on.

use std::sync::{Arc, RwLockReadGuard, Weak};

use ledger::merkle::TreeHash;
use ledger::merkle::checkpoint::SignedCheckpoint;
use ledger::{Head, Ledger, Position, RecordedEvent};
use projections::Projections;
use tokio::sync::watch;

use super::auth::{Caller, TokenStore};
use super::live::LiveProjections;
use super::metrics::Metrics;
use super::queue::Queue;
use crate::error::ApiError;

/// The application's policies (HTTP's limits are the HTTP layer's own configuration).
#[derive(Debug, Clone, Default)]
pub struct AppConfig {
    /// Require a token (any role) for reads too. Off by default: the portal is public.
    pub reads_require_token: bool,
    /// The verifier keys of the witnesses whose cosignatures the server accepts and serves.
    pub witnesses: Vec<String>,
}

/// The running application: the ledger, the projections kept up to date with it, the tokens, the
/// metrics and the write lock. Share it as `Arc<App>`; every router and schema built over one `App`
/// shares its lock, so their writes are serialised against one another too.
#[derive(Debug)]
pub struct App {
    ledger: Ledger,
    projections: Arc<LiveProjections>,
    tokens: Arc<TokenStore>,
    metrics: Arc<Metrics>,
    config: AppConfig,
    /// Serialises the check-then-append of commands, so two concurrent commands cannot both pass
    /// validation against the same state (say, two registrations of one party): the write path's
    /// combiner holds it while it judges, appends and answers one batch (`batch.rs`), an import
    /// while it validates and appends.
    pub(super) write: tokio::sync::Mutex<()>,
    /// The commands waiting for the combiner's next batch.
    pub(super) queue: Queue,
    /// This value, for the combiner's task (which must own what it works on).
    this: Weak<App>,
    /// Cosigned checkpoints by size (`witness.rs`).
    pub(super) cosigned: std::sync::Mutex<std::collections::BTreeMap<u64, String>>,
    /// Set while the latest background verification failed: when, and why (`verifier.rs`); writes
    /// are refused meanwhile.
    pub(super) unverified: std::sync::Mutex<Option<String>>,
}

impl App {
    /// The application over a ledger: folds it into projections (blocking) and starts nothing. Call
    /// [`App::spawn_follower`] from inside a Tokio runtime to keep the projections current with
    /// appends made other than through this value.
    pub fn new(ledger: Ledger, tokens: Arc<TokenStore>, config: AppConfig) -> Result<Arc<Self>, ApiError> {
        Self::new_from(ledger, tokens, config, Projections::new())
    }

    /// [`App::new`] from projections of the ledger's first events (a start-up snapshot's, from
    /// `app/snapshot.rs`): only the events after them are folded.
    pub fn new_from(
        ledger: Ledger,
        tokens: Arc<TokenStore>,
        config: AppConfig,
        start: Projections,
    ) -> Result<Arc<Self>, ApiError> {
        let projections = LiveProjections::load_from(ledger.clone(), start)?;
        let metrics = Arc::new(Metrics::default());
        let observed = Arc::clone(&metrics);
        ledger.observe_commits(Arc::new(move |commit| observed.commit(commit)));
        Ok(Arc::new_cyclic(|this| Self {
            ledger,
            projections,
            tokens,
            metrics,
            config,
            write: tokio::sync::Mutex::new(()),
            queue: Queue::default(),
            this: this.clone(),
            cosigned: std::sync::Mutex::default(),
            unverified: std::sync::Mutex::default(),
        }))
    }

    /// Starts the task that catches the projections up whenever the ledger's head moves.
    pub fn spawn_follower(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.projections.clone().follow())
    }

    /// The application's policies.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// The tokens.
    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How many commands wait for the write path's next batch (`batch.rs`): what a batch that is
    /// being judged or synced now lets accumulate.
    pub fn queued_commands(&self) -> usize {
        self.queue.len()
    }

    /// How many commands of the batch being committed were sent to the ledger together and wait
    /// for its outcome (`batch.rs` sends every accepted command before awaiting any).
    pub fn commands_at_ledger(&self) -> usize {
        self.queue.at_ledger()
    }

    /// Who presented this token (anonymous for none).
    pub fn authenticate(&self, token: Option<&str>) -> Caller {
        self.tokens.authenticate(token)
    }

    /// Refuses a party that is not registered (as of now), e.g. for a PARTY token.
    pub fn require_registered_party(&self, party: &ledger::PartyId) -> Result<(), ApiError> {
        let registered =
            self.projections()?.party_registration_view(party, ledger::Date::MAX, ledger::Timestamp::now()).is_some();
        if registered {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "no party \"{party}\" is registered; a PARTY token names a registered party"
            )))
        }
    }

    /// Refuses a read when reads need a token and the caller has none.
    pub fn require_read(&self, caller: &Caller) -> Result<(), ApiError> {
        if !self.config.reads_require_token {
            return Ok(());
        }
        caller.require_token().map(|_| ())
    }

    /// The ledger's head: what is durable.
    pub fn head(&self) -> Head {
        self.ledger.head()
    }

    /// The head, to wait for it to move.
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.ledger.watch_head()
    }

    /// The projections' head, to wait for an event to be applied (it moves a moment after
    /// [`App::watch_head`]'s).
    pub fn watch_applied(&self) -> watch::Receiver<Position> {
        self.projections.watch_applied()
    }

    /// Up to `max` of the events applied last from `from` on, shared decoded (`None` when `from`
    /// is older than those kept or not applied yet).
    pub fn recent_from(&self, from: Position, max: usize) -> Option<Vec<Arc<RecordedEvent>>> {
        self.projections.recent_from(from, max)
    }

    /// Reads up to `max` events of the log from `from` (blocking: call it off the async workers).
    /// This is how a subscription follows the log at its own pace.
    pub fn read_log(&self, from: Position, max: usize) -> Result<Vec<RecordedEvent>, ApiError> {
        self.ledger.read_from(from).take(max).map(|e| e.map_err(ApiError::from)).collect()
    }

    /// Whether the projections can still read every record they hold (`Projections::health`):
    /// once one could not be read, no answer computed from them is handed out, and this says
    /// why, as UNAVAILABLE.
    pub fn health(&self) -> Result<(), ApiError> {
        self.projections.health()
    }

    /// The projections, for a query. The guard must not be held across an `.await`.
    pub fn projections(&self) -> Result<RwLockReadGuard<'_, Projections>, ApiError> {
        self.projections.read()
    }

    /// The events at `positions` (for `because` and a case's history), from the projections'
    /// memory: an answer cites only applied events, so a missing one is the server's fault.
    pub fn events_at(&self, positions: &[Position]) -> Result<Vec<Arc<RecordedEvent>>, ApiError> {
        let projections = self.projections()?;
        positions
            .iter()
            .map(|position| {
                projections.event(*position).ok_or_else(|| {
                    ApiError::internal(&format!("an answer cites position {position}, which is not applied"))
                })
            })
            .collect()
    }

    /// The latest signed checkpoint (none when the ledger has no log key).
    pub fn checkpoint(&self) -> Option<Arc<SignedCheckpoint>> {
        self.ledger.checkpoint()
    }

    /// The tree size proofs default to: the latest checkpoint's, else the head's.
    pub fn proof_size(&self) -> u64 {
        self.checkpoint().map_or_else(|| self.head().position.get(), |c| c.size)
    }

    /// The Merkle root of the first `size` events.
    pub fn tree_root(&self, size: u64) -> Result<TreeHash, ApiError> {
        Ok(self.ledger.tree_root(size)?)
    }

    /// The inclusion proof of the event at `position` in the tree of the first `size` events.
    pub fn inclusion_proof(&self, position: Position, size: u64) -> Result<Vec<TreeHash>, ApiError> {
        let Some(index) = position.get().checked_sub(1) else {
            return Err(ApiError::invalid("positions count from 1"));
        };
        Ok(self.ledger.inclusion_proof(index, size)?)
    }

    /// The consistency proof from the first `old` events to the first `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, ApiError> {
        Ok(self.ledger.consistency_proof(old, new)?)
    }

    /// A C2SP hash tile (blocking: a few reads).
    pub fn hash_tile(&self, level: u8, index: u64, width: u32) -> Result<Vec<u8>, ApiError> {
        Ok(self.ledger.hash_tile(level, index, width)?)
    }

    /// A C2SP entry bundle (blocking: reads up to 256 events; call it off the async workers).
    pub fn entry_bundle(&self, index: u64, width: u32) -> Result<Vec<u8>, ApiError> {
        Ok(self.ledger.entry_bundle(index, width)?)
    }

    /// This value as shared (none only while it is being dropped).
    pub(super) fn shared(&self) -> Option<Arc<App>> {
        self.this.upgrade()
    }

    pub(super) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub(super) fn live(&self) -> &LiveProjections {
        &self.projections
    }

    pub(super) fn live_handle(&self) -> Arc<LiveProjections> {
        Arc::clone(&self.projections)
    }
}
