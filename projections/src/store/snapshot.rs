//! The projections as bytes, for a start-up that folds only what follows them (issue 19).
//!
//! A snapshot is the store's indexes and every compact event, in two sections:
//!
//! ```text
//! MAGIC (16 bytes) ‖ SNAPSHOT_FORMAT (u32)
//! ‖ length (u64) ‖ fields
//! ‖ length (u64) ‖ records
//! ‖ CRC-32 of everything before it (u32)
//! ```
//!
//! Numbers are little-endian. The fields are bincode 2.0.1 (the ledger's configuration) of plain
//! values, among them each record's length; the records are every event's record bytes, one after
//! the other, in log order. Each section is read with one read and checked with one pass of the
//! checksum, and the records stay in the buffer they were read into: every event is a slice of it
//! (`ledger::CompactEvent`), not an allocation of its own. Nothing of the materialized timelines or
//! the decoded streams is kept: they are caches, and a started server fills them again.
//!
//! The checksum (CRC-32, at memory speed) guards against damage: a cut, a flipped bit, a torn
//! write. It does not guard against someone who can write the data directory, who could as well
//! replace the program; a snapshot is a cache of what the ledger holds, never a source of it.
//!
//! [`Projections::read_snapshot`] refuses anything but an intact snapshot of this format: the
//! checksum is checked before the projections are handed out. Whether the snapshot belongs to the
//! ledger it is loaded beside (its head event's hash) is the caller's check.

use std::io::{Read, Write};

use ledger::{CompactEvent, Date, DecisionId, Position, Timestamp};

use super::offsets::Offsets;
use super::records::{Kept, Records};
use super::{Citation, Cited, EntitiesSeed, Fact, Ids, Lists, Names, Projections, Registry};
use crate::error::SnapshotError;

/// What a snapshot starts with.
const MAGIC: &[u8; 16] = b"samverkan-proj\x00\x01";

/// The layout of the file and its fields. Bump it whenever a field of [`Projections`] that is
/// written here changes: a snapshot of another format is not read (the server folds the ledger
/// instead). Format 1 (session 8) was one stream of fields with a SHA-256 trailer; format 2 (an
/// intermediate build of session 9) still carried the ids, which are now read from the records.
pub const SNAPSHOT_FORMAT: u32 = 3;

/// The most a section may claim before its bytes are read (a damaged length must not reserve
/// more than this; the checksum then refuses the file).
const MAX_SECTION: u64 = 1 << 36;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding()
}

fn put<T: serde::Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<(), SnapshotError> {
    bincode::serde::encode_into_std_write(value, &mut &mut *out, config()).map_err(|e| match e {
        bincode::error::EncodeError::Io { inner, .. } => SnapshotError::io(inner),
        other => SnapshotError::Write(other.to_string()),
    })?;
    Ok(())
}

/// A sequence of `len` items made by `items` when serialized, encoded as a `Vec` of them would be
/// (without collecting one).
struct Each<F>(usize, F);

impl<F, I> serde::Serialize for Each<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.0))?;
        let mut count = 0;
        for item in (self.1)() {
            seq.serialize_element(&item)?;
            count += 1;
        }
        if count != self.0 {
            return Err(S::Error::custom(format!("{count} items where {} were announced", self.0)));
        }
        seq.end()
    }
}

/// A writer that only counts what it is given: the fields section's length.
struct Counted(u64);

impl Write for Counted {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes to a file from `offset` on (`pwrite`), leaving its other bytes alone: two of them fill
/// the two parts of a snapshot from two threads.
struct At<'a> {
    file: &'a std::fs::File,
    offset: u64,
}

impl Write for At<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let written = self.file.write_at(bytes, self.offset)?;
        self.offset += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `bytes` to `out`, a failure as the snapshot's.
fn put_bytes(out: &mut (impl Write + ?Sized), bytes: &[u8]) -> Result<(), SnapshotError> {
    out.write_all(bytes).map_err(SnapshotError::io)
}

/// The fields section, read value by value.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take<T: serde::de::DeserializeOwned>(&mut self, what: &str) -> Result<T, SnapshotError> {
        let (value, read) = bincode::serde::decode_from_slice(self.bytes, config())
            .map_err(|e| SnapshotError::Undecodable(format!("{what}: {e}")))?;
        self.bytes = &self.bytes[read..];
        Ok(value)
    }

    /// The next value, read by `seed`.
    fn take_seed<T: serde::de::DeserializeSeed<'a>>(&mut self, what: &str, seed: T) -> Result<T::Value, SnapshotError> {
        let (value, read) = bincode::serde::seed_decode_from_slice(seed, self.bytes, config())
            .map_err(|e| SnapshotError::Undecodable(format!("{what}: {e}")))?;
        self.bytes = &self.bytes[read..];
        Ok(value)
    }
}

