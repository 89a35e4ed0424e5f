//! The owner's API: sites, revisions, the compliance check, and who may
//! change what.

use crumb_server::storage::Role;
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app};

fn demo_json() -> Value {
    serde_json::from_str(crumb_server::demo::DEMO_SITE_JSON).unwrap()
}

/// The demo config under another id.
fn shop() -> Value {
    let mut v = demo_json();
    v["id"] = json!("shop");
    v["allowed_origins"] = json!(["https://shop.example"]);
    v
}

fn send(app: &TestApp, method: &str, path: &str, token: &str, body: Option<&Value>) -> Response {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let body = body.map(Value::to_string);
    app.request(
        method,
        path,
        &headers,
        body.as_deref().or(Some("")).filter(|_| method != "GET"),
    )
}

fn site_config(app: &TestApp, id: &str) -> Option<Value> {
    let store = app.store();
    crumb_server::storage::Store::site(store.as_ref(), &crumb_schema::SiteId::parse(id).unwrap())
        .unwrap()
        .map(|s| serde_json::to_value(&*s).unwrap())
}

#[test]
fn owner_manages_a_site_from_creation_to_deletion() {
    let app = spawn_app();
    let owner = app.token(Role::Owner, None);

    let created = send(&app, "POST", "/v1/admin/sites", &owner, Some(&shop()));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(app.get("/v1/sites/shop/config").status, 200);

    let mut renamed = shop();
    renamed["name"] = json!("Shop, renamed");
    let updated = send(&app, "PUT", "/v1/admin/sites/shop", &owner, Some(&renamed));
    assert_eq!(updated.status, 200, "{}", updated.body);
    let shown = send(&app, "GET", "/v1/admin/sites/shop", &owner, None);
    assert_eq!(shown.json()["name"], "Shop, renamed");
    assert_eq!(
        shown.json()["allowed_origins"],
        json!(["https://shop.example"])
    );

    let bumped = send(
        &app,
        "POST",
        "/v1/admin/sites/shop/bump-revision",
        &owner,
        None,
    );
    assert_eq!(bumped.json()["revision"], 2);
    assert_eq!(app.get("/v1/sites/shop/config").json()["revision"], 2);

    // Revisions change only through bump-revision.
    let stale = send(&app, "PUT", "/v1/admin/sites/shop", &owner, Some(&renamed));
    assert_eq!(stale.status, 409);
    assert_eq!(stale.error_code(), "revision_conflict");

    let again = send(&app, "POST", "/v1/admin/sites", &owner, Some(&shop()));
    assert_eq!(again.status, 409);

    assert_eq!(
        send(&app, "DELETE", "/v1/admin/sites/shop", &owner, None).status,
        204
    );
    assert_eq!(app.get("/v1/sites/shop/config").status, 404);
}

#[test]
fn a_deleted_site_created_again_does_not_revive_consents_to_an_older_policy() {
    // Arrange: consents under revision 1, then under revision 2; then the
    // site is deleted (its log stays).
    let app = spawn_app();
    let owner = app.token(Role::Owner, None);
    let old = app.record_consent(&app.analytics_only()).json()["consent_id"].clone();
    let bumped = send(
        &app,
        "POST",
        "/v1/admin/sites/demo/bump-revision",
        &owner,
        None,
    );
    assert_eq!(bumped.status, 200, "{}", bumped.body);
    assert_eq!(app.record_consent(&app.analytics_only()).status, 201);
    let deleted = send(&app, "DELETE", "/v1/admin/sites/demo", &owner, None);
    assert!(deleted.status < 300, "{}", deleted.body);

    // Act: the owner restores the config from its first file (revision 1),
    // over the API and with the CLI, then at revision 2.
    let api = send(&app, "POST", "/v1/admin/sites", &owner, Some(&demo_json()));
    let file = app.dir.path().join("demo-r1.json");
    std::fs::write(&file, demo_json().to_string()).unwrap();
    let cli = app.crumb(&["site", "create", file.to_str().unwrap()]);
    let mut at_2 = demo_json();
    at_2["revision"] = json!(2);
    let restored = send(&app, "POST", "/v1/admin/sites", &owner, Some(&at_2));

    // Assert: revision 1 is refused both ways, and nothing was created; at
    // revision 2 the site is back, and the consent given under revision 1
    // is still outdated.
    assert_eq!(api.status, 409, "{}", api.body);
    assert_eq!(api.error_code(), "revision_conflict");
    assert!(
        api.body.contains("consents under revision 2"),
        "{}",
        api.body
    );
    let said = String::from_utf8_lossy(&cli.stderr);
    assert_eq!(cli.status.code(), Some(2), "{said}");
    assert!(said.contains("starts at revision 2 or later"), "{said}");
    assert_eq!(restored.status, 201, "{}", restored.body);
    let state = app.lookup(old.as_str().unwrap()).json();
    assert_eq!(state["state"], "outdated_revision");
}

