//! The event log as GraphQL: the Relay `events` connection, `event(id)`,
//! `ledger { position headHash }`, and the `events` subscription. Queries answer from the
//! projections' memory; the subscription follows the ledger's head through [`App`].

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::connection::PageInfo;
use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject, Subscription};
use base64::Engine;
use futures::{Stream, StreamExt};
use ledger::{EventData, EventId, Position, RecordedEvent, StreamId};

use super::event::Event;
use super::frames::{Frame, Item};
use super::readable;
use super::scalars::DateTime;
use crate::app::{App, Caller};
use crate::error::{ApiError, ApiResult, Code};

/// The most events one page of `events` returns.
pub(super) const MAX_PAGE: usize = 500;
/// The page size when `first` is not given.
pub(super) const DEFAULT_PAGE: usize = 50;
/// Events a subscription reads from the log per step before yielding to other work.
const REPLAY_CHUNK: usize = 256;
/// Events of a replay read ahead at a time when their frames are written from their records
/// ([`viewed_chunk`]). A frame's text is ~250 bytes, about half a decoded event: a subscriber whose
/// client stalls mid-replay holds two chunks (the one being sent, the one read ahead) and a batch
/// on its way out (`bounds.rs`, `DIRECT_BATCH`), ~0.6 MB, where two of `REPLAY_CHUNK` decoded events
/// were ~0.25 MB. 1,024 replayed faster than 512 and 256 (BENCHMARKS.md, session 27).
const VIEWED_CHUNK: usize = 1024;
/// How long a subscription waits, once an event is committed, for the projections to apply it
/// before it reads the event from sled itself. The write path and the follower apply within
/// microseconds to milliseconds; the wait only runs out when the projections fell behind or failed.
pub(super) const APPLY_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

/// The head of the ledger.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct LedgerInfo {
    /// The last position (0 when empty).
    pub position: u64,
    /// The last event's hash (64 zeros when empty).
    pub head_hash: String,
    /// The last record time.
    pub recorded_at: Option<DateTime>,
}

/// An edge of the events connection.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct EventEdge {
    /// Opaque cursor: pass it as `after` to continue after this event.
    pub cursor: String,
    /// The event.
    pub node: Event,
}

/// A page of events in log order (Relay connection; `PageInfo` is async-graphql's, shared with
/// every other connection of the schema).
#[derive(SimpleObject)]
#[graphql(complex)]
pub(super) struct EventConnection {
    /// The events of this page.
    pub edges: Vec<EventEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
    /// How many events pass the filter in the whole log (whatever the page).
    pub total_count: u64,
}

#[ComplexObject]
impl EventConnection {
    /// The events of this page, without cursors.
    async fn nodes(&self) -> Vec<Event> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

/// Encodes a position as an opaque cursor.
pub(super) fn cursor_of(position: Position) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("event:{}", position.get()))
}

