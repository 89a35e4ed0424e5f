//! The compliance check run on every config write and by `crumb lint`. It
//! lists every problem in one pass, not only the first, so one edit can fix
//! them all; each problem once, with where it is
//! (`services[3].cookies[0].retention.nl`).
//!
//! Rules (EDPB cookie banner taskforce 2023, CNIL, and what breaks real
//! sites): the config's shape (every schema error, each with its path); no
//! pre-ticked non-necessary category; a reject-all text and every button
//! and link text in every language; validity at most two years; every
//! service named, with its provider, a purpose, an http(s) privacy-policy
//! link, and its cookies (or `sets_no_cookies`); every cookie named, with a
//! purpose and a retention; no cookie pattern that matches every cookie,
//! and no exact cookie name ending in `*` (a pattern's mark); no
//! cookie name shared by a necessary and a refusable service; no
//! well-known tracking cookie (`_ga`, `_fbp`, `_hjSession_*`, ...) in a
//! necessary service, where it could not be refused; every text
//! present in every declared language; allowed origins on https (localhost
//! excepted) and shaped as browsers send them (no wildcard, no path); a
//! `cookie_domain` that covers them and is no public suffix;
//! `sale_or_sharing` naming the site's refusable categories; no key twice
//! in one object; plus the config's structural problems.

use crumb_schema::{
    BannerTexts, Category, CategoryConfig, Retention, ServiceConfig, SiteConfig, Text,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub rule: &'static str,
    /// Where the problem is, as a path into the config
    /// (`services[3].cookies[0].retention`); empty for the whole file.
    pub path: String,
    /// What is wrong, starting with the path.
    pub message: String,
}

fn problem(rule: &'static str, path: impl Into<String>, what: impl AsRef<str>) -> Problem {
    let path = path.into();
    let message = if path.is_empty() {
        what.as_ref().to_owned()
    } else {
        format!("{path}: {}", what.as_ref())
    };
    Problem {
        rule,
        path,
        message,
    }
}

/// Checks a config given as JSON text; returns the parsed config only when
/// there is no problem.
pub fn lint_json(text: &str) -> Result<SiteConfig, Vec<Problem>> {
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| vec![problem("json", "", format!("not valid JSON: {e}"))])?;
    let mut problems = duplicate_keys(text);
    // Over-long validity is a rule violation, not a parse error: report it
    // and keep checking the rest.
    if let Some(m) = value.get("validity_months").and_then(Value::as_u64)
        && m > 24
    {
        problems.push(problem(
            "validity",
            "validity_months",
            format!("is {m}; consent may be kept at most 24 months (two years)"),
        ));
        value["validity_months"] = Value::from(24);
    }
    let (site, schema, kept) = parse_parts(value);
    if let Some(site) = &site {
        // The other rules see the parts that parsed; their paths are put
        // back to the file's numbering, and nothing is reported again
        // where the schema error already is.
        for mut p in lint(site) {
            for (list, kept) in [("categories", &kept.0), ("services", &kept.1)] {
                p.path = renumber(&p.path, list, kept);
                p.message = renumber(&p.message, list, kept);
            }
            let covered = schema.iter().any(|e| {
                p.path == e.path
                    || p.path.starts_with(&format!("{}.", e.path))
                    || p.path.starts_with(&format!("{}[", e.path))
            });
            if !covered {
                problems.push(p);
            }
        }
    }
    problems.extend(schema);
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    match (problems.is_empty(), site) {
        (true, Some(site)) => Ok(site),
        _ => Err(problems),
    }
}

/// Every key that appears twice in one object, by where it is. A
/// `serde_json::Value` keeps the last one without a word, so an owner who
/// pasted a language's texts or a field twice would lose the first
/// silently; this says so instead. (`text` is valid JSON: `lint_json`
/// parsed it first.)
fn duplicate_keys(text: &str) -> Vec<Problem> {
    use serde::de::{DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};

    /// Walks one JSON value at `path`, noting duplicates in `found`.
    struct Walk<'a> {
        path: String,
        found: &'a mut Vec<Problem>,
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let path = if self.path.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.path)
                };
                if !seen.insert(key) {
                    let what = "appears twice in its object; only the last one would count";
                    self.found.push(problem("json", path.clone(), what));
                }
                map.next_value_seed(Walk {
                    path,
                    found: self.found,
                })?;
            }
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while seq
                .next_element_seed(Walk {
                    path: format!("{}[{i}]", self.path),
                    found: self.found,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }

        // Scalars hold no keys.
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }

    let mut found = Vec::new();
    let walk = Walk {
        path: String::new(),
        found: &mut found,
    };
    // The text parsed as JSON already, so the walk cannot fail.
    let _ = (&mut serde_json::Deserializer::from_str(text)).deserialize_any(walk);
    found
}

/// Parses one part of the config, naming where a schema error is.
fn part<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (at.is_empty(), inner.as_str()) {
            (_, ".") => at.to_owned(),
            (true, _) => inner,
            (false, _) if inner.starts_with('[') => format!("{at}{inner}"),
            (false, _) => format!("{at}.{inner}"),
        };
        problem("schema", path, e.into_inner().to_string())
    })
}

