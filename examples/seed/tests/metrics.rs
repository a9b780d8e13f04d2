//! The Prometheus endpoint of `seed-server` (issue 12): off by default, on its own listener,
//! and its numbers move by what the test did — requests, actions, actors, connections, events,
//! commits and errors — with no actor id or user-chosen name among the labels.

mod support;

use std::collections::BTreeMap;

use rivetkit_rs::protocol::{Encoding, ToClient, ToServer};
use serde_json::json;
use support::{free_port, Server};

/// One scrape: every sample, keyed by its name and labels as they appear
/// (`name{label="value",...}`; the exporter writes labels in a fixed order).
#[derive(Debug)]
struct Scrape {
    samples: BTreeMap<String, f64>,
    text: String,
}

impl Scrape {
    /// Parses the text exposition format: `# ...` lines are comments, every other line is
    /// `name{labels} value` or `name value`.
    fn parse(text: String) -> Self {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("a sample line is `series value`: {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                value => value
                    .parse()
                    .unwrap_or_else(|_| panic!("a sample value is a number: {line:?}")),
            };
            samples.insert(series.to_owned(), value);
        }
        Self { samples, text }
    }

    /// The sample of `name` with exactly `labels` (in any order); 0 when absent, as a counter
    /// that never moved is not exported.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut found = None;
        for (series, value) in &self.samples {
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
                None => (series.as_str(), ""),
            };
            if series_name != name {
                continue;
            }
            let mut have: Vec<String> = if series_labels.is_empty() {
                Vec::new()
            } else {
                series_labels
                    .split("\",")
                    .map(|l| l.trim_end_matches('"').to_owned())
                    .collect()
            };
            let mut want: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{value}"))
                .collect();
            have.sort();
            want.sort();
            if have == want {
                assert!(found.is_none(), "two series match {name} {labels:?}");
                found = Some(*value);
            }
        }
        found.unwrap_or(0.0)
    }
}

async fn scrape(metrics_port: u16) -> Scrape {
    let response = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    Scrape::parse(response.text().await.unwrap())
}

/// The TCP ports `pid` listens on, read from `/proc` (its socket inodes against the kernel's
/// table of listening sockets).
fn listening_ports(pid: u32) -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_owned());
            }
        }
    }
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; field 9 is the inode.
            if fields[3] == "0A" && inodes.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports.sort();
    ports
}

const ACTION_ROUTE: &str = "/gateway/{actor}/action/{name}";

