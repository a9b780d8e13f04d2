#![no_main]
rivetkit_fuzz::target!("to_client_bare");
