//! What only PostgreSQL does. Several `crumb serve` processes on one
//! database share one chain per site (no fork, no gap), and a node killed
//! with SIGKILL loses nothing it acknowledged; `crumb copy` moves a SQLite
//! log into PostgreSQL byte for byte. Run only on PostgreSQL
//! (`CRUMB_TEST_POSTGRES`); elsewhere these tests say so and pass.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crumb_server::storage::{Database, Role, SqliteStore, Store, TimeRange};
use time::macros::datetime;

use crate::helpers::{TestApp, postgres_admin, postgres_execute, spawn_app};

/// A `crumb serve` process on the test app's database.
struct Node {
    child: Child,
    address: String,
}

impl Node {
    fn start(app: &TestApp) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crumb"))
            .arg("serve")
            .env("CRUMB_DATABASE", app.database().to_setting())
            .env("CRUMB_SIGNING_KEY", app.dir.path().join("crumb.db.key"))
            .env("CRUMB_PORT", "0")
            .env("CRUMB_WORKERS", "2")
            .env("CRUMB_WRITE_BURST", "0")
            .env("CRUMB_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // "Crumb listening on http://127.0.0.1:PORT/"
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("Crumb listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        Node { child, address }
    }
}

/// POSTs a consent to a node; the consent id when it was acknowledged (201).
fn record(address: &str, body: &str) -> Option<String> {
    let resp = ureq::post(&format!("{address}/v1/sites/demo/consents"))
        .set("Content-Type", "application/json")
        .send_string(body)
        .ok()?;
    if resp.status() != 201 {
        return None;
    }
    let receipt: Value = serde_json::from_str(&resp.into_string().ok()?).ok()?;
    receipt["consent_id"].as_str().map(str::to_owned)
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test app, on PostgreSQL only.
fn app_on_postgres() -> Option<TestApp> {
    let app = spawn_app();
    if app.on_sqlite() {
        eprintln!("skipped: several nodes need PostgreSQL (CRUMB_TEST_POSTGRES)");
        return None;
    }
    Some(app)
}

/// The stored records' chain positions and consent ids, checked for gaps.
fn assert_one_chain_without_gaps(app: &TestApp) -> HashSet<String> {
    let records = app.records();
    let seqs: Vec<u64> = records
        .iter()
        .map(|(body, _)| body["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=records.len() as u64).collect::<Vec<_>>(),
        "one chain, no gap, no fork"
    );
    let out = app.crumb(&["verify", "--db"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    records
        .iter()
        .map(|(body, _)| body["consent_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_nodes_with_32_concurrent_writers_keep_one_chain() {
    // Arrange
    let Some(app) = app_on_postgres() else { return };
    let nodes = [Node::start(&app), Node::start(&app)];
    let body = app.analytics_only().to_string();

    // Act: 32 writers, half on each node, all on one site.
    let acknowledged: Vec<Option<String>> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..32)
            .map(|i| {
                let node = &nodes[i % 2];
                let body = &body;
                s.spawn(move || {
                    (0..20)
                        .map(|_| record(&node.address, body))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });

    // Assert: every request acknowledged, every acknowledgement stored.
    assert_eq!(acknowledged.len(), 640);
    assert!(
        acknowledged.iter().all(Option::is_some),
        "every write got a 201"
    );
    let stored = assert_one_chain_without_gaps(&app);
    assert_eq!(stored.len(), 640);
    for id in acknowledged.iter().flatten() {
        assert!(stored.contains(id), "acknowledged {id} is stored");
    }
}

#[test]
fn a_node_killed_under_load_loses_nothing_it_acknowledged() {
    // Arrange
    let Some(app) = app_on_postgres() else { return };
    let mut doomed = Node::start(&app);
    let survivor = Node::start(&app);
    let body = app.analytics_only().to_string();
    let acknowledged = Mutex::new(Vec::new());
    let on_doomed = AtomicUsize::new(0);
    let after_kill = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    let stop = AtomicBool::new(false);

    // Act: 8 writers on each node; the first node is killed with SIGKILL
    // once it has acknowledged 300 writes, the others go on until the
    // survivor has acknowledged 200 more.
    std::thread::scope(|s| {
        for i in 0..16 {
            let address = if i % 2 == 0 {
                doomed.address.clone()
            } else {
                survivor.address.clone()
            };
            let (body, acknowledged, on_doomed, after_kill, killed, stop) = (
                &body,
                &acknowledged,
                &on_doomed,
                &after_kill,
                &killed,
                &stop,
            );
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(id) = record(&address, body) {
                        acknowledged.lock().unwrap().push(id);
                        if i % 2 == 0 {
                            on_doomed.fetch_add(1, Ordering::Relaxed);
                        } else if killed.load(Ordering::Relaxed) {
                            after_kill.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        wait_until(|| on_doomed.load(Ordering::Relaxed) >= 300);
        doomed.child.kill().unwrap();
        doomed.child.wait().unwrap();
        killed.store(true, Ordering::Relaxed);
        wait_until(|| after_kill.load(Ordering::Relaxed) >= 200);
        stop.store(true, Ordering::Relaxed);
    });

    // Assert
    let stored = assert_one_chain_without_gaps(&app);
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() >= 500);
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged {id} is stored");
    }
}

#[test]
fn a_config_edit_on_one_node_reaches_the_other_within_a_second() {
    // Arrange: two nodes that have both served the site's config.
    let Some(app) = app_on_postgres() else { return };
    let nodes = [Node::start(&app), Node::start(&app)];
    let revision = |node: &Node| -> u64 {
        let text = ureq::get(&format!("{}/v1/sites/demo/config", node.address))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        let config: Value = serde_json::from_str(&text).unwrap();
        config["revision"].as_u64().unwrap()
    };
    assert_eq!((revision(&nodes[0]), revision(&nodes[1])), (1, 1));

    // Act: the owner raises the policy revision through the first node.
    let token = app.token(Role::Owner, None);
    let bumped = ureq::post(&format!(
        "{}/v1/admin/sites/demo/bump-revision",
        nodes[0].address
    ))
    .set("Authorization", &format!("Bearer {token}"))
    .call();
    assert_eq!(bumped.map(|r| r.status()).ok(), Some(200));
    let edited = std::time::Instant::now();

    // Assert: the second node serves the new revision within a second.
    wait_until(|| revision(&nodes[1]) == 2);
    assert!(edited.elapsed() < std::time::Duration::from_secs(1));
}

/// Waits for a condition the writers make true (at most a minute).
fn wait_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Every record of a store as stored: canonical bytes and hash.
fn stored(store: &dyn Store) -> Vec<(String, String)> {
    let mut out = Vec::new();
    store
        .for_each_record(None, &TimeRange::all(), &mut |body, hash| {
            out.push((body.to_owned(), hash.to_owned()));
            true
        })
        .unwrap();
    out
}

#[test]
fn copy_moves_a_sqlite_log_into_postgres_byte_for_byte() {
    // Arrange: a SQLite log with 1,200 records, a purge checkpoint and a
    // token; an empty PostgreSQL database.
    let Some(admin) = postgres_admin() else {
        eprintln!("skipped: crumb copy needs PostgreSQL (CRUMB_TEST_POSTGRES)");
        return;
    };
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("crumb.db");
    let now = datetime!(2026-06-01 12:00 UTC);
    let source = SqliteStore::open(&file).unwrap();
    crumb_server::demo::ensure_demo_site(&source, now).unwrap();
    let demo = crumb_schema::SiteId::parse("demo").unwrap();
    let site = source.site(&demo).unwrap().unwrap();
    crumb_server::seed::seed(
        &source,
        site,
        1200,
        time::Duration::days(30),
        now,
        500,
        |_| {},
    )
    .unwrap();
    let key = crumb_server::signing::Key::load_or_create(&dir.path().join("crumb.db.key")).unwrap();
    let (checkpoint, purged) = source
        .purge(
            &demo,
            crumb_server::timefmt::Timestamp::at(datetime!(2026-05-15 00:00 UTC)),
            &key,
            now,
        )
        .unwrap()
        .expect("records old enough to purge");
    assert!(purged > 0);
    crumb_server::auth::issue(&source, Role::Auditor, None, "copied", now).unwrap();
    let name = format!("crumb_copy_{}", std::process::id());
    postgres_execute(&admin, &format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    // Act
    let copy = |to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(["copy", "--from"])
            .arg(&file)
            .args(["--to", to])
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = copy(&url);

    // Assert: the same bytes and hashes, checkpoints and tokens; the copy
    // verifies and its chain goes on where the source's stopped.
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("both verify"), "{text}");
    let Ok(Database::Postgres(pg)) = Database::parse(&url) else {
        unreachable!()
    };
    let target = crumb_server::storage::PostgresStore::open(&pg).unwrap();
    assert_eq!(stored(&target), stored(&source));
    assert_eq!(target.checkpoints(&demo).unwrap(), vec![checkpoint]);
    assert_eq!(target.tokens().unwrap(), source.tokens().unwrap());
    assert_eq!(target.head(&demo).unwrap(), source.head(&demo).unwrap());
    let site = target.site(&demo).unwrap().unwrap();
    crumb_server::seed::seed(&target, site, 1, time::Duration::days(1), now, 1, |_| {}).unwrap();
    let after = crumb_server::verify::verify_store(&target, &key.public_hex()).unwrap();
    assert_eq!(after.sites[&demo].last_seq, 1201);

    // A second copy into the same database is refused, and changes nothing.
    let again = copy(&url);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("crumb copy fills an empty one"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(target.record_count().unwrap(), 1201 - purged);
}
