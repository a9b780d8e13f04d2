//! actor-schedule: `scheduled` — durable alarms that call actions later, in time order.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use serde_json::json;

#[derive(Serialize, Deserialize, Default)]
struct Scheduled {
    #[serde(rename = "lastRun")]
    last_run: i64,
    #[serde(rename = "scheduledCount")]
    scheduled_count: i64,
    #[serde(rename = "taskHistory")]
    task_history: Vec<String>,
}

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<Scheduled>("scheduled")
        .action("scheduleTaskAt", |c, (at,): (i64,)| async move {
            c.schedule_at(at, "onScheduledTask", ()).await?;
            Ok(at)
        })
        .action("scheduleTaskAfter", |c, (delay,): (u64,)| async move {
            c.schedule_after(Duration::from_millis(delay), "onScheduledTask", ())
                .await?;
            Ok(rivetkit_rs::now_ms() + delay as i64)
        })
        .action(
            "scheduleTaskAfterWithId",
            |c, (task_id, delay): (String, u64)| async move {
                c.schedule_after(
                    Duration::from_millis(delay),
                    "onScheduledTaskWithId",
                    (&task_id,),
                )
                .await?;
                Ok(json!({ "taskId": task_id, "scheduledFor": rivetkit_rs::now_ms() + delay as i64 }))
            },
        )
        .action("scheduleTask", |c, (delay,): (i64,)| async move {
            let at = rivetkit_rs::now_ms() + delay;
            c.schedule_at(at, "onScheduledTask", ()).await?;
            Ok(at)
        })
        .action(
            "getLastRun",
            |c, ()| async move { Ok(c.state(|s| s.last_run)) },
        )
        .action("getScheduledCount", |c, ()| async move {
            Ok(c.state(|s| s.scheduled_count))
        })
        .action("getTaskHistory", |c, ()| async move {
            Ok(c.state(|s| s.task_history.clone()))
        })
        .action("clearHistory", |c, ()| async move {
            c.update(|s| *s = Scheduled::default());
            Ok(true)
        })
        .action("onScheduledTask", |c, ()| async move {
            let now = rivetkit_rs::now_ms();
            let count = c.update(|s| {
                s.last_run = now;
                s.scheduled_count += 1;
                s.scheduled_count
            });
            c.broadcast("scheduled", (json!({ "time": now, "count": count }),));
            Ok(())
        })
        .action(
            "onScheduledTaskWithId",
            |c, (task_id,): (String,)| async move {
                let now = rivetkit_rs::now_ms();
                let count = c.update(|s| {
                    s.last_run = now;
                    s.scheduled_count += 1;
                    s.task_history.push(task_id.clone());
                    s.scheduled_count
                });
                c.broadcast(
                    "scheduledWithId",
                    (json!({ "taskId": task_id, "time": now, "count": count }),),
                );
                Ok(())
            },
        );
    registry.register(actor)
}
