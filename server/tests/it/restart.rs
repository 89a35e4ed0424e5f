//! Records survive a restart on the same database file.

use crate::helpers::{spawn_app, spawn_app_in};

#[test]
fn records_survive_a_restart() {
    // Arrange
    let app = spawn_app();
    let receipt = app.record_consent(&app.analytics_only()).json();
    let id = receipt["consent_id"].as_str().unwrap().to_owned();
    let dir = app.stop();

    // Act
    let app = spawn_app_in(dir);

    // Assert
    assert_eq!(app.record_count(), 1);
    let status = app.lookup(&id).json();
    assert_eq!(status["state"], "valid");
    assert_eq!(status["choices"], receipt["choices"]);
    // The chain continues where it stopped.
    let next = app.record_consent(&app.analytics_only());
    assert_eq!(next.status, 201);
    let seqs: Vec<u64> = app
        .records()
        .iter()
        .map(|(body, _)| body["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2]);
}
