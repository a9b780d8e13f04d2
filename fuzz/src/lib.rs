//! libFuzzer drivers (cargo-fuzz, nightly) for the targets of `fuzz-harness`: each binary in
//! `fuzz_targets/` is one [`target!`] line, so the bodies and oracles live in one place.

pub use fuzz_harness;
pub use libfuzzer_sys;

/// A libFuzzer entry point for the `fuzz-harness` target `$name`, under the counting allocator
/// its allocation oracle needs.
#[macro_export]
macro_rules! target {
    ($name:literal) => {
        #[global_allocator]
        static ALLOCATOR: $crate::fuzz_harness::alloc_count::CountingAllocator =
            $crate::fuzz_harness::alloc_count::CountingAllocator;

        $crate::libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            let target = $crate::fuzz_harness::targets::by_name($name)
                .expect(concat!("fuzz-harness has a target named ", $name));
            target(data);
        });
    };
}
