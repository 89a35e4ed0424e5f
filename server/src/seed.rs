//! Synthetic consent records for benchmarks (`crumb seed`): realistic
//! choices and clients, appended through the same store path as live
//! consents (chained, hashed, committed in batches), only faster than
//! going through HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use crumb_schema::{Category, Choices, LanguageTag, Method, SiteConfig};
use time::{Duration, OffsetDateTime};

use crate::storage::{Action, Draft, Store, StoreError};

const USER_AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
];

/// The `i`-th synthetic visitor's choice: accept all, reject all, or
/// analytics only, in rotation.
fn choice(site: &SiteConfig, i: u64) -> (Method, Choices) {
    let (method, allow): (Method, fn(Category) -> bool) = match i % 3 {
        0 => (Method::AcceptAll, |_| true),
        1 => (Method::RejectAll, |c| c == Category::Necessary),
        _ => (Method::Custom, |c| {
            matches!(c, Category::Necessary | Category::Analytics)
        }),
    };
    let categories: BTreeMap<_, _> = site
        .categories
        .iter()
        .map(|c| (c.id, allow(c.id)))
        .collect();
    let services = site
        .services
        .iter()
        .map(|s| (s.id.clone(), allow(s.category)))
        .collect();
    (
        method,
        Choices {
            categories,
            services,
        },
    )
}

/// Appends `count` new consents to `site`, spread evenly over the `span`
/// before `now`, in transactions of `batch`. Returns how many were stored.
pub fn seed(
    store: &dyn Store,
    site: Arc<SiteConfig>,
    count: u64,
    span: Duration,
    now: OffsetDateTime,
    batch: usize,
    mut progress: impl FnMut(u64),
) -> Result<u64, StoreError> {
    let language: LanguageTag = site
        .languages
        .first()
        .cloned()
        .ok_or_else(|| StoreError::Corrupt("the site has no language".into()))?;
    let text_hash = crate::sites::notice(&site, &language)
        .ok_or_else(|| StoreError::Corrupt("the site has no texts".into()))?
        .text_hash;
    let step = span / count.max(1) as f64;
    let start = now - span;
    let mut stored = 0;
    let mut drafts = Vec::with_capacity(batch);
    for i in 0..count {
        let (method, choices) = choice(&site, i);
        let event_time = start + step * i as f64;
        drafts.push(Draft {
            site: site.clone(),
            action: Action::Choose {
                consent_id: None,
                language: language.clone(),
                text_hash: text_hash.clone(),
                method,
                choices,
            },
            event_time,
            ids: crate::storage::mint(event_time)?,
            user_agent: USER_AGENTS[(i % 3) as usize].to_owned(),
            ip_network: format!("203.0.{}.0/24", i % 256),
            gpc: false,
            idempotency: None,
            prepared: None,
        });
        if drafts.len() == batch || i + 1 == count {
            let results = store.append(&drafts)?;
            drafts.clear();
            stored += results.iter().filter(|r| r.is_ok()).count() as u64;
            progress(stored);
        }
    }
    Ok(stored)
}
