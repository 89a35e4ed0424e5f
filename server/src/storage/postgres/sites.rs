//! Sites: their configs (cached, see `site_cache`) and rows.

use std::sync::Arc;

use crumb_schema::{SiteConfig, SiteId, TextHash};
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use super::{PostgresStore, corrupt};
use crate::sites::{Notice, UpdateRefused};
use crate::storage::site_cache::{sites_changed, sites_written};
use crate::storage::{SiteRow, SiteUpdate, StoreError, stored_notice, stored_time};
use crate::timefmt::{self, Timestamp};

pub(super) fn recent_site(store: &PostgresStore, id: &SiteId) -> Option<Arc<SiteConfig>> {
    store.sites.recent(id)
}

pub(super) fn site(
    store: &PostgresStore,
    id: &SiteId,
) -> Result<Option<Arc<SiteConfig>>, StoreError> {
    let written = sites_written();
    store.run(|c| async move {
        let stmt = c.prepare_cached("SELECT v FROM sites_version").await?;
        let version: i64 = c.query_one(&stmt, &[]).await?.get(0);
        if let Some(site) = store.sites.checked(version, written, id) {
            return Ok(Some(site));
        }
        let stmt = c
            .prepare_cached("SELECT config FROM sites WHERE id = $1")
            .await?;
        let Some(row) = c.query_opt(&stmt, &[&id.as_str()]).await? else {
            return Ok(None);
        };
        let site: Arc<SiteConfig> = Arc::new(serde_json::from_str(row.get(0)).map_err(corrupt)?);
        store.sites.insert(version, id, site.clone());
        Ok(Some(site))
    })
}

pub(super) fn put_site(
    store: &PostgresStore,
    site: &SiteConfig,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(site).expect("a site config serialises");
    let now = timefmt::format(now);
    store.run(|mut c| async move {
        let tx = c.transaction().await?;
        tx.execute(
            "INSERT INTO sites (id, config, revision, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (id) DO UPDATE
             SET config = excluded.config, revision = excluded.revision,
                 updated_at = excluded.updated_at",
            &[
                &site.id.as_str(),
                &json,
                &(site.revision.get() as i64),
                &now,
            ],
        )
        .await?;
        keep(&tx, site, &now).await?;
        tx.commit().await?;
        Ok(())
    })?;
    sites_changed();
    Ok(())
}

/// Adds the versions of `site`'s texts the log does not hold yet.
async fn keep(c: &impl GenericClient, site: &SiteConfig, now: &str) -> Result<(), StoreError> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO notices (site_id, text_hash, language, texts, first_seen)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await?;
    for n in crate::sites::notices(site) {
        c.execute(
            &stmt,
            &[
                &site.id.as_str(),
                &n.text_hash.as_str(),
                &n.language.as_str(),
                &n.texts,
                &now,
            ],
        )
        .await?;
    }
    Ok(())
}

pub(super) fn keep_notices(
    store: &PostgresStore,
    site: &SiteConfig,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = timefmt::format(now);
    store.run(|mut c| async move {
        let tx = c.transaction().await?;
        keep(&tx, site, &now).await?;
        tx.commit().await?;
        Ok(())
    })
}

pub(super) fn notices(
    store: &PostgresStore,
    site: &SiteId,
    hash: &TextHash,
) -> Result<Vec<Notice>, StoreError> {
    store.run(|c| async move {
        c.query(
            "SELECT language, texts FROM notices
             WHERE site_id = $1 AND text_hash = $2 ORDER BY language",
            &[&site.as_str(), &hash.as_str()],
        )
        .await?
        .into_iter()
        .map(|r| stored_notice(r.get(0), hash.as_str(), r.get(1)))
        .collect()
    })
}

