//! Shared helpers for the server tests: a data directory with the real fixtures, the router for
//! `oneshot` calls, a real server on 127.0.0.1:0, tokens, and a GraphQL POST helper.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use graphql::{AppState, Role, ServerConfig, TokenStore};
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
    /// The state the router serves.
    pub(crate) state: Arc<AppState>,
}

impl TestServer {
    /// A server over a fresh ledger seeded with the real fixtures.
    pub(crate) fn seeded(config: ServerConfig) -> Self {
        Self::new(config, true)
    }

    /// A server over a fresh, empty ledger.
    pub(crate) fn empty(config: ServerConfig) -> Self {
        Self::new(config, false)
    }

    fn new(config: ServerConfig, seed: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path().join("ledger"), LedgerConfig::default()).expect("ledger opens");
        if seed {
            graphql::seed_if_empty(&ledger).expect("fixtures import");
        }
        let tokens = Arc::new(TokenStore::open(dir.path()).expect("token store"));
        let state = AppState::new(ledger.clone(), tokens, config).expect("state");
        Self { dir, ledger, state }
    }

    /// Creates a token with a role.
    pub(crate) fn token(&self, role: Role, name: &str) -> String {
        self.state.tokens.create(&role, name).expect("token created")
    }

    /// A fresh router over the state.
    pub(crate) fn router(&self) -> axum::Router {
        graphql::app(self.state.clone())
    }

    /// POSTs a GraphQL query through the router (no socket) and returns status and JSON body.
    pub(crate) async fn post(&self, query: &str, variables: serde_json::Value, token: Option<&str>) -> (StatusCode, serde_json::Value) {
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
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| serde_json::json!({"raw": String::from_utf8_lossy(&bytes)}));
        (status, json)
    }

    /// Starts a real server on 127.0.0.1:0 (with the projection follower) and returns its address.
    pub(crate) async fn listen(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = self.router();
        let _follower = self.state.spawn_follower();
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
