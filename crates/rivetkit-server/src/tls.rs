//! The listener: plain HTTP, or HTTPS and WSS, on one accept loop with the connection timeouts,
//! and the graceful end of that loop's connections.
//!
//! rustls (with the `ring` provider) terminates TLS and offers ALPN `h2` then `http/1.1`; each
//! connection is then served by hyper's automatic HTTP/1.1-or-HTTP/2 connection with the
//! extended CONNECT protocol (RFC 8441) enabled, so a WebSocket opens either as an HTTP/1.1
//! upgrade or as a stream of an HTTP/2 connection, whichever the client picks.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rivetkit_protocol::{Encoding, SERVER_BARE_VERSION};
use rivetkit_runtime::ActorError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::front_door::FrontDoor;
use crate::shutdown::{Draining, Shutdown};
use crate::ServerConfig;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The acceptor for `config.tls_cert` + `config.tls_key`, `None` for plain HTTP.
///
/// Every error says which file is wrong and how, so a bad path or file stops the server at
/// start-up with a message an operator can act on.
pub(crate) fn acceptor_for(config: &ServerConfig) -> io::Result<Option<TlsAcceptor>> {
    match (&config.tls_cert, &config.tls_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => acceptor(cert, key).map(Some),
        (Some(_), None) => Err(invalid(
            "a TLS certificate was given without its key (tls_key)",
        )),
        (None, Some(_)) => Err(invalid(
            "a TLS key was given without its certificate (tls_cert)",
        )),
    }
}

fn acceptor(cert_path: &Path, key_path: &Path) -> io::Result<TlsAcceptor> {
    let certs = read_certs(cert_path)?;
    let key = read_key(key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(format!("TLS set-up failed: {error}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| {
            invalid(format!(
                "TLS certificate {} and key {} cannot be used together: {error}",
                cert_path.display(),
                key_path.display()
            ))
        })?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(tls)))
}

fn read_file(what: &str, path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot read TLS {what} {}: {error}", path.display()),
        )
    })
}

fn read_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = read_file("certificate", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            invalid(format!(
                "TLS certificate {} is not valid PEM: {error}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "TLS certificate {} holds no PEM CERTIFICATE block",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let pem = read_file("key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => invalid(format!(
            "TLS key {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            path.display()
        )),
        error => invalid(format!(
            "TLS key {} is not a valid PEM private key: {error}",
            path.display()
        )),
    })
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}

/// The first bytes of an HTTP/2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How the accept loop serves each connection: hyper's HTTP/1.1-or-HTTP/2 connection with
/// upgrades, the extended CONNECT protocol, and the timeouts of `config`.
pub(crate) struct Listener {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    /// `tls` offering only ALPN `http/1.1`, for connections refused with a written 503.
    refusal_tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    max_connections: usize,
    /// Connections being served now.
    open: Arc<Places>,
    /// Connections being refused now (at most [`MAX_REFUSING`]).
    refusing: Arc<Places>,
}

impl Listener {
    pub(crate) fn new(config: &ServerConfig, tls: Option<TlsAcceptor>) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // hyper starts this timer whenever it waits for a request head: from the connection's
        // start, and again after each response of a kept-alive connection. So it closes both a
        // connection whose headers never finish and an idle keep-alive connection.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            // Advertises SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSockets over HTTP/2 streams.
            .enable_connect_protocol()
            .keep_alive_interval(config.http2_keep_alive_interval)
            .keep_alive_timeout(config.http2_keep_alive_timeout);
        let refusal_tls = tls.as_ref().map(|acceptor| {
            let mut refusal = acceptor.config().as_ref().clone();
            refusal.alpn_protocols = vec![b"http/1.1".to_vec()];
            TlsAcceptor::from(Arc::new(refusal))
        });
        Self {
            builder,
            tls,
            refusal_tls,
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
            open: Arc::default(),
            refusing: Arc::default(),
        }
    }
}

/// Accepts connections on `listener` until `shutdown` resolves: TLS handshake when `tls` is
/// set, then HTTP/1.1 or HTTP/2 (from ALPN, or from the first bytes on plain TCP) with upgrades,
/// each connection on its own task. Then stops accepting and returns what `shutdown` said, the
/// listener (still open: connections arriving from now on wait in its backlog until the caller
/// closes it) and the connections still open, for the caller to drain.
pub(crate) async fn serve(
    listener: TcpListener,
    server: Listener,
    app: FrontDoor,
    draining: Draining,
    shutdown: impl Future<Output = Shutdown>,
) -> Stopped {
    let server = Arc::new(server);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let how = loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            how = &mut shutdown => break how,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        // Counted from here until the connection's task ends.
        let Some(slot) = Slot::take(&server.open, server.max_connections) else {
            match Slot::take(&server.refusing, MAX_REFUSING) {
                Some(slot) => {
                    tokio::spawn(refuse(tcp, server.refusal_tls.clone(), slot));
                }
                // Beyond even that: closed at once, unanswered.
                None => drop(tcp),
            }
            continue;
        };
        let connection = Connection {
            peer,
            server: server.clone(),
            app: app.clone(),
            slot,
            // Taken here, before any shutdown can be signalled, so none is missed.
            watcher: graceful.watcher(),
            draining: draining.clone(),
        };
        tokio::spawn(serve_connection(tcp, connection));
    };
    Stopped {
        how,
        listener,
        connections: Connections {
            graceful,
            open: server.open.clone(),
        },
    }
}

