//! The typed mutations through the real router (`oneshot`, no socket), over the real fixtures: a
//! SECRETARIAT recording events and getting them back as stored; a PARTY token recording its own
//! adoption but not another party's; no token, unknown tokens, READER and AUDITOR tokens refused;
//! rule violations, unknown ids, malformed ids, wrong enum values and malformed dates refused; stale
//! `expectedVersion` (also for a retraction, whose stream is the retracted event's) and idempotent
//! `eventId` retries; conflicting mutations racing each other, exactly one winning; and queries
//! seeing a mutation's event at once. Every refusal is checked to append nothing by comparing the
//! ledger's head before and after.

use graphql::{Role, ServerConfig};
use ledger::PartyId;
use serde_json::{Value, json};

use crate::support::{TestServer, error_code};

/// The fields of `Event` every mutation here asks for.
const EVENT_FIELDS: &str =
    "id position stream streamVersion type effective recordedBy source { title } data prevHash hash";

/// A server over the fixtures. Seeding appends to the ledger, which blocks, so it runs off the
/// async workers.
async fn seeded() -> TestServer {
    tokio::task::spawn_blocking(|| TestServer::seeded(ServerConfig::default())).await.expect("seeding does not panic")
}

/// Calls mutation `name` (e.g. `registerParty`) with `input` as its `input` variable.
async fn mutate(server: &TestServer, name: &str, input: Value, token: Option<&str>) -> Value {
    let mut type_name = String::new();
    let mut chars = name.chars();
    if let Some(first) = chars.next() {
        type_name.extend(first.to_uppercase());
        type_name.push_str(chars.as_str());
    }
    let query = format!("mutation($input: {type_name}Input!) {{ {name}(input: $input) {{ {EVENT_FIELDS} }} }}");
    let (status, body) = server.post(&query, json!({"input": input}), token).await;
    assert!(status.is_success(), "GraphQL answers errors in the body: {status} {body:#}");
    body
}

/// Calls a mutation that must succeed and returns the stored event.
async fn record(server: &TestServer, name: &str, input: Value, token: &str) -> Value {
    let body = mutate(server, name, input, Some(token)).await;
    assert!(body["errors"].is_null(), "{name} should succeed: {body:#}");
    body["data"][name].clone()
}

/// Asserts a refusal with `extensions.code` = `code`, no data and nothing appended; returns the message.
fn refused(server: &TestServer, body: &Value, code: &str, head_before: u64) -> String {
    assert_eq!(error_code(body), Some(code), "expected {code}, got {body:#}");
    assert!(body["data"].is_null(), "a refusal gives no data: {body:#}");
    assert_eq!(server.ledger.head().position.get(), head_before, "a refusal appends nothing");
    body["errors"][0]["message"].as_str().expect("a message").to_owned()
}

/// Asserts a request-level GraphQL error (input validation, before any resolver ran) and that nothing
/// was appended; returns the message.
fn invalid_request(server: &TestServer, body: &Value, head_before: u64) -> String {
    assert!(body["data"].is_null(), "an invalid request gives no data: {body:#}");
    assert_eq!(server.ledger.head().position.get(), head_before, "an invalid request appends nothing");
    body["errors"][0]["message"].as_str().expect("a message").to_owned()
}

fn head(server: &TestServer) -> u64 {
    server.ledger.head().position.get()
}

fn new_party(id: &str) -> Value {
    json!({"party": id, "name": "Testkommun", "kind": "MUNICIPALITY", "effective": "2024-01-10"})
}

