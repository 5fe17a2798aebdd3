//! Making sled's writes survive power loss.
//!
//! sled 0.34.7's `flush()` writes its IO buffers with `pwrite` and then calls `sync_file_range` on
//! Linux. That starts and waits for writeback of the data pages, but it neither flushes the drive's
//! volatile cache nor persists the metadata needed to find the data (the file's size as the log
//! grows), so after a power cut the "flushed" tail can be gone. Blob files (nodes larger than a
//! quarter segment) are written with no sync at all.
//!
//! So after every `flush()` (at a checkpoint: `journal.rs`) the ledger calls `fdatasync` on sled's `db` file, and `fsync` on every
//! blob file it has not synced yet plus the `blobs/` directory when one appeared. Only then is the
//! journal emptied. Snapshot files (`snap.*`) are `fsync`ed by sled itself (their renames and
//! removals by the directory sync at open). sled writes its settings file `conf` once, when it
//! creates the database, and never syncs it: after a power cut it could be empty (sled rewrites
//! it) or torn (sled then fails to open), so the ledger syncs it at open, before the directory
//! entries that name it (found by `tests/it/ledger_power_loss.rs`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Syncs the files sled writes.
#[derive(Debug)]
pub(crate) struct Syncer {
    db_file: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<OsString>,
}

impl Syncer {
    /// Opens sled's files in `dir` (after sled has created them) and makes them and the directory
    /// entries themselves durable: the settings file `conf` first, so that no durable entry names
    /// a `conf` whose bytes a power cut can still take back.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        File::open(dir.join("conf"))?.sync_all()?;
        let db_file = File::open(dir.join("db"))?;
        sync_dir(dir)?;
        let mut syncer = Self { db_file, blobs_dir: dir.join("blobs"), synced_blobs: HashSet::new() };
        syncer.sync_new_blobs()?;
        Ok(syncer)
    }

    /// Flushes sled and makes everything it wrote durable.
    pub(crate) fn flush_and_sync(&mut self, db: &sled::Db) -> Result<(), crate::error::LedgerError> {
        db.flush()?;
        self.sync()?;
        Ok(())
    }

    /// Makes durable what sled's last `flush()` wrote.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.db_file.sync_data()?;
        self.sync_new_blobs()
    }

    fn sync_new_blobs(&mut self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut new_files = false;
        let mut present = HashSet::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !self.synced_blobs.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_all()?,
                    // sled removed it (garbage collection) between the listing and now: nothing of
                    // it is referenced any more, so there is nothing to make durable. Treating
                    // this as a failed sync used to stop the ledger during a large import.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new_files = true;
            }
            present.insert(name);
        }
        if new_files {
            sync_dir(&self.blobs_dir)?;
        }
        // sled garbage-collects old blobs; forget those so the set stays small.
        self.synced_blobs = present;
        Ok(())
    }
}

/// `fsync` on a directory makes the creation of the files in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces the file `name` in `dir` with `bytes` atomically and durably: written beside it as
/// `name.tmp`, synced, renamed over it, the directory synced. A crash leaves the old file or the
/// new one; a write that fails (a full disk) removes its partial file.
pub(crate) fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    replace_file_with(dir, name, |out| out.write_all(bytes))
}

/// [`replace_file`] with the content written by `write` through a 1 MiB buffer, for a file too
/// large to build in memory first (the ledger's kept indexes).
pub(crate) fn replace_file_with(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
) -> io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let written = (|| {
        let mut out = io::BufWriter::with_capacity(1 << 20, File::create(&temporary)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, dir.join(name))?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::Syncer;

    /// A blob sled removes between the listing of `blobs/` and its sync (here a name whose file is
    /// gone: a dangling link) is not a failed sync; the blobs still there are synced and noted.
    #[test]
    fn a_blob_removed_while_it_is_synced_is_not_a_failed_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("conf"), b"segment_size: 524288\n").expect("conf");
        std::fs::write(dir.path().join("db"), b"").expect("db");
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).expect("blobs");
        std::fs::write(blobs.join("1"), b"a blob").expect("blob");
        std::os::unix::fs::symlink(blobs.join("gone"), blobs.join("2")).expect("a name without a file");
        let mut syncer = Syncer::open(dir.path()).expect("a vanished blob does not fail the sync");
        assert!(syncer.synced_blobs.contains(std::ffi::OsStr::new("1")));
        assert!(!syncer.synced_blobs.contains(std::ffi::OsStr::new("2")), "tried again next time");
        syncer.sync().expect("syncs again");
    }
}
