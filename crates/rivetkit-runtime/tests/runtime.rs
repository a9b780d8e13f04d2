//! The runtime's promises, checked through its public API over a real SQLite store:
//! actions interleave at await points, nothing leaves before the state it depends on is durable,
//! and racing creators of one key get one actor.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backing, GatedBackend};
use rivetkit_protocol::Value;
use rivetkit_runtime::{actor, Outgoing, Registry, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

#[derive(Serialize, Deserialize, Default)]
struct Count {
    count: i64,
}

fn counter_registry() -> Registry {
    let counter = actor::<Count>("counter")
        .vars(Notify::new)
        .action("increment", |c, (x,): (i64,)| async move {
            let count = c.update(|s| {
                s.count += x;
                s.count
            });
            c.broadcast("count", (count,));
            Ok(count)
        })
        .action("waitForRelease", |c, ()| async move {
            c.vars().notified().await;
            Ok("released")
        })
        .action("release", |c, ()| async move {
            c.vars().notify_waiters();
            Ok(())
        });
    Registry::new().register(counter)
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("finished in time")
}

async fn an_awaiting_action_does_not_block_the_next_one_on_the_same_connection(backing: Backing) {
    let runtime = Runtime::new(counter_registry(), backing.open().await);
    let (record, _) = runtime
        .get_or_create("default", "counter", "a", None)
        .await
        .unwrap();
    let instance = runtime.instance(&record.actor_id).await.unwrap().instance();
    let mut conn = instance.connect(Value::Null, None).await.unwrap();

    conn.spawn_action(0, "waitForRelease".into(), vec![]);
    // Give the first action time to park on its await point before the second one runs.
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.spawn_action(1, "release".into(), vec![]);

    let mut answered = Vec::new();
    while answered.len() < 2 {
        match within(conn.next_outgoing()).await.unwrap() {
            Outgoing::ActionResponse { id, result } => answered.push((id, result.unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    answered.sort_by_key(|(id, _)| *id);
    assert_eq!(answered, vec![(0, json!("released")), (1, Value::Null)]);
}

async fn responses_and_events_wait_until_the_change_is_durable(backing: Backing) {
    let saves = Arc::new(Semaphore::new(0));
    let store = GatedBackend {
        inner: backing.open().await,
        saves: saves.clone(),
        save_failure: Default::default(),
    };
    let runtime = Runtime::new(counter_registry(), Arc::new(store));
    let (record, _) = runtime
        .get_or_create("default", "counter", "gated", None)
        .await
        .unwrap();
    let starting = tokio::spawn({
        let runtime = runtime.clone();
        let id = record.actor_id.clone();
        async move { runtime.instance(&id).await.map(|_| ()) }
    });
    saves.add_permits(1); // the initial state of a new actor
    within(starting).await.unwrap().unwrap();

    let active = runtime.instance(&record.actor_id).await.unwrap();
    let mut conn = active.instance().connect(Value::Null, None).await.unwrap();
    conn.set_subscription("count", true);
    conn.spawn_action(0, "increment".into(), vec![json!(2)]);

    // The save is held back: neither the event nor the response may come out.
    let early = tokio::time::timeout(Duration::from_millis(200), conn.next_outgoing()).await;
    assert!(
        early.is_err(),
        "something left before the change was durable: {early:?}"
    );

    saves.add_permits(1);
    let mut got_event = false;
    let mut got_response = false;
    while !(got_event && got_response) {
        match within(conn.next_outgoing()).await.unwrap() {
            Outgoing::Event(event) => {
                assert_eq!(
                    (event.name.as_str(), &event.args),
                    ("count", &vec![json!(2)])
                );
                got_event = true;
            }
            Outgoing::ActionResponse { id: 0, result } => {
                assert_eq!(result.unwrap(), json!(2));
                got_response = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // What was acknowledged is what a fresh runtime on the same database loads.
    drop((conn, active));
    saves.add_permits(Semaphore::MAX_PERMITS - saves.available_permits());
    runtime.sleep_all().await;
    drop(runtime);
    let reopened = Runtime::new(counter_registry(), backing.open().await);
    let reloaded = reopened.instance(&record.actor_id).await.unwrap();
    let count = reloaded
        .instance()
        .call_action(None, "increment".into(), vec![json!(0)])
        .await
        .unwrap();
    assert_eq!(count, json!(2));
}

async fn racing_creators_of_one_key_get_one_actor(backing: Backing) {
    let runtime = Runtime::new(counter_registry(), backing.open().await);
    let racers = (0..16).map(|_| {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            runtime
                .get_or_create("default", "counter", "same", None)
                .await
                .unwrap()
        })
    });
    let results = futures::future::join_all(racers).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|result| result.as_ref().unwrap().0.actor_id.clone())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        results
            .iter()
            .filter(|result| result.as_ref().unwrap().1)
            .count(),
        1,
        "exactly one creator"
    );

    let error = runtime
        .create("default", "counter", "same", None)
        .await
        .unwrap_err();
    assert_eq!((error.group(), error.code()), ("actor", "duplicate_key"));
    let error = runtime
        .get_or_create("default", "nobody", "k", None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
}

async fn an_answer_waits_until_the_events_its_action_sent_to_one_connection_are_written(
    backing: Backing,
) {
    let whisperer = actor::<Count>("whisperer")
        .action("whisper", |c, (to,): (String,)| async move {
            c.send_to(&to, "whisper", ("psst",))
        });
    let runtime = Runtime::new(Registry::new().register(whisperer), backing.open().await);
    let record = runtime
        .get_or_create("default", "whisperer", "w", None)
        .await
        .unwrap()
        .0;
    let active = runtime.instance(&record.actor_id).await.unwrap();
    let mut sender = active.instance().connect(Value::Null, None).await.unwrap();
    let mut peer = active.instance().connect(Value::Null, None).await.unwrap();
    sender.spawn_action(0, "whisper".into(), vec![json!(peer.id())]);

    let Outgoing::Event(event) = within(peer.next_outgoing()).await.unwrap() else {
        panic!("the peer gets the event first");
    };
    // Until the peer's transport says the event is on its socket, the sender hears nothing.
    let early = tokio::time::timeout(Duration::from_millis(200), sender.next_outgoing()).await;
    assert!(
        early.is_err(),
        "answered before the event was written: {early:?}"
    );
    event.mark_written();
    match within(sender.next_outgoing()).await.unwrap() {
        Outgoing::ActionResponse { id: 0, result } => assert_eq!(result.unwrap(), json!(true)),
        other => panic!("unexpected {other:?}"),
    }
}

/// A state save that meets a full or failing disk answers the action with `storage/full` or
/// `storage/unavailable` (public, 503), not a masked internal error; once the disk recovers,
/// the actor goes on from its last acknowledged state.
async fn a_failed_save_answers_a_storage_error(backing: Backing) {
    let store = GatedBackend {
        inner: backing.open().await,
        saves: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
        save_failure: Default::default(),
    };
    let save_failure = store.save_failure.clone();
    let runtime = Runtime::new(counter_registry(), Arc::new(store));
    let (record, _) = runtime
        .get_or_create("default", "counter", "disk", None)
        .await
        .unwrap();
    let increment = |x: i64| {
        let runtime = runtime.clone();
        let id = record.actor_id.clone();
        async move {
            let active = runtime.instance(&id).await.unwrap();
            within(active.instance().call_stateless(
                Value::Null,
                None,
                "increment".into(),
                vec![json!(x)],
            ))
            .await
        }
    };
    assert_eq!(increment(1).await.unwrap(), json!(1));
    for (failure, code) in [
        (rivetkit_storage::Failure::Full, "full"),
        (rivetkit_storage::Failure::Unavailable, "unavailable"),
    ] {
        *save_failure.lock() = Some(failure);
        let error = increment(1).await.unwrap_err();
        assert_eq!((error.group(), error.code()), ("storage", code), "{error}");
        assert!(error.is_public());
        assert_eq!(error.status(), 503);
        *save_failure.lock() = None;
    }
    // The two refused increments were not made.
    assert_eq!(increment(1).await.unwrap(), json!(2));
}

async fn the_directory_cache_forgets_sleeping_actors_past_its_limit(backing: Backing) {
    let runtime = Runtime::new(counter_registry(), backing.open().await);
    runtime.set_directory_cache_limit(10);
    // One actor awake: its record stays, whatever the limit.
    let (awake, _) = runtime
        .get_or_create("default", "counter", "awake", None)
        .await
        .unwrap();
    let instance = runtime.instance(&awake.actor_id).await.unwrap();
    let increment = || {
        within(instance.instance().call_stateless(
            Value::Null,
            None,
            "increment".into(),
            vec![json!(1)],
        ))
    };
    increment().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..50 {
        let (record, created) = runtime
            .get_or_create("default", "counter", &format!("asleep-{i}"), None)
            .await
            .unwrap();
        assert!(created);
        ids.push(record.actor_id.clone());
        // The limit's 10 sleeping actors and the awake one.
        assert!(
            runtime.cached_actor_records() <= 11,
            "{} records cached after {} creations",
            runtime.cached_actor_records(),
            i + 2
        );
    }
    // Forgotten records are read from the directory again: same actors, nothing created.
    for (i, id) in ids.iter().enumerate() {
        let (record, created) = runtime
            .get_or_create("default", "counter", &format!("asleep-{i}"), None)
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(&record.actor_id, id);
        assert_eq!(runtime.find_by_id(id).await.unwrap().unwrap().actor_id, *id);
    }
    assert!(runtime.cached_actor_records() <= 11);
    // The awake actor was never forgotten: it answers with its state as it was.
    assert_eq!(increment().await.unwrap(), json!(2));
    assert_eq!(
        runtime
            .find_by_key("default", "counter", "awake")
            .await
            .unwrap()
            .unwrap()
            .actor_id,
        awake.actor_id
    );
    // More actors awake than the limit: their records stay while they are awake, and go as
    // they fall asleep, with no lookup to trigger it.
    for i in 0..30 {
        let (record, _) = runtime
            .get_or_create("default", "counter", &format!("woken-{i}"), None)
            .await
            .unwrap();
        runtime.instance(&record.actor_id).await.unwrap();
    }
    assert!(runtime.cached_actor_records() >= 31);
    // The handle held since the start keeps the first actor busy: it must not hold its sleep.
    drop(instance);
    runtime.sleep_all().await;
    assert!(
        runtime.cached_actor_records() <= 10,
        "{} records cached once every actor slept",
        runtime.cached_actor_records()
    );
}

on_every_backend!(
    async [an_awaiting_action_does_not_block_the_next_one_on_the_same_connection, responses_and_events_wait_until_the_change_is_durable, racing_creators_of_one_key_get_one_actor, an_answer_waits_until_the_events_its_action_sent_to_one_connection_are_written, a_failed_save_answers_a_storage_error, the_directory_cache_forgets_sleeping_actors_past_its_limit]
    blocking []
);
