//! Screenshots of the banner, the dialog and (at 360 px) an embed's
//! placeholder at desktop and phone widths,
//! written to `target/screenshots/` (the README's are copied from there).

use crumb_e2e::{Browser, Site};

use crate::open;

#[test]
fn screenshots_at_desktop_and_phone_width() {
    let site = Site::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, width, height) in [
        ("desktop", 1280, 800),
        ("mobile-360", 360, 740),
        ("mobile-320", 320, 640),
    ] {
        let browser = Browser::new(width.max(500), height);
        if width < 500 {
            browser.phone_viewport(width, height);
        }
        open(&site, &browser, "/");
        assert_eq!(
            browser.js("return window.innerWidth"),
            serde_json::json!(width)
        );
        // Nothing on the page wider than the viewport, at 360 px too.
        assert_eq!(
            browser.js("return document.querySelector('.crumb-banner').getBoundingClientRect().right <= window.innerWidth"),
            serde_json::json!(true)
        );
        browser.screenshot(&dir.join(format!("banner-{name}.png")));
        if name == "mobile-360" {
            // The YouTube embed's placeholder, scrolled clear of the banner.
            browser.js("document.querySelector('.crumb-ph').scrollIntoView({block: 'start'})");
            browser.screenshot(&dir.join("placeholder-mobile-360.png"));
        }
        browser.click(".crumb-banner [data-a=customize]");
        browser.wait("document.querySelector('dialog.crumb-modal[open]')");
        browser.js("document.querySelector('dialog details').open = true;");
        // The dialog fits the width too; only its content scrolls.
        assert_eq!(
            browser.js("return document.querySelector('dialog').getBoundingClientRect().right <= window.innerWidth"),
            serde_json::json!(true)
        );
        browser.screenshot(&dir.join(format!("dialog-{name}.png")));
    }
    // The banner in a browser that sends Global Privacy Control, with its
    // one-line notice. (Dropped before the next browser starts: sessions
    // run one at a time.)
    {
        let browser = Browser::with_gpc(1280, 800);
        open(&site, &browser, "/");
        browser.screenshot(&dir.join("banner-gpc-desktop.png"));
    }
    // The cookie declaration on the policy page, at desktop and phone
    // width (where each cookie becomes a block of labelled lines).
    for (name, phone) in [("desktop", false), ("mobile-360", true)] {
        let browser = Browser::new(1280, 800);
        if phone {
            browser.phone_viewport(360, 640);
        }
        open(&site, &browser, "/cookie-policy.html");
        browser.wait("document.querySelector('[data-crumb-declaration] table')");
        browser.click(".crumb-banner [data-a=reject]");
        browser.js(
            "document.querySelectorAll('[data-crumb-declaration] h3')[0].scrollIntoView();
             window.scrollBy(0, -16);",
        );
        // Nothing scrolls sideways, even at 360 px.
        assert_eq!(
            browser.js("return document.documentElement.scrollWidth <= window.innerWidth"),
            serde_json::json!(true),
            "{name}"
        );
        browser.screenshot(&dir.join(format!("declaration-{name}.png")));
    }
}
