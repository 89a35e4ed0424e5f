//! `GET /v1/sites/{site}/config`: the public part of a site's config, which
//! the widget renders the banner from. Browsers revalidate it on every use
//! (`no-cache` + ETag, answered with a bodiless 304 when unchanged): the
//! widget fetches it in parallel with the wasm anyway, and a revision bump
//! must reach every visitor at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use crumb_schema::{LanguageTag, SiteConfig, SiteId};
use serde::Serialize;

use super::error::respond;
use super::{AppState, load_site};
use crate::cors;
use crate::http::{etag_matches, gzip, takes_gzip};
use crate::record::sha256_hex;
use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    InvalidSite(#[from] crumb_schema::IdError),
    #[error("no site {0:?}")]
    UnknownSite(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResponseError for ConfigError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConfigError::InvalidSite(_) => StatusCode::BAD_REQUEST,
            ConfigError::UnknownSite(_) => StatusCode::NOT_FOUND,
            ConfigError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ConfigError::InvalidSite(_) => "invalid_site_id",
            ConfigError::UnknownSite(_) => "unknown_site",
            ConfigError::Store(e) => {
                tracing::error!(error = %e, "config lookup failed");
                "internal"
            }
        };
        respond(self.status_code(), code, &self.to_string())
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

/// The version of the texts shown in `lang`: the SHA-256 of the banner
/// texts and the category texts in that language.
pub fn text_hash(site: &SiteConfig, lang: &LanguageTag) -> Option<String> {
    let banner = site.texts.get(lang)?;
    let categories: Vec<_> = site.categories.iter().map(|c| c.texts.get(lang)).collect();
    let bytes = serde_json::to_vec(&(banner, categories)).expect("texts serialise");
    Some(sha256_hex(&bytes))
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
    pub public_json: web::Bytes,
    pub etag: String,
    /// The same JSON gzipped (level 9, like the widget), and its tag: the
    /// config is part of what every first-time visitor downloads.
    pub public_gzip: web::Bytes,
    pub etag_gzip: String,
    text_hashes: BTreeMap<LanguageTag, String>,
}

impl Derived {
    fn new(site: &SiteConfig) -> Derived {
        let text_hashes = site
            .languages
            .iter()
            .filter_map(|l| Some((l.clone(), text_hash(site, l)?)))
            .collect();
        let public_json = public_json(site, &text_hashes);
        let hash = sha256_hex(public_json.as_bytes());
        let etag = format!("\"{}\"", &hash[..32]);
        let etag_gzip = format!("\"{}-gz\"", &hash[..32]);
        let public_gzip = web::Bytes::from(gzip(public_json.as_bytes()));
        let public_json = web::Bytes::from(public_json);
        Derived {
            public_json,
            etag,
            public_gzip,
            etag_gzip,
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

#[tracing::instrument(skip(state, req), fields(site = %path.as_str()))]
pub async fn get_config(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let id = SiteId::parse(&path)?;
    let site = load_site(&state, id)
        .await?
        .ok_or_else(|| ConfigError::UnknownSite(path.into_inner()))?;
    let derived = state.derived.get(&site);
    let gzip = takes_gzip(&req);
    let (etag, body) = if gzip {
        (&derived.etag_gzip, &derived.public_gzip)
    } else {
        (&derived.etag, &derived.public_json)
    };
    let mut resp = if etag_matches(&req, etag) {
        HttpResponse::NotModified().finish()
    } else {
        let mut ok = HttpResponse::Ok();
        ok.content_type("application/json");
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
    // The config is public, but only the site's own pages may read it from
    // a script; others simply get no CORS header.
    cors::decorate(&mut resp, &cors::check(&req, &site));
    Ok(resp)
}
