//! What a visitor's choice looks like on the wire: the request the widget
//! sends, the receipt the server returns, and the state a lookup reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    Category, ConsentId, LanguageTag, PolicyRevision, RecordHash, ServiceId, SiteConfig,
    TextVersion,
};

/// How the visitor arrived at a choice.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    AcceptAll,
    RejectAll,
    Custom,
    /// Derived from the browser's Global Privacy Control signal.
    Gpc,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::AcceptAll => "accept_all",
            Method::RejectAll => "reject_all",
            Method::Custom => "custom",
            Method::Gpc => "gpc",
        }
    }
}

/// The kind of event a consent record describes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Given,
    Updated,
    Withdrawn,
    Expired,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Given => "given",
            Event::Updated => "updated",
            Event::Withdrawn => "withdrawn",
            Event::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Event::Given,
            Event::Updated,
            Event::Withdrawn,
            Event::Expired,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

/// A choice as the widget sends it. Categories and services the visitor
/// did not mention count as refused (nothing is pre-ticked); a service left
/// out follows its category.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// Present when the visitor changes an earlier choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<ConsentId>,
    /// The policy revision the banner was shown under.
    #[cfg_attr(feature = "openapi", schema(value_type = u32, minimum = 1))]
    pub revision: PolicyRevision,
    /// The language the banner was shown in.
    pub language: LanguageTag,
    /// The `text_hash` of that language from the site config, whole or its
    /// first 16 hex digits (what the widget's compact config carries).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = r"^[0-9a-f]{16}([0-9a-f]{48})?$")
    )]
    pub text_hash: TextVersion,
    pub method: Method,
    #[serde(deserialize_with = "unique_keys")]
    #[cfg_attr(feature = "openapi", schema(schema_with = category_map))]
    pub categories: BTreeMap<Category, bool>,
    #[serde(default, deserialize_with = "unique_keys")]
    #[cfg_attr(feature = "openapi", schema(schema_with = service_map))]
    pub services: BTreeMap<ServiceId, bool>,
}

/// OpenAPI: choices by category, keyed by the four category names (any
/// other key is refused).
#[cfg(feature = "openapi")]
fn category_map() -> utoipa::openapi::schema::Object {
    let names = Category::ALL.map(Category::as_str);
    choice_map(utoipa::openapi::schema::ObjectBuilder::new().enum_values(Some(names)))
}

/// OpenAPI: choices by service, keyed by service ids (the site's own
/// services are accepted, others refused with `invalid_choice`).
#[cfg(feature = "openapi")]
fn service_map() -> utoipa::openapi::schema::Object {
    let id =
        utoipa::openapi::schema::ObjectBuilder::new().pattern(Some("^[a-z0-9][a-z0-9-]{0,63}$"));
    choice_map(id)
}

#[cfg(feature = "openapi")]
fn choice_map(key: utoipa::openapi::schema::ObjectBuilder) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::Boolean)))
        .property_names(Some(key.schema_type(Type::String)))
        .build()
}

/// Reads a JSON object into a map, refusing a key that appears twice.
/// serde's own maps keep the last value without a word, so
/// `{"analytics": true, "analytics": false}` would be recorded as a
/// refusal that the client may have meant as a grant (and another JSON
/// reader, taking the first, would read the same request otherwise).
fn unique_keys<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de> + Ord + std::fmt::Display,
    V: Deserialize<'de>,
{
    struct Unique<K, V>(std::marker::PhantomData<(K, V)>);

    impl<'de, K, V> serde::de::Visitor<'de> for Unique<K, V>
    where
        K: Deserialize<'de> + Ord + std::fmt::Display,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<K, V>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format_args!(
                        "\"{key}\" appears twice"
                    )));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }

    d.deserialize_map(Unique(std::marker::PhantomData))
}

/// A complete choice: a yes or no for every category and every service of
/// the site, so a record never needs the config to be read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, bool>))]
    pub categories: BTreeMap<Category, bool>,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, bool>))]
    pub services: BTreeMap<ServiceId, bool>,
}

/// Why a choice does not fit the site it was sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    #[error("the necessary category cannot be refused")]
    NecessaryRefused,
    #[error("service {0:?} is strictly necessary and cannot be refused")]
    NecessaryServiceRefused(String),
    #[error("category {0:?} is not used by this site")]
    UnknownCategory(&'static str),
    #[error("service {0:?} is not used by this site")]
    UnknownService(String),
    #[error("service {service:?} is allowed but its category {category:?} is refused")]
    ServiceWithoutCategory {
        service: String,
        category: &'static str,
    },
    #[error("method {method:?} does not match the choices: {why}")]
    MethodMismatch {
        method: &'static str,
        why: &'static str,
    },
}

