//! actor-db: `dbActorRaw` and `dbActorDrizzle` (one implementation under the two names the suite
//! uses for its raw-SQL and ORM variants) exercise an actor's SQLite database; `dbLifecycle`,
//! `dbLifecycleFailing` and `dbLifecycleObserver` count, in a process-global map, how often each
//! actor's database is opened, migrated and closed.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use parking_lot::Mutex;
use rivetkit_rs::prelude::*;
use rivetkit_rs::{now_ms, Db, DbEvent, DbRow};
use serde_json::{json, Value};

const SLEEP_TIMEOUT: Duration = Duration::from_millis(100);
const DISCONNECT_MARKER: &str = "__disconnect__";

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DisconnectInsert {
    disconnect_insert_enabled: bool,
    disconnect_insert_delay_ms: u64,
}

/// The first column of the first row, `null` if there is none.
fn first_value(rows: Vec<DbRow>) -> Value {
    rows.into_iter()
        .next()
        .and_then(|row| row.into_iter().next())
        .map_or(Value::Null, |(_, value)| value)
}

async fn scalar(db: &Db, sql: &str, params: Vec<Value>) -> ActorResult<Value> {
    Ok(first_value(db.execute(sql, params).await?))
}

/// `statement` `times` times inside one transaction, as one multi-statement SQL text.
fn in_transaction(statement: &str, times: usize) -> String {
    let body = vec![statement; times].join("; ");
    format!("BEGIN; {body}; COMMIT;")
}

/// `count` characters of filler.
fn payload(count: usize) -> String {
    "x".repeat(count)
}

const INSERT_ROW: &str =
    "INSERT INTO test_data (value, payload, created_at) VALUES (?, ?, ?) RETURNING id";
const UPSERT_ROW: &str =
    "INSERT INTO test_data (id, value, payload, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET value = excluded.value, payload = excluded.payload,
     created_at = excluded.created_at";

async fn insert_row(db: &Db, value: &str, payload: String) -> ActorResult<Value> {
    scalar(
        db,
        INSERT_ROW,
        vec![json!(value), json!(payload), json!(now_ms())],
    )
    .await
}

fn upsert_params(id: usize, payload_len: usize) -> [Value; 4] {
    [
        json!(id),
        json!(format!("row-{id}")),
        json!(payload(payload_len)),
        json!(now_ms()),
    ]
}

