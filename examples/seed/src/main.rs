//! `seed-server`: serves the client guide's actors on 127.0.0.1:6420.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use rivetkit::ServerConfig;

#[derive(Parser)]
#[command(about = "Serves the RivetKit client guide's actors (counter, chatRoom, game, user)")]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 6420)]
    port: u16,
    /// Where actor state is kept (created if missing).
    #[arg(long, default_value = "rivetkit-data")]
    data_dir: PathBuf,
    /// Require this token on every request.
    #[arg(long, env = "RIVETKIT_TOKEN")]
    token: Option<String>,
    /// Enable the inspector API for requests carrying this bearer token.
    #[arg(long, env = "RIVET_INSPECTOR_TOKEN")]
    inspector_token: Option<String>,
    /// Serve HTTPS and WSS (HTTP/2 and HTTP/1.1) with this PEM certificate chain.
    #[arg(
        long,
        env = "RIVETKIT_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "RIVETKIT_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    tls_key: Option<PathBuf>,
    /// Also answer requests whose Host is NAME (or NAME:PORT); repeatable. A server on a
    /// loopback address answers only loopback hosts otherwise (against DNS rebinding).
    #[arg(
        long = "allowed-host",
        env = "RIVETKIT_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    allowed_hosts: Vec<String>,
    /// Send CORS headers only to pages of ORIGIN (e.g. `https://app.example.com`); repeatable.
    /// Without it every origin is reflected (a development default).
    #[arg(
        long = "cors-origin",
        env = "RIVETKIT_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    cors_origins: Vec<String>,
    /// On SIGTERM or SIGINT, wait at most SECONDS for requests and actions in flight and for
    /// actors to go to sleep before exiting (a second signal exits at once).
    #[arg(
        long,
        env = "RIVETKIT_SHUTDOWN_TIMEOUT",
        default_value = "10",
        value_name = "SECONDS",
        value_parser = parse_seconds
    )]
    shutdown_timeout: Duration,
    /// Serve Prometheus metrics at `GET /metrics` on this port, on a listener of its own
    /// (default: off, and nothing is recorded).
    #[arg(long, env = "RIVETKIT_METRICS_PORT", value_name = "PORT")]
    metrics_port: Option<u16>,
    /// The address the metrics listener binds.
    #[arg(long, env = "RIVETKIT_METRICS_HOST", default_value = "127.0.0.1")]
    metrics_host: String,
    /// Run the actors as an envoy of the Rivet Engine at URL instead of serving HTTP (the way
    /// past one machine). Without URL, `RIVET_ENGINE` or else `RIVET_ENDPOINT` gives it;
    /// `RIVET_ENGINE` set alone also selects this mode. `--token` (or `RIVET_TOKEN`) is then the
    /// engine's token.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    engine: Option<String>,
    /// The engine namespace to serve (engine mode).
    #[arg(long, env = "RIVET_NAMESPACE", default_value = "default")]
    namespace: String,
    /// The engine pool (runner name) to join (engine mode).
    #[arg(long, env = "RIVET_RUNNER", default_value = "default")]
    pool: String,
}

/// The engine's URL when engine mode is selected (see `Args::engine`).
fn engine_endpoint(flag: Option<String>) -> Result<Option<String>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    match flag {
        Some(url) if !url.is_empty() => Ok(Some(url)),
        Some(_) => var("RIVET_ENGINE")
            .or_else(|| var("RIVET_ENDPOINT"))
            .map(Some)
            .ok_or_else(|| "--engine without URL needs RIVET_ENGINE or RIVET_ENDPOINT".to_owned()),
        None => Ok(var("RIVET_ENGINE")),
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

#[tokio::main]
async fn main() {
    // Logs (RUST_LOG, default info) and the OTLP trace export are set up by `serve`.
    let args = Args::parse();
    let engine = match engine_endpoint(args.engine.clone()) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("seed-server: {error}");
            std::process::exit(2);
        }
    };
    let engine_token = args
        .token
        .clone()
        .or_else(|| std::env::var("RIVET_TOKEN").ok())
        .filter(|token| !token.is_empty());
    let namespace = args.namespace.clone();
    let pool = args.pool.clone();
    let config = ServerConfig {
        host: args.host,
        port: args.port,
        data_dir: args.data_dir,
        // An empty token is passed on as it is: the server refuses to start with it.
        token: args.token.or_else(empty_token_from_env),
        inspector_token: args.inspector_token.filter(|token| !token.is_empty()),
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        allowed_hosts: args.allowed_hosts,
        cors_origins: args.cors_origins,
        shutdown_timeout: args.shutdown_timeout,
        metrics_port: args.metrics_port,
        metrics_host: args.metrics_host,
        ..ServerConfig::default()
    };
    // Serves until SIGTERM or SIGINT, then drains and returns: the process exits 0.
    let served = match engine {
        Some(endpoint) => {
            let mut engine = rivetkit::EngineConfig::new(endpoint);
            engine.namespace = namespace;
            engine.pool = pool;
            engine.token = engine_token;
            engine.shutdown_timeout = config.shutdown_timeout;
            engine.server = config;
            rivetkit::serve_engine(seed::registry(), engine).await
        }
        None => rivetkit::serve(seed::registry(), config).await,
    };
    if let Err(error) = served {
        eprintln!("seed-server: {error}");
        std::process::exit(1);
    }
}
