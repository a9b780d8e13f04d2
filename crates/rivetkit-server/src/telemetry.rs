//! Logs and traces: the process's `tracing` subscriber (when the embedding binary has not
//! installed one), the optional OTLP trace export, and a span per request.
//!
//! Logs go to stderr filtered by `RUST_LOG` (default `info`). Traces are exported only when the
//! standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set: over
//! OTLP/HTTP with protobuf bodies, in batches, flushed when the server stops. The service is
//! named by `OTEL_SERVICE_NAME`, else by the binary's file name.
//!
//! The request and action spans are at DEBUG level, so that the log filter's default skips them
//! and they cost nothing per request; the exporter enables them for itself.

use axum::extract::Request;
use axum::response::Response;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

use crate::metrics::route_of;

/// The target of the request spans.
pub const REQUEST_TARGET: &str = "rivetkit_rs::request";

/// The environment variables that turn the export on, as the OpenTelemetry specification
/// names them.
const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// The exporter this server installed, if any: [`Telemetry::shutdown`] sends what it holds.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still batched and stops the exporter (blocking: it waits for the
    /// collector's answers, at most the exporter's timeout).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(error)) = flushed {
                tracing::warn!(%error, "exporting the last spans failed");
            }
        }
    }
}

/// Installs the process's subscriber: logs to stderr by `RUST_LOG`, and the OTLP export when
/// its endpoint is set. Does nothing when the process already has a subscriber (the embedding
/// binary's own, or an earlier server's in the same process). Fails when the export is asked
/// for but cannot be set up.
pub(crate) fn install() -> std::io::Result<Telemetry> {
    if tracing::dispatcher::has_been_set() {
        return Ok(Telemetry { provider: None });
    }
    // stderr, as documented: the fmt layer would write to stdout by default.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(
            EnvFilter::builder()
                .with_default_directive(LevelFilter::INFO.into())
                .from_env_lossy(),
        );
    let provider = if ENDPOINT_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
    {
        Some(otlp_provider()?)
    } else {
        None
    };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("rivetkit"))
            .with_filter(
                Targets::new()
                    .with_target(REQUEST_TARGET, LevelFilter::DEBUG)
                    .with_target(rivetkit_runtime::trace::ACTION_TARGET, LevelFilter::DEBUG)
                    .with_default(LevelFilter::INFO),
            )
    });
    // Lost only to a subscriber installed since the check: that one is used instead.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    Ok(Telemetry { provider })
}

/// The batch exporter to the endpoint the environment names (the exporter reads the standard
/// variables itself: endpoint, headers, timeout).
fn otlp_provider() -> std::io::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .map_err(|error| {
            std::io::Error::other(format!("cannot set up the OTLP trace exporter: {error}"))
        })?;
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(binary_name)
        .unwrap_or_else(|| "rivetkit".to_owned());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .build())
}

fn binary_name() -> Option<String> {
    let path = std::env::current_exe().ok()?;
    Some(path.file_stem()?.to_string_lossy().into_owned())
}

/// Runs `next` on `request` in a span named by its method and route template (called by
/// [`crate::metrics::record_request`], so that one middleware, not two, wraps every request).
/// The route is known once the response is (the gateway chooses it), so it is recorded then;
/// the path, which carries actor ids, is a span field, never a metric label.
pub(crate) async fn run_in_span(
    request: Request,
    inner: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let span = tracing::debug_span!(
        target: REQUEST_TARGET,
        "request",
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = request.uri().path(),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if span.is_disabled() {
        return inner(request).await;
    }
    let method = request.method().clone();
    let response = inner(request).instrument(span.clone()).await;
    let route = route_of(&response);
    // Not through an `otel.name` field: the exporter ignores it once a child span has read
    // this span's ids (an action does, for the inspector).
    span.context()
        .span()
        .update_name(format!("{method} {route}"));
    span.record("http.route", route);
    span.record("http.response.status_code", response.status().as_u16());
    response
}
