//! Actor WebSockets behind the gateway: the protocol connection (`/connect`, PROTOCOL.md §5.3)
//! and raw sockets handed to `on_websocket` (`/websocket/...`, §5.5).
//!
//! Failures before a socket is admitted (bad token, bad params, unknown actor, a rejecting
//! `on_before_connect`) complete the upgrade and then close with 1011 and reason
//! `{group}.{code}`: clients turn that reason into a typed error, while an HTTP error status on
//! the upgrade would reach them only as an opaque socket failure.
//!
//! Per-connection limits (see `ServerConfig`): what waits to be written to a socket is bounded
//! in bytes, and a client that lets more pile up (a slow consumer) is closed with
//! [`CLOSE_SLOW_CONSUMER`] and reason `ws.slow_consumer`; a protocol connection runs at most
//! `max_actions_in_flight` actions at once, and beyond them the server stops reading its socket
//! until one finishes (TCP backpressure, no error).

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use rivetkit_protocol::actor_query::ActorTarget;
use rivetkit_protocol::error::ActorSpecifier;
use rivetkit_protocol::message::ACTOR_SPECIFIER_BARE_VERSION;
use rivetkit_protocol::path::{self, WsProtocols};
use rivetkit_protocol::{bare, Encoding, Frame, ToClient, ToServer, Value, SERVER_BARE_VERSION};
use rivetkit_runtime::raw::{RawOutbox, RawWebSocket, RequestInfo, WsMessage};
use rivetkit_runtime::{
    ActorError, ConnLimits, Connection, HibernatedConn, Outgoing, OverflowWatch,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::gateway::{self, Routed};
use crate::reply::{
    incoming_too_long, outgoing_too_long, protocol_error, route_not_found, ApiError,
};
use crate::{auth, metrics, target, AppState};
use rivetkit_runtime::metrics::record_error;

/// The subprotocol every RivetKit client offers first and requires the server to select.
const SUBPROTOCOL: &str = "rivet";
/// Close code for errors, as the official server uses it.
const CLOSE_ERROR: u16 = 1011;
const CLOSE_NORMAL: u16 = 1000;
/// A close reason must fit in a control frame.
const MAX_CLOSE_REASON: usize = 123;
/// Messages read from a raw socket and not yet taken by the actor; beyond this the socket
/// stops being read (backpressure) until the actor catches up.
const RAW_INBOX: usize = 64;
/// Close code for a client that does not read what it is sent (policy violation): more than
/// the outgoing budget waited for its socket.
pub(crate) const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// Its close reason; clients read it as the error `ws/slow_consumer`.
const SLOW_CONSUMER_REASON: &str = "ws.slow_consumer";
/// The socket layer's read buffer. Its default (128 KiB, zero-filled on first read) made up
/// most of an idle socket's memory; a larger message still grows the buffer as it needs.
const WS_READ_BUFFER: usize = 4 * 1024;
/// What the socket layer gathers of the messages fed to it before it writes them out (a flush
/// writes what is gathered at once). A connection feeds what is queued for it, up to
/// [`MAX_WRITE_BATCH`] messages, and flushes once: one write system call for the batch instead
/// of one per message, which a fan-out profile showed as most of a subscriber's cost. The
/// buffer is allocated on first write and holds at most this plus one message.
const WS_WRITE_BUFFER: usize = 8 * 1024;

/// A WebSocket upgrade with the server's socket buffers.
fn lean(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .protocols([SUBPROTOCOL])
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
}

fn close_message(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

fn error_close(state: &AppState, error: &ActorError) -> Message {
    record_error(error);
    if error.is_public() {
        tracing::debug!(%error, "websocket refused or closed with an error");
    } else {
        tracing::error!(%error, "internal error on a websocket");
    }
    let body = error.to_body(state.config.expose_errors);
    close_message(CLOSE_ERROR, &format!("{}.{}", body.group, body.code))
}

async fn close_with_error(state: &AppState, mut socket: WebSocket, error: ActorError) {
    if socket.send(error_close(state, &error)).await.is_ok() {
        linger(&mut socket).await;
    }
}

/// How long a socket the server closed waits for the client's answering close frame.
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// After the server's close frame: reads (and drops) what the client still sends, until its
/// answering close or briefly, before the socket is dropped. Over HTTP/1.1 dropping at once is
/// harmless, but over HTTP/2 it resets the stream right behind the close frame, and Chromium
/// then reports 1006 without the reason. Returns at once on a socket already closed.
async fn linger<S>(stream: &mut S)
where
    S: futures::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Close code for a socket that answered nothing for too long: the server goes away from it.
const CLOSE_GOING_AWAY: u16 = 1001;
/// Its close reason, in the `{group}.{code}` form of the other close reasons.
const IDLE_TIMEOUT_REASON: &str = "ws.idle_timeout";

/// How long a socket that answered actions during the drain waits before its 1001 close.
/// Official JS clients (2.3.x) handle a message asynchronously but a close at once: a response
/// followed closely by the close is dropped, and the action reported failed although it was
/// made. Measured with 20 rivetkit 2.3.19 connections sending messages through 4 SIGHUP
/// restarts: 49 of the 80 actions reported failed had been made without this pause, 8 with it
/// (those 8 the client had queued while its socket closed and sent again after reconnecting;
/// none was made twice, none acknowledged was lost).
const ANSWERS_BEFORE_CLOSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Closes a WebSocket because the server shuts down: 1001 tells clients to reconnect, here once
/// the server is back or elsewhere. A peer that does not take the frame in time is left.
/// `answered`: responses went out during the drain, which the client gets time to read first.
async fn close_for_shutdown(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    answered: bool,
) {
    if answered {
        let _ = sink.flush().await;
        tokio::time::sleep(ANSWERS_BEFORE_CLOSE).await;
    }
    let close = sink.send(close_message(CLOSE_GOING_AWAY, "server.shutting_down"));
    let _ = tokio::time::timeout(CLOSE_LINGER, close).await;
}

/// Keeps a socket's peer honest: the server pings it once it has been silent for the ping
/// interval and gives it up once it has sent nothing (no message, no pong) for the idle timeout.
///
/// One timer per socket, moved lazily: hearing from the peer only notes the time, and a timer
/// that fires early is set again to the deadline it should have had. Creating a timer in every
/// round of the socket's loop registered and removed a timer-wheel entry per message, which a
/// fan-out profile showed per subscriber and event.
struct Liveness {
    ping_interval: std::time::Duration,
    idle_timeout: std::time::Duration,
    last_heard: tokio::time::Instant,
    pinged: bool,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// How often a connection held back at its cap of actions in flight is pinged, to learn soon
/// that its client went away (see `serve_connection`).
const HELD_BACK_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// What [`Liveness`] asks of the socket when its time comes.
enum Due {
    Ping,
    Close,
}

impl Liveness {
    fn new(state: &AppState) -> Self {
        let now = tokio::time::Instant::now();
        let mut liveness = Self {
            ping_interval: state.config.websocket_ping_interval,
            idle_timeout: state.config.websocket_idle_timeout,
            last_heard: now,
            pinged: false,
            timer: Box::pin(tokio::time::sleep_until(now)),
        };
        let deadline = liveness.deadline();
        liveness.timer.as_mut().reset(deadline);
        liveness
    }

    fn heard(&mut self) {
        self.last_heard = tokio::time::Instant::now();
        self.pinged = false;
    }

    fn pings_first(&self) -> bool {
        !self.pinged && self.ping_interval < self.idle_timeout
    }

    /// When the next thing is due.
    fn deadline(&self) -> tokio::time::Instant {
        if self.pings_first() {
            self.last_heard + self.ping_interval
        } else {
            self.last_heard + self.idle_timeout
        }
    }

    /// Waits for the next thing due; cancel-safe (it changes nothing until it returns), so it
    /// may be started afresh in every round of a `select!`.
    async fn due(&mut self) -> Due {
        loop {
            let deadline = self.deadline();
            if self.timer.deadline() > deadline {
                self.timer.as_mut().reset(deadline);
            }
            self.timer.as_mut().await;
            // The peer may have been heard since the timer was set: then it is early.
            let deadline = self.deadline();
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            self.timer.as_mut().reset(deadline);
        }
        if self.pings_first() {
            self.pinged = true;
            Due::Ping
        } else {
            Due::Close
        }
    }
}

/// Acts on a [`Due`]; `false` when the socket is to be given up (after sending the close frame,
/// if the peer's buffers take it in time).
async fn keep_alive(sink: &mut futures::stream::SplitSink<WebSocket, Message>, due: Due) -> bool {
    match due {
        Due::Ping => {
            let ping = sink.send(Message::Ping(bytes::Bytes::new()));
            matches!(tokio::time::timeout(CLOSE_LINGER, ping).await, Ok(Ok(())))
        }
        Due::Close => {
            tracing::debug!("websocket closed: no answer to pings");
            let close = sink.send(close_message(CLOSE_GOING_AWAY, IDLE_TIMEOUT_REASON));
            let _ = tokio::time::timeout(CLOSE_LINGER, close).await;
            false
        }
    }
}

fn frame_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => Message::Text(text.into()),
        Frame::Binary(bytes) => Message::Binary(bytes.into()),
    }
}

/// Encoding and params from the subprotocol list, or the error that refuses the client.
fn connection_setup(protocols: WsProtocols) -> Result<(Encoding, Value), ActorError> {
    let encoding = protocols.encoding().map_err(protocol_error)?;
    let params = protocols.conn_params.transpose().map_err(protocol_error)?;
    Ok((encoding, params.unwrap_or(Value::Null)))
}

/// A WebSocket request at the gateway, before the actor is found or the socket admitted.
pub struct Socket {
    upgrade: WebSocketUpgrade,
    target: ActorTarget,
    protocols: WsProtocols,
    /// The upgrade request, at `http://actor{path_and_query}`.
    request: RequestInfo,
    /// The path and query after the actor.
    path_and_query: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Socket {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let upgrade = WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Routed { target, .. } = Routed::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let protocols = parts
            .headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .map(path::parse_ws_protocols)
            .unwrap_or_default();
        let path_and_query = gateway::path_and_query(&parts.uri).to_owned();
        let request = RequestInfo {
            method: parts.method.clone(),
            url: format!("http://actor{path_and_query}"),
            headers: parts.headers.clone(),
        };
        Ok(Socket {
            upgrade,
            target,
            protocols,
            request,
            path_and_query,
        })
    }
}

/// Refuses a socket before it reaches any actor, with `error` as the close reason.
pub fn refuse(state: AppState, upgrade: WebSocketUpgrade, error: ActorError) -> Response {
    lean(upgrade)
        .on_upgrade(move |socket| async move { close_with_error(&state, socket, error).await })
}

/// Refuses the socket `request` asks for with `error` as the close reason, or answers why it
/// is no WebSocket request.
pub async fn refuse_request(state: AppState, request: Request, error: ActorError) -> Response {
    let (mut parts, _) = request.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => refuse(state, upgrade, error),
        Err(rejection) => rejection.into_response(),
    }
}

