//! Property-based fuzzing of the inbound parsers (issue #10 item 4; FUZZING.md at the root).
//!
//! Every parser that reads what a caller sends (bearer tokens, callout bodies, the password-submit
//! JWE, rules and config files, notification payloads) has a `fuzz_*` test binary in its crate.
//! This crate is what they share:
//!
//! - [`run`]: runs one property over generated cases with `proptest`, the case count taken from
//!   `FUZZ_CASES` (or `PROPTEST_CASES`) so CI runs a short pass and `scripts/fuzz` a long one, and
//!   reports cases, failures, the slowest case and the worst memory ratio per parser.
//! - [`alloc`]: a counting global allocator; [`bounded`] runs a parse and fails the case when its
//!   peak allocation exceeds a bound proportional to the input size (deterministic, unlike a timer).
//! - [`mutate`]: byte-level and JSON-level mutation strategies seeded from real vectors.
//!
//! Test-only: nothing in a function build depends on it.

pub mod alloc;
pub mod mutate;
mod runner;

pub use alloc::CountingAllocator;
pub use runner::{MemoryBound, bounded, brief, cases, run};

/// Declares the [`CountingAllocator`] as the global allocator of a fuzz test binary; [`bounded`]
/// needs it to see allocations.
#[macro_export]
macro_rules! counting_allocator {
    () => {
        #[global_allocator]
        static FUZZ_ALLOCATOR: $crate::CountingAllocator = $crate::CountingAllocator;
    };
}
