//! BARE primitives and the embedded-version envelope (§6.4).
//!
//! The schema is tiny (a dozen structs), so a hand-written reader/writer is shorter and
//! stricter than a generator: it enforces exactly the checks the official `@bare-ts` decoder
//! makes (canonical varints, UTF-8, 0/1 bools and optional tags, no trailing bytes). The message
//! layouts themselves live in [`crate::message`].

use crate::cbor;
use crate::error::ProtocolError;
use crate::value::Value;

/// Oldest and newest schema versions this crate reads (and may write).
pub const MIN_VERSION: u16 = 1;
/// Newest schema version this crate reads and writes.
pub const MAX_VERSION: u16 = 4;

/// A cursor over one BARE payload. Borrowed strings and data point into the input.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf` (the version prefix, if any, comes first).
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Reads the `u16` little-endian version prefix, rejecting anything outside 1–4.
    pub fn version(&mut self) -> Result<u16, ProtocolError> {
        let [lo, hi] = self.take_array::<2>()?;
        let version = u16::from_le_bytes([lo, hi]);
        if (MIN_VERSION..=MAX_VERSION).contains(&version) {
            Ok(version)
        } else {
            Err(ProtocolError::UnknownVersion(version))
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(ProtocolError::UnexpectedEof)?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// One byte (union tags).
    pub fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// Unsigned LEB128, at most 10 bytes, no redundant trailing zero groups.
    pub fn uint(&mut self) -> Result<u64, ProtocolError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = self.u8()?;
            let group = u64::from(byte & 0x7f);
            // The tenth byte may only contribute the single top bit of a u64.
            if i == 9 && byte > 1 {
                return Err(ProtocolError::InvalidVarint);
            }
            value |= group << (7 * i);
            if byte & 0x80 == 0 {
                // A final zero group after the first byte is a non-canonical encoding.
                if byte == 0 && i > 0 {
                    return Err(ProtocolError::InvalidVarint);
                }
                return Ok(value);
            }
        }
        Err(ProtocolError::InvalidVarint)
    }

    /// `u64`: eight bytes, little-endian.
    pub fn u64_le(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.take_array::<8>()?))
    }

    /// `bool`: exactly 0 or 1.
    pub fn bool(&mut self) -> Result<bool, ProtocolError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(ProtocolError::InvalidBool(b)),
        }
    }

    /// `data`: a `uint` length, then that many bytes.
    pub fn data(&mut self) -> Result<&'a [u8], ProtocolError> {
        let len = usize::try_from(self.uint()?).map_err(|_| ProtocolError::UnexpectedEof)?;
        self.take(len)
    }

    /// `str`: `data` that must be UTF-8.
    pub fn str(&mut self) -> Result<&'a str, ProtocolError> {
        std::str::from_utf8(self.data()?).map_err(|_| ProtocolError::InvalidUtf8)
    }

    /// `optional<T>`: a 0/1 presence byte, then `T` when present.
    pub fn optional<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, ProtocolError>,
    ) -> Result<Option<T>, ProtocolError> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            b => Err(ProtocolError::InvalidOptional(b)),
        }
    }

    /// A `data` field holding CBOR, decoded into a value.
    pub fn cbor(&mut self) -> Result<Value, ProtocolError> {
        cbor::decode(self.data()?)
    }

    /// Succeeds only if the whole payload was consumed.
    pub fn finish(self) -> Result<(), ProtocolError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(ProtocolError::TrailingBytes)
        }
    }
}

/// Writes the version prefix. Versions outside 1–4 are a caller bug (the peer would reject the
/// payload), so they panic rather than produce unreadable bytes.
pub fn write_version(out: &mut Vec<u8>, version: u16) {
    assert!(
        (MIN_VERSION..=MAX_VERSION).contains(&version),
        "BARE version {version} is not one of {MIN_VERSION}..={MAX_VERSION}"
    );
    out.extend_from_slice(&version.to_le_bytes());
}

/// Rewrites the version prefix of an encoded payload, for messages whose layout is the same in
/// both versions (an event encoded once, sent to clients of different versions).
pub fn set_version(payload: &mut [u8], version: u16) {
    let mut prefix = Vec::with_capacity(2);
    write_version(&mut prefix, version);
    payload[..2].copy_from_slice(&prefix);
}

/// Writes `uint`: unsigned LEB128, the shortest form.
pub fn write_uint(out: &mut Vec<u8>, v: u64) {
    let (buf, len) = varint(v);
    out.extend_from_slice(&buf[..len]);
}

/// LEB128 of `v` on the stack: (bytes, how many are used).
fn varint(mut v: u64) -> ([u8; 10], usize) {
    let mut buf = [0; 10];
    let mut len = 0;
    while v >= 0x80 {
        buf[len] = (v as u8) | 0x80;
        v >>= 7;
        len += 1;
    }
    buf[len] = v as u8;
    (buf, len + 1)
}

/// Writes `u64`: eight bytes, little-endian.
pub fn write_u64_le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes `bool` as 0 or 1.
pub fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(u8::from(b));
}

/// Writes `data`: length, then the bytes.
pub fn write_data(out: &mut Vec<u8>, data: &[u8]) {
    write_uint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Writes `str`: its UTF-8 bytes as `data`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_data(out, s.as_bytes());
}

/// Writes `optional<T>` from an `Option`.
pub fn write_optional<T>(out: &mut Vec<u8>, v: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            write(out, v);
        }
    }
}

/// A `data` field holding `CBOR(v)`.
pub fn write_cbor(out: &mut Vec<u8>, v: &Value) {
    write_data_with(out, |out| cbor::encode(v, out));
}

/// A `data` field whose bytes `fill` appends. They are written in place and the length prefix
/// spliced in front afterwards: a short memmove instead of a scratch buffer per field.
pub fn write_data_with(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    fill(out);
    let (prefix, len) = varint((out.len() - start) as u64);
    out.splice(start..start, prefix[..len].iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_non_canonical_forms() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_uint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.uint().unwrap(), v);
            r.finish().unwrap();
        }
        for bad in [&[0x80, 0x00][..], &[0xff; 10], &[0x80], &[0xff, 0x80, 0x00]] {
            assert!(Reader::new(bad).uint().is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn strict_scalars() {
        assert!(matches!(
            Reader::new(&[2]).bool(),
            Err(ProtocolError::InvalidBool(2))
        ));
        assert!(matches!(
            Reader::new(&[1, 0xff]).str(),
            Err(ProtocolError::InvalidUtf8)
        ));
        assert!(matches!(
            Reader::new(&[5, 0]).version(),
            Err(ProtocolError::UnknownVersion(5))
        ));
        let mut r = Reader::new(&[0, 1]);
        r.u8().unwrap();
        assert!(matches!(r.finish(), Err(ProtocolError::TrailingBytes)));
    }

    #[test]
    fn cbor_data_prefix_handles_long_payloads() {
        let long = Value::String("x".repeat(200));
        let mut out = vec![0xaa];
        write_cbor(&mut out, &long);
        let mut r = Reader::new(&out[1..]);
        assert_eq!(r.cbor().unwrap(), long);
        r.finish().unwrap();
    }
}
