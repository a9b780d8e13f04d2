//! `rivetkit-loadgen`: the load generator of the end-to-end benchmark (see `benches/run.sh`).
//!
//! Modes (each prints one JSON line of results on stdout):
//!
//! * `http-action` — `POST /gateway/{actor_id}/action/{action}` with `{"args":[1]}` (JSON
//!   encoding) from `--concurrency` workers, one keep-alive HTTP/1.1 connection each, spread
//!   round-robin over `--actors` actors (keys `{key-prefix}-{i}`, resolved with `PUT /actors`
//!   before the clock starts; `--no-resolve` skips that for the baseline server).
//! * `http-get` — `GET {path}` (e.g. `/health`), same worker model.
//! * `ws` — `--connections` WebSocket connections (`/gateway/{id}/connect`, JSON encoding),
//!   spread over the actors, each pipelining `ActionRequest`s with up to `--window` in flight.
//! * `fanout` — `--subscribers` WebSocket connections subscribe to `--event` on one actor, and
//!   one more calls the action (`--window` in flight): events delivered per second and the
//!   delivery latency (action sent → event received).
//! * `setup` — get-or-create `--actors` actors and report how long it took.
//! * `fsync` — the disk's `pwrite(4 KiB) + fdatasync` latency in `--dir` (overwrite in place, as
//!   a reused SQLite WAL does, and append).
//!
//! Load is sent to loopback addresses only, for at most `--warmup + --duration` seconds and
//! `--max-requests` requests.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    HttpAction,
    HttpGet,
    Ws,
    Fanout,
    Setup,
    Fsync,
}

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Load generator for the rivetkit-rs end-to-end benchmark (loopback targets only)"
)]
struct Args {
    /// Base URL of the server (loopback only), e.g. http://127.0.0.1:6420
    #[arg(long, default_value = "http://127.0.0.1:6420")]
    url: String,
    #[arg(long, value_enum, default_value = "http-action")]
    mode: Mode,
    /// Parallel workers (HTTP modes), each with its own keep-alive connection.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Number of actors the requests are spread over (round-robin).
    #[arg(long, default_value_t = 1)]
    actors: usize,
    /// Actor keys are `{key_prefix}-{i}`.
    #[arg(long, default_value = "bench")]
    key_prefix: String,
    /// Actor name.
    #[arg(long, default_value = "counter")]
    name: String,
    /// Action to call.
    #[arg(long, default_value = "increment")]
    action: String,
    /// Namespace for the manager API.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Create input of the actors that `PUT /actors` creates: base64 of its CBOR encoding,
    /// sent as it is (an existing actor keeps the input it was created with).
    #[arg(long)]
    input: Option<String>,
    /// The pool (runner name) a Rivet Engine places new actors on.
    #[arg(long, default_value = "default")]
    pool: String,
    /// Do not resolve actors (for the baseline server, which answers every request alike).
    #[arg(long)]
    no_resolve: bool,
    /// Path for `http-get`.
    #[arg(long, default_value = "/health")]
    path: String,
    /// Requests in flight on each WebSocket (`ws`; the driver of `fanout`).
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// WebSocket connections (`ws`), spread round-robin over the actors.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Subscribers of `fanout`.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// The event `fanout`'s subscribers subscribe to.
    #[arg(long, default_value = "count")]
    event: String,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Warm-up seconds (requests sent, not measured).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Hard cap on requests per run.
    #[arg(long, default_value_t = 20_000_000)]
    max_requests: u64,
    /// Directory for `fsync` (same file system as the server's data dir).
    #[arg(long, default_value = ".")]
    dir: std::path::PathBuf,
    /// Also report the CPU (cores busy) of this process id — the server — over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Free-form label copied into the JSON output.
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !(0.0..=600.0).contains(&args.duration) || !(0.0..=60.0).contains(&args.warmup) {
        bail!("--duration must be within 0..=600 s and --warmup within 0..=60 s");
    }
    if args.mode == Mode::Fsync {
        return fsync_bench(&args);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async_main(args))
}

