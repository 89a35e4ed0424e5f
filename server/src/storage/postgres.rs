//! The PostgreSQL store, for several Crumb nodes sharing one log: the
//! async driver tokio-postgres with a deadpool pool, run on a small runtime
//! of the store's own. The `Store` trait blocks (its callers are the
//! writer thread, `storage::blocking` and the CLI, never an async worker),
//! so each method drives its queries to completion with `block_on` on
//! that runtime.
//!
//! Appends take each batch site's row in `chain_heads` with a lock (sites
//! in one order, so two nodes never deadlock), which serialises appends to
//! one site across nodes while batches of other sites go on; the head is
//! moved in the same transaction as the records, so a commit is all or
//! nothing. A 201 is sent only after the commit returns, and PostgreSQL's
//! default `synchronous_commit = on` makes a commit durable.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use crumb_schema::{ConsentId, SiteConfig, SiteId};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use time::OffsetDateTime;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::site_cache::{SiteCache, sites_changed, sites_written};
use super::{
    Action, AppendError, AppendResult, DayStats, Draft, Role, SiteRow, Store, StoreError,
    TimeRange, TokenRow,
};
use crate::lifecycle;
use crate::metrics::{Laps, Phase};
use crate::record::{GENESIS_HASH, Record};
use crate::signing::SignedHead;
use crate::timefmt;

/// Migrations in order; the `crumb_schema` table holds how many have run.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];

/// Connections one node keeps at most. Reads run on `storage::blocking`
/// threads, one connection each; the writer thread takes one per batch.
const POOL_SIZE: usize = 16;

