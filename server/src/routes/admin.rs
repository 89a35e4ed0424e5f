//! The site owner's API (owner token): create, read, update and delete
//! sites, and bump a site's policy revision. Every write runs the
//! compliance check and is refused with all its problems listed. A config
//! is answered with its `ETag`; updates and bumps take `If-Match` (412 when
//! another change came first) and are decided against the config as
//! stored, inside the write (`crate::sites`).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use crumb_schema::{LanguageTag, PolicyRevision, SiteConfig, SiteId};
use serde::Serialize;

use super::{AppState, blocking, logged_site};
use crate::auth::{AuthError, authenticate};
use crate::error::{ApiError, api_error_sources, respond};
use crate::lint::{Problem, lint_json};
use crate::sites::UpdateRefused;
use crate::storage::SiteUpdate;
use crate::timefmt::Timestamp;

/// Site configs are bigger than consent requests; still bounded.
pub const MAX_CONFIG: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("site {0:?} already exists; update it with PUT")]
    Exists(String),
    #[error("the config's id {body:?} does not match the URL's {path:?}")]
    IdMismatch { body: String, path: String },
    #[error(
        "the config says revision {sent}, the site is at {current}; change revisions with bump-revision"
    )]
    RevisionConflict {
        sent: PolicyRevision,
        current: PolicyRevision,
    },
    #[error("{0}")]
    Stale(UpdateRefused),
    #[error("send the site config as JSON with Content-Type: application/json")]
    ContentType,
    #[error("{0}")]
    Query(String),
    #[error("the config is larger than {} bytes", MAX_CONFIG)]
    TooLarge,
    #[error("could not read the request body: {0}")]
    Body(String),
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("the request body was sent compressed")]
    Encoding,
    #[error(transparent)]
    BehindLog(#[from] crate::sites::BehindLog),
    #[error("the config has {} problem(s)", .0.len())]
    Lint(Vec<Problem>),
}

api_error_sources!(AdminError);

#[derive(Serialize)]
struct LintBody<'a> {
    error: &'static str,
    message: String,
    problems: &'a [Problem],
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Auth(e) => e.status_code(),
            AdminError::Api(e) => e.status_code(),
            AdminError::IdMismatch { .. } => StatusCode::BAD_REQUEST,
            AdminError::Exists(_)
            | AdminError::RevisionConflict { .. }
            | AdminError::BehindLog(_) => StatusCode::CONFLICT,
            AdminError::Stale(_) => StatusCode::PRECONDITION_FAILED,
            AdminError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AdminError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::Query(_) => StatusCode::BAD_REQUEST,
            AdminError::Body(_) => StatusCode::BAD_REQUEST,
            AdminError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            AdminError::Encoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AdminError::Lint(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AdminError::Auth(e) => return e.error_response(),
            AdminError::Api(e) => return e.error_response(),
            AdminError::Encoding => return crate::routes::error::encoding_refused(),
            AdminError::Lint(problems) => {
                return HttpResponse::build(self.status_code()).json(LintBody {
                    error: "lint_failed",
                    message: self.to_string(),
                    problems,
                });
            }
            AdminError::Exists(_) => "site_exists",
            AdminError::IdMismatch { .. } => "id_mismatch",
            AdminError::RevisionConflict { .. } | AdminError::BehindLog(_) => "revision_conflict",
            AdminError::Stale(_) => "precondition_failed",
            AdminError::ContentType => "unsupported_media_type",
            AdminError::TooLarge => "body_too_large",
            AdminError::Query(_) => "invalid_query",
            AdminError::Body(_) => "invalid_body",
            AdminError::BodyTimeout => "body_timeout",
        };
        respond(self.status_code(), code, &self.to_string())
    }
}

impl From<UpdateRefused> for AdminError {
    fn from(e: UpdateRefused) -> AdminError {
        match e {
            UpdateRefused::OtherSite { new, current } => AdminError::IdMismatch {
                body: new.to_string(),
                path: current.to_string(),
            },
            UpdateRefused::RevisionConflict { sent, current } => {
                AdminError::RevisionConflict { sent, current }
            }
            e @ UpdateRefused::Stale { .. } => AdminError::Stale(e),
        }
    }
}

