//! Choosing: customize, reject all, placeholders, what a reload does, and
//! the preferences reopened while a choice is on its way to the server.

use crumb_e2e::{Browser, Site};
use serde_json::json;

use crate::{accepted, banner_visible, open, open_dialog, ran};

#[test]
fn analytics_only_runs_analytics_and_records_it() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.requests();

    // Act: Customize, switch analytics on, save.
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
    browser.wait("typeof window.hj === 'function'");
    browser.settled();

    // Assert: the page.
    assert_eq!(
        ran(&browser),
        json!({"ga": true, "hotjar": true, "piwik": true, "vwo": false, "meta": false, "reddit": false})
    );
    assert!(!banner_visible(&browser));
    // (By host: Firefox's and WebKitGTK's proxy sees no https path.)
    let vendors = Browser::vendor_requests(&browser.wait_for_request("static.hotjar.com"));
    assert!(
        vendors
            .iter()
            .any(|u| u.contains("www.googletagmanager.com")),
        "{vendors:?}"
    );
    assert!(
        !vendors
            .iter()
            .any(|u| u.contains("facebook") || u.contains("visualwebsiteoptimizer"))
    );

    // Assert: the server's record.
    let records = site.wait_for_records(1);
    let r = &records[0];
    assert_eq!(r["event"], "given");
    assert_eq!(r["method"], "custom");
    assert_eq!(r["categories_granted"], json!(["necessary", "analytics"]));
    assert_eq!(r["categories_denied"], json!(["functional", "marketing"]));
    assert_eq!(
        r["services_granted"],
        json!(["google-analytics", "hotjar", "piwik-pro"])
    );
    assert_eq!(r["language"], "en");

    // The cookie now holds the server's consent id.
    browser.wait("document.cookie.includes('crumb_consent=1~' + '')");
    let consent = browser.js("return window.crumb.consent()");
    assert_eq!(consent["consent_id"], r["consent_id"]);
    assert_eq!(consent["categories"]["analytics"], true);

    // Scripts a single-page app adds later are gated too.
    browser.js(
        "for (const [cat, flag] of [['analytics', '__late_a'], ['marketing', '__late_m']]) {
            const s = document.createElement('script');
            s.type = 'text/plain'; s.dataset.category = cat;
            s.textContent = 'window.' + flag + ' = 1';
            document.body.appendChild(s);
         }",
    );
    browser.wait("window.__late_a === 1");
    browser.settled();
    assert_eq!(
        browser.js("return window.__late_m === undefined"),
        json!(true)
    );
}

#[test]
fn reject_all_runs_nothing_and_records_it() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");

    browser.click(".crumb-banner [data-a=reject]");
    let records = site.wait_for_records(1);
    browser.settled();

    assert_eq!(records[0]["method"], "reject_all");
    assert_eq!(records[0]["categories_granted"], json!(["necessary"]));
    assert_eq!(records[0]["services_granted"], json!([]));
    assert_eq!(
        ran(&browser),
        json!({"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false})
    );
    assert!(!banner_visible(&browser));
    assert_eq!(
        Browser::vendor_requests(&browser.requests()),
        Vec::<String>::new()
    );
    // Withdrawal is as easy as consent: the floating button is there.
    assert!(browser.js("return !!document.querySelector('.crumb-reopen')") == json!(true));
}

#[test]
fn reload_shows_no_banner_and_runs_allowed_scripts_again() {
    // Arrange: a visitor who allowed analytics.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open_dialog(&site, &browser);
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
    site.wait_for_records(1);
    browser.wait("document.cookie.includes('~0')");

    // Act
    open(&site, &browser, "/");
    browser.wait("typeof window.hj === 'function'");
    browser.settled();

    // Assert
    assert!(!banner_visible(&browser));
    assert_eq!(ran(&browser)["ga"], true);
    assert_eq!(ran(&browser)["meta"], false);
    assert_eq!(site.records().len(), 1, "a reload records nothing new");
}

#[test]
fn placeholder_button_allows_and_loads_the_embed() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    // The button says what it allows: the service, by name.
    assert_eq!(
        browser.js(
            "return document.querySelector('.crumb-ph [data-crumb-allow=youtube]').textContent"
        ),
        json!("Allow YouTube")
    );

    browser.click(".crumb-ph [data-crumb-allow=youtube]");
    browser.wait("document.querySelector('iframe').getAttribute('src')");

    assert_eq!(
        browser.js("return document.querySelector('iframe').getAttribute('src')"),
        json!("https://www.youtube.com/embed/dQw4w9WgXcQ")
    );
    assert_eq!(
        browser.js("return document.querySelectorAll('.crumb-ph').length"),
        json!(0)
    );
    let records = site.wait_for_records(1);
    assert_eq!(records[0]["services_granted"], json!(["youtube"]));
    // Only YouTube: the category's other services stay off.
    assert_eq!(ran(&browser)["meta"], false);
}

