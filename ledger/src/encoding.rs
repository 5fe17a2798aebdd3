//! The byte encoding of stored records. Only this module knows it.
//!
//! A record (stored in a chunk of the `chunks` tree, `store/layout.rs`; format 1 kept one per key) is:
//!
//! ```text
//! offset  size  field
//! 0       1     format version (FORMAT_VERSION = 1): the envelope's own layout
//! 1       2     schema version of the event type, big-endian (see `schema_version`)
//! 3       32    prev_hash
//! 35      32    hash = SHA-256(prev_hash ‖ bytes[0..3] ‖ body)   (chain::chain_hash)
//! 67      ..    body: bincode 2.0.1, `config()` below, of `Body`
//! ```
//!
//! The body holds the type as a string and the payload as nested bytes, so decoding dispatches on
//! the type's name and schema version, never on enum variant order; vocabularies (`REGION`, …) are
//! encoded as their names for the same reason. Golden fixtures in `golden/` pin these bytes for every
//! event type: they must decode forever.

use serde::{Deserialize, Serialize};

use crate::chain::{Hash, chain_hash};
use crate::error::{LedgerError, Result};
use crate::event::{EventData, RecordedEvent, Source};
use crate::id::{EventId, Position, StreamId};
use crate::time::{Date, Timestamp};
use crate::upcast;

/// The envelope layout version.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Bytes before the body.
const HEADER_LEN: usize = 1 + 2 + 32 + 32;

/// The largest body accepted. It keeps every event an ordinary inline value in sled (whose blob
/// threshold is a quarter segment, 128 KiB by default) and bounds what a corrupt length prefix can
/// make the decoder allocate.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The fixed bincode configuration. Changing any part of it changes every stored byte: don't.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<{ 1024 * 1024 }>()
}

/// The schema version of an event type's payload as this build writes it. Bump it (and add an
/// upcaster in `upcast`, and a golden fixture for the old bytes) whenever a payload's shape changes.
pub(crate) fn schema_version(_type_name: &str) -> u16 {
    1
}

/// The stored body. Field order is part of the format (serde writes a reference as the value it
/// points to, so borrowing changes no byte).
#[derive(Debug, Serialize)]
struct Body<'a> {
    position: u64,
    id: EventId,
    stream: &'a StreamId,
    stream_version: u64,
    event_type: &'a str,
    effective: Date,
    recorded_at: Timestamp,
    recorded_by: &'a str,
    source: Option<&'a Source>,
    /// Written as bytes (a length, then the bytes): what serde's sequence of `u8` writes in
    /// bincode too, without a call per byte (the golden records hold the two equal).
    #[serde(serialize_with = "as_bytes")]
    payload: &'a [u8],
}

fn as_bytes<S: serde::Serializer>(bytes: &&[u8], serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// The record of an event: the envelope with `prev_hash` and `hash` (zeros for a hash still to be
/// computed), then the body, refused past [`MAX_BODY_BYTES`].
fn record_of(
    (position, id, stream, stream_version): (Position, EventId, &StreamId, u64),
    (effective, recorded_at, recorded_by, source): (Date, Timestamp, &str, Option<&Source>),
    data: &EventData,
    prev_hash: &Hash,
    hash: &[u8; 32],
) -> Result<Vec<u8>> {
    let type_name = data.type_name();
    let cannot = |e: String| LedgerError::InvalidEvent(format!("cannot encode {type_name}: {e}"));
    let mut payload = Vec::with_capacity(256);
    data.encode_payload_into(&mut payload, config()).map_err(|e| cannot(e.to_string()))?;
    let body = Body {
        position: position.get(),
        id,
        stream,
        stream_version,
        event_type: type_name,
        effective,
        recorded_at,
        recorded_by,
        source,
        payload: &payload,
    };
    // The envelope, then the body encoded straight after it.
    let mut record = Vec::with_capacity(HEADER_LEN + payload.len() + 192);
    record.push(FORMAT_VERSION);
    record.extend_from_slice(&schema_version(type_name).to_be_bytes());
    record.extend_from_slice(prev_hash.as_bytes());
    record.extend_from_slice(hash);
    bincode::serde::encode_into_std_write(&body, &mut record, config()).map_err(|e| cannot(e.to_string()))?;
    let body_len = record.len() - HEADER_LEN;
    if body_len > MAX_BODY_BYTES {
        return Err(LedgerError::InvalidEvent(format!(
            "{type_name} is {body_len} bytes encoded; the limit is {MAX_BODY_BYTES}"
        )));
    }
    Ok(record)
}

/// [`Body`] as read: its fields up to the recorder as [`HeadRef`] (bincode writes a struct as its
/// fields one after another, so the nested struct reads the same bytes), then the source and the
/// payload, borrowed from the record (the same bytes – bincode writes a `Vec<u8>` and a byte slice
/// alike, as a length and the bytes – read without copying them, and without serde visiting the
/// payload one byte at a time).
#[derive(Debug, Deserialize)]
struct BodyRef<'a> {
    #[serde(borrow)]
    head: HeadRef<'a>,
    source: Option<Source>,
    payload: &'a [u8],
}

