//! The seed corpus: valid messages of every encoding and BARE version (the vectors of
//! `spec/vectors`, captured from the official clients, and this crate's own encodings of a rich
//! message set) and hostile inputs — the 69-byte CBOR bomb, nesting past the limits, forged
//! length prefixes, oversized bignums — each filed under the target that reads it.
//!
//! `fuzz-harness write-seeds` writes them to `crates/fuzz-harness/corpus/<target>/`, where both
//! drivers read them.

use std::path::Path;

use rivetkit_protocol::error::ActorSpecifier;
use rivetkit_protocol::{
    Encoding, ErrorBody, HttpActionRequest, HttpActionResponse, HttpQueueSendRequest,
    HttpQueueSendResponse, ToClient, ToServer, Value,
};
use serde_json::json;

pub struct Seed {
    pub target: String,
    pub bytes: Vec<u8>,
}

fn seed(target: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Seed {
    Seed {
        target: target.into(),
        bytes: bytes.into(),
    }
}

const ENCODINGS: [Encoding; 3] = [Encoding::Json, Encoding::Cbor, Encoding::Bare];

/// Every seed: from the vectors in `vectors_dir` (the repository's `spec/vectors`), generated,
/// and hostile.
pub fn all(vectors_dir: &Path) -> std::io::Result<Vec<Seed>> {
    let mut seeds = from_vectors(vectors_dir)?;
    seeds.extend(generated());
    seeds.extend(hostile());
    Ok(seeds)
}

/// The bytes a vector line carries: `text` as UTF-8, or `hex`/`cbor_hex` decoded.
fn vector_bytes(line: &Value, field: &str) -> Option<Vec<u8>> {
    let raw = line.get(field)?.as_str()?;
    if field.ends_with("hex") {
        hex::decode(raw).ok()
    } else {
        Some(raw.as_bytes().to_vec())
    }
}

fn from_vectors(dir: &Path) -> std::io::Result<Vec<Seed>> {
    // (file, the field with the input, the target; `None` picks it from `message`/`encoding`).
    let files: [(&str, &str, Option<&str>); 13] = [
        ("to-server.jsonl", "", None),
        ("to-client.jsonl", "", None),
        ("http-bodies.jsonl", "", None),
        ("version-acceptance.jsonl", "hex", None),
        ("cbor-values.jsonl", "cbor_hex", Some("cbor_value")),
        ("json-compat.jsonl", "json", Some("json_value")),
        ("actor-keys.jsonl", "serialized", Some("actor_key")),
        ("gateway-paths.jsonl", "path", Some("paths")),
        ("gateway-paths.jsonl", "path", Some("gateway_query")),
        ("raw-websocket-paths.jsonl", "request_path", Some("paths")),
        ("close-reasons.jsonl", "reason", Some("paths")),
        ("ws-protocols.jsonl", "header", Some("paths")),
        ("urls.jsonl", "url", Some("gateway_query")),
    ];
    let mut seeds = Vec::new();
    for (file, field, target) in files {
        let text = std::fs::read_to_string(dir.join(file))?;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let line: Value = serde_json::from_str(line)
                .map_err(|e| std::io::Error::other(format!("{file}: {e}")))?;
            let (target, bytes) = match target {
                Some(target) => (target.to_owned(), vector_bytes(&line, field)),
                None => {
                    let Some(target) = message_target(&line) else {
                        continue;
                    };
                    let bytes = vector_bytes(&line, "text").or_else(|| vector_bytes(&line, "hex"));
                    (target, bytes)
                }
            };
            if let Some(bytes) = bytes {
                seeds.push(seed(target, bytes));
            }
        }
    }
    Ok(seeds)
}

/// The target for a message vector: by its message name (or `what`) and encoding.
fn message_target(line: &Value) -> Option<String> {
    let name = line.get("message").or_else(|| line.get("what"))?.as_str()?;
    let encoding = line
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or("bare");
    let kind = if name.starts_with("ToServer") {
        "to_server"
    } else if name.starts_with("ToClient") {
        "to_client"
    } else {
        "http"
    };
    Some(format!("{kind}_{encoding}"))
}

/// A value with every compat-space form: integers, floats, BigInts (small and beyond 2⁶⁴),
/// bytes, an escaped user array, non-ASCII text, nesting.
fn rich_value() -> Value {
    json!({
        "n": 1, "neg": -7, "big": 4_294_967_296u64, "f": 1.5, "tiny": 5e-324,
        "bigint": ["$BigInt", "123456789012345678901234567890"],
        "negbig": ["$BigInt", "-18446744073709551617"],
        "id": ["$BigInt", "7"],
        "bytes": ["$Uint8Array", "AAEC/w=="],
        "buffer": ["$ArrayBuffer", "AQ=="],
        "escaped": ["$$x", [1, 2]],
        "text": "zoë ✓", "empty": "", "null": null, "flags": [true, false],
        "nested": {"a": [{"b": [[]]}]}
    })
}

