//! Server settings.

use std::path::PathBuf;

/// How a server listens and what it enforces.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The address to listen on (default `127.0.0.1`: loopback only).
    pub host: String,
    /// The port to listen on (default 6420).
    pub port: u16,
    /// Where the embedded store keeps its database.
    pub data_dir: PathBuf,
    /// When set, every manager, gateway and WebSocket request must carry this token. An empty
    /// token is refused at start-up ([`validate`](Self::validate)) rather than taken as "none".
    pub token: Option<String>,
    /// When set, the inspector API (`/gateway/{id}/inspector/...`) is enabled for requests
    /// carrying `Authorization: Bearer {token}`.
    pub inspector_token: Option<String>,
    /// Send internal errors to clients as they are instead of masked
    /// (`RIVET_EXPOSE_ERRORS=1` or `NODE_ENV=development`, as the official server reads them).
    pub expose_errors: bool,
    /// Largest action request body or WebSocket message a client may send.
    pub max_incoming_message_size: usize,
    /// Largest action response or WebSocket message the server sends.
    pub max_outgoing_message_size: usize,
    /// Largest raw HTTP request body handed to `on_request`.
    pub max_raw_request_body: usize,
    /// PEM certificate chain (leaf first). With [`tls_key`](Self::tls_key), [`serve`] speaks
    /// HTTPS and WSS (ALPN `h2` and `http/1.1`) instead of plain HTTP; set both or neither.
    ///
    /// [`serve`]: crate::serve
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of [`tls_cert`](Self::tls_cert).
    pub tls_key: Option<PathBuf>,
    /// HTTP/1: how long a client may take to send a request's headers, counted from the
    /// connection's start and again from the end of each response on a kept-alive connection.
    /// A connection with headers still unfinished, or idle between requests, is closed after it
    /// (the idle keep-alive timeout and the header timeout are this one timer in hyper).
    pub header_read_timeout: std::time::Duration,
    /// How long a request's body may take to arrive, counted from when its headers were read.
    /// A body still arriving then is answered with a 408 `request/body_timeout` (a body that
    /// trickles in a byte at a time would otherwise hold its connection forever).
    pub request_body_timeout: std::time::Duration,
    /// HTTP/2: how often the server pings a connection (`None`: never). A peer that does not
    /// answer within [`http2_keep_alive_timeout`](Self::http2_keep_alive_timeout) is closed.
    pub http2_keep_alive_interval: Option<std::time::Duration>,
    /// HTTP/2: how long a ping may go unanswered before the connection is closed.
    pub http2_keep_alive_timeout: std::time::Duration,
    /// Protocol (`/connect`) and raw (`/websocket/...`) WebSockets: the server pings a socket
    /// that has sent nothing for this long.
    pub websocket_ping_interval: std::time::Duration,
    /// A WebSocket that has sent nothing (no message, no pong) for this long is closed with
    /// 1001 and reason `ws.idle_timeout`: a peer has this minus
    /// [`websocket_ping_interval`](Self::websocket_ping_interval) to answer a ping.
    pub websocket_idle_timeout: std::time::Duration,
    /// Connections served at once (an open WebSocket is one). Beyond it a new connection is
    /// answered at once with a 503 `request/overloaded` (JSON, `Connection: close`) and closed,
    /// never left waiting. Default: the open-file limit less a reserve (a quarter, at least
    /// 256), at most 10,000.
    pub max_connections: usize,
    /// Host names (or `name:port`) requests may carry in `Host` besides the loopback ones,
    /// against DNS rebinding. When [`host`](Self::host) is a loopback address or `localhost`,
    /// only `localhost`, `127.x.x.x`, `[::1]` (any port) and these are answered; otherwise
    /// every host is, unless this lists some. Others get 403 `request/host_not_allowed`.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://app.example.com`) whose pages may call the server: only these get
    /// CORS headers, and preflights from others a 403. Empty (the default, for development):
    /// every origin is reflected.
    pub cors_origins: Vec<String>,
    /// How long a graceful shutdown ([`serve_with_shutdown`](crate::serve_with_shutdown)) waits
    /// for requests and actions in flight, and then for actors to go to sleep, before it
    /// returns anyway. What a client was told succeeded is durable already; only work still
    /// running past it is cut off.
    pub shutdown_timeout: std::time::Duration,
    /// Bytes (about: messages as JSON, plus 128 per message) waiting to be written to one
    /// WebSocket, protocol or raw: events, action responses, raw messages. A client that lets
    /// more pile up is a slow consumer: it is sent nothing more and closed with code 1008 and
    /// reason `ws.slow_consumer` (clients see the error `ws/slow_consumer`), while the actor
    /// and other clients go on. Default 8 MiB: eight responses of the largest size
    /// ([`max_outgoing_message_size`](Self::max_outgoing_message_size)) or some 50,000 small
    /// events, many seconds of a busy actor, so a client that reads never hits it.
    pub max_outgoing_queue_bytes: usize,
    /// Actions one protocol connection runs at once (parked ones, e.g. waiting in a queue
    /// `receive`, count). Beyond it the server stops reading the socket until one finishes,
    /// so that the client is slowed by TCP backpressure rather than refused. Default 128.
    pub max_actions_in_flight: usize,
    /// Events one connection may be subscribed to at once; one more is refused with the
    /// error `connection/too_many_subscriptions` (an `Error` message without action id; the
    /// connection stays open). Default 1,000.
    pub max_subscriptions: usize,
    /// Where [`serve`](crate::serve) serves Prometheus metrics (`GET /metrics`), on a listener
    /// of its own. `None` (the default): no metrics endpoint, and no recorder is installed, so
    /// nothing is recorded. With a port, the host is [`metrics_host`](Self::metrics_host).
    pub metrics_port: Option<u16>,
    /// The address the metrics listener binds (default `127.0.0.1`: scrapes stay local unless
    /// asked otherwise). Used only with [`metrics_port`](Self::metrics_port).
    pub metrics_host: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 6420,
            data_dir: PathBuf::from("rivetkit-data"),
            token: None,
            inspector_token: None,
            expose_errors: expose_errors_from_env(),
            max_incoming_message_size: 64 * 1024,
            max_outgoing_message_size: 1024 * 1024,
            max_raw_request_body: 16 * 1024 * 1024,
            tls_cert: None,
            tls_key: None,
            header_read_timeout: std::time::Duration::from_secs(10),
            request_body_timeout: std::time::Duration::from_secs(60),
            http2_keep_alive_interval: Some(std::time::Duration::from_secs(30)),
            http2_keep_alive_timeout: std::time::Duration::from_secs(20),
            websocket_ping_interval: std::time::Duration::from_secs(30),
            websocket_idle_timeout: std::time::Duration::from_secs(75),
            max_connections: crate::tls::default_max_connections(),
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            shutdown_timeout: std::time::Duration::from_secs(10),
            max_outgoing_queue_bytes: rivetkit_runtime::DEFAULT_MAX_OUTGOING_BYTES,
            max_actions_in_flight: 128,
            max_subscriptions: rivetkit_runtime::DEFAULT_MAX_SUBSCRIPTIONS,
            metrics_port: None,
            metrics_host: "127.0.0.1".into(),
        }
    }
}

