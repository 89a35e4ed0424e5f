//! The first layer: title, text, policy link, and Accept all / Reject all /
//! Customize, all three the same size and style (regulators require reject
//! to be as easy to reach as accept).

use web_sys::Element;

use crate::app::App;
use crate::dom::{append, attr, el, focus, safe_href, text_el};

/// The banner on the page; dropping it removes it.
pub struct Banner {
    root: Element,
}

impl Drop for Banner {
    fn drop(&mut self) {
        self.root.remove();
    }
}

/// The body text with the policy link after it, shared with the dialog.
pub fn intro(app: &App, id: &str) -> Element {
    let doc = &app.doc;
    let p = text_el(doc, "p", "crumb-text", app.cfg.t.body);
    attr(&p, "id", id);
    if safe_href(app.cfg.policy_url) {
        p.append_with_str_1(" ").ok();
        let a = text_el(doc, "a", "crumb-a", app.cfg.t.policy_link);
        attr(&a, "href", app.cfg.policy_url);
        append(&p, &a);
    }
    p
}

/// A button carrying its action in `data-a`, which the app's click handler
/// reads (`App::click`).
pub fn button(app: &App, label: &str, action: &str, class: &str) -> Element {
    let b = text_el(&app.doc, "button", class, label);
    attr(&b, "type", "button");
    attr(&b, "data-a", action);
    b
}

/// The three first-layer choices, in the same order wherever they appear.
pub fn actions(app: &App, third: (&str, &str)) -> Element {
    let t = &app.cfg.t;
    let row = el(&app.doc, "div", "crumb-actions");
    append(&row, &button(app, t.accept_all, "accept", "crumb-btn"));
    append(&row, &button(app, t.reject_all, "reject", "crumb-btn"));
    append(&row, &button(app, third.0, third.1, "crumb-btn"));
    row
}

impl Banner {
    pub fn focus_customize(&self) {
        if let Ok(Some(b)) = self.root.query_selector("[data-a=customize]") {
            focus(&b);
        }
    }

    pub fn show(app: &App) -> Banner {
        let doc = &app.doc;
        let root = el(doc, "div", "crumb crumb-banner");
        attr(&root, "role", "dialog");
        attr(&root, "aria-modal", "false");
        attr(&root, "aria-labelledby", "crumb-bt");
        attr(&root, "aria-describedby", "crumb-bd");
        attr(&root, "lang", app.cfg.lang);
        let title = text_el(doc, "h2", "crumb-title", app.cfg.t.title);
        attr(&title, "id", "crumb-bt");
        append(&root, &title);
        append(&root, &intro(app, "crumb-bd"));
        let row = actions(app, (app.cfg.t.customize, "customize"));
        append(&root, &row);
        if let Some(body) = doc.body() {
            let _ = body.append_child(&root);
        }
        if let Some(first) = row.first_element_child() {
            focus(&first);
        }
        Banner { root }
    }
}
