//! One function per snippet of the client guide. They print what the JavaScript snippets log
//! and return what a caller might check.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rivetkit_rs::client::{
    Client, ClientConfig, Connection, CreateOptions, Error, GetOrCreateOptions, Result, WsMessage,
};
use seed::{
    ChatParams, ChatRoom, ChatRoomActions, CountChanged, Counter, CounterActions, Game,
    GameActions, GameInput, GameOver, NewMessage, RoomInfo, User, UserActions,
};

/// "Minimal Client": an explicit endpoint (URL auth `http://namespace:token@host` works too).
pub async fn minimal_client(endpoint: &str) -> Result<f64> {
    let client = Client::new(ClientConfig::new(endpoint))?;
    let counter = client.get_or_create::<Counter>(["my-counter"]);
    counter.increment(1.0).await
}

/// "Stateless vs Stateful".
pub async fn stateless_vs_stateful(client: &Client) -> Result<Connection<Counter>> {
    let handle = client.get_or_create::<Counter>(["my-counter"]);

    // Stateless: each call is independent.
    handle.increment(1.0).await?;

    // Stateful: keep a connection open for realtime events.
    let conn = handle.connect();
    conn.on(CountChanged, |(value,)| println!("{value}"));
    conn.increment(1.0).await?;
    Ok(conn)
}

/// "Getting Actors". Returns the room's resolved id.
pub async fn getting_actors(client: &Client) -> Result<String> {
    let room = client.get_or_create::<ChatRoom>(["room-42"]);
    let _existing = client.get::<ChatRoom>(["room-42"]);

    let created = client
        .create::<Game>(
            ["game-1"],
            CreateOptions::default().input(GameInput {
                mode: "ranked".into(),
            }),
        )
        .await?;
    println!("game mode: {}", created.get_mode().await?);

    let _by_id = client.get_for_id::<ChatRoom>("actor-id");
    let resolved_id = room.resolve().await?;
    Ok(resolved_id)
}

/// "Connection Parameters".
pub fn connection_parameters(client: &Client) -> Connection<ChatRoom> {
    let chat = client.get_or_create_with::<ChatRoom>(
        ["general"],
        GetOrCreateOptions::default().params(ChatParams {
            auth_token: Some("jwt-token-here".into()),
        }),
    );
    chat.connect()
}

/// "Subscribing to Events".
pub fn subscribing_to_events(client: &Client) -> Connection<ChatRoom> {
    let conn = client.get_or_create::<ChatRoom>(["general"]).connect();
    let _messages = conn.on(NewMessage, |(msg,)| println!("{msg}"));
    let _game_over = conn.once(GameOver, |()| println!("done"));
    conn
}

/// "Connection Lifecycle".
pub async fn connection_lifecycle(client: &Client) {
    let conn = client.get_or_create::<ChatRoom>(["general"]).connect();

    let _open = conn.on_open(|| println!("connected"));
    let _close = conn.on_close(|| println!("disconnected"));
    let _error = conn.on_error(|err| eprintln!("error: {err}"));
    let _status = conn.on_status_change(|status| println!("status: {status:?}"));

    // Give the connection a moment to open before closing it, so the log shows a full cycle.
    let mut status = conn.status_watch();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.is_terminal() || *s == rivetkit_rs::client::ConnStatus::Connected),
    )
    .await;
    conn.dispose().await;
}

/// "Low-Level HTTP & WebSocket": the room's `on_request` and `on_websocket` handlers.
pub async fn low_level(client: &Client) -> Result<Vec<String>> {
    let handle = client.get_or_create::<ChatRoom>(["general"]);

    let response = handle.fetch("history").send().await?;
    let history: Vec<String> = response.json().await?;

    let mut ws = handle.websocket("stream").await?;
    ws.send(WsMessage::text("hello"))
        .await
        .map_err(|e| Error::Transport(e.to_string()))?;
    if let Some(Ok(message)) = ws.next().await {
        println!("message: {message}");
    }
    Ok(history)
}

/// "Error Handling": the actor's typed error, told apart from transport failures.
pub async fn error_handling(client: &Client) -> Option<(String, Option<serde_json::Value>)> {
    match client
        .get_or_create::<User>(["user-123"])
        .update_username("ab".into())
        .await
    {
        Err(Error::Actor(error)) => {
            println!("{} {:?}", error.code, error.metadata);
            Some((error.code, error.metadata))
        }
        Err(other) => {
            eprintln!("could not reach the actor: {other}");
            None
        }
        Ok(_) => None,
    }
}

/// "Keys": compound keys are arrays, never strings built from user data.
pub async fn keys(client: &Client) -> Result<RoomInfo> {
    client
        .get_or_create::<ChatRoom>(["org-acme", "general"])
        .get_room_info()
        .await
}
