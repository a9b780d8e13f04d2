//! [`CallScope`]: one run of actor code — an action, a hook, an access rule, the `run`
//! handler — as the instance starts it: the instance it runs on, the connection and request it
//! runs for, and its [`Refusal`]. A `Ctx` is a typed view of one.
//!
//! It exists so that the instance can start actor code without knowing `Ctx` (see
//! [`super::blueprint`]); `Ctx` reads everything through it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Instance, State};
use crate::conn::ConnLink;
use crate::raw::RequestInfo;
use crate::{ActorError, ActorResult};

/// What the runtime refused of one call: a change or an event JSON cannot carry. Once refused,
/// the call's later changes and events are discarded and it answers with the first refusal.
/// Shared by every clone of the call's context.
///
/// Long-lived code (`run`, `on_websocket`) has no answer to give: its refusal records nothing,
/// so that a refusal drops only the change or event refused.
#[derive(Clone)]
pub(crate) struct Refusal(Option<Arc<Mutex<Option<ActorError>>>>);

impl Refusal {
    /// For a call that answers (an action, a hook, a request).
    pub(crate) fn answering() -> Self {
        Self(Some(Arc::default()))
    }

    /// For long-lived code, which has no answer (`run`, `on_websocket`).
    pub(crate) fn long_lived() -> Self {
        Self(None)
    }

    /// Records `error` unless the call was refused already (the first refusal wins).
    pub(crate) fn record(&self, error: ActorError) {
        if let Some(refusal) = &self.0 {
            refusal.lock().get_or_insert(error);
        }
    }

    /// The error the call will answer with, if it was refused.
    pub(crate) fn error(&self) -> Option<ActorError> {
        self.0.as_ref().and_then(|refusal| refusal.lock().clone())
    }

    /// Whether the call was refused.
    pub(crate) fn is_refused(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|refusal| refusal.lock().is_some())
    }

    /// How the call answers as far as its refusal goes: `Err` with it, if any (taken, so it is
    /// answered once).
    pub(crate) fn take(&self) -> ActorResult<()> {
        match self.0.as_ref().and_then(|refusal| refusal.lock().take()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// One run of actor code on an instance.
pub(crate) struct CallScope<S> {
    pub(crate) instance: Arc<Instance<S>>,
    /// The connection the code runs for (a stateless call has a short-lived one too); `None`
    /// in lifecycle hooks and alarms.
    pub(crate) conn_id: Option<Arc<str>>,
    /// The long-lived connection this call runs for, if any: its waits give up when it goes.
    pub(crate) conn_link: Option<Arc<ConnLink>>,
    pub(crate) request: Option<Arc<RequestInfo>>,
    /// Completable queue messages this call received and has not completed.
    pub(crate) pending_completions: Arc<AtomicUsize>,
    /// This is the `run` handler.
    pub(crate) in_run: bool,
    pub(crate) refusal: Refusal,
}

impl<S> Clone for CallScope<S> {
    fn clone(&self) -> Self {
        Self {
            instance: self.instance.clone(),
            conn_id: self.conn_id.clone(),
            conn_link: self.conn_link.clone(),
            request: self.request.clone(),
            pending_completions: self.pending_completions.clone(),
            in_run: self.in_run,
            refusal: self.refusal.clone(),
        }
    }
}

impl<S: State> Instance<S> {
    /// A scope for code answering a call as connection `conn_id` (if any), for `request`.
    pub(crate) fn scope(
        self: &Arc<Self>,
        conn_id: Option<Arc<str>>,
        request: Option<Arc<RequestInfo>>,
    ) -> CallScope<S> {
        let conn_link = conn_id.as_deref().and_then(|id| self.conn_link(id));
        CallScope {
            instance: self.clone(),
            conn_id,
            conn_link,
            request,
            pending_completions: Arc::default(),
            in_run: false,
            refusal: Refusal::answering(),
        }
    }
}
