//! The event's JSON form (API.md §1) and JSON Lines export and import.
//!
//! The ledger owns this format because it is the ledger's interchange and backup format: an export
//! re-imported into an empty directory reproduces identical positions and hashes, and the import
//! checks that it does.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::error::{LedgerError, Result};
use crate::event::{EventData, NewEvent, RecordedEvent, Source};
use crate::id::{EventId, Position, StreamId};
use crate::sequence::{Append, AppendOutcome, ImportClaims};
use crate::store::Ledger;
use crate::time::{Date, Timestamp};

mod direct;

/// Who recorded an imported event when its line does not say.
pub const DEFAULT_IMPORT_RECORDER: &str = "import";

/// An event as a JSON line, fields in API.md's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutLine<'a, D> {
    id: EventId,
    position: Position,
    stream: &'a StreamId,
    stream_version: u64,
    #[serde(rename = "type")]
    type_name: &'static str,
    effective: Date,
    recorded_at: Timestamp,
    recorded_by: &'a str,
    source: Option<&'a Source>,
    data: D,
    prev_hash: HashText,
    hash: HashText,
}

/// A hash as its lowercase hex text (`Hash`'s `Display`), serialized without a `String` of its own.
#[derive(Debug)]
struct HashText(Hash);

impl Serialize for HashText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.with_hex(|text| {
            serializer.serialize_str(text.ok_or_else(|| serde::ser::Error::custom("a hash without hex text"))?)
        })
    }
}

/// An event line as read: only `type`, `effective` and `data` are required.
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an event: a JSON object with type, effective and data"
)]
struct InLine {
    #[serde(default)]
    id: Option<EventId>,
    #[serde(default)]
    position: Option<Position>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    stream_version: Option<u64>,
    #[serde(rename = "type")]
    type_name: String,
    effective: Date,
    #[serde(default)]
    recorded_at: Option<Timestamp>,
    #[serde(default)]
    recorded_by: Option<String>,
    #[serde(default)]
    source: Option<Source>,
    data: serde_json::Value,
    #[serde(default)]
    prev_hash: Option<String>,
    #[serde(default)]
    hash: Option<String>,
}

/// The event as a JSON object with every field of API.md §1.
pub fn to_json(event: &RecordedEvent) -> Result<serde_json::Value> {
    serde_json::to_value(out_line(event)?).map_err(|e| LedgerError::InvalidEvent(e.to_string()))
}

/// The event as one line of JSON (no trailing newline), fields in API.md's order.
pub fn to_json_line(event: &RecordedEvent) -> Result<String> {
    serde_json::to_string(&out_line(event)?).map_err(|e| LedgerError::InvalidEvent(e.to_string()))
}

fn out_line(event: &RecordedEvent) -> Result<OutLine<'_, serde_json::Value>> {
    Ok(out_line_with(event, event.data.to_json().map_err(|e| LedgerError::InvalidEvent(e.to_string()))?))
}

/// The event's payload as a value that serializes as its JSON form, built as it is written.
struct PayloadJson<'a>(&'a EventData);

impl Serialize for PayloadJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize_payload(serializer)
    }
}

/// The event's RFC 8785 canonical JSON: the canonical form of [`to_json`]'s value (the Merkle
/// leaf; `merkle::leaf_bytes`), written straight from the event where `direct` can (every event
/// the catalogue defines), else through its `Value` as [`canonical_value`] writes it.
pub(crate) fn canonical_json(event: &RecordedEvent) -> Result<Vec<u8>> {
    let line = out_line_with(event, PayloadJson(&event.data));
    if let Some(bytes) = direct::to_vec(&line) {
        return Ok(bytes);
    }
    canonical_json_of_value(&line)
}

/// [`canonical_json`] written directly, `None` where it takes the `Value` way (for tests).
#[cfg(test)]
pub(crate) fn canonical_json_directly(event: &RecordedEvent) -> Option<Vec<u8>> {
    direct::to_vec(&out_line_with(event, PayloadJson(&event.data)))
}

/// [`canonical_json`] through the event's `serde_json::Value`.
fn canonical_json_of_value<T: Serialize>(line: &T) -> Result<Vec<u8>> {
    serde_json::to_value(line)
        .and_then(|value| canonical_value(&value))
        .map_err(|e| LedgerError::InvalidEvent(e.to_string()))
}