#[tokio::test]
async fn the_scrape_moves_by_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let port_text = metrics_port.to_string();
    let mut server = Server::start_with_args(
        dir.path(),
        free_port(),
        None,
        &["--metrics-port", &port_text],
    )
    .await;
    assert_eq!(listening_ports(server.pid()), {
        let mut ports = vec![server.port, metrics_port];
        ports.sort();
        ports
    });

    // Not on the public listener.
    let public = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);

    let before = scrape(metrics_port).await;
    let actor_id = server.get_or_create("counter", "metrics").await;
    for _ in 0..3 {
        let (status, _) = server
            .action_raw(
                &actor_id,
                "increment",
                Encoding::Json,
                br#"{"args":[2]}"#.to_vec(),
            )
            .await;
        assert_eq!(status, 200);
    }
    // A name the actor does not define: counted as `unknown`, never under its own name.
    let (status, _) = server
        .action_raw(
            &actor_id,
            "secretUserChosenName",
            Encoding::Json,
            br#"{"args":[]}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400);

    let mut conn = server.connect(&actor_id, Encoding::Json).await;
    conn.send(ToServer::SubscriptionRequest {
        event_name: "count".into(),
        subscribe: true,
    })
    .await;
    conn.call(1, "increment", vec![json!(1)]).await;
    let mut answered = false;
    let mut events = 0;
    while !answered || events == 0 {
        match conn.recv().await {
            ToClient::ActionResponse { id: 1, .. } => answered = true,
            ToClient::Event { name, .. } if name == "count" => events += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let during = scrape(metrics_port).await;
    drop(conn);

    let moved =
        |name: &str, labels: &[(&str, &str)]| during.get(name, labels) - before.get(name, labels);

    // Requests, by route template.
    let action_requests = [
        ("route", ACTION_ROUTE),
        ("method", "POST"),
        ("status", "2xx"),
    ];
    assert_eq!(moved("rivetkit_http_requests_total", &action_requests), 3.0);
    let refused = [
        ("route", ACTION_ROUTE),
        ("method", "POST"),
        ("status", "4xx"),
    ];
    assert_eq!(moved("rivetkit_http_requests_total", &refused), 1.0);
    let create = [("route", "/actors"), ("method", "PUT"), ("status", "2xx")];
    assert_eq!(moved("rivetkit_http_requests_total", &create), 1.0);
    assert_eq!(
        moved(
            "rivetkit_http_request_duration_seconds_count",
            &[("route", ACTION_ROUTE)]
        ),
        4.0
    );

    // Actions, by name: three over HTTP and one over the WebSocket.
    let ok = [
        ("actor", "counter"),
        ("action", "increment"),
        ("outcome", "ok"),
    ];
    assert_eq!(moved("rivetkit_actions_total", &ok), 4.0);
    let unknown = [
        ("actor", "counter"),
        ("action", "unknown"),
        ("outcome", "error"),
    ];
    assert_eq!(moved("rivetkit_actions_total", &unknown), 1.0);
    let timed = [("actor", "counter"), ("action", "increment")];
    assert_eq!(moved("rivetkit_action_duration_seconds_count", &timed), 4.0);
    assert!(
        !during.text.contains("secretUserChosenName"),
        "a user-chosen name is a label"
    );
    assert!(!during.text.contains(&actor_id), "an actor id is a label");

    // Errors, by group and code.
    let not_found = [("group", "action"), ("code", "not_found")];
    assert_eq!(moved("rivetkit_errors_total", &not_found), 1.0);

    // The actor: created, awake.
    let created = [("actor", "counter"), ("event", "create")];
    assert_eq!(moved("rivetkit_actor_lifecycle_total", &created), 1.0);
    assert_eq!(during.get("rivetkit_actors", &[("state", "awake")]), 1.0);
    assert_eq!(during.get("rivetkit_actors", &[("state", "asleep")]), 0.0);

    // The open WebSocket and the event it was sent.
    assert_eq!(
        during.get("rivetkit_connections", &[("kind", "protocol")]),
        1.0
    );
    assert_eq!(moved("rivetkit_events_sent_total", &[]), 1.0);
    assert_eq!(during.get("rivetkit_queue_messages", &[]), 0.0);

    // Commits: the create and at least one save per action, every one synced, none failed.
    let batches = moved("rivetkit_storage_commit_seconds_count", &[]);
    let writes = moved("rivetkit_storage_commit_batch_size_sum", &[]);
    assert!(batches >= 1.0, "{batches}");
    assert!(
        writes >= 5.0 && writes >= batches,
        "{writes} writes in {batches} batches"
    );
    assert_eq!(
        moved("rivetkit_storage_commit_batch_size_count", &[]),
        batches
    );
    assert_eq!(
        moved("rivetkit_storage_commit_sync_seconds_count", &[]),
        batches
    );
    assert_eq!(
        during.get("rivetkit_storage_commit_failures_total", &[]),
        0.0
    );

    // The socket's close is counted once the server has seen it.
    let mut closed = scrape(metrics_port).await;
    for _ in 0..200 {
        if closed.get("rivetkit_connections", &[("kind", "protocol")]) == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        closed = scrape(metrics_port).await;
    }
    assert_eq!(
        closed.get("rivetkit_connections", &[("kind", "protocol")]),
        0.0
    );
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let mut server = Server::start().await;
    assert_eq!(listening_ports(server.pid()), vec![server.port]);
    let response = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
