//! The guide's "Subscribing to Events": on and once.
//!
//! Run `seed-server` first (`cargo run -p seed --bin seed-server`), then
//! `cargo run -p client-examples --example events`. The client reads `RIVET_ENDPOINT`,
//! `RIVET_NAMESPACE`, `RIVET_TOKEN` and `RIVET_RUNNER`; the default endpoint is
//! `http://127.0.0.1:6420`.

use client_examples::snippets;
use rivetkit_rs::client::Client;

#[tokio::main]
async fn main() -> Result<(), rivetkit_rs::client::Error> {
    let client = Client::from_env()?;
    use seed::ChatRoomActions;
    let conn = snippets::subscribing_to_events(&client);
    conn.send_message("hello".into()).await?;
    conn.end_game().await?;
    conn.dispose().await;
    Ok(())
}
