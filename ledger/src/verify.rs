//! `verify`: walk the whole log and prove it was not altered.

use std::collections::HashMap;

use crate::chain::Hash;
use crate::encoding;
use crate::error::{LedgerError, Result};
use crate::event::{EventData, RecordedEvent};
use crate::id::{EventId, Position, StreamId};
use crate::merkle::{self, Stored, TreeHash};
use crate::sequence::Head;
use crate::store::{Chunk, Trees, layout};
use crate::time::Timestamp;

/// How often (in events) the progress callback is called.
const PROGRESS_EVERY: u64 = 4096;

/// What a successful verification saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifyReport {
    /// How many events were checked.
    pub events: u64,
    /// The head they lead to.
    pub head: Head,
    /// The Merkle root of the whole log, recomputed from the events.
    pub root: TreeHash,
}

/// Checks, for every chunk in position order: its key is the position of its first record and it
/// begins where the one before ended (no gap, no overlap), and its index section names each
/// record's id and stream. For every record: the positions are gapless from 1; each record's
/// `prevHash` is the previous record's hash; each record's hash matches SHA-256 over its stored bytes
/// (so any changed byte is caught); the record decodes, belongs at its key, and its stream versions
/// count up from 1 without gaps; record time never decreases; a retraction sits in its target's
/// stream; every hash the Merkle tree stores is the one recomputed from the events (leaf bytes,
/// leaf hash, completed subtrees), its runs follow each other without a gap or an overlap, the tree
/// holds nothing more and covers exactly the log; and the last record is the stored head.
///
/// Returns the first failure as a typed error. `progress(done, total)` is called as it goes.
pub(crate) fn verify_log(
    trees: &Trees,
    head: Head,
    progress: &mut dyn FnMut(Position, Position),
) -> Result<VerifyReport> {
    walk(trees, head, Scope::Whole, progress)
}

/// What a walk covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The whole log, which must end at the head (nothing is appended meanwhile).
    Whole,
    /// The log up to a head taken at the start, while appends go on past it: what comes after is
    /// not looked at, and the tree's size and its entries beyond are not compared.
    UpTo,
}

/// Like [`verify_log`], of the events up to `head` only, while the ledger keeps appending.
pub(crate) fn verify_up_to(
    trees: &Trees,
    head: Head,
    progress: &mut dyn FnMut(Position, Position),
) -> Result<VerifyReport> {
    walk(trees, head, Scope::UpTo, progress)
}

fn walk(trees: &Trees, head: Head, scope: Scope, progress: &mut dyn FnMut(Position, Position)) -> Result<VerifyReport> {
    let mut expected = Position::FIRST;
    let mut prev = Hash::GENESIS;
    let mut last_time = Timestamp::EPOCH;
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    let mut streams_of: HashMap<EventId, (StreamId, bool)> = HashMap::new();
    let mut count = 0u64;
    let chunks = match scope {
        Scope::Whole => trees.chunks.iter(),
        Scope::UpTo => trees.chunks.range(..=head.position.to_key()),
    };
    'chunks: for entry in chunks {
        let (key, value) = entry?;
        let chunk = Chunk::parse(&key, &value)?;
        // Every chunk begins where the one before ended: no gap, no overlap.
        if chunk.first() > expected {
            return Err(LedgerError::Gap { expected, found: chunk.first() });
        }
        if chunk.first() < expected {
            return Err(LedgerError::Corrupt {
                position: chunk.first(),
                reason: format!(
                    "a chunk under key {} overlaps the one before it, which ends at {}",
                    chunk.first(),
                    expected.get() - 1
                ),
            });
        }
        for item in chunk.items() {
            let item = item?;
            let position = item.position;
            if scope == Scope::UpTo && position > head.position {
                break 'chunks;
            }
            let fields = encoding::chain_fields(position, item.record)?;
            if fields.prev_hash != prev {
                return Err(LedgerError::ChainBroken { position, expected: prev, found: fields.prev_hash });
            }
            if fields.computed_hash != fields.stored_hash {
                return Err(LedgerError::ChainBroken {
                    position,
                    expected: fields.computed_hash,
                    found: fields.stored_hash,
                });
            }
            let event = encoding::decode(position, item.record)?;
            if item.id != event.id || item.stream != event.stream.as_str() {
                return Err(LedgerError::Corrupt {
                    position,
                    reason: format!(
                        "the chunk's index section says event {} in stream {}, the record is {} in {}",
                        item.id, item.stream, event.id, event.stream
                    ),
                });
            }
            check_event(&event, last_time, &mut versions, &mut streams_of)?;
            check_tree(trees, count, &event)?;
            last_time = event.recorded_at;
            prev = fields.stored_hash;
            count += 1;
            expected = position.next();
            if count % PROGRESS_EVERY == 0 {
                progress(position, head.position);
            }
        }
    }
    let last = Position::new(count);
    progress(last, head.position);
    if last != head.position {
        return Err(LedgerError::Corrupt {
            position: last,
            reason: format!("the log ends at {last} but the head says {}", head.position),
        });
    }
    if prev != head.hash {
        return Err(LedgerError::ChainBroken { position: last, expected: prev, found: head.hash });
    }
    let root = merkle::root(trees, count)?;
    let stored_count = tlog_tiles::stored_hash_count(count);
    check_runs(trees, last, stored_count, scope)?;
    if scope == Scope::UpTo {
        return Ok(VerifyReport { events: count, head, root });
    }
    let covered = trees.tree_size()?;
    if covered != count {
        return Err(LedgerError::Corrupt {
            position: last,
            reason: format!("the Merkle tree says it covers {covered} events, the log has {count}"),
        });
    }
    Ok(VerifyReport { events: count, head, root })
}

