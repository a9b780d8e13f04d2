//! The protocol messages and their three encodings (§5, §6).
//!
//! JSON and CBOR carry the same object tree (§6.1), so both are written through one
//! `TreeWriter` straight into the output buffer, and both are read by first decoding into a
//! compat-space [`Value`] and then picking fields out of it (the tree *is* the message there,
//! and args/outputs must become values anyway). BARE has its own layouts (§6.4) with user values
//! embedded as CBOR `data`.
//!
//! Version policy (§6.5): the server writes `ToClient` in BARE v2 (readable by every client)
//! until the client shows it reads v4 (2.3.x clients write v4; v4 differs from v3 only in the
//! errors' trailing `actor`), HTTP responses in the request's version, queue messages in v3
//! unless the request was v4; every reader accepts v1–v4.

use std::io::Write as _;

use serde::Serialize;

use crate::bare::{self, Reader};
use crate::cbor;
use crate::error::{ActorSpecifier, ErrorBody, ProtocolError};
use crate::value::{self, Marker, Value};

/// The payload encoding chosen by `x-rivet-encoding` / `rivet_encoding.` (§6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Text frames, the default when a request names no encoding.
    Json,
    /// cbor-x flavoured CBOR, binary frames.
    Cbor,
    /// Versioned BARE with user values as embedded CBOR, binary frames.
    Bare,
}

impl Encoding {
    /// The encoding a header or subprotocol names; `None` for anything else.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s {
            "json" => Some(Encoding::Json),
            "cbor" => Some(Encoding::Cbor),
            "bare" => Some(Encoding::Bare),
            _ => None,
        }
    }

    /// The name used on the wire (`json`, `cbor`, `bare`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Cbor => "cbor",
            Encoding::Bare => "bare",
        }
    }

    /// The `Content-Type` of bodies in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Cbor | Encoding::Bare => "application/octet-stream",
        }
    }
}

/// One WebSocket message: JSON travels in text frames, CBOR and BARE in binary frames.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// A text frame (JSON).
    Text(String),
    /// A binary frame (CBOR, BARE).
    Binary(Vec<u8>),
}

impl Frame {
    /// The frame's payload.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Frame::Text(s) => s.as_bytes(),
            Frame::Binary(b) => b,
        }
    }

    fn from_encoded(enc: Encoding, bytes: Vec<u8>) -> Frame {
        match enc {
            Encoding::Json => {
                Frame::Text(String::from_utf8(bytes).expect("the JSON writer only produces UTF-8"))
            }
            Encoding::Cbor | Encoding::Bare => Frame::Binary(bytes),
        }
    }
}

/// The BARE version the server writes `ToClient` in (§6.5).
pub const SERVER_BARE_VERSION: u16 = 2;
/// The BARE version a client should write `ToServer` / `HttpActionRequest` in (§6.5).
pub const CLIENT_BARE_VERSION: u16 = 2;
/// Queue messages appeared in BARE v3; v4 has the same layout.
pub const QUEUE_BARE_VERSION: u16 = 3;
/// The first version whose errors name the actor ([`crate::error::ActorSpecifier`]).
pub const ACTOR_SPECIFIER_BARE_VERSION: u16 = 4;

/// Server → client WebSocket message.
#[derive(Clone, Debug, PartialEq)]
pub enum ToClient {
    /// The first message of every connection.
    Init {
        /// The actor the connection reached.
        actor_id: String,
        /// This connection's id, fresh for every connection.
        connection_id: String,
    },
    /// A failed action, or (without `action_id`) a connection-level error.
    Error {
        /// What went wrong.
        error: ErrorBody,
        /// The failed action's id; `None` for a connection-level error.
        action_id: Option<u64>,
    },
    /// An action's result.
    ActionResponse {
        /// The id of the request it answers.
        id: u64,
        /// The action's return value (`null` when it returned nothing).
        output: Value,
    },
    /// An event, broadcast to subscribers or sent to this connection.
    Event {
        /// The event name.
        name: String,
        /// The event's arguments.
        args: Vec<Value>,
    },
}

