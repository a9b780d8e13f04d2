//! The inspector page (`/ui`): plain HTML, CSS and JavaScript built into the binary, nothing
//! fetched from elsewhere. The page loads without a token; it asks for the inspector token,
//! keeps it in the tab's `sessionStorage` and sends it as `Authorization: Bearer` with every
//! call of the inspector API (`/inspector/actors`, `/gateway/{id}/inspector/...`), so a token
//! never appears in a URL or a log. Without an inspector token configured, `/ui` is a 404 page
//! saying the inspector is disabled.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;

const INDEX_HTML: &str = include_str!("../assets/inspector/index.html");
const APP_JS: &str = include_str!("../assets/inspector/app.js");
const APP_CSS: &str = include_str!("../assets/inspector/app.css");
const DISABLED_HTML: &str = include_str!("../assets/inspector/disabled.html");

/// Only this server's own files, no inline script or style, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn asset(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    let (status, body) = if state.config.inspector_token.is_some() {
        (StatusCode::OK, body)
    } else {
        (StatusCode::NOT_FOUND, DISABLED_HTML)
    };
    let content_type = if status == StatusCode::OK {
        content_type
    } else {
        "text/html; charset=utf-8"
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary: always ask whether they are still current.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /ui`
pub async fn index(State(state): State<AppState>) -> Response {
    asset(&state, "text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /ui/app.js`
pub async fn script(State(state): State<AppState>) -> Response {
    asset(&state, "text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/app.css`
pub async fn stylesheet(State(state): State<AppState>) -> Response {
    asset(&state, "text/css; charset=utf-8", APP_CSS)
}
