//! The real history of the HÖK (`fixtures/history.jsonl`), embedded in the binary so that `serve`
//! on an empty data directory answers real questions from any working directory.

use ledger::Ledger;
use ledger::jsonl::{ImportReport, read_lines};

use super::import::{ImportError, import_validated};

/// The embedded fixture file.
pub const HISTORY: &str = include_str!("../../../fixtures/history.jsonl");

/// Imports the fixtures into an empty ledger, validated like any import. Does nothing (and returns `None`) if the ledger has
/// events.
pub fn seed_if_empty(ledger: &Ledger) -> Result<Option<ImportReport>, ImportError> {
    if ledger.head().position.get() > 0 {
        return Ok(None);
    }
    let lines = read_lines(HISTORY.as_bytes(), &mut |_| {})?;
    Ok(Some(import_validated(ledger, lines)?))
}
