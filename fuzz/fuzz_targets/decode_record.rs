//! Fuzz target: a stored record's bytes → the decoder every read of the log uses, and the hash
//! recomputation of `verify`. Any bytes must give an event or a typed `LedgerError`, never a panic.
//!
//! Input: 8 bytes of position (the big-endian sled key the record is read under), then the record.
//! A decoded event is also rendered as its JSON line, as `export` would.

#![no_main]

use ledger::Position;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((key, record)) = input.split_first_chunk::<8>() else { return };
    let position = Position::new(u64::from_be_bytes(*key));
    let _ = ledger::fuzzing::computed_hash(position, record);
    if let Ok(event) = ledger::fuzzing::decode_record(position, record) {
        let _ = std::hint::black_box(ledger::jsonl::to_json_line(&event));
    }
});
