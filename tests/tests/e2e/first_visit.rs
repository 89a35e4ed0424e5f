//! A first visit: the banner, and nothing gated runs or is requested.

use crumb_e2e::{Browser, Engine, Site, serve};
use serde_json::json;

use crate::{banner_visible, linted, open, ran};

#[test]
fn first_visit_shows_the_banner_and_runs_nothing() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);

    // Act
    open(&site, &browser, "/");
    browser.settled();

    // Assert
    assert!(banner_visible(&browser));
    assert_eq!(
        ran(&browser),
        json!({"ga": false, "hotjar": false, "piwik": false, "vwo": false, "meta": false, "reddit": false})
    );
    let requests = browser.requests();
    // Chromium's log has Crumb's own requests too; the other engines'
    // proxy sees only those that would leave the machine.
    if Engine::from_env() == Engine::Chromium {
        assert!(
            requests.iter().any(|u| u.ends_with("/crumb.js")),
            "{requests:?}"
        );
    }
    assert_eq!(Browser::vendor_requests(&requests), Vec::<String>::new());
    // The YouTube embed waits behind a placeholder.
    assert_eq!(
        browser.js("return document.querySelector('iframe').getAttribute('src')"),
        json!(null)
    );
    assert!(
        browser.js("return !!document.querySelector('.crumb-ph [data-crumb-allow=youtube]')")
            == json!(true)
    );
    // Nothing is recorded before a choice.
    assert!(site.records().is_empty());
    // Equal prominence: accept and reject have the same size and class.
    let sizes = browser.js("return ['accept','reject','customize'].map(a => {
            const b = document.querySelector('.crumb-banner [data-a=' + a + ']');
            const r = b.getBoundingClientRect();
            return [b.className, Math.round(r.width), Math.round(r.height)];
        });");
    assert_eq!(
        sizes[0], sizes[1],
        "accept and reject look the same: {sizes}"
    );
}

#[test]
fn banner_speaks_the_page_language() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/nl.html");
    assert_eq!(
        browser.js("return document.querySelector('.crumb-banner [data-a=reject]').textContent"),
        json!("Alles weigeren")
    );
}

#[test]
fn cookie_policy_page_shows_the_declaration() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);

    open(&site, &browser, "/cookie-policy.html");
    browser.wait("document.querySelector('[data-crumb-declaration] table')");

    let text = browser.js("return document.querySelector('[data-crumb-declaration]').textContent");
    let text = text.as_str().unwrap();
    for expected in [
        "Strictly necessary",
        // Crumb's own cookie, declared on every site.
        "crumb_consent",
        "Until your consent expires",
        "Hotjar",
        "_hjSessionUser_*",
        "Meta Pixel",
        "_fbp",
        "90 days",
        "Reddit, Inc.",
        // A service's purpose.
        "Heatmaps and session recordings.",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from the declaration: {text}"
        );
    }
    // Every category, and one table for each that has cookies (the demo's
    // functional category has none), with the five columns real policies
    // use.
    assert_eq!(
        browser.js("return document.querySelectorAll('[data-crumb-declaration] h3').length"),
        json!(4)
    );
    assert_eq!(
        browser.js("return document.querySelectorAll('[data-crumb-declaration] table').length"),
        json!(3)
    );
    assert_eq!(
        browser.js("return [...document.querySelectorAll('[data-crumb-declaration] table')[0].querySelectorAll('th')].map(t => t.textContent)"),
        json!(["Cookie", "Provider", "Purpose", "Retention", "Type"])
    );
    // Third parties' privacy policies are linked, safely.
    let links = browser.js(
        "return [...document.querySelectorAll('[data-crumb-declaration] a')].map(a => [a.href, a.rel])",
    );
    let links = links.as_array().unwrap();
    assert!(
        links
            .iter()
            .any(|l| l[0].as_str().unwrap().contains("hotjar.com")),
        "{links:?}"
    );
    assert!(
        links.iter().all(|l| l[1] == "noopener noreferrer"),
        "{links:?}"
    );
}

