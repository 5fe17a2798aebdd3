//! Background verification while the server runs: every so often the whole log up to the head of
//! that moment is walked again (`Ledger::verify_online`: the chain, every event, the tree's hashes,
//! the signed root), on a blocking thread, with appends going on. Each run is counted in the
//! metrics; a failure is logged as an error and stays visible there until a run passes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::state::App;

impl App {
    /// Starts the verification loop: the first run after `every`, then every `every`.
    pub fn spawn_verifier(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let app = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let run = Arc::clone(&app);
                if tokio::task::spawn_blocking(move || run.verify_now()).await.is_err() {
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
        let outcome = self.ledger().verify_online(&mut |_, _| {});
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok(report) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                self.metrics().verified(report.events, now, seconds);
                tracing::info!(events = report.events, seconds, "verification passed");
                Ok(Verified {
                    events: report.events,
                    head_hash: report.head.hash.to_string(),
                    root: report.root.to_string(),
                })
            }
            Err(e) => {
                self.metrics().verification_failed(seconds);
                tracing::error!(error = %e, "verification FAILED: the ledger does not verify");
                Err(e.to_string())
            }
        }
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