/// This crate's own encodings: every message, every encoding, every BARE version that has it.
fn generated() -> Vec<Seed> {
    let rich = rich_value();
    let args = vec![rich.clone(), json!("$x"), json!(["$BigInt", "1"])];
    let error = ErrorBody {
        group: "actor".into(),
        code: "not_found".into(),
        message: "no such actor".into(),
        metadata: Some(rich.clone()),
        actor: Some(ActorSpecifier {
            actor_id: "a1".into(),
            generation: 3,
            key: Some("k/\\/x".into()),
        }),
    };
    let to_server = [
        ToServer::ActionRequest {
            id: u64::MAX,
            name: "increment".into(),
            args: args.clone(),
        },
        ToServer::SubscriptionRequest {
            event_name: "count".into(),
            subscribe: true,
        },
    ];
    let to_client = [
        ToClient::Init {
            actor_id: "a1".into(),
            connection_id: "c1".into(),
        },
        ToClient::Error {
            error: error.clone(),
            action_id: Some(9),
        },
        ToClient::Error {
            error: error.clone(),
            action_id: None,
        },
        ToClient::ActionResponse {
            id: 1 << 40,
            output: rich.clone(),
        },
        ToClient::Event {
            name: "count".into(),
            args: args.clone(),
        },
    ];
    let queue_request = HttpQueueSendRequest {
        body: rich.clone(),
        name: Some("jobs".into()),
        wait: Some(true),
        timeout_ms: Some(1500),
    };
    let queue_response = HttpQueueSendResponse {
        status: "completed".into(),
        response: Some(rich.clone()),
    };
    let mut seeds = Vec::new();
    for encoding in ENCODINGS {
        let name = encoding.as_str();
        // Tree encodings ignore the version but for the error's actor (v4).
        let versions: &[u16] = match encoding {
            Encoding::Bare => &[1, 2, 3, 4],
            Encoding::Json | Encoding::Cbor => &[4],
        };
        for &version in versions {
            for message in &to_server {
                let frame = message.encode(encoding, version);
                seeds.push(seed(format!("to_server_{name}"), frame.as_bytes()));
            }
            for message in &to_client {
                let frame = message.encode_versioned(encoding, version);
                seeds.push(seed(format!("to_client_{name}"), frame.as_bytes()));
            }
            let http = format!("http_{name}");
            let action = HttpActionRequest { args: args.clone() };
            seeds.push(seed(&*http, action.encode(encoding, version)));
            let output = HttpActionResponse {
                output: rich.clone(),
            };
            seeds.push(seed(&*http, output.encode(encoding, version)));
            seeds.push(seed(&*http, error.encode_http(encoding, version)));
            if version >= 3 {
                seeds.push(seed(&*http, queue_response.encode(encoding, version)));
            }
        }
        seeds.push(seed(format!("http_{name}"), queue_request.encode(encoding)));
    }
    let mut cbor = Vec::new();
    rivetkit_protocol::cbor::encode(&rich, &mut cbor);
    seeds.push(seed("cbor_value", cbor));
    seeds.push(seed("json_value", rich.to_string()));
    seeds.push(seed(
        "conn_params",
        r#"{"authToken":"zoë","n":[1,["$BigInt","2"]]}"#,
    ));
    seeds.push(seed(
        "gateway_query",
        "/gateway/counter/action/increment?rvt-namespace=default&rvt-method=getOrCreate\
         &rvt-key=a%2Cb,c&rvt-pool=default&rvt-input=oWFhAQ&rvt-crash-policy=restart&x=1",
    ));
    seeds.push(seed(
        "gateway_query",
        "/gateway/counter/connect?rvt-namespace=ns&rvt-method=get&rvt-key=a\\,b,\\0&rvt-token=t",
    ));
    seeds.push(seed("actor_key", "a\\/b/\\0/c\\\\"));
    seeds
}

/// The CBOR bomb of issue 8: 34 nested one-entry maps whose keys are maps (69 bytes that once
/// allocated 2 GiB and aborted the server).
pub fn cbor_bomb() -> Vec<u8> {
    [vec![0xa1; 34], vec![0x00; 35]].concat()
}

