//! Liveness, readiness and metrics. `/healthz` answers without touching
//! the database, so it measures the HTTP stack alone (the benchmarks use it
//! as the no-op baseline). `/readyz` asks the database, for load balancers
//! that should send a node's traffic elsewhere while it cannot reach it.
//! `/metrics` is Prometheus' text (see `crate::metrics`), for a token with
//! no site restriction: the counts are the operator's business.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use crate::auth::{AuthError, authenticate};

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The server answers", content_type = "application/json", body = Object)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "The server answers and its database does", content_type = "application/json", body = Object), (status = 503, description = "The database cannot be reached: `{error: \"unavailable\", message}`, with `Retry-After`", body = crate::error::ErrorBody<'static>)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    match crate::storage::blocking(move || store.ping()).await {
        Ok(()) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .content_type("application/json")
            .body(r#"{"status":"ready"}"#),
        // Whatever the cause, this node cannot serve what needs the
        // database now; the cause goes to the log, not to the prober.
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            crate::error::unavailable()
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String), crate::openapi::Errors))]
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
        .body(crate::metrics::global().render(state.store.connections())))
}
