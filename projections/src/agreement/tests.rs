//! Given/when/then tests of the agreement rules over real sealed events: entry into force
//! (ALL_PARTIES, EACH_PARTY, DECISION), declination, revision, notice and continuation, expiry,
//! termination, supersession, supplementary agreements, and both time axes.

use ledger::{AgreementKind, AgreementSuperseded, Binding, EventRetracted, Timestamp};

use super::AgreementStatus::{self, *};
use crate::testkit::*;

/// The status, in-force flag and version of `hok` on a date, as known now.
fn on(given: &Given, date: &str) -> (AgreementStatus, bool, Option<u32>) {
    let view = given.projections().agreement(&aid("hok"), d(date), given.now()).expect("agreement exists");
    (view.status, view.in_force, view.version)
}

/// A main agreement between the region and two municipalities, earliest date 2022-07-01.
fn main_agreement() -> Given {
    Given::new()
        .parties(2)
        .event("2021-03-01", drafted("hok", AgreementKind::Main, Binding::AllParties, parties(2)))
        .event("2021-09-06", proposed("hok", 1, Some("2022-07-01"), None))
        .event("2021-10-14", recommended("hok", 1, "2022-06-30"))
}

#[test]
fn entry_into_force_all_parties_from_the_last_adoption() {
    // Given everyone but m2 adopted before the earliest date,
    let given = main_agreement()
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        // when m2 adopts on 2022-09-05,
        .event("2022-09-05", adopted("hok", 1, "m2"));
    // then the agreement is in force from that day, not the day before.
    assert_eq!(on(&given, "2022-07-01"), (Recommended, false, None));
    assert_eq!(on(&given, "2022-09-04"), (Recommended, false, None));
    assert_eq!(on(&given, "2022-09-05"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2022-09-06"), (InForce, true, Some(1)));
    let view = given.projections().agreement(&aid("hok"), d("2022-09-05"), given.now()).expect("exists");
    assert_eq!(view.in_force_from, Some(d("2022-09-05")));
    assert!(view.parties.iter().all(|p| p.bound));
    assert!(view.pending_parties.is_empty());
    // Before m2's adoption it is the one pending party.
    let before = given.projections().agreement(&aid("hok"), d("2022-09-04"), given.now()).expect("exists");
    assert_eq!(before.pending_parties, vec![pid("m2")]);
    assert!(before.parties.iter().all(|p| !p.bound));
}

#[test]
fn entry_into_force_all_parties_not_before_the_earliest_date() {
    let given = main_agreement()
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-06-20", adopted("hok", 1, "m2"));
    assert_eq!(on(&given, "2022-06-30"), (Recommended, false, None));
    assert_eq!(on(&given, "2022-07-01"), (InForce, true, Some(1)));
}

#[test]
fn declination_blocks_until_required_parties_change() {
    // Given m2 declines,
    let given = main_agreement()
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-05-20", declined("hok", 1, "m2"));
    // then the agreement is blocked, even past its earliest date.
    assert_eq!(on(&given, "2022-05-19"), (Recommended, false, None));
    assert_eq!(on(&given, "2022-05-20"), (Blocked, false, None));
    assert_eq!(on(&given, "2022-07-01"), (Blocked, false, None));
    // When the required parties change by decision to exclude m2,
    let given = given.event("2022-08-15", required_changed("hok", vec![pid("region"), pid("m1")]));
    // then it is in force from that decision's day on (everyone remaining had adopted).
    assert_eq!(on(&given, "2022-08-14"), (Blocked, false, None));
    assert_eq!(on(&given, "2022-08-15"), (InForce, true, Some(1)));
    let view = given.projections().agreement(&aid("hok"), d("2022-08-15"), given.now()).expect("exists");
    assert_eq!(view.parties.len(), 2);
}

#[test]
fn each_party_binds_a_pair_from_the_later_adoption() {
    let given = Given::new()
        .parties(2)
        .event("2018-11-05", drafted("spel", AgreementKind::SubjectArea, Binding::EachParty, parties(2)))
        .event("2018-11-05", proposed("spel", 1, None, None))
        .event("2019-02-11", adopted("spel", 1, "m1"))
        .event("2019-03-26", adopted("spel", 1, "region"))
        .event("2019-05-14", adopted("spel", 1, "m2"));
    let view = |date: &str| given.projections().agreement(&aid("spel"), d(date), given.now()).expect("exists");
    // m1 adopted first: its pair is bound from the region's adoption.
    assert!(!view("2019-03-25").in_force);
    let day_of = view("2019-03-26");
    assert_eq!(day_of.status, InForce);
    assert!(day_of.binds(&pid("region")) && day_of.binds(&pid("m1")) && !day_of.binds(&pid("m2")));
    assert_eq!(day_of.pending_parties, vec![pid("m2")]);
    // m2 adopted after the region: bound from its own adoption.
    assert!(!view("2019-05-13").binds(&pid("m2")));
    assert!(view("2019-05-14").binds(&pid("m2")));
    assert!(view("2019-05-15").binds(&pid("m2")));
    assert_eq!(view("2019-05-15").in_force_from, Some(d("2019-03-26")));
}

#[test]
fn each_party_municipality_declining_stays_outside_without_blocking() {
    let given = Given::new()
        .parties(2)
        .event("2019-01-01", drafted("spel", AgreementKind::SubjectArea, Binding::EachParty, parties(2)))
        .event("2019-01-01", proposed("spel", 1, None, None))
        .event("2019-02-01", adopted("spel", 1, "region"))
        .event("2019-02-02", adopted("spel", 1, "m1"))
        .event("2019-02-03", declined("spel", 1, "m2"));
    let view = given.projections().agreement(&aid("spel"), d("2019-03-01"), given.now()).expect("exists");
    assert_eq!(view.status, InForce);
    assert!(!view.binds(&pid("m2")));
    assert_eq!(view.participation(&pid("m2")).and_then(|p| p.declined_on), Some(d("2019-02-03")));
}

#[test]
fn decision_in_force_from_the_stated_date() {
    let given = Given::new()
        .parties(1)
        .event("2021-10-14", drafted("riktlinje", AgreementKind::Guideline, Binding::Decision, parties(1)))
        .event("2021-11-09", proposed("riktlinje", 1, None, None))
        .event("2022-06-15", decided("riktlinje", 1, Some("2022-07-01")));
    let status = |date: &str| given.projections().agreement(&aid("riktlinje"), d(date), given.now()).map(|v| v.status);
    assert_eq!(status("2022-06-30"), Some(Recommended));
    assert_eq!(status("2022-07-01"), Some(InForce));
    assert_eq!(status("2022-07-02"), Some(InForce));
}

#[test]
fn decision_in_force_from_the_decision_date_without_a_stated_date() {
    let given = Given::new()
        .parties(1)
        .event("2021-10-14", drafted("riktlinje", AgreementKind::Guideline, Binding::Decision, parties(1)))
        .event("2021-11-09", proposed("riktlinje", 1, None, None))
        .event("2022-06-15", decided("riktlinje", 1, None));
    let status = |date: &str| given.projections().agreement(&aid("riktlinje"), d(date), given.now()).map(|v| v.status);
    assert_eq!(status("2022-06-14"), Some(Draft));
    assert_eq!(status("2022-06-15"), Some(InForce));
}

#[test]
fn revision_applies_three_months_after_the_last_approval_and_the_previous_version_until_then() {
    let given = main_agreement()
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-06-20", adopted("hok", 1, "m2"))
        .event("2023-10-01", proposed("hok", 2, Some("2024-01-01"), None))
        .event("2023-10-01", decided("hok", 2, None))
        .event("2023-11-01", adopted("hok", 2, "region"))
        .event("2023-11-15", adopted("hok", 2, "m1"))
        .event("2023-11-30", adopted("hok", 2, "m2"));
    // Last approval 2023-11-30 + 3 months = 2024-02-29 (clamped), later than the stated 2024-01-01.
    assert_eq!(on(&given, "2024-01-01"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2024-02-28"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2024-02-29"), (InForce, true, Some(2)));
    assert_eq!(on(&given, "2024-03-01"), (InForce, true, Some(2)));
    let view = given.projections().agreement(&aid("hok"), d("2024-03-01"), given.now()).expect("exists");
    assert_eq!(view.in_force_from, Some(d("2022-07-01")));
}

fn in_force_main_agreement() -> Given {
    main_agreement()
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-06-20", adopted("hok", 1, "m2"))
}

#[test]
fn notice_by_the_region_ends_the_whole_agreement_when_it_leaves() {
    let given = in_force_main_agreement().event("2023-01-16", notice("hok", "region"));
    assert_eq!(on(&given, "2025-01-15"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2025-01-16"), (Terminated, false, None));
    assert_eq!(on(&given, "2025-01-17"), (Terminated, false, None));
    let view = given.projections().agreement(&aid("hok"), d("2024-01-01"), given.now()).expect("exists");
    assert_eq!(view.in_force_until, Some(d("2025-01-15")));
    assert_eq!(view.participation(&pid("region")).and_then(|p| p.leaves_on), Some(d("2025-01-16")));
}

#[test]
fn notice_by_a_municipality_makes_continuation_pending() {
    let given = in_force_main_agreement().event("2023-01-16", notice("hok", "m1"));
    assert_eq!(on(&given, "2023-01-15"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2023-01-16"), (ContinuationPending, true, Some(1)));
    // The municipality leaves on its date; the question stays open.
    let view = given.projections().agreement(&aid("hok"), d("2025-01-16"), given.now()).expect("exists");
    assert_eq!(view.status, ContinuationPending);
    assert!(!view.binds(&pid("m1")));
    assert!(view.binds(&pid("m2")));
}

#[test]
fn continuation_not_decided_ends_the_agreement_for_everyone_when_the_municipality_leaves() {
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "m1"))
        .event("2023-03-01", continuation("hok", "m1", false));
    assert_eq!(on(&given, "2023-03-01"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2025-01-15"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2025-01-16"), (Terminated, false, None));
}

#[test]
fn continuation_decided_lets_only_the_municipality_leave() {
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "m1"))
        .event("2023-03-01", continuation("hok", "m1", true));
    assert_eq!(on(&given, "2023-02-28"), (ContinuationPending, true, Some(1)));
    assert_eq!(on(&given, "2023-03-01"), (InForce, true, Some(1)));
    let view = given.projections().agreement(&aid("hok"), d("2025-01-16"), given.now()).expect("exists");
    assert_eq!(view.status, InForce);
    assert!(!view.binds(&pid("m1")));
    assert!(view.binds(&pid("region")) && view.binds(&pid("m2")));
}

#[test]
fn notice_withdrawn_undoes_the_notice() {
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "region"))
        .event("2023-06-01", withdrawn("hok", "region"));
    assert_eq!(on(&given, "2023-05-31"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2025-01-16"), (InForce, true, Some(1)));
    let view = given.projections().agreement(&aid("hok"), d("2025-01-16"), given.now()).expect("exists");
    assert_eq!(view.participation(&pid("region")).and_then(|p| p.notice_given_on), None);
}

#[test]
fn expiry_the_last_day_still_applies() {
    let given = Given::new()
        .parties(1)
        .event("2017-10-02", drafted("tillfallig", AgreementKind::SubjectArea, Binding::EachParty, parties(1)))
        .event("2017-10-02", proposed("tillfallig", 1, Some("2018-01-01"), Some("2019-12-31")))
        .event("2017-11-01", adopted("tillfallig", 1, "region"))
        .event("2017-11-02", adopted("tillfallig", 1, "m1"));
    let view = |date: &str| given.projections().agreement(&aid("tillfallig"), d(date), given.now()).expect("exists");
    assert_eq!(view("2017-12-31").status, Draft);
    assert_eq!(view("2018-01-01").status, InForce);
    assert_eq!(view("2019-12-31").status, InForce);
    assert_eq!(view("2019-12-31").in_force_until, Some(d("2019-12-31")));
    assert_eq!(view("2020-01-01").status, Expired);
    assert!(!view("2020-01-01").binds(&pid("m1")));
}

#[test]
fn termination_date_is_the_first_day_without_the_agreement() {
    let given = in_force_main_agreement().event("2024-06-14", terminated("hok"));
    assert_eq!(on(&given, "2024-06-13"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2024-06-14"), (Terminated, false, None));
    assert_eq!(on(&given, "2024-06-15"), (Terminated, false, None));
}

#[test]
fn supersession_ends_the_agreement_on_its_date() {
    let given = in_force_main_agreement()
        .event("2024-06-14", AgreementSuperseded { agreement: aid("hok"), by: aid("hok2"), decision: dec("ersatt") });
    assert_eq!(on(&given, "2024-06-13"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2024-06-14"), (Superseded, false, None));
}

#[test]
fn supplementary_agreement_lapses_with_its_parent() {
    let mut child = drafted("tillagg", AgreementKind::Supplementary, Binding::EachParty, parties(1));
    child.parent = Some(aid("moder"));
    let given = Given::new()
        .parties(1)
        .event("2016-01-01", drafted("moder", AgreementKind::SubjectArea, Binding::EachParty, parties(1)))
        .event("2016-01-01", proposed("moder", 1, None, None))
        .event("2016-02-01", adopted("moder", 1, "region"))
        .event("2016-02-01", adopted("moder", 1, "m1"))
        .event("2018-11-05", child)
        .event("2018-11-05", proposed("tillagg", 1, None, None))
        .event("2019-03-26", adopted("tillagg", 1, "region"))
        .event("2019-03-26", adopted("tillagg", 1, "m1"))
        .event("2021-06-14", terminated("moder"));
    let view = |date: &str| given.projections().agreement(&aid("tillagg"), d(date), given.now()).expect("exists");
    assert_eq!(view("2021-06-13").status, InForce);
    // The parent's termination is dated 2021-06-14: on the 13th it has not happened yet.
    assert_eq!(view("2021-06-13").in_force_until, None);
    assert_eq!(view("2021-06-14").status, Terminated);
    assert_eq!(view("2021-06-14").ends_on, Some((d("2021-06-14"), super::EndCause::ParentEnded)));
}

#[test]
fn as_known_at_sees_only_what_was_recorded_by_then() {
    let mut given =
        main_agreement().event("2022-03-08", adopted("hok", 1, "region")).event("2022-05-16", adopted("hok", 1, "m1"));
    let before_last = given.now();
    let last = given.record("2022-06-20", adopted("hok", 1, "m2"));
    let projections = given.projections();
    let then = projections.agreement(&aid("hok"), d("2022-09-01"), before_last).expect("exists");
    let now = projections.agreement(&aid("hok"), d("2022-09-01"), last.recorded_at()).expect("exists");
    assert!(!then.in_force);
    assert!(now.in_force);
    assert!(now.because.contains(&last.position()));
    assert!(!then.because.contains(&last.position()));
    // Before the drafting was recorded the agreement does not exist.
    assert!(projections.agreement(&aid("hok"), d("2022-09-01"), Timestamp::EPOCH).is_none());
}

#[test]
fn retraction_removes_an_event_from_the_time_it_is_recorded() {
    let mut given = in_force_main_agreement();
    let wrong = given.record("2023-01-16", notice("hok", "region"));
    let before = given.now();
    let retraction = given.record("2023-01-16", EventRetracted { event: wrong.id(), reason: "fel part".into() });
    let projections = given.projections();
    let then = projections.agreement(&aid("hok"), d("2025-02-01"), before).expect("exists");
    let now = projections.agreement(&aid("hok"), d("2025-02-01"), retraction.recorded_at()).expect("exists");
    assert_eq!(then.status, Terminated);
    assert_eq!(now.status, InForce);
    assert!(now.because.contains(&retraction.position()));
    assert!(!now.because.contains(&wrong.position()));
}

#[test]
fn published_flag_follows_the_version_that_applies() {
    let given = in_force_main_agreement();
    let view = given.projections().agreement(&aid("hok"), d("2022-08-01"), given.now()).expect("exists");
    assert!(!view.published);
    let given = given.event("2022-09-05", published("hok", 1));
    let view = given.projections().agreement(&aid("hok"), d("2022-09-05"), given.now()).expect("exists");
    assert!(view.published);
}

#[test]
fn the_list_answers_exactly_as_each_agreement_does() {
    // `agreements` looks the parties' kinds up once for the whole list; every view must be the one
    // `agreement` gives on its own, on both time axes. Given a main agreement the region gives notice
    // on (its kind decides the effect) and a pair-by-pair agreement,
    let mut given = in_force_main_agreement()
        .event("2022-10-01", drafted("vard", AgreementKind::SubjectArea, Binding::EachParty, parties(2)))
        .event("2022-10-02", proposed("vard", 1, Some("2023-01-01"), None))
        .event("2022-10-03", recommended("vard", 1, "2023-06-30"))
        .event("2022-11-01", adopted("vard", 1, "region"))
        .event("2022-11-02", adopted("vard", 1, "m1"));
    let before_notice = given.now();
    given.record("2023-01-16", notice("hok", "region"));
    let projections = given.projections();
    for known in [Timestamp::EPOCH, before_notice, given.now()] {
        for date in ["2021-01-01", "2022-09-05", "2023-02-01", "2025-02-01"] {
            let list = projections.agreements(d(date), known);
            let each: Vec<_> =
                [aid("hok"), aid("vard")].iter().filter_map(|id| projections.agreement(id, d(date), known)).collect();
            assert_eq!(list, each, "on {date} as known at {known}");
        }
    }
}

#[test]
fn applying_compact_events_equals_applying_events() {
    // `apply_compact` keeps the bytes it is given instead of encoding the event again; the answers
    // and the re-apply rules must not change.
    let mut given = in_force_main_agreement();
    let wrong = given.record("2023-01-16", notice("hok", "region"));
    given.record("2023-01-16", EventRetracted { event: wrong.id(), reason: "fel part".into() });
    let borrowed = given.projections();
    let mut owned = crate::Projections::new();
    for event in given.chain.events() {
        owned.apply_compact(event, ledger::CompactEvent::of(event).expect("encodes")).expect("apply");
    }
    // Re-applying an event at or below the head is ignored, as with `apply`.
    owned
        .apply_compact(&wrong, ledger::CompactEvent::of(&wrong).expect("encodes"))
        .expect("a replayed event is ignored");
    assert_eq!(owned.head(), borrowed.head());
    for date in ["2022-07-01", "2022-09-05", "2025-02-01"] {
        for known in [Timestamp::EPOCH, wrong.recorded_at(), given.now()] {
            assert_eq!(
                owned.agreements(d(date), known),
                borrowed.agreements(d(date), known),
                "on {date} as known at {known}"
            );
        }
    }
}

#[test]
fn applying_shared_events_between_questions_equals_applying_events() {
    // `apply_compact_shared` adds the event to its stream's decoded events, which the questions
    // asked between the applies keep; every later answer must be the one of the events applied.
    let mut given = in_force_main_agreement()
        .event("2022-10-01", drafted("vard", AgreementKind::SubjectArea, Binding::EachParty, parties(2)))
        .event("2022-10-02", proposed("vard", 1, Some("2023-01-01"), None));
    let wrong = given.record("2023-01-16", notice("hok", "region"));
    given.record("2023-01-16", EventRetracted { event: wrong.id(), reason: "fel part".into() });
    given.record("2023-02-01", adopted("vard", 1, "region"));
    let borrowed = given.projections();
    let mut shared = crate::Projections::new();
    let questions = |p: &crate::Projections, known| {
        ["2022-09-05", "2023-02-01", "2025-02-01"].map(|date| p.agreements(d(date), known))
    };
    for event in given.chain.events() {
        let compact = ledger::CompactEvent::of(event).expect("encodes");
        shared.apply_compact_shared(std::sync::Arc::new(event.clone()), compact).expect("apply");
        // Asked at every step, so that each stream is kept decoded and then extended.
        let _ = questions(&shared, event.recorded_at());
    }
    for known in [Timestamp::EPOCH, wrong.recorded_at(), given.now()] {
        assert_eq!(questions(&shared, known), questions(&borrowed, known), "as known at {known}");
    }
}

// ---------------------------------------------------------------------------------------------
// DOMAIN.md, "Time: no answer is ever rewritten by a later decision": each rule, on the day before,
// of and after its boundary, and that the later answer still says what the earlier one did.

/// The view of `id` on `date`, as known now.
fn view_of(given: &Given, id: &str, date: &str) -> super::AgreementView {
    given.projections().agreement(&aid(id), d(date), given.now()).expect("agreement exists")
}

/// DOMAIN.md, "Changed required set" (and rule 1; HÖK 7.2): a version blocked by a declination
/// enters into force on `max(earliest effective, last adoption among the new required set, date of
/// the change)` – not on the earliest date, which would contradict every BLOCKED answer before the
/// change.
#[test]
fn changed_required_set_enters_into_force_from_the_change_not_before() {
    let given = main_agreement()
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-05-20", declined("hok", 1, "m2"))
        .event("2022-10-03", required_changed("hok", vec![pid("region"), pid("m1")]));
    assert_eq!(on(&given, "2022-10-02"), (Blocked, false, None));
    assert_eq!(on(&given, "2022-10-03"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2022-10-04"), (InForce, true, Some(1)));
    for date in ["2022-10-03", "2023-06-01"] {
        let view = view_of(&given, "hok", date);
        assert_eq!(view.in_force_from, Some(d("2022-10-03")), "{date}");
        assert_eq!(view.versions[0].in_force_from, Some(d("2022-10-03")), "{date}");
    }
}

/// DOMAIN.md, "A party added to an agreement in force does not take it out of force: the new party
/// is pending until it adopts, and bound from its adoption."
#[test]
fn a_party_added_to_an_agreement_in_force_stays_in_force_and_is_bound_from_its_adoption() {
    let given = in_force_main_agreement()
        .event(
            "2023-01-01",
            ledger::PartyRegistered {
                party: pid("m3"),
                name: "Kommun 3".into(),
                kind: ledger::PartyKind::Municipality,
            },
        )
        .event("2024-01-10", required_changed("hok", parties(3)))
        .event("2024-03-05", adopted("hok", 1, "m3"));
    for date in ["2024-01-09", "2024-01-10", "2024-03-04", "2024-03-05"] {
        let view = view_of(&given, "hok", date);
        assert_eq!((view.status, view.in_force, view.in_force_from), (InForce, true, Some(d("2022-07-01"))), "{date}");
        assert!(view.binds(&pid("m1")) && view.binds(&pid("region")), "{date}");
    }
    assert!(!view_of(&given, "hok", "2024-01-10").binds(&pid("m3")));
    assert_eq!(view_of(&given, "hok", "2024-01-10").pending_parties, vec![pid("m3")]);
    assert!(!view_of(&given, "hok", "2024-03-04").binds(&pid("m3")));
    assert!(view_of(&given, "hok", "2024-03-05").binds(&pid("m3")));
    assert!(view_of(&given, "hok", "2024-03-05").pending_parties.is_empty());
}

/// DOMAIN.md, "Continuation" (HÖK 7.2): decided only after the noticing municipality's leave date,
/// "do not continue" ends the agreement on the decision's date; it was CONTINUATION_PENDING, in
/// force for the remaining parties, in between.
#[test]
fn continuation_decided_after_the_leave_date_ends_the_agreement_on_the_decision_date() {
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "m1"))
        .event("2025-04-01", continuation("hok", "m1", false));
    // m1 leaves on 2025-01-16 (24 months).
    assert_eq!(on(&given, "2025-01-15"), (ContinuationPending, true, Some(1)));
    assert_eq!(on(&given, "2025-01-16"), (ContinuationPending, true, Some(1)));
    assert_eq!(on(&given, "2025-03-31"), (ContinuationPending, true, Some(1)));
    assert_eq!(on(&given, "2025-04-01"), (Terminated, false, None));
    let between = view_of(&given, "hok", "2025-02-01");
    assert!(!between.binds(&pid("m1")) && between.binds(&pid("m2")) && between.binds(&pid("region")));
    assert_eq!(view_of(&given, "hok", "2025-04-01").in_force_until, Some(d("2025-03-31")));
}

/// DOMAIN.md, "Continuation": decided before the leave date, "do not continue" ends the agreement
/// for everyone on the leave date.
#[test]
fn continuation_decided_before_the_leave_date_ends_the_agreement_on_the_leave_date() {
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "m1"))
        .event("2024-05-01", continuation("hok", "m1", false));
    assert_eq!(on(&given, "2024-04-30"), (ContinuationPending, true, Some(1)));
    assert_eq!(on(&given, "2024-05-01"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2025-01-15"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2025-01-16"), (Terminated, false, None));
    assert_eq!(view_of(&given, "hok", "2024-05-01").in_force_until, Some(d("2025-01-15")));
}

/// DOMAIN.md, "no answer is ever rewritten by a later decision": once a notice has ended the
/// agreement, a later change of the required parties without the noticing party leaves it ended on
/// that day (found by the property test on a random CI seed: the change used to drop the notice and
/// with it the end).
#[test]
fn a_later_change_of_parties_keeps_the_end_a_notice_brought_about() {
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "m1"))
        .event("2024-05-01", continuation("hok", "m1", false))
        .event("2025-06-01", required_changed("hok", vec![pid("region"), pid("m2")]));
    assert_eq!(on(&given, "2025-01-16"), (Terminated, false, None));
    for day in ["2025-05-31", "2025-06-01", "2026-01-01"] {
        let view = view_of(&given, "hok", day);
        assert_eq!((view.status, view.in_force), (Terminated, false), "{day}");
        assert_eq!(view.ends_on, Some((d("2025-01-16"), super::EndCause::NotContinued)), "{day}");
        assert_eq!(view.in_force_until, Some(d("2025-01-15")), "{day}");
    }
    // Still open when the parties change (m1 would leave on 2025-01-16), the notice lapses with
    // the change: from it on, nothing is pending and nothing ends.
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "m1"))
        .event("2024-06-01", required_changed("hok", vec![pid("region"), pid("m2")]));
    assert_eq!(on(&given, "2024-05-31"), (ContinuationPending, true, Some(1)));
    assert_eq!(on(&given, "2024-06-01"), (InForce, true, Some(1)));
    assert_eq!(view_of(&given, "hok", "2026-01-01").ends_on, None);
}

