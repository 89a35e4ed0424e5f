//! The HTTP API. Each module owns its routes and an error enum for what is
//! its own, wrapping `crate::error::ApiError` for what every route can hit;
//! `error` handles the errors from extracting a request's body and query,
//! unknown paths and methods a path does not take.

pub mod admin;
pub mod assets;
pub mod audit;
pub mod config;
pub mod consents;
pub mod declaration;
pub mod error;
pub mod health;
pub mod integrations;
pub mod owner;

use std::sync::Arc;

use actix_web::web;
use crumb_schema::{SiteConfig, SiteId};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::storage::{Store, StoreError, Writer};

/// Everything a handler may need, built once in `startup` and shared by all
/// workers.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub clock: Arc<dyn Clock>,
    /// How many proxies append to `X-Forwarded-For` (0: Crumb is not
    /// behind a proxy, and the peer's address is the visitor's).
    pub proxy_hops: usize,
    /// Consent writes per client network.
    pub quota: crate::quota::Quota,
    pub key: Arc<crate::signing::Key>,
    /// Public JSON, ETag and text hashes of each site's current config.
    pub derived: config::DerivedCache,
    /// Exports running on this node at once, at most [`max_exports`].
    pub exports: Arc<tokio::sync::Semaphore>,
    /// The counts of each site's closed days, for the owner's stats.
    pub stats: crate::stats::StatsCache,
}

pub use crate::storage::blocking;

/// How many exports a node runs at once. Each holds a blocking thread and
/// a read of the database (on PostgreSQL a pooled connection) for as long
/// as its client takes to read it: at most a quarter of the pool, so
/// consent writes and visit checks keep the rest, and never more than 4.
pub fn max_exports(store: &dyn crate::storage::Store) -> usize {
    store.connections().map_or(4, |c| (c.limit / 4).clamp(1, 4))
}

/// Loads a site off the async workers.
pub async fn load_site(
    state: &web::Data<AppState>,
    id: SiteId,
) -> Result<Option<Arc<SiteConfig>>, StoreError> {
    if let Some(site) = state.store.recent_site(&id) {
        return Ok(Some(site));
    }
    let store = state.store.clone();
    blocking(move || store.site(&id)).await
}

/// Loads a site for the public API (`/v1/sites/{site}/...` and its CORS
/// headers). While the database cannot be reached (PostgreSQL restarting
/// or failing over), the config this node last read stands in: pages still
/// get their banner and CORS headers, so the widget can read the 503s of
/// what does need the database, and a choice made on that banner counts on
/// the page and is sent again until the log takes it. The admin and audit
/// routes answer for the database as it is and do not use this.
pub async fn load_public_site(
    state: &web::Data<AppState>,
    id: SiteId,
) -> Result<Option<Arc<SiteConfig>>, StoreError> {
    match load_site(state, id.clone()).await {
        Err(e @ (StoreError::Unavailable(_) | StoreError::Busy(_))) => {
            match state.store.last_known_site(&id) {
                Some(site) => {
                    // Debug: during an outage this runs on every page
                    // view, and the refused writes already warn.
                    tracing::debug!(site = %id, error = %e, "the database cannot be reached: serving the site's config as last read");
                    Ok(Some(site))
                }
                None => Err(e),
            }
        }
        loaded => loaded,
    }
}

