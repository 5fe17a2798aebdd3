//! The GraphQL schema: query, mutation and subscription roots over the ledger and the projections.

// Vocabulary enums (PartyKind, GroupKind, …) live in `enums.rs` for inputs and outputs alike.
mod codes;
mod enums;
mod events;
mod mutations;
mod scalars;
mod state;

use std::sync::Arc;

use async_graphql::{MergedObject, Schema};

pub(crate) use events::SubscriptionRoot;

use crate::server::AppState;

/// The query root.
#[derive(MergedObject, Default, Debug)]
pub struct QueryRoot(events::EventQuery, state::StateQuery);

/// The schema type.
pub type AppSchema = Schema<QueryRoot, mutations::MutationRoot, SubscriptionRoot>;

/// Builds the schema over an application state.
pub fn build_schema(state: Arc<AppState>) -> AppSchema {
    let config = state.config.clone();
    Schema::build(QueryRoot::default(), mutations::MutationRoot::default(), SubscriptionRoot)
        .data(state)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .extension(codes::ErrorCodes)
        .finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), mutations::MutationRoot::default(), SubscriptionRoot).finish().sdl()
}
