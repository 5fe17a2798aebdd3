//! The authorization matrix (issue 7): every mutation of the schema × every kind of caller – no
//! token, an unknown token, a token sent without the `Bearer` scheme, READER, AUDITOR, a PARTY
//! token for another party, a PARTY token for the party the event is about, SECRETARIAT – through
//! the router (`oneshot`), on the real fixtures plus a little set-up.
//!
//! The mutations are read from the schema by introspection (and checked against the committed SDL),
//! so a new mutation without a row in the matrix fails the test. Each cell's expected outcome
//! follows API.md's rules: every mutation needs a token (`UNAUTHENTICATED` otherwise); READER and
//! AUDITOR only read (`FORBIDDEN`); PARTY records only its own party's adoptions, declinations and
//! notices (`FORBIDDEN` for anything else, and for another party); SECRETARIAT records anything.
//! A refused cell must append nothing (the ledger's head position and hash are compared); an
//! allowed cell must get past authorization – every allowed cell here is built to be valid, so it
//! records its event, with the token's name as `recordedBy`. A last test runs the same rules for
//! one party-scoped mutation over the WebSocket, where the token travels in `connection_init`.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::{SinkExt, StreamExt};
use graphql::{Role, ServerConfig};
use http_body_util::BodyExt;
use ledger::PartyId;
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header::SEC_WEBSOCKET_PROTOCOL};
use tower::ServiceExt;

use crate::support::{DOCUMENTED_CODES, TestServer, leaked_internals, mutation_document};

/// A decision of VIS recorded in the fixtures, for every input that VIS decides.
const DECISION: &str = "vis-2023-12-13-handlingsplan";
/// A decision of the officials' steering group recorded in the fixtures, for what it decides.
const OFFICIALS: &str = "tjanstemannastyrgruppen-2022-07-01-riktlinje";
/// The parties whose own decisions (adoptions, declinations, notices) the rows and the set-up
/// record; [`setup`] records `authz-<party>` by each one's council.
const OWN_DECISION_PARTIES: &[&str] = &["nacka", "taby", "sollentuna", "huddinge", "haninge", "tyreso"];

/// A party's own decision, recorded by [`setup`] (DOMAIN.md: a party acts through its own bodies).
fn own(party: &str) -> String {
    format!("authz-{party}")
}
/// The mutations a PARTY token may record for its own party (API.md §2 and §3: "its own
/// adoptions, declinations and notices").
const PARTY_SCOPED: &[&str] = &["recordAdoption", "recordDeclination", "giveNotice", "withdrawNotice"];
/// The longest any single wait may take before the test fails instead of hanging.
const BOUND: Duration = Duration::from_secs(10);

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No Authorization header.
    Anonymous,
    /// `Bearer` with a token the server does not know.
    UnknownToken,
    /// A valid SECRETARIAT token sent without the `Bearer` scheme.
    NoBearerScheme,
    Reader,
    Auditor,
    /// A PARTY token for a party other than the one the event is about.
    OtherParty,
    /// A PARTY token for the party the event is about.
    OwnParty,
    Secretariat,
}

const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::UnknownToken,
    Caller::NoBearerScheme,
    Caller::Reader,
    Caller::Auditor,
    Caller::OtherParty,
    Caller::OwnParty,
    Caller::Secretariat,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Unauthenticated,
    Forbidden,
    Allowed,
}

/// API.md's rules, written out once.
fn expected(mutation: &str, caller: Caller) -> Outcome {
    match caller {
        Caller::Anonymous | Caller::UnknownToken | Caller::NoBearerScheme => Outcome::Unauthenticated,
        Caller::Reader | Caller::Auditor | Caller::OtherParty => Outcome::Forbidden,
        Caller::OwnParty if PARTY_SCOPED.contains(&mutation) => Outcome::Allowed,
        Caller::OwnParty => Outcome::Forbidden,
        Caller::Secretariat => Outcome::Allowed,
    }
}

/// One row: a mutation and a valid input for it. `input(party)` builds the input about `party`;
/// for the party-scoped mutations the PARTY tokens are for `own` (own) and `solna` (other), and
/// SECRETARIAT records the same for `secretariat_party`, so both allowed cells can record.
struct Row {
    mutation: &'static str,
    own: &'static str,
    secretariat_party: &'static str,
    input: Box<dyn Fn(&str) -> Value>,
}

