//! The ledger's error type. Expected outcomes (a lost optimistic-concurrency race, an idempotent
//! retry) are values of `AppendOutcome`, not errors; these are the failures.

use std::path::PathBuf;

use crate::chain::Hash;
use crate::id::{EventId, Position, StreamId};
use crate::time::Timestamp;

/// The result type of the ledger.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Everything that can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The operating system refused a read, write or sync. The append that hit it was not
    /// acknowledged; after a failed sync the ledger refuses further appends (see `Poisoned`).
    /// Report it as the storage being unavailable; what failed is in the log.
    #[error("disk error: {0}")]
    Io(std::io::Error),

    /// sled reported an error (including its own checksum failures). Treat like `Io`; if it persists
    /// after a restart, restore from an export.
    #[error("{}", storage_message(.0))]
    Storage(sled::Error),

    /// Another process has the ledger open (sled's lock is held): a server runs on it. Go through
    /// that server, or stop it first.
    #[error("the ledger in {} is open in another process (its lock is held)", path.display())]
    InUse {
        /// The directory.
        path: PathBuf,
    },

    /// The path exists but does not hold a Samverkan ledger. Point `--data` at a ledger directory or
    /// an empty one.
    #[error("{} is not a Samverkan ledger: {reason}", path.display())]
    NotALedger {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A stored record could not be decoded. Integrity failure: stop writing, run `verify`, restore
    /// from a trusted export.
    #[error("corrupt record at position {position}: {reason}")]
    Corrupt {
        /// Where.
        position: Position,
        /// What is wrong.
        reason: String,
    },

    /// The hash chain does not hold at `position`: `expected` is what the chain requires there (the
    /// previous record's hash for a `prevHash`, or the hash recomputed from the stored bytes), `found`
    /// is what is stored. Integrity failure: the log was altered or damaged.
    #[error("hash chain broken at position {position}: expected {expected}, found {found}")]
    ChainBroken {
        /// The first position where the chain fails.
        position: Position,
        /// The hash the chain requires.
        expected: Hash,
        /// The hash stored.
        found: Hash,
    },

    /// A position is missing from the log, which must be gapless. Integrity failure.
    #[error("gap in the log: expected position {expected}, found {found}")]
    Gap {
        /// The position that should come next.
        expected: Position,
        /// The position that came.
        found: Position,
    },

    /// The event is malformed for storage (too large, empty recorder, …). Fix the input; nothing was
    /// stored.
    #[error("invalid event: {0}")]
    InvalidEvent(String),

    /// The event id was already used for a different event. Use a new id; nothing was stored.
    #[error("event id {id} is already used by a different event at position {position}")]
    IdReused {
        /// The id.
        id: EventId,
        /// Where the original is.
        position: Position,
    },

    /// A retraction names an event the ledger does not have (or another retraction). Nothing was
    /// stored.
    #[error("cannot retract event {0}: no such event")]
    UnknownEvent(EventId),

    /// An import carried a record time earlier than the ledger's head. Record time never goes
    /// backwards; nothing was stored.
    #[error("record time {given} is before the ledger's latest record time {head}")]
    RecordTimeBackwards {
        /// The offending record time.
        given: Timestamp,
        /// The ledger's latest record time.
        head: Timestamp,
    },

    /// An import carried a record time in the future. Nothing was stored.
    #[error("record time {given} is in the future (now {now})")]
    RecordTimeInFuture {
        /// The offending record time.
        given: Timestamp,
        /// The ledger's clock.
        now: Timestamp,
    },

    /// A stored record uses a schema version this build cannot read. Upgrade the binary.
    #[error("{type_name} schema version {version} is not supported by this build")]
    UnsupportedSchema {
        /// The event type.
        type_name: String,
        /// The stored schema version.
        version: u16,
    },

    /// A line of a JSON Lines import is invalid; nothing from the file was stored.
    #[error("line {line}: {reason}")]
    Import {
        /// 1-based line number.
        line: usize,
        /// What is wrong, for a person.
        reason: String,
    },

    /// The stream version moved while the caller computed its append; only returned where a caller
    /// asked for conflicts to be errors (the import). Elsewhere a conflict is an `AppendOutcome`.
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// The version the caller expected.
        expected: u64,
        /// The version it is at.
        actual: u64,
    },

    /// The file system holding the ledger is full (`ENOSPC`) or the owner's quota is used up
    /// (`EDQUOT`); the append was not acknowledged. Tell the client the disk is full, and retry
    /// once space is freed.
    ///
    /// With `resumes`, the writer saw too little free space *before* writing anything: nothing of
    /// the append was recorded, the ledger is intact, and appends succeed by themselves as soon as
    /// enough space is free again (no restart). Without it, sled itself ran out of space while
    /// writing; sled cannot write again in this process, so every later append gets this error
    /// until the process is restarted after space was freed. Reopening recovers everything that
    /// was acknowledged; the append that failed here may or may not be there then (as after a
    /// crash), so retry it with the same event id, which is idempotent.
    #[error("{}", if *resumes { STORAGE_FULL } else { STORAGE_FULL_RESTART })]
    StorageFull {
        /// Whether appends resume by themselves once space is free.
        resumes: bool,
    },

    /// A sync to disk failed earlier, so the ledger can no longer say what is durable; it refuses
    /// appends until reopened (reopening recovers what sled had made durable).
    #[error("the ledger stopped accepting appends after a failed sync; restart to recover")]
    Poisoned,

    /// A proof or tile was asked for that the tree cannot give (a size beyond the head, a leaf
    /// outside the tree). Nothing is wrong with the ledger; fix the request.
    #[error("{0}")]
    Proof(String),

    /// The ledger's writer has shut down.
    #[error("the ledger is closed")]
    Closed,
}

