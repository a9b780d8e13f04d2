//! The token and namespace matrix: every route of a server with `--token` (and an inspector
//! token) without a token, with a wrong one and with the right one, in every way a client
//! carries it; and what namespaces scope.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Answer, Api};
use crate::report::Section;
use crate::server::{Options, Server};
use crate::Suite;

const TOKEN: &str = "reliability-server-token";
const WRONG: &str = "not-the-token";
const INSPECTOR_TOKEN: &str = "reliability-inspector-token";

/// How a request carries the server token.
#[derive(Clone, Copy)]
enum Carrier {
    Absent,
    Bearer,
    Header,
    /// `/gateway/{id}@token/…`
    Path,
    /// `rvt-token=` in the query form.
    Query,
}

impl Carrier {
    fn label(self) -> &'static str {
        match self {
            Carrier::Absent => "no token",
            Carrier::Bearer => "Authorization: Bearer",
            Carrier::Header => "x-rivet-token",
            Carrier::Path => "@token in the path",
            Carrier::Query => "rvt-token",
        }
    }
}

/// One route of the matrix: how to call it with a token carried by `carrier`.
struct Route {
    name: &'static str,
    method: Method,
    /// With `{token}` where a path or query carrier puts the token.
    path: String,
    body: Option<Value>,
    carriers: &'static [Carrier],
    /// What the right token gets.
    success: u16,
    /// The status of a refusal: 401/403 for HTTP; a WebSocket is upgraded (101) and then
    /// closed with the error as its reason.
    refused_upgraded: bool,
}

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("Token and namespace matrix");
    if let Err(error) = matrix(suite, &mut section).await {
        section.error(&error);
    }
    section
}

