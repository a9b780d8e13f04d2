//! [`ActorHandle`]: one actor, found by key or id. Stateless calls over HTTP (§5.1), raw HTTP
//! and WebSocket (§5.4, §5.5), and the door to a [`Connection`].
//!
//! A handle by key reaches its actor one of two ways (see [`GatewayAddressing`]):
//! * by query (rivetkit 2.3 servers): every request names the actor in the URL
//!   (`/gateway/{name}/...?rvt-method=getOrCreate&rvt-key=...`) and the gateway finds or creates
//!   it. Requests refused while the actor starts, stops or moves are retried every 100 ms, as
//!   the official 2.3 client does (up to 60 times for `get_or_create`, 24 for `get`).
//! * by id: the handle resolves its actor id with the manager API the first time it needs it
//!   and keeps it; when a call then fails with `actor/not_found` or `actor/destroyed_*` (the
//!   actor went away and may be re-created) the id is looked up again and the call retried once.
//!
//! [`GatewayAddressing`]: crate::GatewayAddressing

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use parking_lot::Mutex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use rivetkit_interface::{Action, ActorInterface, ArgList, Caller};
use rivetkit_protocol::path::encode_uri_component;
use rivetkit_protocol::{
    cbor, value, HttpActionRequest, HttpActionResponse, HttpQueueSendRequest,
    HttpQueueSendResponse, Value,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{http_error, Client};
use crate::config::{ws_url, GatewayCreate, GatewayQuery, Target};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::transport::{self, RawWebSocket};

/// The type parameter of handles and connections made by name, without an interface.
#[derive(Clone, Copy, Debug)]
pub enum Untyped {}

/// How a handle finds its actor (§3.3).
#[derive(Clone, Debug)]
pub(crate) enum Query {
    GetForId {
        actor_id: String,
    },
    Get {
        key: Vec<String>,
    },
    GetOrCreate {
        key: Vec<String>,
        input: Option<Value>,
        region: Option<String>,
    },
}

/// How a waiting queue send ended.
#[derive(Clone, Debug, PartialEq)]
pub enum QueueReply<R> {
    /// The actor completed the message, with this response (if it gave one).
    Completed(Option<R>),
    /// The wait ran out first; the message stays queued.
    TimedOut,
}

/// A reference to one actor. Cheap to clone; clones share the resolved id. `A` is the actor's
/// interface (methods come from its generated trait) or [`Untyped`].
pub struct ActorHandle<A = Untyped> {
    pub(crate) client: Client,
    shared: Arc<Shared>,
    _actor: PhantomData<fn() -> A>,
}

struct Shared {
    name: String,
    query: Query,
    /// The create input as `rvt-input` (CBOR, base64url); `None` without an input.
    query_input: Option<String>,
    /// Whether `query` can be written as a query-addressed gateway URL at all.
    query_writable: bool,
    params: Option<Value>,
    actor_id: Mutex<Option<String>>,
}

/// The largest create input a query URL carries (the official client's default
/// `maxInputSize`); larger ones make the handle resolve its id through the manager API.
const MAX_QUERY_INPUT: usize = 4 * 1024;

/// Pause between attempts of a query-addressed request the gateway refused for now.
const QUERY_RETRY_DELAY: Duration = Duration::from_millis(100);

/// How many times a query-addressed request is repeated after the gateway could not get the
/// actor running (`guard/actor_ready_timeout`, `guard/actor_runner_failed`). Each such answer
/// may itself have taken the gateway's whole ready timeout (30 s by default), so, unlike the
/// official client (which repeats these up to its 60 attempts when it knows no actor id), this
/// gives up after one more try.
const MAX_SCHEDULING_RETRIES: u32 = 1;

/// Where a request goes: the actor by id, or by the handle's query.
#[derive(Clone, Debug)]
pub(crate) enum Route {
    Id(String),
    Query,
}

impl<A> Clone for ActorHandle<A> {
    fn clone(&self) -> Self {
        ActorHandle {
            client: self.client.clone(),
            shared: self.shared.clone(),
            _actor: PhantomData,
        }
    }
}

impl<A> std::fmt::Debug for ActorHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorHandle")
            .field("name", &self.shared.name)
            .field("query", &self.shared.query)
            .finish_non_exhaustive()
    }
}

