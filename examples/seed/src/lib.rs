//! The actors the RivetKit client guide talks to, written with rivetkit-rs.
//!
//! * `counter` — a number; `increment` broadcasts `count`; `incrementSlowly` waits first (an
//!   action still running when the server is stopped).
//! * `chatRoom` — messages, connection params with an auth token, raw HTTP history and a raw
//!   WebSocket stream.
//! * `game` — created with an input.
//! * `user` — a typed user error with metadata.
//!
//! Each actor's interface is declared once with [`rivetkit::interface!`]: the definitions
//! below implement it with `.handle(...)`, and Rust clients call it with the generated traits
//! ([`CounterActions`], [`ChatRoomActions`], [`GameActions`], [`UserActions`]).

use rivetkit::prelude::*;
use serde_json::json;
use tokio::sync::broadcast;

#[derive(Serialize, Deserialize, Default)]
pub struct Counter {
    /// A JS number: any `f64`, fractions included.
    pub count: f64,
}

rivetkit::interface! {
    actor Counter = "counter";
    /// Calls on a `counter`.
    pub trait CounterActions {
        /// Adds `x`, broadcasts [`CountChanged`] and returns the new count.
        action Increment = "increment", fn increment(x: f64) -> f64;
        action GetCount = "getCount", fn get_count() -> f64;
        /// Broadcasts [`SlowIncrementStarted`], waits `delay_ms` milliseconds (at most
        /// [`MAX_SLOW_DELAY_MS`]), then increments as `increment` does.
        action IncrementSlowly = "incrementSlowly", fn increment_slowly(x: f64, delay_ms: u64) -> f64;
    }
    /// The count after an increment.
    pub event CountChanged = "count", (f64,);
    /// An `incrementSlowly(x, ..)` has started waiting.
    pub event SlowIncrementStarted = "slowIncrementStarted", (f64,);
}

/// The longest wait of `incrementSlowly`: well within the default action timeout.
pub const MAX_SLOW_DELAY_MS: u64 = 30_000;

/// Adds `x`, broadcasts the new count and returns it.
fn add(c: &Ctx<Counter>, x: f64) -> f64 {
    let count = c.update(|s| {
        s.count += x;
        s.count
    });
    c.emit(CountChanged, (count,));
    count
}

pub fn counter() -> Actor<Counter> {
    actor::<Counter>("counter")
        .handle(Increment, |c, (x,)| async move { Ok(add(&c, x)) })
        .handle(GetCount, |c, ()| async move { Ok(c.state(|s| s.count)) })
        .handle(IncrementSlowly, |c, (x, delay_ms)| async move {
            c.emit(SlowIncrementStarted, (x,));
            let delay = std::time::Duration::from_millis(delay_ms.min(MAX_SLOW_DELAY_MS));
            tokio::time::sleep(delay).await;
            Ok(add(&c, x))
        })
}

#[derive(Serialize, Deserialize, Default)]
pub struct ChatRoom {
    pub messages: Vec<String>,
}

/// In memory only: the feed every open `stream` socket listens to.
pub struct ChatVars {
    stream: broadcast::Sender<String>,
}

/// A chat room's connection params.
#[derive(Serialize, Deserialize, Default)]
pub struct ChatParams {
    #[serde(rename = "authToken")]
    pub auth_token: Option<String>,
}

/// Where a room is: the parts of its compound key `[org, room]`.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct RoomInfo {
    pub org: Option<String>,
    pub room: Option<String>,
}

rivetkit::interface! {
    actor ChatRoom = "chatRoom";
    /// Calls on a `chatRoom`.
    pub trait ChatRoomActions {
        /// Posts a message: broadcast as [`NewMessage`], kept in the history.
        action SendMessage = "sendMessage", fn send_message(text: String);
        action GetHistory = "getHistory", fn get_history() -> Vec<String>;
        action GetRoomInfo = "getRoomInfo", fn get_room_info() -> RoomInfo;
        /// Broadcasts [`GameOver`].
        action EndGame = "endGame", fn end_game();
    }
    /// A message posted to the room.
    pub event NewMessage = "message", (String,);
    pub event GameOver = "gameOver", ();
}

/// How many messages a slow `stream` socket may fall behind before it skips ahead.
const STREAM_BACKLOG: usize = 1024;