/// The fields of a record's body before its source and data, borrowed from the record: bincode
/// reads a struct's fields in order and stops after the last one declared, so what follows is not
/// read at all ([`view`]).
#[derive(Debug, Deserialize)]
struct HeadRef<'a> {
    position: u64,
    id: EventId,
    /// Borrowed: every stream but a retraction's is derived from the data, which gives the name.
    stream: &'a str,
    stream_version: u64,
    event_type: &'a str,
    effective: Date,
    recorded_at: Timestamp,
    recorded_by: &'a str,
}

/// Reads a stored record's body (all of it, [`BodyRef`], or its start, [`HeadRef`]) after checking
/// the envelope; with the record's schema version and the number of body bytes read. The body
/// must claim `position`.
fn read_body<'a, T>(position: Position, record: &'a [u8], claimed: impl Fn(&T) -> u64) -> Result<(T, u16, usize)>
where
    T: Deserialize<'a>,
{
    check_header(position, record)?;
    let schema = u16::from_be_bytes([record[1], record[2]]);
    let (body, read): (T, usize) = bincode::serde::borrow_decode_from_slice(&record[HEADER_LEN..], config())
        .map_err(|e| LedgerError::Corrupt { position, reason: format!("undecodable body: {e}") })?;
    if claimed(&body) != position.get() {
        return Err(LedgerError::Corrupt { position, reason: format!("record claims position {}", claimed(&body)) });
    }
    Ok((body, schema, read))
}

/// The previous event's hash and the event's own, as stored in a record's header (which
/// [`check_header`] found long enough).
fn stored_hashes(record: &[u8]) -> (Hash, Hash) {
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&record[3..35]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&record[35..67]);
    (Hash::from_bytes(prev), Hash::from_bytes(hash))
}

/// Everything about an event except its hashes, ready to seal.
#[derive(Debug)]
pub(crate) struct Unsealed<'a> {
    pub(crate) id: EventId,
    pub(crate) position: Position,
    pub(crate) stream: StreamId,
    pub(crate) stream_version: u64,
    pub(crate) effective: Date,
    pub(crate) recorded_at: Timestamp,
    pub(crate) recorded_by: String,
    pub(crate) source: Option<Source>,
    pub(crate) data: &'a EventData,
}

/// Seals an event into the chain: encodes it, computes its hash, and returns the stored record bytes
/// with the event as it will be read back.
pub(crate) fn seal(event: Unsealed<'_>, prev_hash: Hash) -> Result<(Vec<u8>, RecordedEvent)> {
    check_interchange(&event)?;
    let mut record = record_of(
        (event.position, event.id, &event.stream, event.stream_version),
        (event.effective, event.recorded_at, &event.recorded_by, event.source.as_ref()),
        event.data,
        &prev_hash,
        &[0; 32],
    )?;
    let hash = hash_of_record_bytes(&record);
    record[35..67].copy_from_slice(hash.as_bytes());
    let recorded = RecordedEvent {
        id: event.id,
        position: event.position,
        stream: event.stream,
        stream_version: event.stream_version,
        effective: event.effective,
        recorded_at: event.recorded_at,
        recorded_by: event.recorded_by,
        source: event.source,
        data: event.data.clone(),
        prev_hash,
        hash,
    };
    Ok((record, recorded))
}

