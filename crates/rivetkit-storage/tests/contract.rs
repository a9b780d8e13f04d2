//! The backend contract: what every [`Backend`] must do, run against each backend (`sqlite::…`
//! and `memory::…`): the directory's promises here, each actor store's in
//! `rivetkit_storage::contract` (which `rivetkit-engine` runs on the engine's KV too); then what
//! only the SQLite backend promises (`sqlite_…`: reopening, the dir lock, actor database files).

use std::sync::Arc;

use rivetkit_storage::{
    contract, ActorRecord, ActorStore, Backend, Directory, ErrorKind, Inserted, SqliteBackend,
};

fn record(id: &str, key: &str) -> ActorRecord {
    ActorRecord {
        actor_id: id.into(),
        namespace: "default".into(),
        name: "counter".into(),
        key: key.into(),
        create_ts: 1,
        input: Some(vec![7]),
    }
}

/// Puts actors with these ids in the directory: an actor's store belongs to an actor there.
async fn create(backend: &dyn Backend, ids: &[&str]) {
    for id in ids {
        backend.directory().insert(record(id, id)).await.unwrap();
    }
}

/// Saves a state and writes a KV entry, an alarm and a queued message.
async fn write_one_of_each(store: &dyn ActorStore) {
    store.save_state(b"{}".to_vec()).await.unwrap();
    store
        .kv_set(b"k".to_vec(), Some(b"v".to_vec()))
        .await
        .unwrap();
    store
        .add_alarm(1, "tick".into(), b"[]".to_vec())
        .await
        .unwrap();
    store
        .queue_push("x".into(), b"1".to_vec(), 1)
        .await
        .unwrap();
}

async fn keys_are_unique_per_namespace_and_name(backend: Arc<dyn Backend>) {
    let directory = backend.directory();
    assert_eq!(
        directory.insert(record("a", "k")).await.unwrap(),
        Inserted::New(record("a", "k"))
    );
    assert_eq!(
        directory.insert(record("b", "k")).await.unwrap(),
        Inserted::Existing(record("a", "k"))
    );
    let other_namespace = ActorRecord {
        namespace: "other".into(),
        ..record("c", "k")
    };
    assert!(matches!(
        directory.insert(other_namespace).await.unwrap(),
        Inserted::New(_)
    ));
    assert_eq!(directory.by_id("a").await.unwrap(), Some(record("a", "k")));
    assert_eq!(directory.by_id("b").await.unwrap(), None);
    assert_eq!(
        directory.by_key("default", "counter", "k").await.unwrap(),
        Some(record("a", "k"))
    );
    assert_eq!(
        directory.by_key("default", "chat", "k").await.unwrap(),
        None
    );
}

async fn listing_is_oldest_first_and_limited(backend: Arc<dyn Backend>) {
    let directory = backend.directory();
    for (id, ts) in [("b", 2), ("a", 1), ("c", 3)] {
        let record = ActorRecord {
            create_ts: ts,
            ..record(id, id)
        };
        directory.insert(record).await.unwrap();
    }
    let ids = |records: Vec<ActorRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.actor_id).collect()
    };
    assert_eq!(
        ids(directory.list("default", "counter", 10).await.unwrap()),
        ["a", "b", "c"]
    );
    assert_eq!(
        ids(directory.list("default", "counter", 2).await.unwrap()),
        ["a", "b"]
    );
    assert!(directory
        .list("default", "chat", 10)
        .await
        .unwrap()
        .is_empty());
}

/// Stores of two new actors of the directory per check.
struct NewActors(Arc<dyn Backend>);

impl contract::FreshStores for NewActors {
    async fn fresh(&mut self, tag: &'static str) -> contract::Stores {
        let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
        create(&*self.0, &[&a, &b]).await;
        contract::Stores {
            a: self.0.actor_store(&a),
            b: self.0.actor_store(&b),
            again: self.0.actor_store(&a),
            a_id: a,
        }
    }
}

/// The per-actor store checks every backend passes (`rivetkit_storage::contract`).
async fn actor_stores_keep_the_contract(backend: Arc<dyn Backend>) {
    contract::run_all(&mut NewActors(backend)).await;
}

async fn all_alarms_are_every_actors_soonest_first(backend: Arc<dyn Backend>) {
    create(&*backend, &["a", "b"]).await;
    let (a, b) = (backend.actor_store("a"), backend.actor_store("b"));
    let late = a
        .add_alarm(20, "tick".into(), b"[]".to_vec())
        .await
        .unwrap();
    let early = a
        .add_alarm(10, "tick".into(), b"[1]".to_vec())
        .await
        .unwrap();
    let other = b
        .add_alarm(15, "tock".into(), b"[]".to_vec())
        .await
        .unwrap();
    let ids: Vec<i64> = backend
        .all_alarms()
        .await
        .unwrap()
        .into_iter()
        .map(|alarm| alarm.alarm_id)
        .collect();
    assert_eq!(ids, [early, other, late]);
}

