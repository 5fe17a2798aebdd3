//! The write path's combiner: commands that arrive while another batch is being judged or synced
//! wait in a queue, and one task takes them all as the next batch, judges them in order, and sends
//! the accepted ones to the ledger together, so that they share its group commit (one `fdatasync`).
//!
//! **Judging.** Under the write lock, after catching up, each command is validated against the
//! projections plus the batch's earlier accepted commands: those are applied on top as a
//! [`Speculation`] (the events the ledger would store for them, from [`Ledger::preview`]) and
//! withdrawn before the projections' lock is released, so no reader ever sees them. An expected
//! version is checked on the same state.
//!
//! **Appending.** Each accepted command is its own `append_async`, all sent in batch order before
//! any is awaited; the ledger's writer admits them in that order (so the log stores them in the
//! order they were judged) and groups whatever it finds waiting. Every command after the first
//! also expects the stream of the accepted command before it at the version that command gives it:
//! if the ledger refuses one member (a full disk, a conflict), every later member of the batch,
//! which was judged on top of it, meets a conflict and stores nothing – nothing judged valid only
//! because of an event that was never stored can be stored.
//!
//! **Answering.** Outcomes are taken in log order; each committed event is handed to the
//! projections (it is durable: the ledger answers only after its sync), then its caller is
//! answered. The batch runs in its own task, so a caller that goes away (a closed connection, its
//! deadline) neither stops nor splits it: a command that had not started when its caller left is
//! dropped unjudged, one that had started completes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use ledger::{Append, AppendOutcome, EventId, Ledger, NewEvent, Position, RecordedEvent, StreamId, StreamTarget};
use projections::{Projections, Speculation};

use super::queue::{Committed, Pending};
use super::state::App;
use crate::error::{ApiError, Code};

/// The most commands one batch takes; the rest wait for the next. Bounds how long the projections'
/// write lock is held while a batch is judged.
const MAX_BATCH: usize = 128;

/// Applies everything new in the ledger to the projections, off the async workers.
async fn catch_up(app: &App) -> Result<(), ApiError> {
    // Quick and common: nothing new.
    if app.projections()?.head() == app.head().position {
        return Ok(());
    }
    let live = app.live_handle();
    tokio::task::spawn_blocking(move || live.catch_up()).await.map_err(|e| ApiError::internal(&e))?.map(|_| ())
}

/// Queues a command and makes sure a combiner will take it.
pub(super) fn submit(app: Arc<App>, pending: Pending) {
    let start = {
        let mut waiting = app.queue.lock();
        waiting.pending.push(pending);
        !std::mem::replace(&mut waiting.running, true)
    };
    if start {
        tokio::spawn(combine(app));
    }
}

/// Ends a combiner: on any way out but the ordinary one (a panic, the runtime shutting down), the
/// commands still queued are dropped, so their callers hear at once that nothing was recorded, and
/// the next command starts a new combiner.
struct Stop {
    app: Arc<App>,
    armed: bool,
}

impl Drop for Stop {
    fn drop(&mut self) {
        if self.armed {
            let mut waiting = self.app.queue.lock();
            waiting.running = false;
            waiting.pending.clear();
            waiting.at_ledger = 0;
        }
    }
}

/// Takes batches until the queue is empty.
async fn combine(app: Arc<App>) {
    let mut stop = Stop { app: Arc::clone(&app), armed: true };
    loop {
        let write = app.write.lock().await;
        let batch: Vec<Pending> = {
            let mut waiting = app.queue.lock();
            if waiting.pending.is_empty() {
                waiting.running = false;
                stop.armed = false;
                return;
            }
            let take = waiting.pending.len().min(MAX_BATCH);
            waiting.pending.drain(..take).collect()
        };
        commit(&app, batch).await;
        drop(write);
    }
}

