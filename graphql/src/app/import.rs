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
    import_staged(ledger, projections, lines.into_iter().map(Ok), &mut |_| {}).map(|(report, _)| report)
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

/// How many steps an import has sent to the writer at most while it judges the oldest.
const IN_FLIGHT: usize = 2;

/// Imports JSON Lines as they are read, all or nothing, in bounded steps: each step of
/// [`STAGE_EVENTS`] lines is admitted, sealed and written by the ledger after its head without
/// being visible ([`ledger::Staging`]), then each new event is judged by the projections' rules
/// against `projections` (the ledger as it was, plus the file's earlier lines) and applied to
/// them; after the last line the ledger publishes everything by moving its head in one step. A
/// rejected line, an unreadable line or any failure abandons what was staged, and a crash before
/// the publish leaves nothing visible (the ledger reclaims the staged data on open).
///
/// Three stages run at once (issue 18): a thread reads and parses the next step, the ledger's
/// writer seals and writes the step after it, and this thread judges the step before. Judging
/// after staging is what "all or nothing" allows: a step staged after a line that is then rejected
/// is removed with everything else.
///
/// Memory: a few steps of lines and `projections` (whose indexes grow by the imported events, their
/// records spilled to disk past [`Projections::SPILL_FOR_IMPORT`], at most [`Projections::DECODED_FOR_IMPORT`] events kept
/// decoded); the file is never held whole. `progress` hears of every
/// step and of the publish. Returns, with the report, the projections the lines were judged on:
/// those of the ledger as published.
pub(crate) fn import_staged<I>(
    ledger: &Ledger,
    projections: Projections,
    lines: I,
    progress: &mut dyn FnMut(Progress),
) -> Result<(ImportReport, Projections), ImportError>
where
    I: Iterator<Item = Result<ImportLine, LedgerError>> + Send,
{
    import_in_steps(ledger, projections, lines, STAGE_EVENTS, progress)
}