impl Choices {
    /// Completes a request's choices against the site's categories and
    /// services, refusing anything the site does not know or that breaks a
    /// rule.
    pub fn resolve(site: &SiteConfig, req: &ConsentRequest) -> Result<Choices, ChoiceError> {
        let mut categories = BTreeMap::new();
        for (&c, &granted) in &req.categories {
            if !site.has_category(c) {
                return Err(ChoiceError::UnknownCategory(c.as_str()));
            }
            if c == Category::Necessary && !granted {
                return Err(ChoiceError::NecessaryRefused);
            }
        }
        for cc in &site.categories {
            let granted = cc.id == Category::Necessary
                || req.categories.get(&cc.id).copied().unwrap_or(false);
            categories.insert(cc.id, granted);
        }
        for id in req.services.keys() {
            if site.service(id).is_none() {
                return Err(ChoiceError::UnknownService(id.to_string()));
            }
        }
        let mut services = BTreeMap::new();
        for s in &site.services {
            let category_granted = categories.get(&s.category).copied().unwrap_or(false);
            let granted = match req.services.get(&s.id) {
                // A strictly necessary service is always on, whatever the
                // method: it is recorded as granted, never as a choice.
                Some(false) if s.category == Category::Necessary => {
                    return Err(ChoiceError::NecessaryServiceRefused(s.id.to_string()));
                }
                Some(true) if !category_granted => {
                    return Err(ChoiceError::ServiceWithoutCategory {
                        service: s.id.to_string(),
                        category: s.category.as_str(),
                    });
                }
                Some(&g) => g,
                None => category_granted,
            };
            services.insert(s.id.clone(), granted);
        }
        let choices = Choices {
            categories,
            services,
        };
        let necessary: Vec<&ServiceId> = site
            .services
            .iter()
            .filter(|s| s.category == Category::Necessary)
            .map(|s| &s.id)
            .collect();
        choices.check_method(req.method, &necessary, &site.sale_or_sharing)?;
        Ok(choices)
    }

    /// Whether the choices fit the method. `sale_or_sharing`: the
    /// categories a Global Privacy Control choice leaves refused.
    fn check_method(
        &self,
        method: Method,
        necessary: &[&ServiceId],
        sale_or_sharing: &[Category],
    ) -> Result<(), ChoiceError> {
        let all = self.categories.values().chain(self.services.values());
        // Only what the visitor could refuse counts for reject_all: not the
        // necessary category, nor the services in it (resolved as granted).
        let optional = self
            .categories
            .iter()
            .filter(|(c, _)| **c != Category::Necessary)
            .map(|(_, g)| g)
            .chain(
                self.services
                    .iter()
                    .filter(|(id, _)| !necessary.contains(id))
                    .map(|(_, g)| g),
            );
        let why = match method {
            Method::AcceptAll if !all.copied().all(|g| g) => "accept_all must allow everything",
            Method::RejectAll if optional.copied().any(|g| g) => {
                "reject_all must refuse everything but necessary"
            }
            Method::Gpc if sale_or_sharing.iter().any(|&c| self.allows(c)) => {
                "a Global Privacy Control choice must refuse the site's sale_or_sharing categories"
            }
            _ => return Ok(()),
        };
        Err(ChoiceError::MethodMismatch {
            method: method.as_str(),
            why,
        })
    }

    /// The choice that a withdrawal leaves: only the necessary category.
    pub fn necessary_only(site: &SiteConfig) -> Choices {
        Choices {
            categories: site
                .categories
                .iter()
                .map(|c| (c.id, c.id == Category::Necessary))
                .collect(),
            services: site
                .services
                .iter()
                .map(|s| (s.id.clone(), s.category == Category::Necessary))
                .collect(),
        }
    }

    pub fn allows(&self, c: Category) -> bool {
        c == Category::Necessary || self.categories.get(&c).copied().unwrap_or(false)
    }

    /// The categories that are allowed and those that are refused, in the
    /// categories' natural order.
    pub fn split_categories(&self) -> (Vec<Category>, Vec<Category>) {
        split(&self.categories)
    }

    pub fn split_services(&self) -> (Vec<ServiceId>, Vec<ServiceId>) {
        split(&self.services)
    }
}

fn split<K: Clone>(m: &BTreeMap<K, bool>) -> (Vec<K>, Vec<K>) {
    let (yes, no): (Vec<_>, Vec<_>) = m.iter().partition(|(_, g)| **g);
    (
        yes.into_iter().map(|(k, _)| k.clone()).collect(),
        no.into_iter().map(|(k, _)| k.clone()).collect(),
    )
}

/// The server's acknowledgement of a recorded choice, sent only after the
/// record is durably stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub consent_id: ConsentId,
    pub event: Event,
    #[serde(with = "crate::instant")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub given_at: OffsetDateTime,
    #[serde(with = "crate::instant")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub revision: PolicyRevision,
    pub method: Method,
    pub choices: Choices,
    /// The SHA-256 of the stored record, so a visitor can prove later which
    /// record is theirs.
    pub record_hash: RecordHash,
    /// The record in the `crumb_consent` cookie's form ([`crate::cookie`]),
    /// for the widget to keep.
    pub cookie: String,
}

/// Whether a consent still counts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Valid,
    Expired,
    Withdrawn,
    OutdatedRevision,
}

