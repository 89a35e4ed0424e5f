//! A visitor's main paths in Firefox ESR (Gecko) and WebKitGTK (WebKit,
//! Safari's engine), whatever engine `CRUMB_E2E_ENGINE` names (`cargo
//! xtask test` runs the rest of the suite in each engine too, and these
//! in its Chromium pass only; see `Engine`): the
//! banner on a first visit with nothing gated run, "accept all" releasing
//! every gated snippet and recorded, the server's cookie, a returning
//! visit decided by the server, a withdrawal that another open tab follows,
//! a forged cookie that releases nothing, and a page on another origin;
//! gated scripts inserted every way a page inserts them, released in
//! document order; in WebKit, a page put back from the back/forward cache
//! after a choice made on another page; and Firefox's own Global Privacy
//! Control signal. (The other engines have no
//! network log like Chromium's, which tells when a page has settled: these
//! tests wait for what must happen, and leave the checks that nothing more
//! happens after that to Chromium's.)
//! (Safari's own limits on cookies written by script are not WebKitGTK's;
//! the README's deployment table says what each mode gives there.)

use crumb_e2e::{Browser, Engine, Site};
use serde_json::{Value, json};

use crate::gate::{EVERY_PATH, INSERT};
use crate::gpc::a_save_keeping_marketing_off_is_recorded_as_gpc;
use crate::{ADD_LATE_SCRIPTS, banner_visible, open, ran};

const NOTHING_RAN: &str = r#"{"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false}"#;
const EVERYTHING_RAN: &str =
    r#"{"ga": true, "hotjar": true, "piwik": true, "vwo": true, "meta": true, "reddit": true}"#;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn now_s() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as f64
}

fn a_visitors_main_paths(engine: Engine) {
    // Arrange: the demo shop, with Crumb on the page's own origin (the
    // server sets the cookie).
    let site = Site::start();
    let browser = Browser::of(engine, 1280, 800);

    // A first visit: the banner, and nothing gated has run.
    open(&site, &browser, "/");
    assert!(banner_visible(&browser), "{engine:?}");
    assert_eq!(ran(&browser), json(NOTHING_RAN), "{engine:?}");

    // "Accept all": every gated snippet runs, the choice is recorded, and
    // the server's cookie lasts at most the 400 days browsers allow.
    browser.click(".crumb-banner [data-a=accept]");
    let records = site.wait_for_records(1);
    let id = records[0]["consent_id"].as_str().unwrap().to_owned();
    browser.wait("typeof window.rdt === 'function' && typeof window.fbq === 'function'");
    assert_eq!(ran(&browser), json(EVERYTHING_RAN), "{engine:?}");
    let cookie = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "crumb_consent")
        .expect("a crumb_consent cookie");
    let expiry = cookie["expiry"].as_f64().unwrap();
    let day = 86_400.0;
    assert!(
        expiry > now_s() + 399.0 * day && expiry <= now_s() + 400.0 * day + 60.0,
        "{engine:?}: {cookie}"
    );

    // A returning visit: no banner, and the server's record releases the
    // scripts again.
    open(&site, &browser, "/");
    browser.wait("window.crumb?.consent() != null");
    assert!(!banner_visible(&browser), "{engine:?}");
    assert_eq!(
        browser.js("return window.crumb.consent().consent_id"),
        json!(id)
    );
    browser.wait("typeof window.rdt === 'function'");

    // A second tab of the shop; marketing withdrawn in the first.
    let first = browser.tab();
    let second = browser.new_tab();
    browser.switch_to(&second);
    open(&site, &browser, "/");
    browser.wait("window.crumb?.consent() != null");
    browser.switch_to(&first);
    browser.click("footer [data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=marketing]");
    browser.click("dialog [data-a=save]");
    let records = site.wait_for_records(2);
    assert_eq!(records[1]["categories_denied"], json!(["marketing"]));
    // The second tab follows, and releases no marketing script added
    // afterwards (the analytics one added with it runs, so the gate has
    // looked at both).
    browser.switch_to(&second);
    browser.wait("window.crumb?.consent()?.categories.marketing === false");
    browser.js(ADD_LATE_SCRIPTS);
    browser.wait("window.__lateAnalytics === true");
    assert_eq!(browser.js("return !!window.__lateMarketing"), json!(false));
    // Back to the first tab: WebKitGTK keeps the second one in the
    // background (hidden), where a choice would wait to be sent until the
    // tab is shown (see widget/loader.js).
    browser.switch_to(&first);

    // A forged cookie (an id the server never issued, everything granted,
    // ten years to go): the banner, and nothing released.
    let now_ms = now_s() as i64 * 1000;
    browser.js(&format!(
        "document.cookie = 'crumb_consent=1~0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f~1~{now_ms}~{}~a~15~google-analytics.hotjar.piwik-pro.vwo.meta-pixel.reddit-pixel.youtube~0; Path=/; Max-Age=31536000';",
        now_ms + 10 * 365 * 86_400_000
    ));
    open(&site, &browser, "/");
    assert!(banner_visible(&browser), "{engine:?}");
    assert_eq!(ran(&browser), json(NOTHING_RAN), "{engine:?}");

    // A page on another origin (http://localhost:PORT, Crumb on
    // http://127.0.0.1:PORT): the widget writes the cookie itself, and the
    // next visit's check, across origins, confirms it.
    let port = site.base.rsplit(':').next().unwrap().to_owned();
    let origin = format!("http://localhost:{port}");
    site.allow_origin(&origin);
    let page = format!("{origin}/other-origin.html");
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(3);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    browser.goto(&page);
    browser.wait("window.crumb?.consent() != null");
    assert!(!banner_visible(&browser), "{engine:?}");
}

