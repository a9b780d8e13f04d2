//! The guide's "Stateless vs Stateful": HTTP calls, then a connection with events.
//!
//! Run `seed-server` first (`cargo run -p seed --bin seed-server`), then
//! `cargo run -p client-examples --example stateless_vs_stateful`. The client reads `RIVET_ENDPOINT`,
//! `RIVET_NAMESPACE`, `RIVET_TOKEN` and `RIVET_RUNNER`; the default endpoint is
//! `http://127.0.0.1:6420`.

use client_examples::snippets;
use rivetkit_rs::client::Client;

#[tokio::main]
async fn main() -> Result<(), rivetkit_rs::client::Error> {
    let client = Client::from_env()?;
    let conn = snippets::stateless_vs_stateful(&client).await?;
    conn.dispose().await;
    Ok(())
}
