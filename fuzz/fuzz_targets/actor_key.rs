#![no_main]
rivetkit_fuzz::target!("actor_key");
