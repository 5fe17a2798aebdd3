//! The rest of what the ledger records, readable (issue 15): problem reports with their chain
//! (Riktlinje 8.6), local coordinators per area and year (Riktlinje 7.1), priority areas
//! (Riktlinje 2), state stimulus funds (Riktlinje 5.3), and the bodies and decisions behind every
//! answer – who decided what, with what competence. All on both time axes, with `because`; the
//! lists that grow without bound are Relay connections.

use async_graphql::connection::{Connection, Edge, EmptyFields, query};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use ledger::{BodyId, DecisionId, DutyId, ProblemId};
use projections::{
    BodyRole as Role, BodyView, CoordinatorView, DecisionView, DutyCoverage, DutyView, ProblemStatus as Status,
    ProblemView,
};

use super::agreements::{Agreement, Party, agreement_of, party_of};
use super::enums::{BodyKind, CoordinatorRole, Designator, ProblemRecipient};
use super::event::Event;
use super::organisation::{Group, group_of};
use super::scalars::{Axes, Date, DateTime, parse_id};
use super::{app, listed, readable};
use crate::error::{ApiError, ApiResult};

/// The most items one page of a connection returns, and the page size when `first`/`last` is not
/// given.
const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 50;

/// A page of `items` by the Relay arguments (cursors are offsets into the list).
async fn page<T: async_graphql::OutputType>(
    items: Vec<T>,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> ApiResult<Connection<usize, T, EmptyFields, EmptyFields>> {
    for n in [first, last].into_iter().flatten() {
        if n < 0 || n as usize > MAX_PAGE {
            return Err(ApiError::invalid(format!("first and last must be 0–{MAX_PAGE}, got {n}")).into());
        }
    }
    let first = if first.is_none() && last.is_none() { Some(DEFAULT_PAGE as i32) } else { first };
    query(after, before, first, last, |after: Option<usize>, before: Option<usize>, first, last| async move {
        let mut start = after.map_or(0, |a| a + 1).min(items.len());
        let mut end = before.unwrap_or(items.len()).min(items.len()).max(start);
        if let Some(first) = first {
            end = end.min(start + first);
        }
        if let Some(last) = last {
            start = start.max(end.saturating_sub(last));
        }
        let mut connection = Connection::new(start > 0, end < items.len());
        let mut items = items;
        let page: Vec<T> = items.drain(start..end).collect();
        connection.edges.extend(page.into_iter().enumerate().map(|(i, item)| Edge::new(start + i, item)));
        Ok::<_, async_graphql::Error>(connection)
    })
    .await
}

/// How many items from the start of a list [`page`] needs to give the same page as of the whole
/// list: through the page's end and one more (for `hasNextPage`); every item for `last` without
/// `before` (the cursors are offsets, so the end must be known), or when a cursor does not read
/// (which `page` then refuses).
fn needed_for_page(after: Option<&str>, before: Option<&str>, first: Option<i32>, last: Option<i32>) -> usize {
    use async_graphql::connection::CursorType;
    let cursor = |c: Option<&str>| c.map(<usize as CursorType>::decode_cursor).transpose();
    let (Ok(after), Ok(before)) = (cursor(after), cursor(before)) else { return usize::MAX };
    let start = after.map_or(0, |a| a.saturating_add(1));
    let count = |n: i32| usize::try_from(n).unwrap_or(0);
    let end = match (first, last, before) {
        (Some(first), _, _) => start.saturating_add(count(first)).min(before.unwrap_or(usize::MAX)),
        (None, None, _) => start.saturating_add(DEFAULT_PAGE).min(before.unwrap_or(usize::MAX)),
        (None, Some(_), Some(before)) => before,
        (None, Some(_), None) => return usize::MAX,
    };
    // `page` never ends a page before it starts (a `before` at or before `after`).
    end.max(start).saturating_add(1)
}

/// Where a problem report stands (Riktlinje 8.6).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub(super) enum ProblemStatus {
    /// Reported; no feedback yet.
    Reported,
    /// HSF or Storsthlm gave feedback.
    Answered,
    /// Raised to VIS.
    RaisedToVis,
}

/// A structural problem in collaboration (Riktlinje 8.6), with its chain: report, feedback, VIS.
#[derive(Debug, Clone)]
pub(super) struct Problem {
    view: ProblemView,
    axes: Axes,
}

