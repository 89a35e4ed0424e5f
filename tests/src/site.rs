//! The server side of an end-to-end test.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crumb_schema::{SiteConfig, SiteId};
use crumb_server::clock::{Clock, ManualClock};
use crumb_server::settings::Settings;
use crumb_server::startup::{Application, Background};
use crumb_server::storage::{Database, SqliteStore, Store};
use serde_json::Value;
use tempfile::TempDir;

pub struct Site {
    /// First, so it is dropped first: the server stops before the
    /// temporary database folder goes away.
    _server: Background,
    pub base: String,
    pub clock: ManualClock,
    dir: TempDir,
    /// The scripts [`Site::before_every_page`] put first in every page.
    hooks: RefCell<Vec<String>>,
}

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The demo site's pages, as `crumb demo` serves them.
fn demo_pages() -> PathBuf {
    workspace().join("examples/site")
}

impl Site {
    /// Starts Crumb with the demo site on a fresh database.
    pub fn start() -> Site {
        Site::start_with(|_| {})
    }

    /// [`Site::start`] with settings changed by `tweak`.
    pub fn start_with(tweak: impl FnOnce(&mut Settings)) -> Site {
        let widget = workspace().join("widget/dist");
        assert!(
            widget.join("crumb.js").is_file(),
            "the widget is not built: run `cargo xtask build-widget` (cargo xtask test does)"
        );
        let dir = TempDir::new().unwrap();
        // The demo's pages are served from a copy, which
        // `before_every_page` can change.
        let pages = dir.path().join("pages");
        std::fs::create_dir(&pages).unwrap();
        for file in std::fs::read_dir(demo_pages()).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), pages.join(file.file_name())).unwrap();
        }
        let settings = Settings {
            port: 0,
            database: Database::Sqlite(dir.path().join("crumb.db")),
            static_dir: Some(pages),
            widget_dir: Some(widget),
            workers: Some(2),
            // Every test writes from 127.0.0.1 (the owner test seeds
            // hundreds of records); the quota has its own server test.
            write_burst: 0,
            ..Settings::default()
        };
        let mut settings = settings;
        tweak(&mut settings);
        let clock = ManualClock::new(time::OffsetDateTime::now_utc());
        let store = settings.database.open().unwrap();
        crumb_server::demo::ensure_demo_site(store.as_ref(), clock.now()).unwrap();
        drop(store);
        let server = Application::spawn(settings, Arc::new(clock.clone())).unwrap();
        Site {
            base: format!("http://127.0.0.1:{}", server.port()),
            clock,
            dir,
            hooks: RefCell::default(),
            _server: server,
        }
    }

    /// Runs `source` first in every page of the demo (on Crumb's origin)
    /// loaded from now on, before the page's own scripts, in every engine:
    /// the pages are served from a copy, and each gets the scripts given
    /// so far, in order, right after its `<head>` (as inline scripts, which
    /// a page with a strict Content-Security-Policy, `strict-csp.html`,
    /// refuses). Chromium's `Browser::before_every_page` does this for any
    /// page, but only there.
    pub fn before_every_page(&self, source: &str) {
        self.hooks
            .borrow_mut()
            .push(format!("<script>{source}</script>"));
        let hooks = self.hooks.borrow().concat();
        for file in std::fs::read_dir(demo_pages()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "html") {
                let page = std::fs::read_to_string(&path).unwrap();
                let at =
                    page.find("<head>").expect("every demo page has a <head>") + "<head>".len();
                let hooked = format!("{}{hooks}{}", &page[..at], &page[at..]);
                std::fs::write(
                    self.dir
                        .path()
                        .join("pages")
                        .join(path.file_name().unwrap()),
                    hooked,
                )
                .unwrap();
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The hash of the site's current texts in `lang`, as the public config
    /// gives it (what a consent request echoes).
    pub fn text_hash(&self, lang: &str) -> Value {
        ureq::get(&self.url("/v1/sites/demo/config"))
            .call()
            .unwrap()
            .into_json::<Value>()
            .unwrap()["text_hashes"][lang]
            .clone()
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.dir.path().join("crumb.db")).unwrap()
    }

    pub fn config(&self) -> SiteConfig {
        let site = self.store().site(&SiteId::parse("demo").unwrap());
        Arc::unwrap_or_clone(site.unwrap().unwrap())
    }

    pub fn put_config(&self, site: &SiteConfig) {
        self.store().put_site(site, self.clock.now()).unwrap();
    }

    /// Lets pages on `origin` (`http://host:port`) use the demo site.
    pub fn allow_origin(&self, origin: &str) {
        let mut site = self.config();
        site.allowed_origins.push(origin.to_owned());
        self.put_config(&site);
    }

    /// Serves `html` as the page `/` of a new origin that this site allows
    /// (a site embedding Crumb from Crumb's own origin); returns the origin.
    pub fn page_elsewhere(&self, html: String) -> String {
        let origin = serve(vec![("/", "text/html; charset=utf-8", html)], "");
        self.allow_origin(&origin);
        origin
    }

    pub fn bump_revision(&self) {
        let mut site = self.config();
        site.revision = site.revision.next();
        self.put_config(&site);
    }

    /// A new owner token for every site.
    pub fn token(&self) -> String {
        crumb_server::auth::issue(
            &self.store(),
            crumb_server::storage::Role::Owner,
            None,
            "e2e",
            self.clock.now(),
        )
        .unwrap()
        .token
    }

    /// Every stored record body, oldest first.
    pub fn records(&self) -> Vec<Value> {
        let conn = rusqlite::Connection::open(self.dir.path().join("crumb.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT body FROM records ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|b| serde_json::from_str(&b.unwrap()).unwrap())
            .collect()
    }

    /// Waits until `n` records are stored (the widget posts in the
    /// background), for at most [`crate::PATIENCE`], and returns them.
    pub fn wait_for_records(&self, n: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + crate::PATIENCE;
        loop {
            let records = self.records();
            if records.len() >= n {
                return records;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} records, have {records:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Serves `files` (path, content type, body) on a new origin
/// (`http://127.0.0.1:PORT`), with `headers` (`Name: value` lines, each
/// ending in CRLF) on every answer, for as long as the test binary runs;
/// returns the origin. A page on another origin than Crumb's, sent with
/// the headers a site chooses.
pub fn serve(files: Vec<(&'static str, &'static str, String)>, headers: &'static str) -> String {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, kind, body) = match files.iter().find(|(p, ..)| *p == path) {
                Some((_, kind, body)) => ("200 OK", *kind, body.as_str()),
                None => ("404 Not Found", "text/plain", "not found"),
            };
            let _ = write!(
                &stream,
                "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\n{headers}\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    origin
}

/// An origin (`http://127.0.0.1:PORT`) that takes every request and never
/// answers it, for as long as the test binary runs: a third party's script
/// that hangs.
pub fn never_answers() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        // Each connection is kept open, unanswered.
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    origin
}