/// Whether an error means the resolved id is stale (2.1.8+ clients re-resolve on these).
fn is_stale_id(error: &Error) -> bool {
    error.as_actor().is_some_and(|e| {
        e.group == "actor" && (e.code == "not_found" || e.code.starts_with("destroyed"))
    })
}

/// Whether a query-addressed request refused with `error` may succeed when repeated: the actor
/// is starting, stopping or being replaced, or could not be scheduled yet (the official 2.3
/// client's list). `not_found` counts only when the query creates the actor.
fn is_transient_for_query(error: &Error, creates: bool) -> bool {
    error.as_actor().is_some_and(|e| match e.group.as_str() {
        "actor" => {
            matches!(
                e.code.as_str(),
                "starting" | "stopping" | "not_configured" | "dropped_reply" | "destroying"
            ) || e.code.starts_with("destroyed_")
                || (creates && e.code == "not_found")
        }
        "guard" => matches!(
            e.code.as_str(),
            "actor_ready_timeout" | "actor_runner_failed"
        ),
        _ => false,
    })
}

/// The gateway could not get the actor running (no runner / envoy, or it crashed on start).
fn is_scheduling_error(error: &Error) -> bool {
    error.as_actor().is_some_and(|e| {
        e.group == "guard"
            && matches!(
                e.code.as_str(),
                "actor_ready_timeout" | "actor_runner_failed"
            )
    })
}

/// Whether `key` survives the gateway's `rvt-key` form (components joined with `,`, split again
/// on `,`, an empty value meaning `[]`).
fn key_fits_query(key: &[String]) -> bool {
    let ambiguous = key.iter().any(|part| part.contains(',')) || key == [""];
    !ambiguous
}

/// The argument list of a call: a tuple (`()`, `(x,)`, `(x, y)`) becomes the list of its items.
pub(crate) fn arg_list<T: ArgList>(args: &T) -> Result<Vec<Value>> {
    Ok(match value::from_typed(args)? {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        single => vec![single],
    })
}

impl<A> ActorHandle<A> {
    pub(crate) fn new(client: Client, name: String, query: Query, params: Option<Value>) -> Self {
        let actor_id = match &query {
            Query::GetForId { actor_id } => Some(actor_id.clone()),
            _ => None,
        };
        let query_input = match &query {
            Query::GetOrCreate {
                input: Some(input), ..
            } => {
                let mut bytes = Vec::new();
                cbor::encode(input, &mut bytes);
                (bytes.len() <= MAX_QUERY_INPUT).then(|| URL_SAFE_NO_PAD.encode(bytes))
            }
            _ => None,
        };
        let query_writable = match &query {
            Query::GetForId { .. } => false,
            Query::Get { key } => key_fits_query(key),
            Query::GetOrCreate { key, input, .. } => {
                key_fits_query(key) && (input.is_none() || query_input.is_some())
            }
        };
        ActorHandle {
            client,
            shared: Arc::new(Shared {
                name,
                query,
                query_input,
                query_writable,
                params,
                actor_id: Mutex::new(actor_id),
            }),
            _actor: PhantomData,
        }
    }

    pub(crate) fn retype<B>(self) -> ActorHandle<B> {
        ActorHandle {
            client: self.client,
            shared: self.shared,
            _actor: PhantomData,
        }
    }

