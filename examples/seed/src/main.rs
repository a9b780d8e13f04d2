//! `seed-server`: serves the client guide's actors on 127.0.0.1:6420.

use clap::Parser;
use rivetkit::ServerArgs;

#[derive(Parser)]
#[command(about = "Serves the RivetKit client guide's actors (counter, chatRoom, game, user)")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() {
    // Logs (RUST_LOG, default info) and the OTLP trace export are set up by `serve`.
    let config = Args::parse().server.into_config();
    // Serves until SIGTERM or SIGINT, then drains and returns: the process exits 0.
    if let Err(error) = rivetkit::serve(seed::registry(), config).await {
        eprintln!("seed-server: {error}");
        std::process::exit(1);
    }
}
