//! Actor databases over the SQLite backend (the one that offers them): the file outlives sleep
//! and goes with destruction, a failing migration fails the start yet closes the file, and
//! `execute` runs multi-statement SQL with its parameters. On a backend without actor databases
//! (in-memory), such an actor is refused with a clear error.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rivetkit_protocol::Value;
use rivetkit_runtime::{actor, ActorError, Database, DbEvent, Registry, Runtime};
use rivetkit_storage::{Backend, MemoryBackend, SqliteBackend};
use serde_json::json;

type Events = Arc<Mutex<Vec<DbEvent>>>;

fn notes_registry(events: &Events) -> Registry {
    let seen = events.clone();
    let database = Database::new(|conn| {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
    })
    .observe(move |_, event| seen.lock().push(event));
    let notes = actor::<()>("notes")
        .database(database)
        .action("add", |c, (body,): (Value,)| async move {
            let rows = c
                .db()?
                .execute("INSERT INTO notes (body) VALUES (?) RETURNING id", [body])
                .await?;
            Ok(rows[0]["id"].clone())
        })
        .action("run", |c, (sql, params): (String, Vec<Value>)| async move {
            c.db()?.execute(&sql, params).await
        })
        .action("sleep", |c, ()| async move {
            c.sleep();
            Ok(())
        })
        .action("destroy", |c, ()| async move {
            c.destroy();
            Ok(())
        });
    let seen = events.clone();
    let broken = actor::<()>("broken")
        .database(
            Database::new(|_| Err(ActorError::internal("forced migrate failure")))
                .observe(move |_, event| seen.lock().push(event)),
        )
        .action("ping", |_, ()| async move { Ok("pong") });
    let plain = actor::<()>("plain").action("useDb", |c, ()| async move {
        c.db()?.execute("SELECT 1", []).await
    });
    Registry::new()
        .register(notes)
        .register(broken)
        .register(plain)
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<SqliteBackend>,
    runtime: Arc<Runtime>,
    events: Events,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteBackend::open(dir.path()).unwrap());
    let events = Events::default();
    let runtime = Runtime::new(notes_registry(&events), store.clone());
    Setup {
        _dir: dir,
        store,
        runtime,
        events,
    }
}

impl Setup {
    async fn actor(&self, name: &str) -> String {
        let (record, _) = self
            .runtime
            .get_or_create("default", name, "k", None)
            .await
            .unwrap();
        record.actor_id.clone()
    }

    async fn call(&self, actor_id: &str, action: &str, args: Vec<Value>) -> Result<Value, String> {
        let active = self
            .runtime
            .instance(actor_id)
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(
            Duration::from_secs(10),
            active
                .instance()
                .call_stateless(Value::Null, None, action.into(), args),
        )
        .await
        .expect("answered in time")
        .map_err(|e| e.to_string())
    }

    /// Asks the actor to stop with `action` and waits until it has.
    async fn stop(&self, actor_id: &str, action: &str) {
        let instance = self.runtime.instance(actor_id).await.unwrap().instance();
        self.call(actor_id, action, vec![]).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), instance.activity().stopped())
            .await
            .expect("stopped in time");
    }

    fn events(&self) -> Vec<DbEvent> {
        self.events.lock().clone()
    }
}

use DbEvent::{Closed, Migrated, Opened};

#[tokio::test]
async fn the_database_survives_sleep_and_is_deleted_on_destroy() {
    let t = setup();
    let id = t.actor("notes").await;
    assert_eq!(t.call(&id, "add", vec![json!("kept")]).await, Ok(json!(1)));
    let file = t.store.actor_store(&id).database_file().unwrap();
    assert!(file.exists());

    t.stop(&id, "sleep").await;
    assert_eq!(t.events(), [Opened, Migrated, Closed]);

    let rows = t
        .call(&id, "run", vec![json!("SELECT body FROM notes"), json!([])])
        .await;
    assert_eq!(rows, Ok(json!([{ "body": "kept" }])), "woken with its data");
    assert_eq!(t.events(), [Opened, Migrated, Closed, Opened, Migrated]);

    t.stop(&id, "destroy").await;
    assert_eq!(t.events().last(), Some(&Closed));
    assert!(!file.exists(), "the file goes with the actor");

    let recreated = t.actor("notes").await;
    assert_ne!(recreated, id);
    let rows = t
        .call(
            &recreated,
            "run",
            vec![json!("SELECT * FROM notes"), json!([])],
        )
        .await;
    assert_eq!(
        rows,
        Ok(json!([])),
        "a new actor under the same key starts empty"
    );
}

