//! What only PostgreSQL does: `crumb copy` moves a SQLite log into it byte
//! for byte, and the server gets over PostgreSQL ending its connections.
//! Run only on PostgreSQL (`CRUMB_TEST_POSTGRES`); elsewhere these tests
//! say so and pass.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crumb_server::storage::{Database, Role, SqliteStore, Store, TimeRange};
use time::macros::datetime;

use crate::helpers::{postgres_admin, postgres_execute, postgres_query};

/// The name of the database a PostgreSQL URL names.
fn database_name(url: &crumb_server::storage::PgUrl) -> String {
    url.as_str().rsplit('/').next().unwrap().to_owned()
}

/// Every record of a store as stored: canonical bytes and hash.
fn stored(store: &dyn Store) -> Vec<(String, String)> {
    let mut out = Vec::new();
    store
        .for_each_record(None, &TimeRange::all(), &mut |body, hash| {
            out.push((body.to_owned(), hash.to_owned()));
            true
        })
        .unwrap();
    out
}

/// When the copy tests' SQLite logs are written.
const NOW: time::OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

/// A SQLite log with the demo site and its signing key beside it, as
/// `crumb serve` leaves them, and an empty PostgreSQL database to copy it
/// into.
struct CopyCase {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    source: SqliteStore,
    demo: crumb_schema::SiteId,
    key: crumb_server::signing::Key,
    url: String,
}

impl CopyCase {
    /// `None` (the test says it is skipped) without PostgreSQL.
    fn new(name: &str) -> Option<CopyCase> {
        let Some(admin) = postgres_admin() else {
            eprintln!("skipped: crumb copy needs PostgreSQL (CRUMB_TEST_POSTGRES)");
            return None;
        };
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("crumb.db");
        let source = SqliteStore::open(&file).unwrap();
        crumb_server::demo::ensure_demo_site(&source, NOW).unwrap();
        let key =
            crumb_server::signing::Key::load_or_create(&dir.path().join("crumb.db.key")).unwrap();
        let name = format!("crumb_{name}_{}", std::process::id());
        postgres_execute(&admin, &format!("CREATE DATABASE {name}"));
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Some(CopyCase {
            _dir: dir,
            file,
            source,
            demo: crumb_schema::SiteId::parse("demo").unwrap(),
            key,
            url,
        })
    }

    /// Appends `count` records to the SQLite log, spread over the `spread`
    /// before `until`.
    fn seed(&self, count: u64, spread: time::Duration, until: time::OffsetDateTime) {
        let site = self.source.site(&self.demo).unwrap().unwrap();
        crumb_server::seed::seed(&self.source, site, count, spread, until, 500, |_| {}).unwrap();
    }

    /// Gives the SQLite log's demo site a new English title (a new version
    /// of its texts) and returns the config as stored.
    fn retitle(&self, title: &str) -> crumb_schema::SiteConfig {
        let mut edited = (*self.source.site(&self.demo).unwrap().unwrap()).clone();
        let en = crumb_schema::LanguageTag::parse("en").unwrap();
        edited.texts.get_mut(&en).unwrap().title = title.into();
        self.source.put_site(&edited, NOW).unwrap();
        edited
    }

    /// Purges the demo site's records of `store` (the SQLite log or its
    /// copy) from before `before`, signed with the log's key.
    fn purge(
        &self,
        store: &dyn Store,
        before: time::OffsetDateTime,
    ) -> (crumb_server::signing::SignedHead, u64) {
        store
            .purge(
                &self.demo,
                crumb_server::timefmt::Timestamp::at(before),
                &self.key,
                NOW,
            )
            .unwrap()
            .expect("records old enough to purge")
    }

    /// `crumb copy` from the SQLite log into the PostgreSQL database.
    fn copy(&self) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(["copy", "--from"])
            .arg(&self.file)
            .args(["--to", &self.url])
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    }

    fn target(&self) -> crumb_server::storage::PostgresStore {
        let Ok(Database::Postgres(pg)) = Database::parse(&self.url) else {
            unreachable!()
        };
        crumb_server::storage::PostgresStore::open(&pg).unwrap()
    }
}