impl ToClient {
    fn tag(&self) -> &'static str {
        match self {
            ToClient::Init { .. } => "Init",
            ToClient::Error { .. } => "Error",
            ToClient::ActionResponse { .. } => "ActionResponse",
            ToClient::Event { .. } => "Event",
        }
    }

    /// Encodes in [`SERVER_BARE_VERSION`] (for BARE), which every client reads.
    pub fn encode(&self, enc: Encoding) -> Frame {
        self.encode_versioned(enc, SERVER_BARE_VERSION)
    }

    /// Encodes for a client known to read `bare_version` (used only for BARE).
    pub fn encode_versioned(&self, enc: Encoding, bare_version: u16) -> Frame {
        let mut out = Vec::new();
        self.encode_into(enc, bare_version, &mut out);
        Frame::from_encoded(enc, out)
    }

    /// Appends the encoded message to a (reusable) buffer; JSON is appended as UTF-8 text.
    pub fn encode_into(&self, enc: Encoding, bare_version: u16, out: &mut Vec<u8>) {
        match enc {
            Encoding::Bare => self.write_bare(bare_version, out),
            Encoding::Json | Encoding::Cbor => {
                let mut w = TreeWriter::new(enc, out);
                w.open_body(self.tag());
                match self {
                    ToClient::Init {
                        actor_id,
                        connection_id,
                    } => {
                        w.open(2);
                        w.key("actorId");
                        w.str(actor_id);
                        w.key("connectionId");
                        w.str(connection_id);
                        w.close();
                    }
                    ToClient::Error { error, action_id } => {
                        error.write_tree(&mut w, Some(*action_id), bare_version)
                    }
                    ToClient::ActionResponse { id, output } => {
                        w.open(2);
                        w.key("id");
                        w.id(*id);
                        // Always present, even for null: clients reject a response without it.
                        w.key("output");
                        w.value(output);
                        w.close();
                    }
                    ToClient::Event { name, args } => {
                        w.open(2);
                        w.key("name");
                        w.str(name);
                        w.key("args");
                        w.args(args);
                        w.close();
                    }
                }
                w.close_body();
            }
        }
    }

    fn write_bare(&self, version: u16, out: &mut Vec<u8>) {
        bare::write_version(out, version);
        match self {
            ToClient::Init {
                actor_id,
                connection_id,
            } => {
                out.push(0);
                bare::write_str(out, actor_id);
                bare::write_str(out, connection_id);
                if version == 1 {
                    // v1's connectionToken: always empty, never read back (§5.3).
                    bare::write_str(out, "");
                }
            }
            ToClient::Error { error, action_id } => {
                out.push(1);
                error.write_bare_fields(out);
                bare::write_optional(out, *action_id, bare::write_uint);
                error.write_bare_actor(version, out);
            }
            ToClient::ActionResponse { id, output } => {
                out.push(2);
                bare::write_uint(out, *id);
                bare::write_cbor(out, output);
            }
            ToClient::Event { name, args } => {
                out.push(3);
                bare::write_str(out, name);
                write_bare_args(out, args);
            }
        }
    }

    /// Client side: reads any encoding, BARE v1–v4.
    pub fn decode(data: &[u8], enc: Encoding) -> Result<ToClient, ProtocolError> {
        if enc != Encoding::Bare {
            return Self::from_tree(decode_tree(data, enc)?);
        }
        let mut r = Reader::new(data);
        let version = r.version()?;
        let msg = match r.u8()? {
            0 => {
                let actor_id = r.str()?.to_owned();
                let connection_id = r.str()?.to_owned();
                if version == 1 {
                    r.str()?;
                }
                ToClient::Init {
                    actor_id,
                    connection_id,
                }
            }
            1 => {
                let mut error = ErrorBody::read_bare_fields(&mut r)?;
                let action_id = r.optional(Reader::uint)?;
                error.actor = ErrorBody::read_bare_actor(version, &mut r)?;
                ToClient::Error { error, action_id }
            }
            2 => ToClient::ActionResponse {
                id: r.uint()?,
                output: r.cbor()?,
            },
            3 => ToClient::Event {
                name: r.str()?.to_owned(),
                args: args_from_value(r.cbor()?)?,
            },
            tag => return Err(ProtocolError::UnknownTag(tag)),
        };
        r.finish()?;
        Ok(msg)
    }

    fn from_tree(tree: Value) -> Result<ToClient, ProtocolError> {
        let (tag, mut val) = take_body(tree)?;
        Ok(match tag.as_str() {
            "Init" => ToClient::Init {
                actor_id: take_string(&mut val, "actorId")?,
                connection_id: take_string(&mut val, "connectionId")?,
            },
            "Error" => {
                // The key is required; null means a connection-level error (§6.2).
                let action_id = match take(&mut val, "actionId")? {
                    Value::Null => None,
                    v => Some(id_from_value(&v)?),
                };
                ToClient::Error {
                    error: ErrorBody::from_tree_fields(&mut val)?,
                    action_id,
                }
            }
            "ActionResponse" => ToClient::ActionResponse {
                id: id_from_value(&take(&mut val, "id")?)?,
                output: take(&mut val, "output")?,
            },
            "Event" => ToClient::Event {
                name: take_string(&mut val, "name")?,
                args: args_from_value(take(&mut val, "args")?)?,
            },
            _ => return Err(ProtocolError::Expected("a known ToClient tag")),
        })
    }
}

