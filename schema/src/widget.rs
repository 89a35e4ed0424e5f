//! The widget's view of a site config: one language, flat text.
//!
//! The widget reads its config by splitting one string on U+001F (the
//! ASCII unit separator) instead of walking a parsed JSON object: reading
//! JSON field by field through wasm-bindgen cost about a third of the
//! widget's wasm, and every visitor downloads that. The server picks the
//! language ([`SiteConfig::language_for`]), so only that language's texts
//! travel.
//!
//! The fields, in order (`n` numbers are decimal):
//!
//! ```text
//! 5 · revision · validity_months · lang · text_version (the first 16 hex
//! digits of the text hash) · policy_url
//! · cookie_domain (empty for the page's own host)
//! · sale_or_sharing (n: bit i set for category i of necessary, functional,
//!   analytics, marketing)
//! · title · body · accept_all · reject_all · customize · save · close
//! · policy_link · reopen · placeholder
//! · gpc_notice (Crumb's own line for a browser that sends Global Privacy
//!   Control; empty unless the config request carried `Sec-GPC: 1`, so
//!   other visitors do not download it)
//! · n categories, each: id · allow (the label of a placeholder's button
//!   that allows the category: `BannerTexts::allow_label`)
//! · n services, each: id · category · allow (the same, for the service)
//!     · n cookies, each: name (a pattern's ends in `*`, which matches
//!       any suffix: [`cookie_name`])
//! ```
//!
//! The preferences dialog's own texts come separately ([`encode_details`],
//! fetched when the dialog first opens, so visitors who never open it do
//! not download them):
//!
//! ```text
//! 4 cookie_columns · privacy_link (Crumb's own word for a privacy-policy
//!   link)
//! · n categories, each: id · name · description
//! · n services, each: id · name · provider · purpose · privacy_policy_url
//!     · n cookies, each: purpose · retention
//! ```
//!
//! The last service is always Crumb's own (id [`CRUMB_SERVICE`], in
//! necessary), so its `crumb_consent` cookie is declared in the dialog of
//! every site.
//!
//! `widget/src/config.rs` reads exactly this; its tests decode what
//! [`encode`] and [`encode_details`] write.

use std::collections::BTreeMap;

use crate::{Category, LanguageTag, SiteConfig};

/// The separator between fields. Config texts never contain it: [`encode`]
/// turns every control character in them into a space.
pub const SEP: char = '\u{1f}';

/// The version of this layout, its first field.
pub const VERSION: &str = "6";

/// The id of the service that stands for Crumb itself in the widget's
/// config and the cookie declaration (`/declaration`); sites may not use
/// it (the linter refuses it).
pub const CRUMB_SERVICE: &str = "crumb";

/// Fields joined by [`SEP`], control characters made spaces.
struct Fields(String, bool);

impl Fields {
    fn new(capacity: usize) -> Fields {
        Fields(String::with_capacity(capacity), false)
    }

    fn put(&mut self, s: &str) {
        // Counted, not read off the text: the first fields may be empty.
        if std::mem::replace(&mut self.1, true) {
            self.0.push(SEP);
        }
        self.0
            .extend(s.chars().map(|c| if c.is_control() { ' ' } else { c }));
    }
}

/// A text in `lang`, else in the site's first language.
fn in_lang<'m, T>(
    m: &'m BTreeMap<LanguageTag, T>,
    lang: &LanguageTag,
    site: &SiteConfig,
) -> Option<&'m T> {
    m.get(lang).or_else(|| m.get(site.languages.first()?))
}

/// The widget's config for `lang`, whose texts hash to `text_hash`, for a
/// browser that sends Global Privacy Control (`gpc`) or not: what the
/// banner, the gate and the choices need. Texts missing in `lang` fall
/// back to the site's first language.
pub fn encode(site: &SiteConfig, lang: &LanguageTag, text_hash: &str, gpc: bool) -> String {
    let mut out = Fields::new(2048);
    out.put(VERSION);
    out.put(&site.revision.get().to_string());
    out.put(&site.validity_months.get().to_string());
    out.put(lang.as_str());
    // The short form (`TextVersion::SHORT` hex digits): the widget only
    // echoes it, and 48 random hex digits fewer are about 36 B less gzip
    // for every visitor.
    out.put(
        text_hash
            .get(..crate::TextVersion::SHORT)
            .unwrap_or(text_hash),
    );
    out.put(&site.policy_url);
    out.put(site.cookie_domain.as_deref().unwrap_or_default());
    let sale_or_sharing: u8 = site
        .sale_or_sharing
        .iter()
        .map(|&c| 1 << Category::ALL.iter().position(|&k| k == c).unwrap_or(0))
        .fold(0, |bits, bit| bits | bit);
    out.put(&sale_or_sharing.to_string());
    let t = in_lang(&site.texts, lang, site)
        .cloned()
        .unwrap_or_default();
    for s in [
        &t.title,
        &t.body,
        &t.accept_all,
        &t.reject_all,
        &t.customize,
        &t.save,
        &t.close,
        &t.policy_link,
        &t.reopen,
        &t.placeholder,
    ] {
        out.put(s);
    }
    let words = crate::words::for_language(lang);
    out.put(if gpc { words.gpc_notice } else { "" });
    out.put(&site.categories.len().to_string());
    for c in &site.categories {
        // Strictly necessary is always on: no placeholder ever asks for it.
        let name = in_lang(&c.texts, lang, site).map_or("", |t| &t.name);
        out.put(c.id.as_str());
        out.put(&match c.id {
            Category::Necessary => String::new(),
            _ => t.allow_label(name, true),
        });
    }
    out.put(&(site.services.len() + 1).to_string());
    for s in &site.services {
        out.put(s.id.as_str());
        out.put(s.category.as_str());
        out.put(&t.allow_label(&s.name, false));
        out.put(&s.cookies.len().to_string());
        for c in &s.cookies {
            out.put(&cookie_name(c));
        }
    }
    // Crumb itself: strictly necessary, with its one cookie.
    for field in [CRUMB_SERVICE, "necessary", "", "1", crate::cookie::NAME] {
        out.put(field);
    }
    out.0
}

