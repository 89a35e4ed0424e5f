//! The embedded SQLite store: WAL mode, `synchronous = FULL` (a commit is on
//! disk before it returns), migrations compiled into the binary, one write
//! connection and a small pool of read connections.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crumb_schema::{ConsentId, SiteConfig, SiteId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use time::OffsetDateTime;

use super::{
    Action, AppendError, AppendResult, DayStats, Draft, Role, SiteRow, Store, StoreError,
    TimeRange, TokenRow,
};
use crate::lifecycle;
use crate::metrics::{Laps, Phase};
use crate::record::{GENESIS_HASH, Record, RecordBody};
use crate::signing::SignedHead;
use crate::timefmt;

use super::site_cache::{SiteCache, sites_changed, sites_written};

/// SQLite's errors sorted into the store's: a lock held past the busy
/// timeout, a disk or file that cannot take writes, and the rest.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::Busy(Box::new(e)),
            Some(C::DiskFull | C::SystemIoFailure | C::ReadOnly | C::CannotOpen) => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

/// Migrations in order; `PRAGMA user_version` holds how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_tokens.sql"),
    include_str!("../../migrations/0003_checkpoints.sql"),
    include_str!("../../migrations/0004_sites_version.sql"),
    include_str!("../../migrations/0005_idempotency.sql"),
];

pub struct SqliteStore {
    path: PathBuf,
    write: Mutex<WriteSide>,
    idle_readers: Mutex<Vec<Connection>>,
    sites: SiteCache,
}

/// The one write connection, with what only its holder may touch.
struct WriteSide {
    conn: Connection,
    heads: ChainHeads,
}

