//! Samverkan's projections: the ledger's events folded into answers about agreements, parties,
//! groups, cases and follow-up, on both time axes.
//!
//! - [`Projections`] is the store: [`Projections::apply`] indexes one recorded event (pure: no IO, no
//!   clock, no sled); every query takes `at` (valid time, a [`Date`](ledger::Date)) and
//!   `as_known_at` (record time, a [`Timestamp`](ledger::Timestamp)) and folds only the streams it
//!   needs, using only events recorded at or before `as_known_at` and not retracted by then.
//!   Agreement answers are also kept, each with the valid dates it holds on, per record-time cut,
//!   so that asking again is a lookup ([`Projections::agreements_shared`]); the fold
//!   ([`Projections::agreements_by_fold`]) stays the specification they are tested against.
//! - [`rules`] holds the rules of DOMAIN.md as plain functions, each citing its source section.
//! - The view structs ([`AgreementView`], [`GroupView`], [`CaseView`], …) are what the GraphQL layer
//!   converts into its output types.
//! - [`Projections::validate`] is the command validation the GraphQL mutations and the importer
//!   share; a forbidden command is a [`Rejection`] value, not an error.
//!
//! Invariant: projections never touch sled and never read a clock; the same events and the same
//! query give the same answer.

#![warn(missing_docs)]

mod agreement;
mod competence;
mod county;
mod duties;
mod error;
mod findings;
mod fold;
mod follow_up;
mod materialized;
mod organisation;
mod personal;
pub mod rules;
mod store;
#[cfg(test)]
mod testkit;
mod timeline;
mod validate;

pub use agreement::{AgreementStatus, AgreementView, EndCause, Interpretation, Participation, VersionView};
pub use competence::{BodyRole, BodyView, DecisionView};
pub use county::{
    CoordinatorArea, CoordinatorView, CoordinatorYear, FundsView, PriorityAreasView, ProblemStatus, ProblemView,
};
pub use duties::{DutyCoverage, DutyView};
pub use error::{ProjectionError, Result, SnapshotError};
pub use findings::{Finding, FindingKind};
pub use follow_up::{FollowUpItem, FollowUpYear};
pub use organisation::{CaseStatus, CaseStep, CaseView, DistrictView, GroupView, MandateView, MemberView, PartyView};
pub use personal::find_personal_number;
pub use store::{EventSummary, Health, Projections, SNAPSHOT_FORMAT, Speculation};
pub use timeline::{Change, ChangeKind, Deadline, DeadlineKind};
pub use validate::{Rejection, RejectionCode, screen};
