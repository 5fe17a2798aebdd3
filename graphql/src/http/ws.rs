//! The WebSocket endpoint, `/graphql/ws`: async-graphql's protocol engine, plus what the
//! graphql-transport-ws protocol asks of a server that the engine does not do itself.
//!
//! - A second `subscribe` with an id that is still running closes the socket with
//!   `4409 Subscriber for <id> already exists`. The engine would silently replace the running
//!   subscription, and a client would lose its stream without being told.
//! - A malformed message closes with `4400` (the engine says 1002), a refused `connection_init`
//!   with `4403 Forbidden` (1002), and a `subscribe` before `connection_init` with
//!   `4401 Unauthorized` (1011, which claims a server failure). Client libraries retry on 1002 and
//!   1011 but give up on 44xx, which is right: the same message would fail again.
//! - A connection that sends no `connection_init` within [`ServerConfig::ws_init_timeout`] is closed
//!   with `4408 Connection initialisation timeout`, so an idle socket cannot hold a slot forever.
//! - An operation that fails before it runs (parse, validation, variables, limits, an unknown
//!   persisted query) gets an `error` message with the errors, and nothing after it; the engine
//!   would send them as a `next` followed by `complete`.
//! - When the server shuts down, every connection is closed with `1001` (going away), so clients
//!   know to reconnect elsewhere or later rather than report an error.
//! - A close reason is cut to the 123 bytes a close frame can carry (a longer one makes the frame
//!   invalid, and the client sees a protocol failure instead of the reason).
//!
//! - Every operation is checked as a request over HTTP is (the schema's `Executor`: persisted
//!   queries, the cost limit, required variables; error codes on every response of its stream),
//!   and a query or mutation sent over the socket runs as one sent by HTTP does ([`Operations`]):
//!   off the async workers, within the request deadline and the response-size cap; only
//!   subscriptions run for as long as the client wants them. A subscription is marked with its
//!   document and variables, so that subscribers of the same one share each event's resolved frame
//!   (`schema/frames.rs`).
//! - When the server closes a connection it completes the closing handshake (RFC 6455 §7.1.1): it
//!   waits, briefly, for the client's close frame before dropping the TCP connection, so that the
//!   client's answer does not meet a closed socket, whose reset can make the client lose the close
//!   frame it had not read yet.
//!
//! - A subscription of plain fields of `Event` is handed over by the `events` resolver once the
//!   engine has checked and started it, and its frames are written as JSON text by the server
//!   (`schema/direct.rs`): the engine carries a number in place of the data of the frames ready at
//!   once (one, live; up to 256 of a replay), and [`Book::outgoing`] makes of its message one
//!   message per frame kept under that number ([`Book::stash`]), each with the frame's text in the
//!   number's place: what the engine would have sent, frame by frame.
//! - The engine's messages are sent by our own loop ([`send_coalesced`]): every message the engine
//!   has ready is written, then one flush. With `TCP_NODELAY` (`serve.rs`) a flush per message, as
//!   async-graphql-axum's loop does, made every event of a catch-up replay a TCP segment of its own.
//!
//! The legacy subscriptions-transport-ws protocol (`graphql-ws`) defines no close codes; its
//! connections get the length limit and the initialisation deadline (closed with 4408 too).

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::{CloseFrame, Message};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::{SinkExt, Stream, StreamExt};
use serde::Deserialize;

use super::ServerConfig;
use crate::app::{App, Caller, bearer};
use crate::error::{ApiError, Code, coded, is_request_error};
use crate::schema::{Checked, Executor, SharedHandover, server_error};

/// The longest reason a close frame can carry: 125 bytes of control-frame payload less the code.
const MAX_CLOSE_REASON: usize = 123;

/// How long a connection the server closes waits for the client's close frame before it is dropped.
const CLOSING_HANDSHAKE: Duration = Duration::from_secs(1);

/// The read buffer of a connection. tungstenite (0.26, axum's) zero-fills the whole free capacity
/// of its read buffer before every read of the socket, and the connection's task reads the socket
/// each time it is woken, which for a subscriber is once per event: with the default 128 KiB, a
/// thousand subscribers cost 128 MB of `memset` per event, more than half of the server's time in
/// the subscriptions benchmark (BENCHMARKS.md, issue 19). A bigger message still arrives whole: the
/// buffer grows for the frame being read.
const READ_BUFFER: usize = 4 * 1024;

