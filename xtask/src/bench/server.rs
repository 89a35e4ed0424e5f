//! `cargo xtask bench server`: the release server on a temporary database,
//! driven by `wrk` from a separate process over 127.0.0.1. Measures the
//! no-op `GET /healthz` rate and the durable `POST .../consents` rate at
//! several concurrencies, then consent writes sent open-loop at half the
//! best write rate for their latency (`open_loop`: queueing counted), and
//! no-op requests at that same rate (the floor this machine and the
//! generator put under any p99), and on SQLite the open-loop writes again
//! on a database in RAM (`/dev/shm`), which tells the disk's flushes' share
//! of the p99 from the server's own. Afterwards every 201-acknowledged consent
//! must be in the database and the chain must verify. The writer thread's profile
//! (its time by phase, its batch sizes) is taken from `/metrics` around the
//! write run at 128 connections (`profile`).
//!
//! Budgets: writes ≥ 0.5 × the no-op rate; p99 ≤ 10 ms at half the max
//! write rate.
//!
//! `--db postgres`: the same on a throwaway PostgreSQL cluster, then the
//! write run at 128 connections and the open-loop measure again with two
//! nodes on that database, the load split evenly between them
//! (`bench/results/server-postgres.json`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::json;

use super::open_loop;
use super::profile::{Profile, Snapshot};
use super::{Db, Server, crumb_binary, crumb_ok, ensure_apt, http_get_as, machine, save, scratch};

/// One wrk run's figures, from the `CRUMB ...` line our Lua script prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    pub connections: usize,
    pub requests: u64,
    /// Answers with the expected status (200 for healthz, 201 for writes).
    pub ok: u64,
    pub bad: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "connections": self.connections,
            "requests": self.requests,
            "ok": self.ok,
            "bad": self.bad,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "rate_per_s": round(self.rate(), 0),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The headers of a widget's consent POST (the open-loop generator sends
/// the same).
pub const HEADERS: [(&str, &str); 3] = [
    ("Origin", "http://localhost:8080"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    ),
    ("Accept-Language", "en-GB,en;q=0.9"),
];

/// The wrk script: realistic consent bodies in rotation, GETs of paths in
/// rotation with the widget's headers, or plain GETs; an exact count of
/// expected answers across threads.
const LUA: &str = r#"
local bodies = { BODIES }
local paths = { PATHS }
local expect = EXPECT
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0; n = 0 end
local headers = { ["Content-Type"] = "application/json", HEADERS }
local get_headers = { HEADERS }
function request()
  n = n + 1
  if #paths > 0 then return wrk.format("GET", paths[(n % #paths) + 1], get_headers) end
  if #bodies == 0 then return wrk.format("GET", wrk.path) end
  return wrk.format("POST", wrk.path, headers, bodies[(n % #bodies) + 1])
end
function response(status, hdrs, body)
  if status == expect then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    "CRUMB requests=%d ok=%d bad=%d errors=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, o, b, e.connect + e.read + e.write + e.timeout, summary.duration,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), math.floor(latency.max)))
end
"#;

/// What a visitor's widget sends: accept all, reject all, and custom
/// choices by category and by service, in the shape the widget builds.
pub fn consent_bodies(text_hash: &str) -> Vec<String> {
    let base = |method: &str, cats: &str, svcs: &str| {
        format!(
            r#"{{"revision":1,"language":"en","text_hash":"{text_hash}","method":"{method}","categories":{{{cats}}},"services":{{{svcs}}}}}"#
        )
    };
    vec![
        base(
            "accept_all",
            r#""necessary":true,"functional":true,"analytics":true,"marketing":true"#,
            "",
        ),
        base(
            "reject_all",
            r#""necessary":true,"functional":false,"analytics":false,"marketing":false"#,
            "",
        ),
        base(
            "custom",
            r#""necessary":true,"functional":true,"analytics":true,"marketing":false"#,
            "",
        ),
        base(
            "custom",
            r#""necessary":true,"functional":false,"analytics":true,"marketing":true"#,
            r#""google-analytics":true,"hotjar":false,"piwik-pro":false,"vwo":true,"meta-pixel":false,"reddit-pixel":false,"youtube":true"#,
        ),
    ]
}

fn lua(dir: &Path, name: &str, bodies: &[String], expect: u16) -> anyhow::Result<String> {
    lua_with_paths(dir, name, bodies, &[], expect)
}

/// [`lua`] sending GETs of `paths` in rotation instead, when there are any.
fn lua_with_paths(
    dir: &Path,
    name: &str,
    bodies: &[String],
    paths: &[String],
    expect: u16,
) -> anyhow::Result<String> {
    let quoted: Vec<String> = bodies.iter().map(|b| format!("[[{b}]]")).collect();
    let paths: Vec<String> = paths.iter().map(|p| format!("[[{p}]]")).collect();
    let script = LUA
        .replace("BODIES", &quoted.join(", "))
        .replace("PATHS", &paths.join(", "))
        .replace("EXPECT", &expect.to_string())
        .replace(
            "HEADERS",
            &HEADERS
                .iter()
                .map(|(name, value)| format!("[\"{name}\"] = \"{value}\""))
                .collect::<Vec<_>>()
                .join(", "),
        );
    let path = dir.join(name);
    std::fs::write(&path, script)?;
    Ok(path.to_string_lossy().into_owned())
}

/// Runs wrk once and parses our script's summary line.
pub fn wrk(url: &str, script: &str, connections: usize, seconds: u64) -> anyhow::Result<Run> {
    let threads = connections.min(2);
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--timeout",
            "5s",
            "-s",
            script,
            url,
        ])
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("CRUMB "))
        .with_context(|| format!("no summary in wrk's output: {text}"))?;
    let fields: BTreeMap<&str, f64> = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect();
    let f = |k: &str| fields.get(k).copied().unwrap_or_default();
    Ok(Run {
        connections,
        requests: f("requests") as u64,
        ok: f("ok") as u64,
        bad: f("bad") as u64,
        errors: f("errors") as u64,
        seconds: f("duration_us") / 1e6,
        p50_ms: f("p50_us") / 1e3,
        p90_ms: f("p90_us") / 1e3,
        p99_ms: f("p99_us") / 1e3,
        max_ms: f("max_us") / 1e3,
    })
}

