//! The commit journal (`JOURNAL` in the data directory): what makes a commit group durable.
//!
//! sled 0.34.7's `flush()` writes its buffers and waits for `sync_file_range`; the `fdatasync`
//! that then makes them survive a power cut is a second wait on the drive (`durability.rs`). An
//! append that waited for both cost 2.5× a raw `pwrite` + `fdatasync` (issue 18's profile). So a
//! commit group is made durable by appending exactly what its sled transaction wrote (its chunks,
//! the Merkle tree's new runs and the new head) to this file and `fdatasync`ing it: one write and
//! one wait, as a raw log. sled holds the group in memory (readers see it from there) and writes
//! it out with its next flush; every [`LedgerConfig::journal_limit`](crate::LedgerConfig::journal_limit) bytes of journal (and at a clean close, and at
//! open) the sync stage flushes and syncs sled and then empties the journal (a *checkpoint*).
//!
//! At open, after sled's own recovery, every entry sled does not hold yet is written to sled
//! again ([`replay`]), in order, each in one transaction, before anything checks or reads the
//! head. sled's recovery keeps a prefix of its transactions, so its head is always at a group's
//! boundary: an entry is applied exactly when the head before it is sled's head, and skipped when
//! its head after is at or behind sled's (sled wrote it out before the crash).
//!
//! Format (`samverkan-journal/1`): a 32-byte header, then entries, each
//! `length: u32 LE, crc32(body): u32 LE, body`, the body being the head before (48 bytes, as
//! `meta/head`), the head after (48 bytes), then the chunks and then the runs, each list as
//! `count: u32 LE` and `key: 8 bytes, value length: u32 LE, value` per item. An entry whose length
//! or checksum does not match is where a write was cut off (never acknowledged: the `fdatasync`
//! that acknowledges it covers all of it): the journal ends there. An entry that matches but does
//! not follow sled's head is damage, refused with [`LedgerError::Corrupt`].

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{LedgerError, Result};
use crate::id::Position;
use crate::sequence::Head;

/// The journal's file name in the data directory.
pub(crate) const FILE: &str = "JOURNAL";

/// The first bytes of the file: the format, padded to 32 bytes.
const HEADER: &[u8; 32] = b"samverkan-journal/1\n\0\0\0\0\0\0\0\0\0\0\0\0";

/// How much zeroed space the journal reserves ahead of its entries at most (see [`Journal`]).
const RESERVE: u64 = 1024 * 1024;

/// The journal, open for appending.
///
/// Its file is kept longer than its entries: the space after the last entry is zeros, written
/// before any entry goes there, at most [`RESERVE`] at a time (when the journal is emptied, and
/// synced then; later by the write of the entry that needs more, synced with it). An entry is then
/// written over blocks the file already has, so its `fdatasync` writes the entry's pages and no
/// metadata (no new size, no block allocation): on this project's machines an overwrite and
/// `fdatasync` took about 75 µs against about 115 µs for an append that grows the file
/// (BENCHMARKS.md). Zeros end the journal when it is read (a length of 0 is no entry), so the
/// reserve changes nothing of the format.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    /// Where the next entry goes (the end of the last entry written).
    len: u64,
    /// The file's length: zeros from `len` up to it.
    reserved: u64,
    /// How much to reserve at a time.
    step: u64,
}

impl Journal {
    /// Creates or empties the journal in `dir` and makes that durable (the file, its header and
    /// its directory entry). Called at open, after what it held was replayed into sled and sled
    /// was flushed and synced.
    /// It reserves space ahead of its entries in steps of at most `limit` (the size at which the
    /// journal is emptied) or [`RESERVE`], whichever is smaller.
    pub(crate) fn open_empty(dir: &Path, limit: u64) -> io::Result<Self> {
        let path = dir.join(FILE);
        let existed = path.exists();
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        let step = limit.clamp(4096, RESERVE).next_multiple_of(4096);
        let mut journal = Self { file, len: 0, reserved: 0, step };
        journal.empty(true)?;
        if !existed {
            super::durability::sync_dir(dir)?;
        }
        Ok(journal)
    }

    /// How many bytes the journal holds.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends `entry` (from [`entry`]) after the last one, first reserving more zeroed space when
    /// it does not fit in what is reserved (the next [`Journal::sync`] covers both). A failed write
    /// leaves `len` where it was (the partial entry is cut off by its checksum, or by the zeros).
    pub(crate) fn write(&mut self, entry: &[u8]) -> io::Result<()> {
        let end = self.len + entry.len() as u64;
        if end > self.reserved {
            self.reserve(end)?;
        }
        self.file.write_all_at(entry, self.len)?;
        self.len = end;
        Ok(())
    }

