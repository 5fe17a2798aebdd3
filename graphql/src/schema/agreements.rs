//! Agreements and the parties bound by them (API.md §2 `Agreement`, `Participation`, `Party`), on
//! both time axes. `Party` lives here rather than with the groups because what a party is in this
//! API is mostly which agreements bind it, and `Agreement` and `Party` refer to each other.

use async_graphql::{Context, ID, Object, SimpleObject};
use ledger::{AgreementId, PartyId};
use projections::{AgreementView, Participation as ParticipationView, PartyView, VersionView};

use super::enums::{AgreementKind, AgreementStatus, Binding, PartyKind};
use super::events::Event;
use super::organisation::{Group, group_of};
use super::scalars::{Axes, Date, DateTime, parse_id};
use super::{app, readable};
use crate::app::App;
use crate::error::{ApiError, ApiResult};

/// One agreement on the axes, if drafted by then.
pub(super) fn agreement_of(app: &App, id: &AgreementId, axes: Axes) -> ApiResult<Option<Agreement>> {
    let projections = app.projections()?;
    Ok(projections.agreement(id, axes.at, axes.known).map(|view| Agreement { view, axes }))
}

/// One party on the axes, if registered by then.
pub(super) fn party_of(app: &App, id: &PartyId, axes: Axes) -> ApiResult<Option<Party>> {
    let projections = app.projections()?;
    Ok(projections.party_registration_view(id, axes.at, axes.known).map(|view| Party { view, axes }))
}

/// An agreement as it stood at `at`, as known at `asKnownAt`.
#[derive(Debug, Clone)]
pub(super) struct Agreement {
    view: AgreementView,
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
            .agreements(self.axes.at, self.axes.known)
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
        Ok(projections.agreements(axes.at, axes.known).into_iter().map(|view| Agreement { view, axes }).collect())
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
        Ok(projections.parties(axes.at, axes.known).into_iter().map(|view| Party { view, axes }).collect())
    }
}
