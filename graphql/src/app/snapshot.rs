//! The start-up snapshot of the projections (issue 19): `projections.snapshot` in the data
//! directory, written when a server stops, read when one starts, so that the start folds only the
//! events after it instead of the whole ledger.
//!
//! A snapshot is used only when it is intact (its format is this build's and its checksum matches:
//! `projections/src/store/snapshot.rs`) and belongs to this ledger: the event at its head is in
//! the ledger with the same hash, and so (the hash chain) is every event before it. Anything else
//! is said on standard error and in the log, and the server folds the whole ledger as it would
//! without one: a snapshot can make a start faster, never an answer different.
//!
//! It is written beside the data as `projections.snapshot.tmp`, synced, renamed over the old one
//! and the directory synced, so a crash leaves the old snapshot or the new one, never a mix.

use std::fs::File;
use std::path::Path;

use ledger::Ledger;
use projections::Projections;

/// The snapshot's file in the data directory.
pub(crate) const FILE: &str = "projections.snapshot";

/// What the start found.
#[derive(Debug)]
pub(crate) enum Start {
    /// A snapshot of this ledger up to `position` was read.
    Snapshot {
        /// Its head.
        position: u64,
    },
    /// There was none.
    None,
    /// There was one, not used: why.
    Refused(String),
}

/// The projections to start from: the data directory's snapshot when it can be used, else empty
/// ones (the fold then starts at position 1), with what was found.
pub(crate) fn load(root: &Path, ledger: &Ledger) -> (Projections, Start) {
    let path = root.join(FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Projections::new(), Start::None),
        Err(e) => return refused(format!("{} cannot be opened: {e}", path.display())),
    };
    // The records stay in the file, read again when asked for (`Projections::open_snapshot`).
    let projections = match Projections::open_snapshot(file) {
        Ok(projections) => projections,
        Err(e) => return refused(format!("{}: {e}", path.display())),
    };
    let head = projections.head();
    if head > ledger.head().position {
        return refused(format!(
            "{} is at position {head}, after the ledger's head {}: it is not of this ledger",
            path.display(),
            ledger.head().position
        ));
    }
    if head.get() > 0 {
        let ours = match ledger.get(head) {
            Ok(event) => event.map(|e| e.hash()),
            Err(e) => return refused(format!("the ledger's event at {head} cannot be read: {e}")),
        };
        let theirs = projections.event(head).map(|e| e.hash());
        if ours.is_none() || ours != theirs {
            return refused(format!(
                "{}'s event at position {head} is not the ledger's: it is of another ledger",
                path.display()
            ));
        }
    }
    (projections, Start::Snapshot { position: head.get() })
}

fn refused(reason: String) -> (Projections, Start) {
    tracing::warn!(%reason, "the snapshot of the projections is not used; folding the whole ledger");
    (Projections::new(), Start::Refused(reason))
}

/// Writes `projections` as the data directory's snapshot (module docs). A write that fails (a full
/// disk) leaves no partial file behind.
pub(crate) fn save(root: &Path, projections: &Projections) -> anyhow::Result<()> {
    // Projections that failed to read a record may have indexed it wrong: they are not kept.
    projections.health()?;
    let temporary = root.join(format!("{FILE}.tmp"));
    let saved = write(root, &temporary, projections);
    if saved.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    saved
}

fn write(root: &Path, temporary: &Path, projections: &Projections) -> anyhow::Result<()> {
    use anyhow::Context;
    let path = root.join(FILE);
    let file = File::create(temporary).with_context(|| format!("cannot create {}", temporary.display()))?;
    // The fields and the records written by two threads at their places in the file.
    projections.write_snapshot_file(&file).with_context(|| format!("cannot write {}", temporary.display()))?;
    file.sync_all().with_context(|| format!("cannot sync {}", temporary.display()))?;
    drop(file);
    std::fs::rename(temporary, &path)
        .with_context(|| format!("cannot rename {} to {}", temporary.display(), path.display()))?;
    File::open(root).and_then(|dir| dir.sync_all()).with_context(|| format!("cannot sync {}", root.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use projections::Projections;

    use super::{FILE, Start, load, save};

    /// Saved, the snapshot is found at the next load; a save that fails (here the rename, over a
    /// directory in its place) leaves no partial file behind and the error says so.
    #[test]
    fn a_saved_snapshot_loads_and_a_failed_save_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = ledger::Ledger::open(dir.path().join("ledger"), ledger::LedgerConfig::default()).expect("ledger");
        assert!(matches!(load(dir.path(), &ledger).1, Start::None));
        save(dir.path(), &Projections::new()).expect("saves");
        assert!(matches!(load(dir.path(), &ledger).1, Start::Snapshot { position: 0 }));

        let other = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(other.path().join(FILE).join("in-the-way")).expect("a directory in its place");
        let error = save(other.path(), &Projections::new()).expect_err("the rename fails");
        assert!(format!("{error:#}").contains("cannot rename"), "{error:#}");
        assert!(!other.path().join(format!("{FILE}.tmp")).exists(), "no partial file left");
    }
}
