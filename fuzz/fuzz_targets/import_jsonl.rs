//! Fuzz target: any bytes as a JSON Lines import file → the parser, the ledger's preview of the
//! atomic append and the projections' validation of every line, as `samverkan import` runs them,
//! into an empty ledger and into one holding the fixture history. Every outcome must be a typed
//! error or rejection naming a line, never a panic.
//!
//! Whatever the ledger would store is then folded into the projections and queried, accepted by
//! the rules or not: the unvalidated `ledger::jsonl::import` stores any well-typed file. And its
//! export line must read back as the same event, or a backup would not restore.

#![no_main]

use libfuzzer_sys::fuzz_target;
use samverkan_fuzz::{NOW, World, query, round_trip};

fuzz_target!(|input: &[u8]| {
    // `read_lines` reads bytes, as the CLI does from a file: invalid UTF-8 is its error to report.
    let Ok(lines) = ledger::jsonl::read_lines(input, &mut |_| {}) else { return };
    if lines.is_empty() {
        return;
    }
    for world in [World::empty(), World::seeded()] {
        let Some((stored, accepted)) = world.check_import(lines.clone()) else { continue };
        for recorded in &stored {
            round_trip(recorded);
        }
        let Some(projections) = world.projections_with(&stored) else { continue };
        for (index, recorded) in stored.iter().enumerate() {
            // The whole-state queries once per accepted file: they dominate the cost of an input.
            query(&projections, recorded.data(), recorded.effective(), NOW, accepted && index == 0);
        }
    }
});
