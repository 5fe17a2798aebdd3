//! Groups (active dates, mandates, memberships), parties and cases over real sealed events.

use ledger::{
    CaseEscalated, CaseId, CaseKind, CaseLevel, CaseOpened, CaseResolved, GroupDissolved, GroupEstablished, GroupId,
    GroupKind, MandateChanged, MemberAppointed, MemberLeft, MemberRole, Person, PersonRef,
};

use super::CaseStatus;
use crate::testkit::*;

fn gid(s: &str) -> GroupId {
    GroupId::new(s).expect("group id")
}

fn established(group: &str, kind: GroupKind, ends_on: Option<&str>) -> GroupEstablished {
    GroupEstablished {
        group: gid(group),
        name: format!("Grupp {group}"),
        kind,
        parent: Some(gid("tjanstemannastyrgruppen")),
        mandate: "ursprungligt mandat".into(),
        decision: Some(dec("inrattad")),
        ends_on: ends_on.map(d),
        area: None,
    }
}

fn appointed(name: &str, role: MemberRole, until: Option<&str>) -> MemberAppointed {
    MemberAppointed {
        group: gid("ag"),
        person: Person { name: name.into(), title: None },
        role,
        represents: "kommunerna".into(),
        appointed_by: None,
        until: until.map(d),
    }
}

#[test]
fn working_group_is_inactive_from_its_end_date() {
    let given = Given::new().event("2023-01-01", established("ag", GroupKind::Working, Some("2023-12-31")));
    let active = |date: &str| given.projections().group(&gid("ag"), d(date), given.now()).map(|g| g.active);
    assert_eq!(active("2022-12-31"), None);
    assert_eq!(active("2023-01-01"), Some(true));
    assert_eq!(active("2023-12-30"), Some(true));
    assert_eq!(active("2023-12-31"), Some(false));
}

#[test]
fn dissolved_group_is_inactive_from_the_dissolution() {
    let given = Given::new()
        .event("2023-01-01", established("ag", GroupKind::Working, None))
        .event("2023-06-01", GroupDissolved { group: gid("ag"), decision: dec("upplost") });
    let active = |date: &str| given.projections().group(&gid("ag"), d(date), given.now()).map(|g| g.active);
    assert_eq!(active("2023-05-31"), Some(true));
    assert_eq!(active("2023-06-01"), Some(false));
}

#[test]
fn mandate_history_keeps_every_mandate_from_its_date() {
    let given = Given::new()
        .event("2023-01-01", established("ag", GroupKind::Working, None))
        .event("2023-06-01", MandateChanged { group: gid("ag"), mandate: "nytt mandat".into(), decision: dec("nytt") });
    let group = given.projections().group(&gid("ag"), d("2023-06-01"), given.now()).expect("group");
    assert_eq!(group.mandate, "nytt mandat");
    assert_eq!(group.mandates.len(), 2);
    let before = given.projections().group(&gid("ag"), d("2023-05-31"), given.now()).expect("group");
    assert_eq!(before.mandate, "ursprungligt mandat");
}

#[test]
fn membership_runs_from_appointment_until_its_last_day_and_member_left_ends_it() {
    let given = Given::new()
        .event("2023-01-01", established("ag", GroupKind::Working, None))
        .event("2023-02-01", appointed("Anna", MemberRole::Member, Some("2023-12-31")))
        .event("2023-02-01", appointed("Bo", MemberRole::Chair, None))
        .event("2023-09-15", MemberLeft { group: gid("ag"), person: PersonRef { name: "Bo".into() }, reason: None });
    let names = |date: &str| -> Vec<String> {
        given
            .projections()
            .group(&gid("ag"), d(date), given.now())
            .expect("group")
            .members
            .into_iter()
            .map(|m| m.person.name)
            .collect()
    };
    assert!(names("2023-01-31").is_empty());
    assert_eq!(names("2023-02-01"), vec!["Anna", "Bo"]);
    assert_eq!(names("2023-09-14"), vec!["Anna", "Bo"]);
    assert_eq!(names("2023-09-15"), vec!["Anna"]);
    assert_eq!(names("2023-12-31"), vec!["Anna"]);
    assert!(names("2024-01-01").is_empty());
}

#[test]
fn membership_new_role_closes_the_previous_one() {
    let given = Given::new()
        .event("2019-01-01", established("ag", GroupKind::Working, None))
        .event("2019-01-01", appointed("Anna", MemberRole::Member, Some("2022-12-31")))
        .event("2023-01-01", appointed("Anna", MemberRole::Chair, None));
    let group = given.projections().group(&gid("ag"), d("2023-01-01"), given.now()).expect("group");
    assert_eq!(group.members.len(), 1);
    assert_eq!(group.members[0].role, MemberRole::Chair);
    assert_eq!(group.member_history[0].until, Some(d("2022-12-31")));
}

#[test]
fn escalation_ladder_history_of_a_case() {
    let case = CaseId::new("fall-1").expect("case id");
    let given = Given::new()
        .event(
            "2024-01-10",
            CaseOpened {
                case: case.clone(),
                agreement: aid("hok"),
                kind: CaseKind::Deviation,
                parties: vec![pid("m1"), pid("region")],
                level: CaseLevel::Local,
                principled: false,
                summary: "avsteg".into(),
            },
        )
        .event("2024-03-01", CaseEscalated { case: case.clone(), to: CaseLevel::Officials, reason: "olöst".into() })
        .event("2024-05-01", CaseResolved { case: case.clone(), resolution: "löst".into(), decision: None });
    let view = |date: &str| given.projections().case(&case, d(date), given.now());
    assert!(view("2024-01-09").is_none());
    assert_eq!(view("2024-02-29").map(|c| (c.level, c.status)), Some((CaseLevel::Local, CaseStatus::Open)));
    assert_eq!(view("2024-03-01").map(|c| (c.level, c.status)), Some((CaseLevel::Officials, CaseStatus::Open)));
    let resolved = view("2024-05-01").expect("case");
    assert_eq!(resolved.status, CaseStatus::Resolved);
    assert_eq!(resolved.history.len(), 3);
}

#[test]
fn party_lists_the_agreements_binding_it_on_a_date() {
    use ledger::{AgreementKind, Binding};
    let given = Given::new()
        .parties(1)
        .event("2019-01-01", drafted("a", AgreementKind::SubjectArea, Binding::EachParty, parties(1)))
        .event("2019-01-01", proposed("a", 1, None, None))
        .event("2019-02-01", adopted("a", 1, "region"))
        .event("2019-03-01", adopted("a", 1, "m1"));
    let p = given.projections();
    assert!(p.party(&pid("m1"), d("2019-02-28"), given.now()).expect("party").agreements.is_empty());
    assert_eq!(p.party(&pid("m1"), d("2019-03-01"), given.now()).expect("party").agreements, vec![aid("a")]);
    assert!(p.party(&pid("m1"), d("2011-12-31"), given.now()).is_none());
}
