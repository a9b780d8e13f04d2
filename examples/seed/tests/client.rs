//! The Rust client (`rivetkit_rs::client`) against the real `seed-server`, one test per section of
//! the client guide, each in json, cbor and bare; plus reconnection across SIGKILL and the
//! permanent failures that must stop a connection instead of retrying forever.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rivetkit_rs::client::{
    ActorError, Backoff, Client, ClientConfig, ConnStatus, Connection, CreateOptions, Encoding,
    Error, GetOrCreateOptions, Value, WsMessage,
};
use seed::{
    ChatParams, ChatRoom, ChatRoomActions, CountChanged, Counter, CounterActions, Game,
    GameActions, GameInput, GameOver, NewMessage, RoomInfo, User, UserActions,
};
use serde_json::json;
use support::{Server, ENCODINGS};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(10);

/// Fails the test instead of hanging when `future` does not finish in time.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

fn client(server: &Server, encoding: Encoding) -> Client {
    client_at(&server.url(""), encoding)
}

fn client_at(endpoint: &str, encoding: Encoding) -> Client {
    let mut config = ClientConfig::new(endpoint).encoding(encoding);
    // Short delays keep the reconnect tests quick; the schedule itself is unit-tested.
    config.reconnect = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    Client::new(config).unwrap()
}

/// A channel fed by a listener, read with a deadline.
struct Inbox<T>(mpsc::UnboundedReceiver<T>);

impl<T: std::fmt::Debug> Inbox<T> {
    fn new() -> (mpsc::UnboundedSender<T>, Self) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Inbox(rx))
    }

    async fn next(&mut self, what: &str) -> T {
        within(what, self.0.recv()).await.expect("listener alive")
    }

    /// Nothing arrives within a short while.
    async fn quiet(&mut self, what: &str) {
        if let Ok(Some(item)) =
            tokio::time::timeout(Duration::from_millis(300), self.0.recv()).await
        {
            panic!("{what}: unexpected {item:?}");
        }
    }
}

async fn wait_status(conn: &Connection<impl Sized>, wanted: ConnStatus) {
    let mut watch = conn.status_watch();
    within(
        &format!("status {wanted:?}"),
        watch.wait_for(|s| *s == wanted),
    )
    .await
    .expect("connection task alive");
}

fn actor_error(error: Error) -> ActorError {
    match error {
        Error::Actor(error) => *error,
        other => panic!("expected an actor error, got {other:?}"),
    }
}

#[tokio::test]
async fn minimal_client_and_stateless_vs_stateful() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let key = format!("my-counter-{}", encoding.as_str());
        let counter = client.get_or_create::<Counter>([key.as_str()]);
        assert_eq!(
            within("increment", counter.increment(1.0)).await.unwrap(),
            1.0
        );
        assert_eq!(
            within("increment", counter.increment(1.0)).await.unwrap(),
            2.0
        );

        let conn = counter.connect();
        let (tx, mut counts) = Inbox::new();
        conn.on(CountChanged, move |(count,)| tx.send(count).unwrap());
        assert_eq!(
            within("conn increment", conn.increment(1.0)).await.unwrap(),
            3.0
        );
        assert_eq!(counts.next("count event").await, 3.0);
        // A stateless call by someone else reaches the connection as an event too.
        counter.increment(10.0).await.unwrap();
        assert_eq!(counts.next("count event").await, 13.0);

        // The same actor, untyped.
        let untyped = client.actor("counter").get_or_create([key.as_str()]);
        let count: i64 = untyped.action("getCount", ()).await.unwrap();
        assert_eq!(count, 13);
        let raw: Value = untyped.action("increment", (2,)).await.unwrap();
        assert_eq!(raw, json!(15));
        let untyped_conn = untyped.connect();
        let (tx, mut raw_counts) = Inbox::new();
        let _raw = untyped_conn.on_event("count", move |args: Vec<Value>| tx.send(args).unwrap());
        let count: i64 = within("untyped conn", untyped_conn.action("increment", (1,)))
            .await
            .unwrap();
        assert_eq!(count, 16);
        assert_eq!(raw_counts.next("raw event").await, vec![json!(16)]);
        conn.dispose().await;
        untyped_conn.dispose().await;
    }
}

