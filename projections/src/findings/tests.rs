//! One test per finding rule, named after it: the day before, of and after its boundary, and the
//! party it does not apply to.

use ledger::{
    AgreementKind, AnnualDialogueHeld, Binding, CaseId, CaseKind, CaseLevel, CaseOpened, CoordinatorDesignated,
    CoordinatorRole, Designator, FollowUpPlanned, FollowUpReported, PartyKind, PartyRegistered, ProblemAnswered,
    ProblemId, ProblemRaisedToVis, ProblemRecipient, ProblemReported, Slug, StatutoryBasisCited, StatutoryDutyRecorded,
};

use super::FindingKind;
use crate::testkit::*;

/// The finding kinds' names on `date`, with what they are about.
fn found(given: &Given, date: &str) -> Vec<FindingKind> {
    given.projections().findings(d(date), given.now()).into_iter().map(|f| f.kind).collect()
}

fn has(given: &Given, date: &str, kind: &FindingKind) -> bool {
    found(given, date).contains(kind)
}

fn party(id: &str, kind: PartyKind) -> PartyRegistered {
    PartyRegistered { party: pid(id), name: format!("Part {id}"), kind }
}

#[test]
fn every_kind_has_its_name_in_the_list_of_names() {
    let kind = FindingKind::FollowUpPlanLate { year: 2024 };
    assert!(FindingKind::NAMES.contains(&kind.name()));
    assert_eq!(FindingKind::NAMES.len(), 16);
}

/// Letter 003: the municipalities and the region are asked to answer the recommendation by its
/// response date (2022-06-30 for the HÖK); KSON, a municipal association, is not asked.
#[test]
fn recommendation_unanswered_after_the_response_date_by_municipalities_and_the_region_not_kson() {
    let mut parties = parties(2);
    parties.push(pid("kson"));
    let given = Given::new()
        .parties(2)
        .event("2012-01-01", party("kson", PartyKind::MunicipalAssociation))
        .event("2021-03-01", drafted("hok", AgreementKind::Main, Binding::AllParties, parties))
        .event("2021-09-06", proposed("hok", 1, Some("2022-07-01"), None))
        .event("2021-10-14", recommended("hok", 1, "2022-06-30"))
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"));
    let m2 = FindingKind::RecommendationUnanswered { agreement: aid("hok"), party: pid("m2"), due: d("2022-06-30") };
    assert!(!has(&given, "2022-06-30", &m2));
    assert!(has(&given, "2022-07-01", &m2));
    assert!(has(&given, "2022-07-02", &m2));
    let arose = given.projections().findings(d("2022-08-01"), given.now());
    assert_eq!(arose.iter().find(|f| f.kind == m2).map(|f| f.arose_on), Some(d("2022-07-01")));
    assert!(arose.iter().any(|f| f.kind == m2 && f.subject == "Kommun 2"), "named, not an id");
    let kson =
        FindingKind::RecommendationUnanswered { agreement: aid("hok"), party: pid("kson"), due: d("2022-06-30") };
    assert!(!has(&given, "2022-08-01", &kson), "KSON was not asked");
}

/// Letter 003 and Förstudie 11: under EACH_PARTY each municipality answers for its own pair, so a
/// missing answer is a finding even while other pairs are in force.
#[test]
fn recommendation_unanswered_per_pair_under_each_party() {
    let given = Given::new()
        .parties(2)
        .event("2021-01-01", drafted("sak", AgreementKind::SubjectArea, Binding::EachParty, parties(2)))
        .event("2021-01-01", proposed("sak", 1, None, None))
        .event("2021-01-10", recommended("sak", 1, "2021-06-30"))
        .event("2021-02-01", adopted("sak", 1, "region"))
        .event("2021-02-02", adopted("sak", 1, "m1"));
    let m2 = FindingKind::RecommendationUnanswered { agreement: aid("sak"), party: pid("m2"), due: d("2021-06-30") };
    assert!(given.projections().agreement(&aid("sak"), d("2021-07-01"), given.now()).expect("sak").in_force);
    assert!(!has(&given, "2021-06-30", &m2));
    assert!(has(&given, "2021-07-01", &m2));
    let given = given.event("2021-08-01", adopted("sak", 1, "m2"));
    assert!(has(&given, "2021-07-31", &m2));
    assert!(!has(&given, "2021-08-01", &m2));
}