/// What the engine is given to make it close the connection for a reason of ours (a duplicate
/// `subscribe`, the initialisation timeout, the server's shutdown): a message it refuses (a `subscribe` without an id).
/// [`Book::outgoing`] then gives that close our code and reason.
const REFUSED: &str = r#"{"type":"subscribe"}"#;

/// The most subscriptions one connection may have running at once. Each holds what it is about
/// to send – up to two chunks of a replay and a batch on its way out (`schema/events.rs`), ~0.6 MB
/// when its client stops reading mid-replay – so a connection opening ever more of them must meet a
/// limit. One more is refused with `TOO_MANY_REQUESTS` as an error of that operation (on
/// graphql-transport-ws an `error` message); the connection and its other operations go on.
pub const MAX_SUBSCRIPTIONS: usize = 64;

/// Upgrades the request to a WebSocket and serves GraphQL over it until either side closes.
pub(crate) fn serve(
    upgrade: WebSocketUpgrade,
    headers: &HeaderMap,
    executor: Executor,
    app: &Arc<App>,
    config: &Arc<ServerConfig>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Response {
    // The handler's `GraphQLProtocol` extractor refused an upgrade without one already (400); the
    // engine is given the same choice, read from the header, as the extractor keeps it to itself.
    let Some(protocol) = chosen_protocol(headers) else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let book = Arc::new(Book::new(transport_ws(headers)));
    let app = Arc::clone(app);
    // A message is a request too: the same limit as a request body (tungstenite's default is 64 MiB).
    let max = config.max_body_bytes;
    let init_timeout = config.ws_init_timeout;
    let operations = Operations {
        executor,
        book: Arc::clone(&book),
        config: Arc::clone(config),
        subscriptions: Arc::new(AtomicUsize::new(0)),
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let (mut sink, mut stream) = socket.split();
            let incoming = incoming(&mut stream, Arc::clone(&book), init_timeout, shutdown);
            let outgoing = {
                let book = Arc::clone(&book);
                (&mut sink).with_flat_map(move |message| {
                    futures::stream::iter(book.outgoing(message).into_iter().map(Ok::<_, axum::Error>))
                })
            };
            let engine_book = Arc::clone(&book);
            let on_init = move |payload: serde_json::Value| async move {
                let caller = app.authenticate(token_from_init(&payload));
                if app.config().reads_require_token && !matches!(caller, Caller::Token { .. }) {
                    let message = "this server needs a token in connection_init";
                    engine_book.close_with(4403, format!("Forbidden: {message}"));
                    return Err(ApiError::new(Code::Unauthenticated, message).into());
                }
                engine_book.state().caller = Some(caller.clone());
                let mut data = Data::default();
                data.insert(caller);
                Ok(data)
            };
            // async-graphql-axum's `GraphQLWebSocket::serve`, with one difference: its loop sends
            // (writes and flushes) every message on its own, and with TCP_NODELAY (`serve.rs`) each
            // is then a segment of its own; this loop writes every message the engine has ready and
            // flushes once, so a catch-up replay fills segments and a lone live event still leaves
            // at once.
            let input = incoming.take_while(|message| std::future::ready(message.is_ok())).filter_map(|message| {
                std::future::ready(match message {
                    Ok(Message::Text(text)) => Some(axum::body::Bytes::from(text)),
                    Ok(Message::Binary(bytes)) => Some(bytes),
                    _ => None,
                })
            });
            let messages = async_graphql::http::WebSocket::new(operations, input, protocol)
                .on_connection_init(on_init)
                .map(|message| match message {
                    async_graphql::http::WsMessage::Text(text) => Message::Text(text.into()),
                    async_graphql::http::WsMessage::Close(code, reason) => {
                        Message::Close(Some(CloseFrame { code, reason: reason.into() }))
                    }
                })
                .fuse();
            send_coalesced(messages, outgoing).await;
            finish_closing(sink, stream).await;
        })
        .into_response()
}

