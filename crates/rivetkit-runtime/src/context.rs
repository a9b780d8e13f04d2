//! [`Ctx`]: what actor code holds while it runs — the actor's state, identity, vars, and the way
//! to talk to its clients.
//!
//! State is reached only through closures ([`Ctx::state`], [`Ctx::update`]). A closure cannot
//! `.await`, so a borrow of the state can never be held across an await point: actions may
//! interleave (one waits on a timer while another runs) yet the state is never touched from two
//! places at once.

use std::sync::Arc;

use rivetkit_protocol::{value, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::instance::ActorCell;
use crate::{args, ActorResult};

/// The context handed to every action and handler. Cheap to clone; may be moved into tasks.
pub struct Ctx<S, V = ()> {
    pub(crate) cell: Arc<ActorCell<S, V>>,
    pub(crate) conn_id: Option<Arc<str>>,
}

impl<S, V> Clone for Ctx<S, V> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            conn_id: self.conn_id.clone(),
        }
    }
}

impl<S: crate::State, V: Send + Sync + 'static> Ctx<S, V> {
    /// Reads the state. Do not call `state`/`update` again inside `read`: it would deadlock.
    pub fn state<R>(&self, read: impl FnOnce(&S) -> R) -> R {
        self.cell.read_state(read)
    }

    /// Changes the state. The change is saved durably before the response of the action that
    /// made it, or any event broadcast after it, leaves the server.
    pub fn update<R>(&self, change: impl FnOnce(&mut S) -> R) -> R {
        self.cell.update_state(change)
    }

    /// Sends an event to every connection subscribed to `name`. `args` is a tuple: `()` for no
    /// argument, `(x,)` for one, `(x, y)` for two.
    pub fn broadcast<A: Serialize>(&self, name: &str, args: A) {
        match args::to_arg_list(&args) {
            Ok(args) => self.cell.broadcast(name.to_owned(), args),
            Err(error) => {
                tracing::error!(actor = %self.actor_id(), event = name, %error, "event arguments do not serialize")
            }
        }
    }

    /// Sends an event to one connection only (if it is still open).
    pub fn send_to<A: Serialize>(&self, conn_id: &str, name: &str, args: A) -> ActorResult<()> {
        let args = args::to_arg_list(&args)?;
        self.cell.send_to(conn_id, name.to_owned(), args);
        Ok(())
    }

    pub fn actor_id(&self) -> &str {
        &self.cell.meta.actor_id
    }

    pub fn name(&self) -> &str {
        &self.cell.meta.name
    }

    /// The actor's key: the array of strings clients address it by.
    pub fn key(&self) -> &[String] {
        &self.cell.meta.key
    }

    /// The input the actor was created with, if any.
    pub fn input<T: DeserializeOwned>(&self) -> ActorResult<Option<T>> {
        match &self.cell.meta.input {
            Value::Null => Ok(None),
            input => Ok(Some(value::to_typed(input.clone())?)),
        }
    }

    /// The actor's in-memory vars (see `Actor::vars`).
    pub fn vars(&self) -> &V {
        &self.cell.vars
    }

    /// The id of the connection this call came over; `None` for stateless HTTP calls.
    pub fn conn_id(&self) -> Option<&str> {
        self.conn_id.as_deref()
    }

    /// The params of the connection this call came over (`None` for stateless calls or when
    /// the client sent none).
    pub fn conn_params<T: DeserializeOwned>(&self) -> ActorResult<Option<T>> {
        match self
            .conn_id
            .as_deref()
            .and_then(|id| self.cell.conn_params(id))
        {
            None | Some(Value::Null) => Ok(None),
            Some(params) => Ok(Some(value::to_typed(params)?)),
        }
    }

    /// Waits until every state change made so far is durable. Actions and `on_request` do this
    /// by themselves before answering; call it where actor code answers by other means, such as
    /// a raw WebSocket.
    pub async fn save(&self) -> ActorResult<()> {
        self.cell.save().await
    }

    /// Ends one connection (a normal close, code 1000, with `reason`); the client reconnects
    /// only if it chooses to.
    pub fn disconnect(&self, conn_id: &str, reason: &str) {
        self.cell.close_conn(conn_id, reason.to_owned());
    }

    /// Ids of the actor's open connections.
    pub fn conns(&self) -> Vec<String> {
        self.cell.conn_ids()
    }
}
