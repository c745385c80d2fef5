//! Faults that tests inject into the real binary. Compiled only with the
//! `test-hooks` feature, which `cargo test` turns on (see the self dev-dependency
//! in Cargo.toml) and release builds never have.
//!
//! - `INTAKE_TEST_PANIC_AT_LINE=N`: a worker panics on reaching file line N,
//!   `INTAKE_TEST_PANIC_TIMES` times in this process (default 1).
//! - `INTAKE_TEST_CLOCK_OFFSET=±SECONDS`: this instance's own clock runs off by that much.

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
