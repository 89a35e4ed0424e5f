//! Logging setup: `tracing` to stderr, filtered by `CRUMB_LOG` (same syntax
//! as `RUST_LOG`), `info` by default; colours only on a terminal, so log
//! files and journald get plain text.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_env("CRUMB_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    // A second init (tests) is harmless, so its error is ignored.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
