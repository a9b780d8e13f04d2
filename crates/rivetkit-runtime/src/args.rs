//! Typed action arguments.
//!
//! A client calls an action with a list of values; actor code receives them as a tuple:
//! `|c, (x,): (i64,)|`, `|c, (a, b): (String, Option<u32>)|`, `|c, ()|`. Like a JS function,
//! an action tolerates a shorter list (missing arguments read as `null`, so `Option` parameters
//! may be left out) and ignores extra ones.

use rivetkit_protocol::{value, Value};
use serde::de::DeserializeOwned;

use rivetkit_interface::ArgList;

use crate::ActorError;

/// Decodes a client's argument list into a tuple. Implemented for tuples of up to 8 elements.
pub trait Args: Sized + Send + 'static {
    /// The tuple from the arguments in order; missing trailing ones read as `null`, a wrong type
    /// is `action/invalid_request`.
    fn from_args(args: Vec<Value>) -> Result<Self, ActorError>;
}

fn arg<T: DeserializeOwned>(
    args: &mut std::vec::IntoIter<Value>,
    position: usize,
) -> Result<T, ActorError> {
    value::to_typed(args.next().unwrap_or(Value::Null))
        .map_err(|error| ActorError::invalid_request(format!("argument {position}: {error}")))
}

macro_rules! impl_args {
    ($($name:ident),*) => {
        impl<$($name: DeserializeOwned + Send + 'static),*> Args for ($($name,)*) {
            #[allow(unused_variables, unused_mut, clippy::unused_unit)]
            fn from_args(args: Vec<Value>) -> Result<Self, ActorError> {
                let mut args = args.into_iter();
                let mut position = 0;
                Ok(($({
                    position += 1;
                    arg::<$name>(&mut args, position)?
                },)*))
            }
        }
    };
}

impl_args!();
impl_args!(A);
impl_args!(A, B);
impl_args!(A, B, C);
impl_args!(A, B, C, D);
impl_args!(A, B, C, D, E);
impl_args!(A, B, C, D, E, F);
impl_args!(A, B, C, D, E, F, G);
impl_args!(A, B, C, D, E, F, G, H);

/// Turns arguments given as a tuple (`()`, `(a,)`, `(a, b)`) into the argument list.
pub(crate) fn to_arg_list<T: ArgList>(args: &T) -> Result<Vec<Value>, ActorError> {
    Ok(value_to_arg_list(value::from_typed(args)?))
}

/// An argument tuple already converted into a value, as the argument list: a tuple serializes
/// as an array of its elements, `()` as `null`.
pub(crate) fn value_to_arg_list(args: Value) -> Vec<Value> {
    match args {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        single => vec![single],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tuples_read_like_js_arguments() {
        assert_eq!(<(i64,)>::from_args(vec![json!(5)]).unwrap(), (5,));
        assert_eq!(
            <(i64, Option<String>)>::from_args(vec![json!(1)]).unwrap(),
            (1, None)
        );
        assert_eq!(
            <(i64,)>::from_args(vec![json!(1), json!("extra")]).unwrap(),
            (1,)
        );
        <()>::from_args(vec![]).unwrap();
        let error = <(i64,)>::from_args(vec![json!("x")]).unwrap_err();
        assert_eq!((error.group(), error.code()), ("action", "invalid_request"));
    }

    #[test]
    fn event_args_from_tuples() {
        assert_eq!(to_arg_list(&()).unwrap(), Vec::<Value>::new());
        assert_eq!(to_arg_list(&(3,)).unwrap(), vec![json!(3)]);
        assert_eq!(to_arg_list(&("a", 1)).unwrap(), vec![json!("a"), json!(1)]);
        // A list inside the tuple stays one argument.
        assert_eq!(
            to_arg_list(&(vec![1, 2, 3],)).unwrap(),
            vec![json!([1, 2, 3])]
        );
    }
}
