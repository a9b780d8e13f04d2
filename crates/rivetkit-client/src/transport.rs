//! Opening WebSockets the way the official client does (§5.3, §4.5): the `rivet` subprotocol,
//! the encoding, and connection params carried in a subprotocol entry.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rivetkit_protocol::path::{WS_PROTOCOL_CONN_PARAMS, WS_PROTOCOL_ENCODING, WS_PROTOCOL_RIVET};
use rivetkit_protocol::{Encoding, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::client::http_error;
use crate::error::{Error, Result};

/// A WebSocket to an actor's `on_websocket` handler: a `Stream` of incoming messages and a
/// `Sink` of outgoing ones (use `futures::{SinkExt, StreamExt}`).
pub type RawWebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `encodeURIComponent`, plus `(` and `)`: those are not allowed in a subprotocol token and
/// strict WebSocket stacks refuse them; the server's `decodeURIComponent` reads both forms.
const PARAMS_IN_PROTOCOL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'');

/// JavaScript truthiness, which decides whether params are sent at all.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// The `Sec-WebSocket-Protocol` entries for a connection.
pub(crate) fn ws_protocols(encoding: Encoding, params: Option<&Value>) -> Vec<String> {
    let mut protocols = vec![
        WS_PROTOCOL_RIVET.to_owned(),
        format!("{WS_PROTOCOL_ENCODING}{}", encoding.as_str()),
    ];
    if let Some(params) = params.filter(|p| truthy(p)) {
        let json = params.to_string();
        protocols.push(format!(
            "{WS_PROTOCOL_CONN_PARAMS}{}",
            utf8_percent_encode(&json, PARAMS_IN_PROTOCOL)
        ));
    }
    protocols
}

/// Opens a WebSocket. A refused handshake becomes the error its body describes (or
/// [`Error::Http`] with its status), so callers can tell 401/403 from a server that is down.
pub(crate) async fn open_websocket(
    url: &str,
    encoding: Encoding,
    params: Option<&Value>,
) -> Result<RawWebSocket> {
    let mut request = url
        .into_client_request()
        .map_err(|e| Error::Config(format!("WebSocket URL {url}: {e}")))?;
    let protocols = ws_protocols(encoding, params).join(", ");
    let header = HeaderValue::try_from(protocols)
        .map_err(|e| Error::Config(format!("WebSocket subprotocols: {e}")))?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", header);
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.into_body().unwrap_or_default();
            // A handshake has no encoding of its own; servers answer it in JSON. A 401/403
            // stays permanent even when its body names no auth error.
            let refused = matches!(status, 401 | 403);
            Err(
                match http_error(status, &body, Encoding::Json, content_type.as_deref()) {
                    Error::Actor(error) if refused && !error.is_permanent() => Error::Http {
                        status,
                        body: error.to_string(),
                    },
                    other => other,
                },
            )
        }
        Err(error) => Err(Error::Transport(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::vectors;

    #[test]
    fn protocol_lists_match_the_official_client() {
        let mut checked = 0;
        for record in vectors("ws-protocols.jsonl") {
            let Some(expected) = record["protocols"].as_array() else {
                continue; // server-side parse records
            };
            let encoding = Encoding::parse(record["encoding"].as_str().unwrap()).unwrap();
            // `{"$undefined": true}` is the vectors' notation for "no params".
            let params = Some(&record["params"]).filter(|p| p.get("$undefined").is_none());
            assert_eq!(
                ws_protocols(encoding, params),
                *expected,
                "{}",
                record["desc"]
            );
            checked += 1;
        }
        assert_eq!(checked, 5);
    }

    #[test]
    fn parentheses_are_escaped_too() {
        let protocols = ws_protocols(Encoding::Json, Some(&serde_json::json!({"s": "(x)"})));
        assert_eq!(
            protocols[2],
            "rivet_conn_params.%7B%22s%22%3A%22%28x%29%22%7D"
        );
    }
}
