//! Every `rvt` subcommand against the real `seed-server`, in tables and `--json`, and its typed
//! errors with their exit codes.

mod support;

use serde_json::json;
use support::{run, rvt, rvt_command, SeedServer, Watch, INSPECTOR_TOKEN};

#[test]
fn create_get_call_list_state_destroy_in_json() {
    let server = SeedServer::start(None);
    let endpoint = &server.endpoint();

    let created = rvt(
        endpoint,
        &[
            "--json",
            "create",
            "game",
            r"lobby/a\/b",
            "--input",
            r#"{"mode":"ranked"}"#,
        ],
    )
    .ok()
    .json();
    assert_eq!(created["name"], "game");
    assert_eq!(created["key"], json!(["lobby", "a/b"]));
    let id = created["actor_id"].as_str().unwrap().to_owned();
    assert!(created["create_ts"].as_i64().unwrap() > 0, "{created}");

    // The input reached the actor; the JSON key form names the same actor.
    let mode = rvt(
        endpoint,
        &["--json", "call", "game", r#"["lobby","a/b"]"#, "getMode"],
    )
    .ok()
    .json();
    assert_eq!(mode, "ranked");
    assert_eq!(
        rvt(endpoint, &["--json", "get", "game", r"lobby/a\/b"])
            .ok()
            .json(),
        created
    );

    // Arguments are JSON; a bare word is a string.
    for (encoding, arg, expected) in [
        ("json", "5", 5.0),
        ("cbor", "-1.5", 3.5),
        ("bare", "0.5", 4.0),
    ] {
        let output = rvt(
            endpoint,
            &[
                "--json",
                "--encoding",
                encoding,
                "call",
                "counter",
                "c",
                "increment",
                arg,
                "--create",
            ],
        )
        .ok()
        .json();
        assert_eq!(output.as_f64(), Some(expected), "{encoding}");
    }
    rvt(
        endpoint,
        &[
            "call",
            "chatRoom",
            "room",
            "sendMessage",
            "hello",
            "--create",
        ],
    )
    .ok();
    let history = rvt(
        endpoint,
        &["--json", "call", "chatRoom", "room", "getHistory"],
    )
    .ok()
    .json();
    assert_eq!(history, json!(["hello"]));

    let counters = rvt(endpoint, &["--json", "actors", "list", "counter"])
        .ok()
        .json();
    assert_eq!(counters.as_array().unwrap().len(), 1, "{counters}");
    assert_eq!(counters[0]["key"], json!(["c"]));
    // Without a name: every actor of every name the server serves.
    let all = rvt(endpoint, &["--json", "actors", "list"]).ok().json();
    let mut names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|actor| actor["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["chatRoom", "counter", "game"]);

    let state = rvt(
        endpoint,
        &[
            "--json",
            "state",
            "counter",
            "c",
            "--inspector-token",
            INSPECTOR_TOKEN,
        ],
    )
    .ok()
    .json();
    assert_eq!(state, json!({"count": 4.0}));
    // The token from the environment, as the server takes it.
    let mut from_env = rvt_command();
    from_env
        .env("RIVET_INSPECTOR_TOKEN", INSPECTOR_TOKEN)
        .args(["--endpoint", endpoint, "--json", "state", "counter", "c"]);
    assert_eq!(run(from_env).ok().json(), state);

    let destroyed = rvt(endpoint, &["--json", "destroy", "game", r"lobby/a\/b"])
        .ok()
        .json();
    assert_eq!(destroyed["destroyed"]["actor_id"], id.as_str());
    let gone = rvt(endpoint, &["--json", "get", "game", r"lobby/a\/b"]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert_eq!(gone.error()["code"], "not_found");
    let listed = rvt(endpoint, &["--json", "actors", "list", "game"])
        .ok()
        .json();
    assert_eq!(listed, json!([]));
}

#[test]
fn tables_and_pretty_json_for_people() {
    let server = SeedServer::start(None);
    let endpoint = &server.endpoint();
    let created = rvt(endpoint, &["create", "counter", "a/b"]).ok().stdout;
    let lines: Vec<&str> = created.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["FIELD", "VALUE"]
    );
    assert_eq!(lines[1], "name     counter");
    assert_eq!(lines[2], "key      a/b");
    let id = lines[3].strip_prefix("id       ").unwrap();
    assert!(lines[4].starts_with("created  ") && lines[4].ends_with(" UTC"));

    rvt(endpoint, &["create", "counter", r"\0"]).ok();
    let table = rvt(endpoint, &["actors", "list"]).ok().stdout;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "KEY", "ID", "CREATED"]);
    assert_eq!(rows.len(), 3, "{table}");
    let row = rows.iter().find(|row| row[1] == "a/b").unwrap();
    assert_eq!((row[0], row[2]), ("counter", id));
    assert!(rows.iter().any(|row| row[1] == r"\0"), "{table}");
    // Columns are aligned: every row's ID starts where the header's does.
    let column = table.lines().next().unwrap().find("ID").unwrap();
    for (line, row) in table.lines().zip(&rows) {
        assert_eq!(
            line[column..].split_whitespace().next(),
            Some(row[2]),
            "{table}"
        );
    }

    let output = rvt(endpoint, &["call", "counter", "a/b", "increment", "2"])
        .ok()
        .stdout;
    // A number as the default encoding (BARE, whose values are CBOR) carries it.
    assert_eq!(output, "2\n");
    let state = rvt(
        endpoint,
        &[
            "state",
            "counter",
            "a/b",
            "--inspector-token",
            INSPECTOR_TOKEN,
        ],
    )
    .ok()
    .stdout;
    assert_eq!(state, "{\n  \"count\": 2.0\n}\n");
    let destroyed = rvt(endpoint, &["destroy", "counter", "a/b"]).ok().stdout;
    assert_eq!(destroyed, format!("destroyed counter a/b ({id})\n"));
}