#[tokio::test]
async fn getting_actors() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let enc = encoding.as_str();
        let room = client.get_or_create::<ChatRoom>(["room-42", enc]);
        room.send_message("first".into()).await.unwrap();
        let existing = client.get::<ChatRoom>(["room-42", enc]);
        assert_eq!(existing.get_history().await.unwrap(), vec!["first"]);

        let created = within(
            "create",
            client.create::<Game>(
                [format!("game-1-{enc}")],
                CreateOptions::default().input(GameInput {
                    mode: "ranked".into(),
                }),
            ),
        )
        .await
        .unwrap();
        assert_eq!(created.get_mode().await.unwrap(), "ranked");
        // Input only applies on creation; get_or_create's input creates a new actor's state.
        let casual = client.get_or_create_with::<Game>(
            [format!("game-2-{enc}")],
            GetOrCreateOptions::default().create_with_input(json!({"mode": "casual"})),
        );
        assert_eq!(casual.get_mode().await.unwrap(), "casual");
        let duplicate = client
            .create::<Game>([format!("game-1-{enc}")], CreateOptions::default())
            .await
            .unwrap_err();
        assert_eq!(actor_error(duplicate).code, "duplicate_key");

        let resolved_id = room.resolve().await.unwrap();
        let by_id = client.get_for_id::<ChatRoom>(resolved_id.clone());
        assert_eq!(by_id.get_history().await.unwrap(), vec!["first"]);
        assert_eq!(by_id.resolve().await.unwrap(), resolved_id);
        // An id of another actor type is not found, as is an unknown key.
        let wrong_type = client.get_for_id::<Counter>(resolved_id);
        assert_eq!(
            actor_error(wrong_type.get_count().await.unwrap_err()).code,
            "not_found"
        );
        let missing = client.get::<ChatRoom>(["no-such-room"]);
        let error = actor_error(missing.get_history().await.unwrap_err());
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("actor", "not_found")
        );
    }
}

#[tokio::test]
async fn connection_parameters() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let with_token = |token: &str| {
            client.get_or_create_with::<ChatRoom>(
                ["general"],
                GetOrCreateOptions::default().params(ChatParams {
                    auth_token: Some(token.into()),
                }),
            )
        };
        let chat = with_token("jwt-token-here");
        let conn = chat.connect();
        within("send", conn.send_message("hi".into()))
            .await
            .unwrap();
        wait_status(&conn, ConnStatus::Connected).await;
        conn.dispose().await;

        // The actor refuses an empty token: statelessly with 403, and a connection must stop
        // with a clear error instead of retrying forever.
        let rejected = with_token("");
        let error = actor_error(rejected.get_history().await.unwrap_err());
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("user", "forbidden")
        );
        let conn = rejected.connect();
        let (tx, mut errors) = Inbox::new();
        let _errors = conn.on_error(move |error| tx.send(error.clone()).unwrap());
        let pending = conn.send_message("never sent".into());
        wait_status(&conn, ConnStatus::Failed).await;
        let error = actor_error(conn.error().expect("the failure is kept"));
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("user", "forbidden")
        );
        assert!(actor_error(errors.next("on_error").await).code == "forbidden");
        let queued = actor_error(within("queued call", pending).await.unwrap_err());
        assert_eq!(queued.code, "forbidden");
        let later = actor_error(conn.get_history().await.unwrap_err());
        assert_eq!(later.code, "forbidden");
        errors.quiet("no retries after a permanent failure").await;
    }
}

#[tokio::test]
async fn subscribing_to_events_with_on_once_and_unsubscribe() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let chat = client.get_or_create::<ChatRoom>(["events", encoding.as_str()]);
        let conn = chat.connect();
        let (tx, mut messages) = Inbox::new();
        let listener = conn.on(NewMessage, move |(text,)| tx.send(text).unwrap());
        let (tx, mut game_overs) = Inbox::new();
        let _once = conn.once(GameOver, move |()| tx.send(()).unwrap());

        conn.send_message("hello".into()).await.unwrap();
        assert_eq!(messages.next("message").await, "hello");
        conn.end_game().await.unwrap();
        game_overs.next("gameOver").await;
        conn.end_game().await.unwrap();
        game_overs.quiet("once fires once").await;

        listener.unsubscribe();
        conn.send_message("unheard".into()).await.unwrap();
        messages.quiet("unsubscribed").await;
        conn.dispose().await;
    }
}

#[tokio::test]
async fn connection_lifecycle() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let conn = client.get_or_create::<ChatRoom>(["general"]).connect();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (opened_tx, mut opened) = Inbox::new();
        let _open = conn.on_open(move || opened_tx.send(()).unwrap());
        let record = log.clone();
        let _close = conn.on_close(move || record.lock().unwrap().push("close".into()));
        let record = log.clone();
        let _status =
            conn.on_status_change(move |status| record.lock().unwrap().push(format!("{status:?}")));
        let _error = conn.on_error(|error| panic!("unexpected error: {error}"));

        opened.next("on_open").await;
        assert_eq!(conn.status(), ConnStatus::Connected);
        within("dispose", conn.dispose()).await;
        assert_eq!(conn.status(), ConnStatus::Disposed);
        assert!(matches!(conn.get_history().await, Err(Error::Closed(_))));
        assert_eq!(
            *log.lock().unwrap(),
            ["Connected", "close", "Disposed"],
            "{encoding:?}"
        );
    }
}

#[tokio::test]
async fn low_level_http_and_websocket() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let handle = client.get_or_create::<ChatRoom>(["raw", encoding.as_str()]);
        handle.send_message("before".into()).await.unwrap();

        let response = within("fetch", handle.fetch("history").send())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let history: Vec<String> = response.json().await.unwrap();
        assert_eq!(history, ["before"]);
        let missing = handle.fetch("/nope").send().await.unwrap();
        assert_eq!(missing.status(), 404);

        let mut ws = within("websocket", handle.websocket("stream"))
            .await
            .unwrap();
        ws.send(WsMessage::text("hello")).await.unwrap();
        let echoed = within("stream message", ws.next()).await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), "hello");
        ws.close(None).await.unwrap();
        assert_eq!(handle.get_history().await.unwrap(), ["before", "hello"]);
    }
}

