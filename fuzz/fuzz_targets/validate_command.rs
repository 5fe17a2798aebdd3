//! Fuzz target: structured commands (real events mutated by the fuzz input, see `command.rs`)
//! validated against the projections of the real fixture history, now and as known at another
//! record time, alone and as a batch; then folded and queried whether or not they were accepted.
//! The validator must answer with a `Rejection` value and the projections must fold any typed
//! events, never panic; each stored event's export line must read back as the same event.

#![no_main]

use libfuzzer_sys::fuzz_target;
use samverkan_fuzz::{NOW, World, commands, query, round_trip};

fuzz_target!(|input: &[u8]| {
    let commands = commands(input);
    if commands.is_empty() {
        return;
    }
    let world = World::seeded();
    // Each alone, as a mutation sees it.
    for command in &commands {
        let _ = world.validate(&command.event, command.known);
    }
    // The sequence as one append, as the ledger would store it.
    let proposed: Vec<_> = commands.iter().map(|c| &c.event).collect();
    let Some(stored) = world.preview(&proposed) else { return };
    let new: Vec<_> = commands.iter().zip(&stored).filter_map(|(c, r)| Some((c, r.as_ref()?))).collect();
    // The importer's check of the sequence: each against the fixtures plus the ones before it.
    let batch: Vec<_> = new.iter().map(|(c, r)| (&c.event, *r)).collect();
    let _ = world.projections.validate_batch(&batch);
    // The projections are total over typed events, accepted or not: the ledger stores what it is
    // given (`Ledger::append`, `ledger::jsonl::import`), and the rules came later than some data.
    let Some(projections) = world.projections_with(new.iter().map(|(_, r)| *r)) else { return };
    for (command, recorded) in new {
        round_trip(recorded);
        query(&projections, recorded.data(), command.at, NOW, command.everything);
        if command.known != NOW {
            query(&projections, recorded.data(), recorded.effective(), command.known, false);
        }
    }
});
