//! The owner's statistics page, in a real browser.

use crumb_e2e::{Browser, Site};
use serde_json::json;
use time::Duration;

/// Two weeks of decisions with a drift towards rejecting marketing.
fn seed(site: &Site) {
    let hash = site.text_hash("en");
    for day in 0..14u32 {
        for visitor in 0..(20 + day % 5 * 3) {
            let (method, cats) = match (visitor + day) % 7 {
                0..=2 => (
                    "accept_all",
                    json!({"functional": true, "analytics": true, "marketing": true}),
                ),
                3 | 4 => ("reject_all", json!({})),
                5 => ("custom", json!({"analytics": true})),
                _ if day > 6 => ("reject_all", json!({})),
                _ => ("custom", json!({"functional": true, "analytics": true})),
            };
            let body = json!({"revision": 1, "language": "en", "text_hash": hash, "method": method, "categories": cats});
            ureq::post(&site.url("/v1/sites/demo/consents"))
                .send_json(body)
                .unwrap();
        }
        site.clock.advance(Duration::days(1));
    }
}

#[test]
fn owner_sees_consent_rates_as_charts() {
    let site = Site::start();
    seed(&site);
    let token = site.token();
    let browser = Browser::new(1100, 1100);

    browser.goto(&site.url("/owner"));
    browser.js(&format!(
        "const f = document.getElementById('login'); f.token.value = {};
         f.token.dispatchEvent(new Event('change'));
         f.requestSubmit();",
        json!(token)
    ));
    browser.wait("!document.getElementById('report').hidden");
    // The token's sites are offered in the site field.
    browser.wait("document.querySelector('#sites option[value=demo]')");

    assert_eq!(
        browser.js("return document.querySelectorAll('#shares polyline').length"),
        json!(3)
    );
    assert_eq!(
        browser.js("return document.querySelectorAll('#shares circle').length"),
        json!(42)
    );
    assert!(
        browser
            .js("return document.querySelectorAll('#methods rect').length")
            .as_u64()
            .unwrap()
            >= 28
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    browser.screenshot(&dir.join("stats.png"));

    // A wrong token gets a message, not charts.
    browser.js(
        "const f = document.getElementById('login'); f.token.value = 'nope'; f.requestSubmit();",
    );
    browser.wait("document.getElementById('report').hidden");
    assert!(
        browser
            .js("return document.getElementById('status').textContent")
            .as_str()
            .unwrap()
            .contains("Crumb bearer token")
    );
}
