//! The compliance check run on every config write and by `crumb lint`. It
//! lists every problem, not only the first, so one edit can fix them all.
//!
//! Rules (EDPB cookie banner taskforce 2023, CNIL): no pre-ticked
//! non-necessary category; a reject-all text in every language; validity at
//! most two years; every service with a purpose and its cookies; every
//! text present in every declared language; allowed origins on https
//! (localhost excepted); plus the config's structural problems.

use crumb_schema::{Category, LanguageTag, SiteConfig};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub rule: &'static str,
    pub message: String,
}

fn problem(rule: &'static str, message: String) -> Problem {
    Problem { rule, message }
}

/// Checks a config given as JSON text; returns the parsed config only when
/// there is no problem.
pub fn lint_json(text: &str) -> Result<SiteConfig, Vec<Problem>> {
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| vec![problem("json", format!("not valid JSON: {e}"))])?;
    let mut problems = Vec::new();
    // Over-long validity is a rule violation, not a parse error: report it
    // and keep checking the rest.
    if let Some(m) = value.get("validity_months").and_then(Value::as_u64)
        && m > 24
    {
        problems.push(problem(
            "validity",
            format!("validity_months is {m}; consent may be kept at most 24 months (two years)"),
        ));
        value["validity_months"] = Value::from(24);
    }
    match serde_json::from_value::<SiteConfig>(value) {
        Ok(site) => problems.extend(lint(&site)),
        Err(e) => problems.push(problem("schema", e.to_string())),
    }
    match problems.is_empty() {
        true => serde_json::from_str(text).map_err(|e| vec![problem("schema", e.to_string())]),
        false => Err(problems),
    }
}

fn is_local(origin: &str) -> bool {
    let rest = origin.strip_prefix("http://").unwrap_or_default();
    let host = rest.split(':').next().unwrap_or_default();
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Every problem of a parsed config.
pub fn lint(site: &SiteConfig) -> Vec<Problem> {
    let mut out: Vec<Problem> = site
        .problems()
        .into_iter()
        .map(|m| problem("structure", m))
        .collect();
    let missing = |what: String, lang: &LanguageTag| {
        problem(
            "translation",
            format!("{what} has no text for language {lang}"),
        )
    };
    for c in &site.categories {
        if c.preselected && c.id != Category::Necessary {
            out.push(problem(
                "preselected",
                format!(
                    "category {} is pre-ticked; only necessary may be on before consent",
                    c.id
                ),
            ));
        }
    }
    for lang in &site.languages {
        if let Some(t) = site.texts.get(lang) {
            if t.reject_all.trim().is_empty() {
                out.push(problem(
                    "reject_all",
                    format!(
                        "texts.{lang}.reject_all is empty; rejecting must be as easy as accepting"
                    ),
                ));
            }
            for (name, text) in [
                ("title", &t.title),
                ("body", &t.body),
                ("accept_all", &t.accept_all),
            ] {
                if text.trim().is_empty() {
                    out.push(problem(
                        "translation",
                        format!("texts.{lang}.{name} is empty"),
                    ));
                }
            }
        }
        for c in &site.categories {
            if c.texts.get(lang).is_none_or(|t| t.name.trim().is_empty()) {
                out.push(missing(format!("category {}", c.id), lang));
            }
        }
        for s in &site.services {
            if s.description.get(lang).is_none_or(|d| d.trim().is_empty()) {
                out.push(missing(format!("service {} description", s.id), lang));
            }
            for c in &s.cookies {
                if !c.retention.contains_key(lang) {
                    out.push(missing(format!("cookie {} retention", c.name), lang));
                }
                if c.purpose.get(lang).is_none_or(|p| p.trim().is_empty()) {
                    out.push(missing(format!("cookie {} purpose", c.name), lang));
                }
            }
        }
    }
    for s in &site.services {
        if s.cookies.is_empty() {
            out.push(problem(
                "service_cookies",
                format!(
                    "service {} declares no cookies; list what it sets (name, purpose, retention)",
                    s.id
                ),
            ));
        }
        if s.description.values().all(|d| d.trim().is_empty()) {
            out.push(problem(
                "service_purpose",
                format!("service {} has no purpose (description)", s.id),
            ));
        }
    }
    for o in &site.allowed_origins {
        if !(o.starts_with("https://") || is_local(o)) {
            out.push(problem(
                "origin",
                format!("allowed origin {o:?} is not https (only localhost may use http)"),
            ));
        }
    }
    if let Some(domain) = &site.cookie_domain {
        out.extend(cookie_domain_problem(site, domain));
    }
    out
}

/// A `cookie_domain` must be a plain domain name of two labels or more
/// (browsers refuse a cookie for a public suffix such as `com`), and every
/// allowed origin's host must be it or below it: a browser ignores a
/// cookie whose domain does not cover the page that sets it.
fn cookie_domain_problem(site: &SiteConfig, domain: &str) -> Option<Problem> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) || domain.len() > 253 {
        return Some(problem(
            "cookie_domain",
            format!(
                "cookie_domain {domain:?} is not a registrable domain name such as \"example.com\" (lowercase, no leading dot, no scheme or port)"
            ),
        ));
    }
    let outside: Vec<&str> = site
        .allowed_origins
        .iter()
        .map(|o| origin_host(o))
        .filter(|h| !(is_local_host(h) || *h == domain || h.ends_with(&format!(".{domain}"))))
        .collect();
    (!outside.is_empty()).then(|| {
        problem(
            "cookie_domain",
            format!(
                "cookie_domain {domain:?} does not cover the allowed origin host(s) {}; browsers would refuse the cookie there",
                outside.join(", ")
            ),
        )
    })
}

