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

    /// A sync to disk failed earlier, so the ledger can no longer say what is durable; it refuses
    /// appends until reopened (reopening recovers what sled had made durable).
    #[error("the ledger stopped accepting appends after a failed sync; restart to recover")]
    Poisoned,

    /// The disk holding the ledger is full (or its quota used up): nothing of this append was
    /// acknowledged, and the ledger refuses appends until it is reopened with space free, because
    /// sled 0.34 stops its log at its first write error and an `fdatasync` that failed may have
    /// dropped pages. Reads go on. Free space, then restart the server (or reopen the ledger).
    #[error(
        "the disk holding the ledger is full: nothing was recorded; free space and restart the server to record again ({reason})"
    )]
    StorageFull {
        /// What the operating system said.
        reason: String,
    },

    /// A proof or tile was asked for that the tree cannot give (a size beyond the head, a leaf
    /// outside the tree). Nothing is wrong with the ledger; fix the request.
    #[error("{0}")]
    Proof(String),

    /// The ledger's writer has shut down.
    #[error("the ledger is closed")]
    Closed,
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
