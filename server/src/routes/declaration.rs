//! `GET /v1/sites/{site}/declaration?lang=nl-BE,en`: the cookie
//! declaration for a cookie-policy page, category → service (purpose,
//! privacy-policy link) → cookie (provider, purpose, retention, party,
//! domain), with the column heads, in one language (picked like the
//! banner's: `SiteConfig::language_for`). Crumb's own `crumb_consent` is
//! declared in the necessary category of every site. `crumb-declaration.js`
//! renders it. Public, like the config, and fails the same ways.

use actix_web::{HttpResponse, web};
use crumb_schema::{Category, LanguageTag, Localized, Party, SiteId};
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
    /// The table's column heads and the other words a renderer needs, in
    /// `language`.
    labels: Labels<'a>,
    categories: Vec<CategoryRow<'a>>,
}

#[derive(Serialize)]
struct Labels<'a> {
    /// Cookie, provider, purpose, retention, type.
    columns: [&'a str; 5],
    first_party: &'static str,
    third_party: &'static str,
    privacy_policy: &'static str,
    sets_no_cookies: &'static str,
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
    provider: String,
    /// What the service is for, in `language`.
    purpose: String,
    privacy_policy_url: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    sets_no_cookies: bool,
    cookies: Vec<CookieRow<'a>>,
}

#[derive(Serialize)]
struct CookieRow<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pattern: bool,
    provider: String,
    purpose: String,
    retention: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    party: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
}

#[utoipa::path(get, path = "/v1/sites/{site}/declaration", tag = "public", params(crate::openapi::SitePath, crate::openapi::LangQuery),
    responses((status = 200, description = "The cookie declaration for a cookie-policy page", body = Object),
        (status = 304, description = "Not modified (If-None-Match)"), crate::openapi::Errors))]
pub async fn get_declaration(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConfigError> {
    let site = public_site(&state, &path).await?;
    // Like the widget's config: the page's language, then the browser's.
    let wanted: Vec<&str> = query
        .lang
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .take(4)
        .collect();
    let language = site
        .language_for(&wanted)
        .expect("a stored site has at least one language");
    let first = site.languages.first();
    let pick = |m: &Localized| m.get(language).cloned().unwrap_or_default();
    let provider = |s: &crumb_schema::ServiceConfig| {
        s.provider
            .get(language, first)
            .unwrap_or_default()
            .to_owned()
    };
    let w = crumb_schema::words::for_language(language);
    let texts = site.texts.get(language);
    let column = |i: usize| texts.map_or("", |t| t.cookie_columns[i].as_str());
    // Crumb's own cookie is strictly necessary on every site that runs it,
    // so it is declared whatever the config says.
    let crumb = ServiceRow {
        id: crumb_schema::widget::CRUMB_SERVICE,
        name: "Crumb",
        provider: site.name.clone(),
        purpose: w.consent_purpose.to_owned(),
        privacy_policy_url: &site.policy_url,
        sets_no_cookies: false,
        cookies: vec![CookieRow {
            name: crumb_schema::cookie::NAME,
            pattern: false,
            provider: site.name.clone(),
            purpose: w.consent_purpose.to_owned(),
            retention: w.consent_retention.to_owned(),
            party: Some(Party::First),
            domain: site.cookie_domain.as_deref(),
        }],
    };
    let mut crumb = Some(crumb);
    let declaration = Declaration {
        site_id: &site.id,
        language,
        policy_url: &site.policy_url,
        labels: Labels {
            columns: [column(0), column(1), column(2), column(3), w.type_column],
            first_party: w.first_party,
            third_party: w.third_party,
            privacy_policy: w.privacy_policy,
            sets_no_cookies: w.sets_no_cookies,
        },
        categories: site
            .categories
            .iter()
            .map(|c| {
                let texts = c.texts.get(language);
                let mut services: Vec<ServiceRow<'_>> = site
                    .services
                    .iter()
                    .filter(|s| s.category == c.id)
                    .map(|s| ServiceRow {
                        id: s.id.as_str(),
                        name: &s.name,
                        provider: provider(s),
                        purpose: pick(&s.description),
                        privacy_policy_url: &s.privacy_policy_url,
                        sets_no_cookies: s.sets_no_cookies,
                        cookies: s
                            .cookies
                            .iter()
                            .map(|k| CookieRow {
                                name: &k.name,
                                pattern: k.pattern,
                                provider: provider(s),
                                purpose: pick(&k.purpose),
                                retention: k.retention.text(language, first).unwrap_or_default(),
                                party: k.party,
                                domain: k.domain.as_deref(),
                            })
                            .collect(),
                    })
                    .collect();
                if c.id == Category::Necessary {
                    services.splice(0..0, crumb.take());
                }
                CategoryRow {
                    id: c.id.as_str(),
                    name: texts.map_or("", |t| t.name.as_str()),
                    description: texts.map_or("", |t| t.description.as_str()),
                    services,
                }
            })
            .collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(declaration))
}
