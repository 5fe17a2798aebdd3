//! Imports that obey the rules: every line is checked by the projections' command validation (the
//! same the mutations use), each against the ledger plus the file's earlier lines, before anything is
//! visible. One rejected line rejects the file, naming the line. The file is read, staged and judged
//! a step at a time and published at the end (`ledger::Staging`): all or nothing at any size.

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

/// Validates every line and appends them all atomically: `import_staged` on projections folded
/// from the ledger.
pub fn import_validated(ledger: &Ledger, lines: Vec<ImportLine>) -> Result<ImportReport, ImportError> {
    let mut projections = Projections::new();
    apply_new(&mut projections, ledger)?;
    import_staged(ledger, projections, lines.into_iter().map(Ok), &mut |_| {})
}

/// How far an import has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// So many lines are read, staged and judged.
    Staged {
        /// Lines read so far.
        lines: usize,
    },
    /// Every line is staged and judged; the ledger is publishing them.
    Publishing,
}

/// Events staged per step of an import (one commit group each, never visible before the publish).
const STAGE_EVENTS: usize = 4096;

/// Imports JSON Lines as they are read, all or nothing, in bounded steps: each step of
/// [`STAGE_EVENTS`] lines is admitted, sealed and written by the ledger after its head without
/// being visible ([`ledger::Staging`]), then each new event is judged by the projections' rules
/// against `projections` (the ledger as it was, plus the file's earlier lines) and applied to
/// them; after the last line the ledger publishes everything by moving its head in one step. A
/// rejected line, an unreadable line or any failure abandons what was staged, and a crash before
/// the publish leaves nothing visible (the ledger reclaims the staged data on open).
///
/// Memory: a step of lines and `projections` (which grow by the imported events); the file is
/// never held whole. `progress` hears of every step and of the publish.
pub(crate) fn import_staged(
    ledger: &Ledger,
    mut projections: Projections,
    lines: impl Iterator<Item = Result<ImportLine, LedgerError>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, ImportError> {
    let mut staging = ledger.stage()?;
    let mut report = ImportReport { appended: 0, already_stored: 0 };
    let mut lines = lines.peekable();
    let mut read = 0;
    while lines.peek().is_some() {
        let step: Vec<ImportLine> = lines.by_ref().take(STAGE_EVENTS).collect::<Result<_, _>>()?;
        read += step.len();
        let proposed: Vec<(usize, ledger::NewEvent)> = step.iter().map(|l| (l.line(), l.event.clone())).collect();
        let committed = match staging.append(jsonl::append_of(step))? {
            AppendOutcome::Committed(c) => c,
            AppendOutcome::Conflict(c) => {
                return Err(LedgerError::Conflict { stream: c.stream, expected: c.expected, actual: c.actual }.into());
            }
        };
        for ((line, proposed), committed) in proposed.iter().zip(&committed) {
            if committed.already_stored {
                report.already_stored += 1;
                continue;
            }
            projections.validate(proposed).map_err(|rejection| ImportError::Rejected { line: *line, rejection })?;
            projections.apply(&committed.event).map_err(|e| ImportError::Fold(FoldError::from(e)))?;
            report.appended += 1;
        }
        progress(Progress::Staged { lines: read });
    }
    progress(Progress::Publishing);
    staging.publish()?;
    Ok(report)
}
