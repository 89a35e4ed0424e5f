//! What `crumb.js` calls. The loader owns the page's event listeners, the
//! mutation observer, the network and the channel to the site's other
//! tabs; it forwards each event and each answer here and acts on the flags
//! that come back (see the table in `app.rs`, mirrored in loader.js).
//! Keeping closures and promise callbacks out of the wasm keeps
//! wasm-bindgen's closure machinery out of every visitor's download.

use alloc::boxed::Box;
use alloc::string::String;
use core::cell::Cell;

use wasm_bindgen::prelude::*;
use web_sys::{Document, Event};

use crate::app::{self, App, KIND_CHANGE, KIND_KEYDOWN};

/// The page events crumb.js forwards, by the `kind` it passes: click,
/// change, keydown, cancel, load or error (of a script), DOM changed.
const KIND_CLICK: u8 = 0;
const KIND_CANCEL: u8 = 3;
/// The page's DOM changed (from the mutation observer; `e` is undefined).
const KIND_DOM: u8 = 6;
/// `crumb.show()`: open the preferences dialog (`e` is undefined).
const KIND_SHOW: u8 = 7;
/// Site code has heard of the choice (ANNOUNCE): the gate may release
/// what it allows (`e` is undefined).
const KIND_RELEASE: u8 = 8;

/// The answers crumb.js passes to [`answer`], by its `kind`: the visit
/// check (`GET .../consents/{id}`), a consent request (`POST
/// .../consents`), word from another tab that the cookie changed, and
/// the preferences dialog's texts.
const ANSWER_VISIT: u8 = 0;
const ANSWER_RECORD: u8 = 1;
const ANSWER_TAB: u8 = 2;
/// The preferences dialog's texts (`GET .../widget/details`).
const ANSWER_DETAILS: u8 = 3;

/// What [`text`] returns, by its `what`: the consent request to send, or
/// the choice for site code.
const TEXT_REQUEST: u8 = 0;

/// A string for JS, or `null`. Cheaper than returning `Option<String>`,
/// which wasm-bindgen hands over through a shrunk copy.
fn js_string(s: Option<String>) -> JsValue {
    s.map_or(JsValue::NULL, |s| JsValue::from_str(&s))
}

/// The started app. It lives as long as the page, so it is leaked, and
/// the functions below reach it through this one global rather than a
/// wasm-bindgen class: a class costs a handle, a finalizer and a borrow
/// check per call, in the glue and in the wasm.
struct Started(Cell<Option<&'static App>>);

// SAFETY: this module is built only for wasm32 without threads (no
// `atomics` target feature), so there is exactly one thread and the cell is
// never shared between threads.
#[allow(unsafe_code)]
unsafe impl Sync for Started {}

static APP: Started = Started(Cell::new(None));

/// The started app, once [`start`] has succeeded.
fn app() -> Option<&'static App> {
    APP.0.get()
}

/// Starts the widget on `doc` with the compact config text; `secure` and
/// `host` describe the page's location, `gpc` whether the browser sends
/// Global Privacy Control. The visit check's answer comes
/// next, through [`answer`]. Called again with a fresh config when the
/// page's one turned out to be outdated: the old widget leaves the page.
/// False when the config cannot be read; the other functions then do
/// nothing.
#[wasm_bindgen]
pub fn start(config: &str, doc: Document, secure: bool, host: &str, gpc: bool) -> bool {
    let page = app::Page {
        secure,
        host: host.into(),
        gpc,
    };
    let Some(started) = app::start(config.into(), doc, page) else {
        return false;
    };
    if let Some(old) = app() {
        old.remove();
    }
    APP.0.set(Some(Box::leak(Box::new(started))));
    true
}

/// Text for crumb.js, or `null`: the consent request to POST (while one is
/// pending), or the current choice as JSON for site code
/// (`crumb.consent()`, once one counts).
#[wasm_bindgen]
pub fn text(what: u8) -> JsValue {
    let app = app();
    js_string(if what == TEXT_REQUEST {
        app.and_then(App::pending_request)
    } else {
        app.and_then(App::consent_json)
    })
}

/// A page event (see the `KIND_` constants).
#[wasm_bindgen]
pub fn on(kind: u8, e: Event) -> u8 {
    let Some(app) = app() else {
        return 0;
    };
    match kind {
        KIND_CLICK => return app.click(&e),
        KIND_CHANGE | KIND_KEYDOWN | KIND_CANCEL => app.dialog_event(kind, &e),
        KIND_DOM => crate::gate::scan(app),
        KIND_RELEASE => {
            app.held.set(false);
            crate::gate::scan(app);
        }
        KIND_SHOW => return app.show(),
        // `load` and `error` of any element: when it was a released
        // script's copy, crumb.js has taken it out, and the scripts that
        // waited for it may run.
        _ => crate::gate::pump(app),
    }
    0
}

/// An answer (see the `ANSWER_` constants): its HTTP status (0 when the
/// request failed), its text (the consent's cookie value, else its state
/// or error code) and whether the server set the cookie itself
/// (`Crumb-Cookie: set`).
#[wasm_bindgen]
pub fn answer(kind: u8, status: u16, text: &str, server_set: bool) -> u8 {
    let Some(app) = app() else {
        return 0;
    };
    match kind {
        ANSWER_VISIT => app.on_visit(status, text, server_set),
        ANSWER_RECORD => app.on_record(status, text, server_set),
        ANSWER_TAB => app.on_tab(),
        ANSWER_DETAILS => app.on_details(status, text),
        _ => 0,
    }
}
