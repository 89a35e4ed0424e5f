//! The server side of an end-to-end test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use crumb_schema::{SiteConfig, SiteId};
use crumb_server::clock::{Clock, ManualClock};
use crumb_server::settings::Settings;
use crumb_server::startup::Application;
use crumb_server::storage::{SqliteStore, Store};
use serde_json::Value;
use tempfile::TempDir;

pub struct Site {
    pub base: String,
    pub clock: ManualClock,
    dir: TempDir,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Site {
    /// Starts Crumb with the demo site on a fresh database.
    pub fn start() -> Site {
        let widget = workspace().join("widget/dist");
        assert!(
            widget.join("crumb.js").is_file(),
            "the widget is not built: run `cargo xtask build-widget` (cargo xtask test does)"
        );
        let dir = TempDir::new().unwrap();
        let settings = Settings {
            port: 0,
            database: dir.path().join("crumb.db"),
            static_dir: Some(workspace().join("examples/site")),
            widget_dir: Some(widget),
            workers: Some(2),
            ..Settings::default()
        };
        let clock = ManualClock::new(time::OffsetDateTime::now_utc());
        let store = SqliteStore::open(&settings.database).unwrap();
        crumb_server::demo::ensure_demo_site(&store, clock.now()).unwrap();
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
        Site {
            base: format!("http://127.0.0.1:{port}"),
            clock,
            dir,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.dir.path().join("crumb.db")).unwrap()
    }

    pub fn config(&self) -> SiteConfig {
        self.store()
            .site(&SiteId::parse("demo").unwrap())
            .unwrap()
            .unwrap()
    }

    pub fn put_config(&self, site: &SiteConfig) {
        self.store().put_site(site, self.clock.now()).unwrap();
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
    /// background) and returns them.
    pub fn wait_for_records(&self, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            let records = self.records();
            if records.len() >= n {
                return records;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("expected {n} records, have {:?}", self.records());
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
