//! A guard outside sled: `HEAD`, a small file next to sled's own that names a committed head
//! (position and hash). sled keeps its state in its own files; when one of them is lost (a deleted
//! snapshot file) sled opens as an empty or shorter database without complaint, and a ledger that
//! trusted it would look empty – and `serve` would seed it over the real data. Open compares sled's
//! log with the manifest and refuses, loudly, a log shorter than it or different at its position.
//!
//! The manifest is written atomically (a temporary file, `fsync`, `rename`, `fsync` of the
//! directory) at open, at most once a second after a commit group, and when the ledger closes. It
//! may lag sled's head – a log longer than the manifest is fine – but never runs ahead of what is
//! durable, because it is written only after the sync that made its head durable.

use std::path::{Path, PathBuf};

use crate::chain::Hash;
use crate::error::{LedgerError, Result};
use crate::id::Position;
use crate::sequence::Head;

/// The file's name in the ledger directory.
pub(crate) const FILE: &str = "HEAD";
/// Its first line: what the file is, and its format version.
const MAGIC: &str = "samverkan-head/1";

/// A committed head, as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) position: Position,
    pub(crate) hash: Hash,
}

impl Manifest {
    pub(crate) fn of(head: &Head) -> Self {
        Self { position: head.position, hash: head.hash }
    }

    /// The manifest of the ledger in `dir`, if one was ever written; an unreadable one is an error
    /// (it is only ever replaced whole, so damage means the directory was tampered with).
    pub(crate) fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let unreadable = |what: &str| LedgerError::Corrupt {
            position: Position::new(0),
            reason: format!(
                "the head manifest {} is unreadable ({what}); it is only ever replaced whole",
                path.display()
            ),
        };
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(unreadable("no samverkan-head/1 line"));
        }
        let mut position = None;
        let mut hash = None;
        for line in lines {
            match line.split_once(' ') {
                Some(("position", n)) => position = n.parse::<u64>().ok().map(Position::new),
                Some(("hash", h)) => hash = h.parse::<Hash>().ok(),
                _ => return Err(unreadable("an unknown line")),
            }
        }
        match (position, hash) {
            (Some(position), Some(hash)) => Ok(Some(Self { position, hash })),
            _ => Err(unreadable("no position or hash")),
        }
    }

    /// Replaces the manifest atomically and durably.
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = format!("{MAGIC}\nposition {}\nhash {}\n", self.position.get(), self.hash);
        super::durability::replace_file(dir, FILE, text.as_bytes())
    }
}

/// Moves sled's incomplete snapshot files (`snap.*.generating`, left by a crash or a full disk
/// while sled wrote a snapshot) aside into `stale/`, so that sled does not read them on open; never
/// deletes them. Returns what was moved.
pub(crate) fn move_aside_stale_snapshots(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut moved = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(moved),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let stale = dir.join("stale");
            std::fs::create_dir_all(&stale)?;
            let to = stale.join(format!("{name}.{}", std::process::id()));
            std::fs::rename(entry.path(), &to)?;
            moved.push(to);
        }
    }
    if !moved.is_empty() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(moved)
}