#[test]
fn an_embed_added_later_without_a_service_is_allowed_by_its_category() {
    // Arrange: a single-page app adds a functional embed that names no
    // service.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("const f = document.createElement('iframe');
         f.id = 'late'; f.dataset.src = '/nl.html'; f.dataset.category = 'functional';
         document.body.prepend(f);");
    browser.wait("document.querySelector('.crumb-ph [data-crumb-allow=functional]')");
    assert_eq!(
        browser.js("return document.getElementById('late').hasAttribute('src')"),
        json!(false)
    );
    // The button says it allows the whole category, not just this embed.
    assert_eq!(
        browser.js(
            "return document.querySelector('.crumb-ph [data-crumb-allow=functional]').textContent"
        ),
        json!("Allow Functional cookies")
    );

    // Act
    browser.click(".crumb-ph [data-crumb-allow=functional]");

    // Assert: the embed loads and the category is recorded as allowed.
    browser.wait("document.getElementById('late').getAttribute('src') === '/nl.html'");
    let records = site.wait_for_records(1);
    assert_eq!(
        records[0]["categories_granted"],
        json!(["necessary", "functional"])
    );
}

#[test]
fn a_placeholder_goes_when_a_single_page_app_removes_its_embed() {
    // Arrange: a single-page app's route shows a blocked video; the
    // framework owns the iframe, not Crumb's placeholder in front of it.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js(
        "const route = document.createElement('section'); route.id = 'route';
         const f = document.createElement('iframe'); f.id = 'video';
         f.dataset.src = 'https://www.youtube.com/embed/x'; f.dataset.category = 'marketing';
         f.dataset.service = 'youtube';
         route.append(f); document.body.append(route);",
    );
    let visible = "[...document.querySelectorAll('#route .crumb-ph')]
        .filter((p) => p.getClientRects().length > 0).length";
    browser.wait(&format!("{visible} === 1"));

    // Act: the next route removes the video, as a framework does (its own
    // node only), and puts its own content in.
    browser.js("document.getElementById('video').remove();
         document.getElementById('route').append(Object.assign(
           document.createElement('p'), {id: 'next', textContent: 'Next page'}));");
    browser.wait("document.getElementById('next')");

    // Assert: no "Allow YouTube" box is left on the next route.
    assert_eq!(browser.js(&format!("return {visible}")), json!(0));
}

