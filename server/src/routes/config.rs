//! `GET /v1/sites/{site}/config`: the public part of a site's config, which
//! the widget renders the banner from. Browsers revalidate it on every use
//! (`no-cache` + ETag, answered with a bodiless 304 when unchanged): the
//! widget fetches it in parallel with the wasm anyway, and a revision bump
//! must reach every visitor at once.
//!
//! `GET /v1/sites/{site}/widget?lang=nl-BE,en-US`: the same config in the
//! widget's compact one-language form (see `crumb_schema::widget`), in the
//! best language for the page and browser languages the loader sends; and
//! `.../widget/details?lang=...`, the preferences dialog's texts, which the
//! widget fetches when the dialog first opens.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use crumb_schema::{LanguageTag, SiteConfig, SiteId, widget};
use serde::Serialize;

use super::{AppState, public_site_named};
use crate::error::{ApiError, api_error_sources, respond};
use crate::http::{etag_matches, gzip, takes_gzip};
use crate::record::sha256_hex;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the lang parameter is longer than {MAX_LANG} bytes")]
    LangTooLong,
}

api_error_sources!(ConfigError);

/// Two or three language tags fit many times over.
const MAX_LANG: usize = 200;

impl ResponseError for ConfigError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConfigError::Api(e) => e.status_code(),
            ConfigError::LangTooLong => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConfigError::Api(e) => e.error_response(),
            ConfigError::LangTooLong => {
                respond(self.status_code(), "invalid_language", &self.to_string())
            }
        }
    }
}

/// The config as the widget sees it: everything but the allowed origins,
/// plus the hash of the texts of each language, which the widget echoes in
/// its consent request as proof of what the visitor was shown.
#[derive(Serialize)]
pub struct PublicConfig<'a> {
    #[serde(flatten)]
    pub site: &'a SiteConfig,
    pub text_hashes: &'a BTreeMap<LanguageTag, String>,
}

/// The version of the texts shown in `lang` (see [`crate::sites::notice`]).
pub fn text_hash(site: &SiteConfig, lang: &LanguageTag) -> Option<String> {
    crate::sites::notice(site, lang).map(|n| n.text_hash.as_str().to_owned())
}

fn public_json(site: &SiteConfig, text_hashes: &BTreeMap<LanguageTag, String>) -> String {
    let mut public = site.clone();
    public.allowed_origins.clear();
    serde_json::to_string(&PublicConfig {
        site: &public,
        text_hashes,
    })
    .expect("a config serialises")
}

/// What the routes derive from one version of a site's config: computed
/// once, not per request (hashing the texts is most of a consent request's
/// validation otherwise).
#[derive(Debug)]
pub struct Derived {
    pub public: Variant,
    /// The widget's compact form, per language (in the site's order): for
    /// browsers without Global Privacy Control, and with it; then the
    /// preferences dialog's texts.
    widget: Vec<WidgetTexts>,
    text_hashes: BTreeMap<LanguageTag, String>,
}

/// The widget's texts in one language.
#[derive(Debug)]
struct WidgetTexts {
    lang: LanguageTag,
    /// The compact config, for browsers without Global Privacy Control
    /// and with it.
    config: [Variant; 2],
    /// The preferences dialog's texts.
    details: Variant,
}

/// One representation of the config, plain and gzipped (level 9, like the
/// widget: the config is part of what every first-time visitor downloads),
/// each with its own tag.
#[derive(Debug)]
pub struct Variant {
    plain: web::Bytes,
    etag: String,
    gzip: web::Bytes,
    etag_gzip: String,
}

impl Variant {
    fn new(body: String) -> Variant {
        let hash = sha256_hex(body.as_bytes());
        Variant {
            etag: format!("\"{}\"", &hash[..32]),
            etag_gzip: format!("\"{}-gz\"", &hash[..32]),
            gzip: web::Bytes::from(gzip(body.as_bytes())),
            plain: web::Bytes::from(body),
        }
    }

    /// The response for `req`: gzipped when the client takes it, a bodiless
    /// 304 when its cached copy has this tag, revalidated on every use.
    fn respond(&self, req: &HttpRequest, content_type: &'static str) -> HttpResponse {
        let gzip = takes_gzip(req);
        let (etag, body) = if gzip {
            (&self.etag_gzip, &self.gzip)
        } else {
            (&self.etag, &self.plain)
        };
        let mut resp = if etag_matches(req, etag) {
            HttpResponse::NotModified().finish()
        } else {
            let mut ok = HttpResponse::Ok();
            ok.content_type(content_type);
            if gzip {
                ok.insert_header((header::CONTENT_ENCODING, "gzip"));
            }
            ok.body(body.clone())
        };
        let headers = resp.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::ETAG,
            HeaderValue::from_str(etag).expect("hex is a valid header"),
        );
        resp
    }
}

impl Derived {
    fn new(site: &SiteConfig) -> Derived {
        let text_hashes = site
            .languages
            .iter()
            .filter_map(|l| Some((l.clone(), text_hash(site, l)?)))
            .collect();
        let public = Variant::new(public_json(site, &text_hashes));
        let widget = site
            .languages
            .iter()
            .map(|l| {
                let hash = text_hashes.get(l).map_or("", String::as_str);
                let variant = |gpc| Variant::new(widget::encode(site, l, hash, gpc));
                let details = Variant::new(widget::encode_details(site, l));
                WidgetTexts {
                    lang: l.clone(),
                    config: [variant(false), variant(true)],
                    details,
                }
            })
            .collect();
        Derived {
            public,
            widget,
            text_hashes,
        }
    }

