//! The case runner: proptest's `TestRunner` with our case count, failure persistence and report.

use std::cell::RefCell;
use std::fmt::Debug;
use std::io::Write as _;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};

use crate::alloc;

/// Cases per property when neither `FUZZ_CASES` nor `PROPTEST_CASES` is set: what `--case-count`
/// the test calls [`run`] with, i.e. the short pass CI runs.
pub fn cases(default: u32) -> u32 {
    ["FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .unwrap_or(default)
}

/// How much a parse may allocate at its peak: `per_input_byte * input length + fixed` bytes.
///
/// The bound is generous on purpose (JSON trees cost tens of bytes per input byte); it exists to
/// catch what grows faster than the input (quadratic copies, amplification by a length field).
#[derive(Debug, Clone, Copy)]
pub struct MemoryBound {
    pub per_input_byte: usize,
    pub fixed: usize,
}

impl MemoryBound {
    fn limit(self, input_len: usize) -> usize {
        self.per_input_byte
            .saturating_mul(input_len)
            .saturating_add(self.fixed)
    }
}

#[derive(Default)]
struct Stats {
    cases: u64,
    slowest: Duration,
    peak_bytes: usize,
    /// Worst peak allocation per input byte seen, for inputs of at least 256 bytes.
    worst_ratio: f64,
}

thread_local! {
    static STATS: RefCell<Option<Stats>> = const { RefCell::new(None) };
}

/// Runs `parse` on an input of `input_len` bytes, measuring its peak allocation; fails the case
/// when it is above `bound`. Needs [`crate::counting_allocator!`] in the test binary.
pub fn bounded<R>(
    input_len: usize,
    bound: MemoryBound,
    parse: impl FnOnce() -> R,
) -> Result<R, TestCaseError> {
    let (result, peak) = alloc::measure(parse);
    STATS.with(|stats| {
        if let Some(stats) = stats.borrow_mut().as_mut() {
            stats.peak_bytes = stats.peak_bytes.max(peak);
            if input_len >= 256 {
                #[allow(clippy::cast_precision_loss)] // a ratio for a report
                let ratio = peak as f64 / input_len as f64;
                stats.worst_ratio = stats.worst_ratio.max(ratio);
            }
        }
    });
    let limit = bound.limit(input_len);
    if peak > limit {
        return Err(TestCaseError::fail(format!(
            "peak allocation {peak} B for a {input_len} B input exceeds the bound of {limit} B"
        )));
    }
    Ok(result)
}

/// Runs property `test` over `cases(default_cases)` values of `strategy`, then reports (stderr,
/// and a tab-separated line appended to the file `FUZZ_REPORT` names, for `scripts/fuzz`).
/// Panics with proptest's minimal failing input when a case fails; the failure's seed is saved
/// under `proptest-regressions/` next to `source_file` and replayed first on later runs.
pub fn run<S>(
    name: &str,
    source_file: &'static str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    assert!(
        alloc::is_installed(),
        "{name}: the test binary must install entra_fuzzing::counting_allocator!()"
    );
    let cases = cases(default_cases);
    let config = Config {
        cases,
        source_file: Some(source_file),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        max_shrink_iters: 4096,
        // Filters (`prop_filter`) reject a share of generated values; a million-case pass must
        // not abort on the count of those.
        max_local_rejects: u32::MAX,
        max_global_rejects: u32::MAX,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    STATS.with(|stats| *stats.borrow_mut() = Some(Stats::default()));
    let started = Instant::now();
    let result = runner.run(&strategy, |value| {
        let case_started = Instant::now();
        let outcome = test(value);
        let elapsed = case_started.elapsed();
        STATS.with(|stats| {
            if let Some(stats) = stats.borrow_mut().as_mut() {
                stats.cases += 1;
                stats.slowest = stats.slowest.max(elapsed);
            }
        });
        outcome
    });
    let wall = started.elapsed();
    let stats = STATS
        .with(|stats| stats.borrow_mut().take())
        .unwrap_or_default();
    let failures = u32::from(result.is_err());
    report(name, cases, failures, &stats, wall);
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, value)) => panic!(
            "{name}: property failed: {}\nminimal failing input: {}",
            brief(&reason.message()),
            brief(&value)
        ),
        Err(TestError::Abort(reason)) => panic!("{name}: aborted: {reason}"),
    }
}

/// The `Debug` text of `value`, cut to 800 characters: fuzz inputs can be megabytes long.
pub fn brief(value: &impl Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(800) {
        Some((at, _)) => format!("{}... ({} bytes in all)", &text[..at], text.len()),
        None => text,
    }
}

fn report(name: &str, cases: u32, failures: u32, stats: &Stats, wall: Duration) {
    let slowest_us = stats.slowest.as_micros();
    let wall_ms = wall.as_millis();
    eprintln!(
        "fuzz: {name}: {cases} cases ({} runs with shrinking), {failures} failures, slowest case \
         {slowest_us} us, wall {wall_ms} ms, peak allocation {} B (worst {:.1} B per input byte)",
        stats.cases, stats.peak_bytes, stats.worst_ratio
    );
    if let Ok(path) = std::env::var("FUZZ_REPORT") {
        let line = format!(
            "{name}\t{cases}\t{failures}\t{slowest_us}\t{wall_ms}\t{}\t{:.1}\n",
            stats.peak_bytes, stats.worst_ratio
        );
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = written {
            eprintln!("fuzz: cannot append to FUZZ_REPORT {path}: {error}");
        }
    }
}
