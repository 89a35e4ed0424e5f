//! A site's consent configuration: what the banner says in each language,
//! which categories and services the site uses, which cookies they set, and
//! how long a consent stays valid.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::integrations::Integrations;
use crate::{Category, LanguageTag, PolicyRevision, ServiceId, SiteId};

/// Text in several languages, keyed by language tag. (Each use is
/// `inline` in the OpenAPI description: utoipa would otherwise name the
/// alias's one shared schema `BTreeMap`.)
pub type Localized = BTreeMap<LanguageTag, String>;

/// A text that reads the same in every language (a company's name), or
/// one per language.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Same(String),
    PerLanguage(#[cfg_attr(feature = "openapi", schema(inline))] Localized),
}

impl Text {
    /// The text in `lang`, else in `fallback` (the site's first language).
    pub fn get(&self, lang: &LanguageTag, fallback: Option<&LanguageTag>) -> Option<&str> {
        match self {
            Text::Same(s) => Some(s),
            Text::PerLanguage(m) => m.get(lang).or_else(|| m.get(fallback?)).map(String::as_str),
        }
    }

    /// Whether there is no text (or only blanks) in `lang`.
    pub fn blank_in(&self, lang: &LanguageTag) -> bool {
        let text = match self {
            Text::Same(s) => Some(s),
            Text::PerLanguage(m) => m.get(lang),
        };
        text.is_none_or(|t| t.trim().is_empty())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::Same(s.to_owned())
    }
}

/// How long a cookie lasts: for the browser session, a duration, or free
/// text per language. The first two are written in the visitor's language
/// by Crumb (`crate::words`), so a site need not translate them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Retention {
    /// `"session"`: gone when the browser closes.
    Session(SessionOnly),
    /// `{"days": 30}`, `{"months": 13}` or `{"years": 2}`.
    Duration(Duration),
    /// `{"en": "Until you log out", "nl": "..."}`.
    Text(#[cfg_attr(feature = "openapi", schema(inline))] Localized),
}

/// The word `session`, the only one [`Retention::Session`] takes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOnly {
    Session,
}

/// A cookie's lifetime in one unit (the linter wants exactly one).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
}

impl Retention {
    /// The retention as a visitor reads it in `lang` (free text falls
    /// back to `fallback`, the site's first language).
    pub fn text(&self, lang: &LanguageTag, fallback: Option<&LanguageTag>) -> Option<String> {
        let w = crate::words::for_language(lang);
        match self {
            Retention::Session(_) => Some(w.session.to_owned()),
            Retention::Duration(d) => {
                let (n, unit) = match (d.days, d.months, d.years) {
                    (Some(n), None, None) => (n, w.days),
                    (None, Some(n), None) => (n, w.months),
                    (None, None, Some(n)) => (n, w.years),
                    _ => return None,
                };
                Some(format!("{n} {}", if n == 1 { unit.0 } else { unit.1 }))
            }
            Retention::Text(m) => m.get(lang).or_else(|| m.get(fallback?)).cloned(),
        }
    }
}

/// How many calendar months a consent stays valid: 1 to 24, default 24.
/// Two years is the ceiling regulators accept for a consent cookie, so a
/// longer value cannot even be represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct ValidityMonths(u8);

impl ValidityMonths {
    pub const MAX: Self = Self(24);

