//! The first layer: title, text, policy link, and Accept all / Reject all /
//! Customize, all three the same size and style (regulators require reject
//! to be as easy to reach as accept).

use alloc::string::String;

use web_sys::Element;

use crate::app::App;
use crate::dom::{ancestor, append, attr, el, focus, prepend, safe_href, text_el};

/// The banner on the page; dropping it removes it.
pub struct Banner {
    root: Element,
}

impl Drop for Banner {
    fn drop(&mut self) {
        self.root.remove();
    }
}

/// Appends the body text with the policy link after it (`id`: the
/// element that describes `root`), and the line that says the browser's
/// Global Privacy Control signal is honoured when it is sent; shared with
/// the dialog.
pub fn intro(app: &App, root: &Element, id: &str) {
    let doc = &app.doc;
    let mut body = String::from(app.cfg.t.body());
    body.push_str(" ");
    let p = text_el(doc, "p", "crumb-text", &body);
    attr(&p, "id", id);
    if safe_href(app.cfg.policy_url) {
        let a = text_el(doc, "a", "crumb-a", app.cfg.t.policy_link());
        attr(&a, "href", app.cfg.policy_url);
        append(&p, &a);
    }
    append(root, &p);
    // (The server sends the line only to browsers whose requests carry the
    // signal; one that only says it in script is honoured without it.)
    if app.gpc() && !app.cfg.t.gpc_notice().is_empty() {
        append(
            root,
            &text_el(doc, "p", "crumb-desc crumb-gpc", app.cfg.t.gpc_notice()),
        );
    }
}

/// A button carrying its action in `data-a`, which the app's click handler
/// reads (`App::click`).
pub fn button(app: &App, label: &str, action: &str, class: &str) -> Element {
    let b = text_el(&app.doc, "button", class, label);
    attr(&b, "type", "button");
    attr(&b, "data-a", action);
    b
}

/// The three first-layer choices, in the same order wherever they appear,
/// the third being Customize in the banner and Save in the dialog.
pub fn actions(app: &App, third: (&str, &str)) -> Element {
    let t = &app.cfg.t;
    let row = el(&app.doc, "div", "crumb-actions");
    append(&row, &button(app, t.accept_all(), "accept", "crumb-btn"));
    append(&row, &button(app, t.reject_all(), "reject", "crumb-btn"));
    append(&row, &button(app, third.0, third.1, "crumb-btn"));
    row
}

impl Banner {
    /// Shows the banner first in the page's tab order. No button is
    /// focused, so none looks pre-selected: when nothing else on the page
    /// has focus, the banner itself takes it (announced as a dialog), and
    /// the first Tab reaches its first button.
    /// `active`: the page's focused element as the banner comes.
    pub fn show(app: &App, active: Option<&Element>) -> Banner {
        let doc = &app.doc;
        let root = el(doc, "div", "crumb crumb-banner");
        attr(&root, "role", "dialog");
        attr(&root, "aria-modal", "false");
        attr(&root, "aria-labelledby", "crumb-bt");
        attr(&root, "aria-describedby", "crumb-bd");
        attr(&root, "lang", app.cfg.lang);
        let title = text_el(doc, "h2", "crumb-title", app.cfg.t.title());
        attr(&title, "id", "crumb-bt");
        append(&root, &title);
        intro(app, &root, "crumb-bd");
        append(&root, &actions(app, (app.cfg.t.customize(), "customize")));
        attr(&root, "tabindex", "-1");
        // On `<html>`, not in `<body>`: pages that swap their body for a
        // new one (Turbo Drive) or rewrite it would take the banner with
        // it before the visitor could answer. First there, it is first in
        // the tab order.
        if let Some(html) = doc.document_element() {
            prepend(&html, &root);
            // Never taken from a control the visitor is using: the page's
            // focused element is `activeElement`, `<body>` when there is
            // none. (`:focus` would match only while the window has the
            // system's focus, so a page loading in a background tab or a
            // window the visitor has left would lose its focused control.
            // `ancestor` starts at the element itself.)
            let in_control = active.is_some_and(|e| ancestor(e, ":not(body,html)").is_some());
            if !in_control {
                focus(&root);
            }
        }
        Banner { root }
    }
}
