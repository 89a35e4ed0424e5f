//! The widget's state and what happens on each page event: the banner,
//! the dialog, choices and their recording. `api.rs` is how `crumb.js`
//! reaches it.
//!
//! The server decides whether a consent counts. The cookie is only the
//! browser's cache of it: on every page view crumb.js asks the server about
//! the consent id the cookie names (in parallel with the config), and
//! until the answer ([`App::on_visit`]) nothing beyond strictly necessary
//! is released. What the server recorded is what is released; a choice the
//! visitor makes on the page (or in another tab) counts at once and is
//! sent. When the server cannot be reached, only strictly necessary runs
//! (see README, "When the server cannot be reached").

use alloc::string::String;
use core::cell::{Cell, RefCell};

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event};

use crate::banner::Banner;
use crate::config::Config;
use crate::consent::{self, Choices, GIVE_UP, Method, RequestParts, Stored};
use crate::dom::{Cell as _, ancestor, append, attr, closest, each, focus, target, text_el};
use crate::gate::{self, Gate};
use crate::modal::{Modal, read_choices, sync, trap_tab};
use crate::storage;

/// What `crumb.js` should do after an event or an answer (loader.js
/// mirrors this table). Tell site code (a `crumb:change` event), then let
/// the gate release what the choice allows (event kind 8):
pub const ANNOUNCE: u8 = 1;
/// Send the pending choice to the server:
pub const SEND: u8 = 2;
/// The send failed (network or 5xx): send again after a pause that doubles:
pub const RETRY: u8 = 4;
/// The page's config is older than the site's: fetch it afresh and start
/// again:
pub const RELOAD: u8 = 8;
/// Tell the site's other tabs that the cookie changed (they read it from the
/// cookie jar they share with this one):
pub const SHARE: u8 = 16;
/// The visitor opens the preferences dialog, whose stylesheet and texts
/// are not loaded yet: load them, then answer with the texts (answer kind
/// 3, [`App::on_details`]):
pub const DIALOG: u8 = 32;

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
    /// The browser sends Global Privacy Control
    /// (`navigator.globalPrivacyControl`).
    pub gpc: bool,
}

pub struct App {
    pub doc: Document,
    page: Page,
    pub cfg: Config,
    /// The browser's copy of the consent: what the server last recorded,
    /// or a choice it has not acknowledged yet (`pending`). While the
    /// banner asks again, an expired or outdated consent stays here (not
    /// live), so the new choice continues its history on the server.
    stored: RefCell<Option<Stored>>,
    /// `stored` is in force on this page: the server confirmed it on this
    /// page view, or the visitor made it here or in another tab. Until
    /// then only strictly necessary runs.
    live: Cell<bool>,
    banner: Cell<Option<Banner>>,
    modal: Cell<Option<Modal>>,
    /// Where focus goes back to when the banner closes, and when the
    /// dialog closes (see [`App::restore_focus`]).
    before_banner: Cell<Option<Element>>,
    opener: Cell<Option<Element>>,
    /// The floating reopen button is on the page.
    reopen: Cell<bool>,
    /// A consent id the server did not know was dropped once already.
    retried: Cell<bool>,
    /// The preferences dialog's texts are filled in ([`App::on_details`]).
    details: Cell<bool>,
    /// A choice made on this page that site code (and the vendors' consent
    /// signals) has not heard of yet: crumb.js tells them after the next
    /// paint, then lets the gate release (event kind 8); until then the
    /// gate releases nothing, even when the page changes.
    pub held: Cell<bool>,
    pub gate: Gate,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

impl App {
    /// The choice in force: the stored one once it counts on this page,
    /// else strictly necessary only.
    pub fn choices(&self) -> Choices {
        self.choices_if(self.live.get())
    }

    /// The stored choice when `stored_counts`, else strictly necessary
    /// only. A choice made on an earlier page view and not acknowledged
    /// then does not count on this page, but it is sent as the visitor
    /// made it (see `choice_json`).
    fn choices_if(&self, stored_counts: bool) -> Choices {
        let mut c = self.cfg.necessary_only();
        if let Some(s) = self.stored.rd().as_ref().filter(|_| stored_counts) {
            c.cats = s.cats & self.cfg.cat_bits;
            let cats = c.cats;
            for (i, svc) in self.cfg.svcs.iter().enumerate() {
                if s.allows_service(svc.id) && cats & (1 << svc.cat) != 0 {
                    c.set_service(i, true);
                }
            }
        }
        c
    }

