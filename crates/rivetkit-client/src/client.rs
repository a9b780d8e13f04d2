//! [`Client`]: the entry point. Owns the HTTP client, the resolved endpoint (after the
//! `/metadata` lookup) and the manager API calls that turn a name + key into an actor id (§3).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use rivetkit_interface::ActorInterface;
use rivetkit_protocol::path::encode_uri_component;
use rivetkit_protocol::{cbor, parse_key, serialize_key, Encoding, ErrorBody, Value};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::config::{Backoff, ClientConfig, GatewayAddressing, Target};
use crate::error::{ActorError, Error, Result};
use crate::handle::{ActorHandle, Query, Untyped};
use crate::options::{CreateOptions, GetOptions, GetOrCreateOptions};
use crate::Key;

/// Retries of a failing `/metadata` lookup within one call (about 3.5 s in all).
const METADATA_RETRIES: u32 = 3;

const USER_AGENT: &str = concat!("RivetKit/", env!("CARGO_PKG_VERSION"), " rivetkit-rs");

/// A connection-less client: cheap to clone, share it across tasks. Creating one checks the
/// configuration; the server is first contacted by the first call.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) encoding: Encoding,
    pub(crate) runner_name: String,
    pub(crate) headers: HeaderMap,
    pub(crate) reconnect: Backoff,
    configured: Target,
    metadata_lookup: bool,
    gateway: GatewayAddressing,
    /// The target after `/metadata`, and whether that server routes queries; set once, on the
    /// first success.
    resolved: OnceCell<(Target, bool)>,
}

/// What the client reads from `GET /metadata`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    client_endpoint: Option<String>,
    client_namespace: Option<String>,
    client_token: Option<String>,
    version: Option<String>,
}

/// Whether a server reporting `version` in `/metadata` routes query-addressed gateway URLs:
/// 2.3.0 and later do (pre-releases of 2.3.0 included).
pub(crate) fn routes_queries(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split(['.', '-', '+']);
    let mut number = || parts.next().and_then(|p| p.parse::<u64>().ok());
    match (number(), number()) {
        (Some(major), Some(minor)) => (major, minor) >= (2, 3),
        _ => false,
    }
}

/// An actor as the manager API describes it.
#[derive(Deserialize)]
struct ActorRecord {
    actor_id: String,
    name: String,
}

/// An actor as the manager API lists it ([`Client::list_actors`], [`Client::find_actor`],
/// [`Client::actor_by_id`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorInfo {
    /// The actor's id.
    pub actor_id: String,
    /// The actor type's name.
    pub name: String,
    /// The key's parts (the manager API sends it serialized, §3.6).
    pub key: Vec<String>,
    /// When the actor was created, in milliseconds since the Unix epoch, if the server says.
    pub create_ts: Option<i64>,
}

/// The manager API's actor object, as every server writes it (`key` serialized, or absent for
/// the engine's key-less actors).
#[derive(Deserialize)]
struct ListedActor {
    actor_id: String,
    name: String,
    key: Option<String>,
    create_ts: Option<i64>,
}

impl From<ListedActor> for ActorInfo {
    fn from(actor: ListedActor) -> Self {
        ActorInfo {
            actor_id: actor.actor_id,
            name: actor.name,
            key: actor.key.as_deref().map(parse_key).unwrap_or_default(),
            create_ts: actor.create_ts,
        }
    }
}

/// One page of a manager API listing: the Rivet Engine pages with `pagination.cursor`, the
/// RivetKit servers answer everything at once (no `pagination`).
#[derive(Deserialize)]
struct Page<T> {
    #[serde(flatten)]
    items: T,
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct ActorsPage {
    actors: Vec<ListedActor>,
}

#[derive(Deserialize)]
struct NamesPage {
    names: serde_json::Map<String, Value>,
}

/// The most pages one listing follows (a server that keeps answering cursors is not followed
/// forever).
const MAX_PAGES: usize = 1000;

impl Client {
    /// Checks `config` (bad endpoints and conflicting credentials fail here, not on first use).
    pub fn new(config: ClientConfig) -> Result<Client> {
        let configured = config.resolve()?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| Error::Config(format!("header {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| Error::Config(format!("header {name}: {e}")))?;
            headers.append(name, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                encoding: config.encoding,
                runner_name: config.runner_name.unwrap_or_else(|| "default".into()),
                headers,
                reconnect: config.reconnect,
                configured,
                metadata_lookup: !config.disable_metadata_lookup,
                gateway: config.gateway,
                resolved: OnceCell::new(),
            }),
        })
    }