/// A cookie's name as the widget reads it: a pattern ends in `*` (a site
/// may write `_pk_id.` for `_pk_id.*`), an exact name never does (the
/// linter refuses one that would), so no flag needs to travel.
pub fn cookie_name(c: &crate::CookieConfig) -> std::borrow::Cow<'_, str> {
    if c.pattern && !c.name.ends_with('*') {
        format!("{}*", c.name).into()
    } else {
        c.name.as_str().into()
    }
}

/// The preferences dialog's texts for `lang`, fetched when the dialog
/// first opens: each category's description, and each service's provider,
/// purpose, privacy-policy link and cookies' purposes and retentions, by
/// id in the order of [`encode`].
pub fn encode_details(site: &SiteConfig, lang: &LanguageTag) -> String {
    let mut out = Fields::new(4096);
    let words = crate::words::for_language(lang);
    let t = in_lang(&site.texts, lang, site);
    for i in 0..4 {
        out.put(t.map_or("", |t| &t.cookie_columns[i]));
    }
    out.put(words.privacy_policy);
    out.put(&site.categories.len().to_string());
    for c in &site.categories {
        let texts = in_lang(&c.texts, lang, site);
        out.put(c.id.as_str());
        out.put(texts.map_or("", |t| &t.name));
        out.put(texts.map_or("", |t| &t.description));
    }
    out.put(&(site.services.len() + 1).to_string());
    let first = site.languages.first();
    for s in &site.services {
        out.put(s.id.as_str());
        out.put(&s.name);
        out.put(s.provider.get(lang, first).unwrap_or_default());
        out.put(in_lang(&s.description, lang, site).map_or("", String::as_str));
        out.put(&s.privacy_policy_url);
        out.put(&s.cookies.len().to_string());
        for c in &s.cookies {
            out.put(in_lang(&c.purpose, lang, site).map_or("", String::as_str));
            out.put(&c.retention.text(lang, first).unwrap_or_default());
        }
    }
    for field in [
        CRUMB_SERVICE,
        "Crumb",
        &site.name,
        words.consent_purpose,
        &site.policy_url,
        "1",
        words.consent_purpose,
        words.consent_retention,
    ] {
        out.put(field);
    }
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::site;

    #[test]
    fn control_characters_cannot_break_the_layout() {
        let mut s = site(&["en"]);
        s.policy_url = "/a\u{1f}b\nc".into();
        let en = LanguageTag::parse("en").unwrap();
        let out = encode(&s, &en, "h", true);
        let fields: Vec<&str> = out.split(SEP).collect();
        assert_eq!(&fields[..8], ["6", "3", "24", "en", "h", "/a b c", "", "8"]);
        // No texts in any language: every text field is empty, not missing
        // (but for Crumb's own GPC line). One category (id, allow label),
        // then Crumb's own service closes the list.
        assert_eq!(fields.len(), 8 + 11 + 1 + 2 + 1 + 5);
        assert!(fields[8 + 10].contains("Global Privacy Control"));
        assert_eq!(&fields[fields.len() - 5..][..2], ["crumb", "necessary"]);
        // Without the signal, the GPC line is left empty.
        let plain = encode(&s, &en, "h", false);
        assert_eq!(plain.split(SEP).nth(8 + 10), Some(""));
    }

    #[test]
    fn a_patterns_name_ends_in_a_star_and_an_exact_ones_is_as_written() {
        let cookie = |name: &str, pattern: bool| -> crate::CookieConfig {
            serde_json::from_value(serde_json::json!({
                "name": name, "pattern": pattern,
                "purpose": {"en": "p"}, "retention": {"days": 1},
            }))
            .unwrap()
        };
        assert_eq!(cookie_name(&cookie("_ga", false)), "_ga");
        assert_eq!(cookie_name(&cookie("_ga_*", true)), "_ga_*");
        assert_eq!(cookie_name(&cookie("_pk_id.", true)), "_pk_id.*");
    }

    #[test]
    fn the_dialogs_texts_come_by_id_in_the_same_order() {
        let s = site(&["en"]);
        let en = LanguageTag::parse("en").unwrap();
        let details = encode_details(&s, &en);
        let fields: Vec<&str> = details.split(SEP).collect();
        // The cookie table's heads (none in this config) and the word for
        // a privacy-policy link, one category (its id, an empty name and
        // description), then Crumb's own service with its one cookie.
        assert_eq!(fields[4], "Privacy policy");
        assert_eq!(&fields[5..9], ["1", "necessary", "", ""]);
        assert_eq!(fields[9], "1");
        assert_eq!(&fields[10..12], [CRUMB_SERVICE, "Crumb"]);
        assert_eq!(fields[15], "1");
        assert_eq!(fields.len(), 5 + 4 + 1 + 8);
    }
}
