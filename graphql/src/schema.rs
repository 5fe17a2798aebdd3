//! The GraphQL schema: query, mutation and subscription roots, thin resolvers over [`App`].
//!
//! The extensions run in this order on every request: the persisted-query store (`persisted.rs`:
//! a request sent by its hash alone gets its document here), the read-only check (`read_only.rs`:
//! no mutation over `GET`), the cost check (`cost.rs`, on the real document, whichever way it came),
//! the required variables (`variables.rs`) and the error codes (`error.rs`).
//!
//! Every resolver reaches the application through [`app`] (or [`readable`] for a read, which also
//! checks that the caller may read) and converts the projections' views into the output types of
//! its area's module; none of them touches the ledger.

// Vocabulary enums (PartyKind, GroupKind, …) live in `enums.rs` for inputs and outputs alike.
mod agreements;
mod bounds;
mod cases;
mod cost;
mod county;
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

use async_graphql::extensions::apollo_persisted_queries::ApolloPersistedQueries;
use async_graphql::{Context, MergedObject, Schema};

use crate::app::{App, Caller};
use crate::error::{ApiError, ErrorCodes};

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
pub(crate) use bounds::{Executor, RequestBounds};
pub(crate) use events::SubscriptionRoot;
pub(crate) use frames::share_frames;
pub(crate) use mutations::MutationRoot;
pub(crate) use persisted::PersistedQueries;
pub(crate) use read_only::ReadOnly;

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
    /// and log scans priced as the work they take).
    pub max_cost: u64,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        // The dashboard's largest query is priced about 70 000.
        Self { max_depth: 16, max_complexity: 5_000, max_cost: 250_000 }
    }
}

/// Builds the schema over an application.
pub fn build_schema(app: Arc<App>, limits: SchemaLimits) -> AppSchema {
    build_schema_with(app, limits, persisted::PersistedQueries::new())
}

/// [`build_schema`] with its store of persisted queries, which the [`Executor`] shares to price a
/// request sent by its hash alone before choosing its pool.
pub(crate) fn build_schema_with(app: Arc<App>, limits: SchemaLimits, persisted: PersistedQueries) -> AppSchema {
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot)
        .data(app)
        .data(frames::FrameCache::default())
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        // Invariant: the extensions' `prepare_request` steps run in the order they are added, and
        // the persisted-query store must come before the cost check, which must price the
        // document a hash stands for (a request sent by its hash alone has no text).
        .extension(ApolloPersistedQueries::new(persisted))
        .extension(read_only::ReadOnlyCheck)
        .extension(cost::CostLimit { max: limits.max_cost })
        .extension(variables::RequiredVariables)
        .extension(bounds::Bounded)
        .extension(ErrorCodes)
        .finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot).finish().sdl()
}

/// The application, from a resolver's context.
fn app<'a>(ctx: &Context<'a>) -> Result<&'a Arc<App>, ApiError> {
    ctx.data::<Arc<App>>().map_err(|_| ApiError::internal(&"schema built without App"))
}

/// The application for a read: [`app`] plus [`App::require_read`], so no read resolver can forget
/// the check.
fn readable<'a>(ctx: &Context<'a>) -> Result<&'a Arc<App>, ApiError> {
    let app = app(ctx)?;
    app.require_read(caller(ctx))?;
    Ok(app)
}

/// The caller of the current request (anonymous if the request carried none).
fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static ANONYMOUS: Caller = Caller::Anonymous;
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}
