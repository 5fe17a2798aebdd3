//! Speculation: proposed events applied on top of the projections while a batch of commands is
//! judged, then withdrawn, so that each command is validated against everything applied plus the
//! batch's earlier commands without copying the projections (a copy is O(events); this is
//! O(events of the batch)).
//!
//! `apply` only indexes (see `store.rs`), so every change it makes can be undone exactly: the
//! lists it pushed onto are popped, the streams, ids and registry entries it introduced removed,
//! the head restored. The materialized timelines are set aside for the speculation and put back
//! untouched, so no answer computed on a speculative event outlives it.

use std::collections::BTreeSet;
use std::sync::Arc;

use ledger::{RecordedEvent, Timestamp};

use super::Projections;
use crate::error::Result;
use crate::materialized::Timelines;

/// Projections with proposed events applied on top, read through `Deref`. Dropping it withdraws
/// them: the projections are then exactly as they were before [`Projections::speculate`], index
/// by index.
///
/// Invariant: while a `Speculation` lives, the projections it borrows hold events the ledger may
/// never store. It borrows them mutably, so nothing else reads them meanwhile; a server that shares
/// its projections behind a lock holds the write lock until the speculation is dropped.
#[derive(Debug)]
pub struct Speculation<'a> {
    projections: &'a mut Projections,
    mark: Mark,
    /// The speculative events, in the order applied.
    applied: Vec<Arc<RecordedEvent>>,
}

/// Where the projections stood when the speculation began.
#[derive(Debug)]
struct Mark {
    head: u64,
    head_recorded_at: Option<Timestamp>,
    lists: usize,
    log: usize,
    party_recorded: usize,
    citations: usize,
    cited: usize,
    retractions: usize,
    /// The lengths of the registries, in the order of [`Projections::registries`].
    registries: [usize; 8],
    follow_up_years: BTreeSet<i32>,
    /// The materialized timelines, set aside on the first speculative event.
    timelines: Option<Timelines>,
}

impl Projections {
    /// Begins a speculation: events applied to it are visible through it until it is dropped,
    /// which withdraws them. For judging a batch of commands in order, each on top of the ones
    /// accepted before it.
    pub fn speculate(&mut self) -> Speculation<'_> {
        let registries = [
            self.agreements.len(),
            self.parties.len(),
            self.groups.len(),
            self.cases.len(),
            self.problems.len(),
            self.bodies.len(),
            self.decisions.len(),
            self.duties.len(),
        ];
        let mark = Mark {
            head: self.head,
            head_recorded_at: self.head_recorded_at,
            lists: self.lists.len(),
            log: self.log.len(),
            party_recorded: self.party_recorded.len(),
            citations: self.citations.len(),
            cited: self.cited.len(),
            retractions: self.retractions.len(),
            registries,
            follow_up_years: self.follow_up_years.clone(),
            timelines: None,
        };
        Speculation { projections: self, mark, applied: Vec::new() }
    }
}

impl Speculation<'_> {
    /// Applies a proposed event on top, as [`Projections::apply`] would (the same checks:
    /// the next position, record time not going backwards; an event applied before is ignored).
    pub fn apply(&mut self, event: Arc<RecordedEvent>) -> Result<()> {
        if self.projections.admit(&event)? {
            let compact = super::compact_of(&event)?;
            if self.mark.timelines.is_none() {
                self.mark.timelines = Some(std::mem::take(&mut self.projections.timelines));
            }
            self.projections.index(&event, compact);
            self.applied.push(event);
        }
        Ok(())
    }

    /// How many speculative events are applied.
    pub fn len(&self) -> usize {
        self.applied.len()
    }

    /// Whether no speculative event is applied.
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty()
    }
}

impl std::ops::Deref for Speculation<'_> {
    type Target = Projections;

    fn deref(&self) -> &Projections {
        self.projections
    }
}

