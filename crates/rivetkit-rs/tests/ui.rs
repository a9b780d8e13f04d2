//! Compile-fail tests: the mistakes in `tests/ui/*.rs` must not compile, and the compiler's
//! message must say what to write instead (`tests/ui/*.stderr`; regenerate them with
//! `TRYBUILD=overwrite cargo test -p rivetkit-rs --test ui` after reading the new message).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
