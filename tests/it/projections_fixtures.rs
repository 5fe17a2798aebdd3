//! The real HÖK history in `fixtures/history.jsonl`, loaded through the ledger's JSON Lines parser
//! into a sealed in-memory chain with the lines' record times, and checked against the facts the
//! sources state (fixtures/README.md).

use std::sync::OnceLock;

use ledger::{AgreementId, Append, Date, MemoryChain, PartyId, Timestamp};
use projections::{AgreementStatus, Projections};

struct History {
    projections: Projections,
    chain: MemoryChain,
}

fn history() -> &'static History {
    static HISTORY: OnceLock<History> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");
        let text = std::fs::read_to_string(path).expect("fixtures/history.jsonl is readable");
        let mut append = Append::new();
        for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let parsed = ledger::jsonl::parse_line(index + 1, line).expect("valid line");
            append = append.with_imported(parsed.event, parsed.recorded_at);
        }
        let mut chain = MemoryChain::new();
        chain.append(&append, Timestamp::now()).expect("the history seals");
        let projections = Projections::from_events(chain.events()).expect("the history applies");
        History { projections, chain }
    })
}

fn d(s: &str) -> Date {
    s.parse().expect("valid date")
}

fn id(s: &str) -> AgreementId {
    AgreementId::new(s).expect("valid id")
}

fn now() -> Timestamp {
    Timestamp::from_micros(i64::MAX)
}

fn status(agreement: &str, date: &str) -> AgreementStatus {
    history().projections.agreement(&id(agreement), d(date), now()).expect("agreement exists").status
}

#[test]
fn the_history_has_849_events() {
    assert_eq!(history().chain.events().len(), 849);
    assert_eq!(history().projections.head().get(), 849);
}

#[test]
fn hok_not_in_force_on_2022_07_01_because_kson_had_not_adopted() {
    let view = history().projections.agreement(&id("hok"), d("2022-07-01"), now()).expect("hok");
    assert!(!view.in_force);
    assert_eq!(view.status, AgreementStatus::Recommended);
    assert_eq!(view.pending_parties, vec![PartyId::new("kson").expect("id")]);
    assert_eq!(view.in_force_from, None);
}

#[test]
fn hok_in_force_from_2022_09_05_with_all_28_parties_bound() {
    assert!(!history().projections.agreement(&id("hok"), d("2022-09-04"), now()).expect("hok").in_force);
    for date in ["2022-09-05", "2022-10-01"] {
        let view = history().projections.agreement(&id("hok"), d(date), now()).expect("hok");
        assert_eq!(view.status, AgreementStatus::InForce, "{date}");
        assert_eq!(view.in_force_from, Some(d("2022-09-05")));
        assert_eq!(view.version, Some(1));
        assert_eq!(view.parties.len(), 28);
        assert!(view.parties.iter().all(|p| p.bound), "{date}: every party bound");
        assert!(view.published);
        assert!(!view.because.is_empty());
    }
}

#[test]
fn riktlinje_in_force_from_2022_07_01() {
    // The decision is dated 2022-07-01 itself: the day before, nothing was decided yet.
    assert_eq!(status("riktlinje", "2022-06-30"), AgreementStatus::Draft);
    assert_eq!(status("riktlinje", "2022-07-01"), AgreementStatus::InForce);
}

/// DOMAIN.md, "Children" (Riktlinje 1: "Parterna förbinder sig genom HÖK att samverka i enlighet
/// med riktlinjen"): decided from 2022-07-01, the riktlinje binds each party from the day the HÖK
/// binds it, 2022-09-05.
#[test]
fn riktlinje_binds_each_party_from_the_day_the_hok_binds_it() {
    let view = |date: &str| history().projections.agreement(&id("riktlinje"), d(date), now()).expect("riktlinje");
    for date in ["2022-07-01", "2022-08-01", "2022-09-04"] {
        assert_eq!(view(date).status, AgreementStatus::InForce, "{date}: the document applies");
        assert!(view(date).parties.iter().all(|p| !p.bound), "{date}: no party bound before the HÖK binds it");
    }
    for date in ["2022-09-05", "2022-10-01"] {
        assert_eq!(view(date).parties.len(), 28);
        assert!(view(date).parties.iter().all(|p| p.bound), "{date}: every party bound");
    }
}

