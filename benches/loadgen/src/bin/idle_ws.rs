//! `rivetkit-idle-ws`: what an idle WebSocket costs the server (issue 8's "≤ 16 KiB" goal).
//!
//! Resolves one `counter` actor with `PUT /actors`, opens and closes one socket to start it,
//! reads the server's `VmRSS` from `/proc/{pid}/status`, opens `--sockets` protocol
//! connections (`/gateway/{id}/connect`, JSON encoding, each waits for its `Init`), lets the
//! server settle, reads `VmRSS` again and prints one JSON line: the RSS before and after and
//! their difference per socket. The sockets send nothing after the handshake. Loopback only.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
#[command(about = "Measures the server RSS an idle WebSocket costs (loopback only)")]
struct Args {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:6420")]
    addr: String,
    /// The server's process id, whose /proc/{pid}/status is read.
    #[arg(long)]
    pid: u32,
    /// Idle sockets to open.
    #[arg(long, default_value_t = 2000)]
    sockets: usize,
    /// How long to wait after the last socket opened before reading the RSS again.
    #[arg(long, default_value_t = 2000)]
    settle_ms: u64,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The server's resident set, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS without a value")?
        .parse()?)
}

/// `PUT /actors` over a one-off HTTP/1.1 connection: the id of `counter` with key `idle-ws`.
async fn resolve_counter(addr: &str) -> Result<String> {
    let body = json!({"name": "counter", "key": "idle-ws", "runner_name_selector": "default", "crash_policy": "sleep"}).to_string();
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "PUT /actors?namespace=default HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no HTTP body in the answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("PUT /actors answered {head}");
    }
    let body: Value = serde_json::from_str(body)?;
    body["actor"]["actor_id"]
        .as_str()
        .map(str::to_owned)
        .context("no actor id in the answer")
}

/// Opens one protocol connection and waits for its `Init`.
async fn open(addr: &str, actor_id: &str) -> Result<Socket> {
    let mut request = format!("ws://{addr}/gateway/{actor_id}/connect").into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "rivet, rivet_encoding.json".parse()?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("Init") => return Ok(socket),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => bail!("expected Init, got {other:?}"),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let host = args.addr.split(':').next().unwrap_or_default();
    if !(host == "localhost" || host.starts_with("127.") || host == "[::1]") {
        bail!("{} is not a loopback address", args.addr);
    }
    let actor_id = resolve_counter(&args.addr).await?;
    drop(open(&args.addr, &actor_id).await?);
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    let before = rss_kib(args.pid)?;
    let mut sockets = Vec::with_capacity(args.sockets);
    for _ in 0..args.sockets {
        sockets.push(open(&args.addr, &actor_id).await?);
    }
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    let after = rss_kib(args.pid)?;
    let per_socket = (after.saturating_sub(before)) as f64 / args.sockets as f64;
    println!(
        "{}",
        json!({
            "sockets": args.sockets,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_socket": (per_socket * 10.0).round() / 10.0,
        })
    );
    drop(sockets);
    Ok(())
}
