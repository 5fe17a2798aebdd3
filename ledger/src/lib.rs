//! Samverkan's ledger: every decision, adoption, revision, notice and escalation as an immutable,
//! hash-chained event in an embedded sled log.
//!
//! - [`Ledger`] opens a data directory, appends durably with group commit ([`Append`],
//!   [`AppendOutcome`]) and reads by position, stream or id.
//! - [`EventData`] is the whole event catalogue of API.md §1; [`NewEvent`] is what a writer
//!   proposes, [`RecordedEvent`] what is stored. [`EventData::by_stream`] views an event through
//!   its stream ([`ByStream`], [`AgreementEvent`], …), so that a fold of one stream matches that
//!   stream's events only; [`EventData::stream`] derives from it.
//! - [`jsonl`] is the JSON Lines export/import; [`MemoryChain`] seals events in memory exactly as
//!   the ledger does.
//!
//! - [`merkle`] is the Merkle tree over the log (RFC 6962) and its signed checkpoints (C2SP);
//!   [`Ledger::checkpoint`] and the proof methods serve them; [`audit`] checks a log against signed
//!   checkpoints the way an auditor does, from the leaves alone.
//!
//! Only this crate knows the byte encoding (`encoding`) and sled.

#![warn(missing_docs)]

pub mod audit;
mod chain;
mod compact;
mod crc;
mod encoding;
mod error;
mod event;
mod id;
pub mod jsonl;
mod memory;
pub mod merkle;
mod sequence;
mod store;
mod time;
mod upcast;
mod verify;

pub use chain::{Hash, InvalidHash};
pub use compact::{CompactEvent, EventView};
pub use crc::Crc32Writer;
pub use encoding::MAX_BODY_BYTES;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use encoding::fuzzing;
pub use error::{LedgerError, Result};
pub use event::*;
pub use id::{
    AgreementId, BodyId, CaseId, DecisionId, DistrictId, DutyId, EventId, GroupId, InvalidSlug, InvalidStream,
    MAX_SLUG_LEN, PartyId, Position, ProblemId, Slug, StreamId,
};
pub use memory::MemoryChain;
pub use sequence::{Append, AppendOutcome, Committed, Head, VersionConflict};
pub use store::{
    Clock, CommitObservation, CommitObserver, DEFAULT_JOURNAL_LIMIT, DEFAULT_MIN_FREE_BYTES, Durability, Ledger,
    LedgerConfig, StagedStep, Staging,
};
pub use time::{Date, InvalidTime, Timestamp};
pub use verify::VerifyReport;
