//! Nothing to build here: this package exists for its integration test, `tests/official.rs`,
//! which runs the official Rust client (`rivetkit-client` 3.0.0 and 2.3.31 from crates.io)
//! against `seed-server`. See `Cargo.toml` for why it is not a member of the workspace.
