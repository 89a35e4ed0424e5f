//! The site config, read from the object the browser's `JSON.parse` made
//! (no serde in the widget: it would triple the download). Only the texts
//! of the chosen language are kept.

use alloc::string::String;
use alloc::vec::Vec;

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::consent::{category_index, is_slug};

pub struct Texts {
    pub title: String,
    pub body: String,
    pub accept_all: String,
    pub reject_all: String,
    pub customize: String,
    pub save: String,
    pub close: String,
    pub policy_link: String,
    pub reopen: String,
    pub cols: [String; 4],
    pub placeholder: String,
    pub placeholder_allow: String,
}

pub struct Category {
    pub idx: usize,
    pub name: String,
    pub desc: String,
}

pub struct Cookie {
    pub name: String,
    pub pattern: bool,
    pub purpose: String,
    pub retention: String,
}

pub struct Service {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub cat: usize,
    pub cookies: Vec<Cookie>,
}

pub struct Config {
    pub revision: u32,
    pub policy_url: String,
    pub validity_months: u32,
    pub lang: String,
    pub text_hash: String,
    pub t: Texts,
    pub cats: Vec<Category>,
    pub svcs: Vec<Service>,
}

fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn s(o: &JsValue, key: &str) -> String {
    get(o, key).as_string().unwrap_or_default()
}

fn num(o: &JsValue, key: &str) -> u32 {
    get(o, key).as_f64().unwrap_or(0.0) as u32
}

fn arr(o: &JsValue, key: &str) -> Array {
    get(o, key).dyn_into().unwrap_or_default()
}

impl Config {
    /// Reads the config for the first of `wanted` languages the site has.
    pub fn read(js: &JsValue, wanted: &[&str]) -> Option<Config> {
        let langs: Vec<String> = arr(js, "languages")
            .iter()
            .filter_map(|v| v.as_string())
            .collect();
        let lang = langs.get(crate::i18n::pick(wanted, &langs))?.clone();
        let first = langs.first()?.clone();
        // A localized string: the chosen language, else the site's first.
        let loc = |o: &JsValue| -> JsValue {
            let v = get(o, &lang);
            if v.is_undefined() { get(o, &first) } else { v }
        };
        let texts = loc(&get(js, "texts"));
        let t = |k: &str| s(&texts, k);
        let cols = arr(&texts, "cookie_columns");
        let col = |i: u32| cols.get(i).as_string().unwrap_or_default();
        let cats = arr(js, "categories")
            .iter()
            .filter_map(|c| {
                let texts = loc(&get(&c, "texts"));
                Some(Category {
                    idx: category_index(&s(&c, "id"))?,
                    name: s(&texts, "name"),
                    desc: s(&texts, "description"),
                })
            })
            .collect();
        let svcs = arr(js, "services")
            .iter()
            .filter_map(|v| {
                let id = s(&v, "id");
                if !is_slug(&id) {
                    return None;
                }
                let cookies = arr(&v, "cookies")
                    .iter()
                    .map(|c| Cookie {
                        name: s(&c, "name"),
                        pattern: get(&c, "pattern").is_truthy(),
                        purpose: loc(&get(&c, "purpose")).as_string().unwrap_or_default(),
                        retention: loc(&get(&c, "retention")).as_string().unwrap_or_default(),
                    })
                    .collect();
                Some(Service {
                    cat: category_index(&s(&v, "category"))?,
                    id,
                    name: s(&v, "name"),
                    provider: s(&v, "provider"),
                    cookies,
                })
            })
            .collect();
        Some(Config {
            revision: num(js, "revision"),
            policy_url: s(js, "policy_url"),
            validity_months: num(js, "validity_months").clamp(1, 24),
            text_hash: s(&get(js, "text_hashes"), &lang),
            t: Texts {
                title: t("title"),
                body: t("body"),
                accept_all: t("accept_all"),
                reject_all: t("reject_all"),
                customize: t("customize"),
                save: t("save"),
                close: t("close"),
                policy_link: t("policy_link"),
                reopen: t("reopen"),
                cols: [col(0), col(1), col(2), col(3)],
                placeholder: t("placeholder"),
                placeholder_allow: t("placeholder_allow"),
            },
            lang,
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
        self.svcs.iter().map(|s| s.id.as_str())
    }
}
