//! Sites: their configs (cached, see `site_cache`) and rows.

use std::sync::Arc;

use crumb_schema::{SiteConfig, SiteId, TextHash};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::SqliteStore;
use crate::sites::{Notice, UpdateRefused};
use crate::storage::site_cache::{sites_changed, sites_written};
use crate::storage::{SiteRow, SiteUpdate, StoreError, stored_notice, stored_time};
use crate::timefmt::{self, Timestamp};

pub(super) fn recent_site(store: &SqliteStore, id: &SiteId) -> Option<Arc<SiteConfig>> {
    store.sites.recent(id)
}

pub(super) fn site(
    store: &SqliteStore,
    id: &SiteId,
) -> Result<Option<Arc<SiteConfig>>, StoreError> {
    let written = sites_written();
    store.read(|conn| {
        let version: i64 = conn
            .prepare_cached("SELECT v FROM sites_version")?
            .query_row([], |r| r.get(0))?;
        if let Some(site) = store.sites.checked(version, written, id) {
            return Ok(Some(site));
        }
        let json: Option<String> = conn
            .prepare_cached("SELECT config FROM sites WHERE id = ?1")?
            .query_row([id.as_str()], |r| r.get(0))
            .optional()?;
        let Some(json) = json else { return Ok(None) };
        let site: Arc<SiteConfig> =
            Arc::new(serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        store.sites.insert(version, id, site.clone());
        Ok(Some(site))
    })
}

pub(super) fn put_site(
    store: &SqliteStore,
    site: &SiteConfig,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(site).expect("a site config serialises");
    let now = timefmt::format(now);
    let mut write = store.write.lock().unwrap();
    let tx = write.conn.transaction()?;
    tx.execute(
        "INSERT INTO sites (id, config, revision, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (id) DO UPDATE
         SET config = excluded.config, revision = excluded.revision,
             updated_at = excluded.updated_at",
        params![site.id.as_str(), json, site.revision.get(), now],
    )?;
    keep(&tx, site, &now)?;
    tx.commit()?;
    sites_changed();
    Ok(())
}

/// Adds the versions of `site`'s texts the log does not hold yet.
fn keep(conn: &Connection, site: &SiteConfig, now: &str) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO notices (site_id, text_hash, language, texts, first_seen)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    )?;
    for n in crate::sites::notices(site) {
        stmt.execute(params![
            site.id.as_str(),
            n.text_hash.as_str(),
            n.language.as_str(),
            n.texts,
            now
        ])?;
    }
    Ok(())
}

pub(super) fn keep_notices(
    store: &SqliteStore,
    site: &SiteConfig,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut write = store.write.lock().unwrap();
    let tx = write.conn.transaction()?;
    keep(&tx, site, &timefmt::format(now))?;
    tx.commit()?;
    Ok(())
}

pub(super) fn notices(
    store: &SqliteStore,
    site: &SiteId,
    hash: &TextHash,
) -> Result<Vec<Notice>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT language, texts FROM notices
             WHERE site_id = ?1 AND text_hash = ?2 ORDER BY language",
        )?;
        let rows = stmt.query_map([site.as_str(), hash.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (language, texts) = row?;
            stored_notice(&language, hash.as_str(), texts)
        })
        .collect()
    })
}

pub(super) fn kept_notices(
    store: &SqliteStore,
    site: Option<&SiteId>,
) -> Result<Vec<(SiteId, Notice, Timestamp)>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT site_id, text_hash, language, texts, first_seen FROM notices
             WHERE ?1 IS NULL OR site_id = ?1
             ORDER BY site_id, first_seen, language",
        )?;
        let rows = stmt.query_map([site.map(SiteId::as_str)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (site, hash, language, texts, first_seen) = row?;
            Ok((
                SiteId::parse(&site).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                stored_notice(&language, &hash, texts)?,
                stored_time(&first_seen)?,
            ))
        })
        .collect()
    })
}

pub(super) fn update_site(
    store: &SqliteStore,
    id: &SiteId,
    now: OffsetDateTime,
    change: &mut dyn FnMut(&SiteConfig) -> Result<SiteConfig, UpdateRefused>,
) -> Result<SiteUpdate, StoreError> {
    let mut write = store.write.lock().unwrap();
    // IMMEDIATE: the write lock first, so the config read below is the
    // one this transaction replaces, whichever process writes beside it.
    let tx = write
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let json: Option<String> = tx
        .query_row(
            "SELECT config FROM sites WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(json) = json else {
        return Ok(SiteUpdate::NoSite);
    };
    let current: SiteConfig =
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let new = match change(&current) {
        Ok(new) => new,
        Err(refused) => return Ok(SiteUpdate::Refused(refused)),
    };
    let json = serde_json::to_string(&new).expect("a site config serialises");
    tx.execute(
        "UPDATE sites SET config = ?2, revision = ?3, updated_at = ?4 WHERE id = ?1",
        params![id.as_str(), json, new.revision.get(), timefmt::format(now)],
    )?;
    keep(&tx, &new, &timefmt::format(now))?;
    tx.commit()?;
    sites_changed();
    Ok(SiteUpdate::Updated(Box::new(new)))
}

pub(super) fn insert_site(
    store: &SqliteStore,
    site: &SiteConfig,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let json = serde_json::to_string(site).expect("a site config serialises");
    let now = timefmt::format(now);
    let mut write = store.write.lock().unwrap();
    let tx = write.conn.transaction()?;
    let n = tx.execute(
        "INSERT INTO sites (id, config, revision, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO NOTHING",
        params![site.id.as_str(), json, site.revision.get(), now],
    )?;
    if n == 1 {
        keep(&tx, site, &now)?;
    }
    tx.commit()?;
    sites_changed();
    Ok(n == 1)
}

pub(super) fn delete_site(store: &SqliteStore, id: &SiteId) -> Result<bool, StoreError> {
    let n = store
        .write
        .lock()
        .unwrap()
        .conn
        .execute("DELETE FROM sites WHERE id = ?1", [id.as_str()])?;
    sites_changed();
    Ok(n == 1)
}

pub(super) fn sites(store: &SqliteStore) -> Result<Vec<SiteId>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare_cached("SELECT id FROM sites ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.map(|id| SiteId::parse(&id?).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    })
}

pub(super) fn site_rows(store: &SqliteStore) -> Result<Vec<SiteRow>, StoreError> {
    store.read(|conn| {
        let mut stmt =
            conn.prepare_cached("SELECT config, created_at, updated_at FROM sites ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (config, created_at, updated_at) = row?;
            Ok(SiteRow {
                config: Arc::new(
                    serde_json::from_str(&config)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
                created_at: stored_time(&created_at)?,
                updated_at: stored_time(&updated_at)?,
            })
        })
        .collect()
    })
}