/// A reader that checksums what comes through it, a section at a time.
struct Checked<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Checked<R> {
    fn exact<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut bytes = [0u8; N];
        self.inner.read_exact(&mut bytes).map_err(|_| SnapshotError::NotASnapshot)?;
        self.crc.update(&bytes);
        Ok(bytes)
    }

    /// A section's length, checked against [`MAX_SECTION`].
    fn length(&mut self, what: &str) -> Result<u64, SnapshotError> {
        let len = u64::from_le_bytes(self.exact::<8>().map_err(|_| cut(what))?);
        if len > MAX_SECTION {
            return Err(SnapshotError::Undecodable(format!("{what} claims {len} bytes")));
        }
        Ok(len)
    }

    /// A section: its length, then that many bytes, read in one go into a buffer of their own.
    fn section(&mut self, what: &str) -> Result<Vec<u8>, SnapshotError> {
        let len = self.length(what)?;
        self.bytes(len, what)
    }

    /// `len` bytes, read in one go into a buffer of their own.
    fn bytes(&mut self, len: u64, what: &str) -> Result<Vec<u8>, SnapshotError> {
        let mut bytes = Vec::new();
        // The length is only a claim until the checksum: reserve it, but read what is there.
        bytes.try_reserve_exact(len as usize).map_err(|e| SnapshotError::Undecodable(format!("{what}: {e}")))?;
        let read = (&mut self.inner).take(len).read_to_end(&mut bytes).map_err(SnapshotError::io)?;
        if read as u64 != len {
            return Err(cut(what));
        }
        self.crc.update(&bytes);
        Ok(bytes)
    }
}

impl<R: Read> Checked<R> {
    /// The stored checksum, which must be that of everything read, and the end of the input.
    fn finish(&mut self) -> Result<(), SnapshotError> {
        let computed = self.crc.clone().finalize();
        let mut stored = [0u8; 4];
        self.inner.read_exact(&mut stored).map_err(|_| SnapshotError::Checksum)?;
        if computed != u32::from_le_bytes(stored) {
            return Err(SnapshotError::Checksum);
        }
        let mut rest = [0u8; 1];
        if self.inner.read(&mut rest).map_err(SnapshotError::io)? != 0 {
            return Err(SnapshotError::Undecodable("bytes after the checksum".into()));
        }
        Ok(())
    }
}

/// Checks a snapshot file's checksum (its last 4 bytes, of all before them), reading it through.
fn checksum_of(file: &std::fs::File) -> Result<(), SnapshotError> {
    let len = file.metadata().map_err(SnapshotError::io)?.len();
    let body = len.checked_sub(4).ok_or(SnapshotError::NotASnapshot)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut crc = crc32fast::Hasher::new();
    let mut left = body;
    while left > 0 {
        let chunk = std::io::BufRead::fill_buf(&mut reader).map_err(SnapshotError::io)?;
        if chunk.is_empty() {
            return Err(SnapshotError::Checksum);
        }
        let take = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        crc.update(&chunk[..take]);
        std::io::BufRead::consume(&mut reader, take);
        left -= take as u64;
    }
    let mut stored = [0u8; 4];
    reader.read_exact(&mut stored).map_err(|_| SnapshotError::Checksum)?;
    if crc.finalize() != u32::from_le_bytes(stored) {
        return Err(SnapshotError::Checksum);
    }
    Ok(())
}

fn cut(what: &str) -> SnapshotError {
    SnapshotError::Undecodable(format!("{what}: the file ends early"))
}

impl Projections {
    /// Writes the projections as a snapshot (module docs) to `out`, as it goes: the fields section
    /// is encoded twice, once to count its length (which comes first) and once into `out`, so that
    /// no copy of it is built (about 80 MB at a million events, at every server's stop).
    pub fn write_snapshot<W: Write>(&self, mut out: W) -> Result<(), SnapshotError> {
        let fields_len = self.fields_len()?;
        let mut checked = ledger::Crc32Writer::new(&mut out);
        self.write_head(&mut checked, fields_len)?;
        self.write_records(&mut checked)?;
        let (out, checksum) = checked.finish();
        put_bytes(out, &checksum.to_le_bytes())?;
        out.flush().map_err(SnapshotError::io)
    }

