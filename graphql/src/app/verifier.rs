//! Background verification while the server runs: right after start-up and then every so often,
//! the whole log up to the head of that moment is walked again (`Ledger::verify_online`: the chain,
//! every event, the tree's hashes, the signed root), on a blocking thread, with appends going on.
//! The open checks only the head, so this is what finds a record altered in the middle. Each run
//! reports its progress and its outcome in the metrics. A failure is logged as an error and, until
//! a later run passes, every write is refused with `UNAVAILABLE` saying why (reads go on: an
//! auditor still sees what the ledger holds, and the operator can export and compare).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::state::App;
use crate::error::{ApiError, Code};

impl App {
    /// Starts the verification loop: the first run at once, then every `every`.
    pub fn spawn_verifier(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let app = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let run = Arc::clone(&app);
                let (done, finished) = tokio::sync::oneshot::channel();
                // A thread of its own at the lowest priority, not one of the blocking pool's, which
                // run queries: a verification of a large ledger takes a core for seconds, and
                // answers must not wait for it.
                let spawned = std::thread::Builder::new().name("verifier".to_owned()).spawn(move || {
                    lower_this_threads_priority();
                    let _ = done.send(run.verify_now());
                });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "the background verification could not start");
                } else if finished.await.is_err() {
                    tracing::error!("the background verification stopped unexpectedly");
                }
            }
        })
    }

    /// One verification run of the whole ledger up to the head of this moment, while appends go
    /// on (the chain, every event, the tree's hashes, the signed root), recorded in the metrics and
    /// the log: the background loop's, and `samverkan verify` through a running server. Blocking.
    pub fn verify_now(&self) -> Result<Verified, String> {
        let started = Instant::now();
        let metrics = self.metrics();
        metrics.verify_progress(0, self.head().position.get());
        let outcome = self.ledger().verify_online(&mut |done, total| metrics.verify_progress(done.get(), total.get()));
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok(report) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                metrics.verified(report.events, now, seconds);
                tracing::info!(events = report.events, seconds, "verification passed");
                if self.unverified().take().is_some() {
                    tracing::warn!("a verification passed again: writes are accepted again");
                }
                Ok(Verified {
                    events: report.events,
                    head_hash: report.head.hash.to_string(),
                    root: report.root.to_string(),
                })
            }
            Err(e) => {
                // Writes stop before the metrics say so: whoever reads the failure there finds
                // them refused.
                *self.unverified() = Some(ledger::Timestamp::now().to_string());
                metrics.verification_failed(seconds);
                tracing::error!(error = %e, "verification FAILED: the ledger does not verify; writes are refused");
                Err(e.to_string())
            }
        }
    }

    /// `Ok` unless the latest verification failed; then the refusal every write gets.
    pub(crate) fn writes_allowed(&self) -> Result<(), ApiError> {
        match self.unverified().as_deref() {
            None => Ok(()),
            Some(at) => Err(ApiError::new(
                Code::Unavailable,
                format!(
                    "the ledger failed its integrity verification (at {at}): nothing is recorded until a \
                     verification passes; reads go on; the operator has the details in the server's log"
                ),
            )),
        }
    }

    fn unverified(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.unverified.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a verification found: the same facts `samverkan verify` prints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// Events verified (the head's position at the start).
    pub events: u64,
    /// The head's hash.
    pub head_hash: String,
    /// The Merkle tree's root over those events (base64, as in checkpoints).
    pub root: String,
}

/// Makes the calling thread the last to get a core (nice 19), where the system allows it.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!(error = %e, "the verifier's priority could not be lowered");
    }
}
