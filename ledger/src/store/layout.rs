//! Format 2's stored values: a commit group's records in chunks (tree `chunks`), and the Merkle
//! tree's hashes in runs (tree `tree_hashes`). Only this module knows their bytes.
//!
//! A **chunk** holds consecutive records, under the big-endian position of its first one:
//!
//! ```text
//! header   1 byte    chunk layout version (CHUNK_VERSION = 1)
//!          2 bytes   n, how many records (big-endian, 1 ..= CHUNK_MAX_RECORDS)
//! entries  n × 22    per record, in log order: record length (u32 BE) ‖ event id (16 bytes)
//!                    ‖ stream name length (u16 BE)
//! names    ..        the n stream names (UTF-8), concatenated in log order
//! records  ..        the n records (`encoding`'s bytes, unchanged), concatenated in log order
//! ```
//!
//! Record *i* is at position `key + i`. The entries and names (the index section) let the open
//! rebuild the in-memory id and stream indexes without decoding a body; `verify` checks them
//! against the decoded records. The writer starts a new chunk when the next record would make the
//! value pass [`CHUNK_MAX_BYTES`] or hold more than [`CHUNK_MAX_RECORDS`], so a large commit group
//! is several chunks.
//!
//! A **run** is consecutive stored hashes of the Merkle tree (see `merkle`), under the big-endian
//! stored-hash index of its first one: the 32-byte hashes concatenated, at most [`RUN_MAX_HASHES`]
//! (the writer puts at most [`RUN_WRITE_HASHES`] in one). A commit group adds one run (or a few).
//!
//! **Why 6 KiB** (session 15): sled 0.34.7 writes a page (a leaf of up to 17 values, not a single
//! value) larger than a quarter of its 512 KiB segment to a blob file of its own, and its cache
//! then counts that page as the few bytes of the pointer to it: a blob page read once stays in
//! memory for good. With the 96 KiB chunks and 64 KiB runs written before, a leaf of full chunks
//! was 0.5–0.9 MB and always a blob, so one walk of a million events (a verification) left ~300 MB
//! in memory whatever the cache's capacity. Leaves of 6 KiB values stay below the threshold (the
//! assertion in the tests) and are evicted like any page. The format is unchanged: chunks and runs
//! written before, of any size up to the limits above, are read as they are (and stay blobs).

use crate::error::{LedgerError, Result};
use crate::id::{EventId, Position};
use crate::merkle::TreeHash;

/// The chunk layout version, its first byte.
pub(crate) const CHUNK_VERSION: u8 = 1;

/// The most bytes the writer puts in a chunk, unless a single record needs more (a record is at
/// most `MAX_BODY_BYTES` + 67: such a record is a chunk of its own). 96 KiB before session 15; the
/// reader takes any size.
pub(crate) const CHUNK_MAX_BYTES: usize = 6 * 1024;

/// The most records in one chunk.
pub(crate) const CHUNK_MAX_RECORDS: usize = 1024;

/// The most hashes a run may hold: 64 KiB (what the writer wrote before session 15; still read).
pub(crate) const RUN_MAX_HASHES: usize = 2048;

/// The most hashes the writer puts in one run: 6 KiB, so that a leaf of sled full of runs stays
/// below its blob threshold (see the module docs).
pub(crate) const RUN_WRITE_HASHES: usize = 192;

/// Version and count.
const HEADER_LEN: usize = 3;

/// Record length, event id, stream name length.
const ENTRY_LEN: usize = 4 + 16 + 2;

/// One record to put into a chunk, with its index section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub(crate) id: EventId,
    pub(crate) stream: &'a str,
    pub(crate) record: &'a [u8],
}

/// Splits consecutive records, the first at `first`, into chunks: each with its key (the position
/// of its first record) and its bytes.
pub(crate) fn chunks(first: Position, entries: &[Entry<'_>]) -> Result<Vec<(Position, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = start;
        let mut size = HEADER_LEN;
        while end < entries.len() {
            let e = &entries[end];
            let more = ENTRY_LEN + e.stream.len() + e.record.len();
            if end > start && (size + more > CHUNK_MAX_BYTES || end - start == CHUNK_MAX_RECORDS) {
                break;
            }
            size += more;
            end += 1;
        }
        let key = Position::new(first.get() + start as u64);
        out.push((key, encode_chunk(key, &entries[start..end], size)?));
        start = end;
    }
    Ok(out)
}

