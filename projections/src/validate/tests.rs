//! Validation: each rejection a command can meet, and the commands that pass.

use ledger::{
    AgreementKind, Binding, BodyId, BodyKind, BodyRegistered, CaseEscalated, CaseId, CaseKind, CaseLevel, CaseOpened,
    CaseWithdrawn, DecisionRecorded, EventData, EventRetracted, NewEvent,
};

use super::RejectionCode::{self, *};
use crate::testkit::*;

/// A decision recorded by the body that may make it: `<party>-…` by that party's council, anything
/// else by VIS.
fn decision_recorded(id: &str) -> DecisionRecorded {
    let body = match id.split_once('-') {
        Some((party, _)) if party == "region" || party.starts_with('m') => format!("{party}-kf"),
        _ => "vis".to_owned(),
    };
    DecisionRecorded {
        decision: dec(id),
        body: BodyId::new(body).expect("body"),
        reference: None,
        paragraph: None,
        subject: "beslut".into(),
        summary: None,
    }
}

/// A council of a party.
fn council(party: &str) -> BodyRegistered {
    BodyRegistered {
        body: BodyId::new(format!("{party}-kf")).expect("body"),
        name: format!("Fullmäktige {party}"),
        kind: BodyKind::Council,
        of: Some(party.parse().expect("slug")),
    }
}

/// The region and `n` municipalities with their councils, and VIS's body.
fn with_bodies(n: usize) -> Given {
    let mut given = Given::new().parties(n).event(
        "2012-01-01",
        BodyRegistered {
            body: BodyId::new("vis").expect("body"),
            name: "VIS".into(),
            kind: BodyKind::SteeringGroup,
            of: Some("vis".parse().expect("slug")),
        },
    );
    for party in parties(n) {
        given = given.event("2012-01-01", council(party.as_str()));
    }
    given
}

/// Two municipalities, their bodies, the decisions the helpers name, and an agreement in force from
/// 2022-07-01.
fn world() -> Given {
    let mut given = with_bodies(2);
    for id in [
        "beslut",
        "rekommendation",
        "region-beslut",
        "m1-beslut",
        "m2-beslut",
        "m1-uppsagning",
        "region-uppsagning",
        "fortsattning",
        "m1-ater",
    ] {
        given = given.event("2012-01-01", decision_recorded(id));
    }
    given
        .event("2021-03-01", drafted("hok", AgreementKind::Main, Binding::AllParties, parties(2)))
        .event("2021-09-06", proposed("hok", 1, Some("2022-07-01"), None))
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-06-20", adopted("hok", 1, "m2"))
}

fn verdict(given: &Given, effective: &str, data: impl Into<EventData>) -> Result<(), RejectionCode> {
    given.projections().validate(&NewEvent::new(d(effective), "test", data)).map_err(|r| {
        assert!(!r.message.is_empty());
        r.code
    })
}

#[test]
fn valid_adoption_passes() {
    let given = with_bodies(1).event("2012-01-01", decision_recorded("region-beslut"));
    let given = given
        .event("2021-03-01", drafted("a", AgreementKind::SubjectArea, Binding::EachParty, parties(1)))
        .event("2021-03-01", proposed("a", 1, None, None));
    assert_eq!(verdict(&given, "2021-04-01", adopted("a", 1, "region")), Ok(()));
}

#[test]
fn unknown_ids_are_not_found() {
    let given = world();
    assert_eq!(verdict(&given, "2022-08-01", adopted("okand", 1, "m1")), Err(NotFound));
    assert_eq!(verdict(&given, "2022-08-01", adopted("hok", 1, "okand")), Err(NotFound));
    let mut unknown_decision = adopted("hok", 1, "m1");
    unknown_decision.decision = dec("finns-inte");
    assert_eq!(verdict(&given, "2022-08-01", unknown_decision), Err(NotFound));
    assert_eq!(
        verdict(&given, "2022-08-01", CaseWithdrawn { case: CaseId::new("x").expect("id"), reason: "r".into() }),
        Err(NotFound)
    );
}

#[test]
fn adopting_for_a_party_that_is_not_required_is_a_rule_violation() {
    let given = world()
        .event(
            "2012-01-01",
            ledger::PartyRegistered {
                party: pid("m3"),
                name: "Kommun 3".into(),
                kind: ledger::PartyKind::Municipality,
            },
        )
        .event("2012-01-01", council("m3"))
        .event("2012-01-01", decision_recorded("m3-beslut"));
    assert_eq!(verdict(&given, "2022-08-01", adopted("hok", 1, "m3")), Err(RuleViolation));
}

