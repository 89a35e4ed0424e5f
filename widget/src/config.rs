//! The site config in the widget's compact form: one language, fields
//! separated by U+001F, in the order `crumb_schema::widget` documents and
//! writes. Reading it is one `split`; the text is kept for the page's life
//! and every field borrows from it, so nothing is copied.

use alloc::vec::Vec;
use core::cell::Cell;

use crate::consent::{Fields, category_index, category_key, is_slug};

pub type Str = &'static str;

/// The banner's texts in reading order (see [`Config::read`]), read in one
/// loop rather than field by field.
pub struct Texts([Str; 11]);

/// An accessor per text, by its place in the config.
macro_rules! texts {
    ($($name:ident = $i:literal),* $(,)?) => {
        impl Texts {
            $(pub fn $name(&self) -> Str {
                self.0[$i]
            })*

        }
    };
}

texts!(
    title = 0,
    body = 1,
    accept_all = 2,
    reject_all = 3,
    customize = 4,
    save = 5,
    close = 6,
    policy_link = 7,
    reopen = 8,
    placeholder = 9,
    gpc_notice = 10,
);

// The preferences dialog's texts (the cookie table's heads, descriptions,
// providers, purposes, links, retentions) arrive later, when the dialog
// first opens ([`Config::fill`]); until then they are empty.

pub struct Category {
    pub idx: usize,
    /// The label of a placeholder's button that allows the category.
    pub allow: Str,
    pub name: Cell<Str>,
    pub desc: Cell<Str>,
}

pub struct Cookie {
    /// The name, or a pattern's prefix and `*` (see
    /// [`crate::consent::cookie_matches`]).
    pub name: Str,
    pub purpose: Cell<Str>,
    pub retention: Cell<Str>,
}

pub struct Service {
    pub id: Str,
    /// The label of a placeholder's button that allows the service.
    pub allow: Str,
    pub name: Cell<Str>,
    pub provider: Cell<Str>,
    /// What the service is for.
    pub purpose: Cell<Str>,
    pub privacy_url: Cell<Str>,
    pub cat: usize,
    pub cookies: Vec<Cookie>,
}

pub struct Config {
    pub revision: u32,
    pub validity_months: u32,
    pub lang: Str,
    pub text_hash: Str,
    pub policy_url: Str,
    /// The domain the consent cookie is set on; empty for the page's host.
    pub cookie_domain: Str,
    /// The site's categories that sell or share personal data, as a bit
    /// set like `cat_bits`: refused at first under Global Privacy Control.
    pub sale_or_sharing: u8,
    pub t: Texts,
    /// The cookie table's column heads (name, provider, purpose,
    /// retention), then the word for a privacy-policy link.
    pub dialog_words: [Cell<Str>; 5],
    pub cats: Vec<Category>,
    /// The site's categories as a bit set (bit i: category index i;
    /// necessary always).
    pub cat_bits: u8,
    pub svcs: Vec<Service>,
}

impl Config {
    /// Reads the compact config; `None` when it is not version 6 or is cut
    /// short. Categories and services the widget does not know are skipped.
    pub fn read(text: Str) -> Option<Config> {
        let mut f = Fields::new(text, 0x1f);
        if f.s() != "6" {
            return None;
        }
        let revision = f.n();
        let validity_months = f.n().clamp(1, 24);
        let (lang, text_hash, policy_url, cookie_domain) = (f.s(), f.s(), f.s(), f.s());
        let sale_or_sharing = f.n() as u8;
        let mut t = Texts([""; 11]);
        for text in &mut t.0 {
            *text = f.s();
        }
        let mut cats = Vec::new();
        let mut cat_bits = 1;
        for _ in 0..f.n() {
            let (key, allow) = (f.s(), f.s());
            if let Some(idx) = category_index(key) {
                cat_bits |= 1 << idx;
                cats.push(Category {
                    idx,
                    allow,
                    name: Cell::new(""),
                    desc: Cell::new(""),
                });
            }
            if f.bad {
                break;
            }
        }
        let mut svcs = Vec::new();
        for _ in 0..f.n() {
            let (id, cat, allow) = (f.s(), f.s(), f.s());
            let mut cookies = Vec::new();
            for _ in 0..f.n() {
                cookies.push(Cookie {
                    name: f.s(),
                    purpose: Cell::new(""),
                    retention: Cell::new(""),
                });
                if f.bad {
                    // A huge count in a cut config stops here.
                    break;
                }
            }
            if let (true, Some(cat)) = (is_slug(id), category_index(cat)) {
                svcs.push(Service {
                    id,
                    allow,
                    name: Cell::new(""),
                    provider: Cell::new(""),
                    purpose: Cell::new(""),
                    privacy_url: Cell::new(""),
                    cat,
                    cookies,
                });
            }
            if f.bad {
                break;
            }
        }
        (!f.bad).then_some(Config {
            revision,
            validity_months,
            lang,
            text_hash,
            policy_url,
            cookie_domain,
            // Only categories the site has, and never necessary.
            sale_or_sharing: sale_or_sharing & cat_bits & !1,
            t,
            dialog_words: Default::default(),
            cats,
            cat_bits,
            svcs,
        })
    }