/// DOMAIN.md, "Withdrawal of a notice is possible only before the party's leave date": one dated on
/// or after it (only an old import could carry it; validation refuses it) changes nothing.
#[test]
fn a_withdrawal_on_or_after_the_leave_date_changes_nothing() {
    let given = in_force_main_agreement()
        .event("2023-01-16", notice("hok", "region"))
        .event("2025-02-01", withdrawn("hok", "region"));
    assert_eq!(on(&given, "2025-01-15"), (InForce, true, Some(1)));
    assert_eq!(on(&given, "2025-01-16"), (Terminated, false, None));
    assert_eq!(on(&given, "2025-02-01"), (Terminated, false, None));
    assert_eq!(on(&given, "2026-01-01"), (Terminated, false, None));
}

/// DOMAIN.md, "EACH_PARTY agreements bind region–municipality pairs: a municipality's notice ends its
/// own pair on its leave date and nothing else (no continuation decision applies)."
#[test]
fn each_party_a_municipalitys_notice_ends_only_its_own_pair() {
    let mut agreement = drafted("sak", AgreementKind::SubjectArea, Binding::EachParty, parties(2));
    agreement.notice_months = Some(12);
    let given = Given::new()
        .parties(2)
        .event("2019-01-01", agreement)
        .event("2019-01-01", proposed("sak", 1, None, None))
        .event("2019-02-01", adopted("sak", 1, "region"))
        .event("2019-02-02", adopted("sak", 1, "m1"))
        .event("2019-02-03", adopted("sak", 1, "m2"))
        .event("2020-03-01", notice("sak", "m1"))
        .event("2021-06-01", continuation("sak", "m1", false));
    for date in ["2021-02-28", "2021-03-01", "2021-06-01", "2022-01-01"] {
        let view = view_of(&given, "sak", date);
        assert_eq!(view.status, InForce, "{date}");
        assert!(view.binds(&pid("m2")) && view.binds(&pid("region")), "{date}");
    }
    assert!(view_of(&given, "sak", "2021-02-28").binds(&pid("m1")));
    assert!(!view_of(&given, "sak", "2021-03-01").binds(&pid("m1")));
    assert_eq!(view_of(&given, "sak", "2021-06-01").in_force_until, None);
}

