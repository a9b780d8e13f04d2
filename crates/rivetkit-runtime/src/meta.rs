//! [`ActorMeta`]: who an actor is. A leaf module: the instance, its traces and the server's
//! handle on it all name the actor the same way.

use rivetkit_protocol::Value;

/// Who an actor is; fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct ActorMeta {
    /// The actor's id.
    pub actor_id: String,
    /// The actor type's registered name.
    pub name: String,
    /// The actor's key.
    pub key: Vec<String>,
    /// The create input (`Null` when none was given).
    pub input: Value,
}
