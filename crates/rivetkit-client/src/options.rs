//! Options of the ways to get a handle: connection params, create input, region.
//!
//! Setters take any `Serialize` value and store it converted, like `serde_json::json!` does:
//!
//! # Panics
//! The setters panic if the value cannot be represented as JSON (a map with non-string keys,
//! or a `Serialize` impl that fails), which is a bug in the caller's types.

use rivetkit_protocol::{value, Value};
use serde::Serialize;

fn convert<T: Serialize>(what: &str, v: &T) -> Value {
    value::from_typed(v).unwrap_or_else(|e| panic!("{what} cannot be represented as JSON: {e}"))
}

/// Plain JSON, as connection params travel (`x-rivet-conn-params`, `rivet_conn_params.`).
fn plain<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v)
        .unwrap_or_else(|e| panic!("connection params cannot be represented as JSON: {e}"))
}

/// For [`get`](crate::Client::get_with) and [`get_for_id`](crate::Client::get_for_id_with).
#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    /// Connection params (plain JSON); see [`GetOptions::params`].
    pub params: Option<Value>,
}

impl GetOptions {
    /// Connection params, given to the actor's `on_before_connect` on every call and connection.
    pub fn params(mut self, params: impl Serialize) -> Self {
        self.params = Some(plain(&params));
        self
    }
}

/// For [`get_or_create`](crate::Client::get_or_create_with).
#[derive(Clone, Debug, Default)]
pub struct GetOrCreateOptions {
    /// Connection params (plain JSON); see [`GetOptions::params`].
    pub params: Option<Value>,
    /// Given to the actor if this call creates it.
    pub input: Option<Value>,
    /// Where to create the actor; ignored by servers with one region.
    pub region: Option<String>,
}

impl GetOrCreateOptions {
    /// Connection params, given to the actor's `on_before_connect` on every call and connection.
    pub fn params(mut self, params: impl Serialize) -> Self {
        self.params = Some(plain(&params));
        self
    }

    /// Input for the actor's creation, used only if this handle creates it.
    pub fn create_with_input(mut self, input: impl Serialize) -> Self {
        self.input = Some(convert("create input", &input));
        self
    }

    /// Where to create the actor; ignored by servers with one region.
    pub fn create_in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
}

/// For [`create`](crate::Client::create).
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Connection params (plain JSON); see [`GetOptions::params`].
    pub params: Option<Value>,
    /// Given to the actor on creation.
    pub input: Option<Value>,
    /// Where to create the actor; ignored by servers with one region.
    pub region: Option<String>,
}

impl CreateOptions {
    /// Connection params, given to the actor's `on_before_connect` on every call and connection.
    pub fn params(mut self, params: impl Serialize) -> Self {
        self.params = Some(plain(&params));
        self
    }

    /// Input for the actor's creation.
    pub fn input(mut self, input: impl Serialize) -> Self {
        self.input = Some(convert("create input", &input));
        self
    }

    /// Where to create the actor; ignored by servers with one region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
}