/// Route layer of the socket endpoints: a socket without the server token is refused once
/// upgraded, with the `auth` error as its close reason.
pub async fn refuse_unauthorized(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match auth::check_request(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => refuse_request(state, request, error).await,
    }
}

/// What a protocol connection writes in, decided per connection.
#[derive(Clone, Copy)]
struct Dialect {
    encoding: Encoding,
    /// The BARE version the client reads: 2 (every client) until it is known to read more,
    /// from the form it was addressed in or from the version of what it writes.
    bare_version: u16,
}

/// `/connect`: a protocol connection.
pub async fn connect(State(state): State<AppState>, socket: Socket) -> Response {
    let Socket {
        upgrade,
        target,
        protocols,
        request,
        ..
    } = socket;
    let bare_version = target::bare_version_hint(&target);
    // 2.3-era clients (they address by query, or name the target in a subprotocol) learn why a
    // connection was refused only from an `Error` message before the close, as the official 2.3
    // core sends it; older clients read the close reason, and get only that, as from 2.1.
    let errors_before_close = bare_version >= ACTOR_SPECIFIER_BARE_VERSION
        || protocols.target.as_deref() == Some("actor");
    let setup = connection_setup(protocols);
    let encoding = setup.as_ref().ok().map(|(encoding, _)| *encoding);
    // The socket layer's own limit only guards memory; the protocol limit is checked below so
    // that an oversize message gets its typed close reason.
    let socket_limit = state.config.max_incoming_message_size.saturating_mul(4);
    lean(upgrade)
        .max_message_size(socket_limit)
        .on_upgrade(move |mut socket| async move {
            let _open = metrics::OpenConnection::new("protocol");
            let admitted = async {
                let (encoding, params) = setup?;
                let record = target::resolve(&state, &target).await?;
                let actor = state.runtime.instance(&record.actor_id).await?;
                let connection = actor
                    .instance()
                    .connect_with_limits(params, Some(request), conn_limits(&state))
                    .await?;
                Ok::<_, ActorError>((encoding, connection, target::specifier(&record)))
            };
            match admitted.await {
                Ok((encoding, connection, actor)) => {
                    let dialect = Dialect {
                        encoding,
                        bare_version,
                    };
                    serve_connection(&state, socket, dialect, connection, actor).await
                }
                Err(error) => {
                    if let Some(encoding) = encoding.filter(|_| errors_before_close) {
                        let refusal = ToClient::Error {
                            error: error.to_body(state.config.expose_errors),
                            action_id: None,
                        };
                        let frame = refusal.encode_versioned(encoding, bare_version);
                        let _ = socket.send(frame_message(frame)).await;
                    }
                    close_with_error(&state, socket, error).await
                }
            }
        })
}

