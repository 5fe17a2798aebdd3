//! The dashboard page (issue 8): `GET /` and `GET /assets/{file}`, served from files embedded in the
//! binary at build time, so the page works without a CDN or any file next to the binary.
//!
//! The page is plain HTML, CSS and JavaScript modules in `graphql/web/`, with no build step. It talks to
//! the server only through the public GraphQL API (`POST /graphql` and `/graphql/ws`), which keeps it an
//! example that any other dashboard can copy.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    /// The name under `/assets/` (the page itself is served at `/`).
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// A hash of `body`, computed at compile time, for the `ETag`.
    etag: u64,
}

impl Asset {
    const fn new(name: &'static str, content_type: &'static str, body: &'static str) -> Self {
        Self { name, content_type, body, etag: fnv1a(body.as_bytes()) }
    }
}

/// FNV-1a, 64 bits: a `const fn` so every `ETag` is fixed when the binary is built. It only has to
/// tell versions of our own files apart, not resist an attacker.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const JS: &str = "text/javascript; charset=utf-8";

static INDEX: Asset = Asset::new("index.html", "text/html; charset=utf-8", include_str!("../../web/index.html"));

static ASSETS: &[Asset] = &[
    Asset::new("app.js", JS, include_str!("../../web/app.js")),
    Asset::new("api.js", JS, include_str!("../../web/api.js")),
    Asset::new("i18n.js", JS, include_str!("../../web/i18n.js")),
    Asset::new("timeline.js", JS, include_str!("../../web/timeline.js")),
    Asset::new("style.css", "text/css; charset=utf-8", include_str!("../../web/style.css")),
    Asset::new("favicon.svg", "image/svg+xml", include_str!("../../web/favicon.svg")),
];

/// What the page may load and connect to: only this server. `connect-src 'self'` covers the
/// WebSocket on the same host and port in the browsers we support; inline scripts and styles are
/// refused, so nothing injected through event data can run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the dashboard page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    let mut response = serve(&INDEX, &headers);
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `GET /assets/{file}`: a script, the style sheet or the icon of the page.
pub(crate) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => serve(asset, &headers),
        None => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such asset\n")
            .into_response(),
    }
}

/// The file, or 304 when the client already has this version. The names carry no hash, so the
/// browser must revalidate (`no-cache`); the `ETag` makes that a cheap 304 until the binary changes.
fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, "no-cache".to_owned()),
        (header::ETAG, etag),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (StatusCode::OK, common, [(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use ledger::{Ledger, LedgerConfig};
    use tower::ServiceExt;

    use super::*;
    use crate::app::{App, AppConfig, TokenStore};
    use crate::http::{ServerConfig, app};

    /// The real router over an empty ledger, so the tests also check that `app()` routes to the page.
    fn router() -> (tempfile::TempDir, axum::Router) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path().join("ledger"), LedgerConfig::default()).expect("ledger");
        let tokens = Arc::new(TokenStore::open(dir.path()).expect("tokens"));
        let state = App::new(ledger, tokens, AppConfig::default()).expect("state");
        (dir, app(state, ServerConfig::default()))
    }

    async fn get(router: &axum::Router, path: &str, etag: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::get(path);
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, headers, String::from_utf8(bytes.to_vec()).expect("utf-8"))
    }

    /// Every `/assets/…` file named in `text` (attributes of the page) and every relative module
    /// import (`from './x.js'` in the scripts).
    fn references(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for piece in text.split(['"', '\'']) {
            if let Some(name) = piece.strip_prefix("/assets/") {
                // `favicon.svg#mark` names a part of a file; the file is what is fetched.
                found.push(name.split(['#', '?']).next().unwrap_or(name).to_owned());
            } else if let Some(name) = piece.strip_prefix("./") {
                if name.ends_with(".js") {
                    found.push(name.to_owned());
                }
            }
        }
        found
    }

    #[tokio::test]
    async fn every_asset_the_page_references_is_served_with_its_content_type() {
        let (_dir, router) = router();
        let (status, headers, page) = get(&router, "/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        let mut wanted = references(&page);
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            wanted.extend(references(asset.body));
        }
        assert!(wanted.iter().any(|n| n == "app.js") && wanted.iter().any(|n| n == "style.css"), "{wanted:?}");
        for name in wanted {
            let (status, headers, body) = get(&router, &format!("/assets/{name}"), None).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert!(!body.trim().is_empty(), "{name} is empty");
            let expected = match name.rsplit('.').next() {
                Some("js") => JS,
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                other => panic!("unexpected asset type {other:?}"),
            };
            assert_eq!(headers[header::CONTENT_TYPE], expected, "{name}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        }
    }

    #[tokio::test]
    async fn an_unchanged_file_is_not_sent_again_and_an_unknown_one_is_404() {
        let (_dir, router) = router();
        let (_, headers, _) = get(&router, "/assets/app.js", None).await;
        let etag = headers[header::ETAG].to_str().expect("etag").to_owned();
        let (status, _, body) = get(&router, "/assets/app.js", Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        let (status, _, _) = get(&router, "/assets/app.js", Some("\"0000000000000000\"")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = get(&router, "/assets/nothing.js", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = get(&router, "/assets/..%2Fweb.rs", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_page_loads_nothing_from_another_host() {
        // The SVG namespace is a name that `createElementNS` needs, never fetched.
        const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";
        for asset in std::iter::once(&INDEX).chain(ASSETS.iter()) {
            let text = asset.body.replace(SVG_NAMESPACE, "");
            for scheme in ["http://", "https://", "ws://", "wss://"] {
                assert!(!text.contains(scheme), "{} mentions {scheme}", asset.name);
            }
        }
    }
}
