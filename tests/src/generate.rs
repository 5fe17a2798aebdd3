//! A deterministic generator of realistic collaboration histories at any size, valid under the
//! rules: many counties, each with a region and municipalities, councils and decisions, a main
//! agreement adopted by all and subject-area agreements adopted pair by pair, revisions, notices with
//! continuation decisions, escalation cases, groups with member turnover, follow-up, and retractions
//! followed by corrections. For benchmarks (1M events) and property tests; the same seed always gives
//! the same events.

use ledger::{
    AgreementDrafted, AgreementId, AgreementKind, AnnualDialogueHeld, Binding, BodyId, BodyKind, BodyRegistered,
    CaseEscalated, CaseId, CaseKind, CaseLevel, CaseOpened, CaseResolved, ContinuationDecided, Date, DecisionId,
    DecisionRecorded, EventData, EventId, EventRetracted, FollowUpPlanned, FollowUpReported, GroupEstablished, GroupId,
    GroupKind, MemberAppointed, MemberLeft, MemberRole, NewEvent, NoticeGiven, PartyAdopted, PartyId, PartyKind,
    PartyRegistered, Person, PersonRef, Slug, Source, Timestamp, VersionDecided, VersionProposed, VersionPublished,
    VersionRecommended,
};

use projections::rules;

use crate::Rng;

/// One generated event with the record time it should carry.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The event.
    pub event: NewEvent,
    /// Its record time (non-decreasing along the history).
    pub recorded_at: Timestamp,
}

/// Generates at least `target` events (it finishes the scenario it is in) from `seed`.
pub fn history(seed: u64, target: usize) -> Vec<Generated> {
    let mut g = Generator { rng: Rng::new(seed), out: Vec::with_capacity(target + 1024), day: start(), serial: 0 };
    let mut county = 0;
    while g.out.len() < target {
        g.county(county);
        county += 1;
    }
    g.out
}

fn start() -> Date {
    Date::from_ymd(2010, 1, 4).unwrap_or_else(Date::today_utc)
}

struct Generator {
    rng: Rng,
    out: Vec<Generated>,
    day: Date,
    serial: u64,
}

/// Builds a slug from generated parts (always valid: lowercase ASCII, digits, hyphens).
fn slug<T: std::str::FromStr>(s: &str) -> T {
    match s.parse() {
        Ok(v) => v,
        Err(_) => panic!("generated slug {s:?} is invalid"),
    }
}

impl Generator {
    fn advance(&mut self, max_days: u64) {
        for _ in 0..self.rng.range(0, max_days + 1) {
            self.day = self.day.next_day();
        }
    }

    fn emit(&mut self, data: impl Into<EventData>) -> EventId {
        let id = EventId::from_uuid(uuid_from(self.rng.next_u64(), self.rng.next_u64()));
        // Recorded the day after the fact, and never before the previous event (each county has its
        // own timeline from 2010, so later counties' records bunch up just after the latest one).
        self.serial += 1;
        let next_day = Timestamp::start_of(self.day.next_day());
        let recorded_at = match self.out.last() {
            Some(last) => next_day.max(Timestamp::from_micros(last.recorded_at.as_micros() + 1)),
            None => next_day,
        };
        let event = NewEvent {
            id: Some(id),
            effective: self.day,
            recorded_by: "generator".into(),
            source: Some(Source {
                title: format!("Generated protocol {}", self.serial),
                reference: None,
                url: None,
                note: Some("synthetic".into()),
            }),
            data: data.into(),
        };
        self.out.push(Generated { event, recorded_at });
        id
    }

    fn decision(&mut self, body: &BodyId, subject: &str) -> DecisionId {
        let decision: DecisionId = slug(&format!("{body}-{}", self.serial + 1));
        self.emit(DecisionRecorded {
            decision: decision.clone(),
            body: body.clone(),
            reference: Some(format!("DNR {}/{}", self.day.year(), self.serial)),
            paragraph: None,
            subject: subject.to_owned(),
            summary: None,
        });
        decision
    }

