//! The application layer: one [`App`] value owning the ledger, the live projections, the tokens,
//! the metrics and the write lock, and the commands as plain functions over it ([`record`], the
//! importer, seeding). The GraphQL schema and HTTP sit above this module and reach the ledger only
//! through it; nothing here knows GraphQL or HTTP.

mod auth;
mod batch;
mod datadir;
mod files;
mod import;
mod live;
mod metrics;
mod operations;
mod queue;
mod record;
mod seed;
mod snapshot;
mod state;
mod verifier;
mod witness;

pub(crate) use auth::bearer;
pub use auth::{Caller, Role, TokenStore};
pub(crate) use auth::{Revoked, TokenError, TokenInfo};
pub use datadir::DataDir;
pub(crate) use datadir::LEDGER_DIR;
pub(crate) use datadir::{Opened, Running};
pub use import::{ImportError, import_validated};
pub(crate) use import::{Progress as ImportProgress, import_staged};
pub(crate) use live::apply_new;
#[cfg(test)]
pub(crate) use live::tests::decision as test_decision;
pub use live::{FoldError, LiveProjections};
pub use metrics::Metrics;
pub(crate) use operations::Imported;
pub use record::{Command, Committed, record};
pub use seed::{HISTORY, seed_if_empty};
pub(crate) use snapshot::{Start as SnapshotStart, load as load_snapshot, save as save_snapshot};
pub use state::{App, AppConfig};
pub(crate) use verifier::Verified;