async fn async_main(args: Args) -> Result<()> {
    let target = Target::parse(&args.url)?;
    match args.mode {
        Mode::Setup => setup(&args, &target).await,
        Mode::HttpAction | Mode::HttpGet => http_load(&args, &target).await,
        Mode::Ws => ws_load(&args, &target).await,
        Mode::Fanout => fanout_load(&args, &target).await,
        Mode::Fsync => unreachable!(),
    }
}

// ---------------------------------------------------------------- target and HTTP connection

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    authority: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must start with http://"))?;
        let authority = rest.trim_end_matches('/').to_string();
        if authority.contains('/') {
            bail!("--url must have no path");
        }
        let addr = authority
            .to_socket_addrs()
            .with_context(|| format!("resolving {authority}"))?
            .next()
            .ok_or_else(|| anyhow!("{authority} resolves to nothing"))?;
        if !addr.ip().is_loopback() {
            bail!("refusing to load {addr}: only loopback targets are allowed");
        }
        Ok(Self { addr, authority })
    }
}

struct Conn {
    target: Target,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(target: &Target) -> Result<Self> {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            target: target.clone(),
            sender,
        })
    }

    async fn reopen(&mut self) -> Result<()> {
        *self = Self::open(&self.target).await?;
        Ok(())
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        json_body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.target.authority)
            .header(hyper::header::USER_AGENT, "rivetkit-loadgen");
        let body = match json_body {
            Some(body) => {
                builder = builder
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .header("x-rivet-encoding", "json");
                body
            }
            None => Bytes::new(),
        };
        let response = self
            .sender
            .send_request(builder.body(Full::new(body))?)
            .await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

// ---------------------------------------------------------------- actors

fn actor_key(args: &Args, i: usize) -> String {
    format!("{}-{}", args.key_prefix, i)
}

async fn get_or_create(conn: &mut Conn, args: &Args, key: &str) -> Result<(String, bool)> {
    let mut body = json!({
        "name": args.name,
        "key": key,
        "runner_name_selector": args.pool,
        "crash_policy": "sleep",
    });
    if let Some(input) = &args.input {
        body["input"] = json!(input);
    }
    let path = format!("/actors?namespace={}", args.namespace);
    let body = Bytes::from(body.to_string());
    // Get-or-create is idempotent, so a server error is retried a few times: the Rivet Engine
    // was seen to time out a create (500) now and then on a busy machine.
    let mut attempt = 0;
    let (status, body) = loop {
        let (status, answer) = conn.send(Method::PUT, &path, Some(body.clone())).await?;
        attempt += 1;
        if !status.is_server_error() || attempt == 5 {
            break (status, answer);
        }
        eprintln!("PUT /actors {key}: {status}, retrying");
    };
    if !status.is_success() {
        bail!(
            "PUT /actors {key}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let value: Value =
        serde_json::from_slice(&body).context("PUT /actors: response is not JSON")?;
    let id = value["actor"]["actor_id"]
        .as_str()
        .ok_or_else(|| anyhow!("PUT /actors {key}: no actor.actor_id in {value}"))?;
    Ok((id.to_string(), value["created"].as_bool().unwrap_or(false)))
}

async fn resolve_actors(args: &Args, target: &Target) -> Result<Vec<String>> {
    if args.no_resolve {
        return Ok((0..args.actors.max(1))
            .map(|i| format!("baseline{i}"))
            .collect());
    }
    let mut conn = Conn::open(target).await?;
    let mut ids = Vec::with_capacity(args.actors);
    for i in 0..args.actors.max(1) {
        ids.push(get_or_create(&mut conn, args, &actor_key(args, i)).await?.0);
    }
    Ok(ids)
}

async fn setup(args: &Args, target: &Target) -> Result<()> {
    let started = Instant::now();
    let mut conn = Conn::open(target).await?;
    let mut created = 0u64;
    for i in 0..args.actors.max(1) {
        if get_or_create(&mut conn, args, &actor_key(args, i)).await?.1 {
            created += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"label": args.label, "mode": "setup", "actors": args.actors, "created": created,
               "elapsed_s": round3(elapsed), "per_actor_ms": round3(elapsed * 1e3 / args.actors.max(1) as f64)})
    );
    Ok(())
}

// ---------------------------------------------------------------- CPU accounting

/// User + system CPU seconds of a process (all its threads), from `/proc/{pid}/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (1-based).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Resident set of a process in KiB (`VmRSS` in `/proc/{pid}/status`).
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Bytes a process handed to `write` and friends (`wchar`) and bytes it caused to be sent to
/// the disk (`write_bytes`), from `/proc/{pid}/io`: what a state save costs in writes.
fn written_bytes(pid: &str) -> Option<(u64, u64)> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| -> Option<u64> {
        io.lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .parse()
            .ok()
    };
    Some((field("wchar:")?, field("write_bytes:")?))
}