/// What a lookup of one consent id returns.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentStatus {
    pub consent_id: ConsentId,
    pub state: ConsentState,
    /// The event that produced the current state.
    pub event: Event,
    #[serde(with = "crate::instant")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub given_at: OffsetDateTime,
    #[serde(with = "crate::instant")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub revision: PolicyRevision,
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub current_revision: PolicyRevision,
    pub method: Method,
    pub choices: Choices,
    /// The consent in the `crumb_consent` cookie's form ([`crate::cookie`]),
    /// only while it is valid: the widget refreshes its cookie from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::site;

    /// A two-category site (necessary, analytics) with a necessary service
    /// (the site's own session cookie) and an analytics one.
    fn two_category_site() -> SiteConfig {
        let mut v = serde_json::to_value(site(&["en"])).unwrap();
        v["categories"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"id": "analytics", "texts": {}}));
        let svc = |id: &str, category: &str| {
            serde_json::json!({"id": id, "name": id, "provider": "P", "category": category,
                "privacy_policy_url": "https://p.example/privacy", "cookies": []})
        };
        v["services"] = serde_json::json!([svc("session", "necessary"), svc("stats", "analytics")]);
        serde_json::from_value(v).unwrap()
    }

    fn request(
        method: Method,
        categories: &[(Category, bool)],
        services: &[(&str, bool)],
    ) -> ConsentRequest {
        ConsentRequest {
            consent_id: None,
            revision: PolicyRevision::FIRST,
            language: LanguageTag::parse("en").unwrap(),
            text_hash: TextVersion::parse(&"0".repeat(64)).unwrap(),
            method,
            categories: categories.iter().copied().collect(),
            services: services
                .iter()
                .map(|(id, g)| (ServiceId::parse(id).unwrap(), *g))
                .collect(),
        }
    }

    #[test]
    fn a_category_or_service_named_twice_is_refused() {
        let body = |categories: &str, services: &str| {
            format!(
                r#"{{"revision":1,"language":"en","text_hash":"{}","method":"custom",
                    "categories":{{{categories}}},"services":{{{services}}}}}"#,
                "0".repeat(64)
            )
        };
        let parse = |text: &str| serde_json::from_str::<ConsentRequest>(text);

        let once = parse(&body(r#""analytics":true"#, r#""stats":true"#)).unwrap();
        assert_eq!(once.categories.len(), 1);
        let twice = parse(&body(r#""analytics":true,"analytics":false"#, "")).unwrap_err();
        assert!(
            twice.to_string().contains(r#""analytics" appears twice"#),
            "{twice}"
        );
        let twice = parse(&body("", r#""stats":false,"stats":true"#)).unwrap_err();
        assert!(
            twice.to_string().contains(r#""stats" appears twice"#),
            "{twice}"
        );
    }

    #[test]
    fn every_method_records_necessary_services_as_granted() {
        let site = two_category_site();
        let session = ServiceId::parse("session").unwrap();
        for (method, categories) in [
            (Method::RejectAll, vec![]),
            (Method::AcceptAll, vec![(Category::Analytics, true)]),
            (Method::Custom, vec![(Category::Analytics, false)]),
            (Method::Gpc, vec![]),
        ] {
            let choices = Choices::resolve(&site, &request(method, &categories, &[]))
                .unwrap_or_else(|e| panic!("{method:?}: {e}"));
            assert!(choices.services[&session], "{method:?}");
            // Sent as granted, it is accepted too.
            let explicit = request(method, &categories, &[("session", true)]);
            assert_eq!(Choices::resolve(&site, &explicit), Ok(choices));
        }
    }

    #[test]
    fn refusing_a_necessary_service_is_refused() {
        let site = two_category_site();
        let req = request(Method::Custom, &[], &[("session", false)]);
        assert_eq!(
            Choices::resolve(&site, &req),
            Err(ChoiceError::NecessaryServiceRefused("session".into()))
        );
    }

    #[test]
    fn a_category_the_site_lacks_is_refused() {
        let site = two_category_site();
        let req = request(
            Method::AcceptAll,
            &[(Category::Analytics, true), (Category::Marketing, true)],
            &[],
        );
        assert_eq!(
            Choices::resolve(&site, &req),
            Err(ChoiceError::UnknownCategory("marketing"))
        );
    }

    #[test]
    fn a_gpc_choice_refuses_the_sale_or_sharing_categories() {
        // Arrange: a site that counts analytics as sharing.
        let mut site = two_category_site();
        let analytics = [(Category::Analytics, true)];
        let gpc = request(Method::Gpc, &analytics, &[]);
        // Act / Assert: by default only marketing (which the site lacks)
        // must be refused, so granting analytics fits.
        assert!(Choices::resolve(&site, &gpc).is_ok());
        site.sale_or_sharing = vec![Category::Analytics];
        assert!(matches!(
            Choices::resolve(&site, &gpc),
            Err(ChoiceError::MethodMismatch { method: "gpc", .. })
        ));
        let refused = request(Method::Gpc, &[(Category::Analytics, false)], &[]);
        assert!(Choices::resolve(&site, &refused).is_ok());
    }
}