/// The site a path names: parsed, and known to the store.
pub async fn site_named(
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<Arc<SiteConfig>, ApiError> {
    let id = SiteId::parse(raw)?;
    load_site(state, id)
        .await?
        .ok_or_else(|| ApiError::UnknownSite(raw.to_owned()))
}

/// The site a public API path names, as [`load_public_site`] finds it.
pub async fn public_site_named(
    state: &web::Data<AppState>,
    raw: &str,
) -> Result<Arc<SiteConfig>, ApiError> {
    let id = SiteId::parse(raw)?;
    load_public_site(state, id)
        .await?
        .ok_or_else(|| ApiError::UnknownSite(raw.to_owned()))
}

/// The site whose consent log a path names: a site with a config, or one
/// whose config was deleted while its log stays. Auditors still export and
/// check that log (the proof outlives the site); a name with neither is
/// unknown.
pub async fn logged_site(state: &web::Data<AppState>, raw: &str) -> Result<SiteId, ApiError> {
    let id = SiteId::parse(raw)?;
    if load_site(state, id.clone()).await?.is_some() {
        return Ok(id);
    }
    let (store, probe) = (state.store.clone(), id.clone());
    match blocking(move || store.head(&probe)).await? {
        Some(_) => Ok(id),
        None => Err(ApiError::UnknownSite(raw.to_owned())),
    }
}

/// A route for GET and HEAD (actix's `web::get()` takes GET only). Pages,
/// scripts and the widget's config answer HEAD as HTTP asks of every
/// resource that answers GET: link checkers, uptime monitors and some
/// caches ask with HEAD.
pub fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// `path` with its one route, as a resource of its own: a request with
/// another method then gets 405 with `Allow` (`error::method_not_allowed`).
/// (actix's `route(path, ...)` puts the route's method guard on the
/// resource itself, so such a request matched nothing and got 404, "no
/// such endpoint", which sends a client looking for a path that exists.)
pub fn at(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path).route(route)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    use actix_web::http::Method;
    let preflight = || web::method(Method::OPTIONS).to(consents::preflight);
    cfg.service(at("/healthz", get_or_head().to(health::healthz)))
        .service(at("/readyz", get_or_head().to(health::readyz)))
        .service(at("/metrics", web::get().to(health::metrics)))
        .service(at("/openapi.json", get_or_head().to(crate::openapi::json)))
        .service(at("/owner", get_or_head().to(owner::html)))
        .service(at("/owner/owner.js", get_or_head().to(owner::js)))
        .service(at("/owner/owner.css", get_or_head().to(owner::css)))
        // The public API: what pages (through the widget) call. Every answer
        // carries the site's CORS headers, errors included.
        .service(
            web::scope("/v1/sites/{site}")
                .wrap(actix_web::middleware::from_fn(crate::cors::headers))
                .service(
                    web::resource("/config")
                        .route(get_or_head().to(config::get_config))
                        .route(preflight()),
                )
                .service(
                    web::resource("/widget")
                        .route(get_or_head().to(config::get_widget_config))
                        .route(preflight()),
                )
                .service(
                    web::resource("/widget/details")
                        .route(get_or_head().to(config::get_widget_details))
                        .route(preflight()),
                )
                .service(
                    web::resource("/consents")
                        .route(web::post().to(consents::record))
                        .route(preflight()),
                )
                .service(
                    web::resource("/consents/{consent}")
                        .route(web::get().to(consents::lookup))
                        .route(preflight()),
                )
                .service(
                    web::resource("/consents/{consent}/withdraw")
                        .route(web::post().to(consents::withdraw))
                        .route(preflight()),
                )
                .service(at(
                    "/declaration",
                    get_or_head().to(declaration::get_declaration),
                ))
                .service(at("/signals.js", get_or_head().to(integrations::signals))),
        )
        .service(
            web::scope("/v1/admin")
                .service(
                    web::resource("/sites")
                        .route(web::get().to(admin::list))
                        .route(web::post().to(admin::create)),
                )
                .service(
                    web::resource("/sites/{site}")
                        .route(web::get().to(admin::show))
                        .route(web::put().to(admin::update))
                        .route(web::delete().to(admin::delete)),
                )
                .service(at(
                    "/sites/{site}/bump-revision",
                    web::post().to(admin::bump_revision),
                ))
                .service(at("/sites/{site}/stats", web::get().to(admin::stats))),
        )
        .service(at(
            "/v1/audit/sites/{site}/consents",
            web::get().to(audit::export),
        ))
        .service(at(
            "/v1/audit/sites/{site}/consents/{consent}",
            web::get().to(audit::history),
        ))
        .service(at(
            "/v1/audit/sites/{site}/head",
            web::get().to(audit::head),
        ))
        .service(at(
            "/v1/audit/sites/{site}/texts",
            web::get().to(audit::all_texts),
        ))
        .service(at(
            "/v1/audit/sites/{site}/texts/{text_hash}",
            web::get().to(audit::texts),
        ));
}