/// Judges, appends and answers one batch (under the write lock).
async fn commit(app: &App, batch: Vec<Pending>) {
    // A caller that has gone away before its command started never sees it start.
    let batch: Vec<Pending> = batch.into_iter().filter(|p| !p.reply.is_closed()).collect();
    if batch.is_empty() {
        return;
    }
    // Writes may have been stopped while the command waited; and it is judged on everything the
    // ledger holds, including appends made another way that the follower has not applied yet.
    let ready = match app.writes_allowed() {
        Ok(()) => catch_up(app).await,
        Err(e) => Err(e),
    };
    if let Err(e) = ready {
        for p in batch {
            let _ = p.reply.send(Err(e.clone()));
        }
        return;
    }

    let verdicts = match app.live().write() {
        Ok(mut projections) => judge(app.ledger(), projections.speculate(), &batch),
        Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
    };

    // Send every accepted append before awaiting any: each future sends its request on its first
    // poll, so polling them once in batch order puts them on the ledger's channel in that order.
    type Sent<'a> = Pin<Box<dyn Future<Output = ledger::Result<AppendOutcome>> + Send + 'a>>;
    let mut sent: Vec<(Pending, Result<Sent<'_>, ApiError>)> = Vec::with_capacity(batch.len());
    for (pending, verdict) in batch.into_iter().zip(verdicts) {
        let mut future: Sent<'_> = match verdict {
            Ok(append) => Box::pin(app.ledger().append_async(append)),
            Err(e) => {
                sent.push((pending, Err(e)));
                continue;
            }
        };
        let polled = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
        let future: Sent<'_> = match polled {
            Poll::Ready(outcome) => Box::pin(std::future::ready(outcome)),
            Poll::Pending => future,
        };
        sent.push((pending, Ok(future)));
    }

    app.queue.lock().at_ledger = sent.iter().filter(|(_, future)| future.is_ok()).count();

    // Outcomes in log order; a refusal of one member refuses every later one (see the module docs).
    let mut refused_before = false;
    for (pending, future) in sent {
        let answer = match future {
            Err(e) => Err(e),
            Ok(future) => {
                let outcome = future.await;
                let mut waiting = app.queue.lock();
                waiting.at_ledger = waiting.at_ledger.saturating_sub(1);
                drop(waiting);
                let answer = committed(app, outcome, refused_before);
                refused_before |= answer.is_err();
                answer
            }
        };
        let _ = pending.reply.send(answer);
    }
}

/// What one accepted member's append came to, applied to the projections when it was stored.
fn committed(app: &App, outcome: ledger::Result<AppendOutcome>, refused_before: bool) -> Result<Committed, ApiError> {
    let committed = match outcome? {
        AppendOutcome::Committed(mut committed) => {
            committed.pop().ok_or_else(|| ApiError::internal(&"an append of one event committed none"))?
        }
        AppendOutcome::Conflict(_) if refused_before => {
            return Err(ApiError::new(
                Code::Conflict,
                "nothing was recorded: a command judged just before this one in the same commit group was not \
                 recorded, and this one was judged on top of it – retry",
            ));
        }
        AppendOutcome::Conflict(c) => {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "stream {} is at version {}, not the expected version {}; nothing was recorded – reload and retry",
                    c.stream, c.actual, c.expected
                ),
            ));
        }
    };
    let event = Arc::new(committed.event);
    // The event is stored and durable: from here on nothing may tell the client it was not (a
    // retry without eventId would record it twice).
    app.live().apply_committed(Arc::clone(&event));
    if !committed.already_stored {
        app.metrics().appended(1);
        tracing::info!(
            position = event.position().get(),
            event_type = event.type_name(),
            recorded_by = event.recorded_by(),
            "event recorded"
        );
    }
    Ok(Committed { event, already_stored: committed.already_stored })
}

/// Judges a batch in order on top of the projections: for each command, the append to send or the
/// refusal. Every accepted command but the last is applied to the speculation, which is withdrawn
/// when it is dropped here.
fn judge(ledger: &Ledger, mut speculation: Speculation<'_>, batch: &[Pending]) -> Vec<Result<Append, ApiError>> {
    let mut verdicts = Vec::with_capacity(batch.len());
    // The new events accepted so far, in order (what a preview has to put before the next one).
    let mut accepted: Vec<NewEvent> = Vec::new();
    // The stream and version the last accepted new event gives its stream.
    let mut chain: Option<(StreamId, u64)> = None;
    let mut previews = Previews::default();
    let last = batch.len().saturating_sub(1);
    for (index, pending) in batch.iter().enumerate() {
        let judged = match judge_one(&speculation, pending) {
            Ok(judged) => judged,
            Err(e) => {
                verdicts.push(Err(e));
                continue;
            }
        };
        let mut append = Append::one(pending.event.clone());
        if let Some((stream, version)) = judged.expect {
            append = append.expect_version(stream, version);
        }
        if let Some((stream, version)) = &chain {
            append = append.expect_version(stream.clone(), *version);
        }
        // A retry stores nothing, and nothing after the last member is judged on top of it.
        if !judged.retry && index < last {
            let stored = previews.event(ledger, speculation.head(), &accepted, &batch[index..]).and_then(|event| {
                let event = Arc::new(event);
                speculation.apply(Arc::clone(&event)).map_err(|e| ApiError::internal(&e))?;
                Ok(event)
            });
            match stored {
                Ok(event) => chain = Some((event.stream().clone(), event.stream_version())),
                Err(e) => {
                    verdicts.push(Err(e));
                    continue;
                }
            }
        }
        if !judged.retry {
            accepted.push(pending.event.clone());
        }
        verdicts.push(Ok(append));
    }
    verdicts
}

