//! Events: what a writer proposes (`NewEvent`) and what the ledger stores (`RecordedEvent`).

mod catalogue;
mod kinds;
mod streams;

pub use catalogue::*;
pub use kinds::*;
pub use streams::{
    AgreementEvent, ByStream, CaseEvent, CountyEvent, FollowUpEvent, GroupEvent, PartyEvent, ProblemEvent, StreamTarget,
};

use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::id::{EventId, Position, StreamId};
use crate::time::{Date, Timestamp};

/// The source document behind an event: what an auditor opens to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// The document's title, e.g. "Protokollsutdrag kommunfullmäktige 2022-06-13 § 93".
    pub title: String,
    /// Diarienummer or other reference.
    #[serde(default)]
    pub reference: Option<String>,
    /// Where the document is published.
    #[serde(default)]
    pub url: Option<String>,
    /// Anything an auditor should know, e.g. that a date is illustrative.
    #[serde(default)]
    pub note: Option<String>,
}

/// An event as a writer proposes it. The ledger assigns position, stream version, record time and
/// hashes on append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Supply an id to make the append idempotent; `None` gets a fresh random id.
    pub id: Option<EventId>,
    /// Valid time: the date the fact belongs to (usually the decision date).
    pub effective: Date,
    /// Who recorded it (a token's name, `import`, …).
    pub recorded_by: String,
    /// The source document.
    pub source: Option<Source>,
    /// What happened.
    pub data: EventData,
}

impl NewEvent {
    /// A new event with a fresh id and no source.
    pub fn new(effective: Date, recorded_by: impl Into<String>, data: impl Into<EventData>) -> Self {
        Self { id: None, effective, recorded_by: recorded_by.into(), source: None, data: data.into() }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the source.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }
}

/// An event as stored: sealed into the hash chain at a position.
///
/// Invariant: a `RecordedEvent` only comes from sealing (append, or the in-memory chain that uses the
/// same code) or from decoding a stored record, so its hash always matches its content as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub(crate) id: EventId,
    pub(crate) position: Position,
    pub(crate) stream: StreamId,
    pub(crate) stream_version: u64,
    pub(crate) effective: Date,
    pub(crate) recorded_at: Timestamp,
    pub(crate) recorded_by: String,
    pub(crate) source: Option<Source>,
    pub(crate) data: EventData,
    pub(crate) prev_hash: Hash,
    pub(crate) hash: Hash,
}

impl RecordedEvent {
    /// The event's id.
    pub fn id(&self) -> EventId {
        self.id
    }
    /// Its position in the global log.
    pub fn position(&self) -> Position {
        self.position
    }
    /// Its stream.
    pub fn stream(&self) -> &StreamId {
        &self.stream
    }
    /// Its version within the stream, from 1.
    pub fn stream_version(&self) -> u64 {
        self.stream_version
    }
    /// The type name, as in JSON.
    pub fn type_name(&self) -> &'static str {
        self.data.type_name()
    }
    /// Valid time.
    pub fn effective(&self) -> Date {
        self.effective
    }
    /// Record time, set by the ledger.
    pub fn recorded_at(&self) -> Timestamp {
        self.recorded_at
    }
    /// Who recorded it.
    pub fn recorded_by(&self) -> &str {
        &self.recorded_by
    }
    /// The source document.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }
    /// What happened.
    pub fn data(&self) -> &EventData {
        &self.data
    }
    /// The previous event's hash (all zeros for position 1).
    pub fn prev_hash(&self) -> Hash {
        self.prev_hash
    }
    /// This event's hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }
}
