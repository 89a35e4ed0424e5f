//! What the server does when its disk fills up: writes are refused with
//! 503 and `Retry-After` (nothing half-stored), reads keep being served,
//! writes resume when space returns, and `crumb serve` still starts on a
//! disk that is already full.
//!
//! The disk is a real one: a small tmpfs mounted on the test's data folder
//! (which needs root, as in CI; elsewhere these tests say so and pass
//! without running).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use tempfile::TempDir;

use crate::helpers::{TestApp, spawn_app_in};

/// A tmpfs of a few megabytes mounted on a temporary folder, unmounted on
/// drop (after the server using it has stopped: declare it first).
struct SmallDisk {
    dir: Arc<TempDir>,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        if crate::helpers::postgres_admin().is_some() {
            eprintln!("skipped: on PostgreSQL the database server's disk is not ours to fill");
            return None;
        }
        let dir = Arc::new(TempDir::new().unwrap());
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn filler(&self) -> PathBuf {
        self.dir.path().join("filler")
    }

    /// Writes a file until the disk has no byte left.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.filler()).unwrap();
        for chunk in [64 * 1024, 4096, 512, 1] {
            let buf = vec![0u8; chunk];
            while f.write_all(&buf).is_ok() {}
        }
    }

    /// Fills the disk but for `room` bytes.
    fn fill_but(&self, room: u64) {
        self.fill();
        let filler = std::fs::OpenOptions::new()
            .write(true)
            .open(self.filler())
            .unwrap();
        let len = filler.metadata().unwrap().len();
        filler.set_len(len.saturating_sub(room)).unwrap();
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: the server's last connections close a moment after it
        // stops.
        let _ = std::process::Command::new("umount")
            .arg("--lazy")
            .arg(self.dir.path())
            .status();
    }
}

fn accept_all(app: &TestApp) -> serde_json::Value {
    let mut body = app.analytics_only();
    body["method"] = "accept_all".into();
    body["categories"] =
        serde_json::json!({"functional": true, "analytics": true, "marketing": true});
    body
}

/// Records consents until one is refused; the refusal.
fn write_until_refused(app: &TestApp, body: &serde_json::Value) -> crate::helpers::Response {
    for _ in 0..5000 {
        let resp = app.record_consent(body);
        if resp.status != 201 {
            return resp;
        }
    }
    panic!("5,000 consents were stored on a full disk");
}

/// A server on `disk` with one accept-all consent stored: the server, the
/// request body and the consent's id.
fn with_one_consent(disk: &SmallDisk) -> (TestApp, serde_json::Value, String) {
    let app = spawn_app_in(disk.dir.clone());
    let body = accept_all(&app);
    let first = app.record_consent(&body);
    assert_eq!(first.status, 201, "{}", first.body);
    let id = first.json()["consent_id"].as_str().unwrap().to_owned();
    (app, body, id)
}

#[test]
fn a_full_disk_refuses_writes_with_503_keeps_serving_reads_and_recovers() {
    // Arrange: a server on a small disk, one consent stored, then the
    // disk filled to the last byte.
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let (app, body, first_id) = with_one_consent(&disk);
    disk.fill();

    // Act
    let refused = write_until_refused(&app, &body);

    // Assert: 503 with Retry-After and the JSON error, reads still 200.
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.error_code(), "unavailable");
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert_eq!(app.get("/v1/sites/demo/config").status, 200);
    assert_eq!(app.get("/v1/sites/demo/widget").status, 200);
    let lookup = app.lookup(&first_id);
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    assert_eq!(lookup.json()["state"], "valid");

    // Act: space returns.
    disk.free();
    let after = app.record_consent(&body);

    // Assert: writes resume, and every stored record is in one valid chain.
    assert_eq!(after.status, 201, "{}", after.body);
    let verify = app.crumb(&["verify", "--db"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn serve_starts_on_a_full_disk_answers_reads_and_refuses_writes() {
    // Arrange: a log with one consent, its server stopped, the disk full
    // but for the room of SQLite's shared-memory index (32 KiB, with
    // room to spare), which a cleanly stopped log has deleted and which
    // SQLite must create again before it reads anything: on a disk with
    // no byte left the log cannot be opened at all (SQLITE_IOERR_SHMSIZE;
    // this test failed so when the stopped server's last connection had
    // closed before the disk was filled).
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let (app, body, first_id) = with_one_consent(&disk);
    drop(app);
    disk.fill_but(64 * 1024);

    // Act
    let app = spawn_app_in(disk.dir.clone());

    // Assert: the banner's config and the visit check are served; a write
    // is refused with 503.
    assert_eq!(app.get("/v1/sites/demo/config").status, 200);
    let lookup = app.lookup(&first_id);
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    let refused = write_until_refused(&app, &body);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("30"));
}
