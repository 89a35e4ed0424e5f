//! Parsed site configs, kept by every store engine and checked against the
//! database's `sites_version` counter (bumped by triggers on every change
//! to `sites`, from any process or node). Every request needs its site;
//! checking one integer is far cheaper than reading and parsing a config,
//! and the counter also catches changes made elsewhere: `crumb site update`
//! beside a running server, or another node sharing a PostgreSQL database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crumb_schema::{SiteConfig, SiteId};

/// Changes to `sites` made through any store in this process. Together with
/// a recent `sites_version` check this lets [`SiteCache::recent`] answer
/// from memory: changes from this process are seen at once, changes from
/// another process or node within [`RECHECK`].
static SITES_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// How old a `sites_version` check may be for [`SiteCache::recent`].
pub const RECHECK: Duration = Duration::from_millis(100);

/// Read before the database's version, so a change committed after that
/// read bumps the counter again and is never hidden.
pub fn sites_written() -> u64 {
    SITES_WRITTEN.load(Ordering::Acquire)
}

/// Called after every committed change to `sites`.
pub fn sites_changed() {
    SITES_WRITTEN.fetch_add(1, Ordering::AcqRel);
}

#[derive(Default)]
pub struct SiteCache(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    version: i64,
    sites: HashMap<SiteId, Arc<SiteConfig>>,
    /// When `version` was last read from the database, and the value of
    /// [`sites_written`] then.
    checked: Option<(Instant, u64)>,
}

impl SiteCache {
    /// The site's config if the cache was checked recently and nothing in
    /// this process has changed a site since; no I/O.
    pub fn recent(&self, id: &SiteId) -> Option<Arc<SiteConfig>> {
        let inner = self.0.lock().ok()?;
        let (at, written) = inner.checked?;
        if written != sites_written() || at.elapsed() > RECHECK {
            return None;
        }
        inner.sites.get(id).cloned()
    }

    /// The config last read, however long ago: what the public config
    /// routes fall back to while the database cannot be reached.
    pub fn last_known(&self, id: &SiteId) -> Option<Arc<SiteConfig>> {
        let inner = self.0.lock().ok()?;
        inner.sites.get(id).cloned()
    }

    /// Notes that the database's counter was `version` (read after
    /// `written` was taken) and returns the cached config, if any.
    pub fn checked(&self, version: i64, written: u64, id: &SiteId) -> Option<Arc<SiteConfig>> {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if inner.version != version {
            inner.sites.clear();
            inner.version = version;
        }
        inner.checked = Some((Instant::now(), written));
        inner.sites.get(id).cloned()
    }

    /// Keeps a config read after the counter was `version`: it is at least
    /// that new, so caching it under that version is safe (a newer version
    /// only causes one more reload).
    pub fn insert(&self, version: i64, id: &SiteId, site: Arc<SiteConfig>) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if inner.version == version {
            inner.sites.insert(id.clone(), site);
        }
    }
}
