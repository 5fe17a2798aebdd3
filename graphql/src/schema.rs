//! The GraphQL schema: query, mutation and subscription roots, thin resolvers over [`App`].
//!
//! The schema has no extensions: in async-graphql 7.2 any extension at all sends every field of
//! every answer through a slow path, which cost a county-wide answer milliseconds (issue 19). What
//! they did runs around the engine, in the [`Executor`] (`bounds.rs`), on every request of every
//! transport: the request checks (`checks.rs`: the persisted-query protocol, the read-only check,
//! the cost check, the required variables, in that order, on a document parsed once and handed to
//! the engine), the request's deadline and size cap (`bounds.rs`), and the error codes
//! (`error.rs`). A schema executed without the [`Executor`] has none of them.
//!
//! Every resolver reaches the application through [`app`] (or [`readable`] for a read, which also
//! checks that the caller may read), which also holds it to its request's deadline, and converts
//! the projections' views into the output types of its area's module; none of them touches the
//! ledger.

// Vocabulary enums (PartyKind, GroupKind, …) live in `enums.rs` for inputs and outputs alike.
mod agreements;
mod bounds;
mod cases;
mod checks;
mod cost;
mod county;
mod direct;
mod enums;
mod event;
mod events;
mod frames;
mod mutations;
mod organisation;
mod persisted;
mod read_only;
mod scalars;
mod timeline;
mod transparency;
mod variables;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Schema};

use crate::app::{App, Caller};
use crate::error::ApiError;

/// The query root (named `Query`, as in API.md).
#[derive(MergedObject, Default, Debug)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    events::EventQuery,
    agreements::AgreementQuery,
    organisation::OrganisationQuery,
    cases::CaseQuery,
    timeline::TimelineQuery,
    county::CountyQuery,
    transparency::TransparencyQuery,
);

pub use bounds::Pools;
pub(crate) use bounds::{Executor, RequestBounds, server_error};
pub(crate) use checks::Checked;
pub(crate) use direct::{Direct, SharedHandover};
pub(crate) use events::SubscriptionRoot;
pub(crate) use frames::share_frames;
pub(crate) use mutations::MutationRoot;
pub(crate) use persisted::PersistedQueries;
pub(crate) use read_only::{ReadOnly, selected as selected_operation};

/// The schema type.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The limits a query must keep.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    /// The deepest query accepted.
    pub max_depth: usize,
    /// The most complex query accepted (async-graphql's complexity: one per field by default).
    pub max_complexity: usize,
    /// The highest price of a document, computed on its parse tree before any other work
    /// (`schema/cost.rs`: fields × fragment spreads × expected list lengths, county-wide lists
    /// and log scans priced as the work they take). Applied by the executor that runs the schema
    /// (the HTTP and WebSocket layers'), not by the schema itself.
    pub max_cost: u64,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        // The dashboard's largest query is priced about 70 000.
        Self { max_depth: 16, max_complexity: 5_000, max_cost: 250_000 }
    }
}

/// Builds the schema over an application, with the depth and complexity limits async-graphql
/// applies itself. The rest of what a request must keep (persisted queries, read-only requests, the
/// cost limit, required variables, deadlines, the size cap, error codes) is the executor's
/// (`schema/bounds.rs`), which the HTTP router runs every request through.
pub fn build_schema(app: Arc<App>, limits: SchemaLimits) -> AppSchema {
    // Invariant: no `.extension(..)` here (`tests/it/tidy.rs`): any extension at all sends every
    // field of every answer through async-graphql's slow path (issue 19).
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot)
        .data(app)
        .data(frames::FrameCache::default())
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot).finish().sdl()
}

/// The application, from a resolver's context; fails once the request's deadline has passed or its
/// answer is known to be over the size cap (`bounds.rs`), so every resolver that reaches the
/// application is held to both.
fn app<'a>(ctx: &Context<'a>) -> Result<&'a Arc<App>, ApiError> {
    bounds::check(ctx)?;
    ctx.data::<Arc<App>>().map_err(|_| ApiError::internal(&"schema built without App"))
}

/// The application for a read: [`app`] plus [`App::require_read`], so no read resolver can forget
/// the check.
fn readable<'a>(ctx: &Context<'a>) -> Result<&'a Arc<App>, ApiError> {
    let app = app(ctx)?;
    app.require_read(caller(ctx))?;
    Ok(app)
}

/// A county-wide list of the query root, its size accounted against the request's cap before the
/// engine resolves its items (`bounds::account_list`), so that an answer certainly over the cap
/// stops at once.
fn listed<T>(ctx: &Context<'_>, items: Vec<T>) -> crate::error::ApiResult<Vec<T>> {
    bounds::account_list(ctx, items.len())?;
    Ok(items)
}

/// The caller of the current request (anonymous if the request carried none).
fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static ANONYMOUS: Caller = Caller::Anonymous;
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}