#[test]
fn non_compliant_configs_are_refused_with_every_problem() {
    let app = spawn_app();
    let owner = app.token(Role::Owner, None);
    let mut bad = shop();
    bad["validity_months"] = json!(36);
    bad["categories"][3]["preselected"] = json!(true);
    bad["texts"]["fr"]["reject_all"] = json!("");
    bad["allowed_origins"] = json!(["http://shop.example"]);
    bad["services"][0]["cookies"] = json!([]);

    let resp = send(&app, "POST", "/v1/admin/sites", &owner, Some(&bad));

    assert_eq!(resp.status, 422, "{}", resp.body);
    assert_eq!(resp.error_code(), "lint_failed");
    let mut rules: Vec<String> = resp.json()["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rule"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            "origin",
            "preselected",
            "reject_all",
            "service_cookies",
            "validity"
        ]
    );
    assert_eq!(site_config(&app, "shop"), None, "nothing stored");

    // The same on update: the stored config stays as it was.
    let mut bad_demo = demo_json();
    bad_demo["texts"]["en"]["reject_all"] = json!(" ");
    let resp = send(&app, "PUT", "/v1/admin/sites/demo", &owner, Some(&bad_demo));
    assert_eq!(resp.status, 422);
    assert_eq!(
        site_config(&app, "demo").unwrap()["texts"]["en"]["reject_all"],
        "Reject all"
    );
}

#[test]
fn admin_bad_input() {
    let app = spawn_app();
    let owner = app.token(Role::Owner, None);
    let auth = format!("Bearer {owner}");
    let resp = app.request(
        "POST",
        "/v1/admin/sites",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        Some(&shop().to_string()),
    );
    assert_eq!(resp.status, 415);
    let resp = app.request(
        "POST",
        "/v1/admin/sites",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some("{\"id\": "),
    );
    assert_eq!(resp.status, 422);
    assert_eq!(resp.json()["problems"][0]["rule"], "json");
    let mut huge = shop();
    huge["name"] = json!("x".repeat(300 * 1024));
    let resp = send(&app, "POST", "/v1/admin/sites", &owner, Some(&huge));
    assert_eq!(resp.status, 413);
    assert_eq!(resp.error_code(), "body_too_large");
    let resp = send(&app, "PUT", "/v1/admin/sites/demo", &owner, Some(&shop()));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_code(), "id_mismatch");
    // A compressed body is refused as such, not read as broken JSON.
    let resp = app.request(
        "POST",
        "/v1/admin/sites",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        Some(&shop().to_string()),
    );
    assert_eq!(resp.status, 415, "{}", resp.body);
    assert_eq!(resp.error_code(), "unsupported_encoding");
    assert_eq!(site_config(&app, "shop"), None);
    // Media types are case-insensitive: the admin API takes what the
    // public API takes.
    let resp = app.request(
        "POST",
        "/v1/admin/sites",
        &[
            ("Authorization", &auth),
            ("Content-Type", "Application/JSON; charset=UTF-8"),
        ],
        Some(&shop().to_string()),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
}

