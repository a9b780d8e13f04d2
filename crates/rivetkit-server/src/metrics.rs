//! The Prometheus endpoint and the server's own metrics: requests and open connections.
//!
//! Storage and runtime record through the [`metrics`] facade; this module installs the
//! process-wide Prometheus recorder (only when a metrics address is configured, so that without
//! one nothing is recorded) and serves its text exposition at `GET /metrics` on a listener of
//! its own, never on the public one.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use metrics::{Counter, Histogram, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter: requests answered, by `route` (a template, such as
/// `/gateway/{actor}/action/{name}`), `method` and `status` class (`2xx` … `5xx`).
pub const HTTP_REQUESTS: &str = "rivetkit_http_requests_total";
/// Histogram (seconds): from the request's arrival to its response's headers, by `route`. A
/// WebSocket counts until its upgrade is answered.
pub const HTTP_REQUEST_SECONDS: &str = "rivetkit_http_request_duration_seconds";
/// Gauge: open WebSockets by `kind`: `protocol` (`/connect`) or `raw` (`/websocket/...`).
pub const CONNECTIONS: &str = "rivetkit_connections";

/// Latency buckets (seconds), from a cached read to a slow fsync and beyond.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Batch-size buckets: the writer takes up to 256 writes a batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The route template that answered, for [`record_request`]: a response extension, set by a
/// layer on each route (the gateway's paths carry actor ids and user-chosen names, which must
/// not become labels).
#[derive(Clone, Copy)]
pub(crate) struct RouteLabel(pub &'static str);

impl RouteLabel {
    /// The route layer that labels the route's responses with this label. Tower's
    /// `MapResponse`, not axum's `map_response_with_state`: the latter boxes a future per
    /// request, which an HTTP action's profile showed.
    pub(crate) fn layer(
        self,
    ) -> tower::util::MapResponseLayer<impl Fn(Response) -> Response + Clone + Send + Sync> {
        tower::util::MapResponseLayer::new(move |mut response: Response| {
            response.extensions_mut().insert(self);
            response
        })
    }
}

/// Installs the process's Prometheus recorder the first time it is called and returns its
/// handle; later calls (another server in the same process, a restart) share it. Fails when
/// the process already has another recorder.
pub(crate) fn recorder() -> std::io::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(rivetkit_storage::metrics::COMMIT_BATCH_SIZE.into()),
            BATCH_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        })
        .map_err(std::io::Error::other)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|error| {
        std::io::Error::other(format!(
            "cannot install the Prometheus recorder: {error} (the process has another one)"
        ))
    })?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Serves `GET /metrics` from `handle` on `listener` until `stop` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            // Histograms need no upkeep, but summaries and idle-timeout bookkeeping do.
            handle.run_upkeep();
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}

/// Counts, times and traces every request under its route template (middleware, outermost).
pub(crate) async fn record_request(
    request: Request,
    inner: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = crate::telemetry::run_in_span(request, inner).await;
    let route = route_of(&response);
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let elapsed = started.elapsed();
    // Handles cached per thread: a request only updates them.
    thread_local! {
        static HANDLES: std::cell::RefCell<RequestHandles> = Default::default();
    }
    HANDLES.with_borrow_mut(|handles| {
        let (requests, seconds) = handles
            .entry((route, method, status))
            .or_insert_with(|| request_handles(SharedString::const_str(route), method, status));
        requests.increment(1);
        seconds.record(elapsed);
    });
    response
}

type RequestHandles =
    std::collections::HashMap<(&'static str, &'static str, &'static str), (Counter, Histogram)>;

/// The route template that answered `response` (its [`RouteLabel`]), or `unmatched`.
pub(crate) fn route_of(response: &Response) -> &'static str {
    response
        .extensions()
        .get::<RouteLabel>()
        .map_or("unmatched", |RouteLabel(template)| template)
}

fn request_handles(
    route: SharedString,
    method: &'static str,
    status: &'static str,
) -> (Counter, Histogram) {
    (
        metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status),
        metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route),
    )
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// One open WebSocket, counted in [`CONNECTIONS`] while this value lives.
pub(crate) struct OpenConnection(&'static str);

impl OpenConnection {
    pub(crate) fn new(kind: &'static str) -> Self {
        metrics::gauge!(CONNECTIONS, "kind" => kind).increment(1.0);
        Self(kind)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS, "kind" => self.0).decrement(1.0);
    }
}
