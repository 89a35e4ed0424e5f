//! The widget's state and what happens on each page event: the banner,
//! the dialog, choices and their recording. `api.rs` is how `crumb.js`
//! reaches it.

use alloc::string::String;
use core::cell::RefCell;

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event};

use crate::banner::Banner;
use crate::config::Config;
use crate::consent::{self, Choices, Method, RequestParts, Stored};
use crate::dom::{Cell as _, ancestor, append, attr, closest, target, text_el};
use crate::gate::{self, Gate};
use crate::modal::{Modal, read_choices, sync, trap_tab};
use crate::storage;

/// What `crumb.js` should do after an event: tell site code (a
/// `crumb:change` event) and/or send the pending choice to the server.
pub const ANNOUNCE: u8 = 1;
pub const SEND: u8 = 2;

/// An average calendar month, for the cookie's lifetime until the server's
/// receipt (which carries the exact expiry) arrives.
const MONTH_MS: u64 = 2_629_746_000;

/// Where the page is, as crumb.js reads it from `location`.
pub struct Page {
    /// The page is on https, so the consent cookie is `Secure`.
    pub secure: bool,
    /// The page's host name, whose (parent) domains refused services'
    /// cookies are deleted from.
    pub host: String,
}

pub struct App {
    pub doc: Document,
    page: Page,
    pub cfg: Config,
    /// The current choice, if it still counts.
    stored: RefCell<Option<Stored>>,
    /// The id of an expired or outdated consent, so a new choice continues
    /// its history on the server.
    prior_id: String,
    banner: core::cell::Cell<Option<Banner>>,
    modal: core::cell::Cell<Option<Modal>>,
    /// The floating reopen button is on the page.
    reopen: core::cell::Cell<bool>,
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
            for (i, svc) in self.cfg.svcs.iter().enumerate() {
                if s.allows_service(svc.id) && cats & (1 << svc.cat) != 0 {
                    c.set_service(i, true);
                }
            }
        }
        c
    }

    fn all(&self, on: bool) -> Choices {
        let mut c = self.cfg.necessary_only();
        if on {
            c.cats = 0b1111;
            c.svcs = !0;
        }
        c
    }

    /// "ID … · 2026-11-23": the visitor's own proof of their choice.
    pub fn receipt_line(&self) -> Option<String> {
        let s = self.stored.rd();
        let s = s.as_ref().filter(|s| !s.consent_id.is_empty())?;
        let mut line = String::from("ID ");
        line.push_str(&s.consent_id);
        line.push_str(" \u{b7} ");
        consent::push_date(&mut line, s.given_ms);
        Some(line)
    }

    /// Handles a button's `data-a` action from the banner or the dialog.
    /// `button` is the one clicked (`None` for Esc).
    pub fn act(&self, action: &str, button: Option<&Element>) -> u8 {
        match action {
            "accept" => return self.decide(Method::AcceptAll, self.all(true)),
            "reject" => return self.decide(Method::RejectAll, self.all(false)),
            "customize" => self.show(),
            "save" => {
                let Some(dialog) = button.and_then(|b| ancestor(b, ".crumb-modal")) else {
                    return 0;
                };
                return self.decide(Method::Custom, read_choices(self, &dialog));
            }
            "close" => {
                // Closing is not a choice: the banner stays until one is made.
                drop(self.modal.take());
                // Focus goes back to the control that opened the dialog.
                let banner = self.banner.take();
                if let Some(b) = &banner {
                    b.focus_customize();
                }
                self.banner.set(banner);
            }
            _ => {}
        }
        0
    }

    /// Opens the preferences dialog with the current choice.
    pub fn show(&self) {
        drop(self.modal.take());
        self.modal.set(Some(Modal::show(self, &self.choices())));
    }

    /// Applies a choice: the UI updates at once; `crumb.js` tells site code
    /// and the server (in the background) as the returned flags say.
    fn decide(&self, method: Method, choices: Choices) -> u8 {
        let now = now_ms();
        let consent_id = match self.stored.rd().as_ref() {
            Some(p) if !p.consent_id.is_empty() => p.consent_id.clone(),
            _ => self.prior_id.clone(),
        };
        let mut services = String::new();
        for (_, s) in self
            .cfg
            .svcs
            .iter()
            .enumerate()
            .filter(|(i, _)| choices.service(*i))
        {
            if !services.is_empty() {
                services.push_str(".");
            }
            services.push_str(s.id);
        }
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
        drop((self.banner.take(), self.modal.take()));
        self.delete_refused_cookies(&choices);
        self.show_reopen();
        gate::scan(self);
        ANNOUNCE | SEND
    }

    fn save(&self, stored: Stored) {
        *self.stored.wr() = Some(stored);
        self.persist();
    }

    /// Writes the current choice to the cookie.
    fn persist(&self) {
        if let Some(s) = self.stored.rd().as_ref() {
            storage::write(&self.doc, s, now_ms(), self.page.secure);
        }
    }

    /// Deletes the first-party cookies of every refused service.
    fn delete_refused_cookies(&self, choices: &Choices) {
        let cookies = storage::cookie_pairs(&self.doc);
        for name in storage::names(&cookies) {
            for (i, s) in self.cfg.svcs.iter().enumerate() {
                if !choices.service(i)
                    && s.cookies
                        .iter()
                        .any(|c| consent::cookie_matches(c.name, c.pattern, name))
                {
                    storage::delete(&self.doc, name, &self.page.host);
                    break;
                }
            }
        }
    }

    fn show_reopen(&self) {
        if self.reopen.replace(true) {
            return;
        }
        let b = text_el(
            &self.doc,
            "button",
            "crumb crumb-reopen",
            self.cfg.t.reopen(),
        );
        attr(&b, "type", "button");
        attr(&b, "data-crumb-open", "");
        if let Some(body) = self.doc.body() {
            append(&body, &b);
        }
    }

    /// Whether a choice counts (one was made, and is valid).
    pub fn has_choice(&self) -> bool {
        self.stored.rd().is_some()
    }

    /// The current choice as site code sees it (JSON), if one counts.
    pub fn consent_json(&self) -> Option<String> {
        self.choice_json(true)
    }

    /// The consent request for the stored choice, if the server has not
    /// acknowledged it yet.
    pub fn pending_request(&self) -> Option<String> {
        self.stored
            .rd()
            .as_ref()
            .is_some_and(|s| s.pending)
            .then(|| self.choice_json(false))?
    }

    /// The stored choice as JSON, with its dates for site code
    /// (`for_site`) or without them for the server.
    fn choice_json(&self, for_site: bool) -> Option<String> {
        let s = self.stored.rd();
        let s = s.as_ref()?;
        Some(consent::request_json(
            &RequestParts {
                consent_id: &s.consent_id,
                revision: s.revision,
                language: self.cfg.lang,
                text_hash: self.cfg.text_hash,
                method: s.method,
                dates: for_site.then_some((s.given_ms, s.expires_ms)),
            },
            &self.choices(),
            self.cfg.service_ids(),
        ))
    }

    /// The server's answer to a consent request (status 0: no answer).
    /// Returns [`SEND`] when the choice should be sent again now.
    pub fn on_answer(&self, status: u16, answer: &Answer<'_>) -> u8 {
        let mut flags = 0;
        {
            let mut stored = self.stored.wr();
            let Some(s) = stored.as_mut() else {
                return 0;
            };
            if status == 201 {
                if !consent::is_slug(answer.consent_id) {
                    return 0;
                }
                s.consent_id = String::from(answer.consent_id);
                s.given_ms = answer.given_ms as u64;
                s.expires_ms = answer.expires_ms as u64;
                s.pending = false;
            } else if answer.unknown_consent && !self.retried.replace(true) {
                // The server no longer knows this id (a reset database):
                // record the choice as a new consent instead.
                s.consent_id.clear();
                flags = SEND;
            } else if (400..500).contains(&status) && status != 409 {
                // A request the server will never accept; keep the choice
                // locally but stop resending it.
                s.pending = false;
            } else {
                // Network errors, 5xx and 409 (the config changed under the
                // page) stay pending and are sent again on the next page
                // view.
                return 0;
            }
        }
        self.persist();
        flags
    }

    /// A click anywhere on the page (crumb.js listens in the capture
    /// phase): the banner's and dialog's buttons, `[data-crumb-open]`
    /// links, and placeholder buttons.
    pub fn click(&self, e: &Event) -> u8 {
        if let Some(b) = closest(e, ".crumb [data-a]") {
            return self.act(&b.get_attribute("data-a").unwrap_or_default(), Some(&b));
        }
        if closest(e, "[data-crumb-open]").is_some() {
            e.prevent_default();
            self.show();
        } else if let Some(b) = closest(e, "[data-crumb-allow]") {
            // A placeholder's button names a service or, for an embed
            // without one, a category.
            let key = b.get_attribute("data-crumb-allow").unwrap_or_default();
            let mut c = self.choices();
            if let Some((i, s)) = self.cfg.service(&key) {
                c.set(s.cat, true);
                c.set_service(i, true);
            } else if let Some(cat) = consent::category_index(&key) {
                c.set(cat, true);
                for (i, s) in self.cfg.svcs.iter().enumerate() {
                    if s.cat == cat {
                        c.set_service(i, true);
                    }
                }
            }
            return self.decide(Method::Custom, c);
        }
        0
    }

    /// `change`, `keydown` and `cancel` matter only inside the open dialog.
    pub fn dialog_event(&self, kind: u8, e: &Event) {
        // The open dialog is the one `.crumb-modal` on the page.
        let Some(t) = target(e) else {
            return;
        };
        let Some(dialog) = ancestor(&t, ".crumb-modal") else {
            return;
        };
        match kind {
            KIND_CHANGE => sync(t.unchecked_ref()),
            KIND_KEYDOWN => trap_tab(&dialog, e, &t),
            _ => {
                // Esc fires `cancel`: closing is not a choice, so the
                // dialog closes through `act`, which puts focus back.
                e.prevent_default();
                self.act("close", None);
            }
        }
    }
}

