//! A global allocator that counts, per thread, the bytes each measured call allocates: the
//! deterministic half of the "bounded work per input byte" oracle (time is not deterministic,
//! allocation is).
//!
//! Every driver (the stable mutation driver, the cargo-fuzz targets, the tests) installs it with
//! `#[global_allocator] static A: CountingAllocator = CountingAllocator;`; [`measure`] refuses
//! to run without it, so an oracle can never pass vacuously.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct CountingAllocator;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Bytes requested on this thread since the counter was last reset (reallocations count
    /// their full new size: growing a buffer copies it, so it is work as much as memory).
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
    /// Bytes live on this thread right now and the peak since the last reset (frees of blocks
    /// allocated before the reset may push `live` below zero, hence signed).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(allocated: usize, freed: usize) {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = ALLOCATED.try_with(|total| total.set(total.get().saturating_add(allocated)));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + allocated as isize - freed as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every method forwards to `System` unchanged; the bookkeeping touches only
// const-initialised thread-locals, which never allocate.
#[allow(
    unsafe_code,
    reason = "a GlobalAlloc is an unsafe trait; it forwards to System"
)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        record(layout.size(), 0);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        record(layout.size(), 0);
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(0, layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size, layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

/// What one call allocated.
#[derive(Clone, Copy, Debug)]
pub struct Allocation {
    /// All bytes requested, reallocations included.
    pub total: usize,
    /// The most bytes live at once, counted from the start of the call.
    pub peak: usize,
}

/// Runs `f` and reports what it allocated on this thread. Panics if [`CountingAllocator`] is
/// not the global allocator (the measurement would read zero).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Allocation) {
    // The probe allocation makes `INSTALLED` true if (and only if) we are counting.
    drop(std::hint::black_box(Box::new(0u8)));
    assert!(
        INSTALLED.load(Ordering::Relaxed),
        "CountingAllocator is not the global allocator: declare it with #[global_allocator]"
    );
    ALLOCATED.with(|total| total.set(0));
    LIVE.with(|live| live.set(0));
    PEAK.with(|peak| peak.set(0));
    let result = f();
    let total = ALLOCATED.with(Cell::get);
    let peak = PEAK.with(Cell::get).max(0) as usize;
    (result, Allocation { total, peak })
}
