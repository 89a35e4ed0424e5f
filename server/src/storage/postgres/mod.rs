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
//! nothing. The append's commit does not wait for the disk, so the lock is
//! free again as soon as the commit record is written; a second, small
//! transaction committed at the session's setting (`on` by default) then
//! waits until the WAL is flushed past it, and a 201 is sent only after
//! that (see `COMMIT_THEN_FLUSH` in `log.rs`).

mod log;
mod sites;
mod stats;
pub mod tls;
mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use crumb_schema::{ConsentId, RecordHash, SiteConfig, SiteId, TextHash};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::site_cache::{SiteCache, sites_changed};
use super::{
    AppendResult, Connections, DayStats, Draft, SecretHash, SiteRow, SiteUpdate, Store, StoreError,
    TimeRange, TokenId, TokenRow,
};
use crate::lifecycle;
use crate::record::Record;
use crate::signing::{PublicKey, SignedHead};
use crate::sites::{Notice, UpdateRefused};
use crate::timefmt::Timestamp;

/// Migrations in order; the `crumb_schema` table holds how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_log_key.sql"),
    include_str!("../../../migrations/postgres/0003_notices.sql"),
];

/// Connections one node keeps at most unless the URL's `connection_limit`
/// says otherwise. Reads run on `storage::blocking` threads, one
/// connection each; the writer thread takes one per batch.
const POOL_SIZE: usize = 16;

/// The fewest connections a node may be limited to: one for the writer's
/// batch and one for reads, so a long export does not stop the writes.
const MIN_POOL_SIZE: usize = 2;

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
            // The server's own refusal (too many connections, starting up,
            // a bad password) is sorted like any answer of its.
            deadpool_postgres::PoolError::Backend(e) if e.code().is_some() => e.into(),
            // No server answered (refused, unreachable, reset), or no
            // connection came within the timeout: nothing was stored, and
            // later may work.
            other => StoreError::Unavailable(Box::new(other)),
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A stored record hash, checked.
fn hash_at(row: &tokio_postgres::Row, i: usize) -> Result<RecordHash, StoreError> {
    RecordHash::parse(row.get(i)).map_err(corrupt)
}

/// A `postgres://` URL, parsed; its password is never printed.
#[derive(Clone)]
pub struct PgUrl {
    url: String,
    config: Box<tokio_postgres::Config>,
    /// TLS as the URL's `sslmode` and `sslrootcert` ask ([`tls`]).
    tls: Arc<rustls::ClientConfig>,
    ssl_mode: tls::SslMode,
    /// How many connections a node keeps at most (`connection_limit`).
    pool_size: usize,
}

impl PgUrl {
    /// Parses the URL, reading the root certificate file it names, so a
    /// wrong path is said when the settings are read.
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        let (rest, limit) = take_parameter(url, "connection_limit");
        let pool_size = match limit {
            None => POOL_SIZE,
            Some(n) => match n.parse::<usize>() {
                Ok(n) if n >= MIN_POOL_SIZE => n,
                _ => {
                    return Err(format!(
                        "connection_limit={n} is not a number of connections of at least \
                         {MIN_POOL_SIZE}"
                    ));
                }
            },
        };
        let parsed = tls::parse(&rest)?;
        let mut config: tokio_postgres::Config = parsed
            .url
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL ({e})"))?;
        dead_peer_timeouts(&mut config, &parsed.url);
        if config.get_dbname().is_none() {
            return Err("the PostgreSQL URL names no database (postgres://user@host/db)".into());
        }
        Ok(PgUrl {
            url: url.to_owned(),
            config: Box::new(config),
            tls: Arc::new(tls::client_config(&parsed)?),
            ssl_mode: parsed.mode,
            pool_size,
        })
    }

    /// How many connections a node keeps at most.
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// What the URL asks of TLS.
    pub fn ssl_mode(&self) -> tls::SslMode {
        self.ssl_mode
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }
}

/// `url` without its query parameter `key`, and that parameter's value.
/// Crumb's own parameters are taken out before the driver reads the URL,
/// as it refuses parameters it does not know.
fn take_parameter(url: &str, key: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == key => {
                value = Some(v.to_owned());
                false
            }
            _ => *pair != key,
        })
        .collect();
    if kept.is_empty() {
        (base.to_owned(), value)
    } else {
        (format!("{base}?{}", kept.join("&")), value)
    }
}