const STORAGE_FULL: &str =
    "the disk holding the ledger is full; nothing was recorded; writes resume when space is freed";
const STORAGE_FULL_RESTART: &str = "the disk holding the ledger filled up while the ledger wrote; nothing was \
     acknowledged; writes resume once space is freed and the server is restarted";

impl LedgerError {
    /// Whether this is the file system reporting no space (`ENOSPC`) or an exhausted quota
    /// (`EDQUOT`), directly or through sled.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            LedgerError::StorageFull { .. } => true,
            LedgerError::Io(e) | LedgerError::Storage(sled::Error::Io(e)) => out_of_space(e),
            _ => false,
        }
    }
}

impl LedgerError {
    /// Whether this is the storage failing to read, write or sync (an operating-system error,
    /// directly or through sled, or the writer refusing after a failed sync), as opposed to an
    /// integrity failure or a refused input: the ledger is intact as far as it knows, but cannot
    /// write now.
    pub fn is_write_unavailable(&self) -> bool {
        matches!(self, LedgerError::Io(_) | LedgerError::Storage(sled::Error::Io(_)) | LedgerError::Poisoned)
    }
}

/// `ENOSPC` or `EDQUOT`.
pub(crate) fn out_of_space(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// sled's own wording for a checksum failure is a Rust debug dump (`Some(Inline(…)) backtrace ()`);
/// an operator needs to know that the files are damaged, where, and what to do.
fn storage_message(error: &sled::Error) -> String {
    match error {
        sled::Error::Corruption { at, .. } => {
            let place = at.as_ref().map(|ptr| format!(" at byte offset {} of the storage files", ptr.lid()));
            format!(
                "storage error: the data directory is damaged (a checksum does not match{}); \
                 restore it from a trusted export",
                place.unwrap_or_default()
            )
        }
        other => format!("storage error: {other}"),
    }
}

// The causes are part of the messages above and deliberately not `source()`s: an error chain printed
// with its causes (`{:#}`) would otherwise say the same thing twice.
impl From<std::io::Error> for LedgerError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<sled::Error> for LedgerError {
    fn from(error: sled::Error) -> Self {
        Self::Storage(error)
    }
}
