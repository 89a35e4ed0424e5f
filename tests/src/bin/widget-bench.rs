//! `cargo xtask bench widget`: Crumb against the consent tools a site owner
//! would pick instead, in headless Chromium, on identical pages served by
//! the same server from 127.0.0.1 (gzip -9, as served).
//!
//! Each tool gets one page: the four categories, one analytics script that
//! must stay inert until allowed. Per run (a fresh browser profile each):
//! first visit — bytes transferred and the time from navigation start to
//! the banner being fully visible (in the viewport, every ancestor at
//! opacity 1, so fade-ins and slide-ins count until they end); then
//! "accept all" and a second visit — the time until the allowed script
//! runs. The page with no consent tool is the baseline.
//!
//! The peers come from npm into `target/bench/widget/peers` (never
//! committed). Prints one table and writes `bench/results/widget.json`.
//! `BENCH_TRACE=<tool>` instead prints the resource timings of three
//! returning visits of that tool's page, to see where the time goes.
//! `BENCH_ONLY=crumb,cookieconsent BENCH_RUNS=30` measures only those tools
//! (and the page without one) and writes nothing, for quick comparisons
//! while working on one figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crumb_e2e::browser::Browser;
use crumb_schema::SiteConfig;
use crumb_server::clock::SystemClock;
use crumb_server::settings::Settings;
use crumb_server::startup::Application;
use crumb_server::storage::Database;
use serde_json::{Value, json};

/// The npm packages and versions measured.
const PEERS: &[&str] = &[
    "vanilla-cookieconsent@3.1.0",
    "klaro@0.7.22",
    "tarteaucitronjs@1.34.0",
    "cookieconsent@3.1.1",
];

struct Tool {
    name: &'static str,
    /// Markup for `<head>` and for the end of `<body>`.
    head: &'static str,
    body: &'static str,
    /// The banner element whose visibility is timed.
    banner: &'static str,
    /// The banner's "accept all" button.
    accept: &'static str,
    /// The tool asks by category (Crumb's byte budget is the smallest such
    /// peer's size; Osano's banner only allows or denies everything).
    categories: bool,
}

/// The script every page gates (or, without a tool, simply runs).
const ANALYTICS: &str = "window.__ran = performance.now();\n";