    /// The actor's registered name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn params(&self) -> Option<&Value> {
        self.shared.params.as_ref()
    }

    /// The actor's id, looked up (and the actor created, for `get_or_create`) if not yet known.
    /// For `get_for_id` handles this also checks that the actor exists.
    pub async fn resolve(&self) -> Result<String> {
        if let Query::GetForId { .. } = self.shared.query {
            return self.lookup().await;
        }
        self.actor_id().await
    }

    pub(crate) async fn actor_id(&self) -> Result<String> {
        if let Some(id) = self.shared.actor_id.lock().clone() {
            return Ok(id);
        }
        self.lookup().await
    }

    async fn lookup(&self) -> Result<String> {
        let id = self
            .client
            .query_actor_id(&self.shared.name, &self.shared.query)
            .await?;
        *self.shared.actor_id.lock() = Some(id.clone());
        Ok(id)
    }

    /// The handle's query as gateway URL parameters, if it has one the URL form can carry.
    fn gateway_query(&self) -> Option<GatewayQuery<'_>> {
        if !self.shared.query_writable {
            return None;
        }
        let name = self.shared.name.as_str();
        match &self.shared.query {
            Query::GetForId { .. } => None,
            Query::Get { key } => Some(GatewayQuery {
                name,
                key,
                create: None,
            }),
            Query::GetOrCreate { key, region, .. } => Some(GatewayQuery {
                name,
                key,
                create: Some(GatewayCreate {
                    runner: &self.client.inner.runner_name,
                    input: self.shared.query_input.as_deref(),
                    region: region.as_deref(),
                }),
            }),
        }
    }

    /// Where the next request goes: by query when the server routes queries and the handle's
    /// query fits in a URL, else by id (resolved first if not yet known).
    pub(crate) async fn route(&self) -> Result<Route> {
        if self.gateway_query().is_some() && self.client.uses_query_addressing().await? {
            return Ok(Route::Query);
        }
        Ok(Route::Id(self.actor_id().await?))
    }

    /// The http(s) URL of `path` (`/action/x`, `/connect`, ...) of the actor on `route`.
    pub(crate) fn url(&self, target: &Target, route: &Route, path: &str) -> Result<String> {
        match route {
            Route::Id(id) => Ok(target.gateway_url(id, path)),
            Route::Query => match self.gateway_query() {
                Some(query) => Ok(target.query_gateway_url(&query, path)),
                None => Err(Error::Config(format!(
                    "actor {} cannot be addressed by query",
                    self.shared.name
                ))),
            },
        }
    }

    /// The ws(s) URL of `path` on the current route.
    pub(crate) async fn ws_url(&self, path: &str) -> Result<String> {
        let route = self.route().await?;
        let target = self.client.target().await?;
        Ok(ws_url(self.url(target, &route, path)?))
    }

    /// Runs `op` on the handle's route. By id: once more with a fresh id if the known one went
    /// stale. By query: again after a pause while the gateway reports the actor in transition.
    async fn with_route<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(Route) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        match self.route().await? {
            Route::Query => {
                let creates = matches!(self.shared.query, Query::GetOrCreate { .. });
                let attempts = if creates { 60 } else { 24 };
                let mut attempt = 1;
                let mut scheduling_failures = 0;
                loop {
                    match op(Route::Query).await {
                        Err(error)
                            if attempt < attempts
                                && is_transient_for_query(&error, creates)
                                && scheduling_failures < MAX_SCHEDULING_RETRIES =>
                        {
                            if is_scheduling_error(&error) {
                                scheduling_failures += 1;
                            }
                            tracing::debug!(actor = %self.shared.name, %error, attempt, "actor in transition, retrying");
                            tokio::time::sleep(QUERY_RETRY_DELAY).await;
                            attempt += 1;
                        }
                        other => return other,
                    }
                }
            }
            Route::Id(id) => match op(Route::Id(id)).await {
                Err(error) if is_stale_id(&error) && !self.is_by_id() => {
                    tracing::debug!(actor = %self.shared.name, %error, "actor id went stale, resolving again");
                    op(Route::Id(self.lookup().await?)).await
                }
                other => other,
            },
        }
    }

    /// Drops a resolved id that turned out stale, so the next use looks it up again.
    pub(crate) fn forget_actor_id(&self) {
        if !self.is_by_id() {
            *self.shared.actor_id.lock() = None;
        }
    }

    fn is_by_id(&self) -> bool {
        matches!(self.shared.query, Query::GetForId { .. })
    }

    /// A stateless call of action `name` over HTTP. `args` is a tuple; the output is converted
    /// to `R` (use [`Value`] to keep it as sent).
    pub async fn action<R: DeserializeOwned>(&self, name: &str, args: impl ArgList) -> Result<R> {
        let body = HttpActionRequest {
            args: arg_list(&args)?,
        };
        let encoding = self.client.encoding();
        let path = format!("/action/{}", encode_uri_component(name));
        let bytes = body.encode(encoding, rivetkit_protocol::message::CLIENT_BARE_VERSION);
        let reply = self
            .with_route(|route| self.post(route, &path, bytes.clone()))
            .await?;
        Ok(value::to_typed(
            HttpActionResponse::decode(&reply, encoding)?.output,
        )?)
    }

    /// Sends `body` to the actor's queue `name` and returns once it is queued (a name the actor
    /// does not declare is dropped by the server). Queues need a 2.1.x-compatible server.
    pub async fn send(&self, name: &str, body: impl Serialize) -> Result<()> {
        self.send_queue(name, body, false, None).await.map(drop)
    }

    /// Sends `body` to queue `name` and waits until the actor completes the message (at most
    /// `timeout`, forever when `None`): the completion's response, or [`QueueReply::TimedOut`].
    pub async fn send_and_wait<R: DeserializeOwned>(
        &self,
        name: &str,
        body: impl Serialize,
        timeout: Option<std::time::Duration>,
    ) -> Result<QueueReply<R>> {
        let reply = self.send_queue(name, body, true, timeout).await?;
        Ok(match reply.status.as_str() {
            "timedOut" => QueueReply::TimedOut,
            _ => QueueReply::Completed(reply.response.map(value::to_typed).transpose()?),
        })
    }

    async fn send_queue(
        &self,
        name: &str,
        body: impl Serialize,
        wait: bool,
        timeout: Option<std::time::Duration>,
    ) -> Result<HttpQueueSendResponse> {
        let request = HttpQueueSendRequest {
            body: value::from_typed(&body)?,
            name: Some(name.to_owned()),
            wait: Some(wait),
            timeout_ms: timeout
                .map(|timeout| u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
        };
        let encoding = self.client.encoding();
        let path = format!("/queue/{}", encode_uri_component(name));
        let bytes = request.encode(encoding);
        let reply = self
            .with_route(|route| self.post(route, &path, bytes.clone()))
            .await?;
        Ok(HttpQueueSendResponse::decode(&reply, encoding)?)
    }

    /// POSTs an encoded protocol message to `path` of the actor; the body of a 2xx answer, or
    /// the decoded error.
    async fn post(&self, route: Route, path: &str, body: Vec<u8>) -> Result<bytes::Bytes> {
        let target = self.client.target().await?;
        let encoding = self.client.encoding();
        let mut request = self
            .client
            .inner
            .http
            .post(self.url(target, &route, path)?)
            .headers(self.client.actor_headers(target))
            .header("x-rivet-encoding", encoding.as_str())
            .header(CONTENT_TYPE, encoding.content_type())
            .body(body);
        if let Some(params) = self.params() {
            request = request.header("x-rivet-conn-params", params.to_string());
        }
        let response = request.send().await?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(http_error(
                status.as_u16(),
                &bytes,
                encoding,
                content_type.as_deref(),
            ));
        }
        Ok(bytes)
    }

    /// `GET /inspector{path}` of the actor (`/state`, `/connections`, `/rpcs`, `/queue`,
    /// `/summary`), authorized with the server's inspector token (`Authorization: Bearer`, the
    /// server's own token travelling as for every actor request); the JSON answer as sent. A
    /// refused token is `inspector/unauthorized` (401); rivetkit-rs answers 404
    /// `inspector/disabled` when it has no inspector token.
    pub async fn inspect(&self, path: &str, inspector_token: &str) -> Result<Value> {
        let path = format!("/inspector/{}", path.strip_prefix('/').unwrap_or(path));
        let bearer = HeaderValue::try_from(format!("Bearer {inspector_token}"))
            .map_err(|_| Error::Config("the inspector token is not a valid header value".into()))?;
        let body = self
            .with_route(|route| self.get_inspector(route, &path, &bearer))
            .await?;
        serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("inspector: {e}")))
    }

    /// GETs inspector `path` of the actor with `bearer`; the body of a 2xx answer, or the
    /// decoded error (the inspector API answers JSON only).
    async fn get_inspector(
        &self,
        route: Route,
        path: &str,
        bearer: &HeaderValue,
    ) -> Result<bytes::Bytes> {
        let target = self.client.target().await?;
        let response = self
            .client
            .inner
            .http
            .get(self.url(target, &route, path)?)
            .headers(self.client.actor_headers(target))
            .header(AUTHORIZATION, bearer.clone())
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(http_error(
                status.as_u16(),
                &bytes,
                rivetkit_protocol::Encoding::Json,
                None,
            ));
        }
        Ok(bytes)
    }

    /// Opens a connection (WebSocket) to the actor: actions plus events, reconnecting on its own.
    pub fn connect(&self) -> Connection<A> {
        Connection::open(self.clone().retype())
    }

    /// A raw HTTP request to the actor's `on_request` handler, at `/request/{path}`: a GET
    /// unless changed on the returned builder. The response is returned as the actor sent it.
    pub fn fetch(&self, path: &str) -> RawRequest {
        RawRequest {
            handle: self.clone().retype(),
            path: path.strip_prefix('/').unwrap_or(path).to_owned(),
            method: Method::GET,
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// A raw WebSocket to the actor's `on_websocket` handler, at `/websocket/{path}`.
    pub async fn websocket(&self, path: &str) -> Result<RawWebSocket> {
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, format!("?{query}")),
            None => (path, String::new()),
        };
        let path = format!(
            "/websocket/{}{query}",
            path.strip_prefix('/').unwrap_or(path)
        );
        let url = self.ws_url(&path).await?;
        // Raw sockets always announce `bare`: the frames are the actor's own (§5.5).
        transport::open_websocket(&url, rivetkit_protocol::Encoding::Bare, self.params()).await
    }
}

