//! The owner's per-day decision counts, with the days that can no longer
//! change counted once per node.
//!
//! Counting reads every record body of the range (about 1.75 s for a
//! million records on SQLite, 4.5 s on PostgreSQL), and the owner's page
//! asks for the whole log each time it opens. But a day's records only
//! ever grow while the day is current: the log is append-only, records
//! take the writing node's clock as their time, and only a purge removes
//! records. So each node keeps the counts of a site's closed days (those
//! ended more than a day ago, which leaves a day for nodes whose clocks
//! disagree) from the start of the log, and reads only the days after
//! them, plus the partial days at the ends of a range. A purge adds a
//! checkpoint to the site's chain; a node that sees another number of
//! checkpoints than it counted under counts again.

use std::collections::HashMap;
use std::sync::Mutex;

use crumb_schema::SiteId;
use time::{Date, Duration, OffsetDateTime};

use crate::storage::{DayStats, Store, StoreError, TimeRange};
use crate::timefmt::Timestamp;

/// The closed days' counts of each site seen, on this node.
#[derive(Debug, Default)]
pub struct StatsCache {
    sites: Mutex<HashMap<SiteId, Closed>>,
}

/// A site's counts for every day of its log before `through`.
#[derive(Debug, Clone)]
struct Closed {
    /// How many purge checkpoints the site had when these were counted.
    purges: usize,
    through: Date,
    /// Only days with decisions, oldest first.
    days: Vec<DayStats>,
}

/// More sites than a node keeps counts for: past it, the cache starts
/// afresh (a day's counts take about 100 bytes, a site's two years 73 KB).
const MAX_SITES: usize = 1024;

impl StatsCache {
    /// The site's counts for `range`, as [`Store::stats`] gives them, with
    /// the whole closed days inside the range taken from the cache. Does
    /// blocking I/O: call it off the async workers.
    pub fn stats(
        &self,
        store: &dyn Store,
        site: &SiteId,
        range: &TimeRange,
        now: OffsetDateTime,
    ) -> Result<Vec<DayStats>, StoreError> {
        // Days before `cutoff` are closed.
        let cutoff = now.date() - Duration::days(1);
        let plan = Plan::new(range, cutoff);
        let Some(Plan {
            whole,
            before,
            after,
        }) = plan
        else {
            return store.stats(site, range);
        };
        let mut out = match before {
            Some(part) => store.stats(site, &part)?,
            None => Vec::new(),
        };
        let closed = self.closed(store, site, cutoff)?;
        let (from, to) = (whole.0.map(day_text), day_text(whole.1));
        out.extend(
            closed
                .days
                .into_iter()
                .filter(|d| from.as_ref().is_none_or(|f| d.day >= *f) && d.day < to),
        );
        out.extend(store.stats(site, &after)?);
        Ok(out)
    }

    /// The site's counts for every day before `cutoff`, read from the log
    /// only for the days not counted yet.
    fn closed(&self, store: &dyn Store, site: &SiteId, cutoff: Date) -> Result<Closed, StoreError> {
        // Read before the counts: a purge after this read makes the next
        // request count again, whichever counts this one keeps.
        let purges = store.checkpoints(site)?.len();
        let kept = self
            .sites
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(site)
            .filter(|c| c.purges == purges)
            .cloned();
        let closed = match kept {
            Some(c) if c.through >= cutoff => return Ok(c),
            Some(mut c) => {
                let more = range(Some(c.through), cutoff);
                c.days.extend(store.stats(site, &more)?);
                c.through = cutoff;
                c
            }
            None => Closed {
                purges,
                through: cutoff,
                days: store.stats(site, &range(None, cutoff))?,
            },
        };
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        if sites.len() >= MAX_SITES && !sites.contains_key(site) {
            sites.clear();
        }
        // Another request may have counted further meanwhile; keep the
        // further counts.
        let further = sites
            .get(site)
            .is_some_and(|c| c.purges == purges && c.through > closed.through);
        if !further {
            sites.insert(site.clone(), closed.clone());
        }
        Ok(closed)
    }
}

/// The categories the counts say were allowed, and the methods, in the
/// order of [`DayStats`]'s arrays.
pub const ALLOWED: [&str; 3] = ["functional", "analytics", "marketing"];
pub const METHODS: [&str; 4] = ["accept_all", "reject_all", "custom", "gpc"];

/// How many of a day's decisions allowed a category, and their share.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CategoryShare {
    count: u64,
    /// From 0 to 1 (0 on a day without decisions).
    share: f64,
}

/// One day's decisions (given or updated consents).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct StatsDay<'a> {
    /// The UTC date, `2026-01-31`.
    day: &'a str,
    decisions: u64,
    /// By category: `functional`, `analytics`, `marketing`.
    allowed: std::collections::BTreeMap<&'static str, CategoryShare>,
    /// By method: `accept_all`, `reject_all`, `custom`, `gpc`.
    methods: std::collections::BTreeMap<&'static str, u64>,
}

