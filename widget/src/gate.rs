//! The gate: third-party scripts (`<script type="text/plain"
//! data-category=...>`) run, and embeds (`<iframe|img data-src=...>`) load,
//! only once their category (and service, when named) is allowed. Scripts
//! are released in document order: an external script without `async` is
//! waited for before the next one runs. A mutation observer gates elements
//! that pages add later.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Element, Event, MutationObserver, MutationObserverInit};

use crate::app::App;
use crate::consent::category_index;
use crate::dom::{Cell as _, append, attr, el, ok, text_el};

const SELECTOR: &str = "script[type='text/plain'][data-category],iframe[data-src][data-category],img[data-src][data-category]";
/// Marks an element as handled: `run` (released) or `ph` (placeholder shown).
const MARK: &str = "data-crumb";

type Callback = Closure<dyn FnMut(Event)>;

#[derive(Default)]
pub struct Gate {
    queue: RefCell<VecDeque<Element>>,
    waiting: Cell<bool>,
    /// Called when a waited-for script has loaded (or failed); kept for the
    /// page's life because released scripts keep their listeners.
    resume: RefCell<Option<Callback>>,
}

/// Watches the page for gated elements added later (single-page apps).
pub fn observe(app: &Rc<App>) {
    let a = app.clone();
    let resume = Closure::<dyn FnMut(Event)>::new(move |_| {
        a.gate.waiting.set(false);
        pump(&a);
    });
    *app.gate.resume.wr() = Some(resume);
    let a = app.clone();
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |_| scan(&a));
    if let Ok(observer) = MutationObserver::new(cb.as_ref().unchecked_ref()) {
        let init = MutationObserverInit::new();
        init.set_child_list(true);
        init.set_subtree(true);
        if let Some(root) = app.doc.document_element() {
            let _ = observer.observe_with_options(&root, &init);
        }
    }
    // The observer lives as long as the page.
    cb.forget();
}

/// Whether the visitor's current choice allows this element.
fn allowed(app: &App, e: &Element) -> bool {
    let Some(cat) = e
        .get_attribute("data-category")
        .and_then(|c| category_index(&c))
    else {
        return false;
    };
    let choices = app.choices();
    if !choices.allows(cat) {
        return false;
    }
    match e.get_attribute("data-service") {
        None => true,
        Some(id) => app
            .cfg
            .service_index(&id)
            .is_some_and(|i| choices.service(i)),
    }
}

/// Releases what the current choice allows and puts placeholders on
/// blocked embeds. Safe to call repeatedly.
pub fn scan(app: &Rc<App>) {
    let Ok(list) = app.doc.query_selector_all(SELECTOR) else {
        return;
    };
    for i in 0..list.length() {
        let Some(e) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
            continue;
        };
        let mark = e.get_attribute(MARK);
        if mark.as_deref() == Some("run") {
            continue;
        }
        let is_script = e.tag_name() == "SCRIPT";
        if allowed(app, &e) {
            attr(&e, MARK, "run");
            if is_script {
                app.gate.queue.wr().push_back(e);
            } else {
                load_embed(&e);
            }
        } else if !is_script && mark.is_none() {
            attr(&e, MARK, "ph");
            placeholder(app, &e);
        }
    }
    pump(app);
}

fn load_embed(e: &Element) {
    if let Some(prev) = e.previous_element_sibling()
        && prev.class_list().contains("crumb-ph")
    {
        prev.remove();
    }
    let _ = e.class_list().remove_1("crumb-hidden");
    if let Some(src) = e.get_attribute("data-src") {
        attr(e, "src", &src);
    }
}

/// A box in place of a blocked embed, with a button that allows its
/// service (or its category when no service is named).
fn placeholder(app: &App, e: &Element) {
    let doc = &app.doc;
    let t = &app.cfg.t;
    let ph = el(doc, "div", "crumb crumb-ph");
    let service = e
        .get_attribute("data-service")
        .and_then(|id| app.cfg.service(&id).map(|(_, s)| s));
    append(&ph, &text_el(doc, "p", "", &t.placeholder));
    if let Some(s) = service {
        append(&ph, &text_el(doc, "strong", "", &s.name));
    }
    let button = text_el(doc, "button", "crumb-btn", &t.placeholder_allow);
    attr(&button, "type", "button");
    match (service, e.get_attribute("data-category")) {
        (Some(s), _) => attr(&button, "data-crumb-allow", &s.id),
        (None, Some(cat)) => attr(&button, "data-crumb-allow-cat", &cat),
        (None, None) => {}
    }
    append(&ph, &button);
    let _ = e.class_list().add_1("crumb-hidden");
    if let Some(parent) = e.parent_node() {
        let _ = parent.insert_before(&ph, Some(e));
    }
}

/// Runs queued scripts in order, pausing on external scripts that the page
/// did not mark `async` until they have loaded.
fn pump(app: &App) {
    while !app.gate.waiting.get() {
        let Some(old) = app.gate.queue.wr().pop_front() else {
            return;
        };
        let new = el(&app.doc, "script", "");
        for name in old
            .get_attribute_names()
            .iter()
            .filter_map(|n| n.as_string())
        {
            if !matches!(
                name.as_str(),
                "type" | "data-category" | "data-service" | "data-src" | MARK
            ) {
                attr(&new, &name, &old.get_attribute(&name).unwrap_or_default());
            }
        }
        match old.get_attribute("data-src") {
            Some(src) => {
                attr(&new, "src", &src);
                if !old.has_attribute("async")
                    && let Some(resume) = app.gate.resume.rd().as_ref()
                {
                    let f = resume.as_ref().unchecked_ref();
                    ok(new.add_event_listener_with_callback("load", f));
                    ok(new.add_event_listener_with_callback("error", f));
                    app.gate.waiting.set(true);
                }
            }
            None => new.set_text_content(old.text_content().as_deref()),
        }
        if let Some(parent) = old.parent_node() {
            let _ = parent.insert_before(&new, old.next_sibling().as_ref());
        }
    }
}
