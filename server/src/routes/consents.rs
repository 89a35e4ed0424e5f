//! Recording and reading consents:
//! `POST /v1/sites/{site}/consents` records a choice (new, or an update of an
//! earlier one), `GET .../consents/{id}` says whether a consent still
//! counts, `POST .../consents/{id}/withdraw` withdraws it.

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use crumb_schema::{
    ChoiceError, Choices, ConsentId, ConsentRequest, ConsentState, ConsentStatus, PolicyRevision,
    Receipt, SiteConfig, TextHash, cookie,
};
use time::OffsetDateTime;

use super::{AppState, blocking, public_site_named};
use crate::client::{cap_user_agent, truncate_ip};
use crate::cors::{self, Origin};
use crate::error::{ApiError, api_error_sources, respond};
use crate::record::Record;
use crate::storage::{
    Action, AppendError, Draft, Idempotency, IdempotencyKey, RequestHash, WriterError,
};

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("origin {0} may not record consents for this site")]
    OriginRefused(String),
    #[error(
        "the banner was shown under policy revision {sent}, but the site is at revision {current}; reload the config and ask again"
    )]
    OutdatedRevision {
        sent: PolicyRevision,
        current: PolicyRevision,
    },
    #[error("language {0:?} is not one of this site's languages")]
    UnknownLanguage(String),
    #[error("text_hash does not match the site's current texts for {0:?}; reload the config")]
    StaleTexts(String),
    #[error("{0}")]
    InvalidChoice(#[from] ChoiceError),
    #[error("consent id {0} is not known for this site")]
    UnknownConsentInBody(ConsentId),
    /// A choice for a withdrawn consent. Its code is `unknown_consent`, as
    /// for an id the site never had: either way the choice is to be sent
    /// again as a new consent (the widget does so).
    #[error(
        "consent {0} was withdrawn, which ended it: send the new choice without consent_id, \
         as a new consent"
    )]
    WithdrawnInBody(ConsentId),
    #[error("consent {0} is not known for this site")]
    NotFound(ConsentId),
    #[error("consent {0} is already withdrawn")]
    AlreadyWithdrawn(ConsentId),
    #[error("Idempotency-Key must be 1 to 128 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("this Idempotency-Key was used for another request")]
    IdempotencyKeyReused,
    #[error("too many consent writes from this network; retry after {} s", .0.as_secs().max(1))]
    TooMany(std::time::Duration),
}

api_error_sources!(ConsentError);

impl From<WriterError> for ConsentError {
    fn from(e: WriterError) -> Self {
        ConsentError::Api(e.into())
    }
}

impl ConsentError {
    fn code(&self) -> &'static str {
        match self {
            ConsentError::Api(e) => e.code(),
            ConsentError::OriginRefused(_) => "origin_not_allowed",
            ConsentError::OutdatedRevision { .. } => "outdated_revision",
            ConsentError::UnknownLanguage(_) => "unknown_language",
            ConsentError::StaleTexts(_) => "stale_texts",
            ConsentError::InvalidChoice(_) => "invalid_choice",
            ConsentError::UnknownConsentInBody(_) | ConsentError::WithdrawnInBody(_) => {
                "unknown_consent"
            }
            ConsentError::NotFound(_) => "unknown_consent",
            ConsentError::AlreadyWithdrawn(_) => "already_withdrawn",
            ConsentError::TooMany(_) => "too_many_requests",
            ConsentError::InvalidIdempotencyKey => "invalid_idempotency_key",
            ConsentError::IdempotencyKeyReused => "idempotency_key_reused",
        }
    }
}

