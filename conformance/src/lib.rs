//! Rust implementations of the fixture actors the official driver test suite calls
//! (`../shared/spec/FIXTURES.md`), registered under the exact names the suite uses.
//!
//! One module per test file of the suite; [`registry`] registers them all.

mod state;

use rivetkit::Registry;

/// Every fixture actor.
pub fn registry() -> Registry {
    state::register(Registry::new())
}
