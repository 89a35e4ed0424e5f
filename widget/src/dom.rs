//! Small DOM helpers. There are no event listeners here: `crumb.js` owns
//! the page's listeners and forwards events to [`crate::api::on`],
//! so no Rust closure crosses into JS (see ARCHITECTURE.md).

use core::cell::{Ref, RefCell, RefMut};

use alloc::string::String;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event, Node, NodeList};

#[wasm_bindgen]
extern "C" {
    /// Any DOM node, the document included, seen through the calls the
    /// widget makes most. web-sys declares these `catch`, which costs a
    /// `Result` at every call site and a try/catch wrapper in the glue;
    /// here a throw (only possible on a broken page) simply propagates to
    /// crumb.js, which called in.
    type Dom;
    #[wasm_bindgen(method, js_name = createElement)]
    fn create_element(this: &Dom, tag: &str) -> Element;
    #[wasm_bindgen(method, js_name = setAttribute)]
    fn set_attribute(this: &Dom, name: &str, value: &str);
    #[wasm_bindgen(method, js_name = appendChild)]
    fn append_child(this: &Dom, child: &Node);
    #[wasm_bindgen(method)]
    fn before(this: &Dom, node: &Node);
    #[wasm_bindgen(method)]
    fn prepend(this: &Dom, node: &Node);
    #[wasm_bindgen(method, js_name = querySelectorAll)]
    fn query_selector_all(this: &Dom, selector: &str) -> NodeList;
    #[wasm_bindgen(method)]
    fn closest(this: &Dom, selector: &str) -> Option<Element>;
    #[wasm_bindgen(method, getter, js_name = outerHTML)]
    fn outer_html(this: &Dom) -> String;
    #[wasm_bindgen(method, js_name = createRange)]
    fn create_range(this: &Dom) -> Dom;
    #[wasm_bindgen(method, getter)]
    fn nonce(this: &Dom) -> String;
    #[wasm_bindgen(method, setter)]
    fn set_nonce(this: &Dom, nonce: &str);
    #[wasm_bindgen(method, js_name = createContextualFragment)]
    fn create_contextual_fragment(this: &Dom, html: &str) -> Dom;
    #[wasm_bindgen(method)]
    fn focus(this: &Dom);
    #[wasm_bindgen(method, js_name = showModal)]
    fn show_modal(this: &Dom);
    #[wasm_bindgen(method, getter)]
    fn cookie(this: &Dom) -> String;
    #[wasm_bindgen(method, setter)]
    fn set_cookie(this: &Dom, cookie: &str);
    /// On a released script's copy, the page's own element it stands for
    /// (an expando; crumb.js reads it, see [`stands_for`]).
    #[wasm_bindgen(method, setter = crumbOriginal)]
    fn set_original(this: &Dom, e: &Element);
}

fn dom(n: &Node) -> &Dom {
    n.unchecked_ref()
}

/// The elements under `root` (an element or the document) that match.
pub fn all(root: &Node, selector: &str) -> NodeList {
    dom(root).query_selector_all(selector)
}

/// The elements under `root` that match `selector`, taken to be `T`.
pub fn each<T: JsCast>(root: &Node, selector: &str) -> impl Iterator<Item = T> {
    let list = all(root, selector);
    (0..list.length()).filter_map(move |i| list.item(i).map(JsCast::unchecked_into))
}

/// Puts `node` just before `e`, in `e`'s parent (nowhere if it has none).
pub fn put_before(e: &Element, node: &Node) {
    dom(e).before(node);
}

/// Puts `node` first in `parent`.
pub fn prepend(parent: &Node, node: &Node) {
    dom(parent).prepend(node);
}

/// A copy of `e` (attributes, children and text), made by parsing its
/// markup again. Unlike `cloneNode`, this leaves a script free to run when
/// inserted: a script that arrived through `innerHTML` or
/// `insertAdjacentHTML` is marked "already started", and clones inherit
/// the mark, while a contextual fragment's scripts are unmarked (DOM
/// Parsing, `createContextualFragment`; a new range parses as in
/// `<body>`). Its CSP nonce, which browsers hide from the markup, is
/// carried over. Not connected until inserted.
pub fn copy(doc: &Document, e: &Element) -> Option<Element> {
    let fragment = dom(doc)
        .create_range()
        .create_contextual_fragment(&dom(e).outer_html());
    let new = each::<Element>(fragment.unchecked_ref(), "*").next()?;
    dom(&new).set_nonce(&dom(e).nonce());
    Some(new)
}

/// Notes on a released script's `copy` the page's own element it stands
/// for: once the copy has loaded (or failed to), crumb.js takes it out and
/// fires the same event at that element (see loader.js).
pub fn stands_for(copy: &Element, original: &Element) {
    dom(copy).set_original(original);
}

pub fn show_modal(dialog: &Element) {
    dom(dialog).show_modal();
}

pub fn cookie(doc: &Document) -> String {
    dom(doc).cookie()
}

pub fn set_cookie(doc: &Document, cookie: &str) {
    dom(doc).set_cookie(cookie);
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
            Err(_) => crate::abort(),
        }
    }

    fn wr(&self) -> RefMut<'_, T> {
        match self.try_borrow_mut() {
            Ok(r) => r,
            Err(_) => crate::abort(),
        }
    }
}

pub fn el(doc: &Document, tag: &str, class: &str) -> Element {
    let e = dom(doc).create_element(tag);
    if !class.is_empty() {
        attr(&e, "class", class);
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
    dom(e).set_attribute(name, value);
}

pub fn append(parent: &Node, child: &Node) {
    dom(parent).append_child(child);
}

/// The element an event happened on, or its nearest ancestor matching
/// `selector`.
///
/// Targets are not type-checked (an `instanceof` import per type would
/// ship to every visitor); every event crumb.js forwards happens on an
/// element.
pub fn closest(event: &Event, selector: &str) -> Option<Element> {
    ancestor(&target(event)?, selector)
}

/// `e` or its nearest ancestor matching `selector`.
pub fn ancestor(e: &Element, selector: &str) -> Option<Element> {
    dom(e).closest(selector)
}

/// The node an event happened on, taken to be an element (see [`closest`]).
pub fn target(event: &Event) -> Option<Element> {
    event.target().map(JsCast::unchecked_into)
}

pub fn focus(e: &Element) {
    dom(e).focus();
}

/// Only web and site-relative links are rendered as links; anything else
/// (`javascript:` in a config) is dropped.
pub fn safe_href(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')
}
