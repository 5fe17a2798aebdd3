//! Agreements and the parties bound by them (API.md §2 `Agreement`, `Participation`, `Party`), on
//! both time axes. `Party` lives here rather than with the groups because what a party is in this
//! API is mostly which agreements bind it, and `Agreement` and `Party` refer to each other.
//! `agreementsConnection` is the county's agreements a page at a time, filtered and ordered on the
//! server, for readers (the dashboard among them) that must not receive thousands at once.

use std::cmp::Ordering;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge, query};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use ledger::{AgreementId, PartyId};
use projections::{AgreementView, Participation as ParticipationView, PartyView, VersionView};

use super::enums::{AgreementKind, AgreementStatus, Binding, PartyKind};
use super::event::Event;
use super::organisation::{Group, group_of};
use super::scalars::{Axes, Date, DateTime, parse_id};
use super::timeline::{Change, check_range};
use super::{app, listed, readable};
use crate::app::App;
use crate::error::{ApiError, ApiResult};

/// One agreement on the axes, if drafted by then.
pub(super) fn agreement_of(app: &App, id: &AgreementId, axes: Axes) -> ApiResult<Option<Agreement>> {
    let projections = app.projections()?;
    Ok(projections.agreement_shared(id, axes.at, axes.known).map(|view| Agreement { view, axes }))
}

/// One party on the axes, if registered by then.
pub(super) fn party_of(app: &App, id: &PartyId, axes: Axes) -> ApiResult<Option<Party>> {
    let projections = app.projections()?;
    Ok(projections.party_registration_view(id, axes.at, axes.known).map(|view| Party { view, axes }))
}

/// An agreement as it stood at `at`, as known at `asKnownAt`.
#[derive(Debug, Clone)]
pub(super) struct Agreement {
    /// Shared with the projections' materialized timelines: a list copies no view.
    view: Arc<AgreementView>,
    axes: Axes,
}

#[Object]
impl Agreement {
    /// Its id (a slug, e.g. `hok`).
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// Its title.
    async fn title(&self) -> &str {
        &self.view.title
    }
    /// Main, guideline, subject area, supplementary or local.
    async fn kind(&self) -> AgreementKind {
        self.view.kind.into()
    }
    /// How it becomes binding.
    async fn binding(&self) -> Binding {
        self.view.binding.into()
    }
    /// Where it stands on `at`.
    async fn status(&self) -> AgreementStatus {
        self.view.status.into()
    }
    /// Whether it applies on `at`.
    async fn in_force(&self) -> bool {
        self.view.in_force
    }
    /// The first day it applies (as the ledger knew it).
    async fn in_force_from(&self) -> Option<Date> {
        self.view.in_force_from.map(Date)
    }
    /// The last day it applies, when an end is known.
    async fn in_force_until(&self) -> Option<Date> {
        self.view.in_force_until.map(Date)
    }
    /// The version that applies on `at`.
    async fn version(&self) -> Option<u32> {
        self.view.version
    }
    /// Every version known on `at`, oldest first: proposal, decision, recommendation, publication
    /// and the day each came (or comes) into force.
    async fn versions(&self) -> Vec<AgreementVersion> {
        self.view.versions.iter().map(AgreementVersion::from).collect()
    }
    /// Whether the applying version is published in the digital portal (HÖK 4.7, 5).
    async fn published(&self) -> bool {
        self.view.published
    }
    /// The agreement this one belongs under.
    async fn parent(&self, ctx: &Context<'_>) -> ApiResult<Option<Agreement>> {
        let Some(parent) = &self.view.parent else { return Ok(None) };
        agreement_of(app(ctx)?, parent, self.axes)
    }
    /// Notice period in months.
    async fn notice_months(&self) -> Option<u32> {
        self.view.notice_months
    }
    /// Every required party's participation.
    async fn parties(&self) -> Vec<Participation> {
        self.view.parties.iter().map(|p| Participation { view: p.clone(), axes: self.axes }).collect()
    }
    /// Required parties that have not adopted the applying (or pending) version.
    async fn pending_parties(&self, ctx: &Context<'_>) -> ApiResult<Vec<Party>> {
        let projections = app(ctx)?.projections()?;
        Ok(self
            .view
            .pending_parties
            .iter()
            .filter_map(|id| projections.party_registration_view(id, self.axes.at, self.axes.known))
            .map(|view| Party { view, axes: self.axes })
            .collect())
    }
    /// The group that stewards it.
    async fn steward(&self, ctx: &Context<'_>) -> ApiResult<Option<Group>> {
        let Some(id) = &self.view.steward else { return Ok(None) };
        group_of(app(ctx)?, id, self.axes)
    }
    /// The provisions it is concluded under, as cited by `at` (e.g. `SoL 5:9a`): the statutory
    /// duties it fulfils for the parties it binds.
    async fn statutory_basis(&self) -> &[String] {
        &self.view.statutory_basis
    }
    /// Interpretations issued (by VIS, HÖK 7.1) up to `at`.
    async fn interpretations(&self) -> Vec<Interpretation> {
        self.view
            .interpretations
            .iter()
            .map(|i| Interpretation {
                decision: i.decision.to_string(),
                case: i.case.as_ref().map(ToString::to_string),
                text: i.text.clone(),
                issued_on: Date(i.issued_on),
                position: i.position.get(),
            })
            .collect()
    }
    /// What changed for this agreement on any day from `from` to `to` (both included), as known at
    /// `asKnownAt`: its part of the root `changes`, computed from this agreement (and its parent)
    /// alone. Ordered by day.
    async fn changes(&self, ctx: &Context<'_>, from: Date, to: Date) -> ApiResult<Vec<Change>> {
        check_range(from, to)?;
        let projections = app(ctx)?.projections()?;
        Ok(projections
            .agreement_changes(&self.view.id, from.0, to.0, self.axes.known)
            .into_iter()
            .map(Change::from)
            .collect())
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.because)
    }
}

