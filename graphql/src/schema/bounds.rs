//! Running a request within its bounds (issue 20): off the async workers, until its deadline, up to
//! a response size; and around the engine, the request checks (`checks.rs`) and the error codes
//! (`error.rs`), which were schema extensions until issue 19 showed what any extension costs.
//!
//! The resolvers fold projections synchronously, and a county-wide fold over a large ledger takes
//! seconds; run on the runtime's workers, four such requests left `/healthz` unanswered and went on
//! computing past the request's timeout. So every query and subscription-less operation runs on a
//! blocking thread (mutations stay on the workers: they wait for the write lock and the disk, they
//! do not compute), behind one of two semaphores: a few permits for documents priced as heavy work
//! (a county-wide list or a log scan, `cost.rs`), more for the rest, so a small query never waits
//! behind a heavy one. Waiting for a permit counts against the deadline.
//!
//! Each request carries a [`Budget`] in its data. The deadline is checked by every resolver that
//! reaches the application (`schema::app`, through [`check`]), which is where the work is: past
//! it, each such resolver fails at once, so the work stops within one resolver's time (plus the
//! plain fields of views already computed, which read no projection), and the response becomes one
//! `TIMEOUT` error instead of a partial answer. The size is judged on the finished answer
//! ([`json_size`] of its data, [`Budget::finish`]): over the cap, the response is one
//! `RESPONSE_TOO_LARGE` error. So that an answer certainly over the cap is not built whole, the
//! county-wide lists of the query root account a lower bound of their size before the engine
//! resolves their items ([`account_list`]); once that passes the cap, every later resolver that
//! reaches the application fails at once. The HTTP layer answers 408 at the deadline itself; this
//! is what makes the detached work stop soon after.
//!
//! What this gives up against the `Bounded` extension it replaces, which saw every field: a
//! response over the cap may be built in memory up to about the cap times the ratio of its real
//! size to the lower bound (each leaf counted as one byte) before its work stops, where the
//! extension stopped at the cap; and a plain field of an already computed view is not itself held
//! to the deadline (none reads a projection). The cap is measured on the answer itself, where the
//! extension summed its fields and counted a list's name once per item, so an answer near the cap
//! may now pass that was refused before; no answer over it is sent.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Context, Data, Request, Response, ServerError, Value};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::Semaphore;

use super::checks::Checked;
use super::{AppSchema, PersistedQueries};
use crate::error::{ApiError, Code, coded};

/// How many GraphQL executions may run off the async workers at once.
#[derive(Debug, Clone, Copy)]
pub struct Pools {
    /// Documents priced as heavy work (a county-wide list or a log scan): at most this many at once.
    pub heavy: usize,
    /// Every other query: at most this many at once.
    pub light: usize,
}

impl Default for Pools {
    /// Heavy work on half the cores (at least one), so the other half keeps answering everything
    /// else; light work on eight threads a core.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self { heavy: (cores / 2).max(1), light: cores * 8 }
    }
}

/// The bounds of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestBounds {
    /// When the work must stop.
    pub(crate) deadline: Instant,
    /// The largest answer, in bytes of JSON (estimated while answering, leaf by leaf).
    pub(crate) max_response_bytes: usize,
}

