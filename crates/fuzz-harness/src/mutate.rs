//! Structured mutation for the stable driver: no coverage feedback, so the mutations aim at what
//! the decoders care about — heads and length fields, nesting, the tokens of the text formats —
//! and inputs some decoder accepted are kept to mutate further.

/// The largest input the driver builds (the server's message limits are larger, but the
/// decoders' costs per byte do not depend on the total).
pub const MAX_INPUT: usize = 64 * 1024;

/// xorshift64*: deterministic from its seed, so a run reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

/// Bytes that start or end CBOR items (8-byte integer, indefinite string/array/map, one-entry
/// array/map, bignum tag, break), and the edges of ranges.
const INTERESTING_BYTES: &[u8] = &[
    0x00, 0x01, 0x17, 0x18, 0x1b, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xa1, 0xbf, 0xc1,
    0xc2, 0xc3, 0xf6, 0xf7, 0xf9, 0xfb, 0xff,
];

/// Tokens of the text formats: JSON compat markers, percent escapes, key escapes, gateway
/// query parameters, subprotocol entries.
const TOKENS: &[&str] = &[
    "[\"$BigInt\",\"",
    "[\"$Uint8Array\",\"",
    "[\"$$",
    "\"$ArrayBuffer\"",
    "{\"body\":{\"tag\":\"",
    "[[[[[[[[",
    "{\"\":{\"\":",
    "1e308",
    "-0.0",
    "\\u0000",
    "%",
    "%2F",
    "%C3%A9",
    "%ff",
    "\\",
    "\\0",
    "/",
    ",",
    "@",
    "?",
    "&",
    "=",
    "+",
    "#",
    "/gateway/",
    "rvt-method=getOrCreate",
    "rvt-method=get",
    "rvt-namespace=default",
    "rvt-key=",
    "rvt-pool=default",
    "rvt-input=",
    "rvt-token=",
    "rvt-crash-policy=restart",
    "rivet_conn_params.",
    "rivet_encoding.",
    "rivet_actor.",
    ".",
];

/// One to four stacked mutations of `input`; `pool` supplies the other half of a splice.
pub fn mutate(input: &[u8], pool: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        mutate_once(&mut out, pool, rng);
    }
    out.truncate(MAX_INPUT);
    out
}

fn mutate_once(out: &mut Vec<u8>, pool: &[Vec<u8>], rng: &mut Rng) {
    let len = out.len();
    let at = rng.below(len + 1);
    match rng.below(10) {
        // Bit flip.
        0 if len > 0 => out[at % len] ^= 1 << rng.below(8),
        // A byte that means something to a decoder.
        1 if len > 0 => out[at % len] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())],
        // Random bytes inserted.
        2 => {
            let count = 1 + rng.below(4);
            let bytes: Vec<u8> = (0..count).map(|_| rng.byte()).collect();
            out.splice(at..at, bytes);
        }
        // A range deleted.
        3 if len > 0 => {
            let end = (at + 1 + rng.below(16)).min(len);
            out.drain(at.min(len - 1)..end);
        }
        // A range repeated: deeper nesting, longer runs.
        4 if len > 0 => {
            let start = at.min(len - 1);
            let end = (start + 1 + rng.below(8)).min(len);
            let chunk = out[start..end].to_vec();
            // Now and then many times over: nesting past the decoders' depth limits.
            let most = if rng.below(8) == 0 { 200 } else { 4 };
            let times = 1 + rng.below(most);
            for _ in 0..times {
                out.splice(start..start, chunk.iter().copied());
            }
        }
        // Splice: this input's head, another one's tail.
        5 if !pool.is_empty() => {
            let other = &pool[rng.below(pool.len())];
            let from = rng.below(other.len() + 1);
            out.truncate(at);
            out.extend_from_slice(&other[from..]);
        }
        // A length field: a CBOR head with a forged length, or a huge LEB128 varint (BARE).
        6 => {
            let field = forged_length(rng);
            out.splice(at..at, field);
        }
        // A length byte nudged by a little (off-by-one lengths).
        7 if len > 0 => {
            let delta = [1u8, 2, 0xff, 0xfe][rng.below(4)];
            out[at % len] = out[at % len].wrapping_add(delta);
        }
        // A token of a text format.
        8 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            out.splice(at..at, token.bytes());
        }
        // Truncation.
        _ => out.truncate(at),
    }
}

fn forged_length(rng: &mut Rng) -> Vec<u8> {
    let big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    match rng.below(4) {
        // Byte string, text, array or map with a 32-bit length.
        0 => {
            let major = [0x5a, 0x7a, 0x9a, 0xba][rng.below(4)];
            [&[major][..], &big[..4]].concat()
        }
        // ... with a 64-bit length.
        1 => {
            let major = [0x5b, 0x7b, 0x9b, 0xbb][rng.below(4)];
            [&[major][..], &big[..]].concat()
        }
        // LEB128 of 2⁶⁴ - 1 (the longest canonical varint) and of 2³² - 1.
        2 => vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        _ => vec![0xff, 0xff, 0xff, 0xff, 0x0f],
    }
}