const TOOLS: &[Tool] = &[
    Tool {
        name: "none",
        head: "",
        body: r#"<script src="/analytics.js"></script>"#,
        banner: "",
        accept: "",
        categories: false,
    },
    Tool {
        name: "crumb",
        head: r#"<script src="/crumb.js" data-site="bench" async></script>"#,
        body: r#"<script type="text/plain" data-category="analytics" data-service="google-analytics" data-src="/analytics.js"></script>"#,
        banner: ".crumb-banner",
        accept: ".crumb-banner [data-a=accept]",
        categories: true,
    },
    Tool {
        name: "vanilla-cookieconsent",
        head: r#"<link rel="stylesheet" href="/peers/vanilla-cookieconsent/dist/cookieconsent.css">"#,
        body: r#"<script type="text/plain" data-category="analytics" data-src="/analytics.js"></script>
<script src="/peers/vanilla-cookieconsent/dist/cookieconsent.umd.js"></script>
<script>
CookieConsent.run({
  hideFromBots: false,
  categories: { necessary: { enabled: true, readOnly: true }, functional: {}, analytics: {}, marketing: {} },
  language: { default: 'en', translations: { en: {
    consentModal: { title: 'We value your privacy', description: 'We use cookies to make this site work. With your permission we also use them to understand how the site is used and to show relevant ads.',
      acceptAllBtn: 'Accept all', acceptNecessaryBtn: 'Reject all', showPreferencesBtn: 'Customize' },
    preferencesModal: { title: 'Cookie preferences', acceptAllBtn: 'Accept all', acceptNecessaryBtn: 'Reject all', savePreferencesBtn: 'Save choices', closeIconLabel: 'Close',
      sections: [
        { title: 'Strictly necessary', description: 'Needed for the site to work.', linkedCategory: 'necessary' },
        { title: 'Functional', description: 'Remember preferences such as language and region.', linkedCategory: 'functional' },
        { title: 'Analytics', description: 'Help us understand how visitors use the site.', linkedCategory: 'analytics' },
        { title: 'Marketing', description: 'Show relevant ads and measure campaigns.', linkedCategory: 'marketing' } ] } } } }
});
</script>"#,
        banner: "#cc-main .cm",
        accept: "#cc-main .cm [data-role=all]",
        categories: true,
    },
    Tool {
        name: "klaro",
        head: r#"<script>
var klaroConfig = {
  mustConsent: false, acceptAll: true, hideDeclineAll: false,
  translations: { en: { purposes: { functional: 'Functional', analytics: 'Analytics', marketing: 'Marketing' },
    stats: { description: 'Help us understand how visitors use the site.' } } },
  services: [
    { name: 'necessary', title: 'Strictly necessary', purposes: ['functional'], required: true },
    { name: 'prefs', title: 'Preferences', purposes: ['functional'] },
    { name: 'stats', title: 'Statistics', purposes: ['analytics'] },
    { name: 'ads', title: 'Ads', purposes: ['marketing'] } ]
};
</script>
<script defer src="/peers/klaro/dist/klaro.js"></script>"#,
        body: r#"<script type="text/plain" data-type="text/javascript" data-name="stats" data-src="/analytics.js"></script>"#,
        banner: ".klaro .cookie-notice",
        accept: ".klaro .cookie-notice .cm-btn-success",
        categories: true,
    },
    Tool {
        name: "tarteaucitron",
        head: r#"<script src="/peers/tarteaucitronjs/tarteaucitron.js"></script>
<script>
tarteaucitron.init({ privacyUrl: '', hashtag: '#tarteaucitron', cookieName: 'tarteaucitron', orientation: 'bottom',
  showAlertSmall: false, cookieslist: false, highPrivacy: true, AcceptAllCta: true, DenyAllCta: true,
  handleBrowserDNTRequest: false, removeCredit: true, moreInfoLink: false, useExternalCss: false, mandatory: true });
</script>"#,
        body: r#"<script>
tarteaucitron.services.stats = { key: 'stats', type: 'analytic', name: 'Statistics', uri: '', needConsent: true, cookies: [],
  js: function () { tarteaucitron.addScript('/analytics.js'); } };
tarteaucitron.services.prefs = { key: 'prefs', type: 'other', name: 'Preferences', uri: '', needConsent: true, cookies: [], js: function () {} };
tarteaucitron.services.ads = { key: 'ads', type: 'ads', name: 'Ads', uri: '', needConsent: true, cookies: [], js: function () {} };
(tarteaucitron.job = tarteaucitron.job || []).push('stats', 'prefs', 'ads');
</script>"#,
        banner: "#tarteaucitronAlertBig",
        accept: "#tarteaucitronPersonalize2",
        categories: true,
    },
    Tool {
        name: "cookieconsent (Osano)",
        head: r#"<link rel="stylesheet" href="/peers/cookieconsent/build/cookieconsent.min.css">"#,
        body: r#"<script src="/peers/cookieconsent/build/cookieconsent.min.js"></script>
<script>
function loadStats() { var s = document.createElement('script'); s.src = '/analytics.js'; document.body.appendChild(s); }
window.cookieconsent.initialise({
  type: 'opt-in', position: 'bottom',
  content: { message: 'We use cookies to make this site work. With your permission we also use them to understand how the site is used and to show relevant ads.',
    allow: 'Accept all', deny: 'Reject all', link: 'Cookie policy', href: '/' },
  onInitialise: function (status) { if (this.hasConsented()) loadStats(); },
  onStatusChange: function (status) { if (this.hasConsented()) loadStats(); }
});
</script>"#,
        banner: ".cc-window",
        accept: ".cc-window .cc-allow",
        categories: false,
    },
];