fn encode_chunk(key: Position, entries: &[Entry<'_>], size: usize) -> Result<Vec<u8>> {
    let too_big = |what: &str| LedgerError::InvalidEvent(format!("a chunk at {key} cannot hold {what}"));
    let count = u16::try_from(entries.len()).map_err(|_| too_big("so many records"))?;
    let mut out = Vec::with_capacity(size);
    out.push(CHUNK_VERSION);
    out.extend_from_slice(&count.to_be_bytes());
    for e in entries {
        let len = u32::try_from(e.record.len()).map_err(|_| too_big("so large a record"))?;
        let name = u16::try_from(e.stream.len()).map_err(|_| too_big("so long a stream name"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e.id.as_bytes());
        out.extend_from_slice(&name.to_be_bytes());
    }
    for e in entries {
        out.extend_from_slice(e.stream.as_bytes());
    }
    for e in entries {
        out.extend_from_slice(e.record);
    }
    Ok(out)
}

/// A chunk's bytes, checked for shape: the version, and lengths that add up exactly.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk<'a> {
    first: Position,
    bytes: &'a [u8],
    count: usize,
    /// Where the records begin.
    records_at: usize,
}

/// What the index section says of one record, and the record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a> {
    pub(crate) position: Position,
    pub(crate) id: EventId,
    pub(crate) stream: &'a str,
    pub(crate) record: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Reads the chunk stored under `key`.
    pub(crate) fn parse(key: &[u8], bytes: &'a [u8]) -> Result<Self> {
        let first = Position::from_key(key).ok_or_else(|| LedgerError::Corrupt {
            position: Position::new(0),
            reason: format!("a chunk key of {} bytes, not 8", key.len()),
        })?;
        let corrupt = |reason: String| LedgerError::Corrupt { position: first, reason: format!("chunk: {reason}") };
        if bytes.len() < HEADER_LEN {
            return Err(corrupt(format!("{} bytes, shorter than its header", bytes.len())));
        }
        if bytes[0] != CHUNK_VERSION {
            return Err(corrupt(format!("unknown chunk layout version {}", bytes[0])));
        }
        let count = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
        if count == 0 || count > CHUNK_MAX_RECORDS {
            return Err(corrupt(format!("{count} records")));
        }
        if first.get() == 0 || first.get().checked_add(count as u64).is_none() {
            return Err(corrupt(format!("key {}", first.get())));
        }
        let entries_end = HEADER_LEN + count * ENTRY_LEN;
        if bytes.len() < entries_end {
            return Err(corrupt(format!("{} bytes, shorter than the entries of {count} records", bytes.len())));
        }
        let (mut names, mut records) = (0usize, 0usize);
        for i in 0..count {
            let (record, name) = Self::lengths(bytes, i);
            records = records.saturating_add(record);
            names = names.saturating_add(name);
        }
        let total = entries_end.saturating_add(names).saturating_add(records);
        if total != bytes.len() {
            return Err(corrupt(format!("the entries add up to {total} bytes, the chunk has {}", bytes.len())));
        }
        Ok(Self { first, bytes, count, records_at: entries_end + names })
    }

    /// Record length and stream name length of entry `i` (`i < count`, checked by the caller).
    fn lengths(bytes: &[u8], i: usize) -> (usize, usize) {
        let at = HEADER_LEN + i * ENTRY_LEN;
        let record = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let name = u16::from_be_bytes([bytes[at + 20], bytes[at + 21]]);
        (record as usize, usize::from(name))
    }

    /// The position of its first record.
    pub(crate) fn first(&self) -> Position {
        self.first
    }

    /// The position after its last record.
    pub(crate) fn end(&self) -> Position {
        Position::new(self.first.get() + self.count as u64)
    }

    /// Its records with their index entries, in log order.
    pub(crate) fn items(&self) -> impl Iterator<Item = Result<Item<'a>>> + 'a {
        let (bytes, first, count) = (self.bytes, self.first, self.count);
        let mut name_at = HEADER_LEN + count * ENTRY_LEN;
        let mut record_at = self.records_at;
        (0..count).map(move |i| {
            let position = Position::new(first.get() + i as u64);
            let (record_len, name_len) = Self::lengths(bytes, i);
            let at = HEADER_LEN + i * ENTRY_LEN;
            let mut id = [0u8; 16];
            id.copy_from_slice(&bytes[at + 4..at + 20]);
            // `parse` checked that the lengths add up to the chunk's size.
            let name = &bytes[name_at..name_at + name_len];
            let record = &bytes[record_at..record_at + record_len];
            name_at += name_len;
            record_at += record_len;
            let stream = std::str::from_utf8(name).map_err(|_| LedgerError::Corrupt {
                position,
                reason: "chunk: the stream name in the index section is not UTF-8".into(),
            })?;
            Ok(Item { position, id: EventId::from_uuid(uuid::Uuid::from_bytes(id)), stream, record })
        })
    }

    /// Where each record lies in the chunk's bytes, in log order.
    pub(crate) fn record_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut at = self.records_at;
        (0..self.count)
            .map(|i| {
                let len = Self::lengths(self.bytes, i).0;
                at += len;
                at - len..at
            })
            .collect()
    }

    /// The id the index section gives the record at `position`, if the chunk holds it.
    pub(crate) fn id(&self, position: Position) -> Option<EventId> {
        let i = usize::try_from(position.get().checked_sub(self.first.get())?).ok()?;
        if i >= self.count {
            return None;
        }
        let at = HEADER_LEN + i * ENTRY_LEN + 4;
        let id = <[u8; 16]>::try_from(self.bytes.get(at..at + 16)?).ok()?;
        Some(EventId::from_uuid(uuid::Uuid::from_bytes(id)))
    }

    /// The record at `position`, if the chunk holds it.
    pub(crate) fn record(&self, position: Position) -> Option<&'a [u8]> {
        let i = usize::try_from(position.get().checked_sub(self.first.get())?).ok()?;
        if i >= self.count {
            return None;
        }
        let before: usize = (0..i).map(|j| Self::lengths(self.bytes, j).0).sum();
        let at = self.records_at + before;
        Some(&self.bytes[at..at + Self::lengths(self.bytes, i).0])
    }
}

