//! What `crumb.js` calls. The loader owns the page's event listeners, the
//! mutation observer and the network (one `fetch` per choice); it forwards
//! each event here and acts on the flags that come back ([`ANNOUNCE`]: fire
//! `crumb:change`; [`SEND`]: POST `json(false)`). Keeping closures
//! and promise callbacks out of the wasm keeps wasm-bindgen's closure
//! machinery out of every visitor's download.

use alloc::boxed::Box;
use alloc::string::String;
use core::cell::Cell;

use wasm_bindgen::prelude::*;
use web_sys::{Document, Event};

use crate::app::{self, ANNOUNCE, Answer, App, KIND_CHANGE, KIND_KEYDOWN, SEND};

/// The page events crumb.js forwards, by the `kind` it passes: click,
/// change, keydown, cancel, load or error (of a script), DOM changed.
const KIND_CLICK: u8 = 0;
const KIND_CANCEL: u8 = 3;
/// The page's DOM changed (from the mutation observer; `e` is undefined).
const KIND_DOM: u8 = 6;
/// `crumb.show()`: open the preferences dialog (`e` is undefined).
const KIND_SHOW: u8 = 7;

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
/// `host` describe the page's location. Returns what to do next, as [`on`]
/// does: announce a choice that still counts, and resend one the server
/// has not acknowledged. 0 when the config cannot be read; the other
/// functions then do nothing.
#[wasm_bindgen]
pub fn start(config: &str, doc: Document, secure: bool, host: &str) -> u8 {
    let page = app::Page {
        secure,
        host: host.into(),
    };
    let Some(started) = app::start(config.into(), doc, page) else {
        return 0;
    };
    let flags = SEND | if started.has_choice() { ANNOUNCE } else { 0 };
    APP.0.set(Some(Box::leak(Box::new(started))));
    flags
}

/// The current choice as JSON text: for site code (`crumb.consent()`,
/// `null` before the first choice) or, with `for_site` false, the body of
/// the consent request to POST (`null` if none is pending).
#[wasm_bindgen]
pub fn json(for_site: bool) -> JsValue {
    let app = app();
    js_string(if for_site {
        app.and_then(App::consent_json)
    } else {
        app.and_then(App::pending_request)
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
        KIND_SHOW => app.show(),
        // `load` and `error` of a script.
        _ => {
            if let Some(t) = crate::dom::target(&e) {
                crate::gate::loaded(app, &t);
            }
        }
    }
    0
}

/// The server's answer: its status (0 when the request failed), the
/// receipt's fields (dates in milliseconds; the id is empty when absent),
/// and whether the error was `unknown_consent`.
#[wasm_bindgen]
pub fn answer(
    status: u16,
    consent_id: &str,
    given_ms: f64,
    expires_ms: f64,
    unknown_consent: bool,
) -> u8 {
    let Some(app) = app() else {
        return 0;
    };
    app.on_answer(
        status,
        &Answer {
            consent_id,
            given_ms,
            expires_ms,
            unknown_consent,
        },
    )
}
