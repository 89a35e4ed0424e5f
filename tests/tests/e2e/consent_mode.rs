//! Vendor consent signals. Google Consent Mode v2: the `default` commands
//! come before every other Google tag command, the visitor's `update`
//! (and Tag Manager's `crumb_consent_update` event) before the gated tags
//! run (first visit and returning visit),
//! region-scoped defaults first, and in advanced mode the tag loads at
//! once under the denied defaults. The Meta Pixel: `revoke` (or, once
//! allowed, `grant`) first in its queue, before its `init`, then each
//! choice. Microsoft UET and Clarity: a denied default, then the
//! visitor's choice. Shopify: each choice once, through its Customer
//! Privacy API, and a lapsed one as nothing allowed. WordPress: the WP
//! Consent API's categories, allowed only once the server confirms.
//! HubSpot: its own banner off, nothing allowed, then the choice, on
//! every page view. The TikTok Pixel: held first in its queue, then
//! granted or revoked.

use crumb_e2e::{Browser, Site};
use serde_json::{Value, json};

use crate::{banner_visible, open};

/// `dataLayer` with gtag's commands as plain arrays (gtag pushes
/// `arguments` objects) and events as they are.
fn data_layer(browser: &Browser) -> Vec<Value> {
    browser
        .js(
            "return (window.dataLayer || []).map(a => a.length === undefined ? a :
               Array.from(a).map(v => v instanceof Date ? 'date' : v));",
        )
        .as_array()
        .unwrap()
        .clone()
}

/// The place of the first entry whose command is `cmd` (and, for consent,
/// whose kind is `kind`).
fn first(layer: &[Value], cmd: &str, kind: Option<&str>) -> Option<usize> {
    layer
        .iter()
        .position(|e| e[0] == cmd && kind.is_none_or(|k| e[1] == k))
}

#[test]
fn basic_mode_defaults_first_then_the_visitors_update_before_the_tag() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/consent-mode.html");
    browser.requests();

    // Assert: the defaults, region-scoped first, and nothing of Google's yet.
    let layer = data_layer(&browser);
    assert_eq!(
        (&layer[0][0], &layer[0][1]),
        (&json!("consent"), &json!("default"))
    );
    assert_eq!(layer[0][2]["region"], json!(["US-CA"]));
    assert_eq!(layer[0][2]["analytics_storage"], "granted");
    assert_eq!(layer[0][2]["ad_storage"], "denied");
    assert_eq!(layer[1][2]["analytics_storage"], "denied");
    assert_eq!(layer[1][2]["security_storage"], "granted");
    assert_eq!(layer[1][2]["wait_for_update"], 500);
    assert!(layer[1][2].get("region").is_none());
    assert_eq!(layer[2], json!(["set", "ads_data_redaction", true]));
    assert_eq!(first(&layer, "config", None), None);
    assert!(Browser::vendor_requests(&browser.requests()).is_empty());

    // Act: accept all.
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("(window.dataLayer || []).some(a => a[0] === 'config')");

    // Assert: the update grants the mapped types and comes before the tag.
    let layer = data_layer(&browser);
    let update = first(&layer, "consent", Some("update")).expect("an update");
    assert!(update < first(&layer, "js", None).unwrap(), "{layer:?}");
    assert!(update < first(&layer, "config", None).unwrap(), "{layer:?}");
    for t in [
        "analytics_storage",
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
    ] {
        assert_eq!(layer[update][2][t], "granted", "{t}");
    }
    // Google Tag Manager hears of the choice as an event right after the
    // update, with the categories and services to trigger tags on.
    assert_eq!(
        layer[update + 1]["event"],
        "crumb_consent_update",
        "{layer:?}"
    );
    assert_eq!(
        layer[update + 1]["crumb_consent"]["categories"]["marketing"],
        true
    );
    assert_eq!(
        layer[update + 1]["crumb_consent"]["services"]["google-analytics"],
        true
    );
    browser.wait_for_request("www.googletagmanager.com");

    // A returning visitor: the update again comes before config.
    site.wait_for_records(1);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    open(&site, &browser, "/consent-mode.html");
    browser.wait("(window.dataLayer || []).some(a => a[0] === 'config')");
    let layer = data_layer(&browser);
    let update = first(&layer, "consent", Some("update")).expect("an update");
    assert!(first(&layer, "consent", Some("default")).unwrap() < update);
    assert!(update < first(&layer, "config", None).unwrap(), "{layer:?}");
    assert_eq!(layer[update][2]["analytics_storage"], "granted");
}

