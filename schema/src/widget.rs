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
//! 3 · revision · validity_months · lang · text_hash · policy_url
//! · cookie_domain (empty for the page's own host)
//! · sale_or_sharing (n: bit i set for category i of necessary, functional,
//!   analytics, marketing)
//! · title · body · accept_all · reject_all · customize · save · close
//! · policy_link · reopen · 4 cookie_columns · placeholder · placeholder_allow
//! · privacy_link (Crumb's own word for a privacy-policy link)
//! · gpc_notice (Crumb's own line for a browser that sends Global Privacy
//!   Control; empty unless the config request carried `Sec-GPC: 1`, so
//!   other visitors do not download it)
//! · n categories, each: id · name · description
//! · n services, each: id · category · name · provider · purpose
//!     · privacy_policy_url
//!     · n cookies, each: name · pattern (1 or 0) · purpose · retention
//! ```
//!
//! The last service is always Crumb's own (id [`CRUMB_SERVICE`], in
//! necessary), so its `crumb_consent` cookie is declared in the dialog of
//! every site.

//!
//! `widget/src/config.rs` reads exactly this; its tests decode what
//! [`encode`] writes.

use std::collections::BTreeMap;

use crate::{Category, LanguageTag, SiteConfig};

/// The separator between fields. Config texts never contain it: [`encode`]
/// turns every control character in them into a space.
pub const SEP: char = '\u{1f}';

/// The version of this layout, its first field.
pub const VERSION: &str = "3";

/// The id of the service that stands for Crumb itself in the widget's
/// config and the cookie declaration (`/declaration`); sites may not use
/// it (the linter refuses it).
pub const CRUMB_SERVICE: &str = "crumb";

/// The widget's config for `lang`, whose texts hash to `text_hash`, for a
/// browser that sends Global Privacy Control (`gpc`) or not. Texts missing
/// in `lang` fall back to the site's first language.
pub fn encode(site: &SiteConfig, lang: &LanguageTag, text_hash: &str, gpc: bool) -> String {
    let mut out = String::with_capacity(4096);
    let mut put = |s: &str| {
        if !out.is_empty() {
            out.push(SEP);
        }
        out.extend(s.chars().map(|c| if c.is_control() { ' ' } else { c }));
    };
    // A text in `lang`, else in the site's first language.
    let first = site.languages.first();
    fn in_lang<'m, T>(
        m: &'m BTreeMap<LanguageTag, T>,
        lang: &LanguageTag,
        first: Option<&LanguageTag>,
    ) -> Option<&'m T> {
        m.get(lang).or_else(|| m.get(first?))
    }
    put(VERSION);
    put(&site.revision.get().to_string());
    put(&site.validity_months.get().to_string());
    put(lang.as_str());
    put(text_hash);
    put(&site.policy_url);
    put(site.cookie_domain.as_deref().unwrap_or_default());
    let sale_or_sharing: u8 = site
        .sale_or_sharing
        .iter()
        .map(|&c| 1 << Category::ALL.iter().position(|&k| k == c).unwrap_or(0))
        .fold(0, |bits, bit| bits | bit);
    put(&sale_or_sharing.to_string());
    let t = in_lang(&site.texts, lang, first)
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
    ] {
        put(s);
    }
    for s in &t.cookie_columns {
        put(s);
    }
    put(&t.placeholder);
    put(&t.placeholder_allow);
    let words = crate::words::for_language(lang);
    put(words.privacy_policy);
    put(if gpc { words.gpc_notice } else { "" });
    put(&site.categories.len().to_string());
    for c in &site.categories {
        let texts = in_lang(&c.texts, lang, first);
        put(c.id.as_str());
        put(texts.map_or("", |t| &t.name));
        put(texts.map_or("", |t| &t.description));
    }
    put(&(site.services.len() + 1).to_string());
    for s in &site.services {
        put(s.id.as_str());
        put(s.category.as_str());
        put(&s.name);
        put(s.provider.get(lang, first).unwrap_or_default());
        put(in_lang(&s.description, lang, first).map_or("", String::as_str));
        put(&s.privacy_policy_url);
        put(&s.cookies.len().to_string());
        for c in &s.cookies {
            put(&c.name);
            put(if c.pattern { "1" } else { "0" });
            put(in_lang(&c.purpose, lang, first).map_or("", String::as_str));
            put(&c.retention.text(lang, first).unwrap_or_default());
        }
    }
    // Crumb itself: strictly necessary, with its one cookie.
    for field in [
        CRUMB_SERVICE,
        "necessary",
        "Crumb",
        &site.name,
        words.consent_purpose,
        &site.policy_url,
        "1",
        crate::cookie::NAME,
        "0",
        words.consent_purpose,
        words.consent_retention,
    ] {
        put(field);
    }
    out
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
        assert_eq!(&fields[..8], ["3", "3", "24", "en", "h", "/a b c", "", "8"]);
        // No texts in any language: every text field is empty, not missing
        // (but for Crumb's own words: a privacy-policy link, the GPC line).
        // Crumb's own service closes the list.
        assert_eq!(fields.len(), 8 + 17 + 1 + 3 + 1 + 11);
        assert_eq!(fields[8 + 15], "Privacy policy");
        assert!(fields[8 + 16].contains("Global Privacy Control"));
        assert_eq!(&fields[fields.len() - 11..][..2], ["crumb", "necessary"]);
        // Without the signal, the GPC line is left empty.
        let plain = encode(&s, &en, "h", false);
        assert_eq!(plain.split(SEP).nth(8 + 16), Some(""));
    }
}
