//! GraphQL state queries through the real router over the real fixture history: what applied on a
//! date, as known at an instant, with provenance; the README's sample query; malformed arguments.

use graphql::ServerConfig;
use ledger::{EventData, StreamId, Timestamp};

use crate::support::{TestServer, error_code};

const HOK: &str = r#"query($at: Date, $known: DateTime) {
  agreement(id: "hok", at: $at, asKnownAt: $known) {
    status inForce inForceFrom version
    parties { party { id } adoptedOn bound }
    pendingParties { id }
    because { position type source { title } }
  }
}"#;

#[tokio::test]
async fn the_hok_was_not_in_force_on_2022_07_01_and_was_from_2022_09_05() {
    let server = TestServer::seeded(ServerConfig::default());
    let (_, before) = server.post(HOK, serde_json::json!({"at": "2022-07-01"}), None).await;
    let a = &before["data"]["agreement"];
    assert_eq!(a["inForce"], false, "{before}");
    assert_eq!(a["status"], "RECOMMENDED");
    assert_eq!(a["pendingParties"], serde_json::json!([{"id": "kson"}]));

    let (_, day_before) = server.post(HOK, serde_json::json!({"at": "2022-09-04"}), None).await;
    assert_eq!(day_before["data"]["agreement"]["inForce"], false);

    let (_, after) = server.post(HOK, serde_json::json!({"at": "2022-10-01"}), None).await;
    let a = &after["data"]["agreement"];
    assert_eq!(a["status"], "IN_FORCE", "{after}");
    assert_eq!(a["inForceFrom"], "2022-09-05");
    assert_eq!(a["version"], 1);
    let parties = a["parties"].as_array().expect("parties");
    assert_eq!(parties.len(), 28);
    assert!(parties.iter().all(|p| p["bound"] == true));
    let because = a["because"].as_array().expect("because");
    assert!(because.iter().any(|e| e["type"] == "PartyAdopted"), "provenance names the adoptions");
    assert!(because.iter().all(|e| e["source"]["title"].is_string()), "every event carries its source");
}

/// Issue 14's acceptance over the real router: the riktlinje binds no party on 2022-08-01 (the HÖK
/// is not in force yet) and all 28 on 2022-10-01.
#[tokio::test]
async fn the_riktlinje_binds_no_party_before_the_hok_does_and_all_28_after() {
    let server = TestServer::seeded(ServerConfig::default());
    let query = r#"query($at: Date) { agreement(id: "riktlinje", at: $at) { status parties { bound } } }"#;
    let (_, before) = server.post(query, serde_json::json!({"at": "2022-08-01"}), None).await;
    let parties = before["data"]["agreement"]["parties"].as_array().expect("parties").clone();
    assert_eq!(parties.len(), 28, "{before}");
    assert!(parties.iter().all(|p| p["bound"] == false), "{before}");
    let (_, after) = server.post(query, serde_json::json!({"at": "2022-10-01"}), None).await;
    let parties = after["data"]["agreement"]["parties"].as_array().expect("parties").clone();
    assert_eq!(parties.len(), 28, "{after}");
    assert!(parties.iter().all(|p| p["bound"] == true), "{after}");
}

#[tokio::test]
async fn as_known_before_the_last_adoption_was_recorded_the_hok_was_not_yet_in_force() {
    let server = TestServer::seeded(ServerConfig::default());
    let stream = StreamId::parse("agreement/hok").expect("stream");
    let kson = server
        .ledger
        .read_stream(&stream)
        .map(|e| e.expect("read"))
        .find(|e| matches!(e.data(), EventData::PartyAdopted(a) if a.party.as_str() == "kson"))
        .expect("KSON's adoption is in the fixtures");
    let just_before = Timestamp::from_micros(kson.recorded_at().as_micros() - 1).to_string();
    let (_, then) = server.post(HOK, serde_json::json!({"at": "2022-10-01", "known": just_before}), None).await;
    assert_eq!(then["data"]["agreement"]["inForce"], false, "{then}");
    let (_, now) =
        server.post(HOK, serde_json::json!({"at": "2022-10-01", "known": kson.recorded_at().to_string()}), None).await;
    assert_eq!(now["data"]["agreement"]["inForce"], true, "{now}");
}

#[tokio::test]
async fn the_readme_sample_query_returns_the_real_state_of_the_hok() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let start = readme.find("```graphql").expect("the README has a graphql sample") + "```graphql".len();
    let end = start + readme[start..].find("```").expect("closed block");
    let query = &readme[start..end];
    let server = TestServer::seeded(ServerConfig::default());
    let (_, body) = server.post(query, serde_json::json!({}), None).await;
    assert!(body["errors"].is_null(), "{body}");
    let text = body.to_string();
    assert!(text.contains("2022-09-05"), "the sample shows the HÖK's entry into force: {text}");
}

