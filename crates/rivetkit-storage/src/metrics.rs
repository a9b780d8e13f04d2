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

/// Records one committed (or failed) batch.
pub(crate) fn record_commit(batch_size: usize, total: Duration, sync: Option<Duration>) {
    metrics::histogram!(COMMIT_BATCH_SIZE).record(batch_size as f64);
    metrics::histogram!(COMMIT_SECONDS).record(total);
    match sync {
        Some(sync) => metrics::histogram!(COMMIT_SYNC_SECONDS).record(sync),
        None => metrics::counter!(COMMIT_FAILURES).increment(1),
    }
}
