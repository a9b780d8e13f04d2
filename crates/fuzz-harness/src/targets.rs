//! One fuzz target per decoder. Each takes arbitrary bytes and panics when an oracle fails:
//!
//! * no panic inside the decoder (any input may be refused, with an error value);
//! * bounded work: what the decode allocates is at most [`BYTES_PER_INPUT_BYTE`] per input byte
//!   plus [`FIXED_BYTES`] (measured by [`crate::alloc_count`], so the oracle is deterministic);
//! * round trip where the format allows it: decode → encode → decode gives the same message;
//! * cross-decoder invariants (a value CBOR decodes is one the JSON side accepts, …).
//!
//! Both drivers call these functions: the stable mutation driver (`src/main.rs`) and the
//! cargo-fuzz targets in `fuzz/`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

use rivetkit_protocol::actor_query::{self, ActorTarget, KeySyntax};
use rivetkit_protocol::message::CLIENT_BARE_VERSION;
use rivetkit_protocol::{
    cbor, key, path, value, Encoding, ErrorBody, HttpActionRequest, HttpActionResponse,
    HttpQueueSendRequest, HttpQueueSendResponse, ToClient, ToServer, Value, SERVER_BARE_VERSION,
};

/// Allocation allowed per input byte. Legitimate worst cases stay near 350: a one-byte CBOR
/// item becomes an 80-byte `Value` slot, in a `Vec` that may have doubled, and a one-byte empty
/// byte string becomes a two-element `["$Uint8Array", ""]` array. A decoder that pre-allocated
/// from a forged length once per nesting level needed over 10,000.
pub const BYTES_PER_INPUT_BYTE: usize = 1024;
/// Allocation allowed whatever the input (error messages, small fixed buffers).
pub const FIXED_BYTES: usize = 16 * 1024;

/// The version tree encodings are written in when a round trip re-encodes a decoded message:
/// the newest, so that nothing a tree may carry (an error's actor) is dropped.
const TREE_VERSION: u16 = 4;

/// A fuzz target: arbitrary bytes in, a panic when an oracle fails; returns whether some
/// decoder accepted the input (the mutation driver keeps accepted inputs to mutate further).
pub type Target = fn(&[u8]) -> bool;

