//! The instance's connections: admitting them (`on_before_connect`, `create_conn_state`,
//! `on_connect`), subscriptions, sending to one, listing, hibernating, and ending them
//! (`on_disconnect`).
//!
//! Every client is a connection while it talks to the actor — a WebSocket for as long as it is
//! open, a stateless call, queue send or raw request for the duration of that call (see
//! [`ConnKind`]). Each runs `on_before_connect`, `create_conn_state` and `on_connect` when
//! admitted and `on_disconnect` when it ends; a connection hibernated with its sleeping actor
//! comes back without either.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use rivetkit_protocol::Value;

use super::held::{hold, Held};
use super::lifecycle::STOP_HOOK_TIMEOUT;
use super::{forbidden, stopping, Instance, State};
use crate::activity::Stop;
use crate::conn::{
    outgoing_queue, ConnEntry, ConnInfo, ConnKind, ConnLimits, ConnLink, HibernatedConn, Outgoing,
    OutgoingReceiver, OutgoingSender, SharedEvent,
};
use crate::handle::Connection;
use crate::inspect::Change;
use crate::metrics;
use crate::raw::RequestInfo;
use crate::{ActorError, ActorResult};

/// Close code and reason sent to connections when their actor sleeps or is destroyed; clients
/// reconnect (and so wake the actor) on their own.
const CLOSE_STOPPING: (u16, &str) = (1000, "actor.stopping");

fn too_many_subscriptions(event_name: &str, limit: usize) -> ActorError {
    ActorError::public(
        "connection",
        "too_many_subscriptions",
        format!("Subscribing to {event_name:?} would pass this connection's limit of {limit} subscriptions"),
    )
}

impl<S: State> Instance<S> {
    /// A protocol WebSocket's kind and outgoing queue under `limits`, holding the actor open
    /// while the connection lives; refused once the actor is stopping.
    fn open_socket(
        &self,
        limits: ConnLimits,
    ) -> ActorResult<(ConnKind, OutgoingSender, OutgoingReceiver)> {
        let open = self.activity.open().ok_or_else(stopping)?;
        let (sender, outgoing) = outgoing_queue(limits);
        let kind = ConnKind::Socket {
            sender: sender.clone(),
            _open: open,
        };
        Ok((kind, sender, outgoing))
    }