#[tokio::test]
async fn a_party_lists_the_agreements_binding_it_on_a_date() {
    let server = TestServer::seeded(ServerConfig::default());
    let q = r#"query($at: Date) { party(id: "stockholm", at: $at) { name kind agreements { id } } }"#;
    let (_, before) = server.post(q, serde_json::json!({"at": "2022-08-01"}), None).await;
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["data"]["party"]["agreements"]
            .as_array()
            .expect("agreements")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(before["data"]["party"]["kind"], "MUNICIPALITY", "{before}");
    assert!(!ids(&before).contains(&"hok".to_owned()));
    let (_, after) = server.post(q, serde_json::json!({"at": "2022-10-01"}), None).await;
    assert!(ids(&after).contains(&"hok".to_owned()), "{after}");
}

#[tokio::test]
async fn groups_show_the_organisation_on_a_date() {
    let server = TestServer::seeded(ServerConfig::default());
    let q = r#"query($at: Date) { groups(at: $at) { id kind active members { person { name } role } } }"#;
    let (_, body) = server.post(q, serde_json::json!({"at": "2021-06-01"}), None).await;
    let groups = body["data"]["groups"].as_array().expect("groups");
    let vis = groups.iter().find(|g| g["id"] == "vis").expect("VIS exists in 2021");
    assert_eq!(vis["kind"], "POLITICAL_STEERING");
    let chairs: Vec<&str> = vis["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["role"] == "CHAIR")
        .filter_map(|m| m["person"]["name"].as_str())
        .collect();
    assert!(chairs.contains(&"Désirée Pethrus") && chairs.contains(&"Martina Mossberg"), "{chairs:?}");

    let consultation = |at: &str| {
        let server = &server;
        let at = at.to_owned();
        async move {
            let (_, body) = server.post(q, serde_json::json!({"at": at}), None).await;
            body["data"]["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .filter(|g| g["kind"] == "CONSULTATION" && g["active"] == true)
                .count()
        }
    };
    assert_eq!(consultation("2022-08-01").await, 4, "four samrådsgrupper at the guideline's start");
    assert_eq!(consultation("2024-01-01").await, 5, "five today");
}

#[tokio::test]
async fn changes_between_two_dates_include_the_hok_entering_into_force() {
    let server = TestServer::seeded(ServerConfig::default());
    let q = r#"{ changes(from: "2022-09-01", to: "2022-09-30") { on kind agreement because { type } } }"#;
    let (_, body) = server.post(q, serde_json::json!({}), None).await;
    let changes = body["data"]["changes"].as_array().expect("changes");
    assert!(
        changes.iter().any(|c| c["kind"] == "ENTERED_INTO_FORCE" && c["agreement"] == "hok" && c["on"] == "2022-09-05"),
        "{body}"
    );
    let (_, bad) =
        server.post(r#"{ changes(from: "2022-10-01", to: "2022-09-01") { on } }"#, serde_json::json!({}), None).await;
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"), "{bad}");
}

#[tokio::test]
async fn malformed_dates_and_ids_are_clear_errors_and_unknown_ids_are_null() {
    let server = TestServer::seeded(ServerConfig::default());
    let (_, body) =
        server.post(r#"{ agreement(id: "hok", at: "2022-9-5") { status } }"#, serde_json::json!({}), None).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("YYYY-MM-DD"), "{body}");
    assert_eq!(error_code(&body), Some("INVALID_INPUT"), "input validation errors carry a code too: {body}");
    let (_, body) = server.post(r#"{ agreements(asKnownAt: "yesterday") { id } }"#, serde_json::json!({}), None).await;
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("RFC 3339"), "{body}");
    let (_, body) = server.post(r#"{ agreement(id: "Not A Slug") { id } }"#, serde_json::json!({}), None).await;
    assert_eq!(error_code(&body), Some("INVALID_INPUT"), "{body}");
    let (_, body) = server.post(r#"{ agreement(id: "no-such-agreement") { id } }"#, serde_json::json!({}), None).await;
    assert!(body["errors"].is_null() && body["data"]["agreement"].is_null(), "{body}");
    let (_, body) = server.post(r#"{ followUp(year: 99999) { year } }"#, serde_json::json!({}), None).await;
    assert_eq!(error_code(&body), Some("INVALID_INPUT"), "{body}");
}

#[tokio::test]
async fn every_agreement_lists_its_versions_as_the_projections_know_them() {
    let server = TestServer::seeded(ServerConfig::default());
    let query = r#"query($at: Date) { agreements(at: $at) { id versions {
        number proposedOn document { title url sha256 } summary earliestEffective expires decidedOn
        decision effectiveFrom recommendedOn responseDue publishedOn publishedUrl inForceFrom } } }"#;
    let date = |d: Option<ledger::Date>| d.map_or(serde_json::Value::Null, |d| serde_json::json!(d.to_string()));
    let mut versions_seen = 0;
    for at in ["2022-05-01", "2022-07-01", "2022-10-01", "2025-01-01"] {
        let (_, answer) = server.post(query, serde_json::json!({"at": at}), None).await;
        let listed = answer["data"]["agreements"].as_array().unwrap_or_else(|| panic!("{answer}"));
        let expected = {
            let projections = server.app.projections().expect("readable");
            projections.agreements(at.parse().expect("date"), Timestamp::now())
        };
        assert_eq!(listed.len(), expected.len(), "{at}");
        for (got, view) in listed.iter().zip(&expected) {
            assert_eq!(got["id"], view.id.as_str(), "{at}");
            let want: Vec<serde_json::Value> = view
                .versions
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "number": v.number,
                        "proposedOn": v.proposed_on.to_string(),
                        "document": v.document.as_ref().map(|d| serde_json::json!({"title": d.title, "url": d.url, "sha256": d.sha256})),
                        "summary": v.summary,
                        "earliestEffective": date(v.earliest_effective),
                        "expires": date(v.expires),
                        "decidedOn": date(v.decided_on),
                        "decision": v.decision.as_ref().map(ToString::to_string),
                        "effectiveFrom": date(v.effective_from),
                        "recommendedOn": date(v.recommended_on),
                        "responseDue": date(v.response_due),
                        "publishedOn": date(v.published_on),
                        "publishedUrl": v.published_url,
                        "inForceFrom": date(v.in_force_from),
                    })
                })
                .collect();
            assert_eq!(got["versions"], serde_json::Value::Array(want), "{at} {}", view.id);
            versions_seen += view.versions.len();
        }
    }
    assert!(versions_seen > 0, "the fixtures have versions");

    // The HÖK's first version, by the source documents: recommended by StorSthlm's board on
    // 2021-10-14 with answers due 2022-06-30 (seed 003), in force from 2022-09-05 once the last
    // party (KSON) had adopted it.
    let query = r#"{ agreement(id: "hok", at: "2022-10-01") {
        versions { number recommendedOn responseDue inForceFrom } } }"#;
    let (_, answer) = server.post(query, serde_json::json!({}), None).await;
    let first = &answer["data"]["agreement"]["versions"][0];
    assert_eq!(
        first,
        &serde_json::json!({"number": 1, "recommendedOn": "2021-10-14", "responseDue": "2022-06-30",
            "inForceFrom": "2022-09-05"}),
        "{answer}"
    );
}