/// Busy CPU seconds of the whole machine (all cores), from `/proc/stat`.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice
    if v.len() < 8 {
        return None;
    }
    Some((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / 100.0)
}

/// Samples the CPU of the load generator and of `--server-pid` over the measured window, or
/// until `done` is notified (a run that reached `--max-requests` early); with a server, also
/// the bytes it wrote in that window and its resident set at the end of it.
fn spawn_cpu_sampler(
    args: &Args,
    clock: &Clock,
    done: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<Value> {
    let server = args.server_pid.map(|p| p.to_string());
    let (start, end) = (clock.measure_start, clock.end);
    tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        let t0 = Instant::now();
        let c0 = cpu_seconds("self");
        let s0 = server.as_deref().and_then(cpu_seconds);
        let w0 = server.as_deref().and_then(written_bytes);
        let m0 = machine_busy_seconds();
        tokio::select! {
            () = tokio::time::sleep_until(end.into()) => {}
            () = done.notified() => {}
        }
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        let c1 = cpu_seconds("self");
        let s1 = server.as_deref().and_then(cpu_seconds);
        let w1 = server.as_deref().and_then(written_bytes);
        let rss = server.as_deref().and_then(rss_kib);
        let m1 = machine_busy_seconds();
        let cores = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => json!(round3((b - a) / dt)),
            _ => Value::Null,
        };
        // Whatever else kept the machine busy (other processes): a noisy row shows here.
        let other = match (m0, m1, c0, c1) {
            (Some(m0), Some(m1), Some(c0), Some(c1)) => {
                let server = match (s0, s1) {
                    (Some(a), Some(b)) => b - a,
                    _ => 0.0,
                };
                json!(round3(((m1 - m0) - (c1 - c0) - server).max(0.0) / dt))
            }
            _ => Value::Null,
        };
        let (wchar, write_bytes) = match (w0, w1) {
            (Some(a), Some(b)) => (json!(b.0 - a.0), json!(b.1 - a.1)),
            _ => (Value::Null, Value::Null),
        };
        json!({"client_cores": cores(c0, c1), "server_cores": cores(s0, s1), "other_cores": other,
               "server_wchar": wchar, "server_write_bytes": write_bytes, "server_rss_kib": rss})
    })
}

// ---------------------------------------------------------------- results

