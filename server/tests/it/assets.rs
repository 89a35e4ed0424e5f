//! Static pages (`static_dir`): served as they are, gzipped when the
//! client accepts it, never outside the folder; the widget's files and
//! `/healthz` answer HEAD as well as GET.

use std::io::Read as _;

use crate::helpers::spawn_app;

const PAGE: &str = include_str!("../../../examples/site/cookie-policy.html");

#[test]
fn pages_are_gzipped_for_clients_that_accept_it() {
    // Arrange
    let app = spawn_app();

    // Act
    let resp = ureq::get(&format!("{}/cookie-policy.html", app.address))
        .set("Accept-Encoding", "gzip, deflate, br")
        .call()
        .unwrap();

    // Assert
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    assert_eq!(resp.header("vary"), Some("Accept-Encoding"));
    // Each encoding is its own representation with its own tag.
    let plain_etag = app
        .get("/cookie-policy.html")
        .header("etag")
        .unwrap()
        .to_owned();
    let gzip_etag = resp.header("etag").unwrap().to_owned();
    assert_ne!(gzip_etag, plain_etag);
    assert!(gzip_etag.ends_with("-gz\""), "{gzip_etag}");
    let mut gz = Vec::new();
    resp.into_reader().read_to_end(&mut gz).unwrap();
    assert!(gz.len() < PAGE.len(), "{} bytes gzipped", gz.len());
    let mut page = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut page)
        .unwrap();
    assert_eq!(page, PAGE);
}

#[test]
fn pages_are_plain_for_clients_without_gzip_or_refusing_it() {
    let app = spawn_app();

    let resp = app.get("/cookie-policy.html");
    let refusing = app.request(
        "GET",
        "/cookie-policy.html",
        &[("Accept-Encoding", "br, gzip;q=0, *;q=0.5")],
        None,
    );

    for resp in [resp, refusing] {
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-encoding"), None);
        assert_eq!(resp.body, PAGE);
    }
}

#[test]
fn nothing_outside_the_folder_is_served() {
    let app = spawn_app();

    for path in ["/../Cargo.toml", "/.hidden", "/%2e%2e/Cargo.toml"] {
        let resp = app.get(path);
        assert_eq!(resp.status, 404, "{path}");
    }
}

#[test]
fn unchanged_pages_are_revalidated_with_304() {
    let app = spawn_app();
    let first = app.get("/cookie-policy.html");
    let etag = first.header("etag").expect("an ETag").to_owned();

    let again = app.request(
        "GET",
        "/cookie-policy.html",
        &[("If-None-Match", &etag)],
        None,
    );

    assert_eq!(again.status, 304);
    assert_eq!(again.body, "");
    // A proxy that compressed the page itself makes the ETag weak; the
    // browser sends it back so. `*` names whatever the page is now.
    let weak = format!("W/{etag}");
    for tag in [weak.as_str(), "*"] {
        let again = app.request(
            "GET",
            "/cookie-policy.html",
            &[("If-None-Match", tag)],
            None,
        );
        assert_eq!(again.status, 304, "{tag}");
    }
    let stale = app.request(
        "GET",
        "/cookie-policy.html",
        &[("If-None-Match", "\"x\"")],
        None,
    );
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, PAGE);
}

#[test]
fn healthz_answers_head_for_uptime_monitors() {
    let app = spawn_app();

    let head = app.request("HEAD", "/healthz", &[], None);

    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
}

#[test]
fn the_widgets_files_answer_head_like_get() {
    // Arrange: a built widget of two files.
    let widget = tempfile::TempDir::new().unwrap();
    std::fs::write(widget.path().join("crumb.js"), "/* loader */").unwrap();
    std::fs::write(widget.path().join("crumb-0123abcd.css"), ".crumb{}").unwrap();
    let dir = widget.path().to_owned();
    let app = crate::helpers::spawn_app_tweaked(|s| s.widget_dir = Some(dir));

    for path in ["/crumb.js", "/crumb/crumb-0123abcd.css"] {
        // Act
        let get = app.get(path);
        let head = app.request("HEAD", path, &[], None);

        // Assert: the same status and headers, and no body.
        assert_eq!(get.status, 200, "{path}");
        assert_eq!(head.status, 200, "{path}");
        for name in ["content-type", "etag", "cache-control", "content-length"] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
        assert_eq!(head.body, "", "{path}");
    }
}

#[test]
fn the_sites_public_files_answer_head_like_get() {
    // Arrange
    let app = spawn_app();

    for path in [
        "/v1/sites/demo/config",
        "/v1/sites/demo/widget?lang=en",
        "/v1/sites/demo/widget/details?lang=en",
        "/v1/sites/demo/declaration?lang=en",
        "/v1/sites/demo/signals.js",
        "/openapi.json",
        "/owner",
    ] {
        // Act
        let get = app.get(path);
        let head = app.request("HEAD", path, &[], None);

        // Assert: the same status and headers, and no body.
        assert_eq!(get.status, 200, "{path}");
        assert_eq!(head.status, 200, "{path}: {}", head.body);
        for name in ["content-type", "etag", "cache-control", "content-length"] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
        assert_eq!(head.body, "", "{path}");
    }
}

#[test]
fn behind_a_proxy_that_keeps_its_prefix_crumb_answers_under_the_base_path() {
    // Arrange: Crumb under /crumb (a Kubernetes ingress or Traefik route
    // that passes the path on as it came), with a built widget.
    let widget = tempfile::TempDir::new().unwrap();
    std::fs::write(widget.path().join("crumb.js"), "/* loader */").unwrap();
    std::fs::write(widget.path().join("crumb-0123abcd.css"), ".crumb{}").unwrap();
    let dir = widget.path().to_owned();
    let app = crate::helpers::spawn_app_tweaked(|s| {
        s.widget_dir = Some(dir);
        s.base_path = crumb_server::settings::BasePath::parse("/crumb/").unwrap();
    });
    let config = app.get("/crumb/v1/sites/demo/config").json();
    let body = serde_json::json!({
        "revision": config["revision"],
        "language": "en",
        "text_hash": config["text_hashes"]["en"],
        "method": "accept_all",
        "categories": {"necessary": true, "functional": true, "analytics": true, "marketing": true},
    })
    .to_string();

    // Act
    let reads: Vec<(&str, u16)> = [
        "/crumb/crumb.js",
        "/crumb/crumb/crumb-0123abcd.css",
        "/crumb/v1/sites/demo/widget?lang=en",
        "/crumb/healthz",
        "/crumb/owner",
        // The owner page's own links are relative to it.
        "/crumb/owner/owner.css",
        "/crumb/owner/owner.js",
        "/crumb/openapi.json",
        // The site's pages stay at the root.
        "/cookie-policy.html",
    ]
    .into_iter()
    .map(|path| (path, app.get(path).status))
    .collect();
    let recorded = app.request(
        "POST",
        "/crumb/v1/sites/demo/consents",
        &[
            ("Content-Type", "application/json"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        Some(&body),
    );
    let at_the_root = app.get("/v1/sites/demo/widget");
    let owner_page = app.get("/crumb/owner").body;

    // Assert
    for (path, status) in reads {
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(recorded.status, 201, "{}", recorded.body);
    let cookie = recorded.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.contains("Path=/;") || cookie.ends_with("Path=/"),
        "{cookie}"
    );
    assert_eq!(at_the_root.status, 404);
    assert!(
        !owner_page.contains("\"/owner/"),
        "absolute link: {owner_page}"
    );
}