fn row(mutation: &'static str, input: impl Fn(&str) -> Value + 'static) -> Row {
    Row { mutation, own: "nacka", secretariat_party: "nacka", input: Box::new(input) }
}

fn scoped(
    mutation: &'static str,
    own: &'static str,
    secretariat_party: &'static str,
    input: impl Fn(&str) -> Value + 'static,
) -> Row {
    Row { mutation, own, secretariat_party, input: Box::new(input) }
}

/// Adds `effective` to an input.
fn on(mut input: Value) -> Value {
    input["effective"] = json!("2024-06-01");
    input
}

/// The matrix's rows: one per mutation, each input valid against the fixtures plus [`setup`].
fn rows(retractable: String) -> Vec<Row> {
    vec![
        row("registerParty", |_| on(json!({"party": "authz-kommun", "name": "Authz kommun", "kind": "MUNICIPALITY"}))),
        row("registerDistrict", |_| {
            on(json!({"district": "authz-stadsdel", "name": "Authz", "municipality": "stockholm"}))
        }),
        row("registerBody", |p| on(json!({"body": "authz-namnd", "name": "Authz-nämnden", "kind": "BOARD", "of": p}))),
        row("recordDecision", |_| on(json!({"decision": "authz-beslut", "body": "vis", "subject": "Authz"}))),
        row("draftAgreement", |p| {
            on(
                json!({"agreement": "authz-avtal", "title": "Authz", "kind": "LOCAL", "parties": [p, "region-stockholm"], "binding": "EACH_PARTY"}),
            )
        }),
        row("proposeVersion", |_| on(json!({"agreement": "demens", "version": 2}))),
        row("decideVersion", |_| on(json!({"agreement": "demens", "version": 1, "decision": DECISION}))),
        row("recommendVersion", |_| {
            on(json!({"agreement": "demens", "version": 1, "decision": DECISION, "responseDue": "2024-12-31"}))
        }),
        scoped("recordAdoption", "nacka", "taby", |p| {
            on(json!({"agreement": "egenvard", "version": 1, "party": p, "decision": own(p)}))
        }),
        scoped("recordDeclination", "nacka", "taby", |p| {
            on(json!({"agreement": "aldre", "version": 1, "party": p, "decision": own(p)}))
        }),
        row("changeRequiredParties", |p| {
            on(json!({"agreement": "avlidna", "parties": [p, "region-stockholm"], "decision": DECISION}))
        }),
        row("publishVersion", |_| {
            on(json!({"agreement": "demens", "version": 1, "url": "https://example.org/demens.pdf"}))
        }),
        scoped("giveNotice", "nacka", "sollentuna", |p| {
            on(json!({"agreement": "hok", "party": p, "decision": own(p)}))
        }),
        scoped("withdrawNotice", "huddinge", "haninge", |p| {
            on(json!({"agreement": "hok", "party": p, "decision": own(p)}))
        }),
        row("decideContinuation", |_| {
            on(json!({"agreement": "hok", "afterNoticeBy": "tyreso", "continues": true, "decision": DECISION}))
        }),
        row("terminateAgreement", |_| on(json!({"agreement": "bus", "decision": DECISION, "reason": "Ersätts"}))),
        row("supersedeAgreement", |_| {
            on(json!({"agreement": "uppsokande-munhalsa", "by": "utskrivning", "decision": DECISION}))
        }),
        row("issueInterpretation", |_| on(json!({"agreement": "hok", "decision": DECISION, "text": "Så tolkas 7.2."}))),
        row("assignSteward", |_| on(json!({"agreement": "demens", "group": "samradsgrupp-aldre"}))),
        row("establishGroup", |_| {
            on(
                json!({"group": "authz-grupp", "name": "Authz", "kind": "WORKING", "parent": "tjanstemannastyrgruppen", "mandate": "Pröva", "decision": OFFICIALS}),
            )
        }),
        row("changeMandate", |_| {
            on(json!({"group": "samradsgrupp-aldre", "mandate": "Nytt mandat", "decision": OFFICIALS}))
        }),
        row("renameGroup", |_| {
            on(json!({"group": "samradsgrupp-digitalisering", "name": "Samrådsgrupp digitalisering"}))
        }),
        row("appointMember", |p| {
            on(
                json!({"group": "samradsgrupp-aldre", "person": {"name": "Anna Authz"}, "role": "MEMBER", "represents": p}),
            )
        }),
        row("recordMemberLeft", |_| on(json!({"group": "samradsgrupp-aldre", "person": {"name": "Bo Setup"}}))),
        row("dissolveGroup", |_| on(json!({"group": "bussam", "decision": DECISION}))),
        row("designateCoordinator", |_| {
            on(
                json!({"area": "bromma", "role": "HEALTH_CENTRE", "holder": "Vårdcentral Bromma", "year": 2024, "designatedBy": "HSF"}),
            )
        }),
        row("openCase", |p| {
            on(
                json!({"case": "authz-arende", "agreement": "hok", "kind": "DEVIATION", "parties": [p, "region-stockholm"], "level": "LOCAL", "principled": false, "summary": "Authz"}),
            )
        }),
        row("escalateCase", |_| on(json!({"case": "setup-case-a", "to": "OFFICIALS", "reason": "Olöst lokalt"}))),
        row("resolveCase", |_| on(json!({"case": "setup-case-b", "resolution": "Löst"}))),
        row("withdrawCase", |_| on(json!({"case": "setup-case-c", "reason": "Återkallat"}))),
        row("setPriorityAreas", |_| {
            on(json!({"fromYear": 2027, "toYear": 2030, "areas": ["Psykisk hälsa"], "decision": DECISION}))
        }),
        row("addPriorityArea", |_| on(json!({"year": 2025, "area": "Äldre", "decision": DECISION}))),
        row("planFollowUp", |_| on(json!({"year": 2025, "agreements": ["hok"], "decision": OFFICIALS}))),
        row("reportFollowUp", |_| on(json!({"year": 2025, "agreement": "hok", "summary": "Följs"}))),
        row("recordAnnualDialogue", |p| on(json!({"year": 2024, "participants": [p], "summary": "Dialog"}))),
        row("reportProblem", |p| {
            on(
                json!({"problem": "authz-problem", "reportedBy": p, "reportedTo": "STORSTHLM", "summary": "Strukturellt"}),
            )
        }),
        row("answerProblem", |_| on(json!({"problem": "setup-problem", "summary": "Återkoppling"}))),
        row("raiseProblemToVis", |_| on(json!({"problem": "setup-problem", "decision": OFFICIALS}))),
        row("allocateFunds", |_| {
            on(json!({"year": 2024, "amountSek": 1_000_000, "purpose": "Samverkan", "decision": OFFICIALS}))
        }),
        row("retractEvent", move |_| on(json!({"event": retractable, "reason": "Fel"}))),
        row("recordStatutoryDuty", |_| {
            on(json!({"duty": "authz-duty", "title": "Samarbete", "references": ["SoL 5:1a"]}))
        }),
        row("citeStatutoryBasis", |_| on(json!({"agreement": "hok", "references": ["SoL 5:1a"]}))),
    ]
}