impl<A: ActorInterface> ActorHandle<A> {
    /// A stateless call of a typed action; the interface's generated methods call this.
    pub async fn call<Act: Action<Actor = A>>(
        &self,
        _action: Act,
        args: Act::Args,
    ) -> Result<Act::Output> {
        self.action(Act::NAME, args).await
    }
}

impl<A: ActorInterface> Caller for ActorHandle<A> {
    type Actor = A;
    type Error = Error;

    fn call<Act: Action<Actor = A>>(
        &self,
        action: Act,
        args: Act::Args,
    ) -> impl std::future::Future<Output = Result<Act::Output>> + Send {
        ActorHandle::call(self, action, args)
    }
}

/// A raw HTTP request being built; see [`ActorHandle::fetch`].
pub struct RawRequest {
    handle: ActorHandle,
    path: String,
    method: Method,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RawRequest {
    /// Sets the method (default `GET`).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Adds a header. Invalid names or values are dropped with a warning.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => tracing::warn!(name, "invalid header dropped from raw request"),
        }
        self
    }

    /// Sets the body (sent as it is; not for `GET` or `HEAD`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request; any status is a successful send.
    pub async fn send(self) -> Result<reqwest::Response> {
        let handle = &self.handle;
        let route = handle.route().await?;
        let target = handle.client.target().await?;
        let url = handle.url(target, &route, &format!("/request/{}", self.path))?;
        let mut headers = self.headers;
        if let Some(params) = handle.params().filter(|p| transport::truthy(p)) {
            if let Ok(value) = HeaderValue::try_from(params.to_string()) {
                headers.insert("x-rivet-conn-params", value);
            }
        }
        headers.extend(handle.client.actor_headers(target));
        let mut request = handle
            .client
            .inner
            .http
            .request(self.method.clone(), url)
            .headers(headers);
        if !self.body.is_empty() && self.method != Method::GET && self.method != Method::HEAD {
            request = request.body(self.body);
        }
        Ok(request.send().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientConfig, GatewayAddressing};
    use crate::options::GetOrCreateOptions;
    use crate::Key;
    use serde_json::json;

    fn client() -> Client {
        Client::new(ClientConfig {
            disable_metadata_lookup: true,
            ..ClientConfig::new("http://127.0.0.1:4000").gateway(GatewayAddressing::Query)
        })
        .unwrap()
    }

    #[tokio::test]
    async fn create_input_travels_as_cbor_base64url_like_the_2_3_client() {
        let handle = client().actor("counter").get_or_create_with(
            ["k"],
            GetOrCreateOptions::default().create_with_input(json!({"x": 1, "s": "hi"})),
        );
        assert!(matches!(handle.route().await.unwrap(), Route::Query));
        let target = handle.client.target().await.unwrap();
        // cbor-x writes the map header as `b9 0002`; the 2.3.19 client sent exactly this.
        assert_eq!(
            handle.url(target, &Route::Query, "/connect").unwrap(),
            "http://127.0.0.1:4000/gateway/counter/connect?rvt-namespace=default\
             &rvt-method=getOrCreate&rvt-runner=default&rvt-key=k&rvt-input=uQACYXgBYXNiaGk\
             &rvt-crash-policy=sleep"
        );
    }

    #[test]
    fn queries_a_url_cannot_carry_fall_back_to_ids() {
        let actors = client().actor("counter");
        let writable = |handle: &ActorHandle| handle.gateway_query().is_some();
        assert!(writable(&actors.get(["a", ""])));
        assert!(writable(&actors.get(Key::empty())));
        assert!(!writable(&actors.get(["a,b"])));
        assert!(!writable(&actors.get([""])));
        assert!(!writable(&actors.get_for_id("id")));
        let big = "x".repeat(MAX_QUERY_INPUT);
        assert!(!writable(&actors.get_or_create_with(
            ["k"],
            GetOrCreateOptions::default().create_with_input(big)
        )));
        assert!(writable(&actors.get_or_create_with(
            ["k"],
            GetOrCreateOptions::default().create_with_input("small")
        )));
    }

    #[test]
    fn transient_gateway_errors() {
        let error = |group: &str, code: &str| Error::from(crate::ActorError::new(group, code, ""));
        assert!(is_transient_for_query(&error("actor", "starting"), false));
        assert!(is_transient_for_query(
            &error("actor", "destroyed_during_creation"),
            false
        ));
        assert!(is_transient_for_query(
            &error("guard", "actor_ready_timeout"),
            false
        ));
        assert!(is_transient_for_query(&error("actor", "not_found"), true));
        assert!(!is_transient_for_query(&error("actor", "not_found"), false));
        assert!(!is_transient_for_query(&error("user", "starting"), true));
        assert!(!is_transient_for_query(
            &error("actor", "internal_error"),
            true
        ));
    }

    /// A one-route-table HTTP server: answers each request with the first `(prefix, status,
    /// body)` whose prefix starts the request line (in order; a used entry marked `once` is
    /// dropped), records every request line.
    struct Recorder {
        endpoint: String,
        seen: Arc<Mutex<Vec<String>>>,
    }

    async fn recorder(routes: Vec<(&'static str, bool, u16, &'static str)>) -> Recorder {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(Mutex::new(routes));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (log, routes) = (log.clone(), routes.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n");
                        if let Some(end) = head_end {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    let (name, value) = l.split_once(':')?;
                                    name.eq_ignore_ascii_case("content-length")
                                        .then(|| value.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                let line = head.lines().next().unwrap_or("").to_owned();
                                let answer = {
                                    let mut routes = routes.lock();
                                    let found = routes
                                        .iter()
                                        .position(|(prefix, _, _, _)| line.starts_with(prefix));
                                    match found {
                                        Some(i) => {
                                            let (_, once, status, body) = routes[i];
                                            if once {
                                                routes.remove(i);
                                            }
                                            (status, body)
                                        }
                                        None => (404, "{}"),
                                    }
                                };
                                log.lock().push(line);
                                let response = format!(
                                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\n\
                                     content-length: {}\r\nconnection: close\r\n\r\n{}",
                                    answer.0,
                                    answer.1.len(),
                                    answer.1
                                );
                                let _ = socket.write_all(response.as_bytes()).await;
                                return;
                            }
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        Recorder { endpoint, seen }
    }

    fn json_client(endpoint: &str) -> Client {
        Client::new(ClientConfig::new(endpoint).encoding(rivetkit_protocol::Encoding::Json))
            .unwrap()
    }

    #[tokio::test]
    async fn a_2_3_server_is_called_by_query_without_the_manager_api() {
        let server = recorder(vec![
            (
                "GET /metadata",
                false,
                200,
                r#"{"runtime":"engine","version":"2.3.19"}"#,
            ),
            (
                "POST /gateway/counter/action/increment?",
                true,
                503,
                r#"{"group":"actor","code":"starting","message":"wait"}"#,
            ),
            (
                "POST /gateway/counter/action/increment?",
                false,
                200,
                r#"{"output":7}"#,
            ),
        ])
        .await;
        let client = json_client(&server.endpoint);
        let counter = client.actor("counter").get_or_create(["k"]);
        let output: i64 = counter.action("increment", (1,)).await.unwrap();
        assert_eq!(output, 7);
        let query = "rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=k\
                     &rvt-crash-policy=sleep";
        let call = format!("POST /gateway/counter/action/increment?{query} HTTP/1.1");
        // The refusal while the actor starts is retried.
        assert_eq!(
            *server.seen.lock(),
            vec![
                "GET /metadata?namespace=default HTTP/1.1".to_owned(),
                call.clone(),
                call
            ]
        );
    }

    #[tokio::test]
    async fn a_scheduling_failure_is_tried_once_more_only() {
        let server = recorder(vec![
            (
                "GET /metadata",
                false,
                200,
                r#"{"runtime":"engine","version":"2.3.19"}"#,
            ),
            (
                "POST /gateway/counter/",
                false,
                503,
                r#"{"group":"guard","code":"actor_ready_timeout","message":"no envoy"}"#,
            ),
        ])
        .await;
        let client = json_client(&server.endpoint);
        let error = client
            .actor("counter")
            .get_or_create(["k"])
            .action::<i64>("getCount", ())
            .await
            .unwrap_err();
        assert_eq!(
            error.as_actor().map(|e| e.code.as_str()),
            Some("actor_ready_timeout")
        );
        // metadata, the request, one retry
        assert_eq!(server.seen.lock().len(), 3, "{:?}", server.seen.lock());
    }

    #[tokio::test]
    async fn an_older_server_is_called_by_id_after_the_manager_api() {
        let server = recorder(vec![
            (
                "GET /metadata",
                false,
                200,
                r#"{"runtime":"rivetkit","version":"2.1.5"}"#,
            ),
            (
                "PUT /actors",
                false,
                200,
                r#"{"actor":{"actor_id":"a1","name":"counter"}}"#,
            ),
            (
                "POST /gateway/a1/action/increment",
                false,
                200,
                r#"{"output":3}"#,
            ),
        ])
        .await;
        let client = json_client(&server.endpoint);
        assert!(!client.uses_query_addressing().await.unwrap());
        let counter = client.actor("counter").get_or_create(["k"]);
        let output: i64 = counter.action("increment", (1,)).await.unwrap();
        assert_eq!(output, 3);
        assert_eq!(
            *server.seen.lock(),
            vec![
                "GET /metadata?namespace=default HTTP/1.1",
                "PUT /actors?namespace=default HTTP/1.1",
                "POST /gateway/a1/action/increment HTTP/1.1",
            ]
        );
    }

    #[tokio::test]
    async fn a_get_by_query_fails_at_once_when_the_actor_is_missing() {
        let server = recorder(vec![
            (
                "GET /metadata",
                false,
                200,
                r#"{"runtime":"engine","version":"2.3.0"}"#,
            ),
            (
                "POST /gateway/counter/",
                false,
                404,
                r#"{"group":"actor","code":"not_found","message":"none"}"#,
            ),
        ])
        .await;
        let client = json_client(&server.endpoint);
        let error = client
            .actor("counter")
            .get(["k"])
            .action::<i64>("getCount", ())
            .await
            .unwrap_err();
        assert_eq!(error.as_actor().map(|e| e.code.as_str()), Some("not_found"));
        assert_eq!(server.seen.lock().len(), 2, "{:?}", server.seen.lock());
    }

    /// The manager listings (here with the recording server, for the engine's pagination)
    /// follow `pagination.cursor` until the server gives none.
    #[tokio::test]
    async fn listings_follow_the_engines_cursors() {
        let server = recorder(vec![
            (
                "GET /metadata",
                false,
                200,
                r#"{"runtime":"engine","version":"2.3.19"}"#,
            ),
            (
                "GET /actors/names?namespace=",
                false,
                200,
                r#"{"names":{"counter":{"metadata":{}}},"pagination":{"cursor":"n1"}}"#,
            ),
            (
                "GET /actors/names?cursor=n1&",
                false,
                200,
                r#"{"names":{"chatRoom":{"metadata":{}}},"pagination":{"cursor":null}}"#,
            ),
            (
                "GET /actors?name=counter&namespace=",
                false,
                200,
                r#"{"actors":[{"actor_id":"a1","name":"counter","key":"x/y","create_ts":5}],
                   "pagination":{"cursor":"c1"}}"#,
            ),
            (
                "GET /actors?name=counter&cursor=c1&",
                false,
                200,
                r#"{"actors":[{"actor_id":"a2","name":"counter","key":null,"create_ts":null}]}"#,
            ),
        ])
        .await;
        let client = json_client(&server.endpoint);
        assert_eq!(client.actor_names().await.unwrap(), ["chatRoom", "counter"]);
        let actors = client.list_actors("counter").await.unwrap();
        assert_eq!(
            actors,
            vec![
                crate::ActorInfo {
                    actor_id: "a1".into(),
                    name: "counter".into(),
                    key: vec!["x".into(), "y".into()],
                    create_ts: Some(5),
                },
                crate::ActorInfo {
                    actor_id: "a2".into(),
                    name: "counter".into(),
                    key: vec![],
                    create_ts: None,
                },
            ]
        );
        assert_eq!(server.seen.lock().len(), 5, "{:?}", server.seen.lock());
    }
}