/// The request's `If-Match`, if it sent one (a value that is not text
/// names no tag, so it matches nothing).
fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

/// Runs `change` on the site's config as stored, inside the write
/// (`Store::update_site`): the answer for what it made of it.
async fn update_stored(
    state: &web::Data<AppState>,
    id: SiteId,
    mut change: impl FnMut(&SiteConfig) -> Result<SiteConfig, UpdateRefused> + Send + 'static,
) -> Result<HttpResponse, AdminError> {
    let (store, now, raw) = (state.store.clone(), state.clock.now(), id.to_string());
    match blocking(move || store.update_site(&id, now, &mut change)).await? {
        SiteUpdate::Updated(site) => Ok(site_json(StatusCode::OK, &site)),
        SiteUpdate::Refused(refused) => Err(refused.into()),
        // Deleted since the token was checked.
        SiteUpdate::NoSite => Err(ApiError::UnknownSite(raw).into()),
    }
}

/// Reads a config body, at most `MAX_CONFIG` bytes.
async fn read_body(payload: web::Payload) -> Result<Bytes, AdminError> {
    match payload.to_bytes_limited(MAX_CONFIG).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) if crate::limits::timed_out_error(&e) => Err(AdminError::BodyTimeout),
        Ok(Err(e)) if crate::limits::unsupported_encoding_error(&e) => Err(AdminError::Encoding),
        Ok(Err(e)) => Err(AdminError::Body(e.to_string())),
        Err(_) => Err(AdminError::TooLarge),
    }
}

/// Parses and checks a config body.
fn config_body(req: &HttpRequest, body: &Bytes) -> Result<SiteConfig, AdminError> {
    if !crate::http::sends_json(req) {
        return Err(AdminError::ContentType);
    }
    let text = std::str::from_utf8(body).map_err(|_| {
        AdminError::Lint(vec![Problem {
            rule: "json",
            path: String::new(),
            message: "the body is not UTF-8".into(),
        }])
    })?;
    lint_json(text).map_err(AdminError::Lint)
}

fn site_json(status: StatusCode, site: &SiteConfig) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::ETAG, crate::sites::config_tag(site)))
        .json(site)
}

#[utoipa::path(post, path = "/v1/admin/sites", tag = "owner", security(("bearer" = [])),
    request_body(content = crumb_schema::SiteConfig, description = "A site config (README, \"Configuration\"); `crumb lint` checks one offline", content_type = "application/json"),
    responses((status = 201, description = "Created", body = crumb_schema::SiteConfig), crate::openapi::Errors))]
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AdminError> {
    let caller = authenticate(&state.store, req.headers()).await?;
    let site = config_body(&req, &read_body(payload).await?)?;
    caller.write(&site.id)?;
    let (store, id) = (state.store.clone(), site.id.clone());
    let newest = blocking(move || store.newest_site_record(&id)).await?;
    crate::sites::check_create(&site, newest.map(|r| r.body.policy_revision))?;
    let (store, s, now) = (state.store.clone(), site.clone(), state.clock.now());
    if !blocking(move || store.insert_site(&s, now)).await? {
        return Err(AdminError::Exists(site.id.to_string()));
    }
    Ok(site_json(StatusCode::CREATED, &site))
}

/// Authenticates with write (or read) rights and loads the site.
async fn owned_site(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    raw: &str,
    write: bool,
) -> Result<SiteConfig, AdminError> {
    let caller = authenticate(&state.store, req.headers()).await?;
    let id = SiteId::parse(raw)?;
    if write {
        caller.write(&id)?;
    } else {
        caller.read(&id)?;
    }
    // As stored, not as cached for pages (up to `site_cache::RECHECK`
    // old): an owner reads what another node just wrote, and the ETag is
    // the stored config's.
    let store = state.store.clone();
    blocking(move || store.site(&id))
        .await?
        .map(|site| (*site).clone())
        .ok_or_else(|| ApiError::UnknownSite(raw.to_owned()).into())
}

/// One site in the owner's list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SiteSummary<'a> {
    id: &'a SiteId,
    revision: PolicyRevision,
    languages: &'a [LanguageTag],
    allowed_origins: &'a [String],
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The sites a token reaches, by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SiteList<'a> {
    sites: Vec<SiteSummary<'a>>,
}

