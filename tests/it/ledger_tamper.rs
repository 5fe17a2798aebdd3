//! Tampering with the raw files: bytes flipped inside sled's `db` file of a real data directory
//! (seeded with the real fixtures by `samverkan import`) are reported by `samverkan verify`, run as a
//! real process, with a clear one-line message and a non-zero exit, never accepted and never a panic.
//! `TAMPER_TRIALS` sets the number of flips of each kind (CI: 60 + 60); `TAMPER_SEED` replays a run.
//!
//! sled's file is log-structured: a record may exist in several places (older page versions) and
//! most of the file is not live data. So there are two kinds of trial. A *record* flip changes the
//! same bit of one stored event in every copy the file holds, so the stored event data is certainly
//! altered: `verify` must fail. A *raw* flip changes one bit anywhere in the file: `verify` must
//! either fail clearly or, when the flip hit dead space, pass with an export identical to the
//! original – the one thing that must never happen is altered data accepted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use samverkan_tests::Rng;

use crate::ledger_integrity::open_sled;
use crate::process::{SAMVERKAN, path_arg};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");

/// What every refusal must say: the kinds of integrity failure `verify` and `open` report.
const INTEGRITY_WORDS: [&str; 5] =
    ["hash chain broken", "corrupt record", "data directory is damaged", "gap in the log", "head"];

fn samverkan(args: &[&str]) -> Output {
    Command::new(SAMVERKAN).args(args).env("RUST_LOG", "off").output().expect("samverkan runs")
}

/// Every offset at which `needle` occurs in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `verify` on a tampered copy and checks the refusal, or (for raw flips that may hit dead
/// space) that an accepted directory still holds exactly the original events.
fn check(data: &Path, original_export: &[u8], must_fail: bool, what: &str) -> bool {
    let output = samverkan(&["verify", "--data", path_arg(data)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{what}: verify panicked: {stderr}");
    if output.status.success() {
        assert!(!must_fail, "{what}: altered event data was accepted: {}", String::from_utf8_lossy(&output.stdout));
        let export = samverkan(&["export", "--data", path_arg(data)]);
        assert!(
            export.status.success(),
            "{what}: verify passed but export failed: {}",
            String::from_utf8_lossy(&export.stderr)
        );
        assert!(export.stdout == original_export, "{what}: verify passed but the events differ from the original");
        return false;
    }
    let message = stderr.trim();
    assert_eq!(message.lines().count(), 1, "{what}: one line expected, got {message:?}");
    assert!(message.starts_with("samverkan: "), "{what}: {message}");
    assert!(INTEGRITY_WORDS.iter().any(|w| message.contains(w)), "{what}: not an integrity message: {message}");
    true
}

#[test]
fn flipped_bytes_in_the_raw_files_are_reported_never_accepted() {
    let trials: u64 = std::env::var("TAMPER_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let seed = std::env::var("TAMPER_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(Rng::seed_from_clock);
    eprintln!("tamper test: {trials} record flips + {trials} raw flips, TAMPER_SEED={seed}");
    let mut rng = Rng::new(seed);

    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = dir.path().join("pristine");
    let imported = samverkan(&["import", FIXTURE, "--data", path_arg(&pristine)]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let export = samverkan(&["export", "--data", path_arg(&pristine)]);
    assert!(export.status.success());
    let original_export = export.stdout;

    // The stored records, as sled holds them, to find them in the raw file.
    let records: Vec<Vec<u8>> = {
        let db = open_sled(&pristine.join("ledger"));
        crate::ledger_integrity::stored_records(&db)
    };
    assert_eq!(records.len(), 849);
    let db_file: PathBuf = pristine.join("ledger").join("db");
    let raw = std::fs::read(&db_file).expect("read db file");

    let mut refused = 0;
    let mut dead_space = 0;
    for trial in 0..2 * trials {
        let copy = dir.path().join(format!("trial-{trial}"));
        copy_dir(&pristine, &copy);
        let mut bytes = raw.clone();
        let bit = 1u8 << rng.range(0, 8);
        let record_flip = trial < trials;
        let what = if record_flip {
            let index = rng.range(0, records.len() as u64) as usize;
            let record = &records[index];
            let offset = rng.range(0, record.len() as u64) as usize;
            let places = occurrences(&raw, record);
            assert!(!places.is_empty(), "record {} is stored contiguously in the db file", index + 1);
            for place in &places {
                bytes[place + offset] ^= bit;
            }
            format!(
                "trial {trial} (seed {seed}): record {} byte {offset} bit {bit:#04x} in {} copies",
                index + 1,
                places.len()
            )
        } else {
            let offset = rng.range(0, raw.len() as u64) as usize;
            bytes[offset] ^= bit;
            format!("trial {trial} (seed {seed}): db file byte {offset} bit {bit:#04x}")
        };
        std::fs::write(copy.join("ledger").join("db"), &bytes).expect("write tampered file");
        if check(&copy, &original_export, record_flip, &what) {
            refused += 1;
        } else {
            dead_space += 1;
        }
        std::fs::remove_dir_all(&copy).expect("clean up");
    }
    eprintln!("tamper test: {refused} refused, {dead_space} raw flips in dead space (events unchanged)");
    assert!(refused >= trials, "every record flip is refused");
}