#[test]
fn basic_mode_reject_all_leaves_everything_denied_and_the_tag_unloaded() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/consent-mode.html");
    browser.requests();

    browser.click(".crumb-banner [data-a=reject]");
    browser.wait("(window.dataLayer || []).some(a => a[1] === 'update')");

    let layer = data_layer(&browser);
    let update = &layer[first(&layer, "consent", Some("update")).unwrap()][2];
    for t in [
        "analytics_storage",
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
        "functionality_storage",
        "personalization_storage",
    ] {
        assert_eq!(update[t], "denied", "{t}");
    }
    assert_eq!(first(&layer, "config", None), None);
    assert!(!banner_visible(&browser));
    assert!(Browser::vendor_requests(&browser.requests()).is_empty());
}

#[test]
fn advanced_mode_loads_the_tag_at_once_under_denied_defaults() {
    // Arrange
    let site = Site::start();
    let mut config = serde_json::to_value(site.config()).unwrap();
    config["integrations"]["google_consent_mode"]["mode"] = json!("advanced");
    site.put_config(&serde_json::from_value(config).unwrap());
    let browser = Browser::new(1280, 800);

    // Act
    open(&site, &browser, "/consent-mode-advanced.html");

    // Assert: gtag.js was asked for before any choice, after the defaults.
    browser.wait_for_request("www.googletagmanager.com");
    assert!(banner_visible(&browser));
    let layer = data_layer(&browser);
    let default = first(&layer, "consent", Some("default")).unwrap();
    assert_eq!(default, 0);
    assert!(default < first(&layer, "js", None).unwrap());
    assert!(first(&layer, "consent", Some("update")).is_none());
    assert!(
        layer
            .iter()
            .filter(|e| e[1] == "default" && e[2].get("region").is_none())
            .all(|e| e[2]["ad_storage"] == "denied" && e[2]["analytics_storage"] == "denied")
    );
}

#[test]
fn microsoft_uet_and_clarity_hear_the_choice() {
    // Arrange: the demo site ties UET to marketing and Clarity to
    // analytics and marketing.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/consent-mode.html");
    let queues = |b: &Browser| {
        b.js("return [
            (window.uetq || []).slice(),
            (window.clarity.q || []).map(a => Array.from(a)),
        ];")
    };

    // Assert: denied defaults before any choice.
    assert_eq!(
        queues(&browser),
        json!([
            ["consent", "default", {"ad_storage": "denied"}],
            [["consentv2", {"ad_Storage": "denied", "analytics_Storage": "denied"}]]
        ])
    );

    // Act: analytics only.
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
    browser.wait("window.uetq.length > 3");

    // Assert: UET's ad_storage stays denied; Clarity's analytics is granted.
    let q = queues(&browser);
    assert_eq!(
        q[0].as_array().unwrap()[3..],
        [
            json!("consent"),
            json!("update"),
            json!({"ad_storage": "denied"})
        ]
    );
    assert_eq!(
        q[1][1],
        json!(["consentv2", {"ad_Storage": "denied", "analytics_Storage": "granted"}])
    );
}

/// Matomo's queue (`_paq`, an array until matomo.js loads) as plain
/// arrays.
fn matomo_queue(browser: &Browser) -> Vec<Value> {
    browser
        .js("return window._paq.map(a => Array.from(a));")
        .as_array()
        .unwrap()
        .clone()
}

