//! `cargo xtask test`'s PostgreSQL crash check: a node writes under load
//! while its database stops the way a crash would (`pg_ctl stop -m
//! immediate`); after PostgreSQL recovers, every consent the node answered
//! 201 must be stored and the chain must verify. It guards the append's
//! commit protocol (`COMMIT_THEN_FLUSH` in
//! `server/src/storage/postgres/log.rs`): the batch's own commit does not
//! wait for the disk, so a 201 sent before the flush that follows it would
//! be lost with the WAL buffers here. (The integration suite kills nodes;
//! this kills the database, which the suite's shared cluster cannot.)

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::bail;

use super::server::Writes;
use super::{Db, Server, crumb_binary, crumb_ok, http, scratch};
use crate::postgres::Cluster;

/// Writers posting at once, each one request after another.
const WRITERS: usize = 16;

pub fn postgres_crash_check() -> anyhow::Result<()> {
    let bin = crumb_binary(true)?;
    let dir = scratch("postgres-crash")?;
    let cluster = Cluster::start()?;
    let db = Db::postgres(&cluster.url, &dir);
    crumb_ok(&bin, &db, &["site", "create", "examples/demo-site.json"])?;
    // The node's log would be thousands of lines of refused writes once
    // the database is gone; those refusals are what this check expects.
    let server = Server::start_logging(&bin, &db, None, "off")?;
    let bodies = Writes::prepare(&server, &dir)?.bodies;

    let stop = AtomicBool::new(false);
    let acknowledged: Vec<String> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (addr, body, stop) = (&server.addr, &bodies[i % bodies.len()], &stop);
                s.spawn(move || {
                    let mut ids = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        // Refused or failed writes (503 once the database
                        // is gone) are simply not acknowledged.
                        if let Ok(Some(id)) = post_consent(addr, body) {
                            ids.push(id);
                        }
                    }
                    ids
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        let crashed = cluster.crash();
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let ids = writers
            .into_iter()
            .flat_map(|w| w.join().expect("a writer thread"))
            .collect();
        crashed.map(|()| ids)
    })?;
    server.stop()?;
    if acknowledged.is_empty() {
        bail!("no write was acknowledged before the crash");
    }

    cluster.start_server()?;
    let export = crumb_ok(&bin, &db, &["export", "--site", "demo"])?;
    let stored: HashSet<String> = export.lines().filter_map(consent_id).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    let records = super::server::count_and_verify(&bin, &db)?;
    println!(
        "PostgreSQL crashed under load: {} writes acknowledged, {records} records after \
         recovery, chain verifies; acknowledged and lost: {}",
        acknowledged.len(),
        lost.len()
    );
    if !lost.is_empty() {
        bail!(
            "{} acknowledged consents were lost in the crash, for example {}",
            lost.len(),
            lost[0]
        );
    }
    Ok(())
}

/// POSTs one consent; the new consent's id when the answer is 201.
fn post_consent(addr: &str, body: &str) -> anyhow::Result<Option<String>> {
    let json = "Content-Type: application/json\r\n";
    let (status, answer) = http(addr, "POST /v1/sites/demo/consents", json, body)?;
    Ok(if status == 201 {
        consent_id(&answer)
    } else {
        None
    })
}

/// The `consent_id` of a receipt or of an exported record.
fn consent_id(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(value["consent_id"].as_str()?.to_owned())
}