/// The host of an origin (`https://shop.example:8443` → `shop.example`).
fn origin_host(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, r)| r);
    let rest = rest.trim_end_matches('/');
    if rest.starts_with('[') {
        return rest.split_inclusive(']').next().unwrap_or(rest);
    }
    rest.split(':').next().unwrap_or(rest)
}

fn is_local_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn demo() -> Value {
        serde_json::from_str(crate::demo::DEMO_SITE_JSON).unwrap()
    }

    fn rules(v: &Value) -> Vec<&'static str> {
        match lint_json(&v.to_string()) {
            Ok(_) => vec![],
            Err(p) => p.into_iter().map(|p| p.rule).collect(),
        }
    }

    #[test]
    fn the_demo_site_passes() {
        assert_eq!(rules(&demo()), Vec::<&str>::new());
    }

    #[test]
    fn preselected_categories() {
        let mut v = demo();
        v["categories"][0]["preselected"] = json!(true); // necessary: fine
        assert_eq!(rules(&v), Vec::<&str>::new());
        v["categories"][2]["preselected"] = json!(true);
        assert_eq!(rules(&v), ["preselected"]);
    }

    #[test]
    fn reject_all_text() {
        let mut v = demo();
        v["texts"]["nl"]["reject_all"] = json!(" ");
        assert_eq!(rules(&v), ["reject_all"]);
    }

    #[test]
    fn validity_over_two_years() {
        let mut v = demo();
        v["validity_months"] = json!(24);
        assert_eq!(rules(&v), Vec::<&str>::new());
        v["validity_months"] = json!(36);
        assert_eq!(rules(&v), ["validity"]);
    }

    #[test]
    fn services_need_purpose_and_cookies() {
        let mut v = demo();
        v["services"][0]["cookies"] = json!([]);
        assert_eq!(rules(&v), ["service_cookies"]);
        let mut v = demo();
        v["services"][1]["description"] = json!({});
        let r = rules(&v);
        assert!(
            r.contains(&"service_purpose") && r.contains(&"translation"),
            "{r:?}"
        );
    }

    #[test]
    fn every_declared_language_needs_its_texts() {
        let mut v = demo();
        v["services"][2]["cookies"][0]["purpose"]
            .as_object_mut()
            .unwrap()
            .remove("de");
        assert_eq!(rules(&v), ["translation"]);
        let mut v = demo();
        v["languages"] = json!(["en", "nl", "de", "fr", "es"]);
        let r = rules(&v);
        assert!(
            r.iter().all(|r| *r == "translation" || *r == "structure"),
            "{r:?}"
        );
        assert!(
            r.len() > 20,
            "every missing Spanish text is listed: {}",
            r.len()
        );
    }

    #[test]
    fn origins_must_be_https_except_localhost() {
        let mut v = demo();
        v["allowed_origins"] = json!([
            "https://shop.example",
            "http://localhost:3000",
            "http://127.0.0.1"
        ]);
        assert_eq!(rules(&v), Vec::<&str>::new());
        v["allowed_origins"] = json!(["http://shop.example"]);
        assert_eq!(rules(&v), ["origin"]);
    }

    #[test]
    fn cookie_domain_must_cover_the_origins() {
        let mut v = demo();
        v["allowed_origins"] = json!(["https://www.example.com", "https://shop.example.com"]);
        v["cookie_domain"] = json!("example.com");
        assert_eq!(rules(&v), Vec::<&str>::new());
        for bad in [
            "com",
            ".example.com",
            "https://example.com",
            "Example.com",
            "example.com:443",
            "",
        ] {
            v["cookie_domain"] = json!(bad);
            assert_eq!(rules(&v), ["cookie_domain"], "{bad:?}");
        }
        v["cookie_domain"] = json!("shop.example.com");
        let err = lint_json(&v.to_string()).unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(
            err[0].message.contains("www.example.com"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn all_problems_are_listed_together() {
        let mut v = demo();
        v["validity_months"] = json!(30);
        v["texts"]["en"]["reject_all"] = json!("");
        v["allowed_origins"] = json!(["http://shop.example"]);
        v["categories"][3]["preselected"] = json!(true);
        let mut r = rules(&v);
        r.sort();
        assert_eq!(r, ["origin", "preselected", "reject_all", "validity"]);
    }
}
