//! An event held in memory as its record bytes: what a reader that keeps every event (the
//! projections) holds instead of the decoded form, which is three to four times larger.
//!
//! The bytes are the ledger's own record encoding (`encoding.rs`), so only this crate reads them;
//! [`CompactEvent::expand`] decodes them again when the event is needed. They are a slice of a
//! shared buffer ([`bytes::Bytes`]): the ledger's chunk the record was read from, or a snapshot's
//! block of records, so a million events are not a million allocations, and a clone of the
//! projections shares them instead of copying them.

use crate::encoding;
use crate::error::Result;
use crate::event::RecordedEvent;
use crate::id::Position;

/// A recorded event as its record bytes.
///
/// Invariant: the bytes decoded (or were encoded from an event) once, so they decode again:
/// [`CompactEvent::expand`] fails only if memory itself was corrupted.
#[derive(Clone, PartialEq, Eq)]
pub struct CompactEvent {
    position: Position,
    record: bytes::Bytes,
}

impl std::fmt::Debug for CompactEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactEvent").field("position", &self.position).field("bytes", &self.record.len()).finish()
    }
}

impl CompactEvent {
    /// The compact form of an event (encoded again; an event read from the ledger comes with its
    /// stored bytes from [`crate::Ledger::read_compact_from`] instead).
    pub fn of(event: &RecordedEvent) -> Result<Self> {
        Ok(Self { position: event.position(), record: encoding::encode_again(event)?.into() })
    }

    /// Stored record bytes that were just decoded as an event at `position` (a slice of the
    /// chunk they were read from, shared, not copied).
    pub(crate) fn stored(position: Position, record: bytes::Bytes) -> Self {
        Self { position, record }
    }

    /// Record bytes kept elsewhere (a snapshot) for the event at `position`. Only the envelope is
    /// checked here; whoever kept them must have kept them intact (a snapshot is checksummed),
    /// since [`CompactEvent::expand`] is expected never to fail.
    pub fn from_bytes(position: Position, record: bytes::Bytes) -> Result<Self> {
        encoding::check_envelope(position, &record)?;
        Ok(Self { position, record })
    }

    /// Record bytes kept in a file and read back for the event at `position`: checked as
    /// [`CompactEvent::from_bytes`] does, and also that the position is the one the body claims
    /// and that the bytes give the hash stored in them, so that bytes damaged on disk since they
    /// were written (or read from the wrong place) are refused, never decoded as another event.
    pub fn verified(position: Position, record: bytes::Bytes) -> Result<Self> {
        encoding::check_kept(position, &record)?;
        Ok(Self { position, record })
    }

    /// The checks of [`CompactEvent::from_bytes`] of bytes the caller keeps, and the event's id
    /// read from them.
    pub fn peek_id(position: Position, record: &[u8]) -> Result<crate::EventId> {
        encoding::check_envelope(position, record)?;
        encoding::id_of(record)
            .ok_or_else(|| crate::LedgerError::Corrupt { position, reason: "the record's id cannot be read".into() })
    }

    /// The record bytes (to keep them elsewhere, for [`CompactEvent::from_bytes`]).
    pub fn as_bytes(&self) -> &[u8] {
        &self.record
    }

    /// The event's id, read from its record without decoding the rest (`None` only if memory was
    /// corrupted: the bytes decoded once).
    pub fn id(&self) -> Option<crate::EventId> {
        encoding::id_of(&self.record)
    }

    /// The event's position.
    pub fn position(&self) -> Position {
        self.position
    }

    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.record.len()
    }

    /// Whether it holds no bytes (never: a record has a header).
    pub fn is_empty(&self) -> bool {
        self.record.is_empty()
    }

    /// The event, decoded again.
    pub fn expand(&self) -> Result<RecordedEvent> {
        encoding::decode(self.position, &self.record)
    }

    /// The event's fields but its source and data, read from the bytes without decoding those
    /// (borrowed from them where they can be). Fails where [`CompactEvent::expand`] would, and
    /// also for a type stored under an older schema, which only a decode can upcast.
    pub fn view(&self) -> Result<EventView<'_>> {
        encoding::view(self.position, &self.record)
    }
}