/// Splits the hashes a commit group adds, the first at stored-hash index `first`, into runs: each
/// with its key and its bytes.
pub(crate) fn runs<'h>(first: u64, hashes: impl IntoIterator<Item = &'h TreeHash>) -> Vec<([u8; 8], Vec<u8>)> {
    let mut out: Vec<([u8; 8], Vec<u8>)> = Vec::new();
    for (index, hash) in (first..).zip(hashes) {
        match out.last_mut() {
            Some((_, run)) if run.len() < RUN_WRITE_HASHES * 32 => run.extend_from_slice(&hash.0),
            _ => out.push((index.to_be_bytes(), hash.0.to_vec())),
        }
    }
    out
}

/// A run's key and how many hashes it holds, checked for shape.
pub(crate) fn run_span(key: &[u8], bytes: &[u8]) -> Result<(u64, u64)> {
    let corrupt = |reason: String| LedgerError::Corrupt { position: Position::new(0), reason };
    let first = Position::from_key(key)
        .map(Position::get)
        .ok_or_else(|| corrupt(format!("the Merkle tree has a run key of {} bytes, not 8", key.len())))?;
    if bytes.is_empty() || bytes.len() % 32 != 0 || bytes.len() > RUN_MAX_HASHES * 32 {
        return Err(corrupt(format!(
            "the Merkle tree's run at stored hash {first} is {} bytes, not a multiple of 32 up to {}",
            bytes.len(),
            RUN_MAX_HASHES * 32
        )));
    }
    Ok((first, (bytes.len() / 32) as u64))
}

/// The hash at `index` of a run starting at `first` (checked by [`run_span`]).
pub(crate) fn run_hash(first: u64, bytes: &[u8], index: u64) -> Option<TreeHash> {
    let at = usize::try_from(index.checked_sub(first)?).ok()?.checked_mul(32)?;
    let slice = bytes.get(at..at + 32)?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(slice);
    Some(TreeHash(hash))
}

#[cfg(test)]
mod tests;
