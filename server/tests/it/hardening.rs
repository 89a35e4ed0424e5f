//! What a hostile client meets: a body that never arrives is answered and
//! its connection closed; a spoofed `X-Forwarded-For` entry is ignored;
//! writes beyond a network's quota are refused; security headers on every
//! answer; the log's file is its owner's alone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::helpers::{spawn_app, spawn_app_tweaked};

#[test]
fn a_body_that_never_arrives_is_answered_and_closed_within_ten_seconds() {
    // Arrange: a request that declares 100 bytes of body and sends none.
    let app = spawn_app();
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();

    // Act
    conn.write_all(
        b"POST /v1/sites/demo/consents HTTP/1.1\r\nHost: crumb\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
    )
    .unwrap();
    let mut answer = Vec::new();
    // Reads until the server closes the connection (or the 15 s guard).
    let _ = conn.read_to_end(&mut answer);

    // Assert: 408 with the JSON error, connection closed, in time; and
    // nothing stored.
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"body_timeout\""), "{answer}");
    assert_eq!(app.record_count(), 0);
}

#[test]
fn behind_a_proxy_the_visitor_is_the_entry_the_proxy_appended() {
    // Arrange: one proxy in front; the client sends its own header, which
    // the proxy appends to.
    let app = spawn_app_tweaked(|s| s.behind_proxy = true);
    let body = app.analytics_only().to_string();

    // Act
    let spoofed = app.request(
        "POST",
        "/v1/sites/demo/consents",
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", "6.6.6.6, 203.0.113.9"),
        ],
        Some(&body),
    );

    // Assert
    assert_eq!(spoofed.status, 201, "{}", spoofed.body);
    let records = app.records();
    assert_eq!(records[0].0["ip_network"], "203.0.113.0/24");
}

#[test]
fn every_answer_says_nosniff_and_the_owner_page_cannot_be_framed() {
    // Arrange
    let app = spawn_app();

    // Act
    let answers = [
        app.get("/v1/sites/demo/config"),
        app.get("/v1/sites/nope/config"),
        app.get("/"),
        app.get("/crumb.js"),
        app.post_json("/v1/sites/demo/consents", &serde_json::json!({})),
    ];
    let owner = app.get("/owner");

    // Assert
    for a in &answers {
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{}",
            a.status
        );
    }
    let csp = owner.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(owner.header("x-frame-options"), Some("DENY"));
    assert_eq!(owner.header("referrer-policy"), Some("no-referrer"));
}

#[test]
fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;

    // Arrange: a server that has written (so the WAL files exist).
    let app = spawn_app();
    if !app.on_sqlite() {
        return; // PostgreSQL's files are the database server's.
    }
    let stored = app.record_consent(&app.analytics_only());
    assert_eq!(stored.status, 201);

    // Assert
    let dir = app.db_path().parent().unwrap().to_owned();
    for name in ["crumb.db", "crumb.db-wal", "crumb.db-shm", "crumb.db.key"] {
        let path = dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            assert_ne!(name, "crumb.db", "no database file");
            continue;
        };
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
}

#[test]
fn a_network_past_its_write_quota_gets_429_and_nothing_is_stored() {
    // Arrange: a burst of three, earned back slowly.
    let app = spawn_app_tweaked(|s| {
        s.write_burst = 3;
        s.write_rate = 0.01;
    });
    let body = app.analytics_only();
    for _ in 0..3 {
        assert_eq!(app.record_consent(&body).status, 201);
    }

    // Act
    let refused = app.record_consent(&body);

    // Assert
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.error_code(), "too_many_requests");
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=100).contains(&wait), "{wait}");
    assert_eq!(app.record_count(), 3);
    // Reads are not limited.
    assert_eq!(app.get("/v1/sites/demo/config").status, 200);
}

#[test]
fn a_retried_post_with_the_same_idempotency_key_returns_the_first_receipt() {
    // Arrange
    let app = spawn_app();
    let body = app.analytics_only().to_string();
    let post = |key: &str, body: &str| app.record_consent_keyed(body, key);

    // Act: the same choice twice, as a client retries after a lost answer.
    let first = post("choice-1", &body);
    let retry = post("choice-1", &body);

    // Assert: one record, the same receipt, the retry marked.
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(first.json(), retry.json());
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(app.record_count(), 1);

    // The same key for another request is refused; a bad key too; a new
    // key is a new record.
    let mut other = app.analytics_only();
    other["method"] = serde_json::json!("reject_all");
    other["categories"] = serde_json::json!({"necessary": true});
    let reused = post("choice-1", &other.to_string());
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.error_code(), "idempotency_key_reused");
    let bad = post(&"k".repeat(200), &body);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code(), "invalid_idempotency_key");
    assert_eq!(post("choice-2", &body).status, 201);
    assert_eq!(app.record_count(), 2);
}

#[test]
fn simultaneous_retries_with_one_idempotency_key_store_one_record() {
    // Arrange
    let app = spawn_app();
    let body = app.analytics_only().to_string();

    // Act: 16 copies of one request at once, so several share a batch.
    let answers: Vec<_> = std::thread::scope(|s| {
        let posts: Vec<_> = (0..16)
            .map(|_| s.spawn(|| app.record_consent_keyed(&body, "same-key")))
            .collect();
        posts.into_iter().map(|p| p.join().unwrap()).collect()
    });

    // Assert: one record; every answer is its receipt.
    assert_eq!(app.record_count(), 1);
    for answer in &answers {
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_eq!(answer.json(), answers[0].json());
    }
    let replayed = answers
        .iter()
        .filter(|a| a.header("idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 15);
}