/// `levels` nested containers that each declare 2³² - 1 entries (a decoder pre-allocating from
/// the declared length, bounded only by the bytes left, reserved `levels` times the input).
pub fn nested_forged_lengths(levels: usize, head: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..levels {
        out.extend_from_slice(&[head, 0xff, 0xff, 0xff, 0xff]);
    }
    out.extend(std::iter::repeat_n(0x00, 4096));
    out
}

/// A byte string `len` long (CBOR head and body).
fn cbor_bytes(len: usize) -> Vec<u8> {
    let mut out = vec![0x5a];
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend(std::iter::repeat_n(0xff, len));
    out
}

/// BARE `data` holding `payload`.
fn bare_data(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    rivetkit_protocol::bare::write_data(&mut out, payload);
    out
}

fn hostile() -> Vec<Seed> {
    let bomb = cbor_bomb();
    let deep_array = [vec![0x81; 200], vec![0x00]].concat();
    let deep_indefinite = [vec![0x9f; 200], vec![0xff; 200]].concat();
    let deep_tags = [vec![0xc1; 200], vec![0x00]].concat();
    let big_bignum = [&[0xc2][..], &cbor_bytes(4096)].concat();
    let chunked = [&[0x7f][..], &[0x60; 2048], &[0xff]].concat();
    let huge_varint = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let digits = "9".repeat(4000);
    let mut seeds = vec![
        seed("cbor_value", bomb.clone()),
        seed("cbor_value", deep_array.clone()),
        seed("cbor_value", deep_indefinite),
        seed("cbor_value", deep_tags),
        seed("cbor_value", nested_forged_lengths(128, 0x9a)),
        seed("cbor_value", nested_forged_lengths(128, 0xba)),
        seed("cbor_value", big_bignum.clone()),
        seed("cbor_value", chunked),
        seed(
            "json_value",
            format!("{}{}", "[".repeat(300), "]".repeat(300)),
        ),
        seed("json_value", format!("[\"$BigInt\",\"{digits}\"]")),
        seed(
            "json_value",
            format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200)),
        ),
        seed(
            "conn_params",
            format!("{}{}", "[".repeat(300), "]".repeat(300)),
        ),
        seed("actor_key", "\\".repeat(4096)),
        seed("actor_key", "/".repeat(4096)),
        seed("actor_key", "\\0".repeat(2048)),
        seed("paths", format!("/gateway/{}/connect", "%41".repeat(2000))),
        seed("paths", "rivet_conn_params.%7B%7D, ".repeat(500)),
        seed("paths", format!("/gateway/a@{}", "%".repeat(3000))),
        seed(
            "gateway_query",
            format!("/gateway/a?{}", "rvt-token=x&".repeat(500)),
        ),
        seed("gateway_query", format!("/gateway/a?{}", "&".repeat(4000))),
        seed(
            "gateway_query",
            format!(
                "/gateway/a?rvt-namespace=n&rvt-method=getOrCreate&rvt-pool=p&rvt-input={}",
                "A".repeat(8000)
            ),
        ),
        seed(
            "gateway_query",
            format!(
                "/gateway/a?rvt-namespace=n&rvt-method=get&rvt-key={}",
                ",".repeat(4000)
            ),
        ),
    ];
    // The bomb (and the bignum) where servers meet it: in every message that carries values.
    for payload in [&bomb, &big_bignum, &deep_array] {
        let array = [&[0x81][..], payload].concat();
        let mut cbor_request = vec![0xa1, 0x64];
        cbor_request.extend_from_slice(b"args");
        cbor_request.extend_from_slice(&array);
        seeds.push(seed("http_cbor", cbor_request));
        for version in 1..=4u16 {
            let mut bare = version.to_le_bytes().to_vec();
            bare.extend(bare_data(&array));
            seeds.push(seed("http_bare", bare.clone()));
            let mut action = version.to_le_bytes().to_vec();
            action.extend_from_slice(&[0x00, 0x01]);
            action.extend(bare_data(b"increment"));
            action.extend(bare_data(&array));
            seeds.push(seed("to_server_bare", action));
        }
    }
    // Forged BARE lengths: a string and a data field claiming 2⁶⁴ - 1 bytes.
    for version in 1..=4u16 {
        let mut name = version.to_le_bytes().to_vec();
        name.extend_from_slice(&[0x00, 0x01]);
        name.extend_from_slice(&huge_varint);
        seeds.push(seed("to_server_bare", name));
        let mut init = version.to_le_bytes().to_vec();
        init.push(0x00);
        init.extend_from_slice(&huge_varint);
        seeds.push(seed("to_client_bare", init));
        let mut body = version.to_le_bytes().to_vec();
        body.extend_from_slice(&huge_varint);
        seeds.push(seed("http_bare", body));
    }
    seeds
}