#[test]
fn an_embed_an_app_points_elsewhere_follows_only_while_allowed() {
    // Arrange: functional allowed; a single-page app's player has loaded
    // its first source.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    accepted(&site, &browser);
    browser.js(
        "const f = document.createElement('iframe'); f.id = 'player';
         f.dataset.src = '/nl.html'; f.dataset.category = 'functional';
         document.body.append(f);",
    );
    let src = "document.getElementById('player').getAttribute('src')";
    browser.wait(&format!("{src} === '/nl.html'"));

    // Act: the next video, as React renders it: a new data-src on the same
    // element.
    browser.js("document.getElementById('player').dataset.src = '/cookie-policy.html'");

    // Assert: it follows, with no placeholder.
    browser.wait(&format!("{src} === '/cookie-policy.html'"));
    assert_eq!(
        browser.js("return document.querySelectorAll('.crumb-ph').length"),
        json!(0)
    );

    // Act: the visitor switches functional off, then the app moves on
    // once more.
    browser.click("a[data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=functional]");
    browser.click("dialog [data-a=save]");
    browser.wait("!document.querySelector('dialog.crumb-modal[open]')");
    browser.js("document.getElementById('player').dataset.src = '/meta-pixel.html'");
    browser.wait("document.querySelector('.crumb-ph [data-crumb-allow=functional]')");
    browser.settled();

    // Assert: nothing loads against the refusal, neither the new source
    // nor the old one; the player is hidden behind a placeholder that
    // asks for functional cookies.
    assert_eq!(browser.js(&format!("return {src}")), json!(""));
    assert_eq!(
        browser.js("return document.getElementById('player').contentWindow.location.href"),
        json!("about:blank")
    );
    assert_eq!(
        browser.js("return document.getElementById('player').getClientRects().length"),
        json!(0)
    );
}

#[test]
fn a_withdrawal_unloads_an_embed_it_no_longer_allows_until_allowed_again() {
    // Arrange: everything allowed, and an embed and a pixel loaded under
    // that choice.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    accepted(&site, &browser);
    browser.js("const f = document.createElement('iframe'); f.id = 'map';
         f.dataset.src = '/nl.html'; f.dataset.category = 'functional';
         const p = document.createElement('img'); p.id = 'pixel';
         p.dataset.src = '/demo.css?pixel'; p.dataset.category = 'functional';
         document.body.append(f, p);");
    let page = "document.getElementById('map').contentWindow.location.href";
    let pixel = "document.getElementById('pixel').getAttribute('src')";
    browser.wait(&format!("{page}.endsWith('/nl.html')"));
    assert_eq!(
        browser.js(&format!("return {pixel}")),
        json!("/demo.css?pixel")
    );

    // Act: the visitor withdraws functional cookies.
    browser.click("a[data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=functional]");
    browser.click("dialog [data-a=save]");
    site.wait_for_records(2);

    // Assert: the embed's page is gone, and a placeholder stands in for
    // it; the pixel is emptied.
    browser.wait(&format!("{page} === 'about:blank'"));
    browser.wait("document.querySelector('.crumb-ph [data-crumb-allow=functional]')");
    assert_eq!(
        browser.js("return document.getElementById('map').getClientRects().length"),
        json!(0)
    );
    assert_eq!(browser.js(&format!("return {pixel}")), json!(""));

    // Act: the visitor allows the category again from the placeholder.
    browser.click(".crumb-ph [data-crumb-allow=functional]");

    // Assert: both load again, the embed without its placeholder.
    browser.wait(&format!("{page}.endsWith('/nl.html')"));
    assert_eq!(
        browser.js("return document.querySelectorAll('.crumb-ph').length"),
        json!(0)
    );
    assert_eq!(
        browser.js(&format!("return {pixel}")),
        json!("/demo.css?pixel")
    );
}

/// The demo site cut down to two categories (necessary and analytics),
/// with a strictly necessary service listed first, as real cookie policies
/// do.
fn two_category_site(site: &Site) {
    let mut config = serde_json::to_value(site.config()).unwrap();
    config["categories"] = config["categories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "necessary" || c["id"] == "analytics")
        .cloned()
        .collect();
    let mut services: Vec<serde_json::Value> = config["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["category"] == "analytics")
        .cloned()
        .collect();
    services.insert(
        0,
        json!({"id": "session", "name": "Session", "provider": "Demo shop", "category": "necessary",
            "privacy_policy_url": "https://shop.example/privacy",
            "description": {"en": "Keeps your basket."},
            "cookies": [{"name": "sid", "purpose": {"en": "Basket"}, "retention": {"en": "Session"}}]}),
    );
    config["services"] = json!(services);
    site.put_config(&serde_json::from_value(config).unwrap());
}

#[test]
fn a_two_category_site_with_a_necessary_service_records_every_choice() {
    // Arrange
    let site = Site::start();
    two_category_site(&site);

    // Act: reject all, accept all and a custom choice (analytics without
    // Hotjar), each in a fresh browser.
    crate::record_three_choices(
        &site,
        &["input[data-cat=analytics]", "input[data-svc=hotjar]"],
    );

    // Assert: all three recorded, the necessary service granted in each,
    // and only the site's two categories in the records.
    let records = site.records();
    let summary: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["method"].clone(),
                r["categories_granted"].clone(),
                r["categories_denied"].clone(),
                r["services_granted"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("session")),
                r["services_denied"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                json!("reject_all"),
                json!(["necessary"]),
                json!(["analytics"]),
                true,
                json!(["google-analytics", "hotjar", "piwik-pro"])
            ),
            (
                json!("accept_all"),
                json!(["necessary", "analytics"]),
                json!([]),
                true,
                json!([])
            ),
            (
                json!("custom"),
                json!(["necessary", "analytics"]),
                json!([]),
                true,
                json!(["hotjar"])
            ),
        ]
    );
}

/// Whether the preferences dialog is open, and the category whose switch
/// has focus, once the page has settled.
fn dialog_and_focus(browser: &Browser) -> serde_json::Value {
    browser.settled();
    browser.js(
        "return [!!document.querySelector('dialog.crumb-modal[open]'),
                 document.activeElement.dataset.cat ?? null]",
    )
}

