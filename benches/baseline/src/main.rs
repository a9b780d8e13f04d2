//! `bench-baseline`: the trivial server the end-to-end benchmark compares `seed-server` with.
//!
//! * Every HTTP request (any method, any path) gets `200 {"output":1}` with
//!   `content-type: application/json`; the request body is read and dropped.
//! * A WebSocket upgrade (any path) is accepted with subprotocol `rivet`; the server sends a fixed
//!   `Init`, then answers every text frame that carries an `"id":` with
//!   `{"body":{"tag":"ActionResponse","val":{"id":<that id>,"output":<that id>}}}`.
//! * A text frame that carries `SubscriptionRequest` makes its socket a subscriber: every later
//!   action request, on any socket, first sends each subscriber the same fixed-shape event
//!   `{"body":{"tag":"Event","val":{"name":"count","args":[<the action's id>]}}}` (the fan-out
//!   scenario's ceiling: one shared frame per action, one queue push per subscriber).
//!
//! It does no routing, no parsing beyond that and no storage: it shows what the same machine, the
//! same HTTP stack (hyper 1 / tungstenite) and the same load generator can do at best.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use clap::Parser;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, CONTENT_TYPE, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[derive(Parser)]
#[command(about = "Trivial hyper server returning a fixed body (benchmark baseline)")]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 6421)]
    port: u16,
}

const BODY: &[u8] = br#"{"output":1}"#;
const INIT: &str =
    r#"{"body":{"tag":"Init","val":{"actorId":"baseline","connectionId":"baseline"}}}"#;

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(args))
}

async fn serve(args: Args) -> std::io::Result<()> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = TcpListener::bind(addr).await?;
    eprintln!(
        "bench-baseline listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(handle);
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req
        .headers()
        .get(UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
            return Ok(Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Full::new(Bytes::new()))
                .unwrap());
        };
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                let _ = websocket(ws).await;
            }
        });
        let accept = derive_accept_key(key.as_bytes());
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "websocket")
            .header(SEC_WEBSOCKET_ACCEPT, accept)
            .header(SEC_WEBSOCKET_PROTOCOL, "rivet")
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    // Read and drop the body, as a real handler would have to.
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The queues of every subscribed socket (closed ones are dropped at the next broadcast).
fn subscribers() -> &'static Mutex<Vec<mpsc::UnboundedSender<Message>>> {
    static SUBSCRIBERS: OnceLock<Mutex<Vec<mpsc::UnboundedSender<Message>>>> = OnceLock::new();
    SUBSCRIBERS.get_or_init(Default::default)
}

async fn websocket<S>(
    mut ws: WebSocketStream<S>,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(INIT)).await?;
    let (events, mut queued) = mpsc::unbounded_channel();
    let mut events = Some(events);
    loop {
        let message = tokio::select! {
            message = ws.next() => match message {
                Some(message) => message?,
                None => break,
            },
            Some(event) = queued.recv() => {
                ws.send(event).await?;
                continue;
            }
        };
        match message {
            Message::Text(text) => {
                if let Some(id) = find_id(text.as_str()) {
                    let event = Message::text(format!(
                        r#"{{"body":{{"tag":"Event","val":{{"name":"count","args":[{id}]}}}}}}"#
                    ));
                    subscribers()
                        .lock()
                        .unwrap()
                        .retain(|subscriber| subscriber.send(event.clone()).is_ok());
                    let reply = format!(
                        r#"{{"body":{{"tag":"ActionResponse","val":{{"id":{id},"output":{id}}}}}}}"#
                    );
                    ws.send(Message::text(reply)).await?;
                } else if text.contains("SubscriptionRequest") {
                    if let Some(events) = events.take() {
                        subscribers().lock().unwrap().push(events);
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

/// The raw JSON of the `"id":` value (`["$BigInt","7"]` or a number).
fn find_id(text: &str) -> Option<&str> {
    let start = text.find(r#""id":"#)? + 5;
    let rest = &text[start..];
    let end = if rest.starts_with('[') {
        rest.find(']')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(&rest[..end])
}
