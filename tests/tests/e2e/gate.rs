//! The gate on pages built the way single-page apps and tag managers build
//! them: gated scripts inserted with `appendChild`, `innerHTML` and
//! `insertAdjacentHTML` stay inert until allowed and then run, in document
//! order; a script marked for Crumb after insertion is looked at again;
//! switching off every service of a category switches the category off;
//! a page that swaps its whole `<body>` (Turbo Drive) keeps the banner and
//! the reopen button; a page with Crumb's tag twice gets one widget, and one
//! whose tag a tag manager adds once the page has loaded works as any; a
//! script's `data-type` (`module`) is the type it runs as; an external
//! script an app removes while it loads, or a `nomodule` one, holds up no
//! script after it; a stylesheet added from a gated script, as the README
//! says to gate one, waits for its choice; React 19, Turbo 8, Vue 3,
//! Svelte 5, Angular 22, Solid 1.9 and Preact 11, from npm, do to pages
//! what the README says they do, as do Alpine's morph (Livewire's) and
//! morphdom (Phoenix LiveView's); an image with a `srcset`, or in a `<picture>` with one, loads before
//! the gate can hold it, an iframe's `srcdoc` shows before any choice and
//! keeps it from loading, and what is gated inside a shadow root is never
//! released, as `crumb lint --page` says.

use crumb_e2e::{Browser, Site, never_answers, serve};
use serde_json::json;

use crate::{accepted, linted, open, open_dialog};

/// What the scripts [`INSERT`] adds push, in document order.
pub(crate) const EVERY_PATH: [&str; 5] = [
    "appendChild",
    "innerHTML 1",
    "innerHTML 2",
    "insertAdjacentHTML",
    "marked late",
];

/// Inserts gated analytics scripts by every path a page uses; each pushes
/// its name onto `window.__ran`.
pub(crate) const INSERT: &str = "
    window.__ran = [];
    const gated = (name) =>
      `<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push('${name}')</script>`;
    const s = document.createElement('script');
    s.type = 'text/plain';
    s.setAttribute('data-category', 'analytics');
    s.text = \"window.__ran.push('appendChild')\";
    document.body.appendChild(s);
    const div = document.createElement('div');
    div.innerHTML = gated('innerHTML 1') + gated('innerHTML 2');
    document.body.appendChild(div);
    document.body.insertAdjacentHTML('beforeend', gated('insertAdjacentHTML'));
    // Marked for Crumb only after insertion, as some tag managers do.
    const late = document.createElement('script');
    late.type = 'text/plain';
    late.text = \"window.__ran.push('marked late')\";
    document.body.appendChild(late);
    setTimeout(() => {
      late.setAttribute('data-category', 'analytics');
      window.__marked = true;
    }, 50);
";

#[test]
fn a_gated_tracking_pixel_stays_empty_without_a_placeholder_until_allowed() {
    // Arrange: a first visit; the page has a gated 1x1 tracking image (as
    // LinkedIn's and Meta's pixels come) beside its gated YouTube embed.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("document.body.insertAdjacentHTML('beforeend',
           '<img id=pixel width=1 height=1 alt=\"\" data-category=marketing ' +
           'data-src=\"https://www.facebook.com/tr?id=1&ev=PageView\">');");
    browser.wait("document.getElementById('pixel').hasAttribute('data-crumb')");
    browser.settled();

    // Assert: the embed has its placeholder; the pixel none that shows (a
    // box asking to allow marketing where the page meant nothing to be
    // seen), and it is not loaded.
    let visible = "return [...document.querySelectorAll('.crumb-ph')]
        .filter((p) => p.getBoundingClientRect().height > 0).length";
    assert_eq!(browser.js(visible), json!(1));
    assert_eq!(
        browser.js("return document.getElementById('pixel').getAttribute('src')"),
        json!(null)
    );

    // Act
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: allowed, it loads.
    browser.wait("document.getElementById('pixel').getAttribute('src')");
    assert_eq!(browser.js(visible), json!(0));
}

#[test]
fn scripts_inserted_every_way_run_once_allowed_in_document_order() {
    // Arrange: a first visit, the banner up; the page inserts its scripts.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js(INSERT);
    browser.wait("window.__marked");
    browser.settled();

    // Assert: nothing ran before consent.
    assert_eq!(browser.js("return window.__ran"), json!([]));

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ran.length >= 5");

    // Assert: each ran once, in document order.
    browser.settled();
    assert_eq!(browser.js("return window.__ran"), json!(EVERY_PATH));
}

#[test]
fn scripts_inserted_after_consent_run_however_they_came_in() {
    // Arrange: analytics already allowed.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    accepted(&site, &browser);

    // Act
    browser.js(INSERT);
    browser.wait("window.__ran.length >= 5");

    // Assert
    browser.settled();
    let ran = browser.js("return window.__ran.slice().sort()");
    assert_eq!(ran, json!(EVERY_PATH));
}

#[test]
fn an_external_script_marked_with_src_is_waited_for_like_data_src() {
    // Arrange: a first visit; the page gates an external library and the
    // inline script that uses it, the library with `src` (as Cookiebot's
    // markup has it; a `text/plain` script is never fetched) and with
    // Crumb's `data-src`.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("window.__ran = [];
         const lib = (attr, name) => '<script type=\"text/plain\" data-category=\"analytics\" ' +
           attr + '=\"data:text/javascript,window.__ran.push(%22' + name + '%22)\"></script>';
         const use = (name) => '<script type=\"text/plain\" data-category=\"analytics\">' +
           'window.__ran.push(\"' + name + '\")</script>';
         document.body.insertAdjacentHTML('beforeend',
           lib('src', 'src library') + use('uses src library') +
           lib('data-src', 'data-src library') + use('uses data-src library'));");
    browser.settled();
    assert_eq!(browser.js("return window.__ran"), json!([]));

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ran.length >= 4");

    // Assert: each library ran before the script that uses it.
    browser.settled();
    assert_eq!(
        browser.js("return window.__ran"),
        json!([
            "src library",
            "uses src library",
            "data-src library",
            "uses data-src library"
        ])
    );
}

