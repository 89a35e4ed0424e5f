//! Prometheus metrics, served as text at `GET /metrics`: consents written,
//! API error answers by code (quota refusals among them), the writer's
//! batch sizes and commit latency, where the writer thread's time goes
//! (by phase), request latency by route, and export bytes.
//!
//! One process-wide registry: error answers are built where no app state
//! is at hand (`routes::error::respond`), and every counter is a lock-free
//! atomic or a short lock, so recording costs next to nothing.

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds (seconds) for latency histograms.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Upper bounds for the writer's batch sizes (at most 1024 drafts, the
/// writer's `MAX_BATCH`).
const DRAFTS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The phases of a batch on the writer thread, in the order they come:
/// taking the write lock, the reads a record depends on (an
/// idempotency key seen before, the site's chain head, the latest record
/// of a consent the draft names: `decide`), sealing (the rules' check of
/// that record, the chain's `seq` and `prev_hash` put into the bytes the
/// HTTP worker made, SHA-256), the inserts, and the commit (the fsync).
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Begin,
    Idempotency,
    ChainHead,
    Decide,
    Seal,
    Insert,
    Commit,
}

impl Phase {
    const ALL: [Phase; 7] = [
        Phase::Begin,
        Phase::Idempotency,
        Phase::ChainHead,
        Phase::Decide,
        Phase::Seal,
        Phase::Insert,
        Phase::Commit,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::Begin => "begin",
            Phase::Idempotency => "idempotency",
            Phase::ChainHead => "chain_head",
            Phase::Decide => "decide",
            Phase::Seal => "seal",
            Phase::Insert => "insert",
            Phase::Commit => "commit",
        }
    }
}

/// A histogram with fixed bucket bounds.
struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus one for above the last bound.
    counts: Vec<AtomicU64>,
    /// The sum of the observations, in millionths.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((v * 1e6) as u64, Relaxed);
    }

    /// The `_bucket`, `_sum` and `_count` lines of `name{labels}`.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut total = 0;
        for (i, count) in self.counts.iter().enumerate() {
            total += count.load(Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {total}");
        }
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {total}");
    }
}

pub struct Metrics {
    choices: AtomicU64,
    withdrawals: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    batch_drafts: Histogram,
    commit_seconds: Histogram,
    /// Nanoseconds the writer thread spent in each [`Phase`].
    phase_nanos: [AtomicU64; Phase::ALL.len()],
    requests: Mutex<BTreeMap<(String, String), Histogram>>,
    export_bytes: AtomicU64,
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| Metrics {
        choices: AtomicU64::new(0),
        withdrawals: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        batch_drafts: Histogram::new(DRAFTS),
        commit_seconds: Histogram::new(SECONDS),
        phase_nanos: Default::default(),
        requests: Mutex::new(BTreeMap::new()),
        export_bytes: AtomicU64::new(0),
    })
}

impl Metrics {
    /// A consent written: a choice (given or updated) or a withdrawal.
    pub fn written(&self, withdrawal: bool) {
        let c = if withdrawal {
            &self.withdrawals
        } else {
            &self.choices
        };
        c.fetch_add(1, Relaxed);
    }