    pub fn text_hash(&self, lang: &LanguageTag) -> Option<&str> {
        self.text_hashes.get(lang).map(String::as_str)
    }
}

/// [`Derived`] per site, valid while the store hands out the same shared
/// config (a changed config is a new `Arc`).
#[derive(Debug, Default)]
pub struct DerivedCache(Mutex<HashMap<SiteId, Entry>>);

/// The config a [`Derived`] was computed from, kept to compare pointers.
type Entry = (Arc<SiteConfig>, Arc<Derived>);

impl DerivedCache {
    pub fn get(&self, site: &Arc<SiteConfig>) -> Arc<Derived> {
        if let Some((config, derived)) = self.0.lock().unwrap().get(&site.id)
            && Arc::ptr_eq(config, site)
        {
            return derived.clone();
        }
        let derived = Arc::new(Derived::new(site));
        self.0
            .lock()
            .unwrap()
            .insert(site.id.clone(), (site.clone(), derived.clone()));
        derived
    }
}

/// The site named in a public route's path.
pub async fn public_site(
    state: &web::Data<AppState>,
    path: &str,
) -> Result<Arc<SiteConfig>, ConfigError> {
    Ok(public_site_named(state, path).await?)
}

#[utoipa::path(get, path = "/v1/sites/{site}/config", tag = "public", params(crate::openapi::SitePath),
    responses((status = 200, description = "The site's public config and the hash of its texts per language", body = Object),
        (status = 304, description = "Not modified (If-None-Match)"), crate::openapi::Errors))]
#[tracing::instrument(skip(state, req), fields(site = %path.as_str()))]
pub async fn get_config(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let site = public_site(&state, &path).await?;
    let resp = state
        .derived
        .get(&site)
        .public
        .respond(&req, "application/json");
    // The config is public, but only the site's own pages may read it from
    // a script; others simply get no CORS header (`cors::headers`).
    Ok(resp)
}

#[derive(serde::Deserialize)]
pub struct WidgetQuery {
    /// The page's and the browser's language tags, comma-separated, best
    /// first. Tags the site does not have (or malformed ones, which pages
    /// do write: `en_US`) only fall through to the next.
    #[serde(default)]
    lang: String,
}

/// The site's widget texts in the best language for `query`: the derived
/// forms and the place of that language among them.
async fn widget_texts(
    state: &web::Data<AppState>,
    path: &str,
    query: &WidgetQuery,
) -> Result<(Arc<Derived>, usize), ConfigError> {
    if query.lang.len() > MAX_LANG {
        return Err(ConfigError::LangTooLong);
    }
    let site = public_site(state, path).await?;
    let derived = state.derived.get(&site);
    let wanted: Vec<&str> = query.lang.split(',').collect();
    let lang = site.language_for(&wanted);
    let i = derived
        .widget
        .iter()
        .position(|w| Some(&w.lang) == lang)
        .expect("a stored site has at least one language");
    Ok((derived, i))
}

#[utoipa::path(get, path = "/v1/sites/{site}/widget", tag = "public", params(crate::openapi::SitePath, crate::openapi::LangQuery),
    responses((status = 200, description = "The widget's compact one-language config (`crumb_schema::widget`)", content_type = "text/plain", body = String),
        (status = 304, description = "Not modified (If-None-Match)"), crate::openapi::Errors))]
#[tracing::instrument(skip(state, req, query), fields(site = %path.as_str()))]
pub async fn get_widget_config(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<WidgetQuery>,
) -> Result<HttpResponse, ConfigError> {
    let (derived, i) = widget_texts(&state, &path, &query).await?;
    // Only a browser that sends Global Privacy Control gets the line that
    // says it is honoured; caches keep the two apart.
    let gpc = crate::http::sends_gpc(&req);
    let mut resp =
        derived.widget[i].config[usize::from(gpc)].respond(&req, "text/plain; charset=utf-8");
    resp.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Sec-GPC"),
    );
    Ok(resp)
}

/// `GET /v1/sites/{site}/widget/details?lang=...`: the preferences
/// dialog's texts (`crumb_schema::widget::encode_details`), in the same
/// language as the widget's config for the same `lang`.
#[utoipa::path(get, path = "/v1/sites/{site}/widget/details", tag = "public", params(crate::openapi::SitePath, crate::openapi::LangQuery),
    responses((status = 200, description = "The preferences dialog's texts, compact", content_type = "text/plain", body = String),
        (status = 304, description = "Not modified (If-None-Match)"), crate::openapi::Errors))]
#[tracing::instrument(skip(state, req, query), fields(site = %path.as_str()))]
pub async fn get_widget_details(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<WidgetQuery>,
) -> Result<HttpResponse, ConfigError> {
    let (derived, i) = widget_texts(&state, &path, &query).await?;
    Ok(derived.widget[i]
        .details
        .respond(&req, "text/plain; charset=utf-8"))
}