/// What the read side decided about one client message.
enum Read {
    Continue,
    /// An action started; its response will come out of the connection.
    Called,
    Stop(Option<Message>),
}

/// `slot` is the in-flight place reserved for the next action; an action request takes it.
fn read_message(
    state: &AppState,
    dialect: &mut Dialect,
    connection: &Connection,
    slot: &mut Option<OwnedSemaphorePermit>,
    data: &[u8],
    is_text: bool,
) -> Read {
    let encoding = dialect.encoding;
    let limit = state.config.max_incoming_message_size;
    if data.len() > limit {
        return Read::Stop(Some(error_close(
            state,
            &incoming_too_long(data.len(), limit),
        )));
    }
    if is_text && encoding != Encoding::Json {
        let error = ActorError::public("message", "malformed", "text frame on a binary encoding");
        return Read::Stop(Some(error_close(state, &error)));
    }
    let message = match ToServer::decode_versioned(data, encoding) {
        Ok((message, version)) => {
            // A client reads what it writes (v4 and later add only fields it understands).
            if let Some(version) = version {
                dialect.bare_version = dialect.bare_version.max(version);
            }
            message
        }
        Err(error) => return Read::Stop(Some(error_close(state, &protocol_error(error)))),
    };
    match message {
        ToServer::ActionRequest { id, name, args } => {
            connection.spawn_action_holding(id, name, args, slot.take());
            Read::Called
        }
        ToServer::SubscriptionRequest {
            event_name,
            subscribe,
        } => {
            connection.set_subscription(&event_name, subscribe);
            Read::Continue
        }
    }
}

