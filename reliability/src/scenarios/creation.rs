//! kill -9 during actor creation: clients create `game` actors with fresh keys and an input
//! (alternating `PUT /actors` and `POST /actors`) while the server is SIGKILLed; after the
//! restart every acknowledged creation resolves to the same id and holds its input, and an
//! unacknowledged one is either absent or whole.

use std::time::Duration;

use anyhow::{bail, Result};
use futures::stream::{self, StreamExt};
use rand::Rng;
use serde_json::json;

use crate::client::Api;
use crate::report::Section;
use crate::server::{Options, Server};
use crate::Suite;

/// A client stops after this many creations even if the kill has not come.
const MAX_CREATIONS_PER_CLIENT: usize = 5_000;
/// Requests at once while checking.
const CHECK_CONCURRENCY: usize = 16;

/// What one creator saw: (key, actor id, mode) of every acknowledged creation, and the key of
/// the creation it had sent when the server went away.
#[derive(Default)]
struct Ledger {
    acknowledged: Vec<(String, String, String)>,
    in_flight: Option<String>,
}

fn mode_of(key: &str) -> String {
    format!("mode-of-{key}")
}

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("kill -9 during actor creation");
    if let Err(error) = trials(suite, &mut section).await {
        section.error(&error);
    }
    section
}

async fn trials(suite: &Suite, section: &mut Section) -> Result<()> {
    let size = &suite.size;
    section.tried(format!(
        "{} trials. In each, {} clients create `game` actors with fresh keys and the input \
         `{{mode}}`, one after another, alternating `PUT /actors` (get or create) and `POST /actors` \
         (create); after a random 0.3–1.5 s the server gets SIGKILL and is restarted on the same \
         data dir. Then every acknowledged key must resolve (`PUT /actors` without input) to the \
         id that was acknowledged, as an existing actor, and its `getMode` must answer its input; \
         every key sent without an answer must be absent or whole (its `getMode` its input).",
        size.creation_trials, size.creation_clients
    ));
    let data = suite.data_dir("creation")?;
    let mut server = Server::start(&suite.bin, &data, Options::default()).await?;
    let api = Api::new(server.url(""), None)?;
    let (mut acknowledged_total, mut lost, mut wrong, mut in_flight_total, mut in_flight_found) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    for trial in 0..size.creation_trials {
        let clients: Vec<_> = (0..size.creation_clients)
            .map(|client| tokio::spawn(creator(api.clone(), trial, client)))
            .collect();
        let delay =
            rand::rng().random_range(Duration::from_millis(300)..Duration::from_millis(1500));
        tokio::time::sleep(delay).await;
        server.kill9()?;
        let (mut acknowledged, mut in_flight) = (Vec::new(), Vec::new());
        for client in clients {
            let ledger = client.await?;
            acknowledged.extend(ledger.acknowledged);
            in_flight.extend(ledger.in_flight);
        }
        server.restart().await?;
        acknowledged_total += acknowledged.len();
        in_flight_total += in_flight.len();
        let results: Vec<Result<AckedCheck>> = stream::iter(acknowledged)
            .map(|(key, id, mode)| {
                let api = api.clone();
                async move { check_acknowledged(&api, &key, &id, &mode).await }
            })
            .buffer_unordered(CHECK_CONCURRENCY)
            .collect()
            .await;
        for result in results {
            match result? {
                AckedCheck::Whole => {}
                AckedCheck::Lost => lost += 1,
                AckedCheck::Wrong => wrong += 1,
            }
        }
        for key in in_flight {
            match unanswered_state(&api, &key).await? {
                Unanswered::Absent => {}
                Unanswered::Whole => in_flight_found += 1,
                Unanswered::Wrong => wrong += 1,
            }
        }
    }
    section.headline("creation trials run", size.creation_trials);
    section.headline(
        "acknowledged creations checked after kill -9",
        acknowledged_total,
    );
    section.headline("acknowledged creations lost after kill -9", lost);
    section.figure(
        "creations sent without an answer / found whole after restart",
        format!("{in_flight_total} / {in_flight_found}"),
    );
    section.figure("actors found with another id or input", wrong);
    section.check(
        "creations were acknowledged before the kill",
        acknowledged_total > 0,
        "none acknowledged",
    );
    section.check(
        "no acknowledged creation lost",
        lost == 0,
        format!("{lost} lost"),
    );
    section.check(
        "every key resolves to its acknowledged id with its input",
        wrong == 0,
        format!("{wrong} resolved elsewhere or lost their input"),
    );
    Ok(())
}

async fn creator(api: Api, trial: usize, client: usize) -> Ledger {
    let mut ledger = Ledger::default();
    for n in 0..MAX_CREATIONS_PER_CLIENT {
        let key = format!("t{trial}-c{client}-{n}");
        let mode = mode_of(&key);
        let answer = api
            .create(
                n % 2 == 0,
                "default",
                "game",
                &key,
                Some(&json!({ "mode": mode })),
            )
            .await;
        match answer {
            Ok(answer) => match answer.body["actor"]["actor_id"].as_str() {
                Some(id) => ledger.acknowledged.push((key, id.to_owned(), mode)),
                None => {
                    ledger.in_flight = Some(key);
                    break;
                }
            },
            // Refused before it was sent: nothing can have been created.
            Err(error) if error.is_connect() => break,
            Err(_) => {
                ledger.in_flight = Some(key);
                break;
            }
        }
    }
    ledger
}

enum AckedCheck {
    Whole,
    Lost,
    Wrong,
}

async fn check_acknowledged(api: &Api, key: &str, id: &str, mode: &str) -> Result<AckedCheck> {
    let answer = api.create(true, "default", "game", key, None).await?;
    if answer.status != 200 {
        bail!(
            "PUT /actors for {key} answered {}: {}",
            answer.status,
            answer.body
        );
    }
    if answer.body["created"] == json!(true) {
        return Ok(AckedCheck::Lost);
    }
    if answer.body["actor"]["actor_id"].as_str() != Some(id) {
        return Ok(AckedCheck::Wrong);
    }
    let stored_mode = api.output(id, "getMode", vec![]).await?;
    Ok(if stored_mode == mode {
        AckedCheck::Whole
    } else {
        AckedCheck::Wrong
    })
}

enum Unanswered {
    Absent,
    Whole,
    Wrong,
}

/// An unacknowledged creation, looked up without creating it.
async fn unanswered_state(api: &Api, key: &str) -> Result<Unanswered> {
    let answer = api
        .get(&format!("/actors?namespace=default&name=game&key={key}"))
        .await?;
    let Some(actors) = answer.body["actors"].as_array() else {
        bail!(
            "GET /actors for {key} answered {}: {}",
            answer.status,
            answer.body
        );
    };
    let Some(id) = actors.first().and_then(|actor| actor["actor_id"].as_str()) else {
        return Ok(Unanswered::Absent);
    };
    let stored_mode = api.output(id, "getMode", vec![]).await?;
    Ok(if stored_mode == mode_of(key) {
        Unanswered::Whole
    } else {
        Unanswered::Wrong
    })
}
