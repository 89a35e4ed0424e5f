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

#[test]
fn error_answers_to_an_allowed_origin_are_readable() {
    // Arrange
    let app = spawn_app();
    let origin = ("Origin", "http://localhost:8080");
    let json = ("Content-Type", "application/json");
    let mut outdated = app.analytics_only();
    outdated["revision"] = serde_json::json!(7);
    let unknown = "/v1/sites/demo/consents/00000000-0000-4000-8000-000000000000";

    // Act
    let answers = [
        (
            400,
            app.request(
                "POST",
                "/v1/sites/demo/consents",
                &[json, origin],
                Some("{"),
            ),
        ),
        (
            400,
            app.request(
                "POST",
                "/v1/sites/demo/consents",
                &[json, origin],
                Some("{\"x\":1}"),
            ),
        ),
        (404, app.request("GET", unknown, &[origin], None)),
        (
            409,
            app.request(
                "POST",
                "/v1/sites/demo/consents",
                &[json, origin],
                Some(&outdated.to_string()),
            ),
        ),
        (
            415,
            app.request("POST", "/v1/sites/demo/consents", &[origin], Some("{}")),
        ),
    ];

    // Assert
    for (status, resp) in answers {
        assert_eq!(resp.status, status, "{}", resp.body);
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("http://localhost:8080"),
            "{status}: {}",
            resp.body
        );
        assert!(!resp.error_code().is_empty(), "{}", resp.body);
    }
    assert_eq!(app.record_count(), 0);
    // A foreign page still reads nothing, errors included.
    let foreign = app.request("GET", unknown, &[("Origin", "https://evil.example")], None);
    assert!(foreign.header("access-control-allow-origin").is_none());
}

#[test]
fn same_origin_pages_get_the_consent_cookie_from_the_server() {
    // Arrange
    let app = spawn_app();
    let body = app.analytics_only().to_string();
    let same = ("Sec-Fetch-Site", "same-origin");

    // Act
    let created = app.request(
        "POST",
        "/v1/sites/demo/consents",
        &[("Content-Type", "application/json"), same],
        Some(&body),
    );
    let receipt = created.json();
    let id = receipt["consent_id"].as_str().unwrap();
    let checked = app.request(
        "GET",
        &format!("/v1/sites/demo/consents/{id}"),
        &[same],
        None,
    );
    let elsewhere = app.request(
        "GET",
        &format!("/v1/sites/demo/consents/{id}"),
        &[("Origin", "http://localhost:8080")],
        None,
    );

    // Assert
    for resp in [&created, &checked] {
        let set = resp.header("set-cookie").expect("a Set-Cookie");
        let value = receipt["cookie"].as_str().unwrap();
        assert!(set.starts_with(&format!("crumb_consent={value};")), "{set}");
        assert!(
            set.contains("Path=/") && set.contains("SameSite=Lax"),
            "{set}"
        );
        // Two years left, but browsers keep a cookie 400 days at most.
        assert!(set.contains("Max-Age=34560000"), "{set}");
        assert_eq!(resp.header("crumb-cookie"), Some("set"));
    }
    assert_eq!(checked.json()["cookie"], receipt["cookie"]);
    assert!(
        elsewhere.header("set-cookie").is_none(),
        "a page on another origin keeps its own cookie"
    );
    assert_eq!(elsewhere.json()["cookie"], receipt["cookie"]);
}

#[test]
fn the_cookie_never_outlives_the_consent_and_is_not_set_once_invalid() {
    let app = spawn_app();
    let same = ("Sec-Fetch-Site", "same-origin");
    let receipt = app.record_consent(&app.analytics_only()).json();
    let path = format!(
        "/v1/sites/demo/consents/{}",
        receipt["consent_id"].as_str().unwrap()
    );

    // 23 months on, one month is left.
    app.clock.advance(time::Duration::days(700));
    let late = app.request("GET", &path, &[same], None);
    let set = late.header("set-cookie").unwrap();
    let age = actix_web::cookie::Cookie::parse(set)
        .unwrap()
        .max_age()
        .unwrap()
        .whole_seconds();
    assert!((0..=31 * 86_400).contains(&age), "{set}");

    app.clock.advance(time::Duration::days(31));
    let expired = app.request("GET", &path, &[same], None);
    assert_eq!(expired.json()["state"], "expired");
    assert!(expired.json().get("cookie").is_none());
    assert!(expired.header("set-cookie").is_none());
}