    pub fn parse(months: u8) -> Result<Self, String> {
        if (1..=24).contains(&months) {
            Ok(Self(months))
        } else {
            Err(format!(
                "consent validity must be 1 to 24 months (two years at most), got {months}"
            ))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for ValidityMonths {
    fn default() -> Self {
        Self::MAX
    }
}

impl TryFrom<u8> for ValidityMonths {
    type Error = String;
    fn try_from(m: u8) -> Result<Self, String> {
        Self::parse(m)
    }
}

impl From<ValidityMonths> for u8 {
    fn from(v: ValidityMonths) -> u8 {
        v.0
    }
}

/// Everything Crumb knows about one site.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: SiteId,
    pub name: String,
    /// The site's cookie or privacy policy page.
    pub policy_url: String,
    /// The current policy revision; consents given under another are void.
    pub revision: PolicyRevision,
    /// How many calendar months a consent stays valid: 1 to 24 (the
    /// default).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = u8, minimum = 1, maximum = 24, default = 24)
    )]
    pub validity_months: ValidityMonths,
    /// Origins (`https://shop.example`) whose pages may record consents.
    /// Not sent to the widget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// The domain the `crumb_consent` cookie is set on (`example.com`), so
    /// one consent covers `www.` and `shop.` of one registrable domain.
    /// Without it the cookie belongs to the page's own host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_domain: Option<String>,
    /// The languages the banner is available in; the first is the fallback.
    pub languages: Vec<LanguageTag>,
    pub texts: BTreeMap<LanguageTag, BannerTexts>,
    pub categories: Vec<CategoryConfig>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// Vendor consent signals the site switches on.
    #[serde(default, skip_serializing_if = "Integrations::is_empty")]
    pub integrations: Integrations,
    /// The categories whose cookies sell or share the visitor's personal
    /// data (in the sense of the CCPA and other US state laws): they start
    /// refused when the browser sends Global Privacy Control, and a choice
    /// that leaves them refused is recorded with method `gpc`. Default:
    /// marketing.
    #[serde(
        default = "default_sale_or_sharing",
        skip_serializing_if = "is_default_sale_or_sharing"
    )]
    pub sale_or_sharing: Vec<Category>,
}

fn default_sale_or_sharing() -> Vec<Category> {
    vec![Category::Marketing]
}

fn is_default_sale_or_sharing(v: &[Category]) -> bool {
    v == [Category::Marketing]
}

/// The banner's and the preferences dialog's own words, in one language.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BannerTexts {
    pub title: String,
    pub body: String,
    pub accept_all: String,
    pub reject_all: String,
    pub customize: String,
    pub save: String,
    pub close: String,
    pub policy_link: String,
    /// Label of the small floating button that reopens the preferences.
    pub reopen: String,
    /// Heading of the cookie table columns: name, provider, purpose, retention.
    #[cfg_attr(feature = "openapi", schema(min_items = 4, max_items = 4))]
    pub cookie_columns: [String; 4],
    /// Shown on a blocked embed: "This content is from {service}".
    pub placeholder: String,
    /// Button on a blocked embed that allows its service: `{name}` is
    /// replaced with the service's name ("Allow {name}" → "Allow
    /// YouTube"); a text without `{name}` gets the name after it.
    pub placeholder_allow: String,
    /// The same button on an embed that names only its category:
    /// `{name}` is the category's name ("Allow {name} cookies" → "Allow
    /// Marketing cookies"). Empty: `placeholder_allow` with the category's
    /// name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub placeholder_allow_category: String,
}

