//! Requests the engine tunnels to this envoy, served by the same axum routes as the embedded
//! server: an HTTP request becomes a request to `/gateway/{actor_id}{path}` on the router, and
//! a WebSocket becomes a real HTTP/1.1 upgrade on an in-memory pipe, served by hyper like a
//! socket accepted by the embedded server. Actions, connections, raw requests and raw
//! WebSockets therefore take exactly the embedded code paths, including the choice of
//! encoding and BARE version per client.

use std::collections::HashMap;

use anyhow::Context as _;
use axum::body::Body;
use axum::Router;
use futures::{SinkExt, StreamExt};
use http_body::Body as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rivet_envoy_client::config::{
    HttpRequest, HttpResponse, ResponseChunk, WebSocketHandler, WebSocketSender,
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

/// Answers read whole when their size is known and at most this; larger or unsized bodies
/// (streams) are forwarded chunk by chunk.
const WHOLE_BODY_MAX: u64 = 1024 * 1024;

/// Headers that belong to one HTTP hop: the engine's connection, or the pipe's handshake.
fn is_hop_header(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "upgrade"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "proxy-connection"
            | "host"
            | "content-length"
            | "sec-websocket-key"
            | "sec-websocket-version"
            | "sec-websocket-extensions"
            | "sec-websocket-accept"
    )
}

/// The router path of an actor endpoint: the gateway by id, which the engine's tunnel strips.
fn gateway_uri(actor_id: &str, path: &str) -> String {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    format!("/gateway/{actor_id}{path}")
}

/// Serves one tunnelled HTTP request on `router`.
pub(crate) async fn fetch(
    router: Router,
    actor_id: &str,
    request: HttpRequest,
) -> anyhow::Result<HttpResponse> {
    let mut builder = axum::http::Request::builder()
        .method(request.method.as_str())
        .uri(gateway_uri(actor_id, &request.path));
    for (name, value) in &request.headers {
        if !is_hop_header(&name.to_ascii_lowercase()) {
            builder = builder.header(name, value);
        }
    }
    let body = match (request.body, request.body_stream) {
        (_, Some(stream)) => {
            Body::from_stream(futures::stream::unfold(stream, |mut stream| async move {
                match stream.recv().await {
                    Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), stream)),
                    Ok(None) => None,
                    Err(error) => Some((Err(std::io::Error::other(error.to_string())), stream)),
                }
            }))
        }
        (Some(bytes), None) => Body::from(bytes),
        (None, None) => Body::empty(),
    };
    let request = builder
        .body(body)
        .context("the tunnelled request is not valid HTTP")?;
    let response = router
        .oneshot(request)
        .await
        .expect("the router never fails");
    let (parts, body) = response.into_parts();
    let mut headers: HashMap<String, String> = HashMap::new();
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    let whole = body
        .size_hint()
        .exact()
        .is_some_and(|len| len <= WHOLE_BODY_MAX);
    let (body, body_stream) = if whole {
        let bytes = axum::body::to_bytes(body, WHOLE_BODY_MAX as usize)
            .await
            .context("reading the response body")?;
        (Some(bytes.to_vec()), None)
    } else {
        (None, Some(stream_body(body).into()))
    };
    Ok(HttpResponse {
        status: parts.status.as_u16(),
        headers,
        body,
        body_stream,
    })
}

/// Forwards a response body of unknown size chunk by chunk.
fn stream_body(body: Body) -> mpsc::Receiver<ResponseChunk> {
    let (chunks, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut data = body.into_data_stream();
        while let Some(chunk) = data.next().await {
            let chunk = match chunk {
                Ok(bytes) => ResponseChunk::Data {
                    data: bytes.to_vec(),
                    finish: false,
                },
                Err(error) => {
                    let _ = chunks.send(ResponseChunk::Error(error.to_string())).await;
                    return;
                }
            };
            if chunks.send(chunk).await.is_err() {
                return;
            }
        }
        let _ = chunks
            .send(ResponseChunk::Data {
                data: Vec::new(),
                finish: true,
            })
            .await;
    });
    receiver
}

/// Opens a tunnelled WebSocket on `router` and pipes it both ways: what the engine delivers
/// goes to the server side, what the server side sends goes to `sender`.
pub(crate) async fn websocket(
    router: Router,
    actor_id: &str,
    path: &str,
    headers: &HashMap<String, String>,
    sender: WebSocketSender,
) -> anyhow::Result<WebSocketHandler> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let service = TowerToHyperService::new(router);
        let served = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), service)
            .with_upgrades()
            .await;
        if let Err(error) = served {
            tracing::debug!(%error, "tunnelled WebSocket connection ended with an error");
        }
    });
    let mut request = format!("ws://envoy{}", gateway_uri(actor_id, path))
        .into_client_request()
        .context("the tunnelled WebSocket path is not a valid URI")?;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if is_hop_header(&lower) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(lower.as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            request.headers_mut().insert(name, value);
        }
    }
    let (socket, _) = tokio_tungstenite::client_async(request, client_io)
        .await
        .context("the actor's WebSocket handshake failed")?;
    let (mut to_server, mut from_server) = socket.split();

    let (inbound, mut inbound_rx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(message) = inbound_rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if to_server.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(message) = from_server.next().await {
            match message {
                Ok(Message::Text(text)) => sender.send(text.as_bytes().to_vec(), false),
                Ok(Message::Binary(bytes)) => sender.send(bytes.to_vec(), true),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = match frame {
                        Some(frame) => {
                            (Some(u16::from(frame.code)), Some(frame.reason.to_string()))
                        }
                        None => (None, None),
                    };
                    sender.close(code, reason);
                    return;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        sender.close(Some(1011), Some("the actor's socket ended".to_owned()));
    });

    let messages = inbound.clone();
    Ok(WebSocketHandler {
        on_message: Box::new(move |message| {
            let frame = if message.binary {
                Message::Binary(message.data.into())
            } else {
                Message::Text(String::from_utf8_lossy(&message.data).into_owned().into())
            };
            let _ = messages.send(frame);
            Box::pin(async {})
        }),
        on_close: Box::new(move |code, reason| {
            let _ = inbound.send(Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            })));
            Box::pin(async {})
        }),
        on_open: None,
    })
}
