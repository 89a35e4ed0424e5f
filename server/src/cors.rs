//! Per-site CORS. A site's public endpoints answer only pages from the
//! origins the site lists (plus Crumb's own origin, where the demo and the
//! owner pages live). Requests without an `Origin` header come from servers
//! or tools, not from a browser page, and are let through.
//!
//! [`headers`] wraps the whole public API, so every answer to an allowed
//! origin carries `Access-Control-Allow-Origin`, errors included (a body
//! the extractor refused, an unknown consent, a stale config): a page that
//! cannot read an error cannot recover from it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};
use crumb_schema::{SiteConfig, SiteId};

use crate::routes::{AppState, load_public_site};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No `Origin` header: not a cross-origin browser request.
    Absent,
    /// A permitted origin, to be echoed in `Access-Control-Allow-Origin`.
    Allowed(HeaderValue),
    /// A browser page from an origin the site does not list.
    Refused(String),
}

/// `scheme://host[:port]` of Crumb itself, as the request addressed it.
fn own_origin(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

pub fn check(req: &HttpRequest, site: &SiteConfig) -> Origin {
    judge(req.headers().get(header::ORIGIN), &own_origin(req), site)
}

/// [`check`] on the parts of a request it reads.
fn judge(value: Option<&HeaderValue>, own: &str, site: &SiteConfig) -> Origin {
    let Some(value) = value else {
        return Origin::Absent;
    };
    let Ok(origin) = value.to_str() else {
        return Origin::Refused("<not text>".into());
    };
    let listed = site
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if listed || origin.eq_ignore_ascii_case(own) {
        Origin::Allowed(value.clone())
    } else {
        Origin::Refused(origin.to_owned())
    }
}

/// Whether the request comes from a page on Crumb's own origin (Crumb
/// served from the site's host, or behind its reverse proxy under a path):
/// the browser says so in `Sec-Fetch-Site` (https and localhost), or in an
/// `Origin` equal to ours. Only such a page keeps a cookie Crumb sets.
pub fn same_origin(req: &HttpRequest) -> bool {
    let h = req.headers();
    if h.get("sec-fetch-site").is_some_and(|v| v == "same-origin") {
        return true;
    }
    h.get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o.eq_ignore_ascii_case(&own_origin(req)))
}

/// Adds the CORS response headers for an allowed origin. `Vary: Origin` is
/// always set because the answer depends on it (caches must not mix them).
pub fn decorate(headers: &mut HeaderMap, origin: &Origin) {
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Origin::Allowed(o) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
}

/// Middleware for `/v1/sites/{site}/...`: the site's CORS headers on every
/// answer. The site config is usually in memory by then (the handler
/// loaded it); an unknown site gets no CORS header.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The request is read before it is passed on: the router needs it
    // unshared.
    let site = req.match_info().get("site").map(str::to_owned);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let origin = req.headers().get(header::ORIGIN).cloned();
    let own = own_origin(req.request());
    let mut res = next.call(req).await?;
    let site = match (site.and_then(|s| SiteId::parse(&s).ok()), state) {
        (Some(id), Some(state)) => load_public_site(&state, id).await.ok().flatten(),
        _ => None,
    };
    let origin = site.map_or(Origin::Absent, |s| judge(origin.as_ref(), &own, &s));
    decorate(res.headers_mut(), &origin);
    Ok(res)
}