    /// [`ClientConfig::from_env`], then [`Client::new`].
    pub fn from_env() -> Result<Client> {
        Client::new(ClientConfig::from_env())
    }

    /// The encoding calls and connections use.
    pub fn encoding(&self) -> Encoding {
        self.inner.encoding
    }

    /// Actors named `name`, untyped: for actors without a Rust interface.
    pub fn actor(&self, name: impl Into<String>) -> Actors {
        Actors {
            client: self.clone(),
            name: name.into(),
        }
    }

    /// The actor `A` with `key`, created on first use.
    pub fn get_or_create<A: ActorInterface>(&self, key: impl Into<Key>) -> ActorHandle<A> {
        self.get_or_create_with(key, GetOrCreateOptions::default())
    }

    /// [`get_or_create`](Self::get_or_create) with params, create input or region.
    pub fn get_or_create_with<A: ActorInterface>(
        &self,
        key: impl Into<Key>,
        options: GetOrCreateOptions,
    ) -> ActorHandle<A> {
        self.typed::<A>().get_or_create_with(key, options).retype()
    }

    /// The existing actor `A` with `key`; calls fail with `actor/not_found` if there is none.
    pub fn get<A: ActorInterface>(&self, key: impl Into<Key>) -> ActorHandle<A> {
        self.get_with(key, GetOptions::default())
    }

    /// [`get`](Self::get) with params.
    pub fn get_with<A: ActorInterface>(
        &self,
        key: impl Into<Key>,
        options: GetOptions,
    ) -> ActorHandle<A> {
        self.typed::<A>().get_with(key, options).retype()
    }

    /// The actor `A` with id `actor_id`.
    pub fn get_for_id<A: ActorInterface>(&self, actor_id: impl Into<String>) -> ActorHandle<A> {
        self.get_for_id_with(actor_id, GetOptions::default())
    }

    /// [`get_for_id`](Self::get_for_id) with params.
    pub fn get_for_id_with<A: ActorInterface>(
        &self,
        actor_id: impl Into<String>,
        options: GetOptions,
    ) -> ActorHandle<A> {
        self.typed::<A>()
            .get_for_id_with(actor_id, options)
            .retype()
    }

    /// Creates the actor `A` with `key` (fails with `actor/duplicate_key` if it exists).
    pub async fn create<A: ActorInterface>(
        &self,
        key: impl Into<Key>,
        options: CreateOptions,
    ) -> Result<ActorHandle<A>> {
        Ok(self.typed::<A>().create(key, options).await?.retype())
    }

    fn typed<A: ActorInterface>(&self) -> Actors {
        self.actor(A::NAME)
    }

    /// The target to use, after the metadata lookup (§2.4). Transient failures are retried a
    /// few times with backoff, then returned (the JS client retries forever, which hangs every
    /// call while the server is down; here the next call simply tries again). An error status
    /// below 500 is returned at once: retrying a refused request (e.g. 401) cannot succeed.
    pub(crate) async fn target(&self) -> Result<&Target> {
        Ok(&self.metadata().await?.0)
    }

    /// Whether handles by key address their actor by query (see [`GatewayAddressing`]); with
    /// `Auto` this is decided by the metadata lookup.
    pub async fn uses_query_addressing(&self) -> Result<bool> {
        match self.inner.gateway {
            GatewayAddressing::Query => Ok(true),
            GatewayAddressing::Resolve => Ok(false),
            GatewayAddressing::Auto if !self.inner.metadata_lookup => Ok(false),
            GatewayAddressing::Auto => Ok(self.metadata().await?.1),
        }
    }