fn print_run(kind: &str, r: &Run) {
    println!(
        "{kind:<22} {:>5} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>7}",
        r.connections,
        r.rate(),
        r.p50_ms,
        r.p99_ms,
        r.max_ms,
        r.bad + r.errors
    );
}

/// Counts the records in the database and checks the chain with
/// `crumb verify --db`.
pub fn count_and_verify(bin: &Path, db: &Db) -> anyhow::Result<u64> {
    let out = crumb_ok(bin, db, &["verify", "--db"])?;
    out.lines()
        .find_map(|l| l.strip_prefix("OK: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected verify output: {out}"))
}

/// Measures the write rate at `connections` against a running server
/// (used by the export bench for the empty-vs-full comparison too).
pub struct Writes {
    pub script: String,
    pub url: String,
    pub bodies: Vec<String>,
}

/// Visit checks (`GET /v1/sites/demo/consents/{id}`, with a widget's
/// headers) of consents recorded for them, in rotation.
struct Visits {
    ids: Vec<String>,
    script: String,
}

impl Visits {
    /// Records `VISIT_IDS` consents (one request each) and writes the
    /// script that asks about them.
    fn prepare(server: &Server, dir: &Path, bodies: &[String]) -> anyhow::Result<Visits> {
        const VISIT_IDS: usize = 500;
        let headers: String = HEADERS
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect::<String>()
            + "Content-Type: application/json\r\n";
        let mut ids = Vec::with_capacity(VISIT_IDS);
        for i in 0..VISIT_IDS {
            let body = &bodies[i % bodies.len()];
            let (status, receipt) =
                super::http(&server.addr, "POST /v1/sites/demo/consents", &headers, body)?;
            if status != 201 {
                bail!("recording a consent for the visit checks: {status} {receipt}");
            }
            let receipt: serde_json::Value = serde_json::from_str(&receipt)?;
            let id = receipt["consent_id"]
                .as_str()
                .context("a receipt without consent_id")?;
            ids.push(id.to_owned());
        }
        let paths: Vec<String> = ids
            .iter()
            .map(|id| format!("/v1/sites/demo/consents/{id}"))
            .collect();
        Ok(Visits {
            script: lua_with_paths(dir, "visit.lua", &[], &paths, 200)?,
            ids,
        })
    }
}