/// HÖK 4.7 and 5: every county-wide document in force is published in the portal – a rule the HÖK
/// made, so it applies from the HÖK's entry into force, and not to local agreements.
#[test]
fn in_force_unpublished_only_for_county_wide_documents_from_the_hoks_entry_into_force() {
    let given = Given::new()
        .parties(1)
        .event("2015-01-01", drafted("sak", AgreementKind::SubjectArea, Binding::EachParty, parties(1)))
        .event("2015-01-01", proposed("sak", 1, None, None))
        .event("2015-02-01", adopted("sak", 1, "region"))
        .event("2015-02-01", adopted("sak", 1, "m1"))
        .event("2015-01-01", drafted("lokal", AgreementKind::Local, Binding::EachParty, parties(1)))
        .event("2015-01-01", proposed("lokal", 1, None, None))
        .event("2015-02-01", adopted("lokal", 1, "region"))
        .event("2015-02-01", adopted("lokal", 1, "m1"))
        .event("2021-03-01", drafted("hok", AgreementKind::Main, Binding::AllParties, parties(1)))
        .event("2021-09-06", proposed("hok", 1, Some("2022-07-01"), None))
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-09-05", adopted("hok", 1, "m1"));
    let sak = FindingKind::InForceUnpublished { agreement: aid("sak") };
    let lokal = FindingKind::InForceUnpublished { agreement: aid("lokal") };
    assert!(!has(&given, "2015-06-01", &sak), "no portal rule before the HÖK");
    assert!(!has(&given, "2022-09-04", &sak));
    assert!(has(&given, "2022-09-05", &sak));
    assert!(has(&given, "2022-09-06", &sak));
    assert!(!has(&given, "2022-09-06", &lokal), "the portal is for county-wide documents");
    let arose = given.projections().findings(d("2023-01-01"), given.now());
    assert_eq!(arose.iter().find(|f| f.kind == sak).map(|f| f.arose_on), Some(d("2022-09-05")));
}

fn designated(area: &str, year: i32, by: Designator, role: CoordinatorRole) -> CoordinatorDesignated {
    CoordinatorDesignated {
        area: Slug::new(area).expect("slug"),
        role,
        holder: "Vårdcentralen".into(),
        year,
        designated_by: by,
    }
}

/// Letter 003 (the förfrågningsunderlag from 1 February 2021) and Riktlinje 7.1.2: the health
/// centres choose their samordnande vårdcentral by 30 April, else HSF designates one – from 2021,
/// and not in Norrtälje, where KSON holds the whole coordination responsibility (Riktlinje 7.2).
#[test]
fn health_centre_coordinator_missing_after_30_april_from_2021_not_in_norrtalje() {
    let given = Given::new().parties(1).event("2012-01-01", party("norrtalje", PartyKind::Municipality));
    let missing = |year| FindingKind::HealthCentreCoordinatorMissing { area: Slug::new("m1").expect("slug"), year };
    assert!(!has(&given, "2020-06-01", &missing(2020)), "no such rule before 2021");
    assert!(!has(&given, "2021-04-30", &missing(2021)));
    assert!(has(&given, "2021-05-01", &missing(2021)));
    assert!(has(&given, "2024-05-02", &missing(2024)));
    let norrtalje =
        FindingKind::HealthCentreCoordinatorMissing { area: Slug::new("norrtalje").expect("slug"), year: 2024 };
    assert!(!has(&given, "2024-06-01", &norrtalje));
}