#[tokio::test]
async fn changes_and_deadlines_filter_by_agreement_and_kind() {
    let server = TestServer::seeded(ServerConfig::default());
    let all_changes = r#"{ changes(from: "2021-01-01", to: "2025-12-31") { on kind agreement } }"#;
    let (_, body) = server.post(all_changes, serde_json::json!({}), None).await;
    let all = body["data"]["changes"].as_array().expect("changes").clone();

    let q = r#"query($agreement: String, $kinds: [ChangeKind!]) {
        changes(from: "2021-01-01", to: "2025-12-31", agreement: $agreement, kinds: $kinds) { on kind agreement } }"#;
    for (agreement, kinds) in [
        (Some("hok"), None),
        (None, Some(vec!["PARTY_JOINED", "ENTERED_INTO_FORCE"])),
        (Some("hok"), Some(vec!["ENTERED_INTO_FORCE"])),
        (None, Some(vec![])),
    ] {
        let (_, body) = server.post(q, serde_json::json!({"agreement": agreement, "kinds": kinds}), None).await;
        let filtered = body["data"]["changes"].as_array().unwrap_or_else(|| panic!("{body}"));
        let expected: Vec<&serde_json::Value> = all
            .iter()
            .filter(|c| agreement.is_none_or(|a| c["agreement"] == a))
            .filter(|c| kinds.as_ref().is_none_or(|k| k.iter().any(|k| c["kind"] == *k)))
            .collect();
        assert_eq!(filtered.iter().collect::<Vec<_>>(), expected, "{agreement:?} {kinds:?}");
        if kinds.as_ref().is_none_or(|k| !k.is_empty()) {
            assert!(!filtered.is_empty(), "the fixtures have such changes: {agreement:?} {kinds:?}");
        }
    }
    assert!(all.iter().any(|c| c["agreement"] != "hok"), "the filter has something to remove");

    let q = r#"query($agreement: String, $kinds: [DeadlineKind!]) {
        deadlines(from: "2021-01-01", to: "2025-12-31", agreement: $agreement, kinds: $kinds) { kind agreement } }"#;
    let (_, body) = server.post(q, serde_json::json!({}), None).await;
    let all = body["data"]["deadlines"].as_array().expect("deadlines").clone();
    let (_, body) = server.post(q, serde_json::json!({"kinds": ["RESPONSE_DUE"]}), None).await;
    let due = body["data"]["deadlines"].as_array().expect("deadlines");
    assert!(!due.is_empty() && due.len() < all.len(), "{body}");
    assert!(due.iter().all(|d| d["kind"] == "RESPONSE_DUE"), "{body}");
    let (_, body) = server.post(q, serde_json::json!({"agreement": "hok"}), None).await;
    let hok = body["data"]["deadlines"].as_array().expect("deadlines");
    assert_eq!(hok.len(), all.iter().filter(|d| d["agreement"] == "hok").count(), "{body}");

    // A kind that does not exist is a typed error, not an empty list.
    let (_, bad) = server.post(q, serde_json::json!({"kinds": ["SOMETIME"]}), None).await;
    assert!(bad["errors"][0]["message"].as_str().is_some_and(|m| m.contains("SOMETIME")), "{bad}");
    assert_eq!(error_code(&bad), Some("INVALID_INPUT"), "{bad}");
}

