//! [`Host`]: what a running instance, and the actor code in it, asks of the runtime that hosts
//! it — alarms, calls and connections to other actors, and the bookkeeping when it stops.
//!
//! The runtime starts instances and holds them, so an instance cannot name the runtime without a
//! dependency cycle. It holds this capability instead (a `Weak<dyn Host>`, the runtime being the
//! only implementation), and the runtime stays free to depend on the instance.

use futures::future::BoxFuture;
use rivetkit_protocol::Value;
use rivetkit_storage::ActorStore;

use crate::handle::Connection;
use crate::meta::ActorMeta;
use crate::queue::{QueueSend, SendOutcome};
use crate::ActorResult;

/// How an actor instance stopped, as told to
/// [`Runtime::on_actor_stopped`](crate::Runtime::on_actor_stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorStopped {
    /// It went to sleep (idle, `c.sleep()`, or asked to); its state is saved.
    Slept,
    /// It was destroyed; its data is deleted.
    Destroyed,
    /// A save failed and its memory was dropped; the next request loads the saved state.
    Retired,
}

/// The runtime, as the instances it hosts see it.
pub(crate) trait Host: Send + Sync + 'static {
    /// Stores an alarm of the actor whose store is `store` durably and arms it.
    fn schedule<'a>(
        &'a self,
        store: &'a dyn ActorStore,
        actor_id: &'a str,
        fire_at: i64,
        action: &'a str,
        args: &'a [Value],
    ) -> BoxFuture<'a, ActorResult<()>>;

    /// A queue send to actor `actor_id`, as a client without params would make it.
    fn send_queue<'a>(
        &'a self,
        actor_id: &'a str,
        send: QueueSend,
    ) -> BoxFuture<'a, ActorResult<SendOutcome>>;

    /// Opens a connection with `params` to actor `name` + `key` (default namespace, created if
    /// needed).
    fn connect<'a>(
        &'a self,
        name: &'a str,
        key: &'a [String],
        params: Value,
    ) -> BoxFuture<'a, ActorResult<Connection>>;

    /// A stateless call of `action` with connection `params` on actor `name` + `key` (default
    /// namespace, created if needed).
    fn call<'a>(
        &'a self,
        name: &'a str,
        key: &'a [String],
        params: Value,
        action: &'a str,
        args: Vec<Value>,
    ) -> BoxFuture<'a, ActorResult<Value>>;

    /// A destroyed actor has stopped: deletes it and all its data.
    fn delete_destroyed<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, ()>;

    /// The instance of `meta` has stopped as `how`: the next request starts a new one.
    fn instance_stopped(&self, meta: &ActorMeta, how: ActorStopped);

    /// Whether instances keep their recent finished actions for the inspector.
    fn keeps_action_history(&self) -> bool;
}
