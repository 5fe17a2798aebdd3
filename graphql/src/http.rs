//! The HTTP side: `fn app(..) -> Router` with `POST /graphql`, GraphiQL on `GET /graphql`
//! (`graphiql.rs`, served from the binary, no CDN),
//! subscriptions on `/graphql/ws` (`ws.rs`), the dashboard (`web.rs`), `/healthz`, `/readyz`,
//! `/metrics`, and the transparency log: `/checkpoint` and `/tile/…` (`tlog.rs`).
//! Tests call `app` with `oneshot`, no socket needed. Everything here reaches the application only
//! through [`App`] and the schema.

mod clients;
mod graphiql;
mod serve;
mod tlog;
mod web;
mod ws;

pub(crate) use serve::serve;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::{App, bearer};
use crate::error::ApiError;
use crate::schema::{AppSchema, Executor, Pools, RequestBounds, SchemaLimits, build_schema};

/// Limits and switches of the HTTP server (the application's own policies are
/// [`crate::app::AppConfig`]).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Origins allowed to call the API from a browser (`*` for any). Empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// The largest request body accepted, in bytes; also the largest WebSocket message.
    pub max_body_bytes: usize,
    /// How long one HTTP request may take.
    pub request_timeout: Duration,
    /// The limits a query must keep.
    pub limits: SchemaLimits,
    /// How long a graphql-transport-ws connection may stay open without `connection_init` before
    /// it is closed with 4408.
    pub ws_init_timeout: Duration,
    /// How long a client may take to send a request's head, counted from when the server starts
    /// waiting for it: on a new connection, and on a kept-alive one after its last response (so
    /// this is also the idle keep-alive timeout). A slowloris client is cut off after it.
    pub header_timeout: Duration,
    /// The most connections open at once, WebSockets included; one more is answered 503
    /// (`OVERLOADED`) and closed at once.
    pub max_connections: usize,
    /// After SIGTERM, how long requests in flight may take to finish before the server exits anyway.
    pub shutdown_grace: Duration,
    /// The most GraphQL requests one client (a valid token, else an IP address) may have running at
    /// once; one more is answered 429 (`TOO_MANY_REQUESTS`).
    pub max_requests_per_client: usize,
    /// The largest GraphQL answer, in bytes of JSON; a larger one is refused (`RESPONSE_TOO_LARGE`).
    pub max_response_bytes: usize,
    /// How many GraphQL executions run off the async workers at once.
    pub pools: Pools,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            max_body_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(30),
            limits: SchemaLimits::default(),
            ws_init_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: 2_048,
            shutdown_grace: Duration::from_secs(10),
            max_requests_per_client: 16,
            max_response_bytes: 8 * 1024 * 1024,
            pools: Pools::default(),
        }
    }
}

#[derive(Clone)]
struct Shared {
    app: Arc<App>,
    schema: AppSchema,
    executor: Executor,
    config: Arc<ServerConfig>,
    clients: Arc<clients::Clients>,
    /// Turns true when the server begins its graceful shutdown.
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    /// Executes a GraphQL request off the async workers, until the request's deadline.
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let deadline = Instant::now() + self.config.request_timeout;
        let bounds = RequestBounds { deadline, max_response_bytes: self.config.max_response_bytes };
        self.executor.execute(request, bounds).await
    }
}

/// The router over an application. Routers built over one [`App`] share its state and write lock.
pub fn app(app: Arc<App>, config: ServerConfig) -> Router {
    // No server loop to shut down: the sender is dropped, and nothing ever shuts down.
    let (_, shutdown) = tokio::sync::watch::channel(false);
    router(app, config, shutdown)
}

/// [`app`], with the signal of the server loop's graceful shutdown (`serve.rs`).
fn router(app: Arc<App>, config: ServerConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Router {
    let schema = build_schema(app.clone(), config.limits);
    let executor = Executor::new(schema.clone(), config.pools);
    let cors = cors_layer(&config.cors_origins);
    let (timeout, max_body) = (config.request_timeout, config.max_body_bytes);
    let clients = Arc::new(clients::Clients::new(config.max_requests_per_client));
    let shared = Shared { app, schema, executor, config: Arc::new(config), clients, shutdown };
    Router::new()
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .route(
            "/graphql",
            get(graphiql::page)
                .post(graphql_post)
                .layer(middleware::from_fn_with_state(shared.clone(), clients::limit_per_client)),
        )
        .route("/graphiql/{file}", get(graphiql::file))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/checkpoint", get(tlog::checkpoint))
        .route("/checkpoint/witnessed", get(tlog::witnessed))
        .route("/checkpoint/cosignature", axum::routing::post(tlog::cosignature))
        .route("/tile/{*path}", get(tlog::tile))
        .layer(middleware::from_fn_with_state(shared.clone(), measure))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::map_response(refusal_body))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .with_state(shared)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]);
    if origins.iter().any(|o| o == "*") {
        base.allow_origin(AllowOrigin::any())
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        base.allow_origin(AllowOrigin::list(list))
    }
}