/// Client → server WebSocket message.
#[derive(Clone, Debug, PartialEq)]
pub enum ToServer {
    /// Calls an action.
    ActionRequest {
        /// Chosen by the client (a counter from 0); echoed in the response.
        id: u64,
        /// The action name.
        name: String,
        /// The action's arguments.
        args: Vec<Value>,
    },
    /// Starts or stops receiving an event.
    SubscriptionRequest {
        /// The event name.
        event_name: String,
        /// `true` to subscribe, `false` to unsubscribe.
        subscribe: bool,
    },
}

impl ToServer {
    /// Server side: reads any encoding (JSON may arrive in a text or a binary frame), BARE v1–v4.
    pub fn decode(data: &[u8], enc: Encoding) -> Result<ToServer, ProtocolError> {
        Self::decode_versioned(data, enc).map(|(message, _)| message)
    }

    /// As [`ToServer::decode`], also returning the BARE version the client wrote (`None` for
    /// JSON and CBOR), which tells which version it reads.
    pub fn decode_versioned(
        data: &[u8],
        enc: Encoding,
    ) -> Result<(ToServer, Option<u16>), ProtocolError> {
        if enc != Encoding::Bare {
            return Ok((Self::from_tree(decode_tree(data, enc)?)?, None));
        }
        let mut r = Reader::new(data);
        let version = r.version()?;
        let msg = match r.u8()? {
            0 => ToServer::ActionRequest {
                id: r.uint()?,
                name: r.str()?.to_owned(),
                args: args_from_value(r.cbor()?)?,
            },
            1 => ToServer::SubscriptionRequest {
                event_name: r.str()?.to_owned(),
                subscribe: r.bool()?,
            },
            tag => return Err(ProtocolError::UnknownTag(tag)),
        };
        r.finish()?;
        Ok((msg, Some(version)))
    }

    fn from_tree(tree: Value) -> Result<ToServer, ProtocolError> {
        let (tag, mut val) = take_body(tree)?;
        Ok(match tag.as_str() {
            "ActionRequest" => ToServer::ActionRequest {
                id: id_from_value(&take(&mut val, "id")?)?,
                name: take_string(&mut val, "name")?,
                args: args_from_value(take(&mut val, "args")?)?,
            },
            "SubscriptionRequest" => ToServer::SubscriptionRequest {
                event_name: take_string(&mut val, "eventName")?,
                subscribe: take(&mut val, "subscribe")?
                    .as_bool()
                    .ok_or(ProtocolError::Expected("`subscribe` to be a boolean"))?,
            },
            _ => return Err(ProtocolError::Expected("a known ToServer tag")),
        })
    }

    /// `bare_version` is only used for BARE (1–4; clients should use [`CLIENT_BARE_VERSION`]).
    pub fn encode(&self, enc: Encoding, bare_version: u16) -> Frame {
        let mut out = Vec::new();
        self.encode_into(enc, bare_version, &mut out);
        Frame::from_encoded(enc, out)
    }

    /// Appends the encoded message to a (reusable) buffer; JSON is appended as UTF-8 text.
    pub fn encode_into(&self, enc: Encoding, bare_version: u16, out: &mut Vec<u8>) {
        if enc == Encoding::Bare {
            bare::write_version(out, bare_version);
            match self {
                ToServer::ActionRequest { id, name, args } => {
                    out.push(0);
                    bare::write_uint(out, *id);
                    bare::write_str(out, name);
                    write_bare_args(out, args);
                }
                ToServer::SubscriptionRequest {
                    event_name,
                    subscribe,
                } => {
                    out.push(1);
                    bare::write_str(out, event_name);
                    bare::write_bool(out, *subscribe);
                }
            }
            return;
        }
        let mut w = TreeWriter::new(enc, out);
        match self {
            ToServer::ActionRequest { id, name, args } => {
                w.open_body("ActionRequest");
                w.open(3);
                w.key("id");
                w.id(*id);
                w.key("name");
                w.str(name);
                w.key("args");
                w.args(args);
            }
            ToServer::SubscriptionRequest {
                event_name,
                subscribe,
            } => {
                w.open_body("SubscriptionRequest");
                w.open(2);
                w.key("eventName");
                w.str(event_name);
                w.key("subscribe");
                w.bool(*subscribe);
            }
        }
        w.close();
        w.close_body();
    }
}