/// Every event of the fixtures passes the validation a new command meets – the competence table of
/// DOMAIN.md among it – against everything before it: every decision was made by a competent body.
#[test]
fn every_fixture_event_passes_validation_against_its_predecessors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");
    let text = std::fs::read_to_string(path).expect("fixtures/history.jsonl is readable");
    let proposed: Vec<ledger::NewEvent> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(index, line)| ledger::jsonl::parse_line(index + 1, line).expect("valid line").event)
        .collect();
    let batch: Vec<(&ledger::NewEvent, &ledger::RecordedEvent)> =
        proposed.iter().zip(history().chain.events().iter()).collect();
    assert_eq!(batch.len(), 849);
    if let Err((index, rejection)) = Projections::new().validate_batch(&batch) {
        panic!("fixture line {}: {rejection}", index + 1);
    }
}

#[test]
fn temporary_utskrivning_applies_through_2019_12_31() {
    assert_eq!(status("utskrivning-tillfallig", "2018-01-01"), AgreementStatus::InForce);
    assert_eq!(status("utskrivning-tillfallig", "2019-12-31"), AgreementStatus::InForce);
    assert_eq!(status("utskrivning-tillfallig", "2020-01-01"), AgreementStatus::Expired);
}

#[test]
fn utskrivning_in_force_from_2020_01_01() {
    assert!(!history().projections.agreement(&id("utskrivning"), d("2019-12-31"), now()).expect("exists").in_force);
    assert_eq!(status("utskrivning", "2020-01-01"), AgreementStatus::InForce);
}

#[test]
fn andningshjalp_terminated_in_2016() {
    assert_eq!(status("andningshjalp", "2016-06-13"), AgreementStatus::InForce);
    assert_eq!(status("andningshjalp", "2016-06-14"), AgreementStatus::Terminated);
    assert_eq!(status("andningshjalp", "2022-01-01"), AgreementStatus::Terminated);
}

#[test]
fn hok_as_known_before_the_last_adoption_was_recorded_is_not_in_force() {
    // Find when KSON's adoption reached the ledger, and ask just before.
    let kson_adoption = history()
        .chain
        .events()
        .iter()
        .find(|e| matches!(e.data(), ledger::EventData::PartyAdopted(a) if a.agreement.as_str() == "hok" && a.party.as_str() == "kson"))
        .expect("kson adopts the hok");
    let just_before = Timestamp::from_micros(kson_adoption.recorded_at().as_micros() - 1);
    let then = history().projections.agreement(&id("hok"), d("2022-10-01"), just_before).expect("hok");
    assert!(!then.in_force);
    assert_eq!(then.pending_parties, vec![PartyId::new("kson").expect("id")]);
    let at_record =
        history().projections.agreement(&id("hok"), d("2022-10-01"), kson_adoption.recorded_at()).expect("hok");
    assert!(at_record.in_force);
}

#[test]
fn subject_area_agreements_in_force_in_2022_bind_region_and_municipalities_not_kson() {
    let view = history().projections.agreement(&id("aldre"), d("2022-10-01"), now()).expect("aldre");
    assert!(view.in_force);
    assert!(view.binds(&PartyId::new("region-stockholm").expect("id")));
    assert!(view.binds(&PartyId::new("nacka").expect("id")));
    assert!(view.participation(&PartyId::new("kson").expect("id")).is_none());
}