    /// The target and whether the server routes queries, after the metadata lookup.
    async fn metadata(&self) -> Result<&(Target, bool)> {
        let inner = &self.inner;
        if !inner.metadata_lookup {
            return Ok(inner
                .resolved
                .get_or_init(|| async { (inner.configured.clone(), false) })
                .await);
        }
        inner
            .resolved
            .get_or_try_init(|| async {
                let mut attempt = 0;
                loop {
                    match self.fetch_metadata().await {
                        Ok(target) => return Ok(target),
                        Err(error) if error.is_permanent() => return Err(error),
                        Err(Error::Http { status, body }) if status < 500 => {
                            return Err(Error::Http { status, body })
                        }
                        Err(error) if attempt >= METADATA_RETRIES => return Err(error),
                        Err(error) => {
                            let delay = Backoff::METADATA.delay(attempt);
                            tracing::warn!(%error, ?delay, "metadata lookup failed, retrying");
                            tokio::time::sleep(delay).await;
                            attempt = attempt.saturating_add(1);
                        }
                    }
                }
            })
            .await
    }

    async fn fetch_metadata(&self) -> Result<(Target, bool)> {
        let configured = &self.inner.configured;
        let request = self.manager_request(configured, reqwest::Method::GET, "/metadata");
        let metadata: Metadata = serde_json::from_slice(&self.send_manager(request).await?)
            .map_err(|e| Error::Protocol(format!("metadata: {e}")))?;
        let queries = metadata.version.as_deref().is_some_and(routes_queries);
        let Some(endpoint) = metadata.client_endpoint else {
            return Ok((configured.clone(), queries));
        };
        let endpoint = url::Url::parse(&endpoint)
            .map_err(|e| Error::Protocol(format!("metadata clientEndpoint {endpoint:?}: {e}")))?;
        let target = Target {
            endpoint,
            namespace: metadata
                .client_namespace
                .unwrap_or_else(|| configured.namespace.clone()),
            token: metadata.client_token.or_else(|| configured.token.clone()),
        };
        Ok((target, queries))
    }