fn new_histogram() -> Histogram<u64> {
    // Nanoseconds, 1 ns .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

#[derive(Default)]
struct Tally {
    requests: u64,
    errors: u64,
    last_done: Option<Instant>,
    first_error: Option<String>,
}

impl Tally {
    /// Counts one measured request, sent at `started` and answered at `done`.
    fn record(&mut self, hist: &mut Histogram<u64>, ok: bool, started: Instant, done: Instant) {
        if ok {
            self.requests += 1;
            let _ = hist.record((done - started).as_nanos() as u64);
        } else {
            self.errors += 1;
        }
        self.last_done = Some(done);
    }
}

struct Clock {
    measure_start: Instant,
    end: Instant,
}

impl Clock {
    fn new(args: &Args) -> Self {
        let now = Instant::now();
        let measure_start = now + Duration::from_secs_f64(args.warmup);
        Self {
            measure_start,
            end: measure_start + Duration::from_secs_f64(args.duration),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn report(
    args: &Args,
    mode: &str,
    clock: &Clock,
    hist: &Histogram<u64>,
    tally: &Tally,
    extra: Value,
) {
    let elapsed = tally
        .last_done
        .map(|t| {
            t.saturating_duration_since(clock.measure_start)
                .as_secs_f64()
        })
        .unwrap_or(0.0)
        .max(1e-9);
    let ms = |ns: u64| round3(ns as f64 / 1e6);
    let mut out = json!({
        "label": args.label,
        "mode": mode,
        "concurrency": args.concurrency,
        "actors": args.actors,
        "window": args.window,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "requests": tally.requests,
        "errors": tally.errors,
        "elapsed_s": round3(elapsed),
        "rps": (tally.requests as f64 / elapsed).round(),
        "mean_ms": round3(hist.mean() / 1e6),
        "p50_ms": ms(hist.value_at_quantile(0.50)),
        "p90_ms": ms(hist.value_at_quantile(0.90)),
        "p99_ms": ms(hist.value_at_quantile(0.99)),
        "p999_ms": ms(hist.value_at_quantile(0.999)),
        "max_ms": ms(hist.max()),
    });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            out[k] = v;
        }
    }
    if let Some(error) = &tally.first_error {
        out["first_error"] = json!(error);
    }
    println!("{out}");
}

// ---------------------------------------------------------------- HTTP load

async fn http_load(args: &Args, target: &Target) -> Result<()> {
    let actors = if args.mode == Mode::HttpAction {
        resolve_actors(args, target).await?
    } else {
        Vec::new()
    };
    let actors = Arc::new(actors);
    let concurrency = args.concurrency.max(1);
    // Open every connection before the clock starts.
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::open(target).await?);
    }
    let clock = Arc::new(Clock::new(args));
    let sampled = Arc::new(tokio::sync::Notify::new());
    let cpu = spawn_cpu_sampler(args, &clock, sampled.clone());
    let issued = Arc::new(AtomicU64::new(0));
    let body = Bytes::from_static(br#"{"args":[1]}"#);
    let mut tasks = Vec::with_capacity(concurrency);
    for (worker, mut conn) in conns.into_iter().enumerate() {
        let (actors, clock, issued, body, args) = (
            actors.clone(),
            clock.clone(),
            issued.clone(),
            body.clone(),
            args.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut hist = new_histogram();
            let mut tally = Tally::default();
            let paths: Vec<String> = match args.mode {
                Mode::HttpAction => actors
                    .iter()
                    .map(|id| format!("/gateway/{id}/action/{}", args.action))
                    .collect(),
                _ => vec![args.path.clone()],
            };
            // Worker w takes actors w, w+C, w+2C, … so that workers rarely hit the same actor.
            let mut next = worker % paths.len();
            loop {
                let started = Instant::now();
                if started >= clock.end
                    || issued.fetch_add(1, Ordering::Relaxed) >= args.max_requests
                {
                    break;
                }
                let path = &paths[next];
                next = (next + concurrency) % paths.len();
                let result = match args.mode {
                    Mode::HttpAction => conn.send(Method::POST, path, Some(body.clone())).await,
                    _ => conn.send(Method::GET, path, None).await,
                };
                let done = Instant::now();
                let measured = started >= clock.measure_start;
                let ok = match &result {
                    Ok((status, body)) if status.is_success() => {
                        args.mode != Mode::HttpAction || body.starts_with(br#"{"output":"#)
                    }
                    _ => false,
                };
                if !ok {
                    if tally.first_error.is_none() {
                        tally.first_error = Some(match &result {
                            Ok((status, body)) => {
                                format!("{status} {}", String::from_utf8_lossy(body))
                            }
                            Err(e) => format!("{e:#}"),
                        });
                    }
                    if result.is_err() {
                        // The connection may be gone: reconnect (outside the timing).
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        let _ = conn.reopen().await;
                    }
                }
                if measured {
                    tally.record(&mut hist, ok, started, done);
                }
            }
            (hist, tally)
        }));
    }
    let mut hist = new_histogram();
    let mut tally = Tally::default();
    for task in tasks {
        merge(&mut hist, &mut tally, task.await?);
    }
    let mode = if args.mode == Mode::HttpAction {
        "http-action"
    } else {
        "http-get"
    };
    sampled.notify_one();
    let cpu = cpu.await.unwrap_or(Value::Null);
    report(args, mode, &clock, &hist, &tally, cpu);
    Ok(())
}

