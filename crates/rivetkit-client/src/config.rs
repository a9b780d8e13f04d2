//! Client configuration (§2): options, environment fallbacks, URL auth and URL building.

use std::time::Duration;

use rivetkit_protocol::path::encode_uri_component;
use rivetkit_protocol::Encoding;
use url::Url;

use crate::error::{Error, Result};

/// Used when neither the config nor the environment names an endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:6420";

/// How the client is set up. [`ClientConfig::default`] reads nothing from the environment;
/// [`ClientConfig::from_env`] does, as `createClient()` does in JavaScript.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Manager endpoint; may carry `namespace:token@` (URL auth). `None`: [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
    /// `None`: from the endpoint URL, else `"default"`.
    pub namespace: Option<String>,
    /// `None`: from the endpoint URL, else no token.
    pub token: Option<String>,
    /// The runner pool for actors this client creates (`runner_name_selector`, `rvt-runner`).
    /// `None`: `"default"`.
    pub runner_name: Option<String>,
    /// Payload encoding of calls and connections (default `bare`, as in JS).
    pub encoding: Encoding,
    /// Extra headers on manager calls and actor HTTP calls (never on WebSockets, as in JS).
    pub headers: Vec<(String, String)>,
    /// Skip `GET /metadata` (and its endpoint overrides).
    pub disable_metadata_lookup: bool,
    /// Delays between connection attempts.
    pub reconnect: Backoff,
    /// How handles found by key (`get`, `get_or_create`) address their actor.
    pub gateway: GatewayAddressing,
}

/// How a handle found by name and key reaches its actor. Handles by id, and `create`, always
/// use the manager API and `/gateway/{id}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GatewayAddressing {
    /// [`Query`](Self::Query) when `/metadata` names a 2.3.0 or newer server (the first version
    /// whose gateway routes queries), else [`Resolve`](Self::Resolve); `Resolve` when the
    /// metadata lookup is disabled.
    #[default]
    Auto,
    /// Every request names the actor by query, as rivetkit 2.3 clients do:
    /// `/gateway/{name}/{endpoint}?rvt-namespace=..&rvt-method=get|getOrCreate&rvt-key=..`. No
    /// manager call; the gateway finds (or creates) the actor per request. Keys with a `,` in a
    /// component, the key `[""]` and create inputs over 4 KiB of CBOR cannot be written in a
    /// query and fall back to `Resolve` for that handle.
    Query,
    /// The id is looked up with the manager API (`GET` / `PUT /actors`) once, then requests go
    /// to `/gateway/{id}` (2.0 / 2.1 clients' form; every server has it).
    Resolve,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: None,
            namespace: None,
            token: None,
            runner_name: None,
            encoding: Encoding::Bare,
            headers: Vec::new(),
            disable_metadata_lookup: false,
            reconnect: Backoff::RECONNECT,
            gateway: GatewayAddressing::Auto,
        }
    }
}

/// Exponential backoff with jitter: attempt `n` waits a random time in
/// `[d/2, d]` where `d = min(initial * 2^n, max)`. The jitter keeps many clients that lost the
/// same server from reconnecting in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay ceiling of the first retry.
    pub initial: Duration,
    /// The largest delay ceiling.
    pub max: Duration,
}

impl Backoff {
    /// The official client's connection retry schedule (250 ms doubling to 30 s).
    pub const RECONNECT: Backoff = Backoff {
        initial: Duration::from_millis(250),
        max: Duration::from_secs(30),
    };
    /// The official client's metadata retry schedule (500 ms doubling to 15 s).
    pub const METADATA: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(15),
    };

    /// How long to wait before attempt `attempt` (counted from 0), jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        ceiling.mul_f64(rand::random_range(0.5..=1.0))
    }
}

impl ClientConfig {
    /// A config for `endpoint`, which may carry `namespace:token@` (URL auth); nothing read from
    /// the environment.
    pub fn new(endpoint: impl Into<String>) -> Self {
        ClientConfig {
            endpoint: Some(endpoint.into()),
            ..ClientConfig::default()
        }
    }