#[test]
fn admin_routes_refuse_bad_tokens_and_change_nothing() {
    // Arrange
    let app = spawn_app();
    let before = site_config(&app, "demo").unwrap();
    let revoked = app.token(Role::Owner, None);
    let revoked_id = revoked.split('_').nth(1).unwrap().to_owned();
    assert!(
        app.crumb(&["token", "revoke", &revoked_id])
            .status
            .success()
    );
    let unknown = format!("crumb_{}_{}", "1".repeat(16), "2".repeat(64));
    let auditor = app.token(Role::Auditor, None);
    let other_owner = app.token(Role::Owner, Some("other-site"));
    let mut renamed = demo_json();
    renamed["name"] = json!("hijacked");
    let writes: [(&str, &str, Option<Value>); 6] = [
        ("POST", "/v1/admin/sites", Some(shop())),
        ("PUT", "/v1/admin/sites/demo", Some(renamed)),
        ("POST", "/v1/admin/sites/demo/bump-revision", None),
        ("DELETE", "/v1/admin/sites/demo", None),
        ("GET", "/v1/admin/sites/demo", None),
        ("GET", "/v1/admin/sites/demo/stats", None),
    ];

    for (method, path, body) in &writes {
        for (case, token, status) in [
            ("no token", "", 401),
            ("malformed", "not-a-token", 401),
            ("unknown", unknown.as_str(), 401),
            ("revoked", revoked.as_str(), 401),
            ("owner of another site", other_owner.as_str(), 403),
        ] {
            let resp = send(&app, method, path, token, body.as_ref());
            assert_eq!(
                resp.status, status,
                "{method} {path}, {case}: {}",
                resp.body
            );
        }
        // Auditors read, never write.
        let expected = if *method == "GET" { 200 } else { 403 };
        let resp = send(&app, method, path, &auditor, body.as_ref());
        assert_eq!(
            resp.status, expected,
            "{method} {path}, auditor: {}",
            resp.body
        );
    }

    // Assert: nothing changed.
    assert_eq!(site_config(&app, "demo").unwrap(), before);
    assert_eq!(site_config(&app, "shop"), None);
    // A good token is read whatever the case of the scheme's name (RFC
    // 9110, 11.1), as some clients and gateways send `bearer`.
    let owner = format!("bearer {}", app.token(Role::Owner, None));
    let resp = app.request(
        "GET",
        "/v1/admin/sites/demo",
        &[("Authorization", &owner)],
        None,
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[test]
fn cli_lint_lists_every_problem() {
    let app = spawn_app();
    let file = app.dir.path().join("site.json");
    let file = file.to_str().unwrap();
    std::fs::write(file, crumb_server::demo::DEMO_SITE_JSON).unwrap();
    let out = app.crumb(&["lint", file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut bad = shop();
    bad["validity_months"] = json!(30);
    bad["allowed_origins"] = json!(["http://shop.example"]);
    std::fs::write(file, bad.to_string()).unwrap();
    let out = app.crumb(&["lint", file]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 problem(s)") && err.contains("[validity]") && err.contains("[origin]"),
        "{err}"
    );
    let out = app.crumb(&["site", "create", file]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(site_config(&app, "shop"), None);
}

#[test]
fn cli_lint_checks_the_sites_pages_for_elements_that_track_early_or_never_run() {
    // Arrange: the demo's config, its shop page as shipped, and a page
    // with the mistakes site owners make, in a legacy encoding.
    let app = spawn_app();
    let dir = app.dir.path();
    let config = dir.join("site.json");
    std::fs::write(&config, crumb_server::demo::DEMO_SITE_JSON).unwrap();
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site/index.html");
    let bad = dir.join("bad.html");
    // In windows-1252, as older sites still are (`caf\xe9`).
    std::fs::write(
        &bad,
        b"<script src=\"https://consent.example/crumb.js\" data-site=\"demo\"></script><p>caf\xe9</p>\n\
         <script async data-category=\"analytics\" src=\"https://www.googletagmanager.com/gtag/js\"></script>\n\
         <iframe data-src=\"https://player.vimeo.com/video/1\" data-category=\"marketing\" data-service=\"vimeo\"></iframe>\n",
    )
    .unwrap();
    let arg = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    // Every page of the demo (given as its folder), which is where owners
    // copy their markup from; and the same config in Google Consent Mode's
    // advanced mode, which its advanced-mode page is for.
    let demo_site = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site");
    let advanced_page = format!("{demo_site}/consent-mode-advanced.html");
    let advanced = dir.join("advanced.json");
    let mut site: serde_json::Value =
        serde_json::from_str(crumb_server::demo::DEMO_SITE_JSON).unwrap();
    site["integrations"]["google_consent_mode"]["mode"] = "advanced".into();
    std::fs::write(&advanced, site.to_string()).unwrap();

    // Act
    let good = app.crumb(&["lint", &arg(&config), "--page", shop]);
    let demo = app.crumb(&["lint", &arg(&config), "--page", demo_site]);
    let in_advanced_mode = app.crumb(&["lint", &arg(&advanced), "--page", &advanced_page]);
    let both = app.crumb(&["lint", &arg(&config), "--page", shop, "--page", &arg(&bad)]);
    let missing = app.crumb(&[
        "lint",
        &arg(&config),
        "--page",
        &arg(&dir.join("nope.html")),
    ]);
    let empty = dir.join("dist");
    std::fs::create_dir(&empty).unwrap();
    let no_pages = app.crumb(&["lint", &arg(&config), "--page", &arg(&empty)]);
    // A page as `curl` gives it, on standard input; which can be read once.
    let bad_bytes = std::fs::read(&bad).unwrap();
    let piped = crate::helpers::crumb_piped(&["lint", &arg(&config), "--page", "-"], &bad_bytes);
    let piped_twice = crate::helpers::crumb_piped(
        &["lint", &arg(&config), "--page", "-", "--page", "-"],
        &bad_bytes,
    );

    // Assert: the shop page is clean, and so is every demo page but the
    // one that loads the Google tag unmarked for advanced mode, which is
    // clean in that mode; the other page's two problems are named with
    // their lines, and they make the exit status 1; a page that cannot be
    // read is an error (2).
    let said = String::from_utf8_lossy(&good.stdout);
    assert_eq!(good.status.code(), Some(0), "{said}");
    assert!(said.contains("index.html: OK (8 gated elements)"), "{said}");
    let said = String::from_utf8_lossy(&demo.stdout);
    assert_eq!(demo.status.code(), Some(1), "{said}");
    assert!(said.matches(": OK (").count() >= 9, "{said}");
    assert!(
        said.contains("consent-mode-advanced.html: 1 problem(s):")
            && said.contains("[unmarked-tracker] line 13: <script src=\"https://www.googletagmanager.com/gtag/js?id=G-DEMO12345\">: loads the Google tag before any choice"),
        "{said}"
    );
    let said = String::from_utf8_lossy(&in_advanced_mode.stdout);
    assert_eq!(in_advanced_mode.status.code(), Some(0), "{said}");
    let said = String::from_utf8_lossy(&both.stdout);
    assert_eq!(both.status.code(), Some(1), "{said}");
    assert!(said.contains("bad.html: 2 problem(s):"), "{said}");
    assert!(
        said.contains("[ungated-script] line 2: <script src=\"https://www.googletagmanager.com/gtag/js\" data-category=\"analytics\">: runs at once, before any choice"),
        "{said}"
    );
    assert!(
        said.contains("[unknown-service] line 3: ")
            && said.contains("site demo has no service \"vimeo\""),
        "{said}"
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.html"));
    // A folder with no page in it (a build not made yet) is an error too,
    // not a clean site.
    assert_eq!(no_pages.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_pages.stderr).contains("dist has no HTML page"));
    let said = String::from_utf8_lossy(&piped.stdout);
    assert_eq!(piped.status.code(), Some(1), "{said}");
    assert!(said.contains("standard input: 2 problem(s):"), "{said}");
    assert_eq!(piped_twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&piped_twice.stderr).contains("can be given once"));
}

#[test]
fn cli_lint_json_gives_a_builds_tooling_every_problem_with_rule_and_place() {
    // Arrange: the demo's config and a page with one problem; a config
    // with one of its own.
    let app = spawn_app();
    let dir = app.dir.path();
    let config = dir.join("site.json");
    std::fs::write(&config, crumb_server::demo::DEMO_SITE_JSON).unwrap();
    let page = dir.join("page.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html>\n<script data-category=\"analytics\" src=\"https://www.googletagmanager.com/gtag/js\"></script>\n",
    )
    .unwrap();
    let mut bad: serde_json::Value =
        serde_json::from_str(crumb_server::demo::DEMO_SITE_JSON).unwrap();
    bad["validity_months"] = 36.into();
    let bad_config = dir.join("bad.json");
    std::fs::write(&bad_config, bad.to_string()).unwrap();
    let arg = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    // Act
    let out = app.crumb(&["lint", &arg(&config), "--page", &arg(&page), "--json"]);
    let bad_out = app.crumb(&["lint", &arg(&bad_config), "--json"]);

    // Assert: the page's problem, with the exit status of the text form;
    // the config's, with its.
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["config"]["site"], "demo");
    assert_eq!(report["config"]["problems"], serde_json::json!([]));
    assert_eq!(report["pages"][0]["page"], arg(&page));
    let problem = &report["pages"][0]["problems"][0];
    assert_eq!(
        (&problem["rule"], &problem["path"]),
        (&"ungated-script".into(), &"line 2".into())
    );
    assert_eq!(bad_out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&bad_out.stdout).unwrap();
    assert_eq!(report["config"]["problems"][0]["path"], "validity_months");
    assert_eq!(report["pages"], serde_json::json!([]));
}

#[test]
fn cli_token_list_shows_every_token_and_no_secret() {
    // Arrange: an owner token for every site, an auditor token for demo,
    // the owner's revoked.
    let app = spawn_app();
    let owner = app.token(Role::Owner, None);
    app.clock.advance(time::Duration::minutes(1));
    let auditor = app.token(Role::Auditor, Some("demo"));
    let id = |token: &str| token.split('_').nth(1).unwrap().to_owned();
    assert!(
        app.crumb(&["token", "revoke", &id(&owner)])
            .status
            .success()
    );

    // Act
    let out = app.crumb(&["token", "list"]);

    // Assert: one line per token, oldest first, with its role, site and
    // state; no secret.
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with(&format!("{}  owner    every-site  created ", id(&owner))),
        "{listed}"
    );
    assert!(lines[0].contains("  revoked 20"), "{listed}");
    assert!(
        lines[1].starts_with(&format!("{}  auditor  demo  created ", id(&auditor))),
        "{listed}"
    );
    assert!(lines[1].contains("  live  test"), "{listed}");
    for token in [&owner, &auditor] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!listed.contains(secret), "{listed}");
    }
}

