//! The request checks, run around the engine instead of inside it: the [`Executor`] runs them on
//! every request before it executes, and the WebSocket layer through it on every operation,
//! subscriptions included.
//!
//! In the order the schema extensions ran them before (issue 19): the persisted-query protocol
//! (`persisted.rs`: a request sent by its hash alone gets its document here, one sent with its
//! hash is kept), the parse (once: the document is handed to the engine with
//! `Request::set_parsed_query`, so the engine does not parse it again), the read-only check
//! (`read_only.rs`: no mutation over `GET`), the cost check (`cost.rs`, on the real document,
//! whichever way it came) and the required variables (`variables.rs`). A refused request is
//! answered as the engine answers one it refuses before execution (`Response::from_errors`), and
//! gets its code in `error.rs` like every other response.
//!
//! Why not extensions: in async-graphql 7.2 the mere presence of any schema extension sends every
//! field and every list item of every answer through a slow path (a registry lookup by type name,
//! type-name strings per list item, a `ResolveInfo` and a boxed future through the extension
//! chain); a county-wide answer has thousands of fields, and that cost milliseconds
//! (BENCHMARKS.md, issue 19). So the schema has none, and `tests/it/tidy.rs` fails if one is
//! registered again.
//!
//! [`Executor`]: super::Executor

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql::{Request, Response, ServerError};

use super::persisted::PersistedQueries;
use super::read_only::selected;
use super::{cost, read_only, variables};

/// A request that passed the checks, its document parsed into it.
pub(crate) struct Checked {
    /// The request, with its document set (`Request::set_parsed_query`).
    pub(super) request: Request,
    /// The type of the operation it runs; `None` when the document has no operation the request
    /// names, which the engine refuses with its own message.
    pub(super) operation: Option<OperationType>,
    /// The document's price (`cost.rs`), by which the executor chooses a pool.
    pub(super) price: u64,
    /// The operation selects exactly one field at its root (no fragment): a subscription whose
    /// frames may be written directly (`direct.rs`), which hands over one stream.
    one_root_field: bool,
}

impl Checked {
    /// Whether the request runs a subscription.
    pub(crate) fn is_subscription(&self) -> bool {
        self.operation == Some(OperationType::Subscription)
    }

    /// Whether the request runs a subscription of exactly one root field, whose stream the
    /// resolver may hand over (`direct.rs`). async-graphql runs a subscription of several root
    /// fields, merged; only one stream can be handed over, so such a one stays with the engine.
    pub(crate) fn is_single_subscription(&self) -> bool {
        self.is_subscription() && self.one_root_field
    }

    /// Adds data to the request, as `Request::data` does.
    pub(crate) fn data<D: std::any::Any + Send + Sync>(mut self, data: D) -> Self {
        self.request = self.request.data(data);
        self
    }
}

/// Runs the checks on a request: its document, or the response that refuses it (without codes yet;
/// the executor gives every response its codes).
///
/// `parsed` is the request's document when the caller has parsed it already (the HTTP layer does, to
/// see whether an answer may be kept): it is not parsed again.
pub(super) async fn check(
    persisted: &PersistedQueries,
    max_cost: u64,
    request: Request,
    parsed: Option<ExecutableDocument>,
) -> Result<Checked, Response> {
    checked(persisted, max_cost, request, parsed).await.map_err(|error| Response::from_errors(vec![error]))
}

async fn checked(
    persisted: &PersistedQueries,
    max_cost: u64,
    mut request: Request,
    parsed: Option<ExecutableDocument>,
) -> Result<Checked, ServerError> {
    let document = match (persisted.apply(&mut request).await?, parsed) {
        (Some(document), _) => document,
        (None, Some(parsed)) => parsed,
        (None, None) => parse_query(&request.query)?,
    };
    read_only::check(&document, &request)?;
    let price = cost::check(&document, max_cost)?;
    variables::check(&document, &request)?;
    let chosen = selected(&document.operations, request.operation_name.as_deref());
    let operation = chosen.map(|op| op.ty);
    let one_root_field = chosen.is_some_and(
        |op| matches!(op.selection_set.node.items.as_slice(), [item] if matches!(item.node, Selection::Field(_))),
    );
    request.set_parsed_query(document);
    Ok(Checked { request, operation, price, one_root_field })
}

#[cfg(test)]
mod tests {
    use async_graphql::Request;
    use async_graphql::parser::parse_query;

    use super::super::persisted::PersistedQueries;

    /// The HTTP layer parses a request's document once and hands it over: it is what is checked,
    /// and the text is not parsed again (here a text that would not parse).
    #[tokio::test]
    async fn a_document_parsed_already_is_not_parsed_again() {
        let store = PersistedQueries::new();
        let document = parse_query("{ ledger { position } }").expect("parses");
        let given = super::check(&store, u64::MAX, Request::new("{ ledger {"), Some(document)).await;
        assert!(given.is_ok_and(|checked| checked.operation.is_some()));
        let parsed_here = super::check(&store, u64::MAX, Request::new("{ ledger {"), None).await;
        assert!(parsed_here.is_err(), "without it, the text is parsed and refused");
    }
}
