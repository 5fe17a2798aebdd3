//! The organisation (API.md §2 `Group`, `Member`, `Person`): the collaboration's groups on both time
//! axes, with their mandates, members and appointment history.

use async_graphql::{Context, ID, Object, SimpleObject};
use ledger::GroupId;
use projections::{GroupView, MemberView};

use super::enums::{GroupKind, MemberRole};
use super::event::Event;
use super::scalars::{Axes, Date, DateTime, parse_id};
use super::{app, listed, readable};
use crate::app::App;
use crate::error::ApiResult;

/// One group on the axes, if established by then.
pub(super) fn group_of(app: &App, id: &GroupId, axes: Axes) -> ApiResult<Option<Group>> {
    let projections = app.projections()?;
    Ok(projections.group(id, axes.at, axes.known).map(|view| Group { view, axes }))
}

/// A group of the collaboration's organisation.
#[derive(Debug, Clone)]
pub(super) struct Group {
    view: GroupView,
    axes: Axes,
}

#[Object]
impl Group {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    /// Its name on `at`.
    async fn name(&self) -> &str {
        &self.view.name
    }
    /// What kind of group.
    async fn kind(&self) -> GroupKind {
        self.view.kind.into()
    }
    /// Whether it exists and works on `at` (not dissolved, not past its end date).
    async fn active(&self) -> bool {
        self.view.active
    }
    /// Its mandate on `at`.
    async fn mandate(&self) -> Option<&str> {
        Some(self.view.mandate.as_str()).filter(|m| !m.is_empty())
    }
    /// When it was established.
    async fn established_on(&self) -> Date {
        Date(self.view.established_on)
    }
    /// The first day it no longer exists, if limited in time.
    async fn ends_on(&self) -> Option<Date> {
        self.view.ends_on.map(Date)
    }
    /// The group it reports to.
    async fn parent(&self, ctx: &Context<'_>) -> ApiResult<Option<Group>> {
        let Some(id) = &self.view.parent else { return Ok(None) };
        group_of(app(ctx)?, id, self.axes)
    }
    /// Members on `at`.
    async fn members(&self) -> Vec<Member> {
        self.view.members.iter().map(Into::into).collect()
    }
    /// Every appointment ever, with its interval.
    async fn member_history(&self) -> Vec<Member> {
        self.view.member_history.iter().map(Into::into).collect()
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.view.because)
    }
}

/// A person.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct Person {
    /// Full name.
    name: String,
    /// Title or office.
    title: Option<String>,
}

/// An appointment to a group.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct Member {
    /// Who.
    person: Person,
    /// Their role.
    role: MemberRole,
    /// Whom they represent.
    represents: Option<String>,
    /// First day of the appointment.
    from: Date,
    /// Last day of the appointment, if ended or limited.
    until: Option<Date>,
}

impl From<&MemberView> for Member {
    fn from(m: &MemberView) -> Self {
        Member {
            person: Person { name: m.person.name.clone(), title: m.person.title.clone() },
            role: m.role.into(),
            represents: Some(m.represents.clone()),
            from: Date(m.from),
            until: m.until.map(Date),
        }
    }
}

/// The organisation part of the query root.
#[derive(Debug, Default)]
pub(super) struct OrganisationQuery;

#[Object]
impl OrganisationQuery {
    /// Every group established by `at`, active or not.
    async fn groups(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<Group>> {
        let axes = Axes::new(at, as_known_at);
        let projections = readable(ctx)?.projections()?;
        listed(ctx, projections.groups(axes.at, axes.known).into_iter().map(|view| Group { view, axes }).collect())
    }

    /// One group.
    async fn group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Group>> {
        let app = readable(ctx)?;
        let id: GroupId = parse_id(&id)?;
        group_of(app, &id, Axes::new(at, as_known_at))
    }
}