/// Decodes a cursor from [`cursor_of`].
pub(super) fn position_of(cursor: &str) -> Result<Position, ApiError> {
    let bad = || ApiError::invalid(format!("invalid cursor {cursor:?}: pass a cursor from a previous page"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let n = text.strip_prefix("event:").and_then(|n| n.parse::<u64>().ok()).ok_or_else(bad)?;
    Ok(Position::new(n))
}

/// A filter on event types and streams, validated.
#[derive(Debug, Clone, Default)]
pub(super) struct EventFilter {
    streams: Option<HashSet<StreamId>>,
    types: Option<HashSet<&'static str>>,
}

impl EventFilter {
    /// Validates stream names and type names.
    pub(super) fn new(streams: Option<Vec<String>>, types: Option<Vec<String>>) -> Result<Self, ApiError> {
        let streams = streams
            .map(|s| s.iter().map(|s| StreamId::parse(s).map_err(|e| ApiError::invalid(e.to_string()))).collect())
            .transpose()?;
        let types = types
            .map(|t| {
                t.iter()
                    .map(|t| {
                        EventData::type_named(t).ok_or_else(|| {
                            ApiError::invalid(format!(
                                "unknown event type {t:?}; types are e.g. PartyAdopted, CaseOpened"
                            ))
                        })
                    })
                    .collect()
            })
            .transpose()?;
        Ok(Self { streams, types })
    }

    /// The one stream the filter allows, when it allows exactly one.
    fn single_stream(&self) -> Option<&StreamId> {
        self.streams.as_ref().filter(|s| s.len() == 1).and_then(|s| s.iter().next())
    }

    /// Whether an event of this stream and type passes.
    fn accepts_summary(&self, summary: &projections::EventSummary<'_>) -> bool {
        self.streams.as_ref().is_none_or(|s| s.contains(summary.stream))
            && self.types.as_ref().is_none_or(|t| t.contains(&summary.type_name))
    }

    /// Whether the event these fields are of passes.
    fn accepts_view(&self, view: &ledger::EventView<'_>) -> bool {
        self.accepts_summary(&projections::EventSummary { stream: view.stream, type_name: view.type_name })
    }

    /// Whether the event passes.
    pub(super) fn accepts(&self, event: &RecordedEvent) -> bool {
        self.accepts_summary(&projections::EventSummary {
            stream: event.stream().as_str(),
            type_name: event.type_name(),
        })
    }
}

/// The event-log part of the query root.
#[derive(Debug, Default)]
pub(super) struct EventQuery;

#[Object]
impl EventQuery {
    /// Events in log order, a page at a time (Relay). `after` is a cursor from a previous page;
    /// `stream` limits to one stream, `types` to some event types.
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the start (or after `after`), 1–500 (default 50).")] first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Page size from the end (or before `before`), 1–500: the latest events.")] last: Option<i32>,
        before: Option<String>,
        stream: Option<String>,
        types: Option<Vec<String>>,
    ) -> ApiResult<EventConnection> {
        let app = readable(ctx)?;
        let size = |n: Option<i32>, name: &str| match n {
            None => Ok(None),
            Some(n) if n >= 1 && n as usize <= MAX_PAGE => Ok(Some(n as usize)),
            Some(n) => Err(ApiError::invalid(format!("{name} must be 1–{MAX_PAGE}, got {n}"))),
        };
        let (first, last) = (size(first, "first")?, size(last, "last")?);
        if first.is_some() && last.is_some() {
            return Err(ApiError::invalid("give first or last, not both").into());
        }
        let after = after.as_deref().map(position_of).transpose()?.unwrap_or(Position::new(0));
        let before = before.as_deref().map(position_of).transpose()?;
        let filter = EventFilter::new(stream.map(|s| vec![s]), types)?;
        let projections = app.projections()?;
        // Candidates by position, judged on their stream and type without decoding; only the page
        // is decoded.
        let all: Vec<u64> = match filter.single_stream() {
            Some(stream) => projections.stream_positions(stream).to_vec(),
            None => (1..=projections.head().get()).collect(),
        };
        let passes = |p: &u64| projections.summary(Position::new(*p)).is_some_and(|s| filter.accepts_summary(&s));
        let total_count = all.iter().filter(|p| passes(p)).count() as u64;
        let start = all.partition_point(|p| *p <= after.get());
        let end = before.map_or(all.len(), |b| all.partition_point(|p| *p < b.get())).max(start);
        let window = &all[start..end];
        let event = |p: u64| {
            projections
                .event(Position::new(p))
                .ok_or_else(|| ApiError::internal(&format!("position {p} is indexed but not applied")))
        };
        Ok(match last {
            Some(last) => {
                let mut picked: Vec<u64> = window.iter().rev().filter(|p| passes(p)).take(last + 1).copied().collect();
                let has_previous_page = picked.len() > last;
                picked.truncate(last);
                picked.reverse();
                let events = picked.into_iter().map(event).collect::<Result<Vec<_>, _>>()?;
                page(events, before.is_some(), has_previous_page, total_count)
            }
            None => {
                let first = first.unwrap_or(DEFAULT_PAGE);
                let mut picked: Vec<u64> = window.iter().filter(|p| passes(p)).take(first + 1).copied().collect();
                let has_next_page = picked.len() > first;
                picked.truncate(first);
                let events = picked.into_iter().map(event).collect::<Result<Vec<_>, _>>()?;
                page(events, has_next_page, after.get() > 0, total_count)
            }
        })
    }

    /// One event by its id or its position (give one of them).
    async fn event(&self, ctx: &Context<'_>, id: Option<ID>, position: Option<u64>) -> ApiResult<Option<Event>> {
        let app = readable(ctx)?;
        match (id, position) {
            (Some(id), None) => {
                let id: EventId = id
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("invalid event id {:?}: expected a UUID", id.as_str())))?;
                Ok(app.projections()?.event_by_id(id).map(Event))
            }
            (None, Some(position)) => Ok(app.projections()?.event(Position::new(position)).map(Event)),
            _ => Err(ApiError::invalid("give the event's id or its position, one of them").into()),
        }
    }

    /// The head of the ledger: position and hash.
    async fn ledger(&self, ctx: &Context<'_>) -> ApiResult<LedgerInfo> {
        Ok(ledger_info(readable(ctx)?))
    }
}

