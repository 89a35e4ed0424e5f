//! Per-day decision counts for the owner's stats.

use crumb_schema::SiteId;
use deadpool_postgres::GenericClient;

use super::PostgresStore;
use crate::storage::{DayStats, StoreError, TimeRange};

pub(super) fn stats(
    store: &PostgresStore,
    site: &SiteId,
    range: &TimeRange,
) -> Result<Vec<DayStats>, StoreError> {
    let (from, to) = range.column_bounds();
    store.run(|c| async move {
        let rows = c
            .query(
                "SELECT substr(event_time, 1, 10) AS day, count(*),
                   count(*) FILTER (WHERE b->'categories_granted' ? 'functional'),
                   count(*) FILTER (WHERE b->'categories_granted' ? 'analytics'),
                   count(*) FILTER (WHERE b->'categories_granted' ? 'marketing'),
                   count(*) FILTER (WHERE b->>'method' = 'accept_all'),
                   count(*) FILTER (WHERE b->>'method' = 'reject_all'),
                   count(*) FILTER (WHERE b->>'method' = 'custom'),
                   count(*) FILTER (WHERE b->>'method' = 'gpc')
                 FROM (SELECT event_time, body::jsonb AS b FROM records
                       WHERE site_id = $1 AND event IN ('given', 'updated')
                         AND event_time >= $2 AND event_time < $3) r
                 GROUP BY day ORDER BY day",
                &[&site.as_str(), &from, &to],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let n = |i| r.get::<_, i64>(i).unsigned_abs();
                DayStats {
                    day: r.get(0),
                    decisions: n(1),
                    allowed: [n(2), n(3), n(4)],
                    methods: [n(5), n(6), n(7), n(8)],
                }
            })
            .collect())
    })
}
