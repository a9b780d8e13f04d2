//! Each actor's private key-value store (`c.kv()`): binary keys and values, durable on write.

use rivetkit_storage::ActorStore;

use crate::retirement::Retirement;
use crate::ActorResult;

/// A view of one actor's KV entries.
pub struct Kv<'a> {
    store: &'a dyn ActorStore,
    /// Set once the instance is retired after a failed save: writes are refused then, as
    /// they may carry what was derived from lost changes.
    retirement: &'a Retirement,
}

impl<'a> Kv<'a> {
    pub(crate) fn new(store: &'a dyn ActorStore, retirement: &'a Retirement) -> Self {
        Self { store, retirement }
    }

    /// The value stored under `key`, if any.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> ActorResult<Option<Vec<u8>>> {
        Ok(self.store.kv_get(key.as_ref()).await?)
    }

    /// Writes `value` under `key`; durable when it returns. Refused once a save of the actor's
    /// state failed (its instance is retired).
    pub async fn put(&self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> ActorResult<()> {
        self.retirement.refuse_writes()?;
        Ok(self.store.kv_set(key.into(), Some(value.into())).await?)
    }

    /// Removes `key`; durable when it returns. Refused as [`Kv::put`] is.
    pub async fn delete(&self, key: impl Into<Vec<u8>>) -> ActorResult<()> {
        self.retirement.refuse_writes()?;
        Ok(self.store.kv_set(key.into(), None).await?)
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub async fn list(&self, prefix: impl AsRef<[u8]>) -> ActorResult<rivetkit_storage::KvEntries> {
        Ok(self.store.kv_list(prefix.as_ref()).await?)
    }
}