/// Each site's chain head as this process's last append left it, so a
/// batch need not look it up again. Valid only while no other connection
/// has committed since (`PRAGMA data_version` of the write connection is
/// unchanged): a `crumb purge` beside the running server, or another
/// process appending, invalidates it.
#[derive(Default)]
struct ChainHeads {
    data_version: i64,
    heads: HashMap<SiteId, (u64, String)>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Creates the database file, when it does not exist yet, readable and
/// writable by its owner only: the log holds user agents and networks.
/// SQLite gives the `-wal` and `-shm` files the database file's
/// permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies any
    /// pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path).map_err(StoreError::Create)?;
        let mut conn = open_connection(path)?;
        migrate(&mut conn)?;
        // Every append touches the ends of three indexes and looks up the
        // consents it updates; a larger cache on the one write connection
        // keeps those pages in memory instead of re-reading them for every
        // batch.
        conn.pragma_update(None, "cache_size", -65536)?;
        Ok(Self {
            path: path.to_owned(),
            write: Mutex::new(WriteSide {
                conn,
                heads: ChainHeads::default(),
            }),
            idle_readers: Mutex::new(Vec::new()),
            sites: SiteCache::default(),
        })
    }

    /// Moves most WAL checkpointing off the write path: a thread with its
    /// own connection runs a passive checkpoint (which never blocks the
    /// writer) ten times a second, until the store is dropped. The writer
    /// still checkpoints once the WAL passes 16 MB, because only a
    /// checkpoint on the write path, between two commits, lets SQLite
    /// start the WAL over; by then nearly every page is already copied.
    pub fn checkpoint_in_background(store: &Arc<SqliteStore>) -> Result<(), StoreError> {
        let conn = open_connection(&store.path)?;
        store
            .write
            .lock()
            .unwrap()
            .conn
            .pragma_update(None, "wal_autocheckpoint", 4096)?;
        let weak = Arc::downgrade(store);
        std::thread::Builder::new()
            .name("crumb-checkpoint".into())
            .spawn(move || {
                while weak.strong_count() > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a read connection from the pool. WAL lets readers run
    /// alongside the writer, so reads never wait for a batch to commit.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.idle_readers.lock().unwrap().pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = open_connection(&self.path)?;
                c.pragma_update(None, "query_only", "ON")?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle_readers.lock().unwrap();
        if idle.len() < 16 {
            idle.push(conn);
        }
        out
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {done}, newer than this crumb ({}); upgrade crumb",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("migration {} failed: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    Ok(())
}

fn latest_in(conn: &Connection, consent: &ConsentId) -> Result<Option<Record>, StoreError> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT body, hash FROM records WHERE consent_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([consent.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(body, hash)| {
        Record::from_stored(body, hash).map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// The last position and hash of a site's chain: its newest record, else
/// (every record purged) its newest checkpoint.
fn chain_head(conn: &Connection, site: &SiteId) -> Result<(u64, String), StoreError> {
    let head: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM records WHERE site_id = ?1
             UNION ALL
             SELECT seq, hash FROM checkpoints WHERE site_id = ?1
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([site.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(head
        .map(|(seq, hash)| (seq.unsigned_abs(), hash))
        .unwrap_or_else(|| (0, GENESIS_HASH.to_owned())))
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
    if request_hash != idem.request_hash {
        return Ok(Some(AppendError::KeyReused));
    }
    let record = Record::from_stored(body, hash).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(AppendError::Replayed(Box::new(record))))
}

/// Builds the body of one draft, or says why it cannot be appended.
/// The body `draft` appends after `head`: the consent's newest record is
/// read here, the rules are [`lifecycle::next_record`]'s.
fn body_for(
    tx: &Transaction<'_>,
    draft: &Draft,
    head: lifecycle::Head,
) -> Result<Result<RecordBody, AppendError>, StoreError> {
    let named = match &draft.action {
        Action::Choose { consent_id, .. } => consent_id.as_ref(),
        Action::Withdraw { consent_id } => Some(consent_id),
    };
    let latest = named.map(|id| latest_in(tx, id)).transpose()?.flatten();
    Ok(lifecycle::next_record(
        draft,
        latest.as_ref().map(|r| &r.body),
        head,
    ))
}

impl Store for SqliteStore {
    fn recent_site(&self, id: &SiteId) -> Option<Arc<SiteConfig>> {
        self.sites.recent(id)
    }

    fn site(&self, id: &SiteId) -> Result<Option<Arc<SiteConfig>>, StoreError> {
        let written = sites_written();
        self.read(|conn| {
            let version: i64 = conn
                .prepare_cached("SELECT v FROM sites_version")?
                .query_row([], |r| r.get(0))?;
            if let Some(site) = self.sites.checked(version, written, id) {
                return Ok(Some(site));
            }
            let json: Option<String> = conn
                .prepare_cached("SELECT config FROM sites WHERE id = ?1")?
                .query_row([id.as_str()], |r| r.get(0))
                .optional()?;
            let Some(json) = json else { return Ok(None) };
            let site: Arc<SiteConfig> = Arc::new(
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
            self.sites.insert(version, id, site.clone());
            Ok(Some(site))
        })
    }

    fn put_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<(), StoreError> {
        let json = serde_json::to_string(site).expect("a site config serialises");
        let now = timefmt::format(now);
        self.write.lock().unwrap().conn.execute(
            "INSERT INTO sites (id, config, revision, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (id) DO UPDATE
             SET config = excluded.config, revision = excluded.revision,
                 updated_at = excluded.updated_at",
            params![site.id.as_str(), json, site.revision.get(), now],
        )?;
        sites_changed();
        Ok(())
    }

    fn insert_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<bool, StoreError> {
        let json = serde_json::to_string(site).expect("a site config serialises");
        let now = timefmt::format(now);
        let n = self.write.lock().unwrap().conn.execute(
            "INSERT INTO sites (id, config, revision, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO NOTHING",
            params![site.id.as_str(), json, site.revision.get(), now],
        )?;
        sites_changed();
        Ok(n == 1)
    }

    fn delete_site(&self, id: &SiteId) -> Result<bool, StoreError> {
        let n = self
            .write
            .lock()
            .unwrap()
            .conn
            .execute("DELETE FROM sites WHERE id = ?1", [id.as_str()])?;
        sites_changed();
        Ok(n == 1)
    }

    fn latest_record(&self, consent: &ConsentId) -> Result<Option<Record>, StoreError> {
        self.read(|conn| latest_in(conn, consent))
    }

    fn append(&self, drafts: &[Draft]) -> Result<Vec<AppendResult>, StoreError> {
        let mut write = self.write.lock().unwrap();
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
            let body = body_for(&tx, draft, head)?;
            laps.lap(Phase::Decide);
            let body = match body {
                Ok(body) => body,
                Err(refused) => {
                    results.push(Err(refused));
                    continue;
                }
            };
            let record = body.seal();
            laps.lap(Phase::Seal);
            tx.prepare_cached(
                "INSERT INTO records (site_id, seq, consent_id, event, event_time, body, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                record.body.site_id.as_str(),
                record.body.seq as i64,
                record.body.consent_id.as_str(),
                record.body.event.as_str(),
                record.body.event_time,
                record.canonical,
                record.hash,
            ])?;
            if let Some(idem) = &draft.idempotency {
                tx.prepare_cached(
                    "INSERT INTO idempotency (site_id, key, request_hash, record_id, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    record.body.site_id.as_str(),
                    idem.key.as_str(),
                    idem.request_hash,
                    tx.last_insert_rowid(),
                    record.body.event_time,
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

    fn history(&self, site: &SiteId, consent: &ConsentId) -> Result<Vec<Record>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT body, hash FROM records WHERE consent_id = ?1 AND site_id = ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map([consent.as_str(), site.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (body, hash) = row?;
                Record::from_stored(body, hash).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
        })
    }

    fn for_each_record(
        &self,
        site: Option<&SiteId>,
        range: &TimeRange,
        f: &mut dyn FnMut(&str, &str) -> bool,
    ) -> Result<u64, StoreError> {
        self.read(|conn| {
            // One read transaction: the export is a consistent snapshot even
            // while the writer keeps appending.
            conn.execute_batch("BEGIN")?;
            let result = (|| {
                let mut stmt = conn.prepare(
                    "SELECT body, hash FROM records
                     WHERE (?1 IS NULL OR site_id = ?1) AND event_time >= ?2 AND event_time < ?3
                     ORDER BY site_id, seq",
                )?;
                let mut rows =
                    stmt.query(params![site.map(SiteId::as_str), range.from, range.to])?;
                let mut n = 0;
                while let Some(row) = rows.next()? {
                    let text = |i| -> Result<&str, StoreError> {
                        row.get_ref(i)?
                            .as_str()
                            .map_err(|e| StoreError::Corrupt(e.to_string()))
                    };
                    let (body, hash) = (text(0)?, text(1)?);
                    n += 1;
                    if !f(body, hash) {
                        break;
                    }
                }
                Ok(n)
            })();
            conn.execute_batch("COMMIT")?;
            result
        })
    }

    fn stats(&self, site: &SiteId, range: &TimeRange) -> Result<Vec<DayStats>, StoreError> {
        self.read(|conn| {
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
            let rows = stmt.query_map(params![site.as_str(), range.from, range.to], |r| {
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

    fn head(&self, site: &SiteId) -> Result<Option<(u64, String)>, StoreError> {
        self.read(|conn| {
            let head = chain_head(conn, site)?;
            Ok((head.0 > 0).then_some(head))
        })
    }

    fn purge(
        &self,
        site: &SiteId,
        before: &str,
        key: &crate::signing::Key,
        now: OffsetDateTime,
    ) -> Result<Option<(SignedHead, u64)>, StoreError> {
        let mut write = self.write.lock().unwrap();
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
            params![site.as_str(), before],
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
        let head = key.sign(
            site.as_str(),
            seq.unsigned_abs(),
            &hash,
            &timefmt::format(now),
        );
        tx.execute(
            "INSERT INTO checkpoints (site_id, seq, hash, created_at, public_key, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                site.as_str(),
                seq,
                hash,
                head.signed_at,
                head.public_key,
                head.signature
            ],
        )?;
        tx.commit()?;
        Ok(Some((head, deleted as u64)))
    }

    fn checkpoints(&self, site: &SiteId) -> Result<Vec<SignedHead>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, hash, created_at, public_key, signature FROM checkpoints
                 WHERE site_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([site.as_str()], |r| {
                Ok(SignedHead {
                    site_id: site.to_string(),
                    seq: r.get::<_, i64>(0)?.unsigned_abs(),
                    hash: r.get(1)?,
                    signed_at: r.get(2)?,
                    public_key: r.get(3)?,
                    signature: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn sites(&self) -> Result<Vec<SiteId>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id FROM sites ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
            ids.map(|id| SiteId::parse(&id?).map_err(|e| StoreError::Corrupt(e.to_string())))
                .collect()
        })
    }

    fn site_rows(&self) -> Result<Vec<SiteRow>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT config, created_at, updated_at FROM sites ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            rows.map(|row| {
                let (config, created_at, updated_at) = row?;
                Ok(SiteRow {
                    config: Arc::new(
                        serde_json::from_str(&config)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    ),
                    created_at,
                    updated_at,
                })
            })
            .collect()
        })
    }

    fn tokens(&self) -> Result<Vec<(TokenRow, String)>, StoreError> {
        let ids: Vec<String> = self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id FROM tokens ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?;
            Ok(ids.collect::<Result<_, _>>()?)
        })?;
        ids.iter()
            .filter_map(|id| self.token(id).transpose())
            .collect()
    }

    fn create_token(&self, row: &TokenRow, secret_hash: &str) -> Result<(), StoreError> {
        self.write.lock().unwrap().conn.execute(
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

    fn token(&self, id: &str) -> Result<Option<(TokenRow, String)>, StoreError> {
        self.read(|conn| {
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

    fn revoke_token(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let n = self.write.lock().unwrap().conn.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, timefmt::format(now)],
        )?;
        Ok(n == 1)
    }

    fn record_count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let n: i64 = conn.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
    }
}