#[test]
fn a_declaration_a_single_page_app_renders_later_is_filled_in() {
    // Arrange: the declaration's script has run and filled the page's one.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/cookie-policy.html");
    browser.wait("document.querySelector('[data-crumb-declaration] table')");

    // Act: the app leaves the route and comes back to it later, rendering
    // a new (empty) declaration element.
    browser.js(
        "const old = document.querySelector('[data-crumb-declaration]');
         const parent = old.parentNode;
         old.remove();
         setTimeout(() => {
           const again = document.createElement('div');
           again.id = 'again';
           again.setAttribute('data-crumb-declaration', '');
           parent.append(again);
         }, 100);",
    );

    // Assert
    browser.wait("document.querySelector('#again table')");
    assert_eq!(
        browser.js("return document.querySelectorAll('#again h3').length"),
        json!(4)
    );
}

#[test]
fn works_under_a_strict_content_security_policy() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    let watched = watch_csp_violations(&browser);

    open(&site, &browser, "/strict-csp.html");
    assert!(banner_visible(&browser));
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
    site.wait_for_records(1);

    if watched {
        assert_eq!(browser.js("return window.__csp"), json!([]));
    }
    assert_eq!(
        browser.js("return getComputedStyle(document.querySelector('.crumb-reopen')).position"),
        json!("fixed"),
        "the stylesheet applied"
    );
}

#[test]
fn a_cross_origin_isolated_page_on_another_origin_loads_crumb() {
    // Arrange: a page on another origin that isolates itself
    // (`Cross-Origin-Embedder-Policy: require-corp`, as pages that use
    // SharedArrayBuffer must): the browser then loads another origin's
    // script and stylesheet only if they say they may be embedded.
    let site = Site::start();
    let html = format!(
        "<!doctype html><html lang=en><head><title>Isolated</title>\
         <script src=\"{}/crumb.js\" data-site=\"demo\" async></script>\
         <script type=\"text/plain\" data-category=\"analytics\">window.__ran = true</script>\
         </head><body><p>A cross-origin isolated page.</p></body></html>",
        site.base
    );
    let origin = serve(
        vec![("/", "text/html; charset=utf-8", html)],
        "cross-origin-embedder-policy: require-corp\r\ncross-origin-opener-policy: same-origin\r\n",
    );
    site.allow_origin(&origin);
    let browser = Browser::new(1280, 800);

    // Act
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: the page is isolated, Crumb's banner came up styled, and the
    // choice counts and is recorded.
    browser.wait("window.__ran === true");
    assert_eq!(browser.js("return crossOriginIsolated"), json!(true));
    assert_eq!(
        browser.js("return getComputedStyle(document.querySelector('.crumb-reopen')).position"),
        json!("fixed"),
        "the stylesheet applied"
    );
    assert_eq!(site.wait_for_records(1)[0]["method"], "accept_all");
}

/// Serves `html` on an origin of its own, with `/lib.js` (a library that
/// sets `window.__lib`), `policy` (a `Content-Security-Policy` header
/// line) on every answer; there, accepts all. Asserts that the gated library ran, then the gated
/// inline script that sets `window.__inline` from it, that the policy
/// refused nothing, and that the choice is recorded.
/// Notes in `window.__csp` every Content-Security-Policy violation the
/// pages report from their first script on, where the engine lets a test
/// run a script before a page's own (Chromium's DevTools Protocol);
/// returns whether it does. Elsewhere what the policy would block shows
/// in what the tests check anyway: no banner, no style, nothing run.
fn watch_csp_violations(browser: &Browser) -> bool {
    if Engine::from_env() != Engine::Chromium {
        return false;
    }
    browser.before_every_page(
        "window.__csp = [];
         document.addEventListener('securitypolicyviolation',
             e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));",
    );
    true
}

fn accepting_runs_the_gated_scripts(site: &Site, html: String, policy: &'static str) {
    // Arrange
    let origin = serve(
        vec![
            ("/", "text/html; charset=utf-8", html),
            (
                "/lib.js",
                "text/javascript",
                "window.__lib = 'loaded';".into(),
            ),
        ],
        policy,
    );
    site.allow_origin(&origin);
    let browser = Browser::new(1280, 800);
    let watched = watch_csp_violations(&browser);

    // Act
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");
    browser.click(".crumb-banner [data-a=accept]");

    // Assert
    browser.wait("window.__inline !== undefined");
    assert_eq!(browser.js("return window.__inline"), json!("loaded"));
    if watched {
        assert_eq!(browser.js("return window.__csp"), json!([]));
    }
    assert_eq!(site.wait_for_records(1)[0]["method"], "accept_all");
}

