//! Where sites and consent records live. The rest of the server talks to
//! the [`Store`] trait; [`SqliteStore`] is the embedded-SQLite
//! implementation, [`PostgresStore`] the one several nodes share, and
//! [`Writer`] the group-commit front for appends. [`Database`] says which.
//!
//! Every `Store` method blocks. Callers on the async workers must go
//! through `web::block` (reads) or the [`Writer`] thread (appends).

mod postgres;
pub mod site_cache;
mod sqlite;
mod writer;

use std::sync::Arc;

use crumb_schema::{
    Choices, ConsentId, LanguageTag, Method, RecordHash, RecordId, SiteConfig, SiteId, TextHash,
};
use time::OffsetDateTime;

pub use crate::lifecycle::Minted;
use crate::record::{Record, Unchained};
use crate::signing::{PublicKey, SignedHead};
use crate::sites::{Notice, UpdateRefused};
use crate::timefmt::Timestamp;

pub use postgres::{CopyError, PgUrl, PostgresStore, tls::SslMode};
pub use sqlite::SqliteStore;
pub use writer::{Writer, WriterError};

/// What a store can fail with, in terms of no engine: each adapter
/// sorts its driver's errors into these (`sqlite/mod.rs`: `From<rusqlite::Error>`),
/// so no driver type crosses the `Store` trait.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer holds the database's lock past the busy timeout;
    /// nothing was stored, and the same work may be tried again.
    #[error("the database is busy: {0}")]
    Busy(#[source] BackendError),
    /// The database cannot take this for now: the disk is full or failing,
    /// the file is read-only or cannot be opened. Nothing was stored.
    #[error("the database cannot take this now: {0}")]
    Unavailable(#[source] BackendError),
    /// Any other failure of the database engine.
    #[error("database error: {0}")]
    Backend(#[source] BackendError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("could not start a thread: {0}")]
    Thread(String),
    #[error("cannot create the database file {}: {source}", path.display())]
    Create {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// [`Database::open_existing`] found no Crumb log where it looked.
    #[error(
        "no Crumb log in {0}; `crumb migrate` creates one where the `database` setting or CRUMB_DATABASE says"
    )]
    NoLog(String),
}

/// Where the log lives: a SQLite file (the embedded default), or a
/// PostgreSQL database that several nodes share. A `postgres://` or
/// `postgresql://` URL selects PostgreSQL; anything else is a file path.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(std::path::PathBuf),
    Postgres(PgUrl),
}

impl Database {
    pub fn parse(s: &str) -> Result<Database, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            PgUrl::parse(s).map(Database::Postgres)
        } else if s.is_empty() {
            Err("the database is empty: give a file path or a postgres:// URL".into())
        } else {
            Ok(Database::Sqlite(s.into()))
        }
    }

    /// Opens the store, creating and migrating the database as needed.
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => {
                let store = Arc::new(SqliteStore::open(path)?);
                store as Arc<dyn Store>
            }
            Database::Postgres(url) => Arc::new(PostgresStore::open(url)?),
        })
    }

    /// Opens a log that is there already, for commands that read or change
    /// what it holds: a SQLite path with no file, or a PostgreSQL database
    /// without Crumb's tables, is [`StoreError::NoLog`] rather than a new,
    /// empty log (a mistyped setting would otherwise leave one behind and
    /// answer "no site", or "OK: 0 records verified"). `serve`, `migrate`,
    /// `site create` and `token create` use [`Database::open`], which
    /// creates the log.
    pub fn open_existing(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => {
                if !path.is_file() {
                    return Err(StoreError::NoLog(format!("SQLite file {}", path.display())));
                }
                Arc::new(SqliteStore::open(path)?)
            }
            Database::Postgres(url) => Arc::new(PostgresStore::open_existing(url)?),
        })
    }

    /// The setting's value as given (a PostgreSQL URL with its password),
    /// for `CRUMB_DATABASE` of another process.
    pub fn to_setting(&self) -> std::ffi::OsString {
        match self {
            Database::Sqlite(path) => path.clone().into_os_string(),
            Database::Postgres(url) => url.as_str().into(),
        }
    }

    /// The SQLite file, if that is the engine.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

