//! Escalation cases (HÖK 7.1) and the yearly follow-up (HÖK 6, Riktlinje 8), on both time axes.

use async_graphql::{Context, ID, Object, SimpleObject};
use ledger::{AgreementId, CaseId};
use projections::CaseView;

use super::agreements::{Agreement, agreement_of};
use super::enums::{CaseKind, CaseLevel, CaseStatus};
use super::event::Event;
use super::scalars::{Axes, Date, DateTime, parse_id};
use super::{app, listed, readable};
use crate::error::{ApiError, ApiResult};

/// An escalation case (HÖK 7.1).
#[derive(Debug, Clone)]
pub(super) struct Case {
    view: CaseView,
    axes: Axes,
}

#[Object]
impl Case {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// The agreement concerned.
    async fn agreement(&self, ctx: &Context<'_>) -> ApiResult<Option<Agreement>> {
        agreement_of(app(ctx)?, &self.view.agreement, self.axes)
    }
    /// Deviation or interpretation.
    async fn kind(&self) -> CaseKind {
        self.view.kind.into()
    }
    /// The ladder step it is at.
    async fn level(&self) -> CaseLevel {
        self.view.level.into()
    }
    /// Open, resolved or withdrawn.
    async fn status(&self) -> CaseStatus {
        self.view.status.into()
    }
    /// Whether it is of a principled nature.
    async fn principled(&self) -> bool {
        self.view.principled
    }
    /// What it is about.
    async fn summary(&self) -> &str {
        &self.view.summary
    }
    /// The case's events, in order.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.because)
    }
}

/// An agreement's follow-up in a year.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(super) struct FollowUpItem {
    #[graphql(skip)]
    agreement_id: AgreementId,
    #[graphql(skip)]
    axes: Axes,
    /// Whether it was in the year's plan.
    planned: bool,
    /// Whether a follow-up was reported.
    reported: bool,
    /// When.
    reported_on: Option<Date>,
}

#[async_graphql::ComplexObject]
impl FollowUpItem {
    /// The agreement followed up.
    async fn agreement(&self, ctx: &Context<'_>) -> ApiResult<Option<Agreement>> {
        agreement_of(app(ctx)?, &self.agreement_id, self.axes)
    }
}

/// A year of follow-up (HÖK 6, Riktlinje 8).
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct FollowUpYear {
    /// The year.
    year: i32,
    /// When the plan was decided.
    plan_decided_on: Option<Date>,
    /// Whether the plan was decided on or after the year began.
    plan_late: bool,
    /// Whether the annual dialogue was held.
    dialogue_held: bool,
    /// The agreements planned or reported.
    agreements: Vec<FollowUpItem>,
}

/// The cases-and-follow-up part of the query root.
#[derive(Debug, Default)]
pub(super) struct CaseQuery;

#[Object]
impl CaseQuery {
    /// Every escalation case opened by `at`.
    async fn cases(&self, ctx: &Context<'_>, at: Option<Date>, as_known_at: Option<DateTime>) -> ApiResult<Vec<Case>> {
        let axes = Axes::new(at, as_known_at);
        let projections = readable(ctx)?.projections()?;
        listed(ctx, projections.cases(axes.at, axes.known).into_iter().map(|view| Case { view, axes }).collect())
    }

    /// One escalation case.
    async fn case(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Case>> {
        let app = readable(ctx)?;
        let id: CaseId = parse_id(&id)?;
        let axes = Axes::new(at, as_known_at);
        Ok(app.projections()?.case(&id, axes.at, axes.known).map(|view| Case { view, axes }))
    }

    /// A year of follow-up: plan, reports, dialogue.
    async fn follow_up(&self, ctx: &Context<'_>, year: i32, as_known_at: Option<DateTime>) -> ApiResult<FollowUpYear> {
        let app = readable(ctx)?;
        if !(1900..=2200).contains(&year) {
            return Err(ApiError::invalid(format!("year {year} is out of range 1900–2200")).into());
        }
        let axes = Axes::new(None, as_known_at);
        let f = app.projections()?.follow_up(year, axes.known);
        Ok(FollowUpYear {
            year: f.year,
            plan_decided_on: f.plan_decided_on.map(Date),
            plan_late: f.plan_late,
            dialogue_held: f.dialogue_held,
            agreements: f
                .agreements
                .into_iter()
                .map(|i| FollowUpItem {
                    agreement_id: i.agreement,
                    axes,
                    planned: i.planned,
                    reported: i.reported,
                    reported_on: i.reported_on.map(Date),
                })
                .collect(),
        })
    }
}
