//! axe-core, the accessibility checker (from npm, see [`crate::npm`]), and
//! a run of it inside a page.

use std::sync::OnceLock;

use serde_json::Value;

use crate::Browser;

/// axe.min.js, read once.
fn source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| crate::npm::file("axe-core/axe.min.js"))
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