/// How soon a connection whose other end is gone without a word (the
/// database's host lost, a network cut) fails, where the URL does not say:
/// data sent and not acknowledged for 10 s, or an idle connection that
/// stops answering keepalives (after 30 s, then 3 probes 5 s apart). The
/// system's defaults take two hours and more, all that time a write (and
/// the writer thread behind it) would wait; failing, it is answered 503,
/// nothing acknowledged, and the pool replaces the connection.
fn dead_peer_timeouts(config: &mut tokio_postgres::Config, url: &str) {
    use std::time::Duration;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let given = |key: &str| query.split('&').any(|p| p.split('=').next() == Some(key));
    if !given("tcp_user_timeout") {
        config.tcp_user_timeout(Duration::from_secs(10));
    }
    if !given("keepalives_idle") {
        config.keepalives_idle(Duration::from_secs(30));
    }
    if !given("keepalives_interval") {
        config.keepalives_interval(Duration::from_secs(5));
    }
    if !given("keepalives_retries") {
        config.keepalives_retries(3);
    }
}

/// Shows where the database is, without the password.
impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every host, for a URL that lists several (failover with
        // `target_session_attrs`); one port stands for all when given once.
        let ports = self.config.get_ports();
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                };
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                format!("{host}:{port}")
            })
            .collect();
        let user = self.config.get_user().unwrap_or("");
        let db = self.config.get_dbname().unwrap_or("");
        write!(f, "postgres://{user}@{}/{db}", hosts.join(","))
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

pub(super) type Client = deadpool_postgres::Object;

impl PostgresStore {
    /// Connects to the database at `url` and applies any pending
    /// migrations (under an advisory lock, so nodes starting together take
    /// turns).
    pub fn open(url: &PgUrl) -> Result<Self, StoreError> {
        PostgresStore::open_with(url, true)
    }

    /// [`PostgresStore::open`] for a database that holds a Crumb log
    /// already: one without Crumb's tables is [`StoreError::NoLog`], and
    /// nothing is created in it.
    pub fn open_existing(url: &PgUrl) -> Result<Self, StoreError> {
        PostgresStore::open_with(url, false)
    }