/// Issue 15, the read side: bodies with their competence role, decisions with what cites them
/// (paged), funds, priority areas and coordinators, over the fixtures.
#[tokio::test]
async fn bodies_decisions_funds_and_priorities_are_readable_with_their_competence() {
    let server = TestServer::seeded(ServerConfig::default());
    let (_, body) = server.post("{ bodies { id role party } }", serde_json::json!({}), None).await;
    let bodies = body["data"]["bodies"].as_array().unwrap_or_else(|| panic!("{body}")).clone();
    let role = |id: &str| bodies.iter().find(|b| b["id"] == id).map(|b| (b["role"].clone(), b["party"].clone()));
    assert_eq!(role("vis"), Some((serde_json::json!("VIS"), serde_json::Value::Null)));
    assert_eq!(role("tjanstemannastyrgruppen"), Some((serde_json::json!("OFFICIALS"), serde_json::Value::Null)));
    assert_eq!(role("storsthlm-styrelse"), Some((serde_json::json!("ASSOCIATION_BOARD"), serde_json::Value::Null)));
    assert_eq!(role("nacka-kf"), Some((serde_json::json!("OF_PARTY"), serde_json::json!("nacka"))));
    assert_eq!(role("hsn"), Some((serde_json::json!("OF_PARTY"), serde_json::json!("region-stockholm"))));

    let page = r#"query($after: String) { decisions(body: "stockholm-kf", first: 2, after: $after) {
        edges { cursor node { id decidedOn body { id role } citedBy { type data } } }
        pageInfo { hasNextPage hasPreviousPage endCursor } } }"#;
    let (_, first) = server.post(page, serde_json::json!({}), None).await;
    let connection = &first["data"]["decisions"];
    let edges = connection["edges"].as_array().unwrap_or_else(|| panic!("{first}"));
    assert_eq!(edges.len(), 2);
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    assert_eq!(connection["pageInfo"]["hasPreviousPage"], false);
    for edge in edges {
        assert_eq!(edge["node"]["body"]["id"], "stockholm-kf");
        let cited = edge["node"]["citedBy"].as_array().expect("citedBy");
        assert!(!cited.is_empty(), "a council's decision in the fixtures is an adoption: {edge}");
        assert!(cited.iter().all(|e| e["data"]["party"] == "stockholm"), "Stockholm's council decides for Stockholm");
    }
    let (_, second) = server.post(page, serde_json::json!({"after": connection["pageInfo"]["endCursor"]}), None).await;
    let next = &second["data"]["decisions"];
    assert_eq!(next["pageInfo"]["hasPreviousPage"], true, "{second}");
    assert_ne!(next["edges"][0]["node"]["id"], edges[0]["node"]["id"]);

    let (_, answer) = server
        .post(
            r#"{ funds(year: 2018) { amountSek decision group { id } because { type } }
                 priorityAreas(year: 2024) { areas fromYear toYear because { type } }
                 coordinators(year: 2024, at: "2024-06-01") { area healthCentreOpen municipalFunction { holder } } }"#,
            serde_json::json!({}),
            None,
        )
        .await;
    let data = &answer["data"];
    assert!(data["funds"].as_array().is_some_and(|f| !f.is_empty()), "{answer}");
    assert_eq!(data["funds"][0]["because"][0]["type"], "FundsAllocated");
    assert!(data["priorityAreas"]["areas"].as_array().is_some_and(|a| !a.is_empty()), "{answer}");
    assert_eq!(data["priorityAreas"]["because"][0]["type"], "PriorityAreasSet");
    let areas = data["coordinators"].as_array().expect("coordinators");
    assert!(areas.iter().any(|a| a["area"] == "bromma"), "Stockholm's districts are areas of their own");
}

