//! Property tests over random valid-looking histories built in a sealed in-memory chain: folding
//! incrementally equals rebuilding from scratch for every prefix, an answer as known at an event's
//! record time equals the answer over the log truncated at that time, and (DOMAIN.md, "no answer is
//! ever rewritten by a later decision") an event effective on day E changes no answer for a day
//! before E, nor what the answer on E says about those days. These histories are not validated, so
//! they also hold what only an old import could carry (a withdrawal after the leave date, a
//! decision dated before the notice it answers).

use ledger::{
    AgreementDrafted, AgreementId, AgreementKind, AgreementTerminated, Append, Binding, ContinuationDecided, Date,
    DecisionId, EventData, EventRetracted, MemoryChain, NewEvent, NoticeGiven, NoticeWithdrawn, PartyAdopted,
    PartyDeclined, PartyId, PartyKind, PartyRegistered, RecordedEvent, RequiredPartiesChanged, Timestamp,
    VersionDecided, VersionProposed, VersionPublished, VersionRecommended,
};
use projections::Projections;
use proptest::prelude::*;

const PARTIES: [&str; 3] = ["region", "m1", "m2"];

#[derive(Debug, Clone)]
enum Op {
    Propose(u32),
    Decide(u32),
    Recommend(u32),
    Adopt(u32, usize),
    Decline(u32, usize),
    ChangeRequired(Vec<bool>),
    Publish(u32),
    Notice(usize),
    Withdraw(usize),
    Continue(usize, bool),
    Terminate,
    Retract(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (1u32..3).prop_map(Op::Propose),
        1 => (1u32..3).prop_map(Op::Decide),
        1 => (1u32..3).prop_map(Op::Recommend),
        4 => (1u32..3, 0usize..3).prop_map(|(v, p)| Op::Adopt(v, p)),
        1 => (1u32..3, 0usize..3).prop_map(|(v, p)| Op::Decline(v, p)),
        1 => proptest::collection::vec(any::<bool>(), 3).prop_map(Op::ChangeRequired),
        1 => (1u32..3).prop_map(Op::Publish),
        1 => (0usize..3).prop_map(Op::Notice),
        1 => (0usize..3).prop_map(Op::Withdraw),
        1 => (0usize..3, any::<bool>()).prop_map(|(p, c)| Op::Continue(p, c)),
        1 => Just(Op::Terminate),
        2 => (0usize..64).prop_map(Op::Retract),
    ]
}

fn d(month: u32, day: u32) -> Date {
    Date::from_ymd(2022 + (month / 12) as i32, month % 12 + 1, day % 28 + 1).expect("valid date")
}

fn pid(i: usize) -> PartyId {
    PartyId::new(PARTIES[i % 3]).expect("id")
}

fn dec() -> DecisionId {
    DecisionId::new("beslut").expect("id")
}

fn build(binding: Binding, ops: &[(Op, u32, u32, i64)]) -> Vec<RecordedEvent> {
    let agreement = AgreementId::new("a").expect("id");
    let mut chain = MemoryChain::new();
    let mut clock = 1_600_000_000_000_000i64;
    let push = |chain: &mut MemoryChain, clock: &mut i64, effective: Date, data: EventData, gap: i64| {
        *clock += gap;
        // Some ops are refused by the ledger (e.g. retracting a retraction); skipping them keeps
        // the history one the ledger would hold.
        let _ = chain.append(&Append::one(NewEvent::new(effective, "prop", data)), Timestamp::from_micros(*clock));
    };
    for (i, party) in PARTIES.iter().enumerate() {
        let kind = if i == 0 { PartyKind::Region } else { PartyKind::Municipality };
        let data = PartyRegistered { party: PartyId::new(*party).expect("id"), name: (*party).into(), kind };
        push(&mut chain, &mut clock, d(0, 0), data.into(), 1_000_000);
    }
    let drafted = AgreementDrafted {
        agreement: agreement.clone(),
        title: "A".into(),
        kind: AgreementKind::Main,
        parent: None,
        parties: (0..3).map(pid).collect(),
        binding,
        notice_months: Some(6),
        revision_lead_months: Some(3),
    };
    push(&mut chain, &mut clock, d(0, 0), drafted.into(), 1_000_000);
    for (op, month, day, gap) in ops {
        let a = agreement.clone();
        let data: EventData = match op {
            Op::Propose(v) => VersionProposed {
                agreement: a,
                version: *v,
                document: None,
                earliest_effective: Some(d(*month + 1, 0)),
                expires: (*day % 5 == 0).then(|| d(*month + 12, *day)),
                summary: None,
            }
            .into(),
            Op::Decide(v) => VersionDecided { agreement: a, version: *v, decision: dec(), effective_from: None }.into(),
            Op::Recommend(v) => {
                VersionRecommended { agreement: a, version: *v, decision: dec(), response_due: d(*month + 2, *day) }
                    .into()
            }
            Op::Adopt(v, p) => PartyAdopted { agreement: a, version: *v, party: pid(*p), decision: dec() }.into(),
            Op::Decline(v, p) => PartyDeclined { agreement: a, version: *v, party: pid(*p), decision: dec() }.into(),
            Op::ChangeRequired(keep) => RequiredPartiesChanged {
                agreement: a,
                parties: (0..3).filter(|i| keep[*i] || *i == 0).map(pid).collect(),
                decision: dec(),
            }
            .into(),
            Op::Publish(v) => VersionPublished { agreement: a, version: *v, url: "u".into() }.into(),
            Op::Notice(p) => NoticeGiven { agreement: a, party: pid(*p), decision: dec() }.into(),
            Op::Withdraw(p) => NoticeWithdrawn { agreement: a, party: pid(*p), decision: dec() }.into(),
            Op::Continue(p, c) => {
                ContinuationDecided { agreement: a, after_notice_by: pid(*p), continues: *c, decision: dec() }.into()
            }
            Op::Terminate => AgreementTerminated { agreement: a, decision: dec(), reason: "r".into() }.into(),
            Op::Retract(k) => {
                let events = chain.events();
                let target = &events[k % events.len()];
                EventRetracted { event: target.id(), reason: "r".into() }.into()
            }
        };
        push(&mut chain, &mut clock, d(*month, *day), data, *gap);
    }
    chain.into_events()
}