/// Reopens the preferences from the page's link, switches analytics over
/// and saves.
fn switch_analytics(browser: &Browser) {
    browser.click("main [data-crumb-open]");
    browser.wait("document.querySelector('input[data-cat=analytics]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
}

#[test]
fn matomo_requires_consent_before_its_page_view_and_follows_each_choice() {
    // Arrange: Matomo's tracking code as Matomo gives it, not gated; the
    // demo site ties Matomo's consent to analytics.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/matomo.html");

    // Assert: consent required before the page view, and nothing given.
    let queue = matomo_queue(&browser);
    assert_eq!(
        &queue[..2],
        [json!(["requireConsent"]), json!(["trackPageView"])]
    );
    assert_eq!(queue.len(), 5, "{queue:?}");

    // Act: reject all.
    browser.click(".crumb-banner [data-a=reject]");
    site.wait_for_records(1);
    browser.settled();

    // Assert: nothing to tell Matomo, whose requirement holds everything
    // back (a `forgetConsentGiven` would write its "consent removed"
    // cookie into the browser of a visitor who refused).
    assert_eq!(matomo_queue(&browser).len(), 5);

    // Act: the visitor changes their mind and allows analytics.
    switch_analytics(&browser);
    browser.wait("window._paq.length > 5");

    // Assert: consent given, for this page; a returning visit gives it
    // again once the server has confirmed the consent.
    assert_eq!(matomo_queue(&browser)[5..], [json!(["setConsentGiven"])]);

    // Act: and withdraws it again.
    switch_analytics(&browser);
    browser.wait("window._paq.length > 6");

    // Assert: Matomo forgets the consent and deletes its cookies.
    assert_eq!(matomo_queue(&browser)[6..], [json!(["forgetConsentGiven"])]);

    // A returning visitor who allows analytics: consent required before
    // the page view again, and given once the server has confirmed it.
    switch_analytics(&browser);
    site.wait_for_records(4);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    open(&site, &browser, "/matomo.html");
    browser.wait("window._paq.length > 5");
    let queue = matomo_queue(&browser);
    assert_eq!(
        (&queue[0], &queue[5]),
        (&json!(["requireConsent"]), &json!(["setConsentGiven"]))
    );
}

/// The Meta Pixel's queue as plain arrays.
fn meta_queue(browser: &Browser) -> Vec<Value> {
    browser
        .js("return window.fbq ? window.fbq.queue.map(a => Array.from(a)) : [];")
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn meta_pixel_revoke_comes_before_init_and_grant_follows_consent() {
    // Arrange: Meta's pixel code as Meta gives it, not gated.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/meta-pixel.html");

    // Assert: consent revoked before the pixel's init and PageView.
    let init = json!(["init", "123456789012345"]);
    assert_eq!(
        meta_queue(&browser),
        [
            json!(["consent", "revoke"]),
            init.clone(),
            json!(["track", "PageView"])
        ]
    );

    // Act: accept all.
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.fbq.queue.length > 3");

    // Assert: the grant follows.
    assert_eq!(meta_queue(&browser)[3], json!(["consent", "grant"]));

    // A returning visitor: revoked before init again, granted once the
    // server has confirmed the consent.
    site.wait_for_records(1);
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    open(&site, &browser, "/meta-pixel.html");
    browser.wait("window.fbq.queue.length > 3");
    let queue = meta_queue(&browser);
    assert_eq!(
        (&queue[0], &queue[1]),
        (&json!(["consent", "revoke"]), &init)
    );
    assert_eq!(queue[3], json!(["consent", "grant"]));
}

#[test]
fn a_gated_meta_pixel_starts_with_grant_and_reject_keeps_it_out() {
    // Arrange: the pixel gated by Crumb (marketing, meta-pixel).
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/consent-mode.html");

    // Act: accept all.
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("typeof window.fbq === 'function'");

    // Assert: the first command in the pixel's queue is the grant.
    let queue = meta_queue(&browser);
    assert_eq!(
        &queue[..2],
        [
            json!(["consent", "grant"]),
            json!(["init", "123456789012345"])
        ]
    );

    // A visitor who rejects: the pixel never runs. (One browser at a
    // time: the first one goes.)
    drop(browser);
    let other = Browser::new(1280, 800);
    open(&site, &other, "/consent-mode.html");
    other.click(".crumb-banner [data-a=reject]");
    site.wait_for_records(2);
    other.settled();
    assert_eq!(other.js("return typeof window.fbq"), json!("undefined"));
}

/// From the floating button, switches marketing off in the preferences
/// dialog and saves.
fn switch_marketing_off(browser: &Browser) {
    browser.js("document.querySelector('.crumb-reopen').click()");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=marketing]");
    browser.click("dialog [data-a=save]");
}

/// The demo site with one more vendor signal on (`integration`, with
/// `settings`), and the address of a page on another origin with Crumb's
/// signals script, `head` (the vendor's code), Crumb's tag, and `body`.
fn with_signal(integration: &str, settings: Value, head: &str, body: &str) -> (Site, String) {
    let site = Site::start();
    let mut config = serde_json::to_value(site.config()).unwrap();
    config["integrations"][integration] = settings;
    site.put_config(&serde_json::from_value(config).unwrap());
    let page = site.page_elsewhere(format!(
        "<!DOCTYPE html><html lang=en><head><title>A page</title>\
         <script src=\"{0}/v1/sites/demo/signals.js\"></script>{head}\
         <script src=\"{0}/crumb.js\" data-site=demo async></script></head>\
         <body><p>A page.</p>{body}</body></html>",
        site.base
    ));
    (site, format!("{page}/"))
}

/// A Shopify storefront's Customer Privacy API as its theme loads it
/// (`Shopify.loadFeatures`), keeping the visitor's consent as Shopify's
/// own cookie does (here in `sessionStorage`), and noting each
/// `setTrackingConsent` in `window.__shopify` (and what site code hears,
/// `crumb:change`, in `window.__changes`).
const SHOPIFY_STUB: &str = "<script>
  window.__shopify = [];
  window.__changes = [];
  document.addEventListener('crumb:change', (e) => __changes.push(e.detail));
  const held = () => JSON.parse(sessionStorage.shopify ||
    '{\"analytics\":\"\",\"marketing\":\"\",\"preferences\":\"\",\"sale_of_data\":\"\"}');
  window.Shopify = { loadFeatures: (features, done) => {
    Shopify.customerPrivacy = {
      currentVisitorConsent: held,
      setTrackingConsent: (consent, callback) => {
        __shopify.push(consent);
        sessionStorage.shopify = JSON.stringify(Object.fromEntries(
          Object.entries(consent).map(([k, v]) => [k, v ? 'yes' : 'no'])));
        callback({});
      },
    };
    setTimeout(() => done(features[0].name == 'consent-tracking-api' ? undefined : 'unknown'));
  } };
</script>";

#[test]
fn shopify_hears_each_choice_once_and_a_lapsed_one_as_nothing_allowed() {
    // Arrange: the demo site with Shopify's signal on (its four purposes
    // on their default categories), and a store's page with the signals
    // script, Shopify's API and Crumb's tag.
    let (site, page) = with_signal("shopify", json!({}), SHOPIFY_STUB, "");
    let browser = Browser::new(1280, 800);
    let sent = |b: &Browser| b.js("return window.__shopify");

    // Act and assert: before any choice, nothing; then "accept all".
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.settled();
    assert_eq!(sent(&browser), json!([]));
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__shopify.length > 0");
    let all =
        json!({"analytics": true, "marketing": true, "preferences": true, "sale_of_data": true});
    assert_eq!(sent(&browser), json!([all]));

    // The next page view: the server confirms the choice, which Shopify
    // already holds, so it is not sent again.
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-reopen')");
    browser.settled();
    assert_eq!(sent(&browser), json!([]));

    // Marketing switched off: Shopify hears it, sale of data with it.
    switch_marketing_off(&browser);
    browser.wait("window.__shopify.length > 0");
    assert_eq!(
        sent(&browser),
        json!([{"analytics": true, "marketing": false, "preferences": true, "sale_of_data": false}])
    );

    // A new policy revision: the choice stops counting. Site code hears
    // `null` as the banner comes back, and Shopify, which would keep the
    // purposes in its cookie, hears that nothing is allowed.
    site.wait_for_records(2);
    site.bump_revision();
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner') && window.__shopify.length > 0");
    let none = json!({"analytics": false, "marketing": false, "preferences": false, "sale_of_data": false});
    assert_eq!(sent(&browser), json!([none]));
    assert_eq!(browser.js("return window.__changes"), json!([null]));
}

/// What a WordPress page with the WP Consent API looks like to Crumb: a
/// plugin in `<head>` that follows the API (it notes what it hears in
/// `window.__wp`: each `wp_listen_for_consent_change`, the
/// `wp_consent_type_defined` event, and whether marketing was allowed
/// when the document was parsed), and at the end of the body a stand-in
/// for the API's own script, which WordPress enqueues last: its cookie per
/// category, opt-in only when a consent management platform says so.
const WORDPRESS_PLUGIN: &str = "<script>
  window.__wp = [];
  document.addEventListener('wp_listen_for_consent_change', (e) => __wp.push(e.detail));
  document.addEventListener('wp_consent_type_defined', () => __wp.push('defined'));
  document.addEventListener('DOMContentLoaded', () => __wp.push({ parsed: wp_has_consent('marketing') }));
</script>";
const WORDPRESS_API: &str = "<script>
  const wpCookie = (c) => (document.cookie.match('(?:^|; )wp_consent_' + c + '=([^;]*)') || [])[1] || '';
  // Without a consent type there is no consent management: all allowed.
  window.wp_has_consent = (c) => !window.wp_consent_type || wpCookie(c) === 'allow';
  window.wp_set_consent = (c, v) => {
    document.cookie = 'wp_consent_' + c + '=' + v + '; path=/; max-age=31536000';
    document.dispatchEvent(new CustomEvent('wp_listen_for_consent_change', { detail: { [c]: v } }));
  };
</script>";

#[test]
fn wordpress_plugins_hear_only_what_the_server_confirms_and_each_change_once() {
    // Arrange: the demo site with the WP Consent API's signal on (its
    // five categories on their defaults: functional is strictly
    // necessary), and a WordPress page: signals script, a plugin, Crumb's
    // tag, and the API's script at the end of the body.
    let (site, page) = with_signal("wordpress", json!({}), WORDPRESS_PLUGIN, WORDPRESS_API);
    let browser = Browser::new(1280, 800);
    let heard = |b: &Browser| b.js("return window.__wp");
    let allow = |c: &str| json!({ c: "allow" });

    // Act and assert: before any choice, functional only (strictly
    // necessary), and the plugin finds marketing refused.
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.settled();
    assert_eq!(
        heard(&browser),
        json!([allow("functional"), {"parsed": false}])
    );

    // "Accept all": each other category once, then the consent type is
    // defined.
    browser.js("window.__wp = []");
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__wp.includes('defined')");
    let accepted = json!([
        allow("preferences"),
        allow("statistics"),
        allow("statistics-anonymous"),
        allow("marketing"),
        "defined"
    ]);
    assert_eq!(heard(&browser), accepted);

    // The next page view: the API's cookies still say "allow", but no
    // plugin may act on them before the server confirms the choice.
    browser.goto(&page);
    browser.wait("window.__wp.includes('defined')");
    let mut confirmed = accepted.as_array().unwrap().clone();
    confirmed.insert(0, json!({"parsed": false}));
    assert_eq!(heard(&browser), json!(confirmed));
    assert_eq!(
        browser.js("return wp_has_consent('marketing')"),
        json!(true)
    );

    // Marketing switched off: the plugins hear that alone.
    browser.js("window.__wp = []");
    switch_marketing_off(&browser);
    browser.wait("window.__wp.length > 0");
    site.wait_for_records(2);
    assert_eq!(heard(&browser), json!([{"marketing": "deny"}]));

    // The API's cookie edited to allow marketing again: the server's
    // record refused it, so no plugin ever finds it allowed.
    browser.js("document.cookie = 'wp_consent_marketing=allow; path=/'");
    browser.goto(&page);
    browser.wait("window.__wp.includes('defined')");
    assert_eq!(heard(&browser)[0], json!({"parsed": false}));
    assert!(
        heard(&browser)
            .as_array()
            .unwrap()
            .contains(&json!({"marketing": "deny"}))
    );
    assert_eq!(
        browser.js("return wp_has_consent('marketing')"),
        json!(false)
    );

    // A new policy revision: the choice stops counting, and everything but
    // functional is denied.
    site.bump_revision();
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner') && window.__wp.includes('defined')");
    let allowed = browser.js(
        "return ['functional', 'preferences', 'statistics', 'statistics-anonymous', 'marketing']
           .filter(wp_has_consent)",
    );
    assert_eq!(allowed, json!(["functional"]));
}

/// A stand-in for HubSpot's tracking code, pasted unmarked after Crumb's
/// signals script: as it loads it reads whether its own banner is to show
/// (`window.__hubspot.banner`), then runs the `_hsp` queue and each later
/// command, noting each consent it is given (`window.__hubspot.consent`).
const HUBSPOT_STUB: &str = "<script>
  window.__hubspot = { banner: !window.disableHubSpotCookieBanner, consent: [] };
  const run = (cmd) => { if (cmd[0] === 'setHubSpotConsent') __hubspot.consent.push(cmd[1]); };
  const queue = window._hsp || [];
  window._hsp = { push: run };
  queue.forEach(run);
</script>";

#[test]
fn hubspot_shows_no_banner_of_its_own_and_hears_on_every_page_view_what_counts() {
    // Arrange: the demo site with HubSpot's signal on (its categories on
    // their defaults), and a page with the signals script, HubSpot's
    // code loading at once and Crumb's tag.
    let (_site, page) = with_signal("hubspot", json!({}), HUBSPOT_STUB, "");
    let browser = Browser::new(1280, 800);
    let consent = |b: &Browser| b.js("return window.__hubspot.consent");
    let none = json!({"analytics": false, "advertisement": false, "functionality": false});
    let all = json!({"analytics": true, "advertisement": true, "functionality": true});

    // Act and assert: a first visit, HubSpot's banner off and nothing
    // allowed; then "accept all".
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.settled();
    assert_eq!(browser.js("return window.__hubspot.banner"), json!(false));
    assert_eq!(consent(&browser), json!([none]));
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__hubspot.consent.length > 1");
    assert_eq!(consent(&browser), json!([none, all]));

    // The next page view: HubSpot keeps no consent of its own, so it
    // starts with nothing allowed again and hears the choice once the
    // server has confirmed it.
    browser.goto(&page);
    browser.wait("window.__hubspot.consent.length > 1");
    assert_eq!(consent(&browser), json!([none, all]));

    // Marketing switched off: advertisement with it.
    switch_marketing_off(&browser);
    browser.wait("window.__hubspot.consent.length > 2");
    assert_eq!(
        consent(&browser)[2],
        json!({"analytics": true, "advertisement": false, "functionality": true})
    );
}

#[test]
fn a_wp_consent_api_loaded_after_the_document_is_parsed_still_hears_the_choice() {
    // Arrange: the API's script comes after the document is parsed (as a
    // page-speed plugin loading it async makes it), before the page's
    // load.
    let late = format!(
        "<script>document.addEventListener('DOMContentLoaded', () => {{
           const api = document.createElement('script');
           api.text = {};
           document.body.append(api);
         }});</script>",
        serde_json::to_string(
            WORDPRESS_API
                .trim_start_matches("<script>")
                .trim_end_matches("</script>")
        )
        .unwrap()
    );
    let (_site, page) = with_signal("wordpress", json!({}), WORDPRESS_PLUGIN, &late);
    let browser = Browser::new(1280, 800);

    // Act: a first visit, then "accept all".
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner') && window.__wp.length > 0");
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__wp.includes('defined')");

    // Assert: functional (strictly necessary) was set once the API came,
    // and the choice after it.
    let allowed = browser.js(
        "return ['functional', 'preferences', 'statistics', 'statistics-anonymous', 'marketing']
           .filter(wp_has_consent)",
    );
    assert_eq!(
        allowed,
        json!([
            "functional",
            "preferences",
            "statistics",
            "statistics-anonymous",
            "marketing"
        ])
    );
    assert_eq!(
        browser.js("return window.__wp[0]"),
        json!({"functional": "allow"})
    );
}

