//! A save of an actor's state that the store refuses (a full or read-only disk): the client is
//! told the write was not made, and it never is — not by a later save, not through an action
//! that was in flight, not as an event — while reads go on working, even as the store keeps
//! refusing writes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backing, GatedBackend};
use rivetkit_protocol::Value;
use rivetkit_runtime::{actor, ActorError, Outgoing, Registry, Runtime};
use rivetkit_storage::Failure;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

#[derive(Serialize, Deserialize, Default)]
struct Count {
    count: i64,
}

const KV_KEY: &[u8] = b"last";

/// A counter whose `addThenWrite` adds, waits for `proceed`, then writes the count to its KV.
fn counter_registry(proceed: Arc<Notify>) -> Registry {
    let counter = actor::<Count>("counter")
        .action("increment", |c, (x,): (i64,)| async move {
            let count = c.update(|s| {
                s.count += x;
                s.count
            });
            c.broadcast("count", (count,));
            Ok(count)
        })
        .action("get", |c, ()| async move { Ok(c.state(|s| s.count)) })
        .action("addThenWrite", move |c, (x,): (i64,)| {
            let proceed = proceed.clone();
            async move {
                let count = c.update(|s| {
                    s.count += x;
                    s.count
                });
                proceed.notified().await;
                c.kv().put(KV_KEY, count.to_string()).await?;
                Ok(count)
            }
        });
    Registry::new().register(counter)
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("finished in time")
}

/// A runtime over a store that fails saves on demand, with one counter actor.
struct Fixture {
    store: Arc<GatedBackend>,
    runtime: Arc<Runtime>,
    actor_id: String,
    proceed: Arc<Notify>,
}

impl Fixture {
    async fn new(backing: &Backing) -> Self {
        let store = Arc::new(GatedBackend {
            inner: backing.open().await,
            saves: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            save_failure: Default::default(),
        });
        let proceed = Arc::new(Notify::new());
        let runtime = Runtime::new(counter_registry(proceed.clone()), store.clone());
        let (record, _) = runtime
            .get_or_create("default", "counter", "faults", None)
            .await
            .unwrap();
        Self {
            store,
            runtime,
            actor_id: record.actor_id.clone(),
            proceed,
        }
    }

    fn fail_saves(&self, failure: Option<Failure>) {
        *self.store.save_failure.lock() = failure;
    }

    /// A stateless call, on whichever instance is running (or a fresh one).
    async fn call(&self, action: &str, args: Vec<Value>) -> Result<Value, ActorError> {
        let active = within(self.runtime.instance(&self.actor_id)).await?;
        within(
            active
                .instance()
                .call_stateless(Value::Null, None, action.into(), args),
        )
        .await
    }

    /// The count as saved: what a restarted server would load.
    async fn saved_count(&self) -> i64 {
        let bytes = self
            .store
            .inner
            .actor_store(&self.actor_id)
            .load_state()
            .await
            .unwrap()
            .expect("the actor has a saved state");
        serde_json::from_slice::<Count>(&bytes).unwrap().count
    }

    /// The count in the memory of the running instance.
    async fn count_in_memory(&self) -> i64 {
        let active = within(self.runtime.instance(&self.actor_id)).await.unwrap();
        active.instance().inspector().state_json().unwrap()["count"]
            .as_i64()
            .unwrap()
    }
}

fn assert_storage_error(result: Result<Value, ActorError>, code: &str) {
    let error = result.expect_err("the write was refused");
    assert_eq!((error.group(), error.code()), ("storage", code), "{error}");
    assert_eq!(error.status(), 503);
}

async fn a_refused_write_is_never_made_later(backing: Backing) {
    let fixture = Fixture::new(&backing).await;
    assert_eq!(
        fixture.call("increment", vec![json!(1)]).await.unwrap(),
        json!(1)
    );
    fixture.fail_saves(Some(Failure::Full));
    for _ in 0..3 {
        assert_storage_error(fixture.call("increment", vec![json!(100)]).await, "full");
    }
    fixture.fail_saves(None);
    // Accepted once there is room again: on top of the last acknowledged state only.
    assert_eq!(
        fixture.call("increment", vec![json!(1)]).await.unwrap(),
        json!(2)
    );
    assert_eq!(fixture.saved_count().await, 2);
}

async fn reads_work_after_a_refused_write_while_the_store_still_refuses(backing: Backing) {
    let fixture = Fixture::new(&backing).await;
    assert_eq!(
        fixture.call("increment", vec![json!(5)]).await.unwrap(),
        json!(5)
    );
    for (failure, code) in [
        (Failure::Full, "full"),
        (Failure::Unavailable, "unavailable"),
    ] {
        fixture.fail_saves(Some(failure));
        assert_storage_error(fixture.call("increment", vec![json!(1)]).await, code);
        for _ in 0..3 {
            assert_eq!(fixture.call("get", vec![]).await.unwrap(), json!(5));
            // Writes are still refused, and each refusal leaves reads working.
            assert_storage_error(fixture.call("increment", vec![json!(1)]).await, code);
        }
    }
    fixture.fail_saves(None);
    assert_eq!(fixture.call("get", vec![]).await.unwrap(), json!(5));
    assert_eq!(fixture.saved_count().await, 5);
}