async fn destroy_removes_everything_and_frees_the_key(backend: Arc<dyn Backend>) {
    let directory = backend.directory();
    directory.insert(record("a", "k")).await.unwrap();
    let store = backend.actor_store("a");
    write_one_of_each(&*store).await;
    create(&*backend, &["b"]).await;
    let survivor = backend.actor_store("b");
    survivor.save_state(b"{}".to_vec()).await.unwrap();

    directory.destroy("a".into()).await.unwrap();
    assert_eq!(directory.by_id("a").await.unwrap(), None);
    assert_eq!(store.load_state().await.unwrap(), None);
    assert!(store.kv_list(b"").await.unwrap().is_empty());
    assert!(store.alarms().await.unwrap().is_empty());
    assert!(store.queue_load().await.unwrap().is_empty());
    assert_eq!(survivor.load_state().await.unwrap(), Some(b"{}".to_vec()));
    assert_eq!(
        directory.insert(record("b2", "k")).await.unwrap(),
        Inserted::New(record("b2", "k")),
        "the key is free again"
    );
}

async fn concurrent_writes_are_all_answered(backend: Arc<dyn Backend>) {
    let writes = (0..200).map(|i| {
        let backend = backend.clone();
        async move {
            let id = format!("id{i}");
            backend
                .directory()
                .insert(record(&id, &format!("k{i}")))
                .await
                .unwrap();
            backend
                .actor_store(&id)
                .save_state(vec![i as u8])
                .await
                .unwrap();
        }
    });
    futures::future::join_all(writes).await;
    let listed = backend
        .directory()
        .list("default", "counter", 1000)
        .await
        .unwrap();
    assert_eq!(listed.len(), 200);
    assert_eq!(
        backend.actor_store("id199").load_state().await.unwrap(),
        Some(vec![199])
    );
}

/// Runs each contract test once per backend, each on a fresh one.
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$test(std::sync::Arc::new(
                        rivetkit_storage::SqliteBackend::open(dir.path()).unwrap(),
                    ))
                    .await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(std::sync::Arc::new(rivetkit_storage::MemoryBackend::new())).await;
                }
            )*
        }
    };
}

contract!(
    keys_are_unique_per_namespace_and_name,
    listing_is_oldest_first_and_limited,
    actor_stores_keep_the_contract,
    all_alarms_are_every_actors_soonest_first,
    destroy_removes_everything_and_frees_the_key,
    concurrent_writes_are_all_answered,
);

/// SQLite only: what was written is there after the backend is closed and opened again.
#[tokio::test]
async fn sqlite_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let backend = SqliteBackend::open(dir.path()).unwrap();
        backend.insert(record("a", "k")).await.unwrap();
        write_one_of_each(&*backend.actor_store("a")).await;
    }
    let backend = SqliteBackend::open(dir.path()).unwrap();
    assert_eq!(backend.initial_actor_count(), 1);
    assert_eq!(backend.by_id("a").await.unwrap(), Some(record("a", "k")));
    let store = backend.actor_store("a");
    assert_eq!(store.load_state().await.unwrap(), Some(b"{}".to_vec()));
    assert_eq!(store.kv_get(b"k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(backend.all_alarms().await.unwrap().len(), 1);
    assert_eq!(store.queue_load().await.unwrap().len(), 1);
}

/// SQLite only.
#[tokio::test]
async fn sqlite_opens_a_dir_in_one_backend_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(dir.path()).unwrap();
    let clone = backend.clone();
    drop(backend);
    // A clone still holds the dir.
    let error = SqliteBackend::open(dir.path())
        .err()
        .expect("a second backend opened");
    assert_eq!(error.kind(), ErrorKind::Conflict);
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()) && message.contains("in use"),
        "{message}"
    );
    // Once the last clone is gone the dir opens again, with what it wrote.
    clone.insert(record("a", "k")).await.unwrap();
    drop(clone);
    let backend = SqliteBackend::open(dir.path()).unwrap();
    assert_eq!(backend.by_id("a").await.unwrap(), Some(record("a", "k")));
}

/// SQLite only.
#[tokio::test]
async fn sqlite_actor_databases_live_under_the_data_dir_and_go_with_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(dir.path()).unwrap();
    let path = backend.actor_store("0a1b").database_file().unwrap();
    assert_eq!(path, dir.path().join("actors").join("0a1b.sqlite"));
    let odd = backend.actor_store("../x").database_file().unwrap();
    assert_eq!(odd.parent(), path.parent(), "no id escapes the folder");

    backend.insert(record("0a1b", "k")).await.unwrap();
    for file in ["0a1b.sqlite", "0a1b.sqlite-wal"] {
        std::fs::write(dir.path().join("actors").join(file), b"x").unwrap();
    }
    backend.destroy("0a1b".into()).await.unwrap();
    assert!(!path.exists());
    assert!(!dir.path().join("actors/0a1b.sqlite-wal").exists());
    // An actor that never had a database is destroyed all the same.
    backend.insert(record("c", "k2")).await.unwrap();
    backend.destroy("c".into()).await.unwrap();
}