    fn manager_request(
        &self,
        target: &Target,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .inner
            .http
            .request(method, target.manager_url(path))
            .headers(self.inner.headers.clone());
        if let Some(token) = &target.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends a manager call; the body of a 2xx answer, else the error it carries.
    async fn send_manager(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>> {
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?.to_vec();
        if status.is_success() {
            return Ok(body);
        }
        Err(http_error(status.as_u16(), &body, Encoding::Json, None))
    }

    async fn manager_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let target = self.target().await?;
        let mut request = self.manager_request(target, method, path);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let body = self.send_manager(request).await?;
        serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("manager API: {e}")))
    }

    /// Runs a handle's query (§3.3) and returns the actor id.
    pub(crate) async fn query_actor_id(&self, name: &str, query: &Query) -> Result<String> {
        match query {
            Query::GetForId { actor_id } => {
                let path = format!("/actors?actor_ids={}", encode_uri_component(actor_id));
                let found = self.first_actor(&path).await?;
                // An id of another actor type is as good as no actor (§3.3).
                match found.filter(|actor| actor.name == name) {
                    Some(actor) => Ok(actor.actor_id),
                    None => Err(not_found(&format!("actor {actor_id} ({name})"))),
                }
            }
            Query::Get { key } => {
                let path = format!(
                    "/actors?name={}&key={}",
                    encode_uri_component(name),
                    encode_uri_component(&serialize_key(key))
                );
                match self.first_actor(&path).await? {
                    Some(actor) => Ok(actor.actor_id),
                    None => Err(not_found(&format!("{name} {key:?}"))),
                }
            }
            Query::GetOrCreate { key, input, region } => {
                let body = self.create_body(name, key, input.as_ref(), region.as_deref());
                let answer = self
                    .manager_json(reqwest::Method::PUT, "/actors", Some(body))
                    .await?;
                actor_id_of(&answer["actor"])
            }
        }
    }

    /// `POST /actors`: creates the actor and returns its id.
    pub(crate) async fn create_actor(
        &self,
        name: &str,
        key: &[String],
        input: Option<&Value>,
        region: Option<&str>,
    ) -> Result<String> {
        let body = self.create_body(name, key, input, region);
        let answer = self
            .manager_json(reqwest::Method::POST, "/actors", Some(body))
            .await?;
        actor_id_of(&answer["actor"])
    }

    fn create_body(
        &self,
        name: &str,
        key: &[String],
        input: Option<&Value>,
        region: Option<&str>,
    ) -> Value {
        let mut body = json!({
            "name": name,
            "key": serialize_key(key),
            "runner_name_selector": self.inner.runner_name,
            "crash_policy": "sleep",
        });
        if let Some(region) = region {
            body["datacenter"] = json!(region);
        }
        if let Some(input) = input {
            let mut bytes = Vec::new();
            cbor::encode(input, &mut bytes);
            body["input"] = json!(STANDARD.encode(bytes));
        }
        body
    }

    /// `GET {path}`: the first actor of the `actors` list it answers, if any.
    async fn first_actor(&self, path: &str) -> Result<Option<ActorRecord>> {
        let mut answer = self.manager_json(reqwest::Method::GET, path, None).await?;
        let first = match answer["actors"].as_array_mut() {
            Some(actors) if !actors.is_empty() => actors.swap_remove(0),
            Some(_) => return Ok(None),
            None => return Err(Error::Protocol("manager API: no `actors` list".into())),
        };
        serde_json::from_value(first)
            .map(Some)
            .map_err(|e| Error::Protocol(format!("manager API: {e}")))
    }

    /// The actor names the server serves (`GET /actors/names`), sorted.
    pub async fn actor_names(&self) -> Result<Vec<String>> {
        let pages: Vec<NamesPage> = self.pages("/actors/names").await?;
        let mut names: Vec<String> = pages
            .into_iter()
            .flat_map(|page| page.names.into_iter().map(|(name, _)| name))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The live actors named `name` (`GET /actors?name=`), in the server's order. Servers may
    /// cap the list (rivetkit-rs answers at most 1000 actors).
    pub async fn list_actors(&self, name: &str) -> Result<Vec<ActorInfo>> {
        let path = format!("/actors?name={}", encode_uri_component(name));
        let pages: Vec<ActorsPage> = self.pages(&path).await?;
        Ok(pages
            .into_iter()
            .flat_map(|page| page.actors)
            .map(ActorInfo::from)
            .collect())
    }

    /// The actor named `name` with `key`, if there is one; creates nothing.
    pub async fn find_actor(&self, name: &str, key: impl Into<Key>) -> Result<Option<ActorInfo>> {
        let path = format!(
            "/actors?name={}&key={}",
            encode_uri_component(name),
            encode_uri_component(&serialize_key(&key.into().0))
        );
        self.single_actor(&path).await
    }

    /// The actor with id `actor_id` in the client's namespace, if there is one.
    pub async fn actor_by_id(&self, actor_id: &str) -> Result<Option<ActorInfo>> {
        let path = format!("/actors?actor_ids={}", encode_uri_component(actor_id));
        self.single_actor(&path).await
    }

    /// Destroys the actor with id `actor_id` (`DELETE /actors/{id}`): its key is free again.
    /// Fails with `actor/not_found` if the namespace has no such actor.
    pub async fn destroy_actor(&self, actor_id: &str) -> Result<()> {
        let path = format!("/actors/{}", encode_uri_component(actor_id));
        self.manager_json(reqwest::Method::DELETE, &path, None)
            .await
            .map(drop)
    }

    async fn single_actor(&self, path: &str) -> Result<Option<ActorInfo>> {
        let page: ActorsPage = self.manager_page(path).await?.items;
        Ok(page.actors.into_iter().next().map(ActorInfo::from))
    }

    /// `GET {path}` and the pages after it, as long as the server gives a cursor.
    async fn pages<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let mut pages = Vec::new();
        let mut page = self.manager_page::<T>(path).await?;
        loop {
            let cursor = page.pagination.and_then(|p| p.cursor);
            pages.push(page.items);
            let Some(cursor) = cursor.filter(|_| pages.len() < MAX_PAGES) else {
                return Ok(pages);
            };
            let separator = if path.contains('?') { '&' } else { '?' };
            let next = format!("{path}{separator}cursor={}", encode_uri_component(&cursor));
            page = self.manager_page(&next).await?;
        }
    }

    async fn manager_page<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Page<T>> {
        let answer = self.manager_json(reqwest::Method::GET, path, None).await?;
        serde_json::from_value(answer).map_err(|e| Error::Protocol(format!("manager API: {e}")))
    }

    /// Headers on every actor HTTP request: configured ones, then the token.
    pub(crate) fn actor_headers(&self, target: &Target) -> HeaderMap {
        let mut headers = self.inner.headers.clone();
        if let Some(value) = target
            .token
            .as_deref()
            .and_then(|token| HeaderValue::try_from(token).ok())
        {
            headers.insert("x-rivet-token", value);
        }
        headers
    }

    pub(crate) fn reconnect_delay(&self, attempt: u32) -> Duration {
        self.inner.reconnect.delay(attempt)
    }
}