/// Runs GraphQL requests off the async workers, within their [`RequestBounds`], after the request
/// checks (`checks.rs`); every response it gives has its error codes (`error.rs`).
#[derive(Clone)]
pub(crate) struct Executor {
    schema: AppSchema,
    /// The schema's persisted documents (automatic persisted queries, `persisted.rs`).
    persisted: PersistedQueries,
    /// The highest price of a document (`cost.rs`).
    max_cost: u64,
    /// The application whose projections answer: an answer is handed out only while they can
    /// still read every record (`App::health`).
    app: Arc<crate::app::App>,
    heavy: Arc<Semaphore>,
    light: Arc<Semaphore>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("heavy", &self.heavy).field("light", &self.light).finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor over a schema built with [`super::build_schema`] (which has no extensions: the
    /// checks run here), with the store of persisted queries and the cost limit it applies.
    pub(crate) fn new(
        schema: AppSchema,
        app: Arc<crate::app::App>,
        pools: Pools,
        persisted: PersistedQueries,
        max_cost: u64,
    ) -> Self {
        Self {
            schema,
            app,
            persisted,
            max_cost,
            heavy: Arc::new(Semaphore::new(pools.heavy.max(1))),
            light: Arc::new(Semaphore::new(pools.light.max(1))),
        }
    }

    /// Runs the request checks (`checks.rs`): the request, its document parsed into it, or the
    /// response that refuses it, with its codes.
    pub(crate) async fn check(&self, request: Request) -> Result<Checked, Response> {
        super::checks::check(&self.persisted, self.max_cost, request, None).await.map_err(coded)
    }

    /// Checks and executes a request within `bounds`; `parsed` is its document, when the caller
    /// has parsed it already (it is then not parsed again).
    pub(crate) async fn execute(
        &self,
        request: Request,
        parsed: Option<ExecutableDocument>,
        bounds: RequestBounds,
    ) -> Response {
        match super::checks::check(&self.persisted, self.max_cost, request, parsed).await.map_err(coded) {
            Ok(checked) => self.run(checked, bounds).await,
            Err(refused) => refused,
        }
    }

    /// Executes a checked query or mutation within `bounds`. Never runs past the deadline by more
    /// than one resolver's time; a caller that stops waiting (a timed-out HTTP request) leaves the
    /// work to stop by itself at the deadline.
    pub(crate) async fn run(&self, checked: Checked, bounds: RequestBounds) -> Response {
        let budget = Arc::new(Budget::new(bounds));
        let heavy = checked.price >= super::cost::HEAVY_BASE;
        let mutation = checked.operation == Some(OperationType::Mutation);
        let request = checked.request.data(Arc::clone(&budget));
        if mutation && !heavy {
            return self.healthy(budget.finish(coded(self.schema.execute(request).await)));
        }
        let pool = if heavy { &self.heavy } else { &self.light };
        let deadline = tokio::time::Instant::from_std(bounds.deadline);
        let permit = match tokio::time::timeout_at(deadline, Arc::clone(pool).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; a wait past the deadline is the deadline.
            Ok(Err(_)) | Err(_) => return budget.timed_out(),
        };
        let schema = self.schema.clone();
        let runtime = tokio::runtime::Handle::current();
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            runtime.block_on(schema.execute(request))
        });
        match job.await {
            Ok(response) => self.healthy(budget.finish(coded(response))),
            Err(e) => Response::from_errors(vec![server_error(ApiError::internal(&e))]),
        }
    }

    /// `response`, unless the projections it was computed from failed to read a record meanwhile
    /// (or before): then the failure, since the answer may be incomplete (`App::health`).
    fn healthy(&self, response: Response) -> Response {
        match self.app.health() {
            Ok(()) => response,
            Err(e) => Response::from_errors(vec![server_error(e)]),
        }
    }

    /// Starts a checked subscription (over the WebSocket): it runs for as long as its client keeps
    /// it, without a deadline or a size cap, its frames shared with the other subscribers of the
    /// same document (`frames.rs`), every response of it with its codes.
    pub(crate) fn subscribe(&self, checked: Checked, session: Arc<Data>) -> BoxStream<'static, Response> {
        let request = super::share_frames(checked.request);
        let app = Arc::clone(&self.app);
        self.schema.execute_stream_with_session_data(request, session).map(move |r| streamed(&app, r)).boxed()
    }

    /// The responses of a subscription whose frames are written directly (`direct.rs`): the texts
    /// of the frames ready at once (a replay's, up to [`DIRECT_BATCH`]) go to `stash` together,
    /// and one response carries the number `stash` gave them in place of the data – the WebSocket
    /// layer makes a message of each, in order; errors are responses as the engine makes them, in
    /// their place. Like [`Executor::subscribe`], every response with its codes, and none handed
    /// out while the projections cannot read.
    pub(crate) fn direct(
        &self,
        direct: super::Direct,
        stash: impl Fn(Vec<Arc<str>>) -> u64 + Send + 'static,
    ) -> BoxStream<'static, Response> {
        let super::Direct { plan, frames, shared } = direct;
        let (app, schema) = (Arc::clone(&self.app), self.schema.clone());
        frames
            .ready_chunks(DIRECT_BATCH)
            .flat_map(move |items| {
                let mut responses = Vec::new();
                let mut texts = Vec::with_capacity(items.len());
                let standing_in = |texts: &mut Vec<Arc<str>>, responses: &mut Vec<Response>| {
                    if !texts.is_empty() {
                        let number = stash(std::mem::take(texts));
                        responses.push(Response::new(async_graphql::Value::from(number)));
                    }
                };
                for item in items {
                    let text = match item {
                        Ok(super::frames::Item::Written(text)) => text,
                        Ok(super::frames::Item::Event(frame)) => {
                            let write = || plan.write(&frame.event);
                            let cache = schema.data::<super::frames::FrameCache>();
                            match (&shared, cache) {
                                (Some(key), Some(cache)) if frame.live => {
                                    cache.text(key, frame.event.position().get(), write)
                                }
                                _ => write().map(Arc::from),
                            }
                        }
                        Err(error) => Err(plan.error(error)),
                    };
                    match text {
                        Ok(text) => texts.push(text),
                        Err(error) => {
                            standing_in(&mut texts, &mut responses);
                            responses.push(Response::from_errors(vec![error]));
                        }
                    }
                }
                standing_in(&mut texts, &mut responses);
                let app = Arc::clone(&app);
                futures::stream::iter(responses.into_iter().map(move |response| streamed(&app, response)))
            })
            .boxed()
    }
}

