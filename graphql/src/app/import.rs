//! Imports that obey the rules: every line is checked by the projections' command validation (the
//! same the mutations use), each against the ledger plus the file's earlier lines, before anything is
//! appended. One rejected line rejects the file, naming the line.

use ledger::jsonl::{self, ImportLine, ImportReport};
use ledger::{AppendOutcome, Ledger, LedgerError};
use projections::Projections;

use super::live::{FoldError, apply_new};

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The ledger refused it (malformed, record time backwards, hash mismatch, …).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A line breaks a rule of the domain.
    #[error("line {line}: {rejection}")]
    Rejected {
        /// 1-based line number.
        line: usize,
        /// The rule's answer.
        rejection: projections::Rejection,
    },
    /// The existing ledger could not be folded.
    #[error(transparent)]
    Fold(#[from] FoldError),
}

/// Validates every line, then appends them all atomically.
pub fn import_validated(ledger: &Ledger, lines: Vec<ImportLine>) -> Result<ImportReport, ImportError> {
    let numbers: Vec<usize> = lines.iter().map(ImportLine::line).collect();
    let proposed: Vec<ledger::NewEvent> = lines.iter().map(|l| l.event.clone()).collect();
    let append = jsonl::append_of(lines);
    let committed = match ledger.preview(&append)? {
        AppendOutcome::Committed(c) => c,
        AppendOutcome::Conflict(c) => {
            return Err(LedgerError::Conflict { stream: c.stream, expected: c.expected, actual: c.actual }.into());
        }
    };
    let mut projections = Projections::new();
    apply_new(&mut projections, ledger)?;
    let mut batch = Vec::new();
    let mut batch_lines = Vec::new();
    for ((proposed, committed), line) in proposed.iter().zip(&committed).zip(&numbers) {
        if !committed.already_stored {
            batch.push((proposed, &committed.event));
            batch_lines.push(*line);
        }
    }
    if let Err((index, rejection)) = projections.validate_batch(&batch) {
        return Err(ImportError::Rejected { line: batch_lines.get(index).copied().unwrap_or(0), rejection });
    }
    // The preview and the append see the same ledger unless another writer slips in between; the
    // append re-checks everything the ledger itself guarantees.
    Ok(jsonl::import_append(ledger, append)?)
}
