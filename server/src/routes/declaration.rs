//! `GET /v1/sites/{site}/declaration?lang=xx`: the cookie declaration for a
//! cookie-policy page, category → service → cookie (provider, purpose,
//! retention), in one language (the site's first when `lang` is missing or
//! not offered). Public, like the config.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use crumb_schema::{IdError, LanguageTag, Localized, SiteId};
use serde::{Deserialize, Serialize};

use super::error::respond;
use super::{AppState, load_site};
use crate::cors;
use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DeclarationError {
    #[error("{0}")]
    InvalidId(#[from] IdError),
    #[error("no site {0:?}")]
    UnknownSite(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResponseError for DeclarationError {
    fn status_code(&self) -> StatusCode {
        match self {
            DeclarationError::InvalidId(_) => StatusCode::BAD_REQUEST,
            DeclarationError::UnknownSite(_) => StatusCode::NOT_FOUND,
            DeclarationError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            DeclarationError::InvalidId(_) => "invalid_id",
            DeclarationError::UnknownSite(_) => "unknown_site",
            DeclarationError::Store(e) => {
                tracing::error!(error = %e, "declaration failed");
                "internal"
            }
        };
        respond(self.status_code(), code, &self.to_string())
    }
}

#[derive(Debug, Deserialize)]
pub struct Query {
    lang: Option<String>,
}

#[derive(Serialize)]
struct Declaration<'a> {
    site_id: &'a SiteId,
    language: &'a LanguageTag,
    policy_url: &'a str,
    categories: Vec<CategoryRow<'a>>,
}

#[derive(Serialize)]
struct CategoryRow<'a> {
    id: &'static str,
    name: &'a str,
    description: &'a str,
    services: Vec<ServiceRow<'a>>,
}

#[derive(Serialize)]
struct ServiceRow<'a> {
    id: &'a str,
    name: &'a str,
    provider: &'a str,
    privacy_policy_url: &'a str,
    cookies: Vec<CookieRow<'a>>,
}

#[derive(Serialize)]
struct CookieRow<'a> {
    name: &'a str,
    provider: &'a str,
    purpose: String,
    retention: String,
}

pub async fn get_declaration(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, DeclarationError> {
    let id = SiteId::parse(&path)?;
    let site = load_site(&state, id)
        .await?
        .ok_or_else(|| DeclarationError::UnknownSite(path.into_inner()))?;
    let wanted = query
        .lang
        .as_deref()
        .and_then(|l| LanguageTag::parse(l).ok());
    let language = wanted
        .as_ref()
        .and_then(|w| {
            site.languages
                .iter()
                .find(|l| *l == w)
                .or_else(|| site.languages.iter().find(|l| l.primary() == w.primary()))
        })
        .or(site.languages.first())
        .expect("a stored site has at least one language");
    let pick = |m: &Localized| m.get(language).cloned().unwrap_or_default();
    let declaration = Declaration {
        site_id: &site.id,
        language,
        policy_url: &site.policy_url,
        categories: site
            .categories
            .iter()
            .map(|c| {
                let texts = c.texts.get(language);
                CategoryRow {
                    id: c.id.as_str(),
                    name: texts.map_or("", |t| t.name.as_str()),
                    description: texts.map_or("", |t| t.description.as_str()),
                    services: site
                        .services
                        .iter()
                        .filter(|s| s.category == c.id)
                        .map(|s| ServiceRow {
                            id: s.id.as_str(),
                            name: &s.name,
                            provider: &s.provider,
                            privacy_policy_url: &s.privacy_policy_url,
                            cookies: s
                                .cookies
                                .iter()
                                .map(|k| CookieRow {
                                    name: &k.name,
                                    provider: &s.provider,
                                    purpose: pick(&k.purpose),
                                    retention: pick(&k.retention),
                                })
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect(),
    };
    let mut resp = HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(declaration);
    cors::decorate(&mut resp, &cors::check(&req, &site));
    Ok(resp)
}
