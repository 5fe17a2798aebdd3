//! The guard outside sled (issue 20): the head manifest `HEAD` next to sled's files. A sled state
//! shorter than or different from it is refused on open – loudly, with what was found and what was
//! expected – never served as an empty ledger and never seeded over; stale incomplete snapshot
//! files are moved aside, not deleted.

use ledger::{Append, Ledger, LedgerConfig, LedgerError};
use samverkan_tests::{decision, party};

use crate::process::SAMVERKAN;

/// Writes `n` events in separate commits and closes the ledger.
fn events(dir: &std::path::Path, n: usize) {
    let ledger = Ledger::open(dir, LedgerConfig::default()).expect("opens");
    for i in 0..n {
        ledger.append(Append::one(decision(&format!("d{i}")))).expect("append");
    }
    ledger.append(Append::one(party("nacka"))).expect("append");
}

/// Removes everything of sled's in a ledger directory (all but the manifest) and creates a new,
/// empty sled database there: what a lost snapshot file or a restored older copy leaves, at worst.
fn replace_sled_with_an_empty_one(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n != "HEAD") {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("remove");
            } else {
                std::fs::remove_file(&path).expect("remove");
            }
        }
    }
    drop(sled::open(dir).expect("a new, empty sled database"));
}

fn refusal(dir: &std::path::Path) -> String {
    match Ledger::open(dir, LedgerConfig::default()) {
        Ok(ledger) => panic!("opened a damaged ledger at head {}", ledger.head().position),
        Err(e) => {
            assert!(matches!(e, LedgerError::Corrupt { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn a_ledger_whose_sled_files_lost_data_is_refused_not_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    events(dir.path(), 50);
    assert!(dir.path().join("HEAD").is_file(), "the manifest is written");
    // sled's own files lose their content (what a deleted snapshot file or a restored older copy
    // leaves): here, sled's whole state is replaced by a new, empty database.
    replace_sled_with_an_empty_one(dir.path());
    let message = refusal(dir.path());
    assert!(message.contains("sled holds 0 events") && message.contains("51 committed events"), "{message}");
    // Nothing was changed by the refusal: it is refused again, the same way.
    assert_eq!(refusal(dir.path()), message);
}

#[test]
fn a_different_history_at_the_manifests_position_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    events(dir.path(), 3);
    let other = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(other.path(), LedgerConfig::default()).expect("opens");
    for i in 0..3 {
        ledger.append(Append::one(decision(&format!("annat-{i}")))).expect("append");
    }
    ledger.append(Append::one(party("solna"))).expect("append");
    drop(ledger);
    // The manifest of one ledger beside the files of another of the same length.
    std::fs::copy(dir.path().join("HEAD"), other.path().join("HEAD")).expect("copy");
    let message = refusal(other.path());
    assert!(message.contains("is not the one"), "{message}");
}

#[test]
fn a_manifest_behind_the_log_is_fine_and_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    events(dir.path(), 2);
    let early = std::fs::read_to_string(dir.path().join("HEAD")).expect("manifest");
    events(dir.path(), 2);
    // The manifest of three events before, as after a crash between a commit and its rewrite.
    std::fs::write(dir.path().join("HEAD"), &early).expect("write");
    let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("a longer log than the manifest opens");
    assert_eq!(ledger.head().position.get(), 6);
    drop(ledger);
    let now = std::fs::read_to_string(dir.path().join("HEAD")).expect("manifest");
    assert!(now.contains("position 6"), "{now}");
}

#[test]
fn a_stale_incomplete_snapshot_file_is_moved_aside_not_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    events(dir.path(), 3);
    let stale = dir.path().join("snap.00000000000001F8.generating");
    std::fs::write(&stale, b"").expect("write");
    let ledger = Ledger::open(dir.path(), LedgerConfig::default()).expect("opens");
    assert_eq!(ledger.head().position.get(), 4, "every event is there");
    assert!(!stale.exists());
    let moved: Vec<_> = std::fs::read_dir(dir.path().join("stale")).expect("stale/").collect();
    assert_eq!(moved.len(), 1, "kept, in stale/");
}

#[test]
fn serve_and_verify_refuse_a_ledger_that_lost_data_and_seed_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    events(&data.join("ledger"), 10);
    // As in the report: sled's files replaced by an empty database; the manifest remains.
    let ledger_dir = data.join("ledger");
    replace_sled_with_an_empty_one(&ledger_dir);
    for args in [vec!["verify"], vec!["serve", "--listen", "127.0.0.1:0"]] {
        let mut command = args.clone();
        command.extend(["--data", data.to_str().expect("utf-8")]);
        let output = std::process::Command::new(SAMVERKAN).args(&command).output().expect("samverkan runs");
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("11 committed events"), "{args:?}: {stderr}");
    }
    // Nothing was seeded: sled is still empty, the manifest untouched.
    let manifest = std::fs::read_to_string(ledger_dir.join("HEAD")).expect("manifest");
    assert!(manifest.contains("position 11"), "{manifest}");
}