    /// Fills in the dialog's texts (`crumb_schema::widget::encode_details`),
    /// matched by id. False when `text` is not such a text.
    pub fn fill(&self, text: Str) -> bool {
        let mut f = Fields::new(text, 0x1f);
        for word in &self.dialog_words {
            word.set(f.s());
        }
        for _ in 0..f.n() {
            let (key, name, desc) = (f.s(), f.s(), f.s());
            if let Some(c) = self.cats.iter().find(|c| category_key(c.idx) == key) {
                c.name.set(name);
                c.desc.set(desc);
            }
            if f.bad {
                break;
            }
        }
        for _ in 0..f.n() {
            let svc = self.service(f.s()).map(|(_, s)| s);
            let (name, provider, purpose, privacy_url) = (f.s(), f.s(), f.s(), f.s());
            if let Some(s) = svc {
                s.name.set(name);
                s.provider.set(provider);
                s.purpose.set(purpose);
                s.privacy_url.set(privacy_url);
            }
            for i in 0..f.n() {
                let (purpose, retention) = (f.s(), f.s());
                if let Some(c) = svc.and_then(|s| s.cookies.get(i as usize)) {
                    c.purpose.set(purpose);
                    c.retention.set(retention);
                }
                if f.bad {
                    break;
                }
            }
            if f.bad {
                break;
            }
        }
        f.done()
    }

    /// The cookie table's column heads: name, provider, purpose,
    /// retention.
    pub fn cols(&self) -> [Str; 4] {
        let w = &self.dialog_words;
        [w[0].get(), w[1].get(), w[2].get(), w[3].get()]
    }

    pub fn privacy_link(&self) -> Str {
        self.dialog_words[4].get()
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

    /// The services a visitor chooses (not the strictly necessary ones,
    /// always on, Crumb's own among them), with their index.
    pub fn optional_services(&self) -> impl Iterator<Item = (usize, &Service)> {
        self.svcs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.cat != crate::consent::NECESSARY)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use alloc::string::String;

    fn site() -> crumb_schema::SiteConfig {
        serde_json::from_str(include_str!("../../examples/demo-site.json")).unwrap()
    }

    fn demo(lang: &str) -> Str {
        let lang = crumb_schema::LanguageTag::parse(lang).unwrap();
        String::leak(crumb_schema::widget::encode(&site(), &lang, "hash", true))
    }

    fn details(lang: &str) -> Str {
        let lang = crumb_schema::LanguageTag::parse(lang).unwrap();
        String::leak(crumb_schema::widget::encode_details(&site(), &lang))
    }

    #[test]
    fn reads_what_the_server_writes() {
        let c = Config::read(demo("nl")).unwrap();
        // The dialog's texts are empty until they are filled in.
        assert_eq!(c.cats[2].desc.get(), "");
        assert!(c.fill(details("nl")));
        assert!(!c.cats[2].desc.get().is_empty());
        assert_eq!((c.revision, c.validity_months), (1, 24));
        assert_eq!((c.lang, c.text_hash), ("nl", "hash"));
        assert_eq!(c.cats.len(), 4);
        assert_eq!(c.cats[2].name.get(), "Analytisch");
        assert_eq!(c.cats[3].allow, "Marketing-cookies toestaan");
        let (i, ga) = c.service("google-analytics").unwrap();
        assert_eq!(ga.cat, 2);
        assert_eq!(ga.name.get(), "Google Analytics 4");
        assert_eq!(ga.allow, "Google Analytics 4 toestaan");
        assert_eq!(ga.cookies[0].name, "_ga");
        assert_eq!(ga.cookies[0].retention.get(), "2 jaar");
        assert_eq!(ga.purpose.get(), "Meet bezoeken en paginaweergaven.");
        assert_eq!(ga.privacy_url.get(), "https://policies.google.com/privacy");
        assert_eq!(c.privacy_link(), "Privacyverklaring");
        assert!(c.t.gpc_notice().starts_with("Het Global Privacy Control"));
        // Marketing (index 3), by default.
        assert_eq!(c.sale_or_sharing, 1 << 3);
        // Crumb's own cookie closes the list, in necessary.
        let crumb = c.svcs.last().unwrap();
        assert_eq!((crumb.id, crumb.cat), ("crumb", 0));
        assert_eq!(crumb.cookies[0].name, "crumb_consent");
        assert!(c.optional_services().all(|(_, s)| s.cat != 0));
        assert_eq!(c.service_index("google-analytics"), Some(i));
        assert!(
            c.svcs
                .iter()
                .any(|s| s.cookies.iter().any(|k| k.name.ends_with('*')))
        );
        assert!(!c.t.accept_all().is_empty() && !c.cols()[3].is_empty());
    }

    #[test]
    fn other_versions_and_cut_configs_are_refused() {
        let full = demo("en");
        assert!(Config::read(full).is_some());
        assert!(Config::read(&full[..full.len() / 2]).is_none());
        assert!(Config::read("1\u{1f}1").is_none());
        assert!(Config::read("").is_none());
        // A count far beyond the fields there are ends the read, not the tab.
        assert!(
            Config::read(String::leak(full.replacen(
                "\u{1f}4\u{1f}necessary",
                "\u{1f}4000000000\u{1f}necessary",
                1
            )))
            .is_none()
        );
    }
}
