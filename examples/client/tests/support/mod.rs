//! What more than one test file of this crate serves.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use rivetkit_rs::Receive;
use serde_json::{json, Value};

/// Declares queue `jobs`; `take` completes the next message with `{got: body}`.
pub fn jobs_actor() -> Actor<()> {
    actor::<()>("jobs")
        .queue("jobs")
        .action("take", |c, ()| async move {
            let receive = Receive::names(["jobs"])
                .timeout(Duration::from_secs(5))
                .completable();
            let Some(message) = c.queue().next(receive).await? else {
                return Ok(Value::Null);
            };
            message
                .complete(Some(json!({ "got": message.body })))
                .await?;
            Ok(message.body)
        })
}