/// The most frames of one subscription written directly that one response stands for: what is
/// ready at once – a replay's chunk, read ahead – up to this many; a live event comes alone. The
/// engine's work per response (the response, its `next` message, `Book` finding the texts) was
/// most of a replay's sending; at 256 frames a response it is negligible (BENCHMARKS.md,
/// session 27), and a stalled client's batch stays small.
const DIRECT_BATCH: usize = 256;

/// A response of a subscription's stream as it is handed out: with its codes, unless the
/// projections it was computed from failed to read a record meanwhile (`App::health`).
fn streamed(app: &crate::app::App, response: Response) -> Response {
    match app.health() {
        Ok(()) => coded(response),
        Err(e) => Response::from_errors(vec![server_error(e)]),
    }
}

/// A request-wide error (no location in the document), with its code.
pub(crate) fn server_error(error: ApiError) -> ServerError {
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions.get_or_insert_with(Default::default).set("code", error.code.as_str());
    server_error
}

/// One request's deadline and response-size account, shared by its resolvers through the request's
/// data.
#[derive(Debug)]
pub(super) struct Budget {
    bounds: RequestBounds,
    /// Bytes of JSON the answer certainly has, from the county-wide lists resolved so far
    /// ([`account_list`]): never more than [`json_size`] of the final answer.
    spent: AtomicUsize,
    /// The size was exceeded: every later resolver that reaches the application fails at once.
    over: AtomicBool,
    /// The deadline was seen to pass.
    late: AtomicBool,
}

impl Budget {
    fn new(bounds: RequestBounds) -> Self {
        Self { bounds, spent: AtomicUsize::new(0), over: AtomicBool::new(false), late: AtomicBool::new(false) }
    }

    /// Fails once the deadline has passed or the answer is already too large.
    fn check(&self) -> Result<(), ApiError> {
        if self.over.load(Ordering::Relaxed) {
            return Err(self.too_large());
        }
        if Instant::now() >= self.bounds.deadline {
            self.late.store(true, Ordering::Relaxed);
            return Err(Self::timeout());
        }
        Ok(())
    }

    /// Adds bytes the answer certainly has; fails when that makes it too large.
    fn spend(&self, bytes: usize) -> Result<(), ApiError> {
        let spent = self.spent.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        if spent > self.bounds.max_response_bytes {
            self.over.store(true, Ordering::Relaxed);
            return Err(self.too_large());
        }
        Ok(())
    }

    fn timeout() -> ApiError {
        ApiError::new(
            Code::Timeout,
            "the request's deadline passed before its answer was ready, and its work was stopped; ask for less per request",
        )
    }