    /// An API error answer with its `error` code.
    pub fn error(&self, code: &str) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        *errors.entry(code.to_owned()).or_default() += 1;
    }

    /// One commit of the writer: how many drafts, how long.
    pub fn commit(&self, drafts: usize, took: Duration) {
        self.batch_drafts.observe(drafts as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// Time the writer thread spent in one phase of a batch.
    pub fn phase(&self, phase: Phase, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.phase_nanos[phase as usize].fetch_add(nanos, Relaxed);
    }

    /// A request answered: its method, its route pattern, how long.
    pub fn request(&self, method: String, route: String, took: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests
            .entry((method, route))
            .or_insert_with(|| Histogram::new(SECONDS))
            .observe(took.as_secs_f64());
    }

    pub fn exported(&self, bytes: usize) {
        self.export_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Everything, in Prometheus' text format (version 0.0.4).
    /// The registry as Prometheus text, with the gauges of `connections`
    /// (the node's database pool, on PostgreSQL).
    pub fn render(&self, connections: Option<crate::storage::Connections>) -> String {
        let mut out = String::with_capacity(4096);
        if let Some(c) = connections {
            let _ = writeln!(
                out,
                "# HELP crumb_db_connections This node's connections to PostgreSQL, by state; \
                 limit is the URL's connection_limit.\n\
                 # TYPE crumb_db_connections gauge\n\
                 crumb_db_connections{{state=\"limit\"}} {}\n\
                 crumb_db_connections{{state=\"open\"}} {}\n\
                 crumb_db_connections{{state=\"idle\"}} {}\n\
                 # HELP crumb_db_connection_waiters Requests waiting for a connection now.\n\
                 # TYPE crumb_db_connection_waiters gauge\n\
                 crumb_db_connection_waiters {}",
                c.limit, c.open, c.idle, c.waiting
            );
        }
        let _ = writeln!(
            out,
            "# HELP crumb_consents_written_total Consent records written, by kind.\n\
             # TYPE crumb_consents_written_total counter\n\
             crumb_consents_written_total{{kind=\"choice\"}} {}\n\
             crumb_consents_written_total{{kind=\"withdrawal\"}} {}",
            self.choices.load(Relaxed),
            self.withdrawals.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP crumb_api_errors_total API error answers by error code (too_many_requests: write quota refusals).\n\
             # TYPE crumb_api_errors_total counter"
        );
        for (code, n) in self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "crumb_api_errors_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP crumb_commit_batch_drafts Drafts per writer commit (group commit).\n\
             # TYPE crumb_commit_batch_drafts histogram"
        );
        self.batch_drafts
            .render(&mut out, "crumb_commit_batch_drafts", "");
        let _ = writeln!(
            out,
            "# HELP crumb_commit_seconds Time to append and commit one batch.\n\
             # TYPE crumb_commit_seconds histogram"
        );
        self.commit_seconds
            .render(&mut out, "crumb_commit_seconds", "");
        let _ = writeln!(
            out,
            "# HELP crumb_writer_phase_seconds_total Time the writer thread spent, by phase of a batch.\n\
             # TYPE crumb_writer_phase_seconds_total counter"
        );
        for phase in Phase::ALL {
            let nanos = self.phase_nanos[phase as usize].load(Relaxed);
            let _ = writeln!(
                out,
                "crumb_writer_phase_seconds_total{{phase=\"{}\"}} {}",
                phase.name(),
                nanos as f64 / 1e9
            );
        }
        let _ = writeln!(
            out,
            "# HELP crumb_request_seconds Request latency by method and route.\n\
             # TYPE crumb_request_seconds histogram"
        );
        for ((method, route), h) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            h.render(&mut out, "crumb_request_seconds", &labels);
        }
        let _ = writeln!(
            out,
            "# HELP crumb_export_bytes_total Bytes of exports sent.\n\
             # TYPE crumb_export_bytes_total counter\n\
             crumb_export_bytes_total {}",
            self.export_bytes.load(Relaxed)
        );
        out
    }
}

/// Times consecutive phases on one thread: each [`Laps::lap`] charges the
/// time since the previous one (or the start) to a phase.
pub struct Laps(Instant);

impl Laps {
    pub fn start() -> Laps {
        Laps(Instant::now())
    }

    pub fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        global().phase(phase, now - self.0);
        self.0 = now;
    }
}

/// Middleware: times every request by its route pattern (`default` for
/// what no route matched: static pages, 404s).
pub async fn timed(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "default".to_owned());
    global().request(method, route, started.elapsed());
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.5, 1.5, 9.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"1\"} 1\nx_bucket{a=\"b\",le=\"2\"} 3\n\
             x_bucket{a=\"b\",le=\"+Inf\"} 4\nx_sum{a=\"b\"} 12.5\nx_count{a=\"b\"} 4\n"
        );
    }
}
