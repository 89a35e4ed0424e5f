//! The widget's state and its entry points: [`start`], called by
//! `crumb.js` with the parsed config, and [`Widget`], the handle behind
//! `window.crumb`.

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CustomEvent, CustomEventInit, Document, Element, HtmlDocument};

use crate::banner::Banner;
use crate::config::Config;
use crate::consent::{self, Choices, Method, RequestParts, Stored};
use crate::dom::{Cell as _, Listener, attr, closest, text_el};
use crate::gate::{self, Gate};
use crate::modal::{Modal, read_choices};
use crate::storage;

/// An average calendar month, for the cookie's lifetime until the server's
/// receipt (which carries the exact expiry) arrives.
const MONTH_MS: u64 = 2_629_746_000;

pub struct App {
    pub doc: Document,
    html: HtmlDocument,
    pub cfg: Config,
    pub base: String,
    pub site: String,
    /// The current choice, if it still counts.
    stored: RefCell<Option<Stored>>,
    /// The id of an expired or outdated consent, so a new choice continues
    /// its history on the server.
    prior_id: RefCell<String>,
    banner: RefCell<Option<Banner>>,
    modal: RefCell<Option<Modal>>,
    reopen: RefCell<Option<Element>>,
    /// A consent id the server did not know was dropped once already.
    retried: core::cell::Cell<bool>,
    pub gate: Gate,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

impl App {
    /// The choice in force: the stored one, or strictly necessary only.
    pub fn choices(&self) -> Choices {
        let mut c = self.cfg.necessary_only();
        if let Some(s) = self.stored.rd().as_ref() {
            c.cats = s.cats | 1;
            let cats = c.cats;
            for (on, svc) in c.svcs.iter_mut().zip(&self.cfg.svcs) {
                *on |= s.services.contains(&svc.id) && cats & (1 << svc.cat) != 0;
            }
        }
        c
    }

    fn all(&self, on: bool) -> Choices {
        let mut c = self.cfg.necessary_only();
        if on {
            c.cats = 0b1111;
            c.svcs.iter_mut().for_each(|s| *s = true);
        }
        c
    }

    /// "ID … · 2026-11-23": the visitor's own proof of their choice.
    pub fn receipt_line(&self) -> Option<String> {
        let s = self.stored.rd();
        let s = s.as_ref().filter(|s| !s.consent_id.is_empty())?;
        let date = js_sys::Date::new(&JsValue::from_f64(s.given_ms as f64)).to_iso_string();
        let mut line = String::from("ID ");
        line.push_str(&s.consent_id);
        line.push_str(" \u{b7} ");
        let date = String::from(date);
        line.push_str(date.get(..10).unwrap_or_default());
        Some(line)
    }

    /// Handles a button's `data-a` action from the banner or the dialog.
    pub fn act(self: &Rc<Self>, action: &str) {
        match action {
            "accept" => self.decide(Method::AcceptAll, self.all(true)),
            "reject" => self.decide(Method::RejectAll, self.all(false)),
            "customize" => self.show(),
            "save" => {
                let choices = match self.modal.rd().as_ref() {
                    Some(m) => read_choices(self, m.element()),
                    None => return,
                };
                self.decide(Method::Custom, choices);
            }
            "close" => {
                // Closing is not a choice: the banner stays until one is made.
                let modal = self.modal.wr().take();
                drop(modal);
                // Focus goes back to the control that opened the dialog.
                if let Some(b) = self.banner.rd().as_ref() {
                    b.focus_customize();
                }
            }
            _ => {}
        }
    }

    /// Opens the preferences dialog with the current choice.
    pub fn show(self: &Rc<Self>) {
        let old = self.modal.wr().take();
        drop(old);
        let modal = Modal::show(self, &self.choices());
        *self.modal.wr() = Some(modal);
    }

