//! Graceful shutdown: the signal that tells the server's tasks it is draining, and the process
//! signals (SIGTERM, SIGINT) that start it for [`crate::serve`].

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

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C), the signals a process manager or a
/// terminal sends to stop a server; [`crate::serve`] drains on it. From then on, a second one
/// ends the process at once, with the conventional status 128 + the signal's number, for an
/// operator who does not want to wait for the drain.
pub async fn termination_signal() {
    let first = next_termination_signal().await;
    tracing::info!(
        signal = first.name,
        "shutting down gracefully; send it again to exit at once"
    );
    // Listening starts here, before the caller goes on to drain.
    let second = next_termination_signal();
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
fn next_termination_signal() -> impl Future<Output = Received> {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered before the returned future is first polled, so a signal sent right after
    // this call is not missed.
    let streams = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match streams {
            (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                _ = terminate.recv() => Received { name: "SIGTERM", number: libc::SIGTERM },
                _ = interrupt.recv() => Received { name: "SIGINT", number: libc::SIGINT },
            },
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "cannot listen for SIGTERM/SIGINT; graceful shutdown is off");
                std::future::pending().await
            }
        }
    }
}

#[cfg(not(unix))]
fn next_termination_signal() -> impl Future<Output = Received> {
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
