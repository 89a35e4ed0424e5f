//! The widget's view of a site config: one language, flat text.
//!
//! The widget reads its config by splitting one string on U+001F (the
//! ASCII unit separator) instead of walking a parsed JSON object: reading
//! JSON field by field through wasm-bindgen cost about a third of the
//! widget's wasm, and every visitor downloads that. The server picks the
//! language (the same rule the banner used to apply in the browser), so
//! only that language's texts travel.
//!
//! The fields, in order (`n` numbers are decimal):
//!
//! ```text
//! 1 · revision · validity_months · lang · text_hash · policy_url
//! · title · body · accept_all · reject_all · customize · save · close
//! · policy_link · reopen · 4 cookie_columns · placeholder · placeholder_allow
//! · n categories, each: id · name · description
//! · n services, each: id · category · name · provider
//!     · n cookies, each: name · pattern (1 or 0) · purpose · retention
//! ```
//!
//! `widget/src/config.rs` reads exactly this; its tests decode what
//! [`encode`] writes.

use crate::{LanguageTag, SiteConfig};

/// The separator between fields. Config texts never contain it: [`encode`]
/// turns every control character in them into a space.
pub const SEP: char = '\u{1f}';

/// The version of this layout, its first field.
pub const VERSION: &str = "1";

/// The best of the site's languages for a visitor who wants `wanted`, in
/// order (the page's `<html lang>`, then the browser's language): an exact
/// match first, then the same primary language (`nl-BE` → `nl`); then
/// English; then the site's first language.
pub fn pick_language<'a>(site: &'a SiteConfig, wanted: &[&str]) -> Option<&'a LanguageTag> {
    let primary = |t: &str| t.split('-').next().unwrap_or(t).to_ascii_lowercase();
    for w in wanted
        .iter()
        .copied()
        .chain(["en"])
        .filter(|w| !w.is_empty())
    {
        let exact = site
            .languages
            .iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(w));
        let wp = primary(w);
        if let Some(l) = exact.or_else(|| site.languages.iter().find(|a| primary(a.as_str()) == wp))
        {
            return Some(l);
        }
    }
    site.languages.first()
}

/// The widget's config for `lang`, whose texts hash to `text_hash`. Texts
/// missing in `lang` fall back to the site's first language.
pub fn encode(site: &SiteConfig, lang: &LanguageTag, text_hash: &str) -> String {
    let mut out = String::with_capacity(4096);
    let mut put = |s: &str| {
        if !out.is_empty() {
            out.push(SEP);
        }
        out.extend(s.chars().map(|c| if c.is_control() { ' ' } else { c }));
    };
    let first = site.languages.first();
    let loc = |m: &crate::Localized| -> String {
        m.get(lang)
            .or_else(|| first.and_then(|f| m.get(f)))
            .cloned()
            .unwrap_or_default()
    };
    put(VERSION);
    put(&site.revision.get().to_string());
    put(&site.validity_months.get().to_string());
    put(lang.as_str());
    put(text_hash);
    put(&site.policy_url);
    let t = site
        .texts
        .get(lang)
        .or_else(|| first.and_then(|f| site.texts.get(f)));
    let t = t.cloned().unwrap_or_default();
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
    put(&site.categories.len().to_string());
    for c in &site.categories {
        let texts = c
            .texts
            .get(lang)
            .or_else(|| first.and_then(|f| c.texts.get(f)));
        put(c.id.as_str());
        put(texts.map_or("", |t| &t.name));
        put(texts.map_or("", |t| &t.description));
    }
    put(&site.services.len().to_string());
    for s in &site.services {
        put(s.id.as_str());
        put(s.category.as_str());
        put(&s.name);
        put(&s.provider);
        put(&s.cookies.len().to_string());
        for c in &s.cookies {
            put(&c.name);
            put(if c.pattern { "1" } else { "0" });
            put(&loc(&c.purpose));
            put(&loc(&c.retention));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(langs: &[&str]) -> SiteConfig {
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"id":"s","name":"S","policy_url":"/p","revision":3,"languages":[],
            "texts":{},"categories":[{"id":"necessary","texts":{}}],"services":[]}"#,
        )
        .unwrap();
        v["languages"] = serde_json::json!(langs);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn page_language_wins_then_browser_then_english_then_first() {
        let s = site(&["nl", "en", "de", "fr"]);
        let pick = |w: &[&str]| pick_language(&s, w).unwrap().as_str();
        assert_eq!(pick(&["de", "fr"]), "de");
        assert_eq!(pick(&["", "fr-CA"]), "fr");
        assert_eq!(pick(&["sv", "ja"]), "en");
        assert_eq!(pick(&["EN-gb"]), "en");
        assert_eq!(pick(&[]), "en");
        let only_dutch = site(&["nl"]);
        assert_eq!(pick_language(&only_dutch, &["sv"]).unwrap().as_str(), "nl");
    }

    #[test]
    fn control_characters_cannot_break_the_layout() {
        let mut s = site(&["en"]);
        s.policy_url = "/a\u{1f}b\nc".into();
        let out = encode(&s, &LanguageTag::parse("en").unwrap(), "h");
        let fields: Vec<&str> = out.split(SEP).collect();
        assert_eq!(&fields[..6], ["1", "3", "24", "en", "h", "/a b c"]);
        // No texts in any language: every text field is empty, not missing.
        assert_eq!(fields.len(), 6 + 15 + 1 + 3 + 1);
    }
}