/// Consent writes sent open-loop to the node at `addr`: `rate` a second
/// for `seconds` over `connections` connections, every answer a 201.
fn open_loop_writes(
    addr: &str,
    bodies: &[String],
    rate: f64,
    seconds: f64,
    connections: usize,
) -> anyhow::Result<open_loop::OpenLoop> {
    open_loop::run(
        addr,
        "/v1/sites/demo/consents",
        bodies,
        201,
        rate,
        seconds,
        connections,
    )
}

impl Writes {
    pub fn prepare(server: &Server, dir: &Path) -> anyhow::Result<Writes> {
        let config: serde_json::Value =
            serde_json::from_str(&super::http_get(&server.addr, "/v1/sites/demo/config")?)?;
        let hash = config["text_hashes"]["en"]
            .as_str()
            .context("the demo config has no English text hash")?;
        let bodies = consent_bodies(hash);
        Ok(Writes {
            script: lua(dir, "post.lua", &bodies, 201)?,
            bodies,
            url: server.url("/v1/sites/demo/consents"),
        })
    }
}

pub fn run(smoke: bool, postgres: bool) -> anyhow::Result<()> {
    ensure_apt("wrk", "wrk")?;
    let bin = crumb_binary(smoke)?;
    let dir = scratch(if postgres {
        "server-postgres"
    } else {
        "server"
    })?;
    // On PostgreSQL: a throwaway cluster, stopped when the bench ends.
    let cluster = postgres.then(crate::postgres::Cluster::start).transpose()?;
    let db = match &cluster {
        Some(cluster) => Db::postgres(&cluster.url, &dir),
        None => Db::sqlite(dir.join("bench.db")),
    };
    let engine = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("\nengine: {engine}");
    if smoke {
        // CI runs the smoke; its figures are no verdict on the budgets,
        // and a reader of CI's output should not take them for one.
        println!(
            "smoke run: debug build, 1 s at 8 connections; it checks that the bench runs and \
             the log verifies after it. The budgets are measured by `cargo xtask bench server` \
             (release build, 8 s per level, up to 256 connections)."
        );
    }
    crumb_ok(&bin, &db, &["site", "create", "examples/demo-site.json"])?;
    // `/metrics` answers an owner of every site.
    let token = crumb_ok(&bin, &db, &["token", "create", "--role", "owner"])?;
    let token = token.trim();
    let server = Server::start(&bin, &db, None)?;
    let writer = || -> anyhow::Result<Snapshot> {
        Ok(Snapshot::parse(&http_get_as(
            &server.addr,
            "/metrics",
            Some(token),
        )?))
    };
    let writes = Writes::prepare(&server, &dir)?;
    let visits = Visits::prepare(&server, &dir, &writes.bodies)?;
    let health = lua(&dir, "health.lua", &[], 200)?;
    let health_url = server.url("/healthz");

    let (seconds, levels): (u64, &[usize]) = if smoke {
        (1, &[8])
    } else {
        (8, &[1, 8, 32, 128, 256])
    };
    println!(
        "\n{:<22} {:>5} {:>10} {:>8} {:>8} {:>8} {:>7}",
        "run", "conns", "ok/s", "p50 ms", "p99 ms", "max ms", "non-ok"
    );
    // A short warm-up so the first measured level does not pay for cold
    // caches and page faults.
    wrk(&health_url, &health, 8, 1)?;
    let warmup = wrk(&writes.url, &writes.script, 8, 1)?;
    let mut noop = Vec::new();
    let mut post = Vec::new();
    for &c in levels {
        let r = wrk(&health_url, &health, c, seconds)?;
        print_run("GET /healthz", &r);
        noop.push(r);
    }
    // The writer's profile at 128 connections (the one level of a smoke
    // run there).
    let profiled = if smoke { levels[0] } else { 128 };
    let mut profile = None;
    for &c in levels {
        let before = if c == profiled { Some(writer()?) } else { None };
        let r = wrk(&writes.url, &writes.script, c, seconds)?;
        print_run("POST consents", &r);
        if let Some(before) = before {
            profile = Some(Profile::between(&before, &writer()?));
        }
        post.push(r);
    }
    // The visit check every returning visitor's page view sends, on a log
    // as large as the write runs left it.
    let visit_connections = if smoke { levels[0] } else { 128 };
    let visit = wrk(&server.url("/"), &visits.script, visit_connections, seconds)?;
    print_run("GET consent (visit)", &visit);
    let best = |runs: &[Run]| {
        runs.iter()
            .copied()
            .max_by(|a, b| a.rate().total_cmp(&b.rate()))
            .unwrap_or_default()
    };
    let (max_noop, max_write) = (best(&noop), best(&post));

    // Half the max write rate, open-loop: requests leave at that rate
    // whatever the answers' timing, so queueing delay is in the p99.
    let target = max_write.rate() / 2.0;
    let open_seconds = (seconds.max(2) * 2) as f64;
    let open = open_loop_writes(&server.addr, &writes.bodies, target, open_seconds, 64)?;
    let print_open = |kind: &str, r: &open_loop::OpenLoop| {
        println!(
            "{:<22} {:>5} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            kind,
            r.connections,
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.bad + r.lost
        );
    };
    print_open("POST consents, open", &open);
    // The same open-loop rate of no-op requests: the latency this machine,
    // the generator and the HTTP side add before any write is involved,
    // the floor under the writes' p99.
    let floor = open_loop::run(&server.addr, "/healthz", &[], 200, target, open_seconds, 64)?;
    print_open("GET /healthz, open", &floor);
    // Two nodes on one PostgreSQL database: the same write run at 128
    // connections and the same open-loop measure, split evenly between
    // the nodes.
    let two_nodes = match &cluster {
        Some(_) => {
            let second = Server::start(&bin, &db, None)?;
            let urls = [writes.url.clone(), second.url("/v1/sites/demo/consents")];
            let c = if smoke { levels[0] } else { 128 };
            let max = wrk_split(&urls, &writes.script, c, seconds)?;
            print_run("POST, two nodes", &max);
            let open = open_loop_split(
                &[server.addr.clone(), second.addr.clone()],
                &writes.bodies,
                max.rate() / 2.0,
                open_seconds,
            )?;
            print_open("POST, two nodes, open", &open);
            second.stop()?;
            Some((max, open))
        }
        None => None,
    };
    server.stop()?;
    // SQLite only: the same open-loop run on a database in RAM, where a
    // flush costs nothing, to tell the disk's share of the p99 from the
    // server's own.
    let in_memory = if postgres || smoke {
        None
    } else {
        in_memory_open_loop(&bin, target, open_seconds)?
    };
    if let Some(r) = &in_memory {
        print_open("POST, database in RAM", r);
    }
    // SQLite only: issue 16's reference design on the same machine and disk.
    let probe = if postgres || smoke {
        None
    } else {
        Some(naive_probe(&dir, &writes, &health, seconds)?)
    };
    if let Some(p) = &probe {
        print_run("probe GET /healthz", &p.noop);
        print_run("probe POST", &p.writes);
    }
    if let Some(p) = &profile {
        p.print(profiled);
    }

    let mut acknowledged: u64 =
        post.iter().chain([&warmup]).map(|r| r.ok).sum::<u64>() + open.ok + visits.ids.len() as u64;
    let stored = count_and_verify(&bin, &db)?;
    let ratio = max_write.rate() / max_noop.rate();
    println!(
        "\nmax no-op {:.0}/s, max durable writes {:.0}/s: ratio {:.2} (budget >= 0.50) {}",
        max_noop.rate(),
        max_write.rate(),
        ratio,
        verdict(ratio >= 0.5)
    );
    println!(
        "open-loop at {:.0}/s (half the max, {} conns): {:.0}/s answered 201, p99 {:.2} ms (budget <= 10 ms) {}; no-op at that rate: p99 {:.2} ms",
        target,
        open.connections,
        open.rate(),
        open.p99_ms,
        verdict(open.p99_ms <= 10.0),
        floor.p99_ms
    );
    if let Some(r) = &in_memory {
        println!(
            "the same writes with the database in RAM (/dev/shm, flushes free): p50 {:.2} ms, p99 {:.2} ms",
            r.p50_ms, r.p99_ms
        );
    }
    if let Some(p) = &probe {
        println!(
            "naive probe (issue 16's reference design, server/examples/naive_probe.rs), same machine and disk: max durable writes {:.0}/s, its no-op {:.0}/s: ratio {:.2} (Crumb {:.2})",
            p.writes.rate(),
            p.noop.rate(),
            p.ratio(),
            ratio
        );
    }
    // wrk stops at its deadline without reading the answers still in
    // flight, so up to one write per connection and run may be stored
    // without having been counted (and so may an open-loop request whose
    // answer timed out); none may be missing.
    let mut in_flight: u64 = post
        .iter()
        .chain([&warmup])
        .map(|r| r.connections as u64)
        .sum::<u64>()
        + open.lost;
    if let Some((max, open)) = &two_nodes {
        acknowledged += max.ok + open.ok;
        in_flight += max.connections as u64 + open.lost;
        println!(
            "two nodes: max durable writes {:.0}/s (ratio to one node's no-op {:.2}); open-loop at {:.0}/s: p99 {:.2} ms (budget <= 10 ms) {}",
            max.rate(),
            max.rate() / max_noop.rate(),
            open.offered_per_s,
            open.p99_ms,
            verdict(open.p99_ms <= 10.0)
        );
    }
    println!(
        "visit checks (GET .../consents/{{id}}, {} consents in rotation) at {} conns: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        visits.ids.len(),
        visit.connections,
        visit.rate(),
        visit.p50_ms,
        visit.p99_ms
    );
    if visit.bad + visit.errors > 0 {
        bail!(
            "{} visit checks were not answered 200",
            visit.bad + visit.errors
        );
    }
    let durable = stored >= acknowledged && stored - acknowledged <= in_flight;
    println!(
        "database: {stored} records, chain verifies; 201-acknowledged: {acknowledged} (+ at most {in_flight} cut off in flight) {}",
        verdict(durable)
    );
    if !durable {
        bail!("{acknowledged} consents were acknowledged but {stored} are stored");
    }
    save(
        if postgres {
            "server-postgres"
        } else {
            "server"
        },
        smoke,
        &json!({
            "bench": "server",
            "engine": engine,
            "machine": machine(),
            "seconds_per_run": seconds,
            "healthz": noop.iter().map(Run::json).collect::<Vec<_>>(),
            "consents": post.iter().map(Run::json).collect::<Vec<_>>(),
            "open_loop": open.json(),
            "open_loop_noop": floor.json(),
            "visit_checks": visit.json(),
            "open_loop_database_in_ram": in_memory.as_ref().map(open_loop::OpenLoop::json),
            "writer_profile": profile.as_ref().map(|p| json!({
                "connections": profiled,
                "profile": p.json(),
            })),
            "max_noop_per_s": round(max_noop.rate(), 0),
            "max_write_per_s": round(max_write.rate(), 0),
            "write_to_noop_ratio": round(ratio, 3),
            "acknowledged": acknowledged,
            "stored": stored,
            "unacknowledged_in_flight_max": in_flight,
            "budgets": {
                "write_ratio_ge_0_5": ratio >= 0.5,
                "open_loop_p99_le_10ms": open.p99_ms <= 10.0,
            },
            "naive_probe": probe.as_ref().map(|p| json!({
                "healthz": p.noop.json(),
                "consents": p.writes.json(),
                "write_to_noop_ratio": round(p.ratio(), 3),
            })),
            "two_nodes": two_nodes.as_ref().map(|(max, open)| json!({
                "consents": max.json(),
                "open_loop": open.json(),
                "write_to_noop_ratio": round(max.rate() / max_noop.rate(), 3),
                "open_loop_p99_le_10ms": open.p99_ms <= 10.0,
            })),
        }),
    )?;
    Ok(())
}

