//! Vendor consent signals a site switches on: Google Consent Mode v2, the
//! Meta Pixel's consent API, Microsoft UET's consent mode, Microsoft
//! Clarity's consent API, Matomo's, HubSpot's, the TikTok Pixel's,
//! Shopify's Customer Privacy API, and WordPress's (the WP Consent API,
//! which WordPress plugins follow).
//!
//! Crumb tells Google's tags the visitor's choice through `gtag('consent',
//! ...)` commands in `dataLayer`: a `default` before any other Google tag
//! command (from a small synchronous script Crumb serves per site,
//! `GET /v1/sites/{site}/signals.js`, see the server's
//! `routes/integrations.rs`), then an `update` whenever the widget says a
//! choice counts (its `crumb:change` event, which comes before it releases
//! any gated tag).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Category;

/// The integrations a site switches on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_consent_mode: Option<GoogleConsentMode>,
    /// The Meta Pixel: `fbq('consent', 'grant' | 'revoke')` follows this
    /// choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_pixel: Option<Binding>,
    /// Microsoft Advertising's UET tag: `ad_storage` follows this choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_uet: Option<Binding>,
    /// Microsoft Clarity: `analytics_Storage` and `ad_Storage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_clarity: Option<Clarity>,
    /// Matomo: its tracker's consent (`_paq`) follows this choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matomo: Option<Matomo>,
    /// HubSpot's tracking code: its banner off, its three consent
    /// categories following these choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubspot: Option<HubSpot>,
    /// The TikTok Pixel: its events wait (`holdConsent`) until this choice
    /// allows them (`grantConsent`) or not (`revokeConsent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiktok_pixel: Option<Binding>,
    /// Shopify's Customer Privacy API: a store's own pixels, analytics
    /// and checkout follow these choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopify: Option<Shopify>,
    /// The WP Consent API: WordPress plugins that support it follow these
    /// choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wordpress: Option<WordPress>,
}

impl Integrations {
    /// Every choice the site's vendor signals follow, each with where it
    /// is in the config (`shopify.marketing`; WordPress's categories by
    /// their config keys, `wordpress.statistics_anonymous`). Google
    /// Consent Mode follows categories through its own mapping instead.
    pub fn bindings(&self) -> Vec<(String, Binding)> {
        let mut out = Vec::new();
        let mut add = |vendor: &str, named: &[(&str, &Binding)]| {
            for (name, b) in named {
                let at = if name.is_empty() {
                    vendor.to_owned()
                } else {
                    format!("{vendor}.{}", name.replace('-', "_"))
                };
                out.push((at, (*b).clone()));
            }
        };
        if let Some(b) = &self.meta_pixel {
            add("meta_pixel", &[("", b)]);
        }
        if let Some(b) = &self.microsoft_uet {
            add("microsoft_uet", &[("", b)]);
        }
        if let Some(c) = &self.microsoft_clarity {
            add(
                "microsoft_clarity",
                &[("analytics", &c.analytics), ("ads", &c.ads)],
            );
        }
        if let Some(m) = &self.matomo {
            add("matomo", &[("", &m.binding())]);
        }
        if let Some(h) = &self.hubspot {
            add(
                "hubspot",
                &[
                    ("analytics", &h.analytics),
                    ("advertisement", &h.advertisement),
                    ("functionality", &h.functionality),
                ],
            );
        }
        if let Some(b) = &self.tiktok_pixel {
            add("tiktok_pixel", &[("", b)]);
        }
        if let Some(s) = &self.shopify {
            add(
                "shopify",
                &[
                    ("analytics", &s.analytics),
                    ("marketing", &s.marketing),
                    ("preferences", &s.preferences),
                    ("sale_of_data", &s.sale_of_data),
                ],
            );
        }
        if let Some(wp) = &self.wordpress {
            add("wordpress", &wp.categories());
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Matomo's consent API: what its tracker may do until the visitor allows
/// the choice it follows (a category, and optionally one of its services).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matomo {
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::ServiceId>,
    #[serde(default)]
    pub mode: MatomoMode,
}

impl Matomo {
    /// The choice Matomo's consent follows.
    pub fn binding(&self) -> Binding {
        Binding {
            category: self.category,
            service: self.service.clone(),
        }
    }
}

/// What Matomo's tracker does before the visitor allows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatomoMode {
    /// `requireConsent`: it sends nothing (its requests wait in the page
    /// and go once allowed).
    #[default]
    Tracking,
    /// `requireCookieConsent`: it measures without cookies.
    Cookies,
}

/// The choice a vendor signal follows: a category, and optionally one of
/// its services (then both must be allowed).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::ServiceId>,
}

