//! Small DOM helpers. There are no event listeners here: `crumb.js` owns
//! the page's listeners and forwards events to [`crate::api::Widget::on`],
//! so no Rust closure crosses into JS (see ARCHITECTURE.md).

use core::cell::{Ref, RefCell, RefMut};

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event};

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
///
/// Targets are not type-checked (an `instanceof` import per type would
/// ship to every visitor): on a target that is not an element, `closest`
/// throws inside the import and this returns `None`.
pub fn closest(event: &Event, selector: &str) -> Option<Element> {
    target(event)?.closest(selector).ok().flatten()
}

/// The node an event happened on, taken to be an element (see [`closest`]).
pub fn target(event: &Event) -> Option<Element> {
    event.target().map(JsCast::unchecked_into)
}

pub fn focus(e: &Element) {
    let _ = e.unchecked_ref::<web_sys::HtmlElement>().focus();
}

/// Only web and site-relative links are rendered as links; anything else
/// (`javascript:` in a config) is dropped.
pub fn safe_href(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')
}
