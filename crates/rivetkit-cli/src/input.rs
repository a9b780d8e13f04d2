//! What the command line's free-form arguments mean: actor keys and JSON values.

use rivetkit_client::Value;

use crate::failure::Failure;

/// An actor key from the command line. A `[`-prefixed KEY is a JSON array of strings
/// (`'["a","b/c"]'`); any other is the manager API's key form (PROTOCOL.md §3.6): parts
/// separated by `/`, `\/` and `\\` for a slash or backslash inside a part, `\0` for an empty
/// part, and `/` alone (or an empty KEY) for the empty key `[]`.
pub fn parse_key(key: &str) -> Result<Vec<String>, Failure> {
    if !key.starts_with('[') {
        return Ok(rivetkit_protocol::parse_key(key));
    }
    serde_json::from_str(key).map_err(|error| {
        Failure::usage(format!(
            "KEY {key:?} starts with `[` but is not a JSON array of strings: {error}"
        ))
    })
}

/// The form `parse_key` reads without JSON, for tables (so a listed key can be pasted back).
pub fn display_key(key: &[String]) -> String {
    rivetkit_protocol::serialize_key(key)
}

/// A JSON value from the command line; text that is not JSON is taken as a string, so
/// `hello` is `"hello"` while `5`, `true`, `null`, `"5"` and `{"a":1}` are what JSON says.
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(text: &str) -> Vec<String> {
        parse_key(text).unwrap()
    }

    #[test]
    fn keys_in_both_forms() {
        assert_eq!(key("a/b"), ["a", "b"]);
        assert_eq!(key("solo"), ["solo"]);
        assert_eq!(key("/"), Vec::<String>::new());
        assert_eq!(key(""), Vec::<String>::new());
        assert_eq!(key(r"a\/b/\0"), ["a/b", ""]);
        assert_eq!(key(r#"["a/b",""]"#), ["a/b", ""]);
        assert_eq!(key("[]"), Vec::<String>::new());
        let error = parse_key("[1]").unwrap_err();
        assert_eq!((error.group.as_str(), error.exit_code), ("cli", 2));
        assert!(parse_key("[oops").is_err());
    }

    #[test]
    fn displayed_keys_read_back() {
        for parts in [vec![], vec!["a/b", ""], vec!["x", "y\\z"], vec![""]] {
            let parts: Vec<String> = parts.into_iter().map(String::from).collect();
            assert_eq!(key(&display_key(&parts)), parts);
        }
    }

    #[test]
    fn values_are_json_or_else_strings() {
        assert_eq!(parse_value("5"), json!(5));
        assert_eq!(parse_value("-2.5"), json!(-2.5));
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value("null"), json!(null));
        assert_eq!(parse_value(r#""5""#), json!("5"));
        assert_eq!(parse_value(r#"{"a":[1]}"#), json!({"a": [1]}));
        assert_eq!(parse_value("hello"), json!("hello"));
        assert_eq!(parse_value("{oops"), json!("{oops"));
    }
}
