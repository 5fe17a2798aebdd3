//! Unit tests of the rules, one group per rule, named after it; the edge dates are the day before,
//! the day of and the day after.

use super::*;

fn d(s: &str) -> Date {
    s.parse().expect("valid date in test")
}

#[test]
fn entry_into_force_all_parties_is_the_later_of_earliest_date_and_last_adoption() {
    // Given the HÖK's earliest date 2022-07-01, when the last party adopts on 2022-09-05,
    let from = entry_into_force_all_parties(Some(d("2022-07-01")), [Some(d("2022-03-08")), Some(d("2022-09-05"))]);
    // then it is in force from 2022-09-05: not the day before, from the day of and the day after.
    assert_eq!(from, Some(d("2022-09-05")));
    let from = from.expect("in force");
    assert!(!applies_on(from, None, d("2022-09-04")));
    assert!(applies_on(from, None, d("2022-09-05")));
    assert!(applies_on(from, None, d("2022-09-06")));
}

#[test]
fn entry_into_force_all_parties_waits_for_the_earliest_date_when_everyone_adopted_before_it() {
    let from = entry_into_force_all_parties(Some(d("2022-07-01")), [Some(d("2022-03-08")), Some(d("2022-06-20"))]);
    assert_eq!(from, Some(d("2022-07-01")));
}

#[test]
fn entry_into_force_all_parties_needs_every_required_party() {
    assert_eq!(entry_into_force_all_parties(Some(d("2022-07-01")), [Some(d("2022-03-08")), None]), None);
    assert_eq!(entry_into_force_all_parties(Some(d("2022-07-01")), []), None);
}

#[test]
fn pair_bound_from_is_the_later_of_the_two_adoptions() {
    // Given the region adopted on 2019-03-26, when a municipality adopts on 2019-05-14,
    let from = pair_bound_from(None, Some(d("2019-03-26")), Some(d("2019-05-14")));
    // then the pair is bound from 2019-05-14.
    assert_eq!(from, Some(d("2019-05-14")));
    assert_eq!(pair_bound_from(None, Some(d("2019-06-01")), Some(d("2019-05-14"))), Some(d("2019-06-01")));
    assert_eq!(
        pair_bound_from(Some(d("2020-01-01")), Some(d("2019-08-01")), Some(d("2019-12-10"))),
        Some(d("2020-01-01"))
    );
}

#[test]
fn pair_bound_from_needs_both_adoptions() {
    assert_eq!(pair_bound_from(None, None, Some(d("2019-05-14"))), None);
    assert_eq!(pair_bound_from(None, Some(d("2019-05-14")), None), None);
}

#[test]
fn decision_in_force_from_is_the_stated_date_or_the_decision_date() {
    assert_eq!(decision_in_force_from(d("2022-06-15"), Some(d("2022-07-01"))), d("2022-07-01"));
    assert_eq!(decision_in_force_from(d("2022-06-15"), None), d("2022-06-15"));
}

#[test]
fn revision_in_force_from_is_three_months_after_the_last_approval_at_the_earliest() {
    // Given the last approval on 2024-02-10 and a stated date 2024-03-01,
    let from = revision_in_force_from(Some(d("2024-03-01")), d("2024-02-10"), 3);
    // then the revision applies from 2024-05-10.
    assert_eq!(from, d("2024-05-10"));
    assert!(!applies_on(from, None, d("2024-05-09")));
    assert!(applies_on(from, None, d("2024-05-10")));
    // A later stated date wins; the month end clamps.
    assert_eq!(revision_in_force_from(Some(d("2025-01-01")), d("2024-02-10"), 3), d("2025-01-01"));
    assert_eq!(revision_in_force_from(None, d("2023-11-30"), 3), d("2024-02-29"));
}

#[test]
fn leaves_on_is_notice_date_plus_the_notice_period() {
    // Given notice on 2023-01-16 under 24 months, the party takes part until 2025-01-15 and not on
    // 2025-01-16.
    let leaves = leaves_on(d("2023-01-16"), 24);
    assert_eq!(leaves, d("2025-01-16"));
    assert!(applies_on(d("2022-09-05"), Some(leaves), d("2025-01-15")));
    assert!(!applies_on(d("2022-09-05"), Some(leaves), d("2025-01-16")));
    assert!(!applies_on(d("2022-09-05"), Some(leaves), d("2025-01-17")));
    assert_eq!(leaves_on(d("2023-08-31"), 6), d("2024-02-29"));
}

#[test]
fn notice_effect_of_the_region_ends_the_whole_agreement() {
    assert_eq!(notice_effect(PartyKind::Region, None), NoticeEffect::EndsAgreement);
    assert_eq!(notice_effect(PartyKind::Region, Some(true)), NoticeEffect::EndsAgreement);
}

#[test]
fn notice_effect_of_a_municipality_is_continuation_pending_until_decided() {
    assert_eq!(notice_effect(PartyKind::Municipality, None), NoticeEffect::ContinuationPending);
    assert_eq!(notice_effect(PartyKind::Municipality, Some(false)), NoticeEffect::EndsAgreement);
    assert_eq!(notice_effect(PartyKind::Municipality, Some(true)), NoticeEffect::PartyLeaves);
    assert_eq!(notice_effect(PartyKind::MunicipalAssociation, None), NoticeEffect::ContinuationPending);
}

