//! Answers kept by question: the serialized body of a successful GraphQL query over HTTP, reused
//! for the same question asked again while nothing it rests on has changed – the same request
//! (document, operation, variables, extensions), the same caller, the same applied ledger head and
//! the same day (the default of `at`). A dashboard polling a county-wide list then gets the bytes
//! already written instead of having the engine resolve 17,000 objects again.
//!
//! Only what is a pure function of those is kept: a query whose root fields are all in
//! [`PURE_ROOT_FIELDS`] (the projections' answers; not `ledger`, whose verification state changes
//! without a new event, nor the transparency fields, whose cosignatures do), without errors, without
//! HTTP headers or cache hints set by a resolver, and only if the head and the day were the same
//! before and after it ran and the clock was past the head's record time (so that "as known now"
//! saw every event up to the head). Answers smaller than [`KEEP_FROM`] are cheap to give again and
//! are not kept. An answer is kept gzip-compressed ([`Answer`]), as the compression layer would
//! send it: a county-wide list shrinks about tenfold, so ten times as many fit, and a client that
//! accepts gzip gets the kept bytes as they are. Memory is bounded by [`BUDGET`] of compressed
//! bytes (see [`Answers::keep`] for what goes first), and every answer of an older head goes as
//! soon as a newer one is kept.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Mutex;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use bytes::Bytes;

use crate::app::Caller;
use crate::schema::selected_operation;

/// The root fields whose answers depend only on the applied ledger, the request and the day.
const PURE_ROOT_FIELDS: &[&str] = &[
    "__typename",
    "agreement",
    "agreements",
    "agreementsConnection",
    "bodies",
    "case",
    "cases",
    "changes",
    "coordinators",
    "deadlines",
    "decision",
    "decisions",
    "event",
    "events",
    "findings",
    "followUp",
    "group",
    "groups",
    "parties",
    "party",
    "priorityAreas",
    "problem",
    "problems",
    "stateFunds",
    "statutoryDuties",
    "statutoryDuty",
];

/// The smallest answer kept, in bytes.
pub(crate) const KEEP_FROM: usize = 16 << 10;

/// At most how many compressed bytes of answers are kept together: about 250 county-wide lists of
/// the 1M-event benchmark (2.4 MiB each, about 250 KiB compressed), every list of a county's 346
/// agreements many times over.
pub(crate) const BUDGET: usize = 64 << 20;

/// The gzip level: the compression layer's (`http.rs`), so that a kept answer is what it would send.
const GZIP_LEVEL: u32 = 4;

/// A kept answer: its serialized JSON body, gzip-compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    gzip: Bytes,
}

impl Answer {
    /// Compresses a serialized answer.
    pub(crate) fn compress(body: &[u8]) -> std::io::Result<Self> {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 8), flate2::Compression::new(GZIP_LEVEL));
        encoder.write_all(body)?;
        Ok(Self { gzip: Bytes::from(encoder.finish()?) })
    }

    /// The body as sent to a client that accepts gzip (`Content-Encoding: gzip`).
    pub(crate) fn gzip(&self) -> Bytes {
        self.gzip.clone()
    }

    /// The body itself, for a client that does not accept gzip.
    pub(crate) fn plain(&self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(self.gzip.len() * 8);
        flate2::read::GzDecoder::new(&self.gzip[..]).read_to_end(&mut body)?;
        Ok(body)
    }

    fn len(&self) -> usize {
        self.gzip.len()
    }
}

/// Whether a request's `Accept-Encoding` accepts gzip: `gzip` (or `x-gzip`) with a quality above
/// 0, or `*` with one and gzip not refused by name (RFC 9110, section 12.5.3).
pub(crate) fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    let mut named = None;
    let mut any = false;
    for value in headers.get_all(axum::http::header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                named = Some(named.unwrap_or(false) || quality > 0.0);
            } else if coding == "*" {
                any = quality > 0.0;
            }
        }
    }
    named.unwrap_or(any)
}

