//! The operations the secretariat runs while the server serves (issue 17): an export of the log at
//! one head (the online backup) and an all-or-nothing import, each as a plain blocking function
//! over [`App`] (a verification is `verifier.rs`'s [`App::verify_now`]). The command line reaches them through the
//! server's `/admin/` endpoints when a server holds the data directory, and runs the same ledger
//! functions itself when none does.

use std::io::Write;

use ledger::Position;
use ledger::jsonl::{self, ImportLine, ImportReport};
use serde::Serialize;

use super::import::{ImportError, import_staged};
use super::live::FoldError;
use super::state::App;
use crate::error::ApiError;

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
        Ok(jsonl::export_through(self.ledger(), through, out, &mut |_, _| {})?)
    }

    /// Imports parsed lines, all or nothing, validated by the rules against the ledger and the
    /// file's earlier lines, under the write lock (no mutation is validated against a state the
    /// import is about to change). The projections are caught up before it returns, so the next
    /// query sees the imported events. Blocking: call it off the async workers.
    pub fn import_lines(&self, lines: Vec<ImportLine>) -> Result<Imported, ImportError> {
        let _write = self.write.blocking_lock();
        // Judged against the projections the server answers from (caught up first): a copy that
        // shares their events, not a second fold of the ledger.
        let unfolded = |e: ApiError| {
            ImportError::Fold(FoldError::Ledger(ledger::LedgerError::Io(std::io::Error::other(e.message))))
        };
        self.live().catch_up().map_err(unfolded)?;
        let base = self.live().read().map_err(unfolded)?.clone();
        let (ImportReport { appended, already_stored }, _) =
            import_staged(self.ledger(), base, lines.into_iter().map(Ok), &mut |_| {})?;
        if let Err(e) = self.live().catch_up() {
            // The events are durable; the follower catches up on the next head move.
            tracing::warn!(error = %e.message, "the projections did not catch up after an import");
        }
        Ok(Imported { appended, already_stored, head: self.head().position.get() })
    }
}
