//! What every [`ActorStore`] must do, as checks any backend's tests run on stores of its own
//! (feature `contract`): this crate's SQLite and in-memory backends, and backends living in
//! other crates, such as the Rivet Engine's per-actor KV, which needs a running engine.
//!
//! Each check takes the stores of two fresh actors, `a` and `b`, which must hold nothing yet,
//! and `again`, a second handle on `a`'s storage. Checks panic on the first broken promise.

use std::sync::Arc;

use crate::{ActorStore, Alarm, QueuedMessage};

/// Two fresh actors' stores and a second handle on the first one's.
pub struct Stores {
    /// The first actor's store.
    pub a: Arc<dyn ActorStore>,
    /// The second actor's store.
    pub b: Arc<dyn ActorStore>,
    /// Another handle on the first actor's storage (what the next start of `a` would get).
    pub again: Arc<dyn ActorStore>,
    /// The first actor's id, as its alarms name it.
    pub a_id: String,
}

/// State and KV entries belong to one actor; prefixes are literal bytes; a deleted entry is
/// gone; a second handle sees the same data.
pub async fn state_and_kv_are_per_actor(stores: &Stores) {
    let Stores { a, b, again, .. } = stores;
    assert_eq!(a.load_state().await.unwrap(), None);
    a.save_state(b"1".to_vec()).await.unwrap();
    a.save_state(b"2".to_vec()).await.unwrap();
    assert_eq!(a.load_state().await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(b.load_state().await.unwrap(), None);
    assert_eq!(again.load_state().await.unwrap(), Some(b"2".to_vec()));

    for (key, value) in [("p%1", "x"), ("p_2", "y"), ("q", "z")] {
        a.kv_set(key.into(), Some(value.into())).await.unwrap();
    }
    b.kv_set(b"p%9".to_vec(), Some(b"other".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        a.kv_list(b"p%").await.unwrap(),
        vec![(b"p%1".to_vec(), b"x".to_vec())],
        "no wildcards in prefixes, no other actor's keys"
    );
    let keys: Vec<Vec<u8>> = a
        .kv_list(b"")
        .await
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        keys,
        [b"p%1".to_vec(), b"p_2".to_vec(), b"q".to_vec()],
        "in key order"
    );
    a.kv_set(b"q".to_vec(), None).await.unwrap();
    assert_eq!(a.kv_get(b"q").await.unwrap(), None);
    assert_eq!(a.kv_get(b"p_2").await.unwrap(), Some(b"y".to_vec()));
    assert_eq!(again.kv_get(b"p_2").await.unwrap(), Some(b"y".to_vec()));
    assert_eq!(b.kv_get(b"p_2").await.unwrap(), None);
}

/// An actor's alarms are listed soonest first, with what was stored, and only its own.
pub async fn alarms_are_soonest_first(stores: &Stores) {
    let Stores { a, b, again, a_id } = stores;
    let late = a
        .add_alarm(20, "tick".into(), b"[]".to_vec())
        .await
        .unwrap();
    let early = a
        .add_alarm(10, "tick".into(), b"[1]".to_vec())
        .await
        .unwrap();
    b.add_alarm(15, "tock".into(), b"[]".to_vec())
        .await
        .unwrap();
    let ids = |alarms: Vec<Alarm>| -> Vec<i64> {
        alarms.into_iter().map(|alarm| alarm.alarm_id).collect()
    };
    assert_eq!(ids(a.alarms().await.unwrap()), [early, late]);
    assert_eq!(ids(again.alarms().await.unwrap()), [early, late]);
    let stored = &a.alarms().await.unwrap()[0];
    assert_eq!(
        (
            stored.actor_id.as_str(),
            stored.fire_at,
            stored.action.as_str()
        ),
        (a_id.as_str(), 10, "tick")
    );
    assert_eq!(stored.args, b"[1]");
    a.delete_alarm(early).await.unwrap();
    assert_eq!(ids(a.alarms().await.unwrap()), [late]);
    assert_eq!(b.alarms().await.unwrap().len(), 1);
}

/// An actor's queue keeps send order across names, removes what is removed, and is its own.
pub async fn queues_keep_send_order(stores: &Stores) {
    let Stores { a, b, again, .. } = stores;
    let first = a.queue_push("x".into(), b"1".to_vec(), 5).await.unwrap();
    b.queue_push("x".into(), b"9".to_vec(), 5).await.unwrap();
    let second = a.queue_push("y".into(), b"2".to_vec(), 6).await.unwrap();
    assert!(first < second);
    let names = |messages: Vec<QueuedMessage>| -> Vec<String> {
        messages.into_iter().map(|m| m.name).collect()
    };
    assert_eq!(names(a.queue_load().await.unwrap()), ["x", "y"]);
    a.queue_remove(vec![first]).await.unwrap();
    let left = again.queue_load().await.unwrap();
    assert_eq!(names(left.clone()), ["y"]);
    assert_eq!(
        (left[0].body.as_slice(), left[0].created_at),
        (&b"2"[..], 6)
    );
    assert_eq!(b.queue_load().await.unwrap().len(), 1);
}

/// Many writes at once are all answered, and the last one of each kind wins.
pub async fn concurrent_writes_are_all_answered(stores: &Stores) {
    let Stores { a, again, .. } = stores;
    let writes = (0..100u8).map(|i| {
        let a = a.clone();
        async move {
            a.kv_set(vec![b'k', i], Some(vec![i])).await.unwrap();
        }
    });
    futures::future::join_all(writes).await;
    assert_eq!(again.kv_list(b"k").await.unwrap().len(), 100);
    for i in 0..50u8 {
        a.save_state(vec![i]).await.unwrap();
    }
    assert_eq!(again.load_state().await.unwrap(), Some(vec![49]));
}

/// Makes the stores each check runs on.
pub trait FreshStores {
    /// The stores of two new actors that hold nothing yet (`tag` tells the checks apart, for
    /// backends that name actors after it).
    fn fresh(&mut self, tag: &'static str) -> impl std::future::Future<Output = Stores>;
}

/// Runs every check above, each on stores `stores` makes fresh for it.
pub async fn run_all(stores: &mut impl FreshStores) {
    state_and_kv_are_per_actor(&stores.fresh("state-and-kv").await).await;
    alarms_are_soonest_first(&stores.fresh("alarms").await).await;
    queues_keep_send_order(&stores.fresh("queues").await).await;
    concurrent_writes_are_all_answered(&stores.fresh("concurrent").await).await;
}
