//! kill -9 under concurrent load: HTTP and WebSocket clients increment many counters, each
//! keeping a ledger of acknowledged increments and of those still in flight; the server is
//! SIGKILLed at a random moment and restarted on the same data dir, and every counter must hold
//! at least what was acknowledged and at most that plus what was in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use rand::Rng;
use rivetkit_protocol::ToClient;
use serde_json::json;

use crate::client::{Api, Conn, ENCODINGS};
use crate::report::Section;
use crate::server::{Options, Server};
use crate::Suite;

/// Per counter, during one trial: increments acknowledged, and sent without an answer.
#[derive(Default)]
struct Ledger {
    acknowledged: AtomicU64,
    in_flight: AtomicU64,
}

/// A client stops after this many increments even if the kill has not come (bounded load).
const MAX_CALLS_PER_CLIENT: u64 = 20_000;
/// Actions a WebSocket client keeps in flight at once.
const WS_WINDOW: u64 = 8;

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("kill -9 under concurrent load");
    if let Err(error) = trials(suite, &mut section).await {
        section.error(&error);
    }
    section
}

async fn trials(suite: &Suite, section: &mut Section) -> Result<()> {
    let size = &suite.size;
    section.tried(format!(
        "{} trials. In each, {} HTTP clients and {} WebSocket clients (JSON, CBOR and BARE in turn, \
         {WS_WINDOW} actions in flight each) increment {} counters by 1; each client records every \
         acknowledged increment and every one sent without an answer. After a random 0.3–{:.1} s the \
         server gets SIGKILL, is restarted on the same data dir and port, and every counter is read \
         back: it must be at least its value before the trial plus the acknowledged increments, and \
         at most that plus the unanswered ones.",
        size.kill_trials,
        size.kill_http_clients,
        size.kill_ws_clients,
        size.kill_counters,
        size.kill_max_delay.as_secs_f64(),
    ));
    let data = suite.data_dir("kill9")?;
    let mut server = Server::start(&suite.bin, &data, Options::default()).await?;
    let api = Api::new(server.url(""), None)?;
    let mut ids = Vec::new();
    for counter in 0..size.kill_counters {
        ids.push(api.actor_id("counter", &format!("kill9-{counter}")).await?);
    }
    let mut base = vec![0u64; ids.len()];
    let (mut acknowledged_total, mut lost_total, mut invented_total) = (0u64, 0u64, 0u64);
    let mut restart_times = Vec::new();
    for _ in 0..size.kill_trials {
        let ledgers: Arc<Vec<Ledger>> = Arc::new(ids.iter().map(|_| Ledger::default()).collect());
        let mut clients = Vec::new();
        for client in 0..size.kill_http_clients {
            let counter = client % ids.len();
            clients.push(tokio::spawn(http_client(
                api.clone(),
                ids[counter].clone(),
                ledgers.clone(),
                counter,
            )));
        }
        for client in 0..size.kill_ws_clients {
            let counter = (client * 7 + 3) % ids.len();
            clients.push(tokio::spawn(ws_client(
                server.ws_url(""),
                ids[counter].clone(),
                ledgers.clone(),
                counter,
                client,
            )));
        }
        let delay = rand::rng().random_range(Duration::from_millis(300)..size.kill_max_delay);
        tokio::time::sleep(delay).await;
        server.kill9()?;
        for client in clients {
            client.await?;
        }
        let started = Instant::now();
        server.restart().await?;
        restart_times.push(started.elapsed());
        for (counter, id) in ids.iter().enumerate() {
            let stored = api
                .output(id, "getCount", vec![])
                .await?
                .as_f64()
                .unwrap_or(-1.0) as u64;
            let acknowledged = ledgers[counter].acknowledged.load(Ordering::SeqCst);
            let in_flight = ledgers[counter].in_flight.load(Ordering::SeqCst);
            let floor = base[counter] + acknowledged;
            lost_total += floor.saturating_sub(stored);
            invented_total += stored.saturating_sub(floor + in_flight);
            acknowledged_total += acknowledged;
            base[counter] = stored;
        }
    }
    let slowest_restart = restart_times.iter().max().copied().unwrap_or_default();
    section.headline("kill -9 trials run", size.kill_trials);
    section.headline(
        "acknowledged increments checked after kill -9",
        acknowledged_total,
    );
    section.headline("acknowledged increments lost after kill -9", lost_total);
    section.figure("increments found that were never sent", invented_total);
    section.figure(
        "restart to healthy after kill -9 (slowest)",
        format!("{} ms", slowest_restart.as_millis()),
    );
    section.check(
        "acknowledged increments were made in every trial",
        acknowledged_total > 0,
        "the kill came before any increment was acknowledged",
    );
    section.check(
        "no acknowledged increment lost",
        lost_total == 0,
        format!("{lost_total} lost"),
    );
    section.check(
        "no increment invented",
        invented_total == 0,
        format!("{invented_total} more than were sent"),
    );
    Ok(())
}

/// Increments one counter over HTTP until the server goes away.
async fn http_client(api: Api, id: String, ledgers: Arc<Vec<Ledger>>, counter: usize) {
    let ledger = &ledgers[counter];
    for _ in 0..MAX_CALLS_PER_CLIENT {
        ledger.in_flight.fetch_add(1, Ordering::SeqCst);
        match api.action(&id, "increment", vec![json!(1)]).await {
            Ok(answer) if answer.status == 200 => {
                ledger.in_flight.fetch_sub(1, Ordering::SeqCst);
                ledger.acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            // Refused before it was sent: it cannot have been applied.
            Err(error) if error.is_connect() => {
                ledger.in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            // Anything else may or may not have been applied: it stays in flight.
            _ => return,
        }
    }
}

/// Increments one counter over a protocol connection, `WS_WINDOW` at a time, until it breaks.
async fn ws_client(
    ws_base: String,
    id: String,
    ledgers: Arc<Vec<Ledger>>,
    counter: usize,
    client: usize,
) {
    let ledger = &ledgers[counter];
    let Ok(mut conn) = Conn::open(&ws_base, &id, ENCODINGS[client % ENCODINGS.len()]).await else {
        return;
    };
    let mut next_id = 0u64;
    let mut outstanding = 0u64;
    loop {
        while outstanding < WS_WINDOW && next_id < MAX_CALLS_PER_CLIENT {
            ledger.in_flight.fetch_add(1, Ordering::SeqCst);
            if conn
                .call(next_id, "increment", vec![json!(1)])
                .await
                .is_err()
            {
                return;
            }
            next_id += 1;
            outstanding += 1;
        }
        if outstanding == 0 {
            return;
        }
        match conn.recv().await {
            Ok(ToClient::ActionResponse { .. }) => {
                outstanding -= 1;
                ledger.in_flight.fetch_sub(1, Ordering::SeqCst);
                ledger.acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            Ok(ToClient::Error { .. }) => {
                outstanding -= 1;
                ledger.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
