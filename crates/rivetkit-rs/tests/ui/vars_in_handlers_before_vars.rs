// `vars` may come anywhere in the chain, but a handler added before it was written without
// vars: it sees `()`, so using the vars there is a type error, not a panic at start-up.
use rivetkit_rs::prelude::*;

struct Vars {
    hits: std::sync::atomic::AtomicU32,
}

fn main() {
    let _ = actor::<i64>("counter")
        .action("hit", |c, ()| async move {
            Ok(c.vars().hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
        })
        .vars(|| Vars { hits: Default::default() });
}
