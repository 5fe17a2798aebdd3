//! Test helpers: build real sealed event sequences in a `MemoryChain`, given/when/then style.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::{
    AgreementDrafted, AgreementId, AgreementKind, AgreementTerminated, Append, Binding, ContinuationDecided, Date,
    DecisionId, EventData, MemoryChain, NewEvent, NoticeGiven, NoticeWithdrawn, PartyAdopted, PartyDeclined, PartyId,
    PartyKind, PartyRegistered, RecordedEvent, RequiredPartiesChanged, Timestamp, VersionDecided, VersionProposed,
    VersionPublished, VersionRecommended,
};

use crate::Projections;

pub(crate) fn d(s: &str) -> Date {
    s.parse().expect("valid date in test")
}

pub(crate) fn pid(s: &str) -> PartyId {
    PartyId::new(s).expect("valid party id")
}

pub(crate) fn aid(s: &str) -> AgreementId {
    AgreementId::new(s).expect("valid agreement id")
}

pub(crate) fn dec(s: &str) -> DecisionId {
    DecisionId::new(s).expect("valid decision id")
}

/// Asserts that `got` answers as `want`, both over the same events: every event by position and
/// by id, the county-wide lists (agreements, findings, decisions, parties) on three dates, and
/// pages of events from a few positions.
pub(crate) fn assert_same_answers(got: &Projections, want: &Projections) {
    assert_eq!(got.head(), want.head());
    for p in 1..=want.head().get() {
        let position = ledger::Position::new(p);
        let event = want.event(position).expect("applied");
        assert_eq!(got.event(position), Some(event.clone()), "{position}");
        assert!(got.has_event(event.id()), "{position}");
        assert_eq!(got.event_by_id(event.id()), Some(event), "{position}");
    }
    let known = Timestamp::from_micros(i64::MAX);
    for at in ["2019-01-01", "2020-06-01", "2024-01-01"] {
        assert_eq!(got.agreements(d(at), known), want.agreements(d(at), known), "{at}");
        assert_eq!(got.findings(d(at), known), want.findings(d(at), known), "{at}");
        assert_eq!(got.decisions(None, d(at), known), want.decisions(None, d(at), known), "{at}");
        assert_eq!(got.parties(d(at), known), want.parties(d(at), known), "{at}");
    }
    for (after, limit) in [(0, usize::MAX), (1, 100), (2, 3)] {
        let after = ledger::Position::new(after);
        assert_eq!(got.events_after(after, limit), want.events_after(after, limit), "after {after}");
    }
}

/// A history under construction: each event is recorded one second after the previous one.
#[derive(Debug, Clone)]
pub(crate) struct Given {
    pub(crate) chain: MemoryChain,
    clock: i64,
}

impl Given {
    pub(crate) fn new() -> Self {
        Self { chain: MemoryChain::new(), clock: 1_600_000_000_000_000 }
    }

    /// Records an event with this effective date.
    pub(crate) fn event(mut self, effective: &str, data: impl Into<EventData>) -> Self {
        self.record(effective, data);
        self
    }

    /// A copy of this history with one more event (to branch a scenario).
    pub(crate) fn clone_with(&self, effective: &str, data: impl Into<EventData>) -> Self {
        self.clone().event(effective, data)
    }

    /// Records an event and returns it.
    pub(crate) fn record(&mut self, effective: &str, data: impl Into<EventData>) -> RecordedEvent {
        self.clock += 1_000_000;
        let outcome = self
            .chain
            .append(&Append::one(NewEvent::new(d(effective), "test", data)), Timestamp::from_micros(self.clock))
            .expect("append");
        match outcome {
            ledger::AppendOutcome::Committed(mut events) => events.remove(0).event,
            ledger::AppendOutcome::Conflict(c) => panic!("conflict {c:?}"),
        }
    }

    /// The record time of the last event.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.clock)
    }

    pub(crate) fn projections(&self) -> Projections {
        Projections::from_events(self.chain.events()).expect("apply")
    }

    /// The region and `n` municipalities `m1…mn`, registered.
    pub(crate) fn parties(mut self, municipalities: usize) -> Self {
        self = self.event(
            "2012-01-01",
            PartyRegistered { party: pid("region"), name: "Region".into(), kind: PartyKind::Region },
        );
        for i in 1..=municipalities {
            self = self.event(
                "2012-01-01",
                PartyRegistered {
                    party: pid(&format!("m{i}")),
                    name: format!("Kommun {i}"),
                    kind: PartyKind::Municipality,
                },
            );
        }
        self
    }
}