/// The head as GraphQL.
pub(super) fn ledger_info(app: &App) -> LedgerInfo {
    let head = app.head();
    LedgerInfo {
        position: head.position.get(),
        head_hash: head.hash.to_string(),
        recorded_at: (head.position.get() > 0).then_some(DateTime(head.recorded_at)),
    }
}

/// A page of `events` (in log order).
fn page(
    events: Vec<Arc<RecordedEvent>>,
    has_next_page: bool,
    has_previous_page: bool,
    total_count: u64,
) -> EventConnection {
    let edges: Vec<EventEdge> =
        events.into_iter().map(|e| EventEdge { cursor: cursor_of(e.position()), node: Event(e) }).collect();
    let page_info = PageInfo {
        has_next_page,
        has_previous_page,
        start_cursor: edges.first().map(|e| e.cursor.clone()),
        end_cursor: edges.last().map(|e| e.cursor.clone()),
    };
    EventConnection { edges, page_info, total_count }
}

/// The subscription root.
#[derive(Debug, Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every event from `fromPosition` (inclusive; omit it to start after the current head) in log
    /// order, then each new event as it is committed. No event is skipped or repeated at the switch
    /// from replay to live. To resume after a disconnect, pass the last position you processed + 1.
    async fn events(
        &self,
        ctx: &Context<'_>,
        from_position: Option<u64>,
        streams: Option<Vec<String>>,
        types: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Frame>> + use<>> {
        let app = Arc::clone(readable(ctx)?);
        let filter = EventFilter::new(streams, types)?;
        let start = match from_position {
            Some(p) => Position::new(p.max(1)),
            None => app.head().position.next(),
        };
        // A subscription opened with a token lives on that token's authority: revoked or expired,
        // the subscription ends with an error (issue 17).
        let holder = match super::caller(ctx) {
            Caller::Token { name, .. } => Some(name.clone()),
            _ => None,
        };
        let guard = app.metrics().subscriber();
        // Over the WebSocket, a plain selection's frames are written by the server itself
        // (`direct.rs`): the stream is handed over, and the engine gets none. A replay's frames
        // are then written on the thread that reads them ahead ([`Follow::step`]).
        if let Some(handover) = ctx.data_opt::<super::direct::SharedHandover>()
            && let Some(plan) = super::direct::Plan::of(ctx.item)
        {
            let plan = Arc::new(plan);
            let frames = follow(app, start, filter, holder, guard, Some(Arc::clone(&plan)));
            let shared = ctx.data_opt::<super::frames::FrameKey>().cloned();
            handover.put(super::direct::Direct { plan, frames: Box::pin(frames), shared });
            return Ok(futures::future::Either::Left(futures::stream::empty()));
        }
        // Without a plan `follow` writes no frame, so every item is an event.
        let frames = follow(app, start, filter, holder, guard, None).map(|item| match item? {
            Item::Event(frame) => Ok(frame),
            Item::Written(_) => Err(ApiError::internal(&"a frame was written for the engine").into()),
        });
        Ok(futures::future::Either::Right(frames))
    }
}

