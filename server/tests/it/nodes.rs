//! Several `crumb serve` processes on one database, on either engine
//! (PostgreSQL is what nodes on several machines share; on SQLite they are
//! processes on one machine sharing one file): they append to one chain
//! per site (no fork, no gap), a node killed with SIGKILL loses nothing it
//! acknowledged, and a config edit made through one is served by the other
//! within a second.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crumb_server::storage::Role;

use crate::helpers::{TestApp, spawn_app};

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
    app.assert_log_verifies();
    records
        .iter()
        .map(|(body, _)| body["consent_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_nodes_with_32_concurrent_writers_keep_one_chain() {
    // Arrange
    let app = spawn_app();
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
    let app = spawn_app();
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
    let app = spawn_app();
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

/// Waits for a condition the writers or the nodes make true (at most a
/// minute).
fn wait_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_bump_on_one_node_is_never_undone_by_an_update_sent_to_another() {
    // Arrange: two nodes that have both just read the site's config at
    // revision 1; the owner's editor holds that config.
    let app = spawn_app();
    let nodes = [Node::start(&app), Node::start(&app)];
    let token = format!("Bearer {}", app.token(Role::Owner, None));
    let send = |node: &Node, method: &str, path: &str, body: Option<&str>| {
        let headers = [
            ("Authorization", token.as_str()),
            ("Content-Type", "application/json"),
        ];
        let answer = crate::helpers::request_to(&node.address, method, path, &headers, body);
        (answer.status, answer.json())
    };
    let (_, mut edited) = send(&nodes[1], "GET", "/v1/admin/sites/demo", None);
    for node in &nodes {
        assert_eq!(send(node, "GET", "/v1/sites/demo/config", None).0, 200);
    }

    // Act: the policy revision is raised through the first node, then the
    // editor's change (made at revision 1) is saved through the second,
    // at once.
    let (bumped, _) = send(
        &nodes[0],
        "POST",
        "/v1/admin/sites/demo/bump-revision",
        None,
    );
    edited["name"] = "Renamed".into();
    let (saved, refusal) = send(
        &nodes[1],
        "PUT",
        "/v1/admin/sites/demo",
        Some(&edited.to_string()),
    );

    // Assert: the save is refused as made against an older revision, and
    // the site stays at the new one on both nodes.
    assert_eq!(bumped, 200);
    assert_eq!(saved, 409, "saved at revision {}", refusal["revision"]);
    assert_eq!(refusal["error"], "revision_conflict");
    for node in &nodes {
        let (_, stored) = send(node, "GET", "/v1/admin/sites/demo", None);
        assert_eq!(stored["revision"], 2);
        assert_ne!(stored["name"], "Renamed");
    }
}