/// A file path as given, a PostgreSQL URL without its password.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Database {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Database::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A database setting as it may be shown: a URL's password replaced by
/// `***` (`postgres://user:***@host/db`).
pub fn without_password(setting: &str) -> String {
    let Some((scheme, rest)) = setting.split_once("://") else {
        return setting.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => setting.to_owned(),
    }
}

/// A database engine's own error, kept for the log and the error chain.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

impl StoreError {
    /// The store cannot do this for now, through no fault of the request:
    /// the disk is full or failing, the database is read-only or busy past
    /// every retry. Nothing was stored, and a retry later may succeed.
    pub fn unavailable(&self) -> bool {
        matches!(self, StoreError::Busy(_) | StoreError::Unavailable(_))
    }
}

/// Fresh time-ordered (UUIDv7) ids for a record made at `at`, so inserts
/// land at the end of the consent index.
pub fn mint(at: OffsetDateTime) -> Result<Minted, StoreError> {
    let ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut random = [0u8; 20];
    getrandom::fill(&mut random).map_err(|e| StoreError::Random(e.to_string()))?;
    let (record, consent) = random.split_at(10);
    let ten = |r: &[u8]| -> [u8; 10] { r.try_into().expect("ten bytes") };
    Ok(Minted {
        record_id: RecordId::time_ordered(ms, ten(record)),
        consent_id: ConsentId::time_ordered(ms, ten(consent)),
    })
}

/// Runs blocking store work on the runtime's blocking pool, never on the
/// async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Corrupt(format!("blocking task failed: {e}")))?
}

/// A node's pool of connections to its database server, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// The most it may open (`connection_limit`).
    pub limit: usize,
    /// Open now.
    pub open: usize,
    /// Open and idle.
    pub idle: usize,
    /// Requests waiting for one.
    pub waiting: usize,
}

/// What [`Store::update_site`] did.
#[derive(Debug)]
pub enum SiteUpdate {
    /// The config as now stored.
    Updated(Box<SiteConfig>),
    /// The change refused the stored config; nothing was written.
    Refused(UpdateRefused),
    /// There is no such site.
    NoSite,
}

/// A record to append, validated against `site` by the caller; the store
/// fills in the chain position and the previous hash.
#[derive(Debug, Clone)]
pub struct Draft {
    pub site: Arc<SiteConfig>,
    pub action: Action,
    pub event_time: OffsetDateTime,
    /// The record's id and, for a new consent, the consent's: minted where
    /// the draft is made (on an HTTP worker), so the single writer thread
    /// makes no system call for randomness.
    pub ids: Minted,
    pub user_agent: String,
    pub ip_network: String,
    /// The request carried `Sec-GPC: 1`.
    pub gpc: bool,
    /// The request's `Idempotency-Key`, if it sent one.
    pub idempotency: Option<Idempotency>,
    /// A choice's record made ahead of the writer, but for its place in the
    /// chain ([`crate::lifecycle::prepare`]): [`writer::Writer::append`]
    /// makes it on the HTTP worker that queues the draft. Without it the
    /// store makes the whole record itself.
    pub prepared: Option<Unchained>,
}

impl Draft {
    /// The existing consent this draft changes or withdraws, if any: the
    /// one whose newest record the rules need.
    pub fn named_consent(&self) -> Option<&ConsentId> {
        match &self.action {
            Action::Choose { consent_id, .. } => consent_id.as_ref(),
            Action::Withdraw { consent_id } => Some(consent_id),
        }
    }
}

/// A write's idempotency key and the hash of what it asked for: a retry
/// (same key, same request) gets the first record back; the same key with
/// another request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub request_hash: RequestHash,
}