/// A server that stopped accepting: why, its listener, and its connections.
pub(crate) struct Stopped {
    pub(crate) how: Shutdown,
    pub(crate) listener: TcpListener,
    pub(crate) connections: Connections,
}

/// The connections of a server that stopped accepting.
pub(crate) struct Connections {
    graceful: GracefulShutdown,
    open: Arc<Places>,
}

impl Connections {
    /// The count of open connections, readable while [`Connections::closed`] runs.
    pub(crate) fn places(&self) -> Arc<Places> {
        self.open.clone()
    }

    /// Asks every HTTP connection to end after its requests in flight (HTTP/1.1 closes once
    /// idle, HTTP/2 sends GOAWAY) and resolves once every connection is closed, upgraded
    /// WebSockets included: those end on the drain signal the caller sends.
    pub(crate) async fn closed(self) {
        self.graceful.shutdown().await;
        self.open.all_given_back().await;
    }
}

/// Connections being refused at once, each for at most [`REFUSAL_TIME`]; the file descriptors
/// they hold come from the reserve left by [`default_max_connections`].
const MAX_REFUSING: usize = 64;
/// How long a refused connection may take, from its TLS handshake to its close.
const REFUSAL_TIME: Duration = Duration::from_secs(3);
/// How long a refused connection's request head is waited for before the 503 goes anyway.
const REFUSAL_HEAD_TIME: Duration = Duration::from_millis(1500);
/// How much of a refused connection's request head is read, at most, before the 503 goes.
const REFUSAL_HEAD_BYTES: usize = 4096;

/// A count of places taken (connections served, or being refused).
#[derive(Default)]
pub(crate) struct Places {
    taken: AtomicUsize,
    given_back: Notify,
}

impl Places {
    pub(crate) fn count(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }

    /// Resolves once no place is taken.
    async fn all_given_back(&self) {
        loop {
            let given_back = self.given_back.notified();
            let mut given_back = std::pin::pin!(given_back);
            // Registered before the check, so a place given back in between is not missed.
            given_back.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            given_back.await;
        }
    }
}

/// One place among at most `max`, given back when dropped.
struct Slot(Arc<Places>);

impl Slot {
    fn take(places: &Arc<Places>, max: usize) -> Option<Self> {
        places
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| Self(places.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::AcqRel);
        self.0.given_back.notify_waiters();
    }
}

/// The 503 `request/overloaded` (JSON, as the manager API's errors) for a connection beyond
/// `max_connections`, with `Connection: close`.
fn overloaded_response() -> Vec<u8> {
    let error = ActorError::public(
        "request",
        "overloaded",
        "the server has too many open connections; retry later",
    )
    .with_status(503);
    let body = error
        .to_body(false)
        .encode_http(Encoding::Json, SERVER_BARE_VERSION);
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n",
        Encoding::Json.content_type(),
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// Answers a connection over the limit with [`overloaded_response`] (after a TLS handshake
/// offering only HTTP/1.1, on a TLS listener) once its request head is read, then closes it.
async fn refuse(tcp: TcpStream, tls: Option<TlsAcceptor>, _slot: Slot) {
    let _ = tcp.set_nodelay(true);
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        match tls {
            None => answer_overloaded(tcp).await,
            Some(acceptor) => {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    answer_overloaded(tls).await
                }
            }
        }
    })
    .await;
}

