//! The consent log: appends to each site's hash chain, reads of records
//! and heads, exports, purges and their checkpoints.

use crumb_schema::{ConsentId, RecordHash, SiteId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use time::OffsetDateTime;

use super::{SqliteStore, WriteSide};
use crate::lifecycle;
use crate::metrics::{Laps, Phase};
use crate::record::Record;
use crate::signing::{PublicKey, SignedHead};
use crate::storage::{AppendError, AppendResult, Draft, StoreError, TimeRange, stored_checkpoint};
use crate::timefmt;
use crate::timefmt::Timestamp;

fn latest_in(conn: &Connection, consent: &ConsentId) -> Result<Option<Record>, StoreError> {
    one_record(
        conn,
        "SELECT body, hash FROM records WHERE consent_id = ?1 ORDER BY id DESC LIMIT 1",
        consent.as_str(),
    )
}

/// The record whose `body, hash` `sql` selects with `key` bound to `?1`.
fn one_record(conn: &Connection, sql: &str, key: &str) -> Result<Option<Record>, StoreError> {
    let row: Option<(String, String)> = conn
        .prepare_cached(sql)?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(body, hash)| {
        Record::from_stored(body, &hash).map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// The last position and hash of a site's chain: its newest record, else
/// (every record purged) its newest checkpoint.
fn chain_head(conn: &Connection, site: &SiteId) -> Result<lifecycle::Head, StoreError> {
    let head: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM records WHERE site_id = ?1
             UNION ALL
             SELECT seq, hash FROM checkpoints WHERE site_id = ?1
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([site.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match head {
        Some((seq, hash)) => Ok((
            seq.unsigned_abs(),
            RecordHash::parse(&hash).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        )),
        None => Ok((0, RecordHash::genesis())),
    }
}

/// What an idempotency key already stands for in `site`: the record a
/// retry of the same request gets back, or `KeyReused` for another
/// request; `None` for a new key.
fn keyed(
    tx: &Transaction<'_>,
    site: &SiteId,
    idem: &crate::storage::Idempotency,
) -> Result<Option<AppendError>, StoreError> {
    let row: Option<(String, String, String)> = tx
        .prepare_cached(
            "SELECT i.request_hash, r.body, r.hash FROM idempotency i
             JOIN records r ON r.id = i.record_id
             WHERE i.site_id = ?1 AND i.key = ?2",
        )?
        .query_row([site.as_str(), idem.key.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((request_hash, body, hash)) = row else {
        return Ok(None);
    };
    if request_hash != idem.request_hash.as_str() {
        return Ok(Some(AppendError::KeyReused));
    }
    let record =
        Record::from_stored(body, &hash).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(AppendError::Replayed(Box::new(record))))
}

/// The newest record of the consent `draft` names, if it names one: what
/// the rules ([`lifecycle::next_record`]) need to read.
fn previous_of(tx: &Transaction<'_>, draft: &Draft) -> Result<Option<Record>, StoreError> {
    Ok(draft
        .named_consent()
        .map(|id| latest_in(tx, id))
        .transpose()?
        .flatten())
}

pub(super) fn latest_record(
    store: &SqliteStore,
    consent: &ConsentId,
) -> Result<Option<Record>, StoreError> {
    store.read(|conn| latest_in(conn, consent))
}

pub(super) fn newest_site_record(
    store: &SqliteStore,
    site: &SiteId,
) -> Result<Option<Record>, StoreError> {
    store.read(|conn| {
        one_record(
            conn,
            "SELECT body, hash FROM records WHERE site_id = ?1 ORDER BY seq DESC LIMIT 1",
            site.as_str(),
        )
    })
}

pub(super) fn append(
    store: &SqliteStore,
    drafts: &[Draft],
) -> Result<Vec<AppendResult>, StoreError> {
    let mut write = store.write.lock().unwrap();
    let WriteSide {
        conn,
        heads: cached,
    } = &mut *write;
    // Where the writer's time goes, for `/metrics` and the server bench.
    let mut laps = Laps::start();
    // IMMEDIATE: take the write lock up front (waiting for it with the
    // busy timeout) rather than upgrading a read half-way, which fails
    // at once when another connection wrote in between.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    laps.lap(Phase::Begin);
    let mut results = Vec::with_capacity(drafts.len());
    // Each site's chain head, carried along in memory from batch to
    // batch while this connection is the only writer (the write lock
    // is held from here to the commit), else read once per batch.
    let data_version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    if cached.data_version != data_version {
        cached.heads.clear();
        cached.data_version = data_version;
    }
    let mut heads = std::mem::take(&mut cached.heads);
    if let Some(newest) = drafts
        .iter()
        .filter(|d| d.idempotency.is_some())
        .map(|d| d.event_time)
        .max()
    {
        // Keys are kept for a day.
        tx.prepare_cached("DELETE FROM idempotency WHERE created_at < ?1")?
            .execute([timefmt::format(newest - time::Duration::days(1))])?;
    }
    laps.lap(Phase::Idempotency);
    for draft in drafts {
        if let Some(idem) = &draft.idempotency
            && let Some(earlier) = keyed(&tx, &draft.site.id, idem)?
        {
            results.push(Err(earlier));
            laps.lap(Phase::Idempotency);
            continue;
        }
        laps.lap(Phase::Idempotency);
        let head = match heads.get(&draft.site.id) {
            Some(head) => head.clone(),
            None => chain_head(&tx, &draft.site.id)?,
        };
        laps.lap(Phase::ChainHead);
        let previous = previous_of(&tx, draft)?;
        laps.lap(Phase::Decide);
        let record = lifecycle::next_record(draft, previous.as_ref().map(|r| &r.body), head);
        laps.lap(Phase::Seal);
        let record = match record {
            Ok(record) => record,
            Err(refused) => {
                results.push(Err(refused));
                continue;
            }
        };
        tx.prepare_cached(
            "INSERT INTO records (site_id, seq, consent_id, event, event_time, body, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            record.body.site_id.as_str(),
            record.body.seq as i64,
            record.body.consent_id.as_str(),
            record.body.event.as_str(),
            record.body.event_time.to_string(),
            record.canonical,
            record.hash.as_str(),
        ])?;
        if let Some(idem) = &draft.idempotency {
            tx.prepare_cached(
                "INSERT INTO idempotency (site_id, key, request_hash, record_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                record.body.site_id.as_str(),
                idem.key.as_str(),
                idem.request_hash.as_str(),
                tx.last_insert_rowid(),
                record.body.event_time.to_string(),
            ])?;
        }
        heads.insert(
            record.body.site_id.clone(),
            (record.body.seq, record.hash.clone()),
        );
        results.push(Ok(record));
        laps.lap(Phase::Insert);
    }
    tx.commit()?;
    laps.lap(Phase::Commit);
    // Only a committed batch's heads are kept (an error above returns
    // early and leaves the cache empty, so the next batch reads them).
    // Our own commit does not change this connection's data_version.
    cached.heads = heads;
    Ok(results)
}

pub(super) fn history(
    store: &SqliteStore,
    site: &SiteId,
    consent: &ConsentId,
) -> Result<Vec<Record>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT body, hash FROM records WHERE consent_id = ?1 AND site_id = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map([consent.as_str(), site.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (body, hash) = row?;
            Record::from_stored(body, &hash).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
    })
}

pub(super) fn for_each_record(
    store: &SqliteStore,
    site: Option<&SiteId>,
    range: &TimeRange,
    f: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<u64, StoreError> {
    // On a connection of its own: an export lasts as long as its client
    // takes to read it.
    store.read_alone(|conn| {
        // One read transaction: the export is a consistent snapshot even
        // while the writer keeps appending.
        conn.execute_batch("BEGIN")?;
        let result = (|| {
            let (from, to) = range.column_bounds();
            let mut visit = Visit {
                n: 0,
                f,
                done: false,
            };
            if !range.is_bounded() {
                let mut stmt = conn.prepare(
                    "SELECT body, hash FROM records WHERE (?1 IS NULL OR site_id = ?1)
                     ORDER BY site_id, seq",
                )?;
                visit.rows(stmt.query(params![site.map(SiteId::as_str)])?)?;
                return Ok(visit.n);
            }
            // A bounded range is each site's stretch of the chain from its
            // first record in the range to its last (see `Store`), read in
            // chain order by the (site_id, seq) index.
            let mut stretches = match site {
                Some(_) => conn.prepare(
                    "SELECT site_id, min(seq), max(seq) FROM records
                     WHERE site_id = ?1 AND event_time >= ?2 AND event_time < ?3
                     GROUP BY site_id",
                )?,
                None => conn.prepare(
                    "SELECT site_id, min(seq), max(seq) FROM records
                     WHERE event_time >= ?2 AND event_time < ?3 AND ?1 IS NULL
                     GROUP BY site_id ORDER BY site_id",
                )?,
            };
            let stretches: Vec<(String, i64, i64)> = stretches
                .query_map(params![site.map(SiteId::as_str), from, to], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut stmt = conn.prepare(
                "SELECT body, hash FROM records WHERE site_id = ?1 AND seq BETWEEN ?2 AND ?3
                 ORDER BY seq",
            )?;
            for (site, first, last) in stretches {
                if visit.done {
                    break;
                }
                visit.rows(stmt.query(params![site, first, last])?)?;
            }
            Ok(visit.n)
        })();
        conn.execute_batch("COMMIT")?;
        result
    })
}

/// Hands rows of (body, hash) to a `for_each_record` caller until it says
/// stop.
struct Visit<'f> {
    n: u64,
    f: &'f mut dyn FnMut(&str, &str) -> bool,
    done: bool,
}

impl Visit<'_> {
    fn rows(&mut self, mut rows: rusqlite::Rows<'_>) -> Result<(), StoreError> {
        while let Some(row) = rows.next()? {
            let text = |i| -> Result<&str, StoreError> {
                row.get_ref(i)?
                    .as_str()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            };
            let (body, hash) = (text(0)?, text(1)?);
            self.n += 1;
            if !(self.f)(body, hash) {
                self.done = true;
                break;
            }
        }
        Ok(())
    }
}

pub(super) fn head(
    store: &SqliteStore,
    site: &SiteId,
) -> Result<Option<(u64, RecordHash)>, StoreError> {
    store.read(|conn| {
        let head = chain_head(conn, site)?;
        Ok((head.0 > 0).then_some(head))
    })
}

pub(super) fn purge(
    store: &SqliteStore,
    site: &SiteId,
    before: Timestamp,
    key: &crate::signing::Key,
    now: OffsetDateTime,
) -> Result<Option<(SignedHead, u64)>, StoreError> {
    let mut write = store.write.lock().unwrap();
    let WriteSide { conn, heads } = &mut *write;
    // A purge leaves each head where it was (its checkpoint is the last
    // purged record), but the cache need not rely on that.
    heads.heads.clear();
    // IMMEDIATE, as for appends: beside a running server, a read
    // transaction that upgrades to a write after the server committed
    // fails at once ("database is locked"); taking the write lock up
    // front waits for it instead (busy timeout).
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // The purge removes a prefix of the chain: everything before the
    // first record that is not old enough.
    let keep_from: Option<i64> = tx.query_row(
        "SELECT min(seq) FROM records WHERE site_id = ?1 AND event_time >= ?2",
        params![site.as_str(), before.to_string()],
        |r| r.get(0),
    )?;
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM records WHERE site_id = ?1 AND seq < ?2
             ORDER BY seq DESC LIMIT 1",
            params![site.as_str(), keep_from.unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((seq, hash)) = last else {
        return Ok(None);
    };
    // Idempotency keys of the purged records go with them (a retry of
    // those requests, days later, is a new request).
    tx.execute(
        "DELETE FROM idempotency WHERE record_id IN
           (SELECT id FROM records WHERE site_id = ?1 AND seq <= ?2)",
        params![site.as_str(), seq],
    )?;
    let deleted = tx.execute(
        "DELETE FROM records WHERE site_id = ?1 AND seq <= ?2",
        params![site.as_str(), seq],
    )?;
    let hash = RecordHash::parse(&hash).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let head = key.sign(site, seq.unsigned_abs(), &hash, Timestamp::at(now));
    tx.execute(
        "INSERT INTO checkpoints (site_id, seq, hash, created_at, public_key, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            site.as_str(),
            seq,
            head.hash.as_str(),
            head.signed_at.to_string(),
            head.public_key.as_str(),
            head.signature.as_str()
        ],
    )?;
    tx.commit()?;
    Ok(Some((head, deleted as u64)))
}

pub(super) fn checkpoints(
    store: &SqliteStore,
    site: &SiteId,
) -> Result<Vec<SignedHead>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, hash, created_at, public_key, signature FROM checkpoints
             WHERE site_id = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query([site.as_str()])?;
        let mut heads = Vec::new();
        while let Some(r) = rows.next()? {
            let text = |i| r.get::<_, String>(i);
            heads.push(stored_checkpoint(
                site,
                r.get::<_, i64>(0)?.unsigned_abs(),
                &text(1)?,
                &text(2)?,
                &text(3)?,
                &text(4)?,
            )?);
        }
        Ok(heads)
    })
}