/// Letter 003: the health centres designate by 30 April; after that it is HSF's to designate, and
/// never the municipality's.
#[test]
fn health_centre_coordinator_designated_late_or_by_the_wrong_designator() {
    let given = Given::new()
        .parties(2)
        .event("2024-05-10", designated("m1", 2024, Designator::HealthCentres, CoordinatorRole::HealthCentre))
        .event("2024-03-01", designated("m2", 2024, Designator::Municipality, CoordinatorRole::HealthCentre));
    let late = FindingKind::HealthCentreCoordinatorLate {
        area: Slug::new("m1").expect("slug"),
        year: 2024,
        designated_on: d("2024-05-10"),
    };
    assert!(!has(&given, "2024-05-09", &late));
    assert!(has(&given, "2024-05-10", &late));
    let wrong =
        FindingKind::HealthCentreCoordinatorWrongDesignator { area: Slug::new("m2").expect("slug"), year: 2024 };
    assert!(!has(&given, "2024-02-29", &wrong));
    assert!(has(&given, "2024-03-01", &wrong));
    // By HSF after 30 April is how the rule wants it.
    let given = given.event("2024-05-20", designated("m2", 2024, Designator::Hsf, CoordinatorRole::HealthCentre));
    assert!(!has(&given, "2024-05-21", &wrong));
}

/// Riktlinje 7.1 and 7.1.1 ("Respektive part i HÖK utser samordnande funktioner"): a municipality the
/// riktlinje binds designates a samordnande funktion; not Norrtälje (Riktlinje 7.2).
#[test]
fn municipal_function_missing_for_a_municipality_bound_by_the_riktlinje() {
    let mut all = parties(2);
    all.push(pid("norrtalje"));
    let mut guideline = drafted("riktlinje", AgreementKind::Guideline, Binding::Decision, all.clone());
    guideline.parent = Some(aid("hok"));
    let given = Given::new()
        .parties(2)
        .event("2012-01-01", party("norrtalje", PartyKind::Municipality))
        .event("2021-03-01", drafted("hok", AgreementKind::Main, Binding::AllParties, all))
        .event("2021-09-06", proposed("hok", 1, Some("2022-07-01"), None))
        .event("2021-10-14", guideline)
        .event("2022-06-01", proposed("riktlinje", 1, None, None))
        .event("2022-07-01", decided("riktlinje", 1, None))
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-05-16", adopted("hok", 1, "norrtalje"))
        .event("2022-09-05", adopted("hok", 1, "m2"))
        .event("2023-02-01", designated("m1", 2023, Designator::Municipality, CoordinatorRole::MunicipalFunction));
    let m1 = |year| FindingKind::MunicipalFunctionMissing { municipality: pid("m1"), year };
    let m2 = |year| FindingKind::MunicipalFunctionMissing { municipality: pid("m2"), year };
    assert!(!has(&given, "2022-09-04", &m1(2022)), "the riktlinje binds no one before the HÖK does");
    assert!(has(&given, "2022-09-05", &m1(2022)));
    assert!(has(&given, "2023-01-31", &m1(2023)));
    assert!(!has(&given, "2023-02-01", &m1(2023)));
    assert!(has(&given, "2023-02-01", &m2(2023)));
    let norrtalje = FindingKind::MunicipalFunctionMissing { municipality: pid("norrtalje"), year: 2023 };
    assert!(!has(&given, "2023-02-01", &norrtalje));
    let arose = given.projections().findings(d("2022-10-01"), given.now());
    assert_eq!(arose.iter().find(|f| f.kind == m1(2022)).map(|f| f.arose_on), Some(d("2022-09-05")));
}