/// An event frame, shared by every subscriber in [`SERVER_BARE_VERSION`], as this client reads
/// it: BARE events differ between versions only in the version prefix.
fn event_frame(event: &rivetkit_runtime::SharedEvent, dialect: Dialect) -> Frame {
    let mut frame = event.frame(dialect.encoding).clone();
    if let Frame::Binary(bytes) = &mut frame {
        if dialect.encoding == Encoding::Bare && dialect.bare_version != SERVER_BARE_VERSION {
            bare::set_version(bytes, dialect.bare_version);
        }
    }
    frame
}

fn write_message(
    state: &AppState,
    dialect: Dialect,
    actor: &ActorSpecifier,
    item: Outgoing,
) -> Message {
    let expose = state.config.expose_errors;
    let Dialect {
        encoding,
        bare_version,
    } = dialect;
    let error_body = |error: &ActorError| {
        record_error(error);
        let mut body = error.to_body(expose);
        body.actor = Some(actor.clone());
        body
    };
    let frame = match item {
        Outgoing::Event(event) => event_frame(&event, dialect),
        Outgoing::ActionResponse {
            id,
            result: Ok(output),
        } => {
            let frame =
                ToClient::ActionResponse { id, output }.encode_versioned(encoding, bare_version);
            let size = match &frame {
                Frame::Text(text) => text.len(),
                Frame::Binary(bytes) => bytes.len(),
            };
            let limit = state.config.max_outgoing_message_size;
            if size <= limit {
                frame
            } else {
                ToClient::Error {
                    error: error_body(&outgoing_too_long(size, limit)),
                    action_id: Some(id),
                }
                .encode_versioned(encoding, bare_version)
            }
        }
        Outgoing::ActionResponse {
            id,
            result: Err(error),
        } => {
            if !error.is_public() {
                tracing::error!(%error, action_id = id, "action failed");
            }
            ToClient::Error {
                error: error_body(&error),
                action_id: Some(id),
            }
            .encode_versioned(encoding, bare_version)
        }
        Outgoing::Error(error) => ToClient::Error {
            error: error_body(&error),
            action_id: None,
        }
        .encode_versioned(encoding, bare_version),
        Outgoing::Close(code, reason) => return close_message(code, &reason),
        Outgoing::Hibernate(_) => unreachable!("the connection loop handles hibernation itself"),
    };
    frame_message(frame)
}