/// Runs first in every page: records `window.__banner` (ms since
/// navigation start) once the banner is fully visible. Checked after every
/// DOM change and on every animation frame, so instant banners are timed
/// exactly and animated ones when the animation ends.
const PROBE: &str = r#"<script>
(function () {
  var sel = "SELECTOR";
  if (!sel) return;
  function visible() {
    var e = document.querySelector(sel);
    if (!e) return false;
    var r = e.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || r.top < -1 || r.left < -1 ||
        r.bottom > innerHeight + 1 || r.right > innerWidth + 1) return false;
    for (var n = e; n && n.nodeType === 1; n = n.parentElement) {
      var s = getComputedStyle(n);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) < 1) return false;
    }
    return true;
  }
  function check() {
    if (window.__banner === undefined && visible()) window.__banner = performance.now();
    return window.__banner !== undefined;
  }
  new MutationObserver(check).observe(document, { childList: true, subtree: true, attributes: true });
  (function frame() { if (!check()) requestAnimationFrame(frame); })();
})();
</script>"#;

fn page(tool: &Tool) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Bench shop</title>\n{}\n{}\n</head>\n<body>\n\
         <main><h1>Bench shop</h1><p>Hand-made goods, shipped from the Netherlands.</p>\n\
         <p>Everything you see here is the same on every page of this benchmark; only the consent tool differs.</p></main>\n\
         {}\n</body></html>\n",
        PROBE.replace("SELECTOR", tool.banner),
        tool.head,
        tool.body
    )
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Installs the peers with npm (once) and returns their `node_modules`.
fn install_peers(dir: &Path) -> PathBuf {
    let modules = dir.join("node_modules");
    let marker = dir.join(".installed");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(&PEERS.join(" ")) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n").unwrap();
        eprintln!("$ npm install {}", PEERS.join(" "));
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(dir)
            .args(PEERS)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "npm install of the peer consent tools failed");
        std::fs::write(&marker, PEERS.join(" ")).unwrap();
    }
    modules
}

/// The bench's site config: the demo site cut down to what every page has
/// (English, the four categories, one analytics service).
fn bench_site(origin: &str) -> SiteConfig {
    fn english_only(v: &mut Value) {
        match v {
            Value::Object(map) => {
                let langs = ["en", "nl", "de", "fr"];
                if map.contains_key("en") && map.keys().all(|k| langs.contains(&k.as_str())) {
                    map.retain(|k, _| k == "en");
                }
                map.values_mut().for_each(english_only);
            }
            Value::Array(items) => items.iter_mut().for_each(english_only),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(workspace().join("examples/demo-site.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    english_only(&mut v);
    v["id"] = json!("bench");
    v["name"] = json!("Bench shop");
    v["policy_url"] = json!("/");
    v["languages"] = json!(["en"]);
    v["allowed_origins"] = json!([origin]);
    let services = v["services"].as_array_mut().unwrap();
    services.retain(|s| s["id"] == "google-analytics");
    serde_json::from_value(v).unwrap()
}

#[derive(Default, Clone)]
struct Sample {
    bytes: f64,
    banner_ms: Option<f64>,
    /// The "accept all" click to the next paint (ms).
    click_ms: Option<f64>,
    /// The longest Event Timing entry of that interaction (ms; the browser
    /// reports only entries of 16 ms or more, so 0 means shorter).
    click_event_ms: Option<f64>,
    first_run_ms: Option<f64>,
    return_run_ms: f64,
}

/// Installed just before the "accept all" click: `window.__click` becomes
/// the time from the click event to the first paint after it (a
/// requestAnimationFrame callback runs before that paint, a task queued
/// from it after), which is what INP measures for an interaction; and
/// `window.__click_event`, the longest Event Timing entry of the
/// interaction. Listens on `window` in the capture phase, so it hears the
/// click before any tool's own listener.
const CLICK_PROBE: &str = "
  window.__click_event = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.interactionId) window.__click_event = Math.max(window.__click_event, e.duration);
    }
  }).observe({ type: 'event', durationThreshold: 16 });
  window.addEventListener('click', (e) => {
    const t0 = e.timeStamp;
    requestAnimationFrame(() => setTimeout(() => { window.__click = performance.now() - t0; }));
  }, { capture: true, once: true });";

