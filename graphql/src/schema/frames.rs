//! Shared subscription frames: an event of the `events` subscription is resolved once per distinct
//! subscription (document, operation name and variables), and every subscriber of that subscription
//! gets a copy of the same resolved value instead of resolving the event through GraphQL again.
//!
//! Each subscriber still follows the log with its own cursor (`events.rs`), so order, gaps and
//! slow consumers are exactly as without sharing: what is shared is only the work of turning the
//! event at a position into the value of the subscription's selection. The async-graphql engine
//! still runs every subscription and speaks the protocol; [`Frame`] is the stream's item type, and
//! its resolution looks in the [`FrameCache`] first.
//!
//! A selection of plain fields (the scalars of `Event`, with aliases, without arguments or
//! directives) is built directly from the event, without async-graphql's per-field machinery.
//! Anything else resolves as `Event` does. Over the WebSocket, a plain selection goes further: its
//! frames are written as JSON text without the engine (`direct.rs`), and the cache shares those
//! texts the same way.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, Request, ScalarType, ServerResult, Value};
use ledger::RecordedEvent;

use super::event::Event;
use super::scalars::{Date, DateTime};

/// How many resolved frames the cache keeps (the oldest goes first). A subscriber that reads an
/// event after its frame left the cache resolves it again; nothing else depends on the bound.
const CACHE_ENTRIES: usize = 4096;

/// What identifies a subscription whose frames can be shared: its document, operation name and
/// variables. Set by the WebSocket layer on a subscription request ([`share_frames`]).
///
/// Invariant: nothing in the resolution of `Event` depends on the caller. Who may read is checked
/// when the subscription starts and, for a token, before every event (`events.rs`), outside what is
/// shared. A field that came to depend on the caller would have to put the caller's role in the key.
#[derive(Debug, Clone)]
pub(crate) struct FrameKey {
    text: Arc<str>,
    /// The text's hash, taken once: the cache is asked once per subscriber and event, and the
    /// text holds the whole document.
    hash: u64,
}

impl PartialEq for FrameKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.text, &other.text) || self.text == other.text
    }
}

impl Eq for FrameKey {}

impl std::hash::Hash for FrameKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl FrameKey {
    fn new(text: String) -> Self {
        use std::hash::BuildHasher;
        // One random state for the process: equal texts hash alike, and a client cannot choose
        // documents that collide.
        static STATE: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
        let hash = STATE.get_or_init(std::hash::RandomState::new).hash_one(&text);
        Self { text: text.into(), hash }
    }

    /// The key of a subscription request, or `None` when its frames are not shared: an
    /// `inclusionProof` depends on the checkpoint at the time it is resolved (its default tree
    /// size), so a document asking for one resolves every event itself, and so does a request
    /// sent by its persisted hash alone.
    fn of(request: &Request) -> Option<Self> {
        // A request sent by its hash alone (persisted query) has no text here to key on.
        let document = request.query.as_str();
        if document.trim().is_empty() || document.contains("inclusionProof") {
            return None;
        }
        let variables = serde_json::to_string(&request.variables).ok()?;
        let name = request.operation_name.as_deref().unwrap_or("");
        Some(Self::new(format!("{name}\u{0}{variables}\u{0}{document}")))
    }
}

/// Marks a subscription request so that its frames are shared with the other subscribers of the
/// same document and variables.
pub(crate) fn share_frames(request: Request) -> Request {
    match FrameKey::of(&request) {
        Some(key) => request.data(key),
        None => request,
    }
}

/// The frames resolved recently, by subscription and position: values resolved through the schema,
/// and texts written directly (`direct.rs`). Schema data: one per schema.
#[derive(Debug, Default)]
pub(crate) struct FrameCache {
    values: Mutex<CacheInner<Value>>,
    texts: Mutex<CacheInner<Arc<str>>>,
}

#[derive(Debug)]
struct CacheInner<V> {
    frames: HashMap<(FrameKey, u64), V>,
    /// Insertion order, for eviction. Invariant: holds exactly the keys of `frames`.
    order: VecDeque<(FrameKey, u64)>,
}

impl<V> Default for CacheInner<V> {
    fn default() -> Self {
        Self { frames: HashMap::new(), order: VecDeque::new() }
    }
}

impl<V: Clone> CacheInner<V> {
    fn get(&self, key: &FrameKey, position: u64) -> Option<V> {
        self.frames.get(&(key.clone(), position)).cloned()
    }