pub(super) fn record_count(store: &SqliteStore) -> Result<u64, StoreError> {
    store.read(|conn| {
        let n: i64 = conn.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?;
        Ok(n.unsigned_abs())
    })
}

pub(super) fn log_key(store: &SqliteStore) -> Result<Option<PublicKey>, StoreError> {
    store.read(|conn| {
        let key: Option<String> = conn
            .query_row("SELECT public_key FROM log_key", [], |r| r.get(0))
            .optional()?;
        key.map(|k| PublicKey::parse(&k).map_err(StoreError::Corrupt))
            .transpose()
    })
}

pub(super) fn record_log_key(
    store: &SqliteStore,
    key: &PublicKey,
    at: OffsetDateTime,
    replace: bool,
) -> Result<PublicKey, StoreError> {
    let mut write = store.write.lock().unwrap();
    let tx = write
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let on_conflict = if replace {
        "DO UPDATE SET public_key = excluded.public_key, recorded_at = excluded.recorded_at"
    } else {
        "DO NOTHING"
    };
    tx.execute(
        &format!(
            "INSERT INTO log_key (id, public_key, recorded_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) {on_conflict}"
        ),
        params![key.as_str(), timefmt::format(at)],
    )?;
    let recorded: String = tx.query_row("SELECT public_key FROM log_key", [], |r| r.get(0))?;
    tx.commit()?;
    PublicKey::parse(&recorded).map_err(StoreError::Corrupt)
}

pub(super) fn logged_sites(store: &SqliteStore) -> Result<Vec<SiteId>, StoreError> {
    store.read(|conn| {
        // One index probe per site (`UNIQUE (site_id, seq)`), not a scan
        // of every record: each step asks for the next site id after the
        // last one found.
        let mut stmt = conn.prepare_cached(
            "WITH RECURSIVE found(id) AS (
                 SELECT min(site_id) FROM records
                 UNION ALL
                 SELECT (SELECT min(site_id) FROM records WHERE site_id > found.id)
                 FROM found WHERE found.id IS NOT NULL
             )
             SELECT id FROM found WHERE id IS NOT NULL
             UNION SELECT site_id FROM checkpoints
             ORDER BY 1",
        )?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.map(|id| SiteId::parse(&id?).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    })
}
