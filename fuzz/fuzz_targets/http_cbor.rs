#![no_main]
rivetkit_fuzz::target!("http_cbor");
