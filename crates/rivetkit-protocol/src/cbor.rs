//! A CBOR codec that writes what `cbor-x` (the JS peer's library) writes and reads anything
//! valid, translating to and from compat-space [`Value`]s (§6.3).
//!
//! Hand-written on purpose rather than built on `ciborium`:
//! * cbor-x tells a BigInt from a Number by the *width* of the integer head (`1b` + 8 bytes is a
//!   BigInt even for `5`, `1a` and shorter is a Number); ciborium's `Value` folds all widths
//!   into one integer, so that distinction — which the peers' schema checks depend on — is lost;
//! * ciborium has no `undefined`, which cbor-x writes for absent fields;
//! * ciborium's encoder always picks the shortest head, but peers require message ids as
//!   `1b` + 8 bytes, and cbor-x writes objects with a 16-bit map head (`b9 LLLL`), floats always
//!   as float64 and integers ≥ 2³² as float64;
//! * going through its `Value` would also mean a second tree per message.
//!
//! Encoding never fails: a compat-space value always has a CBOR form. Decoding is strict about
//! structure (truncation, trailing bytes, depth > [`MAX_DEPTH`], invalid UTF-8) and lenient
//! about style (any head width, indefinite lengths, half/single floats, unknown tags).

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::error::ProtocolError;
use crate::value::{self, Marker, Value};

/// Deepest array/map nesting [`decode`] accepts (a hostile peer could otherwise exhaust the
/// stack with a few kilobytes of `81 81 81 …`).
pub const MAX_DEPTH: usize = 128;

/// The longest bignum magnitude (tags 2 and 3) [`decode`] reads: 8192 bits. Turning a magnitude
/// into decimal digits costs time quadratic in its length, so an unbounded one would let a
/// megabyte of input cost minutes; cbor-x peers never write BigInts near this size.
pub const MAX_BIGNUM_BYTES: usize = 1024;

const MAJOR_UINT: u8 = 0;
const MAJOR_NEGINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;

const TAG_DATE_EPOCH: u64 = 1;
const TAG_POS_BIGNUM: u64 = 2;
const TAG_NEG_BIGNUM: u64 = 3;
const TAG_UINT8ARRAY: u64 = 64;

const BIGNUM_TOO_LONG: &str = "a bignum beyond 1024 bytes or 2466 decimal digits";

const NULL: u8 = 0xf6;
const BREAK: u8 = 0xff;

/// The largest magnitude cbor-x writes as a CBOR integer rather than a float64.
const MAX_SMALL_INT: u64 = u32::MAX as u64;

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Appends the cbor-x encoding of `v` to `out`.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => encode_number(n, out),
        Value::String(s) => write_text(out, s),
        Value::Array(items) => {
            if !encode_marker(items, out) {
                encode_seq(items, out);
            }
        }
        Value::Object(map) => {
            write_object_head(out, map.len());
            for (k, item) in map {
                write_text(out, k);
                encode(item, out);
            }
        }
    }
}

/// A plain array of values (an argument list): the array itself is never read as a marker,
/// since an argument list is always a real array.
pub(crate) fn encode_seq(items: &[Value], out: &mut Vec<u8>) {
    write_head(out, MAJOR_ARRAY, items.len() as u64);
    items.iter().for_each(|item| encode(item, out));
}

/// A message id (or any BigInt that fits `u64`) the way cbor-x writes a BigInt: `1b` + 8 bytes.
/// Peers reject ids in any shorter form.
pub fn encode_u64_id(id: u64, out: &mut Vec<u8>) {
    out.push(0x1b);
    out.extend_from_slice(&id.to_be_bytes());
}

