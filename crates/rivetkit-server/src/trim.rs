//! Giving back the memory of actors that went to sleep.
//!
//! glibc's allocator keeps freed memory in its arenas for reuse rather than returning it to
//! the system, so a server whose actors all woke once and then slept kept their peak resident
//! set for good: 10,000 counters woken and asleep again left 85 MiB resident, as when they were
//! awake (benches/actor_memory.sh). `malloc_trim(0)` returns the free pages of every arena.
//! It walks the whole heap, so it runs on the blocking pool, and only after many actors
//! stopped: not per actor, and never while the count of awake actors only grows.

use std::sync::Weak;
use std::time::Duration;

use rivetkit_runtime::Runtime;

/// How often the count of awake actors is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How many actors must have stopped since the fullest moment for a trim to be worth its walk.
const STOPPED_BEFORE_TRIM: usize = 256;

/// Trims the allocator's arenas whenever at least [`STOPPED_BEFORE_TRIM`] actors went to sleep
/// (or were destroyed) since the most actors were awake; ends with the runtime.
pub(crate) fn spawn(runtime: Weak<Runtime>) {
    tokio::spawn(async move {
        let mut fullest = 0;
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let Some(awake) = runtime.upgrade().map(|runtime| runtime.running_actors()) else {
                return;
            };
            fullest = fullest.max(awake);
            if fullest - awake >= STOPPED_BEFORE_TRIM {
                fullest = awake;
                let _ = tokio::task::spawn_blocking(give_back_free_memory).await;
            }
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "glibc's malloc_trim has no safe wrapper")]
fn give_back_free_memory() {
    // SAFETY: malloc_trim takes no pointers; it only releases pages the allocator holds free,
    // under the allocator's own locks, and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl's, the system's elsewhere) give memory back on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_free_memory() {}