/// [`import_staged`] in steps of `step_events` lines.
fn import_in_steps<I>(
    ledger: &Ledger,
    mut projections: Projections,
    lines: I,
    step_events: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<(ImportReport, Projections), ImportError>
where
    I: Iterator<Item = Result<ImportLine, LedgerError>> + Send,
{
    let mut staging = ledger.stage()?;
    let mut report = ImportReport { appended: 0, already_stored: 0 };
    // A stream is asked about while its lines pass, so few decoded events serve the judge; the
    // projections handed back keep the default again.
    projections.keep_decoded(Projections::DECODED_FOR_IMPORT);
    projections.spill_past(Projections::SPILL_FOR_IMPORT);
    std::thread::scope(|scope| {
        // The reader: a step at a time, at most two ahead. It stops at the first unreadable line
        // (sent on as the step's error) or when this side hangs up.
        // It also screens each line (`projections::screen`, the rules that look at the event
        // alone: a tenth of the judging thread's time at 1M events), keeping the verdict for the
        // judge, which gives it in file order with the rules against state.
        let (steps, parsed) = std::sync::mpsc::sync_channel::<Result<Step, LedgerError>>(2);
        std::thread::Builder::new()
            .name("import-reader".into())
            .spawn_scoped(scope, move || {
                let mut lines = lines.peekable();
                while lines.peek().is_some() {
                    let step: Result<Vec<ImportLine>, _> = lines.by_ref().take(step_events).collect();
                    let failed = step.is_err();
                    let step = step.map(|lines| {
                        let proposed = lines
                            .iter()
                            .map(|l| Proposed { line: l.line(), screened: projections::screen(&l.event) })
                            .collect();
                        Step { lines, proposed }
                    });
                    if steps.send(step).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(LedgerError::Io)?;
        let mut read = 0;
        // The steps sent to the writer and not judged yet: it seals and writes the newest while
        // this thread judges the oldest. Up to [`IN_FLIGHT`], so that neither waits for the other
        // at every step's uneven end.
        let mut in_flight: std::collections::VecDeque<(Vec<Proposed>, ledger::StagedStep)> =
            std::collections::VecDeque::with_capacity(IN_FLIGHT);
        let mut reading = true;
        while reading || !in_flight.is_empty() {
            if reading && in_flight.len() < IN_FLIGHT {
                match parsed.recv() {
                    Ok(Ok(Step { lines, proposed })) => {
                        read += lines.len();
                        in_flight.push_back((proposed, staging.send(jsonl::append_of(lines))?));
                        continue;
                    }
                    Ok(Err(unreadable)) => {
                        // The lines before it are judged first: the first bad line is the one named.
                        while let Some((proposed, step)) = in_flight.pop_front() {
                            judge(&mut staging, &mut projections, &proposed, step, &mut report)?;
                        }
                        return Err(unreadable.into());
                    }
                    Err(_) => reading = false,
                }
            }
            if let Some((proposed, step)) = in_flight.pop_front() {
                judge(&mut staging, &mut projections, &proposed, step, &mut report)?;
                // The judged events' records out of memory once they are many (`live::spill`).
                super::live::spill(&mut projections, ledger);
                progress(Progress::Staged { lines: read });
            }
        }
        Ok::<(), ImportError>(())
    })?;
    progress(Progress::Publishing);
    staging.publish()?;
    projections.keep_decoded(Projections::DECODED);
    projections.spill_past(Projections::SPILL);
    Ok((report, projections))
}

/// A step of lines as read, and what the judge needs of each.
struct Step {
    lines: Vec<ImportLine>,
    proposed: Vec<Proposed>,
}

/// A line's number and its event's screening (`projections::screen`); the event itself is judged
/// as the ledger staged it.
struct Proposed {
    line: usize,
    screened: Result<(), projections::Rejection>,
}

/// Waits for a staged step and judges its new events, in order, against `projections`, applying
/// each one that passes: the verdict is `projections.validate`'s, its screening done by the reader.
fn judge(
    staging: &mut ledger::Staging,
    projections: &mut Projections,
    proposed: &[Proposed],
    step: ledger::StagedStep,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    // With the bytes the writer stored for each new event, applied as they are (encoding each
    // event again was a tenth of this thread's time at 1M events).
    let (outcome, records) = staging.receive_compact(step)?;
    let committed = match outcome {
        AppendOutcome::Committed(c) => c,
        AppendOutcome::Conflict(c) => {
            return Err(LedgerError::Conflict { stream: c.stream, expected: c.expected, actual: c.actual }.into());
        }
    };
    let mut records = records.into_iter();
    for (proposed, committed) in proposed.iter().zip(committed) {
        if committed.already_stored {
            report.already_stored += 1;
            continue;
        }
        let line = proposed.line;
        proposed.screened.clone().map_err(|rejection| ImportError::Rejected { line, rejection })?;
        let event = std::sync::Arc::new(committed.event);
        let verdict = projections.validate_screened(&event);
        // A verdict reached while a record could not be read is no verdict (`Projections::health`).
        projections.health().map_err(|e| ImportError::Fold(FoldError::from(e)))?;
        verdict.map_err(|rejection| ImportError::Rejected { line, rejection })?;
        // Shared with the projections' decoded streams: the next event of its stream is judged
        // without decoding this one again (a twentieth of an import's CPU, session 19).
        let applied = match records.next() {
            Some(compact) => projections.apply_compact_shared(event, compact),
            None => projections.apply(&event),
        };
        applied.map_err(|e| ImportError::Fold(FoldError::from(e)))?;
        report.appended += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;
    use ledger::Position;

    fn fixture() -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");
        std::fs::read_to_string(path).expect("the fixture").lines().map(str::to_owned).collect()
    }

    fn import(dir: &std::path::Path, text: &[String], step: usize) -> (Ledger, Result<ImportReport, ImportError>) {
        let ledger = Ledger::open(dir, ledger::LedgerConfig::default()).expect("a new ledger");
        let joined = text.join("\n");
        let lines = jsonl::lines(joined.as_bytes()).collect::<Vec<_>>();
        let outcome = import_in_steps(&ledger, Projections::new(), lines.into_iter(), step, &mut |_| {});
        (ledger, outcome.map(|(report, _)| report))
    }

    #[test]
    fn a_file_imported_in_many_pipelined_steps_is_all_there_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = fixture();
        let mut steps = Vec::new();
        let ledger = Ledger::open(dir.path(), ledger::LedgerConfig::default()).expect("a new ledger");
        let joined = text.join("\n");
        let (report, projections) =
            import_in_steps(&ledger, Projections::new(), jsonl::lines(joined.as_bytes()), 7, &mut |p| {
                steps.push(p);
            })
            .expect("the fixture imports");
        assert_eq!(report.appended, text.len());
        assert_eq!(projections.head(), ledger.head().position, "the projections returned are the ledger's");
        assert_eq!(ledger.head().position.get(), text.len() as u64);
        assert_eq!(steps.len(), text.len().div_ceil(7) + 1, "every step and the publish are heard of");
        assert_eq!(steps.last(), Some(&Progress::Publishing));
        // The events are the file's, in its order.
        let ids: Vec<String> = ledger.read_from(Position::new(1)).map(|e| e.expect("event").id().to_string()).collect();
        let expected: Vec<String> = text
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON")["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(ids, expected);
    }

    /// The reader screens every line of a step before the judge reaches the first: a screening's
    /// verdict must still come in file order with the rules against state.
    #[test]
    fn a_screened_line_and_a_rule_broken_in_one_step_name_the_earlier_line() {
        let text = fixture();
        // A personal identity number in a source note (found by the screening), and line 1's
        // party registered again (found against state).
        let mut personal: serde_json::Value = serde_json::from_str(&text[2]).expect("JSON");
        personal["source"]["note"] = serde_json::json!("gäller 19121212-1212");
        personal.as_object_mut().expect("an object").remove("recordedAt");
        let mut again: serde_json::Value = serde_json::from_str(&text[0]).expect("JSON");
        for field in ["id", "recordedAt"] {
            again.as_object_mut().expect("an object").remove(field);
        }
        for (first, second, named) in [(personal.clone(), again.clone(), 3), (again, personal, 2)] {
            let mut text = fixture();
            text[1] = if named == 2 { first.to_string() } else { text[1].clone() };
            text[2] = if named == 2 { second.to_string() } else { first.to_string() };
            if named == 3 {
                text[3] = second.to_string();
            }
            // The two lines without a record time last: the ledger stamps them now, and a line
            // after them would be refused by the ledger for going back in time.
            text.truncate(if named == 3 { 4 } else { 3 });
            let dir = tempfile::tempdir().expect("tempdir");
            let (ledger, outcome) = import(dir.path(), &text, 100);
            match outcome {
                Err(ImportError::Rejected { line, .. }) => assert_eq!(line, named),
                other => panic!("expected line {named}'s rejection, got {other:?}"),
            }
            assert_eq!(ledger.head().position.get(), 0, "nothing is visible");
        }
    }

    #[test]
    fn the_first_bad_line_is_named_though_a_later_step_was_read_before_it_was_judged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = fixture();
        // Line 2 registers line 1's party again (a rule's rejection, found when step 1 is judged);
        // line 5, in step 2, is not JSON (found when step 2 is read, before step 1 is judged).
        let mut again: serde_json::Value = serde_json::from_str(&text[0]).expect("JSON");
        again.as_object_mut().expect("an object").remove("id");
        text[1] = again.to_string();
        text[4] = "{ not json".to_owned();
        let (ledger, outcome) = import(dir.path(), &text, 3);
        match outcome {
            Err(ImportError::Rejected { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected line 2's rejection, got {other:?}"),
        }
        assert_eq!(ledger.head().position.get(), 0, "nothing is visible");
        // Without line 2's problem, line 5 is the one named.
        let mut text = fixture();
        text[4] = "{ not json".to_owned();
        let dir = tempfile::tempdir().expect("tempdir");
        let (ledger, outcome) = import(dir.path(), &text, 3);
        let message = outcome.expect_err("line 5 is not JSON").to_string();
        assert!(message.contains("line 5"), "{message}");
        assert_eq!(ledger.head().position.get(), 0);
    }
}