/// Rewrites `list[k]` in `text` to `list[kept[k]]`: from the index of a
/// parsed part to its index in the file.
fn renumber(text: &str, list: &str, kept: &[usize]) -> String {
    let open = format!("{list}[");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        let (head, tail) = rest.split_at(at + open.len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        let (num, tail) = tail.split_at(digits);
        match num.parse::<usize>().ok().and_then(|k| kept.get(k)) {
            Some(k) => out.push_str(&k.to_string()),
            None => out.push_str(num),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// The file's index of each category and each service that parsed.
type Kept = (Vec<usize>, Vec<usize>);

/// Parses the config part by part (the top level, each category, each
/// language's texts, each service), so every schema error is found, not
/// only the first. Returns the config made of the parts that parsed (the
/// other rules run on it), the schema errors, and which parts were kept;
/// no config when the top level itself does not parse.
fn parse_parts(mut value: Value) -> (Option<SiteConfig>, Vec<Problem>, Kept) {
    let mut errors = Vec::new();
    let mut kept: Kept = (Vec::new(), Vec::new());
    if !value.is_object() {
        let e = problem("schema", "", "the config must be a JSON object");
        return (None, vec![e], kept);
    }
    let mut take =
        |key: &str, empty: Value| value.get_mut(key).map(|v| std::mem::replace(v, empty));
    let categories = take("categories", Value::Array(vec![]));
    let services = take("services", Value::Array(vec![]));
    let texts = take("texts", Value::Object(Default::default()));
    let mut site: SiteConfig = match part(value, "") {
        Ok(site) => site,
        Err(e) => return (None, vec![e], kept),
    };
    let items = |v: Option<Value>, key: &str, errors: &mut Vec<Problem>| match v {
        Some(Value::Array(items)) => items,
        None => Vec::new(),
        Some(_) => {
            errors.push(problem("schema", key, "must be a list"));
            Vec::new()
        }
    };
    for (i, c) in items(categories, "categories", &mut errors)
        .into_iter()
        .enumerate()
    {
        match part::<CategoryConfig>(c, &format!("categories[{i}]")) {
            Ok(c) => {
                site.categories.push(c);
                kept.0.push(i);
            }
            Err(e) => errors.push(e),
        }
    }
    for (i, s) in items(services, "services", &mut errors)
        .into_iter()
        .enumerate()
    {
        match part::<ServiceConfig>(s, &format!("services[{i}]")) {
            Ok(s) => {
                site.services.push(s);
                kept.1.push(i);
            }
            Err(e) => errors.push(e),
        }
    }
    match texts {
        Some(Value::Object(map)) => {
            for (lang, t) in map {
                let at = format!("texts.{lang}");
                match (
                    crumb_schema::LanguageTag::parse(&lang),
                    part::<BannerTexts>(t, &at),
                ) {
                    (Ok(lang), Ok(t)) => {
                        site.texts.insert(lang, t);
                    }
                    (Err(e), _) => errors.push(problem("schema", at, e.to_string())),
                    (_, Err(e)) => errors.push(e),
                }
            }
        }
        None => {}
        Some(_) => errors.push(problem(
            "schema",
            "texts",
            "must be an object keyed by language",
        )),
    }
    (Some(site), errors, kept)
}

/// What keeps `origin` from being one a browser sends (`Origin:
/// scheme://host[:port]`, compared whole): a wildcard, a path, a user
/// name or a bad port would match no page, so every page would get 403.
fn origin_shape_problem(origin: &str) -> Option<&'static str> {
    const NOT_AN_ORIGIN: &str =
        "is not an origin: scheme://host[:port], e.g. https://www.example.com";
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some(NOT_AN_ORIGIN);
    };
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return Some("is not an http(s) origin");
    }
    // One trailing slash is forgiven (`cors` drops it before comparing).
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('*') {
        return Some(
            "has a wildcard, which matches no page: browsers send one exact origin, \
             so list each host (https://www.example.com, https://shop.example.com)",
        );
    }
    if rest.contains(['/', '?', '#']) {
        return Some("has a path: an origin is scheme://host[:port] only");
    }
    if !rest.is_ascii() {
        return Some(
            "has a host that is not ASCII: browsers send an internationalised name in its \
             punycode form (https://xn--bcher-kva.example for bücher.example)",
        );
    }
    if rest.contains('@') || rest.contains(char::is_whitespace) || rest.is_empty() {
        return Some(NOT_AN_ORIGIN);
    }
    let port = match rest.rsplit_once(':') {
        // An IPv6 address's colons are inside its brackets.
        Some((host, port)) if !port.contains(']') && !host.is_empty() => Some(port),
        _ => None,
    };
    if port.is_some_and(|p| p.is_empty() || p.parse::<u16>().is_err()) {
        return Some("has a port that is not a number from 0 to 65535");
    }
    None
}