#[utoipa::path(get, path = "/v1/admin/sites", tag = "owner", security(("bearer" = [])),
    responses((status = 200, description = "The sites the token reaches (every site, or the one it is bound to), by id", body = SiteList<'static>), crate::openapi::Errors))]
#[tracing::instrument(skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let caller = authenticate(&state.store, req.headers()).await?;
    let store = state.store.clone();
    let rows = blocking(move || store.site_rows()).await?;
    let sites = rows
        .iter()
        .filter(|r| caller.read(&r.config.id).is_ok())
        .map(|r| SiteSummary {
            id: &r.config.id,
            revision: r.config.revision,
            languages: &r.config.languages,
            allowed_origins: &r.config.allowed_origins,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SiteList { sites }))
}

#[utoipa::path(get, path = "/v1/admin/sites/{site}", tag = "owner", params(crate::openapi::SitePath), security(("bearer" = [])),
    responses((status = 200, description = "The site's config", body = crumb_schema::SiteConfig), crate::openapi::Errors))]
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let site = owned_site(&state, &req, &path, false).await?;
    Ok(site_json(StatusCode::OK, &site))
}

#[utoipa::path(put, path = "/v1/admin/sites/{site}", tag = "owner", params(crate::openapi::SitePath, ("If-Match" = Option<String>, Header, description = "The ETag of the config this change was made on; 412 `precondition_failed` when the stored config has another")), security(("bearer" = [])),
    request_body(content = crumb_schema::SiteConfig, description = "The site's new config", content_type = "application/json"),
    responses((status = 200, description = "Replaced", body = crumb_schema::SiteConfig), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, AdminError> {
    let current = owned_site(&state, &req, &path, true).await?;
    let site = config_body(&req, &read_body(payload).await?)?;
    let tag = if_match(&req);
    update_stored(&state, current.id, move |stored| {
        crate::sites::check_if_match(stored, tag.as_deref())?;
        crate::sites::check_update(stored, &site)?;
        Ok(site.clone())
    })
    .await
}

#[utoipa::path(post, path = "/v1/admin/sites/{site}/bump-revision", tag = "owner", params(crate::openapi::SitePath, ("If-Match" = Option<String>, Header, description = "The ETag of the config as last read; 412 `precondition_failed` when the stored config has another")), security(("bearer" = [])),
    responses((status = 200, description = "The config at its next revision", body = crumb_schema::SiteConfig), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn bump_revision(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let current = owned_site(&state, &req, &path, true).await?;
    let tag = if_match(&req);
    update_stored(&state, current.id, move |stored| {
        crate::sites::check_if_match(stored, tag.as_deref())?;
        Ok(crate::sites::bump(stored))
    })
    .await
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/admin/sites/{site}/stats?from=&to=`: per day, how many
/// decisions (given or updated consents) there were, the share that allowed
/// each category, and the split by method. Owners and auditors may read.
#[utoipa::path(get, path = "/v1/admin/sites/{site}/stats", tag = "owner",
    params(crate::openapi::SitePath, crate::openapi::RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Decisions per day", body = crate::stats::SiteStats<'static>), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn stats(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, AdminError> {
    // Read access, as the auditor's: a deleted site's log still has its
    // statistics.
    let caller = authenticate(&state.store, req.headers()).await?;
    caller.read(&SiteId::parse(&path)?)?;
    let id = logged_site(&state, &path).await?;
    let range = crate::export::parse_range(query.from.as_deref(), query.to.as_deref())
        .map_err(AdminError::Query)?;
    let (store, app) = (state.store.clone(), state.clone());
    let site_id = id.clone();
    let now = state.clock.now();
    let days = blocking(move || app.stats.stats(store.as_ref(), &id, &range, now)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(crate::stats::answer(&site_id, &days)))
}

#[utoipa::path(delete, path = "/v1/admin/sites/{site}", tag = "owner", params(crate::openapi::SitePath), security(("bearer" = [])),
    responses((status = 204, description = "Deleted (its records stay)"), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let site = owned_site(&state, &req, &path, true).await?;
    let store = state.store.clone();
    blocking(move || store.delete_site(&site.id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