impl ResponseError for ConsentError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsentError::Api(e) => e.status_code(),
            ConsentError::UnknownLanguage(_)
            | ConsentError::InvalidChoice(_)
            | ConsentError::UnknownConsentInBody(_)
            | ConsentError::WithdrawnInBody(_) => StatusCode::BAD_REQUEST,
            ConsentError::OriginRefused(_) => StatusCode::FORBIDDEN,
            ConsentError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsentError::OutdatedRevision { .. }
            | ConsentError::StaleTexts(_)
            | ConsentError::AlreadyWithdrawn(_) => StatusCode::CONFLICT,
            ConsentError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ConsentError::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            ConsentError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsentError::Api(e) = self {
            return e.error_response();
        }
        let mut resp = respond(self.status_code(), self.code(), &self.to_string());
        if let ConsentError::TooMany(wait) = self {
            // Whole seconds, rounded up.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// The site a request addresses, checked to exist and to accept the
/// request's origin.
async fn site_for(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    raw: &str,
) -> Result<Arc<SiteConfig>, ConsentError> {
    let site = public_site_named(state, raw).await?;
    match cors::check(req, &site) {
        Origin::Refused(o) => Err(ConsentError::OriginRefused(o)),
        _ => Ok(site),
    }
}

fn client_network(state: &AppState, req: &HttpRequest) -> String {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    let ip = match state.proxy_hops {
        0 => None,
        hops => crate::client::forwarded_for(forwarded, hops),
    };
    ip.or_else(|| req.peer_addr().map(|a| a.ip()))
        .map(truncate_ip)
        .unwrap_or_default()
}

fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(cap_user_agent)
        .unwrap_or_default()
}

/// The receipt for a stored record, with the cookie value it sets.
fn receipt(record: &Record, site: &SiteConfig) -> Receipt {
    let b = &record.body;
    let (given_at, expires_at) = (b.event_time.get(), b.expires_at.get());
    let choices = b.choices();
    Receipt {
        cookie: cookie::value(
            &b.consent_id,
            b.policy_revision,
            given_at,
            expires_at,
            b.method,
            &choices,
            site,
        ),
        consent_id: b.consent_id.clone(),
        event: b.event,
        given_at,
        expires_at,
        revision: b.policy_revision,
        method: b.method,
        choices,
        record_hash: record.hash.clone(),
    }
}

/// The `crumb_consent` cookie to set with an answer: a consent's cookie
/// value and when the consent expires.
struct ConsentCookie<'a> {
    value: &'a str,
    expires_at: OffsetDateTime,
}

/// A JSON answer that must not be cached. The CORS headers come from
/// `cors::headers`.
///
/// When the page is on Crumb's own origin (the same host, or Crumb behind
/// the site's reverse proxy), the server sets `crumb_consent` itself: a
/// cookie set by `Set-Cookie` on the page's own host is the one Safari
/// keeps past seven days (it caps cookies written by script). Its
/// `Max-Age` is the consent's time left, at most the 400 days browsers
/// allow, so every confirmed visit pushes it out again. `Crumb-Cookie: set`
/// tells the widget not to write the cookie over with a script's.
fn reply(
    mut builder: actix_web::HttpResponseBuilder,
    body: impl serde::Serialize,
    set: Option<(&HttpRequest, &SiteConfig, ConsentCookie<'_>, OffsetDateTime)>,
) -> HttpResponse {
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some((req, site, c, now)) = set
        && cors::same_origin(req)
    {
        let max_age = cookie::max_age(c.expires_at, now);
        let mut built = Cookie::build(cookie::NAME, c.value.to_owned())
            .path("/")
            .same_site(SameSite::Lax)
            .secure(req.connection_info().scheme() == "https")
            .max_age(max_age);
        if let Some(domain) = &site.cookie_domain {
            built = built.domain(domain.clone());
            // A cookie of the page's host alone, left from before the site
            // had a `cookie_domain`, would be a second `crumb_consent`
            // beside the shared one, and browsers list the older first:
            // it goes.
            builder.cookie(
                Cookie::build(cookie::NAME, "")
                    .path("/")
                    .max_age(time::Duration::ZERO)
                    .finish(),
            );
        }
        builder.cookie(built.finish());
        builder.insert_header(("crumb-cookie", "set"));
    }
    builder.json(body)
}

/// A draft of `action` stamped with the server's clock and the request's
/// (reduced) client details, the Global Privacy Control signal and its
/// `Idempotency-Key` (with the hash of `request`, what it asks for)
/// included, once the client's network is within its write quota.
fn draft(
    state: &AppState,
    req: &HttpRequest,
    site: Arc<SiteConfig>,
    action: Action,
    request: &str,
) -> Result<Draft, ConsentError> {
    let idempotency = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => Some(Idempotency {
            key: v
                .to_str()
                .ok()
                .and_then(IdempotencyKey::parse)
                .ok_or(ConsentError::InvalidIdempotencyKey)?,
            request_hash: RequestHash::of(request.as_bytes()),
        }),
    };
    let ip_network = client_network(state, req);
    state
        .quota
        .take(&ip_network, std::time::Instant::now())
        .map_err(ConsentError::TooMany)?;
    let event_time = state.clock.now();
    Ok(Draft {
        site,
        action,
        event_time,
        ids: crate::storage::mint(event_time).map_err(ApiError::from)?,
        user_agent: user_agent(req),
        ip_network,
        gpc: crate::http::sends_gpc(req),
        idempotency,
        prepared: None,
    })
}