// ---------------------------------------------------------------- WebSocket load

type WsStream = tokio_tungstenite::WebSocketStream<TcpStream>;
type WsSink = futures::stream::SplitSink<WsStream, Message>;
type WsSource = futures::stream::SplitStream<WsStream>;

/// An integer at the start of `text`: `7` or `["$BigInt","7"]` (how JSON carries a bigint).
fn leading_int(text: &str) -> Option<i64> {
    let digits = match text.strip_prefix(r#"["$BigInt",""#) {
        Some(rest) => &rest[..rest.find('"')?],
        None => {
            let end = text
                .find(|c: char| !(c.is_ascii_digit() || c == '-'))
                .unwrap_or(text.len());
            &text[..end]
        }
    };
    digits.parse().ok()
}

/// The integer after `field` (e.g. `"id":`) in a JSON message.
fn int_after(text: &str, field: &str) -> Option<i64> {
    leading_int(&text[text.find(field)? + field.len()..])
}

/// A protocol WebSocket to `actor_id` (JSON encoding), once its `Init` arrived.
async fn ws_connect(target: &Target, actor_id: &str) -> Result<(WsSink, WsSource)> {
    let url = format!("ws://{}/gateway/{actor_id}/connect", target.authority);
    let mut request = url.as_str().into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "rivet, rivet_encoding.json".parse()?,
    );
    let stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    // tungstenite zero-fills its read buffer up to this size before every read; at its default
    // (128 KiB) that made a fan-out subscriber's reads cost the load generator more than the
    // server spent sending, on the cores they share.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .context("WebSocket handshake")?;
    let (sink, mut stream) = ws.split();
    let init = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .context("no Init within 10 s")?
        .ok_or_else(|| anyhow!("socket closed before Init"))??;
    let init = init.into_text().unwrap_or_default();
    if !init.contains(r#""tag":"Init""#) {
        bail!("first message is not Init: {init}");
    }
    Ok((sink, stream))
}

/// When each action of a fan-out's driver was sent (indexed by action id), and how the
/// events' values map to ids: the driver is the only writer, so the value its action `id`
/// produces is `id + offset`, the offset read from the first response.
struct SendTimes {
    epoch: Instant,
    sent_ns: Vec<AtomicU64>,
    offset: std::sync::OnceLock<i64>,
}

impl SendTimes {
    fn new(epoch: Instant, capacity: usize) -> Self {
        Self {
            epoch,
            sent_ns: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            offset: std::sync::OnceLock::new(),
        }
    }

    fn sent(&self, id: u64, at: Instant) {
        if let Some(slot) = self.sent_ns.get(id as usize) {
            slot.store((at - self.epoch).as_nanos() as u64, Ordering::Release);
        }
    }

    /// When the action whose event carries `value` was sent.
    fn sent_at(&self, value: i64) -> Option<Instant> {
        let id = usize::try_from(value - *self.offset.get()?).ok()?;
        let ns = self.sent_ns.get(id)?.load(Ordering::Acquire);
        (ns > 0).then(|| self.epoch + Duration::from_nanos(ns))
    }
}

