//! Liveness and metrics. `/healthz` answers without touching the database,
//! so it measures the HTTP stack alone (the benchmarks use it as the no-op
//! baseline). `/metrics` is Prometheus' text (see `crate::metrics`), for a
//! token with no site restriction: the counts are the operator's business.

use actix_web::{HttpRequest, HttpResponse, get, web};

use super::AppState;
use crate::auth::{AuthError, authenticate};

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AuthError> {
    let caller = authenticate(&state.store, req.headers()).await?;
    if let Some(site) = caller.site {
        return Err(AuthError::Forbidden(format!(
            "this token is for site {site}; metrics cover every site"
        )));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::global().render()))
}