/// A fresh agreement `testavtal` with version 1 proposed, requiring `nacka` and `stockholm` (neither
/// has adopted), and a recorded decision `nacka-kf-2024-02-01` of Nacka's council.
async fn draft_test_agreement(server: &TestServer, secretariat: &str) {
    let draft = json!({
        "agreement": "testavtal", "title": "Testavtal", "kind": "SUBJECT_AREA",
        "parties": ["nacka", "stockholm"], "binding": "EACH_PARTY", "noticeMonths": 12,
        "effective": "2024-01-10",
    });
    record(server, "draftAgreement", draft, secretariat).await;
    let version = json!({
        "agreement": "testavtal", "version": 1, "effective": "2024-01-15",
        "document": {"title": "Testavtal, version 1", "url": "https://example.org/testavtal.pdf"},
        "earliestEffective": "2024-03-01",
    });
    record(server, "proposeVersion", version, secretariat).await;
    let decision = json!({
        "decision": "nacka-kf-2024-02-01", "body": "nacka-kf", "subject": "Antagande av Testavtal",
        "paragraph": "§ 12", "effective": "2024-02-01",
    });
    record(server, "recordDecision", decision, secretariat).await;
}

#[tokio::test]
async fn secretariat_records_an_event_and_gets_it_back_as_stored() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    let before = server.ledger.head();
    let input = json!({
        "party": "testkommun", "name": "Testkommun", "kind": "MUNICIPALITY", "effective": "2024-01-10",
        "source": {"title": "Protokoll KF 2024-01-10 § 3", "reference": "KS 2024/1"},
    });
    let event = record(&server, "registerParty", input, &token).await;

    let after = server.ledger.head();
    assert_eq!(after.position.get(), before.position.get() + 1, "one event appended");
    assert_eq!(event["position"], json!(after.position.get()));
    assert_eq!(event["hash"], json!(after.hash.to_string()));
    assert_eq!(event["prevHash"], json!(before.hash.to_string()));
    assert_eq!(event["stream"], "party/testkommun");
    assert_eq!(event["streamVersion"], 1);
    assert_eq!(event["type"], "PartyRegistered");
    assert_eq!(event["effective"], "2024-01-10");
    assert_eq!(event["recordedBy"], "registrator", "recordedBy is the token's name");
    assert_eq!(event["source"]["title"], "Protokoll KF 2024-01-10 § 3");
    assert_eq!(event["data"], json!({"party": "testkommun", "name": "Testkommun", "kind": "MUNICIPALITY"}));
}