impl BannerTexts {
    /// The label of a placeholder's button that allows `name`, a service
    /// (`category` false) or a category: it says exactly what a click
    /// allows.
    pub fn allow_label(&self, name: &str, category: bool) -> String {
        let template = match &self.placeholder_allow_category {
            t if category && !t.is_empty() => t,
            _ => &self.placeholder_allow,
        };
        if template.contains("{name}") {
            template.replace("{name}", name)
        } else {
            format!("{template} {name}")
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    pub id: Category,
    /// Whether the category's switch starts on. Only `necessary` may; the
    /// compliance check refuses anything else, and the widget never
    /// pre-ticks regardless. It exists because other tools' configs have it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preselected: bool,
    pub texts: BTreeMap<LanguageTag, CategoryTexts>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryTexts {
    pub name: String,
    pub description: String,
}

/// A third-party (or first-party) service the site embeds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub id: ServiceId,
    pub name: String,
    /// Who runs it: one name for every language, or one per language.
    pub provider: Text,
    pub category: Category,
    pub privacy_policy_url: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub description: Localized,
    #[serde(default)]
    pub cookies: Vec<CookieConfig>,
    /// The service says it sets no cookies at all (a mailing-list provider,
    /// a server-side recipient), so an empty `cookies` is not an omission.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sets_no_cookies: bool,
}

/// A cookie a service sets. `name` is exact unless `pattern` is true, in
/// which case a trailing `*` matches any suffix (`_hjSession_*`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pattern: bool,
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub purpose: Localized,
    pub retention: Retention,
    /// Whether the site's own host sets it or another one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<Party>,
    /// The domain the cookie is set on (`.example.com`, `doubleclick.net`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Who sets a cookie, as cookie policies list it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// Set by the site's own host (or its registrable domain).
    First,
    /// Set by another site's host, through an embed or a tag.
    Third,
}

/// The most services one site may declare. The widget keeps a visitor's
/// per-service choices as one bit each in a 64-bit word.
pub const MAX_SERVICES: usize = 64;

impl SiteConfig {
    /// The best of the site's languages for a visitor who wants `wanted`,
    /// in order (the page's `<html lang>`, then the browser's language): an
    /// exact (case-insensitive) match first, then the same primary language
    /// (`nl-BE` → `nl`); then English; then the site's first language.
    /// Tags are read as pages and servers write them: `nl_NL` (an `<html
    /// lang>` some CMSs write) as `nl-NL`, and ` nl;q=0.9` (an
    /// `Accept-Language` entry a site's backend passes on) as `nl`.
    pub fn language_for(&self, wanted: &[&str]) -> Option<&LanguageTag> {
        let primary = |t: &str| t.split(['-', '_']).next().unwrap_or(t).to_ascii_lowercase();
        let same = |a: &str, w: &str| {
            let dash = |b: u8| {
                if b == b'_' {
                    b'-'
                } else {
                    b.to_ascii_lowercase()
                }
            };
            a.bytes().map(dash).eq(w.bytes().map(dash))
        };
        for w in wanted
            .iter()
            .map(|w| w.split(';').next().unwrap_or(w).trim())
            .chain(["en"])
            .filter(|w| !w.is_empty())
        {
            let exact = self.languages.iter().find(|a| same(a.as_str(), w));
            let wp = primary(w);
            if let Some(l) =
                exact.or_else(|| self.languages.iter().find(|a| primary(a.as_str()) == wp))
            {
                return Some(l);
            }
        }
        self.languages.first()
    }

