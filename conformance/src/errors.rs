//! actor-error-handling: user errors with and without code/metadata, masked internal errors.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use serde_json::json;

#[derive(Serialize, Deserialize, Default)]
struct ErrorLog {
    #[serde(rename = "errorLog")]
    error_log: Vec<String>,
}

/// An error that is not a user error: the client must see it masked.
#[derive(Debug)]
struct Unexpected;

impl std::fmt::Display for Unexpected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("This is an internal error")
    }
}

impl std::error::Error for Unexpected {}

pub fn register(registry: Registry) -> Registry {
    let handling = actor::<ErrorLog>("errorHandlingActor")
        .action_timeout(Duration::from_millis(500))
        .action("throwSimpleError", |_c, ()| async move {
            Err::<(), _>(ActorError::user_message("Simple error message"))
        })
        .action("throwDetailedError", |_c, ()| async move {
            Err::<(), _>(
                ActorError::user("detailed_error", "Detailed error message")
                    .with_metadata(json!({ "reason": "test", "timestamp": rivetkit_rs::now_ms() })),
            )
        })
        .action("throwInternalError", |_c, ()| async move {
            Err::<(), _>(Unexpected.into())
        })
        .action("successfulAction", |_c, ()| async move { Ok("success") })
        .action("timeoutAction", |_c, ()| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok("This should not be reached if timeout works")
        })
        .action("delayedAction", |_c, (ms,): (u64,)| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(format!("Completed after {ms}ms"))
        })
        .action("logError", |c, (message,): (String,)| async move {
            Ok(c.update(|s| {
                s.error_log.push(message);
                s.error_log.clone()
            }))
        })
        .action("getErrorLog", |c, ()| async move {
            Ok(c.state(|s| s.error_log.clone()))
        })
        .action("clearErrorLog", |c, ()| async move {
            c.update(|s| s.error_log.clear());
            Ok(true)
        });
    let custom_timeout = actor::<()>("customTimeoutActor")
        .action_timeout(Duration::from_millis(200))
        .action("quickAction", |_c, ()| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok("Quick action completed")
        })
        .action("slowAction", |_c, ()| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok("Slow action completed")
        });
    registry.register(handling).register(custom_timeout)
}