/// The SHA-256 (lowercase hex) of a write's request body, kept with its
/// idempotency key to tell a retry from another request under that key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHash(String);

impl RequestHash {
    pub fn of(request: &[u8]) -> RequestHash {
        RequestHash(crate::record::sha256_hex(request))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An `Idempotency-Key` header value: 1 to 128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Option<IdempotencyKey> {
        let ok = (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| IdempotencyKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    /// A new consent (`consent_id: None`) or a changed one.
    Choose {
        consent_id: Option<ConsentId>,
        language: LanguageTag,
        text_hash: TextHash,
        method: Method,
        choices: Choices,
    },
    Withdraw {
        consent_id: ConsentId,
    },
}

/// Why one draft of a batch was not appended. Nothing is stored for it; the
/// other drafts of the batch are unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("the consent id is not known for this site")]
    UnknownConsent,
    #[error("the consent is already withdrawn")]
    AlreadyWithdrawn,
    /// Nothing was appended: the draft's idempotency key already names
    /// this record, made by the same request.
    #[error("this request was already stored")]
    Replayed(Box<Record>),
    /// Nothing was appended: the key was used for another request.
    #[error("the idempotency key was used for another request")]
    KeyReused,
}

pub type AppendResult = Result<Record, AppendError>;

/// A half-open range of event times, `from <= event_time < to`; `None` is
/// an open end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl TimeRange {
    pub fn all() -> Self {
        Self {
            from: None,
            to: None,
        }
    }

    /// Whether the range has an end (else it holds every record).
    pub fn is_bounded(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// The ends as the adapters compare them with the `event_time` column,
    /// which holds the one textual form (it sorts in time order): an open
    /// start is the empty string, an open end `~`, after every digit.
    pub fn column_bounds(&self) -> (String, String) {
        (
            self.from.map_or_else(String::new, |t| t.to_string()),
            self.to.map_or_else(|| "~".to_owned(), |t| t.to_string()),
        )
    }
}

/// One day of consent decisions (given or updated events) on a site.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DayStats {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub decisions: u64,
    /// Decisions that allowed functional, analytics, marketing.
    pub allowed: [u64; 3],
    /// Decisions by method: accept_all, reject_all, custom, gpc.
    pub methods: [u64; 4],
}

/// Counts decisions per day from stored records, for an engine that reads
/// the rows and counts them here: decoding only the two fields the counts
/// need is several times faster than SQLite's JSON functions over every
/// record.
#[derive(Debug, Default)]
pub struct Tally {
    days: std::collections::BTreeMap<String, DayStats>,
}

impl Tally {
    /// Counts the record `body` (canonical JSON, a given or updated
    /// consent) on `day` (`YYYY-MM-DD`).
    pub fn add(&mut self, day: &str, body: &str) -> Result<(), StoreError> {
        #[derive(serde::Deserialize)]
        struct Counted<'a> {
            #[serde(borrow)]
            method: &'a str,
            #[serde(borrow)]
            categories_granted: Vec<&'a str>,
        }
        let record: Counted<'_> =
            serde_json::from_str(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stats = self.days.entry(day.to_owned()).or_insert_with(|| DayStats {
            day: day.to_owned(),
            ..DayStats::default()
        });
        stats.decisions += 1;
        for (i, category) in ["functional", "analytics", "marketing"].iter().enumerate() {
            if record.categories_granted.contains(category) {
                stats.allowed[i] += 1;
            }
        }
        let method = ["accept_all", "reject_all", "custom", "gpc"]
            .iter()
            .position(|m| *m == record.method);
        if let Some(i) = method {
            stats.methods[i] += 1;
        }
        Ok(())
    }