/// Body of `POST /action/{name}` (§5.1).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpActionRequest {
    /// The action's arguments.
    pub args: Vec<Value>,
}

impl HttpActionRequest {
    /// Also returns the BARE version read, so the response can be written in the same one.
    pub fn decode(body: &[u8], enc: Encoding) -> Result<(Self, Option<u16>), ProtocolError> {
        if enc != Encoding::Bare {
            let mut map = take_object(decode_tree(body, enc)?)?;
            let args = args_from_value(take(&mut map, "args")?)?;
            return Ok((HttpActionRequest { args }, None));
        }
        let mut r = Reader::new(body);
        let version = r.version()?;
        let args = args_from_value(r.cbor()?)?;
        r.finish()?;
        Ok((HttpActionRequest { args }, Some(version)))
    }

    /// Encodes the body; `bare_version` is used only for BARE.
    pub fn encode(&self, enc: Encoding, bare_version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        if enc == Encoding::Bare {
            bare::write_version(&mut out, bare_version);
            write_bare_args(&mut out, &self.args);
        } else {
            let mut w = TreeWriter::new(enc, &mut out);
            w.open(1);
            w.key("args");
            w.args(&self.args);
            w.close();
        }
        out
    }
}

/// Success body of `POST /action/{name}` (§5.1).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpActionResponse {
    /// The action's return value.
    pub output: Value,
}

impl HttpActionResponse {
    /// `bare_version`: the request's (see [`HttpActionRequest::decode`]), else
    /// [`SERVER_BARE_VERSION`].
    pub fn encode(&self, enc: Encoding, bare_version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        if enc == Encoding::Bare {
            bare::write_version(&mut out, bare_version);
            bare::write_cbor(&mut out, &self.output);
        } else {
            let mut w = TreeWriter::new(enc, &mut out);
            w.open(1);
            w.key("output");
            w.value(&self.output);
            w.close();
        }
        out
    }

    /// Client side: reads any encoding, BARE v1–v4.
    pub fn decode(body: &[u8], enc: Encoding) -> Result<Self, ProtocolError> {
        if enc != Encoding::Bare {
            let mut map = take_object(decode_tree(body, enc)?)?;
            return Ok(HttpActionResponse {
                output: take(&mut map, "output")?,
            });
        }
        let mut r = Reader::new(body);
        r.version()?;
        let output = r.cbor()?;
        r.finish()?;
        Ok(HttpActionResponse { output })
    }
}

/// Body of `POST /queue/{name}` (§5.2). BARE: v3 and v4 (same layout).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpQueueSendRequest {
    /// The message.
    pub body: Value,
    /// The queue name; the one in the path wins.
    pub name: Option<String>,
    /// Answer only when the actor completed the message.
    pub wait: Option<bool>,
    /// How long to wait when `wait` is set; `None`: no limit.
    pub timeout_ms: Option<u64>,
}

impl HttpQueueSendRequest {
    /// Client side: BARE is written in [`QUEUE_BARE_VERSION`], which every server with queues reads.
    pub fn encode(&self, enc: Encoding) -> Vec<u8> {
        let mut out = Vec::new();
        if enc == Encoding::Bare {
            bare::write_version(&mut out, QUEUE_BARE_VERSION);
            bare::write_cbor(&mut out, &self.body);
            bare::write_optional(&mut out, self.name.as_deref(), bare::write_str);
            bare::write_optional(&mut out, self.wait, bare::write_bool);
            bare::write_optional(&mut out, self.timeout_ms, bare::write_u64_le);
            return out;
        }
        let mut w = TreeWriter::new(enc, &mut out);
        let present = [
            self.name.is_some(),
            self.wait.is_some(),
            self.timeout_ms.is_some(),
        ];
        w.open(1 + present.iter().filter(|&&p| p).count());
        w.key("body");
        w.value(&self.body);
        if let Some(name) = &self.name {
            w.key("name");
            w.str(name);
        }
        if let Some(wait) = self.wait {
            w.key("wait");
            w.bool(wait);
        }
        if let Some(timeout) = self.timeout_ms {
            w.key("timeout");
            w.value(&Value::from(timeout));
        }
        w.close();
        out
    }