/// The runs of stored hashes follow each other from index 0 without a gap or an overlap, each a
/// whole number of hashes; for the whole log they end exactly at `stored_count` (the hashes
/// themselves are compared with the recomputed ones event by event, `check_tree`). While appends go
/// on, only the runs up to `stored_count` are looked at.
fn check_runs(trees: &Trees, last: Position, stored_count: u64, scope: Scope) -> Result<()> {
    let corrupt = |reason: String| LedgerError::Corrupt { position: last, reason };
    let mut next = 0u64;
    for entry in trees.hashes.iter() {
        let (key, value) = entry?;
        let (first, count) = layout::run_span(&key, &value)?;
        if scope == Scope::UpTo && first >= stored_count {
            break;
        }
        if first != next {
            return Err(corrupt(format!(
                "the Merkle tree's run at stored hash {first} does not follow the one before, which ends at {next}"
            )));
        }
        next = first + count;
    }
    if next < stored_count || (scope == Scope::Whole && next > stored_count) {
        return Err(corrupt(format!(
            "the Merkle tree stores {next} hashes; a log of {} events has {stored_count}",
            last.get()
        )));
    }
    Ok(())
}

/// Recomputes the tree's hashes for one more event (reading the stored hashes already checked)
/// and compares them with the stored ones.
/// `before` is how many events come before this one.
fn check_tree(trees: &Trees, before: u64, event: &RecordedEvent) -> Result<()> {
    let start = tlog_tiles::stored_hash_count(before);
    let leaf = merkle::leaf_hash(&merkle::leaf_bytes(event)?);
    // Memory stays flat: each step reads only what earlier events stored, already checked.
    let mut step = merkle::Growth::new(trees, before);
    step.push(leaf)?;
    let expected: Vec<TreeHash> = step.added().map(|(_, h)| *h).collect();
    let indexes: Vec<u64> = (start..start + expected.len() as u64).collect();
    let stored = trees.hashes(&indexes).map_err(|e| LedgerError::Corrupt {
        position: event.position,
        reason: format!("the Merkle tree does not cover this event: {e}"),
    })?;
    if stored != expected {
        return Err(LedgerError::Corrupt {
            position: event.position,
            reason: "the Merkle tree's hashes for this event are not the ones its bytes give: \
                     the tree was altered or the event was"
                .into(),
        });
    }
    Ok(())
}

fn check_event(
    event: &RecordedEvent,
    last_time: Timestamp,
    versions: &mut HashMap<StreamId, u64>,
    streams_of: &mut HashMap<EventId, (StreamId, bool)>,
) -> Result<()> {
    let corrupt = |reason: String| LedgerError::Corrupt { position: event.position, reason };
    if event.recorded_at < last_time {
        return Err(corrupt(format!("record time {} is before the previous record's {last_time}", event.recorded_at)));
    }
    let version = versions.entry(event.stream.clone()).or_insert(0);
    if event.stream_version != *version + 1 {
        return Err(corrupt(format!(
            "stream {} version {} follows version {}",
            event.stream, event.stream_version, *version
        )));
    }
    *version = event.stream_version;
    if let EventData::EventRetracted(r) = &event.data {
        match streams_of.get(&r.event) {
            Some((stream, false)) if *stream == event.stream => {}
            _ => return Err(corrupt(format!("retraction of {} is not in that event's stream", r.event))),
        }
    }
    let is_retraction = matches!(event.data, EventData::EventRetracted(_));
    if streams_of.insert(event.id, (event.stream.clone(), is_retraction)).is_some() {
        return Err(corrupt(format!("event id {} appears twice", event.id)));
    }
    Ok(())
}