fn db_actor(name: &str) -> Actor<DisconnectInsert> {
    let database = Database::new(|conn| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS test_data (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                value TEXT NOT NULL,
                payload TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL
            )",
        )
    });
    actor::<DisconnectInsert>(name)
        .database(database)
        .action_timeout(Duration::from_secs(120))
        .sleep_timeout(SLEEP_TIMEOUT)
        .on_disconnect(|c| async move {
            let (enabled, delay) = c.state(|s| {
                (s.disconnect_insert_enabled, s.disconnect_insert_delay_ms)
            });
            if enabled {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                insert_row(&c.db()?, DISCONNECT_MARKER, String::new()).await?;
            }
            Ok(())
        })
        .action(
            "configureDisconnectInsert",
            |c, (enabled, delay_ms): (bool, Option<f64>)| async move {
                let delay = delay_ms.unwrap_or(0.0).max(0.0).floor() as u64;
                c.update(|s| {
                    s.disconnect_insert_enabled = enabled;
                    s.disconnect_insert_delay_ms = delay;
                });
                Ok(())
            },
        )
        .action("getDisconnectInsertCount", |c, ()| async move {
            let sql = "SELECT count(*) FROM test_data WHERE value = ?";
            scalar(&c.db()?, sql, vec![json!(DISCONNECT_MARKER)]).await
        })
        .action("reset", |c, ()| async move {
            c.db()?.execute("DELETE FROM test_data", []).await?;
            Ok(())
        })
        .action("insertValue", |c, (value,): (String,)| async move {
            let id = insert_row(&c.db()?, &value, String::new()).await?;
            Ok(json!({ "id": id }))
        })
        .action("getValues", |c, ()| async move {
            let sql = "SELECT id, value, payload, created_at FROM test_data ORDER BY id";
            c.db()?.execute(sql, []).await
        })
        .action("getValue", |c, (id,): (i64,)| async move {
            let sql = "SELECT value FROM test_data WHERE id = ?";
            scalar(&c.db()?, sql, vec![json!(id)]).await
        })
        .action("getCount", |c, ()| async move {
            scalar(&c.db()?, "SELECT count(*) FROM test_data", vec![]).await
        })
        .action("rawSelectCount", |c, ()| async move {
            scalar(&c.db()?, "SELECT count(*) AS count FROM test_data", vec![]).await
        })
        .action("insertMany", |c, (count,): (i64,)| async move {
            // One statement: a recursive series feeds the insert.
            let sql = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
                 INSERT INTO test_data (value, payload, created_at)
                 SELECT 'User ' || i, '', ? FROM n WHERE ? > 0";
            let params = vec![json!(count), json!(now_ms()), json!(count)];
            c.db()?.execute(sql, params).await?;
            Ok(json!({ "count": count }))
        })
        .action(
            "updateValue",
            |c, (id, value): (i64, String)| async move {
                let sql = "UPDATE test_data SET value = ? WHERE id = ?";
                c.db()?.execute(sql, [json!(value), json!(id)]).await?;
                Ok(json!({ "success": true }))
            },
        )
        .action("deleteValue", |c, (id,): (i64,)| async move {
            let sql = "DELETE FROM test_data WHERE id = ?";
            c.db()?.execute(sql, [json!(id)]).await?;
            Ok(())
        })
        .action("transactionCommit", |c, (value,): (String,)| async move {
            let sql = "BEGIN; INSERT INTO test_data (value, payload, created_at) VALUES (?, '', ?); COMMIT;";
            c.db()?.execute(sql, [json!(value), json!(now_ms())]).await?;
            Ok(())
        })
        .action("transactionRollback", |c, (value,): (String,)| async move {
            let sql = "BEGIN; INSERT INTO test_data (value, payload, created_at) VALUES (?, '', ?); ROLLBACK;";
            c.db()?.execute(sql, [json!(value), json!(now_ms())]).await?;
            Ok(())
        })
        .action("insertPayloadOfSize", |c, (size,): (usize,)| async move {
            let id = insert_row(&c.db()?, "payload", payload(size)).await?;
            Ok(json!({ "id": id, "size": size }))
        })
        .action("getPayloadSize", |c, (id,): (i64,)| async move {
            let sql = "SELECT coalesce((SELECT length(payload) FROM test_data WHERE id = ?), 0)";
            scalar(&c.db()?, sql, vec![json!(id)]).await
        })
        .action(
            "insertPayloadRows",
            |c, (count, payload_size): (usize, usize)| async move {
                let db = c.db()?;
                for i in 0..count {
                    insert_row(&db, &format!("bulk-{i}"), payload(payload_size)).await?;
                }
                Ok(json!({ "count": count }))
            },
        )
        .action(
            "roundRobinUpdateValues",
            |c, (row_ids, iterations): (Vec<i64>, usize)| async move {
                let mut ids: Vec<i64> = Vec::new();
                for id in row_ids.into_iter().filter(|id| *id > 0) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let db = c.db()?;
                let updates = in_transaction("UPDATE test_data SET value = ? WHERE id = ?", iterations);
                let params = (0..iterations)
                    .flat_map(|i| [json!(format!("v-{i}")), json!(ids[i % ids.len()])]);
                db.execute(&updates, params).await?;
                let placeholders = vec!["?"; ids.len()].join(", ");
                let select = format!(
                    "SELECT id, value FROM test_data WHERE id IN ({placeholders}) ORDER BY id"
                );
                db.execute(&select, ids.into_iter().map(Value::from)).await
            },
        )
        .action("getPageCount", |c, ()| async move {
            scalar(&c.db()?, "PRAGMA page_count", vec![]).await
        })
        .action("vacuum", |c, ()| async move {
            c.db()?.execute("VACUUM", []).await?;
            Ok(())
        })
        .action("integrityCheck", |c, ()| async move {
            let result = scalar(&c.db()?, "PRAGMA integrity_check", vec![]).await?;
            Ok(match result {
                Value::String(text) => text,
                other => other.to_string(),
            })
        })
        .action(
            "runMixedWorkload",
            |c, (seed_count, churn_count): (usize, usize)| async move {
                let db = c.db()?;
                let seed = in_transaction(UPSERT_ROW, seed_count);
                let params = (1..=seed_count).flat_map(|id| upsert_params(id, 1024 + (id % 5) * 128));
                db.execute(&seed, params).await?;
                if seed_count == 0 {
                    return Ok(());
                }
                for i in 0..churn_count {
                    let id = i % seed_count + 1;
                    if i % 9 == 0 {
                        db.execute("DELETE FROM test_data WHERE id = ?", [json!(id)])
                            .await?;
                    } else {
                        db.execute(UPSERT_ROW, upsert_params(id, 768 + (i % 7) * 96))
                            .await?;
                    }
                }
                Ok(())
            },
        )
        .action("repeatUpdate", |c, (id, count): (i64, usize)| async move {
            let sql = in_transaction("UPDATE test_data SET value = ? WHERE id = ?", count);
            let params = (0..count).flat_map(|i| [json!(format!("Updated {i}")), json!(id)]);
            c.db()?.execute(&sql, params).await?;
            Ok(json!({ "value": format!("Updated {}", count.saturating_sub(1)) }))
        })
        .action("multiStatementInsert", |c, (value,): (String,)| async move {
            let sql = "BEGIN;
                INSERT INTO test_data (value, payload, created_at) VALUES (?, '', ?);
                UPDATE test_data SET value = ? WHERE id = last_insert_rowid();
                COMMIT;
                SELECT value FROM test_data ORDER BY id DESC LIMIT 1";
            let params = [json!(value), json!(now_ms()), json!(format!("{value}-updated"))];
            Ok(first_value(c.db()?.execute(sql, params).await?))
        })
        .action("triggerSleep", |c, ()| async move {
            c.sleep();
            Ok(())
        })
}