fn is_local(origin: &str) -> bool {
    origin.starts_with("http://") && is_local_host(origin_host(origin))
}

/// A link a visitor may follow: http(s), or a path on the site itself.
fn is_web_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || (lower.starts_with('/') && !lower.starts_with("//"))
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// A text missing (or empty) in one of the site's languages.
fn missing(path: String) -> Problem {
    problem("translation", path, "is missing or empty")
}

/// Every problem of a parsed config.
pub fn lint(site: &SiteConfig) -> Vec<Problem> {
    let mut out: Vec<Problem> = site
        .problems()
        .into_iter()
        .map(|(path, m)| problem("structure", path, m))
        .collect();
    if !is_web_link(&site.policy_url) {
        out.push(problem(
            "policy_url",
            "policy_url",
            "must be an http(s) link or a path on the site",
        ));
    }
    for (i, c) in site.categories.iter().enumerate() {
        if c.preselected && c.id != Category::Necessary {
            out.push(problem(
                "preselected",
                format!("categories[{i}].preselected"),
                format!(
                    "category {} is pre-ticked; only necessary may be on before consent",
                    c.id
                ),
            ));
        }
    }
    for lang in &site.languages {
        if let Some(t) = site.texts.get(lang) {
            if blank(&t.reject_all) {
                out.push(problem(
                    "reject_all",
                    format!("texts.{lang}.reject_all"),
                    "is empty; rejecting must be as easy as accepting",
                ));
            }
            // Every button, link and heading the visitor must be able to
            // read (an empty button cannot be found or named).
            for (name, text) in [
                ("title", &t.title),
                ("body", &t.body),
                ("accept_all", &t.accept_all),
                ("customize", &t.customize),
                ("save", &t.save),
                ("close", &t.close),
                ("policy_link", &t.policy_link),
                ("reopen", &t.reopen),
                ("placeholder", &t.placeholder),
                ("placeholder_allow", &t.placeholder_allow),
            ] {
                if blank(text) {
                    out.push(missing(format!("texts.{lang}.{name}")));
                }
            }
            for (k, text) in t.cookie_columns.iter().enumerate() {
                if blank(text) {
                    out.push(missing(format!("texts.{lang}.cookie_columns[{k}]")));
                }
            }
        }
        for (i, c) in site.categories.iter().enumerate() {
            if c.texts.get(lang).is_none_or(|t| blank(&t.name)) {
                out.push(missing(format!("categories[{i}].texts.{lang}.name")));
            }
        }
    }
    for (i, s) in site.services.iter().enumerate() {
        lint_service(site, i, s, &mut out);
    }
    for (i, o) in site.allowed_origins.iter().enumerate() {
        let what = if let Some(why) = origin_shape_problem(o) {
            format!("{o:?} {why}")
        } else if !(o.starts_with("https://") || is_local(o)) {
            format!("{o:?} is not https (only localhost may use http)")
        } else {
            continue;
        };
        out.push(problem("origin", format!("allowed_origins[{i}]"), what));
    }
    if let Some(domain) = &site.cookie_domain {
        out.extend(cookie_domain_problem(site, domain));
    }
    // Left out, the list is marketing, whether or not the site has it; a
    // list the owner wrote names the site's own refusable categories.
    let defaulted = site.sale_or_sharing == [Category::Marketing];
    for (i, &c) in site.sale_or_sharing.iter().enumerate() {
        let why = if c == Category::Necessary {
            "necessary cannot be refused, so a privacy signal cannot refuse it"
        } else if !defaulted && !site.has_category(c) {
            "is not one of the site's categories"
        } else {
            continue;
        };
        out.push(problem(
            "sale_or_sharing",
            format!("sale_or_sharing[{i}]"),
            format!("{c}: {why}"),
        ));
    }
    for (name, b) in site.integrations.bindings() {
        let at = format!("integrations.{name}");
        if !site.has_category(b.category) {
            out.push(problem(
                "integration",
                format!("{at}.category"),
                format!("the site does not declare category {}", b.category),
            ));
        }
        if let Some(id) = &b.service
            && site.service(id).is_none_or(|s| s.category != b.category)
        {
            out.push(problem(
                "integration",
                format!("{at}.service"),
                format!("the site has no service {id} in category {}", b.category),
            ));
        }
    }
    if let Some(g) = &site.integrations.google_consent_mode {
        let at = "integrations.google_consent_mode";
        for (i, r) in g.regions.iter().enumerate() {
            if r.region.is_empty() {
                out.push(problem(
                    "consent_mode",
                    format!("{at}.regions[{i}].region"),
                    "names no region",
                ));
            }
            for (k, code) in r.region.iter().enumerate() {
                if !crumb_schema::integrations::is_region_code(code) {
                    out.push(problem(
                        "consent_mode",
                        format!("{at}.regions[{i}].region[{k}]"),
                        format!("{code:?} is not an ISO 3166-2 code such as \"NL\" or \"US-CA\" (\"EU\" is none)"),
                    ));
                }
            }
        }
        if g.wait_for_update.is_some_and(|ms| ms > 10_000) {
            out.push(problem(
                "consent_mode",
                format!("{at}.wait_for_update"),
                "is over 10,000 ms; Google's tags would hold their first hits that long",
            ));
        }
        for c in g.mapping.keys() {
            if !site.has_category(*c) {
                out.push(problem(
                    "consent_mode",
                    format!("{at}.mapping.{c}"),
                    "maps a category the site does not declare",
                ));
            }
        }
    }
    out
}

