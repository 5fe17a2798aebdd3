//! Samverkan's GraphQL server and the `samverkan` command line, on top of the ledger and the
//! projections. The only crate that knows HTTP and GraphQL.

#![warn(missing_docs)]

mod auth;
pub mod cli;
mod datadir;
mod error;
mod import;
mod live;
mod metrics;
mod schema;
mod seed;
mod server;
mod web;
mod ws;

pub use auth::{Caller, Role, TokenStore};
pub use datadir::DataDir;
pub use error::{ApiError, Code};
pub use import::{ImportError, import_validated};
pub use live::{FoldError, LiveProjections};
pub use metrics::Metrics;
pub use schema::{AppSchema, build_schema, sdl};
pub use seed::{HISTORY, seed_if_empty};
pub use server::{AppState, ServerConfig, app};
