//! API tokens: stored with only their secret's hash.

use crumb_schema::SiteId;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::SqliteStore;
use crate::storage::{SecretHash, StoreError, TokenId, TokenRow};
use crate::timefmt;

pub(super) fn tokens(store: &SqliteStore) -> Result<Vec<(TokenRow, SecretHash)>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT id, secret_hash, role, site_id, label, created_at, revoked_at
             FROM tokens ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let text = |i| r.get::<_, String>(i);
            let row = TokenRow::from_columns(
                &text(0)?,
                &text(2)?,
                r.get::<_, Option<String>>(3)?.as_deref(),
                text(4)?,
                &text(5)?,
                r.get::<_, Option<String>>(6)?.as_deref(),
            )?;
            out.push((row, SecretHash::stored(text(1)?)?));
        }
        Ok(out)
    })
}

pub(super) fn create_token(
    store: &SqliteStore,
    row: &TokenRow,
    secret_hash: &SecretHash,
) -> Result<(), StoreError> {
    store.write.lock().unwrap().conn.execute(
        "INSERT INTO tokens (id, secret_hash, role, site_id, label, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            row.id.as_str(),
            secret_hash.as_str(),
            row.role.as_str(),
            row.site.as_ref().map(SiteId::as_str),
            row.label,
            row.created_at.to_string(),
        ],
    )?;
    Ok(())
}

pub(super) fn token(
    store: &SqliteStore,
    id: &TokenId,
) -> Result<Option<(TokenRow, SecretHash)>, StoreError> {
    store.read(|conn| {
        let row = conn
            .prepare_cached(
                "SELECT id, secret_hash, role, site_id, label, created_at, revoked_at
                 FROM tokens WHERE id = ?1",
            )?
            .query_row([id.as_str()], |r| {
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
        let row = TokenRow::from_columns(
            &id,
            &role,
            site.as_deref(),
            label,
            &created_at,
            revoked_at.as_deref(),
        )?;
        Ok(Some((row, SecretHash::stored(hash)?)))
    })
}

pub(super) fn revoke_token(
    store: &SqliteStore,
    id: &TokenId,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = store.write.lock().unwrap().conn.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id.as_str(), timefmt::format(now)],
    )?;
    Ok(n == 1)
}