/// The RFC 8785 (JCS) canonical form of a JSON value.
///
/// `serde_json_canonicalizer` defines it here. Its formatter buffers every object, parses each key
/// back from JSON and sorts by UTF-16 code units: about 10 µs an event, a third of an import's
/// CPU (BENCHMARKS.md, session 18). For a value that is canonical *as it stands* – every object's
/// keys already iterate in UTF-16 order, every number an integer of magnitude at most 2^53 –
/// serde_json's compact writer gives the same bytes in a tenth of the time: its string escapes are
/// the ones JCS prescribes (`\"`, `\\`, `\b \f \n \r \t`, other controls as lowercase `\u00xx`,
/// nothing else), integers in that range print as ECMAScript prints them, and there is no
/// whitespace. serde_json's `Map` is ordered by UTF-8 bytes (code points), which equals UTF-16
/// order unless a key holds a character from U+E000 on: `writes_canonically` checks the order it
/// actually meets (so a build that gave `Map` insertion order would be slow, never wrong), and any
/// value it does not accept – a float, a large integer, such a key – goes to the crate. Every
/// event's value is accepted. A property test holds the two paths equal on random values.
pub fn canonical_value(value: &serde_json::Value) -> std::result::Result<Vec<u8>, serde_json::Error> {
    if writes_canonically(value) { serde_json::to_vec(value) } else { serde_json_canonicalizer::to_vec(value) }
}

/// Whether serde_json's compact form of `value` is its RFC 8785 form (see [`canonical_value`]).
pub(crate) fn writes_canonically(value: &serde_json::Value) -> bool {
    /// The largest integer magnitude RFC 8785 (ECMAScript) prints as plain digits that are exact.
    const EXACT: u64 = 1 << 53;
    match value {
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::String(_) => true,
        serde_json::Value::Number(n) => {
            n.as_u64().is_some_and(|n| n <= EXACT) || n.as_i64().is_some_and(|n| n.unsigned_abs() <= EXACT)
        }
        serde_json::Value::Array(items) => items.iter().all(writes_canonically),
        serde_json::Value::Object(map) => {
            let mut previous: Option<&str> = None;
            map.iter().all(|(key, item)| {
                let ordered = previous.is_none_or(|p| utf16_less(p, key));
                previous = Some(key);
                ordered && writes_canonically(item)
            })
        }
    }
}

/// `a < b` by UTF-16 code units, RFC 8785's order of keys (§3.2.3).
fn utf16_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() { a.as_bytes() < b.as_bytes() } else { a.encode_utf16().lt(b.encode_utf16()) }
}

fn out_line_with<D>(event: &RecordedEvent, data: D) -> OutLine<'_, D> {
    OutLine {
        id: event.id,
        position: event.position,
        stream: &event.stream,
        stream_version: event.stream_version,
        type_name: event.type_name(),
        effective: event.effective,
        recorded_at: event.recorded_at,
        recorded_by: &event.recorded_by,
        source: event.source.as_ref(),
        data,
        prev_hash: HashText(event.prev_hash),
        hash: HashText(event.hash),
    }
}

/// One parsed import line.
#[derive(Debug, Clone)]
pub struct ImportLine {
    /// The event.
    pub event: NewEvent,
    /// Its original record time, if the line carries one.
    pub recorded_at: Option<Timestamp>,
    claims: ImportClaims,
}

impl ImportLine {
    /// The 1-based line number it came from.
    pub fn line(&self) -> usize {
        self.claims.line
    }
}

/// Parses one line of a JSON Lines file (`line` is 1-based, for messages).
pub fn parse_line(line: usize, text: &str) -> Result<ImportLine> {
    let err = |reason: String| LedgerError::Import { line, reason };
    // serde reads a struct from an array too (field by field), so refuse anything but an object
    // before its complaints get confusing ("expected a formatted UUID string").
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde_json::Value>(text) {
            Err(e) => err(e.to_string()),
            Ok(_) => err("expected an event: a JSON object with type, effective and data".to_owned()),
        });
    }
    let parsed: InLine = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    // serde's own complaint about anything else would name the payload's Rust struct.
    if !parsed.data.is_object() {
        return Err(err(format!("data must be a JSON object with the fields of a {} event", parsed.type_name)));
    }
    let data = EventData::from_json(&parsed.type_name, parsed.data).map_err(|e| err(e.to_string()))?;
    let stream = match parsed.stream {
        Some(s) => Some(StreamId::parse(&s).map_err(|e| err(e.to_string()))?),
        None => None,
    };
    let hash = |field: &str, value: Option<String>| -> Result<Option<Hash>> {
        value.map(|h| h.parse::<Hash>().map_err(|e| err(format!("{field}: {e}")))).transpose()
    };
    let claims = ImportClaims {
        line,
        position: parsed.position,
        stream,
        stream_version: parsed.stream_version,
        prev_hash: hash("prevHash", parsed.prev_hash)?,
        hash: hash("hash", parsed.hash)?,
    };
    let event = NewEvent {
        id: parsed.id,
        effective: parsed.effective,
        recorded_by: parsed.recorded_by.unwrap_or_else(|| DEFAULT_IMPORT_RECORDER.to_owned()),
        source: parsed.source,
        data,
    };
    Ok(ImportLine { event, recorded_at: parsed.recorded_at, claims })
}

