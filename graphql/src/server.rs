//! The HTTP side: `fn app(..) -> Router` with `POST /graphql`, GraphiQL on `GET /graphql`,
//! subscriptions on `/graphql/ws`, `/healthz` and `/metrics`. Tests call `app` with `oneshot`, no
//! socket needed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use ledger::Ledger;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Caller, TokenStore, bearer};
use crate::error::{ApiError, Code};
use crate::live::LiveProjections;
use crate::metrics::Metrics;
use crate::schema::{AppSchema, build_schema};

/// Limits and switches of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Require a token (any role) for reads too. Off by default: the portal is public.
    pub reads_require_token: bool,
    /// Origins allowed to call the API from a browser (`*` for any). Empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// The largest request body accepted, in bytes; also the largest WebSocket message.
    pub max_body_bytes: usize,
    /// How long one HTTP request may take.
    pub request_timeout: Duration,
    /// The deepest query accepted.
    pub max_depth: usize,
    /// The most complex query accepted (async-graphql's complexity: one per field by default).
    pub max_complexity: usize,
    /// How long a graphql-transport-ws connection may stay open without `connection_init` before
    /// it is closed with 4408.
    pub ws_init_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            reads_require_token: false,
            cors_origins: Vec::new(),
            max_body_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(30),
            max_depth: 16,
            max_complexity: 5_000,
            ws_init_timeout: Duration::from_secs(10),
        }
    }
}

/// What every resolver can reach.
#[derive(Debug)]
pub struct AppState {
    /// The ledger.
    pub ledger: Ledger,
    /// The projections, kept up to date with the ledger.
    pub projections: Arc<LiveProjections>,
    /// The tokens.
    pub tokens: Arc<TokenStore>,
    /// The configuration.
    pub config: ServerConfig,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// The state for a ledger: folds it into projections (blocking) and starts nothing. Call
    /// [`AppState::spawn_follower`] from inside a Tokio runtime to keep projections current.
    pub fn new(ledger: Ledger, tokens: Arc<TokenStore>, config: ServerConfig) -> Result<Arc<Self>, ApiError> {
        let projections = LiveProjections::load(ledger.clone())?;
        Ok(Arc::new(Self { ledger, projections, tokens, config, metrics: Arc::new(Metrics::default()) }))
    }

    /// Starts the task that catches the projections up whenever the ledger's head moves.
    pub fn spawn_follower(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.projections.clone().follow())
    }

    /// The state from a resolver's context.
    pub fn from_ctx<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Arc<AppState>, async_graphql::Error> {
        ctx.data::<Arc<AppState>>().map_err(|_| ApiError::internal(&"schema built without AppState").into())
    }

    /// The state for a read: [`AppState::from_ctx`] plus [`AppState::require_read`], so no read
    /// resolver can forget the check.
    pub fn readable<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Arc<AppState>, async_graphql::Error> {
        let state = Self::from_ctx(ctx)?;
        state.require_read(ctx)?;
        Ok(state)
    }

    /// Refuses a read when reads need a token and the caller has none.
    pub fn require_read(&self, ctx: &async_graphql::Context<'_>) -> Result<(), ApiError> {
        if !self.config.reads_require_token {
            return Ok(());
        }
        caller(ctx).require_token().map(|_| ())
    }
}

/// The caller of the current request (anonymous if the request carried none).
pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> &'a Caller {
    static ANONYMOUS: Caller = Caller::Anonymous;
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}

#[derive(Clone)]
struct Shared {
    state: Arc<AppState>,
    schema: AppSchema,
}

/// The router. `state` is shared with the schema; build one per server.
pub fn app(state: Arc<AppState>) -> Router {
    let schema = build_schema(state.clone());
    let config = state.config.clone();
    let shared = Shared { state, schema };
    let cors = cors_layer(&config.cors_origins);
    Router::new()
        .route("/", get(crate::web::index))
        .route("/assets/{file}", get(crate::web::asset))
        .route("/graphql", get(graphiql).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(shared.clone(), measure))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(middleware::map_response(body_limit_refusal))
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
    shared.state.metrics.request(start.elapsed());
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
    let caller = shared.state.tokens.authenticate(token);
    let mut response = shared.schema.execute(request.data(caller)).await;
    with_codes(&mut response.errors);
    GraphQLResponse::from(response).into_response()
}

/// Gives every error a code and a message of readable length. Resolver errors carry their code
/// already; what is left are async-graphql's own parse and validation errors (syntax, unknown
/// fields, wrong enum values, malformed scalars, depth and complexity limits), all of which are the
/// client's input.
fn with_codes(errors: &mut [async_graphql::ServerError]) {
    for error in errors {
        error.message = crate::error::readable_message(&error.message);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", Code::InvalidInput.as_str());
        }
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
    let body =
        serde_json::json!({"errors": [{"message": message, "extensions": {"code": Code::InvalidInput.as_str()}}]});
    (status, axum::Json(body)).into_response()
}

/// tower-http's body limit answers a `Content-Length` over the limit itself, in plain text, before
/// any handler runs; give that answer the same GraphQL-shaped body and code as every other refusal.
async fn body_limit_refusal(response: Response) -> Response {
    let json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        return request_error(&async_graphql::ParseRequestError::PayloadTooLarge);
    }
    response
}

async fn graphql_ws(
    State(shared): State<Shared>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    crate::ws::serve(upgrade, &headers, protocol, shared.schema.clone(), &shared.state)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish())
}

async fn healthz(State(shared): State<Shared>) -> Response {
    let head = shared.state.ledger.head();
    let body = serde_json::json!({"status": "ok", "position": head.position.get(), "headHash": head.hash.to_string()});
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn metrics(State(shared): State<Shared>) -> Response {
    let text = shared.state.metrics.render(shared.state.ledger.head().position.get());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
