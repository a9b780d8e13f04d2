//! Connections that hold the server's places: slowloris sockets (partial headers, sent slowly,
//! and sockets that send nothing) against the header-read timeout, and more WebSockets than the
//! process has descriptors for against `max_connections`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rivetkit_protocol::Encoding;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{open_socket, Api};
use crate::report::Section;
use crate::server::{Options, Server};
use crate::Suite;

/// The server's default `header_read_timeout` (README "Server options"); seed-server has no
/// flag for it, so the suite waits this long plus a margin.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Past the timeout, how long the server gets to close the sockets.
const REAP_MARGIN: Duration = Duration::from_secs(5);
/// A slowloris socket sends one more header line this often.
const TRICKLE_EVERY: Duration = Duration::from_secs(1);
/// A real client's action, this often, while the attack runs.
const PROBE_EVERY: Duration = Duration::from_millis(200);

pub async fn slowloris(suite: &Suite) -> Section {
    let mut section = Section::new("Slowloris");
    if let Err(error) = run_slowloris(suite, &mut section).await {
        section.error(&error);
    }
    section
}

/// A slowloris socket until the server closes it: Some(time it lived) or None if it outlived
/// `limit`.
async fn hold_open(port: u16, trickle: bool, limit: Duration) -> Result<Option<Duration>> {
    let opened = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    if trickle {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await?;
    }
    let mut buffer = [0u8; 512];
    let mut line = 0u64;
    loop {
        let remaining = limit.saturating_sub(opened.elapsed());
        if remaining.is_zero() {
            return Ok(None);
        }
        match tokio::time::timeout(TRICKLE_EVERY.min(remaining), stream.read(&mut buffer)).await {
            // Closed (or reset) by the server; anything it wrote first (a 408) is read on.
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(Some(opened.elapsed())),
            Ok(Ok(_)) => continue,
            Err(_) if trickle => {
                line += 1;
                if stream
                    .write_all(format!("X-Slow-{line}: 1\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return Ok(Some(opened.elapsed()));
                }
            }
            Err(_) => {}
        }
    }
}

async fn run_slowloris(suite: &Suite, section: &mut Section) -> Result<()> {
    let sockets = suite.size.slowloris_sockets;
    let limit = HEADER_READ_TIMEOUT + REAP_MARGIN;
    section.tried(format!(
        "{sockets} sockets on a fresh server: half send a request line and then one more header \
         line every {} s, never finishing the headers; half send nothing. Each is watched for {} s \
         (the default header-read timeout of {} s plus {} s). Meanwhile a real client calls an \
         action every {} ms.",
        TRICKLE_EVERY.as_secs(),
        limit.as_secs(),
        HEADER_READ_TIMEOUT.as_secs(),
        REAP_MARGIN.as_secs(),
        PROBE_EVERY.as_millis()
    ));
    let data = suite.data_dir("slowloris")?;
    let server = Server::start(&suite.bin, &data, Options::default()).await?;
    let api = Api::new(server.url(""), None)?;
    let id = api.actor_id("counter", "slowloris").await?;
    let attackers: Vec<_> = (0..sockets)
        .map(|n| tokio::spawn(hold_open(server.port, n % 2 == 0, limit)))
        .collect();
    let (mut served, mut refused, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let probe_until = Instant::now() + limit;
    while Instant::now() < probe_until {
        let started = Instant::now();
        match api.action(&id, "increment", vec![json!(1)]).await {
            Ok(answer) if answer.status == 200 => served += 1,
            _ => refused += 1,
        }
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(PROBE_EVERY).await;
    }
    let (mut reaped, mut lifetimes) = (0usize, Vec::new());
    for attacker in attackers {
        if let Some(lived) = attacker.await?? {
            reaped += 1;
            lifetimes.push(lived);
        }
    }
    lifetimes.sort();
    let median = lifetimes
        .get(lifetimes.len() / 2)
        .copied()
        .unwrap_or_default();
    section.headline(
        "slowloris sockets reaped by the server",
        format!(
            "{reaped} of {sockets} (median after {:.1} s)",
            median.as_secs_f64()
        ),
    );
    section.figure(
        "real client's actions served during the attack",
        format!(
            "{served} of {} (slowest {} ms)",
            served + refused,
            slowest.as_millis()
        ),
    );
    section.check(
        "every slowloris socket was closed by the server",
        reaped == sockets,
        format!(
            "{} still open after {} s",
            sockets - reaped,
            limit.as_secs()
        ),
    );
    section.check(
        "the real client was served throughout",
        refused == 0 && served > 0,
        format!("{refused} actions failed"),
    );
    Ok(())
}

pub async fn fd_exhaustion(suite: &Suite) -> Section {
    let mut section = Section::new("File-descriptor exhaustion");
    if let Err(error) = run_fd_exhaustion(suite, &mut section).await {
        section.error(&error);
    }
    section
}

/// The default `max_connections` for an open-file limit (README "Server options").
fn default_max_connections(open_files: u64) -> u64 {
    (open_files - 256.max(open_files / 4)).min(10_000)
}

async fn run_fd_exhaustion(suite: &Suite, section: &mut Section) -> Result<()> {
    let open_files = suite.size.fd_limit;
    let max_connections = default_max_connections(open_files);
    let attempts = max_connections as usize + 50;
    section.tried(format!(
        "A fresh server with an open-file limit of {open_files} (so `max_connections` defaults to \
         {max_connections}) gets {attempts} WebSockets opened and held; then a new client calls an \
         action over HTTP. The client must get a typed 503 at once, not a stall, and once the \
         sockets close the server must serve again."
    ));
    let data = suite.data_dir("fd-exhaustion")?;
    let mut server = Server::start(
        &suite.bin,
        &data,
        Options {
            open_files: Some(open_files),
            ..Options::default()
        },
    )
    .await?;
    let api = Api::new(server.url(""), None)?;
    let id = api.actor_id("counter", "fd-exhaustion").await?;
    let url = server.ws_url(&format!("/gateway/{id}/connect"));
    let mut held = Vec::new();
    let mut refused = 0usize;
    for _ in 0..attempts {
        match open_socket(&url, Encoding::Json).await {
            Ok(socket) => held.push(socket),
            Err(_) => refused += 1,
        }
    }
    let started = Instant::now();
    let (status, code) = raw_get_health(server.port).await?;
    let waited = started.elapsed();
    // Clients of their own: `api` holds a pooled connection that the server already counts.
    let library = match Api::new(server.url(""), None)?.get("/health").await {
        Ok(answer) => format!("{} {}", answer.status, answer.error_code()),
        Err(error) => format!("no answer: {}", error_chain(&error)),
    };
    section.figure(
        "WebSockets held / refused",
        format!("{} / {refused} of {attempts}", held.len()),
    );
    section.headline(
        "new client at the connection limit (GET /health)",
        format!("{status} {code} after {} ms", waited.as_millis()),
    );
    section.figure("the same through reqwest (hyper)", &library);
    section.check(
        "a client beyond the limit gets 503 request/overloaded",
        status == 503 && code == "request/overloaded",
        format!("got {status} {code}"),
    );
    section.check(
        "an HTTP client library reads the 503",
        library == "503 request/overloaded",
        format!("reqwest got {library}"),
    );
    section.check(
        "the server is still running at the limit",
        server.is_running(),
        "the process exited",
    );
    drop(held);
    let recovered = wait_for_action(
        &Api::new(server.url(""), None)?,
        &id,
        Duration::from_secs(10),
    )
    .await;
    section.check(
        "the server serves again once the sockets close",
        recovered.is_ok(),
        recovered
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default(),
    );
    Ok(())
}

/// `GET /health` on a new connection, written at once and read to the end: the status and the
/// error's `group/code`.
async fn raw_get_health(port: u16) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    // The server may answer and close before the request is written.
    let _ = stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .context("no answer within 10 s")??;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    let body: serde_json::Value = response
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or_default();
    let code = match (body["group"].as_str(), body["code"].as_str()) {
        (Some(group), Some(code)) => format!("{group}/{code}"),
        _ => String::new(),
    };
    Ok((status, code))
}

/// An error and its causes, on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Calls `increment` until it succeeds or `limit` passes.
async fn wait_for_action(api: &Api, id: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(answer) = api.action(id, "increment", vec![json!(1)]).await {
            if answer.status == 200 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("no action succeeded within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