    /// [`Projections::write_snapshot`] into `file` (from its start), the records section written on
    /// a second thread at its place while this one writes the fields before it: the same bytes, in
    /// about the time of the longer of the two (the records are most of a snapshot's bytes: ~250
    /// of ~300 MB at a million events). Each part's CRC-32 is taken as it is written and the two
    /// are combined (`crc32fast::Hasher::combine`) into the checksum of the whole.
    pub fn write_snapshot_file(&self, file: &std::fs::File) -> Result<(), SnapshotError> {
        let fields_len = self.fields_len()?;
        // MAGIC, the format, the fields' length, the fields, the records' length.
        let head_len = MAGIC.len() as u64 + 4 + 8 + fields_len + 8;
        let records_len = self.log.total_bytes();
        // Each part through its own checksum into the file at its offset: the part's CRC-32 and
        // the offset it ended at.
        let part = |offset: u64, write: &dyn Fn(&mut dyn Write) -> Result<(), SnapshotError>| {
            let mut checked = ledger::Crc32Writer::new(std::io::BufWriter::with_capacity(1 << 18, At { file, offset }));
            write(&mut checked)?;
            let (mut out, checksum) = checked.finish();
            out.flush().map_err(SnapshotError::io)?;
            Ok::<_, SnapshotError>((checksum, out.get_ref().offset))
        };
        let (head, records) = std::thread::scope(|scope| {
            let records = std::thread::Builder::new()
                .name("snapshot-records".into())
                .spawn_scoped(scope, || part(head_len, &|out| self.write_records(out)));
            let head = part(0, &|out| self.write_head(out, fields_len));
            let records = match records {
                Ok(thread) => {
                    thread.join().unwrap_or_else(|_| Err(SnapshotError::Write("the records' writer panicked".into())))
                }
                Err(e) => Err(SnapshotError::io(e)),
            };
            (head, records)
        });
        let ((head, head_end), (records, records_end)) = (head?, records?);
        // The fields encode as they were counted, or they would overlap the records.
        if head_end != head_len {
            return Err(SnapshotError::Write(format!(
                "the fields took {head_end} bytes where {head_len} were counted"
            )));
        }
        let written = records_end - head_len;
        if written != records_len {
            return Err(SnapshotError::Write(format!("{written} bytes of records where {records_len} were announced")));
        }
        let mut checksum = crc32fast::Hasher::new_with_initial_len(head, head_len);
        checksum.combine(&crc32fast::Hasher::new_with_initial_len(records, records_len));
        put_bytes(&mut At { file, offset: head_len + records_len }, &checksum.finalize().to_le_bytes())
    }

    /// The length of the fields section, counted by encoding it.
    fn fields_len(&self) -> Result<u64, SnapshotError> {
        let mut counted = Counted(0);
        self.write_fields(&mut counted)?;
        Ok(counted.0)
    }

    /// Everything before the records: the magic, the format, the fields section (`fields_len`
    /// long) after its length, and the records' length.
    fn write_head(&self, out: &mut dyn Write, fields_len: u64) -> Result<(), SnapshotError> {
        put_bytes(out, MAGIC)?;
        put_bytes(out, &SNAPSHOT_FORMAT.to_le_bytes())?;
        put_bytes(out, &fields_len.to_le_bytes())?;
        self.write_fields(out)?;
        put_bytes(out, &self.log.total_bytes().to_le_bytes())
    }

    /// The records section: every record's bytes, in log order.
    fn write_records(&self, out: &mut dyn Write) -> Result<(), SnapshotError> {
        self.log.write_all(&mut |bytes: &[u8]| put_bytes(out, bytes), |reason| {
            SnapshotError::Write(format!("a record could not be read: {reason}"))
        })
    }

    /// The fields section (module docs), value by value into `out`.
    fn write_fields(&self, out: &mut dyn Write) -> Result<(), SnapshotError> {
        put(out, &self.head)?;
        put(out, &self.head_recorded_at.map(Timestamp::as_micros))?;
        put(out, &self.streams)?;
        put(out, &self.lists)?;
        put(out, &Each(self.log.len(), || self.log.lengths()))?;
        put(out, &Each(self.facts.len(), || self.facts.iter().map(|f| (f.recorded_at.as_micros(), f.list, f.kind))))?;
        // No ids: the table of ids is rebuilt from the records, which hold them.
        put(out, self.agreements.all())?;
        put(out, self.parties.all())?;
        put(out, self.groups.all())?;
        put(out, self.cases.all())?;
        put(out, self.problems.all())?;
        // Each id as its slug, the bytes of the `Vec` of ids these were kept as before.
        put(out, &Each(self.bodies.len(), || self.bodies.slugs(&self.streams)))?;
        put(out, &Each(self.decisions.len(), || self.decisions.slugs(&self.streams)))?;
        put(out, self.duties.all())?;
        put(out, &self.follow_up_years)?;
        put(out, &Each(self.party_recorded.len(), || self.party_recorded.iter().map(|t| t.as_micros())))?;
        // Each as the `(u64, u32, Date)` it was kept as before.
        put(
            out,
            &Each(self.citations.len(), || {
                self.citations.iter().map(|c| (u64::from(c.position), c.decision, c.effective))
            }),
        )?;
        put(out, &Each(self.cited.len(), || self.cited.slugs(&self.streams)))?;
        put(out, &self.retractions)
    }