#[test]
fn copy_moves_a_sqlite_log_into_postgres_byte_for_byte() {
    // Arrange: a SQLite log with 1,200 records, a purge checkpoint and a
    // token; an empty PostgreSQL database.
    let Some(case) = CopyCase::new("copy") else {
        return;
    };
    let (source, demo, key, now) = (&case.source, &case.demo, &case.key, NOW);
    case.seed(1200, time::Duration::days(30), now);
    let (checkpoint, purged) = case.purge(source, datetime!(2026-05-15 00:00 UTC));
    assert!(purged > 0);
    crumb_server::auth::issue(source, Role::Auditor, None, "copied", now).unwrap();
    // Two versions of the English texts: the demo's, and an owner's edit.
    let edited = case.retitle("Cookies, honestly");

    // Act
    let out = case.copy();

    // Assert: the same bytes and hashes, checkpoints and tokens; the copy
    // verifies and its chain goes on where the source's stopped.
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("both verify"), "{text}");
    let target = case.target();
    assert_eq!(stored(&target), stored(source));
    assert_eq!(target.checkpoints(demo).unwrap(), vec![checkpoint.clone()]);
    assert_eq!(target.tokens().unwrap(), source.tokens().unwrap());
    let texts = source.kept_notices(None).unwrap();
    assert_eq!(texts.len(), edited.languages.len() + 1);
    assert_eq!(target.kept_notices(None).unwrap(), texts);
    assert_eq!(target.head(demo).unwrap(), source.head(demo).unwrap());
    // The nodes must sign with the key the checkpoints are signed with.
    assert_eq!(target.log_key().unwrap(), Some(key.public()));

    // Act: the SQLite log goes on (a server still runs on it: records
    // written while the copy runs, a site edited, a token revoked, an
    // older stretch purged), then the same copy again.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (file, writing) = (case.file.clone(), writing.clone());
        std::thread::spawn(move || {
            let live = SqliteStore::open(&file).unwrap();
            let site = live
                .site(&crumb_schema::SiteId::parse("demo").unwrap())
                .unwrap()
                .unwrap();
            let mut written = 0;
            while writing.load(Ordering::Relaxed) || written == 0 {
                crumb_server::seed::seed(
                    &live,
                    site.clone(),
                    5,
                    time::Duration::days(1),
                    now,
                    5,
                    |_| {},
                )
                .unwrap();
                written += 5;
            }
            written
        })
    };
    let during = case.copy();
    // An operator gets a token ready on the new database meanwhile.
    crumb_server::auth::issue(&case.target(), Role::Owner, None, "new", now).unwrap();
    writing.store(false, Ordering::Relaxed);
    let written_during = writer.join().unwrap();
    let (token, _) = source.tokens().unwrap().pop().unwrap();
    source.revoke_token(&token.id, now).unwrap();
    case.retitle("Cookies, plainly");
    let (second_checkpoint, _) = case.purge(source, datetime!(2026-05-20 00:00 UTC));
    let caught_up = case.copy();

    // Assert: the copy taken while records were written is one consistent
    // snapshot, and the second brings over what came since; then the copy
    // is the source, purge included.
    let said = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert_eq!(during.status.code(), Some(0), "{}", said(&during));
    assert!(written_during > 0);
    assert_eq!(caught_up.status.code(), Some(0), "{}", said(&caught_up));
    assert!(
        said(&caught_up).contains("up to date"),
        "{}",
        said(&caught_up)
    );
    assert_eq!(stored(&target), stored(source));
    assert_eq!(
        target.checkpoints(demo).unwrap(),
        vec![checkpoint, second_checkpoint]
    );
    // The source's tokens (one revoked since), and the one made on the copy.
    let mut tokens = source.tokens().unwrap();
    tokens.extend(
        target
            .tokens()
            .unwrap()
            .into_iter()
            .filter(|(t, _)| t.label == "new"),
    );
    tokens.sort_by(|a, b| a.0.id.as_str().cmp(b.0.id.as_str()));
    assert_eq!(target.tokens().unwrap(), tokens);
    assert!(
        said(&caught_up).contains("kept the copy's token(s)"),
        "{}",
        said(&caught_up)
    );
    assert_eq!(
        target.kept_notices(None).unwrap(),
        source.kept_notices(None).unwrap()
    );
    assert_eq!(target.site(demo).unwrap(), source.site(demo).unwrap());
    assert_eq!(target.head(demo).unwrap(), source.head(demo).unwrap());

    // Each log verifies on its own, as `crumb verify --db` given the file
    // and the URL (with the key the purge checkpoints are signed with).
    for database in [case.file.to_str().unwrap(), &case.url] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(["verify", "--db", database, "--public-key"])
            .arg(key.public().to_string())
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{database}: {}", said(&out));
    }

    // A node writes to the copy: it is the log now, and a copy from the
    // old SQLite file is refused and changes nothing.
    let site = target.site(demo).unwrap().unwrap();
    crumb_server::seed::seed(&target, site, 1, time::Duration::days(1), now, 1, |_| {}).unwrap();
    let last_seq = source.head(demo).unwrap().unwrap().0 + 1;
    let after = crumb_server::verify::verify_store(&target, &[key.public()]).unwrap();
    assert_eq!(after.sites[demo].last_seq, last_seq);
    let count = target.record_count().unwrap();
    let again = case.copy();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        said(&again).contains("is not an earlier copy of this one"),
        "{}",
        said(&again)
    );
    assert_eq!(target.record_count().unwrap(), count);
}