    fn county(&mut self, c: usize) {
        self.day = start();
        let municipalities = self.rng.range(8, 27) as usize;
        let region: PartyId = slug(&format!("c{c}-region"));
        let mut parties = vec![region.clone()];
        self.emit(PartyRegistered { party: region.clone(), name: format!("Region {c}"), kind: PartyKind::Region });
        for m in 0..municipalities {
            let p: PartyId = slug(&format!("c{c}-m{m}"));
            self.emit(PartyRegistered {
                party: p.clone(),
                name: format!("Kommun {c}-{m}"),
                kind: PartyKind::Municipality,
            });
            parties.push(p);
        }
        let council = |p: &PartyId| -> BodyId { slug(&format!("{p}-kf")) };
        for p in &parties {
            self.emit(BodyRegistered {
                body: council(p),
                name: format!("Fullmäktige {p}"),
                kind: BodyKind::Council,
                of: Some(slug::<Slug>(p.as_str())),
            });
        }
        // VIS and the officials' steering group: each a group, and a body that is that group (its
        // `of`), which is how the competence table knows them.
        let steering: BodyId = slug(&format!("c{c}-vis"));
        let officials: BodyId = slug(&format!("c{c}-tsg"));
        let group: GroupId = slug(&format!("c{c}-vis"));
        let officials_group: GroupId = slug(&format!("c{c}-tsg"));
        self.emit(BodyRegistered {
            body: steering.clone(),
            name: format!("VIS {c}"),
            kind: BodyKind::SteeringGroup,
            of: Some(slug::<Slug>(group.as_str())),
        });
        self.emit(BodyRegistered {
            body: officials.clone(),
            name: format!("Tjänstemannastyrgrupp {c}"),
            kind: BodyKind::SteeringGroup,
            of: Some(slug::<Slug>(officials_group.as_str())),
        });

        // Groups with member turnover, and a retraction corrected by the right event.
        let decision = self.decision(&steering, "VIS inrättas");
        self.emit(GroupEstablished {
            group: group.clone(),
            name: format!("VIS {c}"),
            kind: GroupKind::PoliticalSteering,
            parent: None,
            mandate: "Politisk samverkan".into(),
            decision: Some(decision.clone()),
            ends_on: None,
            area: None,
        });
        self.emit(GroupEstablished {
            group: officials_group,
            name: format!("Tjänstemannastyrgrupp {c}"),
            kind: GroupKind::OfficialsSteering,
            parent: Some(group.clone()),
            mandate: "Bereder VIS ärenden".into(),
            decision: Some(decision),
            ends_on: None,
            area: None,
        });
        for term in 0..self.rng.range(2, 5) {
            let name = format!("Person {c}-{term}");
            self.advance(20);
            let wrong = self.emit(MemberAppointed {
                group: group.clone(),
                person: Person { name: format!("{name} (felstavad)"), title: None },
                role: MemberRole::Member,
                represents: region.to_string(),
                appointed_by: None,
                until: None,
            });
            if self.rng.range(0, 3) == 0 {
                self.emit(EventRetracted { event: wrong, reason: "Felstavat namn".into() });
            } else {
                self.advance(200);
                self.emit(MemberLeft {
                    group: group.clone(),
                    person: PersonRef { name: format!("{name} (felstavad)") },
                    reason: Some("Mandatperioden slut".into()),
                });
            }
            self.emit(MemberAppointed {
                group: group.clone(),
                person: Person { name, title: Some("Ledamot".into()) },
                role: if term == 0 { MemberRole::Chair } else { MemberRole::Member },
                represents: "kommunerna".into(),
                appointed_by: None,
                until: None,
            });
        }

        // The main agreement: every party adopts; in force from the last adoption (never before its
        // earliest date).
        let main: AgreementId = slug(&format!("c{c}-hok"));
        let main_in_force =
            self.agreement(&main, AgreementKind::Main, Binding::AllParties, &parties, &steering, council);

        // Subject-area agreements, adopted pair by pair; some revised, some with notice and a case.
        let count = self.rng.range(3, 12) as usize;
        for a in 0..count {
            let id: AgreementId = slug(&format!("c{c}-a{a}"));
            self.agreement(&id, AgreementKind::SubjectArea, Binding::EachParty, &parties, &steering, council);
            if self.rng.range(0, 3) == 0 {
                self.case(c, a, &id, &parties);
            }
        }
        let noticed = self.rng.range(1, parties.len() as u64) as usize;
        self.notice(&main, main_in_force, &parties[noticed], &steering, council);

        // Follow-up of the main agreement.
        let year = self.day.year() + 1;
        let plan = self.decision(&officials, "Uppföljningsplan");
        self.emit(FollowUpPlanned { year, agreements: vec![main.clone()], decision: plan });
        self.advance(300);
        self.emit(FollowUpReported { year, agreement: main, report: None, summary: "Uppföljd".into() });
        self.emit(AnnualDialogueHeld { year, participants: vec![region.to_string()], summary: "Dialog".into() });
    }