/// DOMAIN.md, "Children": a supplementary agreement is in force only while its parent is, and binds
/// only parties bound by the parent.
#[test]
fn supplementary_is_in_force_only_while_its_parent_is_and_binds_only_the_parents_parties() {
    let mut child = drafted("tillagg", AgreementKind::Supplementary, Binding::EachParty, parties(2));
    child.parent = Some(aid("moder"));
    let given = Given::new()
        .parties(2)
        .event("2018-01-01", drafted("moder", AgreementKind::SubjectArea, Binding::EachParty, parties(2)))
        .event("2018-01-01", proposed("moder", 1, None, None))
        .event("2018-01-01", child)
        .event("2018-01-01", proposed("tillagg", 1, None, None))
        .event("2018-02-01", adopted("tillagg", 1, "region"))
        .event("2018-02-01", adopted("tillagg", 1, "m1"))
        .event("2018-02-01", adopted("tillagg", 1, "m2"))
        .event("2018-05-02", adopted("moder", 1, "region"))
        .event("2018-05-02", adopted("moder", 1, "m1"));
    // The parent is a draft until its adoptions: the child is not in force, whatever its own.
    let before = view_of(&given, "tillagg", "2018-05-01");
    assert_eq!((before.status, before.in_force, before.in_force_from), (Recommended, false, None));
    assert!(before.parties.iter().all(|p| !p.bound));
    let after = view_of(&given, "tillagg", "2018-05-02");
    assert_eq!((after.status, after.in_force, after.in_force_from), (InForce, true, Some(d("2018-05-02"))));
    // m2 never adopted the parent: the child does not bind it.
    assert!(after.binds(&pid("m1")) && after.binds(&pid("region")) && !after.binds(&pid("m2")));
}

