//! Every applied event's record bytes, in log order: those of a start-up snapshot left in its file,
//! those spilled since to a file of the projections' own, and the latest in memory (issue 19: the
//! records were 243 MB of a 1M-event server's memory, and grew with every event it was sent).
//!
//! A file's records are read back when asked (`pread`, a run of them in one read) and checked
//! before they are handed out (`ledger::CompactEvent::verified`: the envelope, the position, the
//! hash the bytes give against the one stored in them), so bytes damaged on disk since they were
//! written are never decoded as another event.
//!
//! **Spilling** ([`Records::spill`]): once the records in memory pass a bound, their owner (the
//! server after applying what the ledger committed, the importer after each step) has them written
//! to a spill file in the data directory, unlinked as soon as it is created (so nothing is left
//! behind, whatever happens to the process), and they are read from there from then on. A spill
//! that cannot be written (a full disk) leaves them in memory. Only records no speculation can
//! withdraw are spilled: the owner spills between speculations, never under one.
//!
//! **A read that fails is a failure of the whole store, for good** (fail-stop): the first one's
//! reason is kept, the read answers as if the event were not there, and from then on
//! `Projections::health` says so. Whoever hands an answer out (the server's executor, a command's
//! judge, a subscription, a snapshot's writer) asks after computing it and gives the error instead:
//! an answer computed while a record could not be read may be incomplete, and none computed
//! after the first failure is trusted. Only a restart (which refuses a damaged snapshot and folds
//! the ledger) clears it. This keeps every query infallible in its signature while no wrong answer
//! can leave.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ledger::{CompactEvent, EventId, Position};

use super::offsets::Offsets;

/// The most read from a file at once when records are read in a run (a snapshot's writer).
const RUN_BYTES: u64 = 1 << 20;

/// How many bytes of records may be held in memory before [`Records::spill`] writes them out, unless
/// their owner says otherwise ([`Records::spill_past`]): 8 MiB (32 MiB held a 1M import 55 MB
/// higher, and a server 8–10 MB; reads of the spilled ones come from the page cache). A county's
/// whole log fits in it, so a server replays a county's subscribers from memory; an import spills
/// past 2 MiB (`Projections::SPILL_FOR_IMPORT`).
pub(crate) const SPILL_BYTES: usize = 8 << 20;

/// How many bytes of records in memory call for a spill: [`SPILL_BYTES`] by default.
#[derive(Debug, Clone, Copy)]
struct Bound(usize);

impl Default for Bound {
    fn default() -> Self {
        Self(SPILL_BYTES)
    }
}

/// A run of consecutive records in a file: where each begins in it.
#[derive(Debug)]
pub(crate) struct Kept {
    file: Arc<File>,
    /// The log index of its first record.
    first: usize,
    /// The offset of each record in the file, then the offset after the last: `len + 1` of them.
    starts: Offsets,
}

impl Kept {
    /// The records of a snapshot's `file` at `starts` (each record's offset, then the end of the
    /// last), the log's first.
    pub(crate) fn new(file: File, starts: Offsets) -> Self {
        Self { file: Arc::new(file), first: 0, starts }
    }

    fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// The records at `from..to` of this run (its own indexes) as one read.
    fn run(&self, from: usize, to: usize) -> Result<Vec<u8>, String> {
        let (start, end) = match (self.starts.get(from), self.starts.get(to)) {
            (Some(start), Some(end)) if start <= end => (start, end),
            _ => return Err(format!("records {from}..{to} are not in the file")),
        };
        let mut bytes = vec![0u8; usize::try_from(end - start).map_err(|e| e.to_string())?];
        self.file.read_exact_at(&mut bytes, start).map_err(|e| format!("reading the records' file: {e}"))?;
        Ok(bytes)
    }

    /// The records at `from..to` of this run, read in one go and each checked, in `out`.
    fn read(&self, from: usize, to: usize, out: &mut Vec<CompactEvent>) -> Result<(), String> {
        self.checked_run(from, to, |compact| out.push(compact)).map(drop)
    }

