//! `ServerConfig::from_env`. Its own test binary, with one test: it sets process environment
//! variables, which tests running in parallel threads of one process would see.

use std::path::PathBuf;
use std::time::Duration;

use rivetkit_server::ServerConfig;

#[test]
fn from_env_reads_the_variables_of_the_flags() {
    std::env::set_var("RIVETKIT_PORT", "7001");
    std::env::set_var("RIVETKIT_DATA_DIR", "/tmp/rivetkit-from-env");
    std::env::set_var("RIVETKIT_ALLOWED_HOSTS", "a.example,b.example");
    std::env::set_var("RIVETKIT_SHUTDOWN_TIMEOUT", "3");
    std::env::set_var("RIVETKIT_TOKEN", "s3cret");
    let config = ServerConfig::from_env().unwrap();
    assert_eq!(config.port, 7001);
    assert_eq!(config.host, "127.0.0.1", "unset variables keep the default");
    assert_eq!(config.data_dir, PathBuf::from("/tmp/rivetkit-from-env"));
    assert_eq!(config.allowed_hosts, ["a.example", "b.example"]);
    assert_eq!(config.shutdown_timeout, Duration::from_secs(3));
    assert_eq!(config.token.as_deref(), Some("s3cret"));

    // Set but empty: passed on as empty, which the server refuses to start with.
    std::env::set_var("RIVETKIT_TOKEN", "");
    let config = ServerConfig::from_env().unwrap();
    assert_eq!(config.token.as_deref(), Some(""));
    assert!(config.validate().is_err());

    std::env::set_var("RIVETKIT_PORT", "not-a-port");
    let error = ServerConfig::from_env().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("not-a-port"), "{error}");
}
