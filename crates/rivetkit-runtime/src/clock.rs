//! Wall-clock time as the protocol and the store count it: milliseconds since the Unix epoch.
//!
//! A leaf module so that everything that stamps or schedules (the directory, queues, alarms,
//! the inspector, actor code) reads the clock one way without depending on each other.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
