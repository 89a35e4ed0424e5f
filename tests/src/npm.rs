//! Libraries from npm that the tests run inside pages as they ship:
//! installed once into `target/e2e-npm`, never committed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The packages and releases the tests use: the accessibility checker, and
/// Turbo (Hotwire), whose page changes Crumb must survive.
const PACKAGES: &[&str] = &["axe-core@4.14.1", "@hotwired/turbo@8.0.23"];

/// The `node_modules` folder, with [`PACKAGES`] installed on first use.
fn modules() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-npm");
        let marker = dir.join(".installed");
        let wanted = PACKAGES.join(" ");
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(&wanted) {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("package.json"), "{\"private\": true}\n").unwrap();
            let ok = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&dir)
                .args(PACKAGES)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "npm install {wanted} failed (the tests need npm)");
            std::fs::write(&marker, &wanted).unwrap();
        }
        dir.join("node_modules")
    })
}

/// A file of an installed package, e.g. `axe-core/axe.min.js`.
pub fn file(path: &str) -> String {
    let file = modules().join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}