#[Object]
impl Problem {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// Who reported it (a municipality or a care provider).
    async fn reported_by(&self) -> &str {
        &self.view.reported_by
    }
    /// Storsthlm (municipalities) or HSF (care providers).
    async fn reported_to(&self) -> ProblemRecipient {
        self.view.reported_to.into()
    }
    /// When.
    async fn reported_on(&self) -> Date {
        Date(self.view.reported_on)
    }
    /// The agreement concerned.
    async fn agreement(&self, ctx: &Context<'_>) -> ApiResult<Option<Agreement>> {
        let Some(id) = &self.view.agreement else { return Ok(None) };
        agreement_of(app(ctx)?, id, self.axes)
    }
    /// What it is.
    async fn summary(&self) -> &str {
        &self.view.summary
    }
    /// Where it stands on `at`.
    async fn status(&self) -> ProblemStatus {
        match self.view.status {
            Status::Reported => ProblemStatus::Reported,
            Status::Answered => ProblemStatus::Answered,
            Status::RaisedToVis => ProblemStatus::RaisedToVis,
        }
    }
    /// The feedback given.
    async fn feedback(&self) -> Option<&str> {
        self.view.feedback.as_deref()
    }
    /// When feedback was first given.
    async fn answered_on(&self) -> Option<Date> {
        self.view.answered_on.map(Date)
    }
    /// When it was raised to VIS.
    async fn raised_to_vis_on(&self) -> Option<Date> {
        self.view.raised_to_vis_on.map(Date)
    }
    /// The decision that raised it (the officials' steering group's), if recorded.
    async fn raised_by(&self) -> Option<&str> {
        self.view.raised_by.as_ref().map(|d| d.as_str())
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.because)
    }
}

/// A designated local coordinator (Riktlinje 7.1).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(super) struct Coordinator {
    /// Who holds it (a unit, or a health centre).
    holder: String,
    /// Municipal function or health centre.
    role: CoordinatorRole,
    /// Who designated it.
    designated_by: Designator,
    /// When.
    designated_on: Date,
    #[graphql(skip)]
    position: ledger::Position,
}

#[async_graphql::ComplexObject]
impl Coordinator {
    /// The designating event.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &[self.position])
    }
}

impl From<&CoordinatorView> for Coordinator {
    fn from(c: &CoordinatorView) -> Self {
        Self {
            holder: c.holder.clone(),
            role: c.role.into(),
            designated_by: c.designated_by.into(),
            designated_on: Date(c.designated_on),
            position: c.position,
        }
    }
}

/// The local coordinators of one area (a municipality, or a district of Stockholm) for a year.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct CoordinatorArea {
    /// The municipality or district.
    area: String,
    /// The year.
    year: i32,
    /// The municipality's samordnande funktion (Riktlinje 7.1.1).
    municipal_function: Option<Coordinator>,
    /// The region's samordnande vårdcentral (Riktlinje 7.1.2).
    health_centre: Option<Coordinator>,
    /// Past 30 April with no health centre designated: HSF must designate one.
    health_centre_open: bool,
}

/// The priority areas of a year (Riktlinje 2).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(super) struct PriorityAreas {
    /// The year.
    year: i32,
    /// The period's priority areas.
    areas: Vec<String>,
    /// The first year of the period covering the year.
    from_year: Option<i32>,
    /// Its last year.
    to_year: Option<i32>,
    /// One-year priorities added for the year.
    one_year: Vec<String>,
    #[graphql(skip)]
    because: Vec<ledger::Position>,
}

#[async_graphql::ComplexObject]
impl PriorityAreas {
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.because)
    }
}

/// An allocation of state stimulus funds (Riktlinje 5.3).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(super) struct FundsAllocation {
    /// The year.
    year: i32,
    /// The amount in Swedish kronor.
    amount_sek: i64,
    /// For what.
    purpose: String,
    /// The deciding decision.
    decision: String,
    /// Its date.
    decided_on: Date,
    #[graphql(skip)]
    group: Option<ledger::GroupId>,
    #[graphql(skip)]
    position: ledger::Position,
    #[graphql(skip)]
    axes: Axes,
}

#[async_graphql::ComplexObject]
impl FundsAllocation {
    /// The group that gets them.
    async fn group(&self, ctx: &Context<'_>) -> ApiResult<Option<Group>> {
        let Some(id) = &self.group else { return Ok(None) };
        group_of(app(ctx)?, id, self.axes)
    }
    /// The allocating event.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &[self.position])
    }
}

