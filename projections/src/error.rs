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
