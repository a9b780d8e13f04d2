//! The value model: what args, outputs, event args, metadata and queue bodies are made of.
//!
//! A [`Value`] is kept in *JSON-compat space* (§6.2): it is exactly the JSON the official JS
//! compat layer would print for the JS value. BigInts are `["$BigInt","<decimal>"]`, byte arrays
//! `["$Uint8Array","<base64>"]` (or `$ArrayBuffer`), a user array `["$x", v]` is stored escaped as
//! `["$$x", v]`, and `undefined` is null. Choosing this representation makes the JSON encoding a
//! straight pass-through (no tree rewrite on the hottest encoding), while CBOR, which has native
//! BigInts and byte strings, converts at the codec boundary (see [`crate::cbor`]).
//!
//! Actor code should not have to know any of this: [`to_typed`] / [`from_typed`] and [`Bytes`]
//! bridge to ordinary serde types.

use std::sync::LazyLock;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ProtocolError;

/// A value in JSON-compat space (§6.2): plain JSON, with BigInts and bytes as `$`-tagged arrays.
pub type Value = serde_json::Value;

/// JSON-compat tag of a JS BigInt: `["$BigInt", "<decimal>"]`.
pub const BIGINT_TAG: &str = "$BigInt";
/// JSON-compat tag of a `Uint8Array`: `["$Uint8Array", "<base64>"]`.
pub const UINT8ARRAY_TAG: &str = "$Uint8Array";
/// JSON-compat tag of an `ArrayBuffer`: `["$ArrayBuffer", "<base64>"]`.
pub const ARRAY_BUFFER_TAG: &str = "$ArrayBuffer";

/// Node's `Buffer.from(s, "base64")` accepts missing padding, so our reader does too.
static LENIENT_BASE64: LazyLock<GeneralPurpose> = LazyLock::new(|| {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
});