#[test]
fn sites_are_listed_to_the_tokens_that_reach_them_and_by_the_cli() {
    // Arrange: a second site, and tokens for every site and for one.
    let app = spawn_app();
    let owner = app.token(Role::Owner, None);
    let created = send(&app, "POST", "/v1/admin/sites", &owner, Some(&shop()));
    assert_eq!(created.status, 201, "{}", created.body);
    let auditor = app.token(Role::Auditor, None);
    let shop_owner = app.token(Role::Owner, Some("shop"));
    // demo has a log too: the CLI lists it once.
    assert_eq!(app.record_consent(&app.analytics_only()).status, 201);

    // Act
    let ids = |token: &str| {
        let resp = send(&app, "GET", "/v1/admin/sites", token, None);
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.json()["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let listed = send(&app, "GET", "/v1/admin/sites", &owner, None).json();
    let unauthenticated = app.get("/v1/admin/sites");
    let cli = app.crumb(&["site", "list"]);

    // Assert: every site for tokens of every site, by id; only its own for
    // a bound token; nothing without a token.
    assert_eq!(ids(&owner), ["demo", "shop"]);
    assert_eq!(ids(&auditor), ["demo", "shop"]);
    assert_eq!(ids(&shop_owner), ["shop"]);
    let demo = &listed["sites"][0];
    assert_eq!(demo["revision"], 1);
    assert_eq!(demo["languages"][0], "en");
    assert!(demo["updated_at"].as_str().unwrap().starts_with("20"));
    assert_eq!(unauthenticated.status, 401);
    let said = String::from_utf8_lossy(&cli.stdout).into_owned();
    assert!(cli.status.success());
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 2, "{said}");
    assert!(lines[0].starts_with("demo  revision 1  en,"), "{said}");
    assert!(lines[1].starts_with("shop  revision "), "{said}");
}

#[test]
fn if_match_keeps_one_owners_edit_from_overwriting_anothers_unseen() {
    // Arrange: two owners' editors that read the same config.
    let app = spawn_app();
    let owner = app.token(Role::Owner, None);
    let read = send(&app, "GET", "/v1/admin/sites/demo", &owner, None);
    let tag = read.header("etag").expect("an ETag").to_owned();
    let put = |config: &serde_json::Value, if_match: Option<&str>| {
        let auth = format!("Bearer {owner}");
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        headers.extend(if_match.map(|t| ("If-Match", t)));
        app.request(
            "PUT",
            "/v1/admin/sites/demo",
            &headers,
            Some(&config.to_string()),
        )
    };
    let mut first = read.json();
    first["name"] = "First owner's name".into();
    let mut second = read.json();
    second["name"] = "Second owner's name".into();

    // Act: the first saves, then the second, both with the tag they read.
    let saved = put(&first, Some(&tag));
    let stale = put(&second, Some(&tag));
    let bump_stale = app.request(
        "POST",
        "/v1/admin/sites/demo/bump-revision",
        &[
            ("Authorization", &format!("Bearer {owner}")),
            ("If-Match", &tag),
        ],
        None,
    );

    // Assert: the second is refused and the first's edit stands; with
    // the new tag (or none, or `*`) a save goes through.
    assert_eq!(saved.status, 200, "{}", saved.body);
    let new_tag = saved.header("etag").unwrap().to_owned();
    assert_ne!(new_tag, tag);
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(stale.error_code(), "precondition_failed");
    assert!(stale.json()["message"].as_str().unwrap().contains(&new_tag));
    assert_eq!(bump_stale.status, 412, "{}", bump_stale.body);
    let stored = send(&app, "GET", "/v1/admin/sites/demo", &owner, None);
    assert_eq!(stored.json()["name"], "First owner's name");
    assert_eq!(stored.json()["revision"], read.json()["revision"]);
    assert_eq!(stored.header("etag"), Some(new_tag.as_str()));
    assert_eq!(put(&second, Some(&new_tag)).status, 200);
    assert_eq!(put(&first, Some("*")).status, 200);
    assert_eq!(put(&second, None).status, 200);
}

#[test]
fn logs_are_one_json_object_per_line_when_asked_and_bad_settings_are_said() {
    // Arrange: a new database, so `crumb migrate` logs its migrations.
    let dir = tempfile::TempDir::new().unwrap();
    let migrate = |format: &str, filter: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .arg("migrate")
            .env("CRUMB_DATABASE", dir.path().join(format!("{format}.db")))
            .env("CRUMB_LOG_FORMAT", format)
            .env("CRUMB_LOG", filter)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };

    // Act
    let json = migrate("json", "info");
    let unknown = migrate("xml", "info,=nonsense=");

    // Assert
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["message"] == "applied database migration"),
        "{json}"
    );
    assert!(
        unknown.contains("CRUMB_LOG_FORMAT=\"xml\" is not text or json"),
        "{unknown}"
    );
    assert!(unknown.contains("is not a filter"), "{unknown}");
    assert!(unknown.contains("applied database migration"), "{unknown}");
}