    /// Also returns the BARE version read, so the response can be written in the same one.
    pub fn decode(body: &[u8], enc: Encoding) -> Result<(Self, Option<u16>), ProtocolError> {
        if enc != Encoding::Bare {
            let mut map = take_object(decode_tree(body, enc)?)?;
            let opt = |map: &mut serde_json::Map<String, Value>, key| {
                map.remove(key).filter(|v| !v.is_null())
            };
            let request = HttpQueueSendRequest {
                body: map.remove("body").unwrap_or(Value::Null),
                name: opt(&mut map, "name")
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(ProtocolError::Expected("`name` to be a string")),
                    })
                    .transpose()?,
                wait: opt(&mut map, "wait")
                    .map(|v| {
                        v.as_bool()
                            .ok_or(ProtocolError::Expected("`wait` to be a boolean"))
                    })
                    .transpose()?,
                timeout_ms: opt(&mut map, "timeout")
                    .map(|v| timeout_ms(&v))
                    .transpose()?,
            };
            return Ok((request, None));
        }
        let mut r = Reader::new(body);
        let version = r.version()?;
        if version < QUEUE_BARE_VERSION {
            return Err(ProtocolError::NotInVersion("HttpQueueSendRequest", version));
        }
        let msg = HttpQueueSendRequest {
            body: r.cbor()?,
            name: r.optional(|r| r.str().map(str::to_owned))?,
            wait: r.optional(Reader::bool)?,
            timeout_ms: r.optional(Reader::u64_le)?,
        };
        r.finish()?;
        Ok((msg, Some(version)))
    }
}

/// A JS number of milliseconds; fractions are dropped and negatives mean "already expired".
fn timeout_ms(v: &Value) -> Result<u64, ProtocolError> {
    match (v.as_u64(), v.as_f64()) {
        (Some(ms), _) => Ok(ms),
        (None, Some(ms)) => Ok(ms.max(0.0) as u64),
        _ => Err(ProtocolError::Expected("`timeout` to be a number")),
    }
}

/// Response of `POST /queue/{name}` (§5.2): `status` is `"completed"` or `"timedOut"`.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpQueueSendResponse {
    /// `"completed"` or `"timedOut"`.
    pub status: String,
    /// The completion value, when the actor gave one.
    pub response: Option<Value>,
}

impl HttpQueueSendResponse {
    /// `bare_version`: the request's (see [`HttpQueueSendRequest::decode`]).
    pub fn encode(&self, enc: Encoding, bare_version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        if enc == Encoding::Bare {
            bare::write_version(&mut out, bare_version);
            bare::write_str(&mut out, &self.status);
            bare::write_optional(&mut out, self.response.as_ref(), bare::write_cbor);
            return out;
        }
        let mut w = TreeWriter::new(enc, &mut out);
        w.open(if w.omits_absent() && self.response.is_none() {
            1
        } else {
            2
        });
        w.key("status");
        w.str(&self.status);
        w.optional_entry("response", self.response.as_ref());
        w.close();
        out
    }

    /// Client side: reads any encoding, BARE v3 and v4.
    pub fn decode(body: &[u8], enc: Encoding) -> Result<Self, ProtocolError> {
        if enc != Encoding::Bare {
            let mut map = take_object(decode_tree(body, enc)?)?;
            return Ok(HttpQueueSendResponse {
                status: take_string(&mut map, "status")?,
                response: map.remove("response").filter(|v| !v.is_null()),
            });
        }
        let mut r = Reader::new(body);
        let version = r.version()?;
        if version < QUEUE_BARE_VERSION {
            return Err(ProtocolError::NotInVersion(
                "HttpQueueSendResponse",
                version,
            ));
        }
        let msg = HttpQueueSendResponse {
            status: r.str()?.to_owned(),
            response: r.optional(Reader::cbor)?.filter(|v| !v.is_null()),
        };
        r.finish()?;
        Ok(msg)
    }
}

impl ErrorBody {
    /// The `HttpResponseError` body (§7.2). `bare_version` as for [`HttpActionResponse`].
    pub fn encode_http(&self, enc: Encoding, bare_version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        if enc == Encoding::Bare {
            bare::write_version(&mut out, bare_version);
            self.write_bare_fields(&mut out);
            self.write_bare_actor(bare_version, &mut out);
        } else {
            self.write_tree(&mut TreeWriter::new(enc, &mut out), None, bare_version);
        }
        out
    }

    /// Client side: reads an HTTP error body in any encoding, BARE v1–v4.
    pub fn decode_http(body: &[u8], enc: Encoding) -> Result<ErrorBody, ProtocolError> {
        if enc != Encoding::Bare {
            return Self::from_tree_fields(&mut take_object(decode_tree(body, enc)?)?);
        }
        let mut r = Reader::new(body);
        let version = r.version()?;
        let mut error = Self::read_bare_fields(&mut r)?;
        error.actor = Self::read_bare_actor(version, &mut r)?;
        r.finish()?;
        Ok(error)
    }

