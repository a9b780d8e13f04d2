//! Parsing of what arrives before any payload: gateway paths (§4.1), raw WebSocket paths
//! (§5.5), `Sec-WebSocket-Protocol` entries (§4.5, §5.3) and WebSocket close reasons (§7.3).
//!
//! Each function reproduces the official JS behaviour on the inputs real clients send (see
//! the vectors); percent-decoding is as strict as `decodeURIComponent`, because a lenient
//! decoder would route `%zz` somewhere the official server refuses to.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::ProtocolError;
use crate::message::Encoding;
use crate::value::{self, Value};

/// What `encodeURIComponent` leaves alone: `A–Z a–z 0–9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// JS `encodeURIComponent`.
pub fn encode_uri_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// JS `decodeURIComponent`: `None` for a `%` not followed by two hex digits or escapes that do
/// not form UTF-8 (where JS throws `URIError`).
pub fn decode_uri_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// A value of an `application/x-www-form-urlencoded` query (`+` is a space), decoded as
/// strictly as [`decode_uri_component`]: `None` where it would throw.
pub fn decode_form_component(s: &str) -> Option<String> {
    decode_uri_component(&s.replace('+', " "))
}

/// `/gateway/{actorId}[@{token}]{rest}`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayPath {
    /// The percent-decoded actor id.
    pub actor_id: String,
    /// The percent-decoded token after `@`, if any.
    pub token: Option<String>,
    /// The actor path: starts with `/`, query string (with its `?`) appended unchanged.
    pub rest: String,
}

/// `None` when the path is not a gateway path (the manager routes then get their turn).
pub fn parse_gateway_path(path_and_query: &str) -> Option<GatewayPath> {
    let (without_fragment, _) = split_once_or_all(path_and_query, '#');
    let (path, query) = split_query(without_fragment);
    if path.contains("//") {
        return None;
    }
    let after = path.strip_prefix("/gateway/")?;
    let (segment, rest) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    let (actor_id, token) = match segment.split_once('@') {
        Some((id, token)) if !id.is_empty() && !token.is_empty() => (
            decode_uri_component(id)?,
            Some(decode_uri_component(token)?),
        ),
        Some(_) => return None,
        None if segment.is_empty() => return None,
        None => (decode_uri_component(segment)?, None),
    };
    let rest = if rest.is_empty() { "/" } else { rest };
    Some(GatewayPath {
        actor_id,
        token,
        rest: format!("{rest}{query}"),
    })
}

/// The path a raw WebSocket handler sees: `/websocket/foo?x` → `/foo?x`, `/websocket` → `/`.
/// `None` if `rest` is not under `/websocket`.
pub fn raw_websocket_path(rest: &str) -> Option<String> {
    let (path, query) = split_query(rest);
    let tail = path.strip_prefix("/websocket")?;
    let tail = match tail.strip_prefix('/') {
        Some(t) => t,
        None if tail.is_empty() => tail,
        // `/websocketfoo` is another route.
        None => return None,
    };
    // As with a URL's `search`, a bare `?` carries nothing.
    let query = if query == "?" { "" } else { query };
    let slash = if tail.starts_with('/') { "" } else { "/" };
    Some(format!("{slash}{tail}{query}"))
}

/// (path, `?query` or ""), the `?` staying with the query.
fn split_query(s: &str) -> (&str, &str) {
    match s.find('?') {
        Some(i) => s.split_at(i),
        None => (s, ""),
    }
}

fn split_once_or_all(s: &str, sep: char) -> (&str, &str) {
    s.split_once(sep).unwrap_or((s, ""))
}

/// The subprotocol every client offers first and the server must select.
pub const WS_PROTOCOL_RIVET: &str = "rivet";
/// Prefix of the subprotocol entry naming the encoding.
pub const WS_PROTOCOL_ENCODING: &str = "rivet_encoding.";
/// Prefix of the subprotocol entry carrying percent-encoded connection params (JSON).
pub const WS_PROTOCOL_CONN_PARAMS: &str = "rivet_conn_params.";
/// Prefix of the subprotocol entry carrying the server token (not percent-encoded).
pub const WS_PROTOCOL_TOKEN: &str = "rivet_token.";
/// Prefix of the subprotocol entry naming the actor id (header routing).
pub const WS_PROTOCOL_ACTOR: &str = "rivet_actor.";
/// Prefix of the subprotocol entry asking for header routing (`rivet_target.actor`).
pub const WS_PROTOCOL_TARGET: &str = "rivet_target.";

