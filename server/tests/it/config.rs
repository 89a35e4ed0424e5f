//! The public config endpoint and health check.

use crate::helpers::spawn_app;
use crumb_schema::integrations::MatomoMode;

#[test]
fn healthz_answers() {
    let app = spawn_app();
    let resp = app.get("/healthz");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["status"], "ok");
}

#[test]
fn readyz_answers_when_the_database_does() {
    let app = spawn_app();
    let resp = app.get("/readyz");
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["status"], "ready");
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert_eq!(app.request("HEAD", "/readyz", &[], None).status, 200);
}

#[test]
fn config_is_public_cacheable_and_hides_origins() {
    // Arrange
    let app = spawn_app();

    // Act
    let resp = app.get("/v1/sites/demo/config");

    // Assert
    assert_eq!(resp.status, 200);
    let config = resp.json();
    assert_eq!(config["id"], "demo");
    assert_eq!(config["revision"], 1);
    assert!(config.get("allowed_origins").is_none());
    assert_eq!(config["text_hashes"]["nl"].as_str().unwrap().len(), 64);
    assert_eq!(resp.header("cache-control"), Some("no-cache"));
    let etag = resp.header("etag").unwrap().to_owned();

    let again = app.request(
        "GET",
        "/v1/sites/demo/config",
        &[("If-None-Match", &etag)],
        None,
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "");
}

#[test]
fn config_etag_changes_with_the_revision() {
    let app = spawn_app();
    let before = app.get("/v1/sites/demo/config");
    app.bump_revision();
    let after = app.get("/v1/sites/demo/config");
    assert_eq!(after.json()["revision"], 2);
    assert_ne!(before.header("etag"), after.header("etag"));
}

#[test]
fn unknown_and_malformed_sites() {
    let app = spawn_app();
    let resp = app.get("/v1/sites/nope/config");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_code(), "unknown_site");
    let resp = app.get("/v1/sites/Not%20A%20Site/config");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_code(), "invalid_id");
    let resp = app.get("/v1/no/such/route");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_code(), "not_found");
}

#[test]
fn declaration_lists_categories_services_and_cookies_in_a_language() {
    let app = spawn_app();

    let nl = app.get("/v1/sites/demo/declaration?lang=nl-BE").json();

    assert_eq!(nl["language"], "nl");
    let analytics = &nl["categories"][2];
    assert_eq!(analytics["id"], "analytics");
    assert_eq!(analytics["name"], "Analytisch");
    let ga = &analytics["services"][0];
    assert_eq!(ga["name"], "Google Analytics 4");
    assert_eq!(ga["cookies"][0]["name"], "_ga");
    assert_eq!(ga["cookies"][0]["provider"], "Google Ireland Limited");
    assert_eq!(ga["cookies"][0]["retention"], "2 jaar");
    assert_eq!(ga["purpose"], "Meet bezoeken en paginaweergaven.");
    assert_eq!(
        ga["privacy_policy_url"],
        "https://policies.google.com/privacy"
    );
    // Column heads, Crumb's own words included, in the page's language.
    assert_eq!(
        nl["labels"]["columns"],
        serde_json::json!(["Cookie", "Aanbieder", "Doel", "Bewaartermijn", "Soort"])
    );
    // Crumb's own cookie heads the necessary category, in every language.
    for lang in ["en", "nl", "de", "fr"] {
        let d = app
            .get(&format!("/v1/sites/demo/declaration?lang={lang}"))
            .json();
        let crumb = &d["categories"][0]["services"][0];
        assert_eq!(d["categories"][0]["id"], "necessary", "{lang}");
        assert_eq!(crumb["cookies"][0]["name"], "crumb_consent", "{lang}");
        assert_eq!(crumb["cookies"][0]["party"], "first", "{lang}");
        assert!(
            crumb["cookies"][0]["retention"]
                .as_str()
                .unwrap()
                .contains('2'),
            "{lang}: {crumb}"
        );
    }
    // The page's language first, then the browser's.
    assert_eq!(
        app.get("/v1/sites/demo/declaration?lang=sv,de-AT").json()["language"],
        "de"
    );
    // Tags as pages and servers write them, as the widget's config reads
    // them: `de_AT` (some CMSs' `<html lang>`), an Accept-Language entry.
    for lang in ["sv,de_AT", "de;q=0.9,en"] {
        let declaration = app.get(&format!("/v1/sites/demo/declaration?lang={lang}"));
        let widget = app.get(&format!("/v1/sites/demo/widget?lang={lang}"));
        assert_eq!(declaration.json()["language"], "de", "{lang}");
        assert!(
            widget.body.contains("\u{1f}de\u{1f}"),
            "{lang}: {}",
            widget.body
        );
    }
    // Unknown or missing languages fall back to the site's first.
    assert_eq!(
        app.get("/v1/sites/demo/declaration?lang=sv").json()["language"],
        "en"
    );
    assert_eq!(
        app.get("/v1/sites/demo/declaration").json()["language"],
        "en"
    );
    assert_eq!(app.get("/v1/sites/nope/declaration").status, 404);
}

