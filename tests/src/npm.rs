//! Libraries from npm that the tests run inside pages as they ship:
//! installed once into `target/e2e-npm`, never committed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The packages and releases the tests use: the accessibility checker;
/// Turbo (Hotwire), React, Vue, Svelte, Angular (with RxJS, which it
/// needs), Solid (with Babel and Solid's preset, which compile its JSX)
/// and Preact (with its server renderer), whose page changes Crumb must
/// survive; and esbuild, which
/// bundles such a page for the browser and for its server-side rendering.
const PACKAGES: &[&str] = &[
    "axe-core@4.14.1",
    "@hotwired/turbo@8.0.23",
    "react@19.3.1",
    "react-dom@19.3.1",
    "esbuild@0.25",
    "vue@3.5.46",
    "svelte@5.59.1",
    "@angular/core@22.2.6",
    "@angular/common@22.2.6",
    "@angular/compiler@22.2.6",
    "@angular/platform-browser@22.2.6",
    "@angular/platform-server@22.2.6",
    "rxjs@7.8.2",
    "solid-js@1.9.20",
    "babel-preset-solid@1.9.19",
    "@babel/core@7.29.17",
    "preact@11.2.0",
    "preact-render-to-string@6.8.3",
    "alpinejs@3.17.5",
    "@alpinejs/morph@3.17.4",
    "morphdom@2.7.8",
];

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

/// Runs `program` in the packages' folder with `input` on its standard
/// input; returns what it printed.
fn pipe(mut program: Command, input: &str) -> String {
    let mut child = program
        .current_dir(modules().parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// `source` (JavaScript that imports installed packages) bundled into one
/// script for `platform` (`browser` or `node`), as a production build
/// (with the globals Angular's own build defines: `ngDevMode` off, and
/// `ngServerMode` on for node).
pub fn bundle(source: &str, platform: &str) -> String {
    let mut esbuild = Command::new(modules().join(".bin/esbuild"));
    esbuild.args([
        "--bundle",
        "--minify",
        &format!("--platform={platform}"),
        "--define:process.env.NODE_ENV=\"production\"",
        "--define:ngDevMode=false",
        "--log-level=warning",
    ]);
    esbuild.arg(format!("--define:ngServerMode={}", platform == "node"));
    pipe(esbuild, source)
}

/// What `script` prints when node runs it.
pub fn node(script: &str) -> String {
    pipe(Command::new("node"), script)
}
