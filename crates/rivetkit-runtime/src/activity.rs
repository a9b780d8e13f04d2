//! What keeps an actor awake, and the decision to stop it (sleep or destroy).
//!
//! Two counts: *in-flight* work (actions, raw requests, hooks, alarms firing) and *open*
//! connections (WebSockets, raw sockets). An actor sleeps when both are zero and it has been idle
//! for its sleep timeout, or soon after `c.sleep()` once in-flight work is done; it is destroyed
//! after `c.destroy()` once in-flight work is done. Once stopping, no new work is admitted: the
//! runtime waits for the stop to finish and starts a fresh instance from the saved state.
//!
//! An instance whose state could not be saved is *retired*: from that moment it admits no new
//! work (new requests wait for it to stop and reach a fresh instance loaded from the store), and
//! it stops as soon as the work in flight is done, whatever its connections.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

/// Why an instance stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Sleep,
    Destroy,
    /// A save failed: the memory is ahead of the store and must be dropped (see the module doc).
    Retire,
}

struct Counts {
    in_flight: usize,
    open: usize,
    /// A `run` handler is working (not just waiting on its queue).
    running: bool,
    last_active: Instant,
    sleep_requested: bool,
    destroy_requested: bool,
    retire_requested: bool,
    stopping: bool,
}

/// Shared by an instance and every guard it handed out.
pub struct Activity {
    counts: Mutex<Counts>,
    changed: Notify,
    /// Both steps of the end in one channel: a tokio `watch` channel takes about 340 bytes, and
    /// every awake actor has one.
    ending: watch::Sender<Ending>,
}

/// How far an instance's end has come.
#[derive(Clone, Copy, Default)]
struct Ending {
    /// Raised as soon as a stop is requested or decided: waits in progress (queue receives, a
    /// `run` handler) give up so that the stop can proceed.
    aborted: bool,
    /// The instance has fully stopped.
    stopped: bool,
}

/// Holds an actor awake while alive (one unit of in-flight work, or one open connection).
pub struct ActivityGuard {
    activity: Arc<Activity>,
    open: bool,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            counts: Mutex::new(Counts {
                in_flight: 0,
                open: 0,
                running: false,
                last_active: Instant::now(),
                sleep_requested: false,
                destroy_requested: false,
                retire_requested: false,
                stopping: false,
            }),
            changed: Notify::new(),
            ending: watch::channel(Ending::default()).0,
        })
    }

    fn admit(self: &Arc<Self>, open: bool) -> Option<ActivityGuard> {
        let mut counts = self.counts.lock();
        if counts.stopping || counts.retire_requested {
            return None;
        }
        if open {
            counts.open += 1;
        } else {
            counts.in_flight += 1;
        }
        counts.last_active = Instant::now();
        Some(ActivityGuard {
            activity: self.clone(),
            open,
        })
    }

    /// Starts a unit of in-flight work; `None` once the instance is stopping or retired.
    pub fn begin(self: &Arc<Self>) -> Option<ActivityGuard> {
        self.admit(false)
    }

    /// Registers an open connection; `None` once the instance is stopping or retired.
    pub fn open(self: &Arc<Self>) -> Option<ActivityGuard> {
        self.admit(true)
    }

    /// Whether the instance is going to sleep, being destroyed or retired: it admits no new work.
    pub fn is_stopping(&self) -> bool {
        self.counts.lock().stopping
    }

    pub(crate) fn request(&self, stop: Stop) {
        let mut counts = self.counts.lock();
        match stop {
            Stop::Sleep => counts.sleep_requested = true,
            Stop::Destroy => counts.destroy_requested = true,
            Stop::Retire => counts.retire_requested = true,
        }
        drop(counts);
        self.ending.send_modify(|ending| ending.aborted = true);
        self.changed.notify_one();
    }

    /// Marks whether the `run` handler is working; a working one keeps the actor awake.
    pub(crate) fn set_running(&self, running: bool) {
        let mut counts = self.counts.lock();
        counts.running = running;
        counts.last_active = Instant::now();
        drop(counts);
        self.changed.notify_one();
    }

    /// Whether a stop was requested: long-running work (`run`, queue waits) should wind down.
    pub fn is_aborted(&self) -> bool {
        self.ending.borrow().aborted
    }

    /// Resolves once the instance is asked to stop.
    pub async fn aborted(&self) {
        let mut ending = self.ending.subscribe();
        let _ = ending.wait_for(|ending| ending.aborted).await;
    }

    /// Waits until the instance must stop, and marks it stopping (no more work is admitted).
    pub(crate) async fn until_stop(&self, sleep_timeout: Duration, no_sleep: bool) -> Stop {
        loop {
            let deadline = {
                let mut counts = self.counts.lock();
                let idle = counts.in_flight == 0;
                let quiet = counts.open == 0 && !counts.running;
                let decided = if counts.destroy_requested && idle {
                    Some(Stop::Destroy)
                } else if counts.retire_requested && idle {
                    Some(Stop::Retire)
                } else if idle
                    && (counts.sleep_requested
                        || (!no_sleep && quiet && counts.last_active.elapsed() >= sleep_timeout))
                {
                    Some(Stop::Sleep)
                } else {
                    None
                };
                if let Some(stop) = decided {
                    counts.stopping = true;
                    self.ending.send_modify(|ending| ending.aborted = true);
                    return stop;
                }
                (!no_sleep && idle && quiet).then(|| counts.last_active + sleep_timeout)
            };
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = self.changed.notified() => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }

    /// Called once the instance has fully stopped (state saved or actor deleted).
    pub(crate) fn finish_stop(&self) {
        self.ending.send_modify(|ending| ending.stopped = true);
    }

    /// Resolves once a stopping instance has fully stopped.
    pub async fn stopped(&self) {
        let mut ending = self.ending.subscribe();
        let _ = ending.wait_for(|ending| ending.stopped).await;
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        let mut counts = self.activity.counts.lock();
        if self.open {
            counts.open -= 1;
        } else {
            counts.in_flight -= 1;
        }
        counts.last_active = Instant::now();
        drop(counts);
        self.activity.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sleeps_only_when_idle_for_the_timeout() {
        let activity = Activity::new();
        let guard = activity.open().unwrap();
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.until_stop(Duration::from_secs(1), false).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished(), "an open connection keeps it awake");
        drop(guard);
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(!waiting.is_finished());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(waiting.await.unwrap(), Stop::Sleep);
        assert!(
            activity.begin().is_none(),
            "no work is admitted once stopping"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requested_stops_wait_for_in_flight_work() {
        let activity = Activity::new();
        let work = activity.begin().unwrap();
        let _connection = activity.open().unwrap();
        activity.request(Stop::Destroy);
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.until_stop(Duration::from_secs(30), true).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        drop(work);
        assert_eq!(waiting.await.unwrap(), Stop::Destroy);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retired_instance_admits_nothing_and_stops_despite_open_connections() {
        let activity = Activity::new();
        let work = activity.begin().unwrap();
        let _connection = activity.open().unwrap();
        activity.request(Stop::Retire);
        assert!(activity.begin().is_none(), "no new work once retired");
        assert!(activity.open().is_none(), "no new connection once retired");
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.until_stop(Duration::from_secs(30), true).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished(), "work in flight finishes first");
        drop(work);
        assert_eq!(waiting.await.unwrap(), Stop::Retire);
    }
}
