//! Typed actor interfaces: the contract between an actor's implementation and its callers.
//!
//! An interface names an actor, its actions (argument tuple and result type) and its events
//! (argument tuple). It is written once, with [`interface!`], in a crate that both sides can
//! depend on; the server registers handlers for it (`Actor::handle`) and the client calls it
//! with methods checked at compile time. This crate knows nothing about either side: only the
//! names and types, and the [`Caller`] abstraction the generated methods call through.
//!
//! ```
//! use rivetkit_interface::{Action, ActorInterface, Event};
//!
//! pub struct Counter; // or the actor's state type
//!
//! rivetkit_interface::interface! {
//!     actor Counter = "counter";
//!     /// Calls on a counter.
//!     pub trait CounterActions {
//!         /// Adds `x` and returns the new count.
//!         action Increment = "increment", fn increment(x: i64) -> i64;
//!         action GetCount = "getCount", fn get_count() -> i64;
//!     }
//!     /// Broadcast after every change.
//!     pub event CountChanged = "count", (i64,);
//! }
//!
//! assert_eq!(Counter::NAME, "counter");
//! assert_eq!(Counter::ACTIONS, ["increment", "getCount"]);
//! assert_eq!(Increment::NAME, "increment");
//! assert_eq!(CountChanged::NAME, "count");
//! let _args: <Increment as Action>::Args = (1,); // arguments are a tuple
//! ```
//!
//! (Through the facade crate, the macro is `rivetkit_rs::interface!`.)

#![warn(missing_docs)]

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// An actor type as seen from outside: the name it is registered under.
pub trait ActorInterface: Send + Sync + 'static {
    /// The name the actor type is registered under, as clients address it.
    const NAME: &'static str;
    /// The wire names of every action the interface declares. A server registering an actor
    /// that implements some of them (`Actor::handle`) must implement all of them.
    const ACTIONS: &'static [&'static str];
}

/// An argument list written as a tuple: `()` for none, `(x,)` for one, `(x, y)` for two (up to
/// 12). Actions are called, and events sent, with one; each element becomes one argument, so
/// `(vec,)` passes one array where a bare `vec` would have been spread into many arguments.
/// [`Spread`] is the one list that spreads, on purpose.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an argument list: arguments are a tuple",
    label = "expected a tuple such as `()`, `(x,)` or `(x, y)`",
    note = "to pass one value, wrap it in a 1-tuple: `(value,)`; for a list of arguments made at \
            run time, `Spread(list)`"
)]
pub trait ArgList: Serialize + sealed::Tuple {}

mod sealed {
    /// Only tuples are argument lists: they serialize as a JSON array (or `null` for `()`),
    /// one element per argument, whatever their elements are.
    pub trait Tuple {}
}

/// An argument list known only at run time, each element one argument: `Spread(vec)` is the
/// `...args` of JS. Where the list is fixed in the code, write a tuple instead.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spread<T>(pub Vec<T>);

impl<T: Serialize> Serialize for Spread<T> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        self.0.serialize(serializer)
    }
}

impl<T: Serialize> sealed::Tuple for Spread<T> {}
impl<T: Serialize> ArgList for Spread<T> {}

macro_rules! arg_list_tuples {
    ($(($($name:ident),*)),* $(,)?) => {
        $(
            impl<$($name: Serialize),*> sealed::Tuple for ($($name,)*) {}
            impl<$($name: Serialize),*> ArgList for ($($name,)*) {}
        )*
    };
}

arg_list_tuples!(
    (),
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
    (A, B, C, D, E, F, G, H, I),
    (A, B, C, D, E, F, G, H, I, J),
    (A, B, C, D, E, F, G, H, I, J, K),
    (A, B, C, D, E, F, G, H, I, J, K, L),
);

/// One action of actor [`Action::Actor`]. Implementors are unit structs, passed as values so
/// that closures given alongside them get their argument types inferred.
pub trait Action: Copy + Send + Sync + 'static {
    /// The actor type this action belongs to.
    type Actor: ActorInterface;
    /// The action's name on the wire.
    const NAME: &'static str;
    /// The argument list as a tuple: `()`, `(i64,)`, `(String, u32)`.
    type Args: ArgList + DeserializeOwned + Send + 'static;
    /// What the action returns.
    type Output: Serialize + DeserializeOwned + Send + 'static;
}

/// One event actor [`Event::Actor`] emits.
pub trait Event: Copy + Send + Sync + 'static {
    /// The actor type that emits it.
    type Actor: ActorInterface;
    /// The event's name on the wire.
    const NAME: &'static str;
    /// The event's argument list as a tuple.
    type Args: ArgList + DeserializeOwned + Send + 'static;
}