#[utoipa::path(post, path = "/v1/sites/{site}/consents", tag = "public",
    params(crate::openapi::SitePath, ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters; a retry with the same key gets the first receipt")),
    request_body = crumb_schema::ConsentRequest,
    responses((status = 201, description = "Recorded (only after the commit)", body = crumb_schema::Receipt),
        (status = 200, description = "A retry: the receipt of the first request with this Idempotency-Key", body = crumb_schema::Receipt), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str(), method = ?body.method))]
pub async fn record(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ConsentRequest>,
) -> Result<HttpResponse, ConsentError> {
    let site = site_for(&state, &req, &path).await?;
    let body = body.into_inner();
    if body.revision != site.revision {
        return Err(ConsentError::OutdatedRevision {
            sent: body.revision,
            current: site.revision,
        });
    }
    if !site.languages.contains(&body.language) {
        return Err(ConsentError::UnknownLanguage(body.language.to_string()));
    }
    // The texts the visitor was shown must be the current ones; the record
    // keeps their whole hash, whichever form the request named them by.
    let text_hash = state
        .derived
        .get(&site)
        .text_hash(&body.language)
        .filter(|current| body.text_hash.names(current))
        .and_then(|current| TextHash::parse(current).ok())
        .ok_or_else(|| ConsentError::StaleTexts(body.language.to_string()))?;
    let choices = Choices::resolve(&site, &body)?;
    let request = serde_json::to_string(&body).unwrap_or_default();
    let action = Action::Choose {
        consent_id: body.consent_id.clone(),
        language: body.language,
        text_hash,
        method: body.method,
        choices,
    };
    let appended = state
        .writer
        .append(draft(&state, &req, site.clone(), action, &request)?)
        .await?;
    let (record, replayed) = outcome(appended, |refused| {
        let id = body.consent_id.expect("only updates can fail");
        match refused {
            AppendError::AlreadyWithdrawn => ConsentError::WithdrawnInBody(id),
            _ => ConsentError::UnknownConsentInBody(id),
        }
    })?;
    let r = receipt(&record, &site);
    let set = ConsentCookie {
        value: &r.cookie,
        expires_at: r.expires_at,
    };
    let now = state.clock.now();
    let resp = reply(HttpResponse::Created(), &r, Some((&req, &site, set, now)));
    Ok(written(resp, replayed, false))
}