    /// Writes zeros from the reserved end to past `end` (a whole number of steps).
    fn reserve(&mut self, end: u64) -> io::Result<()> {
        let to = end.next_multiple_of(self.step).max(self.reserved + self.step);
        let zeros = vec![0u8; usize::try_from(to - self.reserved).map_err(io::Error::other)?];
        self.file.write_all_at(&zeros, self.reserved)?;
        self.reserved = to;
        Ok(())
    }

    /// Waits until everything written is durable (`fdatasync`: the file's new length included).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Empties the journal after a checkpoint made everything in it durable in sled, and reserves
    /// zeroed space after its header; with `sync`, waits until that is durable, so that no entry
    /// of it can come back after a new one was written over it.
    pub(crate) fn empty(&mut self, sync: bool) -> io::Result<()> {
        self.file.set_len(0)?;
        self.reserved = 0;
        self.len = 0;
        self.reserve(HEADER.len() as u64)?;
        self.file.write_all_at(HEADER, 0)?;
        self.len = HEADER.len() as u64;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// The journal entry of a commit group: the head before and after it and what its transaction
/// writes (module docs).
pub(crate) fn entry(
    before: &Head,
    after: &Head,
    chunks: &[(Position, Vec<u8>)],
    runs: &[([u8; 8], Vec<u8>)],
) -> Result<Vec<u8>> {
    let values = chunks.iter().map(|(_, v)| v).chain(runs.iter().map(|(_, v)| v));
    let size = 8 + 96 + 8 + values.map(|v| 12 + v.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&super::Trees::encode_head(before));
    out.extend_from_slice(&super::Trees::encode_head(after));
    for list in
        [chunks.iter().map(|(p, v)| (p.to_key(), v)).collect::<Vec<_>>(), runs.iter().map(|(k, v)| (*k, v)).collect()]
    {
        out.extend_from_slice(&count(list.len())?.to_le_bytes());
        for (key, value) in list {
            out.extend_from_slice(&key);
            out.extend_from_slice(&count(value.len())?.to_le_bytes());
            out.extend_from_slice(value);
        }
    }
    let body_len = count(out.len() - 8)?;
    let crc = crc32fast::hash(&out[8..]);
    out[..4].copy_from_slice(&body_len.to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn count(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| LedgerError::Io(io::Error::other("a commit group too large for one journal entry")))
}

/// One entry, read back.
#[derive(Debug)]
struct Entry<'a> {
    before: Head,
    after: Head,
    chunks: Vec<([u8; 8], &'a [u8])>,
    runs: Vec<([u8; 8], &'a [u8])>,
}

/// Reads the entries of `bytes` (a whole journal file) up to the first one cut off. `None` for a
/// file without the header (an empty file: a crash while it was created).
fn entries(bytes: &[u8]) -> Result<Option<Vec<Entry<'_>>>> {
    let Some(mut rest) = bytes.strip_prefix(&HEADER[..]) else {
        if bytes.len() < HEADER.len() && HEADER.starts_with(bytes) {
            return Ok(None);
        }
        return Err(corrupt(format!(
            "the journal {FILE} does not start with the header of format samverkan-journal/1 \
             (a newer format or another file)"
        )));
    };
    let mut out = Vec::new();
    while let Some(body) = next_body(&mut rest) {
        out.push(parse(body)?);
    }
    if rest.iter().any(|&b| b != 0) {
        // Ordinarily the tail of a write a crash cut off (never acknowledged); said, so that damage
        // in the middle of the journal is not silent.
        tracing::warn!(
            bytes = rest.len(),
            entries = out.len(),
            "the commit journal ends with bytes that are not a whole entry; read up to them"
        );
    }
    Ok(Some(out))
}

/// The next entry's body if it is whole and its checksum matches.
fn next_body<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let length = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?);
    let body = rest.get(8..8usize.checked_add(length)?)?;
    if length == 0 || crc32fast::hash(body) != crc {
        return None;
    }
    *rest = &rest[8 + length..];
    Some(body)
}

fn parse(body: &[u8]) -> Result<Entry<'_>> {
    let bad = || corrupt(format!("an entry of the journal {FILE} has a matching checksum but cannot be read"));
    let mut cursor = body;
    let mut take = |n: usize| -> Result<&[u8]> {
        let (head, tail) = cursor.split_at_checked(n).ok_or_else(bad)?;
        cursor = tail;
        Ok(head)
    };
    let before = super::decode_head(take(48)?)?;
    let after = super::decode_head(take(48)?)?;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?);
        for _ in 0..n {
            let key: [u8; 8] = take(8)?.try_into().map_err(|_| bad())?;
            let len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
            list.push((key, take(len)?));
        }
    }
    if !cursor.is_empty() {
        return Err(bad());
    }
    let [chunks, runs] = lists;
    Ok(Entry { before, after, chunks, runs })
}

