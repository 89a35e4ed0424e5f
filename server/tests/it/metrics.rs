//! `/metrics`: Prometheus' text, for an operator's token only.

use crumb_server::storage::Role;

use crate::helpers::spawn_app;

#[test]
fn metrics_count_writes_errors_commits_and_requests_for_an_operator() {
    // Arrange: one consent written, one refused.
    let app = spawn_app();
    assert_eq!(app.record_consent(&app.analytics_only()).status, 201);
    let bad = app.record_consent(&serde_json::json!({"method": "nope"}));
    assert_eq!(bad.status, 400);
    let operator = app.token(Role::Auditor, None);
    let site_owner = app.token(Role::Owner, Some("demo"));

    // Act
    let scraped = app.get_with_token("/metrics", &operator);
    let anonymous = app.get("/metrics");
    let for_one_site = app.get_with_token("/metrics", &site_owner);

    // Assert (the registry is the process's, shared by every test in it,
    // so counts are at least these).
    assert_eq!(scraped.status, 200, "{}", scraped.body);
    assert!(
        scraped
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let value = |prefix: &str| -> f64 {
        scraped
            .body
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{}", scraped.body))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(value("crumb_consents_written_total{kind=\"choice\"}") >= 1.0);
    assert!(value("crumb_api_errors_total{code=\"invalid_body\"}") >= 1.0);
    assert!(value("crumb_commit_seconds_count") >= 1.0);
    assert!(value("crumb_commit_batch_drafts_bucket{le=\"+Inf\"}") >= 1.0);
    assert!(
        value("crumb_request_seconds_count{method=\"POST\",route=\"/v1/sites/{site}/consents\"}")
            >= 2.0
    );
    assert!(scraped.body.contains("crumb_export_bytes_total "));
    // The database pool's gauges, where there is a pool (PostgreSQL).
    if app.on_sqlite() {
        assert!(!scraped.body.contains("crumb_db_connections"));
    } else {
        assert_eq!(value("crumb_db_connections{state=\"limit\"}"), 16.0);
        assert!(value("crumb_db_connections{state=\"open\"}") >= 1.0);
        assert!(value("crumb_db_connection_waiters") >= 0.0);
    }
    assert_eq!(anonymous.status, 401);
    assert_eq!(for_one_site.status, 403);
}
