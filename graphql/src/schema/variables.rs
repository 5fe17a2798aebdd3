//! Required variables, checked before execution: a variable of a non-null type with no default that
//! the request leaves out, or gives as null, is a request error (the GraphQL spec's
//! CoerceVariableValues, which runs before execution). async-graphql's validation checks the values
//! a request gives, where they are used, but reports a missing one only when a field reads it, as
//! that field's error – after execution began, with `data` and a 200 in every media type.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::{Request, ServerError, ServerResult, Value};

use super::read_only::selected;

/// The extension that refuses a request leaving out a required variable.
#[derive(Debug)]
pub(crate) struct RequiredVariables;

impl ExtensionFactory for RequiredVariables {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequiredVariables)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequiredVariables {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let name = request.operation_name.clone();
        let variables = std::mem::take(&mut request.variables);
        let document = request.parsed_query()?;
        let definitions =
            selected(&document.operations, name.as_deref()).map_or(&[][..], |op| &op.variable_definitions);
        for definition in definitions {
            let definition = &definition.node;
            let required = !definition.var_type.node.nullable && definition.default_value.is_none();
            let what = match variables.get(&definition.name.node) {
                _ if !required => continue,
                Some(Value::Null) => "null",
                Some(_) => continue,
                None => "no value",
            };
            return Err(ServerError::new(
                format!(
                    "variable \"${}\" of type \"{}\" is required, and the request gives {what} for it",
                    definition.name.node, definition.var_type.node
                ),
                Some(definition.name.pos),
            ));
        }
        request.variables = variables;
        next.run(ctx, request).await
    }
}