    fn put(&mut self, key: &FrameKey, position: u64, value: &V) {
        let entry = (key.clone(), position);
        if self.frames.contains_key(&entry) {
            return;
        }
        self.frames.insert(entry.clone(), value.clone());
        self.order.push_back(entry);
        while self.order.len() > CACHE_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.frames.remove(&old);
            }
        }
    }
}

/// The maps survive a panic elsewhere while they were held: each entry is a complete frame.
fn lock<V>(inner: &Mutex<CacheInner<V>>) -> std::sync::MutexGuard<'_, CacheInner<V>> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FrameCache {
    fn get(&self, key: &FrameKey, position: u64) -> Option<Value> {
        lock(&self.values).get(key, position)
    }

    fn put(&self, key: &FrameKey, position: u64, value: &Value) {
        lock(&self.values).put(key, position, value);
    }

    /// The text of a live frame (`direct.rs`), written by `write` unless a subscriber of the same
    /// subscription wrote it already. A write that fails is not kept.
    pub(crate) fn text<E>(
        &self,
        key: &FrameKey,
        position: u64,
        write: impl FnOnce() -> Result<String, E>,
    ) -> Result<Arc<str>, E> {
        if let Some(text) = lock(&self.texts).get(key, position) {
            return Ok(text);
        }
        // Written outside the lock: two subscribers may both write it, and the first kept wins.
        let text: Arc<str> = write()?.into();
        lock(&self.texts).put(key, position, &text);
        Ok(text)
    }

    /// How many frames it holds (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        lock(&self.values).frames.len() + lock(&self.texts).frames.len()
    }
}

/// An event as an item of the `events` subscription: GraphQL type `Event`, resolved through the
/// [`FrameCache`] when the subscription has a [`FrameKey`] and the event is `live`.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub event: Arc<RecordedEvent>,
    /// The event is one of those applied last, which every subscriber following the head reads at
    /// about the same time: its frame is worth sharing. A frame of a catch-up replay (an older
    /// event, read by one subscriber at its own pace) is resolved without the cache, which it
    /// would only churn.
    pub live: bool,
}

/// An item of the `events` subscription's stream as it follows the log (`events.rs`): an event,
/// or – during a replay whose frames are written directly (`direct.rs`) – its frame's text (or the
/// error its writing gave), written on the thread that read the event, which also lets the event
/// go there.
pub(crate) enum Item {
    Event(Frame),
    Written(Result<Arc<str>, async_graphql::ServerError>),
}

impl OutputType for Frame {
    fn type_name() -> Cow<'static, str> {
        <Event as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Event as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let position = self.event.position().get();
        let shared = ctx.data_opt::<FrameKey>().zip(ctx.data_opt::<FrameCache>()).filter(|_| self.live);
        if let Some((key, cache)) = shared {
            if let Some(value) = cache.get(key, position) {
                return Ok(value);
            }
        }
        let value = match plain(&ctx.item.node, &self.event) {
            Some(value) => value,
            None => Event(Arc::clone(&self.event)).resolve(ctx, field).await?,
        };
        // Only a value resolved without error gets here: every fallible field of `Event` is
        // non-null, so its error fails the whole value (`?` above) rather than leaving a null and
        // an error beside it that a copy would lose.
        if let Some((key, cache)) = shared {
            cache.put(key, position, &value);
        }
        Ok(value)
    }
}

/// One field of a plain selection of `Event`: what [`plain`] builds a value of, and what the
/// frames written directly (`direct.rs`) write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plain {
    Typename,
    Id,
    Position,
    Stream,
    StreamVersion,
    Type,
    Effective,
    RecordedAt,
    RecordedBy,
    PrevHash,
    Hash,
    Data,
}