#[test]
fn a_gated_script_the_page_waits_on_tells_it_when_it_has_loaded_or_failed() {
    // Arrange: a first visit; the page's code adds gated libraries the way
    // script loaders and Next.js's `<Script onLoad>` do, waiting on each
    // element's `load` and `error`: one through `onload`, one through a
    // listener (and a promise), one whose address fails, and one through
    // an `onload` attribute (which a copy would carry too).
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("window.__ran = []; window.__heard = [];
         const gated = (src) => {
           const s = document.createElement('script');
           s.type = 'text/plain';
           s.setAttribute('data-category', 'analytics');
           s.setAttribute('data-src', src);
           document.head.appendChild(s);
           return s;
         };
         gated('data:text/javascript,__ran.push(%22one%22)').onload =
           (e) => __heard.push(['one', e.type, e.target.getAttribute('data-crumb'), __ran.slice()]);
         const two = gated('data:text/javascript,__ran.push(%22two%22)');
         new Promise((ok) => two.addEventListener('load', ok)).then(() => __heard.push(['two']));
         gated('/no-such-library.js').onerror = (e) => __heard.push(['three', e.type]);
         gated('data:text/javascript,__ran.push(%22four%22)')
           .setAttribute('onload', \"__heard.push(['four'])\");");
    browser.settled();
    assert_eq!(browser.js("return window.__heard"), json!([]));

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__heard.length >= 4");

    // Assert: the page's own elements heard of their load, after the
    // library ran, and of the failure, each once; the copies that ran
    // have left.
    browser.settled();
    assert_eq!(
        browser.js("return window.__heard"),
        json!([
            ["one", "load", "run", ["one"]],
            ["two"],
            ["three", "error"],
            ["four"]
        ])
    );
    assert_eq!(
        browser.js("return document.querySelectorAll(
               'script[data-src^=\"data:\"], script[data-src=\"/no-such-library.js\"]').length"),
        json!(4)
    );
}

#[test]
fn a_script_an_app_removes_while_it_loads_holds_up_no_later_one() {
    // Arrange: a first visit; a single-page app's view holds a gated
    // external script whose host never answers (scripts after an external
    // one wait for its `load`).
    let hanging = never_answers();
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js(&format!(
        "window.__ran = [];
         document.body.insertAdjacentHTML('beforeend', '<div id=view>' +
           '<script type=\"text/plain\" data-category=\"analytics\" data-src=\"{hanging}/widget.js\"></script></div>');"
    ));
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("document.querySelector('#view script[src]')");

    // Act: the visitor moves on before it has loaded; the next view has a
    // gated script of its own.
    browser.js(
        "document.getElementById('view').remove();
         document.body.insertAdjacentHTML('beforeend', '<div id=next>' +
           '<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push(\"next view\")</script></div>');",
    );

    // Assert: the removed script's `load`, which reaches no one, is not
    // waited for.
    browser.wait("window.__ran.length > 0");
    assert_eq!(browser.js("return window.__ran"), json!(["next view"]));
}

#[test]
fn a_nomodule_script_is_neither_run_nor_waited_for() {
    // Arrange: a first visit; the page gates a module, its `nomodule`
    // fallback for old browsers (which never runs in one that runs Crumb,
    // and so never loads), then an inline script.
    let (_site, browser) = first_visit_with(
        "'<script type=\"text/plain\" data-category=\"analytics\" data-type=\"module\" ' +
           'data-src=\"data:text/javascript,window.__ran.push(%22module%22)\"></script>' +
         '<script type=\"text/plain\" data-category=\"analytics\" nomodule ' +
           'data-src=\"data:text/javascript,window.__ran.push(%22legacy%22)\"></script>' +
         '<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push(\"after\")</script>'",
    );

    // Act
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: the script after the fallback runs; the fallback does not.
    browser.wait("window.__ran.includes('after')");
    browser.settled();
    assert_eq!(
        browser.js("return window.__ran"),
        json!(["module", "after"])
    );
}

#[test]
fn a_released_script_that_waits_for_the_pages_load_starts_with_the_readmes_check() {
    // Arrange: a first visit; two gated snippets wait for the page's
    // `load`, one as the README has it (looking first whether it has
    // come), one not.
    let (_site, browser) = first_visit_with(
        "'<script type=\"text/plain\" data-category=\"analytics\">' +
           'addEventListener(\"load\", () => window.__ran.push(\"waits\"))</script>' +
         '<script type=\"text/plain\" data-category=\"analytics\">' +
           'function start() { window.__ran.push(\"looks first\") }' +
           'if (document.readyState == \"complete\") start(); else addEventListener(\"load\", start);</script>'",
    );

    // Act: the choice comes after the page's `load`.
    browser.wait("document.readyState == 'complete'");
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: only the one that looks first starts.
    browser.wait("window.__ran.length > 0");
    browser.settled();
    assert_eq!(browser.js("return window.__ran"), json!(["looks first"]));
}

/// A first visit to the shop, the banner up, with `markup` (a JavaScript
/// expression giving HTML) added at the end of its body; the gated scripts
/// in it note that they ran on `window.__ran`, empty to begin with.
fn first_visit_with(markup: &str) -> (Site, Browser) {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js(&format!(
        "window.__ran = []; document.body.insertAdjacentHTML('beforeend', {markup});"
    ));
    (site, browser)
}

#[test]
fn what_a_released_script_writes_with_document_write_goes_in_where_it_stands() {
    // Arrange: a first visit; old-style tags in a slot of the page: an
    // inline one writes a pixel and then a script, an external one a
    // paragraph (HTML's own `document.write` would replace the whole page
    // from the first, and ignore the second).
    let (_site, browser) = first_visit_with(
        r#"'<div id="slot"><script type="text/plain" data-category="analytics">' +
             'document.write("<img id=pixel>"); ' +
             'document.writeln("<script>window.__ran.push(`written`)</scr" + "ipt>");</script>' +
           '<script type="text/plain" data-category="analytics" ' +
             'data-src="data:text/javascript,document.write(%22<p id=ext>ext</p>%22)"></script></div>'"#,
    );

    // Act
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: the page is still there, with what each wrote in the slot,
    // where the script stands, and the written script has run.
    browser.wait("document.querySelector('#slot #ext')");
    browser.settled();
    assert_eq!(
        browser.js(
            "return [window.__ran, [...document.querySelector('#slot').children].map((e) => e.id || e.tagName),
                     document.querySelector('.crumb-reopen') != null, document.title]"
        ),
        json!([
            ["written"],
            // The inline tag's pixel and script, its inert original, the
            // external tag's paragraph and its original (its copy has left
            // once loaded).
            ["pixel", "SCRIPT", "SCRIPT", "ext", "SCRIPT"],
            true,
            "Crumb demo shop"
        ])
    );
}

#[test]
fn a_pages_own_document_write_still_writes_where_the_parser_stands() {
    // Arrange: a page that loads crumb.js synchronously in its head, so
    // Crumb is up before the body's own `document.write` runs.
    let site = Site::start();
    let html = format!(
        "<!doctype html><html lang=en><head><title>Old page</title>\
         <script src=\"{}/crumb.js\" data-site=\"demo\"></script></head>\
         <body><p id=before>before</p><script>document.write('<p id=own>own</p>')</script>\
         <p id=after>after</p></body></html>",
        site.base
    );
    let origin = site.page_elsewhere(html);
    let browser = Browser::new(1280, 800);

    // Act
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");

    // Assert: the paragraph went in where the parser stood, and the page
    // was written through Crumb's `document.write`.
    assert_eq!(
        browser.js(
            "return [document.querySelector('#before + script + #own + #after') != null,
                     Object.hasOwn(document, 'write')]"
        ),
        json!([true, true])
    );
}

#[test]
fn a_script_with_data_type_runs_as_that_type_once_allowed() {
    // Arrange: a first visit; the page has a gated module (marked the way
    // vanilla-cookieconsent and Klaro mark one) and a gated classic script.
    let (_site, browser) = first_visit_with(
        "'<script type=\"text/plain\" data-category=\"analytics\" data-type=\"module\">' +
         'window.__ran.push(typeof import.meta)</script>' +
         '<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push(\"classic\")</script>'",
    );
    browser.settled();
    assert_eq!(browser.js("return window.__ran"), json!([]));

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ran.length >= 2");

    // Assert: `import.meta` exists only in a module; the other is classic.
    let ran = browser.js("return window.__ran.slice().sort()");
    assert_eq!(ran, json!(["classic", "object"]));
}

/// Inserts an inert script that Crumb does not gate yet (no
/// `data-category`), kept as `window.__late`; it pushes onto `window.__ran`.
const INERT: &str = "
    window.__ran = [];
    const late = document.createElement('script');
    late.type = 'text/plain';
    late.text = \"window.__ran.push('marked late')\";
    document.body.appendChild(late);
    window.__late = late;";

#[test]
fn a_script_marked_for_crumb_after_insertion_is_gated_and_then_runs() {
    // Arrange: a first visit; the page inserts an inert script and marks
    // it for Crumb afterwards, as some tag managers do.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js(&format!(
        "{INERT} setTimeout(() => window.__late.setAttribute('data-category', 'analytics'), 50);"
    ));
    browser.wait("window.__late.dataset.category");
    browser.settled();
    assert_eq!(browser.js("return window.__ran"), json!([]));

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ran.length > 0");

    // Assert: it ran, once.
    browser.settled();
    assert_eq!(browser.js("return window.__ran"), json!(["marked late"]));
}

#[test]
fn a_script_marked_late_runs_at_once_when_already_allowed() {
    // Arrange: analytics allowed; nothing else changes on the page.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    accepted(&site, &browser);
    browser.js(INERT);
    browser.settled();

    // Act: only an attribute changes (no element is added).
    browser.js("window.__late.setAttribute('data-category', 'analytics')");

    // Assert
    browser.wait("window.__ran.length > 0");
    assert_eq!(browser.js("return window.__ran"), json!(["marked late"]));
}

#[test]
fn switching_off_every_service_switches_the_category_off() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open_dialog(&site, &browser);
    browser.click("input[data-cat=analytics]");
    let checked =
        |css: &str| browser.js(&format!("return document.querySelector('{css}').checked"));
    assert_eq!(checked("input[data-cat=analytics]"), json!(true));

    // Act: every analytics service off, one by one.
    let services = browser.js(
        "return [...document.querySelectorAll('input[data-cat=analytics]')[0]
            .closest('section').querySelectorAll('input[data-svc]')].map(i => i.dataset.svc)",
    );
    for id in services.as_array().unwrap() {
        browser.click(&format!("input[data-svc={}]", id.as_str().unwrap()));
    }

    // Assert: the category is off, and so it is recorded.
    assert_eq!(checked("input[data-cat=analytics]"), json!(false));
    browser.click("dialog [data-a=save]");
    let record = &site.wait_for_records(1)[0];
    assert_eq!(record["method"], "custom");
    assert_eq!(
        record["categories_granted"],
        json!(["necessary"]),
        "{record}"
    );
}

#[test]
fn released_scripts_run_after_the_clicks_paint_not_inside_it() {
    // Arrange: a gated script that notes whether the "accept all" click's
    // task is still running when it runs, and whether the frame after the
    // click (the one that paints the page without the banner) has been
    // painted: a task queued from that frame's callbacks runs after its
    // paint, and before any task queued later.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("window.addEventListener('click', () => {
           window.__inClick = true;
           window.__framed = false;
           setTimeout(() => { window.__inClick = false; });
           requestAnimationFrame(() => setTimeout(() => { window.__framed = true; }));
         }, true);
         const s = document.createElement('script');
         s.type = 'text/plain';
         s.setAttribute('data-category', 'analytics');
         s.text = 'window.__ranInClick = window.__inClick; window.__ranAfterFrame = window.__framed;';
         document.body.appendChild(s);");

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ranInClick !== undefined");

    // Assert: the banner went in the click; the script ran after it, and
    // after the paint of the page without the banner.
    assert_eq!(browser.js("return window.__ranAfterFrame"), json!(true));
    assert_eq!(browser.js("return window.__ranInClick"), json!(false));
}

