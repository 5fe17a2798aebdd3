//! The operations the secretariat runs while the server serves (issue 17): an export of the log at
//! one head (the online backup), a verification of the whole ledger, and an all-or-nothing import,
//! each as a plain blocking function over [`App`]. The command line reaches them through the
//! server's `/admin/` endpoints when a server holds the data directory, and runs the same ledger
//! functions itself when none does.

use std::io::Write;

use ledger::jsonl::{self, ImportLine, ImportReport};
use ledger::{Position, RecordedEvent};
use serde::Serialize;

use super::import::{ImportError, import_validated};
use super::state::App;
use crate::error::ApiError;

/// What a verification found: the same facts `samverkan verify` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// Events verified (the head's position at the start).
    pub events: u64,
    /// The head's hash.
    pub head_hash: String,
    /// The Merkle tree's root over those events (base64, as in checkpoints).
    pub root: String,
}

/// What an import did, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    /// Events newly stored.
    pub appended: usize,
    /// Events already stored with the same content (skipped).
    pub already_stored: usize,
    /// The head's position afterwards.
    pub head: u64,
}

impl App {
    /// Writes the events from position 1 through `through` (at most the head) as JSON Lines: one
    /// consistent snapshot of the log, whatever is appended meanwhile. Returns the count written.
    /// Blocking: call it off the async workers.
    pub fn export_through(&self, through: Position, out: &mut dyn Write) -> Result<u64, ApiError> {
        let through = through.min(self.head().position);
        let mut count = 0u64;
        for event in self.ledger().read_from(Position::FIRST) {
            let event: RecordedEvent = event?;
            if event.position() > through {
                break;
            }
            let line = jsonl::to_json_line(&event)?;
            out.write_all(line.as_bytes()).map_err(|e| ApiError::internal(&e))?;
            out.write_all(b"\n").map_err(|e| ApiError::internal(&e))?;
            count += 1;
        }
        out.flush().map_err(|e| ApiError::internal(&e))?;
        Ok(count)
    }

    /// Verifies the whole ledger up to the head of this moment while appends go on (the chain,
    /// every event, the tree's hashes, the signed root) and records the run in the metrics, as the
    /// background verification does. Blocking.
    pub fn verify_report(&self) -> Result<Verified, String> {
        let started = std::time::Instant::now();
        let outcome = self.ledger().verify_online(&mut |_, _| {});
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok(report) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                self.metrics().verified(report.events, now, seconds);
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

    /// Imports parsed lines, all or nothing, validated by the rules against the ledger and the
    /// file's earlier lines, under the write lock (no mutation is validated against a state the
    /// import is about to change). The projections are caught up before it returns, so the next
    /// query sees the imported events. Blocking: call it off the async workers.
    pub fn import_lines(&self, lines: Vec<ImportLine>) -> Result<Imported, ImportError> {
        let _write = self.write.blocking_lock();
        let ImportReport { appended, already_stored } = import_validated(self.ledger(), lines)?;
        if let Err(e) = self.live().catch_up() {
            // The events are durable; the follower catches up on the next head move.
            tracing::warn!(error = %e.message, "the projections did not catch up after an import");
        }
        Ok(Imported { appended, already_stored, head: self.head().position.get() })
    }
}
