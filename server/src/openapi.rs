//! The OpenAPI 3.1 description of the HTTP API, served at
//! `/openapi.json`: generated from the handlers' `#[utoipa::path]`
//! attributes and the wire types' `ToSchema` derives, so it changes with
//! the code. `cargo xtask test` runs schemathesis against a live server
//! with it.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, audit, config, consents, declaration, health, integrations};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Crumb",
        description = "Self-hosted cookie consent: the widget's public API, the owner's and the auditor's APIs."
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        config::get_config,
        config::get_widget_config,
        config::get_widget_details,
        consents::record,
        consents::lookup,
        consents::withdraw,
        declaration::get_declaration,
        integrations::signals,
        admin::list,
        admin::create,
        admin::show,
        admin::update,
        admin::delete,
        admin::bump_revision,
        admin::stats,
        audit::export,
        audit::history,
        audit::head,
        audit::all_texts,
        audit::texts,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "public", description = "What pages call, through the widget (CORS for the site's origins)"),
        (name = "owner", description = "Sites, for an owner token"),
        (name = "auditor", description = "The log, for an owner or auditor token"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The `Authorization: Bearer crumb_...` token the owner and auditor APIs
/// take.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /openapi.json`.
pub async fn json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .content_type("application/json")
        .body(ApiDoc::openapi().to_json().unwrap_or_default())
}