#[test]
fn copy_and_backup_move_a_postgres_log_into_a_new_sqlite_file() {
    // Arrange: a log on PostgreSQL (copied from SQLite, then written to and
    // purged by a node) with a token and two versions of its texts, and a
    // node that goes on writing.
    let Some(case) = CopyCase::new("copy_back") else {
        return;
    };
    let (source, demo, key, now) = (&case.source, &case.demo, &case.key, NOW);
    case.seed(300, time::Duration::days(30), now);
    crumb_server::auth::issue(source, Role::Auditor, None, "auditor", now).unwrap();
    case.retitle("Cookies, honestly");
    assert_eq!(case.copy().status.code(), Some(0));
    let pg = case.target();
    let site = pg.site(demo).unwrap().unwrap();
    crumb_server::seed::seed(&pg, site, 200, time::Duration::days(1), now, 50, |_| {}).unwrap();
    case.purge(&pg, datetime!(2026-05-15 00:00 UTC));
    let dir = case.file.parent().unwrap();
    let back = dir.join("back.db");
    let copy_back = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(["copy", "--from", &case.url, "--to"])
            .arg(&back)
            .env("CRUMB_SIGNING_KEY", dir.join("crumb.db.key"))
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    };
    let said = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    // Act: copy while a node goes on writing.
    let before = stored(&pg).len();
    let writing = AtomicBool::new(true);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            let node = case.target();
            let site = node.site(demo).unwrap().unwrap();
            while writing.load(Ordering::Relaxed) {
                crumb_server::seed::seed(
                    &node,
                    site.clone(),
                    5,
                    time::Duration::days(1),
                    now,
                    5,
                    |_| {},
                )
                .unwrap();
            }
        });
        let out = copy_back();
        writing.store(false, Ordering::Relaxed);
        out
    });

    // Assert: the log as one moment of it saw it: every record's bytes
    // and hash up to some record, the checkpoints, sites, tokens, texts and
    // signing key; the file verifies, and a server on it goes on from its
    // last record.
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("both verify"), "{}", said(&out));
    let copy = SqliteStore::open(&back).unwrap();
    let (copied, live) = (stored(&copy), stored(&pg));
    assert!(copied.len() >= before, "{} of {before}", copied.len());
    assert!(live.len() > before, "the node wrote nothing meanwhile");
    assert_eq!(copied[..], live[..copied.len()]);
    assert_eq!(
        copy.checkpoints(demo).unwrap(),
        pg.checkpoints(demo).unwrap()
    );
    assert_eq!(copy.checkpoints(demo).unwrap().len(), 1);
    assert_eq!(copy.site_rows().unwrap(), pg.site_rows().unwrap());
    assert_eq!(copy.tokens().unwrap(), pg.tokens().unwrap());
    assert_eq!(
        copy.kept_notices(None).unwrap(),
        pg.kept_notices(None).unwrap()
    );
    let (head_seq, _) = copy.head(demo).unwrap().unwrap();
    assert!(head_seq <= pg.head(demo).unwrap().unwrap().0);
    assert_eq!(copy.log_key().unwrap(), Some(key.public()));
    let site = copy.site(demo).unwrap().unwrap();
    crumb_server::seed::seed(&copy, site, 1, time::Duration::days(1), now, 1, |_| {}).unwrap();
    let summary = crumb_server::verify::verify_store(&copy, &[key.public()]).unwrap();
    assert_eq!(summary.sites[demo].last_seq, head_seq + 1);
    assert!(!dir.join("back.db.partial").exists());

    // A second copy to the same file is refused, and leaves it as it is.
    let records = copy.record_count().unwrap();
    let again = copy_back();
    assert_eq!(again.status.code(), Some(2), "{}", said(&again));
    assert!(said(&again).contains("exists already"), "{}", said(&again));
    assert_eq!(copy.record_count().unwrap(), records);

    // `crumb backup` on PostgreSQL writes the same file.
    let backup = std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
        .args(["backup", "--to"])
        .arg(dir.join("backup.db"))
        .env("CRUMB_DATABASE", &case.url)
        .env("CRUMB_SIGNING_KEY", dir.join("crumb.db.key"))
        .env("CRUMB_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(backup.status.code(), Some(0), "{}", said(&backup));
    let backed_up = SqliteStore::open(&dir.join("backup.db")).unwrap();
    assert_eq!(stored(&backed_up), stored(&pg));
    assert_eq!(
        backed_up.checkpoints(demo).unwrap(),
        pg.checkpoints(demo).unwrap()
    );
}

