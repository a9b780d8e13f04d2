//! `rvt`, the command line of rivetkit-rs: list, look up, create, call, inspect, watch and
//! destroy actors on a RivetKit server without writing code.
//!
//! This crate owns the command line only: argument syntax (keys, JSON arguments), output
//! (tables for people, `--json` for scripts), and errors as typed `group/code` lines with exit
//! codes ([`failure`]). Everything it does goes through the public Rust client
//! (`rivetkit-client`: the manager API, stateless actions, connections, the inspector API over
//! HTTP), which also reads the endpoint, token and namespace from flags and the environment the
//! way the official clients do. It must not know how a server runs or stores actors: it never
//! depends on the runtime, server or storage crates, so it works against the official servers
//! as against rivetkit-rs.

mod failure;
mod input;
mod output;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rivetkit_client::{
    ActorHandle, Client, ClientConfig, ConnStatus, CreateOptions, Encoding, Error, Spread, Value,
};
use serde_json::json;

use failure::Failure;
use input::{parse_key, parse_value};
use output::{actor_json, actors_table, print_json, print_line, table, utc_time};

/// The manager endpoint, token and namespace are read as the clients read them: flag first,
/// then `RIVET_ENDPOINT` (or `RIVET_ENGINE`), `RIVET_TOKEN`, `RIVET_NAMESPACE`, then URL auth
/// (`http://namespace:token@host`), then the defaults (`http://127.0.0.1:6420`, `default`).
#[derive(Parser)]
#[command(name = "rvt", version, about = "Rivet Actors from the command line")]
struct Cli {
    /// Manager endpoint [env: RIVET_ENDPOINT, RIVET_ENGINE] [default: http://127.0.0.1:6420]
    #[arg(long, global = true)]
    endpoint: Option<String>,
    /// Server token [env: RIVET_TOKEN]
    #[arg(long, global = true)]
    token: Option<String>,
    /// Namespace [env: RIVET_NAMESPACE] [default: default]
    #[arg(long, global = true)]
    namespace: Option<String>,
    /// Encoding of actions and connections
    #[arg(long, global = true, value_enum, default_value_t = EncodingArg::Bare)]
    encoding: EncodingArg,
    /// Print one JSON document (JSON lines for `connect`); errors as JSON on stderr
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum EncodingArg {
    Json,
    Cbor,
    Bare,
}

impl From<EncodingArg> for Encoding {
    fn from(encoding: EncodingArg) -> Self {
        match encoding {
            EncodingArg::Json => Encoding::Json,
            EncodingArg::Cbor => Encoding::Cbor,
            EncodingArg::Bare => Encoding::Bare,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Actors on the server
    #[command(subcommand)]
    Actors(ActorsCommand),
    /// Show one actor (its id, key, creation time)
    Get(ActorArgs),
    /// Create an actor (fails with actor/duplicate_key if the key is taken)
    Create {
        #[command(flatten)]
        actor: ActorArgs,
        /// Create input: JSON, or a bare word taken as a string
        #[arg(long)]
        input: Option<String>,
    },
    /// Call an action over HTTP and print its output
    Call {
        #[command(flatten)]
        actor: ActorArgs,
        /// The action's name
        action: String,
        /// Arguments: each a JSON value, or a bare word taken as a string
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// Create the actor if there is none with this key
        #[arg(long)]
        create: bool,
    },
    /// Print an actor's state (through the inspector API)
    State {
        #[command(flatten)]
        actor: ActorArgs,
        /// The server's inspector token
        #[arg(long, env = "RIVET_INSPECTOR_TOKEN", hide_env_values = true)]
        inspector_token: Option<String>,
    },
    /// Connect and print events as they come until Ctrl-C, reconnecting when the connection
    /// drops
    Connect {
        #[command(flatten)]
        actor: ActorArgs,
        /// An event to print (repeatable)
        #[arg(long = "event", value_name = "EVENT", required = true)]
        events: Vec<String>,
        /// Create the actor if there is none with this key
        #[arg(long)]
        create: bool,
    },
    /// Destroy an actor (its key becomes free)
    Destroy(ActorArgs),
}

#[derive(Subcommand)]
enum ActorsCommand {
    /// List the actors of NAME, or of every name the server serves
    List {
        /// Actor name
        name: Option<String>,
    },
}

#[derive(Args)]
struct ActorArgs {
    /// Actor name (`counter`)
    name: String,
    /// Actor key: `a/b` is ["a", "b"] (`\/` a slash inside a part, `\0` an empty part, `/` the
    /// empty key), or a JSON array of strings (`'["a", "b"]'`)
    key: String,
}

impl ActorArgs {
    fn key(&self) -> Result<Vec<String>, Failure> {
        parse_key(&self.key)
    }
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime on the current thread");
    let json = cli.json;
    if let Err(failure) = runtime.block_on(run(cli)) {
        failure.report(json);
        std::process::exit(failure.exit_code);
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let config = ClientConfig {
        endpoint: cli.endpoint,
        token: cli.token,
        namespace: cli.namespace,
        ..ClientConfig::default()
    }
    .with_env(|name| std::env::var(name).ok())
    .encoding(cli.encoding.into());
    let client = Client::new(config)?;
    let json = cli.json;
    match cli.command {
        Command::Actors(ActorsCommand::List { name }) => list(&client, name, json).await,
        Command::Get(actor) => get(&client, &actor, json).await,
        Command::Create { actor, input } => create(&client, &actor, input, json).await,
        Command::Call {
            actor,
            action,
            args,
            create,
        } => call(&client, &actor, &action, &args, create, json).await,
        Command::State {
            actor,
            inspector_token,
        } => state(&client, &actor, inspector_token, json).await,
        Command::Connect {
            actor,
            events,
            create,
        } => connect(&client, &actor, &events, create, json).await,
        Command::Destroy(actor) => destroy(&client, &actor, json).await,
    }
}

async fn list(client: &Client, name: Option<String>, json: bool) -> Result<(), Failure> {
    let names = match name {
        Some(name) => vec![name],
        None => client.actor_names().await?,
    };
    let mut actors = Vec::new();
    for name in &names {
        actors.extend(client.list_actors(name).await?);
    }
    if json {
        print_json(&actors.iter().map(actor_json).collect(), true);
    } else {
        print!("{}", actors_table(&actors));
    }
    Ok(())
}

async fn get(client: &Client, actor: &ActorArgs, json: bool) -> Result<(), Failure> {
    let info = client
        .find_actor(&actor.name, actor.key()?)
        .await?
        .ok_or_else(|| Failure::actor_not_found(&actor.name, &actor.key))?;
    print_actor(&info, json);
    Ok(())
}

fn print_actor(info: &rivetkit_client::ActorInfo, json: bool) {
    if json {
        print_json(&actor_json(info), true);
        return;
    }
    let rows = [
        ("name", info.name.clone()),
        ("key", input::display_key(&info.key)),
        ("id", info.actor_id.clone()),
        ("created", info.create_ts.map(utc_time).unwrap_or_default()),
    ]
    .map(|(field, value)| vec![field.to_owned(), value]);
    print!("{}", table(&["FIELD", "VALUE"], &rows));
}

async fn create(
    client: &Client,
    actor: &ActorArgs,
    input: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let mut options = CreateOptions::default();
    if let Some(input) = input {
        options = options.input(parse_value(&input));
    }
    let handle = client
        .actor(&actor.name)
        .create(actor.key()?, options)
        .await?;
    let actor_id = handle.resolve().await?;
    let info = client.actor_by_id(&actor_id).await?.ok_or_else(|| {
        Failure::from(Error::Protocol(format!(
            "the server created actor {actor_id} but does not list it"
        )))
    })?;
    print_actor(&info, json);
    Ok(())
}

/// The handle of an actor that exists (`get`), or is created on first use (`get_or_create`).
fn handle(client: &Client, actor: &ActorArgs, create: bool) -> Result<ActorHandle, Failure> {
    let actors = client.actor(&actor.name);
    let key = actor.key()?;
    Ok(if create {
        actors.get_or_create(key)
    } else {
        actors.get(key)
    })
}

async fn call(
    client: &Client,
    actor: &ActorArgs,
    action: &str,
    args: &[String],
    create: bool,
    json: bool,
) -> Result<(), Failure> {
    let args: Vec<Value> = args.iter().map(|arg| parse_value(arg)).collect();
    let output: Value = handle(client, actor, create)?
        .action(action, Spread(args))
        .await?;
    print_json(&output, json);
    Ok(())
}

async fn state(
    client: &Client,
    actor: &ActorArgs,
    inspector_token: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let token = inspector_token.ok_or_else(|| {
        Failure::missing(
            "inspector_token_missing",
            "reading state needs the server's inspector token: --inspector-token or RIVET_INSPECTOR_TOKEN",
        )
    })?;
    let mut answer = handle(client, actor, false)?
        .inspect("/state", &token)
        .await?;
    print_json(&answer["state"].take(), json);
    Ok(())
}

async fn connect(
    client: &Client,
    actor: &ActorArgs,
    events: &[String],
    create: bool,
    json: bool,
) -> Result<(), Failure> {
    let handle = handle(client, actor, create)?;
    // A missing actor is an error now, not a connection retrying forever.
    handle.resolve().await?;
    let conn = handle.connect();
    let _subscriptions: Vec<_> = events
        .iter()
        .map(|event| {
            let name = event.clone();
            conn.on_event(event, move |args: Vec<Value>| {
                if json {
                    print_line(&json!({ "event": name, "args": args }).to_string());
                } else {
                    let args: Vec<String> = args.iter().map(Value::to_string).collect();
                    print_line(&format!("{name} {}", args.join(" ")));
                }
            })
        })
        .collect();
    let _status = conn.on_status_change(move |status| {
        let word = match status {
            ConnStatus::Connecting => "connecting",
            ConnStatus::Connected => "connected",
            ConnStatus::Disconnected => "disconnected",
            ConnStatus::Failed => "failed",
            ConnStatus::Disposed => "disposed",
        };
        if json {
            print_line(&json!({ "status": word }).to_string());
        } else {
            eprintln!("-- {word}");
        }
    });
    let mut status = conn.status_watch();
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.map_err(|e| Failure::from(Error::Transport(format!("waiting for Ctrl-C: {e}"))))?;
            conn.dispose().await;
            Ok(())
        }
        _ = status.wait_for(|status| status.is_terminal()) => {
            Err(conn
                .error()
                .unwrap_or_else(|| Error::Closed("the connection stopped".into()))
                .into())
        }
    }
}

async fn destroy(client: &Client, actor: &ActorArgs, json: bool) -> Result<(), Failure> {
    let info = client
        .find_actor(&actor.name, actor.key()?)
        .await?
        .ok_or_else(|| Failure::actor_not_found(&actor.name, &actor.key))?;
    client.destroy_actor(&info.actor_id).await?;
    if json {
        print_json(&json!({ "destroyed": actor_json(&info) }), true);
    } else {
        println!(
            "destroyed {} {} ({})",
            info.name,
            input::display_key(&info.key),
            info.actor_id
        );
    }
    Ok(())
}
