//! The gate: third-party scripts (`<script type="text/plain"
//! data-category=...>`) run, and embeds (`<iframe|img data-src=...>`) load,
//! only once their category (and service, when named) is allowed. Blocked
//! embeds get a placeholder; the stylesheet shows it for iframes only (a
//! gated image is most often a tracking pixel). Scripts are released in
//! document order: an external script without `async` is waited for
//! before the next one runs, while it is on the page. `crumb.js` calls
//! [`scan`] again from a mutation observer, so elements that pages add
//! later, or whose `type`, `data-category`, `data-service` or `data-src`
//! they change, are gated too; for an embed changed so after its release,
//! crumb.js first clears its mark, so it is gated afresh (a released
//! script ran once). A change of `src` calls it too, keeping the mark: an
//! embed whose `src` and mark a morph took away (Livewire's) is unmarked
//! and loads again, while one whose `src` Crumb has just set is left as
//! it is.
//! An embed loaded under an earlier choice is unloaded, behind its
//! placeholder again, once the visitor's choice no longer allows it.

use alloc::collections::VecDeque;
use core::cell::RefCell;

use web_sys::Element;

use crate::app::App;
use crate::consent::{Choices, category_index};
use crate::dom::{
    Cell as _, ancestor, append, attr, copy, each, el, put_before, stands_for, text_el,
};

/// What the gate looks at: the scripts it has not released yet, and every
/// gated embed (one it has loaded unloads when the choice stops allowing
/// it). A `nomodule` script, an old browser's fallback for a module, is
/// left alone: no browser that runs Crumb would run it, or send its
/// `load`, which the scripts after it would wait for.
const SELECTOR: &str = ":is(script[type='text/plain']:not([data-crumb=run],[nomodule]),iframe[data-src],img[data-src])[data-category]";
/// Marks an element as handled: `run` (released) or `ph` (placeholder
/// shown; the stylesheet hides embeds marked so).
const MARK: &str = "data-crumb";
/// Marks the placeholder in front of a blocked embed.
const PLACEHOLDER: &str = "data-crumb-ph";

#[derive(Default)]
pub struct Gate {
    queue: RefCell<VecDeque<Element>>,
    /// The external script whose `load` (or `error`) the queue waits for.
    waiting: RefCell<Option<Element>>,
}

