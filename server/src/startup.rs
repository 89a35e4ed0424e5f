//! Builds the running server: opens the store, starts the writer thread,
//! binds the listener (port 0 picks a free port, which tests rely on), and
//! wires the routes.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};

use crate::clock::{Clock, SystemClock};
use crate::routes::{self, AppState, assets::StaticDir};
use crate::settings::Settings;
use crate::storage::{Database, PostgresStore, SqliteStore, Store, Writer};
use crate::widget::WidgetAssets;

/// Where the built widget is when the settings do not say: `widget/dist`
/// under the current directory, else beside the source tree.
pub fn default_widget_dir() -> Option<std::path::PathBuf> {
    let here = std::path::Path::new("widget/dist");
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../widget/dist");
    [here.to_owned(), built]
        .into_iter()
        .find(|p| p.join("crumb.js").is_file())
}

/// Whether the database's folder takes a small write now. A full or
/// read-only disk does not keep Crumb from starting: the banner's config
/// and the visit checks are reads, and a site without them would have to
/// run its tags without consent or not at all.
fn probe_writable(database: &std::path::Path) -> std::io::Result<()> {
    let probe = database.with_extension("write-probe");
    let written = std::fs::write(&probe, [0u8; 64 * 1024]);
    let _ = std::fs::remove_file(&probe);
    written
}

pub struct Application {
    port: u16,
    server: Server,
    writer_thread: JoinHandle<()>,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish()
    }
}

/// Keeps the texts of every stored config (`Store::keep_notices`): a log
/// written before Crumb kept them gets its sites' current texts, so
/// records written from now on name texts an auditor can read. A failure
/// (a full disk) is said and serving goes on: config writes keep their
/// own texts.
fn keep_notices(store: &dyn Store, now: time::OffsetDateTime) {
    let kept = store.site_rows().and_then(|rows| {
        rows.iter()
            .try_for_each(|row| store.keep_notices(&row.config, now))
    });
    if let Err(e) = kept {
        tracing::warn!(error = %e, "could not keep the sites' current texts for auditors");
    }
}