fn corrupt(reason: String) -> LedgerError {
    LedgerError::Corrupt { position: Position::new(0), reason }
}

/// Writes every entry of the journal in `dir` that sled (`db`'s trees) does not hold yet into
/// sled, in order, and returns how many it wrote. Writes nothing into `dir`: the caller flushes
/// sled and empties the journal (or, reading a copy, leaves both alone).
pub(crate) fn replay(dir: &Path, trees: Groups<'_>) -> Result<u64> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let Some(entries) = entries(&bytes)? else { return Ok(0) };
    let mut head = super::read_head(trees.meta)?;
    let mut applied = 0;
    for entry in entries {
        if entry.after.position <= head.position {
            continue;
        }
        if entry.before != head {
            return Err(LedgerError::Corrupt {
                position: head.position,
                reason: format!(
                    "the journal {FILE} holds events {}–{} after head {} at {}, but sled's head is {} at {}: \
                     the journal does not belong to these sled files (restore the whole data directory)",
                    entry.before.position.get() + 1,
                    entry.after.position.get(),
                    entry.before.hash,
                    entry.before.position.get(),
                    head.hash,
                    head.position.get()
                ),
            });
        }
        insert_group(trees, entry.chunks.iter().copied(), entry.runs.iter().copied(), &entry.after)?;
        head = entry.after;
        applied += 1;
    }
    Ok(applied)
}

/// The trees a commit group is written to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Groups<'a> {
    pub(crate) chunks: &'a sled::Tree,
    pub(crate) hashes: &'a sled::Tree,
    pub(crate) meta: &'a sled::Tree,
}

impl<'a> From<&'a super::Trees> for Groups<'a> {
    fn from(trees: &'a super::Trees) -> Self {
        Self { chunks: &trees.chunks, hashes: &trees.hashes, meta: &trees.meta }
    }
}

/// Writes a commit group into sled as plain inserts in this order: its chunks, its runs, the tree
/// size, the head. sled recovers a prefix of its log, so whatever a crash leaves, the head names
/// nothing sled lacks; what sled holds past its head is [`trim`]med at open.
pub(crate) fn insert_group<'v>(
    trees: impl Into<Groups<'v>>,
    chunks: impl IntoIterator<Item = ([u8; 8], &'v [u8])>,
    runs: impl IntoIterator<Item = ([u8; 8], &'v [u8])>,
    head: &Head,
) -> Result<()> {
    let trees = trees.into();
    for (key, value) in chunks {
        trees.chunks.insert(key, value)?;
    }
    for (key, value) in runs {
        trees.hashes.insert(key, value)?;
    }
    trees.meta.insert("tree_size", &head.position.to_key()[..])?;
    trees.meta.insert("head", &super::Trees::encode_head(head)[..])?;
    Ok(())
}

/// Removes what sled holds past its head after the journal was replayed: the chunks and runs of a
/// commit group whose head was not written before a crash and that the journal does not hold
/// (its sync never returned: never acknowledged), and a tree size written before such a head.
/// Returns how many chunks it removed.
pub(crate) fn trim(trees: Groups<'_>) -> Result<usize> {
    let head = super::read_head(trees.meta)?;
    // The last chunk (as the open's `check_head` reads it), not a range after the head: sled
    // 0.34.7's range iterator can loop forever over a damaged node (found by the tamper test).
    let past_head = match trees.chunks.last()? {
        Some((key, _)) => key.as_ref() > &head.position.to_key()[..],
        None => false,
    };
    let tree_size = super::read_tree_size(trees.meta)?;
    if !past_head && tree_size <= head.position.get() {
        return Ok(0);
    }
    // Only what a crash leaves: the head's own chunk ends at the head, and the first chunk past it
    // begins right after. Anything else is damage, left in place for `check_head` to report.
    let ends_at_head = match trees.chunks.range(..=head.position.to_key()).next_back().transpose()? {
        None => head.position.get() == 0,
        Some((key, value)) => super::layout::Chunk::parse(&key, &value).is_ok_and(|c| c.end() == head.position.next()),
    };
    let follows = match trees.chunks.range(head.position.next().to_key()..).next().transpose()? {
        None => true,
        Some((key, _)) => key.as_ref() == head.position.next().to_key(),
    };
    if !(ends_at_head && follows) {
        return Ok(0);
    }
    let after = trees.chunks.range(head.position.next().to_key()..).count();
    super::staging::remove_after_head(trees.chunks, trees.hashes, head.position)?;
    if tree_size > head.position.get() {
        trees.meta.insert("tree_size", &head.position.to_key()[..])?;
    }
    Ok(after)
}

#[cfg(test)]
mod tests;