#[test]
fn a_page_under_a_nonce_based_policy_runs_its_gated_scripts_once_allowed() {
    // Arrange: a page whose Content-Security-Policy trusts scripts by nonce
    // (`'strict-dynamic'`, the policy Google recommends): Crumb's tag and
    // the gated scripts carry the page's nonce; one gated script is
    // inline, one a library on the page's origin.
    let site = Site::start();
    let html = format!(
        "<!doctype html><html lang=en><head><title>Nonces</title>\
         <script nonce=\"r4nd0m\" src=\"{}/crumb.js\" data-site=\"demo\" async></script>\
         <script nonce=\"r4nd0m\" type=\"text/plain\" data-category=\"analytics\" data-src=\"/lib.js\"></script>\
         <script nonce=\"r4nd0m\" type=\"text/plain\" data-category=\"analytics\">window.__inline = window.__lib</script>\
         </head><body><p>A page with a nonce-based policy.</p></body></html>",
        site.base
    );
    accepting_runs_the_gated_scripts(
        &site,
        html,
        "content-security-policy: script-src 'nonce-r4nd0m' 'strict-dynamic' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'\r\n",
    );
}

#[test]
fn what_a_pages_policy_keeps_from_running_once_allowed_is_what_crumb_lint_names() {
    // Arrange: a page whose policy (in a `<meta>` tag, which `crumb lint
    // --page` reads) allows scripts by origin and by nonce, without
    // 'unsafe-inline': Crumb's tag, a gated library on the page's own
    // origin, a gated inline script with the page's nonce and one without,
    // and a gated script from an address the policy does not name.
    let site = Site::start();
    let policy = format!(
        "script-src 'self' 'nonce-r4nd0m' {0} 'wasm-unsafe-eval'; style-src 'self' {0}; connect-src {0}",
        site.base
    );
    let html = format!(
        "<!doctype html><html lang=en><head><title>Policy</title>\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\n\
         <script src=\"{}/crumb.js\" data-site=\"demo\" async></script>\n\
         <script type=\"text/plain\" data-category=\"analytics\" data-src=\"/lib.js\"></script>\n\
         <script type=\"text/plain\" data-category=\"analytics\">window.__inline = 1</script>\n\
         <script type=\"text/plain\" data-category=\"analytics\" nonce=\"r4nd0m\">window.__nonce = 1</script>\n\
         <script type=\"text/plain\" data-category=\"analytics\" data-src=\"data:text/javascript,window.__data=1\"></script>\n\
         </head><body><p>A page with a policy of its own.</p></body></html>",
        site.base
    );
    let origin = serve(
        vec![
            ("/", "text/html; charset=utf-8", html.clone()),
            ("/lib.js", "text/javascript", "window.__lib = 1;".into()),
        ],
        "",
    );
    site.allow_origin(&origin);
    let browser = Browser::new(1280, 800);

    // Act: the visitor accepts everything.
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__lib && window.__nonce");
    browser.settled();

    // Assert: the browser ran what the policy allows and nothing else, and
    // the linter names exactly the two it blocked, at their lines.
    let ran = "return [window.__lib, window.__nonce, window.__inline || 0, window.__data || 0]";
    assert_eq!(browser.js(ran), json!([1, 1, 0, 0]));
    assert_eq!(
        linted(&site, &html),
        vec![
            ("csp-script", "line 5".to_owned()),
            ("csp-script", "line 7".to_owned())
        ]
    );

    // Arrange: the same page under a policy without 'wasm-unsafe-eval'.
    let html = html.replace(" 'wasm-unsafe-eval'", "");
    let origin = serve(vec![("/", "text/html; charset=utf-8", html.clone())], "");
    site.allow_origin(&origin);

    // Act (WebKitGTK reports no violation for WebAssembly, so the test
    // waits for the page's load and what follows it).
    browser.goto(&format!("{origin}/"));
    browser.wait("document.readyState == 'complete'");
    browser.settled();

    // Assert: the widget never starts, and the linter says why, at
    // Crumb's tag.
    assert!(!banner_visible(&browser));
    let report = crumb_server::page_lint::lint_page(&site.config(), &html);
    let first = &report.problems[0];
    assert_eq!((first.rule, first.path.as_str()), ("csp-widget", "line 3"));
    assert!(
        first
            .message
            .contains("add 'wasm-unsafe-eval' to script-src"),
        "{}",
        first.message
    );
}