/// The per-connection limits of the server's configuration.
fn conn_limits(state: &AppState) -> ConnLimits {
    ConnLimits {
        max_outgoing_bytes: state.config.max_outgoing_queue_bytes,
        max_subscriptions: state.config.max_subscriptions,
    }
}

/// Resolves once a connection's queue overflowed; made once per connection (and again when the
/// connection changes), not per write: waiting on it registers with the connection's signal.
type Overflow = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// An [`Overflow`] of `watch`'s queue; one that never resolves without a watch.
fn overflow_signal(watch: Option<OverflowWatch>) -> Overflow {
    Box::pin(async move {
        match watch {
            Some(watch) => watch.overflowed().await,
            None => std::future::pending().await,
        }
    })
}

/// How a write to the client ended.
enum Written {
    Sent,
    /// The socket is done (closed or failed).
    Failed,
    /// The client's queue overflowed while the write waited for it to read.
    Overflowed,
}

/// Runs `write` (a send, feed or flush of the socket), unless the connection's queue overflows
/// first: a client that stopped reading holds the write forever, and the overflow ends it.
async fn write_watching(
    write: impl std::future::Future<Output = Result<(), axum::Error>>,
    overflow: &mut Overflow,
) -> Written {
    tokio::select! {
        sent = write => match sent {
            Ok(()) => Written::Sent,
            Err(_) => Written::Failed,
        },
        () = overflow.as_mut() => Written::Overflowed,
    }
}

/// Items one round of a connection's loop writes before it flushes them in one go and looks at
/// its other duties (reads, pings, shutdown) again.
const MAX_WRITE_BATCH: usize = 64;

/// Closes a slow consumer's socket: its queue is already dropped. The close frame waits behind
/// what the client has not read yet, so it gets as long as a silent peer would.
async fn close_slow_consumer(
    state: &AppState,
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
) {
    let close = sink.send(close_message(CLOSE_SLOW_CONSUMER, SLOW_CONSUMER_REASON));
    let sent = tokio::time::timeout(state.config.websocket_idle_timeout, close).await;
    tracing::debug!(
        ?sent,
        "websocket closed: its client does not read what it is sent"
    );
}