#[test]
fn a_log_purged_whole_twice_is_copied_with_its_newest_checkpoint_as_head() {
    // Arrange: a SQLite log whose records two purges took in turn, all of
    // them each time: the chain's head is the second checkpoint.
    let Some(case) = CopyCase::new("copy_purged") else {
        return;
    };
    let (source, demo, key, now) = (&case.source, &case.demo, &case.key, NOW);
    for (count, until) in [(10, now), (7, now + time::Duration::days(2))] {
        case.seed(count, time::Duration::days(1), until);
        let after_all = crumb_server::timefmt::Timestamp::at(until + time::Duration::hours(1));
        source
            .purge(demo, after_all, key, until)
            .unwrap()
            .expect("purged");
    }
    assert_eq!(source.record_count().unwrap(), 0);
    assert_eq!(source.head(demo).unwrap().unwrap().0, 17);

    // Act
    let out = case.copy();

    // Assert: the copy's next record follows the second checkpoint.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = case.target();
    assert_eq!(target.head(demo).unwrap(), source.head(demo).unwrap());
    let site = target.site(demo).unwrap().unwrap();
    crumb_server::seed::seed(&target, site, 1, time::Duration::days(1), now, 1, |_| {}).unwrap();
    let after = crumb_server::verify::verify_store(&target, &[key.public()]).unwrap();
    assert_eq!(after.sites[demo].last_seq, 18);
}

#[test]
fn the_server_gets_over_postgres_dropping_its_connections() {
    // Arrange: a server on PostgreSQL that has written (so its pool holds
    // connections), then PostgreSQL ends every one of them, as a restart
    // or a failover does.
    let app = crate::helpers::spawn_app();
    let Database::Postgres(url) = app.database() else {
        eprintln!("skipped: needs PostgreSQL (CRUMB_TEST_POSTGRES)");
        return;
    };
    let body = app.analytics_only();
    assert_eq!(app.record_consent(&body).status, 201);
    let name = database_name(&url);
    postgres_execute(
        &postgres_admin().unwrap(),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    );

    // Act: the next writes and reads.
    let statuses: Vec<u16> = (0..5).map(|_| app.record_consent(&body).status).collect();
    let lookups: Vec<u16> = (0..3)
        .map(|_| app.get("/v1/sites/demo/config").status)
        .collect();

    // Assert: a write that met a dead connection is refused as
    // unavailable (503, nothing stored), never a plain 500; the pool
    // replaces its connections, and writes and reads go on.
    assert!(
        statuses.iter().all(|s| [201, 503].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&201), "{statuses:?}");
    assert!(lookups.iter().all(|s| *s == 200), "{lookups:?}");
    let stored = 1 + statuses.iter().filter(|s| **s == 201).count() as u64;
    assert_eq!(app.record_count(), stored);
    app.assert_log_verifies();
}

/// A TCP relay between the server and PostgreSQL that can be unplugged:
/// its connections cut and new ones closed as soon as they come, as when
/// PostgreSQL restarts or a failover moves it. It can also go silent on
/// one connection, as a node whose power or network is gone: once the
/// server sends a chosen text on a connection ([`Relay::silence_after`]),
/// PostgreSQL's answers on it are dropped, and the connection stays open.
struct Relay {
    addr: std::net::SocketAddr,
    plugged: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    silence_after: Arc<Mutex<Option<&'static [u8]>>>,
}

