//! What every request goes through before its route, as one middleware: metrics and the request
//! span (outermost, so refused requests are counted too), the `Host` check, CORS, the body
//! deadline, and header routing to an actor (innermost); and after it, the body of an error
//! response ([`reply::render`]).
//!
//! One middleware rather than one axum layer per step because each `from_fn`/`map_request`
//! layer clones a boxed service and boxes a future on every request: five layers cost about a
//! sixth of an HTTP action's instructions (callgrind, BENCHMARKS.md "Hot path"). The steps stay
//! in their own modules; here they are only put in order, each calling the next directly.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::{body, cors, gateway, host, metrics, reply};

/// What the steps need, built once per router.
pub(crate) struct FrontDoor {
    pub(crate) gateway: gateway::Gateway,
    pub(crate) hosts: host::HostCheck,
    pub(crate) origins: cors::Origins,
    pub(crate) body_timeout: Duration,
    /// Whether error responses show internal errors as they are.
    pub(crate) expose_errors: bool,
}

/// The middleware: the steps in order, then the routes (`next`).
pub(crate) async fn front_door(
    State(front): State<Arc<FrontDoor>>,
    request: Request,
    next: Next,
) -> Response {
    metrics::record_request(request, async |request| {
        let response = match host::refusal(&front.hosts, &request) {
            // A refused host learns nothing else, not even CORS headers.
            Some(refusal) => refusal,
            None => {
                cors::cors(&front.origins, request, async |request| {
                    let request = body::with_deadline(front.body_timeout, request);
                    front.gateway.by_header(request, next).await
                })
                .await
            }
        };
        reply::render(response, front.expose_errors)
    })
    .await
}