/// Serves one `/connect` socket. If the actor hibernates the connection (it goes to sleep but
/// keeps its connections), the socket stays open with the actor asleep; the client's next message
/// wakes the actor and resumes the same connection, state included.
///
/// The socket is read only while a place for one more action is reserved: with
/// `max_actions_in_flight` actions running the server waits for one to finish, and the client's
/// further messages wait in the network buffers.
///
/// When the server shuts down, the socket stops reading, writes the responses of the actions in
/// flight (until the drain's deadline) and closes with 1001.
async fn serve_connection(
    state: &AppState,
    socket: WebSocket,
    mut dialect: Dialect,
    connection: Connection,
    actor: ActorSpecifier,
) {
    let (mut sink, mut stream) = socket.split();
    let actor_id = connection.actor().meta().actor_id.clone();
    let init = ToClient::Init {
        actor_id: actor_id.clone(),
        connection_id: connection.id().to_owned(),
    };
    let init = init.encode_versioned(dialect.encoding, dialect.bare_version);
    if sink.send(frame_message(init)).await.is_err() {
        return;
    }
    let mut overflow = overflow_signal(Some(connection.overflow_watch()));
    let mut live = Some(connection);
    let mut hibernated: Option<HibernatedConn> = None;
    let mut liveness = Liveness::new(state);
    let places = std::sync::Arc::new(Semaphore::new(state.config.max_actions_in_flight.max(1)));
    let mut slot: Option<OwnedSemaphorePermit> = None;
    let mut slow_consumer = false;
    // Actions read whose responses are not written yet, and the drain's deadline once the
    // server shuts down. (A place is given back when the action ends, before its response is
    // written: the drain waits for the writes.)
    let mut in_flight = 0usize;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let mut answered_while_draining = false;
    // Made once: a fresh wait in every round registered with the shutdown signal every time.
    let draining = state.draining.started();
    tokio::pin!(draining);
    loop {
        if drain_deadline.is_some() && in_flight == 0 {
            close_for_shutdown(&mut sink, answered_while_draining).await;
            break;
        }
        let outgoing = async {
            match live.as_mut() {
                Some(connection) => connection.next_outgoing().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            deadline = &mut draining, if drain_deadline.is_none() => {
                drain_deadline = Some(deadline);
            }
            () = sleep_until_some(drain_deadline) => {
                close_for_shutdown(&mut sink, answered_while_draining).await;
                break;
            }
            due = liveness.due() => {
                // Not reading, the server cannot hear the client's pongs: it only pings then,
                // and a ping that cannot be written shows a client that is gone.
                let due = match (due, &slot) {
                    (Due::Close, None) => {
                        liveness.heard();
                        Due::Ping
                    }
                    (due, _) => due,
                };
                if !keep_alive(&mut sink, due).await {
                    break;
                }
            }
            // Held back at its cap, the socket is not read, so a client that went away is not
            // seen: its parked actions (queue waits) would run on until a routine ping, up to an
            // idle timeout later. A ping written to a gone peer makes the next write fail.
            () = tokio::time::sleep(HELD_BACK_PING_INTERVAL), if slot.is_none() && drain_deadline.is_none() => {
                if !keep_alive(&mut sink, Due::Ping).await {
                    break;
                }
            }
            permit = places.clone().acquire_owned(), if slot.is_none() && drain_deadline.is_none() => {
                let Ok(permit) = permit else { break };
                // What the client sent while the server was not reading counts as heard.
                liveness.heard();
                slot = Some(permit);
            }
            incoming = stream.next(), if slot.is_some() && drain_deadline.is_none() => {
                liveness.heard();
                let (data, is_text) = match &incoming {
                    Some(Ok(Message::Text(text))) => (text.as_bytes(), true),
                    Some(Ok(Message::Binary(bytes))) => (bytes.as_ref(), false),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) => {
                        answer_close(&mut sink).await;
                        break;
                    }
                    Some(Err(_)) | None => break,
                };
                if let Some(snapshot) = hibernated.take() {
                    match resume(state, &actor_id, snapshot).await {
                        Ok(connection) => {
                            overflow = overflow_signal(Some(connection.overflow_watch()));
                            live = Some(connection);
                        }
                        Err(error) => {
                            let _ = sink.send(error_close(state, &error)).await;
                            break;
                        }
                    }
                }
                let Some(connection) = live.as_ref() else { break };
                match read_message(state, &mut dialect, connection, &mut slot, data, is_text) {
                    Read::Continue => {}
                    Read::Called => in_flight += 1,
                    Read::Stop(close) => {
                        if let Some(close) = close {
                            let _ = sink.send(close).await;
                        }
                        break;
                    }
                }
            }
            () = overflow.as_mut() => {
                slow_consumer = true;
                break;
            }
            Some(item) = outgoing => {
                // This item and what is queued behind it (up to a batch) go out in one write.
                let mut next = Some(item);
                let mut written_events = Vec::new();
                let mut batched = 0;
                let mut closing = false;
                let mut written = Written::Sent;
                while let Some(item) = next.take() {
                    if let Outgoing::Hibernate(snapshot) = item {
                        if let Some(connection) = live.take() {
                            connection.detach();
                        }
                        overflow = overflow_signal(None);
                        hibernated = Some(*snapshot);
                        break;
                    }
                    if matches!(item, Outgoing::ActionResponse { .. }) {
                        in_flight = in_flight.saturating_sub(1);
                        answered_while_draining |= drain_deadline.is_some();
                    }
                    if let Outgoing::Event(event) = &item {
                        if event.awaits_write() {
                            written_events.push(event.clone());
                        }
                    }
                    let message = write_message(state, dialect, &actor, item);
                    closing = matches!(message, Message::Close(_));
                    written = write_watching(sink.feed(message), &mut overflow).await;
                    batched += 1;
                    if closing || !matches!(written, Written::Sent) || batched == MAX_WRITE_BATCH {
                        break;
                    }
                    next = live.as_mut().and_then(Connection::try_next_outgoing);
                }
                if matches!(written, Written::Sent) {
                    written = write_watching(sink.flush(), &mut overflow).await;
                }
                match written {
                    Written::Sent if !closing => {}
                    Written::Sent | Written::Failed => break,
                    Written::Overflowed => {
                        slow_consumer = true;
                        break;
                    }
                }
                for event in written_events {
                    event.mark_written();
                }
            }
        }
    }
    // The actor is done with this client now, not after the close handshake; a slow
    // consumer's queue is freed before its socket is given the time to take the close frame.
    drop(live);
    if slow_consumer {
        close_slow_consumer(state, &mut sink).await;
    }
    linger(&mut stream).await;
}

