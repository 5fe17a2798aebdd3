//! Snapshots of the main GraphQL answers over the real fixtures, so that any change to what an
//! answer says shows up as a reviewed diff of `tests/it/snapshots/*.json`. After a deliberate
//! change, `UPDATE_EXPECT=1 cargo test -p samverkan-tests --test it snapshots` rewrites them; read
//! the diff before committing it.
//!
//! Every query names both time axes, so the answers depend only on the fixtures.

use expect_test::{ExpectFile, expect_file};
use serde_json::{Value, json};

use crate::support::TestServer;

/// The record-time instant "now" stands for: after the fixtures' last record.
const NOW: &str = "2026-06-01T00:00:00Z";

const EVENT: &str = "position type effective recordedAt stream";

/// Runs `query` with `variables` over the fixtures and compares the pretty-printed answer with the
/// snapshot; the answer must have no errors.
async fn snapshot(server: &TestServer, query: &str, variables: Value, expected: ExpectFile) {
    let (status, answer) = server.post(query, variables, None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("errors").is_none(), "{answer}");
    let pretty = serde_json::to_string_pretty(&answer).expect("JSON prints") + "\n";
    expected.assert_eq(&pretty);
}

fn hok_query() -> String {
    format!(
        "query($at: Date!, $known: DateTime!) {{ agreement(id: \"hok\", at: $at, asKnownAt: $known) {{
            id title kind binding status inForce inForceFrom inForceUntil version published noticeMonths
            versions {{ number proposedOn decidedOn decision effectiveFrom recommendedOn responseDue publishedOn inForceFrom }}
            parties {{ party {{ id name }} adoptedOn declinedOn noticeGivenOn leavesOn bound }}
            pendingParties {{ id }}
            steward {{ id name }}
            because {{ {EVENT} }}
        }} }}"
    )
}

#[tokio::test]
async fn the_hok_before_and_after_it_came_into_force_and_as_known_in_between() {
    let server = TestServer::seeded_async(Default::default()).await;
    let query = hok_query();
    snapshot(&server, &query, json!({"at": "2022-07-01", "known": NOW}), expect_file!["snapshots/hok-2022-07-01.json"])
        .await;
    snapshot(&server, &query, json!({"at": "2022-10-01", "known": NOW}), expect_file!["snapshots/hok-2022-10-01.json"])
        .await;
    snapshot(
        &server,
        &query,
        json!({"at": "2022-08-01", "known": "2022-08-01T00:00:00Z"}),
        expect_file!["snapshots/hok-2022-08-01-as-known-then.json"],
    )
    .await;
}

#[tokio::test]
async fn the_organisation_in_2024() {
    let server = TestServer::seeded_async(Default::default()).await;
    let query = format!(
        "query($at: Date!, $known: DateTime!) {{ groups(at: $at, asKnownAt: $known) {{
            id name kind active mandate establishedOn endsOn parent {{ id }}
            members {{ person {{ name title }} role represents from until }}
            because {{ {EVENT} }}
        }}
        parties(at: $at, asKnownAt: $known) {{ id name kind districts }} }}"
    );
    snapshot(
        &server,
        &query,
        json!({"at": "2024-06-01", "known": NOW}),
        expect_file!["snapshots/organisation-2024-06-01.json"],
    )
    .await;
}

#[tokio::test]
async fn every_agreement_county_wide_and_what_an_auditor_sees() {
    let server = TestServer::seeded_async(Default::default()).await;
    let query = "query($at: Date!, $known: DateTime!) {
        agreements(at: $at, asKnownAt: $known) {
            id title kind status inForce inForceFrom inForceUntil version published
            parent { id } parties { party { id } bound adoptedOn leavesOn }
        }
        findings(at: $at, asKnownAt: $known) { kind agreement party description because { position } }
        cases(at: $at, asKnownAt: $known) { id kind level status principled history { position type } }
    }";
    snapshot(
        &server,
        query,
        json!({"at": "2024-06-01", "known": NOW}),
        expect_file!["snapshots/county-2024-06-01.json"],
    )
    .await;
}

#[tokio::test]
async fn what_changed_and_what_falls_due_around_the_hok() {
    let server = TestServer::seeded_async(Default::default()).await;
    let query = "query($known: DateTime!) {
        changes(from: \"2022-06-01\", to: \"2022-12-31\", asKnownAt: $known) {
            on kind agreement party group case description because { position }
        }
        deadlines(from: \"2022-01-01\", to: \"2022-12-31\", asKnownAt: $known) { on kind agreement parties group description }
    }";
    snapshot(&server, query, json!({"known": NOW}), expect_file!["snapshots/timeline-2022.json"]).await;
}