/// DOMAIN.md, "Children": the riktlinje is decided by the officials' steering group and applies as
/// a document from its decision's `effectiveFrom`, but binds a party only while the HÖK binds it
/// (Riktlinje 1: "Parterna förbinder sig genom HÖK att samverka i enlighet med riktlinjen").
#[test]
fn guideline_binds_a_party_only_while_the_hok_binds_it() {
    let mut guideline = drafted("riktlinje", AgreementKind::Guideline, Binding::Decision, parties(2));
    guideline.parent = Some(aid("hok"));
    let given = main_agreement()
        .event("2021-10-14", guideline)
        .event("2022-06-01", proposed("riktlinje", 1, None, None))
        .event("2022-06-01", decided("riktlinje", 1, Some("2022-07-01")))
        .event("2022-03-08", adopted("hok", 1, "region"))
        .event("2022-05-16", adopted("hok", 1, "m1"))
        .event("2022-09-05", adopted("hok", 1, "m2"))
        .event("2023-01-16", notice("hok", "m1"))
        .event("2023-03-01", continuation("hok", "m1", true));
    let decided = view_of(&given, "riktlinje", "2022-07-01");
    assert_eq!((decided.status, decided.in_force), (InForce, true));
    assert!(decided.parties.iter().all(|p| !p.bound), "the HÖK binds no one before 2022-09-05");
    assert!(view_of(&given, "riktlinje", "2022-09-04").parties.iter().all(|p| !p.bound));
    assert!(view_of(&given, "riktlinje", "2022-09-05").parties.iter().all(|p| p.bound));
    // m1 leaves the HÖK on 2025-01-16, and with it the riktlinje.
    assert!(view_of(&given, "riktlinje", "2025-01-15").binds(&pid("m1")));
    let left = view_of(&given, "riktlinje", "2025-01-16");
    assert!(!left.binds(&pid("m1")) && left.binds(&pid("m2")));
}

