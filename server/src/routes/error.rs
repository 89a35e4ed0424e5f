//! The handlers for errors that happen before a route runs (body too
//! large, wrong content type, malformed JSON, no such route or method),
//! answered in the API's error shape (`crate::error::respond`).

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError, error::JsonPayloadError, web};

pub use crate::error::respond;

/// Bodies above this size are refused with 413 before they are parsed.
pub const MAX_BODY: usize = 16 * 1024;

/// An error from reading a JSON body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(JsonPayloadError);

impl ResponseError for BodyError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            JsonPayloadError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonPayloadError::Payload(e) if crate::limits::timed_out(e) => {
                StatusCode::REQUEST_TIMEOUT
            }
            JsonPayloadError::Payload(e) if crate::limits::unsupported_encoding(e) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let JsonPayloadError::Payload(e) = &self.0
            && crate::limits::unsupported_encoding(e)
        {
            return encoding_refused();
        }
        let (code, message) = match &self.0 {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => (
                "body_too_large",
                format!("the request body is larger than {MAX_BODY} bytes"),
            ),
            JsonPayloadError::ContentType => (
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json".to_owned(),
            ),
            JsonPayloadError::Deserialize(e) => ("invalid_body", format!("invalid JSON body: {e}")),
            JsonPayloadError::Payload(e) if crate::limits::timed_out(e) => (
                "body_timeout",
                "the request body did not arrive in time".to_owned(),
            ),
            other => ("invalid_body", format!("invalid request body: {other}")),
        };
        respond(self.status_code(), code, &message)
    }
}

/// A body sent compressed (`Content-Encoding: gzip`, ...) is refused
/// (`crate::limits::body_deadline`): 415 with `Accept-Encoding: identity`,
/// which says that only uncompressed bodies are read (RFC 9110, 15.5.16).
pub fn encoding_refused() -> HttpResponse {
    let mut resp = respond(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_encoding",
        "send the body uncompressed: no Content-Encoding is accepted",
    );
    resp.headers_mut().insert(
        header::ACCEPT_ENCODING,
        header::HeaderValue::from_static("identity"),
    );
    resp
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY)
        .error_handler(|err, _req| BodyError(err).into())
}

/// Bad query strings get a JSON 400 like every other client error.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let resp = respond(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            &format!("invalid query string: {err}"),
        );
        actix_web::error::InternalError::from_response(err, resp).into()
    })
}

/// Unknown API paths get a JSON 404.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    respond(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no such endpoint: {} {}", req.method(), req.path()),
    )
}

/// A known path asked with a method it does not take: actix answers 405
/// with the `Allow` header and an empty body; this gives the body the
/// API's error shape, keeping every header the answer already has (`Allow`,
/// and the site's CORS headers, so a page can read it).
pub fn method_not_allowed<B: MessageBody>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if !matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    ) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, old) = res.into_parts();
    let allowed = old
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut new = respond(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!(
            "{} is not allowed on {}; allowed: {allowed}",
            req.method(),
            req.path()
        ),
    );
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}