pub(super) fn kept_notices(
    store: &PostgresStore,
    site: Option<&SiteId>,
) -> Result<Vec<(SiteId, Notice, Timestamp)>, StoreError> {
    let site = site.map(SiteId::as_str);
    store.run(|c| async move {
        c.query(
            "SELECT site_id, text_hash, language, texts, first_seen FROM notices
             WHERE $1::text IS NULL OR site_id = $1
             ORDER BY site_id, first_seen, language",
            &[&site],
        )
        .await?
        .into_iter()
        .map(|r| {
            Ok((
                SiteId::parse(r.get(0)).map_err(corrupt)?,
                stored_notice(r.get(2), r.get(1), r.get(3))?,
                stored_time(r.get(4))?,
            ))
        })
        .collect()
    })
}

pub(super) fn update_site(
    store: &PostgresStore,
    id: &SiteId,
    now: OffsetDateTime,
    change: &mut dyn FnMut(&SiteConfig) -> Result<SiteConfig, UpdateRefused>,
) -> Result<SiteUpdate, StoreError> {
    let updated = store.run(|mut c| async move {
        let tx = c.transaction().await?;
        // As for appends: a node that dies holding the row's lock without
        // closing its connection holds it 5 s, not until TCP finds out;
        // a change that waits longer is refused as busy (503).
        tx.batch_execute(
            "SET LOCAL idle_in_transaction_session_timeout = '5s'; SET LOCAL lock_timeout = '5s'",
        )
        .await?;
        // The row's lock: another node's change waits for this one, and
        // then reads what it wrote.
        let Some(row) = tx
            .query_opt(
                "SELECT config FROM sites WHERE id = $1 FOR UPDATE",
                &[&id.as_str()],
            )
            .await?
        else {
            return Ok(SiteUpdate::NoSite);
        };
        let current: SiteConfig = serde_json::from_str(row.get(0)).map_err(corrupt)?;
        let new = match change(&current) {
            Ok(new) => new,
            Err(refused) => return Ok(SiteUpdate::Refused(refused)),
        };
        let json = serde_json::to_string(&new).expect("a site config serialises");
        tx.execute(
            "UPDATE sites SET config = $2, revision = $3, updated_at = $4 WHERE id = $1",
            &[
                &id.as_str(),
                &json,
                &(new.revision.get() as i64),
                &timefmt::format(now),
            ],
        )
        .await?;
        keep(&tx, &new, &timefmt::format(now)).await?;
        tx.commit().await?;
        Ok(SiteUpdate::Updated(Box::new(new)))
    })?;
    sites_changed();
    Ok(updated)
}

pub(super) fn insert_site(
    store: &PostgresStore,
    site: &SiteConfig,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let json = serde_json::to_string(site).expect("a site config serialises");
    let now = timefmt::format(now);
    let n = store.run(|mut c| async move {
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "INSERT INTO sites (id, config, revision, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                &[
                    &site.id.as_str(),
                    &json,
                    &(site.revision.get() as i64),
                    &now,
                ],
            )
            .await?;
        if n == 1 {
            keep(&tx, site, &now).await?;
        }
        tx.commit().await?;
        Ok(n)
    })?;
    sites_changed();
    Ok(n == 1)
}

pub(super) fn delete_site(store: &PostgresStore, id: &SiteId) -> Result<bool, StoreError> {
    let n = store.run(|c| async move {
        Ok(
            c.execute("DELETE FROM sites WHERE id = $1", &[&id.as_str()])
                .await?,
        )
    })?;
    sites_changed();
    Ok(n == 1)
}

pub(super) fn sites(store: &PostgresStore) -> Result<Vec<SiteId>, StoreError> {
    store.run(|c| async move {
        c.query("SELECT id FROM sites ORDER BY id", &[])
            .await?
            .iter()
            .map(|r| SiteId::parse(r.get(0)).map_err(corrupt))
            .collect()
    })
}

pub(super) fn site_rows(store: &PostgresStore) -> Result<Vec<SiteRow>, StoreError> {
    store.run(|c| async move {
        c.query(
            "SELECT config, created_at, updated_at FROM sites ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(SiteRow {
                config: Arc::new(serde_json::from_str(r.get(0)).map_err(corrupt)?),
                created_at: stored_time(r.get(1))?,
                updated_at: stored_time(r.get(2))?,
            })
        })
        .collect()
    })
}
