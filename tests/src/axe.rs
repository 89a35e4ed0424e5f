//! axe-core, the accessibility checker, from npm (installed once into
//! `target/e2e-npm`, never committed), and a run of it inside a page.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::Browser;

/// The axe-core release the tests use.
const AXE: &str = "axe-core@4.14.1";

/// axe.min.js, installed on first use.
fn source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-npm");
        let file = dir.join("node_modules/axe-core/axe.min.js");
        let marker = dir.join(".installed");
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(AXE) || !file.is_file() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("package.json"), "{\"private\": true}\n").unwrap();
            let ok = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&dir)
                .arg(AXE)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "npm install {AXE} failed (the tests need npm)");
            std::fs::write(&marker, AXE).unwrap();
        }
        std::fs::read_to_string(&file).unwrap()
    })
}

/// Runs axe (WCAG 2.0, 2.1 and 2.2, levels A and AA) on the element
/// `selector` in the browser's page; returns each violation as `rule id:
/// the first offending element`.
pub fn violations(browser: &Browser, selector: &str) -> Vec<String> {
    browser.js(&format!(
        "if (!window.axe) {{
           const s = document.createElement('script');
           s.textContent = {};
           document.head.appendChild(s);
         }}
         window.__axe = null;
         axe.run(document.querySelector({}), {{
           runOnly: {{ type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] }}
         }}).then(r => window.__axe = r.violations.map(v => v.id + ': ' + v.nodes[0].html),
                  e => window.__axe = ['axe failed: ' + e]);",
        serde_json::to_string(source()).unwrap(),
        serde_json::to_string(selector).unwrap(),
    ));
    browser.wait("window.__axe");
    match browser.js("return window.__axe") {
        Value::Array(v) => v
            .into_iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect(),
        other => panic!("axe answered {other}"),
    }
}