impl Drop for Speculation<'_> {
    fn drop(&mut self) {
        if self.applied.is_empty() {
            return;
        }
        // Every field by name, so that a field added to `Projections` does not compile until it is
        // withdrawn here too.
        let Projections {
            head,
            head_recorded_at,
            streams,
            lists,
            log,
            facts,
            ids,
            agreements,
            parties,
            groups,
            cases,
            problems,
            bodies,
            decisions,
            duties,
            follow_up_years,
            party_recorded,
            citations,
            cited,
            retractions,
            timelines,
            decoded,
        } = &mut *self.projections;
        let mark = &mut self.mark;
        for event in self.applied.iter().rev() {
            ids.remove(event.id(), usize::try_from(event.position().get().saturating_sub(1)).unwrap_or(usize::MAX));
            // Invariant: a speculative event is the last of its list, since it was pushed after
            // every event of the list that was there before, and later ones are popped first.
            if let Some(list) = streams.get(event.stream().as_str()) {
                lists.pop(list);
                if (list as usize) < mark.lists {
                    decoded.forget(list);
                }
            }
        }
        // The cited decisions first: they may refer to streams withdrawn here.
        cited.truncate(mark.cited, streams);
        lists.truncate(mark.lists);
        streams.truncate(mark.lists);
        decoded.forget_from(u32::try_from(mark.lists).unwrap_or(u32::MAX));
        facts.truncate(mark.log);
        citations.truncate(mark.citations);
        retractions.truncate(mark.retractions);
        log.truncate(mark.log);
        party_recorded.truncate(mark.party_recorded);
        let [a, p, g, c, pr, b, d, du] = mark.registries;
        agreements.truncate(a);
        parties.truncate(p);
        groups.truncate(g);
        cases.truncate(c);
        problems.truncate(pr);
        bodies.truncate(b);
        decisions.truncate(d);
        duties.truncate(du);
        *follow_up_years = std::mem::take(&mut mark.follow_up_years);
        *head = mark.head;
        *head_recorded_at = mark.head_recorded_at;
        if let Some(kept) = mark.timelines.take() {
            *timelines = kept;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use ledger::{
        BodyId, BodyKind, BodyRegistered, Date, DecisionId, DecisionRecorded, FollowUpPlanned, NewEvent, PartyKind,
        PartyRegistered,
    };

    use crate::Projections;
    use crate::store::Registry;
    use crate::testkit::{Given, d, pid};

    /// The ids of a registry in order, and how many it has seen (which must be as many).
    fn registry<T: std::fmt::Debug>(r: &Registry<T>) -> String {
        format!("{:?} {}", r.all(), r.numbered())
    }

    /// Everything the store holds, in a form that compares equal exactly when the indexes are the
    /// same (maps sorted; events by id). Every field by name, as in the withdrawal.
    fn canonical(p: &Projections) -> String {
        let Projections {
            head,
            head_recorded_at,
            streams,
            lists,
            log,
            facts,
            ids,
            agreements,
            parties,
            groups,
            cases,
            problems,
            bodies,
            decisions,
            duties,
            follow_up_years,
            party_recorded,
            citations,
            cited,
            retractions,
            timelines: _,
            decoded: _,
        } = p;
        let cited = format!("{:?} {:?}", cited.slugs(streams).collect::<Vec<_>>(), cited.numbered());
        let streams = format!("{streams:?} {}", streams.numbered());
        // How many lists it keeps apart, too: a withdrawal must not leave one behind.
        let lists = format!("{lists:?} {}", lists.long());
        let ids = ids.all(|n| log.id_at(n));
        let log: Vec<_> =
            log.range(0, log.len()).iter().map(|c| (c.position(), c.expand().expect("expands").id())).collect();
        let facts: Vec<_> = facts.iter().map(|f| format!("{f:?}")).collect();
        let registries = [
            registry(agreements),
            registry(parties),
            registry(groups),
            registry(cases),
            registry(problems),
            format!("{bodies:?}"),
            format!("{decisions:?}"),
            registry(duties),
        ];
        format!(
            "{head} {head_recorded_at:?}\n{streams}\n{lists}\n{log:?}\n{facts:?}\n{ids:?}\n{registries:?}\n{follow_up_years:?}\n{party_recorded:?}\n{citations:?}\n{cited}\n{retractions:?}",
        )
    }

    fn body(id: &str) -> BodyRegistered {
        BodyRegistered { body: BodyId::new(id).unwrap(), name: "VIS".into(), kind: BodyKind::Network, of: None }
    }

    fn decision(id: &str, body: &str) -> DecisionRecorded {
        DecisionRecorded {
            decision: DecisionId::new(id).unwrap(),
            body: BodyId::new(body).unwrap(),
            reference: None,
            paragraph: None,
            subject: "decision".into(),
            summary: None,
        }
    }

    #[test]
    fn a_withdrawn_speculation_leaves_the_projections_exactly_as_they_were() {
        let mut given = Given::new().parties(2).event("2020-01-01", body("vis"));
        let before = given.projections();
        // Events touching an existing stream (its one event becomes two), new streams (one of
        // them given a second event), new registry entries and a new follow-up year.
        let proposed = [
            given.record("2021-01-01", decision("d1", "vis")),
            given.record("2021-01-01", body("vis")),
            given.record(
                "2021-01-01",
                PartyRegistered { party: pid("m9"), name: "Kommun 9".into(), kind: PartyKind::Municipality },
            ),
            given.record("2021-01-02", decision("d1", "vis")),
            given.record("2021-01-02", body("vis2")),
            given.record(
                "2021-01-02",
                FollowUpPlanned { year: 2031, agreements: vec![], decision: DecisionId::new("d1").unwrap() },
            ),
        ];
        let mut projections = before.clone();
        let expected = canonical(&projections);
        {
            let mut speculation = projections.speculate();
            for event in &proposed {
                speculation.apply(Arc::new(event.clone())).expect("apply");
            }
            assert_eq!(speculation.len(), proposed.len());
            assert_eq!(speculation.head(), proposed[5].position(), "the speculation sees its events");
            assert!(speculation.event_by_id(proposed[2].id()).is_some());
            assert_eq!(speculation.stream_positions(proposed[1].stream()).len(), 2);
            assert_eq!(speculation.stream_positions(proposed[3].stream()).len(), 2);
            let again = NewEvent::new(
                d("2021-02-01"),
                "test",
                PartyRegistered { party: pid("m9"), name: "Kommun 9".into(), kind: PartyKind::Municipality },
            );
            assert!(speculation.validate(&again).is_err(), "validated on top of the speculative registration");
        }
        assert_eq!(canonical(&projections), expected, "withdrawn index by index");
        let again = NewEvent::new(
            Date::from_ymd(2021, 2, 1).unwrap(),
            "test",
            PartyRegistered { party: pid("m9"), name: "Kommun 9".into(), kind: PartyKind::Municipality },
        );
        assert!(projections.validate(&again).is_ok(), "nothing of the speculation is left to validate against");

        // The same events applied for real give what a fold of the whole log gives.
        for event in &proposed {
            projections.apply(event).expect("apply");
        }
        assert_eq!(canonical(&projections), canonical(&given.projections()));
    }
}