#[test]
fn adopting_a_version_never_proposed_is_a_rule_violation() {
    assert_eq!(verdict(&world(), "2022-08-01", adopted("hok", 7, "m1")), Err(RuleViolation));
}

#[test]
fn revision_without_a_decision_is_a_rule_violation() {
    let given = world().event("2023-10-01", proposed("hok", 2, None, None));
    assert_eq!(verdict(&given, "2023-11-01", adopted("hok", 2, "m1")), Err(RuleViolation));
    let given = given.event("2023-10-15", decided("hok", 2, None));
    assert_eq!(verdict(&given, "2023-11-01", adopted("hok", 2, "m1")), Ok(()));
    // Proposing version 4 before 3 skips a version.
    assert_eq!(verdict(&given, "2023-11-01", proposed("hok", 4, None, None)), Err(RuleViolation));
}

#[test]
fn notice_on_an_agreement_not_in_force_is_a_rule_violation() {
    let given = world();
    assert_eq!(verdict(&given, "2022-06-30", notice("hok", "m1")), Err(RuleViolation));
    assert_eq!(verdict(&given, "2022-07-01", notice("hok", "m1")), Ok(()));
}

#[test]
fn continuation_after_the_regions_notice_is_a_rule_violation() {
    let given = world().event("2023-01-16", notice("hok", "region"));
    assert_eq!(verdict(&given, "2023-03-01", continuation("hok", "region", true)), Err(RuleViolation));
    assert_eq!(verdict(&given, "2023-03-01", continuation("hok", "m1", true)), Err(RuleViolation));
    assert_eq!(verdict(&given, "2023-03-01", withdrawn("hok", "m1")), Err(RuleViolation));
}

fn case_opened(level: CaseLevel, principled: bool) -> CaseOpened {
    CaseOpened {
        case: CaseId::new("fall").expect("id"),
        agreement: aid("hok"),
        kind: CaseKind::Interpretation,
        parties: vec![pid("m1")],
        level,
        principled,
        summary: "tolkning".into(),
    }
}

fn escalated(to: CaseLevel) -> CaseEscalated {
    CaseEscalated { case: CaseId::new("fall").expect("id"), to, reason: "olöst".into() }
}

#[test]
fn escalation_ladder_opening_rules() {
    let given = world();
    assert_eq!(verdict(&given, "2023-01-01", case_opened(CaseLevel::Local, false)), Ok(()));
    assert_eq!(verdict(&given, "2023-01-01", case_opened(CaseLevel::Officials, true)), Ok(()));
    assert_eq!(verdict(&given, "2023-01-01", case_opened(CaseLevel::Officials, false)), Err(RuleViolation));
    assert_eq!(verdict(&given, "2023-01-01", case_opened(CaseLevel::Political, true)), Err(RuleViolation));
}

#[test]
fn escalation_ladder_one_step_at_a_time_nothing_above_political_closed_is_final() {
    let given = world().event("2023-01-01", case_opened(CaseLevel::Local, false));
    assert_eq!(verdict(&given, "2023-02-01", escalated(CaseLevel::Political)), Err(RuleViolation));
    assert_eq!(verdict(&given, "2023-02-01", escalated(CaseLevel::Officials)), Ok(()));
    let given =
        given.event("2023-02-01", escalated(CaseLevel::Officials)).event("2023-03-01", escalated(CaseLevel::Political));
    assert_eq!(verdict(&given, "2023-04-01", escalated(CaseLevel::Political)), Err(RuleViolation));
    let given =
        given.event("2023-04-01", CaseWithdrawn { case: CaseId::new("fall").expect("id"), reason: "löst".into() });
    assert_eq!(verdict(&given, "2023-05-01", escalated(CaseLevel::Political)), Err(RuleViolation));
    assert_eq!(
        verdict(&given, "2023-05-01", CaseWithdrawn { case: CaseId::new("fall").expect("id"), reason: "igen".into() }),
        Err(RuleViolation)
    );
}

#[test]
fn retracting_twice_or_an_unknown_event_is_refused() {
    let mut given = world();
    let wrong = given.record("2023-01-16", notice("hok", "m1"));
    assert_eq!(verdict(&given, "2023-01-17", EventRetracted { event: wrong.id(), reason: "fel".into() }), Ok(()));
    given = given.event("2023-01-17", EventRetracted { event: wrong.id(), reason: "fel".into() });
    assert_eq!(
        verdict(&given, "2023-01-18", EventRetracted { event: wrong.id(), reason: "fel".into() }),
        Err(RuleViolation)
    );
    assert_eq!(
        verdict(&given, "2023-01-18", EventRetracted { event: ledger::EventId::new_random(), reason: "fel".into() }),
        Err(NotFound)
    );
}