/// Resolves at `deadline`; never without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Wakes the actor and puts a hibernated connection back.
async fn resume(
    state: &AppState,
    actor_id: &str,
    snapshot: HibernatedConn,
) -> Result<Connection, ActorError> {
    let actor = state.runtime.instance(actor_id).await?;
    actor.instance().resume(snapshot, conn_limits(state)).await
}

/// `/websocket/...`: a raw socket, handed to the actor's `on_websocket` with the path after
/// `/websocket`.
pub async fn raw(State(state): State<AppState>, socket: Socket) -> Response {
    let Some(raw_path) = path::raw_websocket_path(&socket.path_and_query) else {
        return ApiError::from(route_not_found(&socket.path_and_query)).into_response();
    };
    let Socket {
        upgrade,
        target,
        protocols,
        mut request,
        ..
    } = socket;
    request.url = format!("http://actor{raw_path}");
    let setup = connection_setup(protocols);
    let socket_limit = state.config.max_raw_request_body;
    lean(upgrade)
        .max_message_size(socket_limit)
        .on_upgrade(move |socket| async move {
            let _open = metrics::OpenConnection::new("raw");
            let (inbox, incoming) = mpsc::channel(RAW_INBOX);
            let (raw_socket, outbox) =
                RawWebSocket::new(raw_path, incoming, state.config.max_outgoing_queue_bytes);
            let handling = async {
                let (_, params) = setup?;
                let record = target::resolve(&state, &target).await?;
                let actor = state.runtime.instance(&record.actor_id).await?;
                let instance = actor.instance();
                Ok::<_, ActorError>(instance.handle_websocket(params, request, raw_socket))
            };
            match handling.await {
                Ok(handler) => pump_raw(&state, socket, inbox, outbox, tokio::spawn(handler)).await,
                Err(error) => close_with_error(&state, socket, error).await,
            }
        })
}

