//! `GET /v1/sites/{site}/signals.js`: the synchronous script a site puts
//! before its vendor tags when it switches vendor consent signals on
//! (`integrations` in the site config).
//!
//! For Google Consent Mode v2 it pushes the `default` consent commands
//! into `dataLayer` at once (region-scoped ones first, then the unscoped
//! one, which denies every type but `security_storage`) and the `set`
//! commands the site asked for, and on each choice the `update` followed
//! by a `crumb_consent_update` event for Google Tag Manager's triggers;
//! for the Meta Pixel `fbq('consent', 'revoke')` as the first command of
//! the pixel's queue, before its `init` (see [`meta`]); for Microsoft UET
//! a denied `ad_storage` default into `uetq`; for Microsoft Clarity a
//! denied `consentv2` into its queue; for Matomo `requireConsent` (or
//! `requireCookieConsent`) into `_paq`, before its `trackPageView` (see
//! [`matomo`]); for HubSpot its own banner off and nothing allowed (see
//! [`hubspot`]); for the TikTok Pixel `holdConsent` first in its queue
//! (see [`tiktok`]); for Shopify nothing at first (see [`shopify`]); for
//! WordPress the opt-in consent type, and no allowance of an earlier page
//! view's until this one's choice counts (see [`wordpress`]). It listens
//! for the widget's `crumb:change` event to send each vendor the visitor's
//! choice, and a choice that stopped counting (`null`) as nothing allowed.
//! crumb.js loads `async`, so it cannot come first itself; this script
//! can, and weighs a few hundred bytes only on sites that use it.
//! The widget fires `crumb:change` before it releases any gated tag, so in
//! basic mode the `update` precedes every `config` and `event` command.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use crumb_schema::integrations::{
    Binding, ConsentModeKind, ConsentType, GoogleConsentMode, HubSpot, Matomo, MatomoMode, Shopify,
    WordPress,
};
use crumb_schema::{Category, SiteConfig};
use serde_json::{Map, Value, json};

use super::AppState;
use super::config::{ConfigError, public_site};
use crate::error::respond;
use crate::http::etag_matches;
use crate::record::sha256_hex;

/// `{"ad_storage": "denied", ...}` for all seven types, granting `granted`
/// (and `security_storage`, always).
fn states(granted: &[ConsentType]) -> Map<String, Value> {
    ConsentType::ALL
        .iter()
        .map(|t| {
            let on = *t == ConsentType::SecurityStorage || granted.contains(t);
            (
                t.as_str().to_owned(),
                json!(if on { "granted" } else { "denied" }),
            )
        })
        .collect()
}

/// A JS expression: whether consent `c` (the `crumb:change` detail)
/// allows what `b` names.
fn allows(b: &Binding) -> String {
    let mut e = format!("!!c.categories[{}]", json!(b.category.as_str()));
    if let Some(s) = &b.service {
        e.push_str(&format!(" && !!c.services[{}]", json!(s.as_str())));
    }
    e
}

/// Whether what `b` names is allowed before any choice: strictly necessary
/// (and its services) always is.
fn always_allowed(b: &Binding) -> bool {
    b.category == Category::Necessary
}

/// Google Consent Mode v2: the defaults at once, the update on each choice.
fn google(site: &SiteConfig, gcm: &GoogleConsentMode, out: &mut String) {
    let mut defaults = Vec::new();
    for r in &gcm.regions {
        let mut d = states(&r.granted);
        d.insert("region".into(), json!(r.region));
        defaults.push(Value::Object(d));
    }
    let mut fallback = states(&[]);
    if let Some(ms) = gcm.wait_for_update {
        fallback.insert("wait_for_update".into(), json!(ms));
    }
    defaults.push(Value::Object(fallback));
    let mut sets = Vec::new();
    if gcm.ads_data_redaction {
        sets.push(json!(["ads_data_redaction", true]));
    }
    if gcm.url_passthrough {
        sets.push(json!(["url_passthrough", true]));
    }
    // Category → the types it grants, for the site's categories.
    let mapping: Map<String, Value> = site
        .categories
        .iter()
        .filter(|c| c.id != Category::Necessary)
        .map(|c| {
            let types: Vec<&str> = gcm.types_of(c.id).iter().map(|t| t.as_str()).collect();
            (c.id.as_str().to_owned(), json!(types))
        })
        .collect();
    let mode = match gcm.mode {
        ConsentModeKind::Basic => "basic",
        ConsentModeKind::Advanced => "advanced",
    };
    out.push_str(&format!(
        "  // Google Consent Mode v2 ({mode} mode): the defaults before any Google tag.
  w.dataLayer = w.dataLayer || [];
  function gtag() {{ w.dataLayer.push(arguments); }}
  {defaults}.forEach(function (d) {{ gtag('consent', 'default', d); }});
  {sets}.forEach(function (s) {{ gtag('set', s[0], s[1]); }});
  var mapping = {mapping};
  on.push(function (c) {{
    var u = {{}};
    for (var k in mapping) mapping[k].forEach(function (t) {{
      if (u[t] !== 'granted') u[t] = c.categories[k] ? 'granted' : 'denied';
    }});
    gtag('consent', 'update', u);
    // For Google Tag Manager: an event to trigger tags on, after the update.
    w.dataLayer.push({{ event: 'crumb_consent_update', crumb_consent: {{ categories: c.categories, services: c.services }} }});
  }});
",
        defaults = Value::Array(defaults),
        sets = Value::Array(sets),
        mapping = Value::Object(mapping),
    ));
}