#[tokio::test]
async fn a_query_after_a_mutation_sees_the_new_event() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    let event = record(&server, "registerParty", new_party("testkommun"), &token).await;

    let query = r#"query($id: ID!) {
        ledger { position headHash }
        event(id: $id) { position type }
        events(stream: "party/testkommun") { nodes { id type data } }
    }"#;
    let (_, body) = server.post(query, json!({"id": event["id"]}), None).await;
    assert!(body["errors"].is_null(), "{body:#}");
    assert_eq!(body["data"]["ledger"]["position"], event["position"]);
    assert_eq!(body["data"]["ledger"]["headHash"], event["hash"]);
    assert_eq!(body["data"]["event"]["position"], event["position"]);
    let nodes = body["data"]["events"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{body:#}");
    assert_eq!(nodes[0]["id"], event["id"]);

    // The projections see it too: registering the same party again breaks a rule.
    let before = head(&server);
    let body = mutate(&server, "registerParty", new_party("testkommun"), Some(&token)).await;
    let message = refused(&server, &body, "RULE_VIOLATION", before);
    assert!(message.contains("testkommun"), "{message}");
}

#[tokio::test]
async fn a_party_records_its_own_adoption_but_not_another_partys() {
    let server = seeded().await;
    let secretariat = server.token(Role::Secretariat, "registrator");
    draft_test_agreement(&server, &secretariat).await;
    let nacka = server.token(Role::Party(PartyId::new("nacka").expect("slug")), "nacka-registrator");

    let adoption = |party: &str| {
        json!({
            "agreement": "testavtal", "version": 1, "party": party,
            "decision": "nacka-kf-2024-02-01", "effective": "2024-02-01",
        })
    };
    let before = head(&server);
    let body = mutate(&server, "recordAdoption", adoption("stockholm"), Some(&nacka)).await;
    let message = refused(&server, &body, "FORBIDDEN", before);
    assert!(message.contains("stockholm"), "{message}");

    let event = record(&server, "recordAdoption", adoption("nacka"), &nacka).await;
    assert_eq!(event["type"], "PartyAdopted");
    assert_eq!(event["stream"], "agreement/testavtal");
    assert_eq!(event["recordedBy"], "nacka-registrator");
    assert_eq!(head(&server), before + 1);

    // A PARTY token records only adoptions, declinations and notices.
    let before = head(&server);
    let body = mutate(&server, "registerParty", new_party("testkommun"), Some(&nacka)).await;
    refused(&server, &body, "FORBIDDEN", before);
}

#[tokio::test]
async fn mutations_without_a_valid_token_are_unauthenticated() {
    let server = seeded().await;
    let before = head(&server);

    let body = mutate(&server, "registerParty", new_party("testkommun"), None).await;
    let message = refused(&server, &body, "UNAUTHENTICATED", before);
    assert!(message.contains("Bearer"), "{message}");

    let body = mutate(&server, "registerParty", new_party("testkommun"), Some("svk_not-a-real-token")).await;
    refused(&server, &body, "UNAUTHENTICATED", before);

    // The token is checked before the input: bad data without a token is still UNAUTHENTICATED.
    let body = mutate(&server, "registerParty", new_party("Not A Slug"), None).await;
    refused(&server, &body, "UNAUTHENTICATED", before);
}

#[tokio::test]
async fn readers_and_auditors_may_not_mutate() {
    let server = seeded().await;
    let reader = server.token(Role::Reader, "reader");
    let auditor = server.token(Role::Auditor, "auditor");
    let before = head(&server);
    for token in [&reader, &auditor] {
        let body = mutate(&server, "registerParty", new_party("testkommun"), Some(token)).await;
        let message = refused(&server, &body, "FORBIDDEN", before);
        assert!(message.contains("only read"), "{message}");
    }
}

#[tokio::test]
async fn rule_violations_and_unknown_ids_append_nothing() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    draft_test_agreement(&server, &token).await;
    let before = head(&server);

    let escalation = json!({"case": "no-such-case", "to": "OFFICIALS", "reason": "stuck", "effective": "2024-02-01"});
    let body = mutate(&server, "escalateCase", escalation, Some(&token)).await;
    let message = refused(&server, &body, "NOT_FOUND", before);
    assert!(message.contains("no-such-case"), "{message}");

    // Solna is registered but not a required party of the test agreement.
    let adoption = json!({
        "agreement": "testavtal", "version": 1, "party": "solna",
        "decision": "nacka-kf-2024-02-01", "effective": "2024-02-01",
    });
    let body = mutate(&server, "recordAdoption", adoption, Some(&token)).await;
    let message = refused(&server, &body, "RULE_VIOLATION", before);
    assert!(message.contains("solna") && message.contains("required"), "{message}");

    // A decision must be recorded before it is referenced.
    let adoption = json!({
        "agreement": "testavtal", "version": 1, "party": "stockholm",
        "decision": "stockholm-kf-never", "effective": "2024-02-01",
    });
    let body = mutate(&server, "recordAdoption", adoption, Some(&token)).await;
    refused(&server, &body, "NOT_FOUND", before);

    // The validation's own INVALID_INPUT: a period that ends before it starts.
    let areas = json!({
        "fromYear": 2025, "toYear": 2024, "areas": ["Psykisk hälsa"],
        "decision": "nacka-kf-2024-02-01", "effective": "2024-02-01",
    });
    let body = mutate(&server, "setPriorityAreas", areas, Some(&token)).await;
    refused(&server, &body, "INVALID_INPUT", before);
}

