//! The site config in the widget's compact form: one language, fields
//! separated by U+001F, in the order `crumb_schema::widget` documents and
//! writes. Reading it is one `split`; the text is kept for the page's life
//! and every field borrows from it, so nothing is copied.

use alloc::vec::Vec;

use crate::consent::{category_index, is_slug, parse_u64};

pub type Str = &'static str;

pub struct Texts {
    pub title: Str,
    pub body: Str,
    pub accept_all: Str,
    pub reject_all: Str,
    pub customize: Str,
    pub save: Str,
    pub close: Str,
    pub policy_link: Str,
    pub reopen: Str,
    pub cols: [Str; 4],
    pub placeholder: Str,
    pub placeholder_allow: Str,
}

pub struct Category {
    pub idx: usize,
    pub name: Str,
    pub desc: Str,
}

pub struct Cookie {
    pub name: Str,
    pub pattern: bool,
    pub purpose: Str,
    pub retention: Str,
}

pub struct Service {
    pub id: Str,
    pub name: Str,
    pub provider: Str,
    pub cat: usize,
    pub cookies: Vec<Cookie>,
}

pub struct Config {
    pub revision: u32,
    pub validity_months: u32,
    pub lang: Str,
    pub text_hash: Str,
    pub policy_url: Str,
    pub t: Texts,
    pub cats: Vec<Category>,
    pub svcs: Vec<Service>,
}

impl Config {
    /// Reads the compact config; `None` when it is not version 1 or is cut
    /// short. Categories and services the widget does not know are skipped.
    pub fn read(text: Str) -> Option<Config> {
        let mut fields = text.split('\u{1f}');
        let mut f = || fields.next();
        if f()? != "1" {
            return None;
        }
        let revision = parse_u64(f()?)? as u32;
        let validity_months = (parse_u64(f()?)? as u32).clamp(1, 24);
        let (lang, text_hash, policy_url) = (f()?, f()?, f()?);
        let t = Texts {
            title: f()?,
            body: f()?,
            accept_all: f()?,
            reject_all: f()?,
            customize: f()?,
            save: f()?,
            close: f()?,
            policy_link: f()?,
            reopen: f()?,
            cols: [f()?, f()?, f()?, f()?],
            placeholder: f()?,
            placeholder_allow: f()?,
        };
        let mut cats = Vec::new();
        for _ in 0..parse_u64(f()?)? {
            let (key, name, desc) = (f()?, f()?, f()?);
            if let Some(idx) = category_index(key) {
                cats.push(Category { idx, name, desc });
            }
        }
        let mut svcs = Vec::new();
        for _ in 0..parse_u64(f()?)? {
            let (id, cat, name, provider) = (f()?, f()?, f()?, f()?);
            let mut cookies = Vec::new();
            for _ in 0..parse_u64(f()?)? {
                cookies.push(Cookie {
                    name: f()?,
                    pattern: f()? == "1",
                    purpose: f()?,
                    retention: f()?,
                });
            }
            if let (true, Some(cat)) = (is_slug(id), category_index(cat)) {
                svcs.push(Service {
                    id,
                    name,
                    provider,
                    cat,
                    cookies,
                });
            }
        }
        Some(Config {
            revision,
            validity_months,
            lang,
            text_hash,
            policy_url,
            t,
            cats,
            svcs,
        })
    }

    pub fn service_index(&self, id: &str) -> Option<usize> {
        self.svcs.iter().position(|s| s.id == id)
    }

    pub fn service(&self, id: &str) -> Option<(usize, &Service)> {
        self.svcs.iter().enumerate().find(|(_, s)| s.id == id)
    }

    /// Strictly necessary only: the choice before the visitor makes one.
    pub fn necessary_only(&self) -> crate::consent::Choices {
        crate::consent::Choices::necessary_only(self.svcs.iter().map(|s| s.cat))
    }

    pub fn service_ids(&self) -> impl Iterator<Item = &str> {
        self.svcs.iter().map(|s| s.id)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use alloc::string::String;

    fn demo(lang: &str) -> Str {
        let site: crumb_schema::SiteConfig =
            serde_json::from_str(include_str!("../../examples/demo-site.json")).unwrap();
        let lang = crumb_schema::LanguageTag::parse(lang).unwrap();
        String::leak(crumb_schema::widget::encode(&site, &lang, "hash"))
    }

    #[test]
    fn reads_what_the_server_writes() {
        let c = Config::read(demo("nl")).unwrap();
        assert_eq!((c.revision, c.validity_months), (1, 24));
        assert_eq!((c.lang, c.text_hash), ("nl", "hash"));
        assert_eq!(c.cats.len(), 4);
        assert_eq!(c.cats[2].name, "Analytisch");
        let (i, ga) = c.service("google-analytics").unwrap();
        assert_eq!(ga.cat, 2);
        assert_eq!(ga.cookies[0].name, "_ga");
        assert_eq!(ga.cookies[0].retention, "2 jaar");
        assert_eq!(c.service_index("google-analytics"), Some(i));
        assert!(c.svcs.iter().any(|s| s.cookies.iter().any(|k| k.pattern)));
        assert!(!c.t.accept_all.is_empty() && !c.t.cols[3].is_empty());
    }

    #[test]
    fn other_versions_and_cut_configs_are_refused() {
        let full = demo("en");
        assert!(Config::read(full).is_some());
        assert!(Config::read(&full[..full.len() / 2]).is_none());
        assert!(Config::read("2\u{1f}1").is_none());
        assert!(Config::read("").is_none());
    }
}
