//! The materialized agreement timelines against the fold they replace: over generated histories
//! (three seeds of 2,000 events, later counties recorded years after their dates, retractions
//! followed by corrections) with a guideline and a supplementary agreement under the first
//! county's main agreement, and a late-recorded termination of that main agreement that is then
//! retracted, every answer of `agreement` and `agreements` (and so of `agreementsConnection`,
//! which pages that list) equals `agreement_by_fold` and `agreements_by_fold`, for random valid
//! dates and record instants: before the first event, on event dates and record instants, and far
//! in the future. The questions are asked while the log grows, so answers materialized for an
//! earlier head are asked again after new events on the agreement, on its parent and on parties.

use ledger::{
    AgreementDrafted, AgreementId, AgreementKind, AgreementTerminated, Append, AppendOutcome, Binding, Date,
    DecisionId, EventData, EventRetracted, MemoryChain, NewEvent, PartyAdopted, RecordedEvent, Timestamp,
    VersionDecided, VersionProposed,
};
use projections::Projections;
use samverkan_tests::Rng;
use samverkan_tests::generate::history;

const FOREVER: Timestamp = Timestamp::from_micros(i64::MAX);

fn id(s: &str) -> AgreementId {
    AgreementId::new(s).expect("slug")
}

fn date(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("date")
}

/// Seals a generated history (with its record times) and a scripted tail of children and
/// late-recorded events on the first county's main agreement.
fn sealed(seed: u64) -> Vec<RecordedEvent> {
    let mut chain = MemoryChain::new();
    let mut seal = |event: NewEvent, at: Timestamp| {
        let outcome = chain.append(&Append::new().with_imported(event, Some(at)), at).expect("seals");
        let AppendOutcome::Committed(committed) = outcome else { panic!("no expectations, no conflict") };
        committed.into_iter().map(|c| c.event).collect::<Vec<_>>()
    };
    let mut events = Vec::new();
    let generated = history(seed, 2_000);
    for g in &generated {
        events.extend(seal(g.event.clone(), g.recorded_at));
    }
    let main = id("c0-hok");
    let hok =
        Projections::from_events(&events).expect("in order").agreement(&main, date(2030, 1, 1), FOREVER).expect("HÖK");
    let parties = hok.parties.into_iter().map(|p| p.party).collect::<Vec<_>>();
    // The day after the HÖK came into force: no notice can end it that early, so a termination
    // from then on moves its end, and so the supplementary agreement's.
    let terminated_on = hok.in_force_from.expect("the generated HÖK comes into force").next_day();
    let mut clock = events.last().map_or(0, |e| e.recorded_at().as_micros());
    let mut tail = |effective: Date, data: EventData| {
        clock += 1_000_000;
        seal(NewEvent::new(effective, "test", data), Timestamp::from_micros(clock))
    };
    let decision = DecisionId::new("beslut").expect("slug");
    let (guideline, supplement) = (id("c0-riktlinje"), id("c0-tillagg"));
    for (child, kind, binding) in [
        (&guideline, AgreementKind::Guideline, Binding::AllParties),
        (&supplement, AgreementKind::Supplementary, Binding::Decision),
    ] {
        let drafted = AgreementDrafted {
            agreement: child.clone(),
            title: child.to_string(),
            kind,
            parent: Some(main.clone()),
            parties: parties.clone(),
            binding,
            notice_months: Some(6),
            revision_lead_months: Some(3),
        };
        events.extend(tail(date(2011, 3, 1), drafted.into()));
        let proposed = VersionProposed {
            agreement: child.clone(),
            version: 1,
            document: None,
            earliest_effective: Some(date(2011, 6, 1)),
            expires: None,
            summary: None,
        };
        events.extend(tail(date(2011, 3, 2), proposed.into()));
    }
    let decided =
        VersionDecided { agreement: supplement.clone(), version: 1, decision: decision.clone(), effective_from: None };
    events.extend(tail(date(2011, 4, 1), decided.into()));
    for party in &parties {
        let adopted =
            PartyAdopted { agreement: guideline.clone(), version: 1, party: party.clone(), decision: decision.clone() };
        events.extend(tail(date(2011, 5, 1), adopted.into()));
    }
    // Late: the parent is terminated from a day long past, which changes the children's answers
    // from that day on, for the record instants after this one only; then the termination is
    // retracted.
    let terminated = AgreementTerminated { agreement: main.clone(), decision, reason: "test".into() };
    let terminated = tail(terminated_on, terminated.into());
    let retracted = EventRetracted { event: terminated[0].id(), reason: "fel".into() };
    events.extend(terminated);
    events.extend(tail(date(2012, 6, 2), retracted.into()));
    events
}

