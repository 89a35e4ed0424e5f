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

/// The handle behind `window.crumb`.
#[wasm_bindgen]
pub struct Widget {
    app: App,
}

/// Starts the widget on `doc` with the compact config text; `secure` and
/// `host` describe the page's location. `None` when the config cannot be
/// read.
#[wasm_bindgen]
pub fn start(config: String, doc: Document, secure: bool, host: String) -> Option<Widget> {
    app::start(config, doc, app::Page { secure, host }).map(|app| Widget { app })
}

#[wasm_bindgen]
impl Widget {
    /// Opens the preferences dialog.
    pub fn show(&self) {
        self.app.show();
    }

    /// The current choice as JSON text (`undefined` before the first one).
    pub fn consent(&self) -> Option<String> {
        self.app.consent_json()
    }

    /// What to do right after start: announce a choice that still counts,
    /// and resend one the server has not acknowledged.
    pub fn boot(&self) -> u8 {
        SEND | if self.app.consent_json().is_some() {
            ANNOUNCE
        } else {
            0
        }
    }

    /// The body of the consent request to POST, if one is pending.
    pub fn request(&self) -> Option<String> {
        self.app.pending_request()
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
                crate::gate::scan(&self.app);
                0
            }
            // `load` and `error` of a script.
            _ => {
                if let Some(t) = crate::dom::target(&e) {
                    crate::gate::loaded(&self.app, &t);
                }
                0
            }
        }
    }

    /// The server's answer: its status (0 when the request failed) and the
    /// receipt's fields, dates already in milliseconds.
    pub fn answer(
        &self,
        status: u16,
        consent_id: Option<String>,
        given_ms: f64,
        expires_ms: f64,
        error: Option<String>,
    ) -> u8 {
        self.app.on_answer(
            status,
            &Answer {
                consent_id,
                given_ms,
                expires_ms,
                error,
            },
        )
    }
}
