//! The guide's "Connection Parameters": params checked by the actor's on_before_connect.
//!
//! Run `seed-server` first (`cargo run -p seed --bin seed-server`), then
//! `cargo run -p client-examples --example connection_parameters`. The client reads `RIVET_ENDPOINT`,
//! `RIVET_NAMESPACE`, `RIVET_TOKEN` and `RIVET_RUNNER`; the default endpoint is
//! `http://127.0.0.1:6420`.

use client_examples::snippets;
use rivetkit_rs::client::Client;

#[tokio::main]
async fn main() -> Result<(), rivetkit_rs::client::Error> {
    let client = Client::from_env()?;
    let conn = snippets::connection_parameters(&client);
    let _errors = conn.on_error(|error| eprintln!("error: {error}"));
    conn.dispose().await;
    Ok(())
}
