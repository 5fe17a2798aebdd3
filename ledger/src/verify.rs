//! `verify`: walk the whole log and prove it was not altered.

use std::collections::HashMap;

use crate::chain::Hash;
use crate::encoding;
use crate::error::{LedgerError, Result};
use crate::event::{EventData, RecordedEvent};
use crate::id::{EventId, Position, StreamId};
use crate::merkle::{self, Stored, TreeHash};
use crate::sequence::Head;
use crate::store::Trees;
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

/// Checks, for every record in position order: the positions are gapless from 1; each record's
/// `prevHash` is the previous record's hash; each record's hash matches SHA-256 over its stored bytes
/// (so any changed byte is caught); the record decodes, belongs at its key, and its stream versions
/// count up from 1 without gaps; record time never decreases; a retraction sits in its target's
/// stream; every hash the Merkle tree stores is the one recomputed from the events (leaf bytes,
/// leaf hash, completed subtrees), the tree holds nothing more and covers exactly the log; and
/// the last record is the stored head.
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
    let entries = match scope {
        Scope::Whole => trees.log.iter(),
        Scope::UpTo => trees.log.range(..=head.position.to_key()),
    };
    for entry in entries {
        let (key, value) = entry?;
        let position = Position::from_key(&key)
            .ok_or_else(|| LedgerError::Corrupt { position: expected, reason: "malformed log key".into() })?;
        if position != expected {
            return Err(LedgerError::Gap { expected, found: position });
        }
        let fields = encoding::chain_fields(position, &value)?;
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
        let event = encoding::decode(position, &value)?;
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
    if scope == Scope::UpTo {
        return Ok(VerifyReport { events: count, head, root });
    }
    let tree_corrupt = |reason: String| LedgerError::Corrupt { position: last, reason };
    let stored_count = tlog_tiles::stored_hash_count(count);
    if let Some(entry) = trees.merkle.range(stored_count.to_be_bytes()..).next() {
        let (key, _) = entry?;
        return Err(tree_corrupt(format!(
            "the Merkle tree stores a hash at index {} beyond the {stored_count} a log of {count} events has",
            hex::encode(key)
        )));
    }
    let covered = trees.tree_size()?;
    if covered != count {
        return Err(tree_corrupt(format!("the Merkle tree says it covers {covered} events, the log has {count}")));
    }
    Ok(VerifyReport { events: count, head, root })
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
