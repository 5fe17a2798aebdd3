//! Frames of the `events` subscription written as JSON text by the server itself (issue 19).
//!
//! async-graphql's subscription engine turns every item of a subscription's stream into a value
//! through the schema (a context, the selection's fields, an `IndexMap` with a SipHash state per
//! object, the `Response`), then serializes it into the protocol's message: about 2.5–3.5 µs an
//! event on the core that sends, most of a catch-up replay's time (BENCHMARKS.md, session 20). For
//! a selection of plain fields of `Event` (the scalars, aliases allowed, no arguments, directives
//! or fragments; what integrators ask), the frame's JSON is written here straight from the event,
//! and the engine carries only a stand-in for it:
//!
//! 1. The WebSocket layer (`http/ws.rs`) runs every subscription of one root field with a
//!    [`Handover`] in its data (`Checked::is_single_subscription`). Invariant: the `events`
//!    resolver runs at most once per handover – async-graphql runs a subscription of several root
//!    fields, merged, and a second stream handed over would replace the first.
//! 2. The engine parses, validates and checks the operation as always, and calls the `events`
//!    resolver, which makes the stream of frames as always; when the selection is plain
//!    ([`Plan::of`]), the resolver puts the stream and its plan in the handover and gives the
//!    engine an empty stream instead. Every refusal before that (validation, arguments, who may
//!    read) is the engine's, unchanged.
//! 3. The WebSocket layer then follows the handed-over stream itself ([`Direct`]): each frame's
//!    text is written by the plan (once per document and event for a live event, shared by every
//!    subscriber of the same document through the `FrameCache`; a replay's on the thread that
//!    reads it ahead, `events.rs`). The texts of the frames ready at once are kept aside under a
//!    number, and the engine is given one response whose data is that number. On the way out the
//!    layer makes a message of each text in place of the number, so the client receives exactly
//!    the messages the engine would have written, one per frame (tests compare the bytes, field by
//!    field and over a long replay on a real socket).
//!
//! Errors (a revoked token, an event whose data cannot be shown, the projections failing) are
//! responses built as the engine builds them: the same message, location, path and code.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::Field;
use async_graphql::{PathSegment, Pos, Positioned, ServerError};
use futures::stream::BoxStream;
use ledger::{EventData, EventView, RecordedEvent};

use super::frames::{FrameKey, Item, Plain};

/// How the frames of one subscription are written: `{"<events' key>":{"<key>":<value>,…}}`, the
/// value of the response's `data` as the engine would serialize it.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The `events` field's response key (its alias, or `events`) and where it is in the document:
    /// an error's path and location.
    key: String,
    pos: Pos,
    /// `{"<events' key>":{`.
    head: String,
    /// Each field: `"<key>":` (after a comma but the first), what it is, and its response key and
    /// place in the document (an error's path and location).
    fields: Vec<(String, Plain, String, Pos)>,
}

impl Plan {
    /// The plan of the `events` field `field`, when its selection is plain and nothing on the
    /// field itself asks for the engine (a directive); `None` otherwise.
    pub(crate) fn of(field: &Positioned<Field>) -> Option<Self> {
        if !field.node.directives.is_empty() {
            return None;
        }
        let key = field.node.response_key().node.to_string();
        let mut fields: Vec<(String, Plain, String, Pos)> =
            Vec::with_capacity(field.node.selection_set.node.items.len());
        let mut keys = std::collections::HashSet::new();
        for item in &field.node.selection_set.node.items {
            let (inner, plain) = Plain::field(item)?;
            let response_key = inner.node.response_key().node.as_str();
            // The same response key twice: validation allows it only for the same field, but the
            // merging rules are the engine's to apply.
            if !keys.insert(response_key.to_owned()) {
                return None;
            }
            let mut text = String::with_capacity(response_key.len() + 4);
            if !fields.is_empty() {
                text.push(',');
            }
            text.push_str(&json_string(response_key));
            text.push(':');
            fields.push((text, plain, response_key.to_owned(), inner.pos));
        }
        if fields.is_empty() {
            return None;
        }
        let head = format!("{{{}:{{", json_string(&key));
        Some(Self { key, pos: field.pos, head, fields })
    }

    /// The frame's text: what the engine would serialize as the response's `data`; or the error the
    /// resolvers would have answered with (only `data` can fail: an event whose data cannot be
    /// shown as JSON, which the fields' non-null types make an error of the whole frame).
    pub(crate) fn write(&self, event: &RecordedEvent) -> Result<String, ServerError> {
        self.write_view(&EventView::of(event), Some(event.data()))
    }

    /// Whether the selection shows the event's data: [`Plan::write_view`] then needs it.
    pub(crate) fn needs_data(&self) -> bool {
        self.fields.iter().any(|(_, plain, _, _)| matches!(plain, Plain::Data))
    }

