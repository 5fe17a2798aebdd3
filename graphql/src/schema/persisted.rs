//! Automatic persisted queries (Apollo's APQ): the documents seen so far, by the SHA-256 of their
//! text, so that a client can send the hash alone, and the protocol itself
//! ([`PersistedQueries::apply`], the first of the request checks `checks.rs` runs). Bounded: at
//! most [`CAPACITY`] documents (least recently used go first), and only documents of at most
//! [`MAX_SELECTIONS`] selections are kept at all.
//!
//! A document is stored when it is first seen with its hash, before validation and the cost check;
//! so whatever is kept here is priced again by `cost.rs` on every use (the checks run in that
//! order), and a persisted query can never bypass the cost limit. The bounds keep the memory a
//! client can fill with documents, valid or not, small: a document's text is at most a request
//! body, and its parse tree grows with its selections.
//!
//! The protocol was async-graphql's `ApolloPersistedQueries` extension, whose messages it keeps;
//! it runs outside the engine now because any schema extension sends every field through
//! async-graphql's slow path (issue 19).

use async_graphql::extensions::apollo_persisted_queries::{CacheStorage, LruCacheStorage};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// How many documents are kept.
pub(crate) const CAPACITY: usize = 256;

/// The most selections (fields, fragment spreads, inline fragments, counted once each where they
/// are written, not expanded) of a document that is kept: far more than any query of the dashboard
/// asks. A larger document still runs when sent with its text; it is only not remembered.
pub(crate) const MAX_SELECTIONS: usize = 2_000;

/// The store of persisted documents, shared by every request of a schema.
#[derive(Clone)]
pub(crate) struct PersistedQueries {
    cache: LruCacheStorage,
}

impl PersistedQueries {
    pub(crate) fn new() -> Self {
        Self { cache: LruCacheStorage::new(CAPACITY) }
    }
}

/// The `persistedQuery` entry of a request's `extensions` (Apollo's protocol, version 1).
#[derive(Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

impl PersistedQueries {
    /// Apollo's protocol on one request, with the messages of async-graphql's extension: a request
    /// whose `extensions` carry a `persistedQuery` either has no text, and gets the document its
    /// hash names (`PersistedQueryNotFound` when the hash is unknown), or has a text whose SHA-256
    /// must be that hash, and whose document is then kept. Gives the document when it has one (the
    /// text is parsed here then, once), `None` for a request without `persistedQuery`.
    pub(super) async fn apply(&self, request: &mut Request) -> Result<Option<ExecutableDocument>, ServerError> {
        let Some(value) = request.extensions.remove("persistedQuery") else { return Ok(None) };
        let persisted: PersistedQuery = async_graphql::from_value(value)
            .map_err(|_| ServerError::new("Invalid \"PersistedQuery\" extension configuration.", None))?;
        if persisted.version != 1 {
            return Err(ServerError::new(
                format!(
                    "Only the \"PersistedQuery\" extension of version \"1\" is supported, and the current version is \"{}\".",
                    persisted.version
                ),
                None,
            ));
        }
        if request.query.is_empty() {
            let document = self.get(persisted.sha256_hash).await;
            return document.map(Some).ok_or_else(|| ServerError::new("PersistedQueryNotFound", None));
        }
        let hash = hex::encode(Sha256::digest(request.query.as_bytes()));
        if persisted.sha256_hash != hash {
            return Err(ServerError::new("provided sha does not match query", None));
        }
        let document = async_graphql::parser::parse_query(&request.query)?;
        self.set(hash, document.clone()).await;
        Ok(Some(document))
    }
}

#[async_graphql::async_trait::async_trait]
impl CacheStorage for PersistedQueries {
    async fn get(&self, key: String) -> Option<ExecutableDocument> {
        self.cache.get(key).await
    }

    async fn set(&self, key: String, query: ExecutableDocument) {
        if selections(&query) <= MAX_SELECTIONS {
            self.cache.set(key, query).await;
        }
    }
}

/// The selections written in a document: in its operations and fragment definitions, each counted
/// once (linear in the document's length, however its fragments spread).
fn selections(document: &ExecutableDocument) -> usize {
    fn count(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| {
                1 + match &item.node {
                    Selection::Field(field) => count(&field.node.selection_set.node),
                    Selection::FragmentSpread(_) => 0,
                    Selection::InlineFragment(inline) => count(&inline.node.selection_set.node),
                }
            })
            .sum()
    }
    let operations: usize = document.operations.iter().map(|(_, op)| count(&op.node.selection_set.node)).sum();
    let fragments: usize = document.fragments.values().map(|f| count(&f.node.selection_set.node)).sum();
    operations + fragments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    #[test]
    fn selections_are_counted_where_written_not_expanded() {
        assert_eq!(selections(&parsed("{ ledger { position headHash } }")), 3);
        let fan_out = "{ ...B } fragment A on Query { ledger { position } } \
                       fragment B on Query { ...A ...A ... on Query { ...A } }";
        // `{ ...B }` 1; A: ledger, position 2; B: two spreads, the inline fragment and its spread 4.
        assert_eq!(selections(&parsed(fan_out)), 7);
    }

    #[tokio::test]
    async fn only_documents_within_the_selection_bound_are_kept() {
        let store = PersistedQueries::new();
        store.set("small".to_owned(), parsed("{ ledger { position } }")).await;
        assert!(store.get("small".to_owned()).await.is_some());
        let aliases: String = (0..MAX_SELECTIONS).map(|i| format!(" a{i}: ledger {{ position }}")).collect();
        store.set("large".to_owned(), parsed(&format!("{{{aliases} }}"))).await;
        assert!(store.get("large".to_owned()).await.is_none(), "over the bound: not kept");
    }
}