/// The record a write stored, or the one a retry of it (same
/// `Idempotency-Key`, same request) gets back, and whether it is such a
/// replay; the append's own refusals become errors through `refused`.
fn outcome(
    appended: crate::storage::AppendResult,
    refused: impl FnOnce(AppendError) -> ConsentError,
) -> Result<(Record, bool), ConsentError> {
    match appended {
        Ok(record) => Ok((record, false)),
        Err(AppendError::Replayed(record)) => Ok((*record, true)),
        Err(AppendError::KeyReused) => Err(ConsentError::IdempotencyKeyReused),
        Err(other) => Err(refused(other)),
    }
}

/// A write's answer: a replay (the same request again, by its
/// `Idempotency-Key`) says so and is not counted as a new record.
fn written(mut resp: HttpResponse, replayed: bool, withdrawal: bool) -> HttpResponse {
    if replayed {
        resp.headers_mut().insert(
            header::HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    } else {
        crate::metrics::global().written(withdrawal);
    }
    resp
}

#[utoipa::path(get, path = "/v1/sites/{site}/consents/{consent}", tag = "public", params(crate::openapi::SitePath, crate::openapi::ConsentPath),
    responses((status = 200, description = "Whether the consent still counts", body = crumb_schema::ConsentStatus), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.0, consent = %path.1))]
pub async fn lookup(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsentError> {
    let site = site_for(&state, &req, &path.0).await?;
    let id = ConsentId::parse(&path.1)?;
    let store = state.store.clone();
    let lookup_id = id.clone();
    let latest = blocking(move || store.latest_record(&lookup_id))
        .await?
        .filter(|r| r.body.site_id == site.id)
        .ok_or_else(|| ConsentError::NotFound(id.clone()))?;
    let r = receipt(&latest, &site);
    let now = state.clock.now();
    let consent_state =
        crumb_schema::rules::state(r.event, r.expires_at, r.revision, site.revision, now);
    let valid = consent_state == ConsentState::Valid;
    let status = ConsentStatus {
        state: consent_state,
        consent_id: r.consent_id,
        event: r.event,
        given_at: r.given_at,
        expires_at: r.expires_at,
        revision: r.revision,
        current_revision: site.revision,
        method: r.method,
        choices: r.choices,
        cookie: valid.then_some(r.cookie),
    };
    // A valid consent's cookie is refreshed on every visit that checks it.
    let set = status.cookie.as_deref().map(|value| {
        (
            &req,
            &*site,
            ConsentCookie {
                value,
                expires_at: status.expires_at,
            },
            now,
        )
    });
    Ok(reply(HttpResponse::Ok(), &status, set))
}

#[utoipa::path(post, path = "/v1/sites/{site}/consents/{consent}/withdraw", tag = "public", params(crate::openapi::SitePath, crate::openapi::ConsentPath),
    responses((status = 201, description = "Withdrawn (a new record)", body = crumb_schema::Receipt), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.0, consent = %path.1))]
pub async fn withdraw(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsentError> {
    let site = site_for(&state, &req, &path.0).await?;
    let id = ConsentId::parse(&path.1)?;
    let action = Action::Withdraw {
        consent_id: id.clone(),
    };
    let request = format!("withdraw {id}");
    let appended = state
        .writer
        .append(draft(&state, &req, site.clone(), action, &request)?)
        .await?;
    let (record, replayed) = outcome(appended, |refused| match refused {
        AppendError::AlreadyWithdrawn => ConsentError::AlreadyWithdrawn(id),
        _ => ConsentError::NotFound(id),
    })?;
    let resp = reply(HttpResponse::Created(), receipt(&record, &site), None);
    Ok(written(resp, replayed, true))
}

/// CORS preflight for every `/v1/sites/{site}/...` route: allowed origins get
/// the methods and headers the widget uses; others get 403.
pub async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsentError> {
    let raw = req.match_info().get("site").unwrap_or_default().to_owned();
    site_for(&state, &req, &raw).await?;
    let mut resp = HttpResponse::NoContent().finish();
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, idempotency-key"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    Ok(resp)
}