    /// Everything the site has, or strictly necessary only.
    fn all(&self, on: bool) -> Choices {
        let mut c = self.cfg.necessary_only();
        if on {
            c.cats = self.cfg.cat_bits;
            c.svcs = !0;
        }
        c
    }

    /// "ID … · 2026-11-23": the visitor's own proof of their choice.
    pub fn receipt_line(&self) -> Option<String> {
        let s = self.stored.rd();
        let s = s
            .as_ref()
            .filter(|s| self.live.get() && !s.consent_id.is_empty())?;
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
            "customize" => return self.show(),
            "save" => {
                let Some(dialog) = button.and_then(|b| ancestor(b, ".crumb-modal")) else {
                    return 0;
                };
                return self.decide(Method::Custom, read_choices(self, &dialog));
            }
            "close" => {
                // Closing is not a choice: the banner stays until one is
                // made. Focus goes back to what opened the dialog.
                drop(self.modal.take());
                if let Some(e) = self.opener.take() {
                    focus(&e);
                }
            }
            _ => {}
        }
        0
    }

    /// Opens the preferences dialog with the current choice, once its
    /// stylesheet and texts are loaded (until then it asks crumb.js for
    /// them).
    pub fn show(&self) -> u8 {
        // Focus goes back to whatever opened it: the banner's Customize,
        // the floating button, a `[data-crumb-open]` link.
        self.opener.set(self.doc.active_element());
        if !self.details.get() {
            return DIALOG;
        }
        self.open_dialog();
        0
    }

    // Not inlined: the dialog is built in one place, not in each caller.
    #[inline(never)]
    fn open_dialog(&self) {
        drop(self.modal.take());
        self.modal.set(Some(Modal::show(self, &self.choices())));
    }

    /// The dialog's texts have come (status 200), or could not (another
    /// status): the dialog opens either way, without the descriptions if it
    /// must, so the visitor can still choose.
    pub fn on_details(&self, status: u16, text: &str) -> u8 {
        if status == 200 && self.cfg.fill(String::from(text).leak()) {
            self.details.set(true);
        }
        self.open_dialog();
        0
    }

    fn show_banner(&self) {
        // After the choice, focus goes back to where the visitor was.
        let active = self.doc.active_element();
        let banner = Banner::show(self, active.as_ref());
        self.before_banner.set(active);
        self.banner.set(Some(banner));
    }

    /// After a choice: focus goes back to where the visitor was, so
    /// keyboard and screen-reader users go on from there instead of from
    /// the top of the page: the dialog's opener when it is still on the
    /// page (focusing a removed element does nothing), else the element
    /// that had focus before the banner.
    fn restore_focus(&self) {
        for e in [self.before_banner.take(), self.opener.take()]
            .into_iter()
            .flatten()
        {
            focus(&e);
        }
    }

    /// Whether the browser's Global Privacy Control signal applies here:
    /// it is sent, and the site has categories that sell or share data.
    pub fn gpc(&self) -> bool {
        self.page.gpc && self.cfg.sale_or_sharing != 0
    }