impl Relay {
    fn to(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            plugged: Arc::new(AtomicBool::new(true)),
            open: Arc::default(),
            silence_after: Arc::default(),
        };
        let (plugged, open, trigger) = (
            relay.plugged.clone(),
            relay.open.clone(),
            relay.silence_after.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !plugged.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    continue;
                };
                let silent = Arc::new(AtomicBool::new(false));
                let (mut from, mut to) =
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (trigger, silenced) = (trigger.clone(), silent.clone());
                std::thread::spawn(move || {
                    // What was sent lately, so a text split between two
                    // reads is still seen.
                    let mut seen: Vec<u8> = Vec::new();
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        seen.extend_from_slice(&buf[..n]);
                        seen.drain(..seen.len().saturating_sub(n + 64));
                        // Silent before the text goes on, so not even the
                        // answer to it comes back.
                        let mut armed = trigger.lock().unwrap();
                        if armed.is_some_and(|t| seen.windows(t.len()).any(|w| w == t)) {
                            silenced.store(true, Ordering::SeqCst);
                            *armed = None;
                        }
                        drop(armed);
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                });
                let (mut from, mut to) =
                    (upstream.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        if !silent.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                });
                open.lock().unwrap().extend([client, upstream]);
            }
        });
        relay
    }

    /// The URL of the database `url` names, through this relay, without
    /// TLS (so the relay can read what the server sends).
    fn url(&self, url: &str) -> String {
        let authority = url.split('@').nth(1).unwrap().split('/').next().unwrap();
        url.replace(authority, &self.addr.to_string()) + "?sslmode=disable"
    }

    fn unplug(&self) {
        self.plugged.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn plug(&self) {
        self.plugged.store(true, Ordering::SeqCst);
    }

    fn silence_after(&self, sent: &'static [u8]) {
        *self.silence_after.lock().unwrap() = Some(sent);
    }
}

/// Unplugs a relay when dropped: declared after the server that uses the
/// relay, it runs before that server stops, so a server waiting on a
/// silent connection is let go even when the test fails.
struct UnplugOnDrop<'a>(&'a Relay);

impl Drop for UnplugOnDrop<'_> {
    fn drop(&mut self) {
        self.0.unplug();
    }
}

/// `host:port` of a PostgreSQL URL (5432 when it names none).
fn target_of(url: &str) -> String {
    let authority = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    match authority.contains(':') {
        true => authority.to_owned(),
        false => format!("{authority}:5432"),
    }
}