    /// The bytes of the records at `from..to` of this run, read in one go, each record checked
    /// and handed to `each` first.
    fn checked_run(&self, from: usize, to: usize, mut each: impl FnMut(CompactEvent)) -> Result<bytes::Bytes, String> {
        let run = bytes::Bytes::from(self.run(from, to)?);
        let base = self.starts.get(from).unwrap_or_default();
        // Where a record begins in `run` (`run` checked that `from..=to` are in this run).
        let offset = |i: usize| self.starts.get(i).map_or(0, |o| o.saturating_sub(base) as usize);
        for index in from..to {
            let (start, end) = (offset(index), offset(index + 1));
            let position = Position::new((self.first + index) as u64 + 1);
            let compact = CompactEvent::verified(position, run.slice(start..end))
                .map_err(|e| format!("the record of position {position} in its file: {e}"))?;
            each(compact);
        }
        Ok(run)
    }
}

/// The file records are spilled to, and where its next record goes.
#[derive(Debug)]
struct SpillFile {
    file: Arc<File>,
    end: u64,
}

/// The applied events' record bytes, in log order: index `p - 1` holds position `p`.
///
/// Cloning shares the files' records and the bytes of those in memory (a server judging an import
/// clones its projections once); a clone spills to a file of its own.
#[derive(Debug, Default)]
pub(crate) struct Records {
    /// Runs of records in files, in log order, from the log's first.
    kept: Vec<Arc<Kept>>,
    /// The records after them.
    memory: Vec<CompactEvent>,
    /// How many bytes `memory` holds.
    memory_bytes: usize,
    /// Where this store spills (not shared with a clone).
    spill: Option<Arc<SpillFile>>,
    /// How many bytes in memory call for the next spill: [`SPILL_BYTES`], or more after a spill
    /// failed (so that a full disk is not retried at every event).
    spill_after: usize,
    /// The bound of the records in memory ([`SPILL_BYTES`] unless set).
    bound: Bound,
    /// Why the first read that failed did (module docs); shared with every clone.
    failure: Arc<OnceLock<String>>,
}

impl Clone for Records {
    fn clone(&self) -> Self {
        Self {
            kept: self.kept.clone(),
            memory: self.memory.clone(),
            memory_bytes: self.memory_bytes,
            // Two stores writing at the same offset of one file would overwrite each other.
            spill: None,
            spill_after: self.bound.0,
            bound: self.bound,
            failure: Arc::clone(&self.failure),
        }
    }
}

impl Records {
    /// Records that begin with those of a snapshot's file.
    pub(crate) fn in_file(kept: Kept) -> Self {
        Self { kept: vec![Arc::new(kept)], spill_after: SPILL_BYTES, ..Self::default() }
    }

    /// Records held in memory.
    pub(crate) fn in_memory(memory: Vec<CompactEvent>) -> Self {
        let memory_bytes = memory.iter().map(CompactEvent::len).sum();
        Self { memory, memory_bytes, spill_after: SPILL_BYTES, ..Self::default() }
    }

    fn in_files(&self) -> usize {
        self.kept.last().map_or(0, |kept| kept.first + kept.len())
    }

    /// How many records it holds.
    pub(crate) fn len(&self) -> usize {
        self.in_files() + self.memory.len()
    }

    /// How many bytes of records it holds in memory.
    #[cfg(test)]
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// The run of files holding `index`, if a file does.
    fn kept_of(&self, index: usize) -> Option<&Arc<Kept>> {
        let at = self.kept.partition_point(|kept| kept.first + kept.len() <= index);
        self.kept.get(at).filter(|kept| kept.first <= index)
    }

    /// Notes a failure (the first one's reason is kept).
    fn fail(&self, reason: String) {
        let _first = self.failure.set(reason);
    }

    /// The record at `index`, or `None` if there is none or it cannot be read (then
    /// `Projections::health` says why, from now on).
    pub(crate) fn get(&self, index: usize) -> Option<CompactEvent> {
        let in_files = self.in_files();
        if index >= in_files {
            return self.memory.get(index - in_files).cloned();
        }
        let kept = self.kept_of(index)?;
        let mut one = Vec::with_capacity(1);
        match kept.read(index - kept.first, index - kept.first + 1, &mut one) {
            Ok(()) => one.pop(),
            Err(reason) => {
                self.fail(reason);
                None
            }
        }
    }