/// Swaps the page's `<body>` for a new one, as Turbo Drive (Rails) does on
/// every visit, with a gated analytics script in it.
const SWAP_BODY: &str = "
    window.__ran = [];
    const body = document.createElement('body');
    body.innerHTML = '<main><h1>Next page</h1></main>' +
      '<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push(\"swapped\")</script>';
    document.body.replaceWith(body);
";

/// A first visit whose page changes by `change` (a script that puts the
/// page's gated analytics script, pushing `tag` to `window.__ran`, on the
/// new page) while the banner is up: the banner stays, styled, and still
/// works, and the new page's gated script waits for it.
fn keeps_the_banner_until_a_choice(change: &str, tag: &str) {
    // Arrange: a first visit, the banner up.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");

    // Act: the page changes.
    browser.js(change);
    browser.settled();

    // Assert
    let banner =
        browser.js("return getComputedStyle(document.querySelector('.crumb-banner')).position");
    assert_eq!(banner, json!("fixed"));
    assert_eq!(browser.js("return window.__ran"), json!([]));
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ran.length == 1");
    assert_eq!(browser.js("return window.__ran"), json!([tag]));
}

/// A visit whose page changes by `change` after a choice, with the
/// floating button up (the new page has no "Cookie settings" link of its
/// own, so the button is what the visitor has): the visitor can still
/// change their mind, and the refused script stays inert.
fn keeps_the_reopen_button(change: &str) {
    // Arrange: a choice made, the floating button up.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.click(".crumb-banner [data-a=reject]");
    browser.wait("document.querySelector('.crumb-reopen')");

    // Act: the page changes.
    browser.js(change);
    browser.settled();

    // Assert: the button is still there and opens the preferences.
    browser.click(".crumb-reopen");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    assert_eq!(browser.js("return window.__ran"), json!([]));
}

#[test]
fn a_page_that_swaps_its_body_keeps_the_banner_until_a_choice() {
    keeps_the_banner_until_a_choice(SWAP_BODY, "swapped");
}

#[test]
fn a_page_that_swaps_its_body_keeps_the_reopen_button() {
    keeps_the_reopen_button(SWAP_BODY);
}

/// Puts back the copy of the body kept in `window.__kept`, the way Turbo
/// Drive renders a page from its cache on "back": every script in it made
/// live again, a new element with the same attributes and text.
const PUT_BACK_KEPT_BODY: &str = "
    const body = window.__kept.cloneNode(true);
    for (const old of body.querySelectorAll('script')) {
      const live = document.createElement('script');
      for (const { name, value } of old.attributes) live.setAttribute(name, value);
      live.textContent = old.textContent;
      old.replaceWith(live);
    }
    document.body.replaceWith(body);
";

#[test]
fn a_page_put_back_from_a_cache_runs_and_loads_nothing_against_a_later_choice() {
    // Arrange: a gated script released and a gated embed loaded by
    // "accept all"; the page keeps a copy of its body, as Turbo does when
    // the visitor moves on.
    let (site, browser) = first_visit_with(
        "'<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push(\"released\")</script>' +
         '<iframe id=\"kept\" data-category=\"analytics\" data-src=\"/nl.html\"></iframe>'",
    );
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__ran.length == 1");
    let embed = "document.getElementById('kept')";
    browser.wait(&format!(
        "{embed}.contentWindow.location.href.endsWith('/nl.html')"
    ));
    browser.js("window.__kept = document.body.cloneNode(true);");

    // Act: the visitor switches analytics off, then goes "back" to the
    // page as it was kept.
    browser.click("footer [data-crumb-open]");
    browser.wait("document.querySelector('input[data-cat=analytics]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");
    site.wait_for_records(2);
    browser.js(PUT_BACK_KEPT_BODY);
    browser.settled();

    // Assert: the script ran once, when it was allowed, and the kept
    // embed, put back loaded, is unloaded again.
    assert_eq!(browser.js("return window.__ran"), json!(["released"]));
    assert_eq!(
        browser.js(&format!(
            "return [{embed}.getAttribute('src'), {embed}.contentWindow.location.href]"
        )),
        json!(["", "about:blank"])
    );
}

/// Moves to the cookie policy page the way Astro's view transitions (and
/// Swup's or Barba's head plugins) do: the next page is fetched and
/// parsed, the current `<head>` keeps only what the next one also has (a
/// stylesheet by its `href`) and gains the rest, and the body is replaced.
/// `window.__swapped` is set when done.
const SWAP_HEAD_AND_BODY: &str = "
    fetch('/cookie-policy.html').then((r) => r.text()).then((html) => {
      const next = new DOMParser().parseFromString(html, 'text/html');
      for (const el of Array.from(document.head.children)) {
        const same = el.matches('link[rel=stylesheet]')
          && next.head.querySelector('link[rel=stylesheet][href=\"' + el.getAttribute('href') + '\"]');
        if (same) same.remove(); else el.remove();
      }
      document.head.append(...next.head.children);
      document.body.replaceWith(document.adoptNode(next.body));
      window.__swapped = true;
    });
";

#[test]
fn a_page_that_swaps_its_head_keeps_crumb_styled() {
    // Arrange: a first visit, the banner up.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");

    // Act: the page moves on, its head merged with the next page's.
    browser.js(SWAP_HEAD_AND_BODY);
    browser.wait("window.__swapped === true");
    browser.settled();
    let banner =
        browser.js("return getComputedStyle(document.querySelector('.crumb-banner')).position");
    browser.click(".crumb-banner [data-a=reject]");
    browser.wait("document.querySelector('.crumb-reopen')");
    let button =
        browser.js("return getComputedStyle(document.querySelector('.crumb-reopen')).position");

    // Assert: Crumb's stylesheet is still in force: the banner, then the
    // floating button, stay fixed to the viewport, not laid out as plain
    // elements below the page.
    assert_eq!(banner, json!("fixed"));
    assert_eq!(button, json!("fixed"));
}

/// Renders the whole document afresh the way React 18 does when it
/// hydrates a whole document (`hydrateRoot(document, ...)`, as Remix does)
/// and finds nodes it did not render there, Crumb's among them: it removes
/// `<html>` and puts a new one in its place, built from its own elements.
/// The new body has the page's gated script again.
const RENDER_DOCUMENT_AFRESH_18: &str = "
    window.__ran = [];
    const html = document.createElement('html');
    html.lang = 'en';
    html.innerHTML = '<head><title>Shop</title></head><body><main><h1>Shop</h1>' +
      '<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push(\"afresh\")</script>' +
      '</main></body>';
    document.documentElement.remove();
    document.append(html);
";

/// The same with React 19 (Next.js's app router hydrates a whole document
/// too), after a hydration mismatch: it keeps `<html>`, `<head>` and
/// `<body>`, empties them of everything but scripts and stylesheets
/// (Crumb's banner and button go with the rest), and renders into them.
const RENDER_DOCUMENT_AFRESH_19: &str = "
    window.__ran = [];
    for (const n of [...document.documentElement.childNodes]) {
      if (n != document.head && n != document.body) n.remove();
    }
    for (const n of [...document.body.childNodes]) {
      if (n.nodeName != 'SCRIPT') n.remove();
    }
    document.body.insertAdjacentHTML('afterbegin', '<main><h1>Shop</h1>' +
      '<script type=\"text/plain\" data-category=\"analytics\">window.__ran.push(\"afresh\")</script>' +
      '</main>');
";

/// A shop as a React 19 app that renders the whole document (as Next.js's
/// app router and React Router 7 do), with a gated inline and a gated
/// external script in its elements and a counter button. `CRUMB` is
/// Crumb's origin; the client script hydrates when the test calls
/// `window.__hydrate()`, so a test chooses whether that comes before or
/// after Crumb releases the scripts.
const REACT_APP: &str = "
    import * as React from 'react';
    const h = React.createElement;
    export function App() {
      const [count, setCount] = React.useState(0);
      return h('html', { lang: 'en' },
        h('head', null,
          h('meta', { charSet: 'utf-8' }),
          h('title', null, 'Shop'),
          h('script', { src: CRUMB + '/crumb.js', 'data-site': 'demo' })),
        h('body', null,
          h('main', null,
            h('h1', null, 'Shop'),
            h('button', { id: 'count', onClick: () => setCount(count + 1) }, 'count ' + count),
            h('script', { type: 'text/plain', 'data-category': 'analytics',
              dangerouslySetInnerHTML: { __html: 'window.__ran = (window.__ran || 0) + 1' } }),
            h('script', { type: 'text/plain', 'data-category': 'analytics',
              'data-src': 'data:text/javascript,window.__external=(window.__external||0)+1' })),
          h('script', { src: '/app.js' })));
    }
";