/// Refuses an event whose JSON form (`jsonl`, API.md §1) would not read back as the same event.
///
/// Invariant: everything sealed into the chain can be exported and imported again unchanged, so an
/// export is a backup. `Date` holds only what `YYYY-MM-DD` writes (0000–9999) since the fuzzer
/// stored a year +76296 built through the Rust API (`fuzz/validate_command`); a `Timestamp` must
/// still be checked (RFC 3339 has four-digit years), and so must every payload. This is where every
/// event, from every writer, enters the chain, so the check is here.
fn check_interchange(event: &Unsealed<'_>) -> Result<()> {
    let type_name = event.data.type_name();
    let refuse = |what: String| {
        LedgerError::InvalidEvent(format!("{type_name}: {what} cannot be written as JSON and read back unchanged"))
    };
    if event.effective.to_string().parse::<Date>().ok() != Some(event.effective) {
        return Err(refuse(format!("effective date {}", event.effective)));
    }
    if event.recorded_at.to_string().parse::<Timestamp>().ok() != Some(event.recorded_at) {
        return Err(refuse(format!("record time {}", event.recorded_at)));
    }
    let json = event.data.to_json().map_err(|e| refuse(format!("its data ({e})")))?;
    match EventData::from_json(type_name, json) {
        Ok(read) if read == *event.data => Ok(()),
        Ok(_) => Err(refuse("its data".to_owned())),
        Err(e) => Err(refuse(format!("its data ({e})"))),
    }
}

/// The hash a record's bytes call for, given the `prev_hash` stored in it.
fn hash_of_record_bytes(record: &[u8]) -> Hash {
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&record[3..35]);
    // The canonical bytes are the record without its two hashes, hashed in two pieces.
    chain_hash(&Hash::from_bytes(prev), &[&record[..3], &record[HEADER_LEN..]])
}

/// The chain fields of a stored record, read without decoding the body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainFields {
    pub(crate) prev_hash: Hash,
    pub(crate) stored_hash: Hash,
    pub(crate) computed_hash: Hash,
}

/// Reads the chain fields of a record and recomputes its hash.
pub(crate) fn chain_fields(position: Position, record: &[u8]) -> Result<ChainFields> {
    check_header(position, record)?;
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&record[3..35]);
    let mut stored = [0u8; 32];
    stored.copy_from_slice(&record[35..67]);
    Ok(ChainFields {
        prev_hash: Hash::from_bytes(prev),
        stored_hash: Hash::from_bytes(stored),
        computed_hash: hash_of_record_bytes(record),
    })
}

/// Checks a record's envelope (its length and format version) without decoding its body.
pub(crate) fn check_envelope(position: Position, record: &[u8]) -> Result<()> {
    check_header(position, record)
}

fn check_header(position: Position, record: &[u8]) -> Result<()> {
    if record.len() < HEADER_LEN {
        return Err(LedgerError::Corrupt { position, reason: format!("record is only {} bytes", record.len()) });
    }
    if record[0] != FORMAT_VERSION {
        return Err(LedgerError::Corrupt { position, reason: format!("unknown format version {}", record[0]) });
    }
    Ok(())
}

/// The id of the event in a record, read from the start of its body (its position, then its id)
/// without decoding the rest. `None` for bytes that are not a record of this format.
pub(crate) fn id_of(record: &[u8]) -> Option<EventId> {
    if record.first() != Some(&FORMAT_VERSION) {
        return None;
    }
    let body = record.get(HEADER_LEN..)?;
    let ((_, id), _): ((u64, EventId), usize) = bincode::serde::decode_from_slice(body, config()).ok()?;
    Some(id)
}

/// Checks record bytes kept outside the ledger and read back (a snapshot's): the envelope, the
/// position the body claims, and that the bytes give the hash stored in them – bytes damaged since
/// they were checked are refused here instead of decoding as another event.
pub(crate) fn check_kept(position: Position, record: &[u8]) -> Result<()> {
    let fields = chain_fields(position, record)?;
    if fields.computed_hash != fields.stored_hash {
        return Err(LedgerError::Corrupt {
            position,
            reason: "the record's bytes do not give the hash stored in it".into(),
        });
    }
    let body = &record[HEADER_LEN..];
    let claimed: std::result::Result<(u64, usize), _> = bincode::serde::decode_from_slice(body, config());
    match claimed {
        Ok((claimed, _)) if claimed == position.get() => Ok(()),
        Ok((claimed, _)) => Err(LedgerError::Corrupt { position, reason: format!("record claims position {claimed}") }),
        Err(e) => Err(LedgerError::Corrupt { position, reason: format!("undecodable body: {e}") }),
    }
}

