#![no_main]
rivetkit_fuzz::target!("cbor_value");