#[tokio::test]
async fn malformed_input_is_refused_before_anything_is_appended() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    let before = head(&server);

    // Wrong enum value: GraphQL's own input validation.
    let mut input = new_party("testkommun");
    input["kind"] = json!("TOWN");
    let body = mutate(&server, "registerParty", input, Some(&token)).await;
    let message = invalid_request(&server, &body, before);
    assert!(message.contains("TOWN"), "{message}");

    // Malformed dates, in the envelope and in the data.
    for date in ["2024-13-01", "10/01/2024", "2024-1-10"] {
        let mut input = new_party("testkommun");
        input["effective"] = json!(date);
        let body = mutate(&server, "registerParty", input, Some(&token)).await;
        invalid_request(&server, &body, before);
    }
    let recommendation = json!({
        "agreement": "hok", "version": 1, "decision": "nacka-kf-2024-02-01",
        "responseDue": "next spring", "effective": "2024-02-01",
    });
    let body = mutate(&server, "recommendVersion", recommendation, Some(&token)).await;
    invalid_request(&server, &body, before);

    // A missing required field.
    let nameless = json!({"party": "testkommun", "kind": "MUNICIPALITY", "effective": "2024-01-10"});
    let body = mutate(&server, "registerParty", nameless, Some(&token)).await;
    invalid_request(&server, &body, before);

    // Ids the ledger does not accept: the ledger's own parsing, as for an import.
    let body = mutate(&server, "registerParty", new_party("Not A Slug"), Some(&token)).await;
    refused(&server, &body, "INVALID_INPUT", before);
    let retraction = json!({"event": "not-a-uuid", "reason": "wrong", "effective": "2024-01-10"});
    let body = mutate(&server, "retractEvent", retraction, Some(&token)).await;
    refused(&server, &body, "INVALID_INPUT", before);
    let mut input = new_party("testkommun");
    input["eventId"] = json!("not-a-uuid");
    let body = mutate(&server, "registerParty", input, Some(&token)).await;
    let message = refused(&server, &body, "INVALID_INPUT", before);
    assert!(message.contains("eventId"), "{message}");
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    let publish = |expected: Option<u64>| {
        let mut input =
            json!({"agreement": "hok", "version": 1, "url": "https://example.org/hok.pdf", "effective": "2024-01-10"});
        if let Some(v) = expected {
            input["expectedVersion"] = json!(v);
        }
        input
    };
    let first = record(&server, "publishVersion", publish(None), &token).await;
    let version = first["streamVersion"].as_u64().expect("streamVersion");

    let second = record(&server, "publishVersion", publish(Some(version)), &token).await;
    assert_eq!(second["streamVersion"], json!(version + 1));

    let before = head(&server);
    let body = mutate(&server, "publishVersion", publish(Some(version)), Some(&token)).await;
    let message = refused(&server, &body, "CONFLICT", before);
    assert!(message.contains(&format!("{}", version + 1)) && message.contains(&version.to_string()), "{message}");

    // 0 means "the stream does not exist yet".
    let mut input = new_party("testkommun");
    input["expectedVersion"] = json!(0);
    let event = record(&server, "registerParty", input.clone(), &token).await;
    assert_eq!(event["streamVersion"], 1);
    let mut district =
        json!({"district": "testdel", "name": "Testdel", "municipality": "testkommun", "effective": "2024-01-11"});
    district["expectedVersion"] = json!(0);
    let before = head(&server);
    let body = mutate(&server, "registerDistrict", district, Some(&token)).await;
    refused(&server, &body, "CONFLICT", before);
}

#[tokio::test]
async fn a_retraction_is_versioned_on_the_retracted_events_stream() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    let event = record(&server, "registerParty", new_party("testkommun"), &token).await;
    let retraction = |expected: u64| json!({"event": event["id"], "reason": "registered by mistake", "effective": "2024-01-10", "expectedVersion": expected});

    let before = head(&server);
    let body = mutate(&server, "retractEvent", retraction(0), Some(&token)).await;
    refused(&server, &body, "CONFLICT", before);

    let retracted = record(&server, "retractEvent", retraction(1), &token).await;
    assert_eq!(retracted["stream"], "party/testkommun");
    assert_eq!(retracted["streamVersion"], 2);
    assert_eq!(retracted["type"], "EventRetracted");

    // Retracting it twice breaks a rule.
    let before = head(&server);
    let body = mutate(&server, "retractEvent", retraction(2), Some(&token)).await;
    refused(&server, &body, "RULE_VIOLATION", before);
}

