//! Running a request within its bounds (issue 20): off the async workers, until its deadline, up to
//! a response size.
//!
//! The resolvers fold projections synchronously, and a county-wide fold over a large ledger takes
//! seconds; run on the runtime's workers, four such requests left `/healthz` unanswered and went on
//! computing past the request's timeout. So every query and subscription-less operation runs on a
//! blocking thread (mutations stay on the workers: they wait for the write lock and the disk, they
//! do not compute), behind one of two semaphores: a few permits for documents priced as heavy work
//! (a county-wide list or a log scan, `cost.rs`), more for the rest, so a small query never waits
//! behind a heavy one. Waiting for a permit counts against the deadline.
//!
//! The [`Bounded`] extension checks the deadline before every field and counts the size of every
//! answered leaf: past the deadline, or over the size, each remaining field fails at once, so the
//! work stops within one resolver's time of either, and the response becomes one error
//! (`TIMEOUT` or `RESPONSE_TOO_LARGE`) instead of a partial answer. The HTTP layer answers 408 at the
//! deadline itself; this is what makes the detached work stop soon after.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Name, Request, Response, ServerError, ServerResult, Value};
use tokio::sync::Semaphore;

use super::{AppSchema, PersistedQueries};
use crate::error::{ApiError, Code};
use async_graphql::extensions::apollo_persisted_queries::CacheStorage;

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

/// Runs GraphQL requests off the async workers, within their [`RequestBounds`].
#[derive(Clone)]
pub(crate) struct Executor {
    schema: AppSchema,
    /// The schema's persisted documents: a request sent by its hash alone is priced by the
    /// document the hash stands for, so a heavy document cannot take a light permit.
    persisted: PersistedQueries,
    heavy: Arc<Semaphore>,
    light: Arc<Semaphore>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("heavy", &self.heavy).field("light", &self.light).finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor over a schema (built with [`super::build_schema`], which installs [`Bounded`]).
    pub(crate) fn new(schema: AppSchema, pools: Pools, persisted: PersistedQueries) -> Self {
        Self {
            schema,
            persisted,
            heavy: Arc::new(Semaphore::new(pools.heavy.max(1))),
            light: Arc::new(Semaphore::new(pools.light.max(1))),
        }
    }

    /// The schema it executes.
    pub(crate) fn schema(&self) -> &AppSchema {
        &self.schema
    }

    /// Executes a request within `bounds`. Never runs past the deadline by more than one resolver's
    /// time; a caller that stops waiting (a timed-out HTTP request) leaves the work to stop by
    /// itself at the deadline.
    pub(crate) async fn execute(&self, mut request: Request, bounds: RequestBounds) -> Response {
        let budget = Arc::new(Budget::new(bounds));
        let operation_name = request.operation_name.clone();
        let classify = |document: &ExecutableDocument| {
            (super::cost::price(document) >= super::cost::HEAVY_BASE, is_mutation(document, operation_name.as_deref()))
        };
        let (heavy, mutation) = match request.parsed_query() {
            Ok(document) => classify(document),
            // No text: a persisted query sent by its hash, priced by its document; else not even
            // parsed, which async-graphql refuses at once with its own message.
            Err(_) => match persisted_document(&self.persisted, &request).await {
                Some(document) => classify(&document),
                None => (false, false),
            },
        };
        let request = request.data(Arc::clone(&budget));
        if mutation && !heavy {
            return budget.finish(self.schema.execute(request).await);
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
            Ok(response) => budget.finish(response),
            Err(e) => Response::from_errors(vec![server_error(ApiError::internal(&e))]),
        }
    }
}

impl Executor {
    /// Whether a request is a subscription, by its text or, sent by its hash alone, by the
    /// persisted document. A request that is neither parsed nor persisted is not (async-graphql
    /// refuses it with its own message wherever it goes).
    pub(crate) async fn is_subscription(&self, request: &mut Request) -> bool {
        let name = request.operation_name.clone();
        let kind = match request.parsed_query() {
            Ok(document) => operation_type(document, name.as_deref()),
            Err(_) => match persisted_document(&self.persisted, request).await {
                Some(document) => operation_type(&document, name.as_deref()),
                None => None,
            },
        };
        kind == Some(OperationType::Subscription)
    }
}