    fn too_large(&self) -> ApiError {
        ApiError::new(
            Code::ResponseTooLarge,
            format!(
                "the answer would be larger than the {} bytes this server sends; ask for fewer fields, fewer aliases or fewer county-wide lists per request, or page through `events`",
                self.bounds.max_response_bytes
            ),
        )
    }

    fn timed_out(&self) -> Response {
        self.late.store(true, Ordering::Relaxed);
        Response::from_errors(vec![server_error(Self::timeout())])
    }

    /// The response as sent: one error instead of a partial answer when a bound was hit, and when
    /// the finished answer is over the size (the authority on size: [`json_size`] of its data).
    fn finish(&self, response: Response) -> Response {
        if self.over.load(Ordering::Relaxed) {
            Response::from_errors(vec![server_error(self.too_large())])
        } else if self.late.load(Ordering::Relaxed) {
            self.timed_out()
        } else if json_size(&response.data) > self.bounds.max_response_bytes {
            self.over.store(true, Ordering::Relaxed);
            Response::from_errors(vec![server_error(self.too_large())])
        } else {
            response
        }
    }
}

/// Holds a resolver to its request's [`Budget`]: fails once the deadline has passed or the answer
/// is known to be too large. Called by `schema::app`, so by every resolver that reaches the
/// application; a request without a budget (a subscription's) is not held.
pub(super) fn check(ctx: &Context<'_>) -> Result<(), ApiError> {
    match ctx.data_opt::<Arc<Budget>>() {
        Some(budget) => budget.check(),
        None => Ok(()),
    }
}

/// Accounts a county-wide list of `items` objects before the engine resolves them, so that a
/// request whose answer is certainly over the size stops at once instead of building it: each item
/// takes at least its braces, a comma, and for every response key written directly in the field's
/// selection (not in a fragment, which may not apply to the item's type) the key and one byte of
/// value. A lower bound of what [`json_size`] gives the finished list, so it never refuses an
/// answer that [`Budget::finish`] would send. Only root fields call it, so that no two accounts
/// cover the same part of an answer.
pub(super) fn account_list(ctx: &Context<'_>, items: usize) -> Result<(), ApiError> {
    let Some(budget) = ctx.data_opt::<Arc<Budget>>() else { return Ok(()) };
    let per_item = least_object_size(&ctx.item.node.selection_set.node) + 1;
    budget.spend(items.saturating_mul(per_item))
}

/// The fewest bytes [`json_size`] gives an object answering `set`.
fn least_object_size(set: &SelectionSet) -> usize {
    let keys: HashSet<&str> = set
        .items
        .iter()
        .filter_map(|item| match &item.node {
            Selection::Field(field) => Some(field.node.response_key().node.as_str()),
            Selection::FragmentSpread(_) | Selection::InlineFragment(_) => None,
        })
        .collect();
    2 + keys.iter().map(|key| key.len() + 5).sum::<usize>()
}

/// About how many bytes `value` takes as JSON (escapes aside).
fn json_size(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            // Integers by their digits, without formatting them (a county-wide answer has thousands).
            (Some(u), _) => digits(u),
            (None, Some(i)) => 1 + digits(i.unsigned_abs()),
            (None, None) => n.to_string().len(),
        },
        Value::String(s) => s.len() + 2,
        Value::Enum(e) => e.len() + 2,
        Value::Binary(b) => b.len() * 4 / 3 + 4,
        Value::List(items) => 2 + items.iter().map(|v| json_size(v) + 1).sum::<usize>(),
        Value::Object(fields) => 2 + fields.iter().map(|(k, v)| k.len() + 4 + json_size(v)).sum::<usize>(),
    }
}

/// The decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

#[cfg(test)]
mod tests {
    use async_graphql::extensions::apollo_persisted_queries::CacheStorage;

    use super::*;

    #[test]
    fn the_size_estimate_is_close_to_the_json() {
        let json = serde_json::json!({"a": [1, "two", null, true, {"b": "ccc"}], "dd": 12.5});
        let value = Value::from_json(json.clone()).expect("a GraphQL value");
        let estimate = json_size(&value);
        let exact = json.to_string().len();
        assert!(estimate >= exact && estimate <= exact * 2, "estimate {estimate} for {exact} bytes");
    }