    /// `action_id`: `None` for the HTTP shape (no `actionId` key), `Some(id)` for the WebSocket
    /// `Error`, whose `actionId` key is always present (null when connection-level).
    /// `version`: the protocol version the client reads; from v4 the tree names the actor too,
    /// as the official 2.3 server writes it (older clients never see the extra member).
    fn write_tree(&self, w: &mut TreeWriter<'_>, action_id: Option<Option<u64>>, version: u16) {
        // cbor-x keeps the HTTP error's undefined `metadata` member (`f7`); the WebSocket error
        // omits it, and JSON drops undefined members.
        let metadata_key = self.metadata.is_some() || (action_id.is_none() && !w.omits_absent());
        let actor = self
            .actor
            .as_ref()
            .filter(|_| version >= ACTOR_SPECIFIER_BARE_VERSION);
        w.open(
            3 + usize::from(metadata_key)
                + usize::from(action_id.is_some())
                + usize::from(actor.is_some()),
        );
        w.key("group");
        w.str(&self.group);
        w.key("code");
        w.str(&self.code);
        w.key("message");
        w.str(&self.message);
        if metadata_key {
            w.optional_entry("metadata", self.metadata.as_ref());
        }
        if let Some(action_id) = action_id {
            w.key("actionId");
            match action_id {
                Some(id) => w.id(id),
                None => w.null(),
            }
        }
        if let Some(actor) = actor {
            let mut fields = serde_json::Map::new();
            fields.insert("actorId".into(), Value::from(actor.actor_id.as_str()));
            fields.insert("generation".into(), Value::from(actor.generation));
            if let Some(key) = &actor.key {
                fields.insert("key".into(), Value::from(key.as_str()));
            }
            w.key("actor");
            w.value(&Value::Object(fields));
        }
        w.close();
    }

    fn from_tree_fields(map: &mut serde_json::Map<String, Value>) -> Result<Self, ProtocolError> {
        Ok(ErrorBody {
            group: take_string(map, "group")?,
            code: take_string(map, "code")?,
            message: take_string(map, "message")?,
            metadata: map.remove("metadata").filter(|v| !v.is_null()),
            actor: map.remove("actor").and_then(|actor| {
                Some(ActorSpecifier {
                    actor_id: actor.get("actorId")?.as_str()?.to_owned(),
                    generation: actor.get("generation").and_then(Value::as_u64).unwrap_or(0),
                    key: actor.get("key").and_then(Value::as_str).map(str::to_owned),
                })
            }),
        })
    }

    fn write_bare_fields(&self, out: &mut Vec<u8>) {
        bare::write_str(out, &self.group);
        bare::write_str(out, &self.code);
        bare::write_str(out, &self.message);
        bare::write_optional(out, self.metadata.as_ref(), bare::write_cbor);
    }

    fn read_bare_fields(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        Ok(ErrorBody {
            group: r.str()?.to_owned(),
            code: r.str()?.to_owned(),
            message: r.str()?.to_owned(),
            metadata: r.optional(Reader::cbor)?.filter(|v| !v.is_null()),
            actor: None,
        })
    }

    /// The trailing `actor: optional<ActorSpecifier>` of v4 errors; nothing before v4.
    fn write_bare_actor(&self, version: u16, out: &mut Vec<u8>) {
        if version >= ACTOR_SPECIFIER_BARE_VERSION {
            bare::write_optional(out, self.actor.as_ref(), |out, actor| {
                bare::write_str(out, &actor.actor_id);
                bare::write_uint(out, actor.generation);
                bare::write_optional(out, actor.key.as_deref(), bare::write_str);
            });
        }
    }

