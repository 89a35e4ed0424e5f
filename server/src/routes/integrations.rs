//! `GET /v1/sites/{site}/consent-mode.js`: the synchronous script a site
//! puts before its Google tags when it switches Google Consent Mode v2 on.
//!
//! It pushes the `default` consent commands into `dataLayer` at once
//! (region-scoped ones first, then the unscoped one, which denies every
//! type but `security_storage`), the `set` commands the site asked for,
//! and listens for the widget's `crumb:change` event to push the visitor's
//! `update`. crumb.js loads `async`, so it cannot come first itself; this
//! script can, and weighs a few hundred bytes only on sites that use it.
//! The widget fires `crumb:change` before it releases any gated tag, so in
//! basic mode the `update` precedes every `config` and `event` command.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use crumb_schema::integrations::{ConsentType, GoogleConsentMode};
use crumb_schema::{Category, SiteConfig};
use serde_json::{Map, Value, json};

use super::AppState;
use super::config::{ConfigError, public_site};
use crate::http::etag_matches;
use crate::record::sha256_hex;
use crate::routes::error::respond;

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

/// The script for a site's Consent Mode settings.
pub fn script(site: &SiteConfig, gcm: &GoogleConsentMode) -> String {
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
    format!(
        "// Crumb: Google Consent Mode v2 for site {site_id} ({mode} mode). Load it before any Google tag.\n\
(function () {{\n\
  var w = window;\n\
  w.dataLayer = w.dataLayer || [];\n\
  function gtag() {{ w.dataLayer.push(arguments); }}\n\
  {defaults}.forEach(function (d) {{ gtag('consent', 'default', d); }});\n\
  {sets}.forEach(function (s) {{ gtag('set', s[0], s[1]); }});\n\
  var mapping = {mapping};\n\
  // The widget fires crumb:change when a choice counts, before it releases\n\
  // any gated tag: the visitor's update comes first.\n\
  document.addEventListener('crumb:change', function (e) {{\n\
    var c = e.detail, u = {{}};\n\
    if (!c) return;\n\
    for (var k in mapping) mapping[k].forEach(function (t) {{\n\
      if (u[t] !== 'granted') u[t] = c.categories[k] ? 'granted' : 'denied';\n\
    }});\n\
    gtag('consent', 'update', u);\n\
  }});\n\
}})();\n",
        site_id = site.id,
        mode = if matches!(gcm.mode, crumb_schema::integrations::ConsentModeKind::Basic) {
            "basic"
        } else {
            "advanced"
        },
        defaults = Value::Array(defaults),
        sets = Value::Array(sets),
        mapping = Value::Object(mapping),
    )
}

pub async fn consent_mode(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let site = public_site(&state, &path).await?;
    let Some(gcm) = &site.integrations.google_consent_mode else {
        return Ok(respond(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_enabled",
            "this site has not switched Google Consent Mode on (integrations.google_consent_mode)",
        ));
    };
    let body = script(&site, gcm);
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
    Ok(resp)
}