    /// Reads a snapshot written by [`Projections::write_snapshot`]: the projections it holds, once
    /// its checksum is checked, every record in memory. Fails with [`SnapshotError::Format`] for
    /// another format and with [`SnapshotError::Checksum`] or [`SnapshotError::Undecodable`] for a
    /// damaged one.
    pub fn read_snapshot<R: Read>(input: R) -> Result<Self, SnapshotError> {
        Self::read_snapshot_from(input, None)
    }

    /// [`Projections::read_snapshot`] of a snapshot's file, whose records stay in it: they are read
    /// once here, for the checksum and the ids, and then again from the file when asked for, each
    /// checked as it is read (`records.rs`). A server answers from these with its memory holding
    /// the indexes, not the events.
    pub fn open_snapshot(file: std::fs::File) -> Result<Self, SnapshotError> {
        // Nothing of it is interpreted before its checksum is known to match: the records are
        // read through after the fields, which say how long each is (a damaged length must not
        // be believed), so the whole file is checksummed first, a read of its own.
        // What it is first (another format's checksum is not ours to check), then whether intact.
        let mut start = [0u8; 20];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut start, 0).map_err(|_| SnapshotError::NotASnapshot)?;
        if &start[..16] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let format = u32::from_le_bytes([start[16], start[17], start[18], start[19]]);
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format { found: format, expected: SNAPSHOT_FORMAT });
        }
        checksum_of(&file)?;
        std::io::Seek::seek(&mut &file, std::io::SeekFrom::Start(0)).map_err(SnapshotError::io)?;
        let reader = std::io::BufReader::with_capacity(1 << 20, file.try_clone().map_err(SnapshotError::io)?);
        Self::read_snapshot_from(reader, Some(file))
    }

    /// Reads a snapshot from `input`; its records are kept in `file` (the same bytes, read again
    /// when asked for) or, without one, in memory.
    fn read_snapshot_from<R: Read>(input: R, file: Option<std::fs::File>) -> Result<Self, SnapshotError> {
        let mut input = Checked { inner: input, crc: crc32fast::Hasher::new() };
        if &input.exact::<16>()? != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let format = u32::from_le_bytes(input.exact::<4>()?);
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format { found: format, expected: SNAPSHOT_FORMAT });
        }
        let section = input.section("the fields")?;
        // Where the records begin in the file: magic, format, the fields' length and bytes, the
        // records' length.
        let base = (MAGIC.len() + 4 + 8 + section.len() + 8) as u64;
        let records_len = input.length("the records")?;
        // In memory, the records are read whole and the checksum checked before any field is
        // decoded; from a file, `open_snapshot` checked it before this read.
        let records = match file {
            None => {
                let records = bytes::Bytes::from(input.bytes(records_len, "the records")?);
                input.finish()?;
                Some(records)
            }
            Some(_) => None,
        };
        let mut fields = Fields { bytes: &section };
        let head: u64 = fields.take("head")?;
        let head_recorded_at: Option<i64> = fields.take("head's record time")?;
        let names: Names = fields.take("stream names")?;
        let lists: Lists = fields.take("streams")?;
        let lengths: Vec<u32> = fields.take("record lengths")?;
        if lengths.len() as u64 != head {
            return Err(SnapshotError::Undecodable(format!("{} events for a head of {head}", lengths.len())));
        }
        let (log, ids) = match (file, records) {
            (_, Some(records)) => {
                let log = in_memory(&lengths, &records)?;
                let ids = Ids::of(log.len(), |n| log.get(n as usize)?.id());
                (Records::in_memory(log), ids)
            }
            (Some(file), None) => {
                let (starts, ids) = in_file(&mut input, &lengths, base, records_len)?;
                // The checksum again, of the bytes this read went through.
                input.finish()?;
                let ids = Ids::of(ids.len(), |n| ids.get(n as usize).copied());
                (Records::in_file(Kept::new(file, starts)), ids)
            }
            (None, None) => return Err(SnapshotError::Undecodable("no records".into())),
        };
        let ids = ids.ok_or_else(|| SnapshotError::Undecodable("an event id is there twice".into()))?;

        let facts: Vec<(i64, u32, u8)> = fields.take("facts")?;
        let agreements = registry(fields.take("agreements")?)?;
        let parties = registry(fields.take("parties")?)?;
        let groups = registry(fields.take("groups")?)?;
        let cases = registry(fields.take("cases")?)?;
        let problems = registry(fields.take("problems")?)?;
        let bodies = fields.take_seed("bodies", EntitiesSeed { names: &names, entities: Default::default() })?;
        let decisions = fields.take_seed("decisions", EntitiesSeed { names: &names, entities: Default::default() })?;
        let duties = registry(fields.take("duties")?)?;
        let follow_up_years = fields.take("follow-up years")?;
        let party_recorded = fields.take::<Vec<i64>>("party record times")?;
        let citations = fields
            .take::<Vec<(u64, u32, Date)>>("citations")?
            .into_iter()
            .map(|(position, decision, effective)| {
                let position = u32::try_from(position)
                    .map_err(|_| SnapshotError::Undecodable(format!("a citation at position {position}")))?;
                Ok(Citation { position, decision, effective })
            })
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        let cited = Cited::of_slugs(&cited_decisions(fields.take("cited decisions")?)?, &names);
        let retractions = fields.take("retractions")?;
        let projections = Projections {
            head,
            head_recorded_at: head_recorded_at.map(Timestamp::from_micros),
            streams: names,
            lists,
            log,
            facts: facts
                .into_iter()
                .map(|(recorded_at, list, kind)| Fact { recorded_at: Timestamp::from_micros(recorded_at), list, kind })
                .collect(),
            ids,
            agreements,
            parties,
            groups,
            cases,
            problems,
            bodies,
            decisions,
            duties,
            follow_up_years,
            party_recorded: party_recorded.into_iter().map(Timestamp::from_micros).collect(),
            citations,
            cited,
            retractions,
            timelines: Default::default(),
            decoded: Default::default(),
        };
        if !fields.bytes.is_empty() {
            return Err(SnapshotError::Undecodable(format!("{} bytes after the fields", fields.bytes.len())));
        }
        // What the fields must agree on, so that no query ever indexes past them.
        let consistent = projections.facts.len() == projections.log.len()
            && projections.ids.len() == projections.log.len()
            && projections.lists.len() == projections.streams.len()
            && projections.facts.iter().all(|f| (f.list as usize) < projections.lists.len())
            && projections.lists.iter().flatten().all(|p| *p >= 1 && *p <= head);
        if !consistent {
            return Err(SnapshotError::Undecodable("its indexes do not agree with its events".into()));
        }
        Ok(projections)
    }
}