/// The default Trusted Types policy the README gives a page that enforces
/// Trusted Types, with the page's own origin as the one allowed for
/// external scripts.
const TRUSTED_TYPES_POLICY: &str = "
  const scriptOrigins = [location.origin];
  if (window.trustedTypes) trustedTypes.createPolicy('default', {
    createHTML: (html, type, sink) =>
      sink == 'Range createContextualFragment' && /^<script [^>]*data-category=/.test(html)
        ? html : null,
    createScriptURL: (url, type, sink) =>
      sink == 'HTMLScriptElement src' && scriptOrigins.includes(new URL(url, location.href).origin)
        ? url : null,
  });
";

#[test]
fn a_page_that_enforces_trusted_types_runs_its_gated_scripts_through_its_default_policy() {
    // Arrange: a page whose policy requires Trusted Types for scripts, as
    // Google's own properties do: a released script is re-created from
    // its markup and an external one gets its `src`, both sinks that take
    // only trusted values. The page has the README's default policy; one
    // gated script is inline, one a library on the page's origin.
    let site = Site::start();
    let html = format!(
        "<!doctype html><html lang=en><head><title>Trusted Types</title>\
         <script>{TRUSTED_TYPES_POLICY}</script>\
         <script src=\"{}/crumb.js\" data-site=\"demo\" async></script>\
         <script type=\"text/plain\" data-category=\"analytics\" data-src=\"/lib.js\"></script>\
         <script type=\"text/plain\" data-category=\"analytics\">window.__inline = window.__lib</script>\
         </head><body><p>A page that enforces Trusted Types.</p></body></html>",
        site.base
    );
    accepting_runs_the_gated_scripts(
        &site,
        html,
        "content-security-policy: require-trusted-types-for 'script'; trusted-types default\r\n",
    );
}

#[test]
fn site_code_hears_about_changes() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("window.__changes = [];
         document.addEventListener('crumb:change', e => window.__changes.push(e.detail));");

    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__changes.length === 1");
    browser.js("window.crumb.show()");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");

    let detail = browser.js("return window.__changes[0]");
    assert_eq!(detail["method"], "accept_all");
    assert_eq!(detail["categories"]["marketing"], true);
    assert_eq!(detail["services"]["youtube"], true);
}

#[test]
fn the_dialog_loads_its_texts_when_opened_and_shows_purposes_links_and_crumbs_cookie() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    // The dialog's stylesheet and texts are not part of a first visit...
    let dialog_parts = |browser: &Browser| {
        let urls = browser.fetched();
        (
            urls.iter().any(|u| u.contains("/crumb/crumb-dialog-")),
            urls.iter().any(|u| u.contains("/widget/details?lang=")),
        )
    };
    browser.settled();
    assert_eq!(dialog_parts(&browser), (false, false));

    // Act
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.js("document.querySelectorAll('dialog details').forEach(d => d.open = true);");

    // Assert: ...they load when it opens, and it is styled (a modal
    // dialog with the stylesheet's width) and filled in.
    assert_eq!(dialog_parts(&browser), (true, true));
    assert_eq!(
        browser.js("return getComputedStyle(document.querySelector('.crumb-cat')).borderTopStyle"),
        json!("solid")
    );

    // Assert: under Hotjar, what it is for and its privacy policy.
    let hotjar = browser.js(
        "const row = document.querySelector('input[data-svc=hotjar]').closest('.crumb-svc');
         const a = row.querySelector('details a');
         return [row.querySelector('details p').textContent, a.href, a.rel, a.textContent];",
    );
    assert_eq!(
        hotjar,
        json!([
            "Heatmaps and session recordings. Privacy policy",
            "https://www.hotjar.com/legal/policies/privacy/",
            "noopener noreferrer",
            "Privacy policy"
        ])
    );
    // Crumb's own cookie, locked on, in the necessary section.
    let necessary = browser.js(
        "const s = document.querySelector('input[data-cat=necessary]').closest('section');
         const crumb = s.querySelector('input[data-svc=crumb]');
         return [s.textContent.includes('crumb_consent'), crumb.checked, crumb.disabled];",
    );
    assert_eq!(necessary, json!([true, true, true]));
    // Saving sends no necessary service as a choice.
    browser.click("dialog [data-a=save]");
    let records = site.wait_for_records(1);
    assert!(
        records[0]["services_granted"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s != "crumb"),
        "{}",
        records[0]
    );
}

