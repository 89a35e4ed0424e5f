//! Logging setup: `tracing` to stderr, filtered by `CRUMB_LOG` (same syntax
//! as `RUST_LOG`), `info` by default; colours only on a terminal, so log
//! files and journald get plain text. `CRUMB_LOG_FORMAT=json` writes one
//! JSON object per line instead, for log collectors (Loki, Elasticsearch,
//! Datadog, Cloud Logging) that read fields rather than text.
//!
//! By default actix-http's connection dispatcher is silent: it logs every
//! malformed request line or header a client sends at ERROR, and a client's
//! mistakes are not the server's errors (`CRUMB_LOG=info,actix_http=debug`
//! shows them again).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) {
    let default = || EnvFilter::new(format!("{default_level},actix_http::h1::dispatcher=off"));
    // A filter that does not parse is said, not silently replaced.
    let (filter, bad_filter) = match std::env::var("CRUMB_LOG") {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(e) => (
                default(),
                Some(format!("CRUMB_LOG={value:?} is not a filter ({e})")),
            ),
        },
        _ => (default(), None),
    };
    let format = std::env::var("CRUMB_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless, so its error is ignored.
    let bad_format = match format.as_str() {
        "json" => {
            let _ = builder.json().flatten_event(true).try_init();
            None
        }
        "" | "text" => {
            let _ = builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init();
            None
        }
        other => {
            let _ = builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init();
            Some(format!("CRUMB_LOG_FORMAT={other:?} is not text or json"))
        }
    };
    for problem in [bad_filter, bad_format].into_iter().flatten() {
        tracing::warn!("{problem}; logging with the defaults");
    }
}
