//! The actors the RivetKit client guide talks to, written with rivetkit-rs.
//!
//! * `counter` — a number; `increment` broadcasts `count`; `incrementSlowly` waits first (an
//!   action still running when the server is stopped); `incrementOther` increments another
//!   counter (an actor calling an actor).
//! * `chatRoom` — messages, connection params with an auth token, raw HTTP history and a raw
//!   WebSocket stream.
//! * `game` — created with an input.
//! * `user` — a typed user error with metadata.
//! * `gate` — holds calls until opened and counts them: what a server's per-connection limits
//!   are tested with (actions in flight, parked queue waits, large events, a raw socket that
//!   floods its client).
//! * `bloated` — benchmark only: a counter with dead weight in its state ([`bloated`]).
//!
//! Each actor's interface is declared once with [`rivetkit_rs::interface!`]: the definitions
//! below implement it with `.handle(...)`, and Rust clients call it with the generated traits
//! ([`CounterActions`], [`ChatRoomActions`], [`GameActions`], [`UserActions`],
//! [`GateActions`]).

pub mod bloated;

use std::sync::atomic::{AtomicUsize, Ordering};

use rivetkit_rs::prelude::*;
use rivetkit_rs::{bytes, http, Receive};
use serde_json::json;
use tokio::sync::{broadcast, watch};

#[derive(Serialize, Deserialize, Default)]
pub struct Counter {
    /// A JS number: any `f64`, fractions included.
    pub count: f64,
}

rivetkit_rs::interface! {
    actor Counter = "counter";
    /// Calls on a `counter`.
    pub trait CounterActions {
        /// Adds `x`, broadcasts [`CountChanged`] and returns the new count.
        action Increment = "increment", fn increment(x: f64) -> f64;
        action GetCount = "getCount", fn get_count() -> f64;
        /// Broadcasts [`SlowIncrementStarted`], waits `delay_ms` milliseconds (at most
        /// [`MAX_SLOW_DELAY_MS`]), then increments as `increment` does.
        action IncrementSlowly = "incrementSlowly", fn increment_slowly(x: f64, delay_ms: u64) -> f64;
        /// Increments the counter of key `key` by `x` (an actor calling another one: what
        /// traces follow) and returns its new count.
        action IncrementOther = "incrementOther", fn increment_other(key: Vec<String>, x: f64) -> f64;
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
        .handle(IncrementOther, |c, (key, x)| async move {
            c.actor::<Counter>(key).increment(x).await
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

rivetkit_rs::interface! {
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

rivetkit_rs::interface! {
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

rivetkit_rs::interface! {
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

/// A gate keeps nothing durable: all it knows is in [`GateVars`].
#[derive(Serialize, Deserialize, Default)]
pub struct Gate {}

/// In memory only: what the gate's calls are doing right now.
pub struct GateVars {
    /// `hold` calls running now, and the most ever at once.
    holding: AtomicUsize,
    peak: AtomicUsize,
    /// `waitForJob` calls parked in the queue now.
    waiting: AtomicUsize,
    /// `/flood` handlers that returned.
    floods: AtomicUsize,
    open: watch::Sender<bool>,
}

/// A gate's counts, as `stats` returns them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct GateStats {
    /// Open connections.
    pub connections: usize,
    pub holding: usize,
    pub peak: usize,
    pub waiting: usize,
    pub floods: usize,
}

rivetkit_rs::interface! {
    actor Gate = "gate";
    /// Calls on a `gate`.
    pub trait GateActions {
        /// Waits until the gate is open; counted in `holding` meanwhile.
        action Hold = "hold", fn hold();
        /// Opens the gate for every `hold`, now and later.
        action Open = "open", fn open();
        action Stats = "stats", fn stats() -> GateStats;
        /// Waits in the queue for a message named `job` and returns its body; counted in
        /// `waiting` while parked.
        action WaitForJob = "waitForJob", fn wait_for_job() -> Option<serde_json::Value>;
        /// Broadcasts [`Blob`] with `bytes` bytes of text.
        action Blast = "blast", fn blast(bytes: usize);
    }
    pub event Blob = "blob", (String,);
}

/// Counts one unit in `count` while alive, also when the call it belongs to is cancelled.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn enter(count: &'a AtomicUsize) -> (Self, usize) {
        let now = count.fetch_add(1, Ordering::SeqCst) + 1;
        (Self(count), now)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn gate() -> Actor<Gate, GateVars> {
    actor::<Gate>("gate")
        .vars(|| GateVars {
            holding: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            floods: AtomicUsize::new(0),
            open: watch::channel(false).0,
        })
        .queue("job")
        .handle(Hold, |c, ()| async move {
            let vars = c.vars();
            let (_holding, now) = Counted::enter(&vars.holding);
            vars.peak.fetch_max(now, Ordering::SeqCst);
            let mut open = vars.open.subscribe();
            // The sender lives in the vars as long as the actor: waiting cannot fail.
            let _ = open.wait_for(|open| *open).await;
            Ok(())
        })
        .handle(Open, |c, ()| async move {
            c.vars().open.send_replace(true);
            Ok(())
        })
        .handle(Stats, |c, ()| async move {
            let vars = c.vars();
            Ok(GateStats {
                connections: c.conns().len(),
                holding: vars.holding.load(Ordering::SeqCst),
                peak: vars.peak.load(Ordering::SeqCst),
                waiting: vars.waiting.load(Ordering::SeqCst),
                floods: vars.floods.load(Ordering::SeqCst),
            })
        })
        .handle(WaitForJob, |c, ()| async move {
            let (_waiting, _) = Counted::enter(&c.vars().waiting);
            let job = c.queue().next(Receive::names(["job"])).await?;
            Ok(job.map(|job| job.body))
        })
        .handle(Blast, |c, (bytes,)| async move {
            c.emit(Blob, ("x".repeat(bytes),));
            Ok(())
        })
        // `/flood`: sends up to FLOOD_MESSAGES messages of FLOOD_BYTES as fast as the socket
        // takes them, and stops at the first one refused (the client does not read).
        .on_websocket(|c, socket: RawWebSocket| async move {
            if socket.path().split('?').next() != Some("/flood") {
                return Err(ActorError::user(
                    "unknown_path",
                    format!("nothing at {}", socket.path()),
                ));
            }
            let sender = socket.sender();
            for _ in 0..FLOOD_MESSAGES {
                if !sender.send_text("x".repeat(FLOOD_BYTES)) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            c.vars().floods.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
}

/// What a gate's `/flood` socket sends at most: 128 MiB in 64 KiB messages.
pub const FLOOD_MESSAGES: usize = 2048;
pub const FLOOD_BYTES: usize = 64 * 1024;

/// All of them, as one registry.
pub fn registry() -> Registry {
    Registry::new()
        .register(counter())
        .register(chat_room())
        .register(game())
        .register(user())
        .register(gate())
        .register(bloated::bloated())
}
