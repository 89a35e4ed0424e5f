//! The API's error shape, `{"error": code, "message": text}`, and
//! [`ApiError`], the errors any route can hit: a malformed id, a site that
//! does not exist, the store failing. Each route module keeps an enum for
//! what is its own and wraps `ApiError` for the rest, so a store failure is
//! answered the same way everywhere (500, or 503 with `Retry-After` when
//! the log cannot take writes for now).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use crumb_schema::IdError;
use serde::Serialize;

use crate::storage::{StoreError, WriterError};

/// How long a client should wait before retrying a write the store could
/// not take (a full disk, an I/O error, a busy database, a restart).
pub const RETRY_UNAVAILABLE_SECS: u64 = 30;

/// Every error answer's body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// A stable code (`invalid_id`, `unknown_site`, `unavailable`, ...).
    pub error: &'a str,
    /// What to fix, for client errors.
    pub message: &'a str,
}

/// Builds an error response. Server errors never say what went wrong (that
/// goes to the log); client errors say exactly what to fix.
pub fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    crate::metrics::global().error(code);
    let message = if status == StatusCode::SERVICE_UNAVAILABLE {
        "the consent log cannot be reached or written right now; retry later"
    } else if status.is_server_error() {
        "internal error; the server log has details"
    } else {
        message
    };
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ErrorBody {
            error: code,
            message,
        })
}

/// The opaque 503 `unavailable`, with `Retry-After`: what the node cannot
/// do now may succeed later, here or on another node.
pub fn unavailable() -> HttpResponse {
    let mut resp = respond(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "");
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_UNAVAILABLE_SECS),
    );
    resp
}

/// What every route can run into.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidId(#[from] IdError),
    #[error("no site {0:?}")]
    UnknownSite(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Writer(#[from] WriterError),
}

impl ApiError {
    /// The store cannot take writes for now, through no fault of the
    /// request: a retry later may succeed.
    fn unavailable(&self) -> bool {
        match self {
            ApiError::Store(e) => e.unavailable(),
            ApiError::Writer(WriterError::Store(e)) => e.unavailable(),
            ApiError::Writer(WriterError::Stopped) => true,
            ApiError::InvalidId(_) | ApiError::UnknownSite(_) => false,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidId(_) => "invalid_id",
            ApiError::UnknownSite(_) => "unknown_site",
            _ if self.unavailable() => "unavailable",
            ApiError::Store(_) | ApiError::Writer(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidId(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownSite(_) => StatusCode::NOT_FOUND,
            _ if self.unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Writer(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Expected while the disk is full; the writer logged the cause
            // once per batch.
            tracing::warn!(error = ?self, "write refused: the store is unavailable");
        } else if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return unavailable();
        }
        respond(status, self.code(), &self.to_string())
    }
}

/// Lets a route's error enum, which wraps [`ApiError`] in a variant `Api`,
/// take the shared errors' sources directly with `?`.
macro_rules! api_error_sources {
    ($route:ty) => {
        impl From<crumb_schema::IdError> for $route {
            fn from(e: crumb_schema::IdError) -> Self {
                Self::Api(e.into())
            }
        }
        impl From<$crate::storage::StoreError> for $route {
            fn from(e: $crate::storage::StoreError) -> Self {
                Self::Api(e.into())
            }
        }
    };
}
pub(crate) use api_error_sources;