/// What the rows need besides the fixtures: notices standing by Huddinge and Haninge (to withdraw)
/// and Tyresö (to decide on continuation), three open cases, a reported problem, a member to leave,
/// and an event to retract, whose id is returned.
async fn setup(server: &TestServer, token: &str) -> String {
    let e = "2024-02-01";
    let case = |id: &str| json!({"case": id, "agreement": "hok", "kind": "DEVIATION", "parties": ["nacka", "region-stockholm"], "level": "LOCAL", "principled": false, "summary": "s", "effective": e});
    let decisions = OWN_DECISION_PARTIES.iter().map(|p| {
        let input =
            json!({"decision": own(p), "body": format!("{p}-kf"), "subject": "Authz", "effective": "2024-01-01"});
        ("recordDecision", input)
    });
    let steps = decisions.chain([
        ("giveNotice", json!({"agreement": "hok", "party": "huddinge", "decision": own("huddinge"), "effective": e})),
        ("giveNotice", json!({"agreement": "hok", "party": "haninge", "decision": own("haninge"), "effective": e})),
        ("giveNotice", json!({"agreement": "hok", "party": "tyreso", "decision": own("tyreso"), "effective": e})),
        ("openCase", case("setup-case-a")),
        ("openCase", case("setup-case-b")),
        ("openCase", case("setup-case-c")),
        (
            "reportProblem",
            json!({"problem": "setup-problem", "reportedBy": "nacka", "reportedTo": "HSF", "summary": "s", "effective": e}),
        ),
        (
            "appointMember",
            json!({"group": "samradsgrupp-aldre", "person": {"name": "Bo Setup"}, "role": "MEMBER", "represents": "nacka", "effective": e}),
        ),
        ("recordDecision", json!({"decision": "setup-retract-me", "body": "vis", "subject": "Fel", "effective": e})),
    ]);
    let mut last = Value::Null;
    for (name, input) in steps {
        let (_, body) =
            post(server, &mutation_document(name, "id"), json!({"input": input}), Some(&format!("Bearer {token}")))
                .await;
        assert!(body["errors"].is_null(), "set-up {name} failed: {body:#}");
        last = body["data"][name].clone();
    }
    last["id"].as_str().expect("id").to_owned()
}

