//! The server decides whether a consent counts; the `crumb_consent` cookie
//! is only the browser's cache of it: forged or edited cookies release
//! nothing, the server's clock rules expiry, every confirmed visit pushes
//! the cookie's expiry out (at most 400 days), a `cookie_domain` shares one
//! consent between the site's hosts, tabs (prerendered pages among them)
//! follow each other, and without the server only strictly necessary runs.

use crumb_e2e::trap::Refusal;
use crumb_e2e::{Browser, Engine, Site};
use serde_json::{Value, json};
use time::Duration;

use crate::{ADD_LATE_SCRIPTS, accept_all, banner_visible, open, ran};

const DAY_S: f64 = 86_400.0;

/// The `crumb_consent` cookie as WebDriver reports it.
fn consent_cookie(browser: &Browser) -> Value {
    browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "crumb_consent")
        .expect("a crumb_consent cookie")
}

/// A consent id the server never issued.
const UNKNOWN_ID: &str = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f";

/// Writes `crumb_consent` as a page script could: `1~id~revision~given~
/// expires~{rest}`, given now and expiring `days` from now.
fn plant_cookie(browser: &Browser, id: &str, days: i64, rest: &str) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let expires = now + days * 86_400_000;
    browser.js(&format!(
        "document.cookie = 'crumb_consent=1~{id}~1~{now}~{expires}~{rest}; Path=/; Max-Age={}';",
        days * 86_400
    ));
}

/// The `Max-Age` of a `Set-Cookie` header, in seconds.
fn max_age(set_cookie: &str) -> i64 {
    cookie::Cookie::parse(set_cookie)
        .ok()
        .and_then(|c| c.max_age())
        .unwrap_or_else(|| panic!("no Max-Age in {set_cookie}"))
        .whole_seconds()
}

/// Lets pages on `http://localhost:PORT` use Crumb on
/// `http://127.0.0.1:PORT` (another origin) and returns that page origin.
fn allow_localhost_pages(site: &Site) -> String {
    let port = site.base.rsplit(':').next().unwrap().to_owned();
    let origin = format!("http://localhost:{port}");
    site.allow_origin(&origin);
    origin
}

/// The demo on `http://HOST.crumb.test:PORT` for each of `hosts` (allowed
/// origins of the site), with a browser that reaches them through the
/// tests' proxy (`crumb_e2e::trap`), which a test can have refuse some of
/// their requests. Chromium is told to use it, and to treat the hosts as
/// secure contexts (so it sends `Sec-Fetch-Site`); Firefox and WebKitGTK
/// use it always.
fn on_crumb_test_hosts<const N: usize>(site: &Site, hosts: [&str; N]) -> (Browser, [String; N]) {
    let port = site.base.rsplit(':').next().unwrap().to_owned();
    let origins = hosts.map(|host| format!("http://{host}.crumb.test:{port}"));
    let mut config = site.config();
    config.allowed_origins.extend(origins.iter().cloned());
    site.put_config(&config);
    if Engine::from_env() != Engine::Chromium {
        return (Browser::new(1280, 800), origins);
    }
    let browser = Browser::with_flags(
        1280,
        800,
        &[
            &format!("--proxy-server=http://{}", crumb_e2e::trap::address()),
            &format!(
                "--unsafely-treat-insecure-origin-as-secure={}",
                origins.join(",")
            ),
        ],
    );
    (browser, origins)
}

/// The domain of each `crumb_consent` cookie the browser holds.
fn consent_cookie_domains(browser: &Browser) -> Vec<String> {
    browser
        .cookies()
        .into_iter()
        .filter(|c| c["name"] == "crumb_consent")
        .map(|c| c["domain"].as_str().unwrap().to_owned())
        .collect()
}

fn now_s() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as f64
}

/// Shifts the page's clock (`Date.now`) by `by` on every page of the
/// demo from now on.
pub(crate) fn shift_page_clock(site: &Site, by: Duration) {
    site.before_every_page(&format!(
        "{{ const shift = {}; const now = Date.now; Date.now = () => now.call(Date) + shift; }}",
        by.whole_milliseconds()
    ));
}