/// The Meta Pixel's consent API. Meta's snippet does nothing when `fbq`
/// already exists, so this script cannot create it the way it creates
/// Clarity's queue: it waits for the snippet's own `fbq` (a setter on
/// `window.fbq`) and puts `['consent', 'revoke' | 'grant']` first in its
/// queue the moment the snippet creates that queue, before the snippet's
/// `fbq('init', ...)`. Each later choice is `fbq('consent', ...)`. A pixel
/// that already ran (the script placed after it) gets the command at once.
fn meta(b: &Binding, out: &mut String) {
    out.push_str(&format!(
        "  // Meta Pixel: revoke until the choice allows it, first in the pixel's queue.
  var meta = 'revoke', fbq = w.fbq;
  if (fbq) fbq('consent', meta);
  else Object.defineProperty(w, 'fbq', {{
    configurable: true, enumerable: true,
    get: function () {{ return fbq; }},
    set: function (f) {{
      fbq = f;
      if (typeof f !== 'function') return;
      var queue;
      Object.defineProperty(f, 'queue', {{
        configurable: true, enumerable: true,
        get: function () {{ return queue; }},
        set: function (q) {{
          if (!queue && q && q.push) q.push(['consent', meta]);
          queue = q;
        }}
      }});
    }}
  }});
  on.push(function (c) {{
    meta = {} ? 'grant' : 'revoke';
    if (fbq) fbq('consent', meta);
  }});
",
        allows(b)
    ));
}

/// Matomo's consent API. Its snippet keeps the `_paq` array it finds, so
/// the requirement goes first in the queue, before the snippet's
/// `trackPageView`; the tracker then holds its requests (or, for cookies,
/// its cookies) until told that the choice allows it. The choice is given
/// for the page only (`setConsentGiven`), never remembered in Matomo's own
/// cookie: Crumb confirms it on every page view, and a withdrawal must not
/// be outlived by a second copy. A withdrawal of what was given on this
/// page is `forgetConsentGiven`, which deletes Matomo's cookies; a refusal
/// with nothing given needs no command (the requirement already holds
/// everything back), and `forgetConsentGiven` would write Matomo's own
/// "consent removed" cookie into the browser of a visitor who refused.
/// `w._paq` is read on each choice: once Matomo has loaded, it is
/// Matomo's own object, whose `push` runs the command at once.
fn matomo(m: &Matomo, out: &mut String) {
    let (require, given, forget) = match m.mode {
        MatomoMode::Tracking => ("requireConsent", "setConsentGiven", "forgetConsentGiven"),
        MatomoMode::Cookies => (
            "requireCookieConsent",
            "setCookieConsentGiven",
            "forgetCookieConsentGiven",
        ),
    };
    out.push_str(&format!(
        "  // Matomo: {require} until the choice allows it, first in its queue.
  w._paq = w._paq || [];
  w._paq.push(['{require}']);
  var matomo = false;
  on.push(function (c) {{
    var allowed = {};
    if (allowed) w._paq.push(['{given}']);
    else if (matomo) w._paq.push(['{forget}']);
    matomo = allowed;
  }});
",
        allows(&m.binding())
    ));
}

/// HubSpot's tracking code: its own banner off (the flag must be set
/// before that banner loads), then its consent through its `_hsp` queue,
/// which it runs as it loads. HubSpot keeps no consent set this way
/// across page views, so every page view starts with nothing allowed but
/// what strictly necessary covers, and the choice the server confirms (or
/// the visitor makes) follows; HubSpot then counts page views without
/// cookies only.
fn hubspot(h: &HubSpot, out: &mut String) {
    out.push_str(&format!(
        "  // HubSpot: its banner off, its three categories set on every page view.
  w.disableHubSpotCookieBanner = true;
  w._hsp = w._hsp || [];
  w._hsp.push(['setHubSpotConsent', {{ analytics: {}, advertisement: {}, functionality: {} }}]);
  on.push(function (c) {{
    w._hsp.push(['setHubSpotConsent', {{ analytics: {}, advertisement: {}, functionality: {} }}]);
  }});
",
        always_allowed(&h.analytics),
        always_allowed(&h.advertisement),
        always_allowed(&h.functionality),
        allows(&h.analytics),
        allows(&h.advertisement),
        allows(&h.functionality),
    ));
}