    /// Applies and records a choice: the UI updates at once, the server is
    /// told in the background.
    fn decide(self: &Rc<Self>, method: Method, choices: Choices) {
        let now = now_ms();
        let previous = self.stored.rd().clone();
        let consent_id = match &previous {
            Some(p) if !p.consent_id.is_empty() => p.consent_id.clone(),
            _ => self.prior_id.rd().clone(),
        };
        let services = self
            .cfg
            .svcs
            .iter()
            .zip(&choices.svcs)
            .filter(|(_, on)| **on)
            .map(|(s, _)| s.id.clone())
            .collect();
        let stored = Stored {
            consent_id,
            revision: self.cfg.revision,
            given_ms: now,
            expires_ms: now + MONTH_MS * u64::from(self.cfg.validity_months),
            method,
            cats: choices.cats,
            services,
            pending: true,
        };
        self.save(stored);
        let (banner, modal) = (self.banner.wr().take(), self.modal.wr().take());
        drop((banner, modal));
        self.delete_refused_cookies(&choices);
        self.show_reopen();
        gate::scan(self);
        self.announce();
        self.send();
    }

    fn save(&self, stored: Stored) {
        let secure = self
            .doc
            .location()
            .and_then(|l| l.protocol().ok())
            .is_some_and(|p| p == "https:");
        storage::write(&self.html, &stored, now_ms(), secure);
        *self.stored.wr() = Some(stored);
    }

    /// Deletes the first-party cookies of every refused service.
    fn delete_refused_cookies(&self, choices: &Choices) {
        let host = self
            .doc
            .location()
            .and_then(|l| l.hostname().ok())
            .unwrap_or_default();
        let names = storage::names(&self.html);
        for (svc, _) in self
            .cfg
            .svcs
            .iter()
            .zip(&choices.svcs)
            .filter(|(_, on)| !**on)
        {
            for c in &svc.cookies {
                for name in names
                    .iter()
                    .filter(|n| consent::cookie_matches(&c.name, c.pattern, n))
                {
                    storage::delete(&self.html, name, &host);
                }
            }
        }
    }

    fn show_reopen(&self) {
        if self.reopen.rd().is_some() {
            return;
        }
        let b = text_el(
            &self.doc,
            "button",
            "crumb crumb-reopen",
            &self.cfg.t.reopen,
        );
        attr(&b, "type", "button");
        attr(&b, "data-crumb-open", "");
        if let Some(body) = self.doc.body() {
            let _ = body.append_child(&b);
        }
        *self.reopen.wr() = Some(b);
    }

    /// Tells site code: a `crumb:change` event on `document`.
    fn announce(&self) {
        let init = CustomEventInit::new();
        init.set_detail(&self.consent_js());
        if let Ok(e) = CustomEvent::new_with_event_init_dict("crumb:change", &init) {
            let _ = self.doc.dispatch_event(&e);
        }
    }

    pub fn consent_js(&self) -> JsValue {
        match self.stored.rd().as_ref() {
            Some(s) => js_sys::JSON::parse(&consent::public_json(s, self.cfg.service_ids()))
                .unwrap_or(JsValue::NULL),
            None => JsValue::NULL,
        }
    }

    /// Sends the stored choice to the server if it is not acknowledged yet.
    fn send(self: &Rc<Self>) {
        let body = {
            let s = self.stored.rd();
            let Some(s) = s.as_ref().filter(|s| s.pending) else {
                return;
            };
            let choices = self.choices();
            consent::request_json(
                &RequestParts {
                    consent_id: &s.consent_id,
                    revision: s.revision,
                    language: &self.cfg.lang,
                    text_hash: &self.cfg.text_hash,
                    method: s.method,
                },
                &choices,
                self.cfg.service_ids(),
            )
        };
        crate::api::post(self, body);
    }