/// The rules for one service (`services[i]`).
fn lint_service(site: &SiteConfig, i: usize, s: &ServiceConfig, out: &mut Vec<Problem>) {
    let at = format!("services[{i}]");
    if s.id.as_str() == crumb_schema::widget::CRUMB_SERVICE {
        out.push(problem(
            "reserved",
            format!("{at}.id"),
            "\"crumb\" is Crumb's own service (its consent cookie is declared on every site); pick another id",
        ));
    }
    if blank(&s.name) {
        out.push(problem("service_facts", format!("{at}.name"), "is empty"));
    }
    match &s.provider {
        Text::Same(p) if blank(p) => {
            out.push(problem(
                "service_facts",
                format!("{at}.provider"),
                "is empty",
            ));
        }
        Text::Same(_) => {}
        Text::PerLanguage(_) => {
            for lang in &site.languages {
                if s.provider.blank_in(lang) {
                    out.push(missing(format!("{at}.provider.{lang}")));
                }
            }
        }
    }
    if !is_web_link(&s.privacy_policy_url) {
        out.push(problem(
            "privacy_policy_url",
            format!("{at}.privacy_policy_url"),
            format!(
                "{:?} is not an http(s) link or a path on the site; visitors must be able to open the provider's privacy policy",
                s.privacy_policy_url
            ),
        ));
    }
    // A purpose in no language is one problem, not one per language.
    if s.description.values().all(|d| blank(d)) {
        out.push(problem(
            "service_purpose",
            format!("{at}.description"),
            format!("service {} has no purpose (description)", s.id),
        ));
    } else {
        for lang in &site.languages {
            if s.description.get(lang).is_none_or(|d| blank(d)) {
                out.push(problem(
                    "translation",
                    format!("{at}.description.{lang}"),
                    "is missing or empty",
                ));
            }
        }
    }
    match (s.cookies.is_empty(), s.sets_no_cookies) {
        (true, false) => out.push(problem(
            "service_cookies",
            format!("{at}.cookies"),
            format!(
                "service {} lists no cookies; list what it sets (name, purpose, retention), or say \"sets_no_cookies\": true",
                s.id
            ),
        )),
        (false, true) => out.push(problem(
            "service_cookies",
            format!("{at}.sets_no_cookies"),
            "is true, but the service lists cookies",
        )),
        _ => {}
    }
    for (j, c) in s.cookies.iter().enumerate() {
        let at = format!("{at}.cookies[{j}]");
        let prefix = c.name.trim_end_matches('*');
        if let Retention::Duration(d) = &c.retention {
            let units = [d.days, d.months, d.years];
            let set: Vec<u32> = units.iter().flatten().copied().collect();
            if set.len() != 1 || set[0] == 0 {
                out.push(problem(
                    "cookie_facts",
                    format!("{at}.retention"),
                    "a duration takes exactly one of days, months or years, at least 1",
                ));
            }
        }
        if blank(&c.name) {
            out.push(problem("cookie_facts", format!("{at}.name"), "is empty"));
        } else if !c.pattern && c.name.ends_with('*') {
            // The widget knows a pattern by its trailing `*`.
            out.push(problem(
                "cookie_pattern",
                format!("{at}.name"),
                format!(
                    "{:?} ends in *, which only a pattern's name does: give it \"pattern\": true (the * then matches any suffix), or take the * off",
                    c.name
                ),
            ));
        } else if c.pattern && blank(prefix) {
            out.push(problem(
                "cookie_pattern",
                format!("{at}.name"),
                format!(
                    "the pattern {:?} matches every cookie: refusing service {} would delete all of the site's first-party cookies, logins included",
                    c.name, s.id
                ),
            ));
        }
        for lang in &site.languages {
            if c.purpose.get(lang).is_none_or(|p| blank(p)) {
                out.push(missing(format!("{at}.purpose.{lang}")));
            }
            if let Retention::Text(r) = &c.retention
                && r.get(lang).is_none_or(|r| blank(r))
            {
                out.push(missing(format!("{at}.retention.{lang}")));
            }
        }
        if s.category == Category::Necessary
            && let Some(vendor) = tracking_cookie(c)
        {
            out.push(problem(
                "tracker_necessary",
                format!("{at}.name"),
                format!(
                    "cookie {:?} is {vendor}'s tracking cookie, which no visitor could refuse in the necessary service {}: give the service the category it tracks for (analytics, marketing)",
                    c.name, s.id
                ),
            ));
        }
        if s.category != Category::Necessary
            && let Some(k) = necessary_cookie(site, c)
        {
            out.push(problem(
                "cookie_overlap",
                format!("{at}.name"),
                format!(
                    "cookie {:?} is also set by the necessary service {} (services[{k}]): refusing {} would delete it",
                    c.name, site.services[k].id, s.id
                ),
            ));
        }
    }
}