/// Appends a message, tells subscribers (event `message`) and, once it is durable, every open
/// `stream` socket.
async fn post_message(c: &Ctx<ChatRoom, ChatVars>, text: String) -> ActorResult<()> {
    c.update(|s| s.messages.push(text.clone()));
    c.emit(NewMessage, (text.clone(),));
    c.save().await?;
    // No open stream socket is not an error.
    let _ = c.vars().stream.send(text);
    Ok(())
}

pub fn chat_room() -> Actor<ChatRoom, ChatVars> {
    actor::<ChatRoom>("chatRoom")
        .vars(|| ChatVars {
            stream: broadcast::channel(STREAM_BACKLOG).0,
        })
        .on_before_connect(|_c, params: Option<ChatParams>| async move {
            match params.and_then(|p| p.auth_token) {
                Some(token) if token.is_empty() => {
                    Err(ActorError::user("forbidden", "authToken must not be empty")
                        .with_status(403))
                }
                _ => Ok(()),
            }
        })
        .handle(SendMessage, |c, (text,)| async move {
            post_message(&c, text).await
        })
        .handle(GetHistory, |c, ()| async move {
            Ok(c.state(|s| s.messages.clone()))
        })
        .handle(GetRoomInfo, |c, ()| async move {
            Ok(RoomInfo {
                org: c.key().first().cloned(),
                room: c.key().get(1).cloned(),
            })
        })
        .handle(EndGame, |c, ()| async move {
            c.emit(GameOver, ());
            Ok(())
        })
        .on_request(|c, request: Request| async move {
            if request.method() == http::Method::GET && request.uri().path() == "/history" {
                return json_response(&c.state(|s| s.messages.clone()));
            }
            Ok(http::Response::builder()
                .status(404)
                .body(bytes::Bytes::from_static(b"not found"))?)
        })
        .on_websocket(|c, mut socket: RawWebSocket| async move {
            if socket.path().split('?').next() != Some("/stream") {
                return Err(ActorError::user(
                    "unknown_stream",
                    format!("no stream at {}", socket.path()),
                ));
            }
            let sender = socket.sender();
            let mut feed = c.vars().stream.subscribe();
            loop {
                tokio::select! {
                    received = socket.recv() => match received {
                        Some(WsMessage::Text(text)) => post_message(&c, text).await?,
                        Some(_) => {}
                        None => return Ok(()),
                    },
                    posted = feed.recv() => match posted {
                        Ok(text) => {
                            if !sender.send_text(text) {
                                return Ok(());
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
        })
}

#[derive(Serialize, Deserialize)]
pub struct Game {
    pub mode: String,
}

/// A game's create input.
#[derive(Serialize, Deserialize)]
pub struct GameInput {
    pub mode: String,
}

rivetkit::interface! {
    actor Game = "game";
    /// Calls on a `game`.
    pub trait GameActions {
        action GetMode = "getMode", fn get_mode() -> String;
    }
}

pub fn game() -> Actor<Game> {
    Actor::new("game", |input: Option<GameInput>| Game {
        mode: input.map_or_else(|| "casual".to_owned(), |input| input.mode),
    })
    .handle(
        GetMode,
        |c, ()| async move { Ok(c.state(|s| s.mode.clone())) },
    )
}

#[derive(Serialize, Deserialize, Default)]
pub struct User {
    pub username: Option<String>,
}

const MIN_USERNAME_LENGTH: usize = 3;

rivetkit::interface! {
    actor User = "user";
    /// Calls on a `user`.
    pub trait UserActions {
        /// Fails with `user/username_too_short` (metadata `{minLength}`) below 3 characters.
        action UpdateUsername = "updateUsername", fn update_username(name: String) -> String;
        action GetUsername = "getUsername", fn get_username() -> Option<String>;
    }
}

pub fn user() -> Actor<User> {
    actor::<User>("user")
        .handle(UpdateUsername, |c, (name,)| async move {
            if name.chars().count() < MIN_USERNAME_LENGTH {
                return Err(ActorError::user(
                    "username_too_short",
                    format!("Username must be at least {MIN_USERNAME_LENGTH} characters"),
                )
                .with_metadata(json!({ "minLength": MIN_USERNAME_LENGTH })));
            }
            c.update(|s| s.username = Some(name.clone()));
            Ok(name)
        })
        .handle(GetUsername, |c, ()| async move {
            Ok(c.state(|s| s.username.clone()))
        })
}

/// All four, as one registry.
pub fn registry() -> Registry {
    Registry::new()
        .register(counter())
        .register(chat_room())
        .register(game())
        .register(user())
}