#[test]
fn while_postgres_is_out_of_reach_pages_get_their_banner_and_readable_refusals() {
    // Arrange: a server that reaches PostgreSQL through a relay, has served
    // the site's config and recorded a consent.
    let Some(admin) = postgres_admin() else {
        eprintln!("skipped: needs PostgreSQL (CRUMB_TEST_POSTGRES)");
        return;
    };
    let relay = Relay::to(target_of(&admin));
    let app = crate::helpers::spawn_app_tweaked(|s| {
        let Database::Postgres(url) = &s.database else {
            unreachable!()
        };
        s.database = Database::parse(&relay.url(url.as_str())).unwrap();
    });
    let origin = ("Origin", "http://localhost:8080");
    let body = app.analytics_only().to_string();
    let record = || {
        app.request(
            "POST",
            "/v1/sites/demo/consents",
            &[("Content-Type", "application/json"), origin],
            Some(&body),
        )
    };
    assert_eq!(app.get("/v1/sites/demo/widget").status, 200);
    let first = record();
    assert_eq!(first.status, 201, "{}", first.body);
    let id = first.json()["consent_id"].as_str().unwrap().to_owned();

    // Act: PostgreSQL goes out of reach, for longer than a node trusts its
    // cached configs without asking the database.
    relay.unplug();
    std::thread::sleep(crumb_server::storage::site_cache::RECHECK * 2);
    let banner = app.request("GET", "/v1/sites/demo/widget?lang=en", &[origin], None);
    let preflight = app.request(
        "OPTIONS",
        "/v1/sites/demo/consents",
        &[
            origin,
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "content-type,idempotency-key",
            ),
        ],
        None,
    );
    let write = record();
    let visit = app.request(
        "GET",
        &format!("/v1/sites/demo/consents/{id}"),
        &[origin],
        None,
    );
    let owner = app.token(Role::Owner, None);
    let admin_read = app.get_with_token("/v1/admin/sites/demo", &owner);
    let (alive, ready) = (app.get("/healthz"), app.get("/readyz"));

    // Assert: the banner is served from the config last read; what needs
    // the database is refused as unavailable, readable by the page (CORS),
    // so the widget retries; the owner's API says the database is out.
    let allowed =
        |r: &crate::helpers::Response| r.header("access-control-allow-origin").map(str::to_owned);
    assert_eq!(banner.status, 200, "{}", banner.body);
    assert!(banner.body.contains("Accept all"), "{}", banner.body);
    assert_eq!(allowed(&banner).as_deref(), Some(origin.1));
    assert!(preflight.status < 300, "{}", preflight.status);
    assert_eq!(allowed(&preflight).as_deref(), Some(origin.1));
    for refused in [&write, &visit] {
        assert_eq!(refused.status, 503, "{}", refused.body);
        assert_eq!(allowed(refused).as_deref(), Some(origin.1));
    }
    assert_eq!(admin_read.status, 503, "{}", admin_read.body);
    // A load balancer that asks `/readyz` sends this node's traffic
    // elsewhere; the process itself is alive.
    assert_eq!(alive.status, 200);
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.error_code(), "unavailable");
    assert!(ready.header("retry-after").is_some());

    // Once PostgreSQL is back the choice is taken (the pool may first meet
    // a connection the outage closed), and the log holds exactly what was
    // acknowledged.
    relay.plug();
    let retried: Vec<u16> = (0..3).map(|_| record().status).collect();
    assert!(retried.contains(&201), "{retried:?}");
    let acknowledged = 1 + retried.iter().filter(|s| **s == 201).count() as u64;
    assert_eq!(app.record_count(), acknowledged);
    app.assert_log_verifies();
    // Ready again (the pool may first meet a connection the outage closed).
    assert!((0..3).any(|_| app.get("/readyz").status == 200));
}

