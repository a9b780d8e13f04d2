//! Request bodies: one deadline for a whole body, and reading one with a size limit.
//!
//! hyper's header timeout ([`ServerConfig::header_read_timeout`]) ends once the headers are in;
//! after that a client could trickle a body a byte at a time and hold its connection, and a
//! place under [`ServerConfig::max_connections`], forever. tower-http's `TimeoutBody` restarts its
//! timer on every frame, which such a trickle defeats, so the deadline here is one for the whole
//! body, counted from when the request reached the router.
//!
//! [`ServerConfig::header_read_timeout`]: crate::ServerConfig::header_read_timeout
//! [`ServerConfig::max_connections`]: crate::ServerConfig::max_connections

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use http_body::{Frame, SizeHint};
use rivetkit_runtime::ActorError;
use tokio::time::{Instant, Sleep};

/// Wraps every request's body so that reading it fails once `timeout` has passed since now.
pub(crate) fn with_deadline(timeout: Duration, request: Request) -> Request {
    let deadline = Instant::now() + timeout;
    request.map(|body| Body::new(DeadlineBody::new(body, deadline, timeout)))
}

/// Reading a body failed.
pub(crate) enum BodyError {
    /// It is longer than the limit the caller gave.
    TooLarge,
    /// It did not arrive before its deadline: `request/body_timeout`, 408.
    TimedOut(ActorError),
}

/// Reads `body` whole, refusing one over `limit` bytes or one still arriving at its deadline.
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(cause) = source {
            if let Some(late) = cause.downcast_ref::<BodyTimedOut>() {
                return BodyError::TimedOut(late.to_error());
            }
            source = cause.source();
        }
        BodyError::TooLarge
    })
}

#[derive(Debug)]
struct BodyTimedOut(Duration);

impl BodyTimedOut {
    fn to_error(&self) -> ActorError {
        ActorError::public(
            "request",
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                self.0.as_secs_f64()
            ),
        )
        .with_status(408)
    }
}

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request body not received within {:?}", self.0)
    }
}

impl std::error::Error for BodyTimedOut {}

struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    timeout: Duration,
    /// Armed only when the body first has to wait: a body that came with its headers (most
    /// action calls) never registers a timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Body, deadline: Instant, timeout: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline,
            timeout,
            timer: None,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(this.timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn request_with(body: Body) -> Request {
        Request::builder().body(body).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_arriving_at_its_deadline_is_refused() {
        let (sender, chunks) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
        sender
            .unbounded_send(Ok(Bytes::from_static(b"{\"ar")))
            .unwrap();
        let request = with_deadline(
            Duration::from_secs(5),
            request_with(Body::from_stream(chunks)),
        );
        let trickle = tokio::spawn(async move {
            // One byte a second: every frame comes well within tower-http's per-frame timeout.
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if sender.unbounded_send(Ok(Bytes::from_static(b" "))).is_err() {
                    break;
                }
            }
        });
        let Err(BodyError::TimedOut(error)) = read(request.into_body(), 1024).await else {
            panic!("a trickled body must time out");
        };
        assert_eq!(
            (error.status(), error.to_body(false).code.as_str()),
            (408, "body_timeout")
        );
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_within_its_deadline_and_limit_is_read_whole() {
        let chunks = futures::stream::iter([b"{\"args\"".as_slice(), b":[1]}".as_slice()]).then(
            |chunk| async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, std::io::Error>(Bytes::from_static(chunk))
            },
        );
        let request = with_deadline(
            Duration::from_secs(5),
            request_with(Body::from_stream(chunks)),
        );
        let body = read(request.into_body(), 1024).await.ok().unwrap();
        assert_eq!(&body[..], b"{\"args\":[1]}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large() {
        let request = with_deadline(
            Duration::from_secs(5),
            request_with(Body::from(vec![0u8; 2048])),
        );
        assert!(matches!(
            read(request.into_body(), 1024).await,
            Err(BodyError::TooLarge)
        ));
    }
}