/// Reads every line of a JSON Lines source. Blank lines are skipped; the first invalid line fails
/// the whole read with its line number. `progress(lines)` is called as it goes.
pub fn read_lines(reader: impl BufRead, progress: &mut dyn FnMut(usize)) -> Result<Vec<ImportLine>> {
    let mut out = Vec::new();
    for (index, text) in reader.lines().enumerate() {
        let line = index + 1;
        let text = text.map_err(|e| LedgerError::Import { line, reason: e.to_string() })?;
        if text.trim().is_empty() {
            continue;
        }
        out.push(parse_line(line, &text)?);
        if line % 4096 == 0 {
            progress(line);
        }
    }
    Ok(out)
}

/// The lines of a JSON Lines source, parsed one at a time as they are read (an import of any size
/// in bounded memory). Blank lines are skipped; an invalid line is an error naming its number.
pub fn lines(reader: impl BufRead) -> impl Iterator<Item = Result<ImportLine>> {
    reader.lines().enumerate().filter_map(|(index, text)| {
        let line = index + 1;
        match text {
            Err(e) => Some(Err(LedgerError::Import { line, reason: e.to_string() })),
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some(parse_line(line, &text)),
        }
    })
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Events newly stored.
    pub appended: usize,
    /// Events whose id was already stored with the same content (skipped).
    pub already_stored: usize,
}

/// Appends parsed lines as one atomic append: either every line is stored or none is. Each line's
/// `recordedAt` is kept (it must not go backwards); its `position`, `stream`, `streamVersion`,
/// `prevHash` and `hash`, when present, must be exactly what the ledger assigns, so a restore is
/// proven faithful and a file that does not fit this ledger is refused.
pub fn import(ledger: &Ledger, lines: Vec<ImportLine>) -> Result<ImportReport> {
    import_append(ledger, append_of(lines))
}

/// Appends what [`append_of`] built, as [`import`] does.
pub fn import_append(ledger: &Ledger, append: Append) -> Result<ImportReport> {
    match ledger.append(append)? {
        AppendOutcome::Committed(events) => {
            let already_stored = events.iter().filter(|c| c.already_stored).count();
            Ok(ImportReport { appended: events.len() - already_stored, already_stored })
        }
        AppendOutcome::Conflict(c) => {
            Err(LedgerError::Conflict { stream: c.stream, expected: c.expected, actual: c.actual })
        }
    }
}

/// The atomic append of parsed lines that [`import`] performs (for a [`Ledger::preview`] first).
pub fn append_of(lines: Vec<ImportLine>) -> Append {
    let mut append = Append::new();
    for line in lines {
        append = append.with_import_line(line.event, line.recorded_at, line.claims);
    }
    append
}

/// Writes every event from position 1 to the current head as JSON Lines. `progress(done, total)` is
/// called as it goes. Returns the number of events written.
pub fn export(ledger: &Ledger, out: &mut dyn Write, progress: &mut dyn FnMut(Position, Position)) -> Result<u64> {
    export_through(ledger, ledger.head().position, out, progress)
}

