//! GraphiQL at `GET /graphql`, served entirely from the binary: the page, our start script and the
//! vendored GraphiQL and React builds (`third_party/graphiql/`), under `GET /graphiql/{file}`. No
//! CDN, no other host: it works on a machine with no network, and the page's policy lets it load
//! and connect to this server only.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The vendored GraphiQL version: the files' `ETag`, which changes whenever they do.
const VERSION: &str = "graphiql-3.8.3+react-18.3.1+1";

const PAGE: &str = include_str!("../../web/graphiql.html");

/// `(name, content type, body)` of every file under `/graphiql/`.
static FILES: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../third_party/graphiql/graphiql.min.js"),
    ),
    ("graphiql.min.css", "text/css; charset=utf-8", include_bytes!("../../../third_party/graphiql/graphiql.min.css")),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../third_party/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../third_party/graphiql/react-dom.production.min.js"),
    ),
    ("graphiql-init.js", "text/javascript; charset=utf-8", include_bytes!("../../web/graphiql-init.js")),
];

/// Only this server: scripts from its files, styles also inline (GraphiQL's editor sets them),
/// fetches and the WebSocket to it alone.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// `GET /graphql`: the IDE.
pub(super) async fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

/// `GET /graphiql/{file}`.
pub(super) async fn file(Path(name): Path<String>, headers: axum::http::HeaderMap) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let etag = format!("\"{VERSION}\"");
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut response = ([(header::CONTENT_TYPE, *content_type)], *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}