    pub fn service(&self, id: &ServiceId) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| &s.id == id)
    }

    pub fn has_category(&self, c: Category) -> bool {
        self.categories.iter().any(|cc| cc.id == c)
    }

    /// Structural problems that make a config unusable (the compliance
    /// rules are a separate, stricter check), each with where it is
    /// (`services[3].category`). Every problem is listed, not only the
    /// first, so one edit can fix them all.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.has_category(Category::Necessary) {
            out.push((
                "categories".to_owned(),
                "categories must include \"necessary\"".to_owned(),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            if !seen.insert(c.id) {
                out.push((
                    format!("categories[{i}]"),
                    format!("category {:?} is declared twice", c.id.as_str()),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            if !seen.insert(&s.id) {
                out.push((
                    format!("services[{i}].id"),
                    format!("service {:?} is declared twice", s.id.as_str()),
                ));
            }
            if !self.has_category(s.category) {
                out.push((
                    format!("services[{i}].category"),
                    format!(
                        "service {:?} uses category {:?}, which the site does not declare",
                        s.id.as_str(),
                        s.category.as_str()
                    ),
                ));
            }
        }
        if self.services.len() > MAX_SERVICES {
            out.push((
                "services".to_owned(),
                format!(
                    "a site may declare at most {MAX_SERVICES} services (this one declares {})",
                    self.services.len()
                ),
            ));
        }
        if self.languages.is_empty() {
            out.push((
                "languages".to_owned(),
                "languages must list at least one language".to_owned(),
            ));
        }
        for lang in &self.languages {
            if !self.texts.contains_key(lang) {
                out.push((
                    format!("texts.{lang}"),
                    format!("texts are missing for language {lang}"),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal site (necessary only, no services, no texts) in `langs`,
    /// for the tests of this crate.
    pub(crate) fn site(langs: &[&str]) -> SiteConfig {
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"id":"s","name":"S","policy_url":"/p","revision":3,"languages":[],
            "texts":{},"categories":[{"id":"necessary","texts":{}}],"services":[]}"#,
        )
        .unwrap();
        v["languages"] = serde_json::json!(langs);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_placeholder_button_names_what_it_allows() {
        let mut t = BannerTexts {
            placeholder_allow: "Allow {name}".into(),
            ..BannerTexts::default()
        };
        assert_eq!(t.allow_label("YouTube", false), "Allow YouTube");
        // Without a text of its own, a category uses the service's.
        assert_eq!(t.allow_label("Marketing", true), "Allow Marketing");
        t.placeholder_allow_category = "Allow {name} cookies".into();
        assert_eq!(t.allow_label("Marketing", true), "Allow Marketing cookies");
        assert_eq!(t.allow_label("YouTube", false), "Allow YouTube");
        // An older text without `{name}` gets the name after it.
        t.placeholder_allow = "Allow and load".into();
        assert_eq!(t.allow_label("Vimeo", false), "Allow and load Vimeo");
    }

    #[test]
    fn at_most_64_services() {
        // No languages: one other problem, listed after the cap.
        let mut v = serde_json::to_value(site(&[])).unwrap();
        let svc = |i: usize| {
            serde_json::json!({"id": format!("s{i}"), "name": "S", "provider": "P",
                "category": "necessary", "privacy_policy_url": "/p", "cookies": []})
        };
        v["services"] = (0..MAX_SERVICES).map(svc).collect();
        let ok: SiteConfig = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(ok.problems().len(), 1);
        v["services"] = (0..=MAX_SERVICES).map(svc).collect();
        let too_many: SiteConfig = serde_json::from_value(v).unwrap();
        assert_eq!(
            too_many.problems()[0],
            (
                "services".to_owned(),
                "a site may declare at most 64 services (this one declares 65)".to_owned()
            )
        );
    }

    #[test]
    fn retention_is_session_a_duration_or_text_in_the_visitors_language() {
        let parse = |v: serde_json::Value| serde_json::from_value::<Retention>(v).unwrap();
        let (en, nl) = (
            LanguageTag::parse("en").unwrap(),
            LanguageTag::parse("nl").unwrap(),
        );
        let session = parse(serde_json::json!("session"));
        assert_eq!(session.text(&nl, None).unwrap(), "Sessie");
        let two_years = parse(serde_json::json!({"years": 2}));
        assert_eq!(two_years.text(&en, None).unwrap(), "2 years");
        assert_eq!(two_years.text(&nl, None).unwrap(), "2 jaar");
        let one_day = parse(serde_json::json!({"days": 1}));
        assert_eq!(
            one_day
                .text(&LanguageTag::parse("de").unwrap(), None)
                .unwrap(),
            "1 Tag"
        );
        let text = parse(serde_json::json!({"en": "Until you log out"}));
        assert_eq!(text.text(&nl, Some(&en)).unwrap(), "Until you log out");
        assert!(serde_json::from_value::<Retention>(serde_json::json!("forever")).is_err());
        assert!(serde_json::from_value::<Retention>(serde_json::json!({"weeks": 2})).is_err());
    }

    #[test]
    fn a_provider_is_one_name_or_one_per_language() {
        let (en, nl) = (
            LanguageTag::parse("en").unwrap(),
            LanguageTag::parse("nl").unwrap(),
        );
        let same: Text = serde_json::from_value(serde_json::json!("Hotjar Ltd.")).unwrap();
        assert_eq!(same.get(&nl, None), Some("Hotjar Ltd."));
        let per: Text = serde_json::from_value(
            serde_json::json!({"nl": "Voorbeeld B.V.", "en": "Example B.V."}),
        )
        .unwrap();
        assert_eq!(per.get(&nl, None), Some("Voorbeeld B.V."));
        assert_eq!(
            per.get(&LanguageTag::parse("de").unwrap(), Some(&en)),
            Some("Example B.V.")
        );
        assert!(per.blank_in(&LanguageTag::parse("fr").unwrap()));
    }

    #[test]
    fn page_language_wins_then_browser_then_english_then_first() {
        let s = site(&["nl", "en", "de", "fr"]);
        let pick = |w: &[&str]| s.language_for(w).unwrap().as_str();
        assert_eq!(pick(&["de", "fr"]), "de");
        assert_eq!(pick(&["", "fr-CA"]), "fr");
        assert_eq!(pick(&["sv", "ja"]), "en");
        assert_eq!(pick(&["EN-gb"]), "en");
        assert_eq!(pick(&["de_AT", "fr"]), "de");
        assert_eq!(pick(&[" fr;q=0.9", "de"]), "fr");
        assert_eq!(pick(&[]), "en");
        assert_eq!(site(&["nl"]).language_for(&["sv"]).unwrap().as_str(), "nl");
    }
}
