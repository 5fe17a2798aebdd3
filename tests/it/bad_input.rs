//! The bad-input catalogue (issue 7): well over a hundred named inputs that must be refused, each
//! with the error it must get, in five areas:
//!
//! - GraphQL over HTTP, through the router (`oneshot`): syntax errors, wrong types, unknown and
//!   malformed ids, wrong enum values, huge strings, deep and complex queries, oversized, non-JSON
//!   and wrongly typed bodies, missing queries, bad cursors and bad dates; queries over `GET` with
//!   bad parameters and mutations over `GET` (405); malformed automatic persisted queries;
//! - the domain rules: every rule of DOMAIN.md a mutation can break, on the real fixtures plus a
//!   little set-up;
//! - the WebSocket (`/graphql/ws` on a real socket): malformed messages, `subscribe` before
//!   `connection_init`, oversized messages, bad operations;
//! - JSON Lines import through the real `samverkan import`: broken JSON, wrong field types,
//!   record time going backwards, duplicate ids, a bad line in the middle, missing fields, unknown
//!   types, wrong hashes, empty files, binary garbage;
//! - the real command line: bad dates, missing directories, directories that are not ledgers,
//!   unknown subcommands, bad flags, an export that cannot be written.
//!
//! For every case: a typed, readable error (GraphQL: a documented `extensions.code` and a message
//! that names no file path, Rust type or backtrace; CLI: a non-zero exit and one line on stderr), no
//! panic, nothing appended (the ledger's head position and hash are read before and after), and the
//! server still serving (a follow-up query; on a real socket also `/healthz`). Each test prints how
//! many cases its area has; `the_catalogue_covers_every_area` prints the whole summary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use futures::{SinkExt, StreamExt};
use graphql::{Role, ServerConfig};
use http_body_util::BodyExt;
use ledger::{Ledger, LedgerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header::SEC_WEBSOCKET_PROTOCOL};
use tower::ServiceExt;

use crate::process::SAMVERKAN;
use crate::support::{DOCUMENTED_CODES, TestServer, leaked_internals, mutation_document, nested_query};

/// The real program (the product's `cli::main`, built in the test crate).
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");
/// The longest any single wait may take before the test fails instead of hanging.
const BOUND: Duration = Duration::from_secs(20);
/// A readable message is short enough to read: it may quote the input, not all of a huge input.
const MAX_MESSAGE_CHARS: usize = 1_000;
/// The default body limit of [`ServerConfig`].
const BODY_LIMIT: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// GraphQL over HTTP and the domain rules: the cases.

