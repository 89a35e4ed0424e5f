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

/// The description as served, made once per process.
fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi())
            .expect("the description is plain data, so it serializes");
        name_links_as_openapi_does(&mut doc);
        doc.to_string()
    })
}

/// utoipa 5 writes a response link's `operationId` and `operationRef` as
/// `operation_id` and `operation_ref`, which OpenAPI readers (schemathesis,
/// client generators) do not know, so the links would lead nowhere.
fn name_links_as_openapi_does(doc: &mut serde_json::Value) {
    let operations = doc
        .get_mut("paths")
        .and_then(|p| p.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|path| path.values_mut());
    for operation in operations {
        let responses = operation
            .get_mut("responses")
            .and_then(|r| r.as_object_mut())
            .into_iter();
        for response in responses.flat_map(|r| r.values_mut()) {
            let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
                continue;
            };
            for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                for (snake, camel) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                ] {
                    if let Some(value) = link.remove(snake) {
                        link.insert(camel.to_owned(), value);
                    }
                }
            }
        }
    }
}

/// `GET /openapi.json`.
pub async fn json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .content_type("application/json")
        .body(document())
}
