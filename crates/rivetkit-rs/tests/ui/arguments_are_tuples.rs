// A list where an argument tuple is expected would be spread into one argument per element (a
// JS listener got three arguments): it must be wrapped, `(list,)`, or spread on purpose,
// `Spread(list)`.
use rivetkit_rs::prelude::*;

async fn call_from_a_client(handle: rivetkit_rs::client::ActorHandle) {
    let _: i64 = handle.action("increment", vec![1]).await.unwrap();
}

fn main() {
    let _ = call_from_a_client;
    let numbers = vec![1, 2, 3];
    let _ = actor::<i64>("lists").action("send", move |c, ()| {
        let numbers = numbers.clone();
        async move {
            c.broadcast("numbers", numbers.clone());
            c.schedule_after(std::time::Duration::from_secs(1), "send", numbers.clone())
                .await?;
            let _: i64 = c.call_actor("counter", &[], "increment", 1).await?;
            Ok(())
        }
    });
}
