//! The GraphQL server over HTTP, through the real router (`oneshot`, no socket): `ledger`, the Relay
//! `events` connection (paging with opaque cursors, stream and type filters) and `event(id)` against
//! the real fixtures; every kind of bad input (malformed cursor, page size out of range, unknown
//! type, malformed stream, invalid UUID, syntax error, over-deep and over-complex queries, oversized
//! and non-JSON bodies) giving a clear error while the server keeps serving; `/healthz`, `/metrics`
//! and GraphiQL; closing reads with `reads_require_token`; and the GraphQL-over-HTTP contract of
//! issue 17: the response media type by `Accept`, request errors as 400 without `data` in
//! `application/graphql-response+json`, queries over `GET` (mutations 405), and automatic
//! persisted queries over POST and GET, priced like any other query.

use std::collections::HashSet;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use graphql::{AppConfig, Role, ServerConfig};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{TestServer, error_code, nested_query};

/// Events in `fixtures/history.jsonl`.
const FIXTURE_EVENTS: u64 = 849;
/// `PartyAdopted` events in the stream `agreement/hok` of the fixtures.
const HOK_ADOPTIONS: usize = 28;

/// A server over the fixtures. Seeding appends to the ledger, which blocks, so it runs off the
/// async workers.
async fn seeded(config: ServerConfig) -> TestServer {
    tokio::task::spawn_blocking(move || TestServer::seeded(config)).await.expect("seeding does not panic")
}

/// Sends a raw request through a fresh router and returns status, headers and body.
async fn send(server: &TestServer, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = server.router().oneshot(request).await.expect("the router always answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, headers, body)
}

/// A GraphQL POST with a JSON body and an explicit `Content-Length`, as real clients send it.
fn graphql_request(body: impl Into<Vec<u8>>) -> Request<Body> {
    let body = body.into();
    Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("request")
}

/// Asserts that a response is a GraphQL error with `extensions.code` = `code` and no data, and
/// returns its message.
fn expect_code<'a>(body: &'a Value, code: &str) -> &'a str {
    assert_eq!(error_code(body), Some(code), "expected {code}, got {body:#}");
    assert!(body["data"].is_null(), "an error gives no data: {body:#}");
    let message = body["errors"][0]["message"].as_str().expect("a message");
    assert!(message.len() > 10, "the message should explain the problem: {message:?}");
    message
}

/// Asserts that a response is a request-level GraphQL error (parse, validation or limit) without
/// data, and returns the first message.
fn expect_request_error(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::OK, "GraphQL request errors still answer 200: {body:#}");
    assert!(body.get("data").is_none_or(Value::is_null), "a rejected request gives no data: {body:#}");
    let errors = body["errors"].as_array().expect("errors");
    assert!(!errors.is_empty(), "at least one error: {body:#}");
    errors[0]["message"].as_str().expect("a message").to_owned()
}

/// The server still answers an ordinary query correctly after bad input.
async fn assert_still_serving(server: &TestServer) {
    let (status, body) = server.post("{ ledger { position } }", json!({}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["ledger"]["position"], json!(server.ledger.head().position.get()), "{body:#}");
}

/// All pages of `events` with the given filter arguments, following `endCursor`.
async fn all_pages(server: &TestServer, first: i32, stream: Option<&str>, types: Option<Vec<&str>>) -> Vec<Value> {
    let query = "query($first: Int, $after: String, $stream: String, $types: [String!]) {
        events(first: $first, after: $after, stream: $stream, types: $types) {
            edges { cursor node { id position stream type hash prevHash } }
            nodes { position }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        }
    }";
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let variables = json!({"first": first, "after": after, "stream": stream, "types": types});
        let (status, body) = server.post(query, variables, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["errors"].is_null(), "{body:#}");
        let page = body["data"]["events"].clone();
        let info = &page["pageInfo"];
        let edges = page["edges"].as_array().expect("edges");
        // pageInfo describes exactly this page.
        assert_eq!(info["hasPreviousPage"], json!(after.is_some()), "{info}");
        assert_eq!(info["startCursor"], edges.first().map_or(Value::Null, |e| e["cursor"].clone()));
        assert_eq!(info["endCursor"], edges.last().map_or(Value::Null, |e| e["cursor"].clone()));
        assert!(edges.len() <= first as usize, "a page never exceeds `first`");
        let nodes: Vec<&Value> = page["nodes"].as_array().expect("nodes").iter().map(|n| &n["position"]).collect();
        let edge_positions: Vec<&Value> = edges.iter().map(|e| &e["node"]["position"]).collect();
        assert_eq!(nodes, edge_positions, "nodes are the edges' nodes");
        let more = info["hasNextPage"].as_bool().expect("hasNextPage");
        if more {
            assert_eq!(edges.len(), first as usize, "only a full page can have a next page");
        }
        after = info["endCursor"].as_str().map(str::to_owned);
        pages.push(page);
        if !more {
            break;
        }
        assert!(pages.len() < 1000, "paging does not terminate");
    }
    pages
}

fn positions_of(pages: &[Value]) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|p| p["edges"].as_array().expect("edges").iter())
        .map(|e| e["node"]["position"].as_u64().expect("position"))
        .collect()
}

