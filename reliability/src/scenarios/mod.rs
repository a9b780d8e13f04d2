//! One module per scenario; each returns the [`crate::report::Section`] it found.

pub mod auth;
pub mod connections;
pub mod creation;
pub mod disk;
pub mod fuzz;
pub mod js_reconnect;
pub mod kill9;
pub mod memory;
