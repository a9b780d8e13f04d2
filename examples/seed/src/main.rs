//! `seed-server`: serves the client guide's actors on 127.0.0.1:6420, or runs them as an envoy
//! of a Rivet Engine (`--engine URL`).

use clap::Parser;
use rivetkit_rs::{EngineArgs, ServerArgs};

#[derive(Parser)]
#[command(about = "Serves the RivetKit client guide's actors (counter, chatRoom, game, user)")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

#[tokio::main]
async fn main() {
    // Logs (RUST_LOG, default info) and the OTLP trace export are set up by `serve`.
    let args = Args::parse();
    let config = args.server.into_config();
    let engine = match args.engine.into_config(&config) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("seed-server: {error}");
            std::process::exit(2);
        }
    };
    // Serves until SIGTERM or SIGINT, then drains and returns: the process exits 0.
    let served = match engine {
        Some(engine) => rivetkit_rs::serve_engine(seed::registry(), engine).await,
        None => rivetkit_rs::serve(seed::registry(), config).await,
    };
    if let Err(error) = served {
        eprintln!("seed-server: {error}");
        std::process::exit(1);
    }
}
