//! Which actor a gateway request is for, and finding it: by id (`/gateway/{id}/…`), or by name
//! and key from the 2.3 query form (`?rvt-method=get|getOrCreate&…`), creating it for
//! `getOrCreate` when the key is free. Resolution happens inside the request that carries it,
//! so a 2.3 client reaches a new actor in one round trip.

use std::sync::Arc;

use rivetkit_protocol::actor_query::{ActorQuery, ActorTarget};
use rivetkit_protocol::error::ActorSpecifier;
use rivetkit_protocol::message::{ACTOR_SPECIFIER_BARE_VERSION, SERVER_BARE_VERSION};
use rivetkit_protocol::serialize_key;
use rivetkit_runtime::ActorError;
use rivetkit_storage::ActorRecord;

use crate::AppState;

/// Finds (or creates) the actor `target` names.
pub async fn resolve(
    state: &AppState,
    target: &ActorTarget,
) -> Result<Arc<ActorRecord>, ActorError> {
    match target {
        ActorTarget::Id(actor_id) => state
            .runtime
            .find_by_id(actor_id)
            .await?
            .ok_or_else(|| ActorError::actor_not_found(actor_id)),
        ActorTarget::Query(query) => resolve_query(state, query).await,
    }
}

async fn resolve_query(
    state: &AppState,
    query: &ActorQuery,
) -> Result<Arc<ActorRecord>, ActorError> {
    let ActorQuery {
        namespace,
        name,
        key,
        create,
    } = query;
    let serialized_key = serialize_key(key);
    match create {
        None => state
            .runtime
            .find_by_key(namespace, name, &serialized_key)
            .await?
            // The engine's status for a missing actor, which 2.3 clients do not retry.
            .ok_or_else(|| {
                ActorError::actor_not_found(format!("{name} with key {key:?}")).with_status(404)
            }),
        Some(create) => {
            tracing::debug!(%name, ?key, pool = %create.pool, "gateway getOrCreate");
            let (record, _) = state
                .runtime
                .get_or_create(namespace, name, &serialized_key, create.input.clone())
                .await?;
            Ok(record)
        }
    }
}

/// The BARE version to answer in before the client has written anything: only 2.3.x and newer
/// clients address actors by query, and they read v4.
pub fn bare_version_hint(target: &ActorTarget) -> u16 {
    match target {
        ActorTarget::Id(_) => SERVER_BARE_VERSION,
        ActorTarget::Query(_) => ACTOR_SPECIFIER_BARE_VERSION,
    }
}

/// How v4 errors name `record`. Actors here never move, so the generation is always 0.
pub fn specifier(record: &ActorRecord) -> ActorSpecifier {
    ActorSpecifier {
        actor_id: record.actor_id.clone(),
        generation: 0,
        key: Some(record.key.clone()),
    }
}