/// What a `$`-tagged 2-array means. Every module that looks at markers goes through
/// [`classify`] so the rules of §6.2 live in one place.
pub(crate) enum Marker<'a> {
    /// `["$BigInt", payload]`
    BigInt(&'a Value),
    /// `["$Uint8Array", payload]`
    Uint8Array(&'a Value),
    /// `["$ArrayBuffer", payload]`
    ArrayBuffer(&'a Value),
    /// A user array `[name, second]` stored escaped; `name` has the extra `$` removed.
    Escaped(&'a str, &'a Value),
    /// Any other `$` tag: invalid in compat space.
    Unknown(&'a str),
}

/// `None` for an ordinary array (anything but exactly two items led by a `$` string).
pub(crate) fn classify(items: &[Value]) -> Option<Marker<'_>> {
    let [Value::String(tag), second] = items else {
        return None;
    };
    Some(match tag.as_str() {
        BIGINT_TAG => Marker::BigInt(second),
        UINT8ARRAY_TAG => Marker::Uint8Array(second),
        ARRAY_BUFFER_TAG => Marker::ArrayBuffer(second),
        t if t.starts_with("$$") => Marker::Escaped(&t[1..], second),
        t if t.starts_with('$') => Marker::Unknown(t),
        _ => return None,
    })
}

/// The BigInt `n`.
pub fn bigint(n: i128) -> Value {
    bigint_decimal(n.to_string())
}

/// A BigInt from its decimal text (for values beyond `i128`, e.g. CBOR bignums).
pub(crate) fn bigint_decimal(decimal: String) -> Value {
    Value::Array(vec![
        Value::String(BIGINT_TAG.to_owned()),
        Value::String(decimal),
    ])
}

/// A `Uint8Array` holding `b`.
pub fn bytes(b: &[u8]) -> Value {
    Value::Array(vec![
        Value::String(UINT8ARRAY_TAG.to_owned()),
        Value::String(STANDARD.encode(b)),
    ])
}

/// The bytes of a `$Uint8Array` or `$ArrayBuffer` marker.
pub fn as_bytes(v: &Value) -> Option<Vec<u8>> {
    match marker_of(v)? {
        Marker::Uint8Array(p) | Marker::ArrayBuffer(p) => decode_base64(p),
        _ => None,
    }
}

/// The value of a `$BigInt` marker, if it fits `i128`.
pub fn as_bigint(v: &Value) -> Option<i128> {
    match marker_of(v)? {
        Marker::BigInt(p) => bigint_digits(p)?.parse().ok(),
        _ => None,
    }
}

fn marker_of(v: &Value) -> Option<Marker<'_>> {
    match v {
        Value::Array(items) => classify(items),
        _ => None,
    }
}

/// The most decimal digits a BigInt may have: every such number fits the 1024-byte bignums CBOR
/// reads ([`crate::cbor::MAX_BIGNUM_BYTES`]; 2⁸¹⁹² > 10²⁴⁶⁶). Converting digits to binary
/// costs time quadratic in their count, so an unbounded BigInt in a JSON message would let a
/// megabyte of digits cost minutes once the value is written as CBOR or BARE.
pub const MAX_BIGINT_DIGITS: usize = 2466;

/// The decimal text of a BigInt payload: an optional `-` then 1 to [`MAX_BIGINT_DIGITS`] digits.
pub(crate) fn bigint_digits(payload: &Value) -> Option<&str> {
    let s = payload.as_str()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    let valid = (1..=MAX_BIGINT_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(s)
}

pub(crate) fn decode_base64(payload: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_base64_into(payload, &mut out).then_some(out)
}

/// Appends the decoded bytes of a base64 payload to `out`; false (and `out` untouched) if the
/// payload is not a base64 string.
pub(crate) fn decode_base64_into(payload: &Value, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let ok = payload
        .as_str()
        .is_some_and(|s| LENIENT_BASE64.decode_vec(s, out).is_ok());
    if !ok {
        out.truncate(start);
    }
    ok
}

/// Checks that every `$`-tagged array is one the JS parser accepts (§6.2), with a payload it
/// can read. JSON from the wire must pass this before it is trusted as a compat-space value.
pub fn validate_json_compat(v: &Value) -> Result<(), ProtocolError> {
    match v {
        Value::Array(items) => {
            match classify(items) {
                Some(Marker::Unknown(tag)) => {
                    return Err(ProtocolError::UnknownJsonTag(tag.to_owned()))
                }
                Some(Marker::BigInt(p)) => {
                    return match bigint_digits(p) {
                        Some(_) => Ok(()),
                        None => Err(ProtocolError::InvalidMarker(BIGINT_TAG)),
                    }
                }
                Some(Marker::Uint8Array(p) | Marker::ArrayBuffer(p)) => {
                    return match decode_base64(p) {
                        Some(_) => Ok(()),
                        None => Err(ProtocolError::InvalidMarker("base64 byte array")),
                    }
                }
                Some(Marker::Escaped(..)) | None => {}
            }
            items.iter().try_for_each(validate_json_compat)
        }
        Value::Object(map) => map.values().try_for_each(validate_json_compat),
        _ => Ok(()),
    }
}

/// Converts a compat-space value into a user type: escaped arrays lose their extra `$`,
/// BigInts that fit `i64`/`u64` become plain numbers, byte markers stay (read them with
/// [`Bytes`]). The walk mutates the owned value in place, so a value without markers costs one
/// read-only pass and no allocation.
pub fn to_typed<T: DeserializeOwned>(mut v: Value) -> Result<T, serde_json::Error> {
    unescape_in_place(&mut v);
    serde_json::from_value(v)
}

fn unescape_in_place(v: &mut Value) {
    match v {
        Value::Array(items) => {
            let replacement = match classify(items) {
                Some(Marker::BigInt(p)) => bigint_digits(p).and_then(plain_number),
                Some(Marker::Escaped(..)) => {
                    if let Value::String(tag) = &mut items[0] {
                        tag.remove(0);
                    }
                    unescape_in_place(&mut items[1]);
                    return;
                }
                Some(Marker::Uint8Array(_) | Marker::ArrayBuffer(_)) => return,
                Some(Marker::Unknown(_)) | None => None,
            };
            match replacement {
                Some(n) => *v = n,
                None => items.iter_mut().for_each(unescape_in_place),
            }
        }
        Value::Object(map) => map.values_mut().for_each(unescape_in_place),
        _ => {}
    }
}

fn plain_number(decimal: &str) -> Option<Value> {
    if let Ok(n) = decimal.parse::<u64>() {
        return Some(n.into());
    }
    decimal.parse::<i64>().ok().map(Value::from)
}

/// Converts a user type into a compat-space value. User arrays `["$x", v]` are escaped; arrays
/// whose tag is exactly `$BigInt`, `$Uint8Array` or `$ArrayBuffer` are taken to be markers
/// (that is how [`Bytes`] serializes), so a user tuple spelled like a marker becomes one.
pub fn from_typed<T: Serialize>(t: &T) -> Result<Value, serde_json::Error> {
    let mut v = serde_json::to_value(t)?;
    escape_in_place(&mut v, true);
    Ok(v)
}

/// Parses plain JSON (what `JSON.parse` sees: `x-rivet-conn-params`, `rivet_conn_params.`) into
/// compat space. Plain JSON has no markers, so every `$`-led 2-array is a user array and is
/// escaped, exact marker names included.
pub fn parse_conn_params(json: &str) -> Result<Value, ProtocolError> {
    let mut v: Value =
        serde_json::from_str(json).map_err(|e| ProtocolError::InvalidParams(e.to_string()))?;
    escape_in_place(&mut v, false);
    Ok(v)
}

fn escape_in_place(v: &mut Value, keep_markers: bool) {
    match v {
        Value::Array(items) => {
            if let [Value::String(tag), _] = items.as_mut_slice() {
                let is_marker =
                    matches!(tag.as_str(), BIGINT_TAG | UINT8ARRAY_TAG | ARRAY_BUFFER_TAG);
                if keep_markers && is_marker {
                    return;
                }
                if tag.starts_with('$') {
                    tag.insert(0, '$');
                }
            }
            items
                .iter_mut()
                .for_each(|item| escape_in_place(item, keep_markers));
        }
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| escape_in_place(item, keep_markers)),
        Value::Number(number) => {
            // JS has one number type: an integral float is an integer there, and cbor-x writes
            // it as one. Normalizing keeps `f64` state readable as an integer by typed peers.
            if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
                if float.fract() == 0.0 && float.abs() <= MAX_SAFE_INTEGER {
                    *v = Value::from(float as i64);
                }
            }
        }
        _ => {}
    }
}

