//! What every request goes through before its route, in order: metrics and the request span
//! (outermost, so refused requests are counted too), the `Host` check, CORS, the body deadline,
//! then the choice of the route — an actor's endpoints ([`gateway`]) or the server's own
//! routes; and after it, the body of an error response ([`reply::render`]).
//!
//! One service around the routes rather than axum layers: each `from_fn`/`map_request` layer
//! clones a boxed service and boxes a future on every request (five layers cost about a sixth
//! of an HTTP action's instructions, BENCHMARKS.md "Hot path"), and a layer of the router runs
//! only once the router has chosen a route, so a request to an actor would be routed twice:
//! once to `/gateway`, once more to the actor's endpoint. The steps stay in their own modules;
//! here they are only put in order, each calling the next directly.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;

use crate::{body, cors, gateway, host, metrics, reply};

/// The server as one service: cloned per request, as cheap as an `Arc`.
#[derive(Clone)]
pub(crate) struct FrontDoor(Arc<Steps>);

/// What the steps need, built once per server.
pub(crate) struct Steps {
    pub(crate) gateway: gateway::Gateway,
    /// The server's routes other than the actors' (manager API, inspector, UI, health).
    pub(crate) routes: Router,
    pub(crate) hosts: host::HostCheck,
    pub(crate) origins: cors::Origins,
    pub(crate) body_timeout: Duration,
    /// Whether error responses show internal errors as they are.
    pub(crate) expose_errors: bool,
}

impl FrontDoor {
    pub(crate) fn new(steps: Steps) -> Self {
        Self(Arc::new(steps))
    }

    /// Serves one request: the steps in order.
    pub(crate) async fn serve(self, request: Request) -> Response {
        let steps = &*self.0;
        metrics::record_request(request, async |request| {
            let response = match host::refusal(&steps.hosts, &request) {
                // A refused host learns nothing else, not even CORS headers.
                Some(refusal) => refusal,
                None => {
                    cors::cors(&steps.origins, request, async |request| {
                        let request = body::with_deadline(steps.body_timeout, request);
                        steps.gateway.route(request, &steps.routes).await
                    })
                    .await
                }
            };
            reply::render(response, steps.expose_errors)
        })
        .await
    }

    /// As a tower service of requests with any body: what the listener serves. A `service_fn`,
    /// whose future is the `async` block itself, so no future is boxed per request.
    pub(crate) fn service<B>(
        self,
    ) -> impl tower::Service<
        http::Request<B>,
        Response = Response,
        Error = Infallible,
        Future = impl Future<Output = Result<Response, Infallible>> + Send,
    > + Clone
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        tower::service_fn(move |request: http::Request<B>| {
            let door = self.clone();
            async move { Ok(door.serve(request.map(Body::new)).await) }
        })
    }

    /// As an axum `Router` answering every path: what [`crate::router`] hands out, to be served
    /// or nested in another app.
    pub(crate) fn into_router(self) -> Router {
        Router::new().fallback_service(self.service())
    }
}
