//! Per-day decision counts for the owner's stats.

use crumb_schema::SiteId;
use rusqlite::params;

use super::SqliteStore;
use crate::storage::{DayStats, StoreError, TimeRange};

pub(super) fn stats(
    store: &SqliteStore,
    site: &SiteId,
    range: &TimeRange,
) -> Result<Vec<DayStats>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT substr(event_time, 1, 10) AS day, count(*),
               sum(EXISTS (SELECT 1 FROM json_each(body, '$.categories_granted') WHERE value = 'functional')),
               sum(EXISTS (SELECT 1 FROM json_each(body, '$.categories_granted') WHERE value = 'analytics')),
               sum(EXISTS (SELECT 1 FROM json_each(body, '$.categories_granted') WHERE value = 'marketing')),
               sum(json_extract(body, '$.method') = 'accept_all'),
               sum(json_extract(body, '$.method') = 'reject_all'),
               sum(json_extract(body, '$.method') = 'custom'),
               sum(json_extract(body, '$.method') = 'gpc')
             FROM records
             WHERE site_id = ?1 AND event IN ('given', 'updated')
               AND event_time >= ?2 AND event_time < ?3
             GROUP BY day ORDER BY day",
        )?;
        let (from, to) = range.column_bounds();
        let rows = stmt.query_map(params![site.as_str(), from, to], |r| {
            let n = |i| r.get::<_, i64>(i).map(i64::unsigned_abs);
            Ok(DayStats {
                day: r.get(0)?,
                decisions: n(1)?,
                allowed: [n(2)?, n(3)?, n(4)?],
                methods: [n(5)?, n(6)?, n(7)?, n(8)?],
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    })
}
