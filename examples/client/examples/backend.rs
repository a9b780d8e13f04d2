//! The guide's "Calling from Backend": an axum app on 127.0.0.1:3000 whose
//! `POST /increment/{name}` calls the counter actor. Run `seed-server` first, then
//! `curl -X POST http://127.0.0.1:3000/increment/my-counter`.

use rivetkit_rs::client::Client;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    let client = Client::from_env().map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, client_examples::backend::app(client)).await
}