/// HÖK 6 and Riktlinje 8: a planned follow-up is reported to VIS – by the end of the following year
/// (our reading; the sources give no date) – and the annual dialogue of a year is held that year.
#[test]
fn follow_up_report_and_annual_dialogue_missing_or_late() {
    let given = Given::new()
        .parties(1)
        .event("2021-03-01", drafted("hok", AgreementKind::Main, Binding::AllParties, parties(1)))
        .event("2023-12-01", FollowUpPlanned { year: 2024, agreements: vec![aid("hok")], decision: dec("plan") })
        .event(
            "2026-03-01",
            FollowUpReported { year: 2024, agreement: aid("hok"), report: None, summary: "sent".into() },
        )
        .event("2025-02-01", AnnualDialogueHeld { year: 2024, participants: vec!["m1".into()], summary: "s".into() });
    let unreported = FindingKind::FollowUpUnreported { year: 2024, agreement: aid("hok") };
    assert!(!has(&given, "2025-12-31", &unreported));
    assert!(has(&given, "2026-01-01", &unreported));
    assert!(!has(&given, "2026-03-01", &unreported));
    let late = FindingKind::FollowUpReportedLate { year: 2024, agreement: aid("hok"), reported_on: d("2026-03-01") };
    assert!(!has(&given, "2026-02-28", &late));
    assert!(has(&given, "2026-03-01", &late));
    let missing = FindingKind::AnnualDialogueMissing { year: 2024 };
    assert!(!has(&given, "2024-12-31", &missing));
    assert!(has(&given, "2025-01-01", &missing));
    assert!(!has(&given, "2025-02-01", &missing));
    let dialogue_late = FindingKind::AnnualDialogueLate { year: 2024, held_on: d("2025-02-01") };
    assert!(!has(&given, "2025-01-31", &dialogue_late));
    assert!(has(&given, "2025-02-01", &dialogue_late));
    assert!(!has(&given, "2025-02-01", &FindingKind::FollowUpPlanLate { year: 2024 }), "the plan came before the year");
}

fn problem() -> ProblemReported {
    ProblemReported {
        problem: ProblemId::new("p").expect("id"),
        reported_by: "m1".into(),
        reported_to: ProblemRecipient::Storsthlm,
        agreement: None,
        summary: "Väntetider vid utskrivning".into(),
    }
}

/// Riktlinje 8.6: "HSF och Storsthlm ska löpande … återkoppla" – 90 days without feedback is a
/// finding; structural problems go to VIS "genom tjänstemannastyrgruppen", after feedback.
#[test]
fn problem_without_feedback_after_90_days_and_raised_outside_the_chain() {
    let given = Given::new().parties(1).event("2024-01-01", problem());
    let id = ProblemId::new("p").expect("id");
    let without = FindingKind::ProblemWithoutFeedback { problem: id.clone() };
    assert!(!has(&given, "2024-03-30", &without));
    assert!(has(&given, "2024-03-31", &without));
    let raised = given.clone_with("2024-04-10", ProblemRaisedToVis { problem: id.clone(), decision: Some(dec("tsg")) });
    assert!(
        has(&raised, "2024-04-10", &FindingKind::ProblemRaisedOutsideChain { problem: id.clone() }),
        "no feedback first"
    );
    let answered =
        given.clone_with("2024-02-01", ProblemAnswered { problem: id.clone(), summary: "återkoppling".into() });
    assert!(!has(&answered, "2024-04-01", &without));
    let through_chain =
        answered.clone_with("2024-04-10", ProblemRaisedToVis { problem: id.clone(), decision: Some(dec("tsg")) });
    assert!(!has(&through_chain, "2024-04-10", &FindingKind::ProblemRaisedOutsideChain { problem: id.clone() }));
    let undecided = answered.clone_with("2024-04-10", ProblemRaisedToVis { problem: id.clone(), decision: None });
    assert!(has(&undecided, "2024-04-10", &FindingKind::ProblemRaisedOutsideChain { problem: id }));
}

