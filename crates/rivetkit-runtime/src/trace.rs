//! An action's `tracing` span, and the record of it the inspector keeps
//! ([`crate::inspect::ActionSpan`]).
//!
//! The span is at DEBUG level under [`ACTION_TARGET`]: a subscriber at the default INFO level
//! does not create it at all, so that tracing costs nothing per action unless someone asked for
//! it (`RUST_LOG=rivetkit_runtime=debug`, or an OTLP exporter, which enables these spans for
//! itself). Span fields may carry actor ids and keys; metric labels never do.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::TraceContextExt;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::inspect::ActionSpan;
use crate::meta::ActorMeta;
use crate::ActorResult;

/// The target of the action spans.
pub const ACTION_TARGET: &str = "rivetkit_rs::action";

/// An action's span, and the id of the exported span it runs in (if any).
pub(crate) struct ActionTrace {
    pub(crate) span: Span,
    parent_span_id: Option<[u8; 8]>,
}

/// The span of a call of action `action` on the actor of `meta`: a child of the span current
/// where the call is made, so a call from another actor's action (`Ctx::call_actor`) or from
/// a request nests under it.
pub(crate) fn action_span(meta: &ActorMeta, action: &str) -> ActionTrace {
    let span = tracing::debug_span!(
        target: ACTION_TARGET,
        "action",
        otel.name = action,
        otel.status_code = tracing::field::Empty,
        rivet.actor.name = meta.name.as_str(),
        rivet.actor.id = meta.actor_id.as_str(),
        rivet.actor.key = rivetkit_protocol::key::serialize_key(&meta.key),
        rivet.action.name = action,
    );
    // Read only when the span exists: the current span is the caller's.
    let parent_span_id = if span.is_disabled() {
        None
    } else {
        exported_ids(&Span::current()).map(|(_, span_id)| span_id)
    };
    ActionTrace {
        span,
        parent_span_id,
    }
}

/// The record of a call of `action` that ran `elapsed` from `start` in `trace` and ended with
/// `result`, which also marks the span as failed for the exporter.
pub(crate) fn finish<T>(
    trace: &ActionTrace,
    action: String,
    start: SystemTime,
    elapsed: Duration,
    result: &ActorResult<T>,
) -> ActionSpan {
    let error = result.as_ref().err().map(|error| {
        (
            format!("{}.{}", error.group(), error.code()),
            error.message().to_owned(),
        )
    });
    if error.is_some() {
        trace.span.record("otel.status_code", "ERROR");
    }
    let (trace_id, span_id, parent_span_id) = match exported_ids(&trace.span) {
        Some((trace_id, span_id)) => (trace_id, span_id, trace.parent_span_id),
        None => (
            rand::random::<u128>().to_be_bytes(),
            rand::random::<u64>().to_be_bytes(),
            None,
        ),
    };
    ActionSpan {
        trace_id,
        span_id,
        parent_span_id,
        action,
        start,
        end: start + elapsed,
        error,
    }
}

/// The trace and span ids the OpenTelemetry layer gave `span`; none when the span is disabled
/// or no such layer is installed.
fn exported_ids(span: &Span) -> Option<([u8; 16], [u8; 8])> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let own = context.span().span_context().clone();
    own.is_valid()
        .then(|| (own.trace_id().to_bytes(), own.span_id().to_bytes()))
}