    /// Sets the payload encoding.
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Sets the server token (must not also be in the endpoint URL).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the namespace (must not also be in the endpoint URL).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Forces how handles by key address their actor.
    pub fn gateway(mut self, gateway: GatewayAddressing) -> Self {
        self.gateway = gateway;
        self
    }

    /// The default config with `RIVET_ENGINE` / `RIVET_ENDPOINT`, `RIVET_NAMESPACE`,
    /// `RIVET_TOKEN` and `RIVET_POOL` / `RIVET_RUNNER` applied.
    pub fn from_env() -> Self {
        ClientConfig::default().with_env(|name| std::env::var(name).ok())
    }

    /// Fills unset options from an environment (`lookup` maps a variable name to its value).
    /// `RIVET_ENGINE` wins over `RIVET_ENDPOINT`.
    pub fn with_env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        self.endpoint = self
            .endpoint
            .or_else(|| lookup("RIVET_ENGINE"))
            .or_else(|| lookup("RIVET_ENDPOINT"));
        self.namespace = self.namespace.or_else(|| lookup("RIVET_NAMESPACE"));
        self.token = self.token.or_else(|| lookup("RIVET_TOKEN"));
        // 2.3 clients read the pool name from `RIVET_POOL`, 2.0 / 2.1 ones from `RIVET_RUNNER`.
        self.runner_name = self
            .runner_name
            .or_else(|| lookup("RIVET_POOL"))
            .or_else(|| lookup("RIVET_RUNNER"));
        self
    }

    /// Applies URL auth and defaults (§2.2), or says why the config is unusable.
    pub fn resolve(&self) -> Result<Target> {
        let raw = self.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let config_error =
            |field: &str, message: String| Error::Config(format!("{field}: {message}"));
        let mut url =
            Url::parse(raw).map_err(|_| config_error("endpoint", format!("invalid URL: {raw}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(
                "endpoint",
                format!(
                    "unsupported scheme {:?} (expected http or https)",
                    url.scheme()
                ),
            ));
        }
        if url.query().is_some() {
            return Err(config_error(
                "endpoint",
                "endpoint cannot contain a query string".into(),
            ));
        }
        if url.fragment().is_some() {
            return Err(config_error(
                "endpoint",
                "endpoint cannot contain a fragment".into(),
            ));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let url_namespace = Some(decode(url.username())).filter(|s| !s.is_empty());
        let url_token = url.password().map(decode).filter(|s| !s.is_empty());
        if url_token.is_some() && url_namespace.is_none() {
            return Err(config_error(
                "endpoint",
                "endpoint cannot have a token without a namespace".into(),
            ));
        }
        if url_namespace.is_some() && self.namespace.is_some() {
            return Err(config_error(
                "namespace",
                "cannot specify namespace both in endpoint URL and as a separate config option"
                    .into(),
            ));
        }
        if url_token.is_some() && self.token.is_some() {
            return Err(config_error(
                "token",
                "cannot specify token both in endpoint URL and as a separate config option".into(),
            ));
        }
        // Both setters only fail for URLs that cannot have credentials, which http(s) can.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Target {
            endpoint: url,
            namespace: url_namespace
                .or_else(|| self.namespace.clone())
                .unwrap_or_else(|| "default".into()),
            token: url_token.or_else(|| self.token.clone()),
        })
    }
}

/// Where calls go: the endpoint without credentials, and the namespace and token to send. The
/// `/metadata` lookup may replace all three.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The endpoint, without credentials.
    pub endpoint: Url,
    /// The namespace manager calls and queries carry.
    pub namespace: String,
    /// The token requests carry, if any.
    pub token: Option<String>,
}

