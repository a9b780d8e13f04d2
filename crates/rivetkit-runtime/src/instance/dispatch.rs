//! Calls into the actor's code from outside: actions (from connections, stateless calls and
//! alarms), queue sends, and the raw HTTP and WebSocket handlers.
//!
//! Each answers only once the state changes it made are durable, and after the events it
//! broadcast (see [`super::outbox`]); a call the runtime refused a change or event of answers
//! with that refusal. Each also counts as in-flight work for as long as it runs, so the actor
//! does not sleep under it, and is refused with `actor/stopping` once the actor stops admitting
//! work.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use futures::FutureExt;
use rivetkit_protocol::Value;
use tracing::Instrument;

use super::{forbidden, stopping, Instance, Refusal, State};
use crate::conn::{ConnKind, DirectWrites};
use crate::error::fail_now;
use crate::metrics::ActorActions;
use crate::queue::{await_completion, QueueSend, SendOutcome};
use crate::raw::{RawWebSocket, Request, RequestInfo, Response};
use crate::trace;
use crate::{ActorError, ActorResult};

fn timed_out() -> ActorError {
    ActorError::public("action", "timed_out", "Action timed out")
}

impl<S: State> Instance<S> {
    /// The metric handles of this definition's actions.
    fn action_metrics(&self) -> &ActorActions {
        self.blueprint.action_metrics.get_or_init(|| {
            ActorActions::new(&self.meta.name, self.blueprint.handlers.actions.keys())
        })
    }

    /// Calls action `name` as connection `conn_id` (or as nobody, for alarms); resolves once it
    /// is done and its changes are durable.
    pub(super) fn call_action(
        self: Arc<Self>,
        conn_id: Option<Arc<str>>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>> {
        let Some(action) = self.blueprint.handlers.actions.get(&name).cloned() else {
            self.action_metrics().record(&name, Duration::ZERO, false);
            return fail_now(ActorError::action_not_found(&name));
        };
        let started = Instant::now();
        let Some(busy) = self.activity.begin() else {
            return fail_now(stopping());
        };
        let trace = trace::action_span(&self.meta, &name);
        let start = SystemTime::now();
        let scope = self.scope(conn_id, None);
        let refusal = scope.refusal.clone();
        let call = DirectWrites::around(action(scope, args));
        let span = trace.span.clone();
        let call = async move {
            let result = tokio::time::timeout(self.blueprint.options.action_timeout, call)
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            // A refused change or event is why the call failed, whatever it returned.
            let result = refusal.take().and(result);
            if let Err(error) = &result {
                self.inspect.error(format!("action {name}"), error);
            }
            // Also on error: whatever the action changed before failing must not be lost.
            let saved = self.save().await;
            if saved.is_ok() {
                self.release_durable_events();
            }
            drop(busy);
            let result = saved.and(result);
            let elapsed = started.elapsed();
            self.action_metrics().record(&name, elapsed, result.is_ok());
            self.inspect
                .span(trace::finish(&trace, name, start, elapsed, &result));
            result
        };
        // Not wrapped when the span is off: moving the call into the wrapper costs a copy.
        if span.is_disabled() {
            call.boxed()
        } else {
            call.instrument(span).boxed()
        }
    }

    /// A stateless call: action `name` as a short-lived connection with `params`.
    pub(super) fn call_stateless(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>> {
        let Some(busy) = self.activity.begin() else {
            return fail_now(stopping());
        };
        async move {
            let result = self
                .as_call_conn(params, request, |this, conn_id| {
                    this.call_action(Some(conn_id), name, args)
                })
                .await;
            drop(busy);
            result
        }
        .boxed()
    }

    /// A client's queue send, as a short-lived connection with `params`.
    pub(super) fn send_queue(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        send: QueueSend,
    ) -> BoxFuture<'static, ActorResult<SendOutcome>> {
        let Some(busy) = self.activity.begin() else {
            return fail_now(stopping());
        };
        async move {
            let outcome = self
                .as_call_conn(params, request, |this, conn_id| async move {
                    let Some(rule) = this.blueprint.handlers.queues.get(&send.name) else {
                        tracing::debug!(actor = %this.meta.actor_id, queue = %send.name, "dropping a message for an undeclared queue");
                        return Ok(SendOutcome::Completed(None));
                    };
                    if let Some(can_publish) = rule {
                        if !can_publish(this.scope(Some(conn_id), None)) {
                            return Err(forbidden(format!("Sending to queue {:?} is not allowed", send.name)));
                        }
                    }
                    let completion = this.queue.enqueue(&send.name, send.body, send.wait).await?;
                    Ok(match completion {
                        Some(completion) => await_completion(completion, send.timeout_ms).await,
                        None => SendOutcome::Completed(None),
                    })
                })
                .await;
            drop(busy);
            outcome
        }
        .boxed()
    }

    /// A raw HTTP request (`on_request`), as a short-lived connection with `params`.
    pub(super) fn handle_request(
        self: Arc<Self>,
        params: Value,
        request: Request,
    ) -> BoxFuture<'static, ActorResult<Response>> {
        let Some(handler) = self.blueprint.handlers.on_request.clone() else {
            let error = ActorError::public(
                "handler",
                "request_not_defined",
                "This actor has no onRequest handler",
            );
            return fail_now(error.with_status(404));
        };
        let Some(busy) = self.activity.begin() else {
            return fail_now(stopping());
        };
        let info = RequestInfo {
            method: request.method().clone(),
            url: request.uri().to_string(),
            headers: request.headers().clone(),
        };
        async move {
            let result = self
                .as_call_conn(params, Some(info.clone()), |this, conn_id| async move {
                    let scope = this.scope(Some(conn_id), Some(Arc::new(info)));
                    let refusal = scope.refusal.clone();
                    let response = handler(scope, request).await;
                    this.save().await?;
                    refusal.take()?;
                    response
                })
                .await;
            drop(busy);
            result
        }
        .boxed()
    }

    /// A raw WebSocket (`on_websocket`), as a connection with `params` that lasts until the
    /// handler returns.
    pub(super) fn handle_websocket(
        self: Arc<Self>,
        params: Value,
        request: RequestInfo,
        socket: RawWebSocket,
    ) -> BoxFuture<'static, ActorResult<()>> {
        async move {
            let handler = self
                .blueprint
                .handlers
                .on_websocket
                .clone()
                .ok_or_else(|| {
                    ActorError::public(
                        "handler",
                        "websocket_not_defined",
                        "This actor has no onWebSocket handler",
                    )
                    .with_status(404)
                })?;
            let open = self.activity.open().ok_or_else(stopping)?;
            let request = Arc::new(request);
            let kind = ConnKind::RawSocket { _open: open };
            let conn_id = self.admit(params, Some((*request).clone()), kind).await?;
            self.raw_sockets.lock().push(socket.sender());
            self.raw_sockets.lock().retain(|sender| !sender.is_closed());
            let mut scope = self.scope(Some(conn_id.clone()), Some(request));
            scope.refusal = Refusal::long_lived();
            let result = handler(scope, socket).await;
            self.release(conn_id).await;
            result
        }
        .boxed()
    }

    /// Whether the definition has an action called `name`.
    pub(crate) fn has_action(&self, name: &str) -> bool {
        self.blueprint.handlers.actions.contains_key(name)
    }

    /// The names of the actor's actions, sorted.
    pub(super) fn action_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.blueprint.handlers.actions.keys().cloned().collect();
        names.sort();
        names
    }
}
