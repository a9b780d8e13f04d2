//! The instance as the server sees it: [`ActorInstance`] and [`ActorInspector`] for every
//! `Instance<S>`.
//!
//! Each entry point is an inherent method of the same name in the module of its concern; this
//! module only maps the traits onto them. (Inherent methods take precedence over trait methods
//! of the same name, so the calls below do not recurse.)

use std::sync::Arc;

use futures::future::BoxFuture;
use rivetkit_protocol::Value;

use super::{Instance, State};
use crate::activity::{Activity, Stop};
use crate::conn::{ConnInfo, ConnLimits, HibernatedConn};
use crate::handle::{ActorInspector, ActorInstance, Connection};
use crate::inspect::Inspect;
use crate::meta::ActorMeta;
use crate::queue::{QueueSend, QueueSnapshot, SendOutcome};
use crate::raw::{RawWebSocket, Request, RequestInfo, Response};
use crate::ActorResult;

impl<S: State> ActorInstance for Instance<S> {
    fn meta(&self) -> &ActorMeta {
        &self.meta
    }

    fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    fn inspect(&self) -> &Inspect {
        &self.inspect
    }

    fn inspector(self: Arc<Self>) -> Arc<dyn ActorInspector> {
        self
    }

    fn call_action(
        self: Arc<Self>,
        conn_id: Option<Arc<str>>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>> {
        Self::call_action(self, conn_id, name, args)
    }

    fn call_stateless(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>> {
        Self::call_stateless(self, params, request, name, args)
    }

    fn connect_with_limits(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>> {
        Self::connect_with_limits(self, params, request, limits)
    }

    fn set_subscription(
        self: Arc<Self>,
        conn_id: &str,
        event_name: &str,
        subscribe: bool,
    ) -> ActorResult<()> {
        Self::set_subscription(self, conn_id, event_name, subscribe)
    }

    fn resume(
        self: Arc<Self>,
        snapshot: HibernatedConn,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>> {
        Self::resume(self, snapshot, limits)
    }

    fn send_queue(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        send: QueueSend,
    ) -> BoxFuture<'static, ActorResult<SendOutcome>> {
        Self::send_queue(self, params, request, send)
    }

    fn disconnect(self: Arc<Self>, conn_id: Arc<str>) {
        Self::disconnect(self, conn_id)
    }

    fn request_destroy(&self) {
        self.request_stop(Stop::Destroy);
    }

    fn request_sleep(&self) {
        self.request_stop(Stop::Sleep);
    }

    fn handle_request(
        self: Arc<Self>,
        params: Value,
        request: Request,
    ) -> BoxFuture<'static, ActorResult<Response>> {
        Self::handle_request(self, params, request)
    }

    fn handle_websocket(
        self: Arc<Self>,
        params: Value,
        request: RequestInfo,
        socket: RawWebSocket,
    ) -> BoxFuture<'static, ActorResult<()>> {
        Self::handle_websocket(self, params, request, socket)
    }
}

impl<S: State> ActorInspector for Instance<S> {
    fn state_json(&self) -> ActorResult<Value> {
        Self::state_json(self)
    }

    fn replace_state(self: Arc<Self>, state: Value) -> BoxFuture<'static, ActorResult<()>> {
        Self::replace_state(self, state)
    }

    fn connections(&self) -> Vec<ConnInfo> {
        Self::connections(self)
    }

    fn action_names(&self) -> Vec<String> {
        Self::action_names(self)
    }

    fn queue_snapshot(&self, limit: usize) -> QueueSnapshot {
        self.queue.snapshot(limit)
    }
}
