//! The OpenAPI 3.1 description of the HTTP API, served at
//! `/openapi.json`: generated from the handlers' `#[utoipa::path]`
//! attributes and the wire types' `ToSchema` derives, so it changes with
//! the code. `cargo xtask test` runs schemathesis against a live server
//! with it.
//!
//! What many routes share is described once here: the path and query
//! parameters (`SitePath`, `ConsentPath`, `LangQuery`, `RangeQuery`) and the
//! error answer (`Errors`). These types only describe; the handlers still
//! take the raw strings and parse them into the domain's types.

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
    // The shared parameters' schemas: utoipa collects those of bodies, not
    // of parameters.
    components(schemas(crumb_schema::SiteId, crumb_schema::ConsentId, TimeOrDate)),
    modifiers(&BearerToken),
    tags(
        (name = "public", description = "What pages call, through the widget (CORS for the site's origins)"),
        (name = "owner", description = "Sites, for an owner token"),
        (name = "auditor", description = "The log, for an owner or auditor token"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The `{site}` path parameter of every per-site route.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SitePath {
    /// The site's id: 1 to 64 of a-z, 0-9 and -
    #[param(example = "demo")]
    pub site: crumb_schema::SiteId,
}

/// The `{consent}` path parameter, after `{site}`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConsentPath {
    /// A consent id: a version-7 (or, from before, version-4) UUID, in either letter case (answers give it in lowercase)
    #[param(example = "01936f7e-8f3a-7c2e-9d4b-1a2b3c4d5e6f")]
    pub consent: crumb_schema::ConsentId,
}

/// The `lang` query parameter of the texts a page shows.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// Comma-separated language tags, the page's first
    pub lang: Option<String>,
}

/// The `from` and `to` query parameters of the log's exports and the
/// owner's stats (`crate::export::parse_range`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start of the range (inclusive): RFC 3339 time or date
    pub from: Option<TimeOrDate>,
    /// End of the range (exclusive): RFC 3339 time or date
    pub to: Option<TimeOrDate>,
}

/// An RFC 3339 time (`2026-01-31T12:00:00Z`) or a date (`2026-01-31`,
/// its midnight UTC), as `export::parse_range` reads the ends of a range.
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)?$"
)]
pub struct TimeOrDate(pub String);

/// Every route's error answer, listed after its own answers.
#[derive(utoipa::IntoResponses)]
#[response(
    status = "default",
    description = "An error: `{error, message}` (4xx: what to fix; 5xx: opaque, 503 with `Retry-After` while the log cannot take writes)"
)]
pub struct Errors(pub crate::error::ErrorBody<'static>);

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
        add_consent_links(&mut doc);
        doc.to_string()
    })
}

/// Links from a receipt to what can be done with its consent next, so
/// clients (and schemathesis's stateful tests) can follow them. They are
/// added here rather than in the handlers' attributes because utoipa 5
/// writes a link's `operationId` as `operation_id`, which no OpenAPI
/// reader knows.
fn add_consent_links(doc: &mut serde_json::Value) {
    let link = |operation: &str, consent: &str, description: &str| {
        serde_json::json!({
            "operationId": operation,
            "parameters": {"site": "$request.path.site", "consent": consent},
            "description": description,
        })
    };
    let receipt = "$response.body#/consent_id";
    let from_receipt = serde_json::json!({
        "lookup": link("lookup", receipt, "Where the consent stands now"),
        "withdraw": link("withdraw", receipt, "Withdraw it"),
        "history": link("history", receipt, "Its records, for an auditor"),
    });
    let withdrawn = "$request.path.consent";
    let from_withdrawal = serde_json::json!({
        "lookup": link("lookup", withdrawn, "Where the consent stands now: withdrawn"),
        "history": link("history", withdrawn, "Its records, the withdrawal last"),
    });
    for (path, status, links) in [
        ("/v1/sites/{site}/consents", "201", &from_receipt),
        ("/v1/sites/{site}/consents", "200", &from_receipt),
        (
            "/v1/sites/{site}/consents/{consent}/withdraw",
            "201",
            &from_withdrawal,
        ),
    ] {
        doc["paths"][path]["post"]["responses"][status]["links"] = links.clone();
    }
}

/// `GET /openapi.json`.
pub async fn json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .content_type("application/json")
        .body(document())
}
