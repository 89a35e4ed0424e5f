//! Per-site CORS. A site's consent endpoints answer only pages from the
//! origins the site lists (plus Crumb's own origin, where the demo and the
//! owner pages live). Requests without an `Origin` header come from servers
//! or tools, not from a browser page, and are let through.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use crumb_schema::SiteConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No `Origin` header: not a cross-origin browser request.
    Absent,
    /// A permitted origin, to be echoed in `Access-Control-Allow-Origin`.
    Allowed(HeaderValue),
    /// A browser page from an origin the site does not list.
    Refused(String),
}

pub fn check(req: &HttpRequest, site: &SiteConfig) -> Origin {
    let Some(value) = req.headers().get(header::ORIGIN) else {
        return Origin::Absent;
    };
    let Ok(origin) = value.to_str() else {
        return Origin::Refused("<not text>".into());
    };
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    let listed = site
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if listed || origin.eq_ignore_ascii_case(&own) {
        Origin::Allowed(value.clone())
    } else {
        Origin::Refused(origin.to_owned())
    }
}

/// Adds the CORS response headers for an allowed origin. `Vary: Origin` is
/// always set because the answer depends on it (caches must not mix them).
pub fn decorate(resp: &mut actix_web::HttpResponse, origin: &Origin) {
    let headers = resp.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Origin::Allowed(o) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
}