    /// Admits a protocol WebSocket under `limits`; it lasts until the [`Connection`] is dropped.
    pub(super) fn connect_with_limits(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>> {
        async move {
            let (kind, sender, outgoing) = self.open_socket(limits)?;
            let id = self.admit(params, request, kind).await?;
            self.save().await?;
            Ok(Connection::new(id, self, sender, outgoing))
        }
        .boxed()
    }

    /// Puts back a connection hibernated when the actor went to sleep; no hooks run.
    pub(super) fn resume(
        self: Arc<Self>,
        snapshot: HibernatedConn,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>> {
        async move {
            let (kind, sender, outgoing) = self.open_socket(limits)?;
            self.conns.lock().insert(
                snapshot.id.clone(),
                ConnEntry::new(
                    kind,
                    snapshot.params,
                    snapshot.state,
                    snapshot.subscriptions,
                ),
            );
            self.inspect.notify(Change::Connections);
            Ok(Connection::new(snapshot.id, self, sender, outgoing))
        }
        .boxed()
    }

    /// Subscribes connection `conn_id` to `event_name` or unsubscribes it, under the event's
    /// `can_subscribe` rule and the connection's subscription limit.
    pub(super) fn set_subscription(
        self: Arc<Self>,
        conn_id: &str,
        event_name: &str,
        subscribe: bool,
    ) -> ActorResult<()> {
        if subscribe {
            if let Some(can_subscribe) = self.blueprint.handlers.event_rules.get(event_name) {
                if !can_subscribe(self.scope(Some(conn_id.into()), None)) {
                    return Err(forbidden(format!(
                        "Subscribing to {event_name:?} is not allowed"
                    )));
                }
            }
        }
        self.with_conn(conn_id, |entry| {
            if !subscribe {
                entry.subscriptions.remove(event_name);
                return Ok(());
            }
            let limit = entry
                .kind
                .sender()
                .map(|sender| sender.link.max_subscriptions());
            if let Some(limit) = limit.filter(|&limit| {
                entry.subscriptions.len() >= limit && !entry.subscriptions.contains(event_name)
            }) {
                return Err(too_many_subscriptions(event_name, limit));
            }
            entry.subscriptions.insert(event_name.to_owned());
            Ok(())
        })
        .unwrap_or(Ok(()))?;
        self.inspect.notify(Change::Connections);
        Ok(())
    }

    /// What a long-lived connection shares with its socket; `None` for a short-lived one.
    pub(super) fn conn_link(&self, conn_id: &str) -> Option<Arc<ConnLink>> {
        let conns = self.conns.lock();
        let sender = conns.get(conn_id)?.kind.sender()?;
        Some(sender.link.clone())
    }

    /// Sends an event to one connection; `false` if there is no such connection.
    /// Inside a state closure it is sent when the closure returns.
    pub(crate) fn send_to(&self, conn_id: &str, name: String, args: Vec<Value>) -> bool {
        let conns = self.conns.lock();
        let Some(entry) = conns.get(conn_id) else {
            return false;
        };
        let held = Held::SendTo(conn_id.to_owned(), name, args);
        if let Err(Held::SendTo(_, name, args)) = hold(self.holding_key(), held) {
            entry.send(Outgoing::Event(Arc::new(SharedEvent::direct(name, args))));
            metrics::events_sent(1);
        }
        true
    }

    /// Closes one connection normally (code 1000) with `reason`; inside a state closure, once
    /// the closure returns (after what it sent before).
    pub(crate) fn close_conn(&self, conn_id: &str, reason: String) {
        let reason = match hold(self.holding_key(), Held::Close(conn_id.to_owned(), reason)) {
            Ok(()) => return,
            Err(Held::Close(_, reason)) => reason,
            Err(_) => unreachable!("hold gives back what it was given"),
        };
        if let Some(entry) = self.conns.lock().get(conn_id) {
            entry.send(Outgoing::Close(1000, reason));
        }
    }

    /// Runs `read` on one connection's record.
    pub(crate) fn with_conn<R>(
        &self,
        conn_id: &str,
        read: impl FnOnce(&mut ConnEntry) -> R,
    ) -> Option<R> {
        self.conns.lock().get_mut(conn_id).map(read)
    }

    /// Every connection but those leaving: like the official runtime, a connection is no longer
    /// listed once its disconnect starts.
    pub(crate) fn connections(&self) -> Vec<ConnInfo> {
        self.conns
            .lock()
            .iter()
            .filter(|(_, entry)| !entry.releasing)
            .map(|(id, entry)| ConnInfo::of(id, entry))
            .collect()
    }

    /// Admits a connection: `on_before_connect`, `create_conn_state`, registration, `on_connect`.
    pub(super) async fn admit(
        self: &Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        kind: ConnKind,
    ) -> ActorResult<Arc<str>> {
        let request = request.map(Arc::new);
        let handlers = &self.blueprint.handlers;
        if let Some(before_connect) = &handlers.on_before_connect {
            before_connect(self.scope(None, request.clone()), params.clone()).await?;
        }
        let state = match &handlers.create_conn_state {
            Some(create) => create(self.scope(None, request.clone()), params.clone()).await?,
            None => Value::Null,
        };
        let id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        self.conns.lock().insert(
            id.clone(),
            ConnEntry::new(kind, params, state, HashSet::new()),
        );
        self.inspect.notify(Change::Connections);
        if let Some(on_connect) = &handlers.on_connect {
            if let Err(error) = on_connect(self.scope(Some(id.clone()), request)).await {
                self.unlist(&id);
                self.inspect.notify(Change::Connections);
                return Err(error);
            }
        }
        Ok(id)
    }

    /// Forgets a connection's record. The table goes with the last record: every HTTP action
    /// is a connection while it runs, and the table that held it (four buckets of records, about
    /// 1 KB) would otherwise stay with every awake actor.
    fn unlist(&self, conn_id: &str) {
        let mut conns = self.conns.lock();
        conns.remove(conn_id);
        if conns.is_empty() {
            conns.shrink_to_fit();
        }
    }

    /// Ends a connection: unlists it, runs `on_disconnect` (while its record is still readable
    /// by its own id), then forgets it.
    pub(super) async fn release(self: &Arc<Self>, conn_id: Arc<str>) {
        // Claimed under the lock: a socket closing while its actor stops may release the same
        // connection twice, and `on_disconnect` must run once.
        // Once claimed, the connection is gone for everyone else (it is no longer listed and
        // gets no more broadcasts), while `on_disconnect` can still read its params and state.
        let claimed = self.conns.lock().get_mut(&conn_id).is_some_and(|entry| {
            let claimed = !std::mem::replace(&mut entry.releasing, true);
            if claimed {
                entry.subscriptions.clear();
                if let Some(sender) = entry.kind.sender() {
                    sender.link.gone.raise();
                }
            }
            claimed
        });
        if !claimed {
            return;
        }
        self.inspect.notify(Change::Connections);
        if let Some(on_disconnect) = &self.blueprint.handlers.on_disconnect {
            let _busy = self.activity.begin();
            if let Err(error) = on_disconnect(self.scope(Some(conn_id.clone()), None)).await {
                tracing::warn!(actor = %self.meta.actor_id, %error, "on_disconnect failed");
                self.inspect.error("on_disconnect", &error);
            }
        }
        self.unlist(&conn_id);
        if let Err(error) = self.save().await {
            tracing::error!(actor = %self.meta.actor_id, %error, "saving after a disconnect failed");
        }
    }

    /// Ends a connection in the background (its handle was dropped).
    pub(super) fn disconnect(self: Arc<Self>, conn_id: Arc<str>) {
        tokio::spawn(async move { self.release(conn_id).await });
    }

    /// Runs `body` as the short-lived connection of one call ([`ConnKind::Call`]) with
    /// `params`.
    pub(super) async fn as_call_conn<T, Fut>(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        body: impl FnOnce(Arc<Self>, Arc<str>) -> Fut,
    ) -> ActorResult<T>
    where
        Fut: Future<Output = ActorResult<T>>,
    {
        let conn_id = self.admit(params, request, ConnKind::Call).await?;
        let result = body(self.clone(), conn_id.clone()).await;
        self.release(conn_id).await;
        result
    }

    /// Ends every connection and raw socket of a stopping instance; on sleep, protocol sockets
    /// of an actor with hibernatable connections are handed their snapshots instead.
    pub(super) async fn close_everything(self: &Arc<Self>, stop: Stop) {
        if stop == Stop::Sleep && self.blueprint.options.hibernatable_connections {
            self.hibernate_connections();
        }
        let ids: Vec<Arc<str>> = self.conns.lock().keys().cloned().collect();
        for id in ids {
            if let Some(entry) = self.conns.lock().get(&id) {
                entry.send(Outgoing::Close(CLOSE_STOPPING.0, CLOSE_STOPPING.1.into()));
            }
            let release = self.release(id);
            if tokio::time::timeout(STOP_HOOK_TIMEOUT, release)
                .await
                .is_err()
            {
                tracing::warn!(actor = %self.meta.actor_id, "on_disconnect timed out while stopping");
            }
        }
        for socket in self.raw_sockets.lock().drain(..) {
            socket.close(CLOSE_STOPPING.0, CLOSE_STOPPING.1);
        }
    }

    /// Hands every protocol WebSocket its snapshot and forgets it without `on_disconnect`: the
    /// socket stays open while the actor sleeps (see `ActorInstance::resume`).
    fn hibernate_connections(&self) {
        self.conns.lock().retain(|id, entry| {
            let Some(sender) = entry.kind.sender() else {
                return true;
            };
            let snapshot = HibernatedConn {
                id: id.clone(),
                params: entry.params.clone(),
                state: entry.state.clone(),
                subscriptions: entry.subscriptions.clone(),
            };
            sender.send(Outgoing::Hibernate(Box::new(snapshot)));
            false
        });
        self.inspect.notify(Change::Connections);
    }
}