/// What an answer rests on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// The applied head's position.
    head: u64,
    /// Today (UTC), the default of `at`.
    today: ledger::Date,
    /// The caller as authenticated for this request.
    caller: Caller,
    /// The request: document, operation name, variables and extensions.
    request: String,
}

impl Key {
    /// The key of `request` if its answer may be kept: a query (not a mutation or subscription)
    /// whose root fields are all pure.
    /// `document` is the request's document, parsed (`None`: it does not parse).
    pub(crate) fn of(
        request: &async_graphql::Request,
        document: Option<&ExecutableDocument>,
        caller: &Caller,
        head: u64,
        today: ledger::Date,
    ) -> Option<Self> {
        if !pure_query(document?, request.operation_name.as_deref()) {
            return None;
        }
        let variables = serde_json::to_string(&request.variables).ok()?;
        let extensions = serde_json::to_string(&request.extensions).ok()?;
        let operation = request.operation_name.as_deref().unwrap_or("");
        let text = format!("{}\u{0}{operation}\u{0}{variables}\u{0}{extensions}", request.query);
        Some(Self { head, today, caller: caller.clone(), request: text })
    }

    /// The applied head's position the answer rests on.
    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    /// The day the answer rests on.
    pub(crate) fn today(&self) -> ledger::Date {
        self.today
    }
}

/// Whether the operation `name` (or the only one) of `document`, chosen as async-graphql chooses
/// it, is a query of pure root fields only. A fragment at the root, or no such operation: no.
fn pure_query(document: &ExecutableDocument, name: Option<&str>) -> bool {
    selected_operation(&document.operations, name).is_some_and(|operation| {
        operation.ty == OperationType::Query
            && operation.selection_set.node.items.iter().all(|item| match &item.node {
                Selection::Field(field) => PURE_ROOT_FIELDS.contains(&field.node.name.node.as_str()),
                Selection::FragmentSpread(_) | Selection::InlineFragment(_) => false,
            })
    })
}

#[derive(Debug)]
struct Kept {
    answer: Answer,
    /// When it was kept or last asked for (a tick of [`Answers`]).
    used: u64,
    /// Whether it was asked for again.
    reused: bool,
}

#[derive(Debug, Default)]
struct Inner {
    answers: HashMap<Key, Kept>,
    bytes: usize,
    tick: u64,
    hits: u64,
}

/// The kept answers of one server.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    inner: Mutex<Inner>,
}

impl Answers {
    /// The answer kept for `key`, if any.
    pub(crate) fn get(&self, key: &Key) -> Option<Answer> {
        // A poisoned lock only means a panic mid-update elsewhere: the engine still answers.
        let mut inner = self.inner.lock().ok()?;
        inner.tick += 1;
        let tick = inner.tick;
        let kept = inner.answers.get_mut(key)?;
        kept.used = tick;
        kept.reused = true;
        let answer = kept.answer.clone();
        inner.hits += 1;
        Some(answer)
    }

    /// Keeps `answer` (of a body `plain_len` bytes long) for `key` if it is worth keeping and fits;
    /// returns the bytes kept in all.
    ///
    /// Past the budget, an answer never asked for again goes, the one kept last first; if every
    /// kept answer has been asked for again, the new one is not kept. So a dashboard cycling
    /// through more questions than fit gets most of them from here, where "least recently used"
    /// would evict each just before it is asked again and keep none.
    pub(crate) fn keep(&self, key: Key, plain_len: usize, answer: Answer) -> usize {
        let Ok(mut inner) = self.inner.lock() else { return 0 };
        let inner = &mut *inner;
        if plain_len < KEEP_FROM || answer.len() > BUDGET / 4 {
            return inner.bytes;
        }
        // Answers of an older head are never asked for again.
        inner.answers.retain(|k, _| k.head >= key.head);
        inner.bytes = inner.answers.values().map(|kept| kept.answer.len()).sum();
        while inner.bytes + answer.len() > BUDGET {
            let unused = inner.answers.iter().filter(|(_, kept)| !kept.reused).max_by_key(|(_, kept)| kept.used);
            let Some(last) = unused.map(|(k, _)| k.clone()) else { return inner.bytes };
            if let Some(gone) = inner.answers.remove(&last) {
                inner.bytes -= gone.answer.len();
            }
        }
        inner.tick += 1;
        let used = inner.tick;
        inner.bytes += answer.len();
        if let Some(old) = inner.answers.insert(key, Kept { answer, used, reused: false }) {
            inner.bytes -= old.answer.len();
        }
        inner.bytes
    }