/// A text string head and bytes.
pub(crate) fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, MAJOR_TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// cbor-x's object head: `b9` + 16-bit length (`ba` + 32-bit beyond that), never the canonical
/// short form.
pub(crate) fn write_object_head(out: &mut Vec<u8>, len: usize) {
    match u16::try_from(len) {
        Ok(n) => {
            out.push(0xb9);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Err(_) => {
            out.push(0xba);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

/// `undefined`, which cbor-x writes for object members set to `undefined`.
pub(crate) fn write_undefined(out: &mut Vec<u8>) {
    out.push(0xf7);
}

/// The shortest head for `major` with argument `n`.
fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[m | 24, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(m | 25);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(m | 26);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// JS numbers: integers in -2³²..2³²-1 as CBOR integers, everything else as float64
/// (cbor-x never writes half or single floats by default).
fn encode_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        if u <= MAX_SMALL_INT {
            return write_head(out, MAJOR_UINT, u);
        }
    } else if let Some(i) = n.as_i64() {
        if i >= -(MAX_SMALL_INT as i64) - 1 {
            return write_head(out, MAJOR_NEGINT, (-1 - i) as u64);
        }
    }
    // A float with an integral value is the same JS number as the integer (and `-0` is written
    // as `00` by cbor-x too), so it takes the integer path when in range.
    let x = n.as_f64().unwrap_or(f64::NAN);
    if x.fract() == 0.0 && x >= -(MAX_SMALL_INT as f64) - 1.0 && x <= MAX_SMALL_INT as f64 {
        if x >= 0.0 {
            write_head(out, MAJOR_UINT, x as u64);
        } else {
            write_head(out, MAJOR_NEGINT, (-1.0 - x) as u64);
        }
    } else {
        out.push(0xfb);
        out.extend_from_slice(&x.to_bits().to_be_bytes());
    }
}

/// Writes a compat-space marker natively. Returns false for an ordinary array (and for a
/// malformed marker, which then goes out as the plain array it literally is).
fn encode_marker(items: &[Value], out: &mut Vec<u8>) -> bool {
    match value::classify(items) {
        Some(Marker::BigInt(p)) => match value::bigint_digits(p) {
            Some(decimal) => {
                encode_bigint(decimal, out);
                true
            }
            None => false,
        },
        Some(Marker::Uint8Array(p)) => encode_base64_bytes(p, Some(TAG_UINT8ARRAY), out),
        // cbor-x writes an ArrayBuffer as a plain byte string.
        Some(Marker::ArrayBuffer(p)) => encode_base64_bytes(p, None, out),
        Some(Marker::Escaped(name, second)) => {
            write_head(out, MAJOR_ARRAY, 2);
            write_text(out, name);
            encode(second, out);
            true
        }
        Some(Marker::Unknown(_)) | None => false,
    }
}

/// Decodes base64 straight into `out`, then splices the (tag and) byte-string head in front
/// once the length is known: no scratch buffer.
fn encode_base64_bytes(payload: &Value, tag: Option<u64>, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    if !value::decode_base64_into(payload, out) {
        return false;
    }
    let mut head = Vec::with_capacity(12);
    if let Some(tag) = tag {
        write_head(&mut head, MAJOR_TAG, tag);
    }
    write_head(&mut head, MAJOR_BYTES, (out.len() - start) as u64);
    out.splice(start..start, head);
    true
}

/// cbor-x's BigInt forms: `1b`/`3b` + 8 bytes within ±2⁶⁴, bignum tags 2/3 beyond.
fn encode_bigint(decimal: &str, out: &mut Vec<u8>) {
    if let Ok(n) = decimal.parse::<i128>() {
        if let Ok(u) = u64::try_from(n) {
            return encode_u64_id(u, out);
        }
        if let Ok(u) = u64::try_from(-1 - n) {
            out.push(0x3b);
            return out.extend_from_slice(&u.to_be_bytes());
        }
    }
    let (negative, digits) = match decimal.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, decimal),
    };
    let mut magnitude = decimal_to_be(digits);
    if negative {
        // Tag 3 carries -1 - n, i.e. |n| - 1.
        sub_one_be(&mut magnitude);
    }
    let tag = if negative {
        TAG_NEG_BIGNUM
    } else {
        TAG_POS_BIGNUM
    };
    write_head(out, MAJOR_TAG, tag);
    write_head(out, MAJOR_BYTES, magnitude.len() as u64);
    out.extend_from_slice(&magnitude);
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decodes exactly one CBOR item (trailing bytes are an error) into a compat-space value.
pub fn decode(bytes: &[u8]) -> Result<Value, ProtocolError> {
    let mut d = Decoder {
        buf: bytes,
        pos: 0,
        promised: 0,
    };
    let v = d.item(0)?;
    if d.pos == bytes.len() {
        Ok(v)
    } else {
        Err(ProtocolError::TrailingBytes)
    }
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Input bytes still owed to container entries that were allocated up front but not read
    /// yet (see [`Decoder::preallocate`]).
    promised: usize,
}

/// The least input an array entry takes (one head byte), and a map entry (a key and a value).
const ARRAY_ENTRY_BYTES: usize = 1;
const MAP_ENTRY_BYTES: usize = 2;

/// A decoded item head: major type, low five bits, and the argument (None = indefinite).
struct Head {
    major: u8,
    info: u8,
    arg: Option<u64>,
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], ProtocolError> {
        let remaining = self.buf.len() - self.pos;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= remaining)
            .ok_or(ProtocolError::UnexpectedEof)?;
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: u64) -> Result<u64, ProtocolError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn head(&mut self) -> Result<Head, ProtocolError> {
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(self.be(1)?),
            25 => Some(self.be(2)?),
            26 => Some(self.be(4)?),
            27 => Some(self.be(8)?),
            31 => None,
            _ => return Err(ProtocolError::Cbor("reserved additional information")),
        };
        if arg.is_none() && matches!(major, MAJOR_UINT | MAJOR_NEGINT | MAJOR_TAG) {
            return Err(ProtocolError::Cbor("indefinite length on a scalar"));
        }
        Ok(Head { major, info, arg })
    }

    /// True (and consumes it) if the next byte is the indefinite-length terminator.
    fn at_break(&mut self) -> Result<bool, ProtocolError> {
        match self.buf.get(self.pos) {
            Some(&BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(ProtocolError::UnexpectedEof),
        }
    }

    /// How many of a container's `declared` entries (None: indefinite, nothing known) to
    /// allocate up front, each entry taking at least `entry_bytes` of input.
    ///
    /// Every entry allocated ahead is promised input bytes that no other container may count
    /// on: bounding each container by the bytes left alone would let 128 nested headers that
    /// each declare 2³² entries reserve 128 times the input. With the promise, everything
    /// allocated ahead over one decode is at most twice the entries the input can hold. The
    /// caller calls [`Decoder::redeem`] before reading each entry.
    fn preallocate(&mut self, declared: Option<u64>, entry_bytes: usize) -> usize {
        let unpromised = (self.buf.len() - self.pos).saturating_sub(self.promised);
        let granted = declared.unwrap_or(0).min((unpromised / entry_bytes) as u64) as usize;
        self.promised += granted * entry_bytes;
        granted
    }

    /// The entry about to be read was allocated ahead: its promise is kept by reading it.
    fn redeem(&mut self, granted: &mut usize, entry_bytes: usize) {
        if *granted > 0 {
            *granted -= 1;
            self.promised -= entry_bytes;
        }
    }

    fn item(&mut self, depth: usize) -> Result<Value, ProtocolError> {
        if depth > MAX_DEPTH {
            return Err(ProtocolError::TooDeep(MAX_DEPTH));
        }
        let head = self.head()?;
        match head.major {
            MAJOR_UINT => {
                let n = head.arg.unwrap_or_default();
                // Only the 8-byte form is a BigInt in cbor-x; narrower heads are Numbers.
                Ok(if head.info == 27 {
                    value::bigint(i128::from(n))
                } else {
                    Value::from(n)
                })
            }
            MAJOR_NEGINT => {
                let n = head.arg.unwrap_or_default();
                Ok(if head.info == 27 {
                    value::bigint(-1 - i128::from(n))
                } else {
                    // n < 2^32 here, so -1 - n fits an i64.
                    Value::from(-1 - n as i64)
                })
            }
            MAJOR_BYTES => Ok(value::bytes(&self.string_body(head)?)),
            MAJOR_TEXT => {
                let raw = self.string_body(head)?;
                match raw {
                    Cow::Borrowed(b) => std::str::from_utf8(b).map(Value::from),
                    Cow::Owned(b) => String::from_utf8(b)
                        .map(Value::from)
                        .map_err(|e| e.utf8_error()),
                }
                .map_err(|_| ProtocolError::InvalidUtf8)
            }
            MAJOR_ARRAY => self.array(head.arg, depth),
            MAJOR_MAP => self.map(head.arg, depth),
            MAJOR_TAG => self.tagged(head.arg.unwrap_or_default(), depth),
            _ => self.simple(head),
        }
    }

    /// The bytes of a (possibly chunked) byte or text string whose head was just read.
    fn string_body(&mut self, head: Head) -> Result<Cow<'a, [u8]>, ProtocolError> {
        if let Some(len) = head.arg {
            return self.take(len).map(Cow::Borrowed);
        }
        let mut joined = Vec::new();
        while !self.at_break()? {
            let chunk = self.head()?;
            match chunk.arg {
                Some(len) if chunk.major == head.major => joined.extend_from_slice(self.take(len)?),
                _ => return Err(ProtocolError::Cbor("invalid chunk in indefinite string")),
            }
        }
        Ok(Cow::Owned(joined))
    }

    fn array(&mut self, len: Option<u64>, depth: usize) -> Result<Value, ProtocolError> {
        let mut granted = self.preallocate(len, ARRAY_ENTRY_BYTES);
        let mut items = Vec::with_capacity(granted);
        match len {
            Some(n) => {
                for _ in 0..n {
                    self.redeem(&mut granted, ARRAY_ENTRY_BYTES);
                    items.push(self.item(depth + 1)?);
                }
            }
            None => {
                while !self.at_break()? {
                    items.push(self.item(depth + 1)?);
                }
            }
        }
        // In compat space a user array `["$x", v]` is stored escaped (§6.2).
        if let [Value::String(tag), _] = items.as_mut_slice() {
            if tag.starts_with('$') {
                tag.insert(0, '$');
            }
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: Option<u64>, depth: usize) -> Result<Value, ProtocolError> {
        let mut granted = self.preallocate(len, MAP_ENTRY_BYTES);
        let mut map = serde_json::Map::with_capacity(granted);
        let mut remaining = len;
        loop {
            match &mut remaining {
                Some(0) => break,
                Some(n) => *n -= 1,
                None if self.at_break()? => break,
                None => {}
            }
            self.redeem(&mut granted, MAP_ENTRY_BYTES);
            let key = map_key(self.item(depth + 1)?)?;
            let v = self.item(depth + 1)?;
            // Duplicate keys: the last value wins, at the first key's position (as in JS).
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }

    fn tagged(&mut self, tag: u64, depth: usize) -> Result<Value, ProtocolError> {
        match tag {
            TAG_POS_BIGNUM | TAG_NEG_BIGNUM => {
                let head = self.head()?;
                if head.major != MAJOR_BYTES {
                    return Err(ProtocolError::Cbor("bignum without a byte string"));
                }
                let magnitude = self.string_body(head)?;
                if magnitude.len() > MAX_BIGNUM_BYTES {
                    return Err(ProtocolError::Cbor(BIGNUM_TOO_LONG));
                }
                let mut magnitude = magnitude.into_owned();
                if tag == TAG_NEG_BIGNUM {
                    add_one_be(&mut magnitude);
                }
                let digits = be_to_decimal(&magnitude);
                // What the JSON side accepts, so that every decoded BigInt also travels as JSON.
                if digits.len() > value::MAX_BIGINT_DIGITS {
                    return Err(ProtocolError::Cbor(BIGNUM_TOO_LONG));
                }
                Ok(value::bigint_decimal(if tag == TAG_NEG_BIGNUM {
                    format!("-{digits}")
                } else {
                    digits
                }))
            }
            // cbor-x revives a Date; in compat space it is what `JSON.stringify` prints.
            TAG_DATE_EPOCH => {
                let inner = self.item(depth + 1)?;
                Ok(match inner.as_f64() {
                    Some(secs) => iso_date(secs),
                    None => inner,
                })
            }
            // Typed arrays (64–87) around a byte string read as bytes, Set (258) as its array,
            // Map (259) as an object with stringified keys; any other tag adds nothing a
            // compat-space value can hold, so the content stands for itself.
            _ => self.item(depth + 1),
        }
    }

    fn simple(&mut self, head: Head) -> Result<Value, ProtocolError> {
        debug_assert_eq!(head.major, MAJOR_SIMPLE);
        let Some(arg) = head.arg else {
            return Err(ProtocolError::Cbor("unexpected break"));
        };
        let float = match head.info {
            20 => return Ok(Value::Bool(false)),
            21 => return Ok(Value::Bool(true)),
            25 => f16_to_f64(arg as u16),
            26 => f64::from(f32::from_bits(arg as u32)),
            27 => f64::from_bits(arg),
            // null, undefined and unassigned simple values: nothing JSON can say but null.
            _ => return Ok(Value::Null),
        };
        Ok(number_from_f64(float))
    }
}

/// JS numbers are doubles; an integral one prints without a fraction, so it is stored as a
/// JSON integer (which also lets typed code read it as an integer). NaN/±∞ print as null.
fn number_from_f64(x: f64) -> Value {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    if x.fract() == 0.0 {
        if (0.0..TWO_POW_64).contains(&x) {
            return Value::from(x as u64);
        }
        if x < 0.0 && x >= i64::MIN as f64 {
            return Value::from(x as i64);
        }
    }
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let mantissa = f64::from(h & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Object keys must be strings; other keys are turned into the text JS would use as a property
/// name (`String(key)`), falling back to JSON text for composite keys.
/// A map key as an object property name, as cbor-x's decoder makes it: strings stay,
/// numbers, booleans and bigints print, null becomes `"null"`. Arrays and maps are refused, as
/// cbor-x refuses them: printing them as keys costs time and memory that double with every
/// level of nesting, so a few dozen bytes could make gigabytes.
fn map_key(key: Value) -> Result<String, ProtocolError> {
    match key {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok("null".to_owned()),
        other => match value::as_bigint(&other) {
            Some(n) => Ok(n.to_string()),
            None => Err(ProtocolError::Cbor("a map key that is an array or a map")),
        },
    }
}

/// `Date.prototype.toJSON` of epoch seconds: `YYYY-MM-DDTHH:MM:SS.sssZ`, or null for an
/// invalid date.
fn iso_date(secs: f64) -> Value {
    const MAX_MS: f64 = 8.64e15;
    let ms = (secs * 1000.0).round();
    if !ms.is_finite() || ms.abs() > MAX_MS {
        return Value::Null;
    }
    let ms = ms as i64;
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Value::String(format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    ))
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// ---------------------------------------------------------------------------------------------
// Arbitrary-size integers for bignum tags (BigInts beyond ±2⁶⁴ are rare; simplicity wins,
// within the bounds above).
// ---------------------------------------------------------------------------------------------

/// Big-endian magnitude → decimal digits. Schoolbook base conversion is quadratic in the
/// length, which is why [`MAX_BIGNUM_BYTES`] bounds it; 32 bits per step keeps the constant low.
fn be_to_decimal(bytes: &[u8]) -> String {
    const BASE: u64 = 1_000_000_000;
    // Little-endian limbs in base 10⁹.
    let mut limbs: Vec<u32> = Vec::new();
    // Most significant chunk first; only that one may be shorter than 4 bytes.
    for chunk in bytes.rchunks(4).rev() {
        let shift = 8 * chunk.len() as u32;
        let mut carry = chunk.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b));
        for limb in &mut limbs {
            // limb < 10⁹ < 2³⁰ and carry < 2³³, so this stays below 2⁶³.
            let x = (u64::from(*limb) << shift) + carry;
            *limb = (x % BASE) as u32;
            carry = x / BASE;
        }
        while carry > 0 {
            limbs.push((carry % BASE) as u32);
            carry /= BASE;
        }
    }
    let mut limbs = limbs.iter().rev();
    let mut out = limbs.next().map_or_else(|| "0".to_owned(), u32::to_string);
    for limb in limbs {
        write!(out, "{limb:09}").expect("writing into a String cannot fail");
    }
    out
}

/// Decimal digits → minimal big-endian magnitude (quadratic like [`be_to_decimal`], so the
/// callers bound the digits by [`value::MAX_BIGINT_DIGITS`]), nine digits per step.
fn decimal_to_be(digits: &str) -> Vec<u8> {
    // Little-endian limbs in base 2³².
    let mut limbs: Vec<u32> = Vec::new();
    for chunk in digits.as_bytes().rchunks(9).rev() {
        let scale = 10u64.pow(chunk.len() as u32);
        let mut carry = chunk
            .iter()
            .fold(0, |acc, &d| acc * 10 + u64::from(d - b'0'));
        for limb in &mut limbs {
            // limb < 2³² and scale, carry ≤ 10⁹, so this stays below 2⁶².
            let x = u64::from(*limb) * scale + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    limbs
        .iter()
        .rev()
        .flat_map(|limb| limb.to_be_bytes())
        .skip_while(|&byte| byte == 0)
        .collect()
}

fn add_one_be(bytes: &mut Vec<u8>) {
    for byte in bytes.iter_mut().rev() {
        let (sum, overflow) = byte.overflowing_add(1);
        *byte = sum;
        if !overflow {
            return;
        }
    }
    bytes.insert(0, 1);
}

/// `bytes - 1` for a non-zero magnitude, keeping it minimal.
fn sub_one_be(bytes: &mut Vec<u8>) {
    for byte in bytes.iter_mut().rev() {
        let (diff, borrow) = byte.overflowing_sub(1);
        *byte = diff;
        if !borrow {
            break;
        }
    }
    let leading_zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..leading_zeros);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: Value) {
        let mut out = Vec::new();
        encode(&v, &mut out);
        assert_eq!(decode(&out).unwrap(), v, "{out:02x?}");
    }

    #[test]
    fn bigints_round_trip_at_every_boundary() {
        for n in [
            "0",
            "-1",
            "18446744073709551615",
            "18446744073709551616",
            "-18446744073709551616",
            "-18446744073709551617",
            "340282366920938463463374607431768211456000",
            "-340282366920938463463374607431768211456000",
        ] {
            round_trip(json!(["$BigInt", n]));
        }
    }

    #[test]
    fn bignums_are_bounded_by_length() {
        // The largest magnitude read: 1024 bytes of ff is 2⁸¹⁹² - 1, 2467 digits, one too many.
        let bignum = |tag: u8, magnitude: &[u8]| {
            let mut out = vec![0xc0 | tag];
            write_head(&mut out, MAJOR_BYTES, magnitude.len() as u64);
            out.extend_from_slice(magnitude);
            out
        };
        let too_many_digits = bignum(2, &[0xff; MAX_BIGNUM_BYTES]);
        assert!(matches!(
            decode(&too_many_digits),
            Err(ProtocolError::Cbor(BIGNUM_TOO_LONG))
        ));
        // A megabyte of magnitude is refused before any conversion (it would take minutes).
        assert!(matches!(
            decode(&bignum(3, &vec![0x01; 1 << 20])),
            Err(ProtocolError::Cbor(BIGNUM_TOO_LONG))
        ));
        // 10²⁴⁶⁶ - 1, the largest BigInt the JSON side accepts, round-trips through CBOR.
        let largest = "9".repeat(value::MAX_BIGINT_DIGITS);
        round_trip(json!(["$BigInt", largest]));
        round_trip(json!(["$BigInt", format!("-{largest}")]));
        let mut out = Vec::new();
        encode(&json!(["$BigInt", largest]), &mut out);
        assert!(out.len() <= 1 + 3 + MAX_BIGNUM_BYTES, "{}", out.len());
    }

    #[test]
    fn base_conversions_agree_with_u128() {
        for n in [0u128, 1, 255, 256, 1 << 32, (1 << 64) + 7, u128::MAX] {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .into_iter()
                .skip_while(|&b| b == 0)
                .collect();
            assert_eq!(be_to_decimal(&bytes), n.to_string());
            assert_eq!(decimal_to_be(&n.to_string()), bytes);
        }
    }

    #[test]
    fn markers_and_escapes_round_trip() {
        round_trip(json!(["$$x", ["$Uint8Array", "AAEC"], {"k": ["$$$y", null]}]));
        round_trip(json!(["$Uint8Array", ""]));
        let mut out = Vec::new();
        encode(&json!(["$ArrayBuffer", "AQ=="]), &mut out);
        assert_eq!(out, [0x41, 0x01]);
    }

    #[test]
    fn structural_errors() {
        assert!(matches!(
            decode(&[0x01, 0x02]),
            Err(ProtocolError::TrailingBytes)
        ));
        assert!(matches!(
            decode(&[0x62, 0x61]),
            Err(ProtocolError::UnexpectedEof)
        ));
        assert!(matches!(
            decode(&[0x61, 0xff]),
            Err(ProtocolError::InvalidUtf8)
        ));
        assert!(decode(&[0xff]).is_err());
        assert!(decode(&[0x5f, 0x61, 0x61, 0xff]).is_err());
        assert!(decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        let deep = [vec![0x81; MAX_DEPTH + 1], vec![0x00]].concat();
        assert!(matches!(decode(&deep), Err(ProtocolError::TooDeep(_))));
        let ok = [vec![0x81; MAX_DEPTH], vec![0x00]].concat();
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn non_string_keys_and_odd_floats() {
        // {1: "a", true: 2, 1b..05: 3} and NaN / 2.0 as half floats.
        let bytes = [
            0xa3, 0x01, 0x61, 0x61, 0xf5, 0x02, 0x1b, 0, 0, 0, 0, 0, 0, 0, 5, 0x03,
        ];
        assert_eq!(
            decode(&bytes).unwrap(),
            json!({"1": "a", "true": 2, "5": 3})
        );
        // A map or an array as a key is refused, however deep: 34 nested maps in 69 bytes once
        // cost 2 GiB when keys were printed as JSON text.
        let nested = [vec![0xa1; 34], vec![0x00; 35]].concat();
        assert!(matches!(decode(&nested), Err(ProtocolError::Cbor(_))));
        assert!(decode(&[0xa1, 0x80, 0x00]).is_err());
        assert_eq!(decode(&[0xf9, 0x7e, 0x00]).unwrap(), Value::Null);
        assert_eq!(decode(&[0xf9, 0x40, 0x00]).unwrap(), json!(2));
        assert_eq!(
            decode(&[0xf9, 0x00, 0x01]).unwrap(),
            json!(5.960464477539063e-8)
        );
    }
}
