//! The `crumb_consent` cookie: the browser's cache of a consent the server
//! recorded, and how long the cache may live.
//!
//! The server is the authority on a consent; the cookie only remembers
//! which consent this browser holds and what it last confirmed. The server
//! writes the value ([`value`]) into every receipt and every valid lookup,
//! and the widget stores it as it is (or the server sets it itself with
//! `Set-Cookie` when it is served from the page's own origin). The widget
//! reads the same layout (`widget/src/consent.rs`, whose tests decode what
//! this module writes):
//!
//! ```text
//! 1~consent_id~revision~given_ms~expires_ms~method~categories~svc.svc~pending
//! ```
//!
//! `categories` is a bit set (bit i is [`Category::ALL`]\[i\]), the services
//! are the allowed ones in the site's order (the order the widget writes
//! them in, so the two compare as text), leaving out the necessary ones,
//! which are always on; `pending` is 0 for a consent the server recorded
//! (the widget counts send attempts there for a choice it has not).

use time::{Duration, OffsetDateTime};

use crate::{Category, Choices, ConsentId, Method, PolicyRevision, SiteConfig};

/// The cookie's name, on the page's host (or the site's `cookie_domain`).
pub const NAME: &str = "crumb_consent";

/// The longest lifetime browsers grant a cookie (RFC 6265bis caps
/// `Max-Age` and `Expires` at 400 days; Chromium and Firefox enforce it).
/// A two-year consent therefore needs its cookie refreshed on visits.
pub const MAX_AGE_CAP: Duration = Duration::days(400);

/// The letter a method has in the cookie.
fn letter(method: Method) -> char {
    match method {
        Method::AcceptAll => 'a',
        Method::RejectAll => 'r',
        Method::Custom => 'c',
        Method::Gpc => 'g',
    }
}

/// The cookie value for a consent the server recorded, for `site`.
pub fn value(
    consent_id: &ConsentId,
    revision: PolicyRevision,
    given_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    method: Method,
    choices: &Choices,
    site: &SiteConfig,
) -> String {
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000).max(0);
    let categories: u8 = Category::ALL
        .iter()
        .enumerate()
        .filter(|(_, c)| choices.allows(**c))
        .map(|(i, _)| 1u8 << i)
        .sum();
    let services: Vec<&str> = site
        .services
        .iter()
        .filter(|s| s.category != Category::Necessary)
        .filter(|s| choices.services.get(&s.id).copied().unwrap_or(false))
        .map(|s| s.id.as_str())
        .collect();
    format!(
        "1~{consent_id}~{revision}~{given}~{expires}~{method}~{categories}~{services}~0",
        revision = revision.get(),
        given = ms(given_at),
        expires = ms(expires_at),
        method = letter(method),
        services = services.join("."),
    )
}

/// How long a browser should keep the cookie from `now`: the time the
/// consent has left, but never more than browsers allow. Zero once expired.
pub fn max_age(expires_at: OffsetDateTime, now: OffsetDateTime) -> Duration {
    (expires_at - now).clamp(Duration::ZERO, MAX_AGE_CAP)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use time::macros::datetime;

    use super::*;
    use crate::ServiceId;
    use crate::config::tests::site;

    #[test]
    fn the_value_lists_what_the_record_allows_in_the_sites_order() {
        let mut s = serde_json::to_value(site(&["en"])).unwrap();
        s["services"] = ["meta-pixel", "hotjar", "google-analytics"]
            .iter()
            .map(|id| {
                serde_json::json!({"id": id, "name": id, "provider": "P", "category": "analytics",
                    "privacy_policy_url": "https://p.example", "cookies": []})
            })
            .collect();
        let s: SiteConfig = serde_json::from_value(s).unwrap();
        let choices = Choices {
            categories: BTreeMap::from([
                (Category::Necessary, true),
                (Category::Analytics, true),
                (Category::Marketing, false),
            ]),
            services: BTreeMap::from([
                (ServiceId::parse("hotjar").unwrap(), true),
                (ServiceId::parse("meta-pixel").unwrap(), false),
                (ServiceId::parse("google-analytics").unwrap(), true),
            ]),
        };
        let id = ConsentId::parse("f308a03b-50bb-4cb0-91b3-f21e779e3794").unwrap();
        let v = value(
            &id,
            PolicyRevision::parse(3).unwrap(),
            datetime!(2023-11-14 22:13:20 UTC),
            datetime!(2025-11-14 22:13:20 UTC),
            Method::Custom,
            &choices,
            &s,
        );
        assert_eq!(
            v,
            "1~f308a03b-50bb-4cb0-91b3-f21e779e3794~3~1700000000000~1763158400000~c~5~hotjar.google-analytics~0"
        );
    }

    #[test]
    fn the_cookie_lives_at_most_400_days_and_never_past_the_consent() {
        let now = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(max_age(now + Duration::days(730), now), MAX_AGE_CAP);
        assert_eq!(max_age(now + Duration::days(100), now), Duration::days(100));
        assert_eq!(max_age(now - Duration::days(1), now), Duration::ZERO);
    }
}