    /// The server's answer to a consent request.
    pub fn on_answer(self: &Rc<Self>, status: u16, json: &JsValue) {
        let get = |k: &str| {
            js_sys::Reflect::get(json, &k.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let Some(mut s) = self.stored.rd().clone() else {
            return;
        };
        if status == 201 {
            let id = get("consent_id");
            if !consent::is_slug(&id) {
                return;
            }
            s.consent_id = id;
            s.given_ms = js_sys::Date::parse(&get("given_at")) as u64;
            s.expires_ms = js_sys::Date::parse(&get("expires_at")) as u64;
            s.pending = false;
            self.save(s);
        } else if get("error") == "unknown_consent" && !self.retried.replace(true) {
            // The server no longer knows this id (a reset database): record
            // the choice as a new consent instead.
            s.consent_id.clear();
            self.save(s);
            self.send();
        } else if (400..500).contains(&status) && status != 409 {
            // A request the server will never accept; keep the choice
            // locally but stop resending it.
            s.pending = false;
            self.save(s);
        }
        // Network errors, 5xx and 409 (the config changed under the page)
        // stay pending and are sent again on the next page view.
    }
}

/// The handle `crumb.js` keeps for `window.crumb`.
#[wasm_bindgen]
pub struct Widget {
    app: Rc<App>,
}

#[wasm_bindgen]
impl Widget {
    /// Opens the preferences dialog.
    pub fn show(&self) {
        self.app.show();
    }

    /// The current choice (`null` before the first one).
    pub fn consent(&self) -> JsValue {
        self.app.consent_js()
    }
}

/// Starts the widget on the current page with the site's config.
#[wasm_bindgen]
pub fn start(config: JsValue, base: String, site: String) -> Option<Widget> {
    let window = web_sys::window()?;
    let doc = window.document()?;
    let html: HtmlDocument = doc.clone().dyn_into().ok()?;
    let page_lang = doc
        .document_element()
        .and_then(|e| e.get_attribute("lang"))
        .unwrap_or_default();
    let nav_lang = window.navigator().language().unwrap_or_default();
    let cfg = Config::read(&config, &[&page_lang, &nav_lang, "en"])?;
    let stored = storage::read(&html);
    let valid = stored
        .as_ref()
        .is_some_and(|s| s.is_valid(cfg.revision, now_ms()));
    let prior_id = match (&stored, valid) {
        (Some(s), false) => s.consent_id.clone(),
        _ => String::new(),
    };
    let app = Rc::new(App {
        doc,
        html,
        cfg,
        base,
        site,
        stored: RefCell::new(stored.filter(|_| valid)),
        prior_id: RefCell::new(prior_id),
        banner: RefCell::new(None),
        modal: RefCell::new(None),
        reopen: RefCell::new(None),
        retried: core::cell::Cell::new(false),
        gate: Gate::default(),
    });

    // One document-wide click listener serves every `[data-crumb-open]`
    // link and every placeholder button, including ones added later.
    let a = app.clone();
    Listener::new(&app.doc, "click", move |e| {
        if closest(&e, "[data-crumb-open]").is_some() {
            e.prevent_default();
            a.show();
        } else if let Some(b) = closest(&e, "[data-crumb-allow],[data-crumb-allow-cat]") {
            let mut c = a.choices();
            if let Some((i, s)) = b
                .get_attribute("data-crumb-allow")
                .and_then(|id| a.cfg.service(&id))
            {
                c.set(s.cat, true);
                c.set_service(i, true);
            } else if let Some(cat) = b
                .get_attribute("data-crumb-allow-cat")
                .and_then(|k| consent::category_index(&k))
            {
                c.set(cat, true);
                for (on, s) in c.svcs.iter_mut().zip(&a.cfg.svcs) {
                    *on |= s.cat == cat;
                }
            }
            a.decide(Method::Custom, c);
        }
    })
    .forget();

    gate::observe(&app);
    if valid {
        app.show_reopen();
        app.send();
    } else {
        let banner = Banner::show(&app);
        *app.banner.wr() = Some(banner);
    }
    gate::scan(&app);
    crate::declaration::render(&app);
    if valid {
        app.announce();
    }
    Some(Widget { app })
}
