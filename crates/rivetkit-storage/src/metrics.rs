//! What the store records through the [`metrics`] facade (nothing when no recorder is
//! installed): the writer's batches, their commit time and the time of the COMMIT itself.

use std::time::Duration;

/// Histogram: writes committed together in one transaction.
pub const COMMIT_BATCH_SIZE: &str = "rivetkit_storage_commit_batch_size";
/// Histogram (seconds): one batch, from BEGIN to the end of COMMIT.
pub const COMMIT_SECONDS: &str = "rivetkit_storage_commit_seconds";
/// Histogram (seconds): the COMMIT statement alone. In WAL mode with `synchronous=FULL` it
/// appends the batch to the WAL and fsyncs it, so it is the fsync time plus that append.
pub const COMMIT_SYNC_SECONDS: &str = "rivetkit_storage_commit_sync_seconds";
/// Counter: batches whose commit failed (every write in them was answered with the error).
pub const COMMIT_FAILURES: &str = "rivetkit_storage_commit_failures_total";

/// The writer's handles, registered once when its thread starts so that a commit only updates
/// them (a registration hashes and looks up the metric's key).
pub(crate) struct CommitMetrics {
    batch_size: metrics::Histogram,
    seconds: metrics::Histogram,
    sync_seconds: metrics::Histogram,
    failures: metrics::Counter,
}

impl CommitMetrics {
    pub(crate) fn register() -> Self {
        Self {
            batch_size: metrics::histogram!(COMMIT_BATCH_SIZE),
            seconds: metrics::histogram!(COMMIT_SECONDS),
            sync_seconds: metrics::histogram!(COMMIT_SYNC_SECONDS),
            failures: metrics::counter!(COMMIT_FAILURES),
        }
    }

    /// Records one committed batch, or (`sync: None`) one whose commit failed.
    pub(crate) fn record(&self, batch_size: usize, total: Duration, sync: Option<Duration>) {
        self.batch_size.record(batch_size as f64);
        self.seconds.record(total);
        match sync {
            Some(sync) => self.sync_seconds.record(sync),
            None => self.failures.increment(1),
        }
    }
}
