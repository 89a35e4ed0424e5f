//! Keyboard use and hostile config text.

use crumb_e2e::browser::{ENTER, ESCAPE, SPACE, TAB};
use crumb_e2e::{Browser, Site};
use serde_json::{Value, json};

use crate::{banner_visible, open, open_dialog};

const DESCRIBE: &str = "const e = document.activeElement;
    return e.dataset.a || (e.dataset.cat && 'cat:' + e.dataset.cat)
        || (e.dataset.svc && 'svc:' + e.dataset.svc) || e.tagName.toLowerCase();";

/// Whether focus is on the policy link in the banner's text.
const IN_BANNER_LINK: &str =
    "const e = document.activeElement; return e.tagName == 'A' && !!e.closest('.crumb-banner');";

fn active(browser: &Browser) -> Value {
    browser.js(DESCRIBE)
}

#[test]
fn keyboard_only_visitor_can_do_everything() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");

    // No button is focused at first paint (none looks pre-selected): the
    // banner region has focus, and Tab walks its controls in reading
    // order, the policy link in its text first.
    assert_eq!(
        browser.js("return document.activeElement.classList.contains('crumb-banner')"),
        json!(true)
    );
    browser.press(&[TAB]);
    assert_eq!(browser.js(IN_BANNER_LINK), json!(true));
    browser.press(&[TAB]);
    assert_eq!(active(&browser), json!("accept"));
    browser.press(&[TAB]);
    assert_eq!(active(&browser), json!("reject"));
    browser.press(&[TAB]);
    assert_eq!(active(&browser), json!("customize"));
    browser.shift_tab();
    assert_eq!(active(&browser), json!("reject"));
    browser.press(&[TAB]);

    // Enter opens the dialog; focus moves into it.
    browser.press(&[ENTER]);
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    assert_eq!(active(&browser), json!("close"));

    // Tab reaches every control in document order and wraps around (links
    // inside a folded service are not reachable until it is unfolded).
    let expected = browser.js("return Array.from(document.querySelectorAll(
            'dialog button, dialog a[href], dialog summary, dialog input:not([disabled])'))
          .filter(e => e.tagName == 'SUMMARY' || !e.closest('details:not([open])'))
          .map(e => e.dataset.a || (e.dataset.cat && 'cat:' + e.dataset.cat)
              || (e.dataset.svc && 'svc:' + e.dataset.svc) || e.tagName.toLowerCase());");
    let expected = expected.as_array().unwrap().clone();
    assert!(expected.len() > 15, "{expected:?}");
    let mut seen = vec![active(&browser)];
    for _ in 0..expected.len() {
        browser.press(&[TAB]);
        seen.push(active(&browser));
    }
    let mut wrapped = expected.clone();
    wrapped.push(expected[0].clone());
    assert_eq!(seen, wrapped);
    // Focus is visible on keyboard focus.
    assert_ne!(
        browser.js("return getComputedStyle(document.activeElement).outlineStyle"),
        json!("none")
    );

    // Space toggles a switch, and the category switch carries its services.
    while active(&browser) != json!("cat:analytics") {
        browser.press(&[TAB]);
    }
    browser.press(&[SPACE]);
    assert_eq!(
        browser.js("return document.querySelector('input[data-cat=analytics]').checked"),
        json!(true)
    );
    assert_eq!(
        browser.js("return document.querySelector('input[data-svc=hotjar]').checked"),
        json!(true)
    );

    // Esc closes the dialog; that is not a choice.
    browser.press(&[ESCAPE]);
    browser.wait("!document.querySelector('dialog.crumb-modal')");
    browser.settled();
    assert!(banner_visible(&browser));
    assert!(site.records().is_empty());
    assert_eq!(
        active(&browser),
        json!("customize"),
        "focus returns to the opener"
    );

    // Enter on "Reject all" records the choice.
    browser.shift_tab();
    assert_eq!(active(&browser), json!("reject"));
    browser.press(&[ENTER]);
    assert_eq!(site.wait_for_records(1)[0]["method"], "reject_all");

    // Reopened from the page's own "Cookie settings" link and saved:
    // focus goes back to it.
    browser.wait("document.querySelector('.crumb-reopen')");
    browser.js("document.querySelector('footer [data-crumb-open]').focus()");
    browser.press(&[ENTER]);
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.click("dialog [data-a=save]");
    browser.wait("!document.querySelector('dialog.crumb-modal')");
    assert_eq!(
        browser.js("return document.activeElement.matches('footer [data-crumb-open]')"),
        json!(true)
    );
}