/// A command found valid.
struct Judged {
    /// Its id is stored already (or taken by an earlier member of the batch): the ledger answers
    /// with that event, or refuses a different event under the same id.
    retry: bool,
    /// The caller's expected version, on the stream the event goes to.
    expect: Option<(StreamId, u64)>,
}

/// Judges one command on `projections` (the base plus the batch's earlier accepted commands). A
/// verdict reached while one of their records could not be read is no verdict: the failure is
/// given instead, and nothing is appended (`Projections::health`).
fn judge_one(projections: &Projections, pending: &Pending) -> Result<Judged, ApiError> {
    let judged = judge_on(projections, pending);
    projections.health()?;
    judged
}

fn judge_on(projections: &Projections, pending: &Pending) -> Result<Judged, ApiError> {
    let event = &pending.event;
    // An idempotent retry is answered by the ledger with the original event; validating it again
    // would refuse it (the party is registered by now), so only new events are validated.
    let retry = event.id.is_some_and(|id| projections.has_event(id));
    if !retry {
        projections.validate(event)?;
    }
    let Some(expected) = pending.expected_version else {
        return Ok(Judged { retry, expect: None });
    };
    let stream = match event.data.stream() {
        StreamTarget::Stream(stream) => stream,
        StreamTarget::OfEvent(target) => projections
            .event_by_id(target)
            .ok_or_else(|| ApiError::not_found(format!("event {target} is not in the ledger")))?
            .stream()
            .clone(),
    };
    // The ledger checks it again (and ignores it for a retry); checking it here keeps a lost race
    // from being sent, where its refusal would also refuse every later member of the batch.
    let actual = projections.stream_positions(&stream).len() as u64;
    if !retry && actual != expected {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "stream {stream} is at version {actual}, not the expected version {expected}; nothing was recorded – reload and retry"
            ),
        ));
    }
    Ok(Judged { retry, expect: Some((stream, expected)) })
}

/// The events the ledger would store for the batch's members, from one preview of the accepted
/// ones and every member still to judge, taken again only when a refusal has shifted the
/// positions: a batch whose members are all accepted costs one preview.
#[derive(Default)]
struct Previews {
    events: Vec<RecordedEvent>,
}

impl Previews {
    /// The event the ledger would store for `rest[0]` after the `accepted` ones, at the position
    /// after `head`.
    fn event(
        &mut self,
        ledger: &Ledger,
        head: Position,
        accepted: &[NewEvent],
        rest: &[Pending],
    ) -> Result<RecordedEvent, ApiError> {
        let Some(id) = rest.first().and_then(|p| p.event.id) else {
            return Err(ApiError::internal(&"a queued command has no event id"));
        };
        if let Some(event) = self.take(id, head) {
            return Ok(event);
        }
        let prefix = || accepted.iter().cloned().fold(Append::new(), Append::with);
        // Everything still to judge, on the hope that all of it is accepted; if some member would
        // not even be admitted (say a retraction of an unknown event), this one alone.
        let whole = rest.iter().fold(prefix(), |append, p| append.with(p.event.clone()));
        let one = || prefix().with(rest[0].event.clone());
        let preview = match ledger.preview(&whole) {
            Ok(AppendOutcome::Committed(events)) => events,
            _ => match ledger.preview(&one())? {
                AppendOutcome::Committed(events) => events,
                AppendOutcome::Conflict(c) => {
                    return Err(ApiError::internal(&format!("a preview without expectations met {c:?}")));
                }
            },
        };
        self.events = preview.into_iter().skip(accepted.len()).filter(|c| !c.already_stored).map(|c| c.event).collect();
        self.take(id, head).ok_or_else(|| ApiError::internal(&"the preview does not hold the command's event"))
    }

    /// The previewed event with this id, if it is the next one after `head`.
    fn take(&mut self, id: EventId, head: Position) -> Option<RecordedEvent> {
        let index = self.events.iter().position(|e| e.id() == id && e.position() == head.next())?;
        Some(self.events.swap_remove(index))
    }
}
