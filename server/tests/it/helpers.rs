//! `spawn_app()` runs the real server on 127.0.0.1, port 0, with a fresh
//! temporary database, the demo site and a manual clock; `TestApp` has
//! typed request helpers. Logs are off unless `TEST_LOG` is set.
//!
//! The engine: SQLite (a file in the test's temporary folder), or, when
//! `CRUMB_TEST_POSTGRES` holds a PostgreSQL URL with the right to create
//! databases, a fresh database on that server for every test (`cargo xtask
//! test` runs the suite both ways).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use crumb_schema::{Choices, LanguageTag, Method, SiteConfig, TextHash};
use crumb_server::clock::ManualClock;
use crumb_server::settings::Settings;
use crumb_server::startup::{Application, Background};
use crumb_server::storage::{Action, Database, Draft, Role, Store, TimeRange};
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
        database: database_in(&dir),
        signing_key: Some(dir.path().join("crumb.db.key")),
        static_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/site")),
        workers: Some(2),
        // Every test client writes from 127.0.0.1; the quota has its own
        // test.
        write_burst: 0,
        ..Settings::default()
    };
    let mut settings = settings;
    tweak(&mut settings);
    let store = settings.database.open().unwrap();
    let clock = ManualClock::new(datetime!(2026-01-15 10:00 UTC));
    crumb_server::demo::ensure_demo_site(store.as_ref(), clock_now(&clock)).unwrap();
    drop(store);

    let server = Application::spawn(settings, Arc::new(clock.clone())).unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{}", server.port()),
        clock,
        dir,
        _server: server,
    }
}

/// The admin URL of the PostgreSQL server to test against, if any.
pub fn postgres_admin() -> Option<String> {
    std::env::var("CRUMB_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The test's database: on PostgreSQL, a fresh database made on first use
/// and named in the folder's `postgres-url` file, so a restart on the same
/// folder finds it again.
pub fn database_in(dir: &TempDir) -> Database {
    let Some(admin) = postgres_admin() else {
        return Database::Sqlite(dir.path().join("crumb.db"));
    };
    let named = dir.path().join("postgres-url");
    let url = match std::fs::read_to_string(&named) {
        Ok(url) => url,
        Err(_) => {
            let name = format!("crumb_test_{}", std::process::id())
                + &dir
                    .path()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
            postgres_execute(&admin, &format!("CREATE DATABASE {name}"));
            let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
            let url = format!("{base}/{name}");
            std::fs::write(&named, &url).unwrap();
            url
        }
    };
    Database::parse(&url).unwrap()
}

/// A client connected to a PostgreSQL database, and the runtime that
/// drives its connection.
fn postgres_client(url: &str) -> (tokio::runtime::Runtime, tokio_postgres::Client) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client, conn) = rt
        .block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    rt.spawn(conn);
    (rt, client)
}

/// Runs SQL on a PostgreSQL database.
pub fn postgres_execute(url: &str, sql: &str) {
    let (rt, client) = postgres_client(url);
    rt.block_on(client.batch_execute(sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The rows a query with text parameters returns.
pub fn postgres_query(url: &str, sql: &str, params: &[&str]) -> Vec<tokio_postgres::Row> {
    let (rt, client) = postgres_client(url);
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(|p| p as _).collect();
    rt.block_on(client.query(sql, &params))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn clock_now(clock: &ManualClock) -> time::OffsetDateTime {
    use crumb_server::clock::Clock;
    clock.now()
}

impl TestApp {
    /// The SQLite file (also where the signing key's name comes from).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("crumb.db")
    }

    pub fn database(&self) -> Database {
        database_in(&self.dir)
    }

    /// Whether this run is on SQLite: a few tests are about its files.
    pub fn on_sqlite(&self) -> bool {
        matches!(self.database(), Database::Sqlite(_))
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.database().open().unwrap()
    }

    /// Runs SQL on the app's database behind the server's back (the
    /// tables and columns are the same on both engines).
    pub fn execute_sql(&self, sql: &str) {
        match self.database() {
            Database::Sqlite(path) => {
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute_batch(sql)
                    .unwrap();
            }
            Database::Postgres(url) => postgres_execute(url.as_str(), sql),
        }
    }

    /// Every stored record (canonical body, hash) in site and chain order.
    pub fn records(&self) -> Vec<(Value, String)> {
        let mut out = Vec::new();
        self.store()
            .for_each_record(None, &TimeRange::all(), &mut |body, hash| {
                out.push((serde_json::from_str(body).unwrap(), hash.to_owned()));
                true
            })
            .unwrap();
        out
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
        request_to(&self.address, method, path, headers, body)
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
                    prepared: None,
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
        crumb_server::auth::issue(
            self.store().as_ref(),
            role,
            site,
            "test",
            clock_now(&self.clock),
        )
        .unwrap()
        .token
    }

    pub fn get_with_token(&self, path: &str, token: &str) -> Response {
        let auth = format!("Bearer {token}");
        self.request("GET", path, &[("Authorization", &auth)], None)
    }

    /// Every record's hash in chain order.
    pub fn hashes(&self) -> Vec<String> {
        self.records().into_iter().map(|(_, hash)| hash).collect()
    }

    /// Runs the `crumb` binary on this app's database.
    pub fn crumb(&self, args: &[&str]) -> std::process::Output {
        self.crumb_with_key(args, &self.dir.path().join("crumb.db.key"))
    }

    /// Asserts that `crumb verify --db` passes on this app's log (with
    /// its signing key), saying what it printed when it does not.
    pub fn assert_log_verifies(&self) {
        let out = self.crumb(&["verify", "--db"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `crumb` run with the signing key setting at `key` rather than the
    /// server's key file.
    pub fn crumb_with_key(&self, args: &[&str], key: &Path) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(args)
            .env("CRUMB_DATABASE", self.database().to_setting())
            .env("CRUMB_SIGNING_KEY", key)
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    }

    /// Records an analytics-only choice as a new consent; its id.
    pub fn given_consent(&self) -> String {
        self.record_consent(&self.analytics_only()).json()["consent_id"]
            .as_str()
            .expect("a consent id")
            .to_owned()
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

/// A request to the server at `address` (a node of a test, or a test
/// app's own): any answer, error statuses included.
pub fn request_to(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut req = ureq::request(method, &format!("{address}{path}"));
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

/// `crumb` with `args` (and no database of a test app's), `input` on its
/// standard input.
pub fn crumb_piped(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
        .args(args)
        .env("CRUMB_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Written from a thread: the command may stop reading early (a file it
    // refuses), and the pipe must not block the test then.
    let input = input.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out
}