/// Sends the engine's messages: every message ready at once is written before one flush (module
/// docs of `serve.rs` on TCP_NODELAY). Stops when the messages end or the socket fails.
async fn send_coalesced<M, O>(messages: M, outgoing: O)
where
    M: Stream<Item = Message> + futures::stream::FusedStream,
    O: futures::Sink<Message>,
{
    use futures::FutureExt;
    let (mut messages, mut outgoing) = (std::pin::pin!(messages), std::pin::pin!(outgoing));
    while let Some(message) = messages.next().await {
        if outgoing.feed(message).await.is_err() {
            return;
        }
        // Whatever else the engine has ready now goes into the same write.
        while let Some(Some(message)) = messages.next().now_or_never() {
            if outgoing.feed(message).await.is_err() {
                return;
            }
        }
        if outgoing.flush().await.is_err() {
            return;
        }
    }
}

/// After the engine is done: the rest of the closing handshake (RFC 6455 §5.5.1, §7.1.1). When the
/// server sent the close frame, the client answers with its own; the connection is dropped once
/// that came (or the client's side ended, or [`CLOSING_HANDSHAKE`] passed), so the client's answer
/// does not meet a closed socket. When the client closed first, its frame was read already and the
/// stream has ended. Whatever the client sends meanwhile is read and dropped.
async fn finish_closing<S, R>(mut sink: S, mut stream: R)
where
    S: futures::Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _ = sink.flush().await;
    let answered = async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSING_HANDSHAKE, answered).await;
    let _ = sink.close().await;
}

/// What the engine runs each operation with. A subscription runs as the schema runs it, for as long
/// as the client keeps it; a query or mutation goes through the [`Executor`], as one sent by HTTP
/// does: off the async workers, within the request deadline and the response-size cap, with the
/// caller the connection's `connection_init` named.
#[derive(Clone)]
struct Operations {
    executor: Executor,
    book: Arc<Book>,
    config: Arc<ServerConfig>,
    /// The connection's subscriptions running now ([`MAX_SUBSCRIPTIONS`]).
    subscriptions: Arc<AtomicUsize>,
}

/// One of a connection's [`MAX_SUBSCRIPTIONS`], held by its stream and given back when the engine
/// drops it (the operation completed, failed, or the connection closed).
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(count: &Arc<AtomicUsize>) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_SUBSCRIPTIONS).then_some(n + 1))
            .ok()
            .map(|_| Self(Arc::clone(count)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl async_graphql::Executor for Operations {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match self.executor.check(request).await {
            Ok(checked) => self.bounded(checked).await,
            Err(refused) => refused,
        }
    }

    /// Every operation over the socket: checked as a request over HTTP is (persisted queries, the
    /// cost limit, required variables; nothing here is read-only), then a subscription runs as
    /// long as the client keeps it and anything else once, within the bounds of one request. Every
    /// response has its codes (the executor's).
    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let this = self.clone();
        futures::stream::once(async move {
            let checked = this.executor.check(request).await;
            let slot = match &checked {
                Ok(checked) if checked.is_subscription() => match Slot::take(&this.subscriptions) {
                    Some(slot) => Some(slot),
                    None => {
                        let message = format!(
                            "this connection has {MAX_SUBSCRIPTIONS} subscriptions running, the most it may; \
                             complete one first"
                        );
                        let refused = async_graphql::Response::from_errors(vec![server_error(ApiError::new(
                            Code::TooManyRequests,
                            message,
                        ))]);
                        return futures::stream::once(futures::future::ready(coded(refused))).boxed();
                    }
                },
                _ => None,
            };
            let responses = match checked {
                Ok(checked) if checked.is_single_subscription() => {
                    // The engine runs the operation; a plain selection's stream is then handed
                    // over and followed here (`schema/direct.rs`).
                    let handover = SharedHandover::default();
                    let engine =
                        this.executor.subscribe(checked.data(Arc::clone(&handover)), session_data.unwrap_or_default());
                    let (executor, book) = (this.executor.clone(), Arc::clone(&this.book));
                    let direct = futures::stream::once(async move { handover.take() }).flat_map(move |direct| {
                        let book = Arc::clone(&book);
                        match direct {
                            Some(direct) => executor.direct(direct, move |text| book.stash(text)),
                            None => futures::stream::empty().boxed(),
                        }
                    });
                    engine.chain(direct).boxed()
                }
                Ok(checked) if checked.is_subscription() => {
                    this.executor.subscribe(checked, session_data.unwrap_or_default())
                }
                Ok(checked) => futures::stream::once(async move { this.bounded(checked).await }).boxed(),
                Err(refused) => futures::stream::once(futures::future::ready(refused)).boxed(),
            };
            // The slot goes with the stream: the engine drops it when the operation ends.
            responses
                .map(move |response| {
                    let _held = &slot;
                    response
                })
                .boxed()
        })
        .flatten()
        .boxed()
    }
}

