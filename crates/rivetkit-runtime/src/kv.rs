//! Each actor's private key-value store (`c.kv()`): binary keys and values, durable on write.

use std::sync::OnceLock;

use rivetkit_storage::ActorStore;

use crate::instance::refuse_if_retired;
use crate::{ActorError, ActorResult};

/// A view of one actor's KV entries.
pub struct Kv<'a> {
    store: &'a dyn ActorStore,
    /// Set once the instance is retired after a failed save: writes are refused with it, as
    /// they may carry what was derived from lost changes.
    retired: &'a OnceLock<ActorError>,
}

impl<'a> Kv<'a> {
    pub(crate) fn new(store: &'a dyn ActorStore, retired: &'a OnceLock<ActorError>) -> Self {
        Self { store, retired }
    }

    /// The value stored under `key`, if any.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> ActorResult<Option<Vec<u8>>> {
        Ok(self.store.kv_get(key.as_ref()).await?)
    }

    /// Writes `value` under `key`; durable when it returns. Refused once a save of the actor's
    /// state failed (its instance is retired).
    pub async fn put(&self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> ActorResult<()> {
        refuse_if_retired(self.retired)?;
        Ok(self.store.kv_set(key.into(), Some(value.into())).await?)
    }

    /// Removes `key`; durable when it returns. Refused as [`Kv::put`] is.
    pub async fn delete(&self, key: impl Into<Vec<u8>>) -> ActorResult<()> {
        refuse_if_retired(self.retired)?;
        Ok(self.store.kv_set(key.into(), None).await?)
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub async fn list(&self, prefix: impl AsRef<[u8]>) -> ActorResult<rivetkit_storage::KvEntries> {
        Ok(self.store.kv_list(prefix.as_ref()).await?)
    }
}