impl Plain {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "__typename" => Self::Typename,
            "id" => Self::Id,
            "position" => Self::Position,
            "stream" => Self::Stream,
            "streamVersion" => Self::StreamVersion,
            "type" => Self::Type,
            "effective" => Self::Effective,
            "recordedAt" => Self::RecordedAt,
            "recordedBy" => Self::RecordedBy,
            "prevHash" => Self::PrevHash,
            "hash" => Self::Hash,
            "data" => Self::Data,
            _ => return None,
        })
    }

    /// The selection item as a plain field: a field of `Event` that is a scalar (or `data`), with
    /// no arguments, directives or selection of its own; `None` for anything else (a fragment, a
    /// nested object, `inclusionProof`, …), which is the engine's to resolve.
    pub(super) fn field(item: &Positioned<Selection>) -> Option<(&Positioned<Field>, Self)> {
        let Selection::Field(field) = &item.node else { return None };
        let node = &field.node;
        if !node.arguments.is_empty() || !node.directives.is_empty() || !node.selection_set.node.items.is_empty() {
            return None;
        }
        Some((field, Self::of(node.name.node.as_str())?))
    }

    /// The field's value for `event`, as `Event`'s resolver gives it; `None` for data that cannot
    /// be shown as JSON (the resolver reports that).
    pub(super) fn value(self, event: &RecordedEvent) -> Option<Value> {
        Some(match self {
            Self::Typename => Value::String("Event".to_owned()),
            Self::Id => Value::String(event.id().to_string()),
            Self::Position => Value::from(event.position().get()),
            Self::Stream => Value::String(event.stream().as_str().to_owned()),
            Self::StreamVersion => Value::from(event.stream_version()),
            Self::Type => Value::String(event.type_name().to_owned()),
            Self::Effective => Date(event.effective()).to_value(),
            Self::RecordedAt => DateTime(event.recorded_at()).to_value(),
            Self::RecordedBy => Value::String(event.recorded_by().to_owned()),
            Self::PrevHash => Value::String(event.prev_hash().to_string()),
            Self::Hash => Value::String(event.hash().to_string()),
            Self::Data => async_graphql::to_value(event.data().to_json().ok()?).ok()?,
        })
    }
}

