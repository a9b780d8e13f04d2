//! Memory-growth probes, each on a fresh server: the server's VmRSS before and after one attack
//! on per-connection memory. Every probe is reported; its bound fails the run only with
//! `--enforce-memory-bounds` (the per-connection limits of issue 8 are what make them true).

use std::time::Duration;

use anyhow::{bail, Result};
use rivetkit_protocol::{Encoding, ToClient};
use serde_json::json;

use crate::client::{Api, Conn};
use crate::report::Section;
use crate::server::{Options, Server};
use crate::Suite;

/// Bounds on growth, in MiB (slow subscribers, many subscriptions) and KiB per idle socket
/// (the target for an idle WebSocket).
/// What the server may buffer for one connection before it closes it as a slow consumer
/// (`ServerConfig::max_outgoing_queue_bytes`' default): the slow-subscriber bound is that per
/// subscriber plus [`SLOW_SUBSCRIBERS_SLACK_MIB`], however many events are sent.
const OUTGOING_BUDGET_MIB: f64 = 8.0;
const SLOW_SUBSCRIBERS_SLACK_MIB: f64 = 32.0;
const SUBSCRIPTIONS_BOUND_MIB: f64 = 16.0;
const RECEIVES_BOUND_MIB: f64 = 16.0;
const IDLE_SOCKET_BOUND_KIB: f64 = 16.0;
/// Actions the driving connection keeps in flight.
const WINDOW: usize = 64;
/// Time for the server to take in what was just sent before RSS is read.
const SETTLE: Duration = Duration::from_millis(500);

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("Memory growth");
    section.tried(
        "Each probe starts a fresh server, reads its VmRSS (/proc/PID/status) once the actors and \
         connections it needs are set up, runs the attack, and reads VmRSS again.",
    );
    let results = [
        slow_subscribers(suite, &mut section).await,
        subscriptions(suite, &mut section).await,
        pipelined_receives(suite, &mut section).await,
        idle_sockets(suite, &mut section).await,
    ];
    for error in results.into_iter().filter_map(Result::err) {
        section.error(&error);
    }
    section
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

async fn fresh(suite: &Suite, name: &str) -> Result<(Server, Api, String)> {
    let data = suite.data_dir(&format!("memory-{name}"))?;
    let server = Server::start(&suite.bin, &data, Options::default()).await?;
    let api = Api::new(server.url(""), None)?;
    let id = api.actor_id("counter", name).await?;
    Ok((server, api, id))
}

/// Sends `count` actions on `conn`, `WINDOW` at a time, and waits for every answer.
async fn pipeline(conn: &mut Conn, count: usize, action: &str) -> Result<()> {
    let (mut sent, mut answered) = (0usize, 0usize);
    while answered < count {
        while sent < count && sent - answered < WINDOW {
            conn.call(sent as u64, action, vec![json!(1)]).await?;
            sent += 1;
        }
        match conn.recv().await? {
            ToClient::ActionResponse { .. } => answered += 1,
            ToClient::Error { error, .. } => bail!("{action} failed: {error:?}"),
            _ => {}
        }
    }
    Ok(())
}

/// Subscribers of `count` that never read, while another connection increments.
async fn slow_subscribers(suite: &Suite, section: &mut Section) -> Result<()> {
    let size = &suite.size;
    let (server, api, id) = fresh(suite, "slow-subscribers").await?;
    let ws = server.ws_url("");
    let mut subscribers = Vec::new();
    for _ in 0..size.probe_subscribers {
        let mut conn = Conn::open(&ws, &id, Encoding::Json).await?;
        conn.subscribe("count").await?;
        subscribers.push(conn);
    }
    let mut driver = Conn::open(&ws, &id, Encoding::Bare).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server.rss_kib()? as i64;
    pipeline(&mut driver, size.probe_increments, "increment").await?;
    tokio::time::sleep(SETTLE).await;
    let after = server.rss_kib()? as i64;
    let count = api.output(&id, "getCount", vec![]).await?;
    let growth = mib(after - before);
    section.headline(
        format!(
            "RSS growth: {} subscribers that never read + {} increments",
            size.probe_subscribers, size.probe_increments
        ),
        format!(
            "{growth:.1} MiB ({:.1} → {:.1} MiB)",
            mib(before),
            mib(after)
        ),
    );
    section.check(
        "the server kept serving with slow subscribers",
        count == json!(size.probe_increments as f64) || count == json!(size.probe_increments),
        format!("getCount answered {count}"),
    );
    section.bound(
        format!(
            "slow subscribers grow RSS by at most their outgoing budgets ({} × \
             {OUTGOING_BUDGET_MIB} MiB) + {SLOW_SUBSCRIBERS_SLACK_MIB} MiB",
            size.probe_subscribers
        ),
        growth <= size.probe_subscribers as f64 * OUTGOING_BUDGET_MIB + SLOW_SUBSCRIBERS_SLACK_MIB,
        format!("grew {growth:.1} MiB"),
        suite.enforce_memory_bounds,
    );
    drop(subscribers);
    Ok(())
}