/// Something that can run actions of one actor type: a client handle or connection. The
/// methods [`interface!`] generates call through this.
pub trait Caller {
    /// The actor type this caller reaches.
    type Actor: ActorInterface;
    /// What a failed call returns.
    type Error;

    /// Calls `action` with `args` and decodes its output.
    fn call<A: Action<Actor = Self::Actor>>(
        &self,
        action: A,
        args: A::Args,
    ) -> impl Future<Output = Result<A::Output, Self::Error>> + Send;
}

/// Declares an actor's interface. See the [crate docs](crate) for the syntax: `actor` names an
/// existing type; the trait lists actions (`Name = "wireName", fn method(args) [-> Output];`)
/// and becomes an extension trait implemented for every [`Caller`] of that actor; each `event`
/// becomes a unit struct.
#[macro_export]
macro_rules! interface {
    (
        actor $actor:ty = $name:literal;
        $(#[$trait_meta:meta])*
        $vis:vis trait $trait:ident {
            $(
                $(#[$action_meta:meta])*
                action $action:ident = $action_name:literal,
                    fn $method:ident($($arg:ident: $arg_ty:ty),* $(,)?) $(-> $output:ty)?;
            )*
        }
        $(
            $(#[$event_meta:meta])*
            $event_vis:vis event $event:ident = $event_name:literal, ($($event_arg:ty),* $(,)?);
        )*
    ) => {
        impl $crate::ActorInterface for $actor {
            const NAME: &'static str = $name;
            const ACTIONS: &'static [&'static str] = &[$($action_name),*];
        }

        $(
            $(#[$action_meta])*
            #[derive(Clone, Copy, Debug, Default)]
            $vis struct $action;

            impl $crate::Action for $action {
                type Actor = $actor;
                const NAME: &'static str = $action_name;
                type Args = ($($arg_ty,)*);
                type Output = $crate::__output!($($output)?);
            }
        )*

        $(#[$trait_meta])*
        $vis trait $trait: $crate::Caller<Actor = $actor> {
            $(
                $(#[$action_meta])*
                fn $method(
                    &self,
                    $($arg: $arg_ty),*
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<$crate::__output!($($output)?), Self::Error>,
                > + Send {
                    self.call($action, ($($arg,)*))
                }
            )*
        }

        impl<C: $crate::Caller<Actor = $actor>> $trait for C {}

        $(
            $(#[$event_meta])*
            #[derive(Clone, Copy, Debug, Default)]
            $event_vis struct $event;

            impl $crate::Event for $event {
                type Actor = $actor;
                const NAME: &'static str = $event_name;
                type Args = ($($event_arg,)*);
            }
        )*
    };
}

/// `-> T` or nothing (`()`), as in a function signature.
#[doc(hidden)]
#[macro_export]
macro_rules! __output {
    () => {
        ()
    };
    ($output:ty) => {
        $output
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    pub struct Counter;

    interface! {
        actor Counter = "counter";
        /// Calls on a counter.
        pub trait CounterActions {
            /// Adds `x`.
            action Increment = "increment", fn increment(x: i64) -> i64;
            action Reset = "reset", fn reset();
            action Rename = "rename", fn rename(first: String, last: Option<String>,) -> String;
        }
        pub event CountChanged = "count", (i64,);
        pub event Cleared = "cleared", ();
    }

    /// Records what the generated methods ask for.
    struct Recorder;

    impl Caller for Recorder {
        type Actor = Counter;
        type Error = String;

        fn call<A: Action<Actor = Counter>>(
            &self,
            _action: A,
            args: A::Args,
        ) -> impl Future<Output = Result<A::Output, String>> + Send {
            let seen = serde_json::to_value(&args).map_err(|e| e.to_string());
            async move { Err(format!("{} {}", A::NAME, seen?)) }
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => unreachable!("the recorder never waits"),
        }
    }

    #[test]
    fn generated_methods_call_with_wire_names_and_argument_tuples() {
        assert_eq!(<Counter as ActorInterface>::NAME, "counter");
        assert_eq!(
            <Counter as ActorInterface>::ACTIONS,
            ["increment", "reset", "rename"]
        );
        assert_eq!(block_on(Recorder.increment(2)), Err("increment [2]".into()));
        assert_eq!(block_on(Recorder.reset()), Err("reset null".into()));
        assert_eq!(
            block_on(Recorder.rename("a".into(), None)),
            Err("rename [\"a\",null]".into())
        );
        assert_eq!(CountChanged::NAME, "count");
        let _: <Cleared as Event>::Args = ();
    }
}
