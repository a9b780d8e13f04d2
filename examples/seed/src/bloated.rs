//! `bloated` — benchmark only (`benches/growth.sh`): a counter whose state also carries a
//! padding string, sized by its create input, that no action touches. Every change of the count
//! saves the whole state, padding included, so calling `increment` on bloated actors of
//! different sizes shows what a one-field change costs as the state grows. `grow` also adds one
//! byte to the padding: a change that alters the state's length (SQLite rewrites a blob in
//! place, page by page, only when its length is unchanged).

use rivetkit_rs::prelude::*;

#[derive(Serialize, Deserialize, Default)]
pub struct Bloated {
    pub count: f64,
    /// Dead weight: `input` bytes of `x`, written once at creation.
    pub padding: String,
}

rivetkit_rs::interface! {
    actor Bloated = "bloated";
    /// Calls on a `bloated` actor.
    pub trait BloatedActions {
        /// Adds `x` to the count (the padding stays as it is) and returns the new count.
        action BloatedIncrement = "increment", fn increment(x: f64) -> f64;
        /// As `increment`, and appends one byte to the padding.
        action Grow = "grow", fn grow(x: f64) -> f64;
    }
}

/// The largest padding a create input may ask for: past the sizes the benchmark measures, and
/// small enough that a stray input cannot take the server's memory.
pub const MAX_PADDING: usize = 16 * 1024 * 1024;

pub fn bloated() -> Actor<Bloated> {
    Actor::new("bloated", |padding: Option<usize>| Bloated {
        count: 0.0,
        padding: "x".repeat(padding.unwrap_or(0).min(MAX_PADDING)),
    })
    .handle(BloatedIncrement, |c, (x,)| async move {
        Ok(c.update(|s| {
            s.count += x;
            s.count
        }))
    })
    .handle(Grow, |c, (x,)| async move {
        Ok(c.update(|s| {
            s.count += x;
            s.padding.push('x');
            s.count
        }))
    })
}