#[tokio::test]
async fn a_backend_without_actor_databases_refuses_such_actors_clearly() {
    let events = Events::default();
    let runtime = Runtime::new(notes_registry(&events), Arc::new(MemoryBackend::new()));
    let (record, _) = runtime
        .get_or_create("default", "notes", "k", None)
        .await
        .unwrap();
    let error = runtime.instance(&record.actor_id).await.err().unwrap();
    assert!(
        error.to_string().contains("offers no actor databases"),
        "{error}"
    );
    assert!(events.lock().is_empty(), "nothing was opened");
}

#[tokio::test]
async fn a_failing_migration_fails_the_start_and_closes_the_file() {
    let t = setup();
    let id = t.actor("broken").await;
    assert!(t.call(&id, "ping", vec![]).await.is_err());
    assert_eq!(t.events(), [Opened, Closed]);
    // Nothing is left half-started: the next request tries again from scratch.
    assert!(t.call(&id, "ping", vec![]).await.is_err());
    assert_eq!(t.events(), [Opened, Closed, Opened, Closed]);
}

#[tokio::test]
async fn execute_runs_statement_lists_with_their_parameters() {
    let t = setup();
    let id = t.actor("notes").await;
    let run = |sql: &str, params: Value| t.call(&id, "run", vec![json!(sql), params]);

    // Each statement takes as many parameters as it has placeholders; the last one's rows come
    // back.
    let rows = run(
        "BEGIN; INSERT INTO notes (body) VALUES (?); \
         UPDATE notes SET body = body || ? WHERE id = last_insert_rowid(); COMMIT; \
         SELECT id, body FROM notes",
        json!(["a", "-updated"]),
    )
    .await;
    assert_eq!(rows, Ok(json!([{ "id": 1, "body": "a-updated" }])));

    // A failure inside a transaction the call began rolls it back.
    let failed = run(
        "BEGIN; INSERT INTO notes (body) VALUES ('lost'); INSERT INTO missing VALUES (1); COMMIT",
        json!([]),
    )
    .await;
    assert!(failed.is_err());
    assert_eq!(
        run("SELECT count(*) AS n FROM notes", json!([])).await,
        Ok(json!([{ "n": 1 }]))
    );

    // Values map both ways; parameters must match the placeholders.
    assert_eq!(
        run(
            "SELECT ? AS i, ? AS r, ? AS t, ? AS n, ? AS b, x'0102' AS blob",
            json!([7, 1.5, "x", null, true])
        )
        .await,
        Ok(json!([{ "i": 7, "r": 1.5, "t": "x", "n": null, "b": 1, "blob": [1, 2] }]))
    );
    assert!(run("SELECT ?", json!([])).await.is_err());
    assert!(run("SELECT 1", json!([1])).await.is_err());

    let plain = t.actor("plain").await;
    let error = t.call(&plain, "useDb", vec![]).await.unwrap_err();
    assert!(error.contains("database is not enabled"), "{error}");
}

/// Real SQLite failures of an actor's database reach the caller as `storage/full` and
/// `storage/unavailable`, not as a masked internal error, and the failed write was not made.
#[tokio::test]
async fn a_full_or_read_only_database_answers_storage_errors() {
    let setup = setup();
    let id = setup.actor("notes").await;
    let run = |sql: &str| {
        let sql = json!(sql);
        let setup = &setup;
        let id = id.clone();
        async move { setup.call(&id, "run", vec![sql, json!([])]).await }
    };
    run("INSERT INTO notes (body) VALUES ('kept')")
        .await
        .unwrap();

    // SQLITE_FULL: a page limit (clamped to the current size) the next write exceeds.
    run("PRAGMA max_page_count = 1").await.unwrap();
    let error = run("INSERT INTO notes (body) VALUES (zeroblob(1000000))")
        .await
        .unwrap_err();
    assert!(error.starts_with("storage.full: "), "{error}");
    run("PRAGMA max_page_count = 1073741823").await.unwrap();

    // SQLITE_READONLY.
    run("PRAGMA query_only = 1").await.unwrap();
    let error = run("INSERT INTO notes (body) VALUES ('refused')")
        .await
        .unwrap_err();
    assert!(error.starts_with("storage.unavailable: "), "{error}");
    run("PRAGMA query_only = 0").await.unwrap();

    let count = run("SELECT count(*) AS n FROM notes").await.unwrap();
    assert_eq!(count, json!([{ "n": 1 }]));
}
