//! Every kind of bad request gets a clear 4xx and stores nothing.

use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app};

/// Sends `req`, then checks the status, the error code and that the number
/// of stored records did not change.
fn assert_refused(
    app: &TestApp,
    case: &str,
    status: u16,
    code: &str,
    send: impl FnOnce() -> Response,
) {
    let before = app.record_count();
    let resp = send();
    assert_eq!(resp.status, status, "{case}: {}", resp.body);
    assert_eq!(resp.error_code(), code, "{case}: {}", resp.body);
    let message = resp.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!message.is_empty(), "{case}: the error explains itself");
    assert_eq!(app.record_count(), before, "{case}: nothing stored");
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

#[test]
fn invalid_choices_are_refused() {
    let app = spawn_app();
    let ok = app.analytics_only();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "unknown category",
            with(ok.clone(), "categories", json!({"advertising": true})),
            400,
            "invalid_body",
        ),
        (
            "necessary refused",
            with(ok.clone(), "categories", json!({"necessary": false})),
            400,
            "invalid_choice",
        ),
        (
            "unknown service",
            with(ok.clone(), "services", json!({"tiktok": true})),
            400,
            "invalid_choice",
        ),
        (
            "malformed service id",
            with(ok.clone(), "services", json!({"Tik Tok": true})),
            400,
            "invalid_body",
        ),
        (
            "service allowed in a refused category",
            with(ok.clone(), "services", json!({"meta-pixel": true})),
            400,
            "invalid_choice",
        ),
        (
            "accept_all that refuses",
            with(ok.clone(), "method", json!("accept_all")),
            400,
            "invalid_choice",
        ),
        (
            "reject_all that allows",
            with(ok.clone(), "method", json!("reject_all")),
            400,
            "invalid_choice",
        ),
        (
            "unknown method",
            with(ok.clone(), "method", json!("sure")),
            400,
            "invalid_body",
        ),
        (
            "wrong type",
            with(ok.clone(), "revision", json!("one")),
            400,
            "invalid_body",
        ),
        (
            "revision zero",
            with(ok.clone(), "revision", json!(0)),
            400,
            "invalid_body",
        ),
        (
            "old revision",
            with(ok.clone(), "revision", json!(7)),
            409,
            "outdated_revision",
        ),
        (
            "unknown language",
            with(ok.clone(), "language", json!("sv")),
            400,
            "unknown_language",
        ),
        (
            "malformed language",
            with(ok.clone(), "language", json!("<b>")),
            400,
            "invalid_body",
        ),
        (
            "stale texts",
            with(ok.clone(), "text_hash", json!("0".repeat(64))),
            409,
            "stale_texts",
        ),
        (
            "text hash of another language",
            with(ok.clone(), "text_hash", json!(app.text_hash("nl"))),
            409,
            "stale_texts",
        ),
        (
            "malformed text hash",
            with(ok.clone(), "text_hash", json!("abc")),
            400,
            "invalid_body",
        ),
        (
            "unknown field",
            with(ok.clone(), "mood", json!("happy")),
            400,
            "invalid_body",
        ),
        (
            "malformed consent id",
            with(ok.clone(), "consent_id", json!("123")),
            400,
            "invalid_body",
        ),
        (
            "unknown consent id",
            with(
                ok.clone(),
                "consent_id",
                json!("00000000-0000-4000-8000-000000000000"),
            ),
            400,
            "unknown_consent",
        ),
    ];
    for (case, body, status, code) in cases {
        assert_refused(&app, case, status, code, || app.record_consent(&body));
    }
    let mut missing = ok.clone();
    missing.as_object_mut().unwrap().remove("language");
    assert_refused(&app, "missing field", 400, "invalid_body", || {
        app.record_consent(&missing)
    });
}

#[test]
fn malformed_bodies_are_refused() {
    let app = spawn_app();
    let json_ct = [("Content-Type", "application/json")];
    let path = "/v1/sites/demo/consents";
    assert_refused(&app, "malformed JSON", 400, "invalid_body", || {
        app.request("POST", path, &json_ct, Some("{\"revision\": 1,"))
    });
    assert_refused(&app, "empty body", 400, "invalid_body", || {
        app.request("POST", path, &json_ct, Some(""))
    });
    assert_refused(&app, "JSON array", 400, "invalid_body", || {
        app.request("POST", path, &json_ct, Some("[]"))
    });
    let mut huge = app.analytics_only();
    huge["padding"] = json!("x".repeat(17 * 1024));
    assert_refused(&app, "body over 16 KiB", 413, "body_too_large", || {
        app.request("POST", path, &json_ct, Some(&huge.to_string()))
    });
    let ok = app.analytics_only().to_string();
    // A key twice is ambiguous (JSON readers differ on which one counts),
    // so it is refused rather than read as the last one.
    let twice = ok.replace(
        r#""marketing":false"#,
        r#""marketing":false,"marketing":true"#,
    );
    assert_ne!(twice, ok);
    assert_refused(&app, "a category twice", 400, "invalid_body", || {
        app.request("POST", path, &json_ct, Some(&twice))
    });
    assert_refused(
        &app,
        "wrong content type",
        415,
        "unsupported_media_type",
        || app.request("POST", path, &[("Content-Type", "text/plain")], Some(&ok)),
    );
    assert_refused(
        &app,
        "no content type",
        415,
        "unsupported_media_type",
        || app.request("POST", path, &[], Some(&ok)),
    );
    // The server reads bodies as sent: one declared compressed is refused
    // as such (it would otherwise be read as broken JSON), and the answer
    // says that only uncompressed bodies are read.
    let gzipped = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
    ];
    let mut answer = None;
    assert_refused(
        &app,
        "a compressed body",
        415,
        "unsupported_encoding",
        || {
            let resp = app.request("POST", path, &gzipped, Some(&ok));
            answer = Some(resp.header("accept-encoding").map(str::to_owned));
            resp
        },
    );
    assert_eq!(answer, Some(Some("identity".to_owned())));
    let identity = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "identity"),
    ];
    assert_eq!(app.request("POST", path, &identity, Some(&ok)).status, 201);
}