/// Issue 16's reference design measured like Crumb: its best durable
/// write rate (128 or 256 connections) and its own no-op rate.
struct Probe {
    noop: Run,
    writes: Run,
}

impl Probe {
    fn ratio(&self) -> f64 {
        self.writes.rate() / self.noop.rate()
    }
}

/// Builds and runs `server/examples/naive_probe.rs` (a deliberately naive
/// durable-write server: one SQLite writer thread with group commit, WAL
/// with `synchronous=FULL`, a SHA-256 chain, no validation) on a database
/// in `dir`, so the bar issue 16 set is measured on this machine and disk.
fn naive_probe(dir: &Path, writes: &Writes, health: &str, seconds: u64) -> anyhow::Result<Probe> {
    crate::cmd(
        "cargo",
        &[
            "build",
            "--quiet",
            "--release",
            "-p",
            "crumb-server",
            "--example",
            "naive_probe",
        ],
    )?;
    let mut command = Command::new("target/release/examples/naive_probe");
    command.arg(dir.join("probe.db"));
    let probe = Server::spawn(command)?;
    let url = probe.url("/v1/sites/demo/consents");
    wrk(&url, &writes.script, 8, 1)?;
    let mut best = wrk(&url, &writes.script, 128, seconds)?;
    let more = wrk(&url, &writes.script, 256, seconds)?;
    if more.rate() > best.rate() {
        best = more;
    }
    let noop = wrk(&probe.url("/healthz"), health, 128, seconds)?;
    probe.stop()?;
    Ok(Probe { noop, writes: best })
}