    /// The days counted, oldest first.
    pub fn finish(self) -> Vec<DayStats> {
        self.days.into_values().collect()
    }
}

/// A site's row: its config and when it was created and last changed.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    pub config: Arc<SiteConfig>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manages sites (its own, or every site when not bound to one).
    Owner,
    /// Reads and exports the log, never changes anything.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A token's id: the 16 hex digits after `crumb_`, which find its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenId(String);

impl TokenId {
    pub fn parse(s: &str) -> Option<TokenId> {
        let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| TokenId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: TokenId,
    pub role: Role,
    /// The one site the token is for; `None` means every site.
    pub site: Option<SiteId>,
    pub label: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl TokenRow {
    /// A token row from its stored columns, each checked: what both
    /// adapters read.
    pub fn from_columns(
        id: &str,
        role: &str,
        site: Option<&str>,
        label: String,
        created_at: &str,
        revoked_at: Option<&str>,
    ) -> Result<TokenRow, StoreError> {
        let corrupt =
            |what: &str, value: &str| StoreError::Corrupt(format!("token {what} {value:?}"));
        Ok(TokenRow {
            id: TokenId::parse(id).ok_or_else(|| corrupt("id", id))?,
            role: Role::parse(role).ok_or_else(|| corrupt("role", role))?,
            site: site
                .map(|s| SiteId::parse(s).map_err(|_| corrupt("site", s)))
                .transpose()?,
            label,
            created_at: stored_time(created_at)?,
            revoked_at: revoked_at.map(stored_time).transpose()?,
        })
    }
}

/// The SHA-256 (lowercase hex) of an API token's secret: all that is kept
/// of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(crate::record::sha256_hex(secret.as_bytes()))
    }

