//! `spawn_app()` runs the real server on 127.0.0.1, port 0, with a fresh
//! temporary database, the demo site and a manual clock; `TestApp` has
//! typed request helpers. Logs are off unless `TEST_LOG` is set.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use crumb_schema::{Choices, LanguageTag, Method, SiteConfig, TextHash};
use crumb_server::clock::ManualClock;
use crumb_server::settings::Settings;
use crumb_server::startup::{Application, Background};
use crumb_server::storage::{Action, Draft, Role, SqliteStore, Store};
use serde_json::{Value, json};
use tempfile::TempDir;
use time::macros::datetime;

static TRACING: Once = Once::new();

pub struct TestApp {
    /// First, so it is dropped first: the server stops (and its writer
    /// commits) before the temporary database folder goes away.
    _server: Background,
    pub address: String,
    pub clock: ManualClock,
    pub dir: Arc<TempDir>,
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
    spawn_app_with(dir, |_| {})
}

/// Starts a server on a fresh database with settings changed by `tweak`.
pub fn spawn_app_tweaked(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(Arc::new(TempDir::new().unwrap()), tweak)
}

fn spawn_app_with(dir: Arc<TempDir>, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            crumb_server::telemetry::init("debug");
        }
    });
    let settings = Settings {
        port: 0,
        database: dir.path().join("crumb.db"),
        static_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/site")),
        workers: Some(2),
        // Every test client writes from 127.0.0.1; the quota has its own
        // test.
        write_burst: 0,
        ..Settings::default()
    };
    let mut settings = settings;
    tweak(&mut settings);
    let store = SqliteStore::open(&settings.database).unwrap();
    let clock = ManualClock::new(datetime!(2026-01-15 10:00 UTC));
    crumb_server::demo::ensure_demo_site(&store, clock_now(&clock)).unwrap();
    drop(store);

    let server = Application::spawn(settings, Arc::new(clock.clone())).unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{}", server.port()),
        clock,
        dir,
        _server: server,
    }
}

fn clock_now(clock: &ManualClock) -> time::OffsetDateTime {
    use crumb_server::clock::Clock;
    clock.now()
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
        // into_string() stops at 10 MB; exports are larger.
        let mut body = String::new();
        std::io::Read::read_to_string(&mut resp.into_reader(), &mut body).unwrap();
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

    /// A consent request with an `Idempotency-Key`.
    pub fn record_consent_keyed(&self, body: &str, key: &str) -> Response {
        self.request(
            "POST",
            "/v1/sites/demo/consents",
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
            Some(body),
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
        Arc::unwrap_or_clone(self.store().site(&id).unwrap().unwrap())
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

    /// Appends `n` accept-all consents straight through the store (fast),
    /// with user agents from `ua`.
    pub fn seed(&self, n: usize, ua: impl Fn(usize) -> String) {
        let store = self.store();
        let site = Arc::new(self.site());
        let choices = Choices {
            categories: site.categories.iter().map(|c| (c.id, true)).collect(),
            services: site.services.iter().map(|s| (s.id.clone(), true)).collect(),
        };
        let indexes: Vec<usize> = (0..n).collect();
        for chunk in indexes.chunks(5000) {
            let drafts: Vec<Draft> = chunk
                .iter()
                .map(|&i| Draft {
                    site: site.clone(),
                    action: Action::Choose {
                        consent_id: None,
                        language: LanguageTag::parse("en").unwrap(),
                        text_hash: TextHash::parse(&"a".repeat(64)).unwrap(),
                        method: Method::AcceptAll,
                        choices: choices.clone(),
                    },
                    event_time: clock_now(&self.clock),
                    ids: crumb_server::storage::mint(clock_now(&self.clock)).unwrap(),
                    user_agent: ua(i),
                    ip_network: "192.0.2.0/24".into(),
                    gpc: false,
                    idempotency: None,
                })
                .collect();
            for r in store.append(&drafts).unwrap() {
                r.unwrap();
            }
        }
    }

    /// Creates a token; `site` limits it to one site.
    pub fn token(&self, role: Role, site: Option<&str>) -> String {
        let site = site.map(|s| crumb_schema::SiteId::parse(s).unwrap());
        crumb_server::auth::issue(&self.store(), role, site, "test", clock_now(&self.clock))
            .unwrap()
            .token
    }

    pub fn get_with_token(&self, path: &str, token: &str) -> Response {
        let auth = format!("Bearer {token}");
        self.request("GET", path, &[("Authorization", &auth)], None)
    }

    /// Every record's hash in chain order.
    pub fn hashes(&self) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.db_path()).unwrap();
        let mut stmt = conn
            .prepare("SELECT hash FROM records ORDER BY site_id, seq")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Runs the `crumb` binary on this app's database.
    pub fn crumb(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(args)
            .env("CRUMB_DATABASE", self.db_path())
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
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