#[test]
fn the_banner_comes_first_in_the_tab_order_and_gives_focus_back() {
    // Arrange: from the top of the page, the first Tab is the banner's.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");
    browser.js("document.activeElement.blur()");
    browser.press(&[TAB]);
    assert_eq!(browser.js(IN_BANNER_LINK), json!(true));

    // A visitor already in a control of the page (here the page focuses
    // its first link as soon as it is parsed) when the banner appears. The
    // headless window may not have the system's focus, as a background tab
    // does not (`document.hasFocus()` is false in Chromium 148): the
    // page's focused control is still its own.
    let other = {
        drop(browser);
        Browser::new(1280, 800)
    };
    site.before_every_page(
        "document.addEventListener('DOMContentLoaded', () => document.querySelector('a.brand').focus());",
    );
    open(&site, &other, "/");
    let brand = "return document.activeElement.classList.contains('brand')";

    // Assert: the banner did not take focus from it.
    assert_eq!(other.js(brand), json!(true));

    // Act: the visitor chooses with the mouse.
    other.click(".crumb-banner [data-a=accept]");
    other.wait("!document.querySelector('.crumb-banner')");

    // Assert: focus is back where the visitor was, not on <body>.
    assert_eq!(other.js(brand), json!(true));
}

#[test]
fn axe_finds_no_violation_in_the_banner_or_the_open_dialog() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");

    // (axe does find what it should: an image without a text alternative.)
    browser.js("document.body.insertAdjacentHTML('beforeend', '<div id=probe><img src=x></div>')");
    let probe = crumb_e2e::axe::violations(&browser, "#probe");
    assert!(
        probe.iter().any(|v| v.starts_with("image-alt")),
        "{probe:?}"
    );
    browser.js("document.getElementById('probe').remove()");

    // Act / Assert: the banner...
    assert_eq!(
        crumb_e2e::axe::violations(&browser, ".crumb-banner"),
        Vec::<String>::new()
    );

    // ...and the dialog, every service folded open.
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    browser.js("document.querySelectorAll('dialog details').forEach(d => d.open = true);");
    assert_eq!(
        crumb_e2e::axe::violations(&browser, "dialog.crumb-modal"),
        Vec::<String>::new()
    );
}

#[test]
fn in_a_contrast_theme_every_switch_shows_whether_it_is_on() {
    // Arrange: forced colors, as Windows' contrast themes have them, where
    // the browser paints every background in the page's own colour.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    browser.forced_colors();
    open_dialog(&site, &browser);
    assert_eq!(
        browser.js("return matchMedia('(forced-colors: active)').matches"),
        json!(true)
    );

    // Act: analytics on, marketing left off.
    browser.click("input[data-cat=analytics]");

    // Assert: each switch stands out from the dialog, its knob from its
    // track, and on looks unlike off.
    let looks = browser.js(
        "const bg = getComputedStyle(document.querySelector('.crumb-modal')).backgroundColor;
         const look = (cat) => {
           const i = document.querySelector(`input[data-cat=${cat}]`), s = getComputedStyle(i);
           return { on: i.checked, track: s.backgroundColor, edge: s.borderTopColor,
                    knob: getComputedStyle(i, '::after').backgroundColor };
         };
         const on = look('analytics'), off = look('marketing');
         return [on.on, off.on, on.track != off.track, on.knob != on.track,
                 off.knob != off.track, off.edge != bg, on.track != bg];",
    );
    assert_eq!(looks, json!([true, false, true, true, true, true, true]));
}

#[test]
fn config_text_is_rendered_as_text_never_as_html() {
    // Arrange: an owner (or an attacker with the owner's token) puts markup
    // into the banner texts and a service name.
    let site = Site::start();
    let payload = "<img src=x onerror=\"window.__xss = 1\">";
    let mut config = site.config();
    let en = crumb_schema::LanguageTag::parse("en").unwrap();
    let texts = config.texts.get_mut(&en).unwrap();
    texts.title = payload.to_owned();
    texts.body = format!("Hello {payload}");
    config.services[0].name = payload.to_owned();
    site.put_config(&config);
    let browser = Browser::new(1280, 800);

    // Act
    open_dialog(&site, &browser);
    browser.settled();

    // Assert
    assert_eq!(
        browser.js("return document.querySelector('.crumb-banner .crumb-title').textContent"),
        json!(payload)
    );
    assert_eq!(
        browser.js("return document.querySelectorAll('.crumb img').length"),
        json!(0)
    );
    assert_eq!(browser.js("return window.__xss === undefined"), json!(true));
    let label = browser.js("return document.querySelector('input[data-svc=google-analytics]').nextElementSibling.textContent");
    assert!(label.as_str().unwrap().starts_with(payload));
}