/// TikTok's base code as TikTok ships it (it keeps the `ttq` queue it
/// finds and adds its methods, each of which queues its call), pasted
/// unmarked after Crumb's signals script, without the request for
/// TikTok's script; then a stand-in for that script, which notes in
/// `window.__tiktok` each queued call and each one after it.
const TIKTOK_STUB: &str = "<script>
  !function (w, d, t) {
    w.TiktokAnalyticsObject = t; var ttq = w[t] = w[t] || [];
    ttq.methods = ['page', 'track', 'identify', 'holdConsent', 'revokeConsent', 'grantConsent'];
    ttq.setAndDefer = function (t, e) { t[e] = function () { t.push([e].concat(Array.prototype.slice.call(arguments, 0))) } };
    for (var i = 0; i < ttq.methods.length; i++) ttq.setAndDefer(ttq, ttq.methods[i]);
    ttq.load = function (e) { ttq.push(['load', e]); };
    ttq.load('PIXEL');
    ttq.page();
  }(window, document, 'ttq');
</script>
<script>
  window.__tiktok = ttq.map((call) => call[0]);
  ttq.methods.forEach((m) => { ttq[m] = () => __tiktok.push(m); });
</script>";

#[test]
fn the_tiktok_pixel_holds_its_events_until_the_choice_that_counts_says() {
    // Arrange: the demo site with the TikTok Pixel's signal on (the
    // marketing category), and a page with the signals script, TikTok's
    // code loading at once and Crumb's tag.
    let (_site, page) = with_signal(
        "tiktok_pixel",
        json!({"category": "marketing"}),
        TIKTOK_STUB,
        "",
    );
    let browser = Browser::new(1280, 800);
    let calls = |b: &Browser| b.js("return window.__tiktok");

    // Act and assert: a first visit, the pixel holding everything from
    // before its `load`; then "accept all".
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.settled();
    assert_eq!(calls(&browser), json!(["holdConsent", "load", "page"]));
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__tiktok.length > 3");
    assert_eq!(
        calls(&browser),
        json!(["holdConsent", "load", "page", "grantConsent"])
    );

    // The next page view: held again until the server confirms the choice.
    browser.goto(&page);
    browser.wait("window.__tiktok.length > 3");
    assert_eq!(
        calls(&browser),
        json!(["holdConsent", "load", "page", "grantConsent"])
    );

    // Marketing switched off: TikTok drops what it holds, and its cookies.
    switch_marketing_off(&browser);
    browser.wait("window.__tiktok.length > 4");
    assert_eq!(calls(&browser)[4], json!("revokeConsent"));
}