    fn open_with(url: &PgUrl, create: bool) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("crumb-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        let manager = Manager::from_config(
            (*url.config).clone(),
            MakeRustlsConnect::new((*url.tls).clone()),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Some(std::time::Duration::from_secs(5));
        let pool = Pool::builder(manager)
            .max_size(url.pool_size)
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
        let shown = url.to_string();
        std::thread::scope(|s| {
            s.spawn(|| {
                store.run(|mut c| async move {
                    if !create {
                        let found: bool = c
                            .query_one("SELECT to_regclass('crumb_schema') IS NOT NULL", &[])
                            .await?
                            .get(0);
                        if !found {
                            return Err(StoreError::NoLog(format!("PostgreSQL database {shown}")));
                        }
                    }
                    migrate(&mut c).await
                })
            })
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

    /// Brings this database up to `source`, a whole log (sites, tokens, the
    /// sites' texts, records with their stored bytes and hashes, purge
    /// checkpoints, each chain's head), in one transaction: all or nothing.
    /// An empty database gets all of it. One that holds an earlier copy of
    /// `source` (each of its chains ends at a record of the source's, so
    /// nothing was written here since) gets what the source took since:
    /// its new records are appended, its new purges repeated, and its
    /// sites, tokens and texts taken as they are now, so that an operator
    /// can copy a log while its SQLite server still runs, then stop that
    /// server and copy again, which moves only the last minutes. (Sites
    /// and tokens only this database holds are kept.) Anything else is
    /// refused. Records are streamed in chunks, so memory stays
    /// constant. `key` is recorded as the log's signing key (at `now`).
    /// `progress` is called with the records copied so far.
    pub fn copy_from(
        &self,
        source: &dyn Store,
        key: Option<&PublicKey>,
        now: OffsetDateTime,
        progress: &dyn Fn(u64),
    ) -> Result<Copied, CopyError> {
        let mut client = self.block_on(self.pool.get())?;
        let tx = self.block_on(client.transaction())?;
        // Nodes already started here, and a second copy, wait until this
        // one has committed.
        self.block_on(tx.batch_execute(
            "LOCK TABLE sites, tokens, notices, records, chain_heads, checkpoints
             IN EXCLUSIVE MODE",
        ))?;
        // (A head at seq 0 is a chain not started: a write refused there.)
        let mut copied_heads: BTreeMap<SiteId, lifecycle::Head> = BTreeMap::new();
        let rows = tx.query(
            "SELECT site_id, seq, hash FROM chain_heads WHERE seq > 0",
            &[],
        );
        for row in self.block_on(rows)? {
            let site = SiteId::parse(row.get::<_, &str>(0)).map_err(corrupt)?;
            let hash = RecordHash::parse(row.get::<_, &str>(2)).map_err(corrupt)?;
            copied_heads.insert(site, (log::seq_of(row.get(1)), hash));
        }
        if copied_heads.is_empty() {
            let held: i64 = self
                .block_on(tx.query_one(
                    "SELECT (SELECT count(*) FROM sites) + (SELECT count(*) FROM tokens)
                          + (SELECT count(*) FROM checkpoints) + (SELECT count(*) FROM notices)",
                    &[],
                ))?
                .get(0);
            if held > 0 {
                return Err(CopyError::NotEmpty);
            }
        }
        // Where each chain copied before ends: a record of the source's (or
        // a purge checkpoint, when that copy held no record of the site).
        let mut ends: BTreeMap<SiteId, (lifecycle::Head, bool)> = BTreeMap::new();
        for (site, head) in &copied_heads {
            let at_checkpoint = source
                .checkpoints(site)?
                .iter()
                .any(|cp| cp.seq == head.0 && cp.hash == head.1);
            ends.insert(site.clone(), (head.clone(), at_checkpoint));
        }
        let sites = source.site_rows()?;
        let insert = self.block_on(tx.prepare(
            "INSERT INTO records (site_id, seq, consent_id, event, event_time, body, hash)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])",
        ))?;
        let mut heads: BTreeMap<SiteId, lifecycle::Head> = BTreeMap::new();
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
                    &column(&|r| r.body.event_time.to_string()),
                    &column(&|r| r.canonical.clone()),
                    &column(&|r| r.hash.to_string()),
                ],
            ))?;
            copied += chunk.len() as u64;
            progress(copied);
            chunk.clear();
            Ok(())
        };
        source.for_each_record(None, &TimeRange::all(), &mut |body, hash| {
            let record = match Record::from_stored(body.to_owned(), hash) {
                Ok(r) => r,
                Err(e) => {
                    failed = Some(CopyError::Store(corrupt(e)));
                    return false;
                }
            };
            let site = record.body.site_id.clone();
            let seq = record.body.seq;
            heads.insert(site.clone(), (seq, record.hash.clone()));
            match ends.get_mut(&site) {
                // Held here already.
                Some(((end, _), _)) if seq < *end => return true,
                Some(((end, end_hash), found)) if seq == *end => {
                    *found = *end_hash == record.hash;
                    return true;
                }
                Some((_, false)) => {
                    failed = Some(CopyError::Diverged(site));
                    return false;
                }
                _ => {}
            }
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
        if let Some((site, _)) = ends.iter().find(|(_, (_, found))| !found) {
            return Err(CopyError::Diverged(site.clone()));
        }
        // Purge checkpoints of every site known by name or by its records;
        // a site whose records were all purged has its head there. A purge
        // the source ran since the last copy is repeated here.
        let copied_checkpoints: BTreeSet<(String, i64)> = self
            .block_on(tx.query("SELECT site_id, seq FROM checkpoints", &[]))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut named: BTreeSet<SiteId> = sites.iter().map(|r| r.config.id.clone()).collect();
        named.extend(heads.keys().cloned());
        named.extend(copied_heads.keys().cloned());
        let mut repeated = BTreeSet::new();
        for site in &named {
            for cp in source.checkpoints(site)? {
                let seq = cp.seq as i64;
                repeated.insert((cp.site_id.to_string(), seq));
                // A chain's head is its newest record, or once a purge
                // took them all, its newest checkpoint.
                let head = heads
                    .entry(site.clone())
                    .or_insert((cp.seq, cp.hash.clone()));
                if cp.seq > head.0 {
                    *head = (cp.seq, cp.hash.clone());
                }
                if copied_checkpoints.contains(&(cp.site_id.to_string(), seq)) {
                    continue;
                }
                self.block_on(tx.execute(
                    "DELETE FROM idempotency WHERE record_id IN
                       (SELECT id FROM records WHERE site_id = $1 AND seq <= $2)",
                    &[&cp.site_id.as_str(), &seq],
                ))?;
                self.block_on(tx.execute(
                    "DELETE FROM records WHERE site_id = $1 AND seq <= $2",
                    &[&cp.site_id.as_str(), &seq],
                ))?;
                self.block_on(tx.execute(
                    "INSERT INTO checkpoints (site_id, seq, hash, created_at, public_key, signature)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &cp.site_id.as_str(),
                        &seq,
                        &cp.hash.as_str(),
                        &cp.signed_at.to_string(),
                        &cp.public_key.as_str(),
                        &cp.signature.as_str(),
                    ],
                ))?;
            }
        }
        // A purge here that the source never ran: not a copy of it.
        if let Some((site, _)) = copied_checkpoints.difference(&repeated).next() {
            return Err(CopyError::Diverged(SiteId::parse(site).map_err(corrupt)?));
        }
        for (site, (seq, hash)) in &heads {
            self.block_on(tx.execute(
                "INSERT INTO chain_heads (site_id, seq, hash) VALUES ($1, $2, $3)
                 ON CONFLICT (site_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                &[&site.as_str(), &(*seq as i64), &hash.as_str()],
            ))?;
        }
        // Sites and tokens as the source has them now (edited, revoked
        // since the last copy). Those only this database holds (made here
        // since, or deleted from the source) are kept, and said.
        let ids = |sql| -> Result<BTreeSet<String>, CopyError> {
            Ok(self
                .block_on(tx.query(sql, &[]))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        };
        let mut kept_sites = ids("SELECT id FROM sites")?;
        let mut kept_tokens = ids("SELECT id FROM tokens")?;
        for row in &sites {
            kept_sites.remove(row.config.id.as_str());
            let config = serde_json::to_string(&*row.config).expect("a site config serialises");
            self.block_on(tx.execute(
                "INSERT INTO sites (id, config, revision, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET config = excluded.config,
                   revision = excluded.revision, created_at = excluded.created_at,
                   updated_at = excluded.updated_at",
                &[
                    &row.config.id.as_str(),
                    &config,
                    &(row.config.revision.get() as i64),
                    &row.created_at.to_string(),
                    &row.updated_at.to_string(),
                ],
            ))?;
        }
        for (token, secret_hash) in source.tokens()? {
            kept_tokens.remove(token.id.as_str());
            self.block_on(tx.execute(
                "INSERT INTO tokens (id, secret_hash, role, site_id, label, created_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash,
                   role = excluded.role, site_id = excluded.site_id, label = excluded.label,
                   created_at = excluded.created_at, revoked_at = excluded.revoked_at",
                &[
                    &token.id.as_str(),
                    &secret_hash.as_str(),
                    &token.role.as_str(),
                    &token.site.as_ref().map(SiteId::as_str),
                    &token.label,
                    &token.created_at.to_string(),
                    &token.revoked_at.map(|t| t.to_string()),
                ],
            ))?;
        }
        // Every version of the sites' texts the records name; versions are
        // only ever added.
        for (site, notice, first_seen) in source.kept_notices(None)? {
            self.block_on(tx.execute(
                "INSERT INTO notices (site_id, text_hash, language, texts, first_seen)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &site.as_str(),
                    &notice.text_hash.as_str(),
                    &notice.language.as_str(),
                    &notice.texts,
                    &first_seen.to_string(),
                ],
            ))?;
        }
        // In place of any key a node started here before the copy
        // recorded: the copied checkpoints are signed with the source's.
        if let Some(key) = key {
            self.block_on(tx.execute(
                "INSERT INTO log_key (id, public_key, recorded_at) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO UPDATE
                 SET public_key = excluded.public_key, recorded_at = excluded.recorded_at",
                &[&key.as_str(), &crate::timefmt::format(now)],
            ))?;
        }
        self.block_on(tx.commit())?;
        sites_changed();
        Ok(Copied {
            records: copied,
            earlier_copy: !copied_heads.is_empty(),
            kept_sites,
            kept_tokens,
        })
    }
}

/// What `crumb copy` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Records written (all of them, or those new since an earlier copy).
    pub records: u64,
    /// Whether the database held an earlier copy, which was brought up to
    /// date.
    pub earlier_copy: bool,
    /// Sites and tokens (by id) the earlier copy held and the source does
    /// not, which were kept.
    pub kept_sites: BTreeSet<String>,
    pub kept_tokens: BTreeSet<String>,
}