/// One version of an agreement, as known on the queried date.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct AgreementVersion {
    /// The version number, from 1.
    number: u32,
    /// When it was proposed.
    proposed_on: Date,
    /// Its document.
    document: Option<VersionDocument>,
    /// What changed.
    summary: Option<String>,
    /// The first day it may apply.
    earliest_effective: Option<Date>,
    /// The last day it applies (temporary agreements).
    expires: Option<Date>,
    /// When a body decided it.
    decided_on: Option<Date>,
    /// That decision's id.
    decision: Option<String>,
    /// The first day it applies, as the decision states.
    effective_from: Option<Date>,
    /// When it was recommended to the parties.
    recommended_on: Option<Date>,
    /// The last day of the recommendation's response period.
    response_due: Option<Date>,
    /// When it was published in the digital portal.
    published_on: Option<Date>,
    /// Where.
    published_url: Option<String>,
    /// When it comes (or came) into force by the rules, once everything needed has happened.
    in_force_from: Option<Date>,
}

impl From<&VersionView> for AgreementVersion {
    fn from(v: &VersionView) -> Self {
        Self {
            number: v.number,
            proposed_on: Date(v.proposed_on),
            document: v.document.as_ref().map(|d| VersionDocument {
                title: d.title.clone(),
                url: d.url.clone(),
                sha256: d.sha256.clone(),
            }),
            summary: v.summary.clone(),
            earliest_effective: v.earliest_effective.map(Date),
            expires: v.expires.map(Date),
            decided_on: v.decided_on.map(Date),
            decision: v.decision.as_ref().map(ToString::to_string),
            effective_from: v.effective_from.map(Date),
            recommended_on: v.recommended_on.map(Date),
            response_due: v.response_due.map(Date),
            published_on: v.published_on.map(Date),
            published_url: v.published_url.clone(),
            in_force_from: v.in_force_from.map(Date),
        }
    }
}

/// The document of an agreement version.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct VersionDocument {
    /// Its title.
    title: String,
    /// Where it is published.
    url: Option<String>,
    /// The SHA-256 of its bytes, hex, when known.
    sha256: Option<String>,
}

/// An interpretation of an agreement.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct Interpretation {
    /// The deciding decision's id.
    decision: String,
    /// The case that asked for it.
    case: Option<String>,
    /// The interpretation.
    text: String,
    /// The decision date.
    issued_on: Date,
    /// The event's position.
    position: u64,
}

/// A party's participation in an agreement.
#[derive(Debug, Clone)]
pub(super) struct Participation {
    view: ParticipationView,
    axes: Axes,
}