    /// The id of the event at `index`, read from its record.
    pub(crate) fn id_at(&self, index: u32) -> Option<EventId> {
        self.get(index as usize)?.id()
    }

    /// Up to `limit` records from `start` on, those in a file read a run at a time. Shorter when a
    /// record cannot be read (the store then fails).
    pub(crate) fn range(&self, start: usize, limit: usize) -> Vec<CompactEvent> {
        let end = start.saturating_add(limit).min(self.len());
        if start >= end {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(end.saturating_sub(start));
        let mut index = start;
        while index < end.min(self.in_files()) {
            let Some(kept) = self.kept_of(index) else { break };
            let to = end.min(kept.first + kept.len());
            if let Err(reason) = kept.read(index - kept.first, to - kept.first, &mut out) {
                self.fail(reason);
                return out;
            }
            index = to;
        }
        let in_files = self.in_files();
        if end > in_files {
            out.extend(self.memory[index.max(in_files) - in_files..end - in_files].iter().cloned());
        }
        out
    }

    /// Adds the next record.
    pub(crate) fn push(&mut self, compact: CompactEvent) {
        self.memory_bytes += compact.len();
        self.memory.push(compact);
    }

    /// Makes room for `additional` more records in memory.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.memory.reserve(additional);
    }

    /// Keeps the first `len` records. Those in files are never removed: a speculation withdraws
    /// only what was applied after it began, which is in memory (nothing is spilled under one).
    pub(crate) fn truncate(&mut self, len: usize) {
        let keep = len.saturating_sub(self.in_files());
        let gone: usize = self.memory.iter().skip(keep).map(CompactEvent::len).sum();
        self.memory.truncate(keep);
        self.memory_bytes -= gone;
    }

    /// Spills past `bytes` in memory from now on (at least one record's worth: never 0).
    pub(crate) fn spill_past(&mut self, bytes: usize) {
        self.bound = Bound(bytes.max(1));
        self.spill_after = self.bound.0;
    }

    /// Whether the records in memory call for a spill.
    pub(crate) fn wants_spill(&self) -> bool {
        self.memory_bytes >= self.spill_after.max(self.bound.0)
    }

    /// Writes the records held in memory to this store's spill file in `dir` (created, and
    /// unlinked at once, by the first spill) and reads them from there from now on. Fails, and
    /// keeps them in memory (the next try after another [`SPILL_BYTES`]), when the file cannot be
    /// written.
    pub(crate) fn spill(&mut self, dir: &Path) -> std::io::Result<()> {
        let spilled = self.spill_now(dir, RUN_BYTES);
        let bound = self.bound.0;
        self.spill_after = if spilled.is_ok() { bound } else { self.memory_bytes + bound };
        spilled
    }

    /// [`Records::spill`], written `run_bytes` at a time.
    fn spill_now(&mut self, dir: &Path, run_bytes: u64) -> std::io::Result<()> {
        if self.memory.is_empty() {
            return Ok(());
        }
        let spill = match &self.spill {
            Some(spill) => Arc::clone(spill),
            None => Arc::new(SpillFile { file: Arc::new(spill_file(dir)?), end: 0 }),
        };
        // Written through a buffer of about `run_bytes`, not copied whole: a spill is at least
        // [`SPILL_BYTES`], which a copy would hold a second time (an import's peak, issue 18).
        let mut starts = Offsets::with_capacity(self.memory.len() + 1);
        let mut buffer = Vec::with_capacity(self.memory_bytes.min(usize::try_from(run_bytes).unwrap_or(usize::MAX)));
        let (mut written, mut end) = (spill.end, spill.end);
        for compact in &self.memory {
            starts.push(end);
            end += compact.len() as u64;
            buffer.extend_from_slice(compact.as_bytes());
            if buffer.len() as u64 >= run_bytes {
                spill.file.write_all_at(&buffer, written)?;
                written += buffer.len() as u64;
                buffer.clear();
            }
        }
        spill.file.write_all_at(&buffer, written)?;
        starts.push(end);
        let first = self.in_files();
        self.kept.push(Arc::new(Kept { file: Arc::clone(&spill.file), first, starts }));
        self.spill = Some(Arc::new(SpillFile { file: Arc::clone(&spill.file), end }));
        self.memory = Vec::new();
        self.memory_bytes = 0;
        Ok(())
    }