    /// How many answers were given from here, and how many bytes are kept.
    #[cfg(test)]
    fn stats(&self) -> (u64, usize) {
        self.inner.lock().map_or((0, 0), |inner| (inner.hits, inner.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> async_graphql::Request {
        async_graphql::Request::new(query)
    }

    fn parsed(query: &str) -> Option<ExecutableDocument> {
        async_graphql::parser::parse_query(query).ok()
    }

    fn today() -> ledger::Date {
        ledger::Date::from_ymd(2026, 12, 5).expect("date")
    }

    #[test]
    fn only_queries_of_pure_root_fields_are_kept() {
        let key = |q: &str| Key::of(&request(q), parsed(q).as_ref(), &Caller::Anonymous, 7, today());
        assert!(key("{ agreements { id } }").is_some());
        assert!(key("query A { agreements(at: \"2022-01-01\") { id } parties { id } }").is_some());
        assert!(key("{ ledger { position } }").is_none(), "verification state changes without events");
        assert!(key("{ checkpoint { text } }").is_none(), "cosignatures arrive without events");
        assert!(key("{ agreements { id } ledger { position } }").is_none());
        assert!(key("{ ...F } fragment F on QueryRoot { agreements { id } }").is_none());
        assert!(key("mutation { agreements { id } }").is_none());
        assert!(key("subscription { events { position } }").is_none());
        assert!(key("{ agreements { id ").is_none(), "a document that does not parse");
        assert!(key("query A { agreements { id } } query B { ledger { position } }").is_none(), "which one?");
        let two = "query A { agreements { id } } query B { ledger { position } }";
        let named = request(two).operation_name("A");
        assert!(Key::of(&named, parsed(two).as_ref(), &Caller::Anonymous, 7, today()).is_some());
        let named = request(two).operation_name("B");
        assert!(Key::of(&named, parsed(two).as_ref(), &Caller::Anonymous, 7, today()).is_none());
    }

    #[test]
    fn a_key_differs_by_head_day_caller_and_variables() {
        let q = "query($at: Date) { agreements(at: $at) { id } }";
        let base = Key::of(&request(q), parsed(q).as_ref(), &Caller::Anonymous, 7, today()).expect("pure");
        assert_ne!(Some(base.clone()), Key::of(&request(q), parsed(q).as_ref(), &Caller::Anonymous, 8, today()));
        assert_ne!(
            Some(base.clone()),
            Key::of(&request(q), parsed(q).as_ref(), &Caller::Anonymous, 7, today().previous_day())
        );
        assert_ne!(Some(base.clone()), Key::of(&request(q), parsed(q).as_ref(), &Caller::Unknown, 7, today()));
        let vars = async_graphql::Variables::from_json(serde_json::json!({ "at": "2022-01-01" }));
        assert_ne!(
            Some(base.clone()),
            Key::of(&request(q).variables(vars), parsed(q).as_ref(), &Caller::Anonymous, 7, today())
        );
        assert_eq!(Some(base), Key::of(&request(q), parsed(q).as_ref(), &Caller::Anonymous, 7, today()));
    }

    #[test]
    fn small_answers_are_not_kept_and_the_budget_holds() {
        let answers = Answers::default();
        let key = |head: u64, q: &str| {
            Key::of(&request(q), parsed(q).as_ref(), &Caller::Anonymous, head, today()).expect("pure")
        };
        let q = |i: usize| format!("{{ a{i}: parties {{ id }} }}");
        let small = Answer::compress(&[b'x'; 100]).expect("gzip");
        answers.keep(key(1, "{ parties { id } }"), 100, small);
        assert!(answers.get(&key(1, "{ parties { id } }")).is_none(), "too small to keep");
        // Compressed bytes count against the budget (these stand for an answer of 8 times that).
        let big = Answer { gzip: Bytes::from(vec![b'x'; BUDGET / 5]) };
        let plain = BUDGET / 5 * 8;
        for i in 0..8 {
            answers.keep(key(1, &q(i)), plain, big.clone());
            assert!(answers.stats().1 <= BUDGET);
        }
        // Five fit: the first four and the last, none asked again yet.
        let kept = |answers: &Answers| {
            (0..8)
                .filter(|i| answers.inner.lock().expect("lock").answers.contains_key(&key(1, &q(*i))))
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(&answers), vec![0, 1, 2, 3, 7]);
        // Those asked again stay; a new one replaces the last kept not asked again.
        for i in [0, 1, 3] {
            assert!(answers.get(&key(1, &q(i))) == Some(big.clone()));
        }
        answers.keep(key(1, &q(4)), plain, big.clone());
        assert_eq!(kept(&answers), vec![0, 1, 2, 3, 4]);
        answers.keep(key(1, &q(5)), plain, big.clone());
        assert_eq!(kept(&answers), vec![0, 1, 2, 3, 5]);
        // When every one was asked again, a new one is not kept.
        assert!(answers.get(&key(1, &q(2))).is_some());
        assert!(answers.get(&key(1, &q(5))).is_some());
        answers.keep(key(1, &q(6)), plain, big.clone());
        assert_eq!(kept(&answers), vec![0, 1, 2, 3, 5]);
        // A newer head drops every answer of the older ones.
        answers.keep(key(2, "{ parties { id } }"), plain, big.clone());
        assert!(answers.get(&key(1, &q(7))).is_none());
        assert!(answers.get(&key(2, "{ parties { id } }")) == Some(big));
        assert_eq!(answers.stats(), (6, BUDGET / 5));
    }

    #[test]
    fn a_kept_answer_is_its_body_gzip_compressed() {
        let body = serde_json::to_vec(&serde_json::json!({
            "data": { "agreements": (0..500).map(|i| serde_json::json!({ "id": format!("a{i}"), "status": "IN_FORCE" })).collect::<Vec<_>>() }
        }))
        .expect("json");
        let answer = Answer::compress(&body).expect("gzip");
        assert!(answer.len() * 5 < body.len(), "{} of {} bytes", answer.len(), body.len());
        assert_eq!(answer.plain().expect("gunzip"), body);
        let mut gunzipped = Vec::new();
        flate2::read::MultiGzDecoder::new(&answer.gzip()[..]).read_to_end(&mut gunzipped).expect("a gzip stream");
        assert_eq!(gunzipped, body);
    }

    #[test]
    fn gzip_is_accepted_as_accept_encoding_says() {
        let accepts = |value: &str| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(axum::http::header::ACCEPT_ENCODING, value.parse().expect("header"));
            accepts_gzip(&headers)
        };
        assert!(!accepts_gzip(&axum::http::HeaderMap::new()), "no header: identity");
        assert!(accepts("gzip"));
        assert!(accepts("br, gzip;q=0.5"));
        assert!(accepts("GZip"));
        assert!(accepts("x-gzip"));
        assert!(accepts("*"));
        assert!(!accepts("br"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.0, *"), "refused by name, whatever `*` says");
        assert!(!accepts("identity, *;q=0"));
        assert!(!accepts("deflate"));
    }
}
