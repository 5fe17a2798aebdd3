//! The HTTP side: `fn app(..) -> Router` with GraphQL over HTTP on `/graphql`, GraphiQL on a
//! `GET /graphql` without a query (`graphiql.rs`, served from the binary, no CDN),
//! subscriptions on `/graphql/ws` (`ws.rs`), the dashboard (`web.rs`), `/healthz`, `/readyz`,
//! `/metrics`, the transparency log: `/checkpoint` and `/tile/…` (`tlog.rs`), and the operations
//! endpoints under `/admin/` through which the command line works while a server runs (`admin.rs`).
//!
//! GraphQL over HTTP follows the GraphQL-over-HTTP spec (graphql-http's audit passes with no
//! warning: `scripts/graphql-http-audit/`): `POST` with a JSON body, `GET` with `query`,
//! `variables`, `operationName` and `extensions` in the URL (queries only: a mutation over `GET` is
//! `405` with `Allow: POST`); the answer in `application/graphql-response+json` when `Accept`
//! prefers it, `application/json` otherwise; a request error (nothing executed: syntax, validation,
//! a missing variable, a limit, an unknown persisted query) without `data`, and `400` in the
//! GraphQL response type (`200` in `application/json`). Automatic persisted queries (the hash in
//! `extensions.persistedQuery`) work over both methods; the schema's executor keeps the documents.
//! Tests call `app` with `oneshot`, no socket needed. Everything here reaches the application only
//! through [`App`] and the schema.

mod admin;
mod answers;
mod clients;
mod graphiql;
mod serve;
mod tlog;
mod web;
mod ws;

pub use serve::serve;
pub use ws::MAX_SUBSCRIPTIONS;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub(crate) use admin::EXPORT_THROUGH;

use crate::app::{App, bearer};
use crate::error::{ApiError, is_request_error};
use crate::schema::{Executor, PersistedQueries, Pools, ReadOnly, RequestBounds, SchemaLimits, build_schema};

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
    /// The largest file `POST /admin/import` accepts, in bytes.
    pub max_import_bytes: usize,
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
            max_import_bytes: 1 << 30,
            header_timeout: Duration::from_secs(10),
            max_connections: 2_048,
            shutdown_grace: Duration::from_secs(10),
            max_requests_per_client: 16,
            max_response_bytes: 8 * 1024 * 1024,
            pools: Pools::default(),
        }
    }
}

/// The state every route and middleware shares. One `Arc`: axum clones the state into each
/// request's extractors and layers several times a request, and one reference count is cheaper
/// than each of the fields' own (`bench --only writers`, session 28: about 5 % of the 64 HTTP
/// writers' CPU went to cloning and dropping the fields).
#[derive(Clone)]
struct Shared(Arc<SharedState>);