#[test]
fn on_a_phone_the_banner_leaves_most_of_the_screen_to_the_page() {
    // Arrange: 360 x 640, as a common Android phone.
    let site = Site::start();
    let browser = Browser::new(500, 800);
    browser.phone_viewport(360, 640);

    // Act
    open(&site, &browser, "/");

    // Assert: at most 35 % of the viewport, the three choices side by side
    // at equal width, each at least 44 px tall.
    let share = browser.js(
        "const r = document.querySelector('.crumb-banner').getBoundingClientRect();
         return r.width * r.height / (innerWidth * innerHeight);",
    );
    assert!(share.as_f64().unwrap() <= 0.35, "{share}");
    let buttons = browser.js(
        "return [...document.querySelectorAll('.crumb-banner .crumb-btn')].map(b => {
            const r = b.getBoundingClientRect();
            return [Math.round(r.top), Math.round(r.width), r.height >= 44];
         });",
    );
    let buttons = buttons.as_array().unwrap();
    assert_eq!(buttons.len(), 3);
    assert!(buttons.iter().all(|b| b == &buttons[0]), "{buttons:?}");
    assert_eq!(buttons[0][2], json!(true));
}

#[test]
fn at_400_percent_zoom_the_whole_banner_can_be_read_and_answered() {
    // Arrange: a 1280 x 720 screen at 400 % zoom leaves 320 x 180 CSS
    // pixels (WCAG 1.4.10, reflow), less than the banner's height.
    let site = Site::start();
    let browser = Browser::new(500, 800);
    browser.phone_viewport(320, 180);

    // Act
    open(&site, &browser, "/");

    // Assert: the banner stays on the screen, its title too, and what
    // does not fit scrolls inside it, down to the buttons.
    let fits = browser.js(
        "const b = document.querySelector('.crumb-banner'), r = b.getBoundingClientRect();
         return [r.top >= 0, r.bottom <= innerHeight, b.scrollHeight > b.clientHeight,
                 document.querySelector('.crumb-title').getBoundingClientRect().top >= 0];",
    );
    assert_eq!(fits, json!([true, true, true, true]));
    browser.js(
        "document.querySelector('.crumb-banner [data-a=reject]').scrollIntoView({block: 'nearest'})",
    );
    browser.click(".crumb-banner [data-a=reject]");
    let records = site.wait_for_records(1);
    assert_eq!(records[0]["method"], "reject_all");
}
#[test]
fn the_floating_button_never_covers_the_page_and_yields_to_the_pages_own_link() {
    // Arrange: a phone; the demo shop's footer has its own "Cookie
    // settings" link.
    let site = Site::start();
    let browser = Browser::new(500, 800);
    browser.phone_viewport(360, 640);
    open(&site, &browser, "/");

    // Act: a choice, with the page's own link there.
    browser.click(".crumb-banner [data-a=reject]");
    browser.wait("document.querySelector('.crumb-reopen')");

    // Assert: the floating button stays hidden; the footer link reopens.
    assert_eq!(
        browser.js("return getComputedStyle(document.querySelector('.crumb-reopen')).display"),
        json!("none")
    );

    // Arrange: the same page without its own link, on the next visit.
    browser.before_every_page(
        "addEventListener('DOMContentLoaded', () =>
           document.querySelectorAll('[data-crumb-open]').forEach((e) => e.remove()));",
    );

    // Act
    open(&site, &browser, "/");
    browser.wait("document.querySelector('.crumb-reopen')");
    browser.js("scrollTo(0, document.documentElement.scrollHeight)");

    // Assert: the button shows, bottom left, at least 24 px each way, and
    // scrolled to the end the footer's last line is above it, not under it.
    let layout = browser.js(
        "const b = document.querySelector('.crumb-reopen').getBoundingClientRect();
         const f = document.querySelector('footer').getBoundingClientRect();
         return {left: b.left > 0 && b.left < innerWidth / 2, big: b.width >= 24 && b.height >= 24,
                 clear: f.bottom <= b.top, visible: b.bottom <= innerHeight};",
    );
    assert_eq!(
        layout,
        json!({"left": true, "big": true, "clear": true, "visible": true})
    );
}