/// Well-known tracking cookies, by name (a trailing `*`: every name that
/// starts so), and whose they are. Matomo's and Piwik PRO's are not here:
/// set up for audience measurement, some regulators (CNIL) exempt them.
const TRACKING_COOKIES: &[(&str, &str)] = &[
    ("_ga", "Google Analytics"),
    ("_ga_*", "Google Analytics"),
    ("_gid", "Google Analytics"),
    ("_gat*", "Google Analytics"),
    ("__utm*", "Google Analytics"),
    ("_gcl_*", "Google Ads"),
    ("IDE", "Google Ads"),
    ("_fbp", "Meta"),
    ("_fbc", "Meta"),
    ("_hj*", "Hotjar"),
    ("_uet*", "Microsoft Advertising"),
    ("MUID", "Microsoft"),
    ("_clck", "Microsoft Clarity"),
    ("_clsk", "Microsoft Clarity"),
    ("li_fat_id", "LinkedIn"),
    ("_ttp", "TikTok"),
    ("_tt_enable_cookie", "TikTok"),
    ("_pin_unauth", "Pinterest"),
    ("_rdt_uuid", "Reddit"),
    ("_vwo*", "VWO"),
    ("_vis_opt_*", "VWO"),
    ("optimizelyEndUserId", "Optimizely"),
    ("ABTasty*", "AB Tasty"),
    ("__hstc", "HubSpot"),
    ("__hssc", "HubSpot"),
    ("__hssrc", "HubSpot"),
    ("hubspotutk", "HubSpot"),
    ("ajs_anonymous_id", "Segment"),
    ("ajs_user_id", "Segment"),
    ("_hp2_*", "Heap"),
    ("fs_uid", "FullStory"),
    ("_lo_*", "Lucky Orange"),
    ("_ym_*", "Yandex Metrica"),
    ("yandexuid", "Yandex"),
    ("AMCV_*", "Adobe Analytics"),
    ("s_vi", "Adobe Analytics"),
    ("intercom-id-*", "Intercom"),
    ("intercom-session-*", "Intercom"),
    ("_scid", "Snap"),
    ("_sctr", "Snap"),
    ("cto_bundle", "Criteo"),
    ("t_gid", "Taboola"),
    ("obuid", "Outbrain"),
];

/// Whose well-known tracking cookie `c` names (a pattern: whose cookies
/// it falls among, as `_ga*` or `_hjSession*` do; a broader one, `_*`,
/// says nothing of whose they are).
fn tracking_cookie(c: &crumb_schema::CookieConfig) -> Option<&'static str> {
    let name = c.name.trim_end_matches('*');
    TRACKING_COOKIES
        .iter()
        .find(|(known, _)| match known.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *known,
        })
        .map(|(_, vendor)| *vendor)
}

