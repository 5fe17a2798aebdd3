//! JSON Lines export and import: the real fixture history round-trips with identical positions and
//! hashes; an import is all-or-nothing and names the bad line.

use std::io::BufReader;

use ledger::jsonl::{self, export, import, read_lines};
use ledger::{Ledger, LedgerConfig, LedgerError, Position};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");

fn open(dir: &std::path::Path) -> Ledger {
    Ledger::open(dir, LedgerConfig::default()).expect("ledger opens")
}

fn import_text(ledger: &Ledger, text: &str) -> ledger::Result<jsonl::ImportReport> {
    let lines = read_lines(BufReader::new(text.as_bytes()), &mut |_| {})?;
    import(ledger, lines)
}

fn export_text(ledger: &Ledger) -> String {
    let mut out = Vec::new();
    export(ledger, &mut out, &mut |_, _| {}).expect("export");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_fixture_history_exports_and_reimports_with_identical_positions_and_hashes() {
    let fixture = std::fs::read_to_string(FIXTURE).expect("fixture is checked in");
    let first = tempfile::tempdir().expect("tempdir");
    let ledger = open(first.path());
    let report = import_text(&ledger, &fixture).expect("fixture imports");
    assert_eq!(report.appended, fixture.lines().filter(|l| !l.trim().is_empty()).count());
    let exported = export_text(&ledger);

    let second = tempfile::tempdir().expect("tempdir");
    let copy = open(second.path());
    import_text(&copy, &exported).expect("export re-imports");
    assert_eq!(copy.head(), ledger.head(), "same head position, hash and record time");
    assert_eq!(export_text(&copy), exported, "byte-identical export");
    copy.verify(&mut |_, _| {}).expect("verifies");

    // Importing the same export again is idempotent: every id is already stored.
    let again = import_text(&copy, &exported).expect("idempotent");
    assert_eq!((again.appended, again.already_stored), (0, report.appended));
    assert_eq!(copy.head(), ledger.head());
}

#[test]
fn exported_lines_carry_every_field_of_the_api_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(dir.path());
    import_text(
        &ledger,
        r#"{"type":"PartyAdopted","effective":"2022-06-13","recordedAt":"2022-06-20T09:12:44Z","recordedBy":"storsthlm-registrator","source":{"title":"Protokollsutdrag","reference":"KS 2021/1272"},"data":{"agreement":"hok","version":1,"party":"stockholm","decision":"stockholm-kf-2022-06-13-93"}}"#,
    )
    .expect("imports");
    let line = export_text(&ledger);
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line.trim())
        .map(|m| m.keys().cloned().collect())
        .expect("json object");
    let mut sorted = vec![
        "data",
        "effective",
        "hash",
        "id",
        "position",
        "prevHash",
        "recordedAt",
        "recordedBy",
        "source",
        "stream",
        "streamVersion",
        "type",
    ];
    sorted.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, sorted);
    assert!(line.starts_with(r#"{"id":""#), "{line}");
    assert!(line.contains(r#""position":1,"stream":"agreement/hok","streamVersion":1,"type":"PartyAdopted","effective":"2022-06-13","recordedAt":"2022-06-20T09:12:44Z","recordedBy":"storsthlm-registrator""#), "{line}");
    assert!(line.contains(r#""url":null,"note":null"#), "absent optional fields are written as null: {line}");
}

#[test]
fn one_bad_line_rejects_the_whole_file_with_its_line_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(dir.path());
    let good = r#"{"type":"PartyRegistered","effective":"2022-01-01","data":{"party":"nacka","name":"Nacka","kind":"MUNICIPALITY"}}"#;
    let cases = [
        (
            r#"{"type":"PartyRegistered","effective":"2022-1-1","data":{"party":"solna","name":"Solna","kind":"MUNICIPALITY"}}"#,
            "invalid date",
        ),
        (
            r#"{"type":"PartyRegistered","effective":"2022-01-01","data":{"party":"solna","name":"Solna","kind":"CITY"}}"#,
            "invalid PartyKind",
        ),
        (r#"{"type":"PartyRegistred","effective":"2022-01-01","data":{}}"#, "unknown event type"),
        (
            r#"{"type":"PartyRegistered","effective":"2022-01-01","data":{"party":"Solna","name":"Solna","kind":"MUNICIPALITY"}}"#,
            "invalid id",
        ),
        (
            r#"{"type":"PartyRegistered","effective":"2022-01-01","data":{"party":"solna","name":"Solna","kind":"MUNICIPALITY","extra":1}}"#,
            "unknown field",
        ),
        (
            r#"{"type":"PartyRegistered","effective":"2022-01-01","data":{"party":"solna","kind":"MUNICIPALITY"}}"#,
            "missing field",
        ),
        (r#"{"type":"PartyRegistered""#, "EOF"),
        (
            r#"{"type":"PartyRegistered","effective":"2022-01-01","recordedAt":"yesterday","data":{"party":"solna","name":"Solna","kind":"MUNICIPALITY"}}"#,
            "invalid instant",
        ),
    ];
    for (bad, expected) in cases {
        let text = format!("{good}\n{bad}\n{good}\n");
        match import_text(&ledger, &text) {
            Err(LedgerError::Import { line, reason }) => {
                assert_eq!(line, 2, "{bad}");
                assert!(reason.contains(expected), "{bad}: {reason}");
            }
            other => panic!("{bad}: expected an import error, got {other:?}"),
        }
        assert_eq!(ledger.head().position, Position::new(0), "nothing was stored");
    }
}

#[test]
fn record_times_going_backwards_in_a_file_are_refused_with_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(dir.path());
    let text = r#"{"type":"PartyRegistered","effective":"2022-01-01","recordedAt":"2022-02-01T00:00:00Z","data":{"party":"nacka","name":"Nacka","kind":"MUNICIPALITY"}}
{"type":"PartyRegistered","effective":"2022-01-01","recordedAt":"2022-01-01T00:00:00Z","data":{"party":"solna","name":"Solna","kind":"MUNICIPALITY"}}"#;
    match import_text(&ledger, text) {
        Err(LedgerError::Import { line, reason }) => {
            assert_eq!(line, 2);
            assert!(reason.contains("before the ledger's latest record time"), "{reason}");
        }
        other => panic!("expected an import error, got {other:?}"),
    }
    assert_eq!(ledger.head().position, Position::new(0));
}

#[test]
fn an_export_whose_data_was_edited_is_refused_because_its_hash_no_longer_fits() {
    let fixture = std::fs::read_to_string(FIXTURE).expect("fixture");
    let first = tempfile::tempdir().expect("tempdir");
    let ledger = open(first.path());
    import_text(&ledger, &fixture).expect("imports");
    let exported = export_text(&ledger);
    // Change the name of the first party registered, keep its hash.
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    let index = lines.iter().position(|l| l.contains(r#""type":"PartyRegistered""#)).expect("a party line");
    let mut value: serde_json::Value = serde_json::from_str(&lines[index]).expect("json");
    value["data"]["name"] = serde_json::Value::String("Förfalskad kommun".into());
    lines[index] = value.to_string();
    let second = tempfile::tempdir().expect("tempdir");
    let copy = open(second.path());
    match import_text(&copy, &lines.join("\n")) {
        Err(LedgerError::Import { line, reason }) => {
            assert_eq!(line, index + 1);
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("expected the edited line to be refused, got {other:?}"),
    }
    assert_eq!(copy.head().position, Position::new(0));
}