/// POSTs a GraphQL request with an optional raw Authorization header value.
async fn post(server: &TestServer, query: &str, variables: Value, authorization: Option<&str>) -> (StatusCode, Value) {
    let body = json!({"query": query, "variables": variables}).to_string();
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = server.router().oneshot(request.body(Body::from(body)).expect("request")).await.expect("response");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).expect("GraphQL answers JSON"))
}

/// The mutations of the schema as the server reports them, each checked to take exactly one
/// argument `input: <Name>Input!` (what the matrix's documents assume).
async fn schema_mutations(server: &TestServer) -> BTreeSet<String> {
    let query = "{ __schema { mutationType { fields { name args { name type { kind ofType { name } } } } } } }";
    let (_, body) = post(server, query, json!({}), None).await;
    let fields = body["data"]["__schema"]["mutationType"]["fields"].as_array().expect("mutations").clone();
    let mut names = BTreeSet::new();
    for field in fields {
        let name = field["name"].as_str().expect("name").to_owned();
        let mut chars = name.chars();
        let input: String =
            chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).chain("Input".chars()).collect();
        assert_eq!(
            field["args"],
            json!([{"name": "input", "type": {"kind": "NON_NULL", "ofType": {"name": input}}}]),
            "{name} takes one argument input: {input}!"
        );
        names.insert(name);
    }
    names
}

/// The mutation fields of the committed SDL's `Mutation` type.
fn sdl_mutations() -> BTreeSet<String> {
    let sdl = graphql::sdl();
    let start = sdl.find("type Mutation {").expect("the SDL has a Mutation type");
    let block = &sdl[start..start + sdl[start..].find("\n}").expect("the block ends")];
    block
        .lines()
        .skip(1)
        .filter_map(|l| {
            let l = l.trim();
            // Field lines look like `registerParty(input: RegisterPartyInput!): Event!`; the rest
            // are doc strings.
            let name = l.split('(').next()?;
            (l.contains("(input:") && name.chars().all(|c| c.is_ascii_alphanumeric())).then(|| name.to_owned())
        })
        .collect()
}

fn head(server: &TestServer) -> (u64, String) {
    let head = server.ledger.head();
    (head.position.get(), head.hash.to_string())
}

/// The tokens of one server.
struct Tokens {
    secretariat: String,
    reader: String,
    auditor: String,
    parties: std::collections::HashMap<String, String>,
}

impl Tokens {
    fn new(server: &TestServer) -> Self {
        let mut parties = std::collections::HashMap::new();
        for party in ["nacka", "solna", "huddinge"] {
            let role = Role::Party(PartyId::new(party).expect("slug"));
            parties.insert(party.to_owned(), server.token(role, &format!("{party}-registrator")));
        }
        Self {
            secretariat: server.token(Role::Secretariat, "storsthlm-registrator"),
            reader: server.token(Role::Reader, "portal-reader"),
            auditor: server.token(Role::Auditor, "revisor"),
            parties,
        }
    }

