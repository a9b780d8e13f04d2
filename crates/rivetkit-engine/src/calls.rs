//! Actors calling actors in engine mode. The engine decides which envoy runs an actor and is
//! the only one that creates actors, so `call_actor` goes out through the engine's gateway as
//! any client's call would (with `rivetkit-client`, by name and key), even when the target
//! happens to run on this envoy: the engine then tunnels it back here.

use futures::future::BoxFuture;
use rivetkit_client::{Client, ClientConfig, Encoding, GetOrCreateOptions, Spread, Value};
use rivetkit_runtime::{ActorError, ActorResult, RemoteActors};

use crate::EngineConfig;

/// A client of the engine this envoy serves, in its namespace, creating actors in its pool.
pub(crate) struct EngineCalls {
    client: Client,
}

impl EngineCalls {
    pub(crate) fn new(config: &EngineConfig) -> std::io::Result<Self> {
        let mut client_config = ClientConfig::new(&config.endpoint)
            .namespace(&config.namespace)
            // CBOR carries every value the runtime has (bytes included) in all engine versions.
            .encoding(Encoding::Cbor);
        client_config.token.clone_from(&config.token);
        client_config.runner_name = Some(config.pool.clone());
        let client = Client::new(client_config)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        Ok(Self { client })
    }
}

impl RemoteActors for EngineCalls {
    fn call<'a>(
        &'a self,
        name: &'a str,
        key: &'a [String],
        params: Value,
        action: &'a str,
        args: Vec<Value>,
    ) -> BoxFuture<'a, ActorResult<Value>> {
        let mut options = GetOrCreateOptions::default();
        if !params.is_null() {
            options.params = Some(params);
        }
        Box::pin(async move {
            self.client
                .actor(name)
                .get_or_create_with(key, options)
                .action::<Value>(action, Spread(args))
                .await
                .map_err(|error| match error {
                    // The called actor's own error (already masked there if internal), passed
                    // on as it was raised.
                    rivetkit_client::Error::Actor(error) => {
                        let passed_on = ActorError::public(error.group, error.code, error.message);
                        match error.metadata {
                            Some(metadata) => passed_on.with_metadata(metadata),
                            None => passed_on,
                        }
                    }
                    other => ActorError::internal(format!(
                        "calling {action} on actor {name} {key:?} through the Rivet Engine: {other}"
                    )),
                })
        })
    }
}
