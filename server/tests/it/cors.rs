//! Consent endpoints answer only the site's allowed origins.

use crate::helpers::spawn_app;

#[test]
fn foreign_origin_cannot_record() {
    // Arrange
    let app = spawn_app();
    let body = app.analytics_only().to_string();

    // Act
    let resp = app.request(
        "POST",
        "/v1/sites/demo/consents",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "https://evil.example"),
        ],
        Some(&body),
    );

    // Assert
    assert_eq!(resp.status, 403, "{}", resp.body);
    assert_eq!(resp.error_code(), "origin_not_allowed");
    assert!(resp.header("access-control-allow-origin").is_none());
    assert_eq!(app.record_count(), 0);
}

#[test]
fn allowed_origin_records_and_gets_cors_headers() {
    let app = spawn_app();
    let body = app.analytics_only().to_string();
    let resp = app.request(
        "POST",
        "/v1/sites/demo/consents",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://localhost:8080"),
        ],
        Some(&body),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(resp.header("vary"), Some("Origin"));
}

#[test]
fn crumbs_own_origin_is_allowed() {
    let app = spawn_app();
    let body = app.analytics_only().to_string();
    let origin = app.address.clone();
    let resp = app.request(
        "POST",
        "/v1/sites/demo/consents",
        &[("Content-Type", "application/json"), ("Origin", &origin)],
        Some(&body),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
}

#[test]
fn preflight_answers_only_allowed_origins() {
    let app = spawn_app();
    let preflight = |origin: &str| {
        app.request(
            "OPTIONS",
            "/v1/sites/demo/consents",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            None,
        )
    };
    let ok = preflight("http://127.0.0.1:8080");
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://127.0.0.1:8080")
    );
    assert!(
        ok.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        ok.header("access-control-allow-headers")
            .unwrap()
            .contains("content-type")
    );

    let refused = preflight("https://evil.example");
    assert_eq!(refused.status, 403);
    assert!(refused.header("access-control-allow-origin").is_none());
}

#[test]
fn config_is_not_readable_by_foreign_pages() {
    let app = spawn_app();
    for path in ["/v1/sites/demo/config", "/v1/sites/demo/widget?lang=en"] {
        let resp = app.request("GET", path, &[("Origin", "https://evil.example")], None);
        assert_eq!(resp.status, 200, "{path}");
        assert!(
            resp.header("access-control-allow-origin").is_none(),
            "{path}"
        );
        let resp = app.request("GET", path, &[("Origin", "http://localhost:8080")], None);
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("http://localhost:8080"),
            "{path}"
        );
    }
}
