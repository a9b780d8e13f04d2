#![no_main]
rivetkit_fuzz::target!("paths");
