//! Talking to the Crumb server. Choices are POSTed in the background: the
//! UI never waits, and a choice the server has not acknowledged stays
//! marked pending in the cookie and is sent again later.

use alloc::rc::Rc;
use alloc::string::String;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{RequestInit, Response};

use crate::app::App;

#[wasm_bindgen]
extern "C" {
    /// `Promise.prototype.then` with plain functions, so the callbacks can
    /// be one-shot closures that free themselves once called.
    type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    fn then_fn(this: &Thenable, ok: &JsValue, err: &JsValue);
}

fn then(p: Promise, ok: impl FnOnce(JsValue) + 'static, err: impl FnOnce(JsValue) + 'static) {
    p.unchecked_ref::<Thenable>()
        .then_fn(&Closure::once_into_js(ok), &Closure::once_into_js(err));
}

/// Sends a consent request. The receipt (or the failure) goes back to the
/// app.
pub fn post(app: &Rc<App>, body: String) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let mut url = String::with_capacity(96);
    url.push_str(&app.base);
    url.push_str("/v1/sites/");
    url.push_str(&app.site);
    url.push_str("/consents");
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&body));
    // keepalive lets the request finish when the visitor navigates away
    // right after choosing.
    let _ = Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
    let headers = Object::new();
    let _ = Reflect::set(&headers, &"content-type".into(), &"application/json".into());
    init.set_headers(&headers);
    let (a, b) = (app.clone(), app.clone());
    then(
        window.fetch_with_str_and_init(&url, &init),
        move |resp| {
            let resp: Response = resp.unchecked_into();
            let status = resp.status();
            match resp.json() {
                Ok(p) => {
                    let c = a.clone();
                    then(
                        p,
                        move |json| a.on_answer(status, &json),
                        move |_| c.on_answer(status, &JsValue::NULL),
                    )
                }
                Err(_) => a.on_answer(status, &JsValue::NULL),
            }
        },
        move |_| b.on_answer(0, &JsValue::NULL),
    );
}