#[tokio::test]
async fn ledger_reports_the_ledgers_head() {
    let server = seeded(ServerConfig::default()).await;
    let head = server.ledger.head();
    assert_eq!(head.position.get(), FIXTURE_EVENTS);
    let (status, body) = server.post("{ ledger { position headHash recordedAt } }", json!({}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["ledger"]["position"], json!(head.position.get()), "{body:#}");
    assert_eq!(body["data"]["ledger"]["headHash"], json!(head.hash.to_string()));
    assert_eq!(body["data"]["ledger"]["recordedAt"], json!(head.recorded_at.to_string()));
}

#[tokio::test]
async fn ledger_of_an_empty_ledger_is_position_zero_and_the_genesis_hash() {
    let server = tokio::task::spawn_blocking(|| TestServer::empty(ServerConfig::default())).await.expect("server");
    let (_, body) = server.post("{ ledger { position headHash recordedAt } }", json!({}), None).await;
    assert_eq!(
        body["data"]["ledger"],
        json!({"position": 0, "headHash": "0".repeat(64), "recordedAt": null}),
        "{body:#}"
    );
    let (_, body) = server
        .post(
            "{ events { edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        body["data"]["events"],
        json!({"edges": [], "pageInfo": {"hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null}}),
        "{body:#}"
    );
}

#[tokio::test]
async fn events_pages_through_the_whole_history_without_overlap_or_gap() {
    let server = seeded(ServerConfig::default()).await;
    for first in [97, 500] {
        let pages = all_pages(&server, first, None, None).await;
        let positions = positions_of(&pages);
        assert_eq!(positions, (1..=FIXTURE_EVENTS).collect::<Vec<_>>(), "page size {first}");
        assert_eq!(pages.len() as u64, FIXTURE_EVENTS.div_ceil(first as u64), "page size {first}");

        // Cursors are opaque (no bare position in them) and unique.
        let cursors: Vec<&str> = pages
            .iter()
            .flat_map(|p| p["edges"].as_array().expect("edges").iter())
            .map(|e| e["cursor"].as_str().expect("cursor"))
            .collect();
        assert_eq!(cursors.iter().collect::<HashSet<_>>().len(), cursors.len(), "cursors are unique");
        assert!(!cursors.contains(&"1") && !cursors.contains(&"849"), "cursors are not bare positions");

        // The hash chain links across page boundaries too.
        let edges: Vec<&Value> = pages.iter().flat_map(|p| p["edges"].as_array().expect("edges").iter()).collect();
        for pair in edges.windows(2) {
            assert_eq!(pair[1]["node"]["prevHash"], pair[0]["node"]["hash"]);
        }
        assert_eq!(edges.last().expect("events")["node"]["hash"], json!(server.ledger.head().hash.to_string()));
    }

    // Without `first`, a page holds 50 events.
    let (_, body) = server.post("{ events { edges { cursor } pageInfo { hasNextPage } } }", json!({}), None).await;
    assert_eq!(body["data"]["events"]["edges"].as_array().expect("edges").len(), 50);
    assert_eq!(body["data"]["events"]["pageInfo"]["hasNextPage"], json!(true));

    // A page that ends exactly at the head says there is nothing more.
    let (_, body) = server.post("{ events(first: 500) { pageInfo { endCursor } } }", json!({}), None).await;
    let after = body["data"]["events"]["pageInfo"]["endCursor"].clone();
    let (_, body) = server
        .post(
            "query($after: String) { events(first: 349, after: $after) { edges { node { position } } pageInfo { hasNextPage endCursor } } }",
            json!({"after": after}),
            None,
        )
        .await;
    let edges = body["data"]["events"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 349, "{body:#}");
    assert_eq!(edges[0]["node"]["position"], json!(501));
    assert_eq!(body["data"]["events"]["pageInfo"]["hasNextPage"], json!(false));

    // After the last cursor: an empty page, not an error.
    let last = body["data"]["events"]["pageInfo"]["endCursor"].clone();
    let (_, body) = server
        .post("query($after: String) { events(after: $after) { edges { cursor } pageInfo { hasNextPage hasPreviousPage } } }", json!({"after": last}), None)
        .await;
    assert_eq!(body["data"]["events"]["edges"], json!([]), "{body:#}");
    assert_eq!(body["data"]["events"]["pageInfo"], json!({"hasNextPage": false, "hasPreviousPage": true}));
}

#[tokio::test]
async fn events_filtered_by_stream_and_type_returns_only_those() {
    let server = seeded(ServerConfig::default()).await;

    // One page: all 28 adoptions of the HÖK.
    let pages = all_pages(&server, 500, Some("agreement/hok"), Some(vec!["PartyAdopted"])).await;
    assert_eq!(pages.len(), 1);
    let edges = pages[0]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), HOK_ADOPTIONS);
    for edge in edges {
        assert_eq!(edge["node"]["stream"], json!("agreement/hok"), "{edge}");
        assert_eq!(edge["node"]["type"], json!("PartyAdopted"), "{edge}");
    }
    let all = positions_of(&pages);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in log order: {all:?}");

    // Paged in tens: the same 28, in the same order, the last page saying there is no more.
    let pages = all_pages(&server, 10, Some("agreement/hok"), Some(vec!["PartyAdopted"])).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(positions_of(&pages), all);

    // A page size that ends exactly on the last match says there is no next page.
    let pages = all_pages(&server, 14, Some("agreement/hok"), Some(vec!["PartyAdopted"])).await;
    assert_eq!(pages.len(), 2, "14 + 14 = 28, so the second page is the last");
    assert_eq!(positions_of(&pages), all);

    // The stream alone: every event of the stream, in stream order.
    let stream_pages = all_pages(&server, 500, Some("agreement/hok"), None).await;
    let stream_edges: Vec<&Value> =
        stream_pages.iter().flat_map(|p| p["edges"].as_array().expect("edges").iter()).collect();
    assert!(stream_edges.len() > HOK_ADOPTIONS);
    assert!(stream_edges.iter().all(|e| e["node"]["stream"] == json!("agreement/hok")));
    let adoptions_in_stream = stream_edges.iter().filter(|e| e["node"]["type"] == json!("PartyAdopted")).count();
    assert_eq!(adoptions_in_stream, HOK_ADOPTIONS);

    // Types alone, across streams, and several types at once.
    let pages = all_pages(&server, 500, None, Some(vec!["PartyAdopted", "PartyDeclined"])).await;
    let edges: Vec<&Value> = pages.iter().flat_map(|p| p["edges"].as_array().expect("edges").iter()).collect();
    assert!(edges.len() >= HOK_ADOPTIONS);
    assert!(
        edges.iter().all(|e| e["node"]["type"] == json!("PartyAdopted") || e["node"]["type"] == json!("PartyDeclined"))
    );
    assert!(edges.iter().any(|e| e["node"]["stream"] != json!("agreement/hok")), "adoptions of other agreements too");

    // A well-formed stream with no events is an empty page, not an error.
    let (_, body) = server
        .post(
            "{ events(stream: \"agreement/nosuchagreement\") { edges { cursor } pageInfo { hasNextPage } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(body["data"]["events"], json!({"edges": [], "pageInfo": {"hasNextPage": false}}), "{body:#}");
}

#[tokio::test]
async fn event_by_id_returns_the_stored_event() {
    let server = seeded(ServerConfig::default()).await;
    let stored = server.ledger.get(ledger::Position::new(41)).expect("read").expect("event 41");
    let (_, body) = server
        .post(
            "query($id: ID!) { event(id: $id) { id position stream streamVersion type effective recordedAt recordedBy source { title } data hash prevHash } }",
            json!({"id": stored.id().to_string()}),
            None,
        )
        .await;
    let event = &body["data"]["event"];
    assert_eq!(event["id"], json!(stored.id().to_string()), "{body:#}");
    assert_eq!(event["position"], json!(41));
    assert_eq!(event["stream"], json!(stored.stream().as_str()));
    assert_eq!(event["streamVersion"], json!(stored.stream_version()));
    assert_eq!(event["type"], json!(stored.type_name()));
    assert_eq!(event["hash"], json!(stored.hash().to_string()));
    assert_eq!(event["prevHash"], json!(stored.prev_hash().to_string()));
    assert_eq!(event["data"], stored.data().to_json().expect("json"));
    assert_eq!(event["effective"], json!(stored.effective().to_string()));

    // A well-formed id that is not stored: null, not an error.
    let (_, body) =
        server.post("{ event(id: \"00000000-0000-4000-8000-000000000000\") { id } }", json!({}), None).await;
    assert!(body["errors"].is_null(), "{body:#}");
    assert_eq!(body["data"]["event"], Value::Null);
}

#[tokio::test]
async fn bad_arguments_give_invalid_input_and_the_server_keeps_serving() {
    let server = seeded(ServerConfig::default()).await;
    let cases: &[(&str, &str, Value)] = &[
        (
            "cursor that is not base64",
            "query($a: String) { events(after: $a) { edges { cursor } } }",
            json!({"a": "!!not a cursor!!"}),
        ),
        (
            "cursor of something else",
            "query($a: String) { events(after: $a) { edges { cursor } } }",
            json!({"a": "ZXZlbnQ6eHl6"}),
        ), // "event:xyz"
        (
            "cursor with a bare position",
            "query($a: String) { events(after: $a) { edges { cursor } } }",
            json!({"a": "10"}),
        ),
        ("first = 0", "{ events(first: 0) { edges { cursor } } }", json!({})),
        ("first = 501", "{ events(first: 501) { edges { cursor } } }", json!({})),
        ("first < 0", "{ events(first: -5) { edges { cursor } } }", json!({})),
        ("unknown type", "{ events(types: [\"PartyAdoptedd\"]) { edges { cursor } } }", json!({})),
        ("type in the wrong case", "{ events(types: [\"partyadopted\"]) { edges { cursor } } }", json!({})),
        ("stream without a kind", "{ events(stream: \"hok\") { edges { cursor } } }", json!({})),
        ("stream of an unknown kind", "{ events(stream: \"treaty/hok\") { edges { cursor } } }", json!({})),
        ("stream with a bad slug", "{ events(stream: \"agreement/HÖK Ω\") { edges { cursor } } }", json!({})),
        ("stream with an empty slug", "{ events(stream: \"agreement/\") { edges { cursor } } }", json!({})),
        ("invalid UUID", "{ event(id: \"not-a-uuid\") { id } }", json!({})),
        ("truncated UUID", "{ event(id: \"8baf7953-45ff-4009-a6c4\") { id } }", json!({})),
    ];
    for (what, query, variables) in cases {
        let (status, body) = server.post(query, variables.clone(), None).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        let message = expect_code(&body, "INVALID_INPUT");
        assert!(!message.contains("internal"), "{what}: {message}");
        assert_still_serving(&server).await;
    }

    // The messages say what was wrong.
    let (_, body) = server.post("{ events(first: 501) { edges { cursor } } }", json!({}), None).await;
    assert!(expect_code(&body, "INVALID_INPUT").contains("501"), "{body:#}");
    let (_, body) = server.post("{ events(types: [\"Nonsense\"]) { edges { cursor } } }", json!({}), None).await;
    assert!(expect_code(&body, "INVALID_INPUT").contains("Nonsense"), "{body:#}");
    let (_, body) = server.post("{ event(id: \"not-a-uuid\") { id } }", json!({}), None).await;
    assert!(expect_code(&body, "INVALID_INPUT").contains("UUID"), "{body:#}");
}

#[tokio::test]
async fn malformed_graphql_is_a_request_error_and_the_server_keeps_serving() {
    let server = seeded(ServerConfig::default()).await;
    let cases: &[(&str, &str)] = &[
        ("syntax error", "{ ledger { position "),
        ("not GraphQL at all", "SELECT * FROM events"),
        ("unknown field", "{ ledger { position height } }"),
        ("argument of the wrong type", "{ events(first: \"ten\") { edges { cursor } } }"),
        ("unknown argument", "{ events(newest: 10) { edges { cursor } } }"),
        ("missing selection", "{ ledger }"),
        ("mutation on a schema without mutations", "mutation { ledger { position } }"),
    ];
    for (what, query) in cases {
        let (status, body) = server.post(query, json!({}), None).await;
        let message = expect_request_error(status, &body);
        assert!(!message.is_empty(), "{what}");
        assert_still_serving(&server).await;
    }
    let (status, body) = server.post("{ ledger { position ", json!({}), None).await;
    let message = expect_request_error(status, &body);
    assert!(body["errors"][0]["locations"].is_array(), "a syntax error points at its location: {body:#}");
    assert!(!message.is_empty());
}

#[tokio::test]
async fn an_over_deep_query_is_refused_and_the_server_keeps_serving() {
    let server = seeded(ServerConfig::default()).await;
    // The deepest query the default limit (16) allows still runs.
    let (status, body) = server.post(&nested_query(16), json!({}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"].is_null(), "depth 16 is allowed: {body:#}");
    assert!(body["data"]["__schema"]["types"].is_array());

    for depth in [17, 30] {
        let (status, body) = server.post(&nested_query(depth), json!({}), None).await;
        let message = expect_request_error(status, &body);
        assert!(message.to_lowercase().contains("nested too deep"), "depth {depth}: {message}");
        assert_still_serving(&server).await;
    }
    // Far deeper, the parser's own recursion limit (32) refuses it before validation does.
    let (status, body) = server.post(&nested_query(200), json!({}), None).await;
    let message = expect_request_error(status, &body);
    assert!(message.contains("recursion"), "{message}");
    assert_still_serving(&server).await;

    // The real fields of the schema do not reach the limit.
    let (_, body) = server.post("{ events(first: 1) { edges { node { source { title } } } } }", json!({}), None).await;
    assert!(body["errors"].is_null(), "{body:#}");
}

#[tokio::test]
async fn an_over_complex_query_is_refused_and_the_server_keeps_serving() {
    let server = seeded(ServerConfig::default()).await;
    // Each alias costs two (`ledger` and `position`); 2 600 of them exceed the limit of 5 000.
    let aliases: String = (0..2600).map(|i| format!(" a{i}: ledger {{ position }}")).collect();
    let query = format!("{{{aliases} }}");
    assert!(query.len() < 256 * 1024, "the body limit is not what refuses it");
    let (status, body) = server.post(&query, json!({}), None).await;
    let message = expect_request_error(status, &body);
    assert!(message.to_lowercase().contains("complex"), "{message}");
    assert_still_serving(&server).await;

    // Just under the limit runs.
    let aliases: String = (0..2400).map(|i| format!(" a{i}: ledger {{ position }}")).collect();
    let (_, body) = server.post(&format!("{{{aliases} }}"), json!({}), None).await;
    assert!(body["errors"].is_null(), "{}", body["errors"]);
    assert_eq!(body["data"]["a2399"]["position"], json!(FIXTURE_EVENTS));
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_the_server_keeps_serving() {
    let server = seeded(ServerConfig::default()).await;
    // Valid JSON with a valid query, padded with a variable to just over 256 KiB.
    let padding = "x".repeat(256 * 1024);
    let body = json!({"query": "{ ledger { position } }", "variables": {"padding": padding}}).to_string();
    assert!(body.len() > 256 * 1024);
    let (status, _, _) = send(&server, graphql_request(body.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_still_serving(&server).await;

    // The same without a Content-Length (a streamed body): the limit applies while reading.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        body.as_bytes().chunks(16 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let streamed = Body::from_stream(futures::stream::iter(chunks));
    let request =
        Request::post("/graphql").header(header::CONTENT_TYPE, "application/json").body(streamed).expect("request");
    let (status, _, bytes) = send(&server, request).await;
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "a streamed oversized body is refused: {text}");
    let refusal: Value = serde_json::from_slice(&bytes).expect("the refusal is GraphQL-shaped JSON");
    assert_eq!(refusal["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{refusal}");
    assert_still_serving(&server).await;

    // Just under the limit is served.
    let padding = "x".repeat(200 * 1024);
    let body = json!({"query": "{ ledger { position } }", "variables": {"padding": padding}}).to_string();
    let (status, _, bytes) = send(&server, graphql_request(body)).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body["data"]["ledger"]["position"], json!(FIXTURE_EVENTS));
}

#[tokio::test]
async fn a_non_json_body_is_a_400_and_the_server_keeps_serving() {
    let server = seeded(ServerConfig::default()).await;
    for body in ["this is not json", "{\"query\": ", "[1, 2, 3]", "{\"query\": 42}", ""] {
        let (status, _, bytes) = send(&server, graphql_request(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "body {body:?}: {}", String::from_utf8_lossy(&bytes));
        let refusal: Value = serde_json::from_slice(&bytes).expect("the 400 is GraphQL-shaped JSON");
        let message = refusal["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("not a GraphQL request"), "the 400 says why (body {body:?}): {message}");
        assert_eq!(refusal["errors"][0]["extensions"]["code"], "INVALID_INPUT");
        assert_still_serving(&server).await;
    }
}

#[tokio::test]
async fn healthz_reports_the_head() {
    let server = seeded(ServerConfig::default()).await;
    let (status, headers, bytes) = send(&server, Request::get("/healthz").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("application/json"));
    let body: Value = serde_json::from_slice(&bytes).expect("healthz is JSON");
    let head = server.ledger.head();
    assert_eq!(body["status"], json!("ok"));
    assert_eq!(body["position"], json!(head.position.get()));
    assert_eq!(body["headHash"], json!(head.hash.to_string()));
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_head_position_and_request_latency() {
    let server = seeded(ServerConfig::default()).await;
    // Requests are counted when they finish, so make a few before scraping.
    for _ in 0..3 {
        assert_still_serving(&server).await;
    }
    let (status, headers, bytes) = send(&server, Request::get("/metrics").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/plain"));
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
            .parse()
            .expect("a number")
    };
    assert_eq!(value("samverkan_head_position"), FIXTURE_EVENTS as f64);
    assert!(value("samverkan_request_duration_seconds_count") >= 3.0, "{text}");
    assert!(text.contains("# TYPE samverkan_request_duration_seconds histogram"));
    assert_eq!(
        value("samverkan_request_duration_seconds_bucket{le=\"+Inf\"}"),
        value("samverkan_request_duration_seconds_count")
    );
    assert_eq!(value("samverkan_subscribers"), 0.0);
    // Every sample line is `name[{labels}] number`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, number) = line.rsplit_once(' ').expect("name and value");
        assert!(number.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

/// Issue 17: `/metrics` comes from a Prometheus registry with requests by route, method and status,
/// GraphQL operations by name with their errors by code, the ledger's commit groups and sync
/// latency, and the process's own metrics; every response carries a request id.
#[tokio::test]
async fn metrics_count_routes_operations_errors_commits_and_the_process() {
    let server = seeded(ServerConfig::default()).await;
    let router = server.router();
    let named = json!({"query": "query Probe { ledger { position } }", "operationName": "Probe"}).to_string();
    let (status, headers, _) = send_to(&router, graphql_request(named)).await;
    assert_eq!(status, StatusCode::OK);
    let id = headers.get("x-request-id").expect("a request id").to_str().expect("ascii").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    // A client's own sane id is kept; anything else is replaced.
    let mut request = graphql_request(json!({"query": "{ nosuchfield }"}).to_string());
    request.headers_mut().insert("x-request-id", HeaderValue::from_static("trace-42.a"));
    let (_, headers, _) = send_to(&router, request).await;
    assert_eq!(headers["x-request-id"], "trace-42.a");
    let mut request = Request::get("/healthz").body(Body::empty()).expect("request");
    request.headers_mut().insert("x-request-id", HeaderValue::from_static("no spaces allowed"));
    let (_, headers, _) = send_to(&router, request).await;
    assert_ne!(headers["x-request-id"], "no spaces allowed");
    // One commit group through the ledger.
    let token = server.token(Role::Secretariat, "metrics");
    let register = json!({"query": "mutation { registerParty(input: {party: \"mby\", name: \"M\", kind: MUNICIPALITY, effective: \"2026-01-01\"}) { position } }"});
    let mut request = graphql_request(register.to_string());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).expect("ascii"));
    let (status, _, body) = send_to(&router, request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    let (_, _, bytes) = send_to(&router, Request::get("/metrics").body(Body::empty()).expect("request")).await;
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    for expected in [
        "samverkan_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}",
        "samverkan_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
        "samverkan_graphql_operations_total{operation=\"Probe\",outcome=\"ok\"} 1",
        "samverkan_graphql_operations_total{operation=\"anonymous\",outcome=\"error\"} 1",
        "samverkan_graphql_errors_total{code=\"INVALID_INPUT\"} 1",
        "samverkan_commit_group_events_count 1",
        "samverkan_commit_sync_seconds_count 1",
        "samverkan_events_appended_total 1",
        "process_resident_memory_bytes ",
        "process_open_fds ",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

#[tokio::test]
async fn get_graphql_serves_graphiql() {
    let server = seeded(ServerConfig::default()).await;
    let (status, headers, bytes) = send(&server, Request::get("/graphql").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/html"));
    let html = String::from_utf8(bytes.to_vec()).expect("utf-8");
    assert!(html.to_lowercase().contains("graphiql"), "{html}");
    // Offline: every script and style from this server, none from a CDN (issue 17).
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//unpkg"), "{html}");
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii").contains("script-src 'self'"));
    for file in ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"] {
        assert!(html.contains(&format!("/graphiql/{file}")), "{file}");
        let (status, _, body) =
            send(&server, Request::get(format!("/graphiql/{file}")).body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert!(body.len() > 1000, "{file}");
    }
    let (_, _, init) =
        send(&server, Request::get("/graphiql/graphiql-init.js").body(Body::empty()).expect("request")).await;
    assert!(String::from_utf8_lossy(&init).contains("/graphql/ws"), "GraphiQL knows the subscription endpoint");
    let (status, _, _) =
        send(&server, Request::get("/graphiql/../Cargo.toml").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let server = seeded(ServerConfig::default()).await;
    let (status, _, _) = send(&server, Request::get("/nothing-here").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn closed_reads_need_a_token() {
    let closed = AppConfig { reads_require_token: true, ..AppConfig::default() };
    let server = tokio::task::spawn_blocking(move || TestServer::with(closed, ServerConfig::default(), true))
        .await
        .expect("seeding does not panic");
    let reader = server.token(Role::Reader, "reader");
    let auditor = server.token(Role::Auditor, "auditor");

    for query in [
        "{ ledger { position } }",
        "{ events(first: 1) { edges { cursor } } }",
        "{ event(id: \"00000000-0000-4000-8000-000000000000\") { id } }",
    ] {
        let (status, body) = server.post(query, json!({}), None).await;
        assert_eq!(status, StatusCode::OK);
        expect_code(&body, "UNAUTHENTICATED");

        let (_, body) = server.post(query, json!({}), Some("svk_not-a-token")).await;
        expect_code(&body, "UNAUTHENTICATED");

        let (_, body) = server.post(query, json!({}), Some(&reader)).await;
        assert!(body["errors"].is_null(), "a READER token reads: {body:#}");
    }

    let (_, body) = server.post("{ ledger { position } }", json!({}), Some(&reader)).await;
    assert_eq!(body["data"]["ledger"]["position"], json!(FIXTURE_EVENTS));
    let (_, body) = server.post("{ ledger { position } }", json!({}), Some(&auditor)).await;
    assert_eq!(body["data"]["ledger"]["position"], json!(FIXTURE_EVENTS));

    // A malformed Authorization header is anonymous, and refused.
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, reader.clone()) // no "Bearer "
        .body(Body::from(json!({"query": "{ ledger { position } }"}).to_string()))
        .expect("request");
    let (_, _, bytes) = send(&server, request).await;
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    expect_code(&body, "UNAUTHENTICATED");

    // The operational endpoints stay open: they reveal nothing beyond the head.
    let (status, _, _) = send(&server, Request::get("/healthz").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Issue 20, cost before work: the fragment fan-out document is refused on its parse tree, at once –
/// not after expanding 2^30 fields – and the server answers the next request as quickly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exponential_fragment_document_is_refused_before_any_work() {
    let server = seeded(ServerConfig::default()).await;
    let document = crate::bad_input::fan_out_fragments(30);
    assert!(document.len() < 1_500, "a small document: {} bytes", document.len());
    let start = std::time::Instant::now();
    let (status, body) = server.post(&document, json!({}), None).await;
    let took = start.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("too expensive")), "{body}");
    // Minutes of CPU before; a bound far above what it takes (a few milliseconds), not a benchmark.
    assert!(took < std::time::Duration::from_secs(1), "refused in {took:?}");
    let start = std::time::Instant::now();
    let (status, _) = server.post("{ ledger { position } }", json!({}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
}

/// Issue 17: "the latest 50 events" is one request (`last`), pages go backwards with `before`, the
/// connection says how many events pass its filter, and an event is found by its position too.
#[tokio::test]
async fn events_page_backwards_count_and_are_found_by_position() {
    let server = seeded(ServerConfig::default()).await;
    let query = r#"query($last: Int, $before: String, $types: [String!]) {
        events(last: $last, before: $before, types: $types) {
            totalCount edges { cursor node { position type } } pageInfo { hasNextPage hasPreviousPage startCursor }
        } }"#;
    let (_, body) = server.post(query, json!({"last": 5}), None).await;
    let events = &body["data"]["events"];
    assert_eq!(events["totalCount"], FIXTURE_EVENTS, "{body}");
    let positions: Vec<u64> =
        events["edges"].as_array().expect("edges").iter().map(|e| e["node"]["position"].as_u64().expect("n")).collect();
    assert_eq!(positions, vec![845, 846, 847, 848, 849]);
    assert_eq!(events["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(events["pageInfo"]["hasNextPage"], false);
    let (_, body) = server.post(query, json!({"last": 2, "before": events["pageInfo"]["startCursor"]}), None).await;
    let earlier: Vec<u64> = body["data"]["events"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["position"].as_u64().expect("n"))
        .collect();
    assert_eq!(earlier, vec![843, 844], "{body}");
    assert_eq!(body["data"]["events"]["pageInfo"]["hasNextPage"], true);
    let (_, body) = server.post(query, json!({"last": 3, "types": ["PartyAdopted"]}), None).await;
    assert!(
        body["data"]["events"]["edges"].as_array().expect("edges").iter().all(|e| e["node"]["type"] == "PartyAdopted")
    );
    assert_eq!(body["data"]["events"]["totalCount"], 406);
    let (_, body) = server.post("{ event(position: 1) { position type } }", json!({}), None).await;
    assert_eq!(body["data"]["event"]["position"], 1, "{body}");
    let (_, body) = server.post("{ events(first: 1, last: 1) { totalCount } }", json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{body}");
    let (_, body) = server.post("{ event { position } }", json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{body}");
}

/// Issue 17, GraphQL over HTTP: a client that accepts only `application/json` gets `application/json`
/// (the spec's MUST); one that accepts the GraphQL response type, or anything, gets that.
#[tokio::test]
async fn the_response_media_type_follows_accept() {
    let server = seeded(ServerConfig::default()).await;
    let body = json!({"query": "{ ledger { position } }"}).to_string();
    let with_accept = |accept: Option<&'static str>| {
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        request.body(Body::from(body.clone())).expect("request")
    };
    for (accept, expected) in [
        (Some("application/json"), "application/json"),
        (Some("application/json; charset=utf-8"), "application/json"),
        (Some("application/graphql-response+json"), "application/graphql-response+json"),
        (Some("application/graphql-response+json, application/json;q=0.9"), "application/graphql-response+json"),
        // The spec's advice for a client that names no GraphQL type: the type every client reads.
        (Some("*/*"), "application/json"),
        (None, "application/json"),
        (Some("application/json, application/graphql-response+json;q=0.5"), "application/json"),
    ] {
        let (status, headers, _) = send(&server, with_accept(accept)).await;
        assert_eq!(status, StatusCode::OK);
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with(expected), "Accept {accept:?}: got {content_type}");
    }
}

/// Issue 17: `/readyz` apart from `/healthz` – ready once the projections have caught up with the
/// ledger's head.
#[tokio::test]
async fn readiness_is_the_projections_caught_up_with_the_head() {
    let server = seeded(ServerConfig::default()).await;
    let (status, _, body) = send(&server, Request::get("/readyz").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!((body["status"].clone(), body["applied"].clone()), (json!("ready"), json!(FIXTURE_EVENTS)));
    // An append made around the application (no follower runs in this test): not ready.
    let ledger = server.ledger.clone();
    tokio::task::spawn_blocking(move || ledger.append(ledger::Append::one(samverkan_tests::decision("runt-om"))))
        .await
        .expect("joins")
        .expect("appends");
    let (status, _, body) = send(&server, Request::get("/readyz").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(&body));
}

/// Sends a raw request through `router` and returns status, headers and body.
async fn send_to(router: &axum::Router, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = router.clone().oneshot(request).await.expect("the router always answers");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.into_body().collect().await.expect("body").to_bytes())
}

/// A GraphQL request through `router` (one router for all the requests of a test: the persisted
/// queries live in its schema): `method` GET (`query` and `variables` in the URL) or POST
/// (as JSON), with an `Accept` header if given; returns status, headers and the JSON body.
async fn graphql(
    router: &axum::Router,
    get: bool,
    body: Value,
    accept: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = if get {
        let mut url = String::from("/graphql?");
        for (key, value) in body.as_object().expect("an object") {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            url.push_str(&format!("{key}={}&", percent_encode(&text)));
        }
        Request::get(url)
    } else {
        Request::post("/graphql").header(header::CONTENT_TYPE, "application/json")
    };
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let body = if get { Body::empty() } else { Body::from(body.to_string()) };
    let (status, headers, bytes) = send_to(router, request.body(body).expect("request")).await;
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("a JSON answer, got {status}: {}", String::from_utf8_lossy(&bytes)));
    (status, headers, json)
}

/// `application/x-www-form-urlencoded` percent-encoding of a query-string value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn content_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Issue 17: a request that fails before execution (syntax, validation, variable coercion, a limit)
/// answers 400 without a `data` entry in `application/graphql-response+json`, and 200 without
/// `data` in `application/json`, over POST and GET alike; a request whose execution began answers
/// 200 with its `data`, even when a field failed.
#[tokio::test]
async fn request_errors_are_400_without_data_in_the_graphql_response_type() {
    let server = seeded(ServerConfig::default()).await;
    let router = server.router();
    let failing = [
        ("syntax", json!({"query": "{ ledger { position "})),
        ("validation", json!({"query": "{ ledger { height } }"})),
        (
            "coercion",
            json!({"query": "query($n: Int!) { events(first: $n) { totalCount } }", "variables": {"n": "ten"}}),
        ),
        ("missing variable", json!({"query": "query($n: Int!) { events(first: $n) { totalCount } }"})),
        (
            "null variable",
            json!({"query": "query($n: Int!) { events(first: $n) { totalCount } }", "variables": {"n": null}}),
        ),
        ("depth", json!({"query": nested_query(30)})),
        ("cost", json!({"query": crate::bad_input::fan_out_fragments(30)})),
    ];
    for get in [false, true] {
        for (what, body) in &failing {
            let mut body = body.clone();
            if get {
                if let Some(variables) = body.get("variables").cloned() {
                    body["variables"] = json!(variables.to_string());
                }
            }
            for (accept, media, status) in [
                ("application/graphql-response+json", "application/graphql-response+json", StatusCode::BAD_REQUEST),
                ("application/json", "application/json", StatusCode::OK),
            ] {
                let (got, headers, answer) = graphql(&router, get, body.clone(), Some(accept)).await;
                let case = format!("{what}, GET {get}, Accept {accept}: {answer}");
                assert_eq!(got, status, "{case}");
                assert!(content_type(&headers).starts_with(media), "{case}");
                assert!(answer.get("data").is_none(), "no data entry: {case}");
                assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{case}");
            }
        }
    }
    // Execution began: 200 and `data`, with the field's error beside it.
    let body = json!({"query": "{ event(id: \"not-a-uuid\") { id } ledger { position } }"});
    let (status, _, answer) = graphql(&router, false, body, Some("application/graphql-response+json")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["ledger"]["position"], json!(FIXTURE_EVENTS), "{answer}");
    assert_eq!(answer["errors"][0]["path"], json!(["event"]), "{answer}");
}

/// Issue 17: `GET /graphql?query=…` runs queries (with `variables` and `operationName`), never a
/// mutation: that is 405 with `Allow: POST` and nothing is written, whether the mutation comes as
/// text or as a persisted query's hash. Without `query` the address is the IDE's.
#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let server = seeded(ServerConfig::default()).await;
    let router = server.router();
    let query = "query Head { ledger { position } } query Count($t: [String!]) { events(types: $t) { totalCount } }";
    let body = json!({"query": query, "operationName": "Count", "variables": "{\"t\": [\"PartyAdopted\"]}"});
    let (status, headers, answer) = graphql(&router, true, body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(content_type(&headers).starts_with("application/json"));
    assert_eq!(answer, json!({"data": {"events": {"totalCount": 406}}}));

    let secretariat = server.token(Role::Secretariat, "secretariat");
    let mutation = r#"mutation { recordDecision(input: {decision: "via-get", body: "nacka-kf", subject: "GET", effective: "2024-01-01"}) { position } }"#;
    let head = server.ledger.head().position;
    for accept in [None, Some("application/graphql-response+json")] {
        let url = format!("/graphql?query={}", percent_encode(mutation));
        let mut request = Request::get(url).header(header::AUTHORIZATION, format!("Bearer {secretariat}"));
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let (status, headers, bytes) = send_to(&router, request.body(Body::empty()).expect("request")).await;
        let answer: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{answer}");
        assert_eq!(headers[header::ALLOW], "POST");
        assert!(answer.get("data").is_none(), "{answer}");
        assert!(answer["errors"][0]["message"].as_str().is_some_and(|m| m.contains("POST")), "{answer}");
    }
    // The same mutation persisted by a POST (which runs it) and then sent by its hash over GET.
    let hash = sha256_hex(mutation);
    let persisted = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let body = json!({"query": mutation, "extensions": persisted});
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {secretariat}"))
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, _, bytes) = send_to(&router, request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    let head = head.get() + 1;
    assert_eq!(server.ledger.head().position.get(), head, "the POST wrote");
    let request = Request::get(format!("/graphql?extensions={}", percent_encode(&persisted.to_string())))
        .header(header::AUTHORIZATION, format!("Bearer {secretariat}"))
        .body(Body::empty())
        .expect("request");
    let (status, headers, _) = send_to(&router, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
    assert_eq!(server.ledger.head().position.get(), head, "nothing written over GET");

    // Bad parameters are the same refusals as over POST.
    for (url, says) in [
        (
            "/graphql?query=%7B%20ledger%20%7B%20position%20%7D%20%7D&variables=%7Bnot",
            "variables parameter is not JSON",
        ),
        ("/graphql?query=%7B%20ledger%20%7B%20position%20%7D%20%7D&variables=%5B1%5D", "expected a JSON object"),
        ("/graphql?query=", "no \"query\""),
    ] {
        let (status, _, bytes) = send_to(&router, Request::get(url).body(Body::empty()).expect("request")).await;
        let answer: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        assert!(answer["errors"][0]["message"].as_str().is_some_and(|m| m.contains(says)), "{url}: {answer}");
    }
    // A browser opening the address gets the IDE.
    let request = Request::get("/graphql").header(header::ACCEPT, "text/html,*/*;q=0.8").body(Body::empty());
    let (status, headers, _) = send_to(&router, request.expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type(&headers).starts_with("text/html"));
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// Issue 17, automatic persisted queries (Apollo's protocol): an unknown hash is
/// `PERSISTED_QUERY_NOT_FOUND`; the query sent with its hash runs and is kept; then the hash alone
/// runs it, over POST and GET; a hash that does not match its query is refused.
#[tokio::test]
async fn persisted_queries_run_by_their_hash() {
    let server = seeded(ServerConfig::default()).await;
    let router = server.router();
    let query = "query($t: [String!]) { events(types: $t) { totalCount } }";
    let persisted = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}});
    let variables = json!({"t": ["PartyAdopted"]});
    let expected = json!({"data": {"events": {"totalCount": 406}}});

    let hash_only = json!({"variables": variables, "extensions": persisted});
    for (accept, status) in
        [(None, StatusCode::OK), (Some("application/graphql-response+json"), StatusCode::BAD_REQUEST)]
    {
        let (got, _, answer) = graphql(&router, false, hash_only.clone(), accept).await;
        assert_eq!(got, status, "{answer}");
        assert_eq!(
            answer,
            json!({"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]})
        );
    }
    let with_text = json!({"query": query, "variables": variables, "extensions": persisted});
    let (status, _, answer) = graphql(&router, false, with_text, None).await;
    assert_eq!((status, answer), (StatusCode::OK, expected.clone()));
    let (status, _, answer) = graphql(&router, false, hash_only, None).await;
    assert_eq!((status, answer), (StatusCode::OK, expected.clone()), "by hash over POST");
    let over_get = json!({"variables": variables.to_string(), "extensions": persisted.to_string()});
    let (status, _, answer) = graphql(&router, true, over_get, None).await;
    assert_eq!((status, answer), (StatusCode::OK, expected), "by hash over GET");

    let wrong = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex("{ ledger { position } }")}});
    let (status, _, answer) = graphql(&router, false, json!({"query": query, "extensions": wrong}), None).await;
    assert_eq!(status, StatusCode::OK);
    expect_code(&answer, "INVALID_INPUT");
}

/// Issue 17 with issue 20: a persisted query is priced like any other. The fan-out document sent
/// with its hash is refused as too expensive (and kept, as the extension keeps what it sees), and
/// sent again by its hash alone it is priced again and refused again, at once – the cost check
/// runs after the persisted-query store, on the document the hash stands for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_query_does_not_bypass_the_cost_limit() {
    let server = seeded(ServerConfig::default()).await;
    let router = server.router();
    let document = crate::bad_input::fan_out_fragments(30);
    let persisted = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(&document)}});
    for (what, body) in [
        ("with its text", json!({"query": document, "extensions": persisted})),
        ("by its hash", json!({"extensions": persisted})),
        ("by its hash again", json!({"extensions": persisted})),
    ] {
        let start = std::time::Instant::now();
        let (status, _, answer) = graphql(&router, false, body, Some("application/graphql-response+json")).await;
        assert!(start.elapsed() < std::time::Duration::from_secs(1), "{what}: refused in {:?}", start.elapsed());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("too expensive"), "{what}: priced, not {answer}");
    }
    assert_still_serving(&server).await;
}

/// Issue 19: a large answer comes gzip- or brotli-compressed when the client accepts it, and the
/// bytes decode to exactly the uncompressed answer; without `Accept-Encoding`, or for a small
/// answer, it comes as it is.
#[tokio::test]
async fn large_answers_are_compressed_when_the_client_accepts_it() {
    let server = seeded(ServerConfig::default()).await;
    let query = json!({"query": "{ agreements(at: \"2024-06-01\") { id title status version parties { party { id name } } } }"}).to_string();
    let request = |encoding: Option<&str>, body: &str| {
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(encoding) = encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        request.body(Body::from(body.to_owned())).expect("a request")
    };
    let (status, headers, plain) = send(&server, request(None, &query)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{headers:?}");
    assert!(plain.len() > 4_096, "a large answer: {} bytes", plain.len());
    assert!(serde_json::from_slice::<Value>(&plain).expect("JSON")["data"]["agreements"].is_array());

    let (status, headers, gzipped) = send(&server, request(Some("gzip"), &query)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get(header::CONTENT_ENCODING).map(HeaderValue::as_bytes), Some(&b"gzip"[..]));
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut decoded).expect("gzip");
    assert_eq!(decoded, plain.to_vec(), "the same answer");
    assert!(gzipped.len() * 4 < plain.len(), "{} bytes gzipped of {}", gzipped.len(), plain.len());

    let (_, headers, _) = send(&server, request(Some("br"), &query)).await;
    assert_eq!(headers.get(header::CONTENT_ENCODING).map(HeaderValue::as_bytes), Some(&b"br"[..]));

    let small = json!({"query": "{ ledger { position } }"}).to_string();
    let (_, headers, body) = send(&server, request(Some("gzip"), &small)).await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none(), "a small answer is sent as it is: {headers:?}");
    assert!(serde_json::from_slice::<Value>(&body).is_ok());
}

/// Issue 19: a large answer asked again at the same head is the same bytes, given from what was
/// kept (the counter in `/metrics` says so); a new event makes the next answer new (never the old
/// one); another caller, another day's default or another variable is its own question; and a
/// field outside the pure ones (`ledger`) is never kept.
#[tokio::test]
async fn a_large_answer_asked_again_is_the_same_and_a_new_event_makes_it_new() {
    let server = seeded(ServerConfig::default()).await;
    // One router, as a server has: what is kept lives in it.
    let router = server.router();
    let ask = |query: &str, token: Option<&str>| {
        let body = json!({ "query": query }).to_string();
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Body::from(body)).expect("request");
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.expect("the router always answers");
            assert_eq!(response.status(), StatusCode::OK);
            response.into_body().collect().await.expect("body").to_bytes()
        }
    };
    let reused = || {
        let router = router.clone();
        async move {
            let request = Request::get("/metrics").body(Body::empty()).expect("request");
            let response = router.oneshot(request).await.expect("the router always answers");
            let text = response.into_body().collect().await.expect("body").to_bytes();
            let text = String::from_utf8_lossy(&text).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("samverkan_graphql_answers_reused_total "))
                .and_then(|n| n.parse::<u64>().ok())
                .expect("the counter is exposed")
        }
    };
    let query =
        "{ parties { id name } agreements(at: \"2022-10-01\") { id title status parties { party { id } bound } } }";
    let first = ask(query, None).await;
    assert!(first.len() >= 16 << 10, "large enough to be kept: {}", String::from_utf8_lossy(&first));
    assert_eq!(reused().await, 0);
    let again = ask(query, None).await;
    assert_eq!(again, first);
    assert_eq!(reused().await, 1, "the second answer was the kept one");

    // Another caller is another question (what a caller may read can differ).
    let reader = server.token(Role::Reader, "läsare");
    assert_eq!(ask(query, Some(&reader)).await, first);
    assert_eq!(reused().await, 1);
    // So is a field outside the pure ones, asked together with them.
    let with_ledger =
        "{ ledger { position } agreements(at: \"2022-10-01\") { id title status parties { party { id } bound } } }";
    ask(with_ledger, None).await;
    ask(with_ledger, None).await;
    assert_eq!(reused().await, 1, "an answer with `ledger` is never kept");

    // A new event: the next answer includes it.
    let secretariat = server.token(Role::Secretariat, "sekretariatet");
    let input = json!({"party": "testkommun", "name": "Testkommun", "kind": "MUNICIPALITY", "effective": "2022-01-10"});
    let (status, body) = server
        .post(
            "mutation($input: RegisterPartyInput!) { registerParty(input: $input) { position } }",
            json!({ "input": input }),
            Some(&secretariat),
        )
        .await;
    assert!(status.is_success() && body["errors"].is_null(), "{body:#}");
    let after = ask(query, None).await;
    assert_ne!(after, first, "the answer after a new event is new");
    let parsed: Value = serde_json::from_slice(&after).expect("JSON");
    let ids: Vec<&str> =
        parsed["data"]["parties"].as_array().expect("parties").iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&"testkommun"), "{ids:?}");
    assert_eq!(reused().await, 1);
    assert_eq!(ask(query, None).await, after);
    assert_eq!(reused().await, 2);

    // Kept gzip-compressed: a client that accepts gzip gets the kept bytes as they are, and they
    // decode to the same answer; a client that accepts only brotli gets the same answer in brotli.
    for (encoding, reuses) in [("gzip", 3), ("br", 4), ("gzip;q=0, br", 5)] {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::from(json!({ "query": query }).to_string()))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("the router always answers");
        assert_eq!(response.status(), StatusCode::OK);
        let coding = response.headers().get(header::CONTENT_ENCODING).map(|v| v.as_bytes().to_vec());
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let mut decoded = Vec::new();
        match coding.as_deref() {
            Some(b"gzip") if encoding == "gzip" => {
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut decoded).expect("gzip");
            }
            Some(b"br") if encoding != "gzip" => {
                std::io::Read::read_to_end(&mut brotli_decompressor::Decompressor::new(&body[..], 4096), &mut decoded)
                    .expect("brotli");
            }
            other => panic!("{encoding}: answered in {other:?}"),
        }
        assert_eq!(decoded, after.to_vec(), "{encoding}: the same answer");
        assert_eq!(reused().await, reuses, "{encoding}: the kept answer");
    }
}