#[test]
fn config_is_gzipped_for_clients_that_accept_it() {
    // Arrange
    let app = spawn_app();
    let plain = app.get("/v1/sites/demo/config");

    // Act
    let resp = ureq::get(&format!("{}/v1/sites/demo/config", app.address))
        .set("Accept-Encoding", "gzip, br")
        .set("Origin", "http://localhost:8080")
        .call()
        .unwrap();

    // Assert: the same JSON, compressed, with its own tag; caches keep the
    // encodings and the origins apart.
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    let vary: Vec<&str> = resp.all("vary");
    assert!(
        vary.contains(&"Accept-Encoding") && vary.contains(&"Origin"),
        "{vary:?}"
    );
    let etag = resp.header("etag").unwrap().to_owned();
    assert_ne!(Some(etag.as_str()), plain.header("etag"));
    let mut gz = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut gz).unwrap();
    assert!(
        gz.len() * 2 < plain.body.len(),
        "{} of {}",
        gz.len(),
        plain.body.len()
    );
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut json).unwrap();
    assert_eq!(json, plain.body);

    // Revalidating the gzipped copy is a bodiless 304.
    let again = app.request(
        "GET",
        "/v1/sites/demo/config",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
        None,
    );
    assert_eq!(again.status, 304);
}

#[test]
fn only_browsers_that_send_gpc_get_the_line_that_it_is_honoured() {
    // Arrange
    let app = spawn_app();
    let notice = |body: &str| body.split('\u{1f}').nth(8 + 10).unwrap().to_owned();
    let path = "/v1/sites/demo/widget?lang=de";

    // Act
    let with = app.request("GET", path, &[("Sec-GPC", "1")], None);
    let without = app.get(path);

    // Assert: the German line for one, nothing for the other, and caches
    // told that the answer depends on the header.
    assert!(notice(&with.body).starts_with("Das Global-Privacy-Control-Signal"));
    assert_eq!(notice(&without.body), "");
    assert_ne!(with.header("etag"), without.header("etag"));
    for r in [&with, &without] {
        assert_eq!(r.header("vary"), Some("Accept-Encoding, Sec-GPC"));
    }
}