/// Actions whose changes were in memory when a save failed are all refused, also one still
/// running then: it may not be acknowledged by a later save, nor write what it derived from
/// the lost change elsewhere (its KV).
async fn no_concurrent_action_in_the_lost_range_is_acknowledged(backing: Backing) {
    let fixture = Fixture::new(&backing).await;
    assert_eq!(
        fixture.call("increment", vec![json!(1)]).await.unwrap(),
        json!(1)
    );
    let in_flight = tokio::spawn({
        let runtime = fixture.runtime.clone();
        let id = fixture.actor_id.clone();
        async move {
            let active = runtime.instance(&id).await?;
            let call = active.instance().call_stateless(
                Value::Null,
                None,
                "addThenWrite".into(),
                vec![json!(10)],
            );
            call.await
        }
    });
    // Its change is in memory, not yet saved: it waits for `proceed`.
    while fixture.count_in_memory().await != 11 {
        tokio::task::yield_now().await;
    }
    // Hold saves back so that several actions are waiting on the one that fails.
    fixture.store.saves.forget_permits(Semaphore::MAX_PERMITS);
    fixture.fail_saves(Some(Failure::Full));
    let refused: Vec<_> = (0..3)
        .map(|_| {
            let runtime = fixture.runtime.clone();
            let id = fixture.actor_id.clone();
            tokio::spawn(async move {
                let active = runtime.instance(&id).await?;
                let call = active.instance().call_stateless(
                    Value::Null,
                    None,
                    "increment".into(),
                    vec![json!(100)],
                );
                call.await
            })
        })
        .collect();
    while fixture.count_in_memory().await != 311 {
        tokio::task::yield_now().await;
    }
    fixture.store.saves.add_permits(1);
    for call in refused {
        assert_storage_error(within(call).await.unwrap(), "full");
    }
    // The store recovers before the action in flight goes on.
    fixture.fail_saves(None);
    fixture.store.saves.add_permits(Semaphore::MAX_PERMITS);
    fixture.proceed.notify_waiters();
    assert_storage_error(within(in_flight).await.unwrap(), "full");

    assert_eq!(fixture.call("get", vec![]).await.unwrap(), json!(1));
    assert_eq!(
        fixture.call("increment", vec![json!(1)]).await.unwrap(),
        json!(2)
    );
    assert_eq!(fixture.saved_count().await, 2);
    assert_eq!(
        fixture
            .store
            .inner
            .actor_store(&fixture.actor_id)
            .kv_get(KV_KEY)
            .await
            .unwrap(),
        None
    );
}

/// What a connection was sent, as text, until (and with) the message `last` picks.
async fn received_until(
    conn: &mut rivetkit_runtime::Connection,
    last: impl Fn(&Outgoing) -> bool,
) -> Vec<String> {
    let mut received = Vec::new();
    loop {
        let outgoing = within(conn.next_outgoing())
            .await
            .expect("the connection is open");
        let done = last(&outgoing);
        received.push(match outgoing {
            Outgoing::Close(code, reason) => format!("close {code} {reason}"),
            Outgoing::Event(event) => format!("event {} {:?}", event.name, event.args),
            Outgoing::ActionResponse { id, result } => match result {
                Ok(value) => format!("response {id} {value}"),
                Err(error) => format!("response {id} {}/{}", error.group(), error.code()),
            },
            other => panic!("unexpected {other:?}"),
        });
        if done {
            return received;
        }
    }
}

async fn events_of_a_refused_change_are_never_delivered(backing: Backing) {
    let fixture = Fixture::new(&backing).await;
    let active = fixture.runtime.instance(&fixture.actor_id).await.unwrap();
    let mut conn = active.instance().connect(Value::Null, None).await.unwrap();
    drop(active);
    conn.set_subscription("count", true);
    conn.spawn_action(0, "increment".into(), vec![json!(1)]);
    let accepted = received_until(&mut conn, |outgoing| {
        matches!(outgoing, Outgoing::ActionResponse { .. })
    })
    .await;
    assert_eq!(accepted, ["event count [Number(1)]", "response 0 1"]);

    fixture.fail_saves(Some(Failure::Unavailable));
    conn.spawn_action(1, "increment".into(), vec![json!(100)]);
    // The instance is retired: all it sends this connection comes before it closes it.
    let refused = received_until(&mut conn, |outgoing| {
        matches!(outgoing, Outgoing::Close(..))
    })
    .await;
    assert_eq!(
        refused,
        [
            "response 1 storage/unavailable",
            "close 1000 actor.stopping"
        ]
    );
    assert_eq!(fixture.call("get", vec![]).await.unwrap(), json!(1));
}

on_every_backend!(
    async [a_refused_write_is_never_made_later, reads_work_after_a_refused_write_while_the_store_still_refuses, no_concurrent_action_in_the_lost_range_is_acknowledged, events_of_a_refused_change_are_never_delivered]
    blocking []
);
