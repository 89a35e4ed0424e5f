//! API tokens: stored with only their secret's hash.

use crumb_schema::SiteId;
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use super::{PostgresStore, corrupt};
use crate::storage::{Role, Store, StoreError, TokenRow};
use crate::timefmt;

pub(super) fn tokens(store: &PostgresStore) -> Result<Vec<(TokenRow, String)>, StoreError> {
    let ids: Vec<String> = store.run(|c| async move {
        Ok(c.query("SELECT id FROM tokens ORDER BY id", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    })?;
    ids.iter()
        .filter_map(|id| store.token(id).transpose())
        .collect()
}

pub(super) fn create_token(
    store: &PostgresStore,
    row: &TokenRow,
    secret_hash: &str,
) -> Result<(), StoreError> {
    store.run(|c| async move {
        c.execute(
            "INSERT INTO tokens (id, secret_hash, role, site_id, label, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &row.id,
                &secret_hash,
                &row.role.as_str(),
                &row.site.as_ref().map(SiteId::as_str),
                &row.label,
                &row.created_at,
            ],
        )
        .await?;
        Ok(())
    })
}

pub(super) fn token(
    store: &PostgresStore,
    id: &str,
) -> Result<Option<(TokenRow, String)>, StoreError> {
    store.run(|c| async move {
        let row = c
            .query_opt(
                "SELECT id, secret_hash, role, site_id, label, created_at, revoked_at
                 FROM tokens WHERE id = $1",
                &[&id],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let role: &str = r.get(2);
        let role = Role::parse(role).ok_or_else(|| corrupt(format!("role {role:?}")))?;
        let site = r
            .get::<_, Option<&str>>(3)
            .map(SiteId::parse)
            .transpose()
            .map_err(corrupt)?;
        Ok(Some((
            TokenRow {
                id: r.get(0),
                role,
                site,
                label: r.get(4),
                created_at: r.get(5),
                revoked_at: r.get(6),
            },
            r.get(1),
        )))
    })
}

pub(super) fn revoke_token(
    store: &PostgresStore,
    id: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = timefmt::format(now);
    store.run(|c| async move {
        let n = c
            .execute(
                "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &now],
            )
            .await?;
        Ok(n == 1)
    })
}
