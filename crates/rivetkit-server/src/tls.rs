//! HTTPS and WSS on one listener.
//!
//! rustls (with the `ring` provider) terminates TLS and offers ALPN `h2` then `http/1.1`; each
//! connection is then served by hyper's automatic HTTP/1.1-or-HTTP/2 connection with the
//! extended CONNECT protocol (RFC 8441) enabled, so a WebSocket opens either as an HTTP/1.1
//! upgrade or as a stream of an HTTP/2 connection, whichever the client picks.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

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

/// Accepts connections on `listener` until the process ends: TLS handshake, then HTTP/1.1 or
/// HTTP/2 (as ALPN chose) with upgrades, each connection on its own task.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Advertises SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSockets over HTTP/2 streams.
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        tokio::spawn(serve_connection(
            tcp,
            peer,
            acceptor.clone(),
            app.clone(),
            builder.clone(),
        ));
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
) {
    // As on the plain listener: small frames must not wait for Nagle's algorithm.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::warn!(%error, "could not set TCP_NODELAY");
    }
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = TowerToHyperService::new(app);
    if let Err(error) = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%peer, %error, "connection ended with an error");
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
