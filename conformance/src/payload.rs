//! The large-payload actions shared by `largePayloadActor` (stateless calls) and
//! `largePayloadConnActor` (over a connection).

use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct LargeRequest {
    pub items: Vec<String>,
}

pub fn summarize(request: &LargeRequest) -> Value {
    json!({
        "itemCount": request.items.len(),
        "firstItem": request.items.first(),
        "lastItem": request.items.last(),
    })
}

/// `getLargeResponse(n)` and `echo(data)`.
pub fn actions<S: rivetkit_rs::State, V: Send + Sync + 'static>(actor: Actor<S, V>) -> Actor<S, V> {
    actor
        .action("getLargeResponse", |_c, (n,): (usize,)| async move {
            let items: Vec<String> = (0..n)
                .map(|i| format!("Item {i} with some additional text to increase size"))
                .collect();
            Ok(json!({ "items": items }))
        })
        .action("echo", |_c, (data,): (Value,)| async move { Ok(data) })
}