/// How many records one insert of `crumb copy` carries.
const COPY_CHUNK: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target database already holds sites or tokens but no log; crumb copy fills an \
         empty database, or brings an earlier copy up to date"
    )]
    NotEmpty,
    /// The target's chain of `0` does not end at a record of the source's:
    /// not an earlier copy, or nodes have written to it since.
    #[error(
        "the target database's log of site {0} is not an earlier copy of this one (or nodes have \
         written to it since); crumb copy fills an empty database, or brings an earlier copy up \
         to date"
    )]
    Diverged(SiteId),
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

impl Store for PostgresStore {
    fn recent_site(&self, id: &SiteId) -> Option<Arc<SiteConfig>> {
        sites::recent_site(self, id)
    }
    fn last_known_site(&self, id: &SiteId) -> Option<Arc<SiteConfig>> {
        self.sites.last_known(id)
    }

    fn site(&self, id: &SiteId) -> Result<Option<Arc<SiteConfig>>, StoreError> {
        sites::site(self, id)
    }

    fn put_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<(), StoreError> {
        sites::put_site(self, site, now)
    }

    fn update_site(
        &self,
        id: &SiteId,
        now: OffsetDateTime,
        change: &mut dyn FnMut(&SiteConfig) -> Result<SiteConfig, UpdateRefused>,
    ) -> Result<SiteUpdate, StoreError> {
        sites::update_site(self, id, now, change)
    }