    /// The party a PARTY token of `caller` is for, in the row's cell.
    fn party_of(caller: Caller, row: &Row) -> &'static str {
        match caller {
            Caller::OwnParty => row.own,
            _ if row.own == "solna" => "nacka",
            _ => "solna",
        }
    }

    /// The Authorization header value and the token's name, for `caller` in `row`'s cell.
    fn header(&self, caller: Caller, row: &Row) -> (Option<String>, Option<String>) {
        match caller {
            Caller::Anonymous => (None, None),
            Caller::UnknownToken => (Some("Bearer svk_not-a-real-token".to_owned()), None),
            Caller::NoBearerScheme => (Some(self.secretariat.clone()), None),
            Caller::Reader => (Some(format!("Bearer {}", self.reader)), Some("portal-reader".to_owned())),
            Caller::Auditor => (Some(format!("Bearer {}", self.auditor)), Some("revisor".to_owned())),
            Caller::OtherParty | Caller::OwnParty => {
                let party = Self::party_of(caller, row);
                let token = self.parties.get(party).unwrap_or_else(|| panic!("no token for {party}"));
                (Some(format!("Bearer {token}")), Some(format!("{party}-registrator")))
            }
            Caller::Secretariat => {
                (Some(format!("Bearer {}", self.secretariat)), Some("storsthlm-registrator".to_owned()))
            }
        }
    }
}

