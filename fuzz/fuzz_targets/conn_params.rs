#![no_main]
rivetkit_fuzz::target!("conn_params");