/// Events of the log that pass a subscription's filter, the position after the last one looked at,
/// and whether they are of the events applied last ([`Frame::live`]).
type Chunk = (Vec<Arc<RecordedEvent>>, Position, bool);

/// One event of a chunk, or its frame's text when the chunk was written ahead ([`Item::Written`]).
enum Pending {
    Event(Arc<RecordedEvent>),
    Written(Result<Arc<str>, async_graphql::ServerError>),
}

/// What the subscription does next.
enum Step {
    /// Deliver this event, or its frame written ahead.
    Deliver(Item),
    /// The token it was opened with no longer works: say so, then end.
    Revoked(String),
    /// End quietly (the ledger closed, or the log could not be read – logged).
    End,
}

/// Reads the log from `start` and then follows the head. The cursor is the only state: each step
/// takes at most `REPLAY_CHUNK` events after the last one delivered, from the projections' memory
/// when they are applied there (decoded from their compact form), else from sled, so a slow consumer
/// (whose WebSocket is not being drained) simply stops this stream from being polled; nothing is
/// buffered for it. With a `holder`, the token's validity is checked before every event and
/// whenever tokens change while it waits. With a `plan`, the frames of a replay's chunks read
/// ahead are written by it there ([`Item::Written`]); every other item is an event.
fn follow<G: Send + 'static>(
    app: Arc<App>,
    start: Position,
    filter: EventFilter,
    holder: Option<String>,
    guard: G,
    plan: Option<Arc<super::direct::Plan>>,
) -> impl Stream<Item = async_graphql::Result<Item>> + Send {
    let head = app.watch_head();
    let applied = app.watch_applied();
    let tokens = app.tokens().watch_changes();
    let pending = Vec::new().into_iter();
    let state = Follow {
        app,
        head,
        applied,
        tokens,
        next: start,
        filter,
        holder,
        plan,
        pending,
        pending_live: false,
        ahead: None,
        done: false,
    };
    futures::stream::unfold((state, guard), |(mut state, guard)| async move {
        if state.done {
            return None;
        }
        match state.step().await {
            Step::Deliver(item) => Some((Ok(item), (state, guard))),
            Step::Revoked(name) => {
                state.done = true;
                let message = format!("the token {name:?} no longer works (revoked or expired); the subscription ends");
                Some((Err(ApiError::new(Code::Unauthenticated, message).into()), (state, guard)))
            }
            Step::End => None,
        }
    })
}

/// The state of one subscription following the log.
struct Follow {
    app: Arc<App>,
    head: tokio::sync::watch::Receiver<ledger::Head>,
    /// The projections' head, which follows the ledger's a moment after each commit.
    applied: tokio::sync::watch::Receiver<Position>,
    tokens: tokio::sync::watch::Receiver<u64>,
    next: Position,
    filter: EventFilter,
    holder: Option<String>,
    /// How frames are written, when they are written directly (`direct.rs`).
    plan: Option<Arc<super::direct::Plan>>,
    pending: std::vec::IntoIter<Pending>,
    /// `pending` came from the events applied last ([`Frame::live`]).
    pending_live: bool,
    /// The chunk from this position, being read ahead during a replay ([`applied_chunk`]), its
    /// frames written there when there is a plan.
    ahead: Option<(Position, tokio::task::JoinHandle<Option<Ahead>>)>,
    done: bool,
}