/// Whether `choices` (the visitor's current choice) allow this element.
fn allowed(app: &App, choices: &Choices, e: &Element) -> bool {
    let Some(cat) = e
        .get_attribute("data-category")
        .and_then(|c| category_index(&c))
    else {
        return false;
    };
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
pub fn scan(app: &App) {
    // A choice site code has not heard of yet releases nothing (see
    // `App::held`).
    let held = app.held.get();
    // Worked out once, not for each element: a page with hundreds of
    // blocked embeds is scanned again whenever its DOM changes.
    let choices = app.choices();
    for e in each::<Element>(&app.doc, SELECTOR) {
        // An embed's mark says what the gate did with it: nothing yet,
        // `ph` (blocked) or `run` (loaded); released scripts do not match.
        // (`ancestor` starts at the element itself, and no element around
        // a script, an iframe or an image carries the mark, so only the
        // element's own mark can match.)
        let loaded = ancestor(&e, "[data-crumb=run]").is_some();
        // Of the elements gated, only scripts carry `type`.
        let is_script = e.has_attribute("type");
        if allowed(app, &choices, &e) {
            if held || loaded {
                continue;
            }
            attr(&e, MARK, "run");
            if is_script {
                app.gate.queue.wr().push_back(e);
            } else {
                load_embed(&e);
            }
        } else if !is_script && (loaded || !e.has_attribute(MARK)) {
            // An embed not blocked yet. One loaded under an earlier choice
            // (withdrawn since), or one an app has pointed elsewhere, is
            // unloaded: an empty `src` leaves an iframe on `about:blank`
            // and an image empty.
            if e.has_attribute("src") {
                attr(&e, "src", "");
            }
            attr(&e, MARK, "ph");
            placeholder(app, &e);
        }
    }
    pump(app);
}

fn load_embed(e: &Element) {
    if let Some(prev) = e.previous_element_sibling()
        && prev.has_attribute(PLACEHOLDER)
    {
        prev.remove();
    }
    if let Some(src) = e.get_attribute("data-src") {
        attr(e, "src", &src);
    }
}

/// A box in place of a blocked embed, with a button that says what it
/// allows: the embed's service ("Allow YouTube"), or its category when no
/// service is named ("Allow Marketing cookies"), never more than it says.
fn placeholder(app: &App, e: &Element) {
    let doc = &app.doc;
    let ph = el(doc, "div", "crumb crumb-ph");
    attr(&ph, PLACEHOLDER, "");
    append(&ph, &text_el(doc, "p", "", app.cfg.t.placeholder()));
    let service = e
        .get_attribute("data-service")
        .and_then(|id| app.cfg.service(&id).map(|(_, s)| s));
    // What the button allows (see `App::click`): the service, else the
    // category (which `scan` found on every gated element).
    let category = e.get_attribute("data-category").unwrap_or_default();
    let (allows, label) = match service {
        Some(s) => (s.id, s.allow),
        None => {
            let idx = category_index(&category);
            let cat = app.cfg.cats.iter().find(|c| Some(c.idx) == idx);
            (&*category, cat.map_or("", |c| c.allow))
        }
    };
    let button = text_el(doc, "button", "crumb-btn", label);
    attr(&button, "type", "button");
    attr(&button, "data-crumb-allow", allows);
    append(&ph, &button);
    put_before(e, &ph);
}

/// Runs queued scripts in order, pausing on external scripts that the page
/// did not mark `async` until they have loaded. crumb.js calls it again on
/// every `load` and `error`, after taking out a released script's copy
/// that has loaded or failed to (see [`stands_for`]): the copy the queue
/// waits for is then no longer on the page.
pub fn pump(app: &App) {
    // A copy the page took out before it loaded (a single-page app leaving
    // the view that held it) sends its `load` to no one, so the queue goes
    // on without it rather than wait for good.
    while app
        .gate
        .waiting
        .rd()
        .as_ref()
        .is_none_or(|w| !w.is_connected())
    {
        let Some(old) = app.gate.queue.wr().pop_front() else {
            return;
        };
        // A copy runs when inserted, however the original came in (parser,
        // `appendChild`, `innerHTML`; see `dom::copy`). It keeps every
        // attribute and the inline text. Its type is `data-type` when the
        // page gives one (`module`, as with vanilla-cookieconsent and
        // Klaro), else empty, which HTML reads as classic JavaScript.
        let Some(new) = copy(&app.doc, &old) else {
            continue;
        };
        let kind = old.get_attribute("data-type").unwrap_or_default();
        attr(&new, "type", &kind);
        if let Some(src) = old.get_attribute("data-src") {
            attr(&new, "src", &src);
        }
        // Just before the inert original, so released scripts keep their
        // document order. (A script the page has removed meanwhile is not
        // inserted, and not waited for.) An external script is waited for
        // however it was marked: `data-src`, or a plain `src` (Cookiebot's
        // markup; a `text/plain` script is never fetched).
        put_before(&old, &new);
        // An inline script (its copy has no `src`, from the original or
        // its `data-src`) has run once it is in, so its copy leaves at
        // once: the page's elements are then as its server sent them, but
        // for Crumb's mark. A framework that hydrates them later (React
        // 19, Svelte 5) finds nothing it did not render, so it has no
        // cause to render them afresh, which would build the script anew
        // and run it again. (A page that keeps its DOM and puts it back
        // later finds nothing to run either.)
        if !new.has_attribute("src") {
            new.remove();
            continue;
        }
        // An external copy stays until it has loaded (its `load` comes
        // through the document, and crumb.js then takes it out, as above,
        // and tells the page's own element, see [`stands_for`]), and goes
        // back to inert now: its type was read as it went in.
        // Pages that keep a copy of their DOM and put it back later (Turbo
        // Drive's cached pages, on "back") make every script in it run
        // again, and would run this one whatever the visitor's choice is
        // by then.
        attr(&new, "type", "text/plain");
        stands_for(&new, &old);
        if !old.has_attribute("async") && new.is_connected() {
            *app.gate.waiting.wr() = Some(new);
        }
    }
}