/// The records of a snapshot read whole, each a slice of the one buffer.
fn in_memory(lengths: &[u32], records: &bytes::Bytes) -> Result<Vec<CompactEvent>, SnapshotError> {
    let mut log = Vec::with_capacity(lengths.len());
    let mut offset = 0usize;
    for (index, len) in lengths.iter().enumerate() {
        let end = offset.saturating_add(*len as usize);
        if end > records.len() {
            return Err(SnapshotError::Undecodable(format!("event {} ends after the records", index + 1)));
        }
        let compact = CompactEvent::from_bytes(Position::new(index as u64 + 1), records.slice(offset..end))
            .map_err(|e| SnapshotError::Undecodable(e.to_string()))?;
        log.push(compact);
        offset = end;
    }
    if offset != records.len() {
        return Err(SnapshotError::Undecodable(format!("{} bytes after the last record", records.len() - offset)));
    }
    Ok(log)
}

/// The records of a snapshot read through, one at a time (checksummed, their envelopes checked,
/// their ids read), not kept: where each begins in the file (from `base`), and the ids in order.
fn in_file<R: Read>(
    input: &mut Checked<R>,
    lengths: &[u32],
    base: u64,
    records_len: u64,
) -> Result<(Offsets, Vec<ledger::EventId>), SnapshotError> {
    let total: u64 = lengths.iter().map(|len| u64::from(*len)).sum();
    if total != records_len {
        return Err(SnapshotError::Undecodable(format!("records of {total} bytes in a section of {records_len}")));
    }
    let mut starts = Offsets::with_capacity(lengths.len() + 1);
    let mut ids = Vec::with_capacity(lengths.len());
    let mut record = Vec::new();
    let mut offset = base;
    for (index, len) in lengths.iter().enumerate() {
        starts.push(offset);
        record.resize(*len as usize, 0);
        input.inner.read_exact(&mut record).map_err(|_| cut("the records"))?;
        input.crc.update(&record);
        let id = CompactEvent::peek_id(Position::new(index as u64 + 1), &record)
            .map_err(|e| SnapshotError::Undecodable(e.to_string()))?;
        ids.push(id);
        offset += u64::from(*len);
    }
    starts.push(offset);
    Ok((starts, ids))
}