/// What a body is, for DOMAIN.md's competence table.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub(super) enum BodyRole {
    /// Vård i samverkan, the political steering group.
    Vis,
    /// The officials' steering group (Tjänstemannastyrgrupp Sammanhållen vård och omsorg).
    Officials,
    /// The board of an association of the municipalities (Storsthlm's styrelse).
    AssociationBoard,
    /// A council, board or committee of a party (`party` names it).
    OfParty,
    /// No competence of the table (a network, an administration, an association itself).
    Other,
}

/// A decision-making body.
#[derive(Debug, Clone)]
pub(super) struct Body {
    view: BodyView,
}

#[Object]
impl Body {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.view.name
    }
    /// Council, board, committee, …
    async fn kind(&self) -> BodyKind {
        self.view.kind.into()
    }
    /// The party, organisation or group it belongs to (or, for VIS and the officials' steering
    /// group, is).
    async fn of(&self) -> Option<&str> {
        self.view.of.as_ref().map(|s| s.as_str())
    }
    /// What it is for the competence table.
    async fn role(&self) -> BodyRole {
        match self.view.role {
            Role::Vis => BodyRole::Vis,
            Role::Officials => BodyRole::Officials,
            Role::AssociationBoard => BodyRole::AssociationBoard,
            Role::OfParty(_) => BodyRole::OfParty,
            Role::Other => BodyRole::Other,
        }
    }
    /// The party whose body it is, when it is one.
    async fn party(&self) -> Option<&str> {
        match &self.view.role {
            Role::OfParty(party) => Some(party.as_str()),
            Role::Vis | Role::Officials | Role::AssociationBoard | Role::Other => None,
        }
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.because)
    }
}

/// A recorded decision: who decided, when, and what rests on it.
#[derive(Debug, Clone)]
pub(super) struct Decision {
    view: DecisionView,
    known: ledger::Timestamp,
}

#[Object]
impl Decision {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// The body that decided, with its competence role.
    async fn body(&self, ctx: &Context<'_>) -> ApiResult<Option<Body>> {
        Ok(app(ctx)?.projections()?.body(&self.view.body, self.known).map(|view| Body { view }))
    }
    /// The decision's date.
    async fn decided_on(&self) -> Date {
        Date(self.view.decided_on)
    }
    /// Diarienummer.
    async fn reference(&self) -> Option<&str> {
        self.view.reference.as_deref()
    }
    /// Protocol paragraph (§).
    async fn paragraph(&self) -> Option<&str> {
        self.view.paragraph.as_deref()
    }
    /// What was decided on.
    async fn subject(&self) -> &str {
        &self.view.subject
    }
    /// A short summary.
    async fn summary(&self) -> Option<&str> {
        self.view.summary.as_deref()
    }
    /// The events that cite this decision (what was decided), on the axes, in log order.
    async fn cited_by(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.cited_by)
    }
    /// The `DecisionRecorded` event.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &[self.view.position])
    }
}

/// The county-wide part of the query root.
#[derive(Debug, Default)]
pub(super) struct CountyQuery;

/// A statutory duty to have an agreement (HÖK 5; Förstudie 8) on a date, with who fulfils it.
#[derive(Debug, Clone)]
pub(super) struct StatutoryDuty {
    view: DutyView,
    axes: Axes,
}

#[Object]
impl StatutoryDuty {
    /// The duty's id.
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// What must be agreed.
    async fn title(&self) -> &str {
        &self.view.title
    }
    /// The provisions that require it (`SoL 5:9a`, `HSL 16:3`, `lag 2017:612`).
    async fn references(&self) -> &[String] {
        &self.view.references
    }
    /// The day the duty, as last recorded by `at`, applies from.
    async fn since(&self) -> Date {
        Date(self.view.since)
    }
    /// Each municipality and the region, with the agreements in force that fulfil the duty for it.
    async fn parties(&self) -> Vec<DutyParty> {
        self.view.parties.iter().map(|c| DutyParty { coverage: c.clone(), axes: self.axes }).collect()
    }
    /// Whether every obliged party has such an agreement.
    async fn met(&self) -> bool {
        self.view.parties.iter().all(|c| !c.agreements.is_empty())
    }
    /// The duty's events.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.because)
    }
}