/// Serves [`REACT_APP`] rendered on the server by React (`renderToString`)
/// with its client script, on an origin of its own that the demo site
/// allows; returns the page's address.
fn react_page(site: &Site) -> String {
    let app = format!("const CRUMB = {:?};\n{REACT_APP}", site.base);
    let (html, client) = rendered_with_client(
        &format!(
            "{app}
             import {{ renderToString }} from 'react-dom/server';
             process.stdout.write('<!DOCTYPE html>' + renderToString(h(App)));"
        ),
        &format!(
            "{app}
             import {{ hydrateRoot }} from 'react-dom/client';
             window.__hydrate = () => hydrateRoot(document, h(App), {{
               onRecoverableError: (e) => (window.__mismatch = window.__mismatch || []).push(String(e)),
             }});"
        ),
    );
    serve_app(site, html, client)
}

/// An app's server-rendered HTML and its client script: `server` (source
/// that prints the HTML) bundled for node and run, `client` bundled for
/// the browser.
fn rendered_with_client(server: &str, client: &str) -> (String, String) {
    let html = crumb_e2e::npm::node(&crumb_e2e::npm::bundle(server, "node"));
    (html, crumb_e2e::npm::bundle(client, "browser"))
}

/// Serves a server-rendered page (`html`, at `/`) and its client script
/// (`client`, at `/app.js`) on an origin of their own that the demo site
/// allows; returns the page's address.
fn serve_app(site: &Site, html: String, client: String) -> String {
    let origin = serve(
        vec![
            ("/", "text/html; charset=utf-8", html),
            ("/app.js", "text/javascript", client),
        ],
        "",
    );
    site.allow_origin(&origin);
    format!("{origin}/")
}

/// Serves an app's server-rendered HTML (`app`) in a page of its own, in
/// `<div id=app>` as Vue and Svelte mount it, with Crumb's tag and the
/// client script (see [`serve_app`]); returns the page's address.
fn serve_mounted_app(site: &Site, app: &str, client: String) -> String {
    let html = format!(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Shop</title>\
         <script src=\"{}/crumb.js\" data-site=demo async></script></head>\
         <body><div id=app>{app}</div><script src=/app.js></script></body></html>",
        site.base,
    );
    serve_app(site, html, client)
}

#[test]
fn a_react_19_page_hydrated_after_a_release_runs_its_gated_scripts_once() {
    // Arrange: React 19 from npm, as it ships; the page is rendered on the
    // server, and the visitor accepts before React hydrates it (on a real
    // site, while its bundle is still on the way).
    let site = Site::start();
    let page = react_page(&site);
    let browser = Browser::new(1280, 800);
    let release_then_hydrate = |browser: &Browser| {
        browser.wait("window.__ran === 1 && window.__external === 1");
        browser.js("window.__hydrate()");
        browser.click("#count");
        browser.wait("document.querySelector('#count').textContent == 'count 1'");
        browser.settled();
        browser.js("return [window.__ran, window.__external, window.__mismatch || []]")
    };

    // Act and assert: on the first visit and on the next, after the
    // server's check, each script Crumb released ran once (the external
    // one has loaded). What Crumb adds around them gives React no cause to
    // render the page afresh (which would build, and run, the scripts
    // again), and the app works.
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.click(".crumb-banner [data-a=accept]");
    assert_eq!(release_then_hydrate(&browser), json!([1, 1, []]));
    site.wait_for_records(1);
    browser.goto(&page);
    assert_eq!(release_then_hydrate(&browser), json!([1, 1, []]));
    assert!(
        browser
            .js("return !!document.querySelector('.crumb-reopen')")
            .as_bool()
            .unwrap()
    );
}

/// A shop as a Vue 3 app rendered on the server (as Nuxt does), with a
/// gated YouTube-style embed, then a gated inline and a gated external
/// script, and a counter. With `CLIENT_ONLY` the embed is rendered only
/// once the app is mounted (Nuxt's `<ClientOnly>`), as the README advises.
const VUE_APP: &str = "
    import { createSSRApp, h, ref, onMounted } from 'vue';
    const App = { setup() {
      const count = ref(0), mounted = ref(false);
      onMounted(() => (mounted.value = true));
      return () => h('main', [
        h('button', { id: 'count', onClick: () => count.value++ }, 'count ' + count.value),
        (mounted.value || !CLIENT_ONLY) && h('iframe', { 'data-src': 'data:text/html,video',
          'data-category': 'marketing', 'data-service': 'youtube' }),
        h('script', { type: 'text/plain', 'data-category': 'analytics',
          innerHTML: 'window.__inline = (window.__inline || 0) + 1' }),
        h('script', { type: 'text/plain', 'data-category': 'analytics',
          'data-src': 'data:text/javascript,window.__external=(window.__external||0)+1' }),
      ]);
    } };
";

/// Serves [`VUE_APP`] rendered by Vue's server renderer, with its client
/// script (which hydrates when the test calls `window.__hydrate()`); returns
/// the page's address.
fn vue_page(site: &Site, client_only: bool) -> String {
    let app = format!("const CLIENT_ONLY = {client_only};\n{VUE_APP}");
    let (html, client) = rendered_with_client(
        &format!(
            "{app}
             import {{ renderToString }} from 'vue/server-renderer';
             renderToString(createSSRApp(App)).then((html) => process.stdout.write(html));"
        ),
        &format!("{app} window.__hydrate = () => createSSRApp(App).mount('#app');"),
    );
    serve_mounted_app(site, &html, client)
}