    fn insert_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<bool, StoreError> {
        sites::insert_site(self, site, now)
    }

    fn delete_site(&self, id: &SiteId) -> Result<bool, StoreError> {
        sites::delete_site(self, id)
    }

    fn keep_notices(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<(), StoreError> {
        sites::keep_notices(self, site, now)
    }

    fn notices(&self, site: &SiteId, hash: &TextHash) -> Result<Vec<Notice>, StoreError> {
        sites::notices(self, site, hash)
    }

    fn kept_notices(
        &self,
        site: Option<&SiteId>,
    ) -> Result<Vec<(SiteId, Notice, Timestamp)>, StoreError> {
        sites::kept_notices(self, site)
    }

    fn latest_record(&self, consent: &ConsentId) -> Result<Option<Record>, StoreError> {
        log::latest_record(self, consent)
    }

    fn newest_site_record(&self, site: &SiteId) -> Result<Option<Record>, StoreError> {
        log::newest_site_record(self, site)
    }

    fn append(&self, drafts: &[Draft]) -> Result<Vec<AppendResult>, StoreError> {
        log::append(self, drafts)
    }

    fn record_count(&self) -> Result<u64, StoreError> {
        log::record_count(self)
    }

    fn history(&self, site: &SiteId, consent: &ConsentId) -> Result<Vec<Record>, StoreError> {
        log::history(self, site, consent)
    }

    fn for_each_record(
        &self,
        site: Option<&SiteId>,
        range: &TimeRange,
        f: &mut dyn FnMut(&str, &str) -> bool,
    ) -> Result<u64, StoreError> {
        log::for_each_record(self, site, range, f)
    }

    fn sites(&self) -> Result<Vec<SiteId>, StoreError> {
        sites::sites(self)
    }

    fn head(&self, site: &SiteId) -> Result<Option<(u64, RecordHash)>, StoreError> {
        log::head(self, site)
    }

    fn purge(
        &self,
        site: &SiteId,
        before: Timestamp,
        key: &crate::signing::Key,
        now: OffsetDateTime,
    ) -> Result<Option<(SignedHead, u64)>, StoreError> {
        log::purge(self, site, before, key, now)
    }

    fn checkpoints(&self, site: &SiteId) -> Result<Vec<SignedHead>, StoreError> {
        log::checkpoints(self, site)
    }

    fn connections(&self) -> Option<Connections> {
        let status = self.pool.status();
        Some(Connections {
            limit: status.max_size,
            open: status.size,
            idle: status.available,
            waiting: status.waiting,
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| async move {
            c.simple_query("SELECT 1").await?;
            Ok(())
        })
    }

    fn log_key(&self) -> Result<Option<PublicKey>, StoreError> {
        log::log_key(self)
    }

    fn record_log_key(
        &self,
        key: &PublicKey,
        at: OffsetDateTime,
        replace: bool,
    ) -> Result<PublicKey, StoreError> {
        log::record_log_key(self, key, at, replace)
    }

    fn stats(&self, site: &SiteId, range: &TimeRange) -> Result<Vec<DayStats>, StoreError> {
        stats::stats(self, site, range)
    }

    fn logged_sites(&self) -> Result<Vec<SiteId>, StoreError> {
        log::logged_sites(self)
    }

    fn site_rows(&self) -> Result<Vec<SiteRow>, StoreError> {
        sites::site_rows(self)
    }

    fn tokens(&self) -> Result<Vec<(TokenRow, SecretHash)>, StoreError> {
        tokens::tokens(self)
    }

    fn create_token(&self, row: &TokenRow, secret_hash: &SecretHash) -> Result<(), StoreError> {
        tokens::create_token(self, row, secret_hash)
    }

    fn token(&self, id: &TokenId) -> Result<Option<(TokenRow, SecretHash)>, StoreError> {
        tokens::token(self, id)
    }

    fn revoke_token(&self, id: &TokenId, now: OffsetDateTime) -> Result<bool, StoreError> {
        tokens::revoke_token(self, id, now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::PgUrl;

    #[test]
    fn a_dead_peer_is_found_in_seconds_unless_the_url_says_otherwise() {
        let url = PgUrl::parse("postgres://u@h/db").unwrap();
        assert_eq!(
            url.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(10))
        );
        assert_eq!(url.config.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(url.config.get_keepalives_retries(), Some(3));

        let url =
            PgUrl::parse("postgres://u@h/db?tcp_user_timeout=60&keepalives_idle=600").unwrap();
        assert_eq!(
            url.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(60))
        );
        assert_eq!(url.config.get_keepalives_idle(), Duration::from_secs(600));
        assert_eq!(
            url.config.get_keepalives_interval(),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_url_is_shown_with_every_host_and_no_password() {
        let url = PgUrl::parse("postgres://crumb:s3cret@a:5433,b:5434/log").unwrap();
        assert_eq!(url.to_string(), "postgres://crumb@a:5433,b:5434/log");
        let url = PgUrl::parse("postgres://crumb@a,b/log").unwrap();
        assert_eq!(url.to_string(), "postgres://crumb@a:5432,b:5432/log");
    }

    #[test]
    fn connection_limit_caps_a_nodes_pool_and_is_kept_from_the_driver() {
        assert_eq!(PgUrl::parse("postgres://u@h/db").unwrap().pool_size(), 16);
        let url = PgUrl::parse("postgres://u@h/db?connection_limit=3&sslmode=disable").unwrap();
        assert_eq!(url.pool_size(), 3);
        assert_eq!(url.ssl_mode(), super::tls::SslMode::Disable);
        let url = PgUrl::parse("postgres://u@h/db?application_name=a&connection_limit=40").unwrap();
        assert_eq!(url.pool_size(), 40);
        assert_eq!(url.config.get_application_name(), Some("a"));
        for bad in ["0", "1", "many", ""] {
            let err = PgUrl::parse(&format!("postgres://u@h/db?connection_limit={bad}"))
                .err()
                .unwrap_or_else(|| panic!("connection_limit={bad} was taken"));
            assert!(err.contains("at least 2"), "{err}");
        }
    }
}