async fn send(
    http: &reqwest::Client,
    server: &Server,
    route: &Route,
    carrier: Carrier,
    token: &str,
) -> Result<Answer> {
    let path = match carrier {
        Carrier::Path => route.path.replace("{at}", &format!("@{token}")),
        _ => route.path.replace("{at}", ""),
    };
    let path = match carrier {
        Carrier::Query => path.replace("{query}", &format!("&rvt-token={token}")),
        _ => path.replace("{query}", ""),
    };
    if route.method == Method::GET && route.name == "WebSocket connect" {
        return websocket(server, &path, carrier, token).await;
    }
    let mut request = http
        .request(route.method.clone(), server.url(&path))
        .header("x-rivet-encoding", "json");
    match carrier {
        Carrier::Bearer => request = request.bearer_auth(token),
        Carrier::Header => request = request.header("x-rivet-token", token),
        _ => {}
    }
    if route.name.starts_with("inspector") {
        request = request.bearer_auth(INSPECTOR_TOKEN);
    }
    if let Some(body) = &route.body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

/// A WebSocket handshake: its status, and the error of the close that follows an upgrade (the
/// close reason `group.code`) or of a refused handshake (its JSON body).
async fn websocket(server: &Server, path: &str, carrier: Carrier, token: &str) -> Result<Answer> {
    let mut request = server.ws_url(path).into_client_request()?;
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "rivet, rivet_encoding.json".parse()?,
    );
    if let Carrier::Header = carrier {
        headers.insert("x-rivet-token", token.parse()?);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => {
            let first = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .context("no message after the upgrade")?;
            let body = match first {
                Some(Ok(Message::Close(Some(frame)))) => {
                    let reason = frame.reason.to_string();
                    let (group, code) = reason.split_once('.').unwrap_or((&reason, ""));
                    json!({"group": group, "code": code})
                }
                _ => Value::Null,
            };
            Ok(Answer { status: 101, body })
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Ok(Answer {
            status: response.status().as_u16(),
            body: response
                .body()
                .as_deref()
                .and_then(|body| serde_json::from_slice(body).ok())
                .unwrap_or(Value::Null),
        }),
        Err(error) => Err(error).context("WebSocket handshake"),
    }
}

async fn matrix(suite: &Suite, section: &mut Section) -> Result<()> {
    let data = suite.data_dir("auth")?;
    let server = Server::start(
        &suite.bin,
        &data,
        Options {
            token: Some(TOKEN.into()),
            inspector_token: Some(INSPECTOR_TOKEN.into()),
            ..Options::default()
        },
    )
    .await?;
    let api = Api::new(server.url(""), Some(TOKEN))?;
    let id = api.actor_id("counter", "auth").await?;
    let doomed = api.actor_id("counter", "auth-doomed").await?;
    use Carrier::*;
    let routes = [
        Route {
            name: "manager: list",
            method: Method::GET,
            path: "/actors?name=counter".into(),
            body: None,
            carriers: &[Absent, Bearer, Header],
            success: 200,
            refused_upgraded: false,
        },
        Route {
            name: "manager: names",
            method: Method::GET,
            path: "/actors/names".into(),
            body: None,
            carriers: &[Absent, Bearer, Header],
            success: 200,
            refused_upgraded: false,
        },
        Route {
            name: "manager: get or create",
            method: Method::PUT,
            path: "/actors".into(),
            body: Some(json!({"name": "counter", "key": "auth"})),
            carriers: &[Absent, Bearer, Header],
            success: 200,
            refused_upgraded: false,
        },
        Route {
            name: "manager: create",
            method: Method::POST,
            path: "/actors".into(),
            body: Some(json!({"name": "counter", "key": "auth-created"})),
            carriers: &[Absent, Bearer],
            success: 200,
            refused_upgraded: false,
        },
        Route {
            name: "manager: destroy",
            method: Method::DELETE,
            path: format!("/actors/{doomed}"),
            body: None,
            carriers: &[Absent, Bearer],
            success: 200,
            refused_upgraded: false,
        },
        Route {
            name: "gateway by id: action",
            method: Method::POST,
            path: format!("/gateway/{id}{{at}}/action/getCount"),
            body: Some(json!({"args": []})),
            carriers: &[Absent, Bearer, Header, Path],
            success: 200,
            refused_upgraded: false,
        },
        Route {
            name: "gateway query form: action",
            method: Method::POST,
            path: "/gateway/counter/action/getCount?rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=auth{query}".into(),
            body: Some(json!({"args": []})),
            carriers: &[Absent, Bearer, Header, Query],
            success: 200,
            refused_upgraded: false,
        },
        Route {
            name: "WebSocket connect",
            method: Method::GET,
            path: format!("/gateway/{id}{{at}}/connect"),
            body: None,
            carriers: &[Absent, Header, Path],
            success: 101,
            refused_upgraded: true,
        },
        Route {
            name: "inspector: summary",
            method: Method::GET,
            path: format!("/gateway/{id}/inspector/summary"),
            body: None,
            carriers: &[Absent, Header],
            success: 200,
            refused_upgraded: false,
        },
    ];
    let http = reqwest::Client::new();
    let (mut cases, mut wrong_answers) = (0usize, Vec::new());
    for route in &routes {
        for &carrier in route.carriers {
            let (unauthorized, forbidden) = if route.refused_upgraded {
                (101, 101)
            } else {
                (401, 403)
            };
            let attempts = match carrier {
                // The inspector's own bearer token counts as a (wrong) server token.
                Absent if route.name.starts_with("inspector") => {
                    vec![("", forbidden, "auth/forbidden")]
                }
                Absent => vec![("", unauthorized, "auth/unauthorized")],
                _ => vec![
                    (WRONG, forbidden, "auth/forbidden"),
                    (TOKEN, route.success, ""),
                ],
            };
            for (token, status, code) in attempts {
                cases += 1;
                let answer = send(&http, &server, route, carrier, token).await?;
                let got = (answer.status, answer.error_code());
                if got != (status, code.to_owned()) {
                    wrong_answers.push(format!(
                        "{} with {} {}: expected {status} {code}, got {} {}",
                        route.name,
                        carrier.label(),
                        if token == TOKEN { "(right)" } else { "(wrong)" },
                        got.0,
                        got.1
                    ));
                }
                // Destroy succeeds once; every later case would find no actor.
                if route.method == Method::DELETE && token == TOKEN {
                    break;
                }
            }
        }
    }
    // The inspector's own token, given the right server token.
    let inspector = |bearer: Option<&str>| {
        let mut request = http
            .get(server.url(&format!("/gateway/{id}/inspector/summary")))
            .header("x-rivet-token", TOKEN);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    for bearer in [None, Some(WRONG)] {
        cases += 1;
        let status = inspector(bearer).await?.status().as_u16();
        if status != 401 {
            wrong_answers.push(format!(
                "inspector with the server token and inspector token {bearer:?}: expected 401, got {status}"
            ));
        }
    }
    let open = [
        api_status(&http, &server, "/health").await?,
        api_status(&http, &server, "/metadata").await?,
    ];
    section.tried(
        "A server with `--token` and `--inspector-token`. Each route (manager list, names, get or \
         create, create, destroy; an action by id and in the query form; WebSocket connect; the \
         inspector) is called without a token (401 auth/unauthorized expected), with a wrong one \
         (403 auth/forbidden) and with the right one, in each way the route accepts it \
         (Authorization: Bearer, x-rivet-token, @token in the gateway path, rvt-token). A \
         WebSocket is upgraded and then closed with the error as its reason. The inspector is \
         called with its own bearer token, which counts as a wrong server token when no other \
         is given (403), and also without and with a wrong inspector token (401). `/health` and \
         `/metadata` stay open."
            .to_string(),
    );
    section.headline(
        "token matrix: cases answered as expected",
        format!("{} of {cases}", cases - wrong_answers.len()),
    );
    section.check(
        "every route answers every token case as documented",
        wrong_answers.is_empty(),
        wrong_answers.join("; "),
    );
    section.check(
        "/health and /metadata answer without a token",
        open == [200, 200],
        format!("{open:?}"),
    );
    namespaces(&api, section).await
}

async fn api_status(http: &reqwest::Client, server: &Server, path: &str) -> Result<u16> {
    Ok(http.get(server.url(path)).send().await?.status().as_u16())
}

async fn namespaces(api: &Api, section: &mut Section) -> Result<()> {
    let in_namespace = |namespace: &'static str| {
        let api = api.clone();
        async move {
            let answer = api
                .create(true, namespace, "counter", "shared", None)
                .await?;
            answer.body["actor"]["actor_id"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("PUT /actors in {namespace}: {}", answer.body))
        }
    };
    let id_a = in_namespace("ns-a").await?;
    let id_b = in_namespace("ns-b").await?;
    let listed = |namespace: &'static str| {
        let (api, id_a) = (api.clone(), id_a.clone());
        async move {
            let answer = api
                .get(&format!("/actors?actor_ids={id_a}&namespace={namespace}"))
                .await?;
            anyhow::Ok(answer.body["actors"].as_array().map_or(0, Vec::len))
        }
    };
    let (listed_home, listed_away) = (listed("ns-a").await?, listed("ns-b").await?);
    let destroy_away = api
        .http
        .delete(format!("{}/actors/{id_a}?namespace=ns-b", api.base))
        .send()
        .await?;
    let destroy_away = (
        destroy_away.status().as_u16(),
        serde_json::from_slice::<Value>(&destroy_away.bytes().await?).unwrap_or(Value::Null),
    );
    let query_increment = api
        .http
        .post(format!(
            "{}/gateway/counter/action/increment?rvt-namespace=ns-b&rvt-method=get&rvt-key=shared",
            api.base
        ))
        .header("x-rivet-encoding", "json")
        .json(&json!({"args": [1]}))
        .send()
        .await?
        .status()
        .as_u16();
    let count_a = api.output(&id_a, "getCount", vec![]).await?;
    let count_b = api.output(&id_b, "getCount", vec![]).await?;
    section.tried(
        "Namespaces: the key `shared` is created in `ns-a` and in `ns-b`; A's id is listed \
         (`GET /actors?actor_ids=`) and destroyed (`DELETE /actors/{id}`) from `ns-b`; an \
         increment in the query form with `rvt-namespace=ns-b` must reach B only. A gateway call \
         by id carries no namespace in any official client and reaches its actor from anywhere: \
         documented behaviour (README, Namespaces), not a leak.",
    );
    section.check(
        "one key names a different actor in each namespace",
        id_a != id_b,
        "the same id in both",
    );
    section.check(
        "listing by id is scoped to the namespace",
        listed_home == 1 && listed_away == 0,
        format!("listed {listed_home} at home, {listed_away} from ns-b"),
    );
    section.check(
        "destroy by id from another namespace is actor/not_found",
        destroy_away.1["group"] == "actor" && destroy_away.1["code"] == "not_found",
        format!("got {} {}", destroy_away.0, destroy_away.1),
    );
    section.figure(
        "destroy by id from another namespace answers",
        format!(
            "{} {}/{}",
            destroy_away.0, destroy_away.1["group"], destroy_away.1["code"]
        )
        .replace('"', ""),
    );
    section.check(
        "the query form's namespace picks the actor (documented: by id is not scoped)",
        query_increment == 200 && count_a.as_f64() == Some(0.0) && count_b.as_f64() == Some(1.0),
        format!("increment {query_increment}; A holds {count_a}, B holds {count_b}"),
    );
    Ok(())
}
