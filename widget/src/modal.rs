//! The preferences dialog: every category with its description and a
//! switch (necessary shown on and locked), every service inside it with its
//! own switch and its cookie table. A native modal `<dialog>` makes the
//! page inert; Tab is kept inside; Esc closes it without counting as a
//! choice.

use alloc::string::String;

use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlInputElement, KeyboardEvent};

use crate::app::App;
use crate::banner::{actions, button, intro};
use crate::config::Service;
use crate::consent::{Choices, NECESSARY, category_key, push_u64};
use crate::dom::{all, ancestor, append, attr, each, el, focus, safe_href, show_modal, text_el};

/// The open dialog; dropping it removes it (which also closes it).
pub struct Modal {
    root: Element,
}

impl Drop for Modal {
    fn drop(&mut self) {
        // Removing an open modal dialog also takes it out of the top layer
        // and makes the page interactive again (HTML, dialog removing
        // steps), so no `close()` is needed.
        self.root.remove();
    }
}

const FOCUSABLE: &str = "button,a[href],summary,input:not([disabled])";

fn switch(app: &App, label: &str, data: &str, key: &str, on: bool, locked: bool) -> Element {
    let doc = &app.doc;
    let l = el(doc, "label", "crumb-switch");
    let input = el(doc, "input", "");
    attr(&input, "type", "checkbox");
    attr(&input, "role", "switch");
    attr(&input, data, key);
    if on {
        attr(&input, "checked", "");
    }
    if locked {
        attr(&input, "disabled", "");
    }
    append(&l, &input);
    append(&l, &text_el(doc, "span", "", label));
    l
}

/// A service's cookies as a table: name, provider, purpose, retention.
pub fn cookie_table(app: &App, s: &Service) -> Element {
    let doc = &app.doc;
    let table = el(doc, "table", "");
    let head = el(doc, "tr", "");
    for c in app.cfg.cols() {
        append(&head, &text_el(doc, "th", "", c));
    }
    append(&table, &head);
    for c in &s.cookies {
        let row = el(doc, "tr", "");
        for cell in [c.name, s.provider.get(), c.purpose.get(), c.retention.get()] {
            append(&row, &text_el(doc, "td", "", cell));
        }
        append(&table, &row);
    }
    table
}

/// What the service is for, a link to its privacy policy (http(s) or a
/// path on the site only) and its cookie table, folded under a
/// "Cookie (n)" summary.
fn cookie_details(app: &App, s: &Service) -> Element {
    let doc = &app.doc;
    let cols = app.cfg.cols();
    let details = el(doc, "details", "crumb-cookies");
    let mut summary = String::with_capacity(24);
    summary.push_str(cols[0]);
    summary.push_str(" (");
    push_u64(&mut summary, s.cookies.len() as u64);
    summary.push_str(")");
    append(&details, &text_el(doc, "summary", "", &summary));
    let purpose = text_el(doc, "p", "crumb-desc", s.purpose.get());
    let privacy_url = s.privacy_url.get();
    if safe_href(privacy_url) {
        let a = text_el(doc, "a", "crumb-a", app.cfg.privacy_link());
        attr(&a, "href", privacy_url);
        attr(&a, "rel", "noopener noreferrer");
        append(&purpose, &text_el(doc, "span", "", " "));
        append(&purpose, &a);
    }
    append(&details, &purpose);
    append(&details, &cookie_table(app, s));
    details
}

/// The choice the switches show. They are read in document order, which
/// is the order [`Modal::show`] creates them in: per category its own
/// switch, then its services' switches.
pub fn read_choices(app: &App, root: &Element) -> Choices {
    let mut c = app.cfg.necessary_only();
    let mut inputs = each::<HtmlInputElement>(root, "input");
    for cat in &app.cfg.cats {
        let Some(input) = inputs.next() else {
            break;
        };
        c.set(cat.idx, input.checked());
        for (i, s) in app.cfg.svcs.iter().enumerate() {
            if s.cat == cat.idx {
                let on = inputs.next().is_some_and(|input| input.checked());
                c.set_service(i, on && c.allows(s.cat));
            }
        }
    }
    c
}

