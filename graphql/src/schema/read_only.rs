//! Read-only requests: a request that carries [`ReadOnly`] in its data may not run a mutation.
//! The HTTP layer marks every `GET` so (the GraphQL-over-HTTP spec: mutations only over `POST`),
//! and the check ([`check`], one of the request checks of `checks.rs`) runs after the
//! persisted-query step, so a mutation sent by its hash alone is refused too. The marker tells its
//! sender that the refusal happened (the HTTP answer is then `405 Method Not Allowed`), without
//! matching on messages.

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType};
use async_graphql::{Request, ServerError};

/// The mark of a request that may only read; after execution, whether a mutation was refused.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadOnly {
    refused: Arc<AtomicBool>,
}

impl ReadOnly {
    /// Whether the request was refused because it asked for a mutation.
    pub(crate) fn refused_a_mutation(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Refuses a mutation in a request marked [`ReadOnly`] (and marks the refusal); any other request
/// passes.
pub(super) fn check(document: &ExecutableDocument, request: &Request) -> Result<(), ServerError> {
    let marker = request.data.get(&TypeId::of::<ReadOnly>()).and_then(|data| data.downcast_ref::<ReadOnly>());
    let Some(marker) = marker else { return Ok(()) };
    let operation = selected(&document.operations, request.operation_name.as_deref());
    if operation.is_some_and(|op| op.ty == OperationType::Mutation) {
        marker.refused.store(true, Ordering::Relaxed);
        return Err(ServerError::new("a mutation cannot be sent with GET, which only reads; send it with POST", None));
    }
    Ok(())
}

/// The operation a request runs, chosen as async-graphql chooses it; `None` when there is no such
/// operation (which async-graphql then refuses with its own message).
pub(crate) fn selected<'a>(operations: &'a DocumentOperations, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (operations, name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}
