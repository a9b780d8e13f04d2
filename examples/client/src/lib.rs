//! The RivetKit client guide (`rivetkit-client-javascript.md`), section by section, in Rust.
//!
//! Each function of [`snippets`] is one snippet of the guide, written against the seed's
//! actors (`examples/seed`); `examples/*.rs` run them against a `seed-server`, and the tests run
//! them against an in-process one. [`backend`] is the guide's "Calling from Backend" Hono app
//! as an axum router.

pub mod backend;
pub mod snippets;