/// Counts the page's own writes of `crumb_consent` through
/// `document.cookie` (in `window.__scriptWrites`), on every page of the
/// demo.
fn count_script_cookie_writes(site: &Site) {
    site.before_every_page(
        "{ const d = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
           window.__scriptWrites = 0;
           Object.defineProperty(document, 'cookie', {
             get() { return d.get.call(document); },
             set(v) { if (v.startsWith('crumb_consent=')) window.__scriptWrites++; d.set.call(document, v); },
           }); }",
    );
}

/// Rewrites the `crumb_consent` cookie with one day left, as if it had
/// been written long ago.
fn age_consent_cookie(browser: &Browser) {
    browser.js(
        "const v = document.cookie.match(/crumb_consent=([^;]*)/)[1];
         document.cookie = 'crumb_consent=' + v + '; Path=/; SameSite=Lax; Max-Age=86400';",
    );
}

#[test]
fn the_cookie_lives_at_most_400_days_and_each_visit_pushes_it_out() {
    // Arrange: a choice, then the cookie aged to one day left (as if it
    // had been written long ago).
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    accept_all(&site, &browser);
    let first = consent_cookie(&browser)["expiry"].as_f64().unwrap();
    assert!(
        first <= now_s() + 400.0 * DAY_S + 5.0,
        "the cookie's expiry {first} is more than 400 days away"
    );
    assert!(first >= now_s() + 399.0 * DAY_S, "{first}");
    age_consent_cookie(&browser);
    let aged = consent_cookie(&browser)["expiry"].as_f64().unwrap();
    assert!(aged < now_s() + 2.0 * DAY_S);

    // Act: a visit one day later (server and page clocks moved).
    site.clock.advance(Duration::days(1));
    shift_page_clock(&site, Duration::days(1));
    open(&site, &browser, "/");
    browser.wait("window.crumb?.consent() != null");

    // Assert: the visit pushed the expiry out again, still within 400 days.
    let refreshed = consent_cookie(&browser)["expiry"].as_f64().unwrap();
    assert!(
        refreshed > aged && refreshed >= first,
        "{refreshed} vs {aged}"
    );
    assert!(refreshed <= now_s() + 400.0 * DAY_S + 5.0, "{refreshed}");
    assert!(!banner_visible(&browser));
}

