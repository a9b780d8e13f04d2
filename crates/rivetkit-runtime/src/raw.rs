//! Raw HTTP and raw WebSocket, as actor code sees them (`on_request`, `on_websocket`).
//!
//! The runtime speaks plain `http` types and channels here so that actor code never depends on
//! the HTTP framework the server happens to use: the server bridges its sockets to these.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::conn::{ConnLimits, ConnLink, OverflowWatch, ITEM_OVERHEAD};

/// The request an actor's `on_request` handler receives; its URI is `http://actor/{path}?{query}`.
pub type Request = http::Request<Bytes>;
/// What an `on_request` handler answers.
pub type Response = http::Response<Bytes>;

/// Builds a `200 application/json` response.
pub fn json_response<T: serde::Serialize>(value: &T) -> Result<Response, crate::ActorError> {
    let body = serde_json::to_vec(value)?;
    Ok(http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body))?)
}

/// One WebSocket message of a raw socket. Frames pass through unchanged: text stays text.
#[derive(Clone, Debug, PartialEq)]
pub enum WsMessage {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
    /// Close with a code and a reason (at most 123 bytes).
    Close(u16, String),
}

/// A raw WebSocket handed to an actor's `on_websocket` handler.
///
/// Receive with [`RawWebSocket::recv`]; send through a [`WsSender`], which can be cloned and
/// kept elsewhere (for example in the actor's vars) to push messages later.
pub struct RawWebSocket {
    path: String,
    incoming: mpsc::Receiver<WsMessage>,
    sender: WsSender,
}

impl RawWebSocket {
    /// Used by the server: `incoming` carries what the client sends; what the handler sends
    /// comes out of the returned [`RawOutbox`], which holds at most `max_outgoing_bytes` not yet
    /// taken (see [`ConnLimits::max_outgoing_bytes`]).
    pub fn new(
        path: String,
        incoming: mpsc::Receiver<WsMessage>,
        max_outgoing_bytes: usize,
    ) -> (Self, RawOutbox) {
        let (items, outgoing) = mpsc::unbounded_channel();
        let link = ConnLink::new(ConnLimits {
            max_outgoing_bytes,
            ..ConnLimits::default()
        });
        let socket = Self {
            path,
            incoming,
            sender: WsSender {
                items,
                link: link.clone(),
            },
        };
        (
            socket,
            RawOutbox {
                items: outgoing,
                link,
            },
        )
    }

    /// The path after `/websocket`, with its query: `/stream`, `/`, `/a?b=1`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next message from the client; `None` once the client has gone.
    pub async fn recv(&mut self) -> Option<WsMessage> {
        self.incoming.recv().await
    }

    /// A handle that sends on this socket from anywhere (other tasks, other connections' actions).
    pub fn sender(&self) -> WsSender {
        self.sender.clone()
    }
}

/// The server's end of a raw socket's outgoing queue.
pub struct RawOutbox {
    items: mpsc::UnboundedReceiver<(WsMessage, usize)>,
    link: Arc<ConnLink>,
}

impl RawOutbox {
    /// The next message to write; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<WsMessage> {
        let (message, size) = self.items.recv().await?;
        self.link.release(size);
        Some(message)
    }

    /// The next message already queued, if any.
    pub fn try_recv(&mut self) -> Option<WsMessage> {
        let (message, size) = self.items.try_recv().ok()?;
        self.link.release(size);
        Some(message)
    }

    /// Tells when the handler queued more than the budget: the client does not read fast
    /// enough, and the socket is to be closed.
    pub fn overflow_watch(&self) -> OverflowWatch {
        OverflowWatch(self.link.clone())
    }
}

/// The sending half of a raw WebSocket.
#[derive(Clone)]
pub struct WsSender {
    items: mpsc::UnboundedSender<(WsMessage, usize)>,
    link: Arc<ConnLink>,
}

impl std::fmt::Debug for WsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl WsSender {
    /// Queues a message without waiting; returns `false` if the socket is already closed, or
    /// is being closed because its client does not read what it is sent (more than the
    /// server's outgoing budget waits for it).
    pub fn send(&self, message: WsMessage) -> bool {
        let size = match &message {
            WsMessage::Text(text) => ITEM_OVERHEAD + text.len(),
            WsMessage::Binary(bytes) => ITEM_OVERHEAD + bytes.len(),
            // A close always gets through.
            WsMessage::Close(..) => 0,
        };
        if !self.link.admit(size) {
            return false;
        }
        if self.items.send((message, size)).is_err() {
            self.link.release(size);
            return false;
        }
        true
    }

    /// Queues a text frame; `false` as for [`send`](Self::send).
    pub fn send_text(&self, text: impl Into<String>) -> bool {
        self.send(WsMessage::Text(text.into()))
    }

    /// Queues a close frame (reason at most 123 bytes); `false` as for [`send`](Self::send).
    pub fn close(&self, code: u16, reason: impl Into<String>) -> bool {
        self.send(WsMessage::Close(code, reason.into()))
    }

    /// Whether the socket is closed, or being closed as a slow consumer.
    pub fn is_closed(&self) -> bool {
        self.items.is_closed() || self.link.overflowed.is_raised()
    }
}

/// The HTTP request that opened a connection or carried a stateless call, as connection hooks
/// see it (`c.request()`).
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// The request method.
    pub method: http::Method,
    /// The URL as the actor sees it, e.g. `http://actor/connect`.
    pub url: String,
    /// The request headers, as the client sent them.
    pub headers: http::HeaderMap,
}
