//! Golden bytes: every event type's stored record is pinned in `ledger/golden/records-v1.jsonl`
//! and must decode forever. Regenerate the `record` fields (never the `data`) with
//! `UPDATE_GOLDEN=1 cargo test -p ledger golden` only for a deliberate, versioned format change.

use super::*;
use crate::event::EventData;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/records-v1.jsonl");

#[derive(Debug, Serialize, Deserialize)]
struct GoldenLine {
    #[serde(rename = "type")]
    type_name: String,
    data: serde_json::Value,
    record: String,
}

/// Seals a sample at a fixed position, id, time and chain link, so its bytes are reproducible.
fn seal_sample(index: usize, data: &EventData, prev: Hash) -> (Vec<u8>, RecordedEvent) {
    let stream = match data.stream() {
        crate::event::StreamTarget::Stream(s) => s,
        crate::event::StreamTarget::OfEvent(_) => StreamId::parse("agreement/hok").expect("valid stream"),
    };
    let unsealed = Unsealed {
        id: EventId::from_uuid(uuid::Uuid::from_u128(0x0192_f0c4_0000_4000_8000_0000_0000_0000 + index as u128)),
        position: Position::new(index as u64 + 1),
        stream,
        stream_version: 1,
        effective: Date::from_ymd(2022, 6, 13).expect("valid date"),
        recorded_at: Timestamp::from_micros(1_655_716_364_000_000 + index as i64),
        recorded_by: "storsthlm-registrator".into(),
        source: Some(Source {
            title: "Protokollsutdrag kommunfullmäktige 2022-06-13 § 93".into(),
            reference: Some("KS 2021/1272".into()),
            url: None,
            note: None,
        }),
        data,
    };
    seal(unsealed, prev).expect("sample seals")
}

#[test]
fn golden_records_decode_and_reencode_identically_for_every_event_type() {
    let text = std::fs::read_to_string(GOLDEN).expect("golden file is checked in");
    let mut lines: Vec<GoldenLine> =
        text.lines().map(|l| serde_json::from_str(l).expect("golden line parses")).collect();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut prev = Hash::GENESIS;
    for (index, line) in lines.iter_mut().enumerate() {
        let data = EventData::from_json(&line.type_name, line.data.clone()).expect("sample data is valid");
        let (bytes, sealed) = seal_sample(index, &data, prev);
        if update {
            line.record = hex::encode(&bytes);
        }
        let stored = hex::decode(&line.record).expect("record is hex");
        assert_eq!(hex::encode(&bytes), line.record, "{}: encoding changed", line.type_name);
        let decoded = decode(sealed.position, &stored).expect("golden record decodes");
        assert_eq!(decoded, sealed, "{}: decoding changed", line.type_name);
        let fields = chain_fields(sealed.position, &stored).expect("chain fields");
        assert_eq!(fields.computed_hash, fields.stored_hash, "{}", line.type_name);
        assert_eq!(fields.prev_hash, prev, "{}", line.type_name);
        prev = fields.stored_hash;
    }
    if update {
        let out: String = lines.iter().map(|l| serde_json::to_string(l).expect("serializes") + "\n").collect();
        std::fs::write(GOLDEN, out).expect("golden file written");
    }
    let covered: Vec<&str> = lines.iter().map(|l| l.type_name.as_str()).collect();
    assert_eq!(covered, EventData::TYPES, "every event type has exactly one golden record, in catalogue order");
}

#[test]
fn the_pinned_chain_hashes_of_the_golden_log_never_change() {
    // The hash at the end of each generation of the golden chain, pinned: each covers every byte of
    // every sample before it. Event types are only ever appended, so an older pin never moves.
    let text = std::fs::read_to_string(GOLDEN).expect("golden file is checked in");
    let lines: Vec<GoldenLine> = text.lines().map(|l| serde_json::from_str(l).expect("parses")).collect();
    for (types, pinned) in PINNED_HASHES {
        let bytes = hex::decode(&lines[types - 1].record).expect("hex");
        let fields = chain_fields(Position::new(*types as u64), &bytes).expect("chain fields");
        assert_eq!(fields.stored_hash.to_string(), *pinned, "the chain over the first {types} event types");
    }
    assert_eq!(PINNED_HASHES.last().map(|(n, _)| *n), Some(EventData::TYPES.len()), "the newest types are pinned too");
}

// Recomputed independently with Python: sha256(record[3..35] ‖ record[0..3] ‖ record[67..]).
// 40 types until issue 15's statutory duties; 42 since.
const PINNED_HASHES: &[(usize, &str)] = &[
    (40, "e9e7e542045fa9eff6763bd2b1ca57d2b93f137cba2479ae7c30e9ac37c2ae7e"),
    (42, "01e1613d0c80fa293526371db4982949ec9ad7b2bbd92c00d07261e72cf8b3df"),
];

