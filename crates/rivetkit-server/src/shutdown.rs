//! Graceful shutdown: the signal that tells the server's tasks it is draining, and the process
//! signals that start it for [`crate::serve`]: SIGTERM and SIGINT to exit, SIGHUP to restart.

use std::future::Future;

use tokio::sync::watch;
use tokio::time::Instant;

/// Starts the drain: every [`Draining`] made from the same channel learns the deadline.
pub(crate) struct Drain(watch::Sender<Option<Instant>>);

/// What a connection or socket task watches to learn that the server drains, and until when.
#[derive(Clone)]
pub(crate) struct Draining(watch::Receiver<Option<Instant>>);

pub(crate) fn channel() -> (Drain, Draining) {
    let (sender, receiver) = watch::channel(None);
    (Drain(sender), Draining(receiver))
}

impl Drain {
    /// Tells every task that the server drains and must be done by `deadline`.
    pub(crate) fn start(&self, deadline: Instant) {
        self.0.send_replace(Some(deadline));
    }
}

impl Draining {
    /// For a router served by someone else: it never drains on its own.
    pub(crate) fn never() -> Self {
        channel().1
    }

    /// Resolves with the deadline once the server drains; never if it does not. Cancel-safe:
    /// it reads the current value first, so it may be started afresh in every round of a
    /// `select!`.
    pub(crate) async fn started(&self) -> Instant {
        let mut receiver = self.0.clone();
        let deadline = receiver
            .wait_for(Option::is_some)
            .await
            .map(|deadline| *deadline);
        match deadline {
            Ok(Some(deadline)) => deadline,
            // The sender is gone without a drain: nothing will ever start one.
            _ => std::future::pending().await,
        }
    }
}

/// What a server does once it has drained: the outcome of the future given to
/// [`crate::serve_with_shutdown`]. A future of `()` means [`Shutdown::Exit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Return from `serve`: the listener is closed, new connections are refused.
    Exit,
    /// Re-execute this process's binary (same pid, arguments and environment), handing it the
    /// listening socket: connections arriving meanwhile wait in its backlog and are served by
    /// the new image. Unix only; elsewhere it fails.
    Restart,
}

impl From<()> for Shutdown {
    fn from((): ()) -> Self {
        Self::Exit
    }
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C), the signals a process manager or a
/// terminal sends to stop a server. From then on, a second one ends the process at once, with
/// the conventional status 128 + the signal's number, for an operator who does not want to
/// wait for the drain.
pub async fn termination_signal() {
    let first = next_signal(false).await;
    tracing::info!(
        signal = first.name,
        "shutting down gracefully; send it again to exit at once"
    );
    exit_on_second_signal();
}

/// What [`crate::serve`] waits for: SIGTERM or SIGINT (as [`termination_signal`]) give
/// [`Shutdown::Exit`], SIGHUP gives [`Shutdown::Restart`]. During either drain a SIGTERM or
/// SIGINT ends the process at once; further SIGHUPs are ignored.
pub async fn shutdown_signal() -> Shutdown {
    let first = next_signal(true).await;
    if first.number == HANGUP {
        tracing::info!(
            signal = first.name,
            "restarting gracefully; send SIGTERM to exit at once"
        );
    } else {
        tracing::info!(
            signal = first.name,
            "shutting down gracefully; send it again to exit at once"
        );
    }
    exit_on_second_signal();
    if first.number == HANGUP {
        Shutdown::Restart
    } else {
        Shutdown::Exit
    }
}

/// Ends the process at the next SIGTERM or SIGINT. Listening starts here, before the caller
/// goes on to drain.
fn exit_on_second_signal() {
    let second = next_signal(false);
    tokio::spawn(async move {
        let second = second.await;
        tracing::warn!(
            signal = second.name,
            "second signal: exiting without finishing the drain"
        );
        std::process::exit(128 + second.number);
    });
}

struct Received {
    name: &'static str,
    number: i32,
}

#[cfg(unix)]
const HANGUP: i32 = libc::SIGHUP;
/// No such signal here: nothing is received with this number.
#[cfg(not(unix))]
const HANGUP: i32 = -1;

/// The next SIGTERM or SIGINT, or also SIGHUP when `hangup` is set.
#[cfg(unix)]
fn next_signal(hangup: bool) -> impl Future<Output = Received> {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered before the returned future is first polled, so a signal sent right after
    // this call is not missed. Once registered, a signal stays caught for the process's life:
    // a SIGHUP nobody waits for any more is ignored rather than killing the process.
    let streams = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        hangup.then(|| signal(SignalKind::hangup())).transpose(),
    );
    async move {
        match streams {
            (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) => tokio::select! {
                _ = terminate.recv() => Received { name: "SIGTERM", number: libc::SIGTERM },
                _ = interrupt.recv() => Received { name: "SIGINT", number: libc::SIGINT },
                Some(_) = async { hangup.as_mut()?.recv().await } => {
                    Received { name: "SIGHUP", number: libc::SIGHUP }
                }
            },
            (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
                tracing::error!(%error, "cannot listen for signals; graceful shutdown is off");
                std::future::pending().await
            }
        }
    }
}

#[cfg(not(unix))]
fn next_signal(_hangup: bool) -> impl Future<Output = Received> {
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C; graceful shutdown is off");
            std::future::pending::<()>().await;
        }
        Received {
            name: "Ctrl-C",
            number: 2,
        }
    }
}
