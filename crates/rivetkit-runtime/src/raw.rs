//! Raw HTTP and raw WebSocket, as actor code sees them (`on_request`, `on_websocket`).
//!
//! The runtime speaks plain `http` types and channels here so that actor code never depends on
//! the HTTP framework the server happens to use: the server bridges its sockets to these.

use bytes::Bytes;
use tokio::sync::mpsc;

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
    Text(String),
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
    /// Used by the server: `incoming` carries what the client sends, `outgoing` what to send it.
    pub fn new(
        path: String,
        incoming: mpsc::Receiver<WsMessage>,
        outgoing: mpsc::UnboundedSender<WsMessage>,
    ) -> Self {
        Self {
            path,
            incoming,
            sender: WsSender(outgoing),
        }
    }

    /// The path after `/websocket`, with its query: `/stream`, `/`, `/a?b=1`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next message from the client; `None` once the client has gone.
    pub async fn recv(&mut self) -> Option<WsMessage> {
        self.incoming.recv().await
    }

    pub fn sender(&self) -> WsSender {
        self.sender.clone()
    }
}

/// The sending half of a raw WebSocket.
#[derive(Clone, Debug)]
pub struct WsSender(mpsc::UnboundedSender<WsMessage>);

impl WsSender {
    /// Queues a message; returns `false` if the socket is already closed.
    pub fn send(&self, message: WsMessage) -> bool {
        self.0.send(message).is_ok()
    }

    pub fn send_text(&self, text: impl Into<String>) -> bool {
        self.send(WsMessage::Text(text.into()))
    }

    pub fn close(&self, code: u16, reason: impl Into<String>) -> bool {
        self.send(WsMessage::Close(code, reason.into()))
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// The HTTP request that opened a connection or carried a stateless call, as connection hooks
/// see it (`c.request()`).
#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub method: http::Method,
    /// The URL as the actor sees it, e.g. `http://actor/connect`.
    pub url: String,
    pub headers: http::HeaderMap,
}
