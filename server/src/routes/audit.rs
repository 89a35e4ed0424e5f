//! The auditor's API (owner or auditor token):
//! `GET /v1/audit/sites/{site}/consents?from=&to=&format=ndjson|csv` streams
//! the log, `GET /v1/audit/sites/{site}/consents/{consent_id}` gives one
//! consent's full history and its state now, `.../head` the signed chain
//! head, `.../texts` every version of the site's texts (to keep with an
//! export) and `.../texts/{text_hash}` the texts a record says the visitor
//! was shown. A deleted site's log stays readable.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use crumb_schema::{ConsentId, SiteId, TextHash};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::{AppState, blocking, load_site, logged_site};
use crate::auth::{AuthError, authenticate};
use crate::error::{ApiError, api_error_sources, respond};
use crate::export::{ExportError, Format, parse_range};
use crate::storage::StoreError;

/// Chunks of about this size go to the client; with the channel's four
/// slots, an export holds well under a megabyte whatever its length.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("no consent {0} on this site")]
    UnknownConsent(ConsentId),
    #[error("the log holds no texts of this site with the hash {0}")]
    UnknownTexts(TextHash),
    #[error("{0}")]
    InvalidQuery(String),
    #[error(
        "{0} exports are running on this node, as many as it runs at once; retry when one has \
         finished"
    )]
    TooManyExports(usize),
    /// This node signs with a key the log no longer records (`crumb key
    /// --replace` ran while it served): it signs nothing until restarted
    /// with the log's key file.
    #[error(
        "this node signs with {ours}, but the log is now signed with {recorded}; restart it with the log's key file"
    )]
    KeyReplaced {
        ours: crate::signing::PublicKey,
        recorded: crate::signing::PublicKey,
    },
}

api_error_sources!(AuditError);

impl ResponseError for AuditError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuditError::Auth(e) => e.status_code(),
            AuditError::Api(e) => e.status_code(),
            AuditError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            AuditError::UnknownConsent(_) | AuditError::UnknownTexts(_) => StatusCode::NOT_FOUND,
            AuditError::TooManyExports(_) => StatusCode::TOO_MANY_REQUESTS,
            AuditError::KeyReplaced { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuditError::Auth(e) => return e.error_response(),
            AuditError::Api(e) => return e.error_response(),
            AuditError::InvalidQuery(_) => "invalid_query",
            AuditError::UnknownConsent(_) => "unknown_consent",
            AuditError::UnknownTexts(_) => "unknown_texts",
            AuditError::TooManyExports(_) => {
                let mut resp = respond(self.status_code(), "too_many_exports", &self.to_string());
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(10u32));
                return resp;
            }
            AuditError::KeyReplaced { .. } => {
                // The operator's to fix, on this node; another node (or
                // this one restarted) answers a retry.
                tracing::error!(error = %self, "refused to sign a head");
                return crate::error::unavailable();
            }
        };
        respond(self.status_code(), code, &self.to_string())
    }
}

