//! Every error carries `extensions.code`, on every transport. Over HTTP, `server.rs` adds the code to
//! async-graphql's own parse and validation errors; over the WebSocket every operation (query,
//! mutation and subscription) runs as a stream, so this extension does the same to each response of
//! that stream. Resolver errors carry their code already. Messages are shortened as over HTTP
//! ([`crate::error::readable_message`]).

use std::sync::Arc;

use async_graphql::Response;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextSubscribe};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::Code;

/// The extension's factory, for `Schema::build(..).extension(ErrorCodes)`.
pub(super) struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

impl Extension for ErrorCodesExtension {
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                for error in &mut response.errors {
                    error.message = crate::error::readable_message(&error.message);
                    let extensions = error.extensions.get_or_insert_with(Default::default);
                    if extensions.get("code").is_none() {
                        // What is left are parse and validation errors: the client's input.
                        extensions.set("code", Code::InvalidInput.as_str());
                    }
                }
                response
            })
            .boxed()
    }
}
