//! Small DOM helpers and [`Listener`], an event listener that removes
//! itself when dropped (the shape of gloo-events' `EventListener`), so UI
//! pieces clean up by going out of scope instead of leaking closures.

use core::cell::{Ref, RefCell, RefMut};

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event, EventTarget};

/// Unwraps a DOM result. The DOM calls used here fail only on a broken
/// page; throwing a short JS exception there costs far fewer bytes than a
/// formatted panic.
pub fn ok<T>(r: Result<T, JsValue>) -> T {
    match r {
        Ok(v) => v,
        Err(_) => wasm_bindgen::throw_str("crumb: DOM call failed"),
    }
}

/// `RefCell` access without the panic path: `borrow()` would pull core's
/// formatting machinery into the download. The widget never nests borrows
/// across callbacks, so the error branch is a bug guard only.
pub trait Cell<T> {
    fn rd(&self) -> Ref<'_, T>;
    fn wr(&self) -> RefMut<'_, T>;
}

impl<T> Cell<T> for RefCell<T> {
    fn rd(&self) -> Ref<'_, T> {
        match self.try_borrow() {
            Ok(r) => r,
            Err(_) => wasm_bindgen::throw_str("crumb: busy"),
        }
    }

    fn wr(&self) -> RefMut<'_, T> {
        match self.try_borrow_mut() {
            Ok(r) => r,
            Err(_) => wasm_bindgen::throw_str("crumb: busy"),
        }
    }
}

pub fn el(doc: &Document, tag: &str, class: &str) -> Element {
    let e = ok(doc.create_element(tag));
    if !class.is_empty() {
        e.set_class_name(class);
    }
    e
}

/// An element whose text is `text`, set with `textContent` (config text is
/// never parsed as HTML).
pub fn text_el(doc: &Document, tag: &str, class: &str, text: &str) -> Element {
    let e = el(doc, tag, class);
    e.set_text_content(Some(text));
    e
}

pub fn attr(e: &Element, name: &str, value: &str) {
    ok(e.set_attribute(name, value));
}

pub fn append(parent: &Element, child: &Element) {
    ok(parent.append_child(child));
}

/// The element an event happened on, or its nearest ancestor matching
/// `selector`.
pub fn closest(event: &Event, selector: &str) -> Option<Element> {
    let target: Element = event.target()?.dyn_into().ok()?;
    target.closest(selector).ok().flatten()
}

pub fn focus(e: &Element) {
    if let Some(h) = e.dyn_ref::<web_sys::HtmlElement>() {
        let _ = h.focus();
    }
}

/// Only web and site-relative links are rendered as links; anything else
/// (`javascript:` in a config) is dropped.
pub fn safe_href(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')
}

/// An event listener that is removed when this value is dropped.
#[must_use = "the listener is removed as soon as this value is dropped"]
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Listener {
    pub fn new(target: &EventTarget, kind: &'static str, f: impl FnMut(Event) + 'static) -> Self {
        let callback = Closure::<dyn FnMut(Event)>::new(f);
        ok(target.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref()));
        Listener {
            target: target.clone(),
            kind,
            callback,
        }
    }

    /// Keeps the listener for the life of the page (for document-wide
    /// listeners only).
    pub fn forget(self) {
        core::mem::forget(self);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}
