//! The guide's "Minimal Client", with an explicit endpoint (first argument; URL auth
//! `https://namespace:token@host` is accepted). Run `seed-server` first.

use client_examples::snippets;

#[tokio::main]
async fn main() -> Result<(), rivetkit_rs::client::Error> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:6420".into());
    let count = snippets::minimal_client(&endpoint).await?;
    println!("count: {count}");
    Ok(())
}
