//! The server as a client sees it: the manager API and stateless actions over HTTP (JSON), and
//! protocol connections over WebSocket (any encoding).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use rivetkit_protocol::{Encoding, Frame, ToClient, ToServer};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A JSON answer: its status and body (`Null` when the body is not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// `group/code` of an error body, or empty.
    pub fn error_code(&self) -> String {
        match (self.body["group"].as_str(), self.body["code"].as_str()) {
            (Some(group), Some(code)) => format!("{group}/{code}"),
            _ => String::new(),
        }
    }
}

/// HTTP access to one server, with a token when it needs one.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: String, token: Option<&str>) -> Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            headers.insert("authorization", format!("Bearer {token}").parse()?);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self { http, base })
    }

    async fn answer(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok(Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// `PUT /actors` (get or create) or `POST /actors` (create), with a CBOR `input` if given.
    pub async fn create(
        &self,
        get_or_create: bool,
        namespace: &str,
        name: &str,
        key: &str,
        input: Option<&Value>,
    ) -> Result<Answer, reqwest::Error> {
        let mut body = json!({"name": name, "key": key, "runner_name_selector": "default", "crash_policy": "sleep"});
        if let Some(input) = input {
            let mut cbor = Vec::new();
            rivetkit_protocol::cbor::encode(input, &mut cbor);
            body["input"] = base64::engine::general_purpose::STANDARD
                .encode(cbor)
                .into();
        }
        let url = format!("{}/actors?namespace={namespace}", self.base);
        let request = if get_or_create {
            self.http.put(url)
        } else {
            self.http.post(url)
        };
        Self::answer(request.json(&body)).await
    }

    /// The id of `name` + `key` in the default namespace, created if needed.
    pub async fn actor_id(&self, name: &str, key: &str) -> Result<String> {
        let answer = self.create(true, "default", name, key, None).await?;
        answer.body["actor"]["actor_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("PUT /actors answered {}: {}", answer.status, answer.body))
    }

    /// `GET {path}` (path includes the query).
    pub async fn get(&self, path: &str) -> Result<Answer, reqwest::Error> {
        Self::answer(self.http.get(format!("{}{path}", self.base))).await
    }

    /// A stateless action in the JSON encoding.
    pub async fn action(
        &self,
        actor_id: &str,
        action: &str,
        args: Vec<Value>,
    ) -> Result<Answer, reqwest::Error> {
        let request = self
            .http
            .post(format!("{}/gateway/{actor_id}/action/{action}", self.base))
            .header("x-rivet-encoding", "json")
            .json(&json!({ "args": args }));
        Self::answer(request).await
    }

    /// A stateless action that must succeed; its output.
    pub async fn output(&self, actor_id: &str, action: &str, args: Vec<Value>) -> Result<Value> {
        let answer = self.action(actor_id, action, args).await?;
        if answer.status != 200 {
            bail!(
                "{action} on {actor_id} answered {}: {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.body["output"].clone())
    }
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A protocol connection to one actor (`/gateway/{id}/connect`), past its Init message.
pub struct Conn {
    pub socket: Socket,
    pub encoding: Encoding,
}

/// How long a connection waits for one message before it counts the server as gone.
const RECV_LIMIT: Duration = Duration::from_secs(15);

impl Conn {
    pub async fn open(ws_base: &str, actor_id: &str, encoding: Encoding) -> Result<Self> {
        let socket =
            open_socket(&format!("{ws_base}/gateway/{actor_id}/connect"), encoding).await?;
        let mut conn = Self { socket, encoding };
        match conn.recv().await? {
            ToClient::Init { .. } => Ok(conn),
            other => bail!("expected Init, got {other:?}"),
        }
    }

    pub async fn send(&mut self, message: &ToServer) -> Result<()> {
        let frame = match message.encode(self.encoding, 2) {
            Frame::Text(text) => Message::Text(text.into()),
            Frame::Binary(bytes) => Message::Binary(bytes.into()),
        };
        self.socket.send(frame).await?;
        Ok(())
    }

    pub async fn call(&mut self, id: u64, name: &str, args: Vec<Value>) -> Result<()> {
        self.send(&ToServer::ActionRequest {
            id,
            name: name.into(),
            args,
        })
        .await
    }

    pub async fn subscribe(&mut self, event: &str) -> Result<()> {
        self.send(&ToServer::SubscriptionRequest {
            event_name: event.into(),
            subscribe: true,
        })
        .await
    }

    /// The next protocol message; an error when the socket closes or stays silent too long.
    pub async fn recv(&mut self) -> Result<ToClient> {
        loop {
            let message = tokio::time::timeout(RECV_LIMIT, self.socket.next())
                .await
                .context("no message in time")?
                .ok_or_else(|| anyhow!("socket ended"))??;
            let data = match message {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Close(frame) => bail!("closed: {frame:?}"),
                _ => continue,
            };
            return Ok(ToClient::decode(&data, self.encoding)?);
        }
    }
}

/// Opens a WebSocket offering the `rivet` subprotocol and `encoding`.
pub async fn open_socket(url: &str, encoding: Encoding) -> Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("rivet, rivet_encoding.{}", encoding.as_str()).parse()?,
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

pub const ENCODINGS: [Encoding; 3] = [Encoding::Json, Encoding::Cbor, Encoding::Bare];
