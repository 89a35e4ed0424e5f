//! Per-day decision counts for the owner's stats.

use crumb_schema::SiteId;
use rusqlite::params;

use super::SqliteStore;
use crate::storage::{DayStats, StoreError, Tally, TimeRange};

pub(super) fn stats(
    store: &SqliteStore,
    site: &SiteId,
    range: &TimeRange,
) -> Result<Vec<DayStats>, StoreError> {
    store.read(|conn| {
        // The rows only; they are counted in Rust (`Tally`): SQLite's JSON
        // functions over every record took 10 s for a million of them.
        let mut stmt = conn.prepare_cached(
            "SELECT substr(event_time, 1, 10), body FROM records
             WHERE site_id = ?1 AND event IN ('given', 'updated')
               AND event_time >= ?2 AND event_time < ?3",
        )?;
        let (from, to) = range.column_bounds();
        let mut rows = stmt.query(params![site.as_str(), from, to])?;
        let mut tally = Tally::default();
        while let Some(row) = rows.next()? {
            let day = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let body = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            tally.add(day, body)?;
        }
        Ok(tally.finish())
    })
}