/// Gated scripts inserted by every path a page uses (see
/// `gate::scripts_inserted_every_way_run_once_allowed_in_document_order`)
/// run once allowed, in document order.
fn scripts_inserted_every_way_run_in_document_order(engine: Engine) {
    // Arrange: a first visit, the banner up; the page inserts its scripts.
    let site = Site::start();
    let browser = Browser::of(engine, 1280, 800);
    open(&site, &browser, "/");
    browser.js(INSERT);
    browser.wait("window.__marked");
    assert_eq!(browser.js("return window.__ran"), json!([]), "{engine:?}");

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ran.length >= 5");

    // Assert
    assert_eq!(
        browser.js("return window.__ran"),
        json!(EVERY_PATH),
        "{engine:?}"
    );
}

#[test]
fn firefox_runs_a_visitors_main_paths() {
    a_visitors_main_paths(Engine::Firefox);
}

#[test]
fn webkit_runs_a_visitors_main_paths() {
    a_visitors_main_paths(Engine::WebKit);
}

#[test]
fn firefox_runs_scripts_inserted_every_way_in_document_order() {
    scripts_inserted_every_way_run_in_document_order(Engine::Firefox);
}

#[test]
fn webkit_runs_scripts_inserted_every_way_in_document_order() {
    scripts_inserted_every_way_run_in_document_order(Engine::WebKit);
}

#[test]
fn webkit_puts_back_a_cached_page_under_the_choice_made_meanwhile() {
    // Arrange: everything accepted on the shop, its YouTube embed loaded;
    // the visitor moves on to the cookie policy page and withdraws
    // marketing there.
    let site = Site::start();
    let browser = Browser::of(Engine::WebKit, 1280, 800);
    open(&site, &browser, "/");
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(1);
    let video = "document.querySelector('iframe.video').getAttribute('src')";
    browser.wait(&format!("({video} || '').includes('youtube')"));
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    browser.js("window.__kept = true;");
    browser.goto(&site.url("/cookie-policy.html"));
    browser.wait("window.crumb?.consent() != null");
    browser.click("button[data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=marketing]");
    browser.click("dialog [data-a=save]");
    site.wait_for_records(2);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");

    // Act: back to the shop, which WebKit puts back from its cache as it
    // was (its channel never heard of the withdrawal).
    browser.back();
    browser.wait("document.querySelector('iframe.video')");

    // Assert: the page is the cached one, and it follows the withdrawal:
    // site code hears it, and the embed is unloaded behind its placeholder.
    assert_eq!(browser.js("return window.__kept === true"), json!(true));
    browser.wait("window.crumb?.consent()?.categories.marketing === false");
    browser.wait(&format!("{video} === ''"));
    assert_eq!(
        browser.js("return !!document.querySelector('.crumb-ph [data-crumb-allow=youtube]')"),
        json!(true)
    );
}

#[test]
fn firefox_with_global_privacy_control_on_has_its_save_recorded_as_gpc() {
    // Arrange: Firefox with GPC switched on in its settings, so the signal
    // is the browser's own (the gpc tests make Chromium send one).
    let site = Site::start();
    let browser = Browser::firefox_with_gpc(1280, 800);
    open(&site, &browser, "/");
    assert_eq!(
        browser.js("return navigator.globalPrivacyControl"),
        json!(true)
    );
    // The banner says the signal is honoured (the server saw `Sec-GPC: 1`
    // on the config request: only those get that line).
    browser.wait("document.querySelector('.crumb-banner .crumb-gpc')");

    // Act and assert: a save that keeps marketing off, as in Chromium.
    a_save_keeping_marketing_off_is_recorded_as_gpc(&site, &browser);
}