/// Many distinct subscriptions on one connection, then the connection closes. Past the server's
/// cap each one is refused with an `Error` without action id; those are counted.
async fn subscriptions(suite: &Suite, section: &mut Section) -> Result<()> {
    let subscriptions = suite.size.probe_subscriptions;
    let (server, _api, id) = fresh(suite, "subscriptions").await?;
    let mut conn = Conn::open(&server.ws_url(""), &id, Encoding::Json).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server.rss_kib()? as i64;
    for n in 0..subscriptions {
        conn.subscribe(&format!("event-{n}")).await?;
    }
    // An action answered after them: the server has read every subscription.
    conn.call(0, "getCount", vec![]).await?;
    let mut refused = 0usize;
    loop {
        match conn.recv().await? {
            ToClient::ActionResponse { .. } => break,
            ToClient::Error {
                action_id: None,
                error,
            } if error.code == "too_many_subscriptions" => refused += 1,
            ToClient::Error { error, .. } => bail!("getCount failed: {error:?}"),
            _ => {}
        }
    }
    tokio::time::sleep(SETTLE).await;
    let after = server.rss_kib()? as i64;
    drop(conn);
    tokio::time::sleep(SETTLE).await;
    let after_close = server.rss_kib()? as i64;
    let growth = mib(after - before);
    section.headline(
        format!(
            "RSS growth: {subscriptions} subscriptions on one connection ({refused} refused \
             with connection/too_many_subscriptions)"
        ),
        format!(
            "{growth:.1} MiB while open, {:.1} MiB after it closed",
            mib(after_close - before)
        ),
    );
    section.bound(
        format!("subscriptions grow RSS by at most {SUBSCRIPTIONS_BOUND_MIB} MiB"),
        growth <= SUBSCRIPTIONS_BOUND_MIB,
        format!("grew {growth:.1} MiB"),
        suite.enforce_memory_bounds,
    );
    Ok(())
}

/// `receive` calls (`gate.waitForJob`, a queue wait no message ends) pipelined on one
/// connection, then the socket closes: the server reads only as many as it runs at once (TCP
/// holds the rest back), and the parked ones end with their socket.
async fn pipelined_receives(suite: &Suite, section: &mut Section) -> Result<()> {
    let calls = suite.size.probe_receives;
    let data = suite.data_dir("memory-receives")?;
    let server = Server::start(&suite.bin, &data, Options::default()).await?;
    let api = Api::new(server.url(""), None)?;
    let id = api.actor_id("gate", "receives").await?;
    let mut conn = Conn::open(&server.ws_url(""), &id, Encoding::Bare).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server.rss_kib()? as i64;
    // A send that waits this long means the socket's buffers are full: the server reads no more.
    let mut sent = 0usize;
    while sent < calls {
        let call = conn.call(sent as u64, "waitForJob", vec![]);
        match tokio::time::timeout(Duration::from_secs(2), call).await {
            Ok(result) => result?,
            Err(_) => break,
        }
        sent += 1;
    }
    tokio::time::sleep(SETTLE).await;
    let during = server.rss_kib()? as i64;
    let parked = api.output(&id, "stats", vec![]).await?["waiting"].clone();
    drop(conn);
    let mut waiting = json!(null);
    for _ in 0..100 {
        waiting = api.output(&id, "stats", vec![]).await?["waiting"].clone();
        if waiting == json!(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = server.rss_kib()? as i64;
    let growth = mib(during - before);
    section.headline(
        format!(
            "RSS growth: {calls} pipelined `receive` calls on one WebSocket ({sent} sent before \
             TCP held the client back, {parked} parked at once)"
        ),
        format!(
            "{growth:.1} MiB while open, {:.1} MiB after it closed",
            mib(after - before)
        ),
    );
    section.check(
        "parked `receive` calls end with their socket",
        waiting == json!(0),
        format!("{waiting} still waiting after the close"),
    );
    section.bound(
        format!("pipelined receives grow RSS by at most {RECEIVES_BOUND_MIB} MiB"),
        growth <= RECEIVES_BOUND_MIB,
        format!("grew {growth:.1} MiB"),
        suite.enforce_memory_bounds,
    );
    Ok(())
}

/// Idle protocol WebSockets: RSS per socket.
async fn idle_sockets(suite: &Suite, section: &mut Section) -> Result<()> {
    let sockets = suite.size.probe_idle_sockets;
    let (server, _api, id) = fresh(suite, "idle-sockets").await?;
    let ws = server.ws_url("");
    // One first, so the actor and the first connection's one-off costs are in `before`.
    let first = Conn::open(&ws, &id, Encoding::Json).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server.rss_kib()? as i64;
    let mut held = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        held.push(Conn::open(&ws, &id, Encoding::Json).await?);
    }
    tokio::time::sleep(SETTLE).await;
    let after = server.rss_kib()? as i64;
    let per_socket = (after - before) as f64 / sockets as f64;
    section.headline(
        format!("RSS per idle WebSocket ({sockets} sockets)"),
        format!("{per_socket:.1} KiB"),
    );
    section.bound(
        format!("an idle WebSocket costs at most {IDLE_SOCKET_BOUND_KIB} KiB"),
        per_socket <= IDLE_SOCKET_BOUND_KIB,
        format!("{per_socket:.1} KiB"),
        suite.enforce_memory_bounds,
    );
    drop((first, held));
    Ok(())
}