    /// Read back from the column it was written to.
    pub fn stored(s: String) -> Result<SecretHash, StoreError> {
        if crumb_schema::is_sha256_hex(&s) {
            Ok(SecretHash(s))
        } else {
            Err(StoreError::Corrupt(format!("token secret hash {s:?}")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An instant read back from a column the adapters wrote.
pub fn stored_time(s: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A purge checkpoint read back from its columns: each in the form it was
/// written in, else the database was altered outside Crumb.
pub fn stored_checkpoint(
    site: &SiteId,
    seq: u64,
    hash: &str,
    signed_at: &str,
    public_key: &str,
    signature: &str,
) -> Result<SignedHead, StoreError> {
    let corrupt =
        |e: String| StoreError::Corrupt(format!("checkpoint of {site} at seq {seq}: {e}"));
    Ok(SignedHead {
        site_id: site.clone(),
        seq,
        hash: RecordHash::parse(hash).map_err(|e| corrupt(e.to_string()))?,
        signed_at: Timestamp::parse(signed_at).map_err(|e| corrupt(e.to_string()))?,
        public_key: PublicKey::parse(public_key).map_err(corrupt)?,
        signature: crate::signing::HeadSignature::parse(signature).map_err(corrupt)?,
    })
}

/// A kept version of a site's texts read back from its columns.
pub fn stored_notice(language: &str, hash: &str, texts: String) -> Result<Notice, StoreError> {
    let corrupt = |e: crumb_schema::IdError| StoreError::Corrupt(e.to_string());
    Ok(Notice {
        language: LanguageTag::parse(language).map_err(corrupt)?,
        text_hash: TextHash::parse(hash).map_err(corrupt)?,
        texts,
    })
}

pub trait Store: Send + Sync + 'static {
    /// A site's config, shared: stores may cache them.
    fn site(&self, id: &SiteId) -> Result<Option<Arc<SiteConfig>>, StoreError>;
    /// A site's config if the store has it in memory and known current,
    /// without any I/O (so callable on an async worker); else `None` and the
    /// caller uses [`Store::site`].
    fn recent_site(&self, _id: &SiteId) -> Option<Arc<SiteConfig>> {
        None
    }
    /// The site's config as last read, however old, without any I/O; for
    /// when the database cannot be reached.
    fn last_known_site(&self, _id: &SiteId) -> Option<Arc<SiteConfig>> {
        None
    }
    /// Creates the site or replaces its config, whatever is stored (the
    /// demo site, seeding); owners' changes go through `update_site`.
    fn put_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Replaces a site's config with what `change` (a rule of
    /// `crate::sites`) makes of the config as stored, in one transaction
    /// that holds the site's row: a concurrent change is either seen by
    /// `change` or waits for this one.
    fn update_site(
        &self,
        id: &SiteId,
        now: OffsetDateTime,
        change: &mut dyn FnMut(&SiteConfig) -> Result<SiteConfig, UpdateRefused>,
    ) -> Result<SiteUpdate, StoreError>;
    /// Creates a site; false when one with that id exists.
    fn insert_site(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Deletes a site's config (its records stay: the log is append-only).
    fn delete_site(&self, id: &SiteId) -> Result<bool, StoreError>;
    /// Keeps the versions of `site`'s texts ([`crate::sites::notices`])
    /// that the log does not hold yet. Every config write keeps its own in
    /// its transaction; this is for configs written before the log kept
    /// them (`crumb serve` calls it for every site on start).
    fn keep_notices(&self, site: &SiteConfig, now: OffsetDateTime) -> Result<(), StoreError>;
    /// The texts a site showed under `hash`, one per language that had
    /// them (almost always one); none if the log never kept them.
    fn notices(&self, site: &SiteId, hash: &TextHash) -> Result<Vec<Notice>, StoreError>;
    /// Every kept version of a site's texts (`None`: of every site, which
    /// `crumb copy` moves), with its site and when it was first kept,
    /// oldest first per site.
    fn kept_notices(
        &self,
        site: Option<&SiteId>,
    ) -> Result<Vec<(SiteId, Notice, Timestamp)>, StoreError>;
    /// The newest record of a consent, whatever site it belongs to.
    fn latest_record(&self, consent: &ConsentId) -> Result<Option<Record>, StoreError>;
    /// The newest record of a site's chain (none once all are purged).
    fn newest_site_record(&self, site: &SiteId) -> Result<Option<Record>, StoreError>;
    /// Appends a batch in one transaction and returns one result per draft,
    /// in order. `Err` means nothing of the batch was stored.
    fn append(&self, drafts: &[Draft]) -> Result<Vec<AppendResult>, StoreError>;
    fn record_count(&self) -> Result<u64, StoreError>;
    /// Every record of one consent on one site, oldest first.
    fn history(&self, site: &SiteId, consent: &ConsentId) -> Result<Vec<Record>, StoreError>;
    /// Calls `f(canonical_body, hash)` for each record in the range (one
    /// site or all), ordered by site and chain position, from one consistent
    /// snapshot, until `f` returns false. Returns how many were visited.
    /// Rows are streamed: memory stays constant whatever the range.
    ///
    /// A site's records in a range are one unbroken stretch of its chain,
    /// from the first record in the range to the last: every record in
    /// between comes too, though its time may fall a little outside.
    /// Chain order is not quite time order: each record takes its time
    /// when its request arrives, and requests reach the chain in the order
    /// they are queued (on several nodes, also by clocks that differ). A
    /// range's edge can fall between two records that came out of order,
    /// and an export that left one of them out would not verify.
    fn for_each_record(
        &self,
        site: Option<&SiteId>,
        range: &TimeRange,
        f: &mut dyn FnMut(&str, &str) -> bool,
    ) -> Result<u64, StoreError>;
    fn sites(&self) -> Result<Vec<SiteId>, StoreError>;
    /// Every site with a chain (records, or a purge checkpoint), by id,
    /// whether or not a config still names it.
    fn logged_sites(&self) -> Result<Vec<SiteId>, StoreError>;
    /// Every site's row, by id (`crumb copy` moves them).
    fn site_rows(&self) -> Result<Vec<SiteRow>, StoreError>;
    /// Every token with its secret's hash, revoked ones included (`crumb
    /// copy` moves them).
    fn tokens(&self) -> Result<Vec<(TokenRow, SecretHash)>, StoreError>;
    /// The last chain position and hash of a site (after a full purge, the
    /// checkpoint's), or `None` for a site without records.
    fn head(&self, site: &SiteId) -> Result<Option<(u64, RecordHash)>, StoreError>;
    /// Deletes the site's records before `before` (a prefix of its chain)
    /// and, in the same transaction, stores a checkpoint for the last
    /// deleted record signed with `key`. Returns the checkpoint, or `None`
    /// when nothing was old enough.
    fn purge(
        &self,
        site: &SiteId,
        before: Timestamp,
        key: &crate::signing::Key,
        now: OffsetDateTime,
    ) -> Result<Option<(SignedHead, u64)>, StoreError>;
    /// The purge checkpoints of a site, oldest first.
    fn checkpoints(&self, site: &SiteId) -> Result<Vec<SignedHead>, StoreError>;
    /// Whether the database answers now (one trivial query).
    fn ping(&self) -> Result<(), StoreError>;
    /// The node's connections to a database server, for `/metrics`
    /// (`None` for an embedded database).
    fn connections(&self) -> Option<Connections> {
        None
    }
    /// The public key the log records as the one it is signed with.
    fn log_key(&self) -> Result<Option<PublicKey>, StoreError>;
    /// Records `key` as the log's signing key where none is recorded, or
    /// in place of the recorded one when `replace`; answers the key the
    /// log records after the call (another node's, if it came first).
    fn record_log_key(
        &self,
        key: &PublicKey,
        at: OffsetDateTime,
        replace: bool,
    ) -> Result<PublicKey, StoreError>;
    /// Per-day decision counts for a site, oldest day first.
    fn stats(&self, site: &SiteId, range: &TimeRange) -> Result<Vec<DayStats>, StoreError>;
    fn create_token(&self, row: &TokenRow, secret_hash: &SecretHash) -> Result<(), StoreError>;
    /// A token and its secret's hash.
    fn token(&self, id: &TokenId) -> Result<Option<(TokenRow, SecretHash)>, StoreError>;
    /// Revokes a token; false when there was no live token with that id.
    fn revoke_token(&self, id: &TokenId, now: OffsetDateTime) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_hash_reads_back_only_in_the_form_it_is_written_in() {
        let hash = SecretHash::of("s3cret");
        assert_eq!(SecretHash::stored(hash.as_str().to_owned()).unwrap(), hash);
        assert!(SecretHash::stored("ab".into()).is_err());
        assert!(SecretHash::stored("AB".repeat(32)).is_err());
    }

    #[test]
    fn a_tally_counts_each_days_decisions_by_category_and_method() {
        let record = |method: &str, granted: &str| {
            format!(
                r#"{{"seq":1,"method":"{method}","categories_granted":[{granted}],"categories_denied":[],"user_agent":"\"method\":\"gpc\""}}"#
            )
        };
        let mut tally = Tally::default();
        let all = r#""necessary","functional","analytics","marketing""#;
        tally.add("2026-01-02", &record("accept_all", all)).unwrap();
        tally
            .add("2026-01-01", &record("reject_all", r#""necessary""#))
            .unwrap();
        tally
            .add(
                "2026-01-01",
                &record("custom", r#""necessary","analytics""#),
            )
            .unwrap();
        assert!(tally.add("2026-01-01", "not json").is_err());

        let days = tally.finish();
        assert_eq!(
            days,
            [
                DayStats {
                    day: "2026-01-01".into(),
                    decisions: 2,
                    allowed: [0, 1, 0],
                    methods: [0, 1, 1, 0],
                },
                DayStats {
                    day: "2026-01-02".into(),
                    decisions: 1,
                    allowed: [1, 1, 1],
                    methods: [1, 0, 0, 0],
                },
            ]
        );
    }
}
