//! actor-vars: vars made fresh for every instance (static, nested, random, unique).

use parking_lot::Mutex;
use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

#[derive(Serialize, Deserialize, Default)]
struct Plain {
    value: i64,
}

/// An actor whose vars are the JSON value `make` builds at every start.
fn with_vars(name: &str, make: fn() -> Value) -> Actor<Plain, Mutex<Value>> {
    actor::<Plain>(name)
        .vars(move || Mutex::new(make()))
        .create_conn_state(|_c, _params: Value| async move { Ok(json!({ "hello": "world" })) })
        .action(
            "getVars",
            |c, ()| async move { Ok(c.vars().lock().clone()) },
        )
}

fn random_below(bound: u64) -> u64 {
    rand::random::<u64>() % bound
}

pub fn register(registry: Registry) -> Registry {
    let static_vars = with_vars(
        "staticVarActor",
        || json!({ "counter": 42, "name": "test-actor" }),
    )
    .action("getName", |c, ()| async move {
        Ok(c.vars().lock()["name"].clone())
    });
    let nested = with_vars("nestedVarActor", || {
        json!({ "counter": 42, "nested": { "value": "original", "array": [1, 2, 3], "obj": { "key": "value" } } })
    })
    .action("modifyNested", |c, ()| async move {
        let mut vars = c.vars().lock();
        let nested = &mut vars["nested"];
        nested["value"] = json!("modified");
        if let Some(array) = nested["array"].as_array_mut() {
            array.push(json!(4));
        }
        nested["obj"]["key"] = json!("new-value");
        Ok(vars.clone())
    });
    let dynamic = with_vars(
        "dynamicVarActor",
        || json!({ "random": rand::random::<f64>(), "computed": format!("Actor-{}", random_below(1000)) }),
    );
    let unique = with_vars(
        "uniqueVarActor",
        || json!({ "id": random_below(1_000_000) }),
    );
    let driver_ctx = with_vars("driverCtxActor", || json!({ "hasDriverCtx": true }));
    registry
        .register(static_vars)
        .register(nested)
        .register(dynamic)
        .register(unique)
        .register(driver_ctx)
}