/// One obliged party's standing under a statutory duty.
#[derive(Debug, Clone)]
pub(super) struct DutyParty {
    coverage: DutyCoverage,
    axes: Axes,
}

#[Object]
impl DutyParty {
    /// The party.
    async fn party(&self, ctx: &Context<'_>) -> ApiResult<Option<Party>> {
        party_of(app(ctx)?, &self.coverage.party, self.axes)
    }
    /// The agreements in force that bind it and cite one of the duty's provisions (empty: unmet).
    async fn agreements(&self, ctx: &Context<'_>) -> ApiResult<Vec<Agreement>> {
        let app = app(ctx)?;
        let mut out = Vec::new();
        for id in &self.coverage.agreements {
            out.extend(agreement_of(app, id, self.axes)?);
        }
        Ok(out)
    }
}

#[Object]
impl CountyQuery {
    /// The statutory duties that apply on `at`, as known at `asKnownAt`, each with who fulfils it
    /// (HÖK 5: the agreements the law requires of the region and each municipality).
    async fn statutory_duties(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<StatutoryDuty>> {
        let axes = Axes::new(at, as_known_at);
        let views = readable(ctx)?.projections()?.statutory_duties(axes.at, axes.known);
        listed(ctx, views.into_iter().map(|view| StatutoryDuty { view, axes }).collect())
    }

    /// One statutory duty on `at`, as known at `asKnownAt`.
    async fn statutory_duty(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<StatutoryDuty>> {
        let app = readable(ctx)?;
        let id: DutyId = parse_id(&id)?;
        let axes = Axes::new(at, as_known_at);
        Ok(app.projections()?.statutory_duty(&id, axes.at, axes.known).map(|view| StatutoryDuty { view, axes }))
    }

    /// Problem reports made by `at`, as known at `asKnownAt`, oldest first (Relay).
    #[allow(clippy::too_many_arguments)]
    async fn problems(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> ApiResult<Connection<usize, Problem, EmptyFields, EmptyFields>> {
        let axes = Axes::new(at, as_known_at);
        let items: Vec<Problem> = readable(ctx)?
            .projections()?
            .problems(axes.at, axes.known)
            .into_iter()
            .map(|view| Problem { view, axes })
            .collect();
        page(items, after, before, first, last).await
    }

    /// One problem report.
    async fn problem(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Problem>> {
        let app = readable(ctx)?;
        let id: ProblemId = parse_id(&id)?;
        let axes = Axes::new(at, as_known_at);
        Ok(app.projections()?.problem(&id, axes.at, axes.known).map(|view| Problem { view, axes }))
    }

    /// The local coordinators of every area for `year` (default: the year of `at`), as designated by
    /// `at` and known at `asKnownAt`.
    async fn coordinators(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<CoordinatorArea>> {
        let app = readable(ctx)?;
        let axes = Axes::new(at, as_known_at);
        let year = check_year(year.unwrap_or(axes.at.year()))?;
        let coordinators = app.projections()?.coordinators(year, axes.at, axes.known);
        let areas = coordinators
            .areas
            .iter()
            .map(|a| CoordinatorArea {
                area: a.area.to_string(),
                year,
                municipal_function: a.municipal_function.as_ref().map(Coordinator::from),
                health_centre: a.health_centre.as_ref().map(Coordinator::from),
                health_centre_open: a.health_centre_open,
            })
            .collect();
        listed(ctx, areas)
    }

    /// The priority areas of `year`, as known at `asKnownAt` (Riktlinje 2).
    async fn priority_areas(
        &self,
        ctx: &Context<'_>,
        year: i32,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<PriorityAreas> {
        let app = readable(ctx)?;
        let year = check_year(year)?;
        let axes = Axes::new(None, as_known_at);
        let view = app.projections()?.priority_areas(year, axes.known);
        Ok(PriorityAreas {
            year,
            areas: view.areas,
            from_year: view.period.map(|(from, _)| from),
            to_year: view.period.map(|(_, to)| to),
            one_year: view.one_year,
            because: view.because,
        })
    }

    /// State stimulus funds allocated, for `year` or every year, as known at `asKnownAt`
    /// (Riktlinje 5.3).
    async fn funds(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<FundsAllocation>> {
        let app = readable(ctx)?;
        let year = year.map(check_year).transpose()?;
        let axes = Axes::new(None, as_known_at);
        let funds = app
            .projections()?
            .funds(year, axes.known)
            .into_iter()
            .map(|f| FundsAllocation {
                year: f.year,
                amount_sek: f.amount_sek,
                purpose: f.purpose,
                decision: f.decision.to_string(),
                decided_on: Date(f.decided_on),
                group: f.group,
                position: f.position,
                axes,
            })
            .collect();
        listed(ctx, funds)
    }

    /// Every decision-making body registered by `asKnownAt`, with its competence role.
    async fn bodies(&self, ctx: &Context<'_>, as_known_at: Option<DateTime>) -> ApiResult<Vec<Body>> {
        let app = readable(ctx)?;
        let axes = Axes::new(None, as_known_at);
        let bodies = app.projections()?.bodies(axes.known).into_iter().map(|view| Body { view }).collect();
        listed(ctx, bodies)
    }

    /// Decisions made by `at`, as known at `asKnownAt`, in recording order; only `body`'s, when
    /// given (Relay).
    #[allow(clippy::too_many_arguments)]
    async fn decisions(
        &self,
        ctx: &Context<'_>,
        body: Option<String>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> ApiResult<Connection<usize, Decision, EmptyFields, EmptyFields>> {
        let app = readable(ctx)?;
        let body: Option<BodyId> = body.as_deref().map(parse_id).transpose()?;
        let axes = Axes::new(at, as_known_at);
        // Only as many decisions as the page needs are computed, and only theirs are cited.
        let needed = needed_for_page(after.as_deref(), before.as_deref(), first, last);
        let items: Vec<Decision> = {
            let projections = app.projections()?;
            let mut views: Vec<_> =
                projections.decisions_made(body.as_ref(), axes.at, axes.known).take(needed).collect();
            projections.cite(&mut views, axes.at, axes.known);
            views.into_iter().map(|view| Decision { view, known: axes.known }).collect()
        };
        page(items, after, before, first, last).await
    }

    /// One decision, if made by `at` as known at `asKnownAt`.
    async fn decision(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Decision>> {
        let app = readable(ctx)?;
        let id: DecisionId = parse_id(&id)?;
        let axes = Axes::new(at, as_known_at);
        Ok(app.projections()?.decision(&id, axes.at, axes.known).map(|view| Decision { view, known: axes.known }))
    }
}

fn check_year(year: i32) -> Result<i32, ApiError> {
    if (1900..=2200).contains(&year) {
        Ok(year)
    } else {
        Err(ApiError::invalid(format!("year {year} is out of range 1900–2200")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page as plain values: the edges' cursors and nodes and the two flags, or the error.
    async fn outcome(
        items: Vec<i32>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<(Vec<(usize, i32)>, bool, bool), String> {
        page(items, after, before, first, last)
            .await
            .map(|c| (c.edges.iter().map(|e| (e.cursor, e.node)).collect(), c.has_previous_page, c.has_next_page))
            .map_err(|e| e.message)
    }

    #[tokio::test]
    async fn a_page_of_the_items_it_needs_is_the_page_of_the_whole_list() {
        let cursors =
            || std::iter::once(None).chain((0..14).map(|n| Some(n.to_string()))).chain([Some("nope".to_owned())]);
        let counts = || std::iter::once(None).chain((-1..7).map(Some)).chain([Some(501)]);
        let mut computed_fewer = 0;
        for len in [0usize, 1, 2, 5, 12] {
            let whole: Vec<i32> = (0..len as i32).map(|n| n * 10).collect();
            for after in cursors() {
                for before in cursors() {
                    for first in counts() {
                        for last in counts() {
                            let needed = needed_for_page(after.as_deref(), before.as_deref(), first, last);
                            let some: Vec<i32> = whole.iter().copied().take(needed).collect();
                            computed_fewer += usize::from(some.len() < whole.len());
                            let a = outcome(whole.clone(), after.clone(), before.clone(), first, last).await;
                            let b = outcome(some, after.clone(), before.clone(), first, last).await;
                            assert_eq!(
                                a, b,
                                "len {len}, after {after:?}, before {before:?}, first {first:?}, last {last:?}"
                            );
                        }
                    }
                }
            }
        }
        assert!(computed_fewer > 1000, "most pages need fewer than every item: {computed_fewer}");
    }
}