/// A site's decisions per day, oldest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SiteStats<'a> {
    site_id: &'a SiteId,
    days: Vec<StatsDay<'a>>,
}

/// The site's counts as `GET .../stats` and `crumb stats --json` give
/// them: per day, the decisions, the share that allowed each category,
/// and the split by method.
pub fn answer<'a>(site: &'a SiteId, days: &'a [DayStats]) -> SiteStats<'a> {
    let out: Vec<StatsDay<'_>> = days
        .iter()
        .map(|d| {
            let share = |count: u64| CategoryShare {
                count,
                share: if d.decisions == 0 {
                    0.0
                } else {
                    count as f64 / d.decisions as f64
                },
            };
            StatsDay {
                day: &d.day,
                decisions: d.decisions,
                allowed: ALLOWED
                    .into_iter()
                    .zip(d.allowed)
                    .map(|(k, c)| (k, share(c)))
                    .collect(),
                methods: METHODS.into_iter().zip(d.methods).collect(),
            }
        })
        .collect();
    SiteStats {
        site_id: site,
        days: out,
    }
}

/// How a range splits: the partial day before its first midnight, the
/// closed whole days (from the cache), and the rest up to its end.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// The first and past-the-last whole closed day; `None`: from the
    /// start of the log.
    whole: (Option<Date>, Date),
    before: Option<TimeRange>,
    after: TimeRange,
}

impl Plan {
    /// `None` when the range holds no whole closed day.
    fn new(range: &TimeRange, cutoff: Date) -> Option<Plan> {
        let first = range.from.map(|f| {
            let day = f.get().date();
            if f.get() == midnight(day).get() {
                day
            } else {
                day.next_day().unwrap_or(day)
            }
        });
        let end = range.to.map_or(cutoff, |t| t.get().date().min(cutoff));
        if first.is_some_and(|f| f >= end) {
            return None;
        }
        let before = match (range.from, first) {
            (Some(from), Some(first)) if from < midnight(first) => Some(TimeRange {
                from: Some(from),
                to: Some(midnight(first)),
            }),
            _ => None,
        };
        Some(Plan {
            whole: (first, end),
            before,
            after: TimeRange {
                from: Some(midnight(end)),
                to: range.to,
            },
        })
    }
}

fn midnight(day: Date) -> Timestamp {
    Timestamp::at(day.midnight().assume_utc())
}

/// The days `[from, to)`; `None`: from the start of the log.
fn range(from: Option<Date>, to: Date) -> TimeRange {
    TimeRange {
        from: from.map(midnight),
        to: Some(midnight(to)),
    }
}

/// A day as [`DayStats::day`] names it.
fn day_text(day: Date) -> String {
    midnight(day).to_string()[..10].to_owned()
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn at(t: OffsetDateTime) -> Option<Timestamp> {
        Some(Timestamp::at(t))
    }

    #[test]
    fn a_range_splits_into_its_partial_first_day_the_closed_days_and_the_rest() {
        let cutoff = date!(2026 - 03 - 10);
        // The whole log: every closed day from the cache, then the rest.
        assert_eq!(
            Plan::new(&TimeRange::all(), cutoff),
            Some(Plan {
                whole: (None, cutoff),
                before: None,
                after: TimeRange {
                    from: at(datetime!(2026-03-10 0:00 UTC)),
                    to: None,
                },
            })
        );
        // From within a day to within a closed day: both partial days are
        // read.
        let range = TimeRange {
            from: at(datetime!(2026-03-01 12:30 UTC)),
            to: at(datetime!(2026-03-05 08:00 UTC)),
        };
        assert_eq!(
            Plan::new(&range, cutoff),
            Some(Plan {
                whole: (Some(date!(2026 - 03 - 02)), date!(2026 - 03 - 05)),
                before: Some(TimeRange {
                    from: at(datetime!(2026-03-01 12:30 UTC)),
                    to: at(datetime!(2026-03-02 0:00 UTC)),
                }),
                after: TimeRange {
                    from: at(datetime!(2026-03-05 0:00 UTC)),
                    to: at(datetime!(2026-03-05 08:00 UTC)),
                },
            })
        );
        // From a midnight: nothing partial before it.
        let range = TimeRange {
            from: at(datetime!(2026-03-01 0:00 UTC)),
            to: None,
        };
        assert_eq!(Plan::new(&range, cutoff).unwrap().before, None);
        // Within one day, or only days that are not closed yet: no whole
        // closed day, so the log is read for all of it.
        let range = TimeRange {
            from: at(datetime!(2026-03-01 10:00 UTC)),
            to: at(datetime!(2026-03-01 20:00 UTC)),
        };
        assert_eq!(Plan::new(&range, cutoff), None);
        let range = TimeRange {
            from: at(datetime!(2026-03-09 0:00 UTC)),
            to: None,
        };
        assert_eq!(Plan::new(&range, date!(2026 - 03 - 09)), None);
    }

    #[test]
    fn days_are_named_as_the_counts_name_them() {
        assert_eq!(day_text(date!(2026 - 03 - 09)), "2026-03-09");
    }
}
