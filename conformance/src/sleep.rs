//! actor-sleep: five actors with a 1 s sleep timeout that count their wakes and sleeps, and
//! what keeps them awake (long actions, raw requests, raw sockets, alarms, `no_sleep`).

use std::time::Duration;

use parking_lot::Mutex;
use rivetkit_rs::prelude::*;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const SLEEP_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Serialize, Deserialize, Default)]
struct Counts {
    #[serde(rename = "startCount")]
    start_count: i64,
    #[serde(rename = "sleepCount")]
    sleep_count: i64,
    #[serde(rename = "requestCount", skip_serializing_if = "Option::is_none")]
    request_count: Option<i64>,
    #[serde(rename = "connectionCount", skip_serializing_if = "Option::is_none")]
    connection_count: Option<i64>,
}

/// State, wake/sleep counting hooks, the sleep timeout and `getCounts`, shared by all five.
fn counting<V: Send + Sync + 'static>(actor: Actor<Counts, V>) -> Actor<Counts, V> {
    actor
        .sleep_timeout(SLEEP_TIMEOUT)
        .on_wake(|c| async move {
            c.update(|s| s.start_count += 1);
            Ok(())
        })
        .on_sleep(|c| async move {
            c.update(|s| s.sleep_count += 1);
            Ok(())
        })
        .action("getCounts", |c, ()| async move {
            Ok(c.state(|s| serde_json::to_value(s))?)
        })
}

fn with_counter(
    initial: fn(&mut Counts),
) -> impl Fn(Option<Value>) -> Counts + Send + Sync + 'static {
    move |_input| {
        let mut counts = Counts::default();
        initial(&mut counts);
        counts
    }
}

fn sleep_actor() -> Actor<Counts> {
    counting(actor::<Counts>("sleep"))
        .action("triggerSleep", |c, ()| async move {
            c.sleep();
            Ok(())
        })
        .action("setAlarm", |c, (duration,): (u64,)| async move {
            c.schedule_after(Duration::from_millis(duration), "onAlarm", ())
                .await?;
            Ok(())
        })
        // Only has to run: an alarm firing is what keeps the actor awake.
        .action("onAlarm", |_c, ()| async move { Ok(()) })
}

fn long_rpc_actor() -> Actor<Counts, Mutex<Option<oneshot::Sender<()>>>> {
    counting(actor::<Counts>("sleepWithLongRpc").vars(|| Mutex::new(None)))
        .action("longRunningRpc", |c, ()| async move {
            let (finish, finished) = oneshot::channel();
            *c.vars().lock() = Some(finish);
            c.broadcast("waiting", ());
            let _ = finished.await;
            Ok(())
        })
        .action("finishLongRunningRpc", |c, ()| async move {
            if let Some(finish) = c.vars().lock().take() {
                let _ = finish.send(());
            }
            Ok(())
        })
}

fn raw_http_actor() -> Actor<Counts> {
    counting(Actor::new(
        "sleepWithRawHttp",
        with_counter(|s| s.request_count = Some(0)),
    ))
    .on_request(|c, request: Request| async move {
        c.update(|s| *s.request_count.get_or_insert(0) += 1);
        if request.uri().path() != "/long-request" {
            return Ok(http::Response::builder()
                .status(404)
                .body(bytes::Bytes::from_static(b"Not Found"))?);
        }
        let duration = request
            .uri()
            .query()
            .and_then(|query| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("duration="))
            })
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(duration)).await;
        json_response(&json!({ "completed": true }))
    })
}

fn raw_websocket_actor() -> Actor<Counts> {
    counting(Actor::new(
        "sleepWithRawWebSocket",
        with_counter(|s| s.connection_count = Some(0)),
    ))
    .on_websocket(|c, mut socket: RawWebSocket| async move {
        let count = c.update(|s| {
            let count = s.connection_count.get_or_insert(0);
            *count += 1;
            *count
        });
        let sender = socket.sender();
        sender.send_text(json!({ "type": "connected", "connectionCount": count }).to_string());
        while let Some(message) = socket.recv().await {
            let WsMessage::Text(text) = message else {
                continue;
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(request) => match request["type"].as_str() {
                    Some("getCounts") => {
                        let mut counts = c.state(|s| serde_json::to_value(s))?;
                        counts["type"] = json!("counts");
                        sender.send_text(counts.to_string());
                    }
                    Some("keepAlive") => {
                        sender.send_text(json!({ "type": "ack" }).to_string());
                    }
                    _ => {}
                },
                Err(_) => {
                    sender.send_text(text);
                }
            }
        }
        c.update(|s| *s.connection_count.get_or_insert(0) -= 1);
        Ok(())
    })
}

fn no_sleep_actor() -> Actor<Counts> {
    counting(actor::<Counts>("sleepWithNoSleepOption")).no_sleep()
}

pub fn register(registry: Registry) -> Registry {
    registry
        .register(sleep_actor())
        .register(long_rpc_actor())
        .register(raw_http_actor())
        .register(raw_websocket_actor())
        .register(no_sleep_actor())
}
