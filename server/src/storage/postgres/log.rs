//! The consent log: appends to each site's hash chain, reads of records
//! and heads, exports, purges and their checkpoints.

use std::collections::HashMap;

use crumb_schema::{ConsentId, RecordHash, SiteId};
use deadpool_postgres::GenericClient;
use futures_util::future::{try_join, try_join4};
use time::OffsetDateTime;

use super::{Client, FETCH, PostgresStore, corrupt, hash_at};
use crate::lifecycle;
use crate::metrics::{Laps, Phase};
use crate::record::{GENESIS_HASH, Record};
use crate::signing::{PublicKey, SignedHead};
use crate::storage::{
    AppendError, AppendResult, Draft, Idempotency, StoreError, TimeRange, stored_checkpoint,
};
use crate::timefmt;
use crate::timefmt::Timestamp;

fn record_from(row: &tokio_postgres::Row) -> Result<Record, StoreError> {
    Record::from_stored(row.get(0), row.get(1)).map_err(corrupt)
}

async fn latest_in(
    c: &impl GenericClient,
    consent: &ConsentId,
) -> Result<Option<Record>, StoreError> {
    // A consent's records are all on one site, so its chain order is theirs.
    let stmt = c
        .prepare_cached(
            "SELECT body, hash FROM records WHERE consent_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .await?;
    c.query_opt(&stmt, &[&consent.as_str()])
        .await?
        .map(|row| record_from(&row))
        .transpose()
}

/// The idempotency keys a batch names: those stored (with what they were
/// used for) and those the batch itself assigns as it goes.
#[derive(Default)]
struct Keys {
    /// (site, key) → (request hash, the record it made).
    known: HashMap<(String, String), (String, Record)>,
}

impl Keys {
    async fn read(&mut self, tx: &impl GenericClient, drafts: &[Draft]) -> Result<(), StoreError> {
        let (sites, keys): (Vec<&str>, Vec<&str>) = drafts
            .iter()
            .filter_map(|d| Some((d.site.id.as_str(), d.idempotency.as_ref()?.key.as_str())))
            .unzip();
        let stmt = tx
            .prepare_cached(
                "SELECT i.site_id, i.key, i.request_hash, r.body, r.hash
                 FROM unnest($1::text[], $2::text[]) AS k(site_id, key)
                 JOIN idempotency i ON i.site_id = k.site_id AND i.key = k.key
                 JOIN records r ON r.id = i.record_id",
            )
            .await?;
        for row in tx.query(&stmt, &[&sites, &keys]).await? {
            let record = Record::from_stored(row.get(3), row.get(4)).map_err(corrupt)?;
            self.known
                .insert((row.get(0), row.get(1)), (row.get(2), record));
        }
        Ok(())
    }

    /// What the key already stands for: the record a retry of the same
    /// request gets back, or `KeyReused` for another request.
    fn earlier(&self, site: &str, idem: &Idempotency) -> Option<AppendError> {
        let (request_hash, record) = self
            .known
            .get(&(site.to_owned(), idem.key.as_str().to_owned()))?;
        Some(if request_hash == idem.request_hash.as_str() {
            AppendError::Replayed(Box::new(record.clone()))
        } else {
            AppendError::KeyReused
        })
    }

    fn written(&mut self, site: &str, idem: &Idempotency, record: &Record) {
        self.known.insert(
            (site.to_owned(), idem.key.as_str().to_owned()),
            (idem.request_hash.as_str().to_owned(), record.clone()),
        );
    }
}

/// The newest stored record of every consent the batch names, by consent
/// id (of any site: the rules check the site).
async fn newest_records(
    tx: &impl GenericClient,
    drafts: &[Draft],
) -> Result<HashMap<String, crate::record::RecordBody>, StoreError> {
    let named: Vec<&str> = drafts
        .iter()
        .filter_map(Draft::named_consent)
        .map(ConsentId::as_str)
        .collect();
    if named.is_empty() {
        return Ok(HashMap::new());
    }
    let stmt = tx
        .prepare_cached(
            "SELECT DISTINCT ON (consent_id) consent_id, body, hash FROM records
             WHERE consent_id = ANY($1::text[]) ORDER BY consent_id, seq DESC",
        )
        .await?;
    tx.query(&stmt, &[&named])
        .await?
        .iter()
        .map(|row| {
            let record = Record::from_stored(row.get(1), row.get(2)).map_err(corrupt)?;
            Ok((row.get(0), record.body))
        })
        .collect()
}

/// Ends an append's transaction without waiting for the disk, then waits
/// for it. The append commits with `synchronous_commit = off` (set when it
/// begins), which releases the chain heads' locks as soon as its commit
/// record is in the WAL: another node's batch for the same site takes the
/// lock while this one's flush is under way, and the two flushes can be
/// one. The transaction after it writes one WAL record of its own (a
/// transactional logical-decoding message, which any role may emit and
/// which gives the transaction an id), so its commit at the session's own
/// setting (`on` by default, or whatever the operator set, synchronous
/// standbys included) waits until the WAL is durable up to its commit
/// record, which comes after this batch's and after every commit this
/// batch read. (A transaction that only takes an id writes no WAL before
/// its commit record, and PostgreSQL commits those without a flush: the
/// crash check in `cargo xtask test` lost acknowledged writes that way.)
/// So when this returns, the batch and everything it built on is as
/// durable as a synchronous commit would have made it, and only then are
/// the records answered. Other sessions can read the batch a moment
/// before it is durable; a crash in that moment loses it with everything
/// after it in the WAL, none of it acknowledged.
const COMMIT_THEN_FLUSH: &str =
    "COMMIT; BEGIN; SELECT pg_logical_emit_message(true, 'crumb-flush', ''); COMMIT";

/// Writes a batch's records, their idempotency keys and the sites' new
/// heads (one statement each) and commits, all sent at once: the server
/// runs them in order, and if one fails the transaction is aborted, the
/// COMMIT only ends it, and the failure is what this returns.
async fn write_and_commit(
    c: &Client,
    written: &[(Record, Option<&Idempotency>)],
    heads: &HashMap<String, lifecycle::Head>,
) -> Result<(), StoreError> {
    if written.is_empty() {
        c.batch_execute(COMMIT_THEN_FLUSH).await?;
        return Ok(());
    }
    let insert = c
        .prepare_cached(
            "INSERT INTO records (site_id, seq, consent_id, event, event_time, body, hash)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])",
        )
        .await?;
    let remember = c
        .prepare_cached(
            "INSERT INTO idempotency (site_id, key, request_hash, record_id, created_at)
             SELECT k.site_id, k.key, k.request_hash, r.id, k.created_at
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
               AS k(site_id, key, request_hash, seq, created_at)
             JOIN records r ON r.site_id = k.site_id AND r.seq = k.seq",
        )
        .await?;
    let advance = c
        .prepare_cached(
            "UPDATE chain_heads h SET seq = u.seq, hash = u.hash
             FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(site_id, seq, hash)
             WHERE h.site_id = u.site_id",
        )
        .await?;

    let records = || written.iter().map(|(r, _)| r);
    let text = |f: &dyn Fn(&Record) -> &str| records().map(f).collect::<Vec<&str>>();
    let seqs: Vec<i64> = records().map(|r| r.body.seq as i64).collect();
    let times: Vec<String> = records().map(|r| r.body.event_time.to_string()).collect();
    let (sites, consents, events) = (
        text(&|r| r.body.site_id.as_str()),
        text(&|r| r.body.consent_id.as_str()),
        text(&|r| r.body.event.as_str()),
    );
    let (bodies, hashes) = (text(&|r| &r.canonical), text(&|r| r.hash.as_str()));

    let keyed: Vec<(&Record, &Idempotency)> = written
        .iter()
        .filter_map(|(r, k)| Some((r, (*k)?)))
        .collect();
    let key_sites: Vec<&str> = keyed.iter().map(|(r, _)| r.body.site_id.as_str()).collect();
    let keys: Vec<&str> = keyed.iter().map(|(_, k)| k.key.as_str()).collect();
    let request_hashes: Vec<&str> = keyed.iter().map(|(_, k)| k.request_hash.as_str()).collect();
    let key_seqs: Vec<i64> = keyed.iter().map(|(r, _)| r.body.seq as i64).collect();
    let key_times: Vec<String> = keyed
        .iter()
        .map(|(r, _)| r.body.event_time.to_string())
        .collect();

    let mut moved: Vec<&str> = records().map(|r| r.body.site_id.as_str()).collect();
    moved.sort_unstable();
    moved.dedup();
    let head_seqs: Vec<i64> = moved.iter().map(|s| heads[*s].0 as i64).collect();
    let head_hashes: Vec<&str> = moved.iter().map(|s| heads[*s].1.as_str()).collect();

    let remembered = async {
        if keyed.is_empty() {
            return Ok(0);
        }
        c.execute(
            &remember,
            &[&key_sites, &keys, &request_hashes, &key_seqs, &key_times],
        )
        .await
    };
    try_join4(
        c.execute(
            &insert,
            &[&sites, &seqs, &consents, &events, &times, &bodies, &hashes],
        ),
        remembered,
        c.execute(&advance, &[&moved, &head_seqs, &head_hashes]),
        c.batch_execute(COMMIT_THEN_FLUSH),
    )
    .await?;
    Ok(())
}

pub(super) fn seq_of(v: i64) -> u64 {
    v.unsigned_abs()
}

pub(super) fn latest_record(
    store: &PostgresStore,
    consent: &ConsentId,
) -> Result<Option<Record>, StoreError> {
    store.run(|c| async move { latest_in(&c, consent).await })
}

pub(super) fn newest_site_record(
    store: &PostgresStore,
    site: &SiteId,
) -> Result<Option<Record>, StoreError> {
    store.run(|c| async move {
        c.query_opt(
            "SELECT body, hash FROM records WHERE site_id = $1 ORDER BY seq DESC LIMIT 1",
            &[&site.as_str()],
        )
        .await?
        .map(|row| record_from(&row))
        .transpose()
    })
}

pub(super) fn append(
    store: &PostgresStore,
    drafts: &[Draft],
) -> Result<Vec<AppendResult>, StoreError> {
    store.run(|c| async move {
        let result = append_in(&c, drafts).await;
        if result.is_err() {
            // Nothing of a failed batch is stored; end its transaction so
            // the connection goes back to the pool clean (on a lost
            // connection this fails too, and the pool drops it).
            let _ = c.batch_execute("ROLLBACK").await;
        }
        result
    })
}

/// An append's transaction settings. The commit skips the flush (see
/// [`COMMIT_THEN_FLUSH`]). A node that dies holding its sites' chain
/// locks without closing its connection (power lost, network cut) would
/// leave them held until TCP keepalive finds it out, by default two hours,
/// and every other node's appends for those sites waiting as long: its
/// transaction is ended once idle for 5 s (an append's transaction is
/// never idle for more than a round trip), and a lock not granted within
/// 2 s is refused as busy, which the writer tries again a few times
/// before answering 503.
const BEGIN_APPEND: &str = "BEGIN; SET LOCAL synchronous_commit = off; \
     SET LOCAL idle_in_transaction_session_timeout = '5s'; SET LOCAL lock_timeout = '2s'";

/// One batch in one transaction. It costs a fixed number of round trips
/// whatever its size: BEGIN goes out with the lock of the batch's chain
/// heads, what the rules need is read in one query each (idempotency keys
/// and the consents' newest records, only when a draft names them), the
/// records are decided in memory in draft order, then the writes go out
/// with the COMMIT.
async fn append_in(c: &Client, drafts: &[Draft]) -> Result<Vec<AppendResult>, StoreError> {
    let mut laps = Laps::start();
    // Lock the chain head of every site in the batch, in site order (rows
    // are upserted in array order): the lock serialises this site's
    // appends across nodes until the commit. The upsert creates a new
    // site's head.
    let lock = c
        .prepare_cached(
            "INSERT INTO chain_heads (site_id, seq, hash)
             SELECT s, 0, $2 FROM unnest($1::text[]) AS s
             ON CONFLICT (site_id) DO UPDATE SET seq = chain_heads.seq
             RETURNING site_id, seq, hash",
        )
        .await?;
    let mut sites: Vec<&str> = drafts.iter().map(|d| d.site.id.as_str()).collect();
    sites.sort_unstable();
    sites.dedup();
    laps.lap(Phase::Begin);
    let ((), locked) = try_join(
        c.batch_execute(BEGIN_APPEND),
        c.query(&lock, &[&sites, &GENESIS_HASH]),
    )
    .await?;
    let mut heads: HashMap<String, lifecycle::Head> = HashMap::new();
    for row in locked {
        heads.insert(row.get(0), (seq_of(row.get(1)), hash_at(&row, 2)?));
    }
    laps.lap(Phase::ChainHead);
    let mut keys = Keys::default();
    if let Some(newest) = drafts
        .iter()
        .filter(|d| d.idempotency.is_some())
        .map(|d| d.event_time)
        .max()
    {
        // Keys are kept for a day.
        let cutoff = timefmt::format(newest - time::Duration::days(1));
        c.execute("DELETE FROM idempotency WHERE created_at < $1", &[&cutoff])
            .await?;
        keys.read(c, drafts).await?;
    }
    laps.lap(Phase::Idempotency);
    let mut latest = newest_records(c, drafts).await?;
    // Reading the newest records is `decide`, as on SQLite; the rules'
    // check in the loop below is charged to `seal`, with the hashing.
    laps.lap(Phase::Decide);
    let mut results = Vec::with_capacity(drafts.len());
    let mut written: Vec<(Record, Option<&Idempotency>)> = Vec::new();
    for draft in drafts {
        let site = draft.site.id.as_str();
        if let Some(idem) = &draft.idempotency
            && let Some(earlier) = keys.earlier(site, idem)
        {
            results.push(Err(earlier));
            continue;
        }
        let previous = draft.named_consent().and_then(|id| latest.get(id.as_str()));
        let head = heads[site].clone();
        let record = lifecycle::next_record(draft, previous, head);
        laps.lap(Phase::Seal);
        let record = match record {
            Ok(record) => record,
            Err(refused) => {
                results.push(Err(refused));
                continue;
            }
        };
        heads.insert(site.to_owned(), (record.body.seq, record.hash.clone()));
        latest.insert(record.body.consent_id.to_string(), record.body.clone());
        if let Some(idem) = &draft.idempotency {
            keys.written(site, idem, &record);
        }
        written.push((record.clone(), draft.idempotency.as_ref()));
        results.push(Ok(record));
        laps.lap(Phase::Insert);
    }
    // The writes and the COMMIT share their round trip, so their time is
    // all charged to `commit`.
    write_and_commit(c, &written, &heads).await?;
    laps.lap(Phase::Commit);
    Ok(results)
}

pub(super) fn record_count(store: &PostgresStore) -> Result<u64, StoreError> {
    store.run(|c| async move {
        let n: i64 = c
            .query_one("SELECT count(*) FROM records", &[])
            .await?
            .get(0);
        Ok(n.unsigned_abs())
    })
}

pub(super) fn history(
    store: &PostgresStore,
    site: &SiteId,
    consent: &ConsentId,
) -> Result<Vec<Record>, StoreError> {
    store.run(|c| async move {
        let stmt = c
            .prepare_cached(
                "SELECT body, hash FROM records WHERE consent_id = $1 AND site_id = $2
                 ORDER BY seq",
            )
            .await?;
        c.query(&stmt, &[&consent.as_str(), &site.as_str()])
            .await?
            .iter()
            .map(record_from)
            .collect()
    })
}

pub(super) fn for_each_record(
    store: &PostgresStore,
    site: Option<&SiteId>,
    range: &TimeRange,
    f: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<u64, StoreError> {
    // `f` may block (an export writes to a channel), so it runs here,
    // between fetches, never inside the runtime. One REPEATABLE READ
    // transaction is one snapshot; the portal is a server-side cursor,
    // fetched FETCH rows at a time, so memory stays constant.
    let mut client = store.block_on(store.pool.get())?;
    let tx = store.block_on(
        client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start(),
    )?;
    let site = site.map(SiteId::as_str);
    let (from, to) = range.column_bounds();
    // A bounded range is each site's stretch of the chain from its first
    // record in the range to its last (see `Store`), read in chain order
    // by the (site_id, seq) index.
    let stretches: Vec<(String, i64, i64)> = if range.is_bounded() {
        store
            .block_on(tx.query(
                "SELECT site_id, min(seq), max(seq) FROM records
                 WHERE ($1::text IS NULL OR site_id = $1) AND event_time >= $2 AND event_time < $3
                 GROUP BY site_id ORDER BY site_id",
                &[&site, &from, &to],
            ))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    } else {
        Vec::new()
    };
    let mut portals = Vec::new();
    store.block_on(async {
        if range.is_bounded() {
            let stmt = tx
                .prepare(
                    "SELECT body, hash FROM records WHERE site_id = $1 AND seq BETWEEN $2 AND $3
                     ORDER BY seq",
                )
                .await?;
            for (site, first, last) in &stretches {
                portals.push(tx.bind(&stmt, &[site, first, last]).await?);
            }
        } else {
            let stmt = tx
                .prepare(
                    "SELECT body, hash FROM records WHERE ($1::text IS NULL OR site_id = $1)
                     ORDER BY site_id, seq",
                )
                .await?;
            portals.push(tx.bind(&stmt, &[&site]).await?);
        }
        Ok::<_, tokio_postgres::Error>(())
    })?;
    let mut n = 0;
    'fetch: for portal in &portals {
        loop {
            let rows = store.block_on(tx.query_portal(portal, FETCH))?;
            for row in &rows {
                n += 1;
                if !f(row.get(0), row.get(1)) {
                    break 'fetch;
                }
            }
            if rows.len() < FETCH as usize {
                break;
            }
        }
    }
    store.block_on(tx.commit())?;
    Ok(n)
}

pub(super) fn head(
    store: &PostgresStore,
    site: &SiteId,
) -> Result<Option<(u64, RecordHash)>, StoreError> {
    store.run(|c| async move {
        let row = c
            .query_opt(
                "SELECT seq, hash FROM chain_heads WHERE site_id = $1 AND seq > 0",
                &[&site.as_str()],
            )
            .await?;
        row.map(|r| Ok((seq_of(r.get(0)), hash_at(&r, 1)?)))
            .transpose()
    })
}

pub(super) fn purge(
    store: &PostgresStore,
    site: &SiteId,
    before: Timestamp,
    key: &crate::signing::Key,
    now: OffsetDateTime,
) -> Result<Option<(SignedHead, u64)>, StoreError> {
    store.run(|mut c| async move {
        let tx = c.transaction().await?;
        // As for appends: a purge whose process died holding the lock
        // does not hold it for hours.
        tx.batch_execute("SET LOCAL idle_in_transaction_session_timeout = '5s'")
            .await?;
        // The head's lock keeps purges of one site (from any node) in
        // turn; appends wait for it as long as this transaction, or until
        // their lock timeout refuses them as busy (a long purge: 503s).
        tx.execute(
            "SELECT 1 FROM chain_heads WHERE site_id = $1 FOR UPDATE",
            &[&site.as_str()],
        )
        .await?;
        let keep_from: Option<i64> = tx
            .query_one(
                "SELECT min(seq) FROM records WHERE site_id = $1 AND event_time >= $2",
                &[&site.as_str(), &before.to_string()],
            )
            .await?
            .get(0);
        let last = tx
            .query_opt(
                "SELECT seq, hash FROM records WHERE site_id = $1 AND seq < $2
                 ORDER BY seq DESC LIMIT 1",
                &[&site.as_str(), &keep_from.unwrap_or(i64::MAX)],
            )
            .await?;
        let Some(last) = last else {
            return Ok(None);
        };
        let (seq, hash): (i64, String) = (last.get(0), last.get(1));
        tx.execute(
            "DELETE FROM idempotency WHERE record_id IN
               (SELECT id FROM records WHERE site_id = $1 AND seq <= $2)",
            &[&site.as_str(), &seq],
        )
        .await?;
        let deleted = tx
            .execute(
                "DELETE FROM records WHERE site_id = $1 AND seq <= $2",
                &[&site.as_str(), &seq],
            )
            .await?;
        let hash = RecordHash::parse(&hash).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let head = key.sign(site, seq_of(seq), &hash, Timestamp::at(now));
        tx.execute(
            "INSERT INTO checkpoints (site_id, seq, hash, created_at, public_key, signature)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &site.as_str(),
                &seq,
                &head.hash.as_str(),
                &head.signed_at.to_string(),
                &head.public_key.as_str(),
                &head.signature.as_str(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some((head, deleted)))
    })
}

pub(super) fn checkpoints(
    store: &PostgresStore,
    site: &SiteId,
) -> Result<Vec<SignedHead>, StoreError> {
    store.run(|c| async move {
        let rows = c
            .query(
                "SELECT seq, hash, created_at, public_key, signature FROM checkpoints
                 WHERE site_id = $1 ORDER BY seq",
                &[&site.as_str()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                stored_checkpoint(
                    site,
                    seq_of(r.get(0)),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                )
            })
            .collect()
    })
}

pub(super) fn log_key(store: &PostgresStore) -> Result<Option<PublicKey>, StoreError> {
    store.run(|c| async move {
        let row = c.query_opt("SELECT public_key FROM log_key", &[]).await?;
        row.map(|r| PublicKey::parse(r.get(0)).map_err(StoreError::Corrupt))
            .transpose()
    })
}

pub(super) fn record_log_key(
    store: &PostgresStore,
    key: &PublicKey,
    at: OffsetDateTime,
    replace: bool,
) -> Result<PublicKey, StoreError> {
    let on_conflict = if replace {
        "DO UPDATE SET public_key = excluded.public_key, recorded_at = excluded.recorded_at"
    } else {
        "DO NOTHING"
    };
    store.run(|c| async move {
        // Two statements in one transaction: when another node's insert
        // wins, the select sees the key it recorded.
        let mut c = c;
        let tx = c.transaction().await?;
        tx.execute(
            &format!(
                "INSERT INTO log_key (id, public_key, recorded_at) VALUES (1, $1, $2)
                 ON CONFLICT (id) {on_conflict}"
            ),
            &[&key.as_str(), &timefmt::format(at)],
        )
        .await?;
        let recorded = tx.query_one("SELECT public_key FROM log_key", &[]).await?;
        let recorded = PublicKey::parse(recorded.get(0)).map_err(StoreError::Corrupt);
        tx.commit().await?;
        recorded
    })
}

pub(super) fn logged_sites(store: &PostgresStore) -> Result<Vec<SiteId>, StoreError> {
    store.run(|c| async move {
        // Every chain has its head's row, a fully purged one too.
        let rows = c
            .query("SELECT site_id FROM chain_heads ORDER BY site_id", &[])
            .await?;
        rows.iter()
            .map(|r| SiteId::parse(r.get(0)).map_err(corrupt))
            .collect()
    })
}
