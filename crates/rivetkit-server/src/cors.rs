//! CORS as browsers with `credentials: "include"` need it (PROTOCOL.md §3.1): reflect the
//! origin, allow credentials, answer preflights with 204 and reflect the requested headers.
//!
//! By default any origin is reflected (a development default: a page on any origin may call the
//! server). With [`ServerConfig::cors_origins`](crate::ServerConfig::cors_origins) set, only
//! those origins are: others get no CORS headers (so their pages cannot read the answers), and
//! their preflights a 403 `request/origin_not_allowed`.
//!
//! Written here rather than with tower-http's `CorsLayer` because that layer refuses
//! `Access-Control-Expose-Headers: *` together with credentials, and answers preflights with
//! 200 rather than the 204 the official server sends.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rivetkit_runtime::ActorError;

use crate::reply::ApiError;

const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS, PATCH";

/// Which origins get CORS headers; built once from the config.
pub struct Origins {
    /// Normalized allowed origins; empty: every origin.
    allowed: Vec<String>,
}

impl Origins {
    pub fn new(origins: &[String]) -> Self {
        Self {
            allowed: origins
                .iter()
                .map(|origin| normalize(origin))
                .filter(|origin| !origin.is_empty())
                .collect(),
        }
    }

    fn admits(&self, origin: &HeaderValue) -> bool {
        self.allowed.is_empty()
            || origin
                .to_str()
                .is_ok_and(|origin| self.allowed.contains(&normalize(origin)))
    }
}

/// Scheme and host are case-insensitive; a trailing `/` is not part of an origin.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Answers preflights and adds CORS headers to what `inner` answers for `request`.
pub(crate) async fn cors(
    origins: &Origins,
    request: Request,
    inner: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let refused = origin
        .as_ref()
        .is_some_and(|origin| !origins.admits(origin));
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let requested_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();

    let mut response = if is_preflight && refused {
        let shown = origin
            .as_ref()
            .and_then(|origin| origin.to_str().ok())
            .unwrap_or("?");
        ApiError::from(
            ActorError::public(
                "request",
                "origin_not_allowed",
                format!("Origin {shown:?} may not call this server (see --cors-origin)"),
            )
            .with_status(403),
        )
        .into_response()
    } else if is_preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        inner(request).await
    };
    let Some(origin) = origin else {
        return response;
    };
    let headers = response.headers_mut();
    // The answer depends on the origin in both modes: caches must keep them apart.
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if refused {
        return response;
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    if is_preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        if let Some(requested) = requested_headers {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    response
}
