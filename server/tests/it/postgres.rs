//! What only PostgreSQL does: `crumb copy` moves a SQLite log into it byte
//! for byte, and the server gets over PostgreSQL ending its connections.
//! Run only on PostgreSQL (`CRUMB_TEST_POSTGRES`); elsewhere these tests
//! say so and pass.

use crumb_server::storage::{Database, Role, SqliteStore, Store, TimeRange};
use time::macros::datetime;

use crate::helpers::{postgres_admin, postgres_execute};

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

#[test]
fn copy_moves_a_sqlite_log_into_postgres_byte_for_byte() {
    // Arrange: a SQLite log with 1,200 records, a purge checkpoint and a
    // token; an empty PostgreSQL database.
    let Some(admin) = postgres_admin() else {
        eprintln!("skipped: crumb copy needs PostgreSQL (CRUMB_TEST_POSTGRES)");
        return;
    };
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("crumb.db");
    let now = datetime!(2026-06-01 12:00 UTC);
    let source = SqliteStore::open(&file).unwrap();
    crumb_server::demo::ensure_demo_site(&source, now).unwrap();
    let demo = crumb_schema::SiteId::parse("demo").unwrap();
    let site = source.site(&demo).unwrap().unwrap();
    crumb_server::seed::seed(
        &source,
        site,
        1200,
        time::Duration::days(30),
        now,
        500,
        |_| {},
    )
    .unwrap();
    let key = crumb_server::signing::Key::load_or_create(&dir.path().join("crumb.db.key")).unwrap();
    let (checkpoint, purged) = source
        .purge(
            &demo,
            crumb_server::timefmt::Timestamp::at(datetime!(2026-05-15 00:00 UTC)),
            &key,
            now,
        )
        .unwrap()
        .expect("records old enough to purge");
    assert!(purged > 0);
    crumb_server::auth::issue(&source, Role::Auditor, None, "copied", now).unwrap();
    let name = format!("crumb_copy_{}", std::process::id());
    postgres_execute(&admin, &format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    // Act
    let copy = |to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(["copy", "--from"])
            .arg(&file)
            .args(["--to", to])
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = copy(&url);

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
    let Ok(Database::Postgres(pg)) = Database::parse(&url) else {
        unreachable!()
    };
    let target = crumb_server::storage::PostgresStore::open(&pg).unwrap();
    assert_eq!(stored(&target), stored(&source));
    assert_eq!(target.checkpoints(&demo).unwrap(), vec![checkpoint]);
    assert_eq!(target.tokens().unwrap(), source.tokens().unwrap());
    assert_eq!(target.head(&demo).unwrap(), source.head(&demo).unwrap());
    let site = target.site(&demo).unwrap().unwrap();
    crumb_server::seed::seed(&target, site, 1, time::Duration::days(1), now, 1, |_| {}).unwrap();
    let after = crumb_server::verify::verify_store(&target, Some(&key.public_hex())).unwrap();
    assert_eq!(after.sites[&demo].last_seq, 1201);

    // A second copy into the same database is refused, and changes nothing.
    let again = copy(&url);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("crumb copy fills an empty one"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(target.record_count().unwrap(), 1201 - purged);
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
    let name = url.as_str().rsplit('/').next().unwrap().to_owned();
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
    let out = app.crumb(&["verify", "--db"]);
    assert_eq!(out.status.code(), Some(0));
}
