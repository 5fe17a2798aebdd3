//! Required variables, checked before execution: a variable of a non-null type with no default that
//! the request leaves out, or gives as null, is a request error (the GraphQL spec's
//! CoerceVariableValues, which runs before execution). async-graphql's validation checks the values
//! a request gives, where they are used, but reports a missing one only when a field reads it, as
//! that field's error – after execution began, with `data` and a 200 in every media type.

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError, Value};

use super::read_only::selected;

/// Refuses a request that leaves out (or gives null for) a variable the operation it runs requires.
/// One of the request checks of `checks.rs`.
pub(super) fn check(document: &ExecutableDocument, request: &Request) -> Result<(), ServerError> {
    let definitions = selected(&document.operations, request.operation_name.as_deref())
        .map_or(&[][..], |op| &op.variable_definitions);
    for definition in definitions {
        let definition = &definition.node;
        let required = !definition.var_type.node.nullable && definition.default_value.is_none();
        let what = match request.variables.get(&definition.name.node) {
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
    Ok(())
}
