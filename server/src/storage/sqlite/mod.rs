//! The embedded SQLite store: WAL mode, `synchronous = FULL` (a commit is on
//! disk before it returns), migrations compiled into the binary, one write
//! connection and a small pool of read connections.

mod copy;
mod log;
mod sites;
mod stats;
mod tokens;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use crumb_schema::{ConsentId, RecordHash, SiteConfig, SiteId, TextHash};
use rusqlite::Connection;
use time::OffsetDateTime;

use super::{
    AppendResult, DayStats, Draft, SecretHash, SiteRow, SiteUpdate, Store, StoreError, TimeRange,
    TokenId, TokenRow,
};
use crate::record::Record;
use crate::signing::{PublicKey, SignedHead};
use crate::sites::{Notice, UpdateRefused};
use crate::timefmt::Timestamp;

use super::site_cache::SiteCache;

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
    include_str!("../../../migrations/0001_init.sql"),
    include_str!("../../../migrations/0002_tokens.sql"),
    include_str!("../../../migrations/0003_checkpoints.sql"),
    include_str!("../../../migrations/0004_sites_version.sql"),
    include_str!("../../../migrations/0005_idempotency.sql"),
    include_str!("../../../migrations/0006_log_key.sql"),
    include_str!("../../../migrations/0007_notices.sql"),
];

pub struct SqliteStore {
    path: PathBuf,
    write: Mutex<WriteSide>,
    readers: Mutex<Readers>,
    /// Signalled whenever a read connection goes back to `readers`.
    reader_back: Condvar,
    sites: SiteCache,
}

/// The read connections: those idle between reads, and how many are open.
#[derive(Default)]
struct Readers {
    idle: Vec<Connection>,
    open: usize,
}

/// Read connections open at most. A read that finds none idle waits for
/// one to come back rather than opening another: a connection opened for
/// one read and closed after (its prepared statements and page cache
/// thrown away) held visit checks at 128 connections to 16,200 a second
/// with a p99 of 23 ms, against 18,500 and 18 ms with the pool, and each
/// holds three files open, which under a burst of reads went towards the
/// process's open-file limit beside the HTTP connections.
const MAX_READERS: usize = 16;

/// A read connection lent by the pool; it goes back when dropped, so a
/// read that fails returns it too.
struct Lease<'a> {
    store: &'a SqliteStore,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.store.readers.lock().unwrap().idle.push(conn);
            self.store.reader_back.notify_one();
        }
    }
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
    heads: HashMap<SiteId, crate::lifecycle::Head>,
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

/// A connection for reads only.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies any
    /// pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path).map_err(|source| StoreError::Create {
            path: path.to_owned(),
            source,
        })?;
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
            readers: Mutex::new(Readers::default()),
            reader_back: Condvar::new(),
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

    /// Writes a consistent snapshot of the whole database to `target`, a
    /// file that must not exist, while the server goes on writing: one
    /// read transaction (`VACUUM INTO`), to a `.partial` file made private
    /// first, flushed to disk (SQLite does not), then renamed, so a file
    /// at `target` is always a complete copy.
    pub fn backup_to(&self, target: &Path) -> Result<(), BackupError> {
        if target.exists() {
            return Err(BackupError::Exists(target.to_owned()));
        }
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let io = |source| BackupError::Io {
            path: partial.clone(),
            source,
        };
        // A `.partial` file is only ever an interrupted backup's.
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        // VACUUM INTO fills an empty file it is given, keeping its mode.
        create_private(&partial).map_err(io)?;
        let written = open_connection(&self.path)
            .and_then(|conn| {
                conn.execute("VACUUM INTO ?1", [partial.to_string_lossy()])
                    .map(|_| ())
            })
            .map_err(|e| BackupError::Store(e.into()));
        let flushed = written.and_then(|()| {
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(io)
        });
        if let Err(e) = flushed {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, target).map_err(|source| BackupError::Io {
            path: target.to_owned(),
            source,
        })?;
        // The rename is durable once the folder's entry is.
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }

    /// Runs `f` on a read connection from the pool. WAL lets readers run
    /// alongside the writer, so reads never wait for a batch to commit.
    /// For short reads only: a long one (an export, which lasts as long as
    /// its client reads) takes [`SqliteStore::read_alone`].
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lease = self.lease()?;
        f(lease
            .conn
            .as_ref()
            .expect("a lease holds its connection until dropped"))
    }

    /// Runs `f` on a read connection of its own, closed after, so a long
    /// read keeps none of the pool's from the short ones.
    fn read_alone<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&open_reader(&self.path)?)
    }

    /// An idle read connection, a new one while fewer than
    /// [`MAX_READERS`] are open, else the next one to come back.
    fn lease(&self) -> Result<Lease<'_>, StoreError> {
        let mut readers = self.readers.lock().unwrap();
        loop {
            if let Some(conn) = readers.idle.pop() {
                return Ok(Lease {
                    store: self,
                    conn: Some(conn),
                });
            }
            if readers.open < MAX_READERS {
                readers.open += 1;
                drop(readers);
                return match open_reader(&self.path) {
                    Ok(conn) => Ok(Lease {
                        store: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.readers.lock().unwrap().open -= 1;
                        self.reader_back.notify_one();
                        Err(e)
                    }
                };
            }
            readers = self.reader_back.wait(readers).unwrap();
        }
    }
}

/// Why `crumb backup` wrote no backup.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} exists already: crumb backup never overwrites a file", .0.display())]
    Exists(PathBuf),
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
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

impl Store for SqliteStore {
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

    fn stats(&self, site: &SiteId, range: &TimeRange) -> Result<Vec<DayStats>, StoreError> {
        stats::stats(self, site, range)
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

    fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| Ok(conn.query_row("SELECT count(*) FROM sites", [], |_| Ok(()))?))
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

    fn sites(&self) -> Result<Vec<SiteId>, StoreError> {
        sites::sites(self)
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

    fn record_count(&self) -> Result<u64, StoreError> {
        log::record_count(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_share_at_most_max_readers_connections_however_many_run_at_once() {
        // Arrange: a database, and four times as many reads at once as the
        // pool may open connections for.
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("crumb.db")).unwrap());
        let most_at_once = Arc::new(Mutex::new((0usize, 0usize)));

        // Act
        let reads: Vec<_> = (0..MAX_READERS * 4)
            .map(|_| {
                let (store, most_at_once) = (store.clone(), most_at_once.clone());
                std::thread::spawn(move || {
                    store.read(|conn| {
                        {
                            let mut m = most_at_once.lock().unwrap();
                            m.0 += 1;
                            m.1 = m.1.max(m.0);
                        }
                        let sites: i64 =
                            conn.query_row("SELECT count(*) FROM sites", [], |r| r.get(0))?;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        most_at_once.lock().unwrap().0 -= 1;
                        Ok(sites)
                    })
                })
            })
            .collect();
        let answers: Vec<_> = reads.into_iter().map(|t| t.join().unwrap()).collect();

        // Assert: every read answered; no more connections were opened
        // than the cap, and they stay open for the next reads.
        assert!(answers.iter().all(|a| matches!(a, Ok(0))), "{answers:?}");
        assert!(most_at_once.lock().unwrap().1 <= MAX_READERS);
        let readers = store.readers.lock().unwrap();
        assert!(readers.open <= MAX_READERS, "{} open", readers.open);
        assert_eq!(readers.idle.len(), readers.open);
    }
}