/// The persisted document a text-less request names by its hash, if the store has it.
async fn persisted_document(store: &PersistedQueries, request: &Request) -> Option<ExecutableDocument> {
    if !request.query.trim().is_empty() {
        return None;
    }
    let Some(Value::Object(persisted)) = request.extensions.get("persistedQuery") else { return None };
    let Some(Value::String(hash)) = persisted.get("sha256Hash") else { return None };
    store.get(hash.clone()).await
}

/// Whether the operation a request names (or its only one) is a mutation.
fn is_mutation(document: &ExecutableDocument, name: Option<&str>) -> bool {
    operation_type(document, name) == Some(OperationType::Mutation)
}

/// The type of the operation a request names (or of its only one); `None` when it names none
/// that the document has.
fn operation_type(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(&Name::new(name)),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation.map(|op| op.node.ty)
}

/// A request-wide error (no location in the document), with its code.
fn server_error(error: ApiError) -> ServerError {
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions.get_or_insert_with(Default::default).set("code", error.code.as_str());
    server_error
}

/// One request's deadline and response-size account, shared by its resolvers.
#[derive(Debug)]
struct Budget {
    bounds: RequestBounds,
    /// Estimated bytes of JSON answered so far.
    spent: AtomicUsize,
    /// The size was exceeded: every later field fails at once.
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

    /// Adds an answered field's bytes; fails when that makes the answer too large.
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

    /// The response as sent: one error instead of a partial answer when a bound was hit.
    fn finish(&self, response: Response) -> Response {
        if self.over.load(Ordering::Relaxed) {
            Response::from_errors(vec![server_error(self.too_large())])
        } else if self.late.load(Ordering::Relaxed) {
            self.timed_out()
        } else {
            response
        }
    }
}

/// The schema extension that holds every field of a request to its [`Budget`] (a request without
/// one, such as a subscription's over the WebSocket, is not held).
#[derive(Debug)]
pub(crate) struct Bounded;

impl ExtensionFactory for Bounded {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Bounded)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Bounded {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let Some(budget) = ctx.data_opt::<Arc<Budget>>() else {
            return next.run(ctx, info).await;
        };
        let fail = |e: ApiError| async_graphql::Error::from(e).into_server_error(async_graphql::Pos::default());
        budget.check().map_err(fail)?;
        let name = info.alias.unwrap_or(info.name).len();
        // An object's fields are counted as they are resolved; a leaf (a scalar, an enum, a JSON
        // value, a list of them) is counted whole here.
        let leaf = info.field.selection_set.node.items.is_empty();
        let value = next.run(ctx, info).await?;
        let bytes = name + 4 + if leaf { value.as_ref().map_or(4, json_size) } else { 0 };
        budget.spend(bytes).map_err(fail)?;
        Ok(value)
    }
}

/// About how many bytes `value` takes as JSON (escapes aside).
fn json_size(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => s.len() + 2,
        Value::Enum(e) => e.len() + 2,
        Value::Binary(b) => b.len() * 4 / 3 + 4,
        Value::List(items) => 2 + items.iter().map(|v| json_size(v) + 1).sum::<usize>(),
        Value::Object(fields) => 2 + fields.iter().map(|(k, v)| k.len() + 4 + json_size(v)).sum::<usize>(),
    }
}

#[cfg(test)]
mod tests {
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

    #[tokio::test]
    async fn a_request_sent_by_its_hash_is_priced_by_the_persisted_document() {
        let store = PersistedQueries::new();
        let heavy = "{ a: agreements { id } b: agreements { id } }";
        let document = async_graphql::parser::parse_query(heavy).expect("parses");
        store.set("abc123".to_owned(), document).await;
        let by_hash = |hash: &str| {
            let mut request = Request::new("");
            let persisted = serde_json::json!({"version": 1, "sha256Hash": hash});
            request.extensions.insert("persistedQuery".to_owned(), Value::from_json(persisted).expect("value"));
            request
        };
        let found = persisted_document(&store, &by_hash("abc123")).await.expect("the stored document");
        assert!(super::super::cost::price(&found) >= super::super::cost::HEAVY_BASE, "priced as heavy work");
        assert!(persisted_document(&store, &by_hash("unknown")).await.is_none());
        assert!(persisted_document(&store, &Request::new(heavy)).await.is_none(), "a text is parsed, not looked up");
    }
}