#[Object]
impl Participation {
    /// The party.
    async fn party(&self, ctx: &Context<'_>) -> ApiResult<Party> {
        party_of(app(ctx)?, &self.view.party, self.axes)?
            .ok_or_else(|| ApiError::not_found(format!("party {} is not registered", self.view.party)).into())
    }
    /// When it adopted the version that applies or is pending.
    async fn adopted_on(&self) -> Option<Date> {
        self.view.adopted_on.map(Date)
    }
    /// When it declined.
    async fn declined_on(&self) -> Option<Date> {
        self.view.declined_on.map(Date)
    }
    /// When it gave notice.
    async fn notice_given_on(&self) -> Option<Date> {
        self.view.notice_given_on.map(Date)
    }
    /// The first day it no longer participates (notice date + notice period).
    async fn leaves_on(&self) -> Option<Date> {
        self.view.leaves_on.map(Date)
    }
    /// Whether the agreement binds it on `at`.
    async fn bound(&self) -> bool {
        self.view.bound
    }
}

/// A party.
#[derive(Debug, Clone)]
pub(super) struct Party {
    view: PartyView,
    axes: Axes,
}

#[Object]
impl Party {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.view.name
    }
    /// Region, municipality or municipal association.
    async fn kind(&self) -> PartyKind {
        self.view.kind.into()
    }
    /// Its districts (Stockholm's stadsdelar).
    async fn districts(&self) -> Vec<String> {
        self.view.districts.iter().map(|d| d.name.clone()).collect()
    }
    /// The agreements binding it on `at`.
    async fn agreements(&self, ctx: &Context<'_>) -> ApiResult<Vec<Agreement>> {
        let projections = app(ctx)?.projections()?;
        Ok(projections
            .agreements_shared(self.axes.at, self.axes.known)
            .into_iter()
            .filter(|a| a.parties.iter().any(|p| p.party == self.view.id && p.bound))
            .map(|view| Agreement { view, axes: self.axes })
            .collect())
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.because)
    }
}

/// Which agreements an `agreementsConnection` holds; every condition given must hold.
#[derive(InputObject, Debug, Default)]
pub(super) struct AgreementFilter {
    /// Text the id or the title contains, in any case (`spel`, `c12-a3`); blank: any.
    search: Option<String>,
    /// Only these kinds.
    kinds: Option<Vec<AgreementKind>>,
    /// Only these statuses on `at`.
    statuses: Option<Vec<AgreementStatus>>,
    /// Only those in force on `at` (true) or not in force (false).
    in_force: Option<bool>,
    /// Only those with a steward on `at` (true) or without one (false).
    stewarded: Option<bool>,
}

impl AgreementFilter {
    fn accepts(&self, view: &AgreementView, search: Option<&str>) -> bool {
        let kind = AgreementKind::from(view.kind);
        let status = AgreementStatus::from(view.status);
        search.is_none_or(|text| {
            view.id.as_str().to_lowercase().contains(text) || view.title.to_lowercase().contains(text)
        }) && self.kinds.as_ref().is_none_or(|kinds| kinds.contains(&kind))
            && self.statuses.as_ref().is_none_or(|statuses| statuses.contains(&status))
            && self.in_force.is_none_or(|wanted| view.in_force == wanted)
            && self.stewarded.is_none_or(|wanted| view.steward.is_some() == wanted)
    }
}

/// The most agreements one page holds, and the page size when neither `first` nor `last` is given.
const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 50;

/// The order of kinds in a list: the main agreement first, local agreements last.
fn kind_rank(kind: ledger::AgreementKind) -> u8 {
    match kind {
        ledger::AgreementKind::Main => 0,
        ledger::AgreementKind::Guideline => 1,
        ledger::AgreementKind::SubjectArea => 2,
        ledger::AgreementKind::Supplementary => 3,
        ledger::AgreementKind::Local => 4,
    }
}

/// A title's sort key in Swedish alphabetical order: case folded, and å, ä, ö after z in that
/// order (a plain comparison of code points would put ä before å).
fn title_key(title: &str) -> Vec<u32> {
    title
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'å' => u32::from('z') + 1,
            'ä' | 'æ' => u32::from('z') + 2,
            'ö' | 'ø' => u32::from('z') + 3,
            c => u32::from(c),
        })
        .collect()
}

/// The connection's order: in force on `at` first, then by kind, by title, and by id.
fn listing_order(a: &(Vec<u32>, Arc<AgreementView>), b: &(Vec<u32>, Arc<AgreementView>)) -> Ordering {
    b.1.in_force
        .cmp(&a.1.in_force)
        .then_with(|| kind_rank(a.1.kind).cmp(&kind_rank(b.1.kind)))
        .then_with(|| a.0.cmp(&b.0))
        .then_with(|| a.1.id.as_str().cmp(b.1.id.as_str()))
}

