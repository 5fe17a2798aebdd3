//! Shared helpers for the server tests: a data directory with the real fixtures, the router for
//! `oneshot` calls, a real server on 127.0.0.1:0, tokens, and a GraphQL POST helper.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use graphql::{App, AppConfig, Role, ServerConfig, TokenStore};
use http_body_util::BodyExt;
use ledger::{Ledger, LedgerConfig};
use tower::ServiceExt;

/// A server's pieces over a temporary data directory.
pub(crate) struct TestServer {
    /// Keeps the directory alive for the test's duration (dropping it deletes the data).
    #[allow(dead_code)]
    pub(crate) dir: tempfile::TempDir,
    /// The ledger.
    pub(crate) ledger: Ledger,
    /// The application the router serves.
    pub(crate) app: Arc<App>,
    /// The HTTP configuration of its routers.
    pub(crate) config: ServerConfig,
}

impl TestServer {
    /// A server over a fresh ledger seeded with the real fixtures.
    pub(crate) fn seeded(config: ServerConfig) -> Self {
        Self::with(AppConfig::default(), config, true)
    }

    /// A server over a fresh, empty ledger.
    pub(crate) fn empty(config: ServerConfig) -> Self {
        Self::with(AppConfig::default(), config, false)
    }

    /// A server with the application's policies `app`, over the fixtures if `seed`.
    pub(crate) fn with(app: AppConfig, config: ServerConfig, seed: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path().join("ledger"), LedgerConfig::default()).expect("ledger opens");
        if seed {
            graphql::seed_if_empty(&ledger).expect("fixtures import");
        }
        let tokens = Arc::new(TokenStore::open(dir.path()).expect("token store"));
        let app = App::new(ledger.clone(), tokens, app).expect("the application folds the ledger");
        Self { dir, ledger, app, config }
    }

    /// Creates a token with a role.
    pub(crate) fn token(&self, role: Role, name: &str) -> String {
        self.app.tokens().create(&role, name, None).expect("token created")
    }

    /// A fresh router over the state.
    pub(crate) fn router(&self) -> axum::Router {
        graphql::app(self.app.clone(), self.config.clone())
    }

    /// POSTs a GraphQL query through the router (no socket) and returns status and JSON body.
    pub(crate) async fn post(
        &self,
        query: &str,
        variables: serde_json::Value,
        token: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let body = serde_json::json!({"query": query, "variables": variables}).to_string();
        self.post_raw(body, token).await
    }

    /// POSTs a raw body to /graphql through the router.
    pub(crate) async fn post_raw(&self, body: String, token: Option<&str>) -> (StatusCode, serde_json::Value) {
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self.router().oneshot(request.body(Body::from(body)).expect("request")).await.expect("response");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::json!({"raw": String::from_utf8_lossy(&bytes)}));
        (status, json)
    }

    /// Starts a real server on 127.0.0.1:0 (with the projection follower) and returns its address.
    pub(crate) async fn listen(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = self.router();
        let _follower = self.app.spawn_follower();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        addr
    }
}

/// The `extensions.code` of the first error of a GraphQL response, if any.
pub(crate) fn error_code(body: &serde_json::Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// The error codes API.md §2 documents; a client never sees another (`INTERNAL` is the server's
/// fault and is a bug wherever bad input provokes it).
/// (`PERSISTED_QUERY_NOT_FOUND` is the code of Apollo's automatic persisted queries, documented in
/// the README's changelog: a client that sent only a hash sends the query next.)
pub(crate) const DOCUMENTED_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "RULE_VIOLATION",
    "INVALID_INPUT",
    "PERSISTED_QUERY_NOT_FOUND",
];

/// What an error message must never show a client or a CLI user: paths, Rust source locations and
/// type names, panics and backtraces, or the storage engine. (`:: ` alone would also match prose, so
/// only `::` followed by an identifier counts.)
pub(crate) fn leaked_internals(message: &str) -> Option<&'static str> {
    const FORBIDDEN: &[&str] = &[
        "/work/",
        "/tmp/",
        "/home/",
        "/root/",
        ".rs:",
        "src/",
        "panicked",
        "backtrace",
        "RUST_BACKTRACE",
        "tagged enum",
        "expected struct",
        "Box<",
        "Option<",
        "Vec<",
        "internal error",
    ];
    if let Some(found) = FORBIDDEN.iter().find(|f| message.contains(*f)) {
        return Some(found);
    }
    let rust_path = message.match_indices("::").any(|(i, _)| {
        message[i + 2..].chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && message[..i].chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    rust_path.then_some("a Rust path (a::b)")
}

/// `mutation($input: RegisterPartyInput!) { registerParty(input: $input) { <fields> } }` for the
/// mutation `name`: each mutation `fooBar` takes one argument `input` of type `FooBarInput`.
pub(crate) fn mutation_document(name: &str, fields: &str) -> String {
    let mut chars = name.chars();
    let type_name: String = chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect();
    format!("mutation($input: {type_name}Input!) {{ {name}(input: $input) {{ {fields} }} }}")
}

impl TestServer {
    /// [`TestServer::seeded`] off the async workers (seeding appends, which blocks).
    pub(crate) async fn seeded_async(config: ServerConfig) -> Self {
        tokio::task::spawn_blocking(move || Self::seeded(config)).await.expect("seeding does not panic")
    }
}

/// `{ __schema { types { fields { type { ofType { … { name } } } } } } }` with `depth` levels of
/// selection sets. The event fields of the schema nest at most five deep
/// (`events { edges { node { source { title } } } }`), so the only way to go deeper is the
/// introspection type `__Type.ofType`, which nests without end.
pub(crate) fn nested_query(depth: usize) -> String {
    assert!(depth >= 5);
    let mut query = String::from("{ __schema { types { fields { type {");
    let levels = depth - 4;
    for _ in 0..levels - 1 {
        query.push_str(" ofType {");
    }
    query.push_str(" name");
    for _ in 0..depth {
        query.push_str(" }");
    }
    query
}