/// An event's fields other than its source and data, as [`CompactEvent::view`] reads them: what a
/// reader that shows only these (a subscription's frame) needs, at a fraction of a decode's cost.
/// Each is what the decoded [`RecordedEvent`]'s accessor of the same name gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView<'a> {
    /// [`RecordedEvent::id`].
    pub id: crate::EventId,
    /// [`RecordedEvent::position`].
    pub position: Position,
    /// [`RecordedEvent::stream`], as text.
    pub stream: &'a str,
    /// [`RecordedEvent::stream_version`].
    pub stream_version: u64,
    /// [`RecordedEvent::type_name`].
    pub type_name: &'static str,
    /// [`RecordedEvent::effective`].
    pub effective: crate::Date,
    /// [`RecordedEvent::recorded_at`].
    pub recorded_at: crate::Timestamp,
    /// [`RecordedEvent::recorded_by`].
    pub recorded_by: &'a str,
    /// [`RecordedEvent::prev_hash`].
    pub prev_hash: crate::Hash,
    /// [`RecordedEvent::hash`].
    pub hash: crate::Hash,
}

impl<'a> EventView<'a> {
    /// The same fields of a decoded event.
    pub fn of(event: &'a RecordedEvent) -> Self {
        Self {
            id: event.id(),
            position: event.position(),
            stream: event.stream().as_str(),
            stream_version: event.stream_version(),
            type_name: event.type_name(),
            effective: event.effective(),
            recorded_at: event.recorded_at(),
            recorded_by: event.recorded_by(),
            prev_hash: event.prev_hash(),
            hash: event.hash(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::CompactEvent;
    use crate::{Append, AppendOutcome, Ledger, LedgerConfig, NewEvent, PartyRegistered, Position};

    /// Every event, stored or only sealed, expands to itself, and the bytes read from the ledger are
    /// the bytes an event encodes to again.
    #[test]
    fn a_compact_event_expands_to_the_event_and_holds_the_stored_bytes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(tmp.path(), LedgerConfig::default()).expect("opens");
        let mut append = Append::new();
        for n in 0..5 {
            let party = crate::PartyId::new(format!("m{n}")).expect("slug");
            let data =
                PartyRegistered { party, name: format!("Kommun {n} – ÅÄÖ"), kind: crate::PartyKind::Municipality };
            append = append.with(NewEvent::new(crate::Date::from_ymd(2022, 1, 1).expect("date"), "test", data));
        }
        let AppendOutcome::Committed(committed) = ledger.append(append).expect("appends") else { panic!("conflict") };
        let read: Vec<_> = ledger.read_compact_from(Position::FIRST).map(|r| r.expect("reads")).collect();
        assert_eq!(read.len(), 5);
        for ((event, stored), sealed) in read.iter().zip(&committed) {
            assert_eq!(event, &sealed.event);
            assert_eq!(&stored.expand().expect("expands"), event);
            let again = CompactEvent::of(event).expect("encodes");
            assert_eq!(&again, stored, "encoded again, the same bytes as stored");
            assert_eq!(again.position(), event.position());
            assert_eq!(stored.id(), Some(event.id()), "the id read without decoding");
            assert_eq!(stored.view().expect("views"), super::EventView::of(event), "the fields read without the data");
        }
    }

    /// Every event type of the golden records (`golden/records-v1.jsonl`), its record bytes
    /// encoded again from the decoded event, is those very bytes, and expands to the event.
    #[test]
    fn every_golden_record_encodes_again_to_its_own_bytes() {
        #[derive(serde::Deserialize)]
        struct Line {
            record: String,
        }
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/golden/records-v1.jsonl"))
            .expect("golden file is checked in");
        let mut types = std::collections::BTreeSet::new();
        for (index, line) in text.lines().enumerate() {
            let line: Line = serde_json::from_str(line).expect("golden line parses");
            let bytes = hex::decode(&line.record).expect("record is hex");
            let position = Position::new(index as u64 + 1);
            let event = crate::encoding::decode(position, &bytes).expect("decodes");
            let compact = CompactEvent::of(&event).expect("encodes");
            assert_eq!(compact, CompactEvent::stored(position, bytes.clone().into()), "{}", event.type_name());
            assert_eq!(compact.expand().expect("expands"), event);
            assert_eq!(compact.id(), Some(event.id()), "{}: the id read without decoding", event.type_name());
            assert_eq!(compact.view().expect("views"), super::EventView::of(&event), "{}", event.type_name());
            let mut other_format = bytes.clone();
            other_format[0] ^= 0xff;
            assert_eq!(
                CompactEvent::stored(position, other_format.clone().into()).id(),
                None,
                "another format's record"
            );
            assert!(CompactEvent::stored(position, other_format.into()).view().is_err(), "another format's record");
            assert!(CompactEvent::stored(position.next(), bytes.clone().into()).view().is_err(), "another position");
            let mut other_schema = bytes.clone();
            other_schema[2] ^= 0x40;
            assert!(CompactEvent::stored(position, other_schema.into()).view().is_err(), "a schema to upcast");
            types.insert(event.type_name());
        }
        assert_eq!(types.len(), crate::EventData::TYPES.len(), "every type is in the golden file");
    }
}