    /// [`Plan::write`] of an event's fields, read from its record without decoding its data
    /// (`None`), which only a plan that [`Plan::needs_data`] would show.
    pub(crate) fn write_view(&self, event: &EventView<'_>, data: Option<&EventData>) -> Result<String, ServerError> {
        let mut out = String::with_capacity(512);
        out.push_str(&self.head);
        for (key, plain, name, pos) in &self.fields {
            out.push_str(key);
            // Writing to a `String` cannot fail.
            let _ = match plain {
                Plain::Typename => write!(out, "\"Event\""),
                Plain::Id => write!(out, "\"{}\"", event.id),
                Plain::Position => write!(out, "{}", event.position.get()),
                Plain::Stream => write_json_string(&mut out, event.stream),
                Plain::StreamVersion => write!(out, "{}", event.stream_version),
                // Type names are identifiers, and dates and instants digits and separators: none
                // has anything JSON escapes.
                Plain::Type => write!(out, "\"{}\"", event.type_name),
                Plain::Effective => write!(out, "\"{}\"", event.effective),
                Plain::RecordedAt => write!(out, "\"{}\"", event.recorded_at),
                Plain::RecordedBy => write_json_string(&mut out, event.recorded_by),
                Plain::PrevHash => write!(out, "\"{}\"", event.prev_hash),
                Plain::Hash => write!(out, "\"{}\"", event.hash),
                Plain::Data => {
                    let error =
                        |e: &dyn std::fmt::Display| self.field_error(crate::error::ApiError::internal(e), *pos, name);
                    let data = data.ok_or_else(|| error(&"the event's data was not read"))?;
                    let json = data.to_json().and_then(|value| serde_json::to_string(&value)).map_err(|e| error(&e))?;
                    write!(out, "{json}")
                }
            };
        }
        out.push_str("}}");
        Ok(out)
    }

    /// An error of the `events` field itself, as the engine makes one of an `Err` item.
    pub(crate) fn error(&self, error: async_graphql::Error) -> ServerError {
        error.into_server_error(self.pos).with_path(vec![PathSegment::Field(self.key.clone())])
    }

    /// An error of a field of the event, as the engine makes one of a failing resolver.
    fn field_error(&self, error: crate::error::ApiError, pos: Pos, name: &str) -> ServerError {
        async_graphql::Error::from(error)
            .into_server_error(pos)
            .with_path(vec![PathSegment::Field(self.key.clone()), PathSegment::Field(name.to_owned())])
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it (which is how the engine writes it).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    let _ = write_json_string(&mut out, text);
    out
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it; most text needs no escape
/// and is copied as it is.
fn write_json_string(out: &mut String, text: &str) -> std::fmt::Result {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        // Serializing a `str` cannot fail.
        out.push_str(&serde_json::to_string(text).unwrap_or_default());
    }
    Ok(())
}

/// A stream of frames and how to write them, handed over by the `events` resolver.
pub(crate) struct Direct {
    pub(super) plan: Arc<Plan>,
    /// Events, and a replay's frames written ahead by the same plan.
    pub(super) frames: BoxStream<'static, async_graphql::Result<Item>>,
    /// The subscription's key in the frame cache, when its frames are shared.
    pub(super) shared: Option<FrameKey>,
}

/// Where the `events` resolver hands its stream over (request data of a subscription over the
/// WebSocket). Empty when the resolver kept the stream (a selection that is not plain) or was not
/// reached (the operation was refused).
#[derive(Default)]
pub(crate) struct Handover(Mutex<Option<Direct>>);

impl Handover {
    /// The lock survives a panic elsewhere while it was held: it holds an option.
    pub(crate) fn put(&self, direct: Direct) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(direct);
    }

    pub(crate) fn take(&self) -> Option<Direct> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Shared with the request as `Arc<Handover>`.
pub(crate) type SharedHandover = Arc<Handover>;

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use async_graphql::Request;
    use futures::StreamExt;

    use crate::app::{Caller, Role};

    use crate::schema::frames::tests::FIELDS;

    /// The engine's responses to `request`, up to `n`, each serialized as the protocol's payload.
    pub(in crate::schema) async fn engine(
        schema: &crate::schema::AppSchema,
        request: Request,
        n: usize,
    ) -> Vec<String> {
        let stream = schema.execute_stream(request).take(n).collect::<Vec<_>>();
        let responses = tokio::time::timeout(std::time::Duration::from_secs(30), stream).await.expect("in time");
        responses.into_iter().map(|r| serde_json::to_string(&crate::error::coded(r)).expect("JSON")).collect()
    }

