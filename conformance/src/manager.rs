//! manager-driver: `inputActor` (create input reaches `create_state` and `on_create`).

use rivetkit_rs::prelude::*;
use serde_json::Value;

#[derive(Serialize, Deserialize, Default)]
struct Inputs {
    // Absent (not null) when there was no input: the suite checks `toBeUndefined()`.
    #[serde(rename = "initialInput", skip_serializing_if = "Option::is_none")]
    initial_input: Option<Value>,
    #[serde(rename = "onCreateInput", skip_serializing_if = "Option::is_none")]
    on_create_input: Option<Value>,
}

pub fn register(registry: Registry) -> Registry {
    let input_actor = Actor::new("inputActor", |input: Option<Value>| Inputs {
        initial_input: input,
        on_create_input: None,
    })
    .on_create(|c, input: Option<Value>| async move {
        c.update(|s| s.on_create_input = input);
        Ok(())
    })
    .action("getInputs", |c, ()| async move {
        Ok(c.state(|s| serde_json::to_value(s))?)
    });
    registry.register(input_actor)
}