#[tokio::test]
async fn error_handling() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let user = client.get_or_create::<User>(["user-123"]);
        let check = |error: Error| {
            let error = actor_error(error);
            assert_eq!(
                (error.group.as_str(), error.code.as_str()),
                ("user", "username_too_short")
            );
            assert_eq!(
                error.metadata,
                Some(json!({"minLength": 3})),
                "{encoding:?}"
            );
        };
        check(user.update_username("ab".into()).await.unwrap_err());
        let conn = user.connect();
        check(
            within("conn error", conn.update_username("ab".into()))
                .await
                .unwrap_err(),
        );
        // The first action of a connection has id 0: still an action error, and the
        // connection keeps working.
        assert_eq!(conn.update_username("abc".into()).await.unwrap(), "abc");
        assert_eq!(conn.get_username().await.unwrap().as_deref(), Some("abc"));
        conn.dispose().await;
        // Transport errors are a different variant.
        let mut config = ClientConfig::new("http://127.0.0.1:9").encoding(encoding);
        config.disable_metadata_lookup = true;
        let down = Client::new(config).unwrap();
        let error = down
            .get_or_create::<User>(["u"])
            .get_username()
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Transport(_)), "{error:?}");
    }
}

#[tokio::test]
async fn compound_keys() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let room = client.get_or_create::<ChatRoom>(["org-acme", "general"]);
        assert_eq!(
            room.get_room_info().await.unwrap(),
            RoomInfo {
                org: Some("org-acme".into()),
                room: Some("general".into())
            }
        );
        // Separators inside parts stay inside parts.
        let tricky = client.get_or_create::<ChatRoom>(["a/b", "c\\d"]);
        let info = tricky.get_room_info().await.unwrap();
        assert_eq!(
            (info.org.as_deref(), info.room.as_deref()),
            (Some("a/b"), Some("c\\d"))
        );
    }
}

#[tokio::test]
async fn reconnects_after_the_server_is_killed_and_restarted() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), None).await;
    let port = server.port;
    for encoding in ENCODINGS {
        let client = client(&server, encoding);
        let counter = client.get_or_create::<Counter>(["durable", encoding.as_str()]);
        let conn = counter.connect();
        let (tx, mut counts) = Inbox::new();
        let _counts = conn.on(CountChanged, move |(count,)| tx.send(count).unwrap());
        let (tx, mut opens) = Inbox::new();
        let _opens = conn.on_open(move || tx.send(()).unwrap());
        opens.next("first open").await;
        assert_eq!(conn.increment(1.0).await.unwrap(), 1.0);
        assert_eq!(counts.next("event before the crash").await, 1.0);

        server.kill();
        wait_status(&conn, ConnStatus::Disconnected).await;
        // Called during the outage: queued, sent after the next Init.
        let during_outage = tokio::spawn({
            let conn = conn.clone();
            async move { conn.increment(10.0).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !during_outage.is_finished(),
            "the call waits for the server"
        );
        assert_ne!(conn.status(), ConnStatus::Failed);

        server = Server::start_at(data.path(), port, None).await;
        opens.next("reopened after restart").await;
        let count = within("call made during the outage", during_outage)
            .await
            .unwrap();
        assert_eq!(
            count.unwrap(),
            11.0,
            "{encoding:?}: state survived and the call ran once"
        );
        assert_eq!(counts.next("events resume").await, 11.0);
        conn.dispose().await;
    }
}

#[tokio::test]
async fn server_tokens() {
    let server = Server::start_with_token("s3cr/t").await;
    let host = format!("127.0.0.1:{}", server.port);
    for encoding in ENCODINGS {
        // URL auth: namespace and token in the endpoint.
        let client = client_at(&format!("http://default:s3cr%2Ft@{host}"), encoding);
        let counter = client.get_or_create::<Counter>(["guarded"]);
        counter.increment(1.0).await.unwrap();
        let conn = counter.connect();
        within("conn with token", conn.increment(1.0))
            .await
            .unwrap();
        conn.dispose().await;

        // No token: refused everywhere, and a connection gives up at once.
        let anonymous = client_at(&format!("http://{host}"), encoding);
        let error = anonymous
            .get_or_create::<Counter>(["guarded"])
            .increment(1.0)
            .await
            .unwrap_err();
        assert!(error.is_permanent(), "{error:?}");
        let by_id = anonymous.get_for_id::<Counter>(counter.resolve().await.unwrap());
        let conn = by_id.connect();
        wait_status(&conn, ConnStatus::Failed).await;
        let error = conn.error().unwrap();
        assert!(error.is_permanent(), "{error:?}");
    }
}
