//! The official Rust client (`rivetkit-client` from crates.io, unmodified) against
//! `seed-server`: version 3.0.0 and the newest 2.3.x, each in every encoding it has (JSON,
//! CBOR, BARE; its only transport is WebSocket, SSE returns "not yet supported").
//!
//! One test binary for both versions (the same test bodies, `support/suite.rs`, included twice), so the
//! two clients' shared dependencies are compiled and linked once.

mod support;

/// `mod $test { json, cbor, bare }`, each running `$test(encoding)` on its own runtime.
macro_rules! for_each_encoding {
    ($test:ident) => {
        mod $test {
            use super::official::EncodingKind;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn json() {
                super::$test(EncodingKind::Json).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cbor() {
                super::$test(EncodingKind::Cbor).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bare() {
                super::$test(EncodingKind::Bare).await
            }
        }
    };
}

/// rivetkit-client 3.0.0.
mod v3_0_0 {
    use official3 as official;
    include!("support/suite.rs");
}

/// rivetkit-client 2.3.31, the newest 2.3.x.
mod v2_3_31 {
    use official2 as official;
    include!("support/suite.rs");
}