/// The TikTok Pixel's consent API. TikTok's base code keeps the `ttq`
/// queue it finds, so `holdConsent` goes first in it, before the code's
/// `load` and `page`: the pixel loads, sets no cookie and sends nothing
/// until the choice says. Then `grantConsent` lets the held events go, and
/// `revokeConsent` drops them and clears TikTok's cookies (also for a
/// choice that no longer counts). Once the base code has run, its methods
/// are there to call (they queue until TikTok's script has loaded).
fn tiktok(b: &Binding, out: &mut String) {
    out.push_str(&format!(
        "  // TikTok Pixel: its events held until the choice says, first in its queue.
  w.ttq = w.ttq || [];
  w.ttq.push(['holdConsent']);
  on.push(function (c) {{
    var command = {} ? 'grantConsent' : 'revokeConsent';
    if (typeof w.ttq[command] === 'function') w.ttq[command]();
    else w.ttq.push([command]);
  }});
",
        allows(b)
    ));
}

/// Shopify's Customer Privacy API, which a store's theme loads with
/// `Shopify.loadFeatures` (its `content_for_header`, early in `<head>`,
/// defines that): each choice sets its four purposes. Shopify keeps the
/// visitor's consent in a cookie of its own, and each call is a request to
/// the store, so a choice Shopify already holds is not sent again on every
/// page view. Pixels and Shopify's analytics wait for that consent where
/// the store's privacy settings ask for it; there is no default to send.
fn shopify(shop: &Shopify, out: &mut String) {
    out.push_str(&format!(
        "  // Shopify: its Customer Privacy API's four purposes, when they change.
  on.push(function (c) {{
    var wanted = {{ analytics: {}, marketing: {}, preferences: {}, sale_of_data: {} }};
    function send() {{
      var p = w.Shopify.customerPrivacy, now = p.currentVisitorConsent ? p.currentVisitorConsent() : {{}};
      for (var k in wanted) {{
        if (now[k] !== (wanted[k] ? 'yes' : 'no')) return p.setTrackingConsent(wanted, function () {{}});
      }}
    }}
    function load() {{
      if (w.Shopify && w.Shopify.loadFeatures) {{
        w.Shopify.loadFeatures([{{ name: 'consent-tracking-api', version: '0.1' }}], function (e) {{ if (!e) send(); }});
      }}
    }}
    if (w.Shopify && w.Shopify.loadFeatures) load();
    else w.addEventListener('load', load, {{ once: true }});
  }});
",
        allows(&shop.analytics),
        allows(&shop.marketing),
        allows(&shop.preferences),
        allows(&shop.sale_of_data),
    ));
}

/// The WP Consent API, which WordPress plugins that support it follow: a
/// category is allowed while the API's cookie for it (`wp_consent_marketing`)
/// says `allow`, and `wp_set_consent` sets it and tells the plugins
/// (`wp_listen_for_consent_change`). That cookie is only a copy, so from
/// the first line of the page no plugin may act on an allowance of an
/// earlier page view: the script deletes every `allow` at once, and the
/// choice the server confirms sets it again (or not). Categories bound to
/// strictly necessary are allowed on every page view, choice or not. The
/// consent type is opt-in from the start, and `wp_consent_type_defined`,
/// which plugins waiting for the consent management platform listen for,
/// comes once, when the page's first choice has been set. The API's own
/// script is enqueued at the end of the body, so what counts before the
/// document is parsed waits for it (and for the page's load, should a
/// page-speed plugin load the API async); a category is set only when its
/// cookie does not already say so, so plugins hear of changes only.
fn wordpress(wp: &WordPress, out: &mut String) {
    let categories = wp.categories();
    let always: Map<String, Value> = categories
        .iter()
        .filter(|(_, b)| always_allowed(b))
        .map(|(name, _)| (name.to_string(), json!(true)))
        .collect();
    let chosen: Vec<&str> = categories
        .iter()
        .filter(|(_, b)| !always_allowed(b))
        .map(|(name, _)| *name)
        .collect();
    let wanted: Vec<String> = categories
        .iter()
        .map(|(name, b)| format!("{}: {}", json!(name), allows(b)))
        .collect();
    out.push_str(&format!(
        "  // WordPress: the WP Consent API's categories, opt-in, set once the server confirms a choice.
  var d = document, wpPrefix = '{prefix}_', wpDefined = false;
  function wpCookie(k) {{
    var m = d.cookie.match(new RegExp('(?:^|; )' + wpPrefix + k + '=([^;]*)'));
    return m ? m[1] : '';
  }}
  function wpSet(wanted, defined) {{
    function send() {{
      if (typeof w.wp_set_consent !== 'function') {{
        // The API's script loaded async (a page-speed plugin's choice)
        // may come after the document is parsed, but before its load.
        if (d.readyState !== 'complete') w.addEventListener('load', send, {{ once: true }});
        return;
      }}
      for (var k in wanted) {{
        var v = wanted[k] ? 'allow' : 'deny';
        if (wpCookie(k) !== v) w.wp_set_consent(k, v);
      }}
      if (defined && !wpDefined) {{
        wpDefined = true;
        d.dispatchEvent(new CustomEvent('wp_consent_type_defined'));
      }}
    }}
    if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', send, {{ once: true }});
    else send();
  }}
  w.wp_consent_type = 'optin';
  {chosen}.forEach(function (k) {{
    if (wpCookie(k) === 'allow') d.cookie = wpPrefix + k + '=; path=/; max-age=0';
  }});
  wpSet({always}, false);
  on.push(function (c) {{
    wpSet({{ {wanted} }}, true);
  }});
",
        prefix = wp.cookie_prefix,
        chosen = json!(chosen),
        always = Value::Object(always),
        wanted = wanted.join(", "),
    ));
}