impl Target {
    /// `endpoint + path`, per §2.3: the endpoint's base path is kept, `//` collapses, and each
    /// `(name, value)` of `query` is appended escaped.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        join(&self.endpoint, path, query)
    }

    /// A manager API URL: `path` plus `namespace={namespace}`.
    pub fn manager_url(&self, path: &str) -> String {
        self.url(path, &[("namespace", &self.namespace)])
    }

    /// `/gateway/{id}[@{token}]{path}` (§4.1), as an http(s) URL.
    pub fn gateway_url(&self, actor_id: &str, path: &str) -> String {
        let mut segment = encode_uri_component(actor_id);
        if let Some(token) = &self.token {
            segment.push('@');
            segment.push_str(&encode_uri_component(token));
        }
        self.url(&format!("/gateway/{segment}{path}"), &[])
    }

    /// The same, as a ws(s) URL.
    pub fn gateway_ws_url(&self, actor_id: &str, path: &str) -> String {
        ws_url(self.gateway_url(actor_id, path))
    }

    /// The query-addressed gateway URL of rivetkit 2.3 (`/gateway/{name}{path}?rvt-...`), as an
    /// http(s) URL. `path` may carry its own query; the `rvt-` parameters follow it, written
    /// the way `URLSearchParams` writes them (the gateway strips them before the actor sees
    /// the request). The token travels as `rvt-token`.
    pub fn query_gateway_url(&self, query: &GatewayQuery<'_>, path: &str) -> String {
        let mut params = url::form_urlencoded::Serializer::new(String::new());
        params.append_pair("rvt-namespace", &self.namespace);
        let push_key = |params: &mut url::form_urlencoded::Serializer<'_, String>| {
            if !query.key.is_empty() {
                params.append_pair("rvt-key", &query.key.join(","));
            }
        };
        match &query.create {
            None => {
                params.append_pair("rvt-method", "get");
                push_key(&mut params);
            }
            Some(create) => {
                params.append_pair("rvt-method", "getOrCreate");
                params.append_pair("rvt-runner", create.runner);
                push_key(&mut params);
                if let Some(input) = create.input {
                    params.append_pair("rvt-input", input);
                }
                if let Some(region) = create.region {
                    params.append_pair("rvt-region", region);
                }
                params.append_pair("rvt-crash-policy", "sleep");
            }
        }
        if let Some(token) = &self.token {
            params.append_pair("rvt-token", token);
        }
        let separator = if path.ends_with('?') || path.ends_with('&') {
            ""
        } else if path.contains('?') {
            "&"
        } else {
            "?"
        };
        let name = encode_uri_component(query.name);
        self.url(
            &format!("/gateway/{name}{path}{separator}{}", params.finish()),
            &[],
        )
    }

    /// The same, as a ws(s) URL.
    pub fn query_gateway_ws_url(&self, query: &GatewayQuery<'_>, path: &str) -> String {
        ws_url(self.query_gateway_url(query, path))
    }
}

/// What a query-addressed gateway URL asks for: the actor `name` with `key`, and how to create
/// it when missing (`None`: `method=get`, never create).
#[derive(Clone, Copy, Debug)]
pub struct GatewayQuery<'a> {
    /// The actor name.
    pub name: &'a str,
    /// The key's parts.
    pub key: &'a [String],
    /// `Some` for `getOrCreate`.
    pub create: Option<GatewayCreate<'a>>,
}

/// The create part of a `getOrCreate` query.
#[derive(Clone, Copy, Debug)]
pub struct GatewayCreate<'a> {
    /// The runner pool (`rvt-runner`).
    pub runner: &'a str,
    /// The create input: CBOR, base64url without padding (`rvt-input`).
    pub input: Option<&'a str>,
    /// Where to create the actor (`rvt-region`).
    pub region: Option<&'a str>,
}

/// `url` (http or https) with the matching WebSocket scheme.
pub(crate) fn ws_url(url: String) -> String {
    match url.strip_prefix("https") {
        Some(rest) => format!("wss{rest}"),
        None => format!("ws{}", url.strip_prefix("http").unwrap_or(&url)),
    }
}