/// A chunk read ahead: as [`Chunk`], its events or their frames.
type Ahead = (Vec<Pending>, Position, bool);

impl Follow {
    /// Whether the token the subscription was opened with still works (always, without one).
    fn authorised(&self) -> Result<(), String> {
        match &self.holder {
            Some(name) if !self.app.tokens().still_valid(name) => Err(name.clone()),
            _ => Ok(()),
        }
    }

    async fn step(&mut self) -> Step {
        loop {
            if let Err(name) = self.authorised() {
                return Step::Revoked(name);
            }
            match self.pending.next() {
                Some(Pending::Event(event)) => {
                    return Step::Deliver(Item::Event(Frame { event, live: self.pending_live }));
                }
                Some(Pending::Written(text)) => return Step::Deliver(Item::Written(text)),
                None => {}
            }
            if *self.applied.borrow() < self.next {
                // Caught up with what the projections hold: wait for them to apply the event at
                // the cursor (the write path hands a commit over, the follower reads one made any
                // other way; every subscriber then shares it decoded), or for the tokens to change.
                // Subscribers wake only then, not at the commit itself: a thousand of them woken
                // by the ledger's head would queue before the follower that applies the event.
                // Should the projections not apply it within `APPLY_GRACE` of its commit (they fell
                // behind, or failed), the event is read from sled below. `wait_for` checks the
                // current value first, so a move between the check above and here is not missed.
                let target = self.next;
                let Self { head, applied, tokens, holder, .. } = self;
                let committed_long_ago = async {
                    let moved = head.wait_for(|h| h.position >= target).await.is_ok();
                    if moved {
                        tokio::time::sleep(APPLY_GRACE).await;
                    }
                    moved
                };
                tokio::select! {
                    applied = applied.wait_for(|p| *p >= target) => {
                        if applied.is_err() {
                            return Step::End; // The projections are gone with the server.
                        }
                    }
                    moved = committed_long_ago => {
                        if !moved {
                            return Step::End; // The ledger closed.
                        }
                    }
                    changed = tokens.changed(), if holder.is_some() => {
                        if changed.is_err() {
                            *holder = None; // The store is gone with the server; nothing to watch.
                        }
                        continue;
                    }
                }
            }
            let ahead = match self.ahead.take() {
                Some((at, reading)) if at == self.next => reading.await.ok().flatten(),
                _ => None,
            };
            let chunk = ahead.or_else(|| {
                let (chunk, after, live) = applied_chunk(&self.app, self.next, &self.filter)?;
                Some((chunk.into_iter().map(Pending::Event).collect(), after, live))
            });
            if let Some((chunk, after, live)) = chunk {
                self.next = after;
                self.pending = chunk.into_iter();
                self.pending_live = live;
                // A replay (older events, decoded from the projections' form): the next chunk is
                // decoded – and with a plan its frames written, and the events let go – on a
                // blocking thread, on the other core, while this one is sent.
                if !live && *self.applied.borrow() >= after {
                    let (app, filter, plan) = (Arc::clone(&self.app), self.filter.clone(), self.plan.clone());
                    let reading =
                        tokio::task::spawn_blocking(move || read_ahead(&app, after, &filter, plan.as_deref()));
                    self.ahead = Some((after, reading));
                }
                continue;
            }
            // Committed but not applied within the grace (the projections fell behind or failed):
            // read sled, which is blocking work, off the async workers, one chunk at a time.
            let reader = Arc::clone(&self.app);
            let filter = self.filter.clone();
            let from = self.next;
            match tokio::task::spawn_blocking(move || read_chunk(&reader, from, &filter)).await {
                Ok(Ok((chunk, after))) => {
                    self.next = after;
                    self.pending =
                        chunk.into_iter().map(|e| Pending::Event(Arc::new(e))).collect::<Vec<_>>().into_iter();
                    self.pending_live = false;
                }
                Ok(Err(e)) => {
                    tracing::error!(position = %self.next, error = ?e, "subscription could not read the log; closing it");
                    return Step::End;
                }
                Err(e) => {
                    tracing::error!(error = %e, "subscription reader failed; closing it");
                    return Step::End;
                }
            }
        }
    }
}