/// Issue 15's acceptance on the fixtures: no finding dated before the HÖK's portal existed, none for
/// KSON's answer to the HÖK, none for Norrtälje's health-centre coordinator; and `kinds` filters.
#[tokio::test]
async fn findings_on_the_fixtures_keep_to_what_the_sources_ask() {
    let server = TestServer::seeded(ServerConfig::default());
    let query = r#"query($at: Date, $kinds: [FindingKind!]) { findings(at: $at, kinds: $kinds) {
        kind agreement party area arose subject description } }"#;
    for at in ["2015-06-01", "2019-06-01", "2022-07-01", "2022-10-01", "2024-06-01"] {
        let (_, body) = server.post(query, serde_json::json!({"at": at}), None).await;
        let findings = body["data"]["findings"].as_array().unwrap_or_else(|| panic!("{body}"));
        for f in findings {
            if f["kind"] == "IN_FORCE_UNPUBLISHED" {
                assert!(f["arose"].as_str().is_some_and(|d| d >= "2022-09-05"), "{at}: {f}");
            }
            assert!(!(f["kind"] == "RECOMMENDATION_UNANSWERED" && f["party"] == "kson"), "{at}: {f}");
            assert_ne!(f["area"], "norrtalje", "{at}: {f}");
            assert!(!f["subject"].as_str().unwrap_or("").is_empty(), "{at}: named: {f}");
        }
        if at < "2021-01-01" {
            assert!(findings.is_empty(), "{at}: nothing the sources ask of those years is missing: {body}");
        }
    }
    let (_, body) = server
        .post(query, serde_json::json!({"at": "2024-06-01", "kinds": ["MUNICIPAL_FUNCTION_MISSING"]}), None)
        .await;
    let only = body["data"]["findings"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert!(!only.is_empty() && only.iter().all(|f| f["kind"] == "MUNICIPAL_FUNCTION_MISSING"), "{body}");
    assert!(only.iter().any(|f| f["subject"] == "Botkyrka kommun"), "{body}");
}

/// Riktlinje 8.6's chain, readable: a report, its feedback, both time axes.
#[tokio::test]
async fn a_problem_report_reads_back_with_its_chain() {
    let server = tokio::task::spawn_blocking(|| TestServer::seeded(ServerConfig::default())).await.expect("seeded");
    let token = server.token(graphql::Role::Secretariat, "sekretariatet");
    let record = |name: &'static str, input: serde_json::Value| {
        let server = &server;
        let token = &token;
        async move {
            let document = crate::support::mutation_document(name, "position");
            let (_, body) = server.post(&document, serde_json::json!({"input": input}), Some(token)).await;
            assert!(body["errors"].is_null(), "{name}: {body}");
        }
    };
    record(
        "reportProblem",
        serde_json::json!({"problem": "utskrivning-vantan", "reportedBy": "nacka", "reportedTo": "STORSTHLM",
            "summary": "Väntan vid utskrivning", "effective": "2024-03-01"}),
    )
    .await;
    record(
        "answerProblem",
        serde_json::json!({"problem": "utskrivning-vantan", "summary": "Återkoppling", "effective": "2024-04-02"}),
    )
    .await;
    let query = r#"query($at: Date) { problems(at: $at) { edges { node { id status feedback answeredOn because { type } } } } }"#;
    let (_, before) = server.post(query, serde_json::json!({"at": "2024-03-15"}), None).await;
    let node = &before["data"]["problems"]["edges"][0]["node"];
    assert_eq!(node["status"], "REPORTED", "{before}");
    let (_, after) = server.post(query, serde_json::json!({"at": "2024-05-01"}), None).await;
    let node = &after["data"]["problems"]["edges"][0]["node"];
    assert_eq!(
        (node["status"].clone(), node["answeredOn"].clone()),
        (serde_json::json!("ANSWERED"), serde_json::json!("2024-04-02"))
    );
    assert_eq!(node["because"].as_array().map(Vec::len), Some(2));
}
