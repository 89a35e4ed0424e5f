//! The cookie declaration on a site's cookie-policy page: every
//! `[data-crumb-declaration]` element gets, per category, its description
//! and each service's cookie table (name, provider, purpose, retention),
//! from the config the widget already has, in the banner's language.

use web_sys::Element;

use crate::app::App;
use crate::dom::{append, each, el, text_el};
use crate::modal::cookie_table;

pub fn render(app: &App) {
    for target in each::<Element>(&app.doc, "[data-crumb-declaration]") {
        let doc = &app.doc;
        target.set_text_content(None);
        for cat in &app.cfg.cats {
            append(&target, &text_el(doc, "h3", "", cat.name));
            append(&target, &text_el(doc, "p", "", cat.desc));
            for s in app.cfg.svcs.iter().filter(|s| s.cat == cat.idx) {
                // Styled like the dialog's cookie tables.
                let section = el(doc, "section", "crumb-cookies");
                append(&section, &text_el(doc, "h4", "", s.name));
                append(&section, &cookie_table(app, s));
                append(&target, &section);
            }
        }
    }
}
