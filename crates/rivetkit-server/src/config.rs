//! Server settings: [`ServerConfig`], and [`ServerArgs`], the flags and environment variables
//! that make one, for `seed-server` and for binaries of your own.

use std::path::PathBuf;
use std::time::Duration;

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

impl ServerConfig {
    /// The settings the environment gives, the rest default: each variable [`ServerArgs`] lists
    /// (`RIVETKIT_HOST`, `RIVETKIT_PORT`, `RIVETKIT_DATA_DIR`, `RIVETKIT_TOKEN`, ...), read as
    /// its flag would be. A variable that does not parse (`RIVETKIT_PORT=x`) is an
    /// `InvalidInput` error naming it.
    pub fn from_env() -> std::io::Result<Self> {
        use clap::{Args as _, FromArgMatches as _};
        let command = ServerArgs::augment_args(clap::Command::new("rivetkit").no_binary_name(true));
        let matches = command
            .try_get_matches_from(std::iter::empty::<String>())
            .and_then(|matches| ServerArgs::from_arg_matches(&matches))
            .map_err(|error| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string())
            })?;
        Ok(matches.into_config())
    }
}

/// The server's command-line flags, each also read from an environment variable. Flatten it
/// into your own `clap` parser and turn it into a config with [`ServerArgs::into_config`]:
///
/// ```
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     server: rivetkit_server::ServerArgs,
///     /// A flag of the application's own.
///     #[arg(long)]
///     verbose: bool,
/// }
///
/// let cli = Cli::parse_from(["my-app", "--port", "7000", "--verbose"]);
/// let config = cli.server.into_config();
/// assert_eq!(config.port, 7000);
/// assert!(cli.verbose);
/// ```
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// The address to listen on.
    #[arg(long, env = "RIVETKIT_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// The port to listen on.
    #[arg(long, env = "RIVETKIT_PORT", default_value_t = 6420)]
    pub port: u16,
    /// Where actor state is kept (created if missing).
    #[arg(long, env = "RIVETKIT_DATA_DIR", default_value = "rivetkit-data")]
    pub data_dir: PathBuf,
    /// Require this token on every request.
    #[arg(long, env = "RIVETKIT_TOKEN")]
    pub token: Option<String>,
    /// Enable the inspector API for requests carrying this bearer token.
    #[arg(long, env = "RIVET_INSPECTOR_TOKEN")]
    pub inspector_token: Option<String>,
    /// Serve HTTPS and WSS (HTTP/2 and HTTP/1.1) with this PEM certificate chain.
    #[arg(
        long,
        env = "RIVETKIT_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "RIVETKIT_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    pub tls_key: Option<PathBuf>,
    /// Also answer requests whose Host is NAME (or NAME:PORT); repeatable. A server on a
    /// loopback address answers only loopback hosts otherwise (against DNS rebinding).
    #[arg(
        long = "allowed-host",
        env = "RIVETKIT_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub allowed_hosts: Vec<String>,
    /// Send CORS headers only to pages of ORIGIN (e.g. `https://app.example.com`); repeatable.
    /// Without it every origin is reflected (a development default).
    #[arg(
        long = "cors-origin",
        env = "RIVETKIT_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,
    /// On SIGTERM or SIGINT, wait at most SECONDS for requests and actions in flight and for
    /// actors to go to sleep before exiting (a second signal exits at once).
    #[arg(
        long,
        env = "RIVETKIT_SHUTDOWN_TIMEOUT",
        default_value = "10",
        value_name = "SECONDS",
        value_parser = parse_seconds
    )]
    pub shutdown_timeout: Duration,
    /// Serve at most N connections at once (an open WebSocket is one); default: the open-file
    /// limit less a reserve, at most 10,000. Past 10,000, raise the open-file limit too.
    #[arg(
        long,
        env = "RIVETKIT_MAX_CONNECTIONS",
        value_name = "N",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_connections: Option<usize>,
    /// Serve Prometheus metrics at `GET /metrics` on this port, on a listener of its own
    /// (default: off, and nothing is recorded).
    #[arg(long, env = "RIVETKIT_METRICS_PORT", value_name = "PORT")]
    pub metrics_port: Option<u16>,
    /// The address the metrics listener binds.
    #[arg(long, env = "RIVETKIT_METRICS_HOST", default_value = "127.0.0.1")]
    pub metrics_host: String,
}

impl ServerArgs {
    /// The config these flags describe; settings without a flag keep their defaults.
    pub fn into_config(self) -> ServerConfig {
        let defaults = ServerConfig::default();
        ServerConfig {
            host: self.host,
            port: self.port,
            data_dir: self.data_dir,
            // An empty token is passed on as it is: the server refuses to start with it.
            token: self.token.or_else(empty_token_from_env),
            inspector_token: self.inspector_token.filter(|token| !token.is_empty()),
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            allowed_hosts: self.allowed_hosts,
            cors_origins: self.cors_origins,
            shutdown_timeout: self.shutdown_timeout,
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            metrics_port: self.metrics_port,
            metrics_host: self.metrics_host,
            ..defaults
        }
    }
}

impl From<ServerArgs> for ServerConfig {
    fn from(args: ServerArgs) -> Self {
        args.into_config()
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text:?}: {error}"))
}

/// `RIVETKIT_TOKEN=` (set but empty), which clap reads as absent.
fn empty_token_from_env() -> Option<String> {
    std::env::var_os("RIVETKIT_TOKEN")
        .filter(|value| value.is_empty())
        .map(|_| String::new())
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
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    /// Flags only: the variables of the test process's environment must not be set (CI sets
    /// none of them).
    fn parse(flags: &[&str]) -> Result<ServerConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("test").chain(flags.iter().copied()))
            .map(|cli| cli.server.into_config())
    }

    #[test]
    fn no_flags_give_the_default_config() {
        let parsed = parse(&[]).unwrap();
        let default = ServerConfig::default();
        assert_eq!(
            (
                &parsed.host,
                parsed.port,
                &parsed.data_dir,
                parsed.shutdown_timeout
            ),
            (
                &default.host,
                default.port,
                &default.data_dir,
                default.shutdown_timeout
            )
        );
        assert_eq!(parsed.metrics_host, default.metrics_host);
        assert_eq!(parsed.metrics_port, None);
        assert_eq!(parsed.max_connections, default.max_connections);
    }

    #[test]
    fn flags_set_the_config() {
        let config = parse(&[
            "--host",
            "0.0.0.0",
            "--port",
            "7000",
            "--data-dir",
            "/tmp/x",
            "--allowed-host",
            "a.example",
            "--allowed-host",
            "b.example",
            "--shutdown-timeout",
            "2.5",
            "--inspector-token",
            "",
            "--max-connections",
            "12000",
        ])
        .unwrap();
        assert_eq!((config.host.as_str(), config.port), ("0.0.0.0", 7000));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.allowed_hosts, ["a.example", "b.example"]);
        assert_eq!(config.shutdown_timeout, Duration::from_millis(2500));
        assert_eq!(config.inspector_token, None);
        assert_eq!(config.max_connections, 12_000);
        assert!(parse(&["--max-connections", "0"]).is_err());
        let error = parse(&["--tls-cert", "cert.pem"]).err().unwrap();
        assert!(error.to_string().contains("--tls-key"), "{error}");
        let error = parse(&["--shutdown-timeout", "soon"]).err().unwrap();
        assert!(
            error.to_string().contains("not a number of seconds"),
            "{error}"
        );
    }

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