#[test]
fn spel_om_pengar_is_in_force_while_its_parent_is() {
    assert_eq!(status("spel-om-pengar", "2019-12-01"), AgreementStatus::InForce);
    assert_eq!(status("missbruk-beroende", "2017-01-01"), AgreementStatus::InForce);
    assert!(
        !history().projections.agreement(&id("missbruk-beroende"), d("2016-12-31"), now()).expect("exists").in_force
    );
}

/// HÖK 5 and the förstudie: the agreements the law requires are recorded as duties; on the real
/// history every municipality and the region is bound, on 2024-06-01, by an agreement citing each.
#[test]
fn every_statutory_duty_is_met_by_the_fixture_agreements_on_2024_06_01() {
    let duties = history().projections.statutory_duties(d("2024-06-01"), now());
    let ids: Vec<&str> = duties.iter().map(|duty| duty.id.as_str()).collect();
    assert_eq!(ids, ["barn-unga-placerade", "psykisk-funktionsnedsattning", "missbruk-beroende", "utskrivning"]);
    for duty in &duties {
        assert_eq!(duty.parties.len(), 27, "{}: the 26 municipalities and the region", duty.id);
        for party in &duty.parties {
            assert!(!party.agreements.is_empty(), "{} for {}", duty.id, party.party);
        }
    }
    let findings = history().projections.findings(d("2024-06-01"), now());
    assert!(!findings.iter().any(|f| f.kind.name() == "STATUTORY_AGREEMENT_MISSING"), "{findings:?}");
    // Before its record the ledger knew no duty: as known on 2023-12-31 there is none.
    let before = Timestamp::from_micros(1_704_067_199_000_000);
    assert!(history().projections.statutory_duties(d("2024-06-01"), before).is_empty());
    // The HÖK duties apply from the HÖK's entry into force, not before.
    let early = history().projections.statutory_duties(d("2022-09-04"), now());
    assert_eq!(early.iter().map(|duty| duty.id.as_str()).collect::<Vec<_>>(), ["utskrivning"]);
}

/// Riktlinje 7.1.1 and 7.1.2: the coordinators recorded for Stockholm's three recorded districts in
/// 2024 (fixtures/README.md, "Local coordinators") take those areas out of the coordinator findings
/// of 2024-06-01 – and only from their record on: as known before it, the findings stand. Areas
/// without a record keep theirs, and Norrtälje (KSON, Riktlinje 7.2) never has one.
#[test]
fn recorded_coordinators_remove_their_areas_findings_for_the_year() {
    use projections::FindingKind;
    let districts = ["bromma", "hagersten-alvsjo", "rinkeby-kista"];
    let health_centre_missing = |findings: &[projections::Finding]| -> Vec<String> {
        findings
            .iter()
            .filter_map(|f| match &f.kind {
                FindingKind::HealthCentreCoordinatorMissing { area, year: 2024 } => Some(area.to_string()),
                _ => None,
            })
            .collect()
    };
    let function_missing = |findings: &[projections::Finding]| -> Vec<String> {
        findings
            .iter()
            .filter_map(|f| match &f.kind {
                FindingKind::MunicipalFunctionMissing { municipality, year: 2024 } => Some(municipality.to_string()),
                _ => None,
            })
            .collect()
    };
    let designations: Vec<&ledger::RecordedEvent> =
        history().chain.events().iter().filter(|e| e.data().type_name() == "CoordinatorDesignated").collect();
    assert_eq!(designations.len(), 6, "a municipal function and a health centre for each district");
    let first_record = designations.iter().map(|e| e.recorded_at()).min().expect("recorded");

    let now_known = history().projections.findings(d("2024-06-01"), now());
    let missing = health_centre_missing(&now_known);
    for district in districts {
        assert!(!missing.iter().any(|a| a == district), "{district} has its samordnande vårdcentral: {missing:?}");
    }
    assert!(missing.iter().any(|a| a == "nacka"), "an area without a record keeps its finding: {missing:?}");
    assert!(!missing.iter().any(|a| a == "norrtalje"), "KSON holds Norrtälje's coordination: {missing:?}");
    let functions = function_missing(&now_known);
    assert!(!functions.iter().any(|m| m == "stockholm"), "Stockholm's districts have their functions: {functions:?}");
    assert!(functions.iter().any(|m| m == "botkyrka"), "{functions:?}");
    // None of the records is late or by the wrong designator.
    assert!(
        !now_known.iter().any(|f| matches!(
            f.kind,
            FindingKind::HealthCentreCoordinatorLate { .. }
                | FindingKind::HealthCentreCoordinatorWrongDesignator { .. }
        )),
        "{now_known:?}"
    );

    // As known just before the first record, the ledger knew of no coordinator there.
    let before = Timestamp::from_micros(first_record.as_micros() - 1);
    let then = history().projections.findings(d("2024-06-01"), before);
    let missing_then = health_centre_missing(&then);
    for district in districts {
        assert!(missing_then.iter().any(|a| a == district), "{district} before the record: {missing_then:?}");
    }
    assert!(function_missing(&then).iter().any(|m| m == "stockholm"));
    // The designations are of 2024: the year before keeps its findings.
    let findings_2023 = history().projections.findings(d("2023-06-01"), now());
    assert!(findings_2023.iter().any(|f| matches!(
        &f.kind,
        FindingKind::HealthCentreCoordinatorMissing { area, year: 2023 } if area.as_str() == "bromma"
    )));
}