/// The largest integer a JS number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A byte array for actor code: serializes as the `$Uint8Array` marker, deserializes from
/// either byte marker. Use it in types passed through [`to_typed`] / [`from_typed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (UINT8ARRAY_TAG, STANDARD.encode(&self.0)).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (tag, payload) = <(String, String)>::deserialize(d)?;
        if tag != UINT8ARRAY_TAG && tag != ARRAY_BUFFER_TAG {
            return Err(D::Error::custom(format!(
                "expected a byte array marker, found {tag:?}"
            )));
        }
        LENIENT_BASE64
            .decode(payload)
            .map(Bytes)
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integral_floats_become_integers_like_js_numbers() {
        assert_eq!(
            from_typed(&(1.0f64, 2.5f64, -0.0f64)).unwrap(),
            json!([1, 2.5, 0])
        );
        assert_eq!(
            from_typed(&1e300f64).unwrap(),
            json!(1e300),
            "beyond 2^53 stays a float"
        );
        assert_eq!(to_typed::<f64>(json!(3)).unwrap(), 3.0);
    }

    #[test]
    fn typed_bridge_round_trips_escapes_bigints_and_bytes() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct S {
            pair: (String, u32),
            big: u64,
            data: Bytes,
        }
        let wire =
            json!({"pair": ["$$x", 1], "big": ["$BigInt", "7"], "data": ["$Uint8Array", "AQI="]});
        let s: S = to_typed(wire).unwrap();
        assert_eq!(
            s,
            S {
                pair: ("$x".into(), 1),
                big: 7,
                data: Bytes(vec![1, 2])
            }
        );
        let back = from_typed(&s).unwrap();
        assert_eq!(
            back,
            json!({"pair": ["$$x", 1], "big": 7, "data": ["$Uint8Array", "AQI="]})
        );
    }

    #[test]
    fn conn_params_escape_even_marker_names() {
        assert_eq!(
            parse_conn_params(r#"{"a":["$BigInt","1"]}"#).unwrap(),
            json!({"a": ["$$BigInt", "1"]})
        );
        assert!(matches!(
            parse_conn_params("{"),
            Err(ProtocolError::InvalidParams(_))
        ));
    }

    #[test]
    fn validation_rejects_bad_payloads() {
        let digits = "1".repeat(MAX_BIGINT_DIGITS);
        assert!(validate_json_compat(&json!(["$BigInt", digits])).is_ok());
        assert!(validate_json_compat(&json!(["$BigInt", format!("-{digits}")])).is_ok());
        assert!(validate_json_compat(&json!(["$BigInt", format!("{digits}1")])).is_err());
        assert!(validate_json_compat(&json!(["$BigInt", "1x"])).is_err());
        assert!(validate_json_compat(&json!(["$Uint8Array", "!!"])).is_err());
        assert!(validate_json_compat(&json!([["$Foo", 1]])).is_err());
        assert!(validate_json_compat(&json!(["$$Foo", ["$BigInt", "-3"]])).is_ok());
    }
}
