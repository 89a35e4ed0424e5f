//! Liveness: answers without touching the database, so it measures the
//! HTTP stack alone (the benchmarks use it as the no-op baseline).

use actix_web::{HttpResponse, get};

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}