impl Application {
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock))
    }

    /// Like `build`, with the clock the server reads "now" from.
    pub fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let opening = || format!("opening the database {}", settings.database);
        let store: Arc<dyn Store> = match &settings.database {
            Database::Sqlite(path) => {
                let store = Arc::new(SqliteStore::open(path).with_context(opening)?);
                SqliteStore::checkpoint_in_background(&store)?;
                if let Err(e) = probe_writable(path) {
                    tracing::warn!(
                        error = %e,
                        "the database's disk cannot take writes (full or read-only): serving \
                         reads; consent writes answer 503 until it can"
                    );
                }
                store
            }
            Database::Postgres(url) => Arc::new(PostgresStore::open(url).with_context(opening)?),
        };
        let key_path = settings.signing_key_path();
        // On a thread of its own, as the store was opened: PostgreSQL's
        // calls block on the store's runtime, which is not allowed from
        // inside the server's.
        let (key, created) = std::thread::scope(|s| {
            s.spawn(|| crate::signing::serving_key(store.as_ref(), &key_path, clock.now()))
                .join()
                .map_err(|_| anyhow::anyhow!("the signing key's check panicked"))
        })??;
        std::thread::scope(|s| s.spawn(|| keep_notices(store.as_ref(), clock.now())).join())
            .map_err(|_| anyhow::anyhow!("keeping the sites' texts panicked"))?;
        if created {
            tracing::warn!(
                path = %key_path.display(),
                public_key = %key.public(),
                "created a new signing key and recorded it as this log's; publish its public \
                 key (crumb key), and give every node that shares this database the same key \
                 file (signing_key): nodes with another key refuse to start"
            );
        }
        let key = Arc::new(key);
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();

        // State is built once, outside the worker factory, so every worker
        // shares one store and one writer thread.
        let (writer, writer_thread) = Writer::spawn(store.clone());
        let state = web::Data::new(AppState {
            store: store.clone(),
            writer,
            clock,
            proxy_hops: if settings.behind_proxy {
                settings.proxy_hops.max(1)
            } else {
                0
            },
            quota: crate::quota::Quota::new(settings.write_rate, settings.write_burst),
            key,
            derived: Default::default(),
            stats: Default::default(),
            exports: Arc::new(tokio::sync::Semaphore::new(routes::max_exports(
                store.as_ref(),
            ))),
        });
        let static_dir = web::Data::new(StaticDir(settings.static_dir.clone()));
        let widget = match settings.widget_dir.clone().or_else(default_widget_dir) {
            Some(dir) => WidgetAssets::load(&dir)
                .with_context(|| format!("loading the widget from {}", dir.display()))?,
            None => {
                tracing::warn!(
                    "the widget is not built (cargo xtask build-widget); /crumb.js is 404"
                );
                WidgetAssets::default()
            }
        };
        let widget = web::Data::new(widget);
        let deadline = web::Data::new(crate::limits::BodyDeadline(Duration::from_secs(
            settings.body_timeout.max(1),
        )));
        let base_path = settings.base_path.as_str().to_owned();
        let mut server = HttpServer::new(move || {
            App::new()
                // Outermost, so every answer has it, errors included: no
                // browser may guess another type than the one we send.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff")),
                )
                .wrap(actix_web::middleware::from_fn(crate::limits::body_deadline))
                .wrap(actix_web::middleware::ErrorHandlers::new().handler(
                    actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                    routes::error::method_not_allowed,
                ))
                .wrap(actix_web::middleware::from_fn(crate::metrics::timed))
                .app_data(deadline.clone())
                .app_data(state.clone())
                .app_data(static_dir.clone())
                .app_data(widget.clone())
                .app_data(routes::error::json_config())
                .app_data(routes::error::query_config())
                // Everything of Crumb's under the base path (empty: the
                // root), for proxies that pass their prefix on; the
                // static pages stay at the root.
                .service(
                    web::scope(&base_path)
                        // The widget's files answer HEAD as well as GET:
                        // link checkers, uptime monitors and some caches
                        // ask with HEAD.
                        .service(routes::at(
                            "/crumb.js",
                            routes::get_or_head().to(crate::widget::loader),
                        ))
                        .configure(routes::configure)
                        // After the API: actix tries routes in order, and a
                        // pattern with a segment is a regex match that
                        // every consent write would otherwise run first.
                        .service(routes::at(
                            "/crumb/{name}",
                            routes::get_or_head().to(crate::widget::file),
                        )),
                )
                .default_service(web::to(routes::assets::fallback))
        })
        .shutdown_timeout(settings.shutdown_timeout)
        // An answer goes out at once. With Nagle's algorithm (the socket's
        // default) the tail of an answer written in two parts waits for
        // the client's ACK of the first, which a client delays until it
        // sends again: on keep-alive connections a consent's 201 then
        // took as long as the gap to that client's next request.
        .tcp_nodelay(true);
        let workers = settings.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        // actix counts connections per worker.
        server = server
            .workers(workers)
            .max_connections((settings.max_connections / workers.max(1)).max(1));
        let server = server.listen(listener)?.run();
        Ok(Self {
            port,
            server,
            writer_thread,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Builds and runs the server on a thread of its own with its own
    /// runtime, for programs that embed Crumb (the test harnesses do).
    pub fn spawn(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Background> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match Self::build_with_clock(&settings, clock) {
                    Ok(app) => {
                        let _ = tx.send(Ok((app.port(), app.handle())));
                        if let Err(e) = app.run_until_stopped().await {
                            tracing::error!(error = %e, "server stopped with an error");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        let (port, handle) = rx.recv()??;
        Ok(Background {
            port,
            handle,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`), lets in-flight
    /// requests finish, then waits for the writer to commit what it holds.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            server,
            writer_thread,
            store,
            ..
        } = self;
        server.await?;
        // The server's workers (and with them every writer handle) are gone
        // now; the writer thread drains its queue and exits.
        drop(store);
        let _ = actix_web::rt::task::spawn_blocking(move || writer_thread.join()).await;
        Ok(())
    }
}

/// A server started with [`Application::spawn`]. Dropping it stops the
/// server gracefully and waits until the writer has committed everything.
pub struct Background {
    port: u16,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("port", &self.port)
            .finish()
    }
}

impl Background {
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
