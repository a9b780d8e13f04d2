//! [`Retirement`]: whether an instance is retired after a failed save, and with what error.
//!
//! A failed save loses the changes it carried (see the `instance` module): from then on every
//! write of the instance — state, KV, alarms, database — answers the storage error, since what
//! it would write may derive from the lost changes. The writers live in several modules (the
//! instance, [`crate::Kv`], [`crate::Ctx`]); this small record is what they share, so that none
//! of them depends on the instance to ask.

use std::sync::OnceLock;

use crate::{ActorError, ActorResult};

/// Set once, when a save of the instance failed, to the error every later write answers.
#[derive(Default)]
pub(crate) struct Retirement(OnceLock<ActorError>);

impl Retirement {
    /// Retires the instance with `error`; `false` if it was retired already (the first error
    /// is kept).
    pub(crate) fn retire(&self, error: ActorError) -> bool {
        self.0.set(error).is_ok()
    }

    /// `Err` with the error that retired the instance, if it is retired.
    pub(crate) fn refuse_writes(&self) -> ActorResult<()> {
        match self.0.get() {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}