#[test]
fn doctor_checks_what_serve_would_run_with() {
    // Arrange: a served log, a folder with the widget's loader and an
    // empty one, and a key file that is not the log's.
    let app = spawn_app();
    let widget = app.dir.path().join("widget");
    std::fs::create_dir(&widget).unwrap();
    std::fs::write(widget.join("crumb.js"), "/* the loader */").unwrap();
    let empty = app.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = app.dir.path().join("other.key");
    std::fs::write(&other, "cd".repeat(32)).unwrap();
    let key = app.dir.path().join("crumb.db.key");
    let doctor = |widget_dir: &std::path::Path, key: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .arg("doctor")
            .env("CRUMB_DATABASE", app.database().to_setting())
            .env("CRUMB_SIGNING_KEY", key)
            .env("CRUMB_WIDGET_DIR", widget_dir)
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    };

    // Act
    let healthy = doctor(&widget, &key);
    let no_widget = doctor(&empty, &key);
    let foreign_key = doctor(&widget, &other);
    // What an interrupted `crumb copy` leaves beside a SQLite log.
    let leftover = app.database().file().map(|file| {
        let mut path = file.as_os_str().to_owned();
        path.push(".copying");
        std::fs::write(&path, vec![0; 1_500_000]).unwrap();
        doctor(&widget, &key)
    });

    // Assert
    let said = String::from_utf8_lossy(&healthy.stdout);
    assert_eq!(healthy.status.code(), Some(0), "{said}");
    for line in [
        "ok    database: answers",
        "ok    signing key:",
        "ok    site demo: revision 1, passes the compliance check",
    ] {
        assert!(said.contains(line), "{line}: {said}");
    }
    assert!(!said.contains("FAIL"), "{said}");
    let said = String::from_utf8_lossy(&no_widget.stdout);
    assert_eq!(no_widget.status.code(), Some(1), "{said}");
    assert!(said.contains("FAIL  widget: no crumb.js"), "{said}");
    let said = String::from_utf8_lossy(&foreign_key.stdout);
    assert_eq!(foreign_key.status.code(), Some(1), "{said}");
    assert!(said.contains("FAIL  signing key:"), "{said}");
    assert!(said.contains("is not this log's"), "{said}");
    if let Some(out) = leftover {
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(said.contains("warn  disk: "), "{said}");
        assert!(
            said.contains("crumb.db.copying (2 MB) is a snapshot an interrupted crumb copy left"),
            "{said}"
        );
    }
}