#[test]
fn the_dialogs_texts_come_apart_in_the_same_language() {
    // Arrange
    let app = spawn_app();

    // Act
    let config = app.get("/v1/sites/demo/widget?lang=nl-BE,en-US");
    let details = app.get("/v1/sites/demo/widget/details?lang=nl-BE,en-US");
    let unknown = app.get("/v1/sites/nope/widget/details?lang=nl");

    // Assert: the Dutch descriptions and purposes are in the details, not
    // in the config every visitor downloads.
    assert_eq!(details.status, 200);
    assert_eq!(
        details.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(details.header("etag").is_some());
    let purpose = "Meet bezoeken en paginaweergaven.";
    assert!(details.body.contains(purpose), "{}", details.body);
    assert!(!config.body.contains(purpose));
    // The cookie table's heads come first, then the four categories.
    assert!(details.body.contains("\u{1f}4\u{1f}necessary\u{1f}"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "unknown_site");
}

#[test]
fn widget_config_is_one_language_in_the_compact_form() {
    // Arrange
    let app = spawn_app();
    let field = |body: &str, i: usize| body.split('\u{1f}').nth(i).unwrap().to_owned();

    // Act: a Belgian-Dutch page in an American browser.
    let nl = app.get("/v1/sites/demo/widget?lang=nl-BE,en-US");

    // Assert: Dutch, with the Dutch text hash, and nothing in other
    // languages.
    assert_eq!(nl.status, 200);
    assert_eq!(nl.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(nl.header("cache-control"), Some("no-cache"));
    assert_eq!(field(&nl.body, 0), "6", "layout version");
    assert_eq!(field(&nl.body, 1), "1", "revision");
    assert_eq!(field(&nl.body, 3), "nl");
    assert_eq!(field(&nl.body, 4), app.text_hash("nl")[..16]);
    assert!(nl.body.contains("Analytisch"));
    assert!(!nl.body.contains("Analytics\u{1f}"));
    // A cookie pattern's name ends in `*`, which says so: no flag follows.
    assert!(
        nl.body
            .contains("\u{1f}2\u{1f}_ga\u{1f}_ga_*\u{1f}hotjar\u{1f}"),
        "{}",
        nl.body
    );
    let full = app.get("/v1/sites/demo/config");
    assert!(
        nl.body.len() * 3 < full.body.len(),
        "{} vs {}",
        nl.body.len(),
        full.body.len()
    );

    // The browser's language when the page has none; English when neither
    // is offered; malformed tags only fall through.
    let field3 = |q: &str| field(&app.get(&format!("/v1/sites/demo/widget{q}")).body, 3);
    assert_eq!(field3("?lang=,de-DE"), "de");
    assert_eq!(field3("?lang=sv,ja"), "en");
    assert_eq!(field3("?lang=fr_CA"), "fr");
    assert_eq!(field3("?lang=%3Cscript%3E"), "en");
    assert_eq!(field3(""), "en");

    // Each language has its own tag; revalidation is a bodiless 304.
    let etag = nl.header("etag").unwrap().to_owned();
    let en = app.get("/v1/sites/demo/widget?lang=en");
    assert_ne!(en.header("etag"), Some(etag.as_str()));
    let again = app.request(
        "GET",
        "/v1/sites/demo/widget?lang=nl-BE,en-US",
        &[("If-None-Match", &etag)],
        None,
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "");
}

#[test]
fn widget_config_follows_revision_bumps_and_refuses_bad_input() {
    let app = spawn_app();
    app.bump_revision();
    let body = app.get("/v1/sites/demo/widget?lang=en").body;
    assert_eq!(body.split('\u{1f}').nth(1), Some("2"));

    let resp = app.get(&format!("/v1/sites/demo/widget?lang={}", "en,".repeat(100)));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_code(), "invalid_language");
    assert_eq!(
        app.get("/v1/sites/nope/widget").error_code(),
        "unknown_site"
    );
    assert_eq!(
        app.get("/v1/sites/Not%20A%20Site/widget").error_code(),
        "invalid_id"
    );
}

#[test]
fn the_signals_script_follows_the_sites_settings() {
    // Arrange: the demo site has Consent Mode on (basic, a US-CA default).
    let app = spawn_app();

    // Act
    let script = app.get("/v1/sites/demo/signals.js");

    // Assert
    assert_eq!(script.status, 200, "{}", script.body);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(script.header("cache-control"), Some("no-cache"));
    // A site's page on another origin may load it, cross-origin isolated
    // or not, with or without `crossorigin` on its tag.
    assert_eq!(
        script.header("cross-origin-resource-policy"),
        Some("cross-origin")
    );
    assert_eq!(script.header("access-control-allow-origin"), Some("*"));
    let body = &script.body;
    assert!(body.contains("\"region\":[\"US-CA\"]"), "{body}");
    assert!(body.contains("\"wait_for_update\":500"), "{body}");
    assert!(
        body.contains("\"marketing\":[\"ad_storage\",\"ad_user_data\",\"ad_personalization\"]"),
        "{body}"
    );
    assert!(body.contains("crumb:change"));
    // Readable as served: everything inside the wrapper is indented.
    let lines: Vec<&str> = body.lines().collect();
    let inside = &lines[2..lines.len() - 1];
    assert!(inside.iter().all(|l| l.starts_with("  ")), "{body}");
    // The demo ties Microsoft UET and Clarity to its categories too.
    assert!(
        body.contains("w.uetq.push('consent', 'default', { ad_storage: 'denied' })"),
        "{body}"
    );
    assert!(body.contains("!!c.categories[\"marketing\"]"), "{body}");
    assert!(body.contains("w.clarity('consentv2'"), "{body}");
    // And Matomo's consent to analytics, required before its page view.
    assert!(body.contains("w._paq.push(['requireConsent']);"), "{body}");
    assert!(
        body.contains("var allowed = !!c.categories[\"analytics\"];"),
        "{body}"
    );
    assert!(
        body.contains("if (allowed) w._paq.push(['setConsentGiven']);"),
        "{body}"
    );
    assert!(
        body.contains("else if (matomo) w._paq.push(['forgetConsentGiven']);"),
        "{body}"
    );
    // Unchanged: a 304.
    let etag = script.header("etag").unwrap().to_owned();
    let again = app.request(
        "GET",
        "/v1/sites/demo/signals.js",
        &[("If-None-Match", &etag)],
        None,
    );
    assert_eq!(again.status, 304);
    // Matomo measuring without cookies until allowed: its cookie consent.
    let mut site = app.site();
    site.integrations.matomo.as_mut().unwrap().mode = MatomoMode::Cookies;
    app.put_site(&site);
    let body = app.get("/v1/sites/demo/signals.js").body;
    assert!(
        body.contains("w._paq.push(['requireCookieConsent']);"),
        "{body}"
    );
    assert!(body.contains("['setCookieConsentGiven']"), "{body}");
    assert!(body.contains("['forgetCookieConsentGiven']"), "{body}");
    assert!(!body.contains("'requireConsent'"), "{body}");
    // WordPress: the WP Consent API's cookies under the site's own
    // prefix; a category bound to strictly necessary is allowed at once.
    let mut site = app.site();
    site.integrations.wordpress = Some(
        serde_json::from_value(serde_json::json!({
            "cookie_prefix": "shop_consent",
            "statistics_anonymous": {"category": "necessary"}
        }))
        .unwrap(),
    );
    app.put_site(&site);
    let body = app.get("/v1/sites/demo/signals.js").body;
    assert!(body.contains("wpPrefix = 'shop_consent_'"), "{body}");
    assert!(body.contains("w.wp_consent_type = 'optin';"), "{body}");
    assert!(
        body.contains(r#"wpSet({"functional":true,"statistics-anonymous":true}, false);"#),
        "{body}"
    );
    assert!(
        body.contains(r#"["preferences","statistics","marketing"].forEach"#),
        "{body}"
    );
    // HubSpot: its banner off, and a functionality bound to strictly
    // necessary allowed from the start.
    let mut site = app.site();
    site.integrations.hubspot = Some(
        serde_json::from_value(serde_json::json!({"functionality": {"category": "necessary"}}))
            .unwrap(),
    );
    app.put_site(&site);
    let body = app.get("/v1/sites/demo/signals.js").body;
    assert!(
        body.contains("w.disableHubSpotCookieBanner = true;"),
        "{body}"
    );
    assert!(
        body.contains("w._hsp.push(['setHubSpotConsent', { analytics: false, advertisement: false, functionality: true }]);"),
        "{body}"
    );
    // The TikTok Pixel: held first in its queue.
    let mut site = app.site();
    site.integrations.tiktok_pixel =
        Some(serde_json::from_value(serde_json::json!({"category": "marketing"})).unwrap());
    app.put_site(&site);
    let body = app.get("/v1/sites/demo/signals.js").body;
    assert!(body.contains("w.ttq.push(['holdConsent']);"), "{body}");
    // Switched off: a clear 404.
    let mut site = app.site();
    site.integrations = Default::default();
    app.put_site(&site);
    let off = app.get("/v1/sites/demo/signals.js");
    assert_eq!(off.status, 404);
    assert_eq!(off.error_code(), "not_enabled");
}
