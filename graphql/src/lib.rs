//! Samverkan's GraphQL server and the `samverkan` command line, on top of the ledger and the
//! projections. The only crate that knows HTTP and GraphQL.
//!
//! Layers, one way (no module imports one above it): `cli` → `http` (router, WebSocket, dashboard)
//! → `schema` (GraphQL) → `app` (the application: state, commands, import, seeding, tokens) →
//! `error` (every failure as an API error with its code) → the `projections` and `ledger` crates.

#![warn(missing_docs)]

mod app;
pub mod cli;
mod error;
mod http;
mod schema;

pub use app::{
    App, AppConfig, Caller, Command, Committed, DataDir, FoldError, HISTORY, ImportError, LiveProjections, Metrics,
    Role, TokenStore, import_validated, record, seed_if_empty,
};
pub use error::{ApiError, Code};
pub use http::{MAX_SUBSCRIPTIONS, ServerConfig, app, serve};
pub use schema::{AppSchema, Pools, SchemaLimits, build_schema, sdl};
