//! Logging setup: `tracing` to stderr, filtered by `CRUMB_LOG` (same syntax
//! as `RUST_LOG`), `info` by default; colours only on a terminal, so log
//! files and journald get plain text.
//!
//! By default actix-http's connection dispatcher is silent: it logs every
//! malformed request line or header a client sends at ERROR, and a client's
//! mistakes are not the server's errors (`CRUMB_LOG=info,actix_http=debug`
//! shows them again).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_env("CRUMB_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!("{default_level},actix_http::h1::dispatcher=off"))
    });
    // A second init (tests) is harmless, so its error is ignored.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