/// A browser on the first visit to an app's server-rendered `page`: once
/// Crumb has shown the banner (and put its placeholders), the app hydrates,
/// and its counter button works.
fn hydrated_on_a_first_visit(page: &str) -> Browser {
    let browser = Browser::new(1280, 800);
    browser.goto(page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.settled();
    browser.js("window.__hydrate()");
    browser.click("#count");
    browser.wait("document.querySelector('#count').textContent == 'count 1'");
    browser
}

#[test]
fn a_vue_page_hydrated_around_a_placeholder_swaps_its_gated_scripts_unless_the_embed_is_client_only()
 {
    // Arrange: Vue 3.5 from npm, as it ships; a first visit, where Crumb
    // puts a placeholder before the blocked embed, then Vue hydrates (on a
    // real site, as its bundle arrives) and the visitor accepts.
    let runs = |client_only: bool| {
        let site = Site::start();
        let page = vue_page(&site, client_only);
        let browser = hydrated_on_a_first_visit(&page);

        // Act: the visitor accepts; then a returning visit, where the
        // server's answer releases both scripts, and the external one
        // loads, before Vue hydrates.
        browser.click(".crumb-banner [data-a=accept]");
        browser.wait("window.__inline && document.querySelector('iframe[src]')");
        browser.settled();
        let first = browser.js("return [window.__inline, window.__external || 0]");
        browser.goto(&page);
        browser.wait("window.__inline && window.__external");
        browser.settled();
        browser.js("window.__hydrate()");
        browser.click("#count");
        browser.wait("document.querySelector('#count').textContent == 'count 1'");
        browser.settled();
        (
            first,
            browser.js("return [window.__inline, window.__external]"),
        )
    };

    // Assert: what the README's page-change table says. Server-rendered,
    // the embed's placeholder is a mismatch, and Vue's recovery takes the
    // inline script's element for the external one: the inline script
    // runs twice, the external one not at all. Rendered on the client
    // only, each runs once. On the return, with the embed allowed and the
    // released copies gone, Vue keeps the page and each runs once, either
    // way.
    assert_eq!(runs(false), (json!([2, 0]), json!([1, 1])));
    assert_eq!(runs(true), (json!([1, 1]), json!([1, 1])));
}

#[test]
fn a_page_rendered_afresh_as_a_whole_document_keeps_the_banner_styled() {
    keeps_the_banner_until_a_choice(RENDER_DOCUMENT_AFRESH_18, "afresh");
    keeps_the_banner_until_a_choice(RENDER_DOCUMENT_AFRESH_19, "afresh");
}

#[test]
fn a_page_rendered_afresh_as_a_whole_document_keeps_the_reopen_button() {
    keeps_the_reopen_button(RENDER_DOCUMENT_AFRESH_18);
    keeps_the_reopen_button(RENDER_DOCUMENT_AFRESH_19);
}

/// What the README gives pages that refresh with Turbo 8's morphing: the
/// morph leaves alone what Crumb added to what it released.
const TURBO_KEEPS_CRUMBS_MARKS: &str = "
    addEventListener('turbo:before-morph-attribute', (e) => {
      if (e.target.dataset.crumb == 'run' && e.detail.mutationType == 'remove') e.preventDefault();
    });
";

#[test]
fn a_turbo_morphing_refresh_reruns_and_reloads_nothing_with_the_readmes_listener() {
    // Arrange: Turbo 8 from npm, as it ships, on pages that refresh by
    // morphing; a gated script and a plain one count their runs, and a
    // gated embed loads on "accept all". "/" has the README's listener,
    // "/bare" has not.
    let site = Site::start();
    let page = |extra: &str| {
        format!(
            "<!doctype html><html lang=en><head><title>Turbo</title>\
             <meta name=\"turbo-refresh-method\" content=\"morph\">\
             <script src=\"/turbo.js\"></script>\
             <script src=\"{}/crumb.js\" data-site=\"demo\"></script>\
             <script>{extra}</script></head><body><main><h1>Shop</h1>\
             <script type=\"text/plain\" data-category=\"analytics\">window.__ran = (window.__ran || 0) + 1</script>\
             <script>window.__plain = (window.__plain || 0) + 1</script>\
             <iframe title=\"Video\" data-category=\"marketing\" data-service=\"youtube\" data-src=\"/video\"></iframe>\
             </main></body></html>",
            site.base
        )
    };
    let html = "text/html; charset=utf-8";
    let origin = serve(
        vec![
            ("/", html, page(TURBO_KEEPS_CRUMBS_MARKS)),
            ("/bare", html, page("")),
            (
                "/turbo.js",
                "text/javascript",
                crumb_e2e::npm::file("@hotwired/turbo/dist/turbo.es2017-umd.js"),
            ),
            ("/video", html, "<p>A video</p>".into()),
        ],
        "",
    );
    site.allow_origin(&origin);
    let refresh = |path: &str| {
        let browser = Browser::new(1280, 800);
        browser.goto(&format!("{origin}{path}"));
        browser.wait("document.querySelector('.crumb-banner')");
        browser.click(".crumb-banner [data-a=accept]");
        browser.wait("window.__ran === 1");
        let video = "document.querySelector('iframe').contentWindow";
        browser.wait(&format!("{video}.location.pathname == '/video'"));
        browser.js(&format!(
            "{video}.__kept = true;
             document.addEventListener('turbo:morph', () => window.__morphed = true);"
        ));

        // Act: the same address again, which Turbo morphs into place.
        browser.js("Turbo.visit(location.href, { action: 'replace' })");
        browser.wait("window.__morphed === true");
        browser.settled();
        browser.js(&format!(
            "return [window.__plain, window.__ran, {video}.__kept === true]"
        ))
    };

    // Assert: with the listener, the gated script ran once, as the plain
    // one did, and the embed was not reloaded; without it (the README
    // says so) the script runs again and the embed reloads.
    assert_eq!(refresh("/"), json!([1, 1, true]));
    assert_eq!(refresh("/bare"), json!([1, 2, false]));
}

/// The morphs that make a component match the server's next render of it,
/// as pages load them (the page's path, what its head loads, and what
/// says it has loaded): each page's `__morph(el, html, keep)` morphs `el`
/// into `html`, `keep` giving the morph the README's hook, which skips an
/// element Crumb has released. Alpine's morph plugin is what Livewire 3
/// updates components with (its `updating` option is where Livewire's
/// `morph.updating` hook is called from); morphdom is Phoenix LiveView's.
const MORPHS: [(&str, &str, &str); 2] = [
    (
        "/alpine",
        "<script defer src=\"/alpine-morph.js\"></script><script defer src=\"/alpine.js\"></script>\
         <script>window.__morph = (el, html, keep) => Alpine.morph(el, html, keep ? {
           updating(el, toEl, childrenOnly, skip) { if (el.dataset?.crumb == 'run') skip(); },
         } : {});</script>",
        "window.Alpine",
    ),
    (
        "/morphdom",
        "<script src=\"/morphdom.js\"></script>\
         <script>window.__morph = (el, html, keep) => morphdom(el, html, keep ? {
           onBeforeElUpdated: (el) => el.dataset.crumb != 'run',
         } : {});</script>",
        "window.morphdom",
    ),
];

#[test]
fn a_morphed_component_shows_its_allowed_embed_again_and_keeps_it_with_the_readmes_hook() {
    // Arrange: Alpine 3's morph and morphdom from npm, as they ship; a
    // component whose server HTML holds a gated script that counts its
    // runs and a gated embed, and a visitor who accepts all.
    let site = Site::start();
    let component = |total: u32| {
        format!(
            "<div id=\"cart\"><p>Total: {total}</p>\
             <script type=\"text/plain\" data-category=\"analytics\">window.__ran = (window.__ran || 0) + 1</script>\
             <iframe title=\"Video\" data-category=\"marketing\" data-service=\"youtube\" data-src=\"/video\"></iframe></div>"
        )
    };
    let page = |head: &str| {
        format!(
            "<!doctype html><html lang=en><head><title>Cart</title>{head}\
             <script src=\"{}/crumb.js\" data-site=\"demo\"></script></head>\
             <body><main>{}</main></body></html>",
            site.base,
            component(1)
        )
    };
    let html = "text/html; charset=utf-8";
    let js = "text/javascript";
    let npm = crumb_e2e::npm::file;
    let mut files = vec![
        ("/alpine-morph.js", js, npm("@alpinejs/morph/dist/cdn.js")),
        ("/alpine.js", js, npm("alpinejs/dist/cdn.js")),
        ("/morphdom.js", js, npm("morphdom/dist/morphdom-umd.js")),
        ("/video", html, "<p>A video</p>".into()),
    ];
    files.extend(MORPHS.map(|(path, head, _)| (path, html, page(head))));
    let origin = serve(files, "");
    site.allow_origin(&origin);
    let update = |path: &str, ready: &str, keep: bool| {
        let browser = Browser::new(1280, 800);
        browser.goto(&format!("{origin}{path}"));
        browser.wait(&format!(
            "document.querySelector('.crumb-banner') && {ready}"
        ));
        browser.click(".crumb-banner [data-a=accept]");
        browser.wait("window.__ran === 1");
        let video = "document.querySelector('iframe').contentWindow";
        browser.wait(&format!("{video}.location.pathname == '/video'"));
        browser.js(&format!("{video}.__kept = true"));

        // Act: the server's next render of the component morphed into
        // place, with or without the hook.
        browser.js(&format!(
            "__morph(document.getElementById('cart'), {:?}, {keep})",
            component(2)
        ));
        browser.wait("document.querySelector('#cart p').textContent == 'Total: 2'");
        browser.settled();
        browser.js(&format!(
            "return [{video}.location.pathname, {video}.__kept === true, window.__ran]"
        ))
    };

    // Assert: without the hook, each morph takes the embed's `src` and
    // Crumb's marks away: the embed loads its video again (not left on
    // `about:blank`) and the script runs again (the README says so); with
    // it, both stay as they were.
    for (path, _, ready) in MORPHS {
        assert_eq!(
            update(path, ready, false),
            json!(["/video", false, 2]),
            "{path}"
        );
        assert_eq!(
            update(path, ready, true),
            json!(["/video", true, 1]),
            "{path}"
        );
    }
}

/// Adds Crumb's tag to the page a second time, as a CMS plugin and a theme
/// (or a tag manager) both do on real sites; `window.__loaded` is set once
/// the second copy has run.
const SECOND_TAG: &str = "
    const tag = document.createElement('script');
    tag.src = '/crumb.js';
    tag.setAttribute('data-site', 'demo');
    tag.onload = () => { window.__loaded = true; };
    document.head.appendChild(tag);
";

#[test]
fn a_page_with_crumb_twice_shows_one_banner_and_records_one_choice() {
    // Arrange: a first visit, the banner up; the tag is added once more.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js(SECOND_TAG);
    browser.wait("window.__loaded === true");
    browser.settled();

    // Assert: still one banner.
    assert_eq!(
        browser.js("return document.querySelectorAll('.crumb-banner').length"),
        json!(1)
    );

    // Act
    browser.click(".crumb-banner [data-a=accept]");
    site.wait_for_records(1);
    browser.settled();

    // Assert: one record, and no banner left behind.
    assert_eq!(site.records().len(), 1);
    assert_eq!(
        browser.js("return document.querySelectorAll('.crumb-banner').length"),
        json!(0)
    );
}

/// A page whose only Crumb tag is added by a tag manager once the page has
/// loaded (Google Tag Manager's Custom HTML tag on its "Window Loaded"
/// trigger), with a gated analytics script in `<head>` and a gated
/// marketing one in `<body>`; each counts its runs in `window.__ran`.
fn page_with_crumb_from_a_tag_manager(site: &Site) -> String {
    format!(
        "<!doctype html><html lang=en><head><title>Shop</title>\
         <script type=\"text/plain\" data-category=\"analytics\">\
           __ran.analytics = (__ran.analytics || 0) + 1</script>\
         <script>window.__ran = {{}};\
           addEventListener('load', () => {{\
             const tag = document.createElement('script');\
             tag.src = '{}/crumb.js';\
             tag.setAttribute('data-site', 'demo');\
             document.head.appendChild(tag);\
           }});</script>\
         </head><body><p>A shop.</p>\
         <script type=\"text/plain\" data-category=\"marketing\">\
           __ran.marketing = (__ran.marketing || 0) + 1</script>\
         </body></html>",
        site.base
    )
}