/// The cited decisions' slugs, refused unless each is a decision's id.
fn cited_decisions(cited: Names) -> Result<Names, SnapshotError> {
    if let Some(slug) = cited.iter().find(|slug| slug.parse::<DecisionId>().is_err()) {
        return Err(SnapshotError::Undecodable(format!("{slug:?} is not a decision's id")));
    }
    Ok(cited)
}

/// A registry of ids in first-seen order (refused if one is there twice).
fn registry<T: Eq + std::hash::Hash>(order: Vec<T>) -> Result<Registry<T>, SnapshotError> {
    Registry::from_order(order).ok_or_else(|| SnapshotError::Undecodable("an id is listed twice".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::SNAPSHOT_FORMAT;
    use crate::Projections;
    use crate::error::SnapshotError;
    use crate::testkit::{aid, assert_same_answers, d, notice};

    /// Agreements, parties, decisions, a notice and a retraction.
    fn sample() -> Projections {
        let mut given = crate::testkit::noticed_without_a_period();
        let wrong = given.record("2020-04-01", notice("sak", "region"));
        given.record("2020-04-02", ledger::EventRetracted { event: wrong.id(), reason: "fel part".into() });
        given.projections()
    }

    /// Every answer of a snapshot read back is the answer of the projections written.
    #[test]
    fn a_snapshot_reads_back_as_the_same_projections() {
        let projections = sample();
        let mut bytes = Vec::new();
        projections.write_snapshot(&mut bytes).expect("writes");
        let read = Projections::read_snapshot(bytes.as_slice()).expect("reads");
        assert_same_answers(&read, &projections);
        let known = ledger::Timestamp::from_micros(i64::MAX);
        let sak = aid("sak");
        assert!(projections.agreement(&sak, d("2020-06-01"), known).is_some());
        assert_eq!(read.agreement(&sak, d("2020-06-01"), known), projections.agreement(&sak, d("2020-06-01"), known));
    }

    /// The fields of this format are the plain values its module docs list, whatever form the
    /// projections hold them in: decoded here as the `Vec`s they were written as before the
    /// streams, their positions, the bodies and the decisions were held compactly
    /// (`streams.rs`), they are the store's own, to the last byte.
    #[test]
    fn the_fields_are_the_plain_values_of_the_format() {
        use ledger::{AgreementId, BodyId, CaseId, DutyId, GroupId, PartyId, ProblemId};
        let mut given = crate::testkit::noticed_without_a_period();
        let vis = BodyId::new("vis").unwrap();
        let kind = ledger::BodyKind::Network;
        given.record("2020-04-01", ledger::BodyRegistered { body: vis.clone(), name: "VIS".into(), kind, of: None });
        given.record(
            "2020-04-02",
            ledger::DecisionRecorded {
                decision: ledger::DecisionId::new("d-2").unwrap(),
                body: vis,
                reference: None,
                paragraph: None,
                subject: "decision".into(),
                summary: None,
            },
        );
        let projections = given.projections();
        let mut bytes = Vec::new();
        projections.write_snapshot(&mut bytes).expect("writes");
        assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), SNAPSHOT_FORMAT);
        let len = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
        let mut fields = super::Fields { bytes: &bytes[28..28 + len] };
        let head: u64 = fields.take("head").unwrap();
        let _: Option<i64> = fields.take("head's record time").unwrap();
        let names: Vec<Box<str>> = fields.take("stream names").unwrap();
        let lists: Vec<Vec<u64>> = fields.take("streams").unwrap();
        assert_eq!(head, projections.head().get());
        assert_eq!(names.len(), lists.len());
        for (name, positions) in names.iter().zip(&lists) {
            let stream = ledger::StreamId::parse(name).unwrap();
            assert_eq!(projections.stream_positions(&stream), positions.as_slice(), "{name}");
        }
        assert_eq!(lists.iter().map(Vec::len).sum::<usize>() as u64, head);
        assert!(lists.iter().any(|l| l.len() == 1) && lists.iter().any(|l| l.len() > 1));
        let lengths: Vec<u32> = fields.take("record lengths").unwrap();
        let facts: Vec<(i64, u32, u8)> = fields.take("facts").unwrap();
        assert_eq!((lengths.len(), facts.len()), (head as usize, head as usize));
        let _: Vec<AgreementId> = fields.take("agreements").unwrap();
        let _: Vec<PartyId> = fields.take("parties").unwrap();
        let _: Vec<GroupId> = fields.take("groups").unwrap();
        let _: Vec<CaseId> = fields.take("cases").unwrap();
        let _: Vec<ProblemId> = fields.take("problems").unwrap();
        let bodies: Vec<BodyId> = fields.take("bodies").unwrap();
        let decisions: Vec<ledger::DecisionId> = fields.take("decisions").unwrap();
        let known = ledger::Timestamp::from_micros(i64::MAX);
        assert_eq!(bodies, projections.bodies(known).into_iter().map(|b| b.id).collect::<Vec<_>>());
        let everything = projections.decisions(None, d("2100-01-01"), known);
        assert!(!decisions.is_empty());
        assert_eq!(decisions, everything.into_iter().map(|d| d.id).collect::<Vec<_>>());
        let _: Vec<DutyId> = fields.take("duties").unwrap();
        let _: std::collections::BTreeSet<i32> = fields.take("follow-up years").unwrap();
        let _: Vec<i64> = fields.take("party record times").unwrap();
        let citations: Vec<(u64, u32, ledger::Date)> = fields.take("citations").unwrap();
        let cited: Vec<ledger::DecisionId> = fields.take("cited decisions").unwrap();
        assert!(!citations.is_empty() && citations.iter().all(|(_, n, _)| (*n as usize) < cited.len()));
        let decided = projections.citations(d("2100-01-01"), known);
        assert_eq!(decided.len(), cited.len());
        assert!(cited.iter().all(|id| decided.contains_key(id)));
        let _: Vec<u64> = fields.take("retractions").unwrap();
        assert!(fields.bytes.is_empty(), "nothing else");
    }

    /// A cited decision read back must be a decision's id (before, its type's decoding refused
    /// anything else; the slugs are now read as plain names).
    #[test]
    fn a_cited_decision_that_is_no_id_is_refused() {
        let mut cited = super::Names::default();
        cited.number("d-1");
        assert!(super::cited_decisions(cited.clone()).is_ok());
        cited.number("Not a slug");
        assert!(super::cited_decisions(cited).is_err_and(|e| e.to_string().contains("is not a decision's id")));
    }

    /// The sample written to a file and opened from it (its records left there), with the file.
    fn opened() -> (Projections, Projections, tempfile::NamedTempFile) {
        let projections = sample();
        let mut file = tempfile::NamedTempFile::new().expect("a file");
        projections.write_snapshot(&mut file).expect("writes");
        let opened = Projections::open_snapshot(file.reopen().expect("reopens")).expect("opens");
        (projections, opened, file)
    }

    /// Opened from its file, a snapshot answers as the projections written, its records read from
    /// the file (none in memory), and it writes the same snapshot again.
    #[test]
    fn a_snapshot_opened_from_its_file_answers_from_the_file() {
        let (projections, opened, _file) = opened();
        assert_eq!(opened.log.len(), projections.head().get() as usize);
        assert_eq!(opened.log.range(0, usize::MAX).len(), opened.log.len());
        assert_same_answers(&opened, &projections);
        let (mut again, mut written) = (Vec::new(), Vec::new());
        opened.write_snapshot(&mut again).expect("writes from the file");
        projections.write_snapshot(&mut written).expect("writes");
        assert_eq!(again, written);
        assert!(opened.health().is_ok());
    }

    /// A record damaged in the file after it was opened is refused when read, never decoded as
    /// another event, and the projections say so from then on; a snapshot is not written from them.
    #[test]
    fn a_record_damaged_in_the_file_fails_the_projections_not_the_answer() {
        use std::io::{Seek, SeekFrom, Write};
        let (projections, opened, file) = opened();
        let last = projections.head();
        let record = projections.log.get(last.get() as usize - 1).expect("the last record");
        // The last record ends 4 bytes (the checksum) before the end of the file.
        let len = file.as_file().metadata().expect("metadata").len();
        let inside = len - 4 - record.len() as u64 / 2;
        let mut writer = file.reopen().expect("reopens");
        writer.seek(SeekFrom::Start(inside)).expect("seeks");
        writer.write_all(&[0xFF, 0x00, 0xFF]).expect("damages");
        assert!(opened.health().is_ok(), "nothing read yet");
        assert_eq!(opened.event(last), None, "the damaged record is not handed out");
        match opened.health() {
            Err(crate::ProjectionError::Unreadable { reason }) => {
                assert!(reason.contains(&last.to_string()), "{reason}")
            }
            other => panic!("expected the store to have failed, got {other:?}"),
        }
        assert!(opened.event(ledger::Position::new(1)).is_some(), "other records still read");
        assert!(opened.health().is_err(), "the failure is for good");
        let clone = opened.clone();
        assert!(clone.health().is_err(), "a clone shares the file and its failure");
        assert!(opened.write_snapshot(&mut Vec::new()).is_err(), "no snapshot from a damaged record");
    }

    /// Events applied after the opening are kept in memory, withdrawn from there by a speculation;
    /// the table of ids grows without reading one record again (here the file is emptied first,
    /// so any read would fail the projections).
    #[test]
    fn events_after_the_snapshot_are_applied_without_reading_the_file() {
        let mut given = crate::testkit::noticed_without_a_period();
        let mut file = tempfile::NamedTempFile::new().expect("a file");
        given.projections().write_snapshot(&mut file).expect("writes");
        let mut opened = Projections::open_snapshot(file.reopen().expect("reopens")).expect("opens");
        let before = opened.head().get();
        file.as_file().set_len(0).expect("empties the file under the open projections");
        for n in 0..(3 * before as usize + 64) {
            let event = given.record(
                "2021-01-01",
                ledger::PartyRegistered {
                    party: ledger::PartyId::new(format!("late-{n}")).expect("slug"),
                    name: format!("Late {n}"),
                    kind: ledger::PartyKind::Municipality,
                },
            );
            opened.apply(&event).expect("applies");
        }
        assert!(opened.health().is_ok(), "the ids grew without a read: {:?}", opened.health());
        let last = given.chain.events().last().expect("events").clone();
        assert_eq!(opened.event(last.position()).as_deref(), Some(&last));
        assert!(opened.has_event(last.id()));
        assert_eq!(opened.event(ledger::Position::new(1)), None, "a record of the emptied file cannot be read");
        assert!(opened.health().is_err());
    }

    /// Opened from a file, the same: a flipped byte anywhere (a record's length among them), a cut,
    /// another format, a byte after the checksum – refused before anything is believed.
    #[test]
    fn a_damaged_snapshot_file_is_refused() {
        use std::io::Write;
        let mut bytes = Vec::new();
        sample().write_snapshot(&mut bytes).expect("writes");
        let open = |bytes: &[u8]| {
            let mut file = tempfile::NamedTempFile::new().expect("a file");
            file.write_all(bytes).expect("writes");
            Projections::open_snapshot(file.reopen().expect("reopens")).map(|p| p.head())
        };
        assert!(open(&bytes).is_ok());
        for at in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            assert!(open(&damaged).is_err(), "a flipped byte at {at}");
        }
        for len in [0, 3, 10, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(open(&bytes[..len]).is_err(), "cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(open(&longer).is_err(), "a byte after the checksum");
    }

    /// A flipped byte anywhere, a cut, another format or another file: never projections.
    #[test]
    fn a_damaged_or_foreign_snapshot_is_refused() {
        let mut bytes = Vec::new();
        sample().write_snapshot(&mut bytes).expect("writes");
        for at in [0, 17, 20, bytes.len() / 3, bytes.len() / 2, bytes.len() - 40, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            assert!(Projections::read_snapshot(damaged.as_slice()).is_err(), "a flipped byte at {at}");
        }
        for len in [0, 10, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(Projections::read_snapshot(&bytes[..len]).is_err(), "cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Projections::read_snapshot(longer.as_slice()).is_err(), "a byte after the checksum");
        let mut older = bytes.clone();
        older[16..20].copy_from_slice(&(SNAPSHOT_FORMAT - 1).to_le_bytes());
        match Projections::read_snapshot(older.as_slice()) {
            Err(SnapshotError::Format { found, expected }) => {
                assert_eq!((found, expected), (SNAPSHOT_FORMAT - 1, SNAPSHOT_FORMAT))
            }
            other => panic!("expected a format refusal, got {:?}", other.map(|p| p.head())),
        }
        assert!(matches!(
            Projections::read_snapshot(&b"{\"not\": \"a snapshot\"}"[..]),
            Err(SnapshotError::NotASnapshot)
        ));
    }
}