#[test]
fn the_banner_and_the_floating_button_stay_above_the_sites_own_layers() {
    // Arrange: a page with fixed layers of its own across the bottom of
    // the screen, as high as chat and promotion widgets put theirs
    // (Intercom's launcher 2147483003, Meta's chat plugin 2147483646).
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("for (const z of [2147483003, 2147483646]) {
           const layer = document.createElement('div');
           layer.style.cssText = `position:fixed;left:0;right:0;bottom:0;height:50%;z-index:${z}`;
           document.body.append(layer);
         }");
    let buttons_on_top = |css: &str| {
        browser.js(&format!(
            "return [...document.querySelectorAll('{css}')].map((b) => {{
               const r = b.getBoundingClientRect();
               return b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
             }})"
        ))
    };

    // Act and assert: the visitor can reach the banner's buttons, then
    // the floating button.
    assert_eq!(
        buttons_on_top(".crumb-banner button"),
        json!([true, true, true])
    );
    browser.click(".crumb-banner [data-a=reject]");
    browser.wait("document.querySelector('.crumb-reopen')");
    browser.js("document.querySelectorAll('[data-crumb-open]').forEach((e) => e.remove())");
    browser.wait("getComputedStyle(document.querySelector('.crumb-reopen')).display != 'none'");
    assert_eq!(buttons_on_top(".crumb-reopen"), json!([true]));
}