/// The counts of an `agreementsConnection`, over every agreement the filter accepts (not only the
/// page).
#[derive(SimpleObject, Debug)]
pub(super) struct AgreementCounts {
    /// How many agreements the filter accepts.
    total_count: u64,
    /// How many of them are in force on `at`.
    in_force_count: u64,
}

/// A page of agreements with its counts (Relay; cursors are offsets into the filtered, ordered
/// list, so they hold for the same arguments and the same `asKnownAt`).
pub(super) type AgreementConnection = Connection<usize, Agreement, AgreementCounts>;

/// The agreements-and-parties part of the query root.
#[derive(Debug, Default)]
pub(super) struct AgreementQuery;

#[Object]
impl AgreementQuery {
    /// Every agreement known by `asKnownAt`, as it stood on `at`.
    async fn agreements(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<Agreement>> {
        let axes = Axes::new(at, as_known_at);
        let projections = readable(ctx)?.projections()?;
        let agreements = projections.agreements_shared(axes.at, axes.known);
        listed(ctx, agreements.into_iter().map(|view| Agreement { view, axes }).collect())
    }

    /// The agreements known by `asKnownAt`, as they stood on `at`, that `filter` accepts, a page at a
    /// time (Relay: `first`/`after` forwards, `last`/`before` backwards; 50 when neither `first`
    /// nor `last` is given, at most 500). Ordered: in force on `at` first, then by kind (main,
    /// guideline, subject area, supplementary, local), by title (Swedish order), and by id.
    #[allow(clippy::too_many_arguments)]
    async fn agreements_connection(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
        filter: Option<AgreementFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> ApiResult<AgreementConnection> {
        for n in [first, last].into_iter().flatten() {
            if n < 0 || n as usize > MAX_PAGE {
                return Err(ApiError::invalid(format!("first and last must be 0–{MAX_PAGE}, got {n}")).into());
            }
        }
        let axes = Axes::new(at, as_known_at);
        let filter = filter.unwrap_or_default();
        let search = filter.search.as_deref().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
        // The projections are read (under their lock) before the first await, never across it.
        let mut items: Vec<(Vec<u32>, Arc<AgreementView>)> = readable(ctx)?
            .projections()?
            .agreements_shared(axes.at, axes.known)
            .into_iter()
            .filter(|view| filter.accepts(view, search.as_deref()))
            .map(|view| (title_key(&view.title), view))
            .collect();
        items.sort_by(listing_order);
        let counts = AgreementCounts {
            total_count: items.len() as u64,
            in_force_count: items.iter().filter(|(_, view)| view.in_force).count() as u64,
        };
        let first = if first.is_none() && last.is_none() { Some(DEFAULT_PAGE as i32) } else { first };
        let connection =
            query(after, before, first, last, |after: Option<usize>, before: Option<usize>, first, last| async move {
                let mut start = after.map_or(0, |a| a.saturating_add(1)).min(items.len());
                let mut end = before.unwrap_or(items.len()).min(items.len()).max(start);
                if let Some(first) = first {
                    end = end.min(start.saturating_add(first));
                }
                if let Some(last) = last {
                    start = start.max(end.saturating_sub(last));
                }
                let mut connection = Connection::with_additional_fields(start > 0, end < items.len(), counts);
                connection.edges.extend(
                    items
                        .drain(start..end)
                        .enumerate()
                        .map(|(i, (_, view))| Edge::new(start + i, Agreement { view, axes })),
                );
                Ok::<_, async_graphql::Error>(connection)
            })
            .await?;
        Ok(connection)
    }

    /// One agreement on `at`, as known at `asKnownAt`; null if not drafted by then.
    async fn agreement(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Agreement>> {
        let app = readable(ctx)?;
        agreement_of(app, &parse_id(&id)?, Axes::new(at, as_known_at))
    }

    /// One party, with the agreements binding it on `at`.
    async fn party(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Party>> {
        let app = readable(ctx)?;
        let id: PartyId = parse_id(&id)?;
        party_of(app, &id, Axes::new(at, as_known_at))
    }

    /// Every party registered by `at`.
    async fn parties(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<Party>> {
        let axes = Axes::new(at, as_known_at);
        let projections = readable(ctx)?.projections()?;
        listed(ctx, projections.parties(axes.at, axes.known).into_iter().map(|view| Party { view, axes }).collect())
    }
}
