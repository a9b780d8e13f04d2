//! `conformance-server`: hosts every fixture actor of the official driver test suite.

use std::path::PathBuf;

use clap::Parser;
use rivetkit_rs::ServerConfig;

#[derive(Parser)]
#[command(about = "Serves the fixture actors of the official RivetKit driver test suite")]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 6420)]
    port: u16,
    /// Where actor state is kept (created if missing).
    #[arg(long, default_value = "rivetkit-data")]
    data_dir: PathBuf,
    /// Token of the inspector API. The official suite runs its server in test mode, whose
    /// inspector token is `token`, and calls the inspector with it.
    #[arg(long, env = "RIVET_INSPECTOR_TOKEN", default_value = "token")]
    inspector_token: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let config = ServerConfig {
        host: args.host,
        port: args.port,
        data_dir: args.data_dir,
        inspector_token: Some(args.inspector_token),
        ..ServerConfig::default()
    };
    rivetkit_rs::serve(conformance::registry(), config).await
}