#[test]
fn crumb_added_by_a_tag_manager_after_the_load_gates_records_and_releases_on_the_next_visit() {
    // Arrange: the page on an origin of its own, as a shop using a tag
    // manager is.
    let site = Site::start();
    let origin = site.page_elsewhere(page_with_crumb_from_a_tag_manager(&site));
    let browser = Browser::new(1280, 800);
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");
    assert_eq!(browser.js("return window.__ran"), json!({}));

    // Act: analytics only.
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");

    // Assert: the analytics script ran once, after the choice (nothing
    // had run with the banner up), and the choice is recorded.
    browser.wait("window.__ran.analytics === 1");
    assert_eq!(site.wait_for_records(1)[0]["method"], "custom");

    // Act: the next page view, where the tag comes in late again.
    browser.goto(&format!("{origin}/"));
    browser.wait("window.__ran.analytics === 1");
    browser.settled();

    // Assert: no banner, and only what the server's record allows ran.
    assert_eq!(
        browser.js("return [window.__ran, !!document.querySelector('.crumb-banner')]"),
        json!([{"analytics": 1}, false])
    );
}

#[test]
fn a_stylesheet_added_by_a_gated_script_as_the_readme_says_loads_only_once_allowed() {
    // Arrange: a first visit; the page adds a web font's stylesheet as the
    // README says (Crumb gates no `<link>`): from a gated script.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("document.head.insertAdjacentHTML('beforeend', `
           <script type=\"text/plain\" data-category=\"functional\" id=\"fonts\">
             document.head.append(Object.assign(document.createElement('link'), {
               rel: 'stylesheet',
               href: 'data:text/css,html{--font-loaded:1}',
             }));
           </script>`);");
    browser.settled();
    let loaded = "return getComputedStyle(document.documentElement)
        .getPropertyValue('--font-loaded')";

    // Assert: before a choice, no stylesheet.
    assert_eq!(browser.js(loaded), json!(""));

    // Act
    browser.click(".crumb-banner [data-a=accept]");

    // Assert: allowed, it loads.
    browser.wait(
        "getComputedStyle(document.documentElement).getPropertyValue('--font-loaded') == '1'",
    );
}

/// The shop of [`VUE_APP`] as a Svelte 5 component, its embed rendered
/// on the server.
const SVELTE_APP: &str = r#"<script>
  let count = $state(0);
</script>
<main>
  <button id="count" onclick={() => count++}>count {count}</button>
  <iframe title="video" data-src="data:text/html,video" data-category="marketing" data-service="youtube"></iframe>
  <script type="text/plain" data-category="analytics">window.__inline = (window.__inline || 0) + 1</script>
  <script type="text/plain" data-category="analytics" data-src="data:text/javascript,window.__external=(window.__external||0)+1"></script>
</main>"#;

/// Serves [`SVELTE_APP`] compiled by Svelte's compiler and rendered by its
/// server renderer, with its client script (which hydrates when the test
/// calls `window.__hydrate()`); returns the page's address.
fn svelte_page(site: &Site) -> String {
    let compiled = |generate: &str| {
        crumb_e2e::npm::node(&format!(
            "const {{ compile }} = require('svelte/compiler');
             process.stdout.write(compile({SVELTE_APP:?}, {{ generate: '{generate}' }}).js.code
               .replace('export default function _unknown_', 'function App'));"
        ))
    };
    let (html, client) = rendered_with_client(
        &format!(
            "{}
             import {{ render }} from 'svelte/server';
             process.stdout.write(render(App).body);",
            compiled("server")
        ),
        &format!(
            "{}
             import {{ hydrate }} from 'svelte';
             window.__hydrate = () => hydrate(App, {{ target: document.getElementById('app') }});",
            compiled("client")
        ),
    );
    serve_mounted_app(site, &html, client)
}

#[test]
fn a_svelte_5_page_hydrated_before_or_after_a_release_runs_each_gated_script_once() {
    // Arrange: Svelte 5 from npm, as it ships, rendering the shop on the
    // server and hydrating it (as SvelteKit does) when the test says.
    let site = Site::start();
    let page = svelte_page(&site);
    let browser = Browser::new(1280, 800);
    let hydrate = |browser: &Browser| {
        browser.js("window.__warned = [];
             const warn = console.warn;
             console.warn = (...a) => { window.__warned.push(a.join(' ')); warn(...a); };
             window.__hydrate();");
        browser.click("#count");
        browser.wait("document.querySelector('#count').textContent == 'count 1'");
    };
    let runs = |browser: &Browser| {
        browser.settled();
        browser.js("return [window.__inline, window.__external, window.__warned]")
    };

    // Act: a first visit, where Svelte hydrates around the blocked embed's
    // placeholder, then the visitor accepts; then a returning visit, where
    // the server's answer releases both scripts, and the external one
    // loads, before Svelte hydrates.
    browser.goto(&page);
    browser.wait("document.querySelector('.crumb-banner')");
    browser.settled();
    hydrate(&browser);
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("window.__inline && window.__external && document.querySelector('iframe[src]')");
    let first = runs(&browser);
    browser.goto(&page);
    browser.wait("window.__inline && window.__external");
    browser.settled();
    hydrate(&browser);
    let returning = runs(&browser);

    // Assert: on the first visit Svelte takes the placeholder for a
    // mismatch and mounts the app afresh, before anything is released, so
    // each script runs once. On the return, the released copies have left
    // the page (the external one once loaded): Svelte finds only its own
    // elements, keeps them, and runs nothing again.
    let mismatch = json!(["https://svelte.dev/e/hydration_mismatch"]);
    assert_eq!(first, json!([1, 1, mismatch]));
    assert_eq!(returning, json!([1, 1, []]));
}

#[test]
fn an_image_with_a_srcset_or_in_a_picture_loads_before_any_choice_so_the_linter_names_it() {
    // Arrange: a gated image with a srcset, one in a <picture> whose
    // source has one, and one marked as the README says.
    let site = Site::start();
    let body = r#"<img data-src="https://www.facebook.net/tr.gif" srcset="https://www.facebook.net/tr-2x.gif 2x" data-category="marketing" width="1" height="1" alt="">
<picture><source srcset="https://www.hotjar.com/map.webp" type="image/webp"><img data-src="https://www.hotjar.com/map.png" data-category="analytics" width="1" height="1" alt=""></picture>
<img data-src="https://www.youtube.com/pixel.gif" data-category="marketing" width="1" height="1" alt="">"#;
    let page = format!(
        "<!DOCTYPE html><html><head><script src=\"{}/crumb.js\" data-site=\"demo\" async></script></head><body>\n{body}\n</body></html>",
        site.base
    );
    let url = site.page_elsewhere(page.clone());
    let browser = Browser::new(1000, 800);
    browser.requests();

    // Act
    browser.goto(&url);
    browser.wait("document.querySelector('.crumb-banner')");

    // Assert: the browser loaded the first two as it read the page, with
    // the banner up and no choice made; the plain one waits.
    let mut seen = browser.wait_for_request("facebook.net");
    if !seen.iter().any(|u| u.contains("hotjar.com")) {
        seen.extend(browser.wait_for_request("hotjar.com"));
    }
    browser.settled();
    seen.extend(browser.requests());
    assert!(!seen.iter().any(|u| u.contains("youtube.com")), "{seen:?}");
    // And `crumb lint --page` names those two, at their lines.
    assert_eq!(
        linted(&site, &page),
        vec![
            ("ungated-embed", "line 2".to_owned()),
            ("ungated-embed", "line 3".to_owned())
        ]
    );
}

/// A shop as an Angular 22 app rendered on the server and hydrated (the
/// default of a new Angular app with server-side rendering), written for
/// Angular's JIT compiler: a video component with a gated YouTube-style
/// embed, then a caption bound to a signal and a button that changes it;
/// and a counter. `EMBED` is how the component holds the embed: as it is,
/// or as the README advises (`@defer`, rendered on the client only; or its
/// host marked `ngSkipHydration`).
const ANGULAR_APP: &str = r#"
    import '@angular/compiler';
    import { Component, signal } from '@angular/core';
    import { bootstrapApplication, provideClientHydration } from '@angular/platform-browser';
    const IFRAME = '<iframe [attr.data-src]="src" title="Our video" data-category="marketing" data-service="youtube"></iframe>';
    class Video { src = 'data:text/html,video'; caption = signal('first video'); }
    Component({ selector: 'app-video', template: '<p>Our video</p>'
      + (EMBED == 'defer' ? '@defer (on idle) {' + IFRAME + '}' : IFRAME)
      + '<p id="caption">{{ caption() }}</p>'
      + '<button id="next" (click)="caption.set(\'next video\')">next</button>' })(Video);
    class App { count = signal(0); }
    Component({ selector: 'app-root', imports: [Video], template: '<main>'
      + '<button id="count" (click)="count.set(count() + 1)">count {{ count() }}</button>'
      + (EMBED == 'skip' ? '<app-video ngSkipHydration />' : '<app-video />') + '</main>' })(App);
"#;

/// Serves [`ANGULAR_APP`] with `embed` (`plain`, `defer` or `skip`),
/// rendered by Angular's server renderer into a page with Crumb's tag,
/// with its client script (which hydrates when the test calls
/// `window.__hydrate()` and collects what Angular logs as errors in
/// `window.__errors`); returns the page's address.
fn angular_page(site: &Site, embed: &str) -> String {
    let app = format!("const EMBED = {embed:?};\n{ANGULAR_APP}");
    let document = format!(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Shop</title>\
         <script src=\"{}/crumb.js\" data-site=demo async></script></head>\
         <body><app-root></app-root><script src=/app.js></script></body></html>",
        site.base
    );
    let (html, client) = rendered_with_client(
        &format!(
            "{app}
             import {{ renderApplication, provideServerRendering }} from '@angular/platform-server';
             const providers = [provideServerRendering(), provideClientHydration()];
             renderApplication((context) => bootstrapApplication(App, {{ providers }}, context),
               {{ document: {document:?}, url: '/' }}).then((html) => process.stdout.write(html));"
        ),
        &format!(
            "{app}
             window.__errors = [];
             const error = console.error;
             console.error = (...e) => (window.__errors.push(e.join(' ')), error(...e));
             window.__hydrate = () => bootstrapApplication(App, {{ providers: [provideClientHydration()] }});"
        ),
    );
    serve_app(site, html, client)
}

/// On a page hydrated on a first visit (see [`hydrated_on_a_first_visit`]):
/// accepts all and notes what `after` finds; then comes back to the page,
/// waits for the server's answer (the choice counts), hydrates and notes
/// what `after` finds again.
fn accept_then_return_and_hydrate<T>(
    site: &Site,
    browser: &Browser,
    page: &str,
    after: impl Fn(&Browser) -> T,
) -> (T, T) {
    browser.click(".crumb-banner [data-a=accept]");
    let first = after(browser);
    site.wait_for_records(1);
    browser.goto(page);
    browser.wait("document.querySelector('.crumb-reopen')");
    browser.settled();
    browser.js("window.__hydrate()");
    (first, after(browser))
}

#[test]
fn an_angular_page_hydrated_around_a_placeholder_breaks_the_component_unless_the_embed_skips_hydration()
 {
    // Arrange: Angular 22 from npm, as it ships; a first visit, where Crumb
    // puts a placeholder before the blocked embed, then Angular hydrates
    // (on a real site, as its bundle arrives).
    let visit = |embed: &str| {
        let site = Site::start();
        let page = angular_page(&site, embed);
        let browser = hydrated_on_a_first_visit(&page);

        // Act: the visitor uses the video component and accepts; then a
        // returning visit, where the server's answer loads the embed
        // before Angular hydrates.
        let component = "return [document.querySelector('app-video').textContent, \
                         window.__errors.some((e) => e.includes('nodeValue'))]";
        let next_and_load = |browser: &Browser| {
            // The embed first: a deferred block renders it late (WebKitGTK
            // has no `requestIdleCallback`), and the page moving under the
            // pointer would take the click away from the button.
            browser.wait("document.querySelector('iframe[src]')");
            browser.settled();
            browser.click("#next");
            browser.wait(
                "document.querySelector('app-video').textContent.startsWith('Our videonext') \
                 || window.__errors.some((e) => e.includes('nodeValue'))",
            );
            browser.settled();
            browser.js(component)
        };
        accept_then_return_and_hydrate(&site, &browser, &page, next_and_load)
    };

    // Assert: what the README's page-change table says. Server-rendered as
    // it is, the placeholder stands where Angular expects the iframe, and
    // Angular, which checks no tag names in a production build, binds each
    // of the component's later nodes to the element before it: the caption
    // never changes, and Angular logs errors, for the page's life. With
    // the embed deferred to the client, or its component's host skipping
    // hydration, the component works. On the return, the embed allowed and
    // no placeholder put, it works either way.
    let works = json!(["Our videonext videonext", false]);
    let broken = json!(["Our videofirst videonext", true]);
    assert_eq!(visit("plain"), (broken, works.clone()));
    assert_eq!(visit("defer"), (works.clone(), works.clone()));
    assert_eq!(visit("skip"), (works.clone(), works));
}

/// The shop of [`ANGULAR_APP`] as a Solid 1.9 app: a counter, then a video
/// component with a gated YouTube-style embed, a caption bound to a signal
/// and a button that changes it, then a gated inline script. `EMBED` stands
/// for how the component holds the embed, `IFRAME` for the embed (see
/// [`solid_page`]).
const SOLID_APP: &str = r#"
    import { createSignal, onMount, Show } from 'solid-js';
    const Iframe = () => IFRAME;
    function Video() {
      const [caption, setCaption] = createSignal('first video');
      const [mounted, setMounted] = createSignal(false);
      onMount(() => setMounted(true));
      return <section>
        <p>Our video</p>
        EMBED
        <p id="caption">{caption()}</p>
        <button id="next" onClick={() => setCaption('next video')}>next</button>
      </section>;
    }
    export function App() {
      const [count, setCount] = createSignal(0);
      return <main>
        <button id="count" onClick={() => setCount(count() + 1)}>count {count()}</button>
        <Video />
        <script type="text/plain" data-category="analytics">window.__inline = (window.__inline || 0) + 1</script>
      </main>;
    }
"#;

/// Serves [`SOLID_APP`] with its embed `plain` (in the component's markup,
/// so rendered on the server too), `component` (a component of its own,
/// rendered on the server too) or `client` (as the README advises: shown
/// once mounted, on the client only), compiled by
/// Babel with Solid's preset for the server and for hydration, and
/// rendered by Solid's server renderer, with its client script (which
/// hydrates when the test calls `window.__hydrate()`); returns the page's
/// address and the app's server-rendered HTML.
fn solid_page(site: &Site, embed: &str) -> (String, String) {
    let compiled = |generate: &str| {
        let iframe = "<iframe title=\"video\" data-src=\"data:text/html,video\" \
                      data-category=\"marketing\" data-service=\"youtube\"></iframe>";
        let source = SOLID_APP.replace("IFRAME", iframe).replace(
            "EMBED",
            match embed {
                "plain" => iframe,
                "component" => "<Iframe />",
                _ => "<Show when={mounted()}><Iframe /></Show>",
            },
        );
        crumb_e2e::npm::node(&format!(
            "const babel = require('@babel/core');
             process.stdout.write(babel.transformSync({source:?}, {{ filename: 'app.jsx',
               presets: [['babel-preset-solid', {{ generate: '{generate}', hydratable: true }}]] }}).code);"
        ))
    };
    let (html, client) = rendered_with_client(
        &format!(
            "{}
             import {{ renderToString, generateHydrationScript }} from 'solid-js/web';
             process.stdout.write(generateHydrationScript() + renderToString(App));",
            compiled("ssr")
        ),
        &format!(
            "{}
             import {{ hydrate }} from 'solid-js/web';
             window.__hydrate = () => hydrate(App, document.getElementById('app'));",
            compiled("dom")
        ),
    );
    (serve_mounted_app(site, &html, client), html)
}

#[test]
fn a_solid_page_hydrated_around_a_placeholder_breaks_the_component_unless_the_embed_is_client_only()
{
    // Arrange: Solid 1.9 from npm, as it ships; a first visit, where Crumb
    // puts a placeholder before the blocked embed, then Solid hydrates (on
    // a real site, as its bundle arrives).
    let visit = |embed: &str| {
        let site = Site::start();
        let (page, app) = solid_page(&site, embed);
        let browser = hydrated_on_a_first_visit(&page);

        // Act: the visitor accepts and uses the video component; then a
        // returning visit, where the server's answer loads the embed
        // before Solid hydrates.
        // What the page shows after a click on the button, then on the
        // caption (which has no handler of its own).
        let next_and_load = |browser: &Browser| {
            browser.wait("window.__inline && document.querySelector('iframe[src]')");
            browser.settled();
            browser.click("#next");
            browser.settled();
            let caption = browser.js("return document.querySelector('#caption').textContent");
            browser.click("#caption");
            browser.settled();
            let iframe = browser.js("return document.querySelector('iframe').textContent");
            json!([caption, iframe, browser.js("return window.__inline")])
        };
        let (first, returning) =
            accept_then_return_and_hydrate(&site, &browser, &page, next_and_load);
        let linted = linted(&site, &app).into_iter().map(|(rule, _)| rule);
        (first, returning, linted.collect::<Vec<_>>())
    };

    // Assert: what the README's page-change table says, and what `crumb
    // lint --page` names in the server's HTML. Server-rendered as
    // it is, the placeholder stands where Solid's hydration, which finds a
    // template's nodes by counting siblings, expects the iframe, and each
    // later node is bound one element too early: the button's click
    // handler goes onto the caption, and the caption's text into the
    // iframe, for the page's life (the placeholder has long gone when the
    // visitor clicks). With the embed shown once mounted, on the client
    // only, or as a component of its own (which Solid finds between
    // markers, not by counting), the component works. On the return, the
    // embed allowed and no placeholder put, it works every way; the gated
    // script runs once on each visit.
    let works = json!(["next video", "", 1]);
    let broken = json!(["first video", "next video", 1]);
    assert_eq!(
        visit("plain"),
        (broken, works.clone(), vec!["hydrated-embed"])
    );
    assert_eq!(visit("component"), (works.clone(), works.clone(), vec![]));
    assert_eq!(visit("client"), (works.clone(), works, vec![]));
}