/// Decodes a stored record found under `position`. Does not recompute the hash (see
/// `chain_fields`); does check that the record belongs at `position`.
pub(crate) fn decode(position: Position, record: &[u8]) -> Result<RecordedEvent> {
    let corrupt = |reason: String| LedgerError::Corrupt { position, reason };
    let (BodyRef { head, source, payload }, schema, read) =
        read_body(position, record, |body: &BodyRef<'_>| body.head.position)?;
    if read != record.len() - HEADER_LEN {
        return Err(corrupt(format!("{} trailing bytes after the body", record.len() - HEADER_LEN - read)));
    }
    let data = if schema == schema_version(head.event_type) {
        EventData::decode_payload(head.event_type, payload, config()).map_err(|e| corrupt(e.to_string()))?
    } else {
        upcast::upcast(head.event_type, schema, payload)?
    };
    // The stream is derived from the data except for retractions, whose stream is the retracted
    // event's: that one is checked by `verify`, which can see the retracted event.
    let stream = match data.stream() {
        crate::event::StreamTarget::Stream(expected) => {
            if expected.as_str() != head.stream {
                return Err(corrupt(format!("stored in stream {} but its data belongs to {expected}", head.stream)));
            }
            expected
        }
        crate::event::StreamTarget::OfEvent(_) => StreamId::stored(head.stream),
    };
    let (prev_hash, hash) = stored_hashes(record);
    Ok(RecordedEvent {
        id: head.id,
        position,
        stream,
        stream_version: head.stream_version,
        effective: head.effective,
        recorded_at: head.recorded_at,
        recorded_by: head.recorded_by.to_owned(),
        source,
        data,
        prev_hash,
        hash,
    })
}

/// The fields of a stored record other than its source and data, without decoding those
/// ([`crate::EventView`]). Checks what [`decode`] checks of them – the envelope, the position, a
/// type of the current schema – but not what only the data can show (the data itself, its
/// stream): for records checked when they were read ([`check_kept`], or decoded once).
pub(crate) fn view(position: Position, record: &[u8]) -> Result<crate::EventView<'_>> {
    let (head, schema, _) = read_body(position, record, |head: &HeadRef<'_>| head.position)?;
    let type_name =
        EventData::type_named(head.event_type).filter(|name| schema == schema_version(name)).ok_or_else(|| {
            LedgerError::Corrupt { position, reason: format!("no current type {} of schema {schema}", head.event_type) }
        })?;
    let (prev_hash, hash) = stored_hashes(record);
    Ok(crate::EventView {
        id: head.id,
        position,
        stream: head.stream,
        stream_version: head.stream_version,
        type_name,
        effective: head.effective,
        recorded_at: head.recorded_at,
        recorded_by: head.recorded_by,
        prev_hash,
        hash,
    })
}

/// The record bytes of an event read or sealed before, encoded again from the event (what
/// [`decode`] reads back as the same event; the stored bytes themselves unless the event was
/// upcast from an older schema).
pub(crate) fn encode_again(event: &RecordedEvent) -> Result<Vec<u8>> {
    record_of(
        (event.position, event.id, &event.stream, event.stream_version),
        (event.effective, event.recorded_at, &event.recorded_by, event.source.as_ref()),
        &event.data,
        &event.prev_hash,
        event.hash.as_bytes(),
    )
}

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`), which must reach the decoder
/// the way `Ledger::get` and `verify` do, without a sled directory per input. Not part of the API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::{Position, RecordedEvent, Result};
    use crate::chain::Hash;

    /// Decodes a stored record found under `position`, as every read of the log does.
    pub fn decode_record(position: Position, record: &[u8]) -> Result<RecordedEvent> {
        super::decode(position, record)
    }

    /// The hash a stored record's bytes call for, as `verify` recomputes it.
    pub fn computed_hash(position: Position, record: &[u8]) -> Result<Hash> {
        super::chain_fields(position, record).map(|f| f.computed_hash)
    }
}

#[cfg(test)]
mod tests;