/// The site's vendor consent signals, as one synchronous script.
pub fn script(site: &SiteConfig) -> String {
    let i = &site.integrations;
    let mut out = format!(
        "// Crumb: vendor consent signals for site {}. Load it before any vendor tag, without async.
(function () {{
  var w = window, on = [];
",
        site.id
    );
    if let Some(gcm) = &i.google_consent_mode {
        google(site, gcm, &mut out);
    }
    if let Some(b) = &i.meta_pixel {
        meta(b, &mut out);
    }
    if let Some(b) = &i.microsoft_uet {
        // UET assumes consent without a default; its queue takes commands
        // before the tag loads.
        out.push_str(&format!(
            "  // Microsoft UET: ad_storage.
  w.uetq = w.uetq || [];
  w.uetq.push('consent', 'default', {{ ad_storage: 'denied' }});
  on.push(function (c) {{
    w.uetq.push('consent', 'update', {{ ad_storage: {} ? 'granted' : 'denied' }});
  }});
",
            allows(b)
        ));
    }
    if let Some(cl) = &i.microsoft_clarity {
        // Clarity's own stub, so commands queue until its tag loads.
        out.push_str(&format!(
            "  // Microsoft Clarity: analytics_Storage and ad_Storage.
  w.clarity = w.clarity || function () {{ (w.clarity.q = w.clarity.q || []).push(arguments); }};
  w.clarity('consentv2', {{ ad_Storage: 'denied', analytics_Storage: 'denied' }});
  on.push(function (c) {{
    w.clarity('consentv2', {{ ad_Storage: {} ? 'granted' : 'denied', analytics_Storage: {} ? 'granted' : 'denied' }});
  }});
",
            allows(&cl.ads),
            allows(&cl.analytics)
        ));
    }
    if let Some(m) = &i.matomo {
        matomo(m, &mut out);
    }
    if let Some(h) = &i.hubspot {
        hubspot(h, &mut out);
    }
    if let Some(b) = &i.tiktok_pixel {
        tiktok(b, &mut out);
    }
    if let Some(shop) = &i.shopify {
        shopify(shop, &mut out);
    }
    if let Some(wp) = &i.wordpress {
        wordpress(wp, &mut out);
    }
    out.push_str(
        "  // The widget fires crumb:change when a choice counts, before it
  // releases any gated tag: the vendors hear of it first. A choice that
  // no longer counts (null) allows nothing beyond strictly necessary.
  document.addEventListener('crumb:change', function (e) {
    var c = e.detail || { categories: { necessary: true }, services: {} };
    on.forEach(function (f) { f(c); });
  });
})();
",
    );
    out
}

#[utoipa::path(get, path = "/v1/sites/{site}/signals.js", tag = "public", params(crate::openapi::SitePath),
    responses((status = 200, description = "The vendor consent-signal script", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified (If-None-Match)"), crate::openapi::Errors))]
pub async fn signals(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let site = public_site(&state, &path).await?;
    if site.integrations.is_empty() {
        return Ok(respond(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_enabled",
            "this site has switched no vendor consent signal on (integrations)",
        ));
    }
    let body = script(&site);
    let etag = format!("\"{}\"", &sha256_hex(body.as_bytes())[..32]);
    let mut resp = if etag_matches(&req, &etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .body(body)
    };
    let h = resp.headers_mut();
    // Revalidated on every use, like the config: a settings change reaches
    // every page at once; an unchanged script costs a 304.
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    h.insert(
        header::ETAG,
        header::HeaderValue::from_str(&etag).expect("hex"),
    );
    crate::http::embeddable(h);
    Ok(resp)
}