impl ServerConfig {
    /// The metrics listener's address, when metrics are on.
    pub(crate) fn metrics_address(&self) -> Option<(&str, u16)> {
        self.metrics_port
            .map(|port| (self.metrics_host.as_str(), port))
    }

    /// Refuses settings that would quietly serve something other than what was asked for: an
    /// empty [`token`](Self::token) would otherwise start a server anyone may call.
    pub fn validate(&self) -> std::io::Result<()> {
        if self.token.as_deref().is_some_and(str::is_empty) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                EMPTY_TOKEN_MESSAGE,
            ));
        }
        Ok(())
    }
}

pub(crate) const EMPTY_TOKEN_MESSAGE: &str = "the server token is empty: set a non-empty token \
     (--token / RIVETKIT_TOKEN) to require one, or leave it unset (None) to serve without one";

fn expose_errors_from_env() -> bool {
    std::env::var("RIVET_EXPOSE_ERRORS").is_ok_and(|value| value == "1")
        || std::env::var("NODE_ENV").is_ok_and(|value| value == "development")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_token_is_refused_and_others_pass() {
        let empty = ServerConfig {
            token: Some(String::new()),
            ..ServerConfig::default()
        };
        let error = empty.validate().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("token is empty"), "{error}");
        ServerConfig::default().validate().unwrap();
        ServerConfig {
            token: Some("s3cret".into()),
            ..ServerConfig::default()
        }
        .validate()
        .unwrap();
    }
}