/// Up to `REPLAY_CHUNK` events from the cursor that pass the filter, and the position after the
/// last one looked at, from the projections' memory (the events applied last, already decoded
/// and shared by every subscriber, else decoded from the projections' compact form); `None` when
/// the event at the cursor is not applied there yet (or the projections cannot be read: sled
/// then says why); and whether they are of the events applied last.
fn applied_chunk(app: &App, next: Position, filter: &EventFilter) -> Option<Chunk> {
    let (window, live) = match app.recent_from(next, REPLAY_CHUNK) {
        Some(window) => (window, true),
        None => {
            let projections = app.projections().ok()?;
            (projections.events_after(Position::new(next.get().checked_sub(1)?), REPLAY_CHUNK), false)
        }
    };
    let last = window.last()?.position();
    // The projections hold the log gaplessly from position 1, so the window starts at the
    // cursor; were it otherwise, sled is the authority.
    if window.first()?.position() != next {
        return None;
    }
    let chunk = window.into_iter().filter(|e| filter.accepts(e)).collect();
    Some((chunk, last.next(), live))
}

/// The chunk from `next` ([`applied_chunk`]); with a `plan`, a replay's (not the events applied
/// last, which every subscriber of a document shares through the frame cache) as the frames' texts.
fn read_ahead(app: &App, next: Position, filter: &EventFilter, plan: Option<&super::direct::Plan>) -> Option<Ahead> {
    if let Some(plan) = plan.filter(|plan| !plan.needs_data())
        && app.recent_from(next, 1).is_none()
        && let Some(ahead) = viewed_chunk(app, next, filter, plan)
    {
        return Some(ahead);
    }
    let (chunk, after, live) = applied_chunk(app, next, filter)?;
    let pending = match plan {
        Some(plan) if !live => chunk.iter().map(|event| Pending::Written(plan.write(event).map(Arc::from))).collect(),
        _ => chunk.into_iter().map(Pending::Event).collect(),
    };
    Some((pending, after, live))
}

/// A replay's chunk from the projections' compact form, each frame written from the fields read
/// from its record without decoding the event's data (a plan that does not show it); `None` where
/// [`applied_chunk`] is to read it instead: the events applied last, which are decoded already
/// and shared, and a record only a decode reads (a type of an older schema, which it upcasts).
fn viewed_chunk(app: &App, next: Position, filter: &EventFilter, plan: &super::direct::Plan) -> Option<Ahead> {
    let window = app.projections().ok()?.compact_after(Position::new(next.get().checked_sub(1)?), VIEWED_CHUNK);
    let last = window.last()?.position();
    if window.first()?.position() != next {
        return None;
    }
    let mut pending = Vec::with_capacity(window.len());
    for compact in &window {
        let view = compact.view().ok()?;
        if filter.accepts_view(&view) {
            pending.push(Pending::Written(plan.write_view(&view, None).map(Arc::from)));
        }
    }
    Some((pending, last.next(), false))
}

/// Reads up to `REPLAY_CHUNK` events from `from`; returns those passing the filter and the position
/// after the last one read.
fn read_chunk(app: &App, from: Position, filter: &EventFilter) -> Result<(Vec<RecordedEvent>, Position), ApiError> {
    let mut chunk = Vec::new();
    let mut next = from;
    for event in app.read_log(from, REPLAY_CHUNK)? {
        next = event.position().next();
        if filter.accepts(&event) {
            chunk.push(event);
        }
    }
    Ok((chunk, next))
}

