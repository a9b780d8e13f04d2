#![no_main]
rivetkit_fuzz::target!("json_value");
