//! The projections as bytes, for a start-up that folds only what follows them (issue 19).
//!
//! A snapshot is the store's indexes and every compact event, written field by field:
//!
//! ```text
//! MAGIC (16 bytes) ‖ SNAPSHOT_FORMAT (u32, little-endian) ‖ fields ‖ SHA-256 of everything before it
//! ```
//!
//! The fields are bincode 2.0.1 (the ledger's configuration) of plain values; the events are their
//! record bytes, each behind its length. Nothing of the materialized timelines or the decoded
//! streams is kept: they are caches, and a started server fills them again.
//!
//! [`Projections::read_snapshot`] refuses anything but an intact snapshot of this format: the hash
//! is checked before the projections are handed out. Whether the snapshot belongs to the ledger
//! it is loaded beside (its head event's hash) is the caller's check.

use std::io::{Read, Write};

use foldhash::HashMap;
use ledger::{CompactEvent, Date, DecisionId, EventId, Position, Timestamp};
use sha2::{Digest, Sha256};

use super::{Fact, Projections, Registry};
use crate::error::SnapshotError;

/// What a snapshot starts with.
const MAGIC: &[u8; 16] = b"samverkan-proj\x00\x01";

/// The layout of the fields. Bump it whenever a field of [`Projections`] that is written here
/// changes: a snapshot of another format is not read (the server folds the ledger instead).
pub const SNAPSHOT_FORMAT: u32 = 1;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding()
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what comes through it.
struct Hashed<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn put<T: serde::Serialize, W: Write>(out: &mut W, value: &T) -> Result<(), SnapshotError> {
    bincode::serde::encode_into_std_write(value, out, config()).map_err(|e| SnapshotError::Write(e.to_string()))?;
    Ok(())
}

fn take<T: serde::de::DeserializeOwned, R: Read>(input: &mut R, what: &str) -> Result<T, SnapshotError> {
    bincode::serde::decode_from_std_read(input, config())
        .map_err(|e| SnapshotError::Undecodable(format!("{what}: {e}")))
}

impl Projections {
    /// Writes the projections as a snapshot (module docs) to `out`.
    pub fn write_snapshot<W: Write>(&self, out: W) -> Result<(), SnapshotError> {
        let mut out = Hashing { inner: out, hasher: Sha256::new() };
        out.write_all(MAGIC).map_err(SnapshotError::io)?;
        out.write_all(&SNAPSHOT_FORMAT.to_le_bytes()).map_err(SnapshotError::io)?;
        put(&mut out, &self.head)?;
        put(&mut out, &self.head_recorded_at.map(Timestamp::as_micros))?;
        put(&mut out, &self.names)?;
        put(&mut out, &self.lists)?;
        put(&mut out, &(self.log.len() as u64))?;
        for compact in &self.log {
            let bytes = compact.as_bytes();
            out.write_all(&(bytes.len() as u32).to_le_bytes()).map_err(SnapshotError::io)?;
            out.write_all(bytes).map_err(SnapshotError::io)?;
        }
        let facts: Vec<(i64, u32, u8)> =
            self.facts.iter().map(|f| (f.recorded_at.as_micros(), f.list, f.kind)).collect();
        put(&mut out, &facts)?;
        // The ids in log order: the map is rebuilt from them.
        let mut by_position: Vec<(u64, EventId)> = self.position_of.iter().map(|(id, p)| (*p, *id)).collect();
        by_position.sort_unstable_by_key(|(p, _)| *p);
        let ids: Vec<EventId> = by_position.into_iter().map(|(_, id)| id).collect();
        put(&mut out, &ids)?;
        put(&mut out, &self.agreements.order)?;
        put(&mut out, &self.parties.order)?;
        put(&mut out, &self.groups.order)?;
        put(&mut out, &self.cases.order)?;
        put(&mut out, &self.problems.order)?;
        put(&mut out, &self.bodies.order)?;
        put(&mut out, &self.decisions.order)?;
        put(&mut out, &self.duties.order)?;
        put(&mut out, &self.follow_up_years)?;
        let party_recorded: Vec<i64> = self.party_recorded.iter().map(|t| t.as_micros()).collect();
        put(&mut out, &party_recorded)?;
        put(&mut out, &self.citations)?;
        put(&mut out, &self.cited.order)?;
        put(&mut out, &self.retractions)?;
        let digest = out.hasher.finalize();
        out.inner.write_all(&digest).map_err(SnapshotError::io)?;
        out.inner.flush().map_err(SnapshotError::io)
    }