/// Whether the connections to `database` from other sessions are
/// encrypted: one boolean per connection.
fn encrypted(admin: &str, database: &str) -> Vec<bool> {
    let sql = "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
               WHERE a.datname = $1 AND a.pid <> pg_backend_pid()";
    postgres_query(admin, sql, &[database])
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn tls_to_postgres_is_read_from_the_url_as_psql_reads_it() {
    // Arrange: the test cluster takes TLS with a certificate for the name
    // `localhost` (not 127.0.0.1), signed by the test CA; a database with
    // the demo site.
    let (Some(admin), Ok(ca)) = (postgres_admin(), std::env::var("CRUMB_TEST_POSTGRES_CA")) else {
        eprintln!("skipped: needs PostgreSQL with TLS (cargo xtask test-postgres)");
        return;
    };
    let app = crate::helpers::spawn_app();
    let Database::Postgres(direct) = app.database() else {
        unreachable!()
    };
    let name = database_name(&direct);
    let port = direct
        .as_str()
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let url = |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/{name}?{query}");
    let site_list = |database: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(["site", "list"])
            .env("CRUMB_DATABASE", database)
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    };
    let verified = url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );

    // Act: a server on that database whose URL asks for a verified
    // connection.
    let tls_app = crate::helpers::spawn_app_tweaked(|s| {
        s.database = Database::parse(&verified).unwrap();
        s.signing_key = Some(app.dir.path().join("crumb.db.key"));
    });
    let recorded = tls_app.record_consent(&app.analytics_only());

    // Assert: it works, over TLS only.
    assert_eq!(recorded.status, 201, "{}", recorded.body);
    let connections = encrypted(&admin, &name);
    assert!(!connections.is_empty());
    assert!(connections.iter().all(|e| *e), "{connections:?}");

    // Each mode, as psql has it, with the CLI on the first server's log.
    for (database, works) in [
        (verified.clone(), true),
        // The certificate names localhost, not 127.0.0.1: the chain is
        // trusted, the name is not.
        (
            url(
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={ca}"),
            ),
            false,
        ),
        (
            url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")),
            true,
        ),
        // The test CA is not a public one.
        (url("localhost", "sslmode=verify-full"), false),
        // Encrypted, nothing checked; and plain.
        (url("127.0.0.1", "sslmode=require"), true),
        (url("127.0.0.1", "sslmode=disable"), true),
    ] {
        let out = site_list(&database);
        let said = format!(
            "{database}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), works, "{said}");
        if works {
            assert!(said.contains("demo"), "{said}");
        } else {
            assert!(said.contains("certificate"), "{said}");
        }
    }
    let out = site_list(&url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/no/such/ca.pem",
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/ca.pem"));
}

#[test]
fn a_client_certificate_in_the_url_logs_crumb_in_where_postgres_asks_for_one() {
    // Arrange: the TLS test cluster logs the role crumb_cert in by client
    // certificate only (`cert` in pg_hba.conf, as a managed PostgreSQL
    // with certificate authentication does); a database it owns.
    let vars = ["CA", "CLIENT_CERT", "CLIENT_KEY"]
        .map(|v| std::env::var(format!("CRUMB_TEST_POSTGRES_{v}")).ok());
    let (Some(admin), [Some(ca), Some(cert), Some(key)]) = (postgres_admin(), vars) else {
        eprintln!("skipped: needs PostgreSQL with client certificates (cargo xtask test-postgres)");
        return;
    };
    postgres_execute(
        &admin,
        "DO $$ BEGIN CREATE ROLE crumb_cert LOGIN;
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    );
    let name = format!("crumb_cert_{}", std::process::id());
    postgres_execute(&admin, &format!("CREATE DATABASE {name} OWNER crumb_cert"));
    let port = admin.rsplit_once(':').unwrap().1.split('/').next().unwrap();
    let url = format!(
        "postgres://crumb_cert@localhost:{port}/{name}?sslmode=verify-full&sslrootcert={ca}"
    );
    let with_certificate = format!("{url}&sslcert={cert}&sslkey={key}");

    // Act: a server whose URL names the certificate, and one whose does
    // not.
    let app = crate::helpers::spawn_app_tweaked(|s| {
        s.database = Database::parse(&with_certificate).unwrap();
    });
    // The choice's body as for the same site on a plain server (the
    // helpers read the site from the app's own test database).
    let body = crate::helpers::spawn_app().analytics_only();
    let recorded = app.record_consent(&body);
    let without = std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
        .args(["site", "list"])
        .env("CRUMB_DATABASE", &url)
        .env("CRUMB_LOG", "warn")
        .output()
        .unwrap();

    // Assert: the first records, over connections the server knows by
    // the certificate; the second is refused, and says why.
    assert_eq!(recorded.status, 201, "{}", recorded.body);
    let names: Vec<String> = postgres_query(
        &admin,
        "SELECT s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = $1",
        &[&name],
    )
    .iter()
    .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
    .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n == "/CN=crumb_cert"), "{names:?}");
    let err = String::from_utf8_lossy(&without.stderr);
    assert_eq!(without.status.code(), Some(2), "{err}");
    assert!(err.contains("certificate"), "{err}");
}

/// How many sessions on `database` sit idle inside a transaction.
fn idle_in_transaction(admin: &str, database: &str) -> i64 {
    let sql = "SELECT count(*) FROM pg_stat_activity
               WHERE datname = $1 AND state = 'idle in transaction'";
    postgres_query(admin, sql, &[database])[0].get(0)
}