#[test]
fn errors_are_typed_on_stderr_with_exit_codes() {
    let server = SeedServer::start(Some("secret"));
    let endpoint = &server.endpoint();
    let with_token = |args: &[&str]| {
        let mut command = rvt_command();
        command
            .env("RIVET_TOKEN", "secret")
            .args(["--endpoint", endpoint, "--json"])
            .args(args);
        run(command)
    };
    with_token(&["create", "counter", "k"]).ok();

    let expect = |run: support::Run, exit: i32, group: &str, code: &str| {
        assert_eq!(run.code, exit, "{run:?}");
        let error = run.error();
        assert_eq!(
            (error["group"].as_str(), error["code"].as_str()),
            (Some(group), Some(code)),
            "{run:?}"
        );
        assert!(!error["message"].as_str().unwrap().is_empty());
        assert_eq!(run.stdout, "");
    };
    expect(
        with_token(&["call", "counter", "nobody", "increment", "1"]),
        1,
        "actor",
        "not_found",
    );
    expect(
        with_token(&["call", "counter", "k", "nope"]),
        1,
        "action",
        "not_found",
    );
    expect(
        with_token(&["call", "counter", "k", "increment", "word"]),
        1,
        "action",
        "invalid_request",
    );
    expect(
        with_token(&["create", "counter", "k"]),
        1,
        "actor",
        "duplicate_key",
    );
    expect(
        with_token(&["destroy", "counter", "nobody"]),
        1,
        "actor",
        "not_found",
    );
    expect(
        with_token(&["state", "counter", "k"]),
        2,
        "cli",
        "inspector_token_missing",
    );
    expect(
        with_token(&["state", "counter", "k", "--inspector-token", "wrong"]),
        1,
        "inspector",
        "unauthorized",
    );
    expect(
        with_token(&["get", "counter", "[1]"]),
        2,
        "cli",
        "invalid_argument",
    );

    // The server token: missing, wrong, and right through the endpoint URL (`namespace:token@`).
    expect(
        rvt(endpoint, &["--json", "actors", "list"]),
        1,
        "auth",
        "unauthorized",
    );
    expect(
        rvt(
            endpoint,
            &[
                "--json", "--token", "wrong", "call", "counter", "k", "getCount",
            ],
        ),
        1,
        "auth",
        "forbidden",
    );
    let url_auth = format!("http://default:secret@127.0.0.1:{}", server.port);
    assert_eq!(
        rvt(&url_auth, &["--json", "call", "counter", "k", "getCount"])
            .ok()
            .json()
            .as_f64(),
        Some(0.0)
    );
    expect(
        rvt(
            &url_auth,
            &["--json", "--token", "secret", "actors", "list"],
        ),
        2,
        "client",
        "config",
    );

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    expect(
        rvt(&nowhere, &["--json", "actors", "list", "counter"]),
        3,
        "client",
        "transport",
    );

    // People get `error: group/code: message`.
    let plain = rvt(
        endpoint,
        &["--token", "secret", "call", "counter", "k", "nope"],
    );
    assert_eq!(plain.code, 1);
    assert!(
        plain.stderr.starts_with("error: action/not_found: "),
        "{plain:?}"
    );
    // clap's own usage errors exit 2 as well.
    assert_eq!(rvt(endpoint, &["call", "counter"]).code, 2);
    assert_eq!(rvt(endpoint, &["connect", "counter", "k"]).code, 2);

    // The server is still healthy after all of it.
    assert_eq!(
        with_token(&["call", "counter", "k", "increment", "1"])
            .ok()
            .json()
            .as_f64(),
        Some(1.0)
    );
}

