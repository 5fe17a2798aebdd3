//! The history generator: deterministic for a seed, and every event it makes passes the same command
//! validation as the mutations and the importer, each against everything generated before it.

use ledger::{Append, AppendOutcome, MemoryChain};
use projections::Projections;
use samverkan_tests::generate::{Generated, history};

#[test]
fn the_same_seed_gives_the_same_history() {
    let a = history(7, 2_000);
    let b = history(7, 2_000);
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).all(|(x, y)| x.event == y.event && x.recorded_at == y.recorded_at));
    let c = history(8, 2_000);
    assert!(a.iter().zip(&c).any(|(x, y)| x.event != y.event), "another seed gives another history");
}

#[test]
fn every_generated_event_obeys_the_rules() {
    for seed in [1, 2, 3] {
        let generated = history(seed, 3_000);
        assert!(generated.len() >= 3_000);
        let projections = validated(seed, &generated);
        let end = generated.last().map(|g| g.event.effective).expect("non-empty");
        let main = ledger::AgreementId::new("c0-hok").expect("slug");
        let view = projections.agreement(&main, end, ledger::Timestamp::now()).expect("the first county's HÖK");
        assert!(view.in_force, "seed {seed}: the generated main agreement comes into force: {:?}", view.status);
        let kinds: std::collections::HashSet<&str> = generated.iter().map(|g| g.event.data.type_name()).collect();
        for expected in
            ["PartyAdopted", "NoticeGiven", "CaseEscalated", "MemberLeft", "EventRetracted", "VersionDecided"]
        {
            assert!(kinds.contains(expected), "seed {seed} generates {expected}");
        }
    }
}

/// A county's notice on its main agreement comes after a random wait; when the subject-area
/// agreements drafted in between were all quick, the notice fell before the main agreement was in
/// force, and `samverkan import` refused the history (seed 1 at 200,000 events, in its 209th
/// county; seeds 113, 298, 624 and 630 in their first, found by scanning seeds 1–3,000). A history
/// of one county each (`target` 1) keeps this fast.
#[test]
fn a_notice_on_the_main_agreement_waits_for_its_entry_into_force() {
    for seed in [113, 298, 624, 630].into_iter().chain(1..=60) {
        let generated = history(seed, 1);
        let notice = generated.iter().find(|g| g.event.data.type_name() == "NoticeGiven").expect("a notice");
        let projections = validated(seed, &generated);
        let main = ledger::AgreementId::new("c0-hok").expect("slug");
        let view =
            projections.agreement(&main, notice.event.effective, ledger::Timestamp::now()).expect("the county's HÖK");
        assert!(view.in_force, "seed {seed}: in force on the day of the notice, {}", notice.event.effective);
    }
}

/// Validates each generated event against everything before it, as the importer does, and returns
/// the projections of the whole history.
fn validated(seed: u64, generated: &[Generated]) -> Projections {
    let mut chain = MemoryChain::new();
    let mut projections = Projections::new();
    for (index, g) in generated.iter().enumerate() {
        if let Err(rejection) = projections.validate(&g.event) {
            panic!("seed {seed}, event {index} ({}): {rejection}", g.event.data.type_name());
        }
        let append = Append::new().with_imported(g.event.clone(), Some(g.recorded_at));
        let outcome = chain.append(&append, g.recorded_at).expect("seals");
        let AppendOutcome::Committed(committed) = outcome else { panic!("no expectations, no conflict") };
        for c in committed {
            projections.apply(&c.event).expect("applies");
        }
    }
    projections
}