#[test]
fn truncated_or_garbled_records_are_typed_errors_not_panics() {
    let data = EventData::from_json(
        "PartyRegistered",
        serde_json::json!({"party": "nacka", "name": "Nacka kommun", "kind": "MUNICIPALITY"}),
    )
    .expect("valid");
    let (bytes, _) = seal_sample(0, &data, Hash::GENESIS);
    let position = Position::new(1);
    for cut in 0..bytes.len() {
        assert!(decode(position, &bytes[..cut]).is_err(), "cut at {cut}");
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x40;
        // Decoding may or may not notice a flip in free text; the hash always does.
        let _ = decode(position, &flipped);
        let caught =
            chain_fields(position, &flipped).map(|f| f.computed_hash != f.stored_hash || f.prev_hash != Hash::GENESIS);
        assert!(!matches!(caught, Ok(false)), "flip at byte {i} went unnoticed");
    }
    assert!(decode(Position::new(2), &bytes).is_err(), "a record under the wrong key is refused");
}

#[test]
fn events_whose_json_form_would_not_read_back_are_refused_before_sealing() {
    // Found by fuzz/validate_command: an effective date of year +76296 (built through the Rust API;
    // JSON and GraphQL only take YYYY-MM-DD) was stored, and its export line could not be imported.
    // `Date` now holds only 0000–9999 (time.rs), so such a date cannot be built at all …
    assert_eq!(Date::from_ymd(76296, 11, 5), None);
    assert_eq!(Date::from_ymd(-1, 12, 31), None);
    // … and sealing still checks the whole JSON form: a record time past year 9999 is refused.
    let party = EventData::from_json(
        "PartyRegistered",
        serde_json::json!({"party": "nacka", "name": "Nacka kommun", "kind": "MUNICIPALITY"}),
    )
    .expect("valid");
    for micros in [i64::MAX, i64::MIN] {
        let mut late = sample(&party);
        late.recorded_at = Timestamp::from_micros(micros);
        assert!(matches!(seal(late, Hash::GENESIS), Err(LedgerError::InvalidEvent(_))), "{micros}");
    }
    // The edges of the JSON form still seal.
    for edge in [Date::MIN, Date::MAX] {
        let mut event = sample(&party);
        event.effective = edge;
        assert!(seal(event, Hash::GENESIS).is_ok());
    }
}

/// An unsealed event at position 1 with the golden samples' fixed fields.
fn sample(data: &EventData) -> Unsealed<'_> {
    let stream = match data.stream() {
        crate::event::StreamTarget::Stream(s) => s,
        crate::event::StreamTarget::OfEvent(_) => StreamId::parse("agreement/hok").expect("valid stream"),
    };
    Unsealed {
        id: EventId::from_uuid(uuid::Uuid::from_u128(1)),
        position: Position::new(1),
        stream,
        stream_version: 1,
        effective: Date::from_ymd(2022, 6, 13).expect("valid date"),
        recorded_at: Timestamp::from_micros(1_655_716_364_000_000),
        recorded_by: "storsthlm-registrator".into(),
        source: None,
        data,
    }
}

#[test]
fn the_merkle_leaf_written_straight_from_the_event_is_the_canonical_form_of_its_json() {
    // `merkle::leaf_bytes` writes RFC 8785 straight from the event; the definition is the
    // canonical form of the export JSON value. Every event type's golden sample, with and without
    // a source (the samples carry one), must give the same bytes both ways.
    let text = std::fs::read_to_string(GOLDEN).expect("golden file is checked in");
    let lines: Vec<GoldenLine> = text.lines().map(|l| serde_json::from_str(l).expect("golden line parses")).collect();
    let mut prev = Hash::GENESIS;
    for (index, line) in lines.iter().enumerate() {
        let data = EventData::from_json(&line.type_name, line.data.clone()).expect("sample data is valid");
        let (_, sealed) = seal_sample(index, &data, prev);
        let json = crate::jsonl::to_json(&sealed).expect("json");
        // The leaf takes serde_json's fast way for every event type (`jsonl::canonical_value`).
        assert!(crate::jsonl::writes_canonically(&json), "{}", line.type_name);
        // ... and is written straight from the event, without its `Value` (`jsonl::direct`).
        assert!(crate::jsonl::canonical_json_directly(&sealed).is_some(), "{}", line.type_name);
        let by_value = serde_json_canonicalizer::to_vec(&json).expect("canonical");
        assert_eq!(
            String::from_utf8_lossy(&crate::merkle::leaf_bytes(&sealed).expect("leaf")),
            String::from_utf8_lossy(&by_value),
            "{}",
            line.type_name
        );
        prev = sealed.hash;
    }
}
