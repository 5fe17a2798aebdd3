//! A private copy of sled's files for [`Ledger::open_read_only`](super::Ledger::open_read_only):
//! sled cannot open a database without writing to it, so a read-only open reads a copy and leaves
//! the data directory untouched (a rescue export on a full disk).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{LedgerError, Result};

/// Copies made by this process so far, for unique directory names.
static COPIES: AtomicU64 = AtomicU64::new(0);

/// A temporary directory holding a copy of sled's files; removed when dropped.
#[derive(Debug)]
pub(crate) struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Copies sled's files in `dir` into a new private directory in `TMPDIR`, holding a shared
    /// lock on sled's `db` file meanwhile: a process that has the ledger open (sled holds an
    /// exclusive lock) makes this fail with [`LedgerError::InUse`], and none can open it while the
    /// copy is made, so the copy is of a closed database.
    pub(crate) fn copy_of(dir: &Path) -> Result<Self> {
        let lock = File::open(dir.join("db"))?;
        if fs2::FileExt::try_lock_shared(&lock).is_err() {
            return Err(LedgerError::InUse { path: dir.to_path_buf() });
        }
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("samverkan-read-only-{}-{n}", std::process::id()));
        let scratch = Self { path };
        scratch.fill(dir).map_err(|e| {
            LedgerError::Io(std::io::Error::new(
                e.kind(),
                format!(
                    "cannot copy the ledger into {} to read it without writing to it: {e} \
                     (TMPDIR must have room for the ledger's files)",
                    scratch.path.display()
                ),
            ))
        })?;
        // The lock is released when `lock` closes, after the copy.
        drop(lock);
        Ok(scratch)
    }

    fn fill(&self, dir: &Path) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.path)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let snapshot = text.starts_with("snap.") && !text.ends_with(".generating");
            if text == "conf" || text == "db" || snapshot {
                std::fs::copy(entry.path(), self.path.join(&name))?;
            } else if text == "blobs" && entry.file_type()?.is_dir() {
                let blobs = self.path.join("blobs");
                std::fs::create_dir(&blobs)?;
                for blob in std::fs::read_dir(entry.path())? {
                    let blob = blob?;
                    std::fs::copy(blob.path(), blobs.join(blob.file_name()))?;
                }
            }
        }
        Ok(())
    }

    /// Where the copy is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove the read-only copy");
            }
        }
    }
}