    /// Reads a snapshot written by [`Projections::write_snapshot`]: the projections it holds, once
    /// its hash is checked. Fails with [`SnapshotError::Format`] for another format and with
    /// [`SnapshotError::Checksum`] or [`SnapshotError::Undecodable`] for a damaged one.
    pub fn read_snapshot<R: Read>(input: R) -> Result<Self, SnapshotError> {
        let mut input = Hashed { inner: input, hasher: Sha256::new() };
        let mut magic = [0u8; 16];
        input.read_exact(&mut magic).map_err(|_| SnapshotError::NotASnapshot)?;
        if &magic != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let mut format = [0u8; 4];
        input.read_exact(&mut format).map_err(|_| SnapshotError::NotASnapshot)?;
        let format = u32::from_le_bytes(format);
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format { found: format, expected: SNAPSHOT_FORMAT });
        }
        let head: u64 = take(&mut input, "head")?;
        let head_recorded_at: Option<i64> = take(&mut input, "head's record time")?;
        let names: Vec<Box<str>> = take(&mut input, "stream names")?;
        let lists: Vec<Vec<u64>> = take(&mut input, "streams")?;
        let events: u64 = take(&mut input, "event count")?;
        if events != head {
            return Err(SnapshotError::Undecodable(format!("{events} events for a head of {head}")));
        }
        let mut log = Vec::with_capacity(usize::try_from(events).unwrap_or(0).min(1 << 24));
        for index in 0..events {
            let mut len = [0u8; 4];
            input.read_exact(&mut len).map_err(|e| SnapshotError::Undecodable(format!("event {index}: {e}")))?;
            let len = u32::from_le_bytes(len) as usize;
            if len > ledger::MAX_BODY_BYTES * 2 {
                return Err(SnapshotError::Undecodable(format!("event {index} claims {len} bytes")));
            }
            let mut bytes = vec![0u8; len];
            input.read_exact(&mut bytes).map_err(|e| SnapshotError::Undecodable(format!("event {index}: {e}")))?;
            let compact = CompactEvent::from_bytes(Position::new(index + 1), bytes)
                .map_err(|e| SnapshotError::Undecodable(e.to_string()))?;
            log.push(compact);
        }
        let facts: Vec<(i64, u32, u8)> = take(&mut input, "facts")?;
        let ids: Vec<EventId> = take(&mut input, "ids")?;
        let projections = Projections {
            head,
            head_recorded_at: head_recorded_at.map(Timestamp::from_micros),
            streams: names.iter().enumerate().map(|(list, name)| (name.clone(), list as u32)).collect(),
            lists,
            names,
            log,
            facts: facts
                .into_iter()
                .map(|(recorded_at, list, kind)| Fact { recorded_at: Timestamp::from_micros(recorded_at), list, kind })
                .collect(),
            position_of: ids.iter().enumerate().map(|(index, id)| (*id, index as u64 + 1)).collect::<HashMap<_, _>>(),
            agreements: registry(take(&mut input, "agreements")?),
            parties: registry(take(&mut input, "parties")?),
            groups: registry(take(&mut input, "groups")?),
            cases: registry(take(&mut input, "cases")?),
            problems: registry(take(&mut input, "problems")?),
            bodies: registry(take(&mut input, "bodies")?),
            decisions: registry(take(&mut input, "decisions")?),
            duties: registry(take(&mut input, "duties")?),
            follow_up_years: take(&mut input, "follow-up years")?,
            party_recorded: take::<Vec<i64>, _>(&mut input, "party record times")?
                .into_iter()
                .map(Timestamp::from_micros)
                .collect(),
            citations: take::<Vec<(u64, u32, Date)>, _>(&mut input, "citations")?,
            cited: registry(take::<Vec<DecisionId>, _>(&mut input, "cited decisions")?),
            retractions: take(&mut input, "retractions")?,
            timelines: Default::default(),
            decoded: Default::default(),
        };
        let computed = input.hasher.finalize();
        let mut stored = [0u8; 32];
        input.inner.read_exact(&mut stored).map_err(|_| SnapshotError::Checksum)?;
        if computed.as_slice() != stored {
            return Err(SnapshotError::Checksum);
        }
        let mut rest = [0u8; 1];
        if input.inner.read(&mut rest).map_err(SnapshotError::io)? != 0 {
            return Err(SnapshotError::Undecodable("bytes after the checksum".into()));
        }
        // What the fields must agree on, so that no query ever indexes past them.
        let consistent = projections.facts.len() == projections.log.len()
            && projections.position_of.len() == projections.log.len()
            && projections.lists.len() == projections.names.len()
            && projections.streams.len() == projections.names.len()
            && projections.facts.iter().all(|f| (f.list as usize) < projections.lists.len())
            && projections.lists.iter().flatten().all(|p| *p >= 1 && *p <= head);
        if !consistent {
            return Err(SnapshotError::Undecodable("its indexes do not agree with its events".into()));
        }
        Ok(projections)
    }
}

/// A registry of ids in first-seen order.
fn registry<T: Clone + Eq + std::hash::Hash>(order: Vec<T>) -> Registry<T> {
    let seen = order.iter().enumerate().map(|(index, id)| (id.clone(), index as u32)).collect();
    Registry { order, seen }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::SNAPSHOT_FORMAT;
    use crate::Projections;
    use crate::error::SnapshotError;
    use crate::testkit::{aid, d, notice};

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
        assert_eq!(read.head(), projections.head());
        for p in 1..=projections.head().get() {
            let position = ledger::Position::new(p);
            assert_eq!(read.event(position), projections.event(position));
        }
        let known = ledger::Timestamp::from_micros(i64::MAX);
        for at in ["2019-01-01", "2020-06-01", "2024-01-01"] {
            assert_eq!(read.agreements(d(at), known), projections.agreements(d(at), known), "{at}");
            assert_eq!(read.findings(d(at), known), projections.findings(d(at), known), "{at}");
            assert_eq!(read.decisions(None, d(at), known), projections.decisions(None, d(at), known), "{at}");
        }
        let sak = aid("sak");
        assert!(projections.agreement(&sak, d("2020-06-01"), known).is_some());
        assert_eq!(read.agreement(&sak, d("2020-06-01"), known), projections.agreement(&sak, d("2020-06-01"), known));
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