impl std::ops::Deref for Shared {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

struct SharedState {
    app: Arc<App>,
    executor: Executor,
    config: Arc<ServerConfig>,
    clients: Arc<clients::Clients>,
    /// The slots of the operations endpoints (`admin.rs`).
    operations: Arc<admin::Operations>,
    /// Turns true when the server begins its graceful shutdown.
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Large answers kept by question (`answers.rs`).
    answers: Arc<answers::Answers>,
}

impl SharedState {
    /// Executes a GraphQL request off the async workers, until the request's deadline.
    /// Runs a request; `parsed` is its document when parsed already (`graphql_execute`).
    async fn execute(
        &self,
        request: async_graphql::Request,
        parsed: Option<async_graphql::parser::types::ExecutableDocument>,
    ) -> async_graphql::Response {
        self.executor.execute(request, parsed, self.config.request_bounds()).await
    }
}

impl ServerConfig {
    /// The bounds of a request that begins now: its deadline and the largest answer. Requests over
    /// HTTP and operations over the WebSocket alike.
    pub(crate) fn request_bounds(&self) -> RequestBounds {
        RequestBounds { deadline: Instant::now() + self.request_timeout, max_response_bytes: self.max_response_bytes }
    }
}

/// Compression of GraphQL answers (and GraphiQL's page) of more than [`COMPRESS_ABOVE`] bytes, in
/// gzip or brotli as the client's `Accept-Encoding` asks; smaller ones, and every other route (the
/// WebSocket, the streamed export, tiles), go as they are. Level 4 of either: a county-wide answer
/// shrinks about tenfold in a few milliseconds, where brotli's highest level would take longer
/// than computing the answer.
fn compression() -> tower_http::compression::CompressionLayer<tower_http::compression::predicate::SizeAbove> {
    use tower_http::compression::{CompressionLayer, CompressionLevel, predicate::SizeAbove};
    CompressionLayer::new().quality(CompressionLevel::Precise(4)).compress_when(SizeAbove::new(COMPRESS_ABOVE))
}

/// The smallest answer worth compressing, in bytes.
const COMPRESS_ABOVE: u16 = 1024;

/// The router over an application. Routers built over one [`App`] share its state and write lock.
pub fn app(app: Arc<App>, config: ServerConfig) -> Router {
    // No server loop to shut down: the sender is dropped, and nothing ever shuts down.
    let (_, shutdown) = tokio::sync::watch::channel(false);
    router(app, config, shutdown)
}

/// [`app`], with the signal of the server loop's graceful shutdown (`serve.rs`).
fn router(app: Arc<App>, config: ServerConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Router {
    let schema = build_schema(app.clone(), config.limits);
    let executor = Executor::new(schema, app.clone(), config.pools, PersistedQueries::new(), config.limits.max_cost);
    let cors = cors_layer(&config.cors_origins);
    let (timeout, max_body, max_import) = (config.request_timeout, config.max_body_bytes, config.max_import_bytes);
    let clients = Arc::new(clients::Clients::new(config.max_requests_per_client));
    let operations = Arc::new(admin::Operations::default());
    let answers = Arc::default();
    let shared = Shared(Arc::new(SharedState {
        app,
        executor,
        config: Arc::new(config),
        clients,
        operations,
        shutdown,
        answers,
    }));
    Router::new()
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .route(
            "/graphql",
            get(graphql_get)
                .post(graphql_post)
                .layer::<_, std::convert::Infallible>(middleware::from_fn_with_state(
                    shared.clone(),
                    clients::limit_per_client,
                ))
                .layer::<_, std::convert::Infallible>(compression()),
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
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        // The operations endpoints keep their own body limit and no timeout (`admin.rs`).
        .merge(admin::routes(max_import))
        .layer(middleware::map_response(refusal_body))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        // Outermost, so that every route is measured and logged with what the client saw (a 408
        // from the timeout, a 413 from the body limit).
        .layer(middleware::from_fn_with_state(shared.clone(), measure))
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

/// The response header carrying the request's id (the client's own, if it sent a sane one).
const REQUEST_ID: &str = "x-request-id";

/// The name of the GraphQL operation a response answered, left by the handler for the access log.
#[derive(Debug, Clone)]
struct OperationName(String);

/// The metrics and the access log of every request: one line at `info` (target
/// `samverkan::access`) with the request id, method, path, route, GraphQL operation, status and
/// duration; the id is also returned in `x-request-id`.
async fn measure(State(shared): State<Shared>, request: axum::extract::Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(request.headers());
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().clone();
    let path: String = request.uri().path().chars().take(200).collect();
    let mut response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    shared.app.metrics().request(&route, method.as_str(), status, elapsed);
    let operation = response.extensions().get::<OperationName>().map(|o| o.0.as_str()).unwrap_or("");
    tracing::info!(
        target: "samverkan::access",
        request_id = %id.to_str().unwrap_or("-"),
        method = %method,
        path = %path,
        route = %route,
        operation,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The request's id: the client's `x-request-id` when it is 1–64 characters of letters, digits,
/// `-`, `_` and `.`, else a new UUID.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let sane = headers.get(REQUEST_ID).filter(|v| {
        let bytes = v.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 64
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    match sane {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("-")),
    }
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
    graphql_execute(&shared, &headers, request, false).await
}

/// The GraphQL parameters of `GET /graphql?…`, named as the GraphQL-over-HTTP spec names them;
/// `variables` and `extensions` are JSON text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParameters {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql`: a query in the URL (GraphQL over HTTP; never a mutation, which is `405` with
/// `Allow: POST`), or, without `query` and `extensions` (a browser opening the address), the IDE.
async fn graphql_get(
    State(shared): State<Shared>,
    headers: HeaderMap,
    parameters: Result<Query<GetParameters>, QueryRejection>,
) -> Response {
    let parameters = match parameters {
        Ok(Query(parameters)) => parameters,
        Err(rejection) => {
            let message = format!("not a GraphQL request: {}", rejection.body_text());
            return refusal(StatusCode::BAD_REQUEST, message);
        }
    };
    if parameters.query.is_none() && parameters.extensions.is_none() {
        return graphiql::page().await;
    }
    // The parameters as the JSON object a POST body would be, read by the same rules, so that GET
    // and POST refuse the same shapes with the same messages.
    let mut body = serde_json::Map::new();
    body.insert("query".to_owned(), parameters.query.unwrap_or_default().into());
    if let Some(name) = parameters.operation_name {
        body.insert("operationName".to_owned(), name.into());
    }
    for (key, text) in [("variables", parameters.variables), ("extensions", parameters.extensions)] {
        let Some(text) = text else { continue };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) => body.insert(key.to_owned(), value),
            Err(e) => {
                let message = format!("not a GraphQL request: the {key} parameter is not JSON: {e}");
                return refusal(StatusCode::BAD_REQUEST, message);
            }
        };
    }
    match serde_json::from_value::<async_graphql::Request>(serde_json::Value::Object(body)) {
        Ok(request) => graphql_execute(&shared, &headers, request, true).await,
        Err(e) => request_error(&async_graphql::ParseRequestError::InvalidRequest(Box::new(e))),
    }
}

/// Runs a GraphQL request, `read_only` for `GET`, and answers as the GraphQL-over-HTTP spec says:
/// in the media type `Accept` asks for; a request error (one that failed before execution: parse,
/// validation, variables, limits, an unknown persisted query) has no `data` key and, in
/// `application/graphql-response+json`, the status 400 (200 in `application/json`, which older
/// clients read only on success); a mutation over `GET` is 405 with `Allow: POST`.
async fn graphql_execute(
    shared: &Shared,
    headers: &HeaderMap,
    request: async_graphql::Request,
    read_only: bool,
) -> Response {
    // A request sent by its persisted query's hash alone has no text; the schema finds it.
    if request.query.trim().is_empty() && !request.extensions.contains_key("persistedQuery") {
        let message = "not a GraphQL request: it has no \"query\"; send {\"query\": \"{ ledger { position } }\"}";
        return refusal(StatusCode::BAD_REQUEST, message.to_owned());
    }
    let token = bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let caller = shared.app.authenticate(token);
    let media = ResponseMediaType::accepted(headers);
    let operation = request.operation_name.clone();
    let started = Instant::now();
    // Parsed once: to see whether the answer may be kept, and then for the request's checks (a
    // document that does not parse is parsed again there, for its error).
    let parsed = async_graphql::parser::parse_query(&request.query).ok();
    let key = answer_key(shared, &request, parsed.as_ref(), &caller);
    let gzip = answers::accepts_gzip(headers);
    if let Some(answer) = key.as_ref().and_then(|key| shared.answers.get(key)) {
        if let Some(response) = kept_answer(&answer, None, gzip, media, operation.clone()) {
            shared.app.metrics().operation(operation.as_deref(), started.elapsed(), &[]);
            shared.app.metrics().answer_reused();
            return response;
        }
    }
    let mut request = request.data(caller);
    let marker = ReadOnly::default();
    if read_only {
        request = request.data(marker.clone());
    }
    let response = shared.execute(request, parsed).await;
    let codes: Vec<&str> = response
        .errors
        .iter()
        .map(|e| match e.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(async_graphql::Value::String(code)) => code.as_str(),
            _ => "UNKNOWN",
        })
        .collect();
    shared.app.metrics().operation(operation.as_deref(), started.elapsed(), &codes);
    // Kept only if nothing it rests on moved while it ran (see `answers.rs`).
    let keep = key.filter(|key| {
        response.is_ok()
            && response.http_headers.is_empty()
            && response.cache_control.value().is_none()
            && answer_key_parts(shared).is_some_and(|(head, today)| head == key.head() && today == key.today())
    });
    if let Some(key) = keep {
        if let Ok(body) = serde_json::to_vec(&response) {
            let answer = (body.len() >= answers::KEEP_FROM).then(|| answers::Answer::compress(&body).ok()).flatten();
            let Some(answer) = answer else {
                return labelled(Response::new(axum::body::Body::from(body)), media, operation);
            };
            shared.app.metrics().answers_kept(shared.answers.keep(key, body.len(), answer.clone()));
            if let Some(response) = kept_answer(&answer, Some(body), gzip, media, operation.clone()) {
                return response;
            }
        }
    }
    let answer = if is_request_error(&response) {
        let status = if marker.refused_a_mutation() {
            StatusCode::METHOD_NOT_ALLOWED
        } else if media == ResponseMediaType::GraphqlResponseJson {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        // Execution never began, so there is no `data` entry at all (the GraphQL spec's response
        // section), whichever the media type.
        let body = RequestErrorBody { errors: &response.errors, extensions: &response.extensions };
        let mut answer = (status, axum::Json(body)).into_response();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            answer.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        answer
    } else {
        GraphQLResponse::from(response).into_response()
    };
    labelled(answer, media, operation)
}

/// An answer with the media type `Accept` chose and, for the access log, the operation's name.
fn labelled(mut answer: Response, media: ResponseMediaType, operation: Option<String>) -> Response {
    answer.headers_mut().insert(header::CONTENT_TYPE, media.header_value());
    if let Some(name) = operation {
        answer.extensions_mut().insert(OperationName(name.chars().take(100).collect()));
    }
    answer
}

/// The applied head and today, if an answer computed now may be kept under them: the projections
/// have applied everything the ledger holds, and the clock is past the head's record time (so that
/// "as known now" sees every event up to the head).
fn answer_key_parts(shared: &Shared) -> Option<(u64, ledger::Date)> {
    let head = shared.app.head();
    let applied = shared.app.projections().ok()?.head().get();
    let settled = applied == head.position.get() && ledger::Timestamp::now() > head.recorded_at;
    settled.then(|| (applied, ledger::Date::today_utc()))
}

/// The key under which the answer to `request` may be kept, if it may.
fn answer_key(
    shared: &Shared,
    request: &async_graphql::Request,
    document: Option<&async_graphql::parser::types::ExecutableDocument>,
    caller: &crate::app::Caller,
) -> Option<answers::Key> {
    let (head, today) = answer_key_parts(shared)?;
    answers::Key::of(request, document, caller, head, today)
}

/// A successful answer from its kept form, as `GraphQLResponse` and the compression layer would
/// give it: its gzip bytes as they are to a client that accepts gzip, otherwise the body (`plain`,
/// or decompressed), which the layer may compress as the client asks. `None` if the kept bytes do
/// not decompress (then the engine answers).
fn kept_answer(
    answer: &answers::Answer,
    plain: Option<Vec<u8>>,
    gzip: bool,
    media: ResponseMediaType,
    operation: Option<String>,
) -> Option<Response> {
    let response = if gzip {
        let mut response = Response::new(axum::body::Body::from(answer.gzip()));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    } else {
        let body = match plain {
            Some(body) => body,
            None => answer.plain().ok()?,
        };
        Response::new(axum::body::Body::from(body))
    };
    Some(labelled(response, media, operation))
}

/// The body of a request error: errors, and extensions if any, but no `data`.
#[derive(Serialize)]
struct RequestErrorBody<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

/// The media types of a GraphQL response over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMediaType {
    /// `application/json`: every client reads it; request errors answer 200.
    Json,
    /// `application/graphql-response+json`: the spec's own; request errors answer 4xx.
    GraphqlResponseJson,
}

impl ResponseMediaType {
    /// The media type the request's `Accept` asks for: `application/graphql-response+json` when
    /// it names that type with a quality at least that of `application/json`; `application/json`
    /// otherwise – also with no `Accept` or only a wildcard (the spec's advice, since a client that
    /// names nothing may be one that predates the GraphQL response type).
    fn accepted(headers: &HeaderMap) -> Self {
        let (mut json, mut graphql) = (None::<f32>, None::<f32>);
        for value in headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()) {
            for item in value.split(',') {
                let mut parts = item.split(';');
                let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                let slot = match essence.as_str() {
                    "application/json" => &mut json,
                    "application/graphql-response+json" => &mut graphql,
                    _ => continue,
                };
                *slot = Some(slot.map_or(quality, |q| q.max(quality)));
            }
        }
        match graphql {
            Some(q) if q > 0.0 && json.is_none_or(|j| q >= j) => Self::GraphqlResponseJson,
            _ => Self::Json,
        }
    }

    fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Json => "application/json",
            Self::GraphqlResponseJson => "application/graphql-response+json",
        })
    }
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

/// The WebSocket endpoint. `GraphQLProtocol` is extracted only for its refusal (400) of an upgrade
/// that names no protocol the engine speaks; `ws::serve` reads the choice from the header again.
async fn graphql_ws(
    State(shared): State<Shared>,
    headers: HeaderMap,
    _protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    ws::serve(upgrade, &headers, shared.executor.clone(), &shared.app, &shared.config, shared.shutdown.clone())
}

async fn healthz(State(shared): State<Shared>) -> Response {
    let head = shared.app.head();
    // Projections that can no longer read their records refuse every answer: not alive, so that a
    // supervisor restarts the server (which then folds the ledger instead of the damaged snapshot).
    if let Err(e) = shared.app.health() {
        let body = serde_json::json!({"status": "failed", "reason": e.message, "position": head.position.get()});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
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