async fn measure(State(shared): State<Shared>, request: axum::extract::Request, next: Next) -> Response {
    let start = Instant::now();
    let response = next.run(request).await;
    shared.app.metrics().request(start.elapsed());
    response
}

async fn graphql_post(
    State(shared): State<Shared>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    // Only JSON is a GraphQL request here (the GraphQL-over-HTTP spec's media type; the schema takes
    // no uploads). async-graphql would read any body as JSON whatever its declared type.
    let media_type = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let is_json = media_type
        .as_deref()
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        let got = media_type.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"));
        let message = format!("not a GraphQL request: the Content-Type must be application/json, got {got}");
        return refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let request = match request {
        Ok(request) => request.into_inner(),
        Err(rejection) => return request_error(&rejection.0),
    };
    if request.query.trim().is_empty() {
        let message = "not a GraphQL request: it has no \"query\"; send {\"query\": \"{ ledger { position } }\"}";
        return refusal(StatusCode::BAD_REQUEST, message.to_owned());
    }
    let token = bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let caller = shared.app.authenticate(token);
    let mut response = GraphQLResponse::from(shared.execute(request.data(caller)).await).into_response();
    // GraphQL over HTTP: a client that accepts only `application/json` gets `application/json`
    // (async-graphql answers `application/graphql-response+json` whatever was asked).
    if accepts_only_json(&headers) {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}

/// Whether the request's `Accept` names `application/json` and not
/// `application/graphql-response+json` (nor a wildcard that would cover it).
fn accepts_only_json(headers: &HeaderMap) -> bool {
    let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let types: Vec<String> =
        accept.split(',').filter_map(|t| t.split(';').next()).map(|t| t.trim().to_ascii_lowercase()).collect();
    types.iter().any(|t| t == "application/json")
        && !types.iter().any(|t| t == "application/graphql-response+json" || t == "*/*" || t == "application/*")
}

/// A request that is not a GraphQL request at all: a readable GraphQL-shaped error with a code,
/// 413 for a body over the limit (however the client sent it), 400 otherwise.
fn request_error(error: &async_graphql::ParseRequestError) -> Response {
    use async_graphql::ParseRequestError as E;
    let too_large = match error {
        E::PayloadTooLarge => true,
        // axum reports a body cut by the limit as an I/O error while streaming it.
        E::Io(e) => e.to_string().contains("length limit exceeded"),
        _ => false,
    };
    let (status, message) = if too_large {
        (StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than the server accepts".to_owned())
    } else {
        let detail = match error {
            // JSON of the wrong shape: serde's own words name async-graphql's Rust types
            // ("untagged enum BatchRequest"), so say what the shape should be instead.
            E::InvalidRequest(e) => match e.downcast_ref::<serde_json::Error>() {
                Some(json) if json.classify() == serde_json::error::Category::Data => {
                    "expected a JSON object with a string \"query\" and optionally \"variables\" (an object) \
                     and \"operationName\" (a string)"
                        .to_owned()
                }
                Some(json) => format!("the body is not JSON: {json}"),
                None => e.to_string(),
            },
            other => other.to_string(),
        };
        (StatusCode::BAD_REQUEST, format!("not a GraphQL request: {detail}"))
    };
    refusal(status, message)
}

/// A GraphQL-shaped refusal of a whole request: `status`, one error with `message` and the code
/// `INVALID_INPUT`.
fn refusal(status: StatusCode, message: String) -> Response {
    (status, axum::Json(ApiError::invalid(message).into_response_body())).into_response()
}

/// tower-http's body limit answers a `Content-Length` over the limit itself, in plain text, before
/// any handler runs, and its timeout answers 408 with no body at all; give those answers the same
/// GraphQL-shaped body and code as every other refusal.
async fn refusal_body(response: Response) -> Response {
    let json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        return request_error(&async_graphql::ParseRequestError::PayloadTooLarge);
    }
    if response.status() == StatusCode::REQUEST_TIMEOUT && !json {
        let message = "the request's deadline passed before its answer was ready, and its work was stopped; ask for less per request";
        let body = ApiError::new(crate::error::Code::Timeout, message).into_response_body();
        return (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    }
    response
}

async fn graphql_ws(
    State(shared): State<Shared>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    ws::serve(upgrade, &headers, protocol, shared.schema.clone(), &shared.app, &shared.config, shared.shutdown.clone())
}

async fn healthz(State(shared): State<Shared>) -> Response {
    let head = shared.app.head();
    let body = serde_json::json!({"status": "ok", "position": head.position.get(), "headHash": head.hash.to_string()});
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Readiness, apart from liveness: 200 when the projections the answers come from have caught up
/// with the ledger's head, 503 (with both positions) while they have not.
async fn readyz(State(shared): State<Shared>) -> Response {
    let head = shared.app.head().position.get();
    let applied = match shared.app.projections() {
        Ok(projections) => projections.head().get(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let ready = applied == head;
    let body = serde_json::json!({"status": if ready { "ready" } else { "catching-up" }, "position": head, "applied": applied});
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(shared): State<Shared>) -> Response {
    let text = shared.app.metrics().render(shared.app.head().position.get());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