#[test]
fn cli_errors_name_what_failed_and_say_each_cause_once() {
    let crumb_with = |database: &str, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crumb"))
            .args(args)
            .env("CRUMB_DATABASE", database)
            .env("CRUMB_LOG", "warn")
            .output()
            .unwrap()
    };

    let crumb = |database: &str| crumb_with(database, &["export", "--site", "demo"]);

    // A PostgreSQL server that is not there: port 1 refuses at once.
    let out = crumb("postgres://crumb@127.0.0.1:1/crumb");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
    assert_eq!(
        err.matches("error connecting to server").count(),
        1,
        "{err}"
    );

    // A SQLite file in a folder that does not exist, for a command that
    // creates the database.
    let out = crumb_with("/nonexistent-crumb-folder/crumb.db", &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent-crumb-folder/crumb.db") && err.contains("No such file"),
        "{err}"
    );

    // A mistyped database setting, for commands that read what is there:
    // a SQLite path with no file, or a PostgreSQL database without Crumb's
    // tables (with CRUMB_TEST_POSTGRES). An error naming it, and no new
    // empty log (which would answer "no site", or "OK: 0 records
    // verified"): every command finds nothing there again.
    let dir = tempfile::TempDir::new().unwrap();
    let (typo, shown) = match crate::helpers::database_in(&dir) {
        crumb_server::storage::Database::Sqlite(path) => {
            let path = path.to_str().unwrap().to_owned();
            (path.clone(), format!("SQLite file {path}"))
        }
        db => (
            db.to_setting().into_string().unwrap(),
            "PostgreSQL database".to_owned(),
        ),
    };
    for args in [
        &["export", "--site", "demo"][..],
        &["verify", "--db"],
        &["head", "--site", "demo"],
        &["site", "show", "demo"],
        &["token", "list"],
    ] {
        let out = crumb_with(&typo, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("error: no Crumb log in {shown}")),
            "{args:?}: {err}"
        );
    }
    assert!(!dir.path().join("crumb.db").exists());

    // A config path that is not a config: an endless device, a binary.
    let binary = dir.path().join("binary");
    std::fs::write(&binary, [0xff, 0xfe, 0, 1]).unwrap();
    for (file, says) in [
        ("/dev/zero", "larger than a site config may be"),
        (binary.to_str().unwrap(), "is not UTF-8 text"),
    ] {
        let out = crumb_with(&typo, &["lint", file]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(says), "{file}: {err}");
    }
}