/// [`export`] of the events from position 1 through `through` (at most the head of the moment): one
/// consistent snapshot of the log, whatever is appended meanwhile (a server's online backup).
pub fn export_through(
    ledger: &Ledger,
    through: Position,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(Position, Position),
) -> Result<u64> {
    let total = through.min(ledger.head().position);
    let mut count = 0u64;
    for event in ledger.read_from(Position::FIRST) {
        let event = event?;
        if event.position > total {
            break;
        }
        let line = to_json_line(&event)?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        count += 1;
        if count % 4096 == 0 {
            progress(event.position, total);
        }
    }
    out.flush()?;
    progress(Position::new(count), total);
    Ok(count)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::{canonical_value, direct, writes_canonically};

    /// Strings that reach every branch of the escaping and of the key order: controls, quotes,
    /// backslashes, the solidus, non-ASCII below and from U+E000, and characters beyond the BMP.
    fn text() -> impl Strategy<Value = String> {
        let chars = prop_oneof![
            4 => prop::char::range('a', 'e'),
            1 => prop::char::range('\u{0}', '\u{1f}'),
            1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', '\u{2028}', 'é', 'ö']),
            1 => prop::char::range('\u{e000}', '\u{e002}'),
            1 => prop::char::range('\u{fffd}', '\u{ffff}'),
            1 => prop::char::range('\u{10000}', '\u{10002}'),
            1 => prop::char::range('\u{1f600}', '\u{1f601}'),
        ];
        prop::collection::vec(chars, 0..6).prop_map(|c| c.into_iter().collect())
    }

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u64..100).prop_map(Value::from),
            prop::sample::select(vec![(1u64 << 53) - 1, 1 << 53, (1 << 53) + 1, u64::MAX]).prop_map(Value::from),
            prop::sample::select(vec![-(1i64 << 53), -(1i64 << 53) - 1, i64::MIN, -1]).prop_map(Value::from),
            prop::sample::select(vec![0.5, -0.0, 1e21, 1e-7, 123456789.125, 5e-324]).prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            text().prop_map(Value::String),
            number(),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The fast path and the crate that defines the form give the same bytes for any value.
        #[test]
        fn canonical_value_is_the_crates_canonical_form(value in value()) {
            let expected = serde_json_canonicalizer::to_vec(&value).expect("the crate writes any value");
            let written = canonical_value(&value).expect("writes");
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
        }

        /// The direct writer gives the crate's bytes wherever it answers, and it answers for every
        /// value whose numbers are all exact integers, whatever its keys.
        #[test]
        fn the_direct_writer_is_the_crates_canonical_form(value in value()) {
            let expected = serde_json_canonicalizer::to_vec(&value).expect("the crate writes any value");
            let direct = direct::to_vec(&value);
            prop_assert_eq!(direct.is_some(), exact_integers_only(&value), "answered for {}", value);
            if let Some(written) = direct {
                prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
            }
        }
    }

    /// Whether every number in `value` is an integer of magnitude at most 2^53.
    fn exact_integers_only(value: &Value) -> bool {
        match value {
            Value::Number(n) => {
                n.as_u64().is_some_and(|n| n <= 1 << 53) || n.as_i64().is_some_and(|n| n.unsigned_abs() <= 1 << 53)
            }
            Value::Array(items) => items.iter().all(exact_integers_only),
            Value::Object(map) => map.values().all(exact_integers_only),
            Value::Null | Value::Bool(_) | Value::String(_) => true,
        }
    }

    /// What `to_value` does with serde's other shapes – enums, tuples, bytes, maps keyed by
    /// integers, repeated keys – the direct writer does too, or it refuses.
    #[test]
    fn the_direct_writer_follows_to_value_or_refuses() {
        use std::collections::BTreeMap;

        #[derive(serde::Serialize)]
        enum Shape {
            Unit,
            New(u8),
            Tuple(u8, &'static str),
            Struct { z: u8, a: Option<u8> },
        }
        #[derive(serde::Serialize)]
        struct Many<'a> {
            shapes: Vec<Shape>,
            #[serde(with = "serde_bytes_as_seq")]
            bytes: &'a [u8],
            by_number: BTreeMap<u32, char>,
            pair: (i8, ()),
        }
        mod serde_bytes_as_seq {
            pub(super) fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(bytes)
            }
        }
        let many = Many {
            shapes: vec![Shape::Unit, Shape::New(1), Shape::Tuple(2, "é"), Shape::Struct { z: 3, a: None }],
            bytes: &[0, 255],
            by_number: [(10, 'a'), (9, 'b')].into_iter().collect(),
            pair: (-1, ()),
        };
        let by_value = canonical_value(&serde_json::to_value(&many).expect("value")).expect("writes");
        assert_eq!(
            String::from_utf8_lossy(&direct::to_vec(&many).expect("answers")),
            String::from_utf8_lossy(&by_value)
        );

        #[derive(serde::Serialize)]
        struct Twice {
            a: u8,
            #[serde(rename = "a")]
            again: u8,
        }
        assert!(direct::to_vec(&Twice { a: 1, again: 2 }).is_none(), "to_value keeps the last of two keys");
        assert!(direct::to_vec(&BTreeMap::from([((1, 2), 3)])).is_none(), "a tuple is no key");
        assert!(direct::to_vec(&0.5).is_none());
        assert!(direct::to_vec(&u128::MAX).is_none());
    }

    /// The fast path is taken where it should be (else the equality above would prove little) and
    /// refused where serde_json's bytes differ from the canonical ones.
    #[test]
    fn the_fast_path_takes_integers_and_keys_in_utf16_order_and_nothing_else() {
        assert!(writes_canonically(&serde_json::json!({"a": [1, "x\n"], "b": {"c": null, "d": true}, "é": -3})));
        assert!(writes_canonically(&Value::from(1u64 << 53)));
        assert!(!writes_canonically(&Value::from((1u64 << 53) + 1)), "2^53+1 prints in exponent form in JCS");
        assert!(!writes_canonically(&Value::from(0.5)));
        // U+E000 sorts after U+10000 by code point (serde_json's map) and before it by UTF-16.
        let map: serde_json::Map<String, Value> =
            [("\u{e000}".to_owned(), Value::Null), ("\u{10000}".to_owned(), Value::Null)].into_iter().collect();
        assert!(!writes_canonically(&Value::Object(map.clone())));
        assert_eq!(
            canonical_value(&Value::Object(map)).expect("writes"),
            "{\"\u{10000}\":null,\"\u{e000}\":null}".as_bytes()
        );
    }
}