    /// Where a failure of this store and its clones is noted (module docs).
    pub(crate) fn failure_handle(&self) -> Arc<OnceLock<String>> {
        Arc::clone(&self.failure)
    }

    /// Each record's length, in order.
    pub(crate) fn lengths(&self) -> impl Iterator<Item = u32> + '_ {
        let kept = self.kept.iter().flat_map(|kept| {
            kept.starts.iter().zip(kept.starts.iter().skip(1)).map(|(start, end)| (end - start) as u32)
        });
        kept.chain(self.memory.iter().map(|compact| compact.len() as u32))
    }

    /// The bytes of every record, in order.
    pub(crate) fn total_bytes(&self) -> u64 {
        let kept: u64 = self
            .kept
            .iter()
            .map(|kept| match (kept.starts.first(), kept.starts.last()) {
                (Some(first), Some(last)) => last - first,
                _ => 0,
            })
            .sum();
        kept + self.memory_bytes as u64
    }

    /// Hands every record's bytes to `write`, in order: those of files a run of about a MiB at a
    /// time, each record of it checked again first (a snapshot written from damaged bytes would
    /// carry them under a checksum of its own), those in memory one by one.
    ///
    /// A run goes out as one slice: a writer's buffer then passes it through instead of copying it
    /// record by record (a tenth of a 1M-event import's snapshot, session 19).
    pub(crate) fn write_all<E>(
        &self,
        mut write: impl FnMut(&[u8]) -> Result<(), E>,
        unreadable: impl Fn(String) -> E,
    ) -> Result<(), E> {
        for kept in &self.kept {
            let mut from = 0;
            while from < kept.len() {
                let base = kept.starts.get(from).unwrap_or_default();
                let mut to = from + 1;
                while to < kept.len() && kept.starts.get(to + 1).is_some_and(|end| end - base <= RUN_BYTES) {
                    to += 1;
                }
                let run = kept.checked_run(from, to, drop).map_err(|reason| {
                    self.fail(reason.clone());
                    unreadable(reason)
                })?;
                write(&run)?;
                from = to;
            }
        }
        for compact in &self.memory {
            write(compact.as_bytes())?;
        }
        Ok(())
    }
}