/// HÖK 7.1 sets no time limit; a case standing 180 days at one level is a finding (our bound).
#[test]
fn case_stalled_after_180_days_at_one_level() {
    let given = Given::new().parties(1).event(
        "2024-01-01",
        CaseOpened {
            case: CaseId::new("fall").expect("id"),
            agreement: aid("hok"),
            kind: CaseKind::Deviation,
            parties: vec![pid("m1")],
            level: CaseLevel::Local,
            principled: false,
            summary: "avsteg".into(),
        },
    );
    let stalled = FindingKind::CaseStalled {
        case: CaseId::new("fall").expect("id"),
        level: CaseLevel::Local,
        since: d("2024-01-01"),
    };
    assert!(!has(&given, "2024-06-28", &stalled));
    assert!(has(&given, "2024-06-29", &stalled));
    assert!(has(&given, "2024-06-30", &stalled));
}

/// DOMAIN.md, "No stated notice period": the leave date of a notice on such an agreement is unknown.
#[test]
fn notice_period_unknown() {
    let given = noticed_without_a_period();
    let unknown = FindingKind::NoticePeriodUnknown { agreement: aid("sak"), party: pid("m1") };
    assert!(!has(&given, "2020-02-29", &unknown));
    assert!(has(&given, "2020-03-01", &unknown));
}

/// HÖK 5 and Förstudie 8: the law obliges the region and each municipality to have certain
/// agreements. From the duty's day, each municipality and the region not bound by an agreement in
/// force that cites one of its provisions is a finding; KSON, a municipal association, is not
/// obliged; a citation counts from its own day.
#[test]
fn statutory_agreement_missing_from_the_duty_s_day_for_municipalities_and_the_region_not_kson() {
    let duty = StatutoryDutyRecorded {
        duty: "missbruk".parse().expect("slug"),
        title: "Samverkan kring personer med missbruk".into(),
        references: vec!["SoL 5:9a".into(), "HSL 16:3".into()],
    };
    let given = Given::new()
        .parties(2)
        .event("2012-01-01", party("kson", PartyKind::MunicipalAssociation))
        .event("2016-01-01", drafted("sak", AgreementKind::SubjectArea, Binding::EachParty, parties(2)))
        .event("2016-01-01", proposed("sak", 1, None, None))
        .event("2016-02-01", adopted("sak", 1, "region"))
        .event("2016-02-01", adopted("sak", 1, "m1"))
        .event("2016-03-01", StatutoryBasisCited { agreement: aid("sak"), references: vec!["SoL 5:9a".into()] })
        .event("2016-01-01", duty);
    let missing = |party: &str| FindingKind::StatutoryAgreementMissing {
        duty: "missbruk".parse().expect("slug"),
        party: pid(party),
    };
    // The day before the duty: nothing; from its day, every obliged party without a citing
    // agreement in force (the agreement cites the law only from 2016-03-01).
    assert!(!has(&given, "2015-12-31", &missing("m1")));
    for day in ["2016-01-01", "2016-02-29"] {
        for p in ["region", "m1", "m2"] {
            assert!(has(&given, day, &missing(p)), "{p} on {day}");
        }
    }
    // From the citation's day the pair region–m1 fulfils it; m2 never adopted, so it stays missing.
    for day in ["2016-03-01", "2016-03-02"] {
        assert!(!has(&given, day, &missing("region")), "{day}");
        assert!(!has(&given, day, &missing("m1")), "{day}");
        assert!(has(&given, day, &missing("m2")), "{day}");
    }
    assert!(!has(&given, "2016-03-01", &missing("kson")), "a municipal association is not obliged");
    let findings = given.projections().findings(d("2016-03-01"), given.now());
    let m2 = findings.iter().find(|f| f.kind == missing("m2")).expect("m2's finding");
    assert_eq!(m2.arose_on, d("2016-01-01"));
    assert_eq!(m2.subject, "Kommun 2: Samverkan kring personer med missbruk", "named, not an id");
    // And the duty's view says who fulfils it with what.
    let view = given.projections().statutory_duty(&"missbruk".parse().expect("slug"), d("2016-03-01"), given.now());
    let covered: Vec<_> =
        view.expect("the duty").parties.into_iter().filter(|c| !c.agreements.is_empty()).map(|c| c.party).collect();
    assert_eq!(covered, vec![pid("region"), pid("m1")]);
}