/// The selection's value built directly from the event, when the selection is plain fields of
/// `Event` (scalars, aliases allowed, no arguments, directives or fragments); `None` otherwise.
/// Invariant: the value equals what `Event`'s resolvers give (a unit test compares the two).
fn plain(selection: &SelectionSet, event: &RecordedEvent) -> Option<Value> {
    let mut map = IndexMap::with_capacity(selection.items.len());
    for item in &selection.items {
        let (field, plain) = Plain::field(item)?;
        // An event whose data cannot be shown takes the resolvers' way, which reports it.
        let value = plain.value(event)?;
        if map.insert(field.node.response_key().node.clone(), value).is_some() {
            // The same response key twice: validation allows it only for the same field, but the
            // merging rules are the engine's to apply.
            return None;
        }
    }
    Some(Value::Object(map))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn request(query: &str, from: u64) -> Request {
        Request::new(query).variables(async_graphql::Variables::from_json(serde_json::json!({"from": from})))
    }

    #[test]
    fn the_key_is_the_document_and_variables_and_an_inclusion_proof_is_never_shared() {
        let q = "subscription($from: Int) { events(fromPosition: $from) { id position } }";
        let a = FrameKey::of(&request(q, 1)).map(|k| k.text);
        assert_eq!(a, FrameKey::of(&request(q, 1)).map(|k| k.text));
        assert_ne!(a, FrameKey::of(&request(q, 2)).map(|k| k.text));
        assert_ne!(a, FrameKey::of(&request(&q.replace("position", "hash"), 1)).map(|k| k.text));
        let proof = "subscription { events { id inclusionProof { treeSize } } }";
        assert!(FrameKey::of(&Request::new(proof)).is_none());
        assert!(FrameKey::of(&Request::new("")).is_none());
    }

    /// An application with two recorded events, and its schema.
    async fn schema_with_events() -> (tempfile::TempDir, crate::schema::AppSchema) {
        let (dir, schema, _) = schema_and_ledger().await;
        (dir, schema)
    }

    /// [`schema_with_events`], and the ledger under it (no follower runs: an event appended to the
    /// ledger directly is not applied to the projections).
    pub(in crate::schema) async fn schema_and_ledger() -> (tempfile::TempDir, crate::schema::AppSchema, ledger::Ledger)
    {
        use crate::app::{App, AppConfig, Caller, Command, Role, TokenStore, record};
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = ledger::Ledger::open(dir.path().join("ledger"), ledger::LedgerConfig::default()).expect("ledger");
        let tokens = Arc::new(TokenStore::open(dir.path()).expect("tokens"));
        let app = App::new(ledger.clone(), tokens, AppConfig::default()).expect("app");
        let caller = Caller::Token { name: "test".to_owned(), role: Role::Secretariat };
        for party in ["nacka", "solna"] {
            let command = Command {
                type_name: "PartyRegistered".to_owned(),
                data: serde_json::json!({"party": party, "name": format!("{party} kommun"), "kind": "MUNICIPALITY"}),
                effective: ledger::Date::from_ymd(2021, 1, 1).expect("date"),
                source: None,
                event_id: None,
            };
            record(&app, &caller, command, None).await.expect("recorded");
        }
        let schema = crate::schema::build_schema(app, crate::schema::SchemaLimits::default());
        (dir, schema, ledger)
    }

    /// The first `n` frames of a subscription, as JSON.
    async fn frames(schema: &crate::schema::AppSchema, request: Request, n: usize) -> Vec<serde_json::Value> {
        use futures::StreamExt;
        let stream = schema.execute_stream(request).take(n).collect::<Vec<_>>();
        let responses = tokio::time::timeout(std::time::Duration::from_secs(30), stream).await.expect("frames in time");
        responses
            .into_iter()
            .map(|r| {
                assert!(r.errors.is_empty(), "{:?}", r.errors);
                r.data.into_json().expect("JSON")
            })
            .collect()
    }

    /// Every plain field of `Event` (`direct::Plain`).
    pub(in crate::schema) const FIELDS: [&str; 12] = [
        "__typename",
        "id",
        "position",
        "stream",
        "streamVersion",
        "type",
        "effective",
        "recordedAt",
        "recordedBy",
        "prevHash",
        "hash",
        "data",
    ];

    #[tokio::test]
    async fn plain_fields_built_directly_equal_what_the_resolvers_give_and_are_shared() {
        let (_dir, schema) = schema_with_events().await;
        // `@include(if: true)` changes nothing in the answer but takes the resolvers' way.
        let fast = format!("subscription {{ events(fromPosition: 1) {{ {} alias: position }} }}", FIELDS.join(" "));
        let slow = format!(
            "subscription {{ events(fromPosition: 1) {{ {} alias: position }} }}",
            FIELDS.map(|f| format!("{f} @include(if: true)")).join(" ")
        );
        let direct = frames(&schema, Request::new(fast.clone()), 2).await;
        let resolved = frames(&schema, Request::new(slow), 2).await;
        assert_eq!(direct, resolved);
        assert_eq!(direct[1]["events"]["alias"], 2);
        assert_eq!(direct[1]["events"]["data"]["party"], "solna");

        // Shared: the second subscriber of the same document gets the frames the first resolved.
        let cache = schema.data::<FrameCache>().expect("cache");
        assert_eq!(cache.len(), 0, "nothing is shared without a key");
        let first = frames(&schema, share_frames(Request::new(fast.clone())), 2).await;
        assert_eq!(cache.len(), 2);
        let second = frames(&schema, share_frames(Request::new(fast)), 2).await;
        assert_eq!((first, second.clone()), (direct.clone(), direct));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_live_frames_text_is_written_once_per_subscription_and_shared() {
        let cache = FrameCache::default();
        let key = FrameKey::new("k".into());
        let first = cache.text(&key, 7, || Ok::<_, ()>("{\"events\":{}}".to_owned())).expect("written");
        // The same subscription and position: the text kept is handed out, nothing is written.
        let again = cache.text(&key, 7, || -> Result<String, ()> { panic!("written twice") }).expect("kept");
        assert!(Arc::ptr_eq(&first, &again));
        // Another subscription, or another position, is written on its own.
        let other = cache.text(&FrameKey::new("other".into()), 7, || Ok::<_, ()>("x".to_owned())).expect("written");
        assert_eq!(&*other, "x");
        // A write that fails is not kept: the next subscriber writes it.
        assert_eq!(cache.text(&key, 8, || Err::<String, _>("no")), Err("no"));
        assert_eq!(&*cache.text(&key, 8, || Ok::<_, &str>("y".to_owned())).expect("written"), "y");
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn the_cache_keeps_the_newest_frames_within_its_bound() {
        let cache = FrameCache::default();
        let key = FrameKey::new("k".into());
        for position in 1..=(CACHE_ENTRIES as u64 + 10) {
            cache.put(&key, position, &Value::from(position));
        }
        assert_eq!(cache.len(), CACHE_ENTRIES);
        assert_eq!(cache.get(&key, 1), None);
        assert_eq!(cache.get(&key, CACHE_ENTRIES as u64 + 10), Some(Value::from(CACHE_ENTRIES as u64 + 10)));
        assert_eq!(cache.get(&FrameKey::new("other".into()), CACHE_ENTRIES as u64 + 10), None);
        // Equal texts are one key, however many times the key was made.
        assert!(cache.get(&FrameKey::new("k".into()), CACHE_ENTRIES as u64 + 10).is_some());
    }
}
