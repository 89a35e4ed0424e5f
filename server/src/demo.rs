//! The demo site: a typical SaaS website's services (Google Analytics 4,
//! Hotjar, Piwik PRO, VWO, Meta Pixel, Reddit Pixel, YouTube) with their real
//! cookie names, providers, purposes and retention periods, in English,
//! Dutch, German and French. The config file lives in `examples/` so the
//! demo pages and the config are edited side by side.

use crumb_schema::SiteConfig;
use time::OffsetDateTime;

use crate::storage::{Store, StoreError};

pub const DEMO_SITE_JSON: &str = include_str!("../../examples/demo-site.json");

pub fn demo_site() -> SiteConfig {
    serde_json::from_str(DEMO_SITE_JSON).expect("examples/demo-site.json is a valid site config")
}

/// Creates the demo site unless it exists. Returns whether it was created.
pub fn ensure_demo_site(store: &dyn Store, now: OffsetDateTime) -> Result<bool, StoreError> {
    let site = demo_site();
    if store.site(&site.id)?.is_some() {
        return Ok(false);
    }
    store.put_site(&site, now)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_site_is_well_formed() {
        let site = demo_site();
        assert_eq!(site.problems(), Vec::<(String, String)>::new());
        assert!(site.services.len() >= 7);
        for lang in ["en", "nl", "de", "fr"] {
            let lang = crumb_schema::LanguageTag::parse(lang).unwrap();
            assert!(site.texts.contains_key(&lang));
            for s in &site.services {
                assert!(!s.cookies.is_empty(), "{} has cookies", s.id);
                for c in &s.cookies {
                    assert!(
                        c.purpose.contains_key(&lang),
                        "{} purpose in {lang}",
                        c.name
                    );
                    assert!(
                        c.retention.text(&lang, None).is_some(),
                        "{} retention in {lang}",
                        c.name
                    );
                }
            }
        }
    }
}