#[tokio::test]
async fn the_same_event_id_twice_is_stored_once() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    let id = "0192f0c4-1111-4aaa-8bbb-123456789abc";
    let mut input = new_party("testkommun");
    input["eventId"] = json!(id);

    let first = record(&server, "registerParty", input.clone(), &token).await;
    assert_eq!(first["id"], id);
    let after_first = head(&server);

    // A retry (say, after a lost reply) answers with the original, even though the party is now
    // registered and a stale expectedVersion is given.
    input["expectedVersion"] = json!(0);
    let second = record(&server, "registerParty", input.clone(), &token).await;
    assert_eq!(second, first, "the retry returns the stored event");
    assert_eq!(head(&server), after_first, "nothing new is appended");

    // The same id for a different event is a conflict.
    let mut other = new_party("annankommun");
    other["eventId"] = json!(id);
    let body = mutate(&server, "registerParty", other, Some(&token)).await;
    refused(&server, &body, "CONFLICT", after_first);
}

/// Concurrent mutations that conflict never both succeed, whatever order the server takes them in:
/// in each round, two registrations of one new party race (one wins, the other breaks a rule), two
/// different events with the same `eventId` race (one wins, the other is a conflict), and the same
/// command with one `eventId` is sent twice at once (both answered with the one stored event). The
/// winner's answer carries the position the ledger gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_conflicting_mutations_never_both_succeed() {
    let server = seeded().await;
    let token = server.token(Role::Secretariat, "registrator");
    for round in 0..20 {
        // The same party twice, without eventIds.
        let before = head(&server);
        let party = format!("racekommun-{round}");
        let (a, b) = tokio::join!(
            mutate(&server, "registerParty", new_party(&party), Some(&token)),
            mutate(&server, "registerParty", new_party(&party), Some(&token)),
        );
        let (winner, loser) = if a["errors"].is_null() { (a, b) } else { (b, a) };
        assert!(winner["errors"].is_null(), "round {round}: one registration wins: {winner:#}");
        assert_eq!(error_code(&loser), Some("RULE_VIOLATION"), "round {round}: {loser:#}");
        assert_eq!(head(&server), before + 1, "round {round}: exactly one event is stored");
        assert_eq!(winner["data"]["registerParty"]["position"], json!(before + 1));

        // Two different events under one eventId.
        let before = head(&server);
        let id = format!("0192f0c4-2222-4aaa-8bbb-{round:012}");
        let mut first = new_party(&format!("idkommun-{round}-a"));
        first["eventId"] = json!(id);
        let mut second = new_party(&format!("idkommun-{round}-b"));
        second["eventId"] = json!(id);
        let (a, b) = tokio::join!(
            mutate(&server, "registerParty", first, Some(&token)),
            mutate(&server, "registerParty", second, Some(&token)),
        );
        let (winner, loser) = if a["errors"].is_null() { (a, b) } else { (b, a) };
        assert!(winner["errors"].is_null(), "round {round}: one of the two wins: {winner:#}");
        assert_eq!(error_code(&loser), Some("CONFLICT"), "round {round}: {loser:#}");
        assert_eq!(head(&server), before + 1, "round {round}: exactly one event is stored");
        assert_eq!(winner["data"]["registerParty"]["id"], json!(id));

        // One command sent twice at once: an idempotent retry racing its original.
        let before = head(&server);
        let mut retry = new_party(&format!("retrykommun-{round}"));
        retry["eventId"] = json!(format!("0192f0c4-3333-4aaa-8bbb-{round:012}"));
        let (a, b) = tokio::join!(
            mutate(&server, "registerParty", retry.clone(), Some(&token)),
            mutate(&server, "registerParty", retry, Some(&token)),
        );
        assert!(a["errors"].is_null() && b["errors"].is_null(), "round {round}: both answered: {a:#} {b:#}");
        assert_eq!(a, b, "round {round}: both answers are the one stored event");
        assert_eq!(head(&server), before + 1, "round {round}: it is stored once");
        assert_eq!(a["data"]["registerParty"]["position"], json!(before + 1));
    }
}