pub(crate) fn parties(municipalities: usize) -> Vec<PartyId> {
    std::iter::once(pid("region")).chain((1..=municipalities).map(|i| pid(&format!("m{i}")))).collect()
}

pub(crate) fn drafted(
    agreement: &str,
    kind: AgreementKind,
    binding: Binding,
    parties: Vec<PartyId>,
) -> AgreementDrafted {
    AgreementDrafted {
        agreement: aid(agreement),
        title: format!("Överenskommelse {agreement}"),
        kind,
        parent: None,
        parties,
        binding,
        notice_months: Some(24),
        revision_lead_months: Some(3),
    }
}

pub(crate) fn proposed(
    agreement: &str,
    version: u32,
    earliest: Option<&str>,
    expires: Option<&str>,
) -> VersionProposed {
    VersionProposed {
        agreement: aid(agreement),
        version,
        document: None,
        earliest_effective: earliest.map(d),
        expires: expires.map(d),
        summary: None,
    }
}

pub(crate) fn decided(agreement: &str, version: u32, effective_from: Option<&str>) -> VersionDecided {
    VersionDecided {
        agreement: aid(agreement),
        version,
        decision: dec("beslut"),
        effective_from: effective_from.map(d),
    }
}

pub(crate) fn recommended(agreement: &str, version: u32, due: &str) -> VersionRecommended {
    VersionRecommended { agreement: aid(agreement), version, decision: dec("rekommendation"), response_due: d(due) }
}

pub(crate) fn adopted(agreement: &str, version: u32, party: &str) -> PartyAdopted {
    PartyAdopted { agreement: aid(agreement), version, party: pid(party), decision: dec(&format!("{party}-beslut")) }
}

pub(crate) fn declined(agreement: &str, version: u32, party: &str) -> PartyDeclined {
    PartyDeclined { agreement: aid(agreement), version, party: pid(party), decision: dec(&format!("{party}-nej")) }
}

pub(crate) fn required_changed(agreement: &str, parties: Vec<PartyId>) -> RequiredPartiesChanged {
    RequiredPartiesChanged { agreement: aid(agreement), parties, decision: dec("andrade-parter") }
}

pub(crate) fn published(agreement: &str, version: u32) -> VersionPublished {
    VersionPublished { agreement: aid(agreement), version, url: "https://example.org/doc".into() }
}

pub(crate) fn notice(agreement: &str, party: &str) -> NoticeGiven {
    NoticeGiven { agreement: aid(agreement), party: pid(party), decision: dec(&format!("{party}-uppsagning")) }
}

pub(crate) fn withdrawn(agreement: &str, party: &str) -> NoticeWithdrawn {
    NoticeWithdrawn { agreement: aid(agreement), party: pid(party), decision: dec(&format!("{party}-ater")) }
}

pub(crate) fn continuation(agreement: &str, party: &str, continues: bool) -> ContinuationDecided {
    ContinuationDecided {
        agreement: aid(agreement),
        after_notice_by: pid(party),
        continues,
        decision: dec("fortsattning"),
    }
}

pub(crate) fn terminated(agreement: &str) -> AgreementTerminated {
    AgreementTerminated { agreement: aid(agreement), decision: dec("upphor"), reason: "sades upp".into() }
}

/// A subject-area agreement `sak` that states no notice period, in force between the region and
/// `m1` from 2019-02-02, on which `m1` gives notice on 2020-03-01.
pub(crate) fn noticed_without_a_period() -> Given {
    let mut agreement = drafted("sak", AgreementKind::SubjectArea, Binding::EachParty, parties(1));
    agreement.notice_months = None;
    Given::new()
        .parties(1)
        .event("2019-01-01", agreement)
        .event("2019-01-01", proposed("sak", 1, None, None))
        .event("2019-02-01", adopted("sak", 1, "region"))
        .event("2019-02-02", adopted("sak", 1, "m1"))
        .event("2020-03-01", notice("sak", "m1"))
}