/// Each day's decision count, as the stats API answers for `query`.
fn decisions_per_day(app: &TestApp, token: &str, query: &str) -> Vec<(String, u64)> {
    let resp = app.get_with_token(&format!("/v1/admin/sites/demo/stats{query}"), token);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let days = resp.json()["days"].as_array().unwrap().clone();
    days.iter()
        .map(|d| {
            let day = d["day"].as_str().unwrap().to_owned();
            (day, d["decisions"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn stats_stay_exact_as_days_close_and_after_a_purge() {
    // Arrange: in January 2023 (so that `crumb purge`, on the real clock,
    // finds the consents expired): two decisions on the 15th, one on the
    // 16th; asked on the 19th, when both days are closed and kept by the
    // node.
    let app = spawn_app();
    app.clock.advance(-time::Duration::days(1096));
    let day = |n: i64| app.clock.advance(time::Duration::days(n));
    app.record_consent(&app.analytics_only());
    app.record_consent(&app.analytics_only());
    day(1);
    app.record_consent(&app.analytics_only());
    day(3);
    let token = app.token(Role::Auditor, Some("demo"));
    let counts = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(d, n)| ((*d).to_owned(), *n)).collect()
    };
    let first = decisions_per_day(&app, &token, "");
    assert_eq!(first, counts(&[("2023-01-15", 2), ("2023-01-16", 1)]));

    // Act and assert: decisions on the 19th and the 20th count while their
    // days are open, and still once those days have closed.
    app.record_consent(&app.analytics_only());
    day(1);
    app.record_consent(&app.analytics_only());
    let all = counts(&[
        ("2023-01-15", 2),
        ("2023-01-16", 1),
        ("2023-01-19", 1),
        ("2023-01-20", 1),
    ]);
    assert_eq!(decisions_per_day(&app, &token, ""), all);
    day(3);
    assert_eq!(decisions_per_day(&app, &token, ""), all);
    // Ranges that start and end within days count only their part of
    // those days (the records were written at 10:00).
    let part = decisions_per_day(
        &app,
        &token,
        "?from=2023-01-15T11:00:00Z&to=2023-01-19T10:30:00Z",
    );
    assert_eq!(part, counts(&[("2023-01-16", 1), ("2023-01-19", 1)]));
    let within = decisions_per_day(
        &app,
        &token,
        "?from=2023-01-15T09:00:00Z&to=2023-01-15T11:00:00Z",
    );
    assert_eq!(within, counts(&[("2023-01-15", 2)]));

    // A purge (another process, as on another node) drops its days from
    // the counts the node keeps.
    let purge = app.crumb(&["purge", "--site", "demo", "--before", "2023-01-16"]);
    assert_eq!(
        purge.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
    assert_eq!(decisions_per_day(&app, &token, ""), all[1..]);
}

#[test]
fn stats_count_decisions_per_day_category_and_method() {
    // Arrange: day 1: accept all, reject all, analytics only; day 2: one
    // update to accept all. Withdrawals are not decisions to count.
    let app = spawn_app();
    let mut accept = app.analytics_only();
    accept["method"] = json!("accept_all");
    accept["categories"] = json!({"functional": true, "analytics": true, "marketing": true});
    let mut reject = app.analytics_only();
    reject["method"] = json!("reject_all");
    reject["categories"] = json!({});
    app.record_consent(&accept);
    app.record_consent(&reject);
    let id = app.record_consent(&app.analytics_only()).json()["consent_id"].clone();
    app.clock.advance(time::Duration::days(1));
    let mut update = accept.clone();
    update["consent_id"] = id.clone();
    app.record_consent(&update);
    app.withdraw(id.as_str().unwrap());
    let auditor = app.token(Role::Auditor, Some("demo"));

    // Act
    let resp = app.get_with_token("/v1/admin/sites/demo/stats", &auditor);

    // Assert
    assert_eq!(resp.status, 200, "{}", resp.body);
    let days = resp.json()["days"].clone();
    assert_eq!(days[0]["day"], "2026-01-15");
    assert_eq!(days[0]["decisions"], 3);
    assert_eq!(days[0]["allowed"]["analytics"]["count"], 2);
    assert_eq!(days[0]["allowed"]["marketing"]["count"], 1);
    let share = days[0]["allowed"]["analytics"]["share"].as_f64().unwrap();
    assert!((share - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        days[0]["methods"],
        json!({"accept_all": 1, "reject_all": 1, "custom": 1, "gpc": 0})
    );
    assert_eq!(days[1]["decisions"], 1);
    assert_eq!(days[1]["methods"]["accept_all"], 1);
    // A range and its errors.
    let one = app.get_with_token("/v1/admin/sites/demo/stats?from=2026-01-16", &auditor);
    assert_eq!(one.json()["days"].as_array().unwrap().len(), 1);
    let bad = app.get_with_token("/v1/admin/sites/demo/stats?from=soon", &auditor);
    assert_eq!(bad.status, 400);
    assert_eq!(app.get("/v1/admin/sites/demo/stats").status, 401);
    assert_eq!(app.get("/owner").status, 200);

    // The CLI gives the same figures, on either engine: the API's JSON, or
    // a table with a total.
    let cli = app.crumb(&["stats", "--site", "demo", "--json"]);
    let err = String::from_utf8_lossy(&cli.stderr);
    assert_eq!(cli.status.code(), Some(0), "{err}");
    let printed: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(printed, resp.json());
    let table = app.crumb(&["stats", "--site", "demo", "--from", "2026-01-15"]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["day", "decisions", "functional"]);
    assert_eq!(rows[1][..4], ["2026-01-15", "3", "33.3%", "66.7%"]);
    assert_eq!(rows[3][..2], ["total", "4"]);
    for (args, says) in [
        (&["stats", "--site", "nope"][..], "no site \"nope\""),
        (
            &["stats", "--site", "demo", "--from", "soon"],
            "\"soon\" is not a date",
        ),
    ] {
        let out = app.crumb(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
}