/// DOMAIN.md, "No stated notice period": a notice on an agreement without `noticeMonths` has an
/// unknown leave date – the party stays bound and `leavesOn` is null – instead of taking effect the
/// same day.
#[test]
fn notice_without_a_stated_period_leaves_the_party_bound_with_no_leave_date() {
    let given = noticed_without_a_period();
    for date in ["2020-02-29", "2020-03-01", "2020-03-02", "2030-01-01"] {
        let view = view_of(&given, "sak", date);
        assert_eq!(view.status, InForce, "{date}");
        assert!(view.binds(&pid("m1")), "{date}");
        assert_eq!(view.participation(&pid("m1")).and_then(|p| p.leaves_on), None, "{date}");
    }
    assert_eq!(
        view_of(&given, "sak", "2020-03-01").participation(&pid("m1")).and_then(|p| p.notice_given_on),
        Some(d("2020-03-01"))
    );
}

/// The agreement fold kept for validation (`AgreementFold`) and extended by each new event equals
/// the fold of the whole stream, over random streams: events dated in and out of valid-time order,
/// retractions of earlier events, questions as known at earlier instants. Both ways it is asked:
/// `AgreementFold::extend_to` directly (counting the extensions, so that the test covers them) and
/// `Projections::kept_agreement_state` on projections applied one event at a time.
#[test]
fn a_kept_agreement_fold_extended_event_by_event_equals_the_whole_fold() {
    use crate::fold::{Horizon, Visible};
    use std::sync::Arc;

    let mut extended = 0;
    for seed in 1..=40u64 {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut given = Given::new().parties(3);
        let mut projections = given.projections();
        let mut stream: Vec<Arc<ledger::RecordedEvent>> = Vec::new();
        let mut kept: Option<super::AgreementFold> = None;
        let mut day = 0u64;
        let ordered = seed % 2 == 0;
        for step in 0..60 {
            // Mostly forward in valid time; out of order on odd seeds, now and then.
            day = if !ordered && next(4) == 0 { day.saturating_sub(next(200)) } else { day + next(40) };
            let date = (0..day).fold(d("2015-01-01"), |date, _| date.next_day()).to_string();
            let party = ["region", "m1", "m2", "m3"][next(4) as usize];
            let version = 1 + next(3) as u32;
            let data: ledger::EventData = match (step, next(9)) {
                (0, _) => drafted("a", AgreementKind::Main, Binding::AllParties, parties(3)).into(),
                (_, 0) => proposed("a", version, Some("2016-01-01"), None).into(),
                (_, 1) => decided("a", version, None).into(),
                (_, 2) => adopted("a", version, party).into(),
                (_, 3) => declined("a", version, party).into(),
                (_, 4) => notice("a", party).into(),
                (_, 5) => withdrawn("a", party).into(),
                (_, 6) => required_changed("a", parties(1 + next(3) as usize)).into(),
                (_, 7) if !stream.is_empty() => {
                    let victim = &stream[next(stream.len() as u64) as usize];
                    if matches!(victim.data(), ledger::EventData::EventRetracted(_)) {
                        published("a", version).into()
                    } else {
                        EventRetracted { event: victim.id(), reason: "wrong".into() }.into()
                    }
                }
                _ => published("a", version).into(),
            };
            let event = Arc::new(given.record(&date, data));
            projections.apply(&event).expect("in order");
            stream.push(event);
            // A question as known now, or now and then at an earlier instant (a shorter prefix).
            let len = if next(8) == 0 { next(stream.len() as u64 + 1) as usize } else { stream.len() };
            let prefix = &stream[..len];
            let whole = super::AgreementState::fold(&Visible::of(prefix, Horizon::everything(given.now())));
            if kept.as_mut().is_some_and(|fold| fold.extend_to(prefix)) {
                extended += usize::from(len > 0);
            } else {
                kept = Some(super::AgreementFold::of(prefix));
            }
            assert_eq!(kept.as_ref().and_then(|f| f.state()).map(|s| &**s), whole.as_ref(), "seed {seed}, step {step}");
            let known = prefix.last().map_or(Timestamp::from_micros(0), |e| e.recorded_at());
            assert_eq!(
                projections.kept_agreement_state(&aid("a"), known).as_deref(),
                whole.as_ref(),
                "seed {seed}, step {step}: through the projections"
            );
        }
    }
    assert!(extended > 400, "only {extended} questions extended a kept fold");
}
