//! A global allocator that counts the bytes live on the current thread while a measurement is on,
//! so a fuzz case can assert how much memory a parse needed without timing anything.
//!
//! Counting is per thread: a parse measured on the test's own thread (a synchronous parser, or an
//! async one driven by a current-thread runtime) is not disturbed by other tests running in
//! parallel in the same binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator plus per-thread accounting; install it with
/// [`crate::counting_allocator!`].
pub struct CountingAllocator;

#[derive(Clone, Copy)]
struct Counter {
    armed: bool,
    /// Bytes allocated minus bytes freed since the measurement started (may go negative when the
    /// measured code frees memory allocated before it).
    current: isize,
    peak: isize,
}

thread_local! {
    // `const` and `Copy`: no lazy initialisation and no destructor, so the allocator can touch it
    // at any point of a thread's life without allocating or recursing.
    static COUNTER: Cell<Counter> = const {
        Cell::new(Counter { armed: false, current: 0, peak: 0 })
    };
}

fn record(delta: isize) {
    let _ = COUNTER.try_with(|cell| {
        let mut counter = cell.get();
        if counter.armed {
            counter.current += delta;
            counter.peak = counter.peak.max(counter.current);
            cell.set(counter);
        }
    });
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to `System`; the accounting touches only a
// thread-local `Cell` of plain integers and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(size(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(size(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        record(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(size(new_size) - size(layout.size()));
        }
        new
    }
}

/// Runs `f` and returns its result with the peak number of bytes it held allocated at once on
/// this thread (beyond what was live when it started). Zero when the binary does not install
/// [`CountingAllocator`], so use [`is_installed`] before trusting a zero.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNTER.with(|cell| {
        cell.set(Counter {
            armed: true,
            current: 0,
            peak: 0,
        })
    });
    let result = f();
    let peak = COUNTER.with(|cell| {
        let counter = cell.get();
        cell.set(Counter {
            armed: false,
            ..counter
        });
        counter.peak
    });
    (result, usize::try_from(peak).unwrap_or(0))
}

/// True when the running binary counts allocations (a measured 1 KiB allocation shows up).
pub fn is_installed() -> bool {
    let (_, peak) = measure(|| std::hint::black_box(vec![0u8; 1024]));
    peak >= 1024
}
