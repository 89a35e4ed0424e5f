//! API tokens and who may do what.
//!
//! A token reads `crumb_<id>_<secret>`: 64 random bits of public id, which
//! finds the row, and 256 random bits of secret, stored only as its SHA-256
//! and compared in constant time. Tokens are shown once, at creation.
//! Owners manage sites; auditors read and export, never write. A token
//! bound to a site reaches only that site.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use crumb_schema::SiteId;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{ApiError, api_error_sources, respond};
use crate::storage::{Role, SecretHash, Store, StoreError, TokenId, TokenRow, blocking};
use crate::timefmt::Timestamp;

/// A freshly created token: the row and the only copy of the secret.
#[derive(Debug)]
pub struct Issued {
    pub row: TokenRow,
    pub token: String,
}

fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

pub fn issue(
    store: &dyn Store,
    role: Role,
    site: Option<SiteId>,
    label: &str,
    now: OffsetDateTime,
) -> Result<Issued, StoreError> {
    let id = random_hex(8)?;
    let secret = random_hex(32)?;
    let row = TokenRow {
        id: TokenId::parse(&id).expect("16 hex digits are a token id"),
        role,
        site,
        label: label.to_owned(),
        created_at: Timestamp::at(now),
        revoked_at: None,
    };
    store.create_token(&row, &SecretHash::of(&secret))?;
    Ok(Issued {
        row,
        token: format!("crumb_{id}_{secret}"),
    })
}

/// Splits a token into id and secret, if it has the right shape.
fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix("crumb_")?.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// Equality whose time depends only on the length, not on where the inputs
/// first differ (`subtle` keeps the compiler from turning it into an
/// early exit).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: TokenId,
    pub role: Role,
    pub site: Option<SiteId>,
}

impl Caller {
    /// Read access (export, history, stats) to `site`.
    pub fn read(&self, site: &SiteId) -> Result<(), AuthError> {
        match &self.site {
            Some(own) if own != site => Err(AuthError::Forbidden(format!(
                "this token is for site {own}, not {site}"
            ))),
            _ => Ok(()),
        }
    }

    /// Write access (site changes) to `site`: owners only.
    pub fn write(&self, site: &SiteId) -> Result<(), AuthError> {
        self.read(site)?;
        if self.role == Role::Auditor {
            return Err(AuthError::Forbidden(
                "auditor tokens are read-only".to_owned(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("send a token: Authorization: Bearer crumb_...")]
    Missing,
    #[error("the Authorization header is not a Crumb bearer token")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("this token was revoked")]
    Revoked,
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

api_error_sources!(AuthError);

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::Malformed | AuthError::Unknown | AuthError::Revoked => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            AuthError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuthError::Forbidden(_) => "forbidden",
            AuthError::Api(e) => return e.error_response(),
            _ => "unauthorized",
        };
        let mut resp = respond(self.status_code(), code, &self.to_string());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme's
/// name is case-insensitive (RFC 9110, 11.1): some clients and gateways
/// send `bearer`.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks the bearer token in a request's headers against the store (off
/// the async workers).
pub async fn authenticate(
    store: &Arc<dyn Store>,
    headers: &HeaderMap,
) -> Result<Caller, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed)?;
    let token = bearer(value).ok_or(AuthError::Malformed)?;
    let (id, secret) = split(token).ok_or(AuthError::Malformed)?;
    let id = TokenId::parse(id).ok_or(AuthError::Malformed)?;
    let secret = secret.to_owned();
    let store = store.clone();
    let found = blocking(move || store.token(&id)).await?;
    let (row, hash) = found.ok_or(AuthError::Unknown)?;
    if !constant_time_eq(
        SecretHash::of(&secret).as_str().as_bytes(),
        hash.as_str().as_bytes(),
    ) {
        return Err(AuthError::Unknown);
    }
    if row.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    Ok(Caller {
        token_id: row.id,
        role: row.role,
        site: row.site,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", "Bearer\tabc"] {
            assert_eq!(bearer(value), Some("abc"), "{value:?}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc"] {
            assert_eq!(bearer(value), None, "{value:?}");
        }
    }

    #[test]
    fn token_shape() {
        let t = format!("crumb_{}_{}", "a".repeat(16), "b".repeat(64));
        assert_eq!(split(&t), Some(("aaaaaaaaaaaaaaaa", &*"b".repeat(64))));
        assert_eq!(split("crumb_short_secret"), None);
        assert_eq!(split(&t[1..]), None);
        assert_eq!(split(&format!("{t}x")), None);
    }

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