/// Every target, by name (the corpus directory and the cargo-fuzz binary share the name).
pub const TARGETS: &[(&str, Target)] = &[
    ("cbor_value", cbor_value),
    ("json_value", json_value),
    ("to_server_json", |data| to_server(data, Encoding::Json)),
    ("to_server_cbor", |data| to_server(data, Encoding::Cbor)),
    ("to_server_bare", |data| to_server(data, Encoding::Bare)),
    ("to_client_json", |data| to_client(data, Encoding::Json)),
    ("to_client_cbor", |data| to_client(data, Encoding::Cbor)),
    ("to_client_bare", |data| to_client(data, Encoding::Bare)),
    ("http_json", |data| http_bodies(data, Encoding::Json)),
    ("http_cbor", |data| http_bodies(data, Encoding::Cbor)),
    ("http_bare", |data| http_bodies(data, Encoding::Bare)),
    ("actor_key", actor_key),
    ("paths", paths),
    ("gateway_query", gateway_query),
    ("conn_params", conn_params),
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Target> {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .map(|&(_, target)| target)
}

/// The most bytes allocated per input byte seen so far (beyond [`FIXED_BYTES`]), for reports.
static WORST_BYTES_PER_INPUT_BYTE: AtomicUsize = AtomicUsize::new(0);

pub fn worst_bytes_per_input_byte() -> usize {
    WORST_BYTES_PER_INPUT_BYTE.load(Ordering::Relaxed)
}

/// Runs one decode under the allocation oracle.
fn bounded<T>(what: &str, input_len: usize, decode: impl FnOnce() -> T) -> T {
    let (result, allocation) = crate::alloc_count::measure(decode);
    let per_byte = allocation.total.saturating_sub(FIXED_BYTES) / input_len.max(1);
    WORST_BYTES_PER_INPUT_BYTE.fetch_max(per_byte, Ordering::Relaxed);
    assert!(
        allocation.total <= BYTES_PER_INPUT_BYTE * input_len + FIXED_BYTES,
        "{what}: decoding {input_len} bytes allocated {} bytes (peak {}), more than \
         {BYTES_PER_INPUT_BYTE} per input byte + {FIXED_BYTES}",
        allocation.total,
        allocation.peak,
    );
    result
}

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The version prefix of a BARE payload that decoded (so the prefix is there).
fn bare_version(data: &[u8], encoding: Encoding) -> u16 {
    match encoding {
        Encoding::Bare => u16::from_le_bytes([data[0], data[1]]),
        Encoding::Json | Encoding::Cbor => TREE_VERSION,
    }
}

/// A CBOR value of any shape (args, outputs, state, `PUT /actors` input).
pub fn cbor_value(data: &[u8]) -> bool {
    let Ok(decoded) = bounded("cbor", data.len(), || cbor::decode(data)) else {
        return false;
    };
    value::validate_json_compat(&decoded)
        .unwrap_or_else(|e| panic!("a decoded CBOR value is not valid compat JSON: {e}"));
    let mut encoded = Vec::new();
    cbor::encode(&decoded, &mut encoded);
    let again = cbor::decode(&encoded)
        .unwrap_or_else(|e| panic!("re-encoded CBOR {encoded:02x?} does not decode: {e}"));
    assert_eq!(again, decoded, "CBOR round trip changed the value");
    true
}

/// A JSON value in compat space (what the JSON encoding carries).
pub fn json_value(data: &[u8]) -> bool {
    let decoded = bounded("json", data.len(), || {
        serde_json::from_slice::<Value>(data)
            .ok()
            .filter(|v| value::validate_json_compat(v).is_ok())
    });
    let Some(decoded) = decoded else {
        return false;
    };
    let text = serde_json::to_vec(&decoded).expect("a Value always serializes");
    let again: Value = serde_json::from_slice(&text).expect("serde_json reads what it writes");
    assert_eq!(again, decoded, "JSON round trip changed the value");
    // CBOR normalizes once (one number type, as in JS; an ArrayBuffer reads back as a
    // Uint8Array, as cbor-x does); after that first trip the value must be stable.
    let once = cbor_trip(&decoded);
    assert_eq!(
        cbor_trip(&once),
        once,
        "CBOR trip of a JSON value is not stable"
    );
    true
}

/// The value after CBOR encoding and decoding.
fn cbor_trip(value: &Value) -> Value {
    let mut bytes = Vec::new();
    cbor::encode(value, &mut bytes);
    cbor::decode(&bytes)
        .unwrap_or_else(|e| panic!("the CBOR {bytes:02x?} of {value} does not decode: {e}"))
}

/// A client → server WebSocket message.
pub fn to_server(data: &[u8], encoding: Encoding) -> bool {
    let Ok((message, version)) = bounded("ToServer", data.len(), || {
        ToServer::decode_versioned(data, encoding)
    }) else {
        return false;
    };
    let frame = message.encode(encoding, version.unwrap_or(CLIENT_BARE_VERSION));
    let again = ToServer::decode(frame.as_bytes(), encoding)
        .unwrap_or_else(|e| panic!("re-encoded {message:?} does not decode: {e}"));
    assert_eq!(again, message, "ToServer round trip changed the message");
    true
}

/// A server → client WebSocket message (what the Rust client decodes).
pub fn to_client(data: &[u8], encoding: Encoding) -> bool {
    let Ok(message) = bounded("ToClient", data.len(), || ToClient::decode(data, encoding)) else {
        return false;
    };
    let frame = message.encode_versioned(encoding, bare_version(data, encoding));
    let again = ToClient::decode(frame.as_bytes(), encoding)
        .unwrap_or_else(|e| panic!("re-encoded {message:?} does not decode: {e}"));
    assert_eq!(again, message, "ToClient round trip changed the message");
    true
}

/// Every HTTP body: action and queue requests and responses, and the error body.
pub fn http_bodies(data: &[u8], encoding: Encoding) -> bool {
    let len = data.len();
    let mut accepted = false;
    if let Ok((request, version)) = bounded("HttpActionRequest", len, || {
        HttpActionRequest::decode(data, encoding)
    }) {
        let bytes = request.encode(encoding, version.unwrap_or(CLIENT_BARE_VERSION));
        let (again, _) = HttpActionRequest::decode(&bytes, encoding)
            .unwrap_or_else(|e| panic!("re-encoded {request:?} does not decode: {e}"));
        assert_eq!(again, request, "HttpActionRequest round trip");
        accepted = true;
    }
    if let Ok(response) = bounded("HttpActionResponse", len, || {
        HttpActionResponse::decode(data, encoding)
    }) {
        let version = match encoding {
            Encoding::Bare => bare_version(data, encoding),
            Encoding::Json | Encoding::Cbor => SERVER_BARE_VERSION,
        };
        let bytes = response.encode(encoding, version);
        let again = HttpActionResponse::decode(&bytes, encoding)
            .unwrap_or_else(|e| panic!("re-encoded {response:?} does not decode: {e}"));
        assert_eq!(again, response, "HttpActionResponse round trip");
        accepted = true;
    }
    if let Ok((request, _)) = bounded("HttpQueueSendRequest", len, || {
        HttpQueueSendRequest::decode(data, encoding)
    }) {
        let bytes = request.encode(encoding);
        let (again, _) = HttpQueueSendRequest::decode(&bytes, encoding)
            .unwrap_or_else(|e| panic!("re-encoded {request:?} does not decode: {e}"));
        assert_eq!(again, request, "HttpQueueSendRequest round trip");
        accepted = true;
    }
    if let Ok(response) = bounded("HttpQueueSendResponse", len, || {
        HttpQueueSendResponse::decode(data, encoding)
    }) {
        let bytes = response.encode(encoding, bare_version(data, encoding));
        let again = HttpQueueSendResponse::decode(&bytes, encoding)
            .unwrap_or_else(|e| panic!("re-encoded {response:?} does not decode: {e}"));
        assert_eq!(again, response, "HttpQueueSendResponse round trip");
        accepted = true;
    }
    if let Ok(error) = bounded("ErrorBody", len, || ErrorBody::decode_http(data, encoding)) {
        let bytes = error.encode_http(encoding, bare_version(data, encoding));
        let again = ErrorBody::decode_http(&bytes, encoding)
            .unwrap_or_else(|e| panic!("re-encoded {error:?} does not decode: {e}"));
        assert_eq!(again, error, "ErrorBody round trip");
        accepted = true;
    }
    accepted
}

/// An actor key in its one-string form (`key=` query values, manager bodies).
pub fn actor_key(data: &[u8]) -> bool {
    let text = text(data);
    let parts = bounded("parse_key", data.len(), || key::parse_key(&text));
    let serialized = key::serialize_key(&parts);
    assert_eq!(
        key::parse_key(&serialized),
        parts,
        "key {serialized:?} does not parse back"
    );
    !parts.is_empty()
}

/// Everything read from a request line or a header before any payload: gateway paths, raw
/// WebSocket paths, `Sec-WebSocket-Protocol`, close reasons, percent-decoding.
pub fn paths(data: &[u8]) -> bool {
    let text = text(data);
    let len = data.len();
    let gateway = bounded("parse_gateway_path", len, || {
        path::parse_gateway_path(&text)
    });
    if let Some(gateway) = &gateway {
        assert!(gateway.rest.starts_with('/'), "{gateway:?}");
        assert!(!gateway.actor_id.is_empty(), "{gateway:?}");
    }
    let raw = bounded("raw_websocket_path", len, || {
        path::raw_websocket_path(&text)
    });
    if let Some(rest) = &raw {
        assert!(rest.starts_with('/'), "{rest:?}");
    }
    let protocols = bounded("parse_ws_protocols", len, || {
        path::parse_ws_protocols(&text)
    });
    if let Some(Ok(params)) = &protocols.conn_params {
        value::validate_json_compat(params)
            .unwrap_or_else(|e| panic!("conn params {params} are not valid compat JSON: {e}"));
    }
    let reason = bounded("parse_close_reason", len, || {
        path::parse_close_reason(&text)
    });
    let decoded = bounded("decode_uri_component", len, || {
        path::decode_uri_component(&text)
    });
    let encoded = path::encode_uri_component(&text);
    assert_eq!(
        path::decode_uri_component(&encoded).as_deref(),
        Some(&*text),
        "encodeURIComponent does not decode back"
    );
    gateway.is_some()
        || raw.is_some()
        || protocols.conn_params.is_some()
        || reason.is_some()
        || decoded.is_some_and(|d| d != *text)
}

/// The gateway path in both forms, with the 2.3 query (`rvt-…`) and both key syntaxes.
pub fn gateway_query(data: &[u8]) -> bool {
    let text = text(data);
    let mut accepted = false;
    for syntax in [KeySyntax::Plain, KeySyntax::Escaped] {
        let parsed = bounded("parse_gateway", data.len(), || {
            actor_query::parse_gateway(&text, syntax)
        });
        let Ok(Some(request)) = parsed else {
            continue;
        };
        accepted = true;
        assert!(request.rest.starts_with('/'), "{request:?}");
        if let ActorTarget::Query(query) = &request.target {
            assert!(
                !query.name.is_empty() && !query.namespace.is_empty(),
                "{query:?}"
            );
            if let Some(input) = query.create.as_ref().and_then(|c| c.input.as_ref()) {
                assert!(input.len() <= actor_query::MAX_QUERY_INPUT);
                cbor::decode(input).expect("an accepted query input is CBOR");
            }
        }
    }
    accepted
}

/// Connection params as plain JSON (`rivet_conn_params.` after percent-decoding).
pub fn conn_params(data: &[u8]) -> bool {
    let text = text(data);
    let Ok(params) = bounded("parse_conn_params", data.len(), || {
        value::parse_conn_params(&text)
    }) else {
        return false;
    };
    value::validate_json_compat(&params)
        .unwrap_or_else(|e| panic!("conn params {params} are not valid compat JSON: {e}"));
    true
}
