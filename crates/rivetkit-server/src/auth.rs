//! The optional server token (PROTOCOL.md §4.4).
//!
//! Clients carry it as `Authorization: Bearer` (manager calls), `x-rivet-token` (actor HTTP),
//! `@token` in the gateway path (actor HTTP and WebSocket, 2.0.42+) or a `rivet_token.`
//! subprotocol (engine-style WebSockets). A request without one is refused with
//! `auth/unauthorized` (401), one with a wrong token with `auth/forbidden` (403).
//!
//! The check is a route layer ([`require_server_token`]) on the manager routes and the actor
//! endpoints; the socket endpoints have their own (`actor_ws::refuse_unauthorized`), which
//! refuses with a close reason instead.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use rivetkit_protocol::path;
use rivetkit_runtime::ActorError;

use crate::gateway::Routed;
use crate::reply::ApiError;
use crate::AppState;

/// Route layer: answers the error of [`check_request`] (JSON) instead of running the route.
pub async fn require_server_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_request(&state, &request)?;
    Ok(next.run(request).await)
}

/// Checks `request` against the server token, if one is configured. Manager calls carry it in
/// a header; a request the gateway routed to an actor ([`Routed`]) may also carry it in its
/// path or in a `rivet_token.` subprotocol.
pub fn check_request(state: &AppState, request: &Request) -> Result<(), ActorError> {
    let Some(expected) = state.config.token.as_deref() else {
        return Ok(());
    };
    let headers = request.headers();
    let routed = request.extensions().get::<Routed>();
    let protocols = routed
        .and_then(|_| headers.get(header::SEC_WEBSOCKET_PROTOCOL))
        .and_then(|value| value.to_str().ok())
        .map(path::parse_ws_protocols);
    let presented = Presented {
        path_token: routed.and_then(|routed| routed.path_token.as_deref()),
        subprotocol_token: protocols
            .as_ref()
            .and_then(|protocols| protocols.token.as_deref()),
    };
    check(Some(expected), headers, presented)
}

/// What a request presented, from wherever it carried it.
#[derive(Default)]
pub struct Presented<'a> {
    pub path_token: Option<&'a str>,
    pub subprotocol_token: Option<&'a str>,
}

/// Checks a request against the configured token; `Ok` when no token is configured.
pub fn check(
    expected: Option<&str>,
    headers: &HeaderMap,
    presented: Presented<'_>,
) -> Result<(), ActorError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let header_token = headers
        .get("x-rivet-token")
        .and_then(|value| value.to_str().ok());
    let candidates = [
        presented.path_token,
        presented.subprotocol_token,
        header_token,
        bearer,
    ];
    let mut any = false;
    for candidate in candidates.into_iter().flatten() {
        any = true;
        if constant_time_eq(candidate.as_bytes(), expected.as_bytes()) {
            return Ok(());
        }
    }
    if any {
        Err(ActorError::public(
            "auth",
            "forbidden",
            "The token is not valid for this server",
        )
        .with_status(403))
    } else {
        Err(
            ActorError::public("auth", "unauthorized", "This server requires a token")
                .with_status(401),
        )
    }
}

/// Compares without an early exit on the first differing byte, so response timing does not
/// reveal how much of a guessed token was right. (Two lines; not worth a dependency.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn no_token_configured_admits_everything() {
        assert!(check(
            None,
            &headers(&[("x-rivet-token", "anything")]),
            Presented::default()
        )
        .is_ok());
    }

    #[test]
    fn token_in_any_accepted_place() {
        let expected = Some("s3cr/t");
        assert!(check(
            expected,
            &headers(&[("authorization", "Bearer s3cr/t")]),
            Presented::default()
        )
        .is_ok());
        assert!(check(
            expected,
            &headers(&[("x-rivet-token", "s3cr/t")]),
            Presented::default()
        )
        .is_ok());
        let path = Presented {
            path_token: Some("s3cr/t"),
            ..Presented::default()
        };
        assert!(check(expected, &HeaderMap::new(), path).is_ok());
    }

    #[test]
    fn missing_and_wrong_tokens_are_told_apart() {
        let missing = check(Some("t"), &HeaderMap::new(), Presented::default()).unwrap_err();
        assert_eq!((missing.code(), missing.status()), ("unauthorized", 401));
        let wrong = check(
            Some("t"),
            &headers(&[("x-rivet-token", "x")]),
            Presented::default(),
        )
        .unwrap_err();
        assert_eq!((wrong.code(), wrong.status()), ("forbidden", 403));
    }
}
