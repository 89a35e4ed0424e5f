//! `cargo xtask bench export`: the consent log at scale. Seeds 1,000,000
//! records, then measures `crumb export` (NDJSON and CSV) and `crumb verify`
//! wall time and peak RSS (GNU time), and compares the HTTP write rate on
//! an empty database with the rate on one holding 10,000,000 records.
//!
//! Budgets: export ≤ 3 s, peak RSS ≤ 64 MB, verify ≤ 2 s.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::json;

use super::server::{Writes, round, verdict, wrk};
use super::{Db, Server, crumb_binary, crumb_ok, ensure_apt, machine, save, scratch, with_db};

/// Wall time and peak resident memory of one command.
#[derive(Debug, Clone, Copy)]
struct Usage {
    seconds: f64,
    peak_rss_mb: f64,
}

/// Runs `crumb args` under GNU time, discarding stdout. Dirty pages from
/// the previous step (the seeding writes gigabytes) are flushed first, so
/// their writeback is not charged to this one.
fn measure(bin: &Path, db: &Db, args: &[&str]) -> anyhow::Result<Usage> {
    Command::new("sync").status().context("running sync")?;
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "CRUMB_TIME %e %M"]).arg(bin).args(args);
    let out = with_db(&mut timed, db)
        .output()
        .context("running /usr/bin/time")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("crumb {} failed: {err}", args.join(" "));
    }
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("CRUMB_TIME "))
        .with_context(|| format!("no timing from GNU time: {err}"))?;
    let mut parts = line.split_whitespace();
    let seconds: f64 = parts.next().unwrap_or_default().parse()?;
    let kb: f64 = parts.next().unwrap_or_default().parse()?;
    Ok(Usage {
        seconds,
        peak_rss_mb: kb / 1024.0,
    })
}

fn seed(bin: &Path, db: &Db, count: u64) -> anyhow::Result<f64> {
    let out = crumb_ok(
        bin,
        db,
        &["seed", "--site", "demo", "--count", &count.to_string()],
    )?;
    print!("  {out}");
    // "seeded N records in S s (R/s)"
    out.split('(')
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("unexpected seed output: {out}"))
}

/// The consent write rate over HTTP at 128 connections, on `db` as it is.
fn write_rate(bin: &Path, db: &Db, dir: &Path, seconds: u64) -> anyhow::Result<f64> {
    let server = Server::start(bin, db, None)?;
    let writes = Writes::prepare(&server, dir)?;
    wrk(&writes.url, &writes.script, 32, 1)?;
    let run = wrk(&writes.url, &writes.script, 128, seconds)?;
    server.stop()?;
    Ok(run.rate())
}

pub fn run(smoke: bool) -> anyhow::Result<()> {
    ensure_apt("time", "time")?;
    ensure_apt("wrk", "wrk")?;
    let bin = crumb_binary(smoke)?;
    let (count, big, seconds) = if smoke {
        (20_000u64, 50_000u64, 1)
    } else {
        (1_000_000, 10_000_000, 10)
    };

    println!("write rate on an empty database");
    let dir = scratch("export-empty")?;
    let empty_db = Db::sqlite(dir.join("bench.db"));
    crumb_ok(
        &bin,
        &empty_db,
        &["site", "create", "examples/demo-site.json"],
    )?;
    let empty_rate = write_rate(&bin, &empty_db, &dir, seconds)?;
    drop(std::fs::remove_dir_all(&dir));

    let dir = scratch("export")?;
    let db = Db::sqlite(dir.join("bench.db"));
    crumb_ok(&bin, &db, &["site", "create", "examples/demo-site.json"])?;
    println!("seeding {count} records");
    let seed_rate = seed(&bin, &db, count)?;

    let out = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (ndjson, csv) = (out("export.ndjson"), out("export.csv"));
    let export_ndjson = measure(
        &bin,
        &db,
        &[
            "export", "--site", "demo", "--format", "ndjson", "-o", &ndjson,
        ],
    )?;
    let export_csv = measure(
        &bin,
        &db,
        &["export", "--site", "demo", "--format", "csv", "-o", &csv],
    )?;
    let verify = measure(&bin, &db, &["verify", &ndjson])?;
    let lines = std::fs::read(&ndjson)?
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    if lines != count {
        bail!("the export has {lines} lines, expected {count}");
    }
    let size_mb = std::fs::metadata(&ndjson)?.len() as f64 / 1e6;
    let csv_mb = std::fs::metadata(&csv)?.len() as f64 / 1e6;
    drop(std::fs::remove_file(&ndjson));
    drop(std::fs::remove_file(&csv));

    println!("growing the database to {big} records");
    let grow_rate = seed(&bin, &db, big - count)?;
    let full_rate = write_rate(&bin, &db, &dir, seconds)?;
    let db_gb = std::fs::metadata(&db.setting)?.len() as f64 / 1e9;

    println!(
        "\n{:<28} {:>9} {:>13} {:>8}",
        "step", "seconds", "peak RSS MB", "budget"
    );
    let row = |name: &str, u: &Usage, budget_s: f64| {
        let ok = u.seconds <= budget_s && u.peak_rss_mb <= 64.0;
        println!(
            "{name:<28} {:>9.2} {:>13.1} {:>8}",
            u.seconds,
            u.peak_rss_mb,
            verdict(ok)
        );
        ok
    };
    let ok_ndjson = row(
        &format!("export NDJSON ({size_mb:.0} MB)"),
        &export_ndjson,
        3.0,
    );
    let ok_csv = row(&format!("export CSV ({csv_mb:.0} MB)"), &export_csv, 3.0);
    let ok_verify = row("verify NDJSON", &verify, 2.0);
    println!(
        "\nHTTP consent writes, 128 connections: empty database {empty_rate:.0}/s, \
         {big} records ({db_gb:.1} GB) {full_rate:.0}/s ({:+.0}%)",
        (full_rate / empty_rate - 1.0) * 100.0
    );
    println!("seeding (store batches of 10,000): {seed_rate:.0}/s, then {grow_rate:.0}/s");
    let usage = |u: &Usage| json!({"seconds": u.seconds, "peak_rss_mb": round(u.peak_rss_mb, 1)});
    save(
        "export",
        smoke,
        &json!({
            "bench": "export",
            "machine": machine(),
            "records": count,
            "export_ndjson": usage(&export_ndjson),
            "export_ndjson_mb": round(size_mb, 1),
            "export_csv": usage(&export_csv),
            "export_csv_mb": round(csv_mb, 1),
            "verify_ndjson": usage(&verify),
            "write_rate_empty_per_s": round(empty_rate, 0),
            "write_rate_full_per_s": round(full_rate, 0),
            "full_records": big,
            "full_db_gb": round(db_gb, 2),
            "seed_rate_per_s": round(seed_rate, 0),
            "budgets": {
                "export_ndjson": ok_ndjson,
                "export_csv": ok_csv,
                "verify": ok_verify,
            },
        }),
    )?;
    if !smoke {
        drop(std::fs::remove_dir_all(&dir));
    }
    Ok(())
}