/// Microsoft Clarity's two signals.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clarity {
    /// `analytics_Storage`; by default the analytics category.
    #[serde(default = "analytics_binding")]
    pub analytics: Binding,
    /// `ad_Storage`; by default the marketing category.
    #[serde(default = "marketing_binding")]
    pub ads: Binding,
}

/// HubSpot's three consent categories (`setHubSpotConsent`), each
/// following a choice of the visitor's.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpot {
    /// `analytics`; by default the analytics category.
    #[serde(default = "analytics_binding")]
    pub analytics: Binding,
    /// `advertisement`; by default the marketing category.
    #[serde(default = "marketing_binding")]
    pub advertisement: Binding,
    /// `functionality` (its chat, say); by default the functional
    /// category.
    #[serde(default = "functional_binding")]
    pub functionality: Binding,
}

/// Shopify's four purposes (`setTrackingConsent`), each following a
/// choice of the visitor's.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shopify {
    /// `analytics`; by default the analytics category.
    #[serde(default = "analytics_binding")]
    pub analytics: Binding,
    /// `marketing`; by default the marketing category.
    #[serde(default = "marketing_binding")]
    pub marketing: Binding,
    /// `preferences`; by default the functional category.
    #[serde(default = "functional_binding")]
    pub preferences: Binding,
    /// `sale_of_data`, whether the store may sell or share the visitor's
    /// data (US states' laws); by default the marketing category, which
    /// Global Privacy Control switches off.
    #[serde(default = "marketing_binding")]
    pub sale_of_data: Binding,
}

/// The WP Consent API's five categories, each following a choice of the
/// visitor's, and the start of the API's cookie names.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordPress {
    /// `functional`, what the site needs to work; by default strictly
    /// necessary (always allowed).
    #[serde(default = "necessary_binding")]
    pub functional: Binding,
    /// `preferences`; by default the functional category.
    #[serde(default = "functional_binding")]
    pub preferences: Binding,
    /// `statistics`; by default the analytics category.
    #[serde(default = "analytics_binding")]
    pub statistics: Binding,
    /// `statistics-anonymous`, statistics without personal data; by
    /// default the analytics category too (bind it to necessary where
    /// such statistics need no consent).
    #[serde(default = "analytics_binding")]
    pub statistics_anonymous: Binding,
    /// `marketing`; by default the marketing category.
    #[serde(default = "marketing_binding")]
    pub marketing: Binding,
    /// The API's cookie prefix (its `wp_consent_api_cookie_prefix`
    /// filter); by default `wp_consent`.
    #[serde(default = "wp_consent_prefix")]
    pub cookie_prefix: crate::CookiePrefix,
}

impl WordPress {
    /// The API's categories, as its JavaScript names them, with the choice
    /// each follows.
    pub fn categories(&self) -> [(&'static str, &Binding); 5] {
        [
            ("functional", &self.functional),
            ("preferences", &self.preferences),
            ("statistics", &self.statistics),
            ("statistics-anonymous", &self.statistics_anonymous),
            ("marketing", &self.marketing),
        ]
    }
}

fn wp_consent_prefix() -> crate::CookiePrefix {
    crate::CookiePrefix::parse("wp_consent").expect("a valid prefix")
}

fn necessary_binding() -> Binding {
    Binding {
        category: Category::Necessary,
        service: None,
    }
}

fn functional_binding() -> Binding {
    Binding {
        category: Category::Functional,
        service: None,
    }
}

fn analytics_binding() -> Binding {
    Binding {
        category: Category::Analytics,
        service: None,
    }
}

fn marketing_binding() -> Binding {
    Binding {
        category: Category::Marketing,
        service: None,
    }
}

/// Google Consent Mode v2 for a site.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConsentMode {
    /// `basic`: Google's tags stay gated by Crumb until allowed; `advanced`:
    /// they load at once under the denied defaults (cookieless pings).
    pub mode: ConsentModeKind,
    /// How long Google's tags wait for the visitor's `update` (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_update: Option<u32>,
    /// `gtag('set', 'ads_data_redaction', true)`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ads_data_redaction: bool,
    /// `gtag('set', 'url_passthrough', true)`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub url_passthrough: bool,
    /// Which consent types each category grants; unset categories keep
    /// the default mapping ([`default_mapping`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mapping: BTreeMap<Category, Vec<ConsentType>>,
    /// Region-scoped defaults (ISO 3166-2 codes such as `NL` or `US-CA`),
    /// pushed before the unscoped default, which denies every type but
    /// `security_storage`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionDefault>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentModeKind {
    Basic,
    Advanced,
}