/// What a GraphQL case sends.
#[derive(Debug, Clone)]
enum Sent {
    /// A JSON GraphQL request without a token.
    Query { query: String, variables: Value },
    /// A mutation called with the SECRETARIAT token, `input` as its `$input`.
    Mutation { name: &'static str, input: Value },
    /// A raw POST body with a Content-Type (or none) and a Content-Length.
    Raw { content_type: Option<&'static str>, body: Vec<u8> },
    /// A JSON body streamed without a Content-Length.
    Streamed { body: Vec<u8> },
    /// A `GET` of this path and query string, with the SECRETARIAT token.
    Get { url: String },
}

/// One named bad input and the refusal it must get.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    send: Sent,
    status: StatusCode,
    code: &'static str,
    /// Must occur in the message (case-insensitively): the message says what was wrong.
    fragment: &'static str,
}

fn query(
    name: &str,
    query: impl Into<String>,
    variables: Value,
    status: StatusCode,
    code: &'static str,
    fragment: &'static str,
) -> Case {
    Case { name: name.to_owned(), send: Sent::Query { query: query.into(), variables }, status, code, fragment }
}

/// A request refused by GraphQL's own parsing or validation, or by a resolver: 200 with errors.
fn refused_query(name: &str, text: impl Into<String>, code: &'static str, fragment: &'static str) -> Case {
    query(name, text, json!({}), StatusCode::OK, code, fragment)
}

fn mutation(name: &str, mutation: &'static str, input: Value, code: &'static str, fragment: &'static str) -> Case {
    Case {
        name: name.to_owned(),
        send: Sent::Mutation { name: mutation, input },
        status: StatusCode::OK,
        code,
        fragment,
    }
}

fn raw(
    name: &str,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: StatusCode,
    fragment: &'static str,
) -> Case {
    Case {
        name: name.to_owned(),
        send: Sent::Raw { content_type, body: body.into() },
        status,
        code: "INVALID_INPUT",
        fragment,
    }
}

/// A `GET /graphql?{parameters}` refused with `status` and `INVALID_INPUT`.
fn get(name: &str, parameters: &str, status: StatusCode, fragment: &'static str) -> Case {
    Case {
        name: name.to_owned(),
        send: Sent::Get { url: format!("/graphql?{parameters}") },
        status,
        code: "INVALID_INPUT",
        fragment,
    }
}

/// A JSON body over the body limit: a valid query padded with a variable.
fn oversized_body() -> Vec<u8> {
    let padding = "x".repeat(BODY_LIMIT + 1024);
    json!({"query": "{ ledger { position } }", "variables": {"padding": padding}}).to_string().into_bytes()
}

fn party_input(party: &str, name: &str, kind: Value) -> Value {
    json!({"party": party, "name": name, "kind": kind, "effective": "2024-06-01"})
}

fn adoption(agreement: &str, version: Value, party: &str, decision: &str) -> Value {
    json!({"agreement": agreement, "version": version, "party": party, "decision": decision, "effective": "2024-06-01"})
}

/// The id of the first fixture event (Region Stockholm's registration).
const FIXTURE_EVENT_ID: &str = "8baf7953-45ff-4009-a6c4-04f01e6280ef";
/// A decision of VIS recorded in the fixtures.
const DECISION: &str = "vis-2023-12-13-handlingsplan";
/// A decision of the officials' steering group recorded in the fixtures.
const OFFICIALS: &str = "tjanstemannastyrgruppen-2022-07-01-riktlinje";

/// Syntax, types, ids, enums, sizes, depth, bodies, cursors and dates: everything but the domain
/// rules, which need their own set-up.
/// `{ ...F<levels> }` where each fragment spreads the one before twice: 2^levels fields expanded,
/// about 40 bytes a level.
pub(crate) fn fan_out_fragments(levels: usize) -> String {
    let mut query = format!("{{ ...F{levels} }}\nfragment F0 on Query {{ ledger {{ position }} }}\n");
    for level in 1..=levels {
        query.push_str(&format!("fragment F{level} on Query {{ ...F{} ...F{} }}\n", level - 1, level - 1));
    }
    query
}

fn graphql_cases() -> Vec<Case> {
    use StatusCode as S;
    let ok = S::OK;
    let agreements_at = |at: &str| format!("{{ agreements(at: {}) {{ id }} }}", json!(at));
    let events_after = "query($a: String) { events(after: $a) { edges { cursor } } }";
    let huge = "x".repeat(100_000);
    let huge_id = "a".repeat(100_000);
    let aliases: String = (0..2600).map(|i| format!(" a{i}: ledger {{ position }}")).collect();
    vec![
        // Syntax.
        refused_query("syntax: unclosed selection", "{ ledger { position ", "INVALID_INPUT", "expected"),
        refused_query("syntax: not GraphQL at all", "SELECT * FROM events", "INVALID_INPUT", "expected"),
        refused_query("syntax: a comment and nothing else", "# just a comment", "INVALID_INPUT", "expected"),
        refused_query("syntax: stray closing brace", "{ ledger { position } } }", "INVALID_INPUT", "expected"),
        refused_query("syntax: unterminated string", "{ agreement(id: \"hok) { id } }", "INVALID_INPUT", "expected"),
        refused_query("unknown field", "{ ledger { position height } }", "INVALID_INPUT", "height"),
        refused_query("unknown top-level field", "{ treaties { id } }", "INVALID_INPUT", "treaties"),
        refused_query("unknown argument", "{ events(newest: 10) { edges { cursor } } }", "INVALID_INPUT", "newest"),
        refused_query("missing selection set", "{ ledger }", "INVALID_INPUT", "ledger"),
        refused_query("selection on a scalar", "{ ledger { position { value } } }", "INVALID_INPUT", "position"),
        refused_query("missing required argument", "{ agreement { id } }", "INVALID_INPUT", "id"),
        refused_query("undefined variable", "{ events(first: $n) { edges { cursor } } }", "INVALID_INPUT", "n"),
        refused_query("unknown fragment", "{ ledger { ...Head } }", "INVALID_INPUT", "Head"),
        refused_query(
            "fragment cycle",
            "{ ledger { ...A } } fragment A on LedgerInfo { ...B } fragment B on LedgerInfo { ...A }",
            "INVALID_INPUT",
            "recursion",
        ),
        refused_query("unknown directive", "{ ledger @cached { position } }", "INVALID_INPUT", "cached"),
        refused_query(
            "two anonymous operations",
            "{ ledger { position } } { ledger { headHash } }",
            "INVALID_INPUT",
            "operation",
        ),
        Case {
            name: "unknown operationName".into(),
            send: Sent::Raw {
                content_type: Some("application/json"),
                body: json!({"query": "query A { ledger { position } }", "operationName": "B"})
                    .to_string()
                    .into_bytes(),
            },
            status: ok,
            code: "INVALID_INPUT",
            fragment: "\"B\"",
        },
        refused_query("a query on the mutation root", "mutation { ledger { position } }", "INVALID_INPUT", "ledger"),
        refused_query(
            "a subscription over HTTP POST",
            "subscription { events(fromPosition: 1) { position } }",
            "INVALID_INPUT",
            "subscription",
        ),
        // Wrong types.
        refused_query(
            "Int argument given a string",
            "{ events(first: \"ten\") { edges { cursor } } }",
            "INVALID_INPUT",
            "Int",
        ),
        refused_query(
            "Int argument given a float",
            "{ events(first: 1.5) { edges { cursor } } }",
            "INVALID_INPUT",
            "Int",
        ),
        refused_query("Int argument over 32 bits", "{ followUp(year: 99999999999) { year } }", "INVALID_INPUT", "Int"),
        refused_query("String argument given a list", "{ agreement(id: [\"hok\"]) { id } }", "INVALID_INPUT", "id"),
        query(
            "variable of the wrong type",
            "query($n: Int) { events(first: $n) { edges { cursor } } }",
            json!({"n": "ten"}),
            ok,
            "INVALID_INPUT",
            "Int",
        ),
        query(
            "required variable missing",
            "query($id: ID!) { agreement(id: $id) { id } }",
            json!({}),
            ok,
            "INVALID_INPUT",
            "id",
        ),
        mutation(
            "input: enum given a number",
            "registerParty",
            party_input("typkommun", "Typ", json!(3)),
            "INVALID_INPUT",
            "kind",
        ),
        mutation(
            "input: missing required field",
            "registerParty",
            json!({"party": "typkommun", "kind": "MUNICIPALITY", "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "name",
        ),
        mutation(
            "input: unknown field",
            "registerParty",
            json!({"party": "typkommun", "name": "Typ", "kind": "MUNICIPALITY", "effective": "2024-06-01", "mayor": "x"}),
            "INVALID_INPUT",
            "mayor",
        ),
        mutation(
            "input: negative version",
            "recordAdoption",
            adoption("hok", json!(-1), "nacka", DECISION),
            "INVALID_INPUT",
            "RecordAdoptionInput",
        ),
        mutation(
            "input: fractional version",
            "recordAdoption",
            adoption("hok", json!(1.5), "nacka", DECISION),
            "INVALID_INPUT",
            "input.version",
        ),
        mutation(
            "input: object given a string",
            "appointMember",
            json!({"group": "vis", "person": "Anna", "role": "MEMBER", "represents": "nacka", "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "person",
        ),
        mutation(
            "input: null for a required field",
            "registerParty",
            json!({"party": "typkommun", "name": "Typ", "kind": "MUNICIPALITY", "effective": null}),
            "INVALID_INPUT",
            "effective",
        ),
        mutation(
            "input: list given a string",
            "changeRequiredParties",
            json!({"agreement": "hok", "parties": {"a": 1}, "decision": DECISION, "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "parties",
        ),
        // Unknown and malformed ids.
        mutation(
            "unknown agreement",
            "recordAdoption",
            adoption("no-such-agreement", json!(1), "nacka", DECISION),
            "NOT_FOUND",
            "no-such-agreement",
        ),
        mutation(
            "unknown party",
            "recordAdoption",
            adoption("hok", json!(1), "atlantis", DECISION),
            "NOT_FOUND",
            "atlantis",
        ),
        mutation(
            "unknown decision",
            "recordAdoption",
            adoption("hok", json!(1), "nacka", "no-such-decision"),
            "NOT_FOUND",
            "no-such-decision",
        ),
        mutation(
            "unknown municipality of a district",
            "registerDistrict",
            json!({"district": "ny-stadsdel", "name": "Ny", "municipality": "atlantis", "effective": "2024-06-01"}),
            "NOT_FOUND",
            "atlantis",
        ),
        mutation(
            "unknown body of a decision",
            "recordDecision",
            json!({"decision": "ny-decision", "body": "no-such-body", "subject": "x", "effective": "2024-06-01"}),
            "NOT_FOUND",
            "no-such-body",
        ),
        mutation(
            "unknown group",
            "assignSteward",
            json!({"agreement": "hok", "group": "no-such-group", "effective": "2024-06-01"}),
            "NOT_FOUND",
            "no-such-group",
        ),
        mutation(
            "unknown case",
            "escalateCase",
            json!({"case": "no-such-case", "to": "OFFICIALS", "reason": "x", "effective": "2024-06-01"}),
            "NOT_FOUND",
            "no-such-case",
        ),
        mutation(
            "unknown problem",
            "answerProblem",
            json!({"problem": "no-such-problem", "summary": "x", "effective": "2024-06-01"}),
            "NOT_FOUND",
            "no-such-problem",
        ),
        mutation(
            "unknown event to retract",
            "retractEvent",
            json!({"event": "00000000-0000-4000-8000-000000000000", "reason": "x", "effective": "2024-06-01"}),
            "NOT_FOUND",
            "00000000-0000-4000-8000-000000000000",
        ),
        mutation(
            "event to retract is not a UUID",
            "retractEvent",
            json!({"event": "not-a-uuid", "reason": "x", "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "UUID",
        ),
        mutation(
            "id not a slug",
            "registerParty",
            party_input("Not A Slug", "X", json!("MUNICIPALITY")),
            "INVALID_INPUT",
            "invalid id",
        ),
        mutation(
            "id with a slash",
            "registerParty",
            party_input("party/x", "X", json!("MUNICIPALITY")),
            "INVALID_INPUT",
            "invalid id",
        ),
        mutation(
            "id of 65 characters",
            "registerParty",
            party_input(&"a".repeat(65), "X", json!("MUNICIPALITY")),
            "INVALID_INPUT",
            "invalid id",
        ),
        mutation(
            "empty id",
            "registerParty",
            party_input("", "X", json!("MUNICIPALITY")),
            "INVALID_INPUT",
            "invalid id",
        ),
        mutation(
            "eventId not a UUID",
            "registerParty",
            json!({"party": "idkommun", "name": "Id", "kind": "MUNICIPALITY", "effective": "2024-06-01", "eventId": "42"}),
            "INVALID_INPUT",
            "UUID",
        ),
        mutation(
            "eventId of another event",
            "registerParty",
            json!({"party": "idkommun", "name": "Id", "kind": "MUNICIPALITY", "effective": "2024-06-01", "eventId": FIXTURE_EVENT_ID}),
            "CONFLICT",
            FIXTURE_EVENT_ID,
        ),
        mutation(
            "stale expectedVersion",
            "registerParty",
            json!({"party": "idkommun", "name": "Id", "kind": "MUNICIPALITY", "effective": "2024-06-01", "expectedVersion": 3}),
            "CONFLICT",
            "expected version 3",
        ),
        mutation(
            "expectedVersion on a retraction of an unknown event",
            "retractEvent",
            json!({"event": "00000000-0000-4000-8000-000000000001", "reason": "x", "effective": "2024-06-01", "expectedVersion": 1}),
            "NOT_FOUND",
            "00000000-0000-4000-8000-000000000001",
        ),
        refused_query(
            "query: malformed agreement id",
            "{ agreement(id: \"Not A Slug\") { id } }",
            "INVALID_INPUT",
            "invalid id",
        ),
        refused_query("query: malformed party id", "{ party(id: \"\") { id } }", "INVALID_INPUT", "invalid id"),
        refused_query("query: malformed event id", "{ event(id: \"not-a-uuid\") { id } }", "INVALID_INPUT", "UUID"),
        refused_query(
            "query: truncated event id",
            "{ event(id: \"8baf7953-45ff-4009-a6c4\") { id } }",
            "INVALID_INPUT",
            "UUID",
        ),
        refused_query(
            "query: unknown event type",
            "{ events(types: [\"PartyAdoptedd\"]) { edges { cursor } } }",
            "INVALID_INPUT",
            "PartyAdoptedd",
        ),
        refused_query(
            "query: stream without a kind",
            "{ events(stream: \"hok\") { edges { cursor } } }",
            "INVALID_INPUT",
            "hok",
        ),
        refused_query(
            "query: stream of an unknown kind",
            "{ events(stream: \"treaty/hok\") { edges { cursor } } }",
            "INVALID_INPUT",
            "treaty/hok",
        ),
        // Wrong enum values.
        mutation(
            "enum: unknown value",
            "registerParty",
            party_input("enumkommun", "E", json!("CITY")),
            "INVALID_INPUT",
            "CITY",
        ),
        mutation(
            "enum: lower case",
            "registerParty",
            party_input("enumkommun", "E", json!("municipality")),
            "INVALID_INPUT",
            "municipality",
        ),
        mutation(
            "enum: unknown member role",
            "appointMember",
            json!({"group": "vis", "person": {"name": "A"}, "role": "KING", "represents": "nacka", "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "KING",
        ),
        mutation(
            "enum: unknown case level",
            "escalateCase",
            json!({"case": "any", "to": "SUPREME_COURT", "reason": "x", "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "SUPREME_COURT",
        ),
        refused_query(
            "enum: unknown literal in the document",
            "mutation { registerParty(input: {party: \"e\", name: \"E\", kind: MUNICIPAL, effective: \"2024-06-01\"}) { position } }",
            "INVALID_INPUT",
            "MUNICIPAL",
        ),
        // Huge strings.
        mutation(
            "huge name",
            "registerParty",
            party_input("hugekommun", &huge, json!("MUNICIPALITY")),
            "INVALID_INPUT",
            "limit",
        ),
        mutation(
            "huge id",
            "registerParty",
            party_input(&huge_id, "Huge", json!("MUNICIPALITY")),
            "INVALID_INPUT",
            "invalid id",
        ),
        mutation(
            "huge source title",
            "registerParty",
            json!({"party": "hugekommun", "name": "H", "kind": "MUNICIPALITY", "effective": "2024-06-01", "source": {"title": huge}}),
            "INVALID_INPUT",
            "limit",
        ),
        query(
            "huge id in a query",
            "query($id: ID!) { agreement(id: $id) { id } }",
            json!({"id": huge_id}),
            ok,
            "INVALID_INPUT",
            "invalid id",
        ),
        query(
            "huge event type filter",
            "query($t: [String!]) { events(types: $t) { edges { cursor } } }",
            json!({"t": [huge]}),
            ok,
            "INVALID_INPUT",
            "unknown event type",
        ),
        // Deep and complex queries.
        refused_query("query nested 17 deep (limit 16)", nested_query(17), "INVALID_INPUT", "nested too deep"),
        refused_query("query nested 200 deep", nested_query(200), "INVALID_INPUT", "recursion"),
        refused_query("query of 2 600 aliases (complexity)", format!("{{{aliases} }}"), "INVALID_INPUT", "complex"),
        refused_query(
            "fragments spreading the one before twice, 30 levels (2^30 fields once expanded)",
            fan_out_fragments(30),
            "INVALID_INPUT",
            "too expensive",
        ),
        refused_query(
            "60 aliases of a county-wide agreements(at:)",
            format!(
                "{{ {} }}",
                (0..60).map(|i| format!("a{i}: agreements(at: \"2024-01-01\") {{ id status }}")).collect::<String>()
            ),
            "INVALID_INPUT",
            "too expensive",
        ),
        // Bodies.
        Case {
            name: "oversized body with Content-Length".into(),
            send: Sent::Raw { content_type: Some("application/json"), body: oversized_body() },
            status: S::PAYLOAD_TOO_LARGE,
            code: "INVALID_INPUT",
            fragment: "larger than",
        },
        Case {
            name: "oversized body streamed".into(),
            send: Sent::Streamed { body: oversized_body() },
            status: S::PAYLOAD_TOO_LARGE,
            code: "INVALID_INPUT",
            fragment: "larger than",
        },
        raw("non-JSON body", Some("application/json"), "this is not json", S::BAD_REQUEST, "not JSON"),
        raw("truncated JSON body", Some("application/json"), "{\"query\": ", S::BAD_REQUEST, "not JSON"),
        raw("empty body", Some("application/json"), "", S::BAD_REQUEST, "not JSON"),
        raw(
            "binary garbage body",
            Some("application/json"),
            vec![0u8, 0xff, 0xfe, 0x01, 0x80],
            S::BAD_REQUEST,
            "not JSON",
        ),
        raw("JSON array of numbers", Some("application/json"), "[1, 2, 3]", S::BAD_REQUEST, "\"query\""),
        raw("query is a number", Some("application/json"), "{\"query\": 42}", S::BAD_REQUEST, "\"query\""),
        raw("query is null", Some("application/json"), "{\"query\": null}", S::BAD_REQUEST, "\"query\""),
        raw(
            "variables is a string",
            Some("application/json"),
            "{\"query\": \"{ ledger { position } }\", \"variables\": \"x\"}",
            S::BAD_REQUEST,
            "\"variables\"",
        ),
        raw("JSON string body", Some("application/json"), "\"{ ledger { position } }\"", S::BAD_REQUEST, "\"query\""),
        raw("missing query", Some("application/json"), "{}", S::BAD_REQUEST, "no \"query\""),
        raw(
            "missing query with variables",
            Some("application/json"),
            "{\"variables\": {}}",
            S::BAD_REQUEST,
            "no \"query\"",
        ),
        raw("empty query", Some("application/json"), "{\"query\": \"\"}", S::BAD_REQUEST, "no \"query\""),
        raw("blank query", Some("application/json"), "{\"query\": \"  \\n \"}", S::BAD_REQUEST, "no \"query\""),
        raw(
            "content type text/plain",
            Some("text/plain"),
            "{\"query\": \"{ ledger { position } }\"}",
            S::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        raw(
            "no content type",
            None,
            "{\"query\": \"{ ledger { position } }\"}",
            S::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        raw(
            "form-encoded body",
            Some("application/x-www-form-urlencoded"),
            "query=%7B+ledger+%7B+position+%7D+%7D",
            S::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        raw("multipart body", Some("multipart/form-data"), "--x--", S::UNSUPPORTED_MEDIA_TYPE, "application/json"),
        raw(
            "content type application/graphql",
            Some("application/graphql"),
            "{ ledger { position } }",
            S::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        raw("content type xml", Some("application/xml"), "<query/>", S::UNSUPPORTED_MEDIA_TYPE, "application/json"),
        // Queries over GET (issue 17): the same refusals as over POST, and never a mutation.
        get(
            "GET: variables not JSON",
            "query=%7B%20ledger%20%7B%20position%20%7D%20%7D&variables=%7Bx",
            S::BAD_REQUEST,
            "not JSON",
        ),
        get(
            "GET: variables a list",
            "query=%7B%20ledger%20%7B%20position%20%7D%20%7D&variables=%5B%5D",
            S::BAD_REQUEST,
            "JSON object",
        ),
        get(
            "GET: extensions not JSON",
            "query=%7B%20ledger%20%7B%20position%20%7D%20%7D&extensions=x",
            S::BAD_REQUEST,
            "not JSON",
        ),
        get("GET: empty query", "query=", S::BAD_REQUEST, "no \"query\""),
        get("GET: syntax error", "query=%7B%20ledger%20%7B", ok, "expected"),
        get(
            "GET: unknown operation name",
            "query=query%20A%20%7B%20ledger%20%7B%20position%20%7D%20%7D&operationName=B",
            ok,
            "\"B\"",
        ),
        get(
            "GET: a mutation",
            "query=mutation%20%7B%20recordDecision(input%3A%20%7Bdecision%3A%20%22get%22%2C%20body%3A%20%22nacka-kf%22%2C%20subject%3A%20%22x%22%2C%20effective%3A%20%222024-01-01%22%7D)%20%7B%20position%20%7D%20%7D",
            S::METHOD_NOT_ALLOWED,
            "POST",
        ),
        get(
            "GET: a mutation chosen by operationName",
            "query=query%20Q%20%7B%20ledger%20%7B%20position%20%7D%20%7D%20mutation%20M%20%7B%20retractEvent(input%3A%20%7Bevent%3A%20%22x%22%2C%20reason%3A%20%22y%22%2C%20effective%3A%20%222024-01-01%22%7D)%20%7B%20position%20%7D%20%7D&operationName=M",
            S::METHOD_NOT_ALLOWED,
            "POST",
        ),
        // Automatic persisted queries (issue 17) sent wrong.
        raw(
            "persisted query: version 2",
            Some("application/json"),
            json!({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "0".repeat(64)}}}).to_string(),
            ok,
            "version",
        ),
        raw(
            "persisted query: not an object",
            Some("application/json"),
            json!({"extensions": {"persistedQuery": "abc"}}).to_string(),
            ok,
            "PersistedQuery",
        ),
        raw(
            "persisted query: hash of another query",
            Some("application/json"),
            json!({"query": "{ ledger { position } }",
                   "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0".repeat(64)}}})
            .to_string(),
            ok,
            "does not match",
        ),
        // Bad cursors and page sizes.
        query("cursor not base64", events_after, json!({"a": "!!not a cursor!!"}), ok, "INVALID_INPUT", "cursor"),
        query("cursor of something else", events_after, json!({"a": "ZXZlbnQ6eHl6"}), ok, "INVALID_INPUT", "cursor"),
        query("cursor that is a bare position", events_after, json!({"a": "10"}), ok, "INVALID_INPUT", "cursor"),
        query(
            "cursor with a negative position",
            events_after,
            json!({"a": "ZXZlbnQ6LTE"}),
            ok,
            "INVALID_INPUT",
            "cursor",
        ),
        query("empty cursor", events_after, json!({"a": ""}), ok, "INVALID_INPUT", "cursor"),
        refused_query("page size 0", "{ events(first: 0) { edges { cursor } } }", "INVALID_INPUT", "first"),
        refused_query("page size 501", "{ events(first: 501) { edges { cursor } } }", "INVALID_INPUT", "501"),
        refused_query("negative page size", "{ events(first: -5) { edges { cursor } } }", "INVALID_INPUT", "-5"),
        // Bad dates.
        refused_query("date 2022-02-30", agreements_at("2022-02-30"), "INVALID_INPUT", "2022-02-30"),
        refused_query("date 2022-13-01", agreements_at("2022-13-01"), "INVALID_INPUT", "2022-13-01"),
        refused_query("empty date", agreements_at(""), "INVALID_INPUT", "YYYY-MM-DD"),
        refused_query("date 'yesterday'", agreements_at("yesterday"), "INVALID_INPUT", "yesterday"),
        refused_query("date without zero padding", agreements_at("2022-9-5"), "INVALID_INPUT", "2022-9-5"),
        refused_query("date with a time", agreements_at("2022-09-05T00:00:00Z"), "INVALID_INPUT", "YYYY-MM-DD"),
        refused_query("date as a number", "{ agreements(at: 20220905) { id } }", "INVALID_INPUT", "YYYY-MM-DD"),
        refused_query("instant 'noon'", "{ agreements(asKnownAt: \"noon\") { id } }", "INVALID_INPUT", "RFC 3339"),
        refused_query(
            "instant given a date",
            "{ agreements(asKnownAt: \"2022-08-01\") { id } }",
            "INVALID_INPUT",
            "RFC 3339",
        ),
        refused_query(
            "changes with from after to",
            "{ changes(from: \"2022-12-31\", to: \"2022-01-01\") { on } }",
            "INVALID_INPUT",
            "after",
        ),
        refused_query(
            "changes over 300 years",
            "{ deadlines(from: \"1800-01-01\", to: \"2100-01-01\") { on } }",
            "INVALID_INPUT",
            "limit",
        ),
        refused_query("follow-up year 1800", "{ followUp(year: 1800) { year } }", "INVALID_INPUT", "1800"),
        mutation(
            "mutation effective 2022-02-30",
            "registerParty",
            json!({"party": "datumkommun", "name": "D", "kind": "MUNICIPALITY", "effective": "2022-02-30"}),
            "INVALID_INPUT",
            "2022-02-30",
        ),
        mutation(
            "mutation effective ''",
            "registerParty",
            json!({"party": "datumkommun", "name": "D", "kind": "MUNICIPALITY", "effective": ""}),
            "INVALID_INPUT",
            "YYYY-MM-DD",
        ),
        mutation(
            "mutation date 2022-13-01 in a nested field",
            "proposeVersion",
            json!({"agreement": "hok", "version": 2, "earliestEffective": "2022-13-01", "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "2022-13-01",
        ),
        mutation(
            "mutation date 'yesterday'",
            "recommendVersion",
            json!({"agreement": "hok", "version": 1, "decision": DECISION, "responseDue": "yesterday", "effective": "2024-06-01"}),
            "INVALID_INPUT",
            "yesterday",
        ),
    ]
}

/// Every rule of DOMAIN.md (and of the projections' command validation) that a mutation can
/// break, each broken once. [`rules_setup`] records what some of them need first.
fn rule_cases() -> Vec<Case> {
    let e = "2024-06-01";
    vec![
        // Registrations.
        mutation(
            "party registered twice",
            "registerParty",
            party_input("nacka", "Nacka", json!("MUNICIPALITY")),
            "RULE_VIOLATION",
            "already registered",
        ),
        mutation(
            "party with a blank name",
            "registerParty",
            party_input("blankkommun", "  ", json!("MUNICIPALITY")),
            "INVALID_INPUT",
            "name",
        ),
        mutation(
            "district of a region",
            "registerDistrict",
            json!({"district": "regiondel", "name": "R", "municipality": "region-stockholm", "effective": e}),
            "RULE_VIOLATION",
            "only municipalities have districts",
        ),
        mutation(
            "body registered twice",
            "registerBody",
            json!({"body": "vis", "name": "VIS", "kind": "STEERING_GROUP", "effective": e}),
            "RULE_VIOLATION",
            "already registered",
        ),
        mutation(
            "decision recorded twice",
            "recordDecision",
            json!({"decision": DECISION, "body": "vis", "subject": "x", "effective": e}),
            "RULE_VIOLATION",
            "already recorded",
        ),
        mutation(
            "decision with a blank subject",
            "recordDecision",
            json!({"decision": "blank-subject", "body": "vis", "subject": "", "effective": e}),
            "INVALID_INPUT",
            "subject",
        ),
        // Agreements.
        mutation(
            "agreement drafted twice",
            "draftAgreement",
            json!({"agreement": "hok", "title": "HÖK", "kind": "MAIN", "parties": ["nacka"], "binding": "ALL_PARTIES", "effective": e}),
            "RULE_VIOLATION",
            "already drafted",
        ),
        mutation(
            "agreement without parties",
            "draftAgreement",
            json!({"agreement": "tomt-avtal", "title": "T", "kind": "LOCAL", "parties": [], "binding": "EACH_PARTY", "effective": e}),
            "INVALID_INPUT",
            "at least one required party",
        ),
        mutation(
            "agreement with an unknown party",
            "draftAgreement",
            json!({"agreement": "okand-part", "title": "T", "kind": "LOCAL", "parties": ["atlantis"], "binding": "EACH_PARTY", "effective": e}),
            "NOT_FOUND",
            "atlantis",
        ),
        mutation(
            "supplementary agreement without a parent",
            "draftAgreement",
            json!({"agreement": "tillagg", "title": "T", "kind": "SUPPLEMENTARY", "parties": ["nacka"], "binding": "EACH_PARTY", "effective": e}),
            "INVALID_INPUT",
            "parent",
        ),
        mutation(
            "agreement that is its own parent",
            "draftAgreement",
            json!({"agreement": "sjalv", "title": "T", "kind": "LOCAL", "parent": "sjalv", "parties": ["nacka"], "binding": "EACH_PARTY", "effective": e}),
            "INVALID_INPUT",
            "own parent",
        ),
        mutation(
            "version 0",
            "proposeVersion",
            json!({"agreement": "regelavtal", "version": 0, "effective": e}),
            "INVALID_INPUT",
            "from 1",
        ),
        mutation(
            "version proposed twice",
            "proposeVersion",
            json!({"agreement": "regelavtal", "version": 1, "effective": e}),
            "RULE_VIOLATION",
            "already proposed",
        ),
        mutation(
            "version skipping one",
            "proposeVersion",
            json!({"agreement": "regelavtal", "version": 3, "effective": e}),
            "RULE_VIOLATION",
            "before version 2",
        ),
        mutation(
            "version expiring before it applies",
            "proposeVersion",
            json!({"agreement": "regelavtal", "version": 2, "earliestEffective": "2025-01-01", "expires": "2024-12-31", "effective": e}),
            "INVALID_INPUT",
            "before earliestEffective",
        ),
        mutation(
            "deciding a version never proposed",
            "decideVersion",
            json!({"agreement": "regelavtal", "version": 7, "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "never proposed",
        ),
        mutation(
            "recommending an undecided revision (HÖK 7.2)",
            "recommendVersion",
            json!({"agreement": "hok", "version": 2, "decision": DECISION, "responseDue": "2024-12-31", "effective": e}),
            "RULE_VIOLATION",
            "revision",
        ),
        mutation(
            "recommendation answered before it is made",
            "recommendVersion",
            json!({"agreement": "regelavtal", "version": 1, "decision": DECISION, "responseDue": "2024-01-01", "effective": e}),
            "INVALID_INPUT",
            "responseDue",
        ),
        mutation(
            "adoption by a party that is not required",
            "recordAdoption",
            adoption("regelavtal", json!(1), "solna", DECISION),
            "RULE_VIOLATION",
            "not a required party",
        ),
        mutation(
            "adoption of an undecided revision (HÖK 7.2)",
            "recordAdoption",
            adoption("hok", json!(2), "nacka", DECISION),
            "RULE_VIOLATION",
            "revision",
        ),
        mutation(
            "adoption of a version never proposed",
            "recordAdoption",
            adoption("regelavtal", json!(5), "nacka", DECISION),
            "RULE_VIOLATION",
            "never proposed",
        ),
        mutation(
            "declination by a party that is not required",
            "recordDeclination",
            adoption("regelavtal", json!(1), "solna", DECISION),
            "RULE_VIOLATION",
            "not a required party",
        ),
        mutation(
            "required parties changed to none",
            "changeRequiredParties",
            json!({"agreement": "regelavtal", "parties": [], "decision": DECISION, "effective": e}),
            "INVALID_INPUT",
            "at least one required party",
        ),
        mutation(
            "publication without a url",
            "publishVersion",
            json!({"agreement": "regelavtal", "version": 1, "url": " ", "effective": e}),
            "INVALID_INPUT",
            "url",
        ),
        mutation(
            "publication of a version never proposed",
            "publishVersion",
            json!({"agreement": "regelavtal", "version": 9, "url": "https://example.org", "effective": e}),
            "RULE_VIOLATION",
            "never proposed",
        ),
        // Notice (HÖK 7.2).
        mutation(
            "notice on an agreement not in force",
            "giveNotice",
            json!({"agreement": "hok", "party": "solna", "decision": DECISION, "effective": "2021-06-01"}),
            "RULE_VIOLATION",
            "not in force",
        ),
        mutation(
            "notice given twice",
            "giveNotice",
            json!({"agreement": "hok", "party": "vaxholm", "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "already given notice",
        ),
        mutation(
            "notice by a party that is not required",
            "giveNotice",
            json!({"agreement": "regelavtal", "party": "solna", "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "not a required party",
        ),
        mutation(
            "notice withdrawn that was never given",
            "withdrawNotice",
            json!({"agreement": "hok", "party": "solna", "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "no notice standing",
        ),
        mutation(
            "continuation without a notice",
            "decideContinuation",
            json!({"agreement": "hok", "afterNoticeBy": "solna", "continues": true, "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "no notice standing",
        ),
        mutation(
            "continuation after the region's notice (HÖK 7.2)",
            "decideContinuation",
            json!({"agreement": "hok", "afterNoticeBy": "region-stockholm", "continues": true, "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "region",
        ),
        // Termination, supersession, interpretation.
        mutation(
            "termination without a reason",
            "terminateAgreement",
            json!({"agreement": "regelavtal", "decision": DECISION, "reason": "", "effective": e}),
            "INVALID_INPUT",
            "reason",
        ),
        mutation(
            "agreement superseding itself",
            "supersedeAgreement",
            json!({"agreement": "regelavtal", "by": "regelavtal", "decision": DECISION, "effective": e}),
            "INVALID_INPUT",
            "itself",
        ),
        mutation(
            "superseded by an unknown agreement",
            "supersedeAgreement",
            json!({"agreement": "regelavtal", "by": "no-such-agreement", "decision": DECISION, "effective": e}),
            "NOT_FOUND",
            "no-such-agreement",
        ),
        mutation(
            "interpretation without text",
            "issueInterpretation",
            json!({"agreement": "hok", "decision": DECISION, "text": "\n", "effective": e}),
            "INVALID_INPUT",
            "text",
        ),
        mutation(
            "interpretation of an unknown case",
            "issueInterpretation",
            json!({"agreement": "hok", "case": "no-such-case", "decision": DECISION, "text": "t", "effective": e}),
            "NOT_FOUND",
            "no-such-case",
        ),
        // Groups.
        mutation(
            "steward that is dissolved",
            "assignSteward",
            json!({"agreement": "regelavtal", "group": "regionala-samradet-missbruk", "effective": e}),
            "RULE_VIOLATION",
            "dissolved",
        ),
        mutation(
            "group established twice",
            "establishGroup",
            json!({"group": "vis", "name": "VIS", "kind": "POLITICAL_STEERING", "mandate": "m", "effective": e}),
            "RULE_VIOLATION",
            "already established",
        ),
        mutation(
            "group ending before it starts",
            "establishGroup",
            json!({"group": "kort-grupp", "name": "K", "kind": "WORKING", "mandate": "m", "endsOn": "2024-05-01", "effective": e}),
            "INVALID_INPUT",
            "endsOn",
        ),
        mutation(
            "group under an unknown parent",
            "establishGroup",
            json!({"group": "foraldralos", "name": "F", "kind": "WORKING", "parent": "no-such-group", "mandate": "m", "effective": e}),
            "NOT_FOUND",
            "no-such-group",
        ),
        mutation(
            "mandate of a dissolved group",
            "changeMandate",
            json!({"group": "regionala-samradet-missbruk", "mandate": "m", "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "dissolved",
        ),
        mutation(
            "blank group name",
            "renameGroup",
            json!({"group": "vis", "name": "", "effective": e}),
            "INVALID_INPUT",
            "name",
        ),
        mutation(
            "appointment ending before it starts",
            "appointMember",
            json!({"group": "vis", "person": {"name": "Anna"}, "role": "MEMBER", "represents": "nacka", "until": "2024-01-01", "effective": e}),
            "INVALID_INPUT",
            "until",
        ),
        mutation(
            "appointment without a name",
            "appointMember",
            json!({"group": "vis", "person": {"name": " "}, "role": "MEMBER", "represents": "nacka", "effective": e}),
            "INVALID_INPUT",
            "person.name",
        ),
        mutation(
            "leaving a group one is not in",
            "recordMemberLeft",
            json!({"group": "vis", "person": {"name": "Nobody Nilsson"}, "effective": e}),
            "RULE_VIOLATION",
            "not a member",
        ),
        mutation(
            "group dissolved twice",
            "dissolveGroup",
            json!({"group": "regionala-samradet-missbruk", "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "dissolved",
        ),
        mutation(
            "coordinator of an unknown area",
            "designateCoordinator",
            json!({"area": "atlantis", "role": "HEALTH_CENTRE", "holder": "VC", "year": 2024, "designatedBy": "HSF", "effective": e}),
            "NOT_FOUND",
            "atlantis",
        ),
        mutation(
            "coordinator without a holder",
            "designateCoordinator",
            json!({"area": "bromma", "role": "HEALTH_CENTRE", "holder": "", "year": 2024, "designatedBy": "HSF", "effective": e}),
            "INVALID_INPUT",
            "holder",
        ),
        // The escalation ladder (HÖK 7.1).
        mutation(
            "case opened twice",
            "openCase",
            case_opening("regel-lokal", "LOCAL", false),
            "RULE_VIOLATION",
            "already open",
        ),
        mutation(
            "case starting at VIS",
            "openCase",
            case_opening("ny-politisk", "POLITICAL", true),
            "RULE_VIOLATION",
            "VIS",
        ),
        mutation(
            "case starting at the officials without being principled",
            "openCase",
            case_opening("ny-tjansteman", "OFFICIALS", false),
            "RULE_VIOLATION",
            "principled",
        ),
        mutation(
            "escalation skipping a step",
            "escalateCase",
            json!({"case": "regel-lokal", "to": "POLITICAL", "reason": "r", "effective": e}),
            "RULE_VIOLATION",
            "step",
        ),
        mutation(
            "escalation downwards",
            "escalateCase",
            json!({"case": "regel-tjansteman", "to": "LOCAL", "reason": "r", "effective": e}),
            "RULE_VIOLATION",
            "not a step up",
        ),
        mutation(
            "escalation above VIS",
            "escalateCase",
            json!({"case": "regel-politisk", "to": "POLITICAL", "reason": "r", "effective": e}),
            "RULE_VIOLATION",
            "VIS",
        ),
        mutation(
            "escalation of a resolved case",
            "escalateCase",
            json!({"case": "regel-lost", "to": "OFFICIALS", "reason": "r", "effective": e}),
            "RULE_VIOLATION",
            "final",
        ),
        mutation(
            "case resolved twice",
            "resolveCase",
            json!({"case": "regel-lost", "resolution": "r", "effective": e}),
            "RULE_VIOLATION",
            "final",
        ),
        mutation(
            "case withdrawn twice",
            "withdrawCase",
            json!({"case": "regel-aterkallad", "reason": "r", "effective": e}),
            "RULE_VIOLATION",
            "final",
        ),
        // Priorities, follow-up, problems, funds.
        mutation(
            "priority period ending before it starts",
            "setPriorityAreas",
            json!({"fromYear": 2026, "toYear": 2023, "areas": ["a"], "decision": DECISION, "effective": e}),
            "INVALID_INPUT",
            "toYear",
        ),
        mutation(
            "priority period without areas",
            "setPriorityAreas",
            json!({"fromYear": 2023, "toYear": 2026, "areas": [], "decision": DECISION, "effective": e}),
            "INVALID_INPUT",
            "at least one",
        ),
        mutation(
            "blank priority area",
            "addPriorityArea",
            json!({"year": 2024, "area": "", "decision": DECISION, "effective": e}),
            "INVALID_INPUT",
            "area",
        ),
        mutation(
            "follow-up of an unknown agreement",
            "planFollowUp",
            json!({"year": 2025, "agreements": ["hok", "no-such-agreement"], "decision": DECISION, "effective": e}),
            "NOT_FOUND",
            "no-such-agreement",
        ),
        mutation(
            "annual dialogue without a summary",
            "recordAnnualDialogue",
            json!({"year": 2024, "participants": ["nacka"], "summary": "", "effective": e}),
            "INVALID_INPUT",
            "summary",
        ),
        mutation(
            "problem reported twice",
            "reportProblem",
            json!({"problem": "regel-problem", "reportedBy": "nacka", "reportedTo": "STORSTHLM", "summary": "s", "effective": e}),
            "RULE_VIOLATION",
            "already reported",
        ),
        mutation(
            "problem answered without feedback",
            "answerProblem",
            json!({"problem": "regel-problem", "summary": " ", "effective": e}),
            "INVALID_INPUT",
            "summary",
        ),
        mutation(
            "no funds allocated",
            "allocateFunds",
            json!({"year": 2024, "amountSek": 0, "purpose": "p", "decision": DECISION, "effective": e}),
            "INVALID_INPUT",
            "positive",
        ),
        mutation(
            "negative funds allocated",
            "allocateFunds",
            json!({"year": 2024, "amountSek": -5, "purpose": "p", "decision": DECISION, "effective": e}),
            "INVALID_INPUT",
            "positive",
        ),
        // Corrections.
        mutation(
            "event retracted twice",
            "retractEvent",
            json!({"event": "$RETRACTED", "reason": "r", "effective": e}),
            "RULE_VIOLATION",
            "already retracted",
        ),
        mutation(
            "retraction retracted",
            "retractEvent",
            json!({"event": "$RETRACTION", "reason": "r", "effective": e}),
            "RULE_VIOLATION",
            "retraction cannot be retracted",
        ),
        mutation(
            "retraction without a reason",
            "retractEvent",
            json!({"event": FIXTURE_EVENT_ID, "reason": "", "effective": e}),
            "INVALID_INPUT",
            "reason",
        ),
        // Who may decide what (DOMAIN.md's competence table).
        mutation(
            "a HÖK revision decided by a municipal council (HÖK 7.2)",
            "decideVersion",
            json!({"agreement": "hok", "version": 2, "decision": "regel-vaxholm", "effective": e}),
            "RULE_VIOLATION",
            "decided by VIS",
        ),
        mutation(
            "the riktlinje decided by VIS instead of the officials' steering group (HÖK 3, 4.2)",
            "decideVersion",
            json!({"agreement": "riktlinje", "version": 1, "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "officials' steering group",
        ),
        mutation(
            "an interpretation issued by a municipal council (HÖK 7.1)",
            "issueInterpretation",
            json!({"agreement": "hok", "decision": "regel-vaxholm", "text": "Så tolkas 7.2.", "effective": e}),
            "RULE_VIOLATION",
            "tolkningsföreträde",
        ),
        mutation(
            "an interpretation issued by the officials' steering group (HÖK 7.1)",
            "issueInterpretation",
            json!({"agreement": "hok", "decision": OFFICIALS, "text": "Så tolkas 7.2.", "effective": e}),
            "RULE_VIOLATION",
            "decided by VIS",
        ),
        mutation(
            "a party's adoption made through another party's council (HÖK 7.2)",
            "recordAdoption",
            adoption("regelavtal", json!(1), "nacka", "regel-vaxholm"),
            "RULE_VIOLATION",
            "of 'nacka'",
        ),
        mutation(
            "a notice given through another party's council (HÖK 7.2)",
            "giveNotice",
            json!({"agreement": "hok", "party": "nacka", "decision": "regel-vaxholm", "effective": e}),
            "RULE_VIOLATION",
            "of 'nacka'",
        ),
        mutation(
            "a follow-up plan decided by VIS (HÖK 6, Riktlinje 8)",
            "planFollowUp",
            json!({"year": 2025, "agreements": ["hok"], "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "officials' steering group",
        ),
        mutation(
            "priority areas set by the officials' steering group (Riktlinje 2)",
            "setPriorityAreas",
            json!({"fromYear": 2027, "toYear": 2030, "areas": ["Psykisk hälsa"], "decision": OFFICIALS, "effective": e}),
            "RULE_VIOLATION",
            "decided by VIS",
        ),
        mutation(
            "state funds allocated by a municipal council (Riktlinje 5.3)",
            "allocateFunds",
            json!({"year": 2024, "amountSek": 1000, "purpose": "p", "decision": "regel-vaxholm", "effective": e}),
            "RULE_VIOLATION",
            "Riktlinje 5.3",
        ),
        mutation(
            "a consultation group's mandate changed by VIS (HÖK 4.3)",
            "changeMandate",
            json!({"group": "samradsgrupp-aldre", "mandate": "Nytt", "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "officials' steering group",
        ),
        mutation(
            "a case at the officials' level resolved by VIS (HÖK 7.1)",
            "resolveCase",
            json!({"case": "regel-tjansteman", "resolution": "Löst", "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "HÖK 7.1",
        ),
        mutation(
            "a county-wide agreement terminated by a municipal council (HÖK 5)",
            "terminateAgreement",
            json!({"agreement": "regelavtal", "decision": "regel-vaxholm", "reason": "Ersätts", "effective": e}),
            "RULE_VIOLATION",
            "decided by VIS",
        ),
        // Time: no answer is rewritten by a later decision.
        mutation(
            "a decision that takes effect before it was made",
            "decideVersion",
            json!({"agreement": "regelavtal", "version": 1, "decision": DECISION, "effectiveFrom": "2023-01-01", "effective": e}),
            "RULE_VIOLATION",
            "before it was made",
        ),
        mutation(
            "an event dated before the decision it cites",
            "decideVersion",
            json!({"agreement": "regelavtal", "version": 1, "decision": DECISION, "effective": "2023-01-01"}),
            "RULE_VIOLATION",
            "before decision",
        ),
        mutation(
            "an escalation dated before the case's last step (HÖK 7.1)",
            "escalateCase",
            json!({"case": "regel-lokal", "to": "OFFICIALS", "reason": "r", "effective": "2024-01-15"}),
            "RULE_VIOLATION",
            "before the case's last step",
        ),
        mutation(
            "a resolution dated before the case's last step (HÖK 7.1)",
            "resolveCase",
            json!({"case": "regel-lokal", "resolution": "Löst", "effective": "2024-01-15"}),
            "RULE_VIOLATION",
            "before the case's last step",
        ),
        mutation(
            "a case without parties (HÖK 7.1)",
            "openCase",
            json!({"case": "utan-parter", "agreement": "hok", "kind": "DEVIATION", "parties": [], "level": "LOCAL", "principled": false, "summary": "s", "effective": e}),
            "INVALID_INPUT",
            "parties",
        ),
        mutation(
            "notice on the riktlinje (Riktlinje 1)",
            "giveNotice",
            json!({"agreement": "riktlinje", "party": "vaxholm", "decision": "regel-vaxholm", "effective": e}),
            "RULE_VIOLATION",
            "through the HÖK",
        ),
        mutation(
            "continuation decided on the riktlinje (Riktlinje 1)",
            "decideContinuation",
            json!({"agreement": "riktlinje", "afterNoticeBy": "vaxholm", "continues": true, "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "through the HÖK",
        ),
        mutation(
            "continuation decided on an EACH_PARTY agreement",
            "decideContinuation",
            json!({"agreement": "regelavtal", "afterNoticeBy": "nacka", "continues": true, "decision": DECISION, "effective": e}),
            "RULE_VIOLATION",
            "EACH_PARTY",
        ),
        mutation(
            "a notice withdrawal dated before the notice",
            "withdrawNotice",
            json!({"agreement": "hok", "party": "vaxholm", "decision": "regel-vaxholm", "effective": "2024-01-31"}),
            "RULE_VIOLATION",
            "before the notice",
        ),
        mutation(
            "a notice withdrawal on the leave date (HÖK 7.2)",
            "withdrawNotice",
            json!({"agreement": "hok", "party": "vaxholm", "decision": "regel-vaxholm", "effective": "2026-02-01"}),
            "RULE_VIOLATION",
            "only before the leave date",
        ),
        // Personal data (Riktlinje 8.6).
        mutation(
            "a problem report naming a person by personal identity number (Riktlinje 8.6)",
            "reportProblem",
            json!({"problem": "personnummer", "reportedBy": "nacka", "reportedTo": "STORSTHLM", "summary": "patient 121212-1212 fick vänta", "effective": e}),
            "RULE_VIOLATION",
            "Riktlinje 8.6",
        ),
        mutation(
            "a coordination number in a source's note (Riktlinje 8.6)",
            "answerProblem",
            json!({"problem": "regel-problem", "summary": "Återkoppling", "source": {"title": "Svar", "note": "gäller 701063-2391"}, "effective": e}),
            "RULE_VIOLATION",
            "personal identity",
        ),
    ]
}

fn case_opening(case: &str, level: &str, principled: bool) -> Value {
    json!({
        "case": case, "agreement": "hok", "kind": "DEVIATION", "parties": ["nacka", "region-stockholm"],
        "level": level, "principled": principled, "summary": "Utskrivning dröjer", "effective": "2024-02-01",
    })
}

/// What the rule cases need: an agreement `regelavtal` (nacka and the region, version 1), an
/// undecided revision 2 of the HÖK, notices by Vaxholm and by the region, a dissolved group, cases
/// at each state of the ladder, a reported problem, and a retraction. Returns the ids of the
/// retracted event and of the retraction.
async fn rules_setup(server: &TestServer, token: &str) -> (String, String) {
    let e = "2024-02-01";
    let steps = [
        (
            "draftAgreement",
            json!({"agreement": "regelavtal", "title": "Regelavtal", "kind": "SUBJECT_AREA", "parties": ["nacka", "region-stockholm"], "binding": "EACH_PARTY", "noticeMonths": 12, "effective": e}),
        ),
        ("proposeVersion", json!({"agreement": "regelavtal", "version": 1, "effective": e})),
        ("proposeVersion", json!({"agreement": "hok", "version": 2, "effective": e})),
        // A party gives notice by a decision of its own body (DOMAIN.md, "Who may decide what").
        (
            "recordDecision",
            json!({"decision": "regel-vaxholm", "body": "vaxholm-kf", "subject": "Uppsägning", "effective": e}),
        ),
        ("recordDecision", json!({"decision": "regel-region", "body": "hsn", "subject": "Uppsägning", "effective": e})),
        ("giveNotice", json!({"agreement": "hok", "party": "vaxholm", "decision": "regel-vaxholm", "effective": e})),
        (
            "giveNotice",
            json!({"agreement": "hok", "party": "region-stockholm", "decision": "regel-region", "effective": e}),
        ),
        ("dissolveGroup", json!({"group": "regionala-samradet-missbruk", "decision": DECISION, "effective": e})),
        ("openCase", case_opening("regel-lokal", "LOCAL", false)),
        ("openCase", case_opening("regel-politisk", "OFFICIALS", true)),
        ("escalateCase", json!({"case": "regel-politisk", "to": "POLITICAL", "reason": "r", "effective": e})),
        ("openCase", case_opening("regel-tjansteman", "OFFICIALS", true)),
        ("openCase", case_opening("regel-lost", "LOCAL", false)),
        ("resolveCase", json!({"case": "regel-lost", "resolution": "Löst lokalt", "effective": e})),
        ("openCase", case_opening("regel-aterkallad", "LOCAL", false)),
        ("withdrawCase", json!({"case": "regel-aterkallad", "reason": "Dras tillbaka", "effective": e})),
        (
            "reportProblem",
            json!({"problem": "regel-problem", "reportedBy": "nacka", "reportedTo": "STORSTHLM", "summary": "s", "effective": e}),
        ),
        ("recordDecision", json!({"decision": "regel-felaktigt", "body": "vis", "subject": "Fel", "effective": e})),
    ];
    let mut last = Value::Null;
    for (name, input) in steps {
        last = record(server, name, input, token).await;
    }
    let retracted = last["id"].as_str().expect("id").to_owned();
    let retraction =
        record(server, "retractEvent", json!({"event": retracted, "reason": "Fel beslut", "effective": e}), token)
            .await;
    (retracted, retraction["id"].as_str().expect("id").to_owned())
}

/// Records with the SECRETARIAT token and returns the stored event; panics on an error.
async fn record(server: &TestServer, name: &str, input: Value, token: &str) -> Value {
    let (_, body) = server.post(&mutation_document(name, "id position"), json!({"input": input}), Some(token)).await;
    assert!(body["errors"].is_null(), "set-up {name} failed: {body:#}");
    body["data"][name].clone()
}

// ---------------------------------------------------------------------------------------------
// GraphQL over HTTP and the domain rules: the runner.

fn head_of(ledger: &Ledger) -> (u64, String) {
    let head = ledger.head();
    (head.position.get(), head.hash.to_string())
}

/// Asserts a message is readable: says something, is not a wall of text, leaks nothing.
fn assert_readable(area: &str, name: &str, message: &str) {
    assert!(message.trim().len() >= 8, "{area} / {name}: the message should explain the problem: {message:?}");
    assert!(
        message.chars().count() <= MAX_MESSAGE_CHARS,
        "{area} / {name}: a {}-character message is not readable: {}…",
        message.chars().count(),
        message.chars().take(200).collect::<String>()
    );
    if let Some(leak) = leaked_internals(message) {
        panic!("{area} / {name}: the message leaks internals ({leak}): {message}");
    }
}

async fn send(server: &TestServer, case: &Case, token: &str) -> (StatusCode, Bytes) {
    let request = match &case.send {
        Sent::Query { query, variables } => {
            let body = json!({"query": query, "variables": variables}).to_string();
            Request::post("/graphql")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, body.len())
                .body(Body::from(body))
        }
        Sent::Mutation { name, input } => {
            let body = json!({"query": mutation_document(name, "id position hash"), "variables": {"input": input}});
            let body = body.to_string();
            Request::post("/graphql")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, body.len())
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(body))
        }
        Sent::Raw { content_type, body } => {
            let mut request = Request::post("/graphql").header(header::CONTENT_LENGTH, body.len());
            if let Some(content_type) = content_type {
                request = request.header(header::CONTENT_TYPE, *content_type);
            }
            request.body(Body::from(body.clone()))
        }
        Sent::Streamed { body } => {
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                body.chunks(16 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            Request::post("/graphql")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures::stream::iter(chunks)))
        }
        Sent::Get { url } => {
            Request::get(url).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty())
        }
    };
    let response = server.router().oneshot(request.expect("request")).await.expect("the router always answers");
    let status = response.status();
    (status, response.into_body().collect().await.expect("body").to_bytes())
}

/// Runs one case and asserts everything the catalogue promises about it.
async fn check(area: &str, server: &TestServer, case: &Case, token: &str) {
    let name = &case.name;
    let before = head_of(&server.ledger);
    let (status, bytes) = send(server, case, token).await;
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, case.status, "{area} / {name}: status; body {}", text.chars().take(500).collect::<String>());
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!("{area} / {name}: the refusal is not JSON: {}", text.chars().take(500).collect::<String>())
    });
    let error = &body["errors"][0];
    let code = error["extensions"]["code"].as_str();
    assert_eq!(code, Some(case.code), "{area} / {name}: code; got {}", text.chars().take(800).collect::<String>());
    assert!(DOCUMENTED_CODES.contains(&case.code), "{area} / {name}: {} is not a documented code", case.code);
    // No data comes with a refusal: `data` is absent, null, or holds only nulls.
    match &body["data"] {
        Value::Null => {}
        Value::Object(fields) => {
            assert!(fields.values().all(Value::is_null), "{area} / {name}: a refusal gives no data: {body:#}")
        }
        other => panic!("{area} / {name}: unexpected data {other}"),
    }
    let message = error["message"].as_str().unwrap_or_else(|| panic!("{area} / {name}: no message: {body:#}"));
    assert_readable(area, name, message);
    assert!(
        message.to_lowercase().contains(&case.fragment.to_lowercase()),
        "{area} / {name}: the message should mention {:?}: {message}",
        case.fragment
    );
    assert_eq!(head_of(&server.ledger), before, "{area} / {name}: nothing may be appended");
    assert_still_serving(server, &before).await;
}

/// A follow-up query answers, with the head unchanged.
async fn assert_still_serving(server: &TestServer, head: &(u64, String)) {
    let (status, body) = server.post("{ ledger { position headHash } }", json!({}), None).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["data"]["ledger"], json!({"position": head.0, "headHash": head.1}), "{body:#}");
}

fn summary(area: &str, count: usize) {
    println!("bad-input catalogue: {area}: {count} cases");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_bad_input_is_refused_with_a_typed_error() {
    let server = TestServer::seeded_async(ServerConfig::default()).await;
    let token = server.token(Role::Secretariat, "catalogue");
    let cases = graphql_cases();
    for case in &cases {
        check("graphql", &server, case, &token).await;
    }
    summary("graphql (HTTP)", cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_domain_rule_a_mutation_can_break_is_refused() {
    let server = TestServer::seeded_async(ServerConfig::default()).await;
    let token = server.token(Role::Secretariat, "catalogue");
    let (retracted, retraction) = rules_setup(&server, &token).await;
    let cases = rule_cases();
    for mut case in cases.iter().cloned() {
        if let Sent::Mutation { input, .. } = &mut case.send {
            match input["event"].as_str() {
                Some("$RETRACTED") => input["event"] = json!(retracted),
                Some("$RETRACTION") => input["event"] = json!(retraction),
                _ => {}
            }
        }
        check("rules", &server, &case, &token).await;
    }
    summary("domain rules", cases.len());
}

// ---------------------------------------------------------------------------------------------
// The WebSocket.

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a WebSocket case must end with.
#[derive(Debug, Clone)]
enum WsExpect {
    /// The server closes the connection with this code, and a reason mentioning the fragment.
    Close(u16, &'static str),
    /// The server drops the connection (no close frame can be sent for a message it refused to read).
    Dropped,
    /// The operation `id` fails with this `extensions.code` and a message mentioning the fragment;
    /// the connection stays open.
    Error(&'static str, &'static str),
}

#[derive(Debug, Clone)]
struct WsCase {
    name: &'static str,
    /// Send `connection_init` (and wait for the ack) first.
    init: bool,
    /// The `connection_init` payload, when `init`.
    init_payload: Option<Value>,
    messages: Vec<Message>,
    expect: WsExpect,
}

fn subscribe_message(id: &str, query: &str, variables: Value) -> Message {
    Message::text(
        json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}).to_string(),
    )
}

const WS_SUBSCRIPTION: &str = "subscription($from: Int, $streams: [String!], $types: [String!]) {
    events(fromPosition: $from, streams: $streams, types: $types) { position }
}";

fn ws_cases() -> Vec<WsCase> {
    let case = |name, init, messages, expect| WsCase { name, init, init_payload: None, messages, expect };
    let text = |t: &str| Message::text(t.to_owned());
    let register = "mutation { registerParty(input: {party: \"wskommun\", name: \"WS\", kind: MUNICIPALITY, effective: \"2024-06-01\"}) { position } }";
    vec![
        case("not JSON before connection_init", false, vec![text("hello?")], WsExpect::Close(4400, "expected value")),
        case(
            "not JSON after connection_init",
            true,
            vec![text("this is {not json")],
            WsExpect::Close(4400, "expected"),
        ),
        case("truncated JSON", true, vec![text("{\"type\": \"subscribe\"")], WsExpect::Close(4400, "EOF")),
        case("a JSON array", true, vec![text("[1, 2]")], WsExpect::Close(4400, "invalid type")),
        case("a JSON string", false, vec![text("\"connection_init\"")], WsExpect::Close(4400, "invalid type")),
        case(
            "an unknown message type",
            true,
            vec![text("{\"type\": \"bogus\", \"id\": \"x\"}")],
            WsExpect::Close(4400, "bogus"),
        ),
        case("a message without a type", true, vec![text("{\"id\": \"x\"}")], WsExpect::Close(4400, "type")),
        case(
            "a server message from the client",
            true,
            vec![text("{\"type\": \"next\", \"id\": \"x\", \"payload\": {}}")],
            WsExpect::Close(4400, "next"),
        ),
        case(
            "subscribe without an id",
            true,
            vec![text("{\"type\": \"subscribe\", \"payload\": {\"query\": \"subscription { events { position } }\"}}")],
            WsExpect::Close(4400, "id"),
        ),
        case(
            "subscribe without a payload",
            true,
            vec![text("{\"type\": \"subscribe\", \"id\": \"x\"}")],
            WsExpect::Close(4400, "payload"),
        ),
        case(
            "a binary garbage frame",
            true,
            vec![Message::binary(vec![0u8, 0xff, 0x13, 0x37])],
            WsExpect::Close(4400, "expected value"),
        ),
        case(
            "subscribe before connection_init",
            false,
            vec![subscribe_message("early", WS_SUBSCRIPTION, json!({"from": 1}))],
            WsExpect::Close(4401, "connection_init"),
        ),
        case(
            "a subscription id that is already running",
            true,
            vec![
                // Live only (no `from`), so nothing is sent before the close.
                subscribe_message("twice", WS_SUBSCRIPTION, json!({})),
                subscribe_message("twice", WS_SUBSCRIPTION, json!({})),
            ],
            WsExpect::Close(4409, "Subscriber for twice already exists"),
        ),
        case(
            "a second connection_init",
            true,
            vec![text("{\"type\": \"connection_init\"}")],
            WsExpect::Close(4429, "initialisation"),
        ),
        case(
            "a message over the size limit",
            true,
            vec![subscribe_message(
                "big",
                "{ ledger { position } }",
                json!({"padding": "x".repeat(BODY_LIMIT + 1024)}),
            )],
            WsExpect::Dropped,
        ),
        case(
            "subscription to an unknown event type",
            true,
            vec![subscribe_message("s", WS_SUBSCRIPTION, json!({"from": 1, "types": ["NoSuchEvent"]}))],
            WsExpect::Error("INVALID_INPUT", "NoSuchEvent"),
        ),
        case(
            "subscription to a malformed stream",
            true,
            vec![subscribe_message("s", WS_SUBSCRIPTION, json!({"from": 1, "streams": ["not a stream"]}))],
            WsExpect::Error("INVALID_INPUT", "not a stream"),
        ),
        case(
            "subscription from a negative position",
            true,
            vec![subscribe_message("s", WS_SUBSCRIPTION, json!({"from": -1}))],
            WsExpect::Error("INVALID_INPUT", "Int"),
        ),
        case(
            "subscription with a syntax error",
            true,
            vec![subscribe_message("s", "subscription { events(fromPosition: 1) { position ", json!({}))],
            WsExpect::Error("INVALID_INPUT", "expected"),
        ),
        case(
            "subscription to an unknown field",
            true,
            vec![subscribe_message("s", "subscription { events { nonsense } }", json!({}))],
            WsExpect::Error("INVALID_INPUT", "nonsense"),
        ),
        case(
            "query over the socket with date 2022-02-30",
            true,
            vec![subscribe_message("s", "{ agreements(at: \"2022-02-30\") { id } }", json!({}))],
            WsExpect::Error("INVALID_INPUT", "2022-02-30"),
        ),
        case(
            "query over the socket nested too deep",
            true,
            vec![subscribe_message("s", &nested_query(17), json!({}))],
            WsExpect::Error("INVALID_INPUT", "nested too deep"),
        ),
        case(
            "query over the socket with a bad cursor",
            true,
            vec![subscribe_message("s", "{ events(after: \"!!\") { edges { cursor } } }", json!({}))],
            WsExpect::Error("INVALID_INPUT", "cursor"),
        ),
        case(
            "mutation over the socket without a token",
            true,
            vec![subscribe_message("s", register, json!({}))],
            WsExpect::Error("UNAUTHENTICATED", "token"),
        ),
        WsCase {
            name: "mutation over the socket with an unknown token",
            init: true,
            init_payload: Some(json!({"Authorization": "Bearer svk_not-a-token"})),
            messages: vec![subscribe_message("s", register, json!({}))],
            expect: WsExpect::Error("UNAUTHENTICATED", "unknown token"),
        },
    ]
}

async fn connect(addr: SocketAddr) -> Ws {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-transport-ws"));
    let (ws, _) =
        timeout(BOUND, tokio_tungstenite::connect_async(request)).await.expect("handshake in time").expect("handshake");
    ws
}

/// What arrived next: a JSON message, a close frame, the connection dropped without one, or a frame
/// the client could not accept (an invalid close frame, say).
#[derive(Debug)]
enum Incoming {
    Json(Value),
    Close(u16, String),
    Dropped,
    Broken(String),
}

async fn recv(ws: &mut Ws) -> Incoming {
    timeout(BOUND, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return Incoming::Json(serde_json::from_str(&t).expect("the server sends JSON"));
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Incoming::Close(frame.code.into(), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => return Incoming::Dropped,
                Some(Ok(Message::Binary(b))) => panic!("unexpected binary message {b:?}"),
                Some(Ok(_)) => {}
                Some(Err(tokio_tungstenite::tungstenite::Error::Protocol(
                    tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ))) => return Incoming::Dropped,
                Some(Err(tokio_tungstenite::tungstenite::Error::Protocol(e))) => {
                    return Incoming::Broken(e.to_string());
                }
                Some(Err(_)) => return Incoming::Dropped,
            }
        }
    })
    .await
    .expect("the server answers within the bound instead of hanging")
}

async fn init(ws: &mut Ws, payload: Option<Value>) {
    let mut message = json!({"type": "connection_init"});
    if let Some(payload) = payload {
        message["payload"] = payload;
    }
    ws.send(Message::text(message.to_string())).await.expect("send");
    match recv(ws).await {
        Incoming::Json(ack) if ack["type"] == "connection_ack" => {}
        other => panic!("expected connection_ack, got {other:?}"),
    }
}

/// `/healthz` over a real socket, and a well-behaved subscriber still gets the head event.
async fn assert_socket_serving(addr: SocketAddr, head: &(u64, String)) {
    let mut stream = timeout(BOUND, tokio::net::TcpStream::connect(addr)).await.expect("in time").expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: samverkan\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut response = Vec::new();
    timeout(BOUND, stream.read_to_end(&mut response)).await.expect("in time").expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    let health: Value = serde_json::from_str(body).expect("healthz is JSON");
    assert_eq!(
        (health["position"].as_u64(), health["headHash"].as_str()),
        (Some(head.0), Some(head.1.as_str())),
        "{health}"
    );

    let mut ws = connect(addr).await;
    init(&mut ws, None).await;
    ws.send(subscribe_message("check", WS_SUBSCRIPTION, json!({"from": head.0}))).await.expect("send");
    match recv(&mut ws).await {
        Incoming::Json(m) => assert_eq!(m["payload"]["data"]["events"]["position"], json!(head.0), "{m}"),
        other => panic!("a well-behaved subscriber gets the head event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_websocket_traffic_is_refused_and_the_server_keeps_serving() {
    let server = TestServer::seeded_async(ServerConfig::default()).await;
    let addr = server.listen().await;
    let cases = ws_cases();
    for case in &cases {
        let name = case.name;
        let before = head_of(&server.ledger);
        let mut ws = connect(addr).await;
        if case.init {
            init(&mut ws, case.init_payload.clone()).await;
        }
        for message in &case.messages {
            // The server may close before it has read everything; a failed send is then expected.
            let _ = timeout(BOUND, ws.send(message.clone())).await.expect("send in time");
        }
        match (&case.expect, recv(&mut ws).await) {
            (WsExpect::Close(code, fragment), Incoming::Close(got, reason)) => {
                assert_eq!(got, *code, "websocket / {name}: close code (reason {reason:?})");
                assert_readable("websocket", name, &reason);
                assert!(
                    reason.contains(fragment),
                    "websocket / {name}: the reason should mention {fragment:?}: {reason}"
                );
            }
            (WsExpect::Dropped, Incoming::Dropped | Incoming::Close(..)) => {}
            (WsExpect::Error(code, fragment), Incoming::Json(message)) => {
                assert_eq!(message["id"], json!("s"), "websocket / {name}: {message}");
                // async-graphql answers a failed operation with `next` carrying errors, then `complete`.
                let errors = match message["type"].as_str() {
                    Some("error") => message["payload"].clone(),
                    Some("next") => message["payload"]["errors"].clone(),
                    _ => panic!("websocket / {name}: expected an error, got {message}"),
                };
                let error = &errors[0];
                assert_eq!(error["extensions"]["code"].as_str(), Some(*code), "websocket / {name}: {message}");
                let text = error["message"].as_str().expect("a message");
                assert_readable("websocket", name, text);
                assert!(text.contains(fragment), "websocket / {name}: the message should mention {fragment:?}: {text}");
                if message["type"] == "next" {
                    match recv(&mut ws).await {
                        Incoming::Json(complete) => {
                            assert_eq!(complete, json!({"type": "complete", "id": "s"}), "websocket / {name}")
                        }
                        other => panic!("websocket / {name}: expected complete, got {other:?}"),
                    }
                }
            }
            (_, Incoming::Broken(e)) => {
                panic!("websocket / {name}: the server sent a frame the client cannot accept: {e}")
            }
            (expected, got) => panic!("websocket / {name}: expected {expected:?}, got {got:?}"),
        }
        assert_eq!(head_of(&server.ledger), before, "websocket / {name}: nothing may be appended");
        assert_socket_serving(addr, &before).await;
    }
    summary("websocket", cases.len());
}

// ---------------------------------------------------------------------------------------------
// The real program: JSON Lines import and the command line.

/// What a finished run of the program printed.
#[derive(Debug)]
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs the program with `args`, stdout to `stdout` (piped when `None`); bounded, killed on overrun.
fn run_program(args: &[&str], stdout: Option<std::fs::File>) -> Run {
    let mut command = Command::new(SAMVERKAN);
    command.args(args).env_remove("RUST_LOG").env_remove("SAMVERKAN_DATA").stdin(Stdio::null()).stderr(Stdio::piped());
    match stdout {
        Some(file) => command.stdout(file),
        None => command.stdout(Stdio::piped()),
    };
    let mut child = command.spawn().expect("the program starts");
    // Each pipe is drained by its own thread (so neither can fill up and stall the program); both
    // end when the program exits, which is the condition waited for, with a bound.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
        });
        rx
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let deadline = Instant::now() + BOUND;
    let mut finished = |rx: std::sync::mpsc::Receiver<String>| {
        rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("samverkan {args:?} did not finish within {BOUND:?}")
        })
    };
    let stdout = finished(out);
    let stderr = finished(err);
    let status = child.wait().expect("wait");
    Run { success: status.success(), stdout, stderr }
}

/// A seeded data directory (the fixtures imported by the program itself).
fn seeded_data_dir(root: &Path) -> PathBuf {
    let data = root.join("data");
    let run = run_program(&["import", FIXTURE, "--data", path(&data)], None);
    assert!(run.success, "{}", run.stderr);
    data
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Head position and hash of the data directory's ledger (opened and closed again).
fn disk_head(data: &Path) -> (u64, String) {
    head_of(&Ledger::open(data.join("ledger"), LedgerConfig::default()).expect("the ledger opens"))
}

/// Asserts a failed run: non-zero exit, exactly one line on stderr naming the problem, no panic,
/// nothing on stdout. `dir` is replaced by `<dir>` before looking for leaks (the user's own paths
/// belong in the message).
fn assert_one_line_failure(area: &str, name: &str, run: &Run, fragment: &str, dir: &Path) {
    assert!(!run.success, "{area} / {name}: should fail; stderr {:?}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{area} / {name}: panicked: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{area} / {name}: one line on stderr, got {:?}", run.stderr);
    let line = lines[0];
    assert!(line.starts_with("samverkan: "), "{area} / {name}: {line}");
    assert!(line.contains(fragment), "{area} / {name}: the line should mention {fragment:?}: {line}");
    let anonymous = line
        .replace(path(dir), "<dir>")
        .replace(&dir.canonicalize().map(|d| path(&d).to_owned()).unwrap_or_default(), "<dir>");
    assert_readable(area, name, &anonymous);
    assert!(run.stdout.is_empty(), "{area} / {name}: nothing on stdout, got {:?}", run.stdout);
}

/// A JSON Lines case: the file's content, and what the one error line must say.
struct ImportCase {
    name: &'static str,
    content: Vec<u8>,
    fragment: &'static str,
}

fn line(value: Value) -> String {
    value.to_string()
}

fn import_cases() -> Vec<ImportCase> {
    let good = |party: &str| {
        line(
            json!({"type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": party, "name": "Ny kommun", "kind": "MUNICIPALITY"}}),
        )
    };
    let lines = |ls: &[String]| ls.join("\n").into_bytes();
    let case = |name, ls: &[String], fragment| ImportCase { name, content: lines(ls), fragment };
    let registered = |recorded_at: &str, party: &str| {
        line(
            json!({"type": "PartyRegistered", "effective": "2024-06-01", "recordedAt": recorded_at, "data": {"party": party, "name": "N", "kind": "MUNICIPALITY"}}),
        )
    };
    let id = "0b0b0b0b-0000-4000-8000-000000000001";
    let with_id = |party: &str| {
        line(
            json!({"id": id, "type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": party, "name": "N", "kind": "MUNICIPALITY"}}),
        )
    };
    let chained = |field: &str, value: Value| {
        let mut v = json!({"type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": "kedjekommun", "name": "K", "kind": "MUNICIPALITY"}});
        v[field] = value;
        line(v)
    };
    vec![
        case("broken JSON", &[good("a-kommun"), "{\"type\": \"PartyRegistered\"".to_owned()], "line 2"),
        case("not JSON at all", &["hello, world".to_owned()], "line 1"),
        case(
            "a bad line in the middle",
            &[good("a-kommun"), good("b-kommun"), "{\"type\": 7}".to_owned(), good("c-kommun"), good("d-kommun")],
            "line 3",
        ),
        case("a JSON array line", &[good("a-kommun"), "[1, 2]".to_owned()], "line 2: expected an event"),
        case("a JSON null line", &["null".to_owned()], "line 1: expected an event"),
        case(
            "data that is not an object",
            &[line(json!({"type": "PartyRegistered", "effective": "2024-06-01", "data": [1, 2]}))],
            "line 1",
        ),
        case(
            "effective as a number",
            &[line(
                json!({"type": "PartyRegistered", "effective": 20240601, "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}),
            )],
            "line 1",
        ),
        case(
            "version as a string",
            &[line(
                json!({"type": "PartyAdopted", "effective": "2024-06-01", "data": {"agreement": "hok", "version": "1", "party": "nacka", "decision": DECISION}}),
            )],
            "line 1",
        ),
        case(
            "recordedAt as a number",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2024-06-01", "recordedAt": 1700000000, "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}),
            )],
            "line 1",
        ),
        case(
            "missing type",
            &[line(json!({"effective": "2024-06-01", "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}))],
            "type",
        ),
        case(
            "missing effective",
            &[line(json!({"type": "PartyRegistered", "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}))],
            "effective",
        ),
        case("missing data", &[line(json!({"type": "PartyRegistered", "effective": "2024-06-01"}))], "data"),
        case(
            "missing data field",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": "x", "kind": "MUNICIPALITY"}}),
            )],
            "name",
        ),
        case(
            "unknown event type",
            &[line(json!({"type": "PartyRegistred", "effective": "2024-06-01", "data": {}}))],
            "PartyRegistred",
        ),
        case(
            "unknown field on the line",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2024-06-01", "mood": "happy", "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}),
            )],
            "mood",
        ),
        case(
            "effective 2022-02-30",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2022-02-30", "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}),
            )],
            "2022-02-30",
        ),
        case(
            "unknown vocabulary",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": "x", "name": "X", "kind": "CITY"}}),
            )],
            "CITY",
        ),
        case(
            "malformed id",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": "Ny Kommun", "name": "X", "kind": "MUNICIPALITY"}}),
            )],
            "invalid id",
        ),
        case(
            "record times out of order in the file",
            &[registered("2025-03-01T00:00:00Z", "a-kommun"), registered("2025-02-01T00:00:00Z", "b-kommun")],
            "line 2",
        ),
        case(
            "record time before the ledger's head",
            &[registered("2020-01-01T00:00:00Z", "a-kommun")],
            "before the ledger's latest",
        ),
        case("record time in the future", &[registered("2999-01-01T00:00:00Z", "a-kommun")], "future"),
        case("duplicate ids in the file", &[with_id("a-kommun"), with_id("b-kommun")], "line 2"),
        case(
            "id of a stored event with other content",
            &[line(
                json!({"id": FIXTURE_EVENT_ID, "type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}),
            )],
            FIXTURE_EVENT_ID,
        ),
        case("wrong prevHash", &[chained("prevHash", json!("0".repeat(64)))], "prevHash"),
        case("wrong hash", &[chained("hash", json!("ab".repeat(32)))], "hash"),
        case("malformed hash", &[chained("hash", json!("xyz"))], "hash"),
        case("wrong position", &[chained("position", json!(5))], "position"),
        case("wrong stream", &[chained("stream", json!("party/annan"))], "stream"),
        case(
            "a rule broken on line 2",
            &[
                good("a-kommun"),
                line(
                    json!({"type": "PartyAdopted", "effective": "2024-06-01", "data": {"agreement": "no-such-agreement", "version": 1, "party": "nacka", "decision": DECISION}}),
                ),
            ],
            "line 2",
        ),
        case("a rule broken by an earlier line", &[good("a-kommun"), good("a-kommun")], "already registered"),
        case(
            "a personal identity number in an imported summary (Riktlinje 8.6)",
            &[
                good("a-kommun"),
                line(
                    json!({"type": "ProblemReported", "effective": "2024-06-01", "data": {"problem": "pnr", "reportedBy": "a-kommun", "reportedTo": "STORSTHLM", "summary": "gäller 19121212-1212"}}),
                ),
            ],
            "Riktlinje 8.6",
        ),
        case(
            "an imported adoption decided by another party's council (HÖK 7.2)",
            &[line(
                json!({"type": "PartyAdopted", "effective": "2024-06-01", "data": {"agreement": "hok", "version": 1, "party": "nacka", "decision": DECISION}}),
            )],
            "of 'nacka'",
        ),
        case(
            "an event over the size limit",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2024-06-01", "data": {"party": "x", "name": "x".repeat(70_000), "kind": "MUNICIPALITY"}}),
            )],
            "limit",
        ),
        case(
            "empty recordedBy",
            &[line(
                json!({"type": "PartyRegistered", "effective": "2024-06-01", "recordedBy": "", "data": {"party": "x", "name": "X", "kind": "MUNICIPALITY"}}),
            )],
            "recordedBy",
        ),
        ImportCase { name: "an empty file", content: Vec::new(), fragment: "no events" },
        ImportCase { name: "only blank lines", content: b"\n\n   \n".to_vec(), fragment: "no events" },
        ImportCase {
            name: "binary garbage",
            content: vec![0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, 0x10, b'\n', 0xc3],
            fragment: "UTF-8",
        },
        ImportCase {
            name: "a NUL byte in the middle of a line",
            content: format!("{}\n{{\"type\": \"Party\0Registered\"}}\n", good("a-kommun")).into_bytes(),
            fragment: "line 2",
        },
    ]
}

#[test]
fn bad_jsonl_imports_are_refused_whole_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = seeded_data_dir(dir.path());
    let cases = import_cases();
    for case in &cases {
        let before = disk_head(&data);
        let file = dir.path().join("import.jsonl");
        std::fs::write(&file, &case.content).expect("write");
        let run = run_program(&["import", path(&file), "--data", path(&data)], None);
        assert_one_line_failure("jsonl", case.name, &run, case.fragment, dir.path());
        assert!(
            run.stderr.contains("not imported") || run.stderr.contains("nothing was imported"),
            "jsonl / {}: {}",
            case.name,
            run.stderr
        );
        assert_eq!(disk_head(&data), before, "jsonl / {}: nothing may be appended", case.name);
    }
    // The data directory is still a sound ledger.
    let run = run_program(&["verify", "--data", path(&data)], None);
    assert!(run.success, "{}", run.stderr);
    summary("jsonl import", cases.len());
}

/// A command-line case: its arguments (`{data}` is a seeded data directory, `{dir}` the temporary
/// directory), and what the one error line must say.
struct CliCase {
    name: &'static str,
    args: Vec<&'static str>,
    fragment: &'static str,
}

fn cli_cases() -> Vec<CliCase> {
    let case = |name, args: &[&'static str], fragment| CliCase { name, args: args.to_vec(), fragment };
    vec![
        case("at 2022-02-30", &["at", "2022-02-30", "--data", "{data}"], "invalid date \"2022-02-30\""),
        case("at 2022-13-01", &["at", "2022-13-01", "--data", "{data}"], "invalid date \"2022-13-01\""),
        case("at ''", &["at", "", "--data", "{data}"], "invalid date \"\""),
        case("at yesterday", &["at", "yesterday", "--data", "{data}"], "invalid date \"yesterday\""),
        case("at without a date", &["at", "--data", "{data}"], "DATE"),
        case("--known-at noon", &["at", "2022-10-01", "--known-at", "noon", "--data", "{data}"], "RFC 3339"),
        case(
            "--known-at given a date",
            &["at", "2022-10-01", "--known-at", "2022-08-01", "--data", "{data}"],
            "RFC 3339",
        ),
        case("verify a missing directory", &["verify", "--data", "{dir}/missing"], "not a Samverkan data directory"),
        case("export a missing directory", &["export", "--data", "{dir}/missing"], "not a Samverkan data directory"),
        case(
            "at in a missing directory",
            &["at", "2022-10-01", "--data", "{dir}/missing"],
            "not a Samverkan data directory",
        ),
        case(
            "verify a directory that is not a ledger",
            &["verify", "--data", "{dir}/other"],
            "not a Samverkan data directory",
        ),
        case(
            "export a directory that is not a ledger",
            &["export", "--data", "{dir}/other"],
            "not a Samverkan data directory",
        ),
        case(
            "import into a directory that is not a ledger",
            &["import", FIXTURE, "--data", "{dir}/other"],
            "not a Samverkan data directory",
        ),
        case(
            "token create in a directory that is not a ledger",
            &["token", "create", "--role", "READER", "--name", "r", "--data", "{dir}/other"],
            "not a Samverkan data directory",
        ),
        case(
            "serve a directory that is not a ledger",
            &["serve", "--no-seed", "--listen", "127.0.0.1:0", "--data", "{dir}/other"],
            "not a Samverkan data directory",
        ),
        case(
            "verify a file as the data directory",
            &["verify", "--data", "{dir}/a-file"],
            "not a Samverkan data directory",
        ),
        case(
            "import into a file as the data directory",
            &["import", FIXTURE, "--data", "{dir}/a-file"],
            "not a directory",
        ),
        case("verify a ledger/ that is not sled", &["verify", "--data", "{dir}/junk"], "not a Samverkan ledger"),
        case("unknown subcommand", &["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        case("misspelt subcommand", &["verfy", "--data", "{data}"], "verify"),
        case("no subcommand", &[], "a command is needed: serve, import"),
        case("unknown flag", &["verify", "--frobnicate", "--data", "{data}"], "--frobnicate"),
        case("missing required flag", &["token", "create", "--role", "READER", "--data", "{data}"], "--name"),
        case("flag without its value", &["verify", "--data"], "--data"),
        case("unknown role", &["token", "create", "--role", "KING", "--name", "k", "--data", "{data}"], "unknown role"),
        case(
            "PARTY without --party",
            &["token", "create", "--role", "PARTY", "--name", "p", "--data", "{data}"],
            "--party",
        ),
        case(
            "PARTY with a malformed party",
            &["token", "create", "--role", "PARTY", "--party", "Not A Slug", "--name", "p", "--data", "{data}"],
            "invalid id",
        ),
        case(
            "READER with --party",
            &["token", "create", "--role", "READER", "--party", "nacka", "--name", "r", "--data", "{data}"],
            "--party",
        ),
        case(
            "empty token name",
            &["token", "create", "--role", "READER", "--name", "", "--data", "{data}"],
            "token name",
        ),
        case("listen on a bad address", &["serve", "--listen", "not-an-address", "--data", "{data}"], "not-an-address"),
        case(
            "listen on an address in use",
            &["serve", "--no-seed", "--listen", "{busy}", "--data", "{data}"],
            "cannot listen",
        ),
        case(
            "import a missing file",
            &["import", "{dir}/no-such-file.jsonl", "--data", "{data}"],
            "no-such-file.jsonl",
        ),
        case("import a directory", &["import", "{dir}", "--data", "{data}"], "is a directory"),
        case(
            "revoke a token that does not exist",
            &["token", "revoke", "nobody", "--data", "{data}"],
            "no token is named",
        ),
        case(
            "a token expiry that is not a date",
            &["token", "create", "--role", "READER", "--name", "r", "--expires", "2026-13-01", "--data", "{data}"],
            "YYYY-MM-DD",
        ),
        case(
            "a token expiry in the past",
            &["token", "create", "--role", "READER", "--name", "r", "--expires", "2000-01-01", "--data", "{data}"],
            "in the past",
        ),
        case(
            "token list in a directory that is not a ledger",
            &["token", "list", "--data", "{dir}/other"],
            "not a Samverkan data directory",
        ),
        case("export through a server that is not there", &["export", "--url", "http://127.0.0.1:9"], "cannot reach"),
    ]
}

#[test]
fn bad_command_lines_fail_with_one_clear_line_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = seeded_data_dir(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("notes.txt"), "not a ledger").expect("write");
    std::fs::write(dir.path().join("a-file"), "x").expect("write");
    let junk = dir.path().join("junk");
    std::fs::create_dir_all(junk.join("ledger")).expect("mkdir");
    std::fs::write(junk.join("ledger").join("db"), "not sled").expect("write");
    // An address something already listens on.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_addr = busy.local_addr().expect("addr").to_string();

    let listing = |p: &Path| -> Vec<String> {
        let mut names: Vec<String> =
            walk(p).into_iter().map(|f| f.strip_prefix(p).expect("under").display().to_string()).collect();
        names.sort();
        names
    };
    let cases = cli_cases();
    for case in &cases {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace("{data}", path(&data)).replace("{dir}", path(dir.path())).replace("{busy}", &busy_addr))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = disk_head(&data);
        let others = (listing(&other), listing(&junk));
        let run = run_program(&args, None);
        assert_one_line_failure("cli", case.name, &run, case.fragment, dir.path());
        assert_eq!(disk_head(&data), before, "cli / {}: nothing may be appended", case.name);
        assert_eq!((listing(&other), listing(&junk)), others, "cli / {}: nothing may be written", case.name);
        assert!(!dir.path().join("missing").exists(), "cli / {}: a read-only command created a directory", case.name);
    }

    // An export that cannot be written (a full disk) fails with one line and changes nothing.
    let before = disk_head(&data);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let run = run_program(&["export", "--data", path(&data)], Some(full));
    assert_one_line_failure(
        "cli",
        "export to a full disk",
        &run,
        "cannot write the export to standard output",
        dir.path(),
    );
    assert_eq!(disk_head(&data), before);

    let run = run_program(&["verify", "--data", path(&data)], None);
    assert!(run.success, "the data directory still verifies: {}", run.stderr);
    drop(busy);
    summary("cli", cases.len() + 1);
}

/// Every file under `root`.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").map(|e| e.expect("entry").path()) {
            if entry.is_dir() {
                stack.push(entry);
            } else {
                out.push(entry);
            }
        }
    }
    out
}

#[test]
fn the_catalogue_covers_every_area() {
    let areas = BTreeMap::from([
        ("graphql (HTTP)", graphql_cases().len()),
        ("domain rules", rule_cases().len()),
        ("websocket", ws_cases().len()),
        ("jsonl import", import_cases().len()),
        ("cli", cli_cases().len() + 1),
    ]);
    let total: usize = areas.values().sum();
    for (area, count) in &areas {
        summary(area, *count);
    }
    println!("bad-input catalogue: total: {total} cases");
    assert!(total >= 100, "the catalogue should hold at least 100 cases, it holds {total}");
    let mut names: Vec<String> = graphql_cases().into_iter().chain(rule_cases()).map(|c| c.name).collect();
    names.extend(ws_cases().iter().map(|c| c.name.to_owned()));
    names.extend(import_cases().iter().map(|c| c.name.to_owned()));
    names.extend(cli_cases().iter().map(|c| c.name.to_owned()));
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "every case has its own name");
}