fn history() -> impl Strategy<Value = (Binding, Vec<(Op, u32, u32, i64)>)> {
    let binding = prop_oneof![Just(Binding::AllParties), Just(Binding::EachParty), Just(Binding::Decision)];
    // Record-time gaps of 0 make several events share an instant, which the record-time cut must
    // handle as one.
    let step = (op(), 0u32..30, 0u32..28, prop_oneof![Just(0i64), Just(1i64), Just(86_400_000_000i64)]);
    (binding, proptest::collection::vec(step, 0..24))
}

/// The questions compared: the agreement on a spread of dates, and the findings mid-span.
fn answers(p: &Projections, known: Timestamp) -> Vec<String> {
    let mut out: Vec<String> = (0..36u32).step_by(3).map(|m| format!("{:?}", p.agreements(d(m, 14), known))).collect();
    out.push(format!("{:?}", p.findings(d(18, 0), known)));
    out
}

/// The number of cases per property: `PROPTEST_CASES` if set, else 48.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

const FOREVER: Timestamp = Timestamp::from_micros(i64::MAX);

proptest! {
    // 48 cases in the suite; `PROPTEST_CASES=20000` searches harder (a random CI seed found the
    // lapsed-notice case after many green runs).
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn folding_incrementally_equals_rebuilding_for_every_prefix((binding, ops) in history()) {
        let events = build(binding, &ops);
        let mut incremental = Projections::new();
        for (i, event) in events.iter().enumerate() {
            incremental.apply(event).expect("in order");
            let rebuilt = Projections::from_events(&events[..=i]).expect("in order");
            prop_assert_eq!(answers(&incremental, FOREVER), answers(&rebuilt, FOREVER));
        }
    }

    #[test]
    fn an_event_effective_on_e_changes_no_answer_for_a_day_before_e((binding, ops) in history()) {
        let events = build(binding, &ops);
        for k in 1..events.len() {
            let event = &events[k];
            if matches!(event.data(), EventData::EventRetracted(_)) {
                continue;
            }
            let e = event.effective();
            let before = Projections::from_events(&events[..k]).expect("in order");
            let after = Projections::from_events(&events[..=k]).expect("in order");
            let mut days = vec![e.previous_day()];
            days.extend((0..36u32).step_by(2).map(|m| d(m, 14)).filter(|day| *day < e));
            for day in days {
                prop_assert_eq!(
                    before.agreements(day, FOREVER),
                    after.agreements(day, FOREVER),
                    "event {} ({}) effective {} changed the answer for {}",
                    k,
                    event.type_name(),
                    e,
                    day
                );
            }
            // What the answer on E says about the days before E is what they said themselves.
            let earlier = before.agreements(e.previous_day(), FOREVER);
            for view in after.agreements(e, FOREVER) {
                let was = earlier.iter().find(|v| v.id == view.id);
                if let Some(from) = view.in_force_from.filter(|from| *from < e) {
                    prop_assert_eq!(was.and_then(|v| v.in_force_from), Some(from), "event {} ({}) on {}: in force from", k, event.type_name(), e);
                }
                if let Some((end, _)) = view.ends_on.filter(|(end, _)| *end < e) {
                    prop_assert_eq!(was.and_then(|v| v.ends_on).map(|(d, _)| d), Some(end), "event {} ({}) on {}: ended on", k, event.type_name(), e);
                }
                for p in &view.parties {
                    if let Some(leaves) = p.leaves_on.filter(|l| *l < e) {
                        let had = was.and_then(|v| v.participation(&p.party)).and_then(|p| p.leaves_on);
                        prop_assert_eq!(had, Some(leaves), "event {} ({}) on {}: {} left on", k, event.type_name(), e, p.party);
                    }
                }
            }
        }
    }

    #[test]
    fn as_known_at_a_record_time_equals_the_truncated_log((binding, ops) in history()) {
        let events = build(binding, &ops);
        let full = Projections::from_events(&events).expect("in order");
        for event in &events {
            let t = event.recorded_at();
            let cut = events.partition_point(|e| e.recorded_at() <= t);
            let truncated = Projections::from_events(&events[..cut]).expect("in order");
            prop_assert_eq!(answers(&full, t), answers(&truncated, FOREVER));
        }
    }
}