/// How often one actor's database was opened (`create`), migrated and closed (`cleanup`).
#[derive(Clone, Copy, Default, Serialize)]
struct LifecycleCounts {
    create: u64,
    migrate: u64,
    cleanup: u64,
}

/// Shared by every lifecycle actor of this process, as the suite's observer expects.
static LIFECYCLE: LazyLock<Mutex<HashMap<String, LifecycleCounts>>> = LazyLock::new(Mutex::default);

fn count_lifecycle(actor_id: &str, event: DbEvent) {
    let mut counts = LIFECYCLE.lock();
    let counts = counts.entry(actor_id.to_owned()).or_default();
    match event {
        DbEvent::Opened => counts.create += 1,
        DbEvent::Migrated => counts.migrate += 1,
        DbEvent::Closed => counts.cleanup += 1,
    }
}

fn lifecycle_actor() -> Actor<()> {
    let database = Database::new(|conn| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS lifecycle_data (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                value TEXT NOT NULL,
                created_at INTEGER NOT NULL
            )",
        )
    })
    .observe(count_lifecycle);
    actor::<()>("dbLifecycle")
        .database(database)
        .sleep_timeout(SLEEP_TIMEOUT)
        .action(
            "getActorId",
            |c, ()| async move { Ok(c.actor_id().to_owned()) },
        )
        .action("ping", |_, ()| async move { Ok("pong") })
        .action("insertValue", |c, (value,): (String,)| async move {
            let sql = "INSERT INTO lifecycle_data (value, created_at) VALUES (?, ?)";
            c.db()?
                .execute(sql, [json!(value), json!(now_ms())])
                .await?;
            Ok(())
        })
        .action("getCount", |c, ()| async move {
            scalar(&c.db()?, "SELECT count(*) FROM lifecycle_data", vec![]).await
        })
        .action("triggerSleep", |c, ()| async move {
            c.sleep();
            Ok(())
        })
        .action("triggerDestroy", |c, ()| async move {
            c.destroy();
            Ok(())
        })
}

fn failing_lifecycle_actor() -> Actor<()> {
    let database = Database::new(|_| Err(ActorError::internal("forced migrate failure")))
        .observe(count_lifecycle);
    actor::<()>("dbLifecycleFailing")
        .database(database)
        .sleep_timeout(SLEEP_TIMEOUT)
        .action("ping", |_, ()| async move { Ok("pong") })
}

fn lifecycle_observer() -> Actor<()> {
    actor::<()>("dbLifecycleObserver")
        .action("getCounts", |_, (actor_id,): (String,)| async move {
            Ok(LIFECYCLE.lock().get(&actor_id).copied().unwrap_or_default())
        })
        .action("getTotalCleanupCount", |_, ()| async move {
            Ok(LIFECYCLE.lock().values().map(|c| c.cleanup).sum::<u64>())
        })
}

pub fn register(registry: Registry) -> Registry {
    registry
        .register(db_actor("dbActorRaw"))
        .register(db_actor("dbActorDrizzle"))
        .register(lifecycle_actor())
        .register(failing_lifecycle_actor())
        .register(lifecycle_observer())
}