/// What real sites put on bare elements: Tailwind's preflight, Bootstrap's
/// reboot, a theme's headings, links and buttons, and the 62.5 % root font
/// size that makes 1rem 10px.
const SITE_CSS: &str = "html{font-size:62.5%}
*,::before,::after{box-sizing:border-box;border:0 solid;margin:0;padding:0}
h1,h2,h3{font-size:inherit;font-weight:inherit;line-height:1.1;letter-spacing:-.02em;text-transform:uppercase;font-family:Georgia,serif;color:#c00}
a{color:inherit;text-decoration:inherit}
button,input{font:inherit;color:inherit;background-color:transparent;background-image:none;border-radius:0;text-transform:uppercase;letter-spacing:.2em;box-shadow:0 0 0 4px #f0f;margin:8px;width:100%;line-height:3}
p{font-size:2.2rem;line-height:2;margin-bottom:3rem;color:#333}
div,section{padding:8rem 0}
label{display:inline-block;margin-bottom:.5rem}
dialog{border:4px solid red;padding:0}
summary{display:block;list-style:none}
table{width:100%;border-collapse:separate}
td,th{padding:2rem;border:3px solid red}";

/// Gives the open page a stylesheet of the site's with `css`, first in
/// `<head>` as on real sites (crumb.js appends Crumb's at the end). The
/// cascade goes by the sheets' order in the document, not by when each
/// came, so this is the page as if the sheet had always been there.
fn site_stylesheet_first(browser: &Browser, css: &str) {
    browser.js(&format!(
        "const s = document.createElement('style');
         s.textContent = {};
         document.head.prepend(s);",
        serde_json::to_string(css).unwrap()
    ));
}

/// Every element of what `root` selects, with its size and what a visitor
/// sees of its styles.
fn looks(browser: &Browser, root: &str) -> Vec<String> {
    let script = format!(
        "return [...document.querySelectorAll('{root}')].flatMap((r) => [r, ...r.querySelectorAll('*')])
           .map((e) => {{
             const s = getComputedStyle(e), b = e.getBoundingClientRect();
             return [e.tagName, e.className, Math.round(b.width), Math.round(b.height)].concat(
               ['font-size', 'font-weight', 'font-family', 'line-height', 'letter-spacing',
                'text-transform', 'text-decoration-line', 'color', 'background-color',
                'margin', 'padding', 'border-top', 'border-radius', 'box-shadow', 'display']
               .map((p) => s.getPropertyValue(p))).join(' | ');
           }});"
    );
    serde_json::from_value(browser.js(&script)).unwrap()
}

#[test]
fn the_banner_and_dialog_look_the_same_under_the_sites_own_element_styles() {
    // Arrange: how the banner and the dialog look on the demo shop.
    let site = Site::start();
    let (banner, dialog) = {
        // One browser at a time (see `Browser::new`).
        let plain = Browser::new(1280, 800);
        crate::open_dialog(&site, &plain);
        (
            looks(&plain, ".crumb-banner"),
            looks(&plain, ".crumb-modal"),
        )
    };
    let styled = Browser::new(1280, 800);

    // Act
    crate::open_dialog(&site, &styled);
    site_stylesheet_first(&styled, SITE_CSS);

    // Assert: the site's rules reach the page's own paragraphs (2.2rem of
    // a 10px root)...
    assert_eq!(
        styled.js("return getComputedStyle(document.querySelector('main p')).fontSize"),
        json!("22px")
    );
    // ...and not Crumb's: element by element, the same sizes and styles.
    let (banner_now, dialog_now) = (
        looks(&styled, ".crumb-banner"),
        looks(&styled, ".crumb-modal"),
    );
    assert_eq!(banner.len(), banner_now.len());
    assert_eq!(dialog.len(), dialog_now.len());
    let changed: Vec<_> = banner
        .iter()
        .zip(&banner_now)
        .chain(dialog.iter().zip(&dialog_now))
        .filter(|(before, after)| before != after)
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
}

#[test]
fn the_sites_theme_reaches_crumb_though_crumbs_stylesheet_comes_last() {
    // Arrange: the README's theming rules, in a stylesheet at the start of
    // <head> (crumb.js appends Crumb's own at the end).
    let site = Site::start();
    let browser = Browser::new(1280, 800);

    // Act
    open(&site, &browser, "/");
    site_stylesheet_first(
        &browser,
        "html .crumb{--crumb-accent:rgb(10, 108, 79)} html .crumb-reopen{left:auto;right:16px}",
    );

    // Assert: the accent is the site's, and so is the button's corner.
    let accent = browser.js(
        "return getComputedStyle(document.querySelector('.crumb-banner .crumb-btn')).backgroundColor",
    );
    assert_eq!(accent, json!("rgb(10, 108, 79)"));
    browser.click(".crumb-banner [data-a=reject]");
    browser.wait("document.querySelector('.crumb-reopen')");
    let corner = browser.js(
        "const s = getComputedStyle(document.querySelector('.crumb-reopen'));
         return [s.left, s.right];",
    );
    assert_eq!(corner, json!(["auto", "16px"]));
}

/// What the README gives sites whose video embeds sit in an aspect-ratio
/// wrapper that positions the iframe over its own padding.
const RATIO_PLACEHOLDER_RULE: &str = ".ratio>.crumb-ph,.embed-responsive>.crumb-ph,.wp-has-aspect-ratio .crumb-ph{position:absolute;inset:0;min-height:0}";

#[test]
fn in_an_aspect_ratio_wrapper_the_placeholder_fills_the_embeds_box_with_the_readmes_rule() {
    // Arrange: a video in Bootstrap 5's `.ratio` and one in WordPress's
    // embed block, with their own rules, 640 px wide (a 360 px high box),
    // with the README's rule for the site's stylesheet or without it.
    let site = Site::start();
    let page = |rule: &str| {
        site.page_elsewhere(format!(
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Videos</title><style>
               body{{width:640px}}
               .ratio{{position:relative;width:100%}}
               .ratio::before{{display:block;padding-top:var(--bs-aspect-ratio);content:''}}
               .ratio>*{{position:absolute;top:0;left:0;width:100%;height:100%}}
               .ratio-16x9{{--bs-aspect-ratio:56.25%}}
               .wp-block-embed{{margin:0}}
               .wp-block-embed__wrapper{{position:relative}}
               .wp-embed-aspect-16-9 .wp-block-embed__wrapper::before{{content:'';display:block;padding-top:56.25%}}
               .wp-has-aspect-ratio iframe{{position:absolute;top:0;right:0;bottom:0;left:0;height:100%;width:100%}}
               {rule}
             </style><script src=\"{}/crumb.js\" data-site=demo async></script></head><body>
             <div class='ratio ratio-16x9'><iframe data-src='data:text/html,video'
               data-category=marketing data-service=youtube></iframe></div>
             <figure class='wp-block-embed is-type-video wp-embed-aspect-16-9 wp-has-aspect-ratio'>
               <div class=wp-block-embed__wrapper><iframe data-src='data:text/html,video'
                 data-category=marketing data-service=youtube width=500 height=281></iframe></div></figure>
             </body></html>",
            site.base
        ))
    };
    let boxes = |origin: &str| {
        let browser = Browser::new(1280, 800);
        browser.goto(&format!("{origin}/"));
        browser.wait("document.querySelectorAll('.crumb-ph').length == 2");
        browser.settled();
        // Each wrapper's height, and its placeholder's box within it.
        browser.js(
            "return [...document.querySelectorAll('.crumb-ph')].map((ph) => {
               const w = ph.parentElement.getBoundingClientRect(), p = ph.getBoundingClientRect();
               return [w.height, p.top - w.top, p.width, p.height].map(Math.round);
             })",
        )
    };

    // Act
    let without = boxes(&page(""));
    let with = boxes(&page(RATIO_PLACEHOLDER_RULE));

    // Assert: without the rule, each placeholder (192 px high) hangs below
    // its wrapper's empty 360 px box, which grows by as much; with it, the
    // placeholder takes the video's box.
    let below = json!([552, 360, 640, 192]);
    assert_eq!(without, json!([below, below]));
    let over = json!([360, 0, 640, 360]);
    assert_eq!(with, json!([over, over]));
}

/// Breadcrumbs as many sites mark them up, with `class="crumb"`, put
/// first in the open page's `<main>`.
const BREADCRUMBS: &str = "document.querySelector('main').insertAdjacentHTML('afterbegin',
    '<ol class=crumbs><li class=crumb><a href=/>Home</a></li><li class=crumb>Mugs</li></ol>')";