/// What cites each decision, computed from the raw events: those naming it that happened by `at`,
/// recorded by `known`, and not retracted by a retraction recorded by `known`.
fn cited_by_from_the_events(at: Date, known: Timestamp) -> std::collections::HashMap<ledger::DecisionId, Vec<u64>> {
    let events = history().chain.events();
    let retracted: std::collections::HashSet<ledger::EventId> = events
        .iter()
        .filter(|e| e.recorded_at() <= known)
        .filter_map(|e| match e.data() {
            ledger::EventData::EventRetracted(r) => Some(r.event),
            _ => None,
        })
        .collect();
    let mut out: std::collections::HashMap<ledger::DecisionId, Vec<u64>> = std::collections::HashMap::new();
    for e in events {
        if let Some(decision) = e.data().cited_decision()
            && e.recorded_at() <= known
            && e.effective() <= at
            && !retracted.contains(&e.id())
        {
            out.entry(decision.clone()).or_default().push(e.position().get());
        }
    }
    out
}

#[test]
fn decisions_one_by_one_and_their_citations_equal_the_whole_list_and_the_raw_events() {
    let p = &history().projections;
    let mut cited_somewhere = 0;
    for (at, known) in [("2022-10-01", now()), ("2016-01-01", now()), ("2100-01-01", now())] {
        let at = d(at);
        let all = p.decisions(None, at, known);
        assert!(!all.is_empty());
        // Page by page: the first k computed one by one, then cited, are the whole list's first k.
        for k in [0, 1, 7, all.len() / 2, all.len(), all.len() + 3] {
            let mut first: Vec<_> = p.decisions_made(None, at, known).take(k).collect();
            p.cite(&mut first, at, known);
            assert_eq!(first[..], all[..k.min(all.len())]);
        }
        // One decision asked alone is the same as in the list; a body's are the list's of that body.
        let oracle = cited_by_from_the_events(at, known);
        for view in &all {
            assert_eq!(p.decision(&view.id, at, known).as_ref(), Some(view));
            let want = oracle.get(&view.id).cloned().unwrap_or_default();
            assert_eq!(view.cited_by.iter().map(|p| p.get()).collect::<Vec<_>>(), want, "{}", view.id);
            cited_somewhere += usize::from(!view.cited_by.is_empty());
            let of_body = p.decisions(Some(&view.body), at, known);
            assert!(of_body.iter().all(|v| v.body == view.body) && of_body.contains(view));
        }
    }
    assert!(cited_somewhere > 0, "the fixtures cite decisions");
}