/// One wrk run spread over several nodes at once (`connections` split
/// evenly): rates add up, latencies are the worst node's.
fn wrk_split(
    urls: &[String],
    script: &str,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Run> {
    let each = (connections / urls.len()).max(1);
    let runs = std::thread::scope(|s| {
        let runs: Vec<_> = urls
            .iter()
            .map(|url| s.spawn(move || wrk(url, script, each, seconds)))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("a wrk thread"))
            .collect::<anyhow::Result<Vec<Run>>>()
    })?;
    let worst = |f: fn(&Run) -> f64| runs.iter().map(f).fold(0.0, f64::max);
    Ok(Run {
        connections: each * urls.len(),
        requests: runs.iter().map(|r| r.requests).sum(),
        ok: runs.iter().map(|r| r.ok).sum(),
        bad: runs.iter().map(|r| r.bad).sum(),
        errors: runs.iter().map(|r| r.errors).sum(),
        seconds: worst(|r| r.seconds),
        p50_ms: worst(|r| r.p50_ms),
        p90_ms: worst(|r| r.p90_ms),
        p99_ms: worst(|r| r.p99_ms),
        max_ms: worst(|r| r.max_ms),
    })
}

/// Open-loop writes at `rate` in all, split evenly over several nodes:
/// counts add up, latencies are the worst node's.
fn open_loop_split(
    addrs: &[String],
    bodies: &[String],
    rate: f64,
    seconds: f64,
) -> anyhow::Result<open_loop::OpenLoop> {
    let share = rate / addrs.len() as f64;
    let runs = std::thread::scope(|s| {
        let runs: Vec<_> = addrs
            .iter()
            .map(|addr| s.spawn(move || open_loop_writes(addr, bodies, share, seconds, 32)))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("an open-loop thread"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let worst = |f: fn(&open_loop::OpenLoop) -> f64| runs.iter().map(f).fold(0.0, f64::max);
    Ok(open_loop::OpenLoop {
        offered_per_s: rate,
        connections: runs.iter().map(|r| r.connections).sum(),
        sent: runs.iter().map(|r| r.sent).sum(),
        ok: runs.iter().map(|r| r.ok).sum(),
        bad: runs.iter().map(|r| r.bad).sum(),
        lost: runs.iter().map(|r| r.lost).sum(),
        seconds: worst(|r| r.seconds),
        p50_ms: worst(|r| r.p50_ms),
        p99_ms: worst(|r| r.p99_ms),
        p999_ms: worst(|r| r.p999_ms),
        max_ms: worst(|r| r.max_ms),
    })
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// The open-loop write run at `rate` against a server whose database is
/// on `/dev/shm` (tmpfs: no flush waits for a disk), on a fresh database.
/// `None` where there is no `/dev/shm`.
fn in_memory_open_loop(
    bin: &Path,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Option<open_loop::OpenLoop>> {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return Ok(None);
    }
    let dir = shm.join(format!("crumb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let run = || -> anyhow::Result<open_loop::OpenLoop> {
        let db = Db::sqlite(dir.join("bench.db"));
        crumb_ok(bin, &db, &["site", "create", "examples/demo-site.json"])?;
        let server = Server::start(bin, &db, None)?;
        let writes = Writes::prepare(&server, &dir)?;
        wrk(&writes.url, &writes.script, 8, 1)?;
        let r = open_loop_writes(&server.addr, &writes.bodies, rate, seconds, 64)?;
        server.stop()?;
        Ok(r)
    };
    let r = run();
    let _ = std::fs::remove_dir_all(&dir);
    r.map(Some)
}
