//! The auditor's API (owner or auditor token):
//! `GET /v1/audit/sites/{site}/consents?from=&to=&format=ndjson|csv` streams
//! the log, `GET /v1/audit/sites/{site}/consents/{consent_id}` gives one
//! consent's full history.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use crumb_schema::{ConsentId, IdError, SiteId};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::error::respond;
use super::{AppState, blocking, load_site};
use crate::auth::{AuthError, authenticate};
use crate::export::{Exporter, Format, parse_range};
use crate::storage::StoreError;

/// Chunks of about this size go to the client; with the channel's four
/// slots, an export holds well under a megabyte whatever its length.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    InvalidId(#[from] IdError),
    #[error("no site {0:?}")]
    UnknownSite(String),
    #[error("no consent {0} on this site")]
    UnknownConsent(ConsentId),
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResponseError for AuditError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuditError::Auth(e) => e.status_code(),
            AuditError::InvalidId(_) | AuditError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            AuditError::UnknownSite(_) | AuditError::UnknownConsent(_) => StatusCode::NOT_FOUND,
            AuditError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuditError::Auth(e) => return e.error_response(),
            AuditError::InvalidId(_) => "invalid_id",
            AuditError::InvalidQuery(_) => "invalid_query",
            AuditError::UnknownSite(_) => "unknown_site",
            AuditError::UnknownConsent(_) => "unknown_consent",
            AuditError::Store(e) => {
                tracing::error!(error = %e, "audit request failed");
                "internal"
            }
        };
        respond(self.status_code(), code, &self.to_string())
    }
}

/// Authenticates, checks read access to the site, and that it exists.
async fn readable_site(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    raw: &str,
) -> Result<SiteId, AuditError> {
    let caller = authenticate(state, req).await?;
    let id = SiteId::parse(raw)?;
    caller.read(&id)?;
    load_site(state, id.clone())
        .await?
        .ok_or_else(|| AuditError::UnknownSite(raw.to_owned()))?;
    Ok(id)
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

#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, AuditError> {
    let site = readable_site(&state, &req, &path).await?;
    let format = match query.format.as_deref() {
        None => Format::Ndjson,
        Some(f) => Format::parse(f).ok_or_else(|| {
            AuditError::InvalidQuery(format!("format must be ndjson or csv, not {f:?}"))
        })?,
    };
    let range = parse_range(query.from.as_deref(), query.to.as_deref())
        .map_err(AuditError::InvalidQuery)?;
    let mut exporter = Exporter::new(format).map_err(|e| StoreError::Corrupt(e.to_string()))?;

    let (tx, rx) = mpsc::channel(4);
    let store = state.store.clone();
    let stream_site = site.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let fail = |e: String| std::io::Error::other(e);
        let mut failed = None;
        let result = store.for_each_record(Some(&stream_site), &range, &mut |body, hash| {
            if let Err(e) = exporter.push(body, hash) {
                failed = Some(e.to_string());
                return false;
            }
            // A send error means the client went away: stop reading.
            exporter.buffered() < CHUNK || tx.blocking_send(Ok(counted(exporter.take()))).is_ok()
        });
        let end = match (result, failed) {
            (Ok(_), None) => Ok(counted(exporter.take())),
            (Err(e), _) => Err(fail(e.to_string())),
            (_, Some(e)) => Err(fail(e)),
        };
        if let Err(e) = &end {
            // The status line is already sent; aborting the body tells the
            // client the export is incomplete.
            tracing::error!(error = %e, "export failed midway");
        }
        let _ = tx.blocking_send(end);
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
#[tracing::instrument(skip_all, fields(site = %path.as_str()))]
pub async fn head(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AuditError> {
    let site = readable_site(&state, &req, &path).await?;
    let store = state.store.clone();
    let s = site.clone();
    let head = blocking(move || store.head(&s)).await?;
    let (seq, hash) = head.unwrap_or_else(|| (0, crate::record::GENESIS_HASH.to_owned()));
    let signed = state.key.sign(
        site.as_str(),
        seq,
        &hash,
        &crate::timefmt::format(state.clock.now()),
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(signed))
}

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
    if records.is_empty() {
        return Err(AuditError::UnknownConsent(consent));
    }
    let mut body = Vec::with_capacity(records.len() * 800 + 128);
    body.extend_from_slice(b"{\"site_id\":\"");
    body.extend_from_slice(site.as_str().as_bytes());
    body.extend_from_slice(b"\",\"consent_id\":\"");
    body.extend_from_slice(consent.as_str().as_bytes());
    body.extend_from_slice(b"\",\"records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        crate::export::ndjson_line(&r.canonical, &r.hash, &mut body);
        body.pop(); // the line's newline
    }
    body.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// A chunk of an export, counted in the metrics as it goes out.
fn counted(chunk: Vec<u8>) -> Bytes {
    crate::metrics::global().exported(chunk.len());
    Bytes::from(chunk)
}
