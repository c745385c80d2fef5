//! Faults that tests inject into the real binary. Compiled only with the
//! `test-hooks` feature, which `cargo test` turns on (see the self dev-dependency
//! in Cargo.toml) and release builds never have.
//!
//! - `INTAKE_TEST_PANIC_AT_LINE=N`: a worker panics on reaching file line N,
//!   `INTAKE_TEST_PANIC_TIMES` times in this process (default 1).
//! - `INTAKE_TEST_CLOCK_OFFSET=±SECONDS`: this instance's own clock runs off by that much.
//! - Counters that tests read: upload bytes inspected on an async worker thread,
//!   and the most records an import parsed at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

fn setting(name: &str) -> Option<i64> {
    std::env::var(name).ok().and_then(|value| value.trim().parse().ok())
}

/// Panics when the configured line is reached, while the panic budget lasts.
pub fn at_line(line: u64) {
    static PANICS: AtomicU64 = AtomicU64::new(0);
    static TARGET: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    let target = TARGET.get_or_init(|| {
        let line = setting("INTAKE_TEST_PANIC_AT_LINE")?;
        Some((line as u64, setting("INTAKE_TEST_PANIC_TIMES").unwrap_or(1) as u64))
    });
    if let Some((at, times)) = *target {
        if line == at && PANICS.fetch_add(1, Ordering::Relaxed) < times {
            panic!("test hook: injected panic at line {line}");
        }
    }
}

/// How far this instance's clock is set off from the system's.
pub fn clock_offset() -> chrono::Duration {
    chrono::Duration::seconds(setting("INTAKE_TEST_CLOCK_OFFSET").unwrap_or(0))
}

/// Upload bytes inspected (sniffed, counted) on a thread that runs async tasks,
/// where that CPU work would stall the requests beside it. Tests assert none are.
pub static UPLOAD_BYTES_INSPECTED_ON_THE_RUNTIME: AtomicU64 = AtomicU64::new(0);

pub fn upload_inspected(bytes: usize) {
    if on_an_async_worker() {
        UPLOAD_BYTES_INSPECTED_ON_THE_RUNTIME.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// tokio refuses to block a thread that runs async tasks, and lets its
/// blocking threads block: asking it to tells the two apart.
fn on_an_async_worker() -> bool {
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return false };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle.block_on(async {}))).is_err()
}

/// The most records an import parsed from its upload at once, this process-wide.
pub static MOST_RECORDS_PARSED_AT_ONCE: AtomicU64 = AtomicU64::new(0);

pub fn records_parsed(count: usize) {
    MOST_RECORDS_PARSED_AT_ONCE.fetch_max(count as u64, Ordering::Relaxed);
}