/// Encoded (gzip, as sent) bytes of everything the page loaded except the
/// gated script itself.
const BYTES: &str = "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\
    .filter(function (e) { return !/analytics\\.js$/.test(e.name); })\
    .reduce(function (n, e) { return n + e.encodedBodySize; }, 0);";

fn wait_for(browser: &Browser, expr: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = browser.js(&format!("return {expr};")).as_f64() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {expr} on {}",
            browser.js(
                "return location.href + ' ' + document.documentElement.outerHTML.slice(0, 400);"
            )
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_once(base: &str, tool: &Tool) -> Sample {
    let browser = Browser::new(1280, 800);
    let url = format!("{base}/{}.html", slug(tool.name));
    browser.goto(&url);
    let mut s = Sample::default();
    if tool.banner.is_empty() {
        s.first_run_ms = Some(wait_for(&browser, "window.__ran"));
    } else {
        s.banner_ms = Some(wait_for(&browser, "window.__banner"));
        // A visitor reads before clicking; meanwhile late requests (language
        // files, service lists) finish and are counted, and every tool is
        // fully initialised (tarteaucitron ignores earlier clicks).
        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            browser.js("return window.__ran === undefined;") == Value::Bool(true),
            "{}: the gated script ran before consent",
            tool.name
        );
    }
    s.bytes = browser.js(BYTES).as_f64().unwrap_or_default();
    if !tool.accept.is_empty() {
        // A real (trusted) click, as a visitor's: Event Timing and the
        // tools' own listeners see it as such.
        browser.js(CLICK_PROBE);
        browser.click(tool.accept);
        wait_for(&browser, "window.__ran");
        s.click_ms = Some(wait_for(&browser, "window.__click"));
        s.click_event_ms = browser.js("return window.__click_event").as_f64();
        // Let the choice be stored (Crumb records it on the server).
        std::thread::sleep(Duration::from_millis(300));
    }
    browser.goto(&url);
    s.return_run_ms = wait_for(&browser, "window.__ran");
    s
}

