//! Rust implementations of the fixture actors the official driver test suite (npm `rivetkit`,
//! `rivetkit/driver-test-suite`, run by `tests/conformance`) calls, registered under the exact
//! names the suite uses.
//!
//! One module per test file of the suite (shared pieces in `payload`); [`registry`] registers
//! them all.

mod access_control;
mod action_features;
mod conn;
mod conn_state;
mod db;
mod destroy;
mod errors;
mod hibernation;
mod inline_client;
mod kv;
mod manager;
mod metadata;
mod payload;
mod queue;
mod raw_http;
mod raw_ws;
mod request_access;
mod run;
mod schedule;
mod sleep;
mod state;
mod state_change;
mod stateless;
mod vars;

use rivetkit_rs::Registry;

/// Every fixture actor.
pub fn registry() -> Registry {
    let modules: [fn(Registry) -> Registry; 23] = [
        state::register,
        manager::register,
        conn::register,
        conn_state::register,
        destroy::register,
        request_access::register,
        action_features::register,
        vars::register,
        metadata::register,
        state_change::register,
        errors::register,
        kv::register,
        stateless::register,
        schedule::register,
        sleep::register,
        raw_http::register,
        raw_ws::register,
        queue::register,
        run::register,
        access_control::register,
        inline_client::register,
        hibernation::register,
        db::register,
    ];
    modules
        .into_iter()
        .fold(Registry::new(), |registry, register| register(registry))
}
