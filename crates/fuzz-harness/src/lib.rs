//! Fuzzing for every decoder of `rivetkit-protocol`: what a server reads from a socket, a
//! header, a path or a body before it trusts anything.
//!
//! This crate owns:
//! * [`targets`]: one target per decoder, with its oracles (no panic, allocation bounded per
//!   input byte, round trips) — the bodies both drivers run;
//! * [`alloc_count`]: the counting global allocator behind the allocation oracle;
//! * [`seeds`]: the seed corpus (valid messages of every encoding and BARE version, and hostile
//!   inputs), committed under `corpus/<target>/`;
//! * [`mutate`] and the `fuzz-harness` binary: a structured-mutation driver that runs on the
//!   stable toolchain, in CI (`scripts/test.sh`).
//!
//! The libFuzzer (cargo-fuzz, nightly) targets in the repository's `fuzz/` directory call the
//! same [`targets`]. See FUZZING.md.

pub mod alloc_count;
pub mod mutate;
pub mod seeds;
pub mod targets;