#[test]
fn a_sites_own_crumb_class_keeps_the_sites_styles() {
    // Arrange: the site's breadcrumbs (`class="crumb"`, a common name for
    // them) and its stylesheet for them, on a page where Crumb runs.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    site_stylesheet_first(
        &browser,
        ".crumb{font:italic 20px/1 Georgia,serif;color:#c00;padding:4px 6px}
         .crumb a{color:#080;text-decoration:none}",
    );

    // Act
    browser.js(BREADCRUMBS);

    // Assert: Crumb's stylesheet, which comes after the site's, styles
    // Crumb's own elements only: the breadcrumbs look as the site says.
    let looks = browser.js(
        "const li = getComputedStyle(document.querySelector('li.crumb')),
               a = getComputedStyle(document.querySelector('li.crumb a'));
         return [li.fontStyle, li.fontSize, li.color, li.padding, a.color, a.textDecorationLine];",
    );
    assert_eq!(
        looks,
        json!([
            "italic",
            "20px",
            "rgb(204, 0, 0)",
            "4px 6px",
            "rgb(0, 136, 0)",
            "none"
        ])
    );
}

#[test]
fn a_printed_page_leaves_crumbs_banner_and_placeholders_out() {
    // Arrange: a first visit, the banner up and the YouTube embed behind
    // its placeholder; the site's breadcrumbs, of class `crumb`.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js(BREADCRUMBS);
    let displays = |b: &Browser| {
        b.js(
            "return ['.crumb-banner', '.crumb-ph', 'main', 'li.crumb'].map(
                (s) => getComputedStyle(document.querySelector(s)).display)",
        )
    };
    assert_eq!(
        displays(&browser),
        json!(["block", "flex", "block", "list-item"])
    );

    // Act: the visitor prints the page (or saves it as a PDF).
    browser.print_media();

    // Assert: the page's content is on paper, breadcrumbs included;
    // Crumb's boxes are not.
    assert_eq!(
        displays(&browser),
        json!(["none", "none", "block", "list-item"])
    );
}
