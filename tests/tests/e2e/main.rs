//! End-to-end tests: the real server with the demo site, the built widget,
//! and a real browser: headless Chromium, or the engine `CRUMB_E2E_ENGINE`
//! names (`webkit`, `firefox`; see `crumb_e2e::Engine`). Needs `cargo xtask
//! build-widget` and Debian's chromium + chromium-driver (with
//! webkit2gtk-driver, xvfb, firefox-esr and geckodriver for the others;
//! `cargo xtask test` and `.ci/run` see to all of them).

mod a11y;
mod choices;
mod consent_mode;
mod engines;
mod examples;
mod first_visit;
mod gate;
mod gpc;
mod lifecycle;
mod owner;
mod screenshots;
mod server_decides;

use crumb_e2e::{Browser, Site};

/// Opens the demo shop and waits until the widget has decided what to show.
pub fn open(site: &Site, browser: &Browser, path: &str) {
    browser.goto(&site.url(path));
    browser.wait("document.querySelector('.crumb-banner, .crumb-reopen')");
}

/// Opens the demo shop and accepts all, and waits until that choice counts
/// (the floating button is up).
pub fn accepted(site: &Site, browser: &Browser) {
    open(site, browser, "/");
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("document.querySelector('.crumb-reopen')");
}

/// Opens the demo shop and its preferences dialog from the banner, and
/// waits until the dialog is open (its stylesheet and texts load first).
pub fn open_dialog(site: &Site, browser: &Browser) {
    open(site, browser, "/");
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
}

/// Accepts everything on a fresh visit and waits until the server's
/// record is in the cookie; returns the record.
pub fn accept_all(site: &Site, browser: &Browser) -> serde_json::Value {
    open(site, browser, "/");
    browser.click(".crumb-banner [data-a=accept]");
    let record = site.wait_for_records(1)[0].clone();
    browser.wait("/crumb_consent=1~[a-z0-9-]+~.*~0(;|$)/.test(document.cookie)");
    record
}

/// Records reject all, accept all and a custom choice (the dialog's
/// `custom` switches clicked, in order), each in a fresh browser.
pub fn record_three_choices(site: &Site, custom: &[&str]) {
    for (n, how) in ["reject", "accept", "custom"].into_iter().enumerate() {
        let browser = Browser::new(1280, 800);
        open(site, &browser, "/");
        if how == "custom" {
            browser.click(".crumb-banner [data-a=customize]");
            browser.wait("document.querySelector('dialog.crumb-modal[open]')");
            for switch in custom {
                browser.click(switch);
            }
            browser.click("dialog [data-a=save]");
        } else {
            browser.click(&format!(".crumb-banner [data-a={how}]"));
        }
        site.wait_for_records(n + 1);
    }
}

/// Adds a gated marketing script and a gated analytics one, as a page adds
/// scripts after a choice; they set `window.__lateMarketing` and
/// `window.__lateAnalytics` when they run.
pub const ADD_LATE_SCRIPTS: &str =
    "for (const [cat, flag] of [['marketing', '__lateMarketing'], ['analytics', '__lateAnalytics']]) {
       const s = document.createElement('script');
       s.type = 'text/plain';
       s.dataset.category = cat;
       s.textContent = 'window.' + flag + ' = true;';
       document.body.append(s);
     }";

/// What `crumb lint --page` names in `page` against the demo site's
/// config: each problem's rule and line.
pub fn linted(site: &Site, page: &str) -> Vec<(&'static str, String)> {
    let report = crumb_server::page_lint::lint_page(&site.config(), page);
    report
        .problems
        .into_iter()
        .map(|p| (p.rule, p.path))
        .collect()
}

pub fn banner_visible(browser: &Browser) -> bool {
    browser.js(
        "const b = document.querySelector('.crumb-banner');
         return !!b && b.getBoundingClientRect().height > 0 && getComputedStyle(b).visibility === 'visible';",
    ) == serde_json::Value::Bool(true)
}

/// Which demo snippets have run, judged by the globals each defines.
pub fn ran(browser: &Browser) -> serde_json::Value {
    browser.js("return {
            ga: typeof window.gtag === 'function',
            hotjar: typeof window.hj === 'function',
            piwik: typeof window.ppms === 'object',
            vwo: typeof window._vwo_code === 'object',
            meta: typeof window.fbq === 'function',
            reddit: typeof window.rdt === 'function',
        };")
}