pub const KIND_CHANGE: u8 = 1;
pub const KIND_KEYDOWN: u8 = 2;

/// The fields of the server's receipt (or error) that the widget keeps.
pub struct Answer<'a> {
    /// Empty when the answer has none.
    pub consent_id: &'a str,
    pub given_ms: f64,
    pub expires_ms: f64,
    /// The server no longer knows the consent id that was sent.
    pub unknown_consent: bool,
}

/// Starts the widget with the compact config (kept for the page's life:
/// the config borrows from it).
pub fn start(config: String, doc: Document, page: Page) -> Option<App> {
    let cfg = Config::read(config.leak())?;
    let stored = storage::read(&doc);
    let valid = stored
        .as_ref()
        .is_some_and(|s| s.is_valid(cfg.revision, now_ms()));
    let prior_id = match (&stored, valid) {
        (Some(s), false) => s.consent_id.clone(),
        _ => String::new(),
    };
    let app = App {
        doc,
        page,
        cfg,
        stored: RefCell::new(stored.filter(|_| valid)),
        prior_id,
        banner: core::cell::Cell::new(None),
        modal: core::cell::Cell::new(None),
        reopen: core::cell::Cell::new(false),
        retried: core::cell::Cell::new(false),
        gate: Gate::default(),
    };
    if valid {
        app.show_reopen();
    } else {
        let banner = Banner::show(&app);
        app.banner.set(Some(banner));
    }
    gate::scan(&app);
    crate::declaration::render(&app);
    Some(app)
}
