//! DOMAIN.md, "Time: no answer is ever rewritten by a later decision", as a property over the
//! seeded generator's histories: for every prefix and the event that follows it (retractions, the
//! one visible exception, aside), effective on day E, every answer of `agreements`, `parties`,
//! `groups`, `cases` and `changes` for days before E is the same before and after the event – and
//! what the answer on day E says about earlier days (when an agreement came into force, when it
//! ended) agrees with what was answered on the day before.

use ledger::{Append, AppendOutcome, Date, EventData, MemoryChain, RecordedEvent, Timestamp};
use projections::{AgreementView, CaseView, Change, GroupView, PartyView, Projections};
use samverkan_tests::generate::history;

/// As known now: the event under test is recorded after everything before it.
const NOW: Timestamp = Timestamp::from_micros(i64::MAX);

/// The days before `e` whose answers are compared: the day before, and one a year and a half back
/// (before most of a county's agreements changed).
fn days_before(e: Date) -> [Date; 2] {
    [e.previous_day(), days_earlier(e, 540)]
}

fn days_earlier(mut day: Date, days: usize) -> Date {
    for _ in 0..days {
        day = day.previous_day();
    }
    day
}

/// Every answer the rule covers, for one day (compared as values; printed only on a failure).
type Answers = (Vec<AgreementView>, Vec<PartyView>, Vec<GroupView>, Vec<CaseView>, Vec<Change>);

fn answers(p: &Projections, day: Date) -> Answers {
    let month_before = days_earlier(day, 30);
    (
        p.agreements(day, NOW),
        p.parties(day, NOW),
        p.groups(day, NOW),
        p.cases(day, NOW),
        p.changes(month_before, day, NOW),
    )
}

/// The events of a generated history, sealed with their record times.
fn sealed(seed: u64, size: usize) -> Vec<RecordedEvent> {
    let mut chain = MemoryChain::new();
    for g in history(seed, size) {
        let append = Append::new().with_imported(g.event, Some(g.recorded_at));
        let outcome = chain.append(&append, g.recorded_at).expect("a generated history seals");
        assert!(matches!(outcome, AppendOutcome::Committed(_)), "no expectations, no conflict");
    }
    chain.into_events()
}

#[test]
fn no_answer_for_a_day_before_an_event_changes_when_the_event_is_recorded() {
    // One thread per seed: the seeds are independent, and each takes a while in a debug build.
    std::thread::scope(|scope| {
        for seed in [1, 2, 3] {
            scope.spawn(move || check_seed(seed));
        }
    });
}

fn check_seed(seed: u64) {
    {
        let events = sealed(seed, 2_000);
        assert!(events.len() >= 2_000);
        let mut p = Projections::new();
        for (index, event) in events.iter().enumerate() {
            if matches!(event.data(), EventData::EventRetracted(_)) {
                p.apply(event).expect("applies");
                continue;
            }
            let e = event.effective();
            let days = days_before(e);
            let before: Vec<Answers> = days.iter().map(|day| answers(&p, *day)).collect();
            let day_before = p.agreements(e.previous_day(), NOW);
            p.apply(event).expect("applies");
            let after: Vec<Answers> = days.iter().map(|day| answers(&p, *day)).collect();
            let what = || format!("seed {seed}, event {index} ({}) effective {e}", event.type_name());
            for ((day, b), a) in days.iter().zip(&before).zip(&after) {
                assert!(b == a, "{}: the answer for {day} changed\nbefore: {b:?}\nafter: {a:?}", what());
            }
            // What the answer on E says about the days before E is what they said themselves.
            for view in p.agreements(e, NOW) {
                let earlier = day_before.iter().find(|v| v.id == view.id);
                if let Some(from) = view.in_force_from.filter(|from| *from < e) {
                    assert_eq!(
                        earlier.and_then(|v| v.in_force_from),
                        Some(from),
                        "{}: {} now says it came into force on {from}",
                        what(),
                        view.id
                    );
                }
                if let Some((end, _)) = view.ends_on.filter(|(end, _)| *end < e) {
                    assert_eq!(
                        earlier.and_then(|v| v.ends_on).map(|(d, _)| d),
                        Some(end),
                        "{}: {} now says it ended on {end}",
                        what(),
                        view.id
                    );
                }
            }
        }
    }
}