fn actor_id_of(actor: &Value) -> Result<String> {
    actor["actor_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Protocol("manager API: actor without `actor_id`".into()))
}

fn not_found(what: &str) -> Error {
    ActorError::new("actor", "not_found", format!("{what} not found")).into()
}

/// The error an HTTP error response stands for (§7.2): JSON bodies when the response says so,
/// else the request's encoding; an undecodable body is reported with its status and text.
pub(crate) fn http_error(
    status: u16,
    body: &[u8],
    encoding: Encoding,
    content_type: Option<&str>,
) -> Error {
    let encoding = match content_type {
        Some(ct) if ct.contains("application/json") => Encoding::Json,
        _ => encoding,
    };
    match ErrorBody::decode_http(body, encoding) {
        Ok(error) => ActorError::from(error).into(),
        Err(_) => Error::Http {
            status,
            body: String::from_utf8_lossy(body).into_owned(),
        },
    }
}

/// Every actor named `name`: the untyped counterpart of [`Client::get_or_create`] and friends.
#[derive(Clone)]
pub struct Actors {
    client: Client,
    name: String,
}

impl Actors {
    /// The actor with `key`, created on first use.
    pub fn get_or_create(&self, key: impl Into<Key>) -> ActorHandle {
        self.get_or_create_with(key, GetOrCreateOptions::default())
    }

    /// [`get_or_create`](Self::get_or_create) with params, create input or region.
    pub fn get_or_create_with(
        &self,
        key: impl Into<Key>,
        options: GetOrCreateOptions,
    ) -> ActorHandle {
        let query = Query::GetOrCreate {
            key: key.into().0,
            input: options.input,
            region: options.region,
        };
        self.handle(query, options.params)
    }

    /// The existing actor with `key`; calls fail with `actor/not_found` if there is none.
    pub fn get(&self, key: impl Into<Key>) -> ActorHandle {
        self.get_with(key, GetOptions::default())
    }

    /// [`get`](Self::get) with params.
    pub fn get_with(&self, key: impl Into<Key>, options: GetOptions) -> ActorHandle {
        self.handle(Query::Get { key: key.into().0 }, options.params)
    }

    /// The actor with id `actor_id`.
    pub fn get_for_id(&self, actor_id: impl Into<String>) -> ActorHandle {
        self.get_for_id_with(actor_id, GetOptions::default())
    }

    /// [`get_for_id`](Self::get_for_id) with params.
    pub fn get_for_id_with(&self, actor_id: impl Into<String>, options: GetOptions) -> ActorHandle {
        let query = Query::GetForId {
            actor_id: actor_id.into(),
        };
        self.handle(query, options.params)
    }

    /// Creates the actor and returns a handle bound to its id.
    pub async fn create(&self, key: impl Into<Key>, options: CreateOptions) -> Result<ActorHandle> {
        let key = key.into().0;
        let actor_id = self
            .client
            .create_actor(
                &self.name,
                &key,
                options.input.as_ref(),
                options.region.as_deref(),
            )
            .await?;
        Ok(self.handle(Query::GetForId { actor_id }, options.params))
    }

    fn handle(&self, query: Query, params: Option<Value>) -> ActorHandle<Untyped> {
        ActorHandle::new(self.client.clone(), self.name.clone(), query, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_from_2_3_route_queries() {
        for version in ["2.3.0", "2.3.19", "2.3.0-rc.1", "v2.4.1", "3.0.0"] {
            assert!(routes_queries(version), "{version}");
        }
        for version in ["2.2.1", "2.1.5", "0.1.0", "2", "", "engine"] {
            assert!(!routes_queries(version), "{version}");
        }
    }
}