#[test]
fn namespaces_come_from_the_flag_or_the_environment() {
    let server = SeedServer::start(None);
    let endpoint = &server.endpoint();
    rvt(endpoint, &["--namespace", "blue", "create", "counter", "k"]).ok();
    let mut blue = rvt_command();
    blue.env("RIVET_NAMESPACE", "blue")
        .env("RIVET_ENDPOINT", endpoint)
        .args(["--json", "actors", "list", "counter"]);
    assert_eq!(run(blue).ok().json().as_array().unwrap().len(), 1);
    let default = rvt(endpoint, &["--json", "actors", "list", "counter"])
        .ok()
        .json();
    assert_eq!(default, json!([]));
}

#[test]
fn connect_prints_events_as_they_come_and_reconnects() {
    let mut server = SeedServer::start(None);
    let endpoint = &server.endpoint();
    rvt(endpoint, &["create", "counter", "live"]).ok();
    let watch = Watch::start(endpoint, &["counter", "live", "--event", "count"]);
    watch.wait_status("connected");
    rvt(endpoint, &["call", "counter", "live", "increment", "3"]).ok();
    assert_eq!(count_event(&watch.next()), 3.0);

    // The server dies and comes back on the same port: the connection comes back by itself.
    server.restart();
    watch.wait_status("connected");
    rvt(endpoint, &["call", "counter", "live", "increment", "4"]).ok();
    assert_eq!(count_event(&watch.next()), 7.0);

    assert_eq!(watch.interrupt(), 0);
}

#[test]
fn connect_to_a_missing_actor_fails_at_once() {
    let server = SeedServer::start(None);
    let run = rvt(
        &server.endpoint(),
        &["--json", "connect", "counter", "nobody", "--event", "count"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.error()["code"], "not_found");
}

/// The count of a `{"event": "count", "args": [n]}` line.
fn count_event(line: &serde_json::Value) -> f64 {
    assert_eq!(line["event"], "count", "{line}");
    assert_eq!(line["args"].as_array().map(Vec::len), Some(1), "{line}");
    line["args"][0].as_f64().unwrap()
}
