//! Path and query extractors that percent-decode as strictly as `decodeURIComponent`
//! ([`rivetkit_protocol::path`]): an invalid escape such as `%zz` is refused with a typed 400
//! (`request/invalid_percent_encoding`), where axum's `Path` and `Query` would pass it on as
//! it is, and so name an action or an actor the official server refuses to.

use std::collections::HashMap;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use rivetkit_protocol::path::{decode_form_component, decode_uri_component};
use rivetkit_runtime::ActorError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::reply::{invalid_percent_encoding, ApiError};

/// The route's path parameters, decoded, as a `T` with one `String` field per parameter.
pub struct DecodedPath<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for DecodedPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| match rejection {
                // axum checks that every parameter decodes to UTF-8 before any extractor runs.
                RawPathParamsRejection::InvalidUtf8InPathParam(_) => {
                    invalid_percent_encoding("a path parameter")
                }
                other => ActorError::internal(format!("path parameters: {other}")),
            })?;
        let mut decoded = Map::new();
        for (name, value) in &raw {
            let value = decode_uri_component(value)
                .ok_or_else(|| invalid_percent_encoding(&format!("path parameter `{name}`")))?;
            decoded.insert(name.to_owned(), Value::String(value));
        }
        let params = serde_json::from_value(Value::Object(decoded))
            .map_err(|error| ActorError::internal(format!("path parameters: {error}")))?;
        Ok(DecodedPath(params))
    }
}

/// A route's `{name}` (an action's or a queue's): an `Option` where a route without it shares
/// the handler.
#[derive(Deserialize)]
pub struct NameParam<T> {
    pub name: T,
}

/// The query's parameters, names and values form-decoded (`+` is a space); of a repeated
/// name, the last value.
pub struct DecodedQuery(HashMap<String, String>);

impl DecodedQuery {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn parse(query: &str) -> Result<Self, ActorError> {
        let mut params = HashMap::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let refused = || invalid_percent_encoding(&format!("query parameter `{raw_name}`"));
            let name = decode_form_component(raw_name).ok_or_else(refused)?;
            let value = decode_form_component(raw_value).ok_or_else(refused)?;
            params.insert(name, value);
        }
        Ok(DecodedQuery(params))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DecodedQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Self::parse(parts.uri.query().unwrap_or_default())?)
    }
}

#[cfg(test)]
mod tests {
    use super::DecodedQuery;

    #[test]
    fn query_values_are_form_decoded_and_the_last_of_a_name_wins() {
        let query = DecodedQuery::parse("search=a+b%2Fc&&flag&n=1&n=2").unwrap();
        assert_eq!(query.get("search"), Some("a b/c"));
        assert_eq!(query.get("flag"), Some(""));
        assert_eq!(query.get("n"), Some("2"));
    }

    #[test]
    fn a_bad_escape_in_a_query_is_a_typed_400() {
        for query in ["search=%zz", "search=%e9", "%zz=1", "limit=%4"] {
            let error = DecodedQuery::parse(query).err().expect(query);
            assert_eq!(
                (error.group(), error.code(), error.status()),
                ("request", "invalid_percent_encoding", 400),
                "{query}"
            );
        }
    }
}
