//! The projections' errors: integrity failures in the event feed. A rule that forbids a command is
//! not an error but a [`crate::Rejection`].

use ledger::{Position, Timestamp};

/// Why an event could not be applied. Every variant means the feed handed to
/// [`crate::Projections::apply`] is not the ledger's log in order; the caller should stop feeding,
/// log the error once, and rebuild the projections from the ledger (position 1 onwards).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    /// The event is not the next position: an event was skipped, or a different log is being fed.
    /// Rebuild from the ledger.
    #[error("event at position {got} does not follow the projections' head {head}")]
    OutOfOrder {
        /// The last position applied.
        head: Position,
        /// The position of the event offered.
        got: Position,
    },
    /// An event at or below the head with an id the projections have never seen: the feed is not the
    /// log these projections were built from. Rebuild from the ledger.
    #[error("event at position {position} was already applied with a different id")]
    Diverged {
        /// The position offered again.
        position: Position,
    },
    /// The event's record time is before the head's. The ledger never does this, so the feed is
    /// corrupt. Rebuild from the ledger.
    #[error("record time {got} is before the head's {head}")]
    RecordTimeBackwards {
        /// The head's record time.
        head: Timestamp,
        /// The offered event's record time.
        got: Timestamp,
    },
    /// A record kept in a snapshot's file could not be read back intact (`Projections::health`):
    /// no answer computed since can be trusted. Restart: the damaged snapshot is refused and the
    /// ledger folded instead.
    #[error("the projections can no longer read their records ({reason}); restart the server")]
    Unreadable {
        /// The first read that failed, and why.
        reason: String,
    },
    /// The event could not be encoded into its compact form (it was never sealed by a ledger of
    /// this build). Rebuild from the ledger.
    #[error("event at position {position} cannot be held compact: {reason}")]
    Unencodable {
        /// The event's position.
        position: Position,
        /// Why.
        reason: String,
    },
}

/// The projections' result type.
pub type Result<T, E = ProjectionError> = std::result::Result<T, E>;

/// Why a snapshot could not be written or read ([`crate::Projections::write_snapshot`],
/// [`crate::Projections::read_snapshot`]). A snapshot that cannot be read is never used: fold the
/// ledger from position 1 instead, and say so.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// It does not start as a snapshot does.
    #[error("not a snapshot of the projections")]
    NotASnapshot,
    /// It is a snapshot of another format (an older build's).
    #[error("a snapshot of format {found}; this build reads format {expected}")]
    Format {
        /// Its format.
        found: u32,
        /// The format this build reads.
        expected: u32,
    },
    /// Its bytes are not the ones its checksum was computed over: damaged.
    #[error("the snapshot's checksum does not match its contents")]
    Checksum,
    /// Its fields could not be read as written (damaged or cut short).
    #[error("the snapshot cannot be read: {0}")]
    Undecodable(String),
    /// Writing it failed.
    #[error("the snapshot could not be written: {0}")]
    Write(String),
    /// Reading or writing the bytes failed.
    #[error("snapshot I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl SnapshotError {
    pub(crate) fn io(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}