/// Keeps category and service switches consistent within a category's
/// section: a category switch sets its services; switching a service on
/// switches its category on, and switching its last one off switches the
/// category off. (The necessary section's switches are
/// disabled and never change.)
pub fn sync(changed: &HtmlInputElement) {
    let Some(section) = ancestor(changed, "section") else {
        return;
    };
    let set = |selector, on| {
        for input in each::<HtmlInputElement>(&section, selector) {
            input.set_checked(on);
        }
    };
    let on = changed.checked();
    if changed.has_attribute("data-cat") {
        set("input[data-svc]", on);
    } else if on {
        set("input[data-cat]", true);
    } else if all(&section, "input[data-svc]:checked").length() == 0 {
        // No service of the category left: the category goes off too, so
        // scripts gated on the category alone stop as well.
        set("input[data-cat]", false);
    }
}

impl Modal {
    pub fn show(app: &App, current: &Choices) -> Modal {
        let doc = &app.doc;
        let t = &app.cfg.t;
        let dialog = el(doc, "dialog", "crumb crumb-modal");
        let root = &dialog;
        attr(root, "aria-labelledby", "crumb-mt");
        attr(root, "lang", app.cfg.lang);
        let head = el(doc, "div", "crumb-head");
        let title = text_el(doc, "h2", "crumb-title", t.title());
        attr(&title, "id", "crumb-mt");
        append(&head, &title);
        let close = button(app, "\u{d7}", "close", "crumb-x");
        attr(&close, "aria-label", t.close());
        append(&head, &close);
        append(root, &head);
        intro(app, root, "crumb-md");
        attr(root, "aria-describedby", "crumb-md");
        if let Some(meta) = app.receipt_line() {
            append(root, &text_el(doc, "p", "crumb-meta", &meta));
        }
        for cat in &app.cfg.cats {
            let section = el(doc, "section", "crumb-cat");
            let key = category_key(cat.idx);
            let necessary = cat.idx == NECESSARY;
            append(
                &section,
                &switch(
                    app,
                    // Without the dialog's texts (they could not be
                    // fetched), the category's id still names the switch.
                    or(cat.name.get(), key),
                    "data-cat",
                    key,
                    current.allows(cat.idx),
                    necessary,
                ),
            );
            append(&section, &text_el(doc, "p", "crumb-desc", cat.desc.get()));
            for (i, s) in app
                .cfg
                .svcs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.cat == cat.idx)
            {
                let row = el(doc, "div", "crumb-svc");
                let mut label = String::from(or(s.name.get(), s.id));
                label.push_str(" \u{b7} ");
                label.push_str(s.provider.get());
                let on = current.service(i);
                append(
                    &row,
                    &switch(app, &label, "data-svc", s.id, on || necessary, necessary),
                );
                append(&row, &cookie_details(app, s));
                append(&section, &row);
            }
            append(root, &section);
        }
        append(root, &actions(app, (t.save(), "save")));
        // On `<html>`, as the banner: a page that swaps its body keeps it.
        if let Some(html) = doc.document_element() {
            append(&html, root);
        }
        show_modal(root);
        focus(&close);
        Modal { root: dialog }
    }
}

/// `text`, or `fallback` when it is empty.
fn or<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    if text.is_empty() { fallback } else { text }
}

/// Keeps Tab inside `dialog`: from the last control to the first and, with
/// Shift, back. `focused` is the keydown's target: the element that has
/// focus.
pub fn trap_tab(dialog: &Element, e: &Event, focused: &Element) {
    let k: &KeyboardEvent = e.unchecked_ref();
    if k.key() != "Tab" {
        return;
    }
    let list = all(dialog, FOCUSABLE);
    let item = |i: u32| list.item(i).map(JsCast::unchecked_into::<Element>);
    let (Some(first), Some(last)) = (item(0), item(list.length().saturating_sub(1))) else {
        return;
    };
    let wrap_to = if k.shift_key() && *focused == first {
        Some(last)
    } else if !k.shift_key() && *focused == last {
        Some(first)
    } else {
        None
    };
    if let Some(target) = wrap_to {
        e.prevent_default();
        focus(&target);
    }
}