    /// The same request with a handover: the engine yields nothing, and the handed-over frames,
    /// written by the plan (or, for an error, the response the direct path makes), up to `n`.
    pub(in crate::schema) async fn direct(
        schema: &crate::schema::AppSchema,
        request: Request,
        n: usize,
    ) -> Option<Vec<String>> {
        let handover = SharedHandover::default();
        let from_engine = engine(schema, request.data(Arc::clone(&handover)), 1).await;
        let Some(Direct { plan, frames, .. }) = handover.take() else {
            assert!(!from_engine.is_empty(), "the engine kept the stream, so it answers");
            return None;
        };
        assert!(from_engine.is_empty(), "a handed-over stream gets nothing from the engine: {from_engine:?}");
        let items = tokio::time::timeout(std::time::Duration::from_secs(30), frames.take(n).collect::<Vec<_>>())
            .await
            .expect("in time");
        let payload = |response: async_graphql::Response| serde_json::to_string(&crate::error::coded(response));
        Some(
            items
                .into_iter()
                .map(|item| {
                    match item.map(|item| match item {
                        Item::Event(frame) => plan.write(&frame.event),
                        Item::Written(text) => text.map(|text| text.to_string()),
                    }) {
                        // The data is the frame's text: the payload as the engine would write it.
                        Ok(Ok(text)) => format!(r#"{{"data":{text}}}"#),
                        Ok(Err(error)) => payload(async_graphql::Response::from_errors(vec![error])).expect("JSON"),
                        Err(error) => {
                            payload(async_graphql::Response::from_errors(vec![plan.error(error)])).expect("JSON")
                        }
                    }
                })
                .collect(),
        )
    }

    #[tokio::test]
    async fn frames_written_directly_are_byte_for_byte_the_engines() {
        let (_dir, schema, _) = crate::schema::frames::tests::schema_and_ledger().await;
        // Every field alone, all together, aliased (including the `events` field), and in an
        // order of their own: a frame written directly is exactly the engine's payload.
        let mut selections: Vec<String> = FIELDS.iter().map(|f| (*f).to_owned()).collect();
        selections.push(FIELDS.join(" "));
        selections
            .push(FIELDS.iter().rev().enumerate().map(|(i, f)| format!("a{i}: {f}")).collect::<Vec<_>>().join(" "));
        selections.push("position\n  p2: position  q: hash".to_owned());
        for selection in selections {
            for field in ["events", "log: events"] {
                let document = format!("subscription {{ {field}(fromPosition: 1) {{ {selection} }} }}");
                // Without a handover, the engine resolves every frame itself.
                let resolved = engine(&schema, Request::new(document.clone()), 2).await;
                let written = direct(&schema, Request::new(document.clone()), 2).await.expect("a plain selection");
                assert_eq!(written.len(), 2, "{document}");
                assert_eq!(written, resolved, "{document}");
            }
        }
    }

    #[tokio::test]
    async fn anything_but_plain_fields_stays_with_the_engine() {
        let (_dir, schema, _) = crate::schema::frames::tests::schema_and_ledger().await;
        // (`@include` and `@skip` never get here: the engine applies them to the document first.)
        for document in [
            "subscription { events(fromPosition: 1) { position source { title } } }",
            "subscription { events(fromPosition: 1) { ... on Event { position } } }",
            "subscription { events(fromPosition: 1) { ...F } } fragment F on Event { position }",
            "subscription { events(fromPosition: 1) { position inclusionProof { treeSize } } }",
            "subscription { events(fromPosition: 1) { position position } }",
        ] {
            assert_eq!(direct(&schema, Request::new(document), 2).await, None, "{document}");
        }
        // Refused before the resolver runs: the engine answers, nothing is handed over.
        for document in [
            "subscription { events(fromPosition: 1) { nope } }",
            "subscription { events(types: [\"NoSuchType\"]) { position } }",
        ] {
            assert_eq!(direct(&schema, Request::new(document), 1).await, None, "{document}");
        }
    }

    #[tokio::test]
    async fn an_error_of_a_handed_over_stream_is_the_engines_error() {
        let (_dir, schema, _) = crate::schema::frames::tests::schema_and_ledger().await;
        // A token the store does not know: the subscription ends at once, as a revoked one does.
        let ghost = Caller::Token { name: "ghost".to_owned(), role: Role::Reader };
        let document = "subscription {\n  log: events(fromPosition: 1) { position hash }\n}";
        let resolved = engine(&schema, Request::new(document).data(ghost.clone()), 2).await;
        let written = direct(&schema, Request::new(document).data(ghost), 2).await.expect("handed over");
        assert_eq!(written.len(), 1, "{written:?}");
        assert!(written[0].contains("no longer works") && written[0].contains("UNAUTHENTICATED"), "{written:?}");
        assert_eq!(written, resolved);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in ["plain", "", "quote \" and \\ backslash", "tab\tnew\nline\u{1}", "å ä ö \u{7f} 🦀", "/"] {
            assert_eq!(json_string(text), serde_json::to_string(text).expect("JSON"), "{text:?}");
        }
    }
}