#[cfg(test)]
mod tests {
    use async_graphql::Request;

    use super::super::frames::tests::schema_and_ledger;
    use super::super::frames::{FrameCache, share_frames};
    use super::{EventFilter, Position};
    use crate::app::App;

    /// A subscriber waits for the projections to apply a committed event; when they do not (here
    /// no follower runs), it reads the event from sled once the grace has passed: late, never lost.
    #[tokio::test]
    async fn an_event_the_projections_do_not_apply_reaches_the_subscriber_from_sled_after_the_grace() {
        use futures::StreamExt;
        let (_dir, schema, ledger) = schema_and_ledger().await;
        let query = "subscription { events(fromPosition: 3) { position type } }";
        let mut stream = schema.execute_stream(share_frames(Request::new(query)));
        let appended = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            ledger.append(ledger::Append::one(crate::app::test_decision(1))).expect("appended");
            started
        });
        let started = appended.await.expect("append");
        let frame = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next())
            .await
            .expect("in time")
            .expect("a frame");
        assert!(frame.errors.is_empty(), "{:?}", frame.errors);
        let frame = frame.data.into_json().expect("JSON");
        assert_eq!(frame["events"]["position"], 3);
        assert_eq!(frame["events"]["type"], "DecisionRecorded");
        assert!(started.elapsed() >= super::APPLY_GRACE, "it waited for the projections first");
        let cache = schema.data::<FrameCache>().expect("cache");
        assert_eq!(cache.len(), 0, "a frame read from sled is not one of the shared live events");
    }

    /// A schema over a log of `count` events: every fifth a party registered (by someone whose
    /// name JSON escapes), the rest decisions; and its application.
    fn long_log(count: u64) -> (tempfile::TempDir, crate::schema::AppSchema, std::sync::Arc<App>) {
        use crate::app::{AppConfig, TokenStore};
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = ledger::Ledger::open(dir.path().join("ledger"), ledger::LedgerConfig::default()).expect("ledger");
        let date = ledger::Date::from_ymd(2022, 6, 13).expect("date");
        for batch in 0..count.div_ceil(100) {
            let append = (batch * 100..((batch + 1) * 100).min(count)).fold(ledger::Append::new(), |append, i| {
                let event = if i % 5 == 0 {
                    let party = ledger::PartyId::new(format!("p{i}")).expect("slug");
                    let data =
                        ledger::PartyRegistered { party, name: format!("p{i}"), kind: ledger::PartyKind::Municipality };
                    ledger::NewEvent::new(date, "Åsa \"tests\" \\ ✓", data)
                } else {
                    crate::app::test_decision(i)
                };
                append.with(event)
            });
            ledger.append(append).expect("appended");
        }
        let tokens = std::sync::Arc::new(TokenStore::open(dir.path()).expect("tokens"));
        let app = App::new(ledger, tokens, AppConfig::default()).expect("app");
        let schema = crate::schema::build_schema(std::sync::Arc::clone(&app), crate::schema::SchemaLimits::default());
        (dir, schema, app)
    }

    /// A replay longer than the events the projections keep decoded and shared: from the
    /// projections' compact form a chunk at a time (each read ahead on a blocking thread while the
    /// one before is sent), then from the shared ones; the log in order, without a gap or a
    /// repeat, filtered or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_replay_is_the_log_in_order_across_chunks_read_ahead_filtered_or_not() {
        use futures::StreamExt;

        let count = 1600_u64;
        let (_dir, schema, _) = long_log(count);
        let positions = |query: &'static str, n: usize| {
            let schema = schema.clone();
            async move {
                let frames = schema.execute_stream(Request::new(query)).take(n).collect::<Vec<_>>();
                let frames = tokio::time::timeout(std::time::Duration::from_secs(60), frames).await.expect("in time");
                frames
                    .into_iter()
                    .map(|f| {
                        assert!(f.errors.is_empty(), "{:?}", f.errors);
                        f.data.into_json().expect("JSON")["events"]["position"].as_u64().expect("position")
                    })
                    .collect::<Vec<_>>()
            }
        };
        let all = positions("subscription { events(fromPosition: 1) { position } }", count as usize).await;
        assert_eq!(all, (1..=count).collect::<Vec<_>>());
        let from = positions("subscription { events(fromPosition: 300) { position } }", 10).await;
        assert_eq!(from, (300..310).collect::<Vec<_>>());
        let parties = positions(
            r#"subscription { events(fromPosition: 1, types: ["PartyRegistered"]) { position } }"#,
            (count / 5) as usize,
        )
        .await;
        assert_eq!(parties, (0..count).filter(|i| i % 5 == 0).map(|i| i + 1).collect::<Vec<_>>());
    }

    /// A long replay written directly (`direct.rs`) – its chunks read ahead, their frames written
    /// there, from the records without decoding the data when the selection does not show it –
    /// is byte for byte what the engine resolves, filtered or not, with the data or without.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_replay_written_ahead_is_byte_for_byte_the_engines() {
        use super::super::direct::tests::{direct, engine};
        use super::super::frames::tests::FIELDS;

        let count = 2600_u64;
        let (_dir, schema, _) = long_log(count);
        let without_data = FIELDS.iter().filter(|f| **f != "data").copied().collect::<Vec<_>>().join(" ");
        for (filter, n) in [("", count), (r#", types: ["PartyRegistered"]"#, count.div_ceil(5))] {
            for selection in [without_data.clone(), FIELDS.join(" "), "position".to_owned()] {
                let document = format!("subscription {{ events(fromPosition: 1{filter}) {{ {selection} }} }}");
                let n = usize::try_from(n).expect("small");
                let resolved = engine(&schema, Request::new(document.clone()), n).await;
                let written = direct(&schema, Request::new(document.clone()), n).await.expect("a plain selection");
                assert_eq!(written.len(), n, "{document}");
                assert_eq!(written, resolved, "{document}");
            }
        }
    }

    /// With a plan, a replay's chunk read ahead is frames, written from the records without the
    /// data unless the plan shows it; without one, it is events. Each frame is the plan's writing of
    /// the event the log holds at its place.
    #[test]
    fn a_chunk_read_ahead_with_a_plan_is_its_frames() {
        let (_dir, _schema, app) = long_log(1500);
        let plan = |selection: &str| {
            let document = format!("subscription {{ events {{ {selection} }} }}");
            let document = async_graphql::parser::parse_query(&document).expect("parses");
            let (_, operation) = document.operations.iter().next().expect("an operation");
            let async_graphql::parser::types::Selection::Field(field) =
                &operation.node.selection_set.node.items[0].node
            else {
                panic!("a field")
            };
            super::super::direct::Plan::of(field).expect("plain")
        };
        let filter = EventFilter::default();
        let from = Position::new(11);
        let log: Vec<_> = app.read_log(from, super::VIEWED_CHUNK).expect("reads");
        for (plan, read) in [
            (plan("id position stream recordedBy hash"), super::VIEWED_CHUNK),
            (plan("position data"), super::REPLAY_CHUNK),
        ] {
            let (chunk, after, live) = super::read_ahead(&app, from, &filter, Some(&plan)).expect("a chunk");
            assert!(!live);
            assert_eq!(after.get(), from.get() + read as u64);
            assert_eq!(chunk.len(), read);
            for (pending, event) in chunk.iter().zip(&log) {
                let super::Pending::Written(Ok(text)) = pending else { panic!("a frame") };
                assert_eq!(text.as_ref(), plan.write(event).expect("writes"), "at {}", event.position());
            }
        }
        let (chunk, ..) = super::read_ahead(&app, from, &filter, None).expect("a chunk");
        assert!(chunk.iter().all(|pending| matches!(pending, super::Pending::Event(_))));
    }
}