/// Runs `ActionRequest`s on one socket with up to `window` in flight until the clock ends;
/// the latency of each is send → response. With `times`, records when each was sent and the
/// offset of the values the actions produce.
async fn ws_drive(
    args: &Args,
    clock: Arc<Clock>,
    (mut sink, mut stream): (WsSink, WsSource),
    times: Option<Arc<SendTimes>>,
) -> (Histogram<u64>, Tally) {
    let window = args.window.max(1);
    let permits = Arc::new(Semaphore::new(window));
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(window * 2)));
    let sent_total = Arc::new(AtomicU64::new(0));
    let writer_done = Arc::new(tokio::sync::Notify::new());

    let writer = {
        let (clock, permits, sent_at, sent_total, writer_done, times, args) = (
            clock.clone(),
            permits.clone(),
            sent_at.clone(),
            sent_total.clone(),
            writer_done.clone(),
            times.clone(),
            args.clone(),
        );
        tokio::spawn(async move {
            let mut id: u64 = 0;
            let result: Result<()> = async {
                'outer: loop {
                    let permit = permits.acquire().await?;
                    permit.forget();
                    let mut batch = 1;
                    while let Ok(p) = permits.try_acquire() {
                        p.forget();
                        batch += 1;
                    }
                    for _ in 0..batch {
                        let now = Instant::now();
                        if now >= clock.end || id >= args.max_requests {
                            break 'outer;
                        }
                        let frame = format!(
                            r#"{{"body":{{"tag":"ActionRequest","val":{{"id":["$BigInt","{id}"],"name":"{}","args":[1]}}}}}}"#,
                            args.action
                        );
                        sent_at.lock().unwrap().insert(id, now);
                        if let Some(times) = &times {
                            times.sent(id, now);
                        }
                        sink.feed(Message::text(frame)).await?;
                        id += 1;
                        sent_total.store(id, Ordering::Release);
                    }
                    sink.flush().await?;
                }
                sink.flush().await?;
                Ok(())
            }
            .await;
            writer_done.notify_one();
            (sink, result)
        })
    };

    let mut hist = new_histogram();
    let mut tally = Tally::default();
    let mut received: u64 = 0;
    let mut writer_finished = false;
    let hard_stop = clock.end + Duration::from_secs(10);
    loop {
        if writer_finished && received >= sent_total.load(Ordering::Acquire) {
            break;
        }
        let next = tokio::select! {
            m = stream.next() => m,
            _ = writer_done.notified(), if !writer_finished => { writer_finished = true; continue; }
            _ = tokio::time::sleep_until(hard_stop.into()) => {
                tally.first_error.get_or_insert_with(|| "responses missing at the hard stop".into());
                break;
            }
        };
        let message = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tally
                    .first_error
                    .get_or_insert_with(|| format!("socket error: {e}"));
                break;
            }
            None => {
                tally
                    .first_error
                    .get_or_insert_with(|| "socket closed".into());
                break;
            }
        };
        let text = match &message {
            Message::Text(t) => t.as_str(),
            Message::Close(frame) => {
                tally
                    .first_error
                    .get_or_insert_with(|| format!("socket closed by server: {frame:?}"));
                break;
            }
            _ => continue,
        };
        let (id, ok) = if text.contains(r#""tag":"ActionResponse""#) {
            (int_after(text, r#""id":"#), true)
        } else if text.contains(r#""tag":"Error""#) {
            tally.first_error.get_or_insert_with(|| text.to_string());
            (int_after(text, r#""actionId":"#), false)
        } else {
            continue; // events
        };
        let Some(id) = id.and_then(|id| u64::try_from(id).ok()) else {
            tally
                .first_error
                .get_or_insert_with(|| format!("response without an id: {text}"));
            continue;
        };
        if let (Some(times), true) = (&times, ok) {
            if let Some(output) = int_after(text, r#""output":"#) {
                let _ = times.offset.set(output - id as i64);
            }
        }
        let Some(started) = sent_at.lock().unwrap().remove(&id) else {
            continue;
        };
        let done = Instant::now();
        received += 1;
        permits.add_permits(1);
        if started >= clock.measure_start {
            tally.record(&mut hist, ok, started, done);
        }
    }
    permits.close();
    if let Ok((mut sink, result)) = writer.await {
        if let Err(e) = result {
            tally
                .first_error
                .get_or_insert_with(|| format!("writer: {e:#}"));
        }
        let _ = sink.send(Message::Close(None)).await;
    }
    (hist, tally)
}

/// Adds one worker's results to the totals.
fn merge(hist: &mut Histogram<u64>, tally: &mut Tally, (h, t): (Histogram<u64>, Tally)) {
    hist.add(&h).ok();
    tally.requests += t.requests;
    tally.errors += t.errors;
    tally.last_done = tally.last_done.max(t.last_done);
    if tally.first_error.is_none() {
        tally.first_error = t.first_error;
    }
}

/// `--connections` sockets to the first actor, each pipelining up to `--window` actions.
async fn ws_load(args: &Args, target: &Target) -> Result<()> {
    let actors = resolve_actors(args, target).await?;
    let mut sockets = Vec::with_capacity(args.connections);
    for i in 0..args.connections.max(1) {
        sockets.push(ws_connect(target, &actors[i % actors.len()]).await?);
    }
    let clock = Arc::new(Clock::new(args));
    let sampled = Arc::new(tokio::sync::Notify::new());
    let cpu = spawn_cpu_sampler(args, &clock, sampled.clone());
    let drivers: Vec<_> = sockets
        .into_iter()
        .map(|socket| {
            let (args, clock) = (args.clone(), clock.clone());
            tokio::spawn(async move { ws_drive(&args, clock, socket, None).await })
        })
        .collect();
    let mut hist = new_histogram();
    let mut tally = Tally::default();
    for driver in drivers {
        merge(&mut hist, &mut tally, driver.await?);
    }
    let mut args = args.clone();
    args.concurrency = args.connections;
    sampled.notify_one();
    let cpu = cpu.await.unwrap_or(Value::Null);
    report(&args, "ws", &clock, &hist, &tally, cpu);
    Ok(())
}

/// One subscriber of a fan-out: what it received, as (value, arrival) pairs, checked later.
async fn subscriber(mut stream: WsSource, stop: Instant) -> (Vec<(i64, Instant)>, Option<String>) {
    let mut events = Vec::new();
    loop {
        let next = tokio::select! {
            m = stream.next() => m,
            _ = tokio::time::sleep_until(stop.into()) => return (events, None),
        };
        let at = Instant::now();
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let error = (at < stop).then(|| format!("socket closed by server: {frame:?}"));
                return (events, error);
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return (events, Some(format!("subscriber socket error: {e}"))),
            None => {
                return (
                    events,
                    (at < stop).then(|| "subscriber socket closed".into()),
                )
            }
        };
        if at >= stop {
            return (events, None);
        }
        if text.contains(r#""tag":"Event""#) {
            match int_after(text.as_str(), r#""args":["#) {
                Some(value) => events.push((value, at)),
                None => return (events, Some(format!("event without a value: {text}"))),
            }
        }
    }
}

/// `--subscribers` sockets subscribe to `--event` on one actor; one more socket (the driver)
/// calls `--action` with up to `--window` in flight. Reports the events delivered per second
/// (all subscribers together) and the delivery latency: from the driver sending the action to
/// a subscriber receiving its event.
async fn fanout_load(args: &Args, target: &Target) -> Result<()> {
    let actors = resolve_actors(args, target).await?;
    let actor = &actors[0];
    let subscribe = format!(
        r#"{{"body":{{"tag":"SubscriptionRequest","val":{{"eventName":"{}","subscribe":true}}}}}}"#,
        args.event
    );
    let connecting = Instant::now();
    let mut streams = Vec::with_capacity(args.subscribers);
    for _ in 0..args.subscribers {
        let (mut sink, stream) = ws_connect(target, actor).await?;
        sink.send(Message::text(subscribe.clone())).await?;
        // The subscriber only reads from here on; its sink stays open with it.
        streams.push((sink, stream));
    }
    let driver_socket = ws_connect(target, actor).await?;
    let connect_s = connecting.elapsed().as_secs_f64();
    // Subscriptions take effect in the order the server reads them; give the last ones time.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let clock = Arc::new(Clock::new(args));
    let sampled = Arc::new(tokio::sync::Notify::new());
    let cpu = spawn_cpu_sampler(args, &clock, sampled.clone());
    let times = Arc::new(SendTimes::new(Instant::now(), 1 << 22));
    let subscribers: Vec<_> = streams
        .into_iter()
        .map(|(sink, stream)| {
            let end = clock.end;
            tokio::spawn(async move {
                let received = subscriber(stream, end).await;
                drop(sink);
                received
            })
        })
        .collect();
    let (driver_hist, driver_tally) =
        ws_drive(args, clock.clone(), driver_socket, Some(times.clone())).await;
    let mut hist = new_histogram();
    let mut tally = Tally {
        first_error: driver_tally.first_error,
        ..Tally::default()
    };
    let mut received = Vec::with_capacity(args.subscribers);
    for subscriber in subscribers {
        let (events, error) = subscriber.await?;
        if tally.first_error.is_none() {
            tally.first_error = error;
        }
        received.push(events);
    }
    // Whether every subscriber got every event: with `--max-requests 1` each must have exactly
    // one (the broadcast check); in a timed run the last actions' events may still be on their
    // way at the stop, so min and max differ by a few.
    let per_subscriber = received.iter().map(Vec::len);
    let events_min = per_subscriber.clone().min().unwrap_or(0);
    let events_max = per_subscriber.clone().max().unwrap_or(0);
    let without_events = per_subscriber.filter(|&n| n == 0).count();
    for (value, at) in received.into_iter().flatten() {
        match times.sent_at(value) {
            Some(sent) if at >= clock.measure_start => tally.record(&mut hist, true, sent, at),
            Some(_) => {}
            None => {
                tally.errors += 1;
                tally
                    .first_error
                    .get_or_insert_with(|| format!("an event nobody sent: {value}"));
            }
        }
    }
    // Events are counted over the whole measured window, whether or not the run ended early.
    tally.last_done = Some(clock.end);
    let mut args = args.clone();
    args.concurrency = args.subscribers;
    // The driver's own figures: how many actions it made and their latency (send → response).
    sampled.notify_one();
    let mut extra = cpu.await.unwrap_or_else(|_| json!({}));
    extra["actions"] = json!(driver_tally.requests);
    extra["connect_s"] = json!(round3(connect_s));
    extra["events_per_subscriber_min"] = json!(events_min);
    extra["events_per_subscriber_max"] = json!(events_max);
    extra["subscribers_without_events"] = json!(without_events);
    extra["action_p50_ms"] = json!(round3(driver_hist.value_at_quantile(0.5) as f64 / 1e6));
    extra["action_p99_ms"] = json!(round3(driver_hist.value_at_quantile(0.99) as f64 / 1e6));
    report(&args, "fanout", &clock, &hist, &tally, extra);
    Ok(())
}

// ---------------------------------------------------------------- fsync

fn fsync_bench(args: &Args) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    std::fs::create_dir_all(&args.dir)?;
    let block = vec![0x5au8; 4096];
    let budget = Duration::from_secs_f64(args.duration.max(0.1));
    let max_ops = args.max_requests.min(1_000_000);
    let mut results = serde_json::Map::new();
    for variant in ["overwrite", "append"] {
        let path = args
            .dir
            .join(format!("rivetkit-fsync-bench-{}.tmp", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        if variant == "overwrite" {
            for _ in 0..1024 {
                file.write_all(&block)?;
            }
            file.sync_all()?;
        }
        let mut hist = new_histogram();
        let started = Instant::now();
        let mut ops = 0u64;
        while started.elapsed() < budget && ops < max_ops {
            let t = Instant::now();
            if variant == "overwrite" {
                file.write_at(&block, (ops % 1024) * 4096)?;
            } else {
                file.write_all(&block)?;
            }
            file.sync_data()?;
            let _ = hist.record(t.elapsed().as_nanos() as u64);
            ops += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        drop(file);
        let _ = std::fs::remove_file(&path);
        let ms = |ns: u64| round3(ns as f64 / 1e6);
        results.insert(
            variant.into(),
            json!({"ops": ops, "ops_per_s": (ops as f64 / elapsed).round(),
                   "p50_ms": ms(hist.value_at_quantile(0.5)), "p99_ms": ms(hist.value_at_quantile(0.99)),
                   "max_ms": ms(hist.max())}),
        );
    }
    println!(
        "{}",
        json!({"label": args.label, "mode": "fsync", "dir": args.dir, "results": results})
    );
    Ok(())
}