fn slug(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = match std::env::var("BENCH_RUNS") {
        Ok(n) => n.parse().expect("BENCH_RUNS is a number of runs"),
        Err(_) if smoke => 2,
        Err(_) => 15,
    };
    if smoke {
        println!(
            "smoke run: {runs} page loads per tool; the bytes are exact, the times rough \
             (`cargo xtask bench widget` takes the median of 15)"
        );
    }
    // The page without a tool is always measured: it is the baseline.
    let tools: Vec<&Tool> = TOOLS
        .iter()
        .filter(|t| {
            t.name == "none"
                || only
                    .as_deref()
                    .is_none_or(|o| o.split(',').any(|n| n == slug(t.name)))
        })
        .collect();
    let scratch = workspace().join("target/bench/widget");
    let modules = install_peers(&scratch.join("peers"));
    let site_dir = scratch.join("site");
    drop(std::fs::remove_dir_all(&site_dir));
    std::fs::create_dir_all(&site_dir).unwrap();
    std::fs::write(site_dir.join("analytics.js"), ANALYTICS).unwrap();
    std::fs::write(
        site_dir.join("index.html"),
        "<!doctype html><title>bench</title>\n",
    )
    .unwrap();
    let peers_dir = site_dir.join("peers");
    let linked = std::os::unix::fs::symlink(&modules, &peers_dir);
    linked.expect("linking the peers into the site folder");
    for tool in TOOLS {
        std::fs::write(
            site_dir.join(format!("{}.html", slug(tool.name))),
            page(tool),
        )
        .unwrap();
    }

    let db_dir = tempfile::TempDir::new().unwrap();
    let settings = Settings {
        port: 0,
        database: Database::Sqlite(db_dir.path().join("crumb.db")),
        static_dir: Some(site_dir.clone()),
        widget_dir: Some(workspace().join("widget/dist")),
        workers: Some(2),
        // Every run writes from 127.0.0.1.
        write_burst: 0,
        ..Settings::default()
    };
    let store = settings.database.open().unwrap();
    let server = Application::spawn(settings, Arc::new(SystemClock)).unwrap();
    let base = format!("http://127.0.0.1:{}", server.port());
    store
        .put_site(&bench_site(&base), time::OffsetDateTime::now_utc())
        .unwrap();

    if let Ok(name) = std::env::var("BENCH_TRACE") {
        let tool = TOOLS.iter().find(|t| slug(t.name) == name).unwrap();
        for _ in 0..3 {
            let browser = Browser::new(1280, 800);
            let url = format!("{base}/{}.html", slug(tool.name));
            browser.goto(&url);
            wait_for(&browser, "window.__banner");
            std::thread::sleep(Duration::from_millis(1000));
            browser.js(&format!(
                "document.querySelector('{}').click();",
                tool.accept
            ));
            std::thread::sleep(Duration::from_millis(500));
            browser.goto(&url);
            wait_for(&browser, "window.__ran");
            let t = browser.js("return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).map(e => e.name.split('/').pop().slice(0,24) + ' start ' + e.startTime.toFixed(1) + ' reqStart ' + e.requestStart.toFixed(1) + ' end ' + e.responseEnd.toFixed(1) + ' size ' + e.transferSize).join(' | ') + ' | ran ' + window.__ran + ' dcl ' + performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd");
            eprintln!("{}\n", t.as_str().unwrap());
        }
        return;
    }
    // One untimed pass warms Chromium's own caches and the server.
    for tool in &tools {
        run_once(&base, tool);
    }
    let mut results: Vec<(&Tool, Vec<Sample>)> = tools.iter().map(|t| (*t, Vec::new())).collect();
    for i in 0..runs {
        eprint!("\rrun {}/{runs}", i + 1);
        // Interleaved, so drift on the machine touches every tool alike.
        for (tool, samples) in &mut results {
            samples.push(run_once(&base, tool));
        }
    }
    eprintln!();

    let none_return = median(results[0].1.iter().map(|s| s.return_run_ms).collect());
    let none_bytes = median(results[0].1.iter().map(|s| s.bytes).collect());
    println!(
        "\n{:<24} {:>10} {:>16} {:>18} {:>8} {:>15}",
        "tool", "KB (gzip)", "banner ms (p50)", "returning ms (p50)", "vs none", "click ms (p50)"
    );
    let mut rows = Vec::new();
    for (tool, samples) in &results {
        // The tool's bytes: what its page loads beyond the bare page.
        let bytes = median(samples.iter().map(|s| s.bytes).collect()) - none_bytes;
        let banner = median(samples.iter().filter_map(|s| s.banner_ms).collect());
        let ret = median(samples.iter().map(|s| s.return_run_ms).collect());
        let first_run = median(samples.iter().filter_map(|s| s.first_run_ms).collect());
        let click = median(samples.iter().filter_map(|s| s.click_ms).collect());
        let click_text = if click.is_nan() {
            "-".to_owned()
        } else {
            format!("{click:.0}")
        };
        let banner_text = if banner.is_nan() {
            "-".to_owned()
        } else {
            format!("{banner:.0}")
        };
        println!(
            "{:<24} {:>10.1} {:>16} {:>18.0} {:>7.2}x {:>15}",
            tool.name,
            bytes / 1000.0,
            banner_text,
            ret,
            ret / none_return,
            click_text
        );
        rows.push(json!({
            "tool": tool.name,
            "bytes_gzip": bytes.round(),
            "banner_ms_p50": if banner.is_nan() { Value::Null } else { json!((banner * 10.0).round() / 10.0) },
            "returning_script_ms_p50": (ret * 10.0).round() / 10.0,
            "first_visit_script_ms_p50": if first_run.is_nan() { Value::Null } else { json!(first_run) },
            "returning_vs_none": (ret / none_return * 100.0).round() / 100.0,
            "banner_ms": samples.iter().filter_map(|s| s.banner_ms).collect::<Vec<_>>(),
            "returning_ms": samples.iter().map(|s| s.return_run_ms).collect::<Vec<_>>(),
            "click_ms_p50": if click.is_nan() { Value::Null } else { json!((click * 10.0).round() / 10.0) },
            "click_ms": samples.iter().filter_map(|s| s.click_ms).collect::<Vec<_>>(),
            "click_event_timing_ms": samples.iter().filter_map(|s| s.click_event_ms).collect::<Vec<_>>(),
        }));
    }
    let peer = |f: &dyn Fn(&Value) -> Option<f64>| {
        rows.iter()
            .filter(|r| r["tool"] != "none" && r["tool"] != "crumb")
            .filter_map(f)
            .fold(f64::INFINITY, f64::min)
    };
    let crumb = rows.iter().find(|r| r["tool"] == "crumb").unwrap().clone();
    let by_category = |r: &Value| TOOLS.iter().any(|t| r["tool"] == t.name && t.categories);
    let smallest_peer = peer(&|r| r["bytes_gzip"].as_f64().filter(|_| by_category(r)));
    let fastest_peer = peer(&|r| r["banner_ms_p50"].as_f64());
    let fastest_return = peer(&|r| r["returning_script_ms_p50"].as_f64());
    let crumb_bytes = crumb["bytes_gzip"].as_f64().unwrap_or(f64::NAN);
    let crumb_banner = crumb["banner_ms_p50"].as_f64().unwrap_or(f64::NAN);
    let crumb_return_ms = crumb["returning_script_ms_p50"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let crumb_return = crumb["returning_vs_none"].as_f64().unwrap_or(f64::NAN);
    let return_ok = crumb_return <= 1.2 && crumb_return_ms <= fastest_return;
    let crumb_click = crumb["click_ms_p50"].as_f64().unwrap_or(f64::NAN);
    let quickest_click = peer(&|r| r["click_ms_p50"].as_f64());
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "\nbytes: crumb {crumb_bytes:.0} vs smallest peer with categories {smallest_peer:.0} {}",
        verdict(crumb_bytes <= smallest_peer)
    );
    println!(
        "time to banner: crumb {crumb_banner:.0} ms vs fastest peer {fastest_peer:.0} ms {}",
        verdict(crumb_banner <= fastest_peer)
    );
    println!(
        "returning visitor: crumb {crumb_return_ms:.0} ms, {crumb_return:.2}x the page without a tool, vs fastest peer {fastest_return:.0} ms (budget 1.2x and the fastest peer) {}",
        verdict(return_ok)
    );
    let click_ok = crumb_click <= 16.0 && crumb_click <= quickest_click;
    println!(
        "accept-all click to paint: crumb {crumb_click:.1} ms vs quickest peer {quickest_click:.1} ms (budget 16 ms and the quickest peer) {}",
        verdict(click_ok)
    );
    let out = json!({
        "bench": "widget",
        "runs": runs,
        "peers": PEERS,
        "chromium": chromium_version(),
        "tools": rows,
        "budgets": {
            "bytes_le_smallest_peer_with_categories": crumb_bytes <= smallest_peer,
            "banner_le_fastest_peer": crumb_banner <= fastest_peer,
            "returning_le_1_2x_none_and_fastest_peer": return_ok,
            "click_le_16ms_and_quickest_peer": click_ok,
        },
    });
    if only.is_some() {
        // A partial table is not a result to keep.
        drop(server);
        return;
    }
    let dir = workspace().join("bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(if smoke {
        "widget-smoke.json"
    } else {
        "widget.json"
    });
    std::fs::write(&file, serde_json::to_string_pretty(&out).unwrap() + "\n").unwrap();
    println!("wrote {}", file.display());
    drop(server);
}

fn chromium_version() -> String {
    Command::new("/usr/bin/chromium")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
