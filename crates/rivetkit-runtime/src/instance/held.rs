//! What actor code sends from inside a state closure (`c.state`, `c.update`): held until the
//! closure returns, then sent in order.
//!
//! Sending needs the connection and outbox locks, and a closure runs under the state lock its
//! caller holds; sending at once could deadlock or overtake the change it follows. A closure
//! cannot await, so whatever runs on its thread while it is on the stack below runs inside it:
//! a thread-local stack of open closures tells a send whether to hold.

use std::cell::RefCell;

use rivetkit_protocol::Value;

use super::{Instance, State};

/// One send held until its closure returns.
pub(super) enum Held {
    Broadcast(String, Vec<Value>),
    SendTo(String, String, Vec<Value>),
    Close(String, String),
}

thread_local! {
    /// The closures running on this thread, innermost last, by the address of their actor's
    /// instance, with what they sent so far.
    static HELD: RefCell<Vec<(usize, Vec<Held>)>> = const { RefCell::new(Vec::new()) };
}

/// Holds what actor code sends while a state closure of one instance runs on this thread.
pub(super) struct Holding {
    finished: bool,
}

impl Holding {
    /// Starts holding for the instance whose [`Instance::holding_key`] is `instance`.
    pub(super) fn begin(instance: usize) -> Self {
        HELD.with(|held| held.borrow_mut().push((instance, Vec::new())));
        Self { finished: false }
    }

    /// Stops holding; what was sent, in order.
    pub(super) fn finish(mut self) -> Vec<Held> {
        self.finished = true;
        HELD.with(|held| held.borrow_mut().pop())
            .map(|(_, items)| items)
            .unwrap_or_default()
    }
}

impl Drop for Holding {
    /// A closure that panicked sends nothing.
    fn drop(&mut self) {
        if !self.finished {
            HELD.with(|held| held.borrow_mut().pop());
        }
    }
}

/// Holds `item` if a state closure of the instance keyed `instance` is running on this thread;
/// gives it back otherwise.
pub(super) fn hold(instance: usize, item: Held) -> Result<(), Held> {
    HELD.with(|held| {
        match held
            .borrow_mut()
            .iter_mut()
            .rev()
            .find(|(id, _)| *id == instance)
        {
            Some((_, items)) => {
                items.push(item);
                Ok(())
            }
            None => Err(item),
        }
    })
}

impl<S: State> Instance<S> {
    /// This instance's key in [`HELD`].
    pub(super) fn holding_key(&self) -> usize {
        self as *const Self as usize
    }

    /// Sends what a state closure sent, now that the state lock is free.
    pub(super) fn send_held(&self, held: Vec<Held>) {
        for item in held {
            match item {
                Held::Broadcast(name, args) => self.broadcast(name, args),
                Held::SendTo(conn_id, name, args) => {
                    self.send_to(&conn_id, name, args);
                }
                Held::Close(conn_id, reason) => self.close_conn(&conn_id, reason),
            }
        }
    }
}