/// A new spill file in `dir`, open for reading and writing, already unlinked: it lives as long as
/// the process holds it, and nothing is left behind however the process ends.
fn spill_file(dir: &Path) -> std::io::Result<File> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let path = dir.join(format!(".projections.spill.{}.{nanos}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::Projections;
    use crate::testkit::{Given, assert_same_answers, noticed_without_a_period};

    fn party(given: &mut Given, n: usize) {
        given.record(
            "2021-01-01",
            ledger::PartyRegistered {
                party: ledger::PartyId::new(format!("p-{n}")).expect("slug"),
                name: format!("Part {n}"),
                kind: ledger::PartyKind::Municipality,
            },
        );
    }

    /// The snapshot's bytes, written as it goes; written into a file from two threads
    /// (`write_snapshot_file`) they must be the same, and read back as the same projections.
    fn snapshot(projections: &Projections) -> Vec<u8> {
        let mut bytes = Vec::new();
        projections.write_snapshot(&mut bytes).expect("writes");
        let file = tempfile::tempfile().expect("a file");
        projections.write_snapshot_file(&file).expect("writes the file");
        let mut in_file = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut in_file).expect("reads");
        assert_eq!(in_file.len(), bytes.len());
        assert!(in_file == bytes, "the file written from two threads is the snapshot written as it goes");
        bytes
    }

    /// An owner's bound decides when the records call for a spill: past it, not before; a clone
    /// keeps it; the default comes back when asked for.
    #[test]
    fn records_call_for_a_spill_past_their_owners_bound() {
        let mut given = noticed_without_a_period();
        let mut projections = given.projections();
        assert!(!projections.log.wants_spill(), "a few events are far below the default");
        let held = projections.log.memory_bytes();
        projections.spill_past(held + 1);
        assert!(!projections.log.wants_spill(), "one byte below the bound");
        party(&mut given, 1);
        projections.apply(given.chain.events().last().expect("event")).expect("applies");
        assert!(projections.log.wants_spill(), "at or past the bound");
        assert!(projections.clone().log.wants_spill(), "a clone keeps the bound");
        projections.spill_past(Projections::SPILL);
        assert!(!projections.log.wants_spill());
        assert_eq!(Projections::SPILL, super::SPILL_BYTES);
    }

    /// Spilled twice, the records are read from the spill file, which is in no directory; the
    /// answers, the events and the snapshot are those of the projections that never spilled; a
    /// speculation withdraws what it applied after a spill.
    #[test]
    fn spilled_records_answer_as_before_and_leave_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut given = noticed_without_a_period();
        let mut spilled = given.projections();
        spilled.log.spill(dir.path()).expect("spills");
        assert_eq!(spilled.log.memory_bytes(), 0);
        for n in 0..5 {
            party(&mut given, n);
            spilled.apply(given.chain.events().last().expect("event")).expect("applies");
        }
        spilled.log.spill(dir.path()).expect("spills again");
        assert_eq!((spilled.log.kept.len(), spilled.log.memory.len()), (2, 0));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "the spill file is unlinked");

        let whole = given.projections();
        assert_same_answers(&spilled, &whole);
        assert_eq!(snapshot(&spilled), snapshot(&whole));

        // A speculation on top withdraws what it applied, and nothing spilled.
        let head = spilled.head();
        party(&mut given, 99);
        let next = std::sync::Arc::new(given.chain.events().last().expect("event").clone());
        {
            let mut speculation = spilled.speculate();
            speculation.apply(next).expect("applies");
        }
        assert_eq!(spilled.head(), head);
        assert_eq!(snapshot(&spilled), snapshot(&whole));
        assert!(spilled.health().is_ok());
    }

    /// Written a few records at a time (runs of 100 bytes), the spilled records are those written
    /// whole: the same answers, events and snapshot.
    #[test]
    fn a_spill_written_in_many_runs_reads_back_every_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut given = noticed_without_a_period();
        let mut spilled = given.projections();
        for n in 0..40 {
            party(&mut given, n);
            spilled.apply(given.chain.events().last().expect("event")).expect("applies");
        }
        let runs = spilled.log.memory_bytes().div_ceil(100);
        assert!(runs > 20, "{runs} runs");
        spilled.log.spill_now(dir.path(), 100).expect("spills");
        assert_eq!((spilled.log.kept.len(), spilled.log.memory.len()), (1, 0));
        let whole = given.projections();
        assert_same_answers(&spilled, &whole);
        assert_eq!(snapshot(&spilled), snapshot(&whole));
        assert!(spilled.health().is_ok());
    }

    /// A clone spills to a file of its own: each reads back its own events.
    #[test]
    fn a_clone_spills_to_its_own_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let given = noticed_without_a_period();
        let mut first = given.projections();
        first.log.spill(dir.path()).expect("spills");
        let mut second = first.clone();
        let (mut a, mut b) = (given.clone(), given.clone());
        for n in 0..3 {
            party(&mut a, n);
            first.apply(a.chain.events().last().expect("event")).expect("applies");
            party(&mut b, 10 + n);
            second.apply(b.chain.events().last().expect("event")).expect("applies");
        }
        first.log.spill(dir.path()).expect("spills");
        second.log.spill(dir.path()).expect("spills");
        assert_eq!(snapshot(&first), snapshot(&a.projections()));
        assert_eq!(snapshot(&second), snapshot(&b.projections()));
    }

    /// A spill that cannot be written keeps the records in memory, and is not tried again before
    /// another bound's worth of records.
    #[test]
    fn a_failed_spill_keeps_the_records_in_memory() {
        let given = noticed_without_a_period();
        let mut projections = given.projections();
        let before = snapshot(&projections);
        let held = projections.log.memory_bytes();
        let missing = std::path::Path::new("/nonexistent/samverkan-spill");
        assert!(projections.log.spill(missing).is_err());
        assert_eq!(projections.log.memory_bytes(), held);
        assert!(projections.log.kept.is_empty());
        assert_eq!(projections.log.spill_after, held + super::SPILL_BYTES);
        assert!(!projections.log.wants_spill());
        assert_eq!(snapshot(&projections), before);
        assert_eq!(projections.spill_records(missing).ok(), Some(false), "below the bound: not tried");
    }
}