fn join(endpoint: &Url, path: &str, query: &[(&str, &str)]) -> String {
    let base = endpoint.path();
    let base = base.strip_suffix('/').unwrap_or(base);
    let (path, existing_query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let slash = if path.starts_with('/') { "" } else { "/" };
    let mut full = format!("{base}{slash}{path}");
    while full.contains("//") {
        full = full.replace("//", "/");
    }
    let mut params: Vec<String> = existing_query
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .into_iter()
        .collect();
    params.extend(
        query
            .iter()
            .map(|(k, v)| format!("{}={}", encode_uri_component(k), encode_uri_component(v))),
    );
    let origin = endpoint.origin().ascii_serialization();
    if params.is_empty() {
        format!("{origin}{full}")
    } else {
        format!("{origin}{full}?{}", params.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::vectors;
    use serde_json::Value;

    fn config_from(input: &Value, env: &Value) -> ClientConfig {
        let field = |name: &str| input[name].as_str().map(str::to_owned);
        ClientConfig {
            endpoint: field("endpoint"),
            namespace: field("namespace"),
            token: field("token"),
            runner_name: field("runnerName"),
            ..ClientConfig::default()
        }
        .with_env(|name| env[name].as_str().map(str::to_owned))
    }

    #[test]
    fn endpoint_config_vectors_of_the_2_1_5_client() {
        let mut checked = 0;
        for record in vectors("endpoint-config.jsonl") {
            if record["client"] != "rivetkit@2.1.5" {
                continue;
            }
            let config = config_from(&record["input"], &record["env"]);
            let desc = record["desc"].as_str().unwrap();
            match (config.resolve(), record["result"].is_null()) {
                (Ok(target), false) => {
                    let expected = &record["result"];
                    assert_eq!(target.endpoint.as_str(), expected["endpoint"], "{desc}");
                    assert_eq!(target.namespace, expected["namespace"], "{desc}");
                    assert_eq!(
                        target.token.as_deref(),
                        expected["token"].as_str(),
                        "{desc}"
                    );
                    assert_eq!(
                        config.runner_name.as_deref().unwrap_or("default"),
                        expected["runnerName"],
                        "{desc}"
                    );
                }
                (Err(Error::Config(message)), true) => {
                    assert_eq!(message, record["error"].as_str().unwrap(), "{desc}")
                }
                (got, _) => panic!("{desc}: unexpected {got:?}"),
            }
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} vectors");
    }

    #[test]
    fn url_vectors() {
        let mut checked = 0;
        for record in vectors("urls.jsonl") {
            let endpoint = Url::parse(record["endpoint"].as_str().unwrap()).unwrap();
            let path = record["path"].as_str().unwrap();
            let target = Target {
                endpoint,
                namespace: String::new(),
                token: record["token"].as_str().map(str::to_owned),
            };
            let url = if record["fn"] == "combineUrlPath" {
                let query: Vec<(&str, &str)> = record["query"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                    .collect();
                target.url(path, &query)
            } else {
                target.gateway_url(record["actorId"].as_str().unwrap(), path)
            };
            assert_eq!(url, record["url"].as_str().unwrap(), "{}", record["desc"]);
            checked += 1;
        }
        assert_eq!(checked, 9);
    }

    #[test]
    fn websocket_urls_and_other_schemes() {
        let target = ClientConfig::new("https://ns:tok@h.example/base/")
            .resolve()
            .unwrap();
        assert_eq!(
            target.gateway_ws_url("a b", "/connect"),
            "wss://h.example/base/gateway/a%20b@tok/connect"
        );
        assert!(ClientConfig::new("ftp://h").resolve().is_err());
        assert_eq!(
            ClientConfig::default().resolve().unwrap().endpoint.as_str(),
            "http://127.0.0.1:6420/"
        );
    }

    /// URLs the official rivetkit 2.3.19 client requested from a recording server, for the
    /// same queries.
    #[test]
    fn query_gateway_urls_match_the_2_3_client() {
        let target = ClientConfig::new("http://127.0.0.1:4000")
            .namespace("ns one")
            .token("t/k+n")
            .resolve()
            .unwrap();
        let key: Vec<String> = vec!["a b".into(), "c,d".into(), "é&=".into()];
        let created = GatewayQuery {
            name: "counter",
            key: &key,
            create: Some(GatewayCreate {
                runner: "default",
                input: Some("uQACYXgBYXNiaGk"),
                region: Some("eu-1"),
            }),
        };
        let tail = "rvt-namespace=ns+one&rvt-method=getOrCreate&rvt-runner=default\
                    &rvt-key=a+b%2Cc%2Cd%2C%C3%A9%26%3D&rvt-input=uQACYXgBYXNiaGk&rvt-region=eu-1\
                    &rvt-crash-policy=sleep&rvt-token=t%2Fk%2Bn";
        assert_eq!(
            target.query_gateway_url(&created, "/action/increment"),
            format!("http://127.0.0.1:4000/gateway/counter/action/increment?{tail}")
        );
        assert_eq!(
            target.query_gateway_ws_url(&created, "/websocket/room?x=1"),
            format!("ws://127.0.0.1:4000/gateway/counter/websocket/room?x=1&{tail}")
        );
        let k = vec!["k".to_owned()];
        let get = GatewayQuery {
            name: "counter",
            key: &k,
            create: None,
        };
        assert_eq!(
            target.query_gateway_ws_url(&get, "/connect"),
            "ws://127.0.0.1:4000/gateway/counter/connect\
             ?rvt-namespace=ns+one&rvt-method=get&rvt-key=k&rvt-token=t%2Fk%2Bn"
        );
        let empty = GatewayQuery {
            name: "counter",
            key: &[],
            create: Some(GatewayCreate {
                runner: "default",
                input: None,
                region: None,
            }),
        };
        assert_eq!(
            target.query_gateway_url(&empty, "/action/getCount"),
            "http://127.0.0.1:4000/gateway/counter/action/getCount?rvt-namespace=ns+one\
             &rvt-method=getOrCreate&rvt-runner=default&rvt-crash-policy=sleep&rvt-token=t%2Fk%2Bn"
        );
        let solo = vec!["solo".to_owned()];
        let solo = GatewayQuery {
            key: &solo,
            ..empty
        };
        assert_eq!(
            target.query_gateway_url(&solo, "/request/foo/bar?q=1"),
            "http://127.0.0.1:4000/gateway/counter/request/foo/bar?q=1&rvt-namespace=ns+one\
             &rvt-method=getOrCreate&rvt-runner=default&rvt-key=solo&rvt-crash-policy=sleep\
             &rvt-token=t%2Fk%2Bn"
        );
        // No token: no `rvt-token`; the endpoint's base path is kept; a path ending in `?` or
        // `&` takes the parameters as they are.
        let target = ClientConfig::new("https://h.example/base/")
            .resolve()
            .unwrap();
        assert_eq!(
            target.query_gateway_url(&get, "/request/x?"),
            "https://h.example/base/gateway/counter/request/x?rvt-namespace=default&rvt-method=get&rvt-key=k"
        );
        assert_eq!(
            target.query_gateway_url(&get, "/request/x?a=1&"),
            "https://h.example/base/gateway/counter/request/x?a=1&rvt-namespace=default&rvt-method=get&rvt-key=k"
        );
    }

    #[test]
    fn the_pool_comes_from_rivet_pool_then_rivet_runner() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let pool = |config: ClientConfig| config.runner_name;
        assert_eq!(
            pool(
                ClientConfig::default()
                    .with_env(env(&[("RIVET_POOL", "p"), ("RIVET_RUNNER", "r")]))
            ),
            Some("p".into())
        );
        assert_eq!(
            pool(ClientConfig::default().with_env(env(&[("RIVET_RUNNER", "r")]))),
            Some("r".into())
        );
        let explicit = ClientConfig {
            runner_name: Some("mine".into()),
            ..ClientConfig::default()
        };
        assert_eq!(
            pool(explicit.with_env(env(&[("RIVET_POOL", "p")]))),
            Some("mine".into())
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = backoff.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = backoff.delay(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }
}
