//! The `Host` check against DNS rebinding.
//!
//! A page on `evil.example` whose name is made to resolve to 127.0.0.1 can reach a server on
//! the loopback interface from the victim's browser as a same-origin request; the only trace
//! is the `Host` it carries, which names the attacker's domain. So a server bound to a loopback
//! address answers only requests whose host is a loopback name or address (`localhost`,
//! `127.x.x.x`, `[::1]`, any port) or one of [`ServerConfig::allowed_hosts`]; others get a
//! 403 `request/host_not_allowed`, WebSocket upgrades included. Bound to any other address,
//! the server is meant to be reached under names it cannot guess, and checks only when
//! `allowed_hosts` lists some. `/health` stays open for probes.

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rivetkit_runtime::ActorError;
use std::borrow::Cow;
use std::net::IpAddr;

use crate::reply::ApiError;
use crate::ServerConfig;

/// Which hosts a server answers; built once from its config.
pub struct HostCheck {
    /// Accept loopback names and addresses (the server is bound to a loopback address).
    loopback: bool,
    /// Lower-case names (or `name:port`) given by the operator.
    allowed: Vec<String>,
}

impl HostCheck {
    pub fn from_config(config: &ServerConfig) -> Self {
        Self {
            loopback: is_loopback_name(&config.host),
            allowed: config
                .allowed_hosts
                .iter()
                .map(|host| normalize(host).into_owned())
                .filter(|host| !host.is_empty())
                .collect(),
        }
    }

    /// Whether requests are checked at all.
    fn enabled(&self) -> bool {
        self.loopback || !self.allowed.is_empty()
    }

    /// Whether a request whose authority (`host[:port]`) is `authority` is answered.
    pub fn admits(&self, authority: Option<&str>) -> bool {
        if !self.enabled() {
            return true;
        }
        let Some(authority) = authority.map(normalize) else {
            return false;
        };
        let host = host_part(&authority);
        (self.loopback && is_loopback_name(host))
            || self
                .allowed
                .iter()
                .any(|allowed| allowed == host || *allowed == authority)
    }
}

/// The 403 `request/host_not_allowed` for a request whose host is not served, else `None`.
pub(crate) fn refusal(hosts: &HostCheck, request: &Request) -> Option<Response> {
    if request.uri().path() == "/health" {
        return None;
    }
    // HTTP/2 carries the host as the `:authority` pseudo-header, which lands in the URI.
    let authority = request
        .uri()
        .authority()
        .map(|authority| authority.as_str())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
        });
    if hosts.admits(authority) {
        return None;
    }
    let shown = authority.unwrap_or("(none)");
    Some(
        ApiError::from(
            ActorError::public(
                "request",
                "host_not_allowed",
                format!(
                    "Host {shown:?} is not served here; add it with --allowed-host \
                     (RIVETKIT_ALLOWED_HOSTS, ServerConfig::allowed_hosts) if it is yours"
                ),
            )
            .with_status(403),
        )
        .into_response(),
    )
}

/// Lower case, without surrounding space or a trailing dot (`localhost.` and `localhost` are the
/// same name). Borrowed when already so, as nearly every request's `Host` is: this runs on every
/// request of a loopback-bound server.
fn normalize(host: &str) -> Cow<'_, str> {
    let host = host.trim();
    let host = match host.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => host,
    };
    if host.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// `host` of `host[:port]`, `[v6]` of `[v6][:port]` (brackets kept).
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            host.strip_suffix('.').unwrap_or(host)
        }
        _ => authority,
    }
}

/// `localhost`, an address in 127.0.0.0/8, `::1` (bare or bracketed).
fn is_loopback_name(host: &str) -> bool {
    let host = host.trim().trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bind: &str, allowed: &[&str]) -> HostCheck {
        HostCheck::from_config(&ServerConfig {
            host: bind.into(),
            allowed_hosts: allowed.iter().map(|host| host.to_string()).collect(),
            ..ServerConfig::default()
        })
    }

    #[test]
    fn a_loopback_server_answers_loopback_hosts_only() {
        for bind in ["127.0.0.1", "localhost", "::1", "127.0.0.2"] {
            let hosts = check(bind, &[]);
            for good in [
                "127.0.0.1:6420",
                "127.0.0.1",
                "127.1.2.3:80",
                "localhost",
                "LocalHost:3000",
                "localhost.:3000",
                "[::1]:6420",
                "[::1]",
            ] {
                assert!(hosts.admits(Some(good)), "{bind}: {good}");
            }
            for bad in [
                "evil.example",
                "evil.example:6420",
                "localhost.evil.example",
                "127.0.0.1.evil.example",
                "10.0.0.1:6420",
                "[::2]:6420",
                "",
            ] {
                assert!(!hosts.admits(Some(bad)), "{bind}: {bad}");
            }
            assert!(!hosts.admits(None), "{bind}: no host");
        }
    }

    #[test]
    fn listed_hosts_are_added_with_any_port_or_the_one_given() {
        let hosts = check("127.0.0.1", &["Actors.Example.com", "other.example:8443"]);
        assert!(hosts.admits(Some("actors.example.com")));
        assert!(hosts.admits(Some("actors.example.com:6420")));
        assert!(hosts.admits(Some("other.example:8443")));
        assert!(!hosts.admits(Some("other.example:80")));
        assert!(hosts.admits(Some("localhost:1")));
        assert!(!hosts.admits(Some("evil.example")));
    }

    #[test]
    fn a_server_on_another_address_checks_only_listed_hosts() {
        for bind in ["0.0.0.0", "::", "192.168.1.10", "actors.example.com"] {
            assert!(check(bind, &[]).admits(Some("evil.example")), "{bind}");
            assert!(check(bind, &[]).admits(None), "{bind}");
            let listed = check(bind, &["actors.example.com"]);
            assert!(listed.admits(Some("actors.example.com:443")), "{bind}");
            assert!(!listed.admits(Some("evil.example")), "{bind}");
            // Loopback names are not implied once the operator lists the names.
            assert!(!listed.admits(Some("localhost")), "{bind}");
        }
    }
}