#[test]
fn the_dialog_opened_while_a_choice_is_on_its_way_stays_open_when_the_server_answers() {
    // Arrange: the server's answer to the choice is held back, as on a
    // slow network; the visitor accepts, then at once opens the
    // preferences from the page's "Cookie settings" link to look again.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("const send = window.fetch;
         window.fetch = (url, init) => init?.method == 'POST'
           ? new Promise((answered) => { window.__answer = () => answered(send(url, init)); })
           : send(url, init);");
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__answer && document.querySelector('.crumb-reopen')");
    browser.click("a[data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.js("document.querySelector('dialog input[data-cat=marketing]').focus()");

    // Act: the server's answer comes.
    browser.js("window.__answer()");
    site.wait_for_records(1);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");

    // Assert: the dialog is still open, focus where the visitor left it.
    assert_eq!(dialog_and_focus(&browser), json!([true, "marketing"]));
}

#[test]
fn the_dialog_opened_while_an_earlier_pages_choice_is_sent_again_stays_open() {
    // Arrange: a page that can hold its POSTs back (a script before
    // crumb.js, as on a slow network): the visitor accepts, and the page
    // goes before the choice is sent.
    let site = Site::start();
    let html = format!(
        "<!doctype html><html lang=en><head><title>Shop</title><script>
           const send = window.fetch;
           window.fetch = (url, init) => init?.method != 'POST' ? send(url, init)
             : sessionStorage.hold == 'for good' ? new Promise(() => {{}})
             : new Promise((answered) => {{ window.__answer = () => answered(send(url, init)); }});
         </script><script src=\"{}/crumb.js\" data-site=\"demo\" async></script></head>
         <body><a href=\"#\" data-crumb-open>Cookie settings</a></body></html>",
        site.base
    );
    let origin = site.page_elsewhere(html);
    let browser = Browser::new(1280, 800);
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");
    browser.js("sessionStorage.hold = 'for good'");
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("/crumb_consent=1~~.*~1(;|$)/.test(document.cookie)");
    // The next page view sends the choice again; its answer is held back
    // while the visitor opens the preferences.
    browser.js("sessionStorage.hold = 'until answered'");
    browser.goto(&format!("{origin}/"));
    browser.wait("window.__answer");
    browser.click("a[data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.js("document.querySelector('dialog input[data-cat=marketing]').focus()");

    // Act: the server's answer comes.
    browser.js("window.__answer()");
    site.wait_for_records(1);
    browser.wait("window.crumb?.consent() != null");

    // Assert: the choice counts now, and the dialog is still open, focus
    // where the visitor left it.
    assert_eq!(dialog_and_focus(&browser), json!([true, "marketing"]));
}
