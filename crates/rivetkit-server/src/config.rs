//! Server settings.

use std::path::PathBuf;

/// How a server listens and what it enforces.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Where the embedded store keeps its database.
    pub data_dir: PathBuf,
    /// When set, every manager, gateway and WebSocket request must carry this token.
    pub token: Option<String>,
    /// When set, the inspector API (`/gateway/{id}/inspector/...`) is enabled for requests
    /// carrying `Authorization: Bearer {token}`.
    pub inspector_token: Option<String>,
    /// Send internal errors to clients as they are instead of masked
    /// (`RIVET_EXPOSE_ERRORS=1` or `NODE_ENV=development`, as the official server reads them).
    pub expose_errors: bool,
    /// Largest action request body or WebSocket message a client may send.
    pub max_incoming_message_size: usize,
    /// Largest action response or WebSocket message the server sends.
    pub max_outgoing_message_size: usize,
    /// Largest raw HTTP request body handed to `on_request`.
    pub max_raw_request_body: usize,
    /// PEM certificate chain (leaf first). With [`tls_key`](Self::tls_key), [`serve`] speaks
    /// HTTPS and WSS (ALPN `h2` and `http/1.1`) instead of plain HTTP; set both or neither.
    ///
    /// [`serve`]: crate::serve
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of [`tls_cert`](Self::tls_cert).
    pub tls_key: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 6420,
            data_dir: PathBuf::from("rivetkit-data"),
            token: None,
            inspector_token: None,
            expose_errors: expose_errors_from_env(),
            max_incoming_message_size: 64 * 1024,
            max_outgoing_message_size: 1024 * 1024,
            max_raw_request_body: 16 * 1024 * 1024,
            tls_cert: None,
            tls_key: None,
        }
    }
}

fn expose_errors_from_env() -> bool {
    std::env::var("RIVET_EXPOSE_ERRORS").is_ok_and(|value| value == "1")
        || std::env::var("NODE_ENV").is_ok_and(|value| value == "development")
}
