//! A first visit: the banner, and nothing gated runs or is requested.

use crumb_e2e::{Browser, Site};
use serde_json::json;

use crate::{banner_visible, open, ran, settle};

#[test]
fn first_visit_shows_the_banner_and_runs_nothing() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);

    // Act
    open(&site, &browser, "/");
    settle();

    // Assert
    assert!(banner_visible(&browser));
    assert_eq!(
        ran(&browser),
        json!({"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false})
    );
    let requests = browser.requests();
    assert!(
        requests.iter().any(|u| u.ends_with("/crumb.js")),
        "{requests:?}"
    );
    assert_eq!(Browser::vendor_requests(&requests), Vec::<String>::new());
    // The YouTube embed waits behind a placeholder.
    assert_eq!(
        browser.js("return document.querySelector('iframe').getAttribute('src')"),
        json!(null)
    );
    assert!(
        browser.js("return !!document.querySelector('.crumb-ph [data-crumb-allow=youtube]')")
            == json!(true)
    );
    // Nothing is recorded before a choice.
    assert!(site.records().is_empty());
    // Equal prominence: accept and reject have the same size and class.
    let sizes = browser.js("return ['accept','reject','customize'].map(a => {
            const b = document.querySelector('.crumb-banner [data-a=' + a + ']');
            const r = b.getBoundingClientRect();
            return [b.className, Math.round(r.width), Math.round(r.height)];
        });");
    assert_eq!(
        sizes[0], sizes[1],
        "accept and reject look the same: {sizes}"
    );
}

#[test]
fn banner_speaks_the_page_language() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/nl.html");
    assert_eq!(
        browser.js("return document.querySelector('.crumb-banner [data-a=reject]').textContent"),
        json!("Alles weigeren")
    );
}

#[test]
fn cookie_policy_page_shows_the_declaration() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);

    open(&site, &browser, "/cookie-policy.html");

    let text = browser.js("return document.querySelector('[data-crumb-declaration]').textContent");
    let text = text.as_str().unwrap();
    for expected in [
        "Strictly necessary",
        "Hotjar",
        "_hjSessionUser_*",
        "Meta Pixel",
        "_fbp",
        "90 days",
        "Reddit, Inc.",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from the declaration"
        );
    }
    assert_eq!(
        browser.js("return document.querySelectorAll('[data-crumb-declaration] table').length"),
        json!(7)
    );
}
