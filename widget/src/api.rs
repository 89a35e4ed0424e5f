//! What `crumb.js` calls. The loader owns the page's event listeners, the
//! mutation observer and the network (one `fetch` per choice); it forwards
//! each event here and acts on the flags that come back ([`ANNOUNCE`]: fire
//! `crumb:change`; [`SEND`]: POST [`Widget::request`]). Keeping closures
//! and promise callbacks out of the wasm keeps wasm-bindgen's closure
//! machinery out of every visitor's download.

use alloc::string::String;

use wasm_bindgen::prelude::*;
use web_sys::{Document, Event};

use crate::app::{self, ANNOUNCE, Answer, App, KIND_CHANGE, KIND_KEYDOWN, SEND};

/// The page events crumb.js forwards, by the `kind` it passes: click,
/// change, keydown, cancel, load or error (of a script), DOM changed.
const KIND_CLICK: u8 = 0;
const KIND_CANCEL: u8 = 3;
/// The page's DOM changed (from the mutation observer; `e` is undefined).
const KIND_DOM: u8 = 6;

/// A string for JS, or `null`. Cheaper than returning `Option<String>`,
/// which wasm-bindgen hands over through a shrunk copy.
fn js_string(s: Option<String>) -> JsValue {
    s.map_or(JsValue::NULL, |s| JsValue::from_str(&s))
}

/// The handle behind `window.crumb`. The app lives as long as the page,
/// so it is leaked: the handle then needs no drop code.
#[wasm_bindgen]
pub struct Widget {
    app: &'static App,
}

/// Starts the widget on `doc` with the compact config text; `secure` and
/// `host` describe the page's location. `None` when the config cannot be
/// read.
#[wasm_bindgen]
pub fn start(config: String, doc: Document, secure: bool, host: String) -> Option<Widget> {
    let app = app::start(config, doc, app::Page { secure, host })?;
    Some(Widget {
        app: alloc::boxed::Box::leak(alloc::boxed::Box::new(app)),
    })
}

#[wasm_bindgen]
impl Widget {
    /// Opens the preferences dialog.
    pub fn show(&self) {
        self.app.show();
    }

    /// The current choice as JSON text (`null` before the first one).
    pub fn consent(&self) -> JsValue {
        js_string(self.app.consent_json())
    }

    /// What to do right after start: announce a choice that still counts,
    /// and resend one the server has not acknowledged.
    pub fn boot(&self) -> u8 {
        SEND | if self.app.has_choice() { ANNOUNCE } else { 0 }
    }

    /// The body of the consent request to POST (`null` if none is pending).
    pub fn request(&self) -> JsValue {
        js_string(self.app.pending_request())
    }

    /// A page event (see the `KIND_` constants).
    pub fn on(&self, kind: u8, e: Event) -> u8 {
        match kind {
            KIND_CLICK => self.app.click(&e),
            KIND_CHANGE | KIND_KEYDOWN | KIND_CANCEL => {
                self.app.dialog_event(kind, &e);
                0
            }
            KIND_DOM => {
                crate::gate::scan(self.app);
                0
            }
            // `load` and `error` of a script.
            _ => {
                if let Some(t) = crate::dom::target(&e) {
                    crate::gate::loaded(self.app, &t);
                }
                0
            }
        }
    }

    /// The server's answer: its status (0 when the request failed), the
    /// receipt's fields (dates in milliseconds), and whether the error was
    /// `unknown_consent`.
    pub fn answer(
        &self,
        status: u16,
        consent_id: Option<String>,
        given_ms: f64,
        expires_ms: f64,
        unknown_consent: bool,
    ) -> u8 {
        self.app.on_answer(
            status,
            &Answer {
                consent_id,
                given_ms,
                expires_ms,
                unknown_consent,
            },
        )
    }
}