    /// Drafts, recommends, adopts and publishes an agreement; returns a day from which it is surely in
    /// force: its first version's entry into force once every party has adopted (for EACH_PARTY that
    /// day binds every pair, at or after the first pair's).
    fn agreement(
        &mut self,
        id: &AgreementId,
        kind: AgreementKind,
        binding: Binding,
        parties: &[PartyId],
        steering: &BodyId,
        council: impl Fn(&PartyId) -> BodyId,
    ) -> Date {
        self.advance(30);
        self.emit(AgreementDrafted {
            agreement: id.clone(),
            title: format!("Överenskommelse {id}"),
            kind,
            parent: None,
            parties: parties.to_vec(),
            binding,
            notice_months: Some(24),
            revision_lead_months: Some(3),
        });
        let versions = if self.rng.range(0, 4) == 0 { 2 } else { 1 };
        let mut in_force_from = None;
        for version in 1..=versions {
            self.advance(30);
            let earliest = self.day.add_months(6);
            self.emit(VersionProposed {
                agreement: id.clone(),
                version,
                document: None,
                earliest_effective: Some(earliest),
                expires: None,
                summary: None,
            });
            let decided = self.decision(steering, "Beslut om överenskommelse");
            if version > 1 {
                self.emit(VersionDecided {
                    agreement: id.clone(),
                    version,
                    decision: decided.clone(),
                    effective_from: None,
                });
            }
            self.emit(VersionRecommended {
                agreement: id.clone(),
                version,
                decision: decided,
                response_due: self.day.add_months(6),
            });
            let mut adoptions = Vec::with_capacity(parties.len());
            for party in parties {
                self.advance(2);
                let decision = self.decision(&council(party), "Antagande");
                self.emit(PartyAdopted { agreement: id.clone(), version, party: party.clone(), decision });
                adoptions.push(Some(self.day));
            }
            if version == 1 {
                in_force_from = rules::entry_into_force_all_parties(Some(earliest), adoptions);
            }
            self.emit(VersionPublished {
                agreement: id.clone(),
                version,
                url: format!("https://example.org/{id}/{version}"),
            });
        }
        // Every party adopted the first version, so the rule gives a day; the fallback is never taken.
        in_force_from.unwrap_or(self.day)
    }

    /// A party's notice and the continuation decided after it. Notice can only be given on an
    /// agreement in force (the rule every import obeys), so it is never dated before `in_force_from`: the subject-area
    /// agreements between the main agreement's adoption and the notice may all be short (seed 113's
    /// first county gave notice five days before its HÖK came into force).
    fn notice(
        &mut self,
        id: &AgreementId,
        in_force_from: Date,
        party: &PartyId,
        steering: &BodyId,
        council: impl Fn(&PartyId) -> BodyId,
    ) {
        // After the random wait, so a history that was already valid stays the same.
        self.advance(400);
        self.day = self.day.max(in_force_from);
        let decision = self.decision(&council(party), "Uppsägning");
        self.emit(NoticeGiven { agreement: id.clone(), party: party.clone(), decision });
        self.advance(60);
        let decision = self.decision(steering, "Fortsatt giltighet");
        self.emit(ContinuationDecided {
            agreement: id.clone(),
            after_notice_by: party.clone(),
            continues: true,
            decision,
        });
    }

    fn case(&mut self, c: usize, a: usize, id: &AgreementId, parties: &[PartyId]) {
        let case: CaseId = slug(&format!("c{c}-case{a}"));
        self.advance(30);
        self.emit(CaseOpened {
            case: case.clone(),
            agreement: id.clone(),
            kind: CaseKind::Deviation,
            parties: parties.iter().take(2).cloned().collect(),
            level: CaseLevel::Local,
            principled: false,
            summary: "Avsteg från åtagande".into(),
        });
        self.advance(30);
        self.emit(CaseEscalated {
            case: case.clone(), to: CaseLevel::Officials, reason: "Ingen lokal lösning".into()
        });
        self.advance(30);
        self.emit(CaseResolved { case, resolution: "Löst".into(), decision: None });
    }
}

fn uuid_from(a: u64, b: u64) -> uuid::Uuid {
    // A version 4 layout from generated bits, so ids look like any client's.
    let bits = (u128::from(a) << 64 | u128::from(b)) & !(0xF000 << 64) & !(0xC000_0000_0000_0000);
    uuid::Uuid::from_u128(bits | (0x4000 << 64) | 0x8000_0000_0000_0000)
}