    fn read_bare_actor(
        version: u16,
        r: &mut Reader<'_>,
    ) -> Result<Option<ActorSpecifier>, ProtocolError> {
        if version < ACTOR_SPECIFIER_BARE_VERSION {
            return Ok(None);
        }
        r.optional(|r| {
            Ok(ActorSpecifier {
                actor_id: r.str()?.to_owned(),
                generation: r.uint()?,
                key: r.optional(|r| r.str().map(str::to_owned))?,
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Writing the JSON / CBOR tree
// ---------------------------------------------------------------------------------------------

/// Writes the object tree shared by JSON and CBOR directly as bytes, without building a
/// `Value` for the envelope. Objects must announce their entry count up front (CBOR needs it).
struct TreeWriter<'a> {
    out: &'a mut Vec<u8>,
    json: bool,
}

impl<'a> TreeWriter<'a> {
    fn new(enc: Encoding, out: &'a mut Vec<u8>) -> Self {
        debug_assert_ne!(enc, Encoding::Bare);
        TreeWriter {
            out,
            json: enc == Encoding::Json,
        }
    }

    /// JSON drops undefined members; CBOR (cbor-x) keeps them as `undefined`.
    fn omits_absent(&self) -> bool {
        self.json
    }

    fn open(&mut self, entries: usize) {
        if self.json {
            self.out.push(b'{');
        } else {
            cbor::write_object_head(self.out, entries);
        }
    }

    fn close(&mut self) {
        if self.json {
            self.out.push(b'}');
        }
    }

    /// `{"body":{"tag":TAG,"val":` — the caller writes the val object, then [`Self::close_body`].
    fn open_body(&mut self, tag: &str) {
        self.open(1);
        self.key("body");
        self.open(2);
        self.key("tag");
        self.str(tag);
        self.key("val");
    }

    fn close_body(&mut self) {
        self.close();
        self.close();
    }

    fn key(&mut self, k: &str) {
        if self.json {
            // Every JSON value this writer emits ends in `}`, `]`, `"`, a digit or a letter, so
            // a preceding `{` means this is the object's first member.
            if self.out.last() != Some(&b'{') {
                self.out.push(b',');
            }
            write_json(self.out, k);
            self.out.push(b':');
        } else {
            cbor::write_text(self.out, k);
        }
    }

    fn str(&mut self, s: &str) {
        if self.json {
            write_json(self.out, s);
        } else {
            cbor::write_text(self.out, s);
        }
    }

    fn value(&mut self, v: &Value) {
        if self.json {
            write_json(self.out, v);
        } else {
            cbor::encode(v, self.out);
        }
    }

    /// An argument list. It is a real array, so in JSON it gets the compat escape itself when
    /// it looks like `["$x", v]` (the JS replacer sees the args array like any other).
    fn args(&mut self, args: &[Value]) {
        if !self.json {
            return cbor::encode_seq(args, self.out);
        }
        match args {
            [Value::String(first), second] if first.starts_with('$') => {
                self.out.extend_from_slice(b"[\"$");
                // `first` re-serialized minus its opening quote: the JSON-escaped text after `$`.
                let start = self.out.len();
                write_json(self.out, first.as_str());
                self.out.remove(start);
                self.out.push(b',');
                write_json(self.out, second);
                self.out.push(b']');
            }
            _ => write_json(self.out, args),
        }
    }

    /// A message id: a BigInt, `["$BigInt","n"]` in JSON and `1b` + 8 bytes in CBOR.
    fn id(&mut self, id: u64) {
        if self.json {
            write!(self.out, "[\"$BigInt\",\"{id}\"]").expect("writing into a Vec cannot fail");
        } else {
            cbor::encode_u64_id(id, self.out);
        }
    }

    fn null(&mut self) {
        self.value(&Value::Null);
    }

    fn bool(&mut self, b: bool) {
        self.value(&Value::Bool(b));
    }

    /// `key: value` when present; when absent, nothing in JSON and `key: undefined` in CBOR
    /// (the caller has counted the entry accordingly).
    fn optional_entry(&mut self, key: &str, v: Option<&Value>) {
        match v {
            Some(v) => {
                self.key(key);
                self.value(v);
            }
            None if !self.json => {
                self.key(key);
                cbor::write_undefined(self.out);
            }
            None => {}
        }
    }
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(out, v).expect("a serde_json value always serializes");
}

fn write_bare_args(out: &mut Vec<u8>, args: &[Value]) {
    bare::write_data_with(out, |out| cbor::encode_seq(args, out));
}

// ---------------------------------------------------------------------------------------------
// Reading the JSON / CBOR tree
// ---------------------------------------------------------------------------------------------

/// Decodes a JSON or CBOR payload into a compat-space value.
fn decode_tree(data: &[u8], enc: Encoding) -> Result<Value, ProtocolError> {
    if enc == Encoding::Json {
        let v: Value = serde_json::from_slice(data)?;
        value::validate_json_compat(&v)?;
        Ok(v)
    } else {
        cbor::decode(data)
    }
}

fn take_object(v: Value) -> Result<serde_json::Map<String, Value>, ProtocolError> {
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(ProtocolError::Expected("an object")),
    }
}

/// `{"body":{"tag":T,"val":{…}}}` → (T, val).
fn take_body(tree: Value) -> Result<(String, serde_json::Map<String, Value>), ProtocolError> {
    let mut body = take_object(take(&mut take_object(tree)?, "body")?)?;
    let tag = take_string(&mut body, "tag")?;
    let val = take_object(take(&mut body, "val")?)?;
    Ok((tag, val))
}

fn take(
    map: &mut serde_json::Map<String, Value>,
    key: &'static str,
) -> Result<Value, ProtocolError> {
    map.remove(key).ok_or(ProtocolError::Expected(key))
}

fn take_string(
    map: &mut serde_json::Map<String, Value>,
    key: &'static str,
) -> Result<String, ProtocolError> {
    match take(map, key)? {
        Value::String(s) => Ok(s),
        _ => Err(ProtocolError::Expected(key)),
    }
}

/// Ids are BigInts on the wire (a plain number is rejected, as the official schema does).
/// An action id: a BigInt, as the JS clients write it, or a plain non-negative integer, as the
/// official Rust client writes it (the official 2.3 server takes both).
fn id_from_value(v: &Value) -> Result<u64, ProtocolError> {
    v.as_u64()
        .or_else(|| value::as_bigint(v).and_then(|n| u64::try_from(n).ok()))
        .ok_or(ProtocolError::Expected(
            "the id to be an integer in 0..2^64",
        ))
}

/// A compat-space array → the argument list, undoing the escape the list itself may carry.
fn args_from_value(v: Value) -> Result<Vec<Value>, ProtocolError> {
    let Value::Array(mut items) = v else {
        return Err(ProtocolError::Expected("args to be an array"));
    };
    match value::classify(&items) {
        None => {}
        Some(Marker::Escaped(..)) => {
            if let Value::String(first) = &mut items[0] {
                first.remove(0);
            }
        }
        Some(_) => return Err(ProtocolError::Expected("args to be an array")),
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_that_look_like_markers_survive_every_encoding() {
        for args in [
            vec![json!("$x"), json!(1)],
            vec![json!("$BigInt"), json!("1")],
            vec![json!("$\"q"), json!(["$$y", 2])],
        ] {
            let msg = ToServer::ActionRequest {
                id: 9,
                name: "a".into(),
                args,
            };
            for enc in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
                let frame = msg.encode(enc, CLIENT_BARE_VERSION);
                assert_eq!(
                    ToServer::decode(frame.as_bytes(), enc).unwrap(),
                    msg,
                    "{enc:?}"
                );
            }
        }
        let json = ToServer::ActionRequest {
            id: 0,
            name: "a".into(),
            args: vec![json!("$x"), json!(1)],
        }
        .encode(Encoding::Json, 2);
        assert!(json.as_bytes().ends_with(br#""args":["$$x",1]}}}"#));
    }

    #[test]
    fn json_numbers_are_read_exactly_as_js_reads_them() {
        // The shortest text of a double reads back as that double (JSON.parse does; serde_json
        // needs its float_roundtrip feature), so a value survives JSON -> state -> JSON.
        for text in [
            "7e+25",
            "9.857857857855783e+39",
            "7.852525252525254e+285",
            "5e-324",
        ] {
            let body = format!(r#"{{"args":[{text}]}}"#);
            let (request, _) = HttpActionRequest::decode(body.as_bytes(), Encoding::Json).unwrap();
            assert_eq!(request.args[0].to_string(), text);
        }
    }

    #[test]
    fn queue_messages_reject_versions_before_v3() {
        let response = HttpQueueSendResponse {
            status: "completed".into(),
            response: None,
        };
        let v3 = response.encode(Encoding::Bare, 3);
        let v4 = response.encode(Encoding::Bare, 4);
        assert_eq!(v3[2..], v4[2..], "v4 has v3's layout");
        let mut v2 = v3.clone();
        v2[0] = 2;
        assert!(HttpQueueSendResponse::decode(&v3, Encoding::Bare).is_ok());
        assert!(HttpQueueSendResponse::decode(&v4, Encoding::Bare).is_ok());
        assert!(matches!(
            HttpQueueSendResponse::decode(&v2, Encoding::Bare),
            Err(ProtocolError::NotInVersion(_, 2))
        ));
    }

    #[test]
    fn schema_violations_are_errors() {
        let bad = [
            r#"{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","-1"],"name":"a","args":[]}}}"#,
            r#"{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","1"],"name":"a","args":{}}}}"#,
            r#"{"body":{"tag":"Nope","val":{}}}"#,
            r#"{"body":{"tag":"SubscriptionRequest","val":{"eventName":"e","subscribe":1}}}"#,
            r#"{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","1"],"name":"a","args":[["$Foo",1]]}}}"#,
        ];
        for text in bad {
            assert!(
                ToServer::decode(text.as_bytes(), Encoding::Json).is_err(),
                "{text}"
            );
        }
    }
}