#[test]
fn expiry_end_is_the_day_after_the_last_day() {
    // "löper t.o.m. 2019-12-31": applies on the 31st, not on 1 January.
    let end = expiry_end(d("2019-12-31"));
    assert_eq!(end, d("2020-01-01"));
    assert!(applies_on(d("2018-01-01"), Some(end), d("2019-12-30")));
    assert!(applies_on(d("2018-01-01"), Some(end), d("2019-12-31")));
    assert!(!applies_on(d("2018-01-01"), Some(end), d("2020-01-01")));
}

#[test]
fn applies_on_termination_date_is_the_first_day_without_the_agreement() {
    let terminated = d("2016-06-14");
    assert!(applies_on(d("2012-01-01"), Some(terminated), d("2016-06-13")));
    assert!(!applies_on(d("2012-01-01"), Some(terminated), d("2016-06-14")));
    assert!(!applies_on(d("2012-01-01"), Some(terminated), d("2016-06-15")));
}

#[test]
fn escalation_ladder_opens_locally_or_at_officials_when_principled() {
    assert_eq!(check_case_opening(CaseLevel::Local, false), Ok(()));
    assert_eq!(check_case_opening(CaseLevel::Local, true), Ok(()));
    assert_eq!(check_case_opening(CaseLevel::Officials, true), Ok(()));
    assert_eq!(check_case_opening(CaseLevel::Officials, false), Err(LadderViolation::OfficialsWithoutPrincipled));
    assert_eq!(check_case_opening(CaseLevel::Political, true), Err(LadderViolation::StartsAtPolitical));
}

#[test]
fn escalation_ladder_moves_one_step_at_a_time_and_nothing_is_above_vis() {
    assert_eq!(check_escalation(CaseLevel::Local, CaseLevel::Officials), Ok(()));
    assert_eq!(check_escalation(CaseLevel::Officials, CaseLevel::Political), Ok(()));
    assert_eq!(
        check_escalation(CaseLevel::Local, CaseLevel::Political),
        Err(LadderViolation::SkipsStep { from: CaseLevel::Local, to: CaseLevel::Political })
    );
    assert_eq!(check_escalation(CaseLevel::Political, CaseLevel::Political), Err(LadderViolation::AbovePolitical));
    assert_eq!(
        check_escalation(CaseLevel::Officials, CaseLevel::Officials),
        Err(LadderViolation::NotUpward { from: CaseLevel::Officials, to: CaseLevel::Officials })
    );
}

#[test]
fn group_active_until_the_first_day_past_its_end() {
    // Given a working group established 2023-01-01 that ends on 2023-12-31 (first day it no longer
    // exists),
    let (established, ends) = (d("2023-01-01"), Some(d("2023-12-31")));
    assert!(!group_active(established, None, ends, d("2022-12-31")));
    assert!(group_active(established, None, ends, d("2023-12-30")));
    assert!(!group_active(established, None, ends, d("2023-12-31")));
    assert!(!group_active(established, None, ends, d("2024-01-01")));
    // Dissolution ends it on its date, even before the end date.
    assert!(group_active(established, Some(d("2023-06-01")), ends, d("2023-05-31")));
    assert!(!group_active(established, Some(d("2023-06-01")), ends, d("2023-06-01")));
}

#[test]
fn member_on_until_is_the_last_day() {
    assert!(!member_on(d("2019-01-01"), Some(d("2022-12-31")), d("2018-12-31")));
    assert!(member_on(d("2019-01-01"), Some(d("2022-12-31")), d("2019-01-01")));
    assert!(member_on(d("2019-01-01"), Some(d("2022-12-31")), d("2022-12-31")));
    assert!(!member_on(d("2019-01-01"), Some(d("2022-12-31")), d("2023-01-01")));
}

#[test]
fn health_centre_obligation_open_after_30_april_without_designation() {
    assert!(!health_centre_obligation_open(2024, None, d("2024-04-29")));
    assert!(!health_centre_obligation_open(2024, None, d("2024-04-30")));
    assert!(health_centre_obligation_open(2024, None, d("2024-05-01")));
    assert!(!health_centre_obligation_open(2024, Some(d("2024-04-30")), d("2024-05-01")));
    // HSF designates on 15 May: open until then.
    assert!(health_centre_obligation_open(2024, Some(d("2024-05-15")), d("2024-05-14")));
    assert!(!health_centre_obligation_open(2024, Some(d("2024-05-15")), d("2024-05-15")));
}

#[test]
fn follow_up_plan_late_when_decided_on_or_after_new_year() {
    assert!(!follow_up_plan_late(2024, Some(d("2023-12-31")), d("2024-06-01")));
    assert!(follow_up_plan_late(2024, Some(d("2024-01-01")), d("2024-06-01")));
    assert!(follow_up_plan_late(2024, Some(d("2024-01-02")), d("2024-06-01")));
    assert!(!follow_up_plan_late(2024, None, d("2023-12-31")));
    assert!(follow_up_plan_late(2024, None, d("2024-01-01")));
}