#[test]
fn a_forged_cookie_releases_nothing() {
    // Arrange: a cookie the server never issued, granting everything for
    // ten years.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    plant_cookie(
        &browser,
        UNKNOWN_ID,
        10 * 365,
        "a~15~google-analytics.hotjar.piwik-pro.vwo.meta-pixel.reddit-pixel.youtube~0",
    );
    browser.requests();

    // Act
    open(&site, &browser, "/");

    // Assert
    assert!(banner_visible(&browser));
    assert_eq!(
        ran(&browser),
        json!({"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false})
    );
    assert_eq!(browser.js("return window.crumb.consent()"), Value::Null);
    let vendors = Browser::vendor_requests(&browser.requests());
    assert!(vendors.is_empty(), "{vendors:?}");
    assert!(site.records().is_empty());
}

#[test]
fn an_edited_cookie_grants_nothing_the_record_refused() {
    // Arrange: a recorded "reject all", then the cookie edited to grant
    // every category and service.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.click(".crumb-banner [data-a=reject]");
    site.wait_for_records(1);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    browser.js(
        "const v = document.cookie.match(/crumb_consent=([^;]*)/)[1].split('~');
         v[5] = 'a'; v[6] = '15'; v[7] = 'google-analytics.hotjar.vwo.meta-pixel.reddit-pixel.youtube';
         document.cookie = 'crumb_consent=' + v.join('~') + '; Path=/; Max-Age=86400';",
    );
    browser.requests();

    // Act
    open(&site, &browser, "/");
    browser.wait("window.crumb?.consent() != null");

    // Assert: the server's record decides.
    assert!(!banner_visible(&browser));
    let consent = browser.js("return window.crumb.consent()");
    assert_eq!(consent["method"], "reject_all");
    assert_eq!(consent["categories"]["marketing"], false);
    assert_eq!(
        ran(&browser),
        json!({"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false})
    );
    let vendors = Browser::vendor_requests(&browser.requests());
    assert!(vendors.is_empty(), "{vendors:?}");
    // And the cookie holds the record again.
    let value = consent_cookie(&browser)["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(value.contains("~r~1~~0"), "{value}");
}

#[test]
fn the_server_clock_decides_expiry() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    accept_all(&site, &browser);
    let cookie = consent_cookie(&browser)["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let expires_ms: u64 = cookie.split('~').nth(4).unwrap().parse().unwrap();

    // Act: the server lives two years and a day later; the page does not,
    // so by the cookie's own expiry field the consent still counts.
    site.clock.advance(Duration::days(731));
    open(&site, &browser, "/");

    // Assert
    let page_now = browser.js("return Date.now()").as_u64().unwrap();
    assert!(page_now < expires_ms, "the cookie alone would still count");
    assert!(banner_visible(&browser));
    assert_eq!(ran(&browser)["ga"], false);
    assert_eq!(browser.js("return window.crumb.consent()"), Value::Null);
}

#[test]
fn same_origin_crumb_sets_the_cookie_from_the_server() {
    // Arrange: the demo serves pages and Crumb from one origin; its pages
    // count their own writes of the cookie. Chromium's network log shows
    // the answers' headers too.
    let site = Site::start();
    count_script_cookie_writes(&site);
    let browser = Browser::new(1280, 800);
    let chromium = Engine::from_env() == Engine::Chromium;
    open(&site, &browser, "/");
    if chromium {
        browser.responses();
    }

    // Act: a choice; then, with the cookie aged to one day left, a visit.
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(1);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    let writes_on_choice = browser.js("return window.__scriptWrites");
    let chosen = consent_cookie(&browser)["expiry"].as_f64().unwrap();
    let posted = chromium.then(|| browser.responses());
    age_consent_cookie(&browser);
    open(&site, &browser, "/");
    browser.wait("window.crumb?.consent() != null");
    let checked = chromium.then(|| browser.responses());

    // Assert: the page wrote the choice once, as sent (pending); the
    // recorded value came from the consent POST's answer, and the visit's
    // refresh from the visit check's, each for at most 400 days.
    assert_eq!(writes_on_choice, json!(1));
    assert_eq!(browser.js("return window.__scriptWrites"), json!(0));
    assert!(chosen <= now_s() + 400.0 * DAY_S + 5.0, "{chosen}");
    let refreshed = consent_cookie(&browser)["expiry"].as_f64().unwrap();
    assert!(refreshed >= now_s() + 399.0 * DAY_S, "{refreshed}");
    assert!(refreshed <= now_s() + 400.0 * DAY_S + 5.0, "{refreshed}");
    assert!(!banner_visible(&browser));
    assert_eq!(ran(&browser)["meta"], true);
    // What Chromium saw: both answers carry the cookie.
    for (what, responses, path) in [
        ("consent POST", posted, "/v1/sites/demo/consents"),
        ("visit check", checked, "/v1/sites/demo/consents/"),
    ] {
        let Some(responses) = responses else { continue };
        let (_, headers) = responses
            .iter()
            .find(|(url, h)| url.contains(path) && h.iter().any(|(n, _)| n == "set-cookie"))
            .unwrap_or_else(|| panic!("the {what} set no cookie: {responses:?}"));
        let set = &headers.iter().find(|(n, _)| n == "set-cookie").unwrap().1;
        assert!(set.starts_with("crumb_consent=1~"), "{set}");
        assert!(max_age(set) <= 400 * 86_400, "{what}: {set}");
    }
}

#[test]
fn a_cookie_domain_shares_one_consent_between_the_sites_hosts() {
    // Arrange: the demo on www.crumb.test and shop.crumb.test (both passed
    // to Crumb by the tests' proxy, pages and Crumb on one origin each;
    // treated as secure contexts so Chromium sends `Sec-Fetch-Site`). A visitor chose on
    // www before the site had a `cookie_domain`, so their cookie is
    // www's alone.
    let site = Site::start();
    let (browser, [www, shop]) = on_crumb_test_hosts(&site, ["www", "shop"]);
    let visit = |origin: &str| {
        browser.goto(&format!("{origin}/"));
        browser.wait(
            "window.crumb && (window.crumb.consent() || document.querySelector('.crumb-banner'))",
        );
    };
    visit(&www);
    browser.click(".crumb-banner [data-a=accept]");
    let id = site.wait_for_records(1)[0]["consent_id"].clone();
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    assert_eq!(consent_cookie_domains(&browser), ["www.crumb.test"]);

    // Act: the owner shares consent across the site's hosts; the visitor
    // comes back to www, then goes to shop.
    let mut config = site.config();
    config.cookie_domain = Some("crumb.test".into());
    site.put_config(&config);
    visit(&www);
    let on_www = browser.js("return window.crumb.consent()");
    let cookies_on_www = consent_cookie_domains(&browser);
    visit(&shop);
    let on_shop = browser.js("return window.crumb.consent()");

    // Assert: one cookie, now the site's: www's own went with the visit
    // check's answer (beside the shared one, read first as the older, it
    // would have hidden every later choice). Shop knows the choice
    // without asking, and runs what it allows.
    assert_eq!(cookies_on_www, [".crumb.test"]);
    assert_eq!(on_www["consent_id"], id);
    assert_eq!(on_shop["consent_id"], id);
    assert!(!banner_visible(&browser));
    assert_eq!(ran(&browser)["ga"], true);
}

#[test]
fn on_another_origin_a_cookie_domain_added_later_leaves_one_consent_cookie() {
    // Arrange: Crumb on http://localhost:PORT, the site's pages on
    // www.crumb.test (another origin, so the widget writes the cookie).
    // A visitor chose before the site had a `cookie_domain`: their cookie
    // is www's alone.
    let site = Site::start();
    let (browser, [www]) = on_crumb_test_hosts(&site, ["www"]);
    let visit = || {
        browser.goto(&format!("{www}/other-origin.html"));
        browser.wait(
            "window.crumb && (window.crumb.consent() || document.querySelector('.crumb-banner'))",
        );
    };
    visit();
    browser.click(".crumb-banner [data-a=accept]");
    let first = site.wait_for_records(1)[0]["consent_id"].clone();
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    assert_eq!(consent_cookie_domains(&browser), ["www.crumb.test"]);

    // Act: the owner shares consent across the site's hosts and the
    // visitor comes back; later the site's backend withdraws that
    // consent, and the visitor makes a new choice on the next visit.
    let mut config = site.config();
    config.cookie_domain = Some("crumb.test".into());
    site.put_config(&config);
    visit();
    let cookies_after_refresh = consent_cookie_domains(&browser);
    let withdrawn = ureq::post(&site.url(&format!(
        "/v1/sites/demo/consents/{}/withdraw",
        first.as_str().unwrap()
    )))
    .call()
    .unwrap();
    assert_eq!(withdrawn.status(), 201);
    visit();
    assert!(banner_visible(&browser));
    browser.click(".crumb-banner [data-a=reject]");
    let second = site.wait_for_records(3)[2]["consent_id"].clone();
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    visit();

    // Assert: one cookie, the shared one, naming the new consent; the
    // withdrawn one is not read again, so no banner comes back.
    assert_ne!(second, first);
    assert!(!banner_visible(&browser));
    assert_eq!(
        browser.js("return window.crumb.consent()")["consent_id"],
        second
    );
    assert_eq!(cookies_after_refresh, [".crumb.test"]);
}

#[test]
fn a_choice_in_one_tab_reaches_the_other_within_a_second() {
    // Arrange: two tabs of the shop, both asking.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    let a = browser.tab();
    let b = browser.new_tab();
    browser.switch_to(&b);
    open(&site, &browser, "/");
    assert!(banner_visible(&browser));
    browser.js(
        "window.__changes = [];
         document.addEventListener('crumb:change', e => window.__changes.push([Date.now(), e.detail]));",
    );

    // Act 1: accept in tab A; tab B's banner closes.
    browser.switch_to(&a);
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(1);
    browser.switch_to(&b);
    browser.wait("window.__changes.length > 0 && !document.querySelector('.crumb-banner')");
    assert_eq!(
        browser.js("return window.crumb.consent().categories.marketing"),
        json!(true)
    );
    // Its YouTube embed (marketing) has loaded.
    let video = "document.querySelector('iframe.video').getAttribute('src')";
    browser.wait(&format!("{video} && {video}.includes('youtube')"));

    // Act 2: withdraw marketing in tab A.
    browser.switch_to(&a);
    browser.click("footer [data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=marketing]");
    let saved_at =
        browser.js("document.querySelector('dialog [data-a=save]').click(); return Date.now();");
    // Tab A acts on the choice after its next paint; a tab hidden within
    // that frame (WebDriver switches quicker than a person) would only do
    // so when shown again. The POST, sent with the word to the other tabs,
    // says it has.
    site.wait_for_records(2);

    // Assert: tab B follows within a second...
    browser.switch_to(&b);
    browser.wait("window.crumb?.consent()?.categories.marketing === false");
    let changes = browser.js("return window.__changes");
    let last = changes.as_array().unwrap().last().unwrap().clone();
    let delay = last[0].as_f64().unwrap() - saved_at.as_f64().unwrap();
    assert!(delay < 1000.0, "tab B heard of it after {delay} ms");
    assert_eq!(last[1]["categories"]["marketing"], false);
    // ...and releases no marketing script added afterwards. (The analytics
    // one added with it runs, so the gate has looked at both.)
    browser.js(ADD_LATE_SCRIPTS);
    browser.wait("window.__lateAnalytics === true");
    assert_eq!(browser.js("return !!window.__lateMarketing"), json!(false));
    // Its YouTube embed is unloaded, behind its placeholder again.
    assert_eq!(browser.js(&format!("return {video}")), json!(""));
    assert_eq!(
        browser.js("return !!document.querySelector('.crumb-ph [data-crumb-allow=youtube]')"),
        json!(true)
    );
    let records = site.wait_for_records(2);
    assert_eq!(records[1]["categories_denied"], json!(["marketing"]));
}

#[test]
fn a_page_prerendered_before_the_choice_follows_it_once_shown() {
    // (Speculation Rules' prerendering is Chromium's alone: `CHROMIUM_ONLY`
    // in xtask/src/main.rs keeps this test out of the other engines' passes.)
    // Arrange: a shop's page (on an origin of its own) that asks Chromium to
    // prerender the next one (Speculation Rules, as a site or its plugins
    // may ask), which gates an analytics script; the next page notes in
    // localStorage when it shows Crumb's banner while still prerendered.
    let site = Site::start();
    let tag = format!(
        "<script src=\"{}/crumb.js\" data-site=\"demo\" async></script>",
        site.base
    );
    let first = format!(
        "<!doctype html><html lang=en><head><title>Shop</title>{tag}\
         <script type=\"speculationrules\">\
           {{\"prerender\": [{{\"source\": \"list\", \"urls\": [\"/next\"]}}]}}</script>\
         </head><body><a id=\"next\" href=\"/next\">Next</a></body></html>"
    );
    let next = format!(
        "<!doctype html><html lang=en><head><title>Next</title>{tag}\
         <script>setInterval(() => document.prerendering && document.querySelector('.crumb-banner')\
           && localStorage.setItem('prerendered', 'banner'), 20);</script>\
         <script type=\"text/plain\" data-category=\"analytics\">\
           window.__ran = (window.__ran || 0) + 1</script>\
         </head><body><p>The next page.</p></body></html>"
    );
    let origin = crumb_e2e::serve(
        vec![
            ("/", "text/html; charset=utf-8", first),
            ("/next", "text/html; charset=utf-8", next),
        ],
        "",
    );
    site.allow_origin(&origin);
    // Chromium prerenders nothing on a machine it finds short of memory;
    // a CI runner may look so, and this test needs the prerender.
    let browser = Browser::with_flags(1280, 800, &["--disable-features=Prerender2MemoryControls"]);
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");
    browser.wait("localStorage.getItem('prerendered') === 'banner'");

    // Act: accept all here, then go to the prerendered page.
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(1);
    browser.click("#next");
    browser.wait("location.pathname === '/next' && window.__ran === 1");
    browser.settled();

    // Assert: the page shown is the prerendered one; it asks nothing, the
    // choice counts there, and its analytics script ran once.
    assert_eq!(
        browser.js(
            "return [performance.getEntriesByType('navigation')[0].activationStart > 0,
                     !!document.querySelector('.crumb-banner'),
                     crumb.consent()?.categories.analytics, window.__ran]"
        ),
        json!([true, false, true, 1])
    );
    assert_eq!(site.records().len(), 1);
}

#[test]
fn error_answers_are_readable_from_another_origin() {
    // Arrange: a page on http://localhost:PORT calling Crumb's API on
    // http://127.0.0.1:PORT, an allowed origin.
    let site = Site::start();
    let page_origin = allow_localhost_pages(&site);
    let browser = Browser::new(1280, 800);
    browser.goto(&format!("{page_origin}/cookie-policy.html"));

    // Act
    browser.js(&format!(
        "const api = '{}/v1/sites/demo';
         const post = (body) => fetch(api + '/consents', {{method: 'POST', body,
           headers: {{'content-type': 'application/json'}}}});
         const read = (r) => r.json().then((j) => [r.status, j.error]);
         window.__answers = null;
         Promise.all([
           post('{{'),
           fetch(api + '/consents/00000000-0000-4000-8000-000000000000'),
           post(JSON.stringify({{revision: 99, language: 'en', text_hash: '0'.repeat(64),
             method: 'reject_all', categories: {{}}}})),
         ].map((p) => p.then(read))).then((a) => window.__answers = a, (e) => window.__answers = String(e));",
        site.base
    ));
    browser.wait("window.__answers !== null");

    // Assert: the page read every status and error code.
    assert_eq!(
        browser.js("return window.__answers"),
        json!([
            [400, "invalid_body"],
            [404, "unknown_consent"],
            [409, "outdated_revision"]
        ])
    );
}

#[test]
fn an_unknown_consent_id_leads_to_a_new_consent() {
    // Arrange: a choice not yet acknowledged, for a consent id the server
    // does not know (say, its database was reset).
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    plant_cookie(&browser, UNKNOWN_ID, 1, "r~1~~1");

    // Act: the next page view sends it; the server answers unknown_consent.
    open(&site, &browser, "/");

    // Assert: it is recorded as a new consent.
    let records = site.wait_for_records(1);
    assert_eq!(records[0]["event"], "given");
    assert_eq!(records[0]["method"], "reject_all");
    assert_ne!(records[0]["consent_id"], UNKNOWN_ID);
    browser.wait("window.crumb?.consent() != null");
    assert_eq!(
        browser.js("return window.crumb.consent().consent_id"),
        records[0]["consent_id"]
    );
}

#[test]
fn after_a_withdrawal_the_next_choice_is_a_new_consent() {
    // Arrange: a visitor accepted everything; the site's backend then
    // withdrew that consent (say, from the visitor's account page).
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    let given = accept_all(&site, &browser);
    let old_id = given["consent_id"].as_str().unwrap().to_owned();
    let withdrawn = ureq::post(&site.url(&format!("/v1/sites/demo/consents/{old_id}/withdraw")))
        .call()
        .unwrap();
    assert_eq!(withdrawn.status(), 201);

    // Act: the next page view asks again; the visitor refuses everything.
    open(&site, &browser, "/");
    assert!(banner_visible(&browser));
    assert_eq!(ran(&browser)["meta"], false);
    browser.click(".crumb-banner [data-a=reject]");

    // Assert: the ended consent is not updated; the choice is a new one.
    let records = site.wait_for_records(3);
    assert_eq!(records[1]["event"], "withdrawn");
    assert_eq!(records[2]["event"], "given");
    assert_eq!(records[2]["method"], "reject_all");
    assert_ne!(records[2]["consent_id"], json!(old_id));
    browser.wait(&format!(
        "window.crumb.consent() && window.crumb.consent().consent_id === {}",
        records[2]["consent_id"]
    ));
}

#[test]
fn a_choice_refused_by_the_write_quota_is_sent_again_later() {
    // Arrange: a write quota of one, earned back in under two seconds; the
    // visitor's network (127.0.0.1, like this test's) has just spent it.
    let site = Site::start_with(|s| {
        s.write_burst = 1;
        s.write_rate = 0.6;
    });
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    let hash = site.text_hash("en");
    let spent = ureq::post(&site.url("/v1/sites/demo/consents")).send_json(
        json!({"revision": 1, "language": "en", "text_hash": hash, "method": "reject_all", "categories": {}}),
    );
    assert_eq!(spent.unwrap().status(), 201);

    // Act: the visitor's choice gets 429 first.
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: the widget tries again after a pause, and it is recorded.
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    let records = site.wait_for_records(2);
    assert_eq!(records[1]["method"], "accept_all");
}

#[test]
fn a_retried_choice_carries_the_same_idempotency_key_and_is_stored_once() {
    // Arrange: the demo on www.crumb.test behind the tests' proxy; the
    // first POST of a choice reaches the server, but its answer is lost on
    // the way back (the page sees a network error).
    let site = Site::start();
    let (browser, [www]) = on_crumb_test_hosts(&site, ["www"]);
    visit(&browser, &www);
    crumb_e2e::trap::refuse_paths(Some(("/consents", Refusal::AnswerLost)));
    browser.requests();

    // Act
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: the widget sent the choice again after a pause (it has the
    // server's receipt in its cookie now), and the server, given the same
    // idempotency key twice, kept one record.
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    let posts = browser
        .requests()
        .into_iter()
        .filter(|u| u.ends_with("/v1/sites/demo/consents"))
        .count();
    assert_eq!(posts, 2);
    assert_eq!(site.wait_for_records(1).len(), 1);
    assert_eq!(site.records().len(), 1);
}

/// Makes Crumb's consent API unreachable from pages on `crumb.test`
/// hosts (`down`), as when its server is down while the pages and the
/// widget's files still load, or reachable again.
fn consent_api_down(down: bool) {
    let refusal = down.then_some(("/consents", Refusal::Unanswered));
    crumb_e2e::trap::refuse_paths(refusal);
}

/// Opens the demo's shop page on `origin` and waits until the widget has
/// decided what to show.
fn visit(browser: &Browser, origin: &str) {
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner, .crumb-reopen')");
}

#[test]
fn without_the_server_only_strictly_necessary_runs() {
    // Arrange: the demo on www.crumb.test behind the tests' proxy,
    // everything accepted and recorded; then Crumb's consent API cannot be
    // reached.
    let site = Site::start();
    let (browser, [www]) = on_crumb_test_hosts(&site, ["www"]);
    visit(&browser, &www);
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(1);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    consent_api_down(true);
    browser.requests();

    // Act
    visit(&browser, &www);

    // Assert: the documented rule. The cookie alone releases nothing, the
    // visitor (who chose before) is not asked again, the dialog is at hand.
    assert!(!banner_visible(&browser));
    assert!(
        browser
            .js("return !!document.querySelector('.crumb-reopen')")
            .as_bool()
            .unwrap()
    );
    assert_eq!(
        ran(&browser),
        json!({"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false})
    );
    assert_eq!(browser.js("return window.crumb.consent()"), Value::Null);
    assert!(Browser::vendor_requests(&browser.requests()).is_empty());

    // A choice made meanwhile counts on the page at once and is recorded
    // once the server is back (resent after a pause).
    browser.click("footer [data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
    browser.wait("typeof window.hj === 'function'");
    assert_eq!(ran(&browser)["meta"], false);
    consent_api_down(false);
    let records = site.wait_for_records(2);
    assert_eq!(records[1]["event"], "updated");
    assert_eq!(
        records[1]["categories_denied"],
        json!(["functional", "marketing"])
    );
}

#[test]
fn a_proxys_refusal_of_the_visit_check_counts_as_no_answer() {
    // Arrange: the demo on www.crumb.test behind the tests' proxy,
    // everything accepted and recorded. From now on the proxy answers the
    // visit check itself, with that status and an HTML page (a rate
    // limit's 429, a firewall's 403), instead of Crumb.
    let site = Site::start();
    let (browser, [www]) = on_crumb_test_hosts(&site, ["www"]);
    visit(&browser, &www);
    browser.click(".crumb-banner [data-a=accept]");
    let id = site.wait_for_records(1)[0]["consent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");

    for status in [429, 403] {
        // Act
        let visit_check = Refusal::Answered(status);
        crumb_e2e::trap::refuse_paths(Some(("/consents/", visit_check)));
        browser.requests();
        visit(&browser, &www);

        // Assert: the offline rule, not a first visit: nothing beyond
        // strictly necessary runs, the visitor is not asked again, and the
        // cookie still names their consent.
        assert!(!banner_visible(&browser), "{status}");
        assert!(
            browser
                .js("return !!document.querySelector('.crumb-reopen')")
                .as_bool()
                .unwrap()
        );
        assert_eq!(
            ran(&browser),
            json!({"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false}),
            "{status}"
        );
        assert_eq!(browser.js("return window.crumb.consent()"), Value::Null);
        assert!(Browser::vendor_requests(&browser.requests()).is_empty());
        assert!(
            consent_cookie(&browser)["value"]
                .as_str()
                .unwrap()
                .contains(&id)
        );
    }

    // Once the proxy lets the visit check through, the consent counts
    // again, with nothing recorded anew.
    crumb_e2e::trap::refuse_paths(None);
    visit(&browser, &www);
    browser.wait("window.crumb?.consent() != null");
    assert_eq!(
        browser.js("return window.crumb.consent().consent_id"),
        json!(id)
    );
    browser.wait("typeof window.gtag === 'function'");
    assert_eq!(site.records().len(), 1);
}

#[test]
fn on_another_origin_the_widget_keeps_the_cookie_and_refreshes_it() {
    // Arrange: the page on http://localhost:PORT, Crumb on
    // http://127.0.0.1:PORT; the page counts its own writes of the cookie.
    let site = Site::start();
    count_script_cookie_writes(&site);
    let page = format!("{}/other-origin.html", allow_localhost_pages(&site));
    let browser = Browser::new(1280, 800);
    let chromium = Engine::from_env() == Engine::Chromium;
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    if chromium {
        browser.responses();
    }

    // Act: accept, then age the cookie to one day left and come back.
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(1);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    let writes_on_choice = browser.js("return window.__scriptWrites");
    let first = consent_cookie(&browser)["expiry"].as_f64().unwrap();
    let responses = chromium.then(|| browser.responses());
    age_consent_cookie(&browser);
    browser.goto(&page);
    browser.wait("window.crumb?.consent() != null");

    // Assert: the widget wrote the cookie (the choice sent, then the
    // recorded one) for at most 400 days, and pushed it out again on the
    // visit; in Chromium's network log, the server set no cookie for
    // another origin.
    assert_eq!(writes_on_choice, json!(2));
    assert_eq!(browser.js("return window.__scriptWrites"), json!(1));
    assert!(first <= now_s() + 400.0 * DAY_S + 5.0, "{first}");
    let refreshed = consent_cookie(&browser)["expiry"].as_f64().unwrap();
    assert!(refreshed >= now_s() + 399.0 * DAY_S, "{refreshed}");
    assert_eq!(browser.js("return typeof window.gtag"), json!("function"));
    if let Some(responses) = responses {
        assert!(
            responses
                .iter()
                .all(|(_, h)| h.iter().all(|(n, _)| n != "set-cookie")),
            "{responses:?}"
        );
    }
}

#[test]
fn a_choice_not_sent_before_the_page_closed_is_sent_as_made_on_the_next() {
    // Arrange: the visitor chooses analytics only, and the page goes
    // before the choice is sent (its POST never leaves).
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("const real = window.fetch;
         window.fetch = (url, init) =>
           init && init.method === 'POST' ? new Promise(() => {}) : real(url, init);");
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
    browser.wait("/crumb_consent=1~~.*~1(;|$)/.test(document.cookie)");
    assert!(site.records().is_empty());

    // Act: the next page view.
    open(&site, &browser, "/");

    // Assert: the choice is recorded as the visitor made it, and counts.
    let records = site.wait_for_records(1);
    assert_eq!(records[0]["method"], "custom");
    assert_eq!(
        records[0]["categories_granted"],
        json!(["necessary", "analytics"])
    );
    browser.wait("window.crumb?.consent() != null");
    assert_eq!(
        browser.js("return window.crumb.consent().categories"),
        json!({"necessary": true, "functional": false, "analytics": true, "marketing": false})
    );
}