/// Moves frames between the client's socket and the actor's handler until either side ends, or
/// the server shuts down (then the socket closes with 1001 and the handler sees it end).
async fn pump_raw(
    state: &AppState,
    socket: WebSocket,
    inbox: mpsc::Sender<WsMessage>,
    mut outbox: RawOutbox,
    mut handler: tokio::task::JoinHandle<Result<(), ActorError>>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut liveness = Liveness::new(state);
    let watch = outbox.overflow_watch();
    let mut overflow = overflow_signal(Some(watch.clone()));
    let mut slow_consumer = false;
    loop {
        tokio::select! {
            _ = state.draining.started() => {
                close_for_shutdown(&mut sink, false).await;
                break;
            }
            due = liveness.due() => {
                if !keep_alive(&mut sink, due).await {
                    break;
                }
            }
            incoming = stream.next() => {
                liveness.heard();
                let message = match incoming {
                    Some(Ok(Message::Text(text))) => WsMessage::Text(text.as_str().to_owned()),
                    Some(Ok(Message::Binary(bytes))) => WsMessage::Binary(bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) => {
                        answer_close(&mut sink).await;
                        break;
                    }
                    Some(Err(_)) | None => break,
                };
                // A handler that stopped reading just misses the message.
                let _ = inbox.send(message).await;
            }
            () = overflow.as_mut() => {
                slow_consumer = true;
                break;
            }
            Some(message) = outbox.recv() => {
                match send_raw(&mut sink, message, &mut overflow).await {
                    Written::Sent => {}
                    Written::Failed => break,
                    Written::Overflowed => {
                        slow_consumer = true;
                        break;
                    }
                }
            }
            finished = &mut handler => {
                // What the handler sent before it returned goes out first.
                let mut written = Written::Sent;
                while let Some(message) = outbox.try_recv() {
                    written = send_raw(&mut sink, message, &mut overflow).await;
                    if !matches!(written, Written::Sent) {
                        break;
                    }
                }
                // Messages refused for the budget are gone: the client must not see a clean end.
                if matches!(written, Written::Sent) && watch.is_overflowed() {
                    written = Written::Overflowed;
                }
                match written {
                    Written::Sent => {
                        let close = match finished {
                            Ok(Ok(())) => close_message(CLOSE_NORMAL, ""),
                            Ok(Err(error)) => error_close(state, &error),
                            Err(panic) => error_close(state, &ActorError::internal(format!("websocket handler panicked: {panic}"))),
                        };
                        let _ = sink.send(close).await;
                    }
                    Written::Failed => return,
                    Written::Overflowed => slow_consumer = true,
                }
                break;
            }
        }
    }
    // The handler sees the socket end now, not after the close handshake; a slow consumer's
    // queue is freed before its socket is given the time to take the close frame.
    drop(inbox);
    if slow_consumer {
        drop(outbox);
        close_slow_consumer(state, &mut sink).await;
    }
    linger(&mut stream).await;
}

/// Completes a close the client started: the socket layer has queued the answering close
/// frame, and flushing sends it, so the client sees a clean close instead of a dropped socket.
async fn answer_close(sink: &mut futures::stream::SplitSink<WebSocket, Message>) {
    let _ = sink.flush().await;
    let _ = sink.close().await;
}

/// Sends one message of a raw socket, unless its queue overflows first; a close from the
/// actor ends the socket (as [`Written::Failed`]).
async fn send_raw(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    message: WsMessage,
    overflow: &mut Overflow,
) -> Written {
    let message = match message {
        WsMessage::Text(text) => Message::Text(text.into()),
        WsMessage::Binary(bytes) => Message::Binary(bytes),
        WsMessage::Close(code, reason) => {
            let _ = sink.send(close_message(code, &reason)).await;
            return Written::Failed;
        }
    };
    write_watching(sink.send(message), overflow).await
}