#[test]
fn unknown_sites_and_bad_ids_are_refused() {
    let app = spawn_app();
    let ok = app.analytics_only();
    assert_refused(&app, "unknown site", 404, "unknown_site", || {
        app.post_json("/v1/sites/nope/consents", &ok)
    });
    assert_refused(&app, "malformed site", 400, "invalid_id", || {
        app.post_json("/v1/sites/NOPE!/consents", &ok)
    });
    assert_refused(
        &app,
        "malformed consent id in path",
        400,
        "invalid_id",
        || app.withdraw("42"),
    );
    assert_refused(
        &app,
        "malformed consent id in lookup",
        400,
        "invalid_id",
        || app.lookup("42"),
    );
}

#[test]
fn a_method_a_path_does_not_take_gets_405_in_json_with_allow() {
    let app = spawn_app();
    let origin = [("Origin", "http://localhost:8080")];
    let cases = [
        ("DELETE", "/v1/sites/demo/consents", "POST, OPTIONS"),
        ("PUT", "/v1/sites/demo/widget", "GET, HEAD, OPTIONS"),
        // A static page (the demo's `static_dir`).
        ("POST", "/cookie-policy.html", "GET, HEAD"),
        // Paths with one route each (these answered 404, "no such
        // endpoint", before).
        ("PATCH", "/healthz", "GET, HEAD"),
        ("POST", "/metrics", "GET"),
        ("PUT", "/openapi.json", "GET, HEAD"),
        ("POST", "/owner", "GET, HEAD"),
        ("POST", "/crumb.js", "GET, HEAD"),
        ("DELETE", "/v1/sites/demo/signals.js", "GET, HEAD"),
        ("POST", "/v1/sites/demo/declaration", "GET, HEAD"),
        ("GET", "/v1/admin/sites/demo/bump-revision", "POST"),
        ("POST", "/v1/admin/sites/demo/stats", "GET"),
        ("POST", "/v1/audit/sites/demo/consents", "GET"),
        ("DELETE", "/v1/audit/sites/demo/head", "GET"),
        ("TRACE", "/v1/audit/sites/demo/texts", "GET"),
    ];
    for (method, path, allow) in cases {
        let case = format!("{method} {path}");
        assert_refused(&app, &case, 405, "method_not_allowed", || {
            let resp = app.request(method, path, &origin, None);
            assert_eq!(resp.header("allow"), Some(allow), "{case}");
            // A page on an allowed origin can read why the public API
            // refused it.
            if path.starts_with("/v1/sites/") {
                assert_eq!(
                    resp.header("access-control-allow-origin"),
                    Some("http://localhost:8080"),
                    "{case}"
                );
            }
            resp
        });
    }
}

#[test]
fn consent_id_of_another_site_is_refused() {
    // Arrange: a second site with a consent of its own.
    let app = spawn_app();
    let mut other = app.site();
    other.id = crumb_schema::SiteId::parse("other").unwrap();
    app.put_site(&other);
    let foreign = app.post_json("/v1/sites/other/consents", &app.analytics_only());
    assert_eq!(foreign.status, 201, "{}", foreign.body);
    let foreign_id = foreign.json()["consent_id"].as_str().unwrap().to_owned();

    // Act and assert: demo neither updates, shows nor withdraws it.
    let body = with(app.analytics_only(), "consent_id", json!(foreign_id));
    assert_refused(
        &app,
        "update another site's consent",
        400,
        "unknown_consent",
        || app.record_consent(&body),
    );
    assert_refused(
        &app,
        "withdraw another site's consent",
        404,
        "unknown_consent",
        || app.withdraw(&foreign_id),
    );
    assert_eq!(app.lookup(&foreign_id).status, 404);
    assert_eq!(
        app.get(&format!("/v1/sites/other/consents/{foreign_id}"))
            .json()["state"],
        "valid"
    );
}