/// Authenticates, checks read access to the site, and that it has a
/// config or a log (a deleted site's log stays readable).
async fn readable_site(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    raw: &str,
) -> Result<SiteId, AuditError> {
    let caller = authenticate(&state.store, req.headers()).await?;
    caller.read(&SiteId::parse(raw)?)?;
    Ok(logged_site(state, raw).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// A response body fed by a channel.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for ChannelBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[utoipa::path(get, path = "/v1/audit/sites/{site}/consents", tag = "auditor",
    params(crate::openapi::SitePath, crate::openapi::RangeQuery,
        ("format" = Option<String>, Query, description = "ndjson (the default) or csv", pattern = r"^(ndjson|csv)?$")),
    security(("bearer" = [])),
    responses((status = 200, description = "The log, streamed: one unbroken stretch of the chain, from the first record in the range to the last (a record between them whose time falls just outside, as records written at once can be, comes too, so the stretch verifies)", content((String = "application/x-ndjson"), (String = "text/csv"))), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, AuditError> {
    let site = readable_site(&state, &req, &path).await?;
    // Empty is the default, as an empty `from` or `to` is an open end (a
    // form's blank field).
    let format = match query.format.as_deref() {
        None | Some("") => Format::Ndjson,
        Some(f) => Format::parse(f).ok_or_else(|| {
            AuditError::InvalidQuery(format!("format must be ndjson or csv, not {f:?}"))
        })?,
    };
    let range = parse_range(query.from.as_deref(), query.to.as_deref())
        .map_err(AuditError::InvalidQuery)?;
    // Held until the export ends (its client read it all, went away, or
    // it failed).
    let permit = state
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| AuditError::TooManyExports(super::max_exports(state.store.as_ref())))?;
    let (tx, rx) = mpsc::channel(4);
    let store = state.store.clone();
    let stream_site = site.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let _permit = permit;
        let mut out = std::io::BufWriter::with_capacity(CHUNK, ChannelWriter(tx.clone()));
        let written = crate::export::write(
            store.as_ref(),
            &stream_site,
            &range,
            format,
            &mut out,
            &|| {},
        )
        .and_then(|_| Ok(std::io::Write::flush(&mut out)?));
        match written {
            Ok(()) => {}
            // The client went away: nothing to tell it.
            Err(ExportError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                tracing::info!("export stopped: the client went away");
            }
            Err(e) => {
                // The status line is already sent; aborting the body tells
                // the client the export is incomplete.
                tracing::error!(error = %e, "export failed midway");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let filename = format!("crumb-{site}.{}", format.extension());
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(ChannelBody(rx)))
}

/// `GET /v1/audit/sites/{site}/head`: the site's chain head signed with
/// the server's key. An auditor keeps it with an export: `crumb verify
/// FILE --head HEAD.json` then proves the export is complete up to it.
#[utoipa::path(get, path = "/v1/audit/sites/{site}/head", tag = "auditor", params(crate::openapi::SitePath), security(("bearer" = [])),
    responses((status = 200, description = "The chain head, signed", body = crate::signing::SignedHead), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn head(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AuditError> {
    let site = readable_site(&state, &req, &path).await?;
    let (store, key, now) = (state.store.clone(), state.key.clone(), state.clock.now());
    let signed = blocking(move || {
        // The log's key as recorded now, not as at this node's start.
        let recorded = store.log_key()?;
        Ok(match recorded {
            Some(recorded) if recorded != key.public() => Err(AuditError::KeyReplaced {
                ours: key.public(),
                recorded,
            }),
            _ => Ok(crate::signing::signed_head(
                store.as_ref(),
                &key,
                &site,
                now,
            )?),
        })
    })
    .await??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(signed))
}

#[utoipa::path(get, path = "/v1/audit/sites/{site}/consents/{consent}", tag = "auditor", params(crate::openapi::SitePath, crate::openapi::ConsentPath),
    security(("bearer" = [])),
    responses((status = 200, description = "Every record of the consent, and its state now (valid, expired, withdrawn or outdated_revision)", body = Object), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.0, consent = %path.1))]
pub async fn history(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AuditError> {
    let site = readable_site(&state, &req, &path.0).await?;
    let consent = ConsentId::parse(&path.1)?;
    let store = state.store.clone();
    let (s, c) = (site.clone(), consent.clone());
    let records = blocking(move || store.history(&s, &c)).await?;
    let Some(latest) = records.last().map(|r| &r.body) else {
        return Err(AuditError::UnknownConsent(consent));
    };
    // The log holds no `expired` event (nothing is written when a consent
    // runs out), so the answer says where the consent stands now, by the
    // rules the visitor's lookup applies: an auditor reads "expired"
    // rather than working it out from the times.
    let current_revision = match load_site(&state, site.clone()).await? {
        Some(config) => config.revision,
        // A deleted site's policy stays at its log's newest revision.
        None => {
            let (store, s) = (state.store.clone(), site.clone());
            blocking(move || store.newest_site_record(&s))
                .await?
                .map_or(latest.policy_revision, |r| r.body.policy_revision)
        }
    };
    let now_state = crumb_schema::rules::state(
        latest.event,
        latest.expires_at.get(),
        latest.policy_revision,
        current_revision,
        state.clock.now(),
    );
    let mut body = Vec::with_capacity(records.len() * 800 + 128);
    body.extend_from_slice(b"{\"site_id\":\"");
    body.extend_from_slice(site.as_str().as_bytes());
    body.extend_from_slice(b"\",\"consent_id\":\"");
    body.extend_from_slice(consent.as_str().as_bytes());
    body.extend_from_slice(b"\",\"state\":");
    body.extend_from_slice(serde_json::json!(now_state).to_string().as_bytes());
    body.extend_from_slice(b",\"records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        crate::export::ndjson_line(&r.canonical, r.hash.as_str(), &mut body);
        body.pop(); // the line's newline
    }
    body.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// `GET /v1/audit/sites/{site}/texts`: every version of the site's texts
/// the log keeps, oldest first, one [`crate::export::TextsLine`] per line
/// (NDJSON). Kept with an export, it lets `crumb verify FILE --texts
/// TEXTS` check offline that every record names texts an auditor has.
#[utoipa::path(get, path = "/v1/audit/sites/{site}/texts", tag = "auditor", params(crate::openapi::SitePath),
    security(("bearer" = [])),
    responses((status = 200, description = "Every kept version of the site's texts: `{site_id, text_hash, language, first_seen, texts}` per line, `texts` the string whose SHA-256 is `text_hash`", content_type = "application/x-ndjson", body = String), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn all_texts(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AuditError> {
    let site = readable_site(&state, &req, &path).await?;
    let store = state.store.clone();
    let s = site.clone();
    let body = blocking(move || {
        let mut body = Vec::new();
        crate::export::write_texts(store.as_ref(), &s, &mut body).map_err(|e| match e {
            ExportError::Store(e) => e,
            // Writing to memory fails only on a row that is not valid.
            e => StoreError::Corrupt(e.to_string()),
        })?;
        Ok(body)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{site}-texts.ndjson\""),
        ))
        .body(body))
}

/// `GET /v1/audit/sites/{site}/texts/{text_hash}`: the texts a record's
/// `text_hash` names, as the exact bytes that were hashed (the banner's
/// texts and each category's, in one language, as JSON), so that their
/// SHA-256 is the hash: `curl ... | sha256sum` checks them. The log keeps
/// every version a config has had (`Store::keep_notices`), so an owner's
/// later edit does not take the proof away. `Content-Language` names the
/// language (or, for texts two languages share, the languages).
#[utoipa::path(get, path = "/v1/audit/sites/{site}/texts/{text_hash}", tag = "auditor", params(crate::openapi::SitePath, ("text_hash" = String, Path, description = "A record's `text_hash`: 64 lowercase hex digits", pattern = r"^[0-9a-f]{64}$")),
    security(("bearer" = [])),
    responses((status = 200, description = "The texts, as the bytes whose SHA-256 is the hash: a JSON array of the banner's texts (an object) and the categories' texts (an array of objects, in the config's order)", content_type = "application/json", body = Vec<serde_json::Value>), crate::openapi::Errors))]
#[tracing::instrument(skip_all, fields(site = %path.0))]
pub async fn texts(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AuditError> {
    let site = readable_site(&state, &req, &path.0).await?;
    let hash = TextHash::parse(&path.1)?;
    let store = state.store.clone();
    let h = hash.clone();
    let notices = blocking(move || store.notices(&site, &h)).await?;
    // Rows under one hash hold the same bytes: the hash says so.
    let Some(first) = notices.first() else {
        return Err(AuditError::UnknownTexts(hash));
    };
    let languages: Vec<&str> = notices.iter().map(|n| n.language.as_str()).collect();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CONTENT_LANGUAGE, languages.join(", ")))
        // The same hash always names the same bytes.
        .insert_header((
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ))
        .body(first.texts.clone()))
}

/// The export's output: each chunk goes to the response body, counted in
/// the metrics; a closed channel (the client went away) is a broken pipe.
struct ChannelWriter(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::metrics::global().exported(buf.len());
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