    #[test]
    fn a_budget_fails_past_its_deadline_and_past_its_size_and_the_response_becomes_one_error() {
        let late = Budget::new(RequestBounds { deadline: Instant::now(), max_response_bytes: 100 });
        assert_eq!(late.check().map_err(|e| e.code), Err(Code::Timeout));
        let response = late.finish(Response::new(Value::Null));
        assert_eq!(response.errors.len(), 1);

        let later = Instant::now() + std::time::Duration::from_secs(60);
        let small = Budget::new(RequestBounds { deadline: later, max_response_bytes: 100 });
        assert!(small.spend(60).is_ok());
        assert_eq!(small.spend(60).map_err(|e| e.code), Err(Code::ResponseTooLarge));
        assert_eq!(small.check().map_err(|e| e.code), Err(Code::ResponseTooLarge), "every later field fails");
        let response = small.finish(Response::new(Value::Null));
        assert!(response.errors[0].message.contains("100 bytes"), "{:?}", response.errors);
    }

    #[test]
    fn a_finished_answer_over_the_size_becomes_one_error_and_one_within_it_is_sent_as_it_is() {
        let later = Instant::now() + std::time::Duration::from_secs(60);
        let budget = Budget::new(RequestBounds { deadline: later, max_response_bytes: 100 });
        let data = |n: usize| {
            let items: Vec<_> = (0..n).map(|i| serde_json::json!({"id": format!("agreement-{i}")})).collect();
            Response::new(Value::from_json(serde_json::json!({"agreements": items})).expect("a GraphQL value"))
        };
        let small = budget.finish(data(2));
        assert!(small.errors.is_empty(), "{:?}", small.errors);
        let large = budget.finish(data(10));
        assert_eq!(large.data, Value::Null);
        assert_eq!(large.errors.len(), 1);
        assert!(large.errors[0].message.contains("100 bytes"), "{:?}", large.errors);
    }

    #[test]
    fn the_least_size_of_a_listed_object_is_never_more_than_its_estimate() {
        let document =
            async_graphql::parser::parse_query("{ agreements { id id t: title ...F ... on Agreement { kind } } }")
                .expect("parses");
        let Some((_, operation)) = document.operations.iter().next() else { panic!("one operation") };
        let Selection::Field(field) = &operation.node.selection_set.node.items[0].node else { panic!("a field") };
        let least = least_object_size(&field.node.selection_set.node);
        // `id` once (merged), `t` aliased; the fragments may not apply, so they are not counted.
        assert_eq!(least, 2 + (2 + 5) + (1 + 5));
        let smallest = serde_json::json!({"id": 1, "t": 2});
        assert_eq!(json_size(&Value::from_json(smallest).expect("a GraphQL value")), least);
    }

    #[tokio::test]
    async fn a_request_sent_by_its_hash_is_priced_by_the_persisted_document() {
        let store = PersistedQueries::new();
        let heavy = "{ a: agreements { id } b: agreements { id } }";
        let by_hash = |hash: &str| {
            let mut request = Request::new("");
            let persisted = serde_json::json!({"version": 1, "sha256Hash": hash});
            request.extensions.insert("persistedQuery".to_owned(), Value::from_json(persisted).expect("value"));
            request
        };
        let check = |request| super::super::checks::check(&store, u64::MAX, request, None);
        let unknown = check(by_hash("abc123")).await.err().expect("an unknown hash is refused");
        assert_eq!(unknown.errors[0].message, "PersistedQueryNotFound");
        let document = async_graphql::parser::parse_query(heavy).expect("parses");
        store.set("abc123".to_owned(), document).await;
        let Ok(found) = check(by_hash("abc123")).await else { panic!("the stored document") };
        assert!(found.price >= super::super::cost::HEAVY_BASE, "priced as heavy work");
        let Ok(text) = check(Request::new(heavy)).await else { panic!("a text is parsed") };
        assert_eq!(text.price, found.price);
    }
}
