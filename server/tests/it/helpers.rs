//! `spawn_app()` runs the real server on 127.0.0.1, port 0, with a fresh
//! temporary database, the demo site and a manual clock; `TestApp` has
//! typed request helpers. Logs are off unless `TEST_LOG` is set.

use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use crumb_schema::SiteConfig;
use crumb_server::clock::ManualClock;
use crumb_server::settings::Settings;
use crumb_server::startup::Application;
use crumb_server::storage::{SqliteStore, Store};
use serde_json::{Value, json};
use tempfile::TempDir;
use time::macros::datetime;

static TRACING: Once = Once::new();

pub struct TestApp {
    pub address: String,
    pub clock: ManualClock,
    pub dir: Arc<TempDir>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `error` code of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn spawn_app() -> TestApp {
    spawn_app_in(Arc::new(TempDir::new().unwrap()))
}

/// Starts a server on the database in `dir` (which may already hold data).
pub fn spawn_app_in(dir: Arc<TempDir>) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            crumb_server::telemetry::init("debug");
        }
    });
    let settings = Settings {
        port: 0,
        database: dir.path().join("crumb.db"),
        workers: Some(2),
        ..Settings::default()
    };
    let store = SqliteStore::open(&settings.database).unwrap();
    let clock = ManualClock::new(datetime!(2026-01-15 10:00 UTC));
    crumb_server::demo::ensure_demo_site(&store, clock_now(&clock)).unwrap();
    drop(store);

    let (tx, rx) = std::sync::mpsc::channel();
    let server_clock = clock.clone();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build_with_clock(&settings, Arc::new(server_clock)).unwrap();
            tx.send((app.port(), app.handle())).unwrap();
            app.run_until_stopped().await.unwrap();
        });
    });
    let (port, handle) = rx.recv().unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        clock,
        dir,
        handle,
        thread: Some(thread),
    }
}

fn clock_now(clock: &ManualClock) -> time::OffsetDateTime {
    use crumb_server::clock::Clock;
    clock.now()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl TestApp {
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("crumb.db")
    }

    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.db_path()).unwrap()
    }

    /// Stops the server and returns its data folder, for a restart.
    pub fn stop(self) -> Arc<TempDir> {
        self.dir.clone()
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        let mut req = ureq::request(method, &format!("{}{path}", self.address));
        for (n, v) in headers {
            req = req.set(n, v);
        }
        let result = match body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request {method} {path} failed: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or_default().to_owned();
                (n, v)
            })
            .collect();
        let body = resp.into_string().unwrap();
        Response {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(&body.to_string()),
        )
    }

    pub fn record_consent(&self, body: &Value) -> Response {
        self.post_json("/v1/sites/demo/consents", body)
    }

    pub fn lookup(&self, consent_id: &str) -> Response {
        self.get(&format!("/v1/sites/demo/consents/{consent_id}"))
    }

    pub fn withdraw(&self, consent_id: &str) -> Response {
        self.request(
            "POST",
            &format!("/v1/sites/demo/consents/{consent_id}/withdraw"),
            &[],
            Some(""),
        )
    }

    pub fn site(&self) -> SiteConfig {
        let id = crumb_schema::SiteId::parse("demo").unwrap();
        self.store().site(&id).unwrap().unwrap()
    }

    pub fn put_site(&self, site: &SiteConfig) {
        self.store().put_site(site, clock_now(&self.clock)).unwrap();
    }

    pub fn bump_revision(&self) {
        let mut site = self.site();
        site.revision = site.revision.next();
        self.put_site(&site);
    }

    pub fn record_count(&self) -> u64 {
        self.store().record_count().unwrap()
    }

    /// The text hash the widget would echo for `lang`.
    pub fn text_hash(&self, lang: &str) -> String {
        self.get("/v1/sites/demo/config").json()["text_hashes"][lang]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A valid "analytics only" choice, as the widget would send it.
    pub fn analytics_only(&self) -> Value {
        json!({
            "revision": self.site().revision.get(),
            "language": "en",
            "text_hash": self.text_hash("en"),
            "method": "custom",
            "categories": {"necessary": true, "analytics": true, "marketing": false},
        })
    }
}