/// How many rows an export fetches from its server-side cursor at a time.
const FETCH: i32 = 1000;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        let code = e.code().cloned();
        match code {
            Some(c)
                if c == SqlState::T_R_SERIALIZATION_FAILURE
                    || c == SqlState::T_R_DEADLOCK_DETECTED
                    || c == SqlState::LOCK_NOT_AVAILABLE =>
            {
                StoreError::Busy(Box::new(e))
            }
            Some(c)
                if c == SqlState::DISK_FULL
                    || c == SqlState::READ_ONLY_SQL_TRANSACTION
                    || c == SqlState::ADMIN_SHUTDOWN
                    || c == SqlState::CANNOT_CONNECT_NOW
                    || c == SqlState::TOO_MANY_CONNECTIONS =>
            {
                StoreError::Unavailable(Box::new(e))
            }
            None if e.is_closed() => StoreError::Unavailable(Box::new(e)),
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            // No connection within the timeout, or the server refused one:
            // nothing was stored, and later may work.
            other => StoreError::Unavailable(Box::new(other)),
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A `postgres://` URL, parsed; its password is never printed.
#[derive(Clone)]
pub struct PgUrl {
    url: String,
    config: Box<tokio_postgres::Config>,
}

impl PgUrl {
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL ({e})"))?;
        if config.get_dbname().is_none() {
            return Err("the PostgreSQL URL names no database (postgres://user@host/db)".into());
        }
        Ok(PgUrl {
            url: url.to_owned(),
            config: Box::new(config),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }
}

/// Shows where the database is, without the password.
impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_default();
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.config.get_user().unwrap_or("");
        let db = self.config.get_dbname().unwrap_or("");
        write!(f, "postgres://{user}@{host}:{port}/{db}")
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

pub struct PostgresStore {
    /// Runs the driver's connection tasks; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    url: PgUrl,
    sites: SiteCache,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The store may be dropped on an async worker (the server's
        // shutdown), where blocking for the runtime's tasks is not allowed.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

type Client = deadpool_postgres::Object;

impl PostgresStore {
    /// Connects to the database at `url` and applies any pending
    /// migrations (under an advisory lock, so nodes starting together take
    /// turns).
    pub fn open(url: &PgUrl) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("crumb-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        let manager = Manager::from_config(
            (*url.config).clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Some(std::time::Duration::from_secs(5));
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .build()
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let store = PostgresStore {
            runtime: Some(runtime),
            pool,
            url: url.clone(),
            sites: SiteCache::default(),
        };
        // On a thread of its own: `Application::build` opens the store
        // from inside the server's runtime, where blocking on another is
        // not allowed.
        std::thread::scope(|s| {
            s.spawn(|| store.run(|mut c| async move { migrate(&mut c).await }))
                .join()
                .map_err(|_| StoreError::Thread("the migration thread panicked".into()))?
        })?;
        Ok(store)
    }

    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .block_on(f)
    }

    /// Runs `f` with a pooled connection, to completion.
    fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.block_on(async {
            let client = self.pool.get().await?;
            f(client).await
        })
    }

    /// Copies a whole log from `source` (sites, tokens, records with
    /// their stored bytes and hashes, purge checkpoints, each chain's head)
    /// in one transaction: all or nothing. Refused unless this database is
    /// empty. Records are streamed in chunks, so memory stays constant.
    /// `progress` is called with the records copied so far.
    pub fn copy_from(&self, source: &dyn Store, progress: &dyn Fn(u64)) -> Result<u64, CopyError> {
        let mut client = self.block_on(self.pool.get())?;
        let tx = self.block_on(client.transaction())?;
        let held: i64 = self
            .block_on(tx.query_one(
                "SELECT (SELECT count(*) FROM sites) + (SELECT count(*) FROM tokens)
                      + (SELECT count(*) FROM chain_heads) + (SELECT count(*) FROM checkpoints)",
                &[],
            ))?
            .get(0);
        if held > 0 {
            return Err(CopyError::NotEmpty);
        }
        let sites = source.site_rows()?;
        for row in &sites {
            let config = serde_json::to_string(&*row.config).expect("a site config serialises");
            self.block_on(tx.execute(
                "INSERT INTO sites (id, config, revision, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &row.config.id.as_str(),
                    &config,
                    &(row.config.revision.get() as i64),
                    &row.created_at,
                    &row.updated_at,
                ],
            ))?;
        }
        for (token, secret_hash) in source.tokens()? {
            self.block_on(tx.execute(
                "INSERT INTO tokens (id, secret_hash, role, site_id, label, created_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &token.id,
                    &secret_hash,
                    &token.role.as_str(),
                    &token.site.as_ref().map(SiteId::as_str),
                    &token.label,
                    &token.created_at,
                    &token.revoked_at,
                ],
            ))?;
        }
        // The records, in chunks of one multi-row insert each.
        let insert = self.block_on(tx.prepare(
            "INSERT INTO records (site_id, seq, consent_id, event, event_time, body, hash)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])",
        ))?;
        let mut heads: std::collections::BTreeMap<SiteId, lifecycle::Head> = Default::default();
        let mut chunk: Vec<Record> = Vec::with_capacity(COPY_CHUNK);
        let mut copied = 0u64;
        let mut failed: Option<CopyError> = None;
        let mut flush = |chunk: &mut Vec<Record>| -> Result<(), CopyError> {
            let column = |f: &dyn Fn(&Record) -> String| chunk.iter().map(f).collect::<Vec<_>>();
            let seqs: Vec<i64> = chunk.iter().map(|r| r.body.seq as i64).collect();
            self.block_on(tx.execute(
                &insert,
                &[
                    &column(&|r| r.body.site_id.to_string()),
                    &seqs,
                    &column(&|r| r.body.consent_id.to_string()),
                    &column(&|r| r.body.event.as_str().to_owned()),
                    &column(&|r| r.body.event_time.clone()),
                    &column(&|r| r.canonical.clone()),
                    &column(&|r| r.hash.clone()),
                ],
            ))?;
            copied += chunk.len() as u64;
            progress(copied);
            chunk.clear();
            Ok(())
        };
        source.for_each_record(None, &TimeRange::all(), &mut |body, hash| {
            let record = match Record::from_stored(body.to_owned(), hash.to_owned()) {
                Ok(r) => r,
                Err(e) => {
                    failed = Some(CopyError::Store(corrupt(e)));
                    return false;
                }
            };
            heads.insert(
                record.body.site_id.clone(),
                (record.body.seq, record.hash.clone()),
            );
            chunk.push(record);
            if chunk.len() == COPY_CHUNK
                && let Err(e) = flush(&mut chunk)
            {
                failed = Some(e);
                return false;
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        flush(&mut chunk)?;
        // Purge checkpoints of every site known by name or by its records;
        // a site whose records were all purged has its head there.
        let mut named: std::collections::BTreeSet<SiteId> =
            sites.iter().map(|r| r.config.id.clone()).collect();
        named.extend(heads.keys().cloned());
        for site in &named {
            for cp in source.checkpoints(site)? {
                self.block_on(tx.execute(
                    "INSERT INTO checkpoints (site_id, seq, hash, created_at, public_key, signature)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &cp.site_id,
                        &(cp.seq as i64),
                        &cp.hash,
                        &cp.signed_at,
                        &cp.public_key,
                        &cp.signature,
                    ],
                ))?;
                heads.entry(site.clone()).or_insert((cp.seq, cp.hash));
            }
        }
        for (site, (seq, hash)) in &heads {
            self.block_on(tx.execute(
                "INSERT INTO chain_heads (site_id, seq, hash) VALUES ($1, $2, $3)",
                &[&site.as_str(), &(*seq as i64), hash],
            ))?;
        }
        self.block_on(tx.commit())?;
        sites_changed();
        Ok(copied)
    }
}

/// How many records one insert of `crumb copy` carries.
const COPY_CHUNK: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target database already holds sites, tokens or records; crumb copy fills an empty one"
    )]
    NotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for CopyError {
    fn from(e: tokio_postgres::Error) -> CopyError {
        CopyError::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for CopyError {
    fn from(e: deadpool_postgres::PoolError) -> CopyError {
        CopyError::Store(e.into())
    }
}

async fn migrate(c: &mut Client) -> Result<(), StoreError> {
    let tx = c.transaction().await?;
    // One node migrates at a time; the others wait here, then find the
    // work done.
    tx.execute("SELECT pg_advisory_xact_lock(7405183)", &[])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS crumb_schema (version INTEGER NOT NULL)")
        .await?;
    let done: Option<i32> = tx
        .query_opt("SELECT version FROM crumb_schema", &[])
        .await?
        .map(|r| r.get(0));
    if done.is_none() {
        tx.execute("INSERT INTO crumb_schema (version) VALUES (0)", &[])
            .await?;
    }
    let done = usize::try_from(done.unwrap_or(0)).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {done}, newer than this crumb ({}); upgrade crumb",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Migration(format!("migration {} failed: {e}", i + 1)))?;
        tx.execute("UPDATE crumb_schema SET version = $1", &[&((i + 1) as i32)])
            .await?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    tx.commit().await?;
    Ok(())
}

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
    fn earlier(&self, site: &str, idem: &super::Idempotency) -> Option<AppendError> {
        let (request_hash, record) = self
            .known
            .get(&(site.to_owned(), idem.key.as_str().to_owned()))?;
        Some(if *request_hash == idem.request_hash {
            AppendError::Replayed(Box::new(record.clone()))
        } else {
            AppendError::KeyReused
        })
    }

    fn written(&mut self, site: &str, idem: &super::Idempotency, record: &Record) {
        self.known.insert(
            (site.to_owned(), idem.key.as_str().to_owned()),
            (idem.request_hash.clone(), record.clone()),
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
        .filter_map(|d| match &d.action {
            Action::Choose { consent_id, .. } => consent_id.as_ref(),
            Action::Withdraw { consent_id } => Some(consent_id),
        })
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

/// Writes a batch's records, their idempotency keys and the sites' new
/// heads: one statement each.
async fn insert_records(
    tx: &impl GenericClient,
    written: &[(Record, Option<&super::Idempotency>)],
    heads: &HashMap<String, lifecycle::Head>,
) -> Result<(), StoreError> {
    let records = || written.iter().map(|(r, _)| r);
    let text = |f: &dyn Fn(&Record) -> &str| records().map(f).collect::<Vec<&str>>();
    let seqs: Vec<i64> = records().map(|r| r.body.seq as i64).collect();
    let insert = tx
        .prepare_cached(
            "INSERT INTO records (site_id, seq, consent_id, event, event_time, body, hash)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &text(&|r| r.body.site_id.as_str()),
            &seqs,
            &text(&|r| r.body.consent_id.as_str()),
            &text(&|r| r.body.event.as_str()),
            &text(&|r| &r.body.event_time),
            &text(&|r| &r.canonical),
            &text(&|r| &r.hash),
        ],
    )
    .await?;
    let keyed: Vec<(&Record, &super::Idempotency)> = written
        .iter()
        .filter_map(|(r, k)| Some((r, (*k)?)))
        .collect();
    if !keyed.is_empty() {
        let remember = tx
            .prepare_cached(
                "INSERT INTO idempotency (site_id, key, request_hash, record_id, created_at)
                 SELECT k.site_id, k.key, k.request_hash, r.id, k.created_at
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
                   AS k(site_id, key, request_hash, seq, created_at)
                 JOIN records r ON r.site_id = k.site_id AND r.seq = k.seq",
            )
            .await?;
        let sites: Vec<&str> = keyed.iter().map(|(r, _)| r.body.site_id.as_str()).collect();
        let keys: Vec<&str> = keyed.iter().map(|(_, k)| k.key.as_str()).collect();
        let hashes: Vec<&str> = keyed.iter().map(|(_, k)| k.request_hash.as_str()).collect();
        let seqs: Vec<i64> = keyed.iter().map(|(r, _)| r.body.seq as i64).collect();
        let times: Vec<&str> = keyed
            .iter()
            .map(|(r, _)| r.body.event_time.as_str())
            .collect();
        tx.execute(&remember, &[&sites, &keys, &hashes, &seqs, &times])
            .await?;
    }
    let mut moved: Vec<&str> = records().map(|r| r.body.site_id.as_str()).collect();
    moved.sort_unstable();
    moved.dedup();
    let seqs: Vec<i64> = moved.iter().map(|s| heads[*s].0 as i64).collect();
    let hashes: Vec<&str> = moved.iter().map(|s| heads[*s].1.as_str()).collect();
    let advance = tx
        .prepare_cached(
            "UPDATE chain_heads h SET seq = u.seq, hash = u.hash
             FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(site_id, seq, hash)
             WHERE h.site_id = u.site_id",
        )
        .await?;
    tx.execute(&advance, &[&moved, &seqs, &hashes]).await?;
    Ok(())
}

fn seq_of(v: i64) -> u64 {
    v.unsigned_abs()
}

impl Store for PostgresStore {
    fn recent_site(&self, id: &SiteId) -> Option<Arc<SiteConfig>> {
        self.sites.recent(id)
    }

    fn site(&self, id: &SiteId) -> Result<Option<Arc<SiteConfig>>, StoreError> {
        let written = sites_written();
        self.run(|c| async move {
            let stmt = c.prepare_cached("SELECT v FROM sites_version").await?;
            let version: i64 = c.query_one(&stmt, &[]).await?.get(0);
            if let Some(site) = self.sites.checked(version, written, id) {
                return Ok(Some(site));
            }
            let stmt = c
                .prepare_cached("SELECT config FROM sites WHERE id = $1")
                .await?;
            let Some(row) = c.query_opt(&stmt, &[&id.as_str()]).await? else {
                return Ok(None);
            };
            let site: Arc<SiteConfig> =
                Arc::new(serde_json::from_str(row.get(0)).map_err(corrupt)?);
            self.sites.insert(version, id, site.clone());
            Ok(Some(site))
        })
    }

    fn put_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<(), StoreError> {
        let json = serde_json::to_string(site).expect("a site config serialises");
        let now = timefmt::format(now);
        self.run(|c| async move {
            c.execute(
                "INSERT INTO sites (id, config, revision, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (id) DO UPDATE
                 SET config = excluded.config, revision = excluded.revision,
                     updated_at = excluded.updated_at",
                &[
                    &site.id.as_str(),
                    &json,
                    &(site.revision.get() as i64),
                    &now,
                ],
            )
            .await?;
            Ok(())
        })?;
        sites_changed();
        Ok(())
    }

    fn insert_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<bool, StoreError> {
        let json = serde_json::to_string(site).expect("a site config serialises");
        let now = timefmt::format(now);
        let n = self.run(|c| async move {
            Ok(c.execute(
                "INSERT INTO sites (id, config, revision, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                &[
                    &site.id.as_str(),
                    &json,
                    &(site.revision.get() as i64),
                    &now,
                ],
            )
            .await?)
        })?;
        sites_changed();
        Ok(n == 1)
    }

    fn delete_site(&self, id: &SiteId) -> Result<bool, StoreError> {
        let n = self.run(|c| async move {
            Ok(
                c.execute("DELETE FROM sites WHERE id = $1", &[&id.as_str()])
                    .await?,
            )
        })?;
        sites_changed();
        Ok(n == 1)
    }

    fn latest_record(&self, consent: &ConsentId) -> Result<Option<Record>, StoreError> {
        self.run(|c| async move { latest_in(&c, consent).await })
    }

    fn append(&self, drafts: &[Draft]) -> Result<Vec<AppendResult>, StoreError> {
        // A batch costs a fixed number of round trips whatever its size:
        // what the rules need is read in one query each (the heads, the
        // idempotency keys, the consents' newest records), the records are
        // decided in memory in draft order, then written in one statement
        // per table.
        self.run(|mut c| async move {
            let mut laps = Laps::start();
            let tx = c.transaction().await?;
            laps.lap(Phase::Begin);
            // Lock the chain head of every site in the batch, in site
            // order (rows are upserted in array order): the lock
            // serialises this site's appends across nodes until the
            // commit. The upsert creates a new site's head.
            let mut sites: Vec<&str> = drafts.iter().map(|d| d.site.id.as_str()).collect();
            sites.sort_unstable();
            sites.dedup();
            let lock = tx
                .prepare_cached(
                    "INSERT INTO chain_heads (site_id, seq, hash)
                     SELECT s, 0, $2 FROM unnest($1::text[]) AS s
                     ON CONFLICT (site_id) DO UPDATE SET seq = chain_heads.seq
                     RETURNING site_id, seq, hash",
                )
                .await?;
            let mut heads: HashMap<String, lifecycle::Head> = HashMap::new();
            for row in tx.query(&lock, &[&sites, &GENESIS_HASH]).await? {
                heads.insert(row.get(0), (seq_of(row.get(1)), row.get(2)));
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
                tx.execute("DELETE FROM idempotency WHERE created_at < $1", &[&cutoff])
                    .await?;
                keys.read(&tx, drafts).await?;
            }
            laps.lap(Phase::Idempotency);
            let mut latest = newest_records(&tx, drafts).await?;
            // Reading the newest records is charged to `decide`, as the
            // rules' time is below.
            laps.lap(Phase::Decide);
            let mut results = Vec::with_capacity(drafts.len());
            let mut written: Vec<(Record, Option<&super::Idempotency>)> = Vec::new();
            for draft in drafts {
                let site = draft.site.id.as_str();
                if let Some(idem) = &draft.idempotency
                    && let Some(earlier) = keys.earlier(site, idem)
                {
                    results.push(Err(earlier));
                    continue;
                }
                let named = match &draft.action {
                    Action::Choose { consent_id, .. } => consent_id.as_ref(),
                    Action::Withdraw { consent_id } => Some(consent_id),
                };
                let previous = named.and_then(|id| latest.get(id.as_str()));
                let head = heads[site].clone();
                let body = lifecycle::next_record(draft, previous, head);
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
                heads.insert(site.to_owned(), (record.body.seq, record.hash.clone()));
                latest.insert(record.body.consent_id.to_string(), record.body.clone());
                if let Some(idem) = &draft.idempotency {
                    keys.written(site, idem, &record);
                }
                written.push((record.clone(), draft.idempotency.as_ref()));
                results.push(Ok(record));
                laps.lap(Phase::Insert);
            }
            if !written.is_empty() {
                insert_records(&tx, &written, &heads).await?;
            }
            laps.lap(Phase::Insert);
            tx.commit().await?;
            laps.lap(Phase::Commit);
            Ok(results)
        })
    }

    fn record_count(&self) -> Result<u64, StoreError> {
        self.run(|c| async move {
            let n: i64 = c
                .query_one("SELECT count(*) FROM records", &[])
                .await?
                .get(0);
            Ok(n.unsigned_abs())
        })
    }

    fn history(&self, site: &SiteId, consent: &ConsentId) -> Result<Vec<Record>, StoreError> {
        self.run(|c| async move {
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

    fn for_each_record(
        &self,
        site: Option<&SiteId>,
        range: &TimeRange,
        f: &mut dyn FnMut(&str, &str) -> bool,
    ) -> Result<u64, StoreError> {
        // `f` may block (an export writes to a channel), so it runs here,
        // between fetches, never inside the runtime. One REPEATABLE READ
        // transaction is one snapshot; the portal is a server-side cursor,
        // fetched FETCH rows at a time, so memory stays constant.
        let mut client = self.block_on(self.pool.get())?;
        let tx = self.block_on(
            client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        )?;
        let site = site.map(SiteId::as_str);
        let portal = self.block_on(async {
            let stmt = tx
                .prepare(
                    "SELECT body, hash FROM records
                     WHERE ($1::text IS NULL OR site_id = $1) AND event_time >= $2
                       AND event_time < $3
                     ORDER BY site_id, seq",
                )
                .await?;
            tx.bind(&stmt, &[&site, &range.from, &range.to]).await
        })?;
        let mut n = 0;
        'fetch: loop {
            let rows = self.block_on(tx.query_portal(&portal, FETCH))?;
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
        self.block_on(tx.commit())?;
        Ok(n)
    }

    fn sites(&self) -> Result<Vec<SiteId>, StoreError> {
        self.run(|c| async move {
            c.query("SELECT id FROM sites ORDER BY id", &[])
                .await?
                .iter()
                .map(|r| SiteId::parse(r.get(0)).map_err(corrupt))
                .collect()
        })
    }

    fn head(&self, site: &SiteId) -> Result<Option<(u64, String)>, StoreError> {
        self.run(|c| async move {
            let row = c
                .query_opt(
                    "SELECT seq, hash FROM chain_heads WHERE site_id = $1 AND seq > 0",
                    &[&site.as_str()],
                )
                .await?;
            Ok(row.map(|r| (seq_of(r.get(0)), r.get(1))))
        })
    }

    fn purge(
        &self,
        site: &SiteId,
        before: &str,
        key: &crate::signing::Key,
        now: OffsetDateTime,
    ) -> Result<Option<(SignedHead, u64)>, StoreError> {
        self.run(|mut c| async move {
            let tx = c.transaction().await?;
            // The head's lock keeps purges of one site (from any node) in
            // turn; appends wait for it only as long as this transaction.
            tx.execute(
                "SELECT 1 FROM chain_heads WHERE site_id = $1 FOR UPDATE",
                &[&site.as_str()],
            )
            .await?;
            let keep_from: Option<i64> = tx
                .query_one(
                    "SELECT min(seq) FROM records WHERE site_id = $1 AND event_time >= $2",
                    &[&site.as_str(), &before],
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
            let head = key.sign(site.as_str(), seq_of(seq), &hash, &timefmt::format(now));
            tx.execute(
                "INSERT INTO checkpoints (site_id, seq, hash, created_at, public_key, signature)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &site.as_str(),
                    &seq,
                    &hash,
                    &head.signed_at,
                    &head.public_key,
                    &head.signature,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(Some((head, deleted)))
        })
    }

    fn checkpoints(&self, site: &SiteId) -> Result<Vec<SignedHead>, StoreError> {
        self.run(|c| async move {
            let rows = c
                .query(
                    "SELECT seq, hash, created_at, public_key, signature FROM checkpoints
                     WHERE site_id = $1 ORDER BY seq",
                    &[&site.as_str()],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| SignedHead {
                    site_id: site.to_string(),
                    seq: seq_of(r.get(0)),
                    hash: r.get(1),
                    signed_at: r.get(2),
                    public_key: r.get(3),
                    signature: r.get(4),
                })
                .collect())
        })
    }

    fn stats(&self, site: &SiteId, range: &TimeRange) -> Result<Vec<DayStats>, StoreError> {
        self.run(|c| async move {
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
                    &[&site.as_str(), &range.from, &range.to],
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

    fn site_rows(&self) -> Result<Vec<SiteRow>, StoreError> {
        self.run(|c| async move {
            c.query(
                "SELECT config, created_at, updated_at FROM sites ORDER BY id",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(SiteRow {
                    config: Arc::new(serde_json::from_str(r.get(0)).map_err(corrupt)?),
                    created_at: r.get(1),
                    updated_at: r.get(2),
                })
            })
            .collect()
        })
    }

    fn tokens(&self) -> Result<Vec<(TokenRow, String)>, StoreError> {
        let ids: Vec<String> = self.run(|c| async move {
            Ok(c.query("SELECT id FROM tokens ORDER BY id", &[])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })?;
        ids.iter()
            .filter_map(|id| self.token(id).transpose())
            .collect()
    }

    fn create_token(&self, row: &TokenRow, secret_hash: &str) -> Result<(), StoreError> {
        self.run(|c| async move {
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

    fn token(&self, id: &str) -> Result<Option<(TokenRow, String)>, StoreError> {
        self.run(|c| async move {
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

    fn revoke_token(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let now = timefmt::format(now);
        self.run(|c| async move {
            let n = c
                .execute(
                    "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&id, &now],
                )
                .await?;
            Ok(n == 1)
        })
    }
}
