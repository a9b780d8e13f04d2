//! Values that JSON cannot carry.
//!
//! `serde_json` writes `NaN`, `inf` and `-inf` as `null`, so a state, an action output or an
//! event argument holding one would silently change on its way to the store or the client (and a
//! saved `{"count":null}` no longer loads into an `f64` field). [`check`] walks a value the way
//! serde serializes it, without building anything, and names the first non-finite float it
//! meets, so that the runtime can refuse it with a clear error instead.

use std::fmt::{self, Write};

use rivetkit_protocol::{value, Value};
use serde::ser::{self, Serialize};

use crate::ActorError;

/// Why a value cannot go through JSON unchanged.
#[derive(Debug)]
pub(crate) enum Problem {
    /// A float that is NaN or infinite, at `path` (`.field`, `[index]`, `["key"]`).
    NotFinite { path: String, value: f64 },
    /// The value's own `Serialize` failed.
    Custom(String),
}

impl Problem {
    /// Describes the problem, with `root` naming the value (`state`, `output`, …).
    pub(crate) fn describe(&self, root: &str) -> String {
        match self {
            Problem::NotFinite { path, value } => format!(
                "{root}{path} is {value}, which is not a finite number and cannot be encoded"
            ),
            Problem::Custom(message) => format!("{root} does not serialize: {message}"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("value"))
    }
}

impl std::error::Error for Problem {}

impl ser::Error for Problem {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Problem::Custom(message.to_string())
    }
}

/// Fails on the first NaN or infinite float in `value` (or when its `Serialize` fails).
pub(crate) fn check<T: Serialize + ?Sized>(value: &T) -> Result<(), Problem> {
    let mut path = String::new();
    value.serialize(Walker { path: &mut path })
}

/// [`value::from_typed`] that refuses non-finite floats instead of turning them into `null`:
/// the error is public, `group`/`code`, with a message naming `root` and where the float is.
pub(crate) fn to_value<T: Serialize + ?Sized>(
    value: &T,
    group: &str,
    code: &str,
    root: &str,
) -> Result<Value, ActorError> {
    check(value).map_err(|problem| ActorError::public(group, code, problem.describe(root)))?;
    Ok(value::from_typed(&value)?)
}

struct Walker<'a> {
    path: &'a mut String,
}

impl Walker<'_> {
    fn float(self, value: f64) -> Result<(), Problem> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(Problem::NotFinite {
                path: self.path.clone(),
                value,
            })
        }
    }

    /// Walks `value` with `segment` appended to the path.
    fn nested<T: Serialize + ?Sized>(
        path: &mut String,
        segment: fmt::Arguments<'_>,
        value: &T,
    ) -> Result<(), Problem> {
        let len = path.len();
        let _ = path.write_fmt(segment);
        let result = value.serialize(Walker { path: &mut *path });
        path.truncate(len);
        result
    }
}

struct Compound<'a> {
    path: &'a mut String,
    index: usize,
    key: String,
}

impl<'a> Walker<'a> {
    fn compound(self) -> Compound<'a> {
        Compound {
            path: self.path,
            index: 0,
            key: String::new(),
        }
    }
}

macro_rules! fine {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<(), Problem> { Ok(()) })*
    };
}

impl<'a> ser::Serializer for Walker<'a> {
    type Ok = ();
    type Error = Problem;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fine!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_f32(self, value: f32) -> Result<(), Problem> {
        self.float(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), Problem> {
        self.float(value)
    }

    fn serialize_none(self) -> Result<(), Problem> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Problem> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Problem> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), Problem> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Problem> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Problem> {
        Walker::nested(self.path, format_args!(".{variant}"), value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Problem> {
        Ok(self.compound())
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Problem> {
        Ok(self.compound())
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Problem> {
        Ok(self.compound())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Problem> {
        let _ = write!(self.path, ".{variant}");
        Ok(self.compound())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Problem> {
        Ok(self.compound())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Problem> {
        Ok(self.compound())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Problem> {
        let _ = write!(self.path, ".{variant}");
        Ok(self.compound())
    }
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Problem> {
        let index = self.index;
        self.index += 1;
        Walker::nested(self.path, format_args!("[{index}]"), value)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Problem> {
        Walker::nested(self.path, format_args!(".{key}"), value)
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Problem;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Problem> {
        self.element(value)
    }
    fn end(self) -> Result<(), Problem> {
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Problem;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Problem> {
        self.element(value)
    }
    fn end(self) -> Result<(), Problem> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Problem;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Problem> {
        self.element(value)
    }
    fn end(self) -> Result<(), Problem> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Problem;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Problem> {
        self.element(value)
    }
    fn end(self) -> Result<(), Problem> {
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Problem;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Problem> {
        key.serialize(Walker {
            path: &mut *self.path,
        })?;
        self.key = serde_json::to_string(key).unwrap_or_else(|_| "?".into());
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Problem> {
        let key = std::mem::take(&mut self.key);
        Walker::nested(self.path, format_args!("[{key}]"), value)
    }
    fn end(self) -> Result<(), Problem> {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Problem;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Problem> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Problem> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Problem;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Problem> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Problem> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Inner {
        ok: f32,
        values: Vec<f64>,
    }

    #[derive(Serialize)]
    enum Shape {
        Circle { radius: f64 },
    }

    #[derive(Serialize)]
    struct Outer {
        name: String,
        inner: Inner,
        by_key: BTreeMap<String, f64>,
        shape: Option<Shape>,
    }

    fn outer() -> Outer {
        Outer {
            name: "x".into(),
            inner: Inner {
                ok: 1.5,
                values: vec![1.0, 2.0],
            },
            by_key: BTreeMap::from([("a".into(), 0.5)]),
            shape: Some(Shape::Circle { radius: 1.0 }),
        }
    }

    fn path_of(value: &impl Serialize) -> String {
        match check(value) {
            Err(Problem::NotFinite { path, .. }) => path,
            other => panic!("expected a non-finite float, got {other:?}"),
        }
    }

    #[test]
    fn finite_values_pass() {
        check(&outer()).unwrap();
        check(&(1, "a", f64::MAX, f64::MIN_POSITIVE, -0.0f64)).unwrap();
    }

    #[test]
    fn names_where_the_non_finite_float_is() {
        assert_eq!(path_of(&f64::NAN), "");
        let mut value = outer();
        value.inner.values[1] = f64::INFINITY;
        assert_eq!(path_of(&value), ".inner.values[1]");
        let mut value = outer();
        value.inner.ok = f32::NEG_INFINITY;
        assert_eq!(path_of(&value), ".inner.ok");
        let mut value = outer();
        value.by_key.insert("b".into(), f64::NAN);
        assert_eq!(path_of(&value), ".by_key[\"b\"]");
        let mut value = outer();
        value.shape = Some(Shape::Circle {
            radius: f64::INFINITY,
        });
        assert_eq!(path_of(&value), ".shape.Circle.radius");
        assert_eq!(path_of(&(1, (2.0, f64::NAN))), "[1][1]");
    }

    #[test]
    fn to_value_refuses_what_json_would_turn_into_null() {
        assert_eq!(serde_json::to_value(f64::INFINITY).unwrap(), Value::Null);
        let error = to_value(&(f64::INFINITY,), "event", "invalid_args", "args").unwrap_err();
        assert_eq!((error.group(), error.code()), ("event", "invalid_args"));
        assert!(error.is_public());
        assert!(
            error.message().contains("args[0] is inf"),
            "{}",
            error.message()
        );
        assert_eq!(
            to_value(&(2.5,), "event", "invalid_args", "args").unwrap(),
            serde_json::json!([2.5])
        );
    }
}
