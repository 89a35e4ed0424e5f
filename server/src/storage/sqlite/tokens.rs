//! API tokens: stored with only their secret's hash.

use crumb_schema::SiteId;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::SqliteStore;
use crate::storage::{Role, Store, StoreError, TokenRow};
use crate::timefmt;

pub(super) fn tokens(store: &SqliteStore) -> Result<Vec<(TokenRow, String)>, StoreError> {
    let ids: Vec<String> = store.read(|conn| {
        let mut stmt = conn.prepare_cached("SELECT id FROM tokens ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    })?;
    ids.iter()
        .filter_map(|id| store.token(id).transpose())
        .collect()
}

pub(super) fn create_token(
    store: &SqliteStore,
    row: &TokenRow,
    secret_hash: &str,
) -> Result<(), StoreError> {
    store.write.lock().unwrap().conn.execute(
        "INSERT INTO tokens (id, secret_hash, role, site_id, label, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            row.id,
            secret_hash,
            row.role.as_str(),
            row.site.as_ref().map(SiteId::as_str),
            row.label,
            row.created_at,
        ],
    )?;
    Ok(())
}

pub(super) fn token(
    store: &SqliteStore,
    id: &str,
) -> Result<Option<(TokenRow, String)>, StoreError> {
    store.read(|conn| {
        let row = conn
            .prepare_cached(
                "SELECT id, secret_hash, role, site_id, label, created_at, revoked_at
                 FROM tokens WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .optional()?;
        let Some((id, hash, role, site, label, created_at, revoked_at)) = row else {
            return Ok(None);
        };
        let corrupt = |e: String| StoreError::Corrupt(e);
        let role = Role::parse(&role).ok_or_else(|| corrupt(format!("role {role:?}")))?;
        let site = site
            .map(|s| SiteId::parse(&s))
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Some((
            TokenRow {
                id,
                role,
                site,
                label,
                created_at,
                revoked_at,
            },
            hash,
        )))
    })
}

pub(super) fn revoke_token(
    store: &SqliteStore,
    id: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = store.write.lock().unwrap().conn.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, timefmt::format(now)],
    )?;
    Ok(n == 1)
}
