//! Every decoder meets arbitrary bytes: it may refuse them, but it must never panic, loop or
//! allocate without bound — a server decodes whatever a socket sends it.
//!
//! Inputs are random byte strings and mutations of valid messages (so that decoding gets past
//! the first byte), from a fixed-seed generator so that a failure reproduces.

use rivetkit_protocol::{
    cbor, Encoding, ErrorBody, HttpActionRequest, HttpActionResponse, HttpQueueSendRequest,
    ToClient, ToServer,
};
use serde_json::json;

/// A small xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn valid_messages() -> Vec<(Encoding, Vec<u8>)> {
    let mut messages = Vec::new();
    for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
        let args = vec![
            json!(1),
            json!({"k": [1.5, "x", null]}),
            json!(["$BigInt", "7"]),
        ];
        let request = ToServer::ActionRequest {
            id: 300,
            name: "increment".into(),
            args: args.clone(),
        };
        messages.push((encoding, request.encode(encoding, 3).as_bytes().to_vec()));
        messages.push((encoding, HttpActionRequest { args }.encode(encoding, 2)));
        let event = ToClient::Event {
            name: "count".into(),
            args: vec![json!(5)],
        };
        messages.push((encoding, event.encode(encoding).as_bytes().to_vec()));
    }
    messages
}

/// Runs every decoder of `encoding` over `bytes`; only panics matter here.
fn decode_everything(encoding: Encoding, bytes: &[u8]) {
    let _ = ToServer::decode(bytes, encoding);
    let _ = ToClient::decode(bytes, encoding);
    let _ = HttpActionRequest::decode(bytes, encoding);
    let _ = HttpActionResponse::decode(bytes, encoding);
    let _ = HttpQueueSendRequest::decode(bytes, encoding);
    let _ = ErrorBody::decode_http(bytes, encoding);
    let _ = cbor::decode(bytes);
}

#[test]
fn decoders_refuse_garbage_without_panicking() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let valid = valid_messages();
    for round in 0..20_000 {
        let (encoding, mut bytes) = valid[round % valid.len()].clone();
        if round % 4 == 0 {
            // Pure noise of a random length.
            let len = rng.below(64);
            bytes = (0..len).map(|_| rng.next() as u8).collect();
        } else {
            // A valid message with a few bytes flipped, dropped or appended.
            for _ in 0..=rng.below(4) {
                match rng.below(3) {
                    0 if !bytes.is_empty() => {
                        let at = rng.below(bytes.len());
                        bytes[at] = rng.next() as u8;
                    }
                    1 if !bytes.is_empty() => {
                        let keep = rng.below(bytes.len());
                        bytes.truncate(keep);
                    }
                    _ => bytes.push(rng.next() as u8),
                }
            }
        }
        decode_everything(encoding, &bytes);
    }
}

#[test]
fn huge_declared_lengths_are_refused_not_allocated() {
    // CBOR: a byte string, an array and a map each claiming 2^63 elements.
    for bytes in [
        vec![0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(cbor::decode(&bytes).is_err());
    }
    // BARE: an ActionRequest whose name claims 2^62 bytes.
    let bytes = [
        0x02, 0x00, 0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
    ];
    assert!(ToServer::decode(&bytes, Encoding::Bare).is_err());
}

#[test]
fn deep_nesting_is_refused() {
    let deep_cbor = vec![0x81; 100_000];
    assert!(cbor::decode(&deep_cbor).is_err());
    let deep_json = format!("{{\"body\":{{\"tag\":\"ActionRequest\",\"val\":{{\"id\":[\"$BigInt\",\"0\"],\"name\":\"x\",\"args\":{}{}}}}}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(ToServer::decode(deep_json.as_bytes(), Encoding::Json).is_err());
}