/// The entries of a `Sec-WebSocket-Protocol` header that mean something to us. When an entry
/// repeats, the last one wins (as in the JS server).
#[derive(Debug, Default)]
pub struct WsProtocols {
    /// Raw `rivet_encoding.` value; see [`WsProtocols::encoding`].
    pub encoding: Option<String>,
    /// `rivet_conn_params.`: percent-decoded plain JSON, in compat space. An empty value counts
    /// as absent (JS tests it for truthiness).
    pub conn_params: Option<Result<Value, ProtocolError>>,
    /// `rivet_token.`, not decoded (the engine does not decode it either).
    pub token: Option<String>,
    /// `rivet_actor.`, percent-decoded; `None` also when its escapes are invalid.
    pub actor: Option<String>,
    /// `rivet_target.`, raw.
    pub target: Option<String>,
}

impl WsProtocols {
    /// The connection encoding: `json` when absent, an error for anything unknown (the JS
    /// server fails the upgrade).
    pub fn encoding(&self) -> Result<Encoding, ProtocolError> {
        match &self.encoding {
            None => Ok(Encoding::Json),
            Some(raw) => {
                Encoding::parse(raw).ok_or_else(|| ProtocolError::InvalidEncoding(raw.clone()))
            }
        }
    }
}

/// Reads a `Sec-WebSocket-Protocol` header: entries split on `,` and trimmed, unknown ones
/// ignored.
pub fn parse_ws_protocols(header: &str) -> WsProtocols {
    let mut parsed = WsProtocols::default();
    for entry in header.split(',').map(str::trim) {
        if let Some(v) = entry.strip_prefix(WS_PROTOCOL_ENCODING) {
            parsed.encoding = Some(v.to_owned());
        } else if let Some(v) = entry.strip_prefix(WS_PROTOCOL_CONN_PARAMS) {
            parsed.conn_params = match decode_uri_component(v) {
                Some(json) if json.is_empty() => None,
                Some(json) => Some(value::parse_conn_params(&json)),
                None => Some(Err(ProtocolError::InvalidPercentEncoding)),
            };
        } else if let Some(v) = entry.strip_prefix(WS_PROTOCOL_TOKEN) {
            parsed.token = Some(v.to_owned());
        } else if let Some(v) = entry.strip_prefix(WS_PROTOCOL_ACTOR) {
            parsed.actor = decode_uri_component(v);
        } else if let Some(v) = entry.strip_prefix(WS_PROTOCOL_TARGET) {
            parsed.target = Some(v.to_owned());
        }
    }
    parsed
}

/// `"{group}.{code}[#{rayId}]"` → (group, code, ray id), as 2.0.42+ clients read a close reason;
/// `None` means "not an error reason" (e.g. `Disposed`). Text after a second `.` or `#` is
/// ignored, like the JS split; an empty ray id counts as absent.
pub fn parse_close_reason(reason: &str) -> Option<(String, String, Option<String>)> {
    let mut halves = reason.split('#');
    let main = halves.next().unwrap_or_default();
    let ray_id = halves.next().filter(|r| !r.is_empty()).map(str::to_owned);
    let mut names = main.split('.');
    let group = names.next().filter(|g| !g.is_empty())?;
    let code = names.next().filter(|c| !c.is_empty())?;
    Some((group.to_owned(), code.to_owned(), ray_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_percent_decoding() {
        assert_eq!(decode_uri_component("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(decode_uri_component("%zz"), None);
        assert_eq!(decode_uri_component("%4"), None);
        assert_eq!(decode_uri_component("%ff"), None);
        assert!(parse_gateway_path("/gateway/a%zz/connect").is_none());
        assert_eq!(decode_form_component("a+b%2B").as_deref(), Some("a b+"));
        assert_eq!(decode_form_component("a+%zz"), None);
    }

    #[test]
    fn protocol_entries_and_errors() {
        let p = parse_ws_protocols(
            "rivet, rivet_encoding.bare, rivet_actor.a%2Fb, rivet_token.t%2F, rivet_target.actor, rivet_conn_params.%7B",
        );
        assert_eq!(p.encoding().unwrap(), Encoding::Bare);
        assert_eq!(p.actor.as_deref(), Some("a/b"));
        assert_eq!(p.token.as_deref(), Some("t%2F"));
        assert_eq!(p.target.as_deref(), Some("actor"));
        assert!(matches!(
            p.conn_params,
            Some(Err(ProtocolError::InvalidParams(_)))
        ));
    }
}