async fn answer_overloaded<I: AsyncRead + AsyncWrite + Unpin>(mut io: I) {
    // HTTP client libraries (hyper, so reqwest) drop a response that arrives before they sent
    // their request ("unexpected message"): the 503 waits for the request head, within bounds
    // so that a client sending nothing, or a huge head, still gets it and goes.
    let _ = tokio::time::timeout(REFUSAL_HEAD_TIME, read_head(&mut io)).await;
    if io.write_all(&overloaded_response()).await.is_err() || io.shutdown().await.is_err() {
        return;
    }
    // Reads what the client sent until it closes (bounded by the caller): closing with its
    // request unread would reset the connection, and the client could lose the 503.
    let mut sink = [0u8; 1024];
    while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Reads until the end of a request head (an empty line), at most [`REFUSAL_HEAD_BYTES`], or
/// until the client stops sending.
async fn read_head<I: AsyncRead + Unpin>(io: &mut I) {
    let mut head = Vec::with_capacity(REFUSAL_HEAD_BYTES);
    let mut chunk = [0u8; 1024];
    while head.len() < REFUSAL_HEAD_BYTES {
        let read = match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        // Searched from just before the new bytes: the empty line may straddle two reads.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..read]);
        if head[from..].windows(4).any(|end| end == b"\r\n\r\n") {
            return;
        }
    }
}

/// The default [`ServerConfig::max_connections`]: the process's open-file limit less a reserve
/// (a quarter of it, at least 256: store and actor database files, refusals, logs), at most
/// 10,000 and at least 32.
pub(crate) fn default_max_connections() -> usize {
    let limit = open_file_limit().unwrap_or(1024);
    let reserve = (limit / 4).max(256);
    limit.saturating_sub(reserve).clamp(32, 10_000)
}

#[allow(unsafe_code, reason = "getrlimit through libc")]
#[cfg(unix)]
fn open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    usize::try_from(limit.rlim_cur).ok()
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<usize> {
    None
}

/// An accepted connection, with what serving it takes.
struct Connection {
    peer: SocketAddr,
    server: Arc<Listener>,
    app: FrontDoor,
    /// Counts it in `max_connections` for as long as its socket is open, including after an
    /// HTTP/1.1 upgrade hands the socket to a WebSocket.
    slot: Slot,
    /// Ends its HTTP connection gracefully once the server shuts down.
    watcher: Watcher,
    /// Ends it at once if the server shuts down before its first request.
    draining: Draining,
}

/// Serves one connection.
async fn serve_connection(tcp: TcpStream, connection: Connection) {
    // Small frames (an event, then the action's response) must not wait for Nagle's algorithm
    // to collect more bytes: that costs a delayed-ACK round of ~40 ms.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::warn!(%error, "could not set TCP_NODELAY");
    }
    let peer = connection.peer;
    match &connection.server.tls {
        None => serve_http(tcp, connection).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let tls = tokio::select! {
                handshake = handshake => match handshake {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                _ = connection.draining.started() => return,
            };
            serve_http(tls, connection).await
        }
    }
}

async fn serve_http<I>(mut io: I, connection: Connection)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection {
        peer,
        server,
        app,
        slot,
        watcher,
        draining,
    } = connection;
    // hyper picks HTTP/1 or HTTP/2 from the first bytes and waits for them without a timer: a
    // client that sends nothing (or a part of the HTTP/2 preface) would hold the socket forever.
    let start = tokio::time::timeout(server.header_read_timeout, read_start(&mut io));
    let start = tokio::select! {
        start = start => match start {
            Ok(Ok(start)) => start,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "connection failed before its first request");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "no request started in time");
                return;
            }
        },
        // Shutting down: a connection that has asked nothing yet is closed unanswered.
        _ = draining.started() => return,
    };
    let io = Prefixed {
        prefix: start,
        at: 0,
        io,
        _slot: slot,
    };
    let service = TowerToHyperService::new(app.service());
    let serving = server
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(error) = watcher.watch(serving).await {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// Reads the connection's first bytes until they are the HTTP/2 preface or cannot be: what
/// hyper needs to choose the protocol. Empty at a clean end of stream.
async fn read_start<I: AsyncRead + Unpin>(io: &mut I) -> io::Result<Vec<u8>> {
    let mut start = vec![0; H2_PREFACE.len()];
    let mut filled = 0;
    while filled < H2_PREFACE.len() && start[..filled] == H2_PREFACE[..filled] {
        let read = io.read(&mut start[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    start.truncate(filled);
    Ok(start)
}

/// `io` with the bytes already read from it put back in front, holding the connection's place
/// among `max_connections` until it is dropped (by hyper, or by the upgraded WebSocket).
struct Prefixed<I> {
    prefix: Vec<u8>,
    at: usize,
    io: I,
    _slot: Slot,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.prefix.len() {
            let rest = &this.prefix[this.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A failed `accept`: a connection that died in the backlog is nothing; anything else (out of
/// file descriptors) is logged and waited out, as axum's own `serve` does.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(config: &ServerConfig) -> io::Error {
        match acceptor_for(config) {
            Ok(_) => panic!("accepted {:?} / {:?}", config.tls_cert, config.tls_key),
            Err(error) => error,
        }
    }

    fn config(cert: Option<&str>, key: Option<&str>) -> ServerConfig {
        ServerConfig {
            tls_cert: cert.map(Into::into),
            tls_key: key.map(Into::into),
            ..ServerConfig::default()
        }
    }

    #[test]
    fn plain_http_without_files_and_an_error_for_half_a_pair() {
        assert!(acceptor_for(&config(None, None)).unwrap().is_none());
        let error = error_of(&config(Some("cert.pem"), None));
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("without its key"), "{error}");
        let error = error_of(&config(None, Some("key.pem")));
        assert!(
            error.to_string().contains("without its certificate"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = std::env::temp_dir().join("rivetkit-tls-test-missing");
        let cert = dir.join("nope.pem");
        let error = error_of(&config(cert.to_str(), Some("key.pem")));
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot read TLS certificate {}", cert.display())),
            "{error}"
        );
    }
}
