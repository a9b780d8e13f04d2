//! The engine places actors only on pools it has a *runner config* for, and refuses an envoy
//! of an unknown pool (it closes the envoy's socket with `ws.no_runner_config`). The official
//! hosts declare their pool through the engine's API before connecting; so does this one, as
//! a `normal` pool (envoys that connect by themselves, as opposed to `serverless` ones the
//! engine calls) in every datacenter, unless the pool is configured already.

use std::time::Duration;

use serde_json::{json, Value};

use crate::EngineConfig;

/// Declares `config.pool` unless it exists; retries (logging each failure) until the engine
/// answers, since an envoy may well start before its engine.
pub(crate) async fn ensure(config: &EngineConfig) {
    let client = reqwest::Client::new();
    let mut delay = Duration::from_millis(200);
    loop {
        match declare(&client, config).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(endpoint = %config.endpoint, %error, "declaring the pool to the Rivet Engine failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn declare(client: &reqwest::Client, config: &EngineConfig) -> Result<(), String> {
    let base = config.endpoint.trim_end_matches('/');
    let call = |method: reqwest::Method, path: &str| {
        let request = client
            .request(method, format!("{base}{path}"))
            .query(&[("namespace", config.namespace.as_str())])
            .timeout(Duration::from_secs(10));
        match &config.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let body = response.text().await.map_err(|error| error.to_string())?;
        if !status.is_success() {
            return Err(format!("HTTP {status}: {body}"));
        }
        serde_json::from_str::<Value>(&body).map_err(|error| format!("{error}: {body}"))
    };
    let existing = call(reqwest::Method::GET, "/runner-configs")
        .query(&[("runner_name", config.pool.as_str())])
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let existing = answer(existing).await?;
    if existing["runner_configs"].get(&config.pool).is_some() {
        tracing::debug!(pool = %config.pool, "the pool is configured on the engine");
        return Ok(());
    }
    let datacenters = call(reqwest::Method::GET, "/datacenters")
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let datacenters = answer(datacenters).await?;
    let names: Vec<&str> = datacenters["datacenters"]
        .as_array()
        .map(|list| list.iter().filter_map(|dc| dc["name"].as_str()).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return Err(format!("the engine lists no datacenters: {datacenters}"));
    }
    let per_datacenter: serde_json::Map<String, Value> = names
        .into_iter()
        .map(|name| (name.to_owned(), json!({ "normal": {} })))
        .collect();
    let declared = call(
        reqwest::Method::PUT,
        &format!("/runner-configs/{}", config.pool),
    )
    .json(&json!({ "datacenters": per_datacenter }))
    .send()
    .await
    .map_err(|error| error.to_string())?;
    answer(declared).await?;
    tracing::info!(pool = %config.pool, namespace = %config.namespace, "declared the pool to the Rivet Engine");
    Ok(())
}