#[test]
fn a_node_gone_silent_holding_its_sites_chain_lock_stops_the_others_only_seconds() {
    // Arrange: two nodes on one database. Node A reaches PostgreSQL
    // through a relay that goes silent on A's connection right after A
    // sends the start of an append (its transaction begun, the site's
    // chain head locked): A's power or network is gone, and PostgreSQL
    // sees a connection that is open and idle, holding the lock.
    let Some(admin) = postgres_admin() else {
        eprintln!("skipped: needs PostgreSQL (CRUMB_TEST_POSTGRES)");
        return;
    };
    let b = crate::helpers::spawn_app();
    let Database::Postgres(url) = b.database() else {
        unreachable!()
    };
    let name = database_name(&url);
    let relay = Relay::to(target_of(&admin));
    let a = crate::helpers::spawn_app_tweaked(|s| {
        s.database = Database::parse(&relay.url(url.as_str())).unwrap();
        // Nodes of one log share its signing key.
        s.signing_key = Some(b.dir.path().join("crumb.db.key"));
    });
    let _release_a = UnplugOnDrop(&relay);
    let body = b.analytics_only().to_string();
    let post = |app: &crate::helpers::TestApp| {
        let (address, body) = (app.address.clone(), body.clone());
        let (done, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let status = ureq::post(&format!("{address}/v1/sites/demo/consents"))
                .set("Content-Type", "application/json")
                .send_string(&body)
                .map_or_else(
                    |e| match e {
                        ureq::Error::Status(s, _) => s,
                        _ => 0,
                    },
                    |r| r.status(),
                );
            let _ = done.send(status);
        });
        answer
    };
    let first = post(&a).recv_timeout(Duration::from_secs(30));
    assert_eq!(first, Ok(201), "node A writes through the relay");
    relay.silence_after(b"synchronous_commit = off");
    let _a_hangs = post(&a);
    let started = std::time::Instant::now();
    while idle_in_transaction(&admin, &name) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Act: node B writes to the same site.
    let asked = std::time::Instant::now();
    let answer = post(&b).recv_timeout(Duration::from_secs(60));

    // Assert: B's write is stored within seconds (PostgreSQL ends A's
    // idle transaction, and with it the lock), not when TCP keepalive
    // would notice A is gone; the chain verifies.
    assert_eq!(answer, Ok(201), "after {:?}", asked.elapsed());
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );
    b.assert_log_verifies();
}

#[test]
fn connection_limit_in_the_url_caps_the_connections_a_node_opens() {
    // Arrange: a node limited to two connections (a small managed
    // PostgreSQL allows a few dozen for every node together).
    if postgres_admin().is_none() {
        eprintln!("skipped: needs PostgreSQL (CRUMB_TEST_POSTGRES)");
        return;
    }
    let app = crate::helpers::spawn_app_tweaked(|s| {
        let Database::Postgres(url) = &s.database else {
            unreachable!()
        };
        s.database = Database::parse(&format!("{}?connection_limit=2", url.as_str())).unwrap();
    });
    let Database::Postgres(url) = app.database() else {
        unreachable!()
    };
    let name = database_name(&url);
    let most = Arc::new(Mutex::new(0i64));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (most, done, admin) = (most.clone(), done.clone(), postgres_admin().unwrap());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let n: i64 = postgres_query(
                    &admin,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    &[&name],
                )[0]
                .get(0);
                let mut most = most.lock().unwrap();
                *most = (*most).max(n);
            }
        })
    };

    // Act: 32 clients at once, writing and reading.
    let body = app.analytics_only().to_string();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..32)
            .map(|_| {
                s.spawn(|| {
                    let mut seen = Vec::new();
                    for _ in 0..5 {
                        let written = app.request(
                            "POST",
                            "/v1/sites/demo/consents",
                            &[("Content-Type", "application/json")],
                            Some(&body),
                        );
                        seen.push(written.status);
                        let id = written.json()["consent_id"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned();
                        seen.push(app.get(&format!("/v1/sites/demo/consents/{id}")).status);
                    }
                    seen
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    // Assert: every write and read answered, through at most two
    // connections.
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 201),
        "{statuses:?}"
    );
    assert_eq!(app.record_count(), 160);
    let most = *most.lock().unwrap();
    assert!((1..=2).contains(&most), "{most} connections");
}

#[test]
fn a_url_listing_several_hosts_reaches_the_one_that_takes_writes() {
    // Arrange: a URL as for a primary and its standby, the first of which
    // is down (nothing listens on port 1), as after a failover.
    if postgres_admin().is_none() {
        eprintln!("skipped: needs PostgreSQL (CRUMB_TEST_POSTGRES)");
        return;
    }
    let app = crate::helpers::spawn_app();
    let Database::Postgres(url) = app.database() else {
        unreachable!()
    };
    let (scheme_user, rest) = url.as_str().split_once('@').unwrap();
    let listed = format!("{scheme_user}@127.0.0.1:1,{rest}?target_session_attrs=read-write");

    // Act: a second node on that URL, sharing the first's key.
    let node = crate::helpers::spawn_app_tweaked(|s| {
        s.database = Database::parse(&listed).unwrap();
        s.signing_key = Some(app.dir.path().join("crumb.db.key"));
    });
    let recorded = node.record_consent(&app.analytics_only());

    // Assert: it writes to the log the first node reads.
    assert_eq!(recorded.status, 201, "{}", recorded.body);
    assert_eq!(app.record_count(), 1);
}