/// A default for some regions: the types it grants (the others are
/// denied).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionDefault {
    pub region: Vec<String>,
    #[serde(default)]
    pub granted: Vec<ConsentType>,
}

/// Google Consent Mode's seven consent types.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentType {
    AdStorage,
    AdUserData,
    AdPersonalization,
    AnalyticsStorage,
    FunctionalityStorage,
    PersonalizationStorage,
    SecurityStorage,
}

impl ConsentType {
    pub const ALL: [ConsentType; 7] = [
        ConsentType::AdStorage,
        ConsentType::AdUserData,
        ConsentType::AdPersonalization,
        ConsentType::AnalyticsStorage,
        ConsentType::FunctionalityStorage,
        ConsentType::PersonalizationStorage,
        ConsentType::SecurityStorage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentType::AdStorage => "ad_storage",
            ConsentType::AdUserData => "ad_user_data",
            ConsentType::AdPersonalization => "ad_personalization",
            ConsentType::AnalyticsStorage => "analytics_storage",
            ConsentType::FunctionalityStorage => "functionality_storage",
            ConsentType::PersonalizationStorage => "personalization_storage",
            ConsentType::SecurityStorage => "security_storage",
        }
    }
}

/// The common mapping (vanilla-cookieconsent's recipe): analytics →
/// `analytics_storage`; marketing → the three `ad_*` types; functional →
/// functionality and personalization. `security_storage` is always
/// granted and maps to no category.
pub fn default_mapping(c: Category) -> &'static [ConsentType] {
    match c {
        Category::Necessary => &[],
        Category::Functional => &[
            ConsentType::FunctionalityStorage,
            ConsentType::PersonalizationStorage,
        ],
        Category::Analytics => &[ConsentType::AnalyticsStorage],
        Category::Marketing => &[
            ConsentType::AdStorage,
            ConsentType::AdUserData,
            ConsentType::AdPersonalization,
        ],
    }
}

impl GoogleConsentMode {
    /// The consent types each category grants, with the site's overrides.
    pub fn types_of(&self, c: Category) -> &[ConsentType] {
        self.mapping
            .get(&c)
            .map_or(default_mapping(c), Vec::as_slice)
    }
}

/// Whether `code` is an ISO 3166-2 region code as Google takes them: a
/// country (`NL`) or a country and subdivision (`US-CA`).
pub fn is_region_code(code: &str) -> bool {
    // "EU" is often written, but it is no ISO 3166 code; Google ignores it.
    if code == "EU" {
        return false;
    }
    let (country, sub) = code
        .split_once('-')
        .map_or((code, None), |(c, s)| (c, Some(s)));
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && sub.is_none_or(|s| {
            (1..=3).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes() {
        for ok in ["NL", "US-CA", "GB-ENG", "FR-75"] {
            assert!(is_region_code(ok), "{ok}");
        }
        for bad in ["EU", "nl", "NLD", "US-", "US-CALI", "", "U"] {
            assert!(!is_region_code(bad), "{bad}");
        }
    }

    #[test]
    fn overrides_replace_one_category_only() {
        let mut m: GoogleConsentMode =
            serde_json::from_value(serde_json::json!({"mode": "basic"})).unwrap();
        assert_eq!(
            m.types_of(Category::Analytics),
            [ConsentType::AnalyticsStorage]
        );
        m.mapping.insert(
            Category::Analytics,
            vec![ConsentType::AnalyticsStorage, ConsentType::AdStorage],
        );
        assert_eq!(m.types_of(Category::Analytics).len(), 2);
        assert_eq!(m.types_of(Category::Marketing).len(), 3);
    }

    #[test]
    fn wordpress_defaults_and_its_cookie_prefix() {
        let wp: WordPress = serde_json::from_value(serde_json::json!({})).unwrap();
        let bound: Vec<_> = wp
            .categories()
            .iter()
            .map(|(name, b)| (*name, b.category))
            .collect();
        assert_eq!(
            bound,
            [
                ("functional", Category::Necessary),
                ("preferences", Category::Functional),
                ("statistics", Category::Analytics),
                ("statistics-anonymous", Category::Analytics),
                ("marketing", Category::Marketing)
            ]
        );
        assert_eq!(wp.cookie_prefix.as_str(), "wp_consent");
        // The prefix goes into a cookie name and a script as it is.
        for bad in ["", "wp consent", "wp';alert(1)//", "wp=x", &"a".repeat(65)] {
            let v = serde_json::json!({ "cookie_prefix": bad });
            assert!(serde_json::from_value::<WordPress>(v).is_err(), "{bad}");
        }
    }
}
