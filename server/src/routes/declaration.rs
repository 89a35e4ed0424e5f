//! `GET /v1/sites/{site}/declaration?lang=xx`: the cookie declaration for a
//! cookie-policy page, category → service → cookie (provider, purpose,
//! retention), in one language (picked like the banner's:
//! `SiteConfig::language_for`). Public, like the config, and fails the same
//! ways.

use actix_web::{HttpResponse, web};
use crumb_schema::{LanguageTag, Localized, SiteId};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::config::{ConfigError, public_site};

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
    path: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConfigError> {
    let site = public_site(&state, &path).await?;
    let language = site
        .language_for(&[query.lang.as_deref().unwrap_or_default()])
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
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(declaration))
}