impl Operations {
    /// A checked query or mutation within the bounds of one request, as the connection's caller.
    async fn bounded(&self, mut checked: Checked) -> async_graphql::Response {
        let caller = self.book.state().caller.clone();
        if let Some(caller) = caller {
            checked = checked.data(caller);
        }
        self.executor.run(checked, self.config.request_bounds()).await
    }
}

/// The client's messages, through [`Book::incoming`]; also a refused message when `init_timeout`
/// has passed without a `connection_init`, which closes the connection with 4408 (on both
/// protocols), and one when the server shuts down, which closes it with 1001. Ends when the client's
/// side ends.
fn incoming<'a>(
    client: impl Stream<Item = Result<Message, axum::Error>> + Send + 'a,
    book: Arc<Book>,
    init_timeout: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Message, axum::Error>> + Send + 'a {
    enum Next {
        Client(Result<Message, axum::Error>),
        ClientEnded,
        InitDeadline,
        Shutdown,
    }
    let client = client.map(Next::Client).chain(futures::stream::once(futures::future::ready(Next::ClientEnded)));
    // The legacy subscriptions-transport-ws protocol (`graphql-ws`) defines no close codes, but an
    // idle socket holds a slot there too: it gets the same deadline, and the same 4408.
    let deadline = futures::stream::once(tokio::time::sleep(init_timeout)).map(|()| Next::InitDeadline);
    let shutdown =
        futures::stream::once(async move { super::serve::shutting_down(&mut shutdown).await }).map(|()| Next::Shutdown);
    futures::stream::select(client, futures::stream::select(deadline, shutdown))
        .take_while(|next| futures::future::ready(!matches!(next, Next::ClientEnded)))
        .filter_map(move |next| {
            futures::future::ready(match next {
                Next::Client(message) => Some(message.map(|message| book.incoming(message))),
                Next::InitDeadline => book.init_deadline_passed().then(|| Ok(Message::Text(REFUSED.into()))),
                Next::Shutdown => {
                    book.close_with(1001, "Going away: the server is shutting down".to_owned());
                    Some(Ok(Message::Text(REFUSED.into())))
                }
                Next::ClientEnded => None,
            })
        })
}

/// Whether the connection speaks graphql-transport-ws, chosen as async-graphql's
/// `GraphQLProtocol` extractor chooses: the first protocol of the header it knows.
fn transport_ws(headers: &HeaderMap) -> bool {
    matches!(chosen_protocol(headers), Some(WebSocketProtocols::GraphQLWS))
}

/// The first protocol of the client's list that the engine speaks (as async-graphql-axum's
/// `GraphQLProtocol` extractor chooses it).
fn chosen_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|list| list.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()))
}

/// The token of a `connection_init` payload: `{"Authorization": "Bearer …"}` (any case) or
/// `{"token": "…"}`.
fn token_from_init(payload: &serde_json::Value) -> Option<&str> {
    let object = payload.as_object()?;
    for (key, value) in object {
        if key.eq_ignore_ascii_case("authorization") {
            return bearer(value.as_str());
        }
        if key == "token" {
            return value.as_str().filter(|t| !t.is_empty());
        }
    }
    None
}

/// One connection's bookkeeping, shared by the side reading the client and the side writing to it.
struct Book {
    /// graphql-transport-ws, whose close codes and id rule apply.
    transport_ws: bool,
    state: Mutex<BookState>,
}