/// Valid dates worth asking about: before anything, every event's date and the day before it, random
/// days, and far in the future.
fn some_dates(rng: &mut Rng, events: &[RecordedEvent]) -> Vec<Date> {
    let mut dates = vec![date(1999, 1, 1), date(2999, 12, 31)];
    for _ in 0..6 {
        let e = &events[rng.range(0, events.len() as u64) as usize];
        dates.extend([e.effective(), e.effective().previous_day(), e.recorded_at().date_utc()]);
        dates.push(date(rng.range(2009, 2031) as i32, rng.range(1, 13) as u32, rng.range(1, 29) as u32));
    }
    dates
}

/// Record instants worth asking about: before anything, event instants and the instant before one,
/// random ones, the head, and forever.
fn some_instants(rng: &mut Rng, events: &[RecordedEvent]) -> Vec<Timestamp> {
    let first = events.first().map_or(0, |e| e.recorded_at().as_micros());
    let last = events.last().map_or(0, |e| e.recorded_at().as_micros());
    let mut instants = vec![Timestamp::from_micros(first - 1), Timestamp::from_micros(last), FOREVER];
    for _ in 0..3 {
        let e = &events[rng.range(0, events.len() as u64) as usize];
        instants.extend([e.recorded_at(), Timestamp::from_micros(e.recorded_at().as_micros() - 1)]);
        instants.push(Timestamp::from_micros(rng.range(first as u64, last as u64 + 1) as i64));
    }
    instants
}

/// Asks the questions of one moment of the log, each twice (the second time a timeline holds it),
/// and compares every answer with the fold's. Returns how many answers were compared.
fn compare(
    projections: &Projections,
    applied: &[RecordedEvent],
    rng: &mut Rng,
    ids: &[AgreementId],
    full: bool,
) -> usize {
    let mut compared = 0;
    let mut instants = some_instants(rng, applied);
    if !full {
        // Between the moments asked in full: the head and forever (the same cut), so that the next
        // moment finds the timelines of the previous head – stale wherever the new event matters.
        instants = vec![instants[1], instants[2]];
    }
    for known in instants {
        let dates = some_dates(rng, applied);
        for at in dates.iter().chain(&dates).copied() {
            assert_eq!(
                projections.agreements(at, known),
                projections.agreements_by_fold(at, known),
                "county-wide list at {at} as known at {known:?} after {} events",
                applied.len()
            );
            for _ in 0..4 {
                let agreement = &ids[rng.range(0, ids.len() as u64) as usize];
                assert_eq!(
                    projections.agreement(agreement, at, known),
                    projections.agreement_by_fold(agreement, at, known),
                    "{agreement} at {at} as known at {known:?} after {} events",
                    applied.len()
                );
                compared += 1;
            }
            compared += 1;
        }
    }
    compared
}

#[test]
fn materialized_answers_equal_the_fold_over_generated_histories() {
    for seed in [1, 2, 3] {
        let events = sealed(seed);
        let mut ids: Vec<AgreementId> = events
            .iter()
            .filter_map(|e| match e.data() {
                EventData::AgreementDrafted(d) => Some(d.agreement.clone()),
                _ => None,
            })
            .collect();
        // The children and their parent come up often, and an agreement that never exists too.
        ids.extend(["c0-hok", "c0-riktlinje", "c0-tillagg", "c0-hok", "c0-riktlinje", "c0-tillagg", "nowhere"].map(id));
        let mut rng = Rng::new(seed);
        let mut projections = Projections::new();
        let mut compared = 0;
        // Questions at ten moments of the growing log and at every event of the scripted tail.
        let tail_from = events.len().saturating_sub(40);
        for (i, event) in events.iter().enumerate() {
            projections.apply(event).expect("in order");
            let moment = (i + 1) % (events.len() / 10).max(1) == 0;
            if moment || i >= tail_from {
                compared += compare(&projections, &events[..=i], &mut rng, &ids, moment);
            }
        }
        // The late termination changed the supplementary agreement's answers (through its parent
        // only), and its retraction changed them back: the comparisons above covered both.
        let terminated = events.iter().rposition(|e| e.type_name() == "AgreementTerminated").expect("terminated");
        let status = |n: usize| {
            let p = Projections::from_events(&events[..n]).expect("in order");
            p.agreement_by_fold(&id("c0-tillagg"), date(2999, 12, 31), FOREVER).map(|v| v.status)
        };
        assert_ne!(status(terminated), status(terminated + 1), "seed {seed}: the termination changes the supplement");
        assert_eq!(status(terminated), status(events.len()), "seed {seed}: the retraction restores it");
        let hits = projections.materialized_answers();
        assert!(compared > 10_000, "seed {seed}: {compared} answers compared");
        assert!(hits * 4 > compared as u64, "seed {seed}: only {hits} of {compared} answers came from a timeline");
    }
}