/// The necessary service (its index) with a cookie that the refusable
/// cookie `c` would match (same name, or a pattern covering it).
fn necessary_cookie(site: &SiteConfig, c: &crumb_schema::CookieConfig) -> Option<usize> {
    let prefix = c.name.trim_end_matches('*');
    site.services
        .iter()
        .enumerate()
        .filter(|(_, s)| s.category == Category::Necessary)
        .flat_map(|(k, s)| s.cookies.iter().map(move |n| (k, n)))
        .find(|(_, n)| {
            if c.pattern {
                n.name.starts_with(prefix)
            } else {
                n.name == c.name
            }
        })
        .map(|(k, _)| k)
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
            "cookie_domain",
            format!(
                "{domain:?} is not a registrable domain name such as \"example.com\" (lowercase, no leading dot, no scheme or port)"
            ),
        ));
    }
    // The Public Suffix List (`psl`) names the suffixes under which anyone
    // may register a name (`co.uk`, `github.io`): browsers refuse a cookie
    // for one, so every write of `crumb_consent` would be dropped and the
    // banner would come back on every page.
    if psl::suffix_str(domain) == Some(domain) {
        return Some(problem(
            "cookie_domain",
            "cookie_domain",
            format!(
                "{domain:?} is a public suffix, under which anyone may register a name; browsers \
                 refuse cookies for it: use the site's own domain (e.g. example.{domain})"
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
            "cookie_domain",
            format!(
                "{domain:?} does not cover the allowed origin host(s) {}; browsers would refuse the cookie there",
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
    fn the_example_sites_pass() {
        for text in [
            include_str!("../../examples/dutch-software-site.json"),
            include_str!("../../examples/tiny-saas-site.json"),
        ] {
            let site = lint_json(text).unwrap_or_else(|p| panic!("{p:#?}"));
            assert!(!site.services.is_empty());
        }
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

    /// The problems of `v`, as `(rule, path)`.
    fn found(v: &Value) -> Vec<(&'static str, String)> {
        match lint_json(&v.to_string()) {
            Ok(_) => vec![],
            Err(p) => p.into_iter().map(|p| (p.rule, p.path)).collect(),
        }
    }

    #[test]
    fn services_need_purpose_and_cookies_or_say_they_set_none() {
        let mut v = demo();
        v["services"][0]["cookies"] = json!([]);
        assert_eq!(
            found(&v),
            [("service_cookies", "services[0].cookies".into())]
        );
        // A service that sets no cookies says so, and needs no made-up row.
        v["services"][0]["sets_no_cookies"] = json!(true);
        assert_eq!(found(&v), []);
        v["services"][1]["sets_no_cookies"] = json!(true);
        assert_eq!(
            found(&v),
            [("service_cookies", "services[1].sets_no_cookies".into())]
        );
    }

    #[test]
    fn a_missing_purpose_is_reported_once() {
        let mut v = demo();
        v["services"][1]["description"] = json!({});
        assert_eq!(
            found(&v),
            [("service_purpose", "services[1].description".into())]
        );
        // Missing in one language only: that language is named.
        let mut v = demo();
        v["services"][1]["description"]
            .as_object_mut()
            .unwrap()
            .remove("nl");
        assert_eq!(
            found(&v),
            [("translation", "services[1].description.nl".into())]
        );
    }

    #[test]
    fn schema_errors_are_all_listed_with_their_locations() {
        let mut v = demo();
        v["services"][3]["type"] = json!("first-party");
        v["services"][5]["cookies"][0]["retention"] = json!("2 years");
        v["categories"][1]["id"] = json!("statistics");
        v["texts"]["de"].as_object_mut().unwrap().remove("save");
        v["validity_months"] = json!(30);

        let problems = lint_json(&v.to_string()).unwrap_err();

        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "categories[1].id",
                "services[3].type",
                "services[5].cookies[0].retention",
                "texts.de",
                "validity_months",
            ],
            "{problems:#?}"
        );
        assert!(problems[1].message.contains("unknown field `type`"));
        assert!(
            problems[2]
                .message
                .starts_with("services[5].cookies[0].retention: ")
        );
        assert!(problems[3].message.contains("missing field `save`"));
    }

    #[test]
    fn a_key_twice_in_one_object_is_reported_where_it_is() {
        // The demo with its English texts pasted twice (the first copy
        // shortened) and a service's name given twice.
        // (`Value` writes keys in order: the site's own `texts` come last.)
        let mut text = demo().to_string();
        let texts = text.rfind(r#""texts":{"#).unwrap() + r#""texts":{"#.len();
        text.insert_str(texts, r#""en":{"title":"Old"},"#);
        let text = text.replacen(r#""services":[{"#, r#""services":[{"name":"First","#, 1);

        let problems = lint_json(&text).unwrap_err();

        let twice: Vec<&str> = problems
            .iter()
            .filter(|p| p.rule == "json")
            .map(|p| p.path.as_str())
            .collect();
        assert_eq!(twice, ["services[0].name", "texts.en"], "{problems:#?}");
        assert!(problems[0].message.contains("appears twice"));
        // Without the copies the demo passes.
        assert!(lint_json(&demo().to_string()).is_ok());
    }

    #[test]
    fn rules_after_a_broken_part_name_the_files_own_places() {
        // services[1] does not parse; services[4] has an empty provider and
        // must be named services[4], not by its place among those parsed.
        let mut v = demo();
        v["services"][1]["cookies"] = json!("none");
        v["services"][4]["provider"] = json!("");
        let problems = lint_json(&v.to_string()).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["services[1].cookies", "services[4].provider"]);
        assert!(problems[1].message.starts_with("services[4].provider"));
    }

    #[test]
    fn empty_names_texts_and_links_are_caught() {
        let mut v = demo();
        v["services"][0]["name"] = json!(" ");
        v["services"][1]["provider"] = json!("");
        v["services"][2]["cookies"][0]["name"] = json!("");
        v["services"][2]["cookies"][1]["retention"]["en"] = json!("");
        v["services"][3]["privacy_policy_url"] = json!("javascript:alert(1)");
        v["services"][4]["privacy_policy_url"] = json!("");
        v["texts"]["fr"]["accept_all"] = json!("");
        v["texts"]["en"]["policy_link"] = json!("");
        v["policy_url"] = json!("javascript:void(0)");
        let mut r = found(&v);
        r.sort();
        assert_eq!(
            r,
            [
                ("cookie_facts", "services[2].cookies[0].name".into()),
                ("policy_url", "policy_url".into()),
                (
                    "privacy_policy_url",
                    "services[3].privacy_policy_url".into()
                ),
                (
                    "privacy_policy_url",
                    "services[4].privacy_policy_url".into()
                ),
                ("service_facts", "services[0].name".into()),
                ("service_facts", "services[1].provider".into()),
                ("translation", "services[2].cookies[1].retention.en".into()),
                ("translation", "texts.en.policy_link".into()),
                ("translation", "texts.fr.accept_all".into()),
            ]
        );
    }

    #[test]
    fn cookie_rules_that_would_delete_the_wrong_cookies() {
        // A pattern that matches every cookie.
        let mut v = demo();
        v["services"][0]["cookies"][0]["name"] = json!("*");
        v["services"][0]["cookies"][0]["pattern"] = json!(true);
        assert_eq!(
            found(&v),
            [("cookie_pattern", "services[0].cookies[0].name".into())]
        );
        // An exact name with a pattern's trailing `*` (the widget would
        // take it for one).
        let mut v = demo();
        v["services"][0]["cookies"][0]["name"] = json!("_ga*");
        assert_eq!(
            found(&v),
            [("cookie_pattern", "services[0].cookies[0].name".into())]
        );
        // A duration names one unit.
        let mut v = demo();
        v["services"][0]["cookies"][0]["retention"] = json!({"days": 2, "years": 1});
        assert_eq!(
            found(&v),
            [("cookie_facts", "services[0].cookies[0].retention".into())]
        );
        v["services"][0]["cookies"][0]["retention"] = json!({"days": 30});
        assert_eq!(found(&v), []);
        // A provider given per language needs every language.
        v["services"][1]["provider"] = json!({"en": "Hotjar Ltd.", "nl": "Hotjar Ltd."});
        let mut r = found(&v);
        r.sort();
        assert_eq!(
            r,
            [
                ("translation", "services[1].provider.de".into()),
                ("translation", "services[1].provider.fr".into()),
            ]
        );
        // Consent Mode settings.
        let mut v = demo();
        v["integrations"] = json!({"google_consent_mode": {"mode": "basic", "wait_for_update": 500,
            "regions": [{"region": ["NL", "US-CA"], "granted": ["analytics_storage"]}]}});
        assert_eq!(found(&v), []);
        v["integrations"]["google_consent_mode"]["regions"][0]["region"] = json!(["EU"]);
        v["integrations"]["google_consent_mode"]["wait_for_update"] = json!(60000);
        let mut r = found(&v);
        r.sort();
        assert_eq!(
            r,
            [
                (
                    "consent_mode",
                    "integrations.google_consent_mode.regions[0].region[0]".into()
                ),
                (
                    "consent_mode",
                    "integrations.google_consent_mode.wait_for_update".into()
                ),
            ]
        );
        // Microsoft's signals follow a category the site has, and a service
        // in it.
        let mut v = demo();
        v["integrations"] = json!({"microsoft_uet": {"category": "marketing", "service": "hotjar"},
            "microsoft_clarity": {}});
        assert_eq!(
            found(&v),
            [("integration", "integrations.microsoft_uet.service".into())]
        );
        // So does Matomo's.
        let without_functional = |integrations: serde_json::Value| {
            let mut v = demo();
            v["integrations"] = integrations;
            v["categories"] = json!(
                v["categories"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["id"] != "functional")
                    .cloned()
                    .collect::<Vec<_>>()
            );
            v
        };
        let v =
            without_functional(json!({"matomo": {"category": "functional", "service": "hotjar"}}));
        assert_eq!(
            found(&v),
            [
                ("integration", "integrations.matomo.category".into()),
                ("integration", "integrations.matomo.service".into())
            ]
        );
        // And Shopify's: its preferences follow functional by default,
        // which a site without that category must bind elsewhere.
        let v = without_functional(
            json!({"shopify": {"marketing": {"category": "marketing", "service": "hotjar"}}}),
        );
        assert_eq!(
            found(&v),
            [
                (
                    "integration",
                    "integrations.shopify.marketing.service".into()
                ),
                (
                    "integration",
                    "integrations.shopify.preferences.category".into()
                )
            ]
        );
        // And HubSpot's: its functionality follows functional by default.
        let v = without_functional(json!({"hubspot": {"analytics": {"category": "marketing"}}}));
        assert_eq!(
            found(&v),
            [(
                "integration",
                "integrations.hubspot.functionality.category".into()
            )]
        );
        // And WordPress's: each of its five categories follows one of
        // the site's, strictly necessary included.
        let v = without_functional(json!({"wordpress": {
            "functional": {"category": "necessary"},
            "statistics_anonymous": {"category": "analytics", "service": "hotjar"}}}));
        assert_eq!(
            found(&v),
            [(
                "integration",
                "integrations.wordpress.preferences.category".into()
            )]
        );
        let v = without_functional(json!({"wordpress": {
            "preferences": {"category": "necessary", "service": "hotjar"}}}));
        assert_eq!(
            found(&v),
            [(
                "integration",
                "integrations.wordpress.preferences.service".into()
            )]
        );
        // Crumb's own id is taken.
        let mut v = demo();
        v["services"][0]["id"] = json!("crumb");
        assert_eq!(found(&v), [("reserved", "services[0].id".into())]);
        // A refusable service's cookie that a necessary service sets too.
        let mut v = demo();
        let session = json!({"id": "session", "name": "Session", "provider": "Shop",
            "category": "necessary", "privacy_policy_url": "/privacy",
            "description": {"en": "Login", "nl": "Login", "de": "Login", "fr": "Login"},
            "sets_no_cookies": false,
            "cookies": [{"name": "sid", "purpose": {"en": "Login", "nl": "Login", "de": "Login", "fr": "Login"},
                "retention": {"en": "Session", "nl": "Sessie", "de": "Sitzung", "fr": "Session"}}]});
        v["services"].as_array_mut().unwrap().insert(0, session);
        assert_eq!(found(&v), []);
        v["services"][2]["cookies"][0]["name"] = json!("sid");
        let problems = lint_json(&v.to_string()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].rule, "cookie_overlap");
        assert_eq!(problems[0].path, "services[2].cookies[0].name");
        assert!(
            problems[0].message.contains("services[0]"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn a_tracking_cookie_in_a_necessary_service_is_caught() {
        // Arrange: the demo site's services, and the index of Google
        // Analytics (whose cookies are `_ga` and `_ga_*`).
        let v = demo();
        let ga = v["services"]
            .as_array()
            .unwrap()
            .iter()
            .position(|s| s["id"] == "google-analytics")
            .unwrap();
        let as_necessary = |v: &Value| {
            let mut v = v.clone();
            v["services"][ga]["category"] = json!("necessary");
            v
        };

        // Act / Assert: Google Analytics passed off as strictly necessary
        // is caught at each of its cookies...
        let problems = lint_json(&as_necessary(&v).to_string()).unwrap_err();
        let got: Vec<_> = problems.iter().map(|p| (p.rule, p.path.clone())).collect();
        assert_eq!(
            got,
            [
                (
                    "tracker_necessary",
                    format!("services[{ga}].cookies[0].name")
                ),
                (
                    "tracker_necessary",
                    format!("services[{ga}].cookies[1].name")
                ),
            ]
        );
        assert!(
            problems[0]
                .message
                .contains("cookie \"_ga\" is Google Analytics's tracking cookie"),
            "{}",
            problems[0].message
        );
        // So is another vendor's cookie among them (HubSpot's visitor id).
        let mut hubspot = as_necessary(&v);
        hubspot["services"][ga]["cookies"][1]["name"] = json!("hubspotutk");
        let problems = lint_json(&hubspot.to_string()).unwrap_err();
        assert!(
            problems[1]
                .message
                .contains("cookie \"hubspotutk\" is HubSpot's tracking cookie"),
            "{}",
            problems[1].message
        );
        // ...while a necessary service's own cookies, and a pattern too
        // broad to say whose cookies it covers, are not.
        let mut v = as_necessary(&v);
        v["services"][ga]["cookies"][0]["name"] = json!("cart_id");
        v["services"][ga]["cookies"][1]["name"] = json!("_*");
        assert_eq!(found(&v), []);
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
    fn origins_are_what_browsers_send_no_wildcard_or_path() {
        let mut v = demo();
        v["allowed_origins"] = json!([
            "https://shop.example:8443",
            "https://shop.example/",
            "http://[::1]:3000",
        ]);
        assert_eq!(rules(&v), Vec::<&str>::new());
        for (bad, says) in [
            ("https://*.shop.example", "wildcard"),
            ("https://shop.example/de", "has a path"),
            ("https://shop.example?x=1", "has a path"),
            ("shop.example", "is not an origin"),
            ("ftp://shop.example", "not an http(s) origin"),
            ("https://user@shop.example", "is not an origin"),
            ("https://", "is not an origin"),
            ("https://shop.example:99999", "port"),
            ("https://bücher.example", "punycode"),
        ] {
            v["allowed_origins"] = json!([bad]);
            let found = found(&v);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].0, "origin", "{bad}");
            let problems = lint_json(&v.to_string()).unwrap_err();
            assert!(problems[0].message.contains(says), "{bad}: {problems:?}");
        }
    }

    #[test]
    fn cookie_domain_is_not_a_public_suffix() {
        let mut v = demo();
        for (suffix, host) in [("co.uk", "example.co.uk"), ("github.io", "shop.github.io")] {
            v["allowed_origins"] = json!([format!("https://www.{host}")]);
            v["cookie_domain"] = json!(suffix);
            let problems = lint_json(&v.to_string()).unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].message.contains("public suffix"),
                "{problems:?}"
            );
            v["cookie_domain"] = json!(host);
            assert_eq!(rules(&v), Vec::<&str>::new(), "{host}");
        }
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
    fn sale_or_sharing_names_refusable_categories_of_the_site() {
        let mut v = demo();
        v["sale_or_sharing"] = json!(["marketing", "analytics"]);
        assert_eq!(rules(&v), Vec::<&str>::new());
        v["sale_or_sharing"] = json!(["necessary"]);
        assert_eq!(rules(&v), ["sale_or_sharing"]);
        // A site without functional cookies.
        v["categories"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["id"] != "functional");
        v["services"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["category"] != "functional");
        v["sale_or_sharing"] = json!(["functional", "marketing"]);
        assert_eq!(rules(&v), ["sale_or_sharing"]);
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
