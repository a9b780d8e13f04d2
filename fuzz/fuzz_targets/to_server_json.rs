#![no_main]
rivetkit_fuzz::target!("to_server_json");