/// The shop of [`SVELTE_APP`] as a Preact 11 app, written with `h()` (no
/// JSX to compile): a counter, a video component with a gated YouTube-style
/// embed, a caption held in its state and a button that changes it, then
/// an inline and an external gated script. `CLIENT_ONLY` says whether the
/// component renders its embed on the client only, once mounted.
const PREACT_APP: &str = r#"
    import { h } from 'preact';
    import { useEffect, useState } from 'preact/hooks';
    function Video() {
      const [caption, setCaption] = useState('first video');
      const [mounted, setMounted] = useState(false);
      useEffect(() => setMounted(true), []);
      return h('section', null,
        h('p', null, 'Our video'),
        (mounted || !CLIENT_ONLY) && h('iframe', { title: 'video', 'data-src': 'data:text/html,video',
          'data-category': 'marketing', 'data-service': 'youtube' }),
        h('p', { id: 'caption' }, caption),
        h('button', { id: 'next', onClick: () => setCaption('next video') }, 'next'));
    }
    function App() {
      const [count, setCount] = useState(0);
      return h('main', null,
        h('button', { id: 'count', onClick: () => setCount(count + 1) }, 'count ' + count),
        h(Video),
        h('script', { type: 'text/plain', 'data-category': 'analytics',
          dangerouslySetInnerHTML: { __html: 'window.__inline = (window.__inline || 0) + 1' } }),
        h('script', { type: 'text/plain', 'data-category': 'analytics',
          'data-src': 'data:text/javascript,window.__external=(window.__external||0)+1' }));
    }
