//! API tokens: stored with only their secret's hash.

use crumb_schema::SiteId;
use time::OffsetDateTime;

use super::PostgresStore;
use crate::storage::{SecretHash, StoreError, TokenId, TokenRow};
use crate::timefmt;

const COLUMNS: &str = "id, secret_hash, role, site_id, label, created_at, revoked_at";

/// A token and its secret's hash from a row of [`COLUMNS`].
fn token_from(r: &tokio_postgres::Row) -> Result<(TokenRow, SecretHash), StoreError> {
    let row = TokenRow::from_columns(r.get(0), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6))?;
    Ok((row, SecretHash::stored(r.get(1))?))
}

pub(super) fn tokens(store: &PostgresStore) -> Result<Vec<(TokenRow, SecretHash)>, StoreError> {
    store.run(|c| async move {
        c.query(&format!("SELECT {COLUMNS} FROM tokens ORDER BY id"), &[])
            .await?
            .iter()
            .map(token_from)
            .collect()
    })
}

pub(super) fn create_token(
    store: &PostgresStore,
    row: &TokenRow,
    secret_hash: &SecretHash,
) -> Result<(), StoreError> {
    store.run(|c| async move {
        c.execute(
            "INSERT INTO tokens (id, secret_hash, role, site_id, label, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &row.id.as_str(),
                &secret_hash.as_str(),
                &row.role.as_str(),
                &row.site.as_ref().map(SiteId::as_str),
                &row.label,
                &row.created_at.to_string(),
            ],
        )
        .await?;
        Ok(())
    })
}

pub(super) fn token(
    store: &PostgresStore,
    id: &TokenId,
) -> Result<Option<(TokenRow, SecretHash)>, StoreError> {
    store.run(|c| async move {
        c.query_opt(
            &format!("SELECT {COLUMNS} FROM tokens WHERE id = $1"),
            &[&id.as_str()],
        )
        .await?
        .as_ref()
        .map(token_from)
        .transpose()
    })
}

pub(super) fn revoke_token(
    store: &PostgresStore,
    id: &TokenId,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = timefmt::format(now);
    store.run(|c| async move {
        let n = c
            .execute(
                "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id.as_str(), &now],
            )
            .await?;
        Ok(n == 1)
    })
}