/// The party an input is about in `caller`'s cell of `row`.
fn subject(caller: Caller, row: &Row) -> &'static str {
    match caller {
        Caller::Secretariat => row.secretariat_party,
        _ => row.own,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_times_every_caller_gets_what_api_md_promises() {
    let server = TestServer::seeded_async(ServerConfig::default()).await;
    let tokens = Tokens::new(&server);
    let retractable = setup(&server, &tokens.secretariat).await;
    let rows = rows(retractable);

    // The matrix covers exactly the schema's mutations: a new mutation without a row fails here.
    let in_schema = schema_mutations(&server).await;
    assert_eq!(sdl_mutations(), in_schema, "the committed SDL and the running schema list the same mutations");
    let in_matrix: BTreeSet<String> = rows.iter().map(|r| r.mutation.to_owned()).collect();
    let missing: Vec<&String> = in_schema.difference(&in_matrix).collect();
    let unknown: Vec<&String> = in_matrix.difference(&in_schema).collect();
    assert!(missing.is_empty(), "mutations without a row in the authorization matrix: {missing:?}");
    assert!(unknown.is_empty(), "rows for mutations the schema does not have: {unknown:?}");
    assert_eq!(rows.len(), in_matrix.len(), "one row per mutation");
    for scoped in PARTY_SCOPED {
        assert!(in_schema.contains(*scoped), "{scoped} is in the schema");
    }

    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for row in &rows {
        let document = mutation_document(row.mutation, "id position hash type recordedBy");
        // The refusals first, so the allowed cells record on the state the rows were written for.
        let mut order: Vec<Caller> =
            CALLERS.iter().copied().filter(|c| expected(row.mutation, *c) != Outcome::Allowed).collect();
        order.extend(CALLERS.iter().copied().filter(|c| expected(row.mutation, *c) == Outcome::Allowed));
        for caller in order {
            let cell = format!("{} × {caller:?}", row.mutation);
            let input = (row.input)(subject(caller, row));
            let (authorization, token_name) = tokens.header(caller, row);
            let before = head(&server);
            let (status, body) = post(&server, &document, json!({"input": input}), authorization.as_deref()).await;
            assert_eq!(status, StatusCode::OK, "{cell}: {body:#}");
            let outcome = expected(row.mutation, caller);
            match outcome {
                Outcome::Unauthenticated | Outcome::Forbidden => {
                    let code = if outcome == Outcome::Forbidden { "FORBIDDEN" } else { "UNAUTHENTICATED" };
                    assert_eq!(body["errors"][0]["extensions"]["code"], json!(code), "{cell}: {body:#}");
                    assert!(body["data"].is_null(), "{cell}: a refusal gives no data: {body:#}");
                    let message = body["errors"][0]["message"].as_str().expect("a message");
                    assert!(leaked_internals(message).is_none(), "{cell}: {message}");
                    let explains = match caller {
                        Caller::Anonymous | Caller::NoBearerScheme => "Bearer",
                        Caller::UnknownToken => "unknown token",
                        Caller::Reader | Caller::Auditor => "only read",
                        Caller::OtherParty | Caller::OwnParty => "PARTY token",
                        Caller::Secretariat => unreachable!("SECRETARIAT may record anything"),
                    };
                    assert!(message.contains(explains), "{cell}: the message should say why ({explains:?}): {message}");
                    assert_eq!(head(&server), before, "{cell}: a refused mutation appends nothing");
                }
                Outcome::Allowed => {
                    // Past authorization; the inputs are valid, so the event is recorded, by the
                    // token's name.
                    if let Some(code) = body["errors"][0]["extensions"]["code"].as_str() {
                        assert!(DOCUMENTED_CODES.contains(&code), "{cell}: {body:#}");
                        panic!("{cell}: an allowed caller with a valid input should record, got {code}: {body:#}");
                    }
                    let event = &body["data"][row.mutation];
                    assert_eq!(event["position"], json!(before.0 + 1), "{cell}: one event appended: {body:#}");
                    assert_eq!(event["hash"], json!(head(&server).1), "{cell}");
                    assert_eq!(
                        event["recordedBy"].as_str(),
                        token_name.as_deref(),
                        "{cell}: recordedBy is the token's name"
                    );
                }
            }
            *counts
                .entry(match outcome {
                    Outcome::Unauthenticated => "UNAUTHENTICATED",
                    Outcome::Forbidden => "FORBIDDEN",
                    Outcome::Allowed => "allowed and recorded",
                })
                .or_default() += 1;
        }
    }
    let cells: usize = counts.values().sum();
    assert_eq!(cells, rows.len() * CALLERS.len());
    println!("authorization matrix: {} mutations × {} callers = {cells} cells: {counts:?}", rows.len(), CALLERS.len());
    assert_eq!(
        counts["allowed and recorded"],
        rows.len() + PARTY_SCOPED.len(),
        "SECRETARIAT everywhere, PARTY on its own"
    );
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next protocol message, within [`BOUND`].
async fn next_message(ws: &mut Ws, cell: &str) -> Value {
    loop {
        match timeout(BOUND, ws.next()).await.expect("the server answers in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("{cell}: unexpected {other:?}"),
        }
    }
}

/// The same rules over the WebSocket, where the token travels in `connection_init`: a PARTY's own
/// adoption, sent as a mutation over graphql-transport-ws, for every kind of caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_websocket_the_token_in_connection_init_decides() {
    let server = TestServer::seeded_async(ServerConfig::default()).await;
    let tokens = Tokens::new(&server);
    let addr = server.listen().await;
    let row = scoped("recordAdoption", "nacka", "taby", |p| {
        // A decision of the party's own council recorded in the fixtures (dated long before).
        let decision = if p == "nacka" { "nacka-kf-2012-02-09-bus" } else { "taby-kf-2012-04-26-bus" };
        on(json!({"agreement": "psykisk-funktionsnedsattning", "version": 1, "party": p, "decision": decision}))
    });
    let document = mutation_document(row.mutation, "position recordedBy");
    for caller in CALLERS {
        let cell = format!("websocket {} × {caller:?}", row.mutation);
        let (authorization, token_name) = tokens.header(caller, &row);
        let payload = match authorization {
            Some(value) => json!({"Authorization": value}),
            None => json!({}),
        };
        let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
        request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-transport-ws"));
        let (mut ws, _) =
            timeout(BOUND, tokio_tungstenite::connect_async(request)).await.expect("in time").expect("handshake");
        ws.send(Message::text(json!({"type": "connection_init", "payload": payload}).to_string())).await.expect("send");
        assert_eq!(next_message(&mut ws, &cell).await["type"], json!("connection_ack"), "{cell}");
        let input = (row.input)(subject(caller, &row));
        let subscribe =
            json!({"id": "m", "type": "subscribe", "payload": {"query": document, "variables": {"input": input}}});
        let before = head(&server);
        ws.send(Message::text(subscribe.to_string())).await.expect("send");
        let answer = next_message(&mut ws, &cell).await;
        assert_eq!(answer["type"], json!("next"), "{cell}: {answer}");
        let result = &answer["payload"];
        match expected(row.mutation, caller) {
            Outcome::Allowed => {
                assert!(result["errors"].is_null(), "{cell}: {answer}");
                assert_eq!(result["data"][row.mutation]["position"], json!(before.0 + 1), "{cell}: {answer}");
                assert_eq!(result["data"][row.mutation]["recordedBy"].as_str(), token_name.as_deref(), "{cell}");
            }
            refused => {
                let code = if refused == Outcome::Forbidden { "FORBIDDEN" } else { "UNAUTHENTICATED" };
                assert_eq!(result["errors"][0]["extensions"]["code"], json!(code), "{cell}: {answer}");
                assert_eq!(head(&server), before, "{cell}: a refused mutation appends nothing");
            }
        }
        assert_eq!(next_message(&mut ws, &cell).await, json!({"type": "complete", "id": "m"}), "{cell}");
    }
}