    /// Applies a choice: the UI updates at once; `crumb.js` tells site code,
    /// the server (in the background) and the other tabs.
    fn decide(&self, method: Method, choices: Choices) -> u8 {
        let now = now_ms();
        // Under Global Privacy Control, a choice that leaves the sale or
        // sharing categories refused is the signal honoured, and recorded
        // so; opting in explicitly keeps its own method.
        let method = if self.gpc() && choices.cats & self.cfg.sale_or_sharing == 0 {
            Method::Gpc
        } else {
            method
        };
        let consent_id = self
            .stored
            .rd()
            .as_ref()
            .map(|p| p.consent_id.clone())
            .unwrap_or_default();
        // The allowed services in the cookie's form (as the server writes
        // it: config order, necessary ones left out).
        let mut services = String::new();
        for (_, s) in self
            .cfg
            .optional_services()
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
            pending: 1,
        };
        *self.stored.wr() = Some(stored);
        self.persist();
        self.delete_refused_cookies(&choices);
        self.held.set(true);
        self.apply();
        ANNOUNCE | SEND | SHARE
    }

    /// Puts the stored choice in force on this page: the banner and the
    /// dialog close. The gate releases what it allows when crumb.js asks,
    /// right after it has told site code (ANNOUNCE), so that vendors'
    /// consent signals (Google Consent Mode's `update`) come before the
    /// tags they govern.
    fn apply(&self) {
        self.live.set(true);
        drop((self.banner.take(), self.modal.take()));
        self.restore_focus();
        self.show_reopen();
    }

    /// Writes the current choice to the cookie.
    fn persist(&self) {
        if let Some(s) = self.stored.rd().as_ref() {
            storage::write(
                &self.doc,
                s,
                now_ms(),
                self.page.secure,
                self.cfg.cookie_domain,
            );
        }
    }

    /// Deletes the first-party cookies of every refused service.
    fn delete_refused_cookies(&self, choices: &Choices) {
        // "Accept all" refuses nothing: the click need not read
        // `document.cookie` (a synchronous trip to the cookie store).
        if choices.svcs == !0 {
            return;
        }
        let cookies = storage::cookie_pairs(&self.doc);
        for name in storage::names(&cookies) {
            for (i, s) in self.cfg.svcs.iter().enumerate() {
                if !choices.service(i)
                    && s.cookies
                        .iter()
                        .any(|c| consent::cookie_matches(c.name, name))
                {
                    storage::delete(&self.doc, name, &self.page.host);
                    break;
                }
            }
        }
    }

    /// The small floating button that reopens the preferences (hidden by
    /// the stylesheet while the page has its own `[data-crumb-open]`
    /// link).
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
        // On `<html>`, as the banner: a page that swaps its body keeps it.
        if let Some(html) = self.doc.document_element() {
            append(&html, &b);
        }
    }

    /// Whether a choice counts on this page.
    pub fn has_choice(&self) -> bool {
        self.live.get() && self.stored.rd().is_some()
    }

    /// The current choice as site code sees it (JSON), if one counts.
    pub fn consent_json(&self) -> Option<String> {
        self.has_choice().then(|| self.choice_json(true))?
    }

    /// The consent request for the stored choice, if the server has not
    /// acknowledged it yet.
    pub fn pending_request(&self) -> Option<String> {
        self.stored
            .rd()
            .as_ref()
            .is_some_and(Stored::unsent)
            .then(|| self.choice_json(false))?
    }

    /// The stored choice as JSON, with its dates for site code
    /// (`for_site`) or without them for the server.
    fn choice_json(&self, for_site: bool) -> Option<String> {
        let c = self.choices_if(true);
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
            &c,
            self.cfg.cats.iter().map(|c| c.idx),
            // Necessary services are always on: never sent as a choice.
            self.cfg
                .optional_services()
                .map(|(i, s)| (s.id, c.service(i))),
        ))
    }

    /// The server's answer to the visit check (`GET .../consents/{id}` for
    /// the id in the cookie): `status` 0 when there was no answer, `text`
    /// the consent's cookie value when it is valid, else its state or the
    /// error code. `server_set`: the server set the cookie itself.
    /// (crumb.js passes status 0 when the cookie names no consent.)
    pub fn on_visit(&self, status: u16, text: &str, server_set: bool) -> u8 {
        let Some(local) = self.stored.wr().take() else {
            // First visit.
            self.show_banner();
            return 0;
        };
        if local.pending > 0 {
            // A choice the server never acknowledged: it counts once the
            // server records it, and is sent again when due. (Should its
            // consent id be gone, the server answers the send with
            // `unknown_consent`, and it becomes a new consent.)
            if local.revision != self.cfg.revision || !local.unsent() {
                return self.ask_again(Some(local));
            }
            let due = local.due(now_ms());
            *self.stored.wr() = Some(local);
            self.show_reopen();
            return if due { SEND } else { 0 };
        }
        match status {
            200 => match Stored::decode(text) {
                Some(recorded) => {
                    *self.stored.wr() = Some(recorded);
                    if !server_set {
                        // Pushes the cookie's expiry out again (at most 400 days).
                        self.persist();
                    }
                    self.apply();
                    ANNOUNCE
                }
                // Expired, outdated or withdrawn: a new choice continues the
                // consent's history (after a withdrawal the server answers
                // `unknown_consent`, and it becomes a new consent).
                None => self.ask_again(Some(local)),
            },
            // Unknown to the server (a forged or foreign cookie, a reset
            // database): Crumb answers 404, or 400 for an id it cannot
            // read (`s & !4 == 400` holds for those two statuses alone,
            // and costs fewer of the widget's bytes than `400 | 404`). As
            // on a first visit.
            s if s & !4 == 400 => self.ask_again(None),
            // No answer, or no answer about the consent: a 5xx, or what a
            // proxy or firewall in front of Crumb says instead (429 for a
            // rate limit, 403 for a blocked client). Only strictly
            // necessary runs (the cookie alone never releases anything),
            // and the visitor, who has chosen before, is not asked again
            // and keeps their consent's history; they can reopen the
            // dialog.
            _ => {
                *self.stored.wr() = Some(local);
                self.show_reopen();
                0
            }
        }
    }

    /// Shows the banner; a new choice continues the history of `earlier`
    /// (kept, not live), or starts a new consent. The choice the browser
    /// held no longer counts: it is announced as none (`crumb:change`
    /// with `null`), so that vendors that keep a consent of their own
    /// (Shopify) hear that it lapsed.
    fn ask_again(&self, earlier: Option<Stored>) -> u8 {
        *self.stored.wr() = earlier;
        self.show_banner();
        ANNOUNCE
    }

    /// The server's answer to a consent request (status 0: no answer;
    /// `text` the receipt's cookie value, or the error code).
    pub fn on_record(&self, status: u16, text: &str, server_set: bool) -> u8 {
        let flags;
        {
            let mut stored = self.stored.wr();
            let Some(s) = stored.as_mut() else {
                return 0;
            };
            if status == 201 {
                let Some(recorded) = Stored::decode(text) else {
                    return 0;
                };
                if !s.same_choice(&recorded) {
                    // The visitor chose again while this one was on its way;
                    // that choice was sent too, and its answer counts.
                    return 0;
                }
                *s = recorded;
                drop(stored);
                if !server_set {
                    self.persist();
                }
                // The choice counts from now on, if it did not already (one
                // from an earlier page view, sent again). Either way the
                // banner has gone and the floating button is up, so nothing
                // else changes on the page: a dialog the visitor has opened
                // meanwhile stays open, focus where it is. Site code hears
                // of a choice it has not heard of.
                let announce = if self.live.replace(true) { 0 } else { ANNOUNCE };
                return announce | SHARE;
            } else if text == "unknown_consent" && !self.retried.replace(true) {
                // The server no longer knows this id (a reset database):
                // record the choice as a new consent instead.
                s.consent_id.clear();
                return SEND;
            } else if status == 409 {
                // `outdated_revision` or `stale_texts`: the visitor saw an
                // old banner. That choice is void; ask again with the
                // fresh config.
                s.pending = GIVE_UP;
                flags = RELOAD;
            } else if (400..500).contains(&status) && status != 429 {
                // A request the server will never accept: stop sending it.
                s.pending = GIVE_UP;
                flags = 0;
            } else {
                // Network errors, 5xx and 429 (the network's write quota
                // is spent for now): send again later, with pauses.
                s.pending = s.pending.saturating_add(1);
                flags = if s.unsent() { RETRY } else { 0 };
            }
        }
        self.persist();
        flags
    }

    /// Another tab of the site stored a choice in the cookie both share:
    /// this tab follows at once, so nothing is released here against a
    /// choice withdrawn there. That tab does the sending.
    pub fn on_tab(&self) -> u8 {
        let Some(theirs) = storage::read(&self.doc) else {
            return 0;
        };
        *self.stored.wr() = Some(theirs);
        self.apply();
        ANNOUNCE
    }

    /// Removes what this app put on the page, before a restart with a
    /// fresh config.
    pub fn remove(&self) {
        drop((self.banner.take(), self.modal.take()));
        for b in each::<Element>(&self.doc, ".crumb-reopen") {
            b.remove();
        }
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
            return self.show();
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

/// Starts the widget with the compact config (kept for the page's life:
/// the config borrows from it). Nothing is shown or released until the
/// visit check's answer reaches [`App::on_visit`].
pub fn start(config: String, doc: Document, page: Page) -> Option<App> {
    let cfg = Config::read(config.leak())?;
    let stored = storage::read(&doc);
    let app = App {
        doc,
        page,
        cfg,
        stored: RefCell::new(stored),
        live: Cell::new(false),
        banner: Cell::new(None),
        modal: Cell::new(None),
        before_banner: Cell::new(None),
        opener: Cell::new(None),
        reopen: Cell::new(false),
        retried: Cell::new(false),
        details: Cell::new(false),
        held: Cell::new(false),
        gate: Gate::default(),
    };
    // Placeholders go on blocked embeds at once; nothing is released yet.
    gate::scan(&app);
    Some(app)
}