#[derive(Default)]
struct BookState {
    /// The ids of the subscriptions that are running: subscribed, and not yet completed by either
    /// side or ended by an error.
    running: HashSet<String>,
    /// The code and reason of the next close frame, when the reason for closing is ours.
    close: Option<(u16, String)>,
    /// The client has sent `connection_init`.
    init_received: bool,
    /// Who the `connection_init` named, once the server accepted it.
    caller: Option<Caller>,
    /// The ids of operations that ended with our `error` message, whose `complete` from the engine
    /// is not sent on (graphql-transport-ws: `error` ends the operation).
    errored: HashSet<String>,
    /// Frames written directly (`schema/direct.rs`), by the number the engine carries in their
    /// place; each is taken out as its message passes [`Book::outgoing`].
    frames: BTreeMap<u64, Vec<Arc<str>>>,
    /// The number of the next frame kept.
    next_frame: u64,
}

/// The two fields of a graphql-transport-ws message that say which subscription it is about.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl Book {
    fn new(transport_ws: bool) -> Self {
        Self { transport_ws, state: Mutex::new(BookState::default()) }
    }

    /// The state survives a panic elsewhere while it was held: it is a set of ids and a code, each
    /// consistent on its own.
    fn state(&self) -> MutexGuard<'_, BookState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the connection with this code when the engine next closes it.
    fn close_with(&self, code: u16, reason: String) {
        self.state().close.get_or_insert((code, reason));
    }

    /// A message from the client, on its way to the engine.
    fn incoming(&self, message: Message) -> Message {
        let envelope = match &message {
            Message::Text(text) => serde_json::from_str::<Envelope>(text.as_str()).ok(),
            Message::Binary(bytes) => serde_json::from_slice::<Envelope>(bytes).ok(),
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => None,
        };
        // Anything malformed goes on unchanged: the engine refuses it, with serde's reason.
        let Some(Envelope { kind, id }) = envelope else { return message };
        let mut state = self.state();
        // Both protocols begin with `connection_init`, and both are held to its deadline.
        if kind == "connection_init" {
            state.init_received = true;
        }
        if !self.transport_ws {
            return message;
        }
        let Some(id) = id else { return message };
        match kind.as_str() {
            "subscribe" => {
                if state.running.contains(&id) {
                    state.close.get_or_insert((4409, format!("Subscriber for {id} already exists")));
                    return Message::Text(REFUSED.into());
                }
                // An operation under this id ended with our `error`, and the engine has not sent its
                // `complete` yet (what the engine sends passes `outgoing` before it reads on), so its
                // stream is still in the engine's map, which this subscribe replaces: that
                // `complete` never comes, and the one that comes is the new operation's.
                state.errored.remove(&id);
                state.running.insert(id);
            }
            "complete" => {
                state.running.remove(&id);
            }
            _ => {}
        }
        message
    }

    /// The initialisation timeout has passed: true, and the next close is 4408, unless the client
    /// sent `connection_init` in time.
    fn init_deadline_passed(&self) -> bool {
        let mut state = self.state();
        if state.init_received {
            return false;
        }
        state.close.get_or_insert((4408, "Connection initialisation timeout".to_owned()));
        true
    }

    /// Keeps the texts of consecutive frames of one subscription until their message goes out; the
    /// number the response standing for them carries instead.
    fn stash(&self, texts: Vec<Arc<str>>) -> u64 {
        let mut state = self.state();
        let number = state.next_frame;
        state.next_frame = state.next_frame.wrapping_add(1);
        state.frames.insert(number, texts);
        number
    }

    /// A `next` (or the legacy protocol's `data`) message whose data is a number kept by
    /// [`Book::stash`]: the message once for each frame kept under it, with the frame's text in the
    /// number's place. Nothing else is touched: a GraphQL response's data is an object or null,
    /// never a number.
    fn unstash(&self, text: &str) -> Option<Vec<Message>> {
        const DATA: &str = r#","payload":{"data":"#;
        if !(text.starts_with(r#"{"type":"next","id":"#) || text.starts_with(r#"{"type":"data","id":"#)) {
            return None;
        }
        // `…,"payload":{"data":<digits>}}`, read from the end (the id before it is the client's).
        let body = text.strip_suffix("}}")?;
        let at = body.rfind(|c: char| !c.is_ascii_digit())? + 1;
        if at == body.len() || !body[..at].ends_with(DATA) {
            return None;
        }
        let number: u64 = body[at..].parse().ok()?;
        let frames = self.state().frames.remove(&number)?;
        let messages = frames.iter().map(|frame| {
            let mut out = String::with_capacity(at + frame.len() + 2);
            out.push_str(&text[..at]);
            out.push_str(frame);
            out.push_str("}}");
            Message::Text(out.into())
        });
        Some(messages.collect())
    }

    /// A message from the engine, on its way to the client: the messages that go on in its place
    /// (none, itself, its answer, or – a stand-in for frames written directly – one per frame).
    fn outgoing(&self, message: Message) -> Vec<Message> {
        if let Message::Text(text) = &message
            && let Some(frames) = self.unstash(text.as_str())
        {
            return frames;
        }
        self.passing(message).into_iter().collect()
    }

    /// [`Book::outgoing`] of a message that stands for no frame.
    fn passing(&self, message: Message) -> Option<Message> {
        match message {
            Message::Text(text) => {
                if self.transport_ws {
                    if let Some((id, error)) = request_error(text.as_str()) {
                        let mut state = self.state();
                        state.running.remove(&id);
                        state.errored.insert(id);
                        return Some(Message::Text(error.into()));
                    }
                }
                // The server's `complete` or `error` ends a subscription; its id is free again. The
                // engine writes the type first, so `next` messages, the many, are not parsed.
                let ends = |t: &str| t.starts_with(r#"{"type":"complete""#) || t.starts_with(r#"{"type":"error""#);
                if self.transport_ws && ends(text.as_str()) {
                    if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str::<Envelope>(text.as_str()) {
                        let mut state = self.state();
                        state.running.remove(&id);
                        if kind == "complete" && state.errored.remove(&id) {
                            return None;
                        }
                    }
                }
                Some(Message::Text(text))
            }
            Message::Close(Some(frame)) => Some(Message::Close(Some(self.close_frame(frame)))),
            other @ (Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Close(None)) => Some(other),
        }
    }

    fn close_frame(&self, frame: CloseFrame) -> CloseFrame {
        let ours = self.state().close.take();
        let engine_reason = || {
            // serde's complaint about a message that is not an object names async-graphql's Rust type.
            frame.reason.as_str().replace("internally tagged enum ClientMessage", "a message object with a \"type\"")
        };
        let (code, reason) = match ours {
            Some(ours) => ours,
            None if frame.code == 1011 && frame.reason.as_str().starts_with("The handshake is not completed") => {
                (4401, "Unauthorized: send connection_init first".to_owned())
            }
            None if frame.code == 1002 && self.transport_ws => (4400, engine_reason()),
            None => (frame.code, engine_reason()),
        };
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseFrame { code, reason: reason[..end].into() }
    }
}

/// The engine's `next` message for an operation that failed before it ran, as graphql-transport-ws's
/// `error` message (`{"id", "type": "error", "payload": [GraphQLError…]}`): its id and the message.
/// `None` for every other message; only a `next` whose data is null is parsed at all.
fn request_error(text: &str) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Next {
        id: String,
        payload: async_graphql::Response,
    }
    #[derive(serde::Serialize)]
    struct Error<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        payload: &'a [async_graphql::ServerError],
    }
    if !text.starts_with(r#"{"type":"next""#) || !text.contains(r#""payload":{"data":null"#) {
        return None;
    }
    let Next { id, payload } = serde_json::from_str(text).ok()?;
    if !is_request_error(&payload) {
        return None;
    }
    let error = serde_json::to_string(&Error { id: &id, kind: "error", payload: &payload.errors }).ok()?;
    Some((id, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe(id: &str) -> Message {
        Message::Text(format!(r#"{{"type":"subscribe","id":"{id}","payload":{{"query":"{{ x }}"}}}}"#).into())
    }

    fn text(message: &Message) -> &str {
        match message {
            Message::Text(t) => t.as_str(),
            Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Close(_) => "",
        }
    }

    fn engine_close(code: u16, reason: &str) -> Message {
        Message::Close(Some(CloseFrame { code, reason: reason.into() }))
    }

    fn close_of(message: Option<Message>) -> Option<(u16, String)> {
        match message? {
            Message::Close(Some(frame)) => Some((frame.code, frame.reason.as_str().to_owned())),
            Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Close(None) => None,
        }
    }

    #[test]
    fn an_operation_that_fails_before_it_runs_ends_with_an_error_message_and_no_complete() {
        let book = Book::new(true);
        book.incoming(subscribe("a"));
        let failed = r#"{"type":"next","id":"a","payload":{"data":null,"errors":[{"message":"Unknown field \"x\"","locations":[{"line":1,"column":3}],"extensions":{"code":"INVALID_INPUT"}}]}}"#;
        let sent = book.passing(Message::Text(failed.into())).map(|m| text(&m).to_owned());
        let sent: serde_json::Value = serde_json::from_str(&sent.unwrap_or_default()).expect("JSON");
        assert_eq!(
            sent,
            serde_json::json!({"id": "a", "type": "error", "payload": [{"message": "Unknown field \"x\"",
                "locations": [{"line": 1, "column": 3}], "extensions": {"code": "INVALID_INPUT"}}]})
        );
        assert!(book.passing(Message::Text(r#"{"type":"complete","id":"a"}"#.into())).is_none(), "no complete");
        // The id is free again, and its next operation's complete goes on.
        assert_eq!(text(&book.incoming(subscribe("a"))), text(&subscribe("a")));
        assert!(book.passing(Message::Text(r#"{"type":"complete","id":"a"}"#.into())).is_some());

        // A field that failed while running is a `next` with a path: it goes on as it is.
        let ran = r#"{"type":"next","id":"b","payload":{"data":null,"errors":[{"message":"no","path":["ledger"]}]}}"#;
        assert_eq!(book.passing(Message::Text(ran.into())).map(|m| text(&m).to_owned()).as_deref(), Some(ran));
        // The client reuses the id before the engine sent the failed operation's `complete` (the
        // engine then replaces that operation): the new operation's `complete` goes on.
        book.incoming(subscribe("c"));
        assert!(book.passing(Message::Text(failed.replace("\"a\"", "\"c\"").into())).is_some());
        book.incoming(subscribe("c"));
        let next = r#"{"type":"next","id":"c","payload":{"data":{"x":1}}}"#;
        assert_eq!(book.passing(Message::Text(next.into())).map(|m| text(&m).to_owned()).as_deref(), Some(next));
        assert!(book.passing(Message::Text(r#"{"type":"complete","id":"c"}"#.into())).is_some(), "complete of c");

        // The legacy protocol has no such rule.
        let legacy = Book::new(false);
        assert_eq!(legacy.passing(Message::Text(failed.into())).map(|m| text(&m).to_owned()).as_deref(), Some(failed));
    }

    #[test]
    fn a_stashed_frame_takes_the_place_of_its_number_and_nothing_else_is_touched() {
        for transport_ws in [true, false] {
            let book = Book::new(transport_ws);
            let frame: Arc<str> = r#"{"events":{"position":7,"note":"{\"data\":1}}"}}"#.into();
            let second: Arc<str> = r#"{"events":{"position":9}}"#.into();
            let number = book.stash(vec![Arc::clone(&frame), Arc::clone(&second)]);
            let other = book.stash(vec![r#"{"events":{"position":8}}"#.into()]);
            let kind = if transport_ws { "next" } else { "data" };
            let engine =
                |n: u64| Message::Text(format!(r#"{{"type":"{kind}","id":"a\"b","payload":{{"data":{n}}}}}"#).into());
            // The stand-in for two frames: a message for each, in order.
            let sent: Vec<_> = book.outgoing(engine(number)).iter().map(|m| text(m).to_owned()).collect();
            let message = |frame: &str| format!(r#"{{"type":"{kind}","id":"a\"b","payload":{{"data":{frame}}}}}"#);
            assert_eq!(sent, [message(&frame), message(&second)]);
            // Taken out as they went: the same number again is not replaced.
            assert_eq!(book.outgoing(engine(number)).iter().map(text).collect::<Vec<_>>(), [text(&engine(number))]);
            // Anything that is not exactly a stand-in goes on unchanged.
            for untouched in [
                format!(r#"{{"type":"{kind}","id":"1","payload":{{"data":{{"x":{other}}}}}}}"#),
                format!(r#"{{"type":"{kind}","id":"1","payload":{{"data":null,"x":{other}}}}}"#),
                format!(r#"{{"type":"complete","id":"1","payload":{{"data":{other}}}}}"#),
                format!(r#"{{"type":"{kind}","id":"1","payload":{{"data":}}}}"#),
            ] {
                let message = Message::Text(untouched.clone().into());
                assert_eq!(book.outgoing(message).iter().map(text).collect::<Vec<_>>(), [untouched.as_str()]);
            }
            assert_eq!(book.state().frames.len(), 1, "only the frame sent was taken out");
        }
    }

    #[test]
    fn a_running_id_cannot_be_subscribed_again_until_either_side_completes_it() {
        let book = Book::new(true);
        assert_eq!(text(&book.incoming(subscribe("a"))), text(&subscribe("a")));
        assert_eq!(text(&book.incoming(subscribe("b"))), text(&subscribe("b")));
        // The client completes "a": it may be used again.
        book.incoming(Message::Text(r#"{"type":"complete","id":"a"}"#.into()));
        assert_eq!(text(&book.incoming(subscribe("a"))), text(&subscribe("a")));
        // The server completes "b" (a query answered once), likewise.
        book.passing(Message::Text(r#"{"type":"next","id":"b","payload":{}}"#.into()));
        book.passing(Message::Text(r#"{"type":"complete","id":"b"}"#.into()));
        assert_eq!(text(&book.incoming(subscribe("b"))), text(&subscribe("b")));
        // "a" is running: the duplicate is refused, and the engine's close becomes 4409.
        assert_eq!(text(&book.incoming(subscribe("a"))), REFUSED);
        let close = close_of(book.passing(engine_close(1002, "missing field `id`")));
        assert_eq!(close, Some((4409, "Subscriber for a already exists".to_owned())));
    }

    #[test]
    fn the_initialisation_deadline_closes_only_a_connection_that_never_sent_connection_init() {
        let idle = Book::new(true);
        assert!(idle.init_deadline_passed());
        let close = close_of(idle.passing(engine_close(1002, "missing field `id`")));
        assert_eq!(close, Some((4408, "Connection initialisation timeout".to_owned())));

        let initialised = Book::new(true);
        initialised.incoming(Message::Text(r#"{"type":"connection_init","payload":{}}"#.into()));
        assert!(!initialised.init_deadline_passed());
        assert_eq!(close_of(initialised.passing(engine_close(1002, "expected value"))).map(|c| c.0), Some(4400));
    }

    #[test]
    fn engine_close_codes_become_graphql_transport_ws_codes_only_on_that_protocol() {
        let modern = Book::new(true);
        assert_eq!(close_of(modern.passing(engine_close(1002, "expected value"))).map(|c| c.0), Some(4400));
        let handshake = engine_close(1011, "The handshake is not completed.");
        assert_eq!(close_of(modern.passing(handshake.clone())).map(|c| c.0), Some(4401));
        modern.close_with(4403, "Forbidden: no".to_owned());
        assert_eq!(close_of(modern.passing(engine_close(1002, "no"))), Some((4403, "Forbidden: no".to_owned())));
        assert_eq!(close_of(modern.passing(engine_close(4429, "Too many"))).map(|c| c.0), Some(4429));

        let legacy = Book::new(false);
        assert_eq!(close_of(legacy.passing(engine_close(1002, "expected value"))).map(|c| c.0), Some(1002));
        assert_eq!(text(&legacy.incoming(subscribe("a"))), text(&subscribe("a")));
        assert_eq!(text(&legacy.incoming(subscribe("a"))), text(&subscribe("a")));
    }

    #[test]
    fn close_reasons_are_cut_to_what_a_frame_carries_on_a_character_boundary() {
        let book = Book::new(true);
        let long = "å".repeat(100);
        let (_, reason) = close_of(book.passing(engine_close(1002, &long))).unwrap_or_default();
        assert!(reason.len() <= MAX_CLOSE_REASON && reason.len() >= MAX_CLOSE_REASON - 1, "{}", reason.len());
        assert!(long.starts_with(&reason));
    }

    #[test]
    fn the_protocol_is_the_first_known_one_in_the_header() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, axum::http::HeaderValue::from_static(value));
            transport_ws(&headers)
        };
        assert!(with("graphql-transport-ws"));
        assert!(with("chat, graphql-transport-ws, graphql-ws"));
        assert!(!with("graphql-ws, graphql-transport-ws"));
        assert!(!transport_ws(&HeaderMap::new()));
    }
}
