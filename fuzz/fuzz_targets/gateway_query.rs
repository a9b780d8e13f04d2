#![no_main]
rivetkit_fuzz::target!("gateway_query");