"#;

/// Serves [`PREACT_APP`] (its embed on the client only, or rendered on the
/// server too) rendered by preact-render-to-string, with its client script
/// (which hydrates when the test calls `window.__hydrate()`); returns the
/// page's address.
fn preact_page(site: &Site, client_only: bool) -> String {
    let app = format!("const CLIENT_ONLY = {client_only};\n{PREACT_APP}");
    let (html, client) = rendered_with_client(
        &format!(
            "{app}
             import {{ renderToString }} from 'preact-render-to-string';
             process.stdout.write(renderToString(h(App)));"
        ),
        &format!(
            "{app}
             import {{ hydrate }} from 'preact';
             window.__hydrate = () => hydrate(h(App), document.getElementById('app'));"
        ),
    );
    serve_mounted_app(site, &html, client)
}

#[test]
fn a_preact_page_hydrated_around_a_placeholder_drops_it_unless_the_embed_is_client_only() {
    // Arrange: Preact 11 from npm, as it ships; a first visit, where Crumb
    // puts a placeholder before the blocked embed, then Preact hydrates
    // (on a real site, as its bundle arrives).
    let visit = |client_only: bool| {
        let site = Site::start();
        let page = preact_page(&site, client_only);
        let browser = hydrated_on_a_first_visit(&page);
        browser.settled();
        let blocked = browser.js("const ph = document.querySelector('.crumb-ph');
             const iframe = document.querySelector('iframe');
             return [!!ph && ph.getBoundingClientRect().height > 0,
                     iframe.hasAttribute('src'), iframe.getBoundingClientRect().height]");

        // Act: the visitor accepts and uses the video component; then a
        // returning visit, where the server's answer loads the embed and
        // runs the scripts before Preact hydrates.
        let next_and_load = |browser: &Browser| {
            browser.wait(
                "window.__inline && window.__external && document.querySelector('iframe[src]')",
            );
            browser.settled();
            browser.click("#next");
            browser.wait("document.querySelector('#caption').textContent == 'next video'");
            browser.js("return [window.__inline, window.__external, document.querySelectorAll('iframe, .crumb-ph').length]")
        };
        let (first, returning) =
            accept_then_return_and_hydrate(&site, &browser, &page, next_and_load);
        (blocked, first, returning)
    };

    // Assert: what the README's page-change table says. Server-rendered as
    // it is, Preact takes the placeholder away as it hydrates (it drops
    // every element it did not render) and keeps the embed, which stays
    // blocked and hidden, with no "Allow" button of its own until the
    // visitor chooses in the banner; the component works, and each gated
    // script runs once. Rendered on the client only, the embed gets its
    // placeholder once mounted. On the return, the embed allowed, nothing
    // is put in the app's way.
    let once = json!([1, 1, 1]);
    assert_eq!(
        visit(false),
        (json!([false, false, 0]), once.clone(), once.clone())
    );
    assert_eq!(visit(true), (json!([true, false, 0]), once.clone(), once));
}

#[test]
fn an_embed_in_a_shadow_root_never_loads_and_one_slotted_into_it_is_gated_as_any() {
    // Arrange: a first visit to a page with two video components (web
    // components with declarative shadow roots): one holds its gated
    // embed and a gated script in its shadow root, the other shows the
    // page's own embed through a slot, as the README advises.
    let site = Site::start();
    let origin = serve(
        vec![(
            "/",
            "text/html; charset=utf-8",
            format!(
                "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Shop</title>\
                 <script src=\"{}/crumb.js\" data-site=demo async></script></head><body>\
                 <my-video id=inside><template shadowrootmode=open>\
                 <iframe data-src=\"data:text/html,inside\" data-category=marketing data-service=youtube></iframe>\
                 <script type=text/plain data-category=analytics>window.__ran = 1</script>\
                 </template></my-video>\
                 <my-video id=slotted><template shadowrootmode=open><p>Our video</p><slot></slot></template>\
                 <iframe data-src=\"data:text/html,slotted\" data-category=marketing data-service=youtube></iframe>\
                 </my-video></body></html>",
                site.base
            ),
        )],
        "",
    );
    site.allow_origin(&origin);
    let browser = Browser::new(1280, 800);
    browser.goto(&format!("{origin}/"));
    browser.wait("document.querySelector('.crumb-banner')");
    browser.settled();
    let slotted_placeholder = "return document.querySelector('#slotted .crumb-ph') \
                               .assignedSlot.getRootNode().host.id";
    assert_eq!(browser.js(slotted_placeholder), json!("slotted"));

    // Act: the visitor accepts everything.
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("document.querySelector('#slotted iframe[src]')");
    browser.settled();

    // Assert: what the README says: Crumb does not look into shadow roots,
    // so what is gated there never loads or runs (the page's linter names
    // it, `shadow-root`); the page's own embed, slotted in, had its
    // placeholder in the component and loads once allowed.
    let inside = "const root = document.querySelector('#inside').shadowRoot; \
                  return [root.querySelector('iframe').hasAttribute('src'), window.__ran || 0]";
    assert_eq!(browser.js(inside), json!([false, 0]));
    assert!(
        browser
            .js("return !document.querySelector('#slotted .crumb-ph')")
            .as_bool()
            .unwrap()
    );
}

#[test]
fn a_gated_iframe_with_a_srcdoc_shows_it_before_any_choice_and_never_loads_so_the_linter_names_it()
{
    // Arrange: a first visit to a page with a gated YouTube embed made
    // "lighter" the way some themes and plugins do: a `srcdoc` with the
    // video's thumbnail, standing in until the real address loads. Its
    // document notes in the page that it has run.
    let site = Site::start();
    let srcdoc = "<script>parent.__srcdoc = (parent.__srcdoc || 0) + 1</script>\
                  <a href=&quot;data:text/html,video&quot;>Play</a>";
    let page = format!(
        "<!DOCTYPE html><html><head><script src=\"{}/crumb.js\" data-site=\"demo\" async></script></head><body>\n\
         <iframe data-src=\"data:text/html,video\" srcdoc=\"{srcdoc}\" data-category=\"marketing\" data-service=\"youtube\"></iframe>\n\
         </body></html>",
        site.base
    );
    let url = site.page_elsewhere(page.clone());
    let browser = Browser::new(1000, 800);

    // Act: the visitor accepts.
    browser.goto(&url);
    browser.wait("document.querySelector('.crumb-banner') && window.__srcdoc");
    browser.click(".crumb-banner [data-a=accept]");
    browser.wait("document.querySelector('iframe[src]')");
    browser.settled();

    // Assert: the stand-in ran before any choice, and, allowed, the embed
    // still shows it, not its address (a srcdoc wins over a src); `crumb
    // lint --page` names it.
    let shown = "return document.querySelector('iframe').contentWindow.location.href";
    assert_eq!(browser.js(shown), json!("about:srcdoc"));
    assert_eq!(
        linted(&site, &page),
        vec![("srcdoc-embed", "line 2".to_owned())]
    );
}
