//! Recording, looking up, updating and withdrawing consents, and how time
//! and policy revisions change their state.

use serde_json::json;
use time::Duration;

use crumb_server::storage::{Role, TimeRange};

use crate::helpers::spawn_app;

#[test]
fn a_backend_that_keeps_consent_ids_in_uppercase_reaches_them() {
    // Arrange: a consent, and its id as SQL Server's `uniqueidentifier`
    // hands it to the site's backend.
    let app = spawn_app();
    let created = app.record_consent(&app.analytics_only());
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["consent_id"].as_str().unwrap().to_owned();
    let upper = id.to_uppercase();
    let auditor = app.token(Role::Auditor, Some("demo"));

    // Act
    let looked_up = app.lookup(&upper);
    let history = app.get_with_token(&format!("/v1/audit/sites/demo/consents/{upper}"), &auditor);
    let mut update = app.analytics_only();
    update["consent_id"] = serde_json::json!(upper);
    let updated = app.record_consent(&update);
    let withdrawn = app.withdraw(&upper);

    // Assert: the same consent each time, named in lowercase.
    for resp in [&looked_up, &history, &updated, &withdrawn] {
        assert!(resp.status == 200 || resp.status == 201, "{}", resp.body);
        assert_eq!(resp.json()["consent_id"], id.as_str(), "{}", resp.body);
    }
    assert_eq!(updated.json()["event"], "updated");
    assert_eq!(app.lookup(&id).json()["state"], "withdrawn");
}

#[test]
fn recorded_consent_looks_up_as_valid() {
    // Arrange
    let app = spawn_app();

    // Act
    let created = app.record_consent(&app.analytics_only());

    // Assert
    assert_eq!(created.status, 201, "{}", created.body);
    let receipt = created.json();
    assert_eq!(receipt["event"], "given");
    assert_eq!(receipt["given_at"], "2026-01-15T10:00:00.000Z");
    assert_eq!(receipt["expires_at"], "2028-01-15T10:00:00.000Z");
    assert_eq!(receipt["choices"]["categories"]["analytics"], true);
    assert_eq!(receipt["choices"]["categories"]["marketing"], false);
    assert_eq!(receipt["choices"]["categories"]["functional"], false);
    // Services follow their category unless named.
    assert_eq!(receipt["choices"]["services"]["hotjar"], true);
    assert_eq!(receipt["choices"]["services"]["meta-pixel"], false);
    assert_eq!(receipt["record_hash"].as_str().unwrap().len(), 64);

    let id = receipt["consent_id"].as_str().unwrap();
    let status = app.lookup(id);
    assert_eq!(status.status, 200);
    let status = status.json();
    assert_eq!(status["state"], "valid");
    assert_eq!(status["expires_at"], "2028-01-15T10:00:00.000Z");
    assert_eq!(status["choices"], receipt["choices"]);
    assert_eq!(app.record_count(), 1);
}

#[test]
fn receipts_and_lookups_give_times_as_their_record_does() {
    // Arrange: a choice at 10:00:00.120, whose milliseconds a shortest
    // form would write as ".12".
    let app = spawn_app();
    app.clock.advance(Duration::milliseconds(120));
    let token = app.token(Role::Auditor, Some("demo"));

    // Act
    let receipt = app.record_consent(&app.analytics_only()).json();
    let id = receipt["consent_id"].as_str().unwrap();
    let status = app.lookup(id).json();
    let history = app
        .get_with_token(&format!("/v1/audit/sites/demo/consents/{id}"), &token)
        .json();

    // Assert: one form, three digits, the record's very text.
    let record = &history["records"][0];
    assert_eq!(receipt["given_at"], "2026-01-15T10:00:00.120Z");
    assert_eq!(receipt["given_at"], record["event_time"]);
    assert_eq!(receipt["expires_at"], record["expires_at"]);
    assert_eq!(status["given_at"], record["event_time"]);
    assert_eq!(status["expires_at"], record["expires_at"]);
}

#[test]
fn consent_expires_two_calendar_years_later() {
    // Arrange
    let app = spawn_app();
    let id = app.given_consent();

    // Act and assert: valid one millisecond before, expired at the instant.
    app.clock
        .advance(Duration::days(730) - Duration::milliseconds(1));
    assert_eq!(app.lookup(&id).json()["state"], "valid");
    app.clock.advance(Duration::milliseconds(1));
    assert_eq!(app.lookup(&id).json()["state"], "expired");
}

#[test]
fn revision_bump_makes_consent_outdated() {
    // Arrange
    let app = spawn_app();
    let id = app.given_consent();

    // Act
    app.bump_revision();

    // Assert
    let status = app.lookup(&id).json();
    assert_eq!(status["state"], "outdated_revision");
    assert_eq!(status["revision"], 1);
    assert_eq!(status["current_revision"], 2);
    // A choice under the new revision makes it valid again.
    let mut again = app.analytics_only();
    again["consent_id"] = json!(id);
    assert_eq!(app.record_consent(&again).status, 201);
    assert_eq!(app.lookup(&id).json()["state"], "valid");
}

#[test]
fn withdrawal_is_recorded_and_leaves_only_necessary() {
    // Arrange
    let app = spawn_app();
    let id = app.given_consent();

    // Act
    let withdrawn = app.withdraw(&id);

    // Assert
    assert_eq!(withdrawn.status, 201, "{}", withdrawn.body);
    assert_eq!(withdrawn.json()["event"], "withdrawn");
    let status = app.lookup(&id).json();
    assert_eq!(status["state"], "withdrawn");
    assert_eq!(status["choices"]["categories"]["analytics"], false);
    assert_eq!(status["choices"]["categories"]["necessary"], true);
    assert_eq!(app.record_count(), 2);

    // Withdrawing twice is a conflict and stores nothing.
    let again = app.withdraw(&id);
    assert_eq!(again.status, 409);
    assert_eq!(again.error_code(), "already_withdrawn");
    assert_eq!(app.record_count(), 2);

    // The withdrawal ended the consent: a choice naming it is refused as
    // `unknown_consent` (nothing stored), and the same choice without the
    // id starts a new consent, as the widget then sends it.
    let mut update = app.analytics_only();
    update["consent_id"] = json!(id);
    let refused = app.record_consent(&update);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error_code(), "unknown_consent");
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("was withdrawn")
    );
    assert_eq!(app.record_count(), 2);
    assert_eq!(app.lookup(&id).json()["state"], "withdrawn");
    let fresh = app.record_consent(&app.analytics_only());
    assert_eq!(fresh.status, 201, "{}", fresh.body);
    assert_eq!(fresh.json()["event"], "given");
    assert_ne!(fresh.json()["consent_id"], json!(id));
}

#[test]
fn update_keeps_the_consent_id_and_renews_expiry() {
    // Arrange
    let app = spawn_app();
    let first = app.record_consent(&app.analytics_only()).json();
    let id = first["consent_id"].as_str().unwrap();
    app.clock.advance(Duration::days(100));

    // Act
    let mut update = app.analytics_only();
    update["consent_id"] = json!(id);
    update["method"] = json!("accept_all");
    update["categories"] = json!({"functional": true, "analytics": true, "marketing": true});
    let updated = app.record_consent(&update);

    // Assert
    assert_eq!(updated.status, 201, "{}", updated.body);
    let updated = updated.json();
    assert_eq!(updated["consent_id"], id);
    assert_eq!(updated["event"], "updated");
    assert_eq!(updated["expires_at"], "2028-04-25T10:00:00.000Z");
    let status = app.lookup(id).json();
    assert_eq!(status["method"], "accept_all");
    assert_eq!(status["choices"]["services"]["meta-pixel"], true);
    assert_eq!(app.record_count(), 2);
}

#[test]
fn records_form_a_hash_chain_per_site() {
    // Arrange
    let app = spawn_app();

    // Act
    let hashes: Vec<String> = (0..3)
        .map(|_| {
            app.record_consent(&app.analytics_only()).json()["record_hash"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();

    // Assert: each stored body names the previous record's hash.
    let mut rows = Vec::new();
    app.store()
        .for_each_record(None, &TimeRange::all(), &mut |body, hash| {
            rows.push((body.to_owned(), hash.to_owned()));
            true
        })
        .unwrap();
    assert_eq!(rows.len(), 3);
    let mut prev = crumb_server::record::GENESIS_HASH.to_owned();
    for (i, (body, hash)) in rows.iter().enumerate() {
        assert_eq!(hash, &hashes[i]);
        assert_eq!(&crumb_server::record::sha256_hex(body.as_bytes()), hash);
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["seq"], i + 1);
        assert_eq!(body["prev_hash"], prev.as_str());
        // The raw address is never stored, only its network.
        assert_eq!(body["ip_network"], "127.0.0.0/24");
        prev = hash.clone();
    }
}

#[test]
fn concurrent_writes_are_all_acknowledged_and_stored() {
    // Arrange
    let app = spawn_app();
    let body = app.analytics_only();

    // Act: enough parallel requests that batches hold several drafts.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..25)
                        .map(|_| app.record_consent(&body).status)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    // Assert
    assert!(statuses.iter().all(|s| *s == 201));
    assert_eq!(app.record_count(), 200);
    let seqs: Vec<u64> = app
        .records()
        .iter()
        .map(|(body, _)| body["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>(), "the chain has no gaps");
}

#[test]
fn lookup_of_unknown_consent_is_404() {
    let app = spawn_app();
    let resp = app.lookup("00000000-0000-4000-8000-000000000000");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_code(), "unknown_consent");
    let resp = app.withdraw("00000000-0000-4000-8000-000000000000");
    assert_eq!(resp.status, 404);
    assert_eq!(app.record_count(), 0);
}

#[test]
fn a_revision_bump_from_another_process_reaches_the_running_server() {
    // Arrange: the server has the site in memory.
    let app = spawn_app();
    assert_eq!(app.record_consent(&app.analytics_only()).status, 201);

    // Act: the CLI, a separate process, bumps the revision.
    let out = app.crumb(&["site", "bump-revision", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server re-reads the database's site counter at least every 100 ms.
    std::thread::sleep(std::time::Duration::from_millis(150));

    // Assert: a banner shown under revision 1 no longer counts.
    let mut stale = app.analytics_only();
    stale["revision"] = json!(1);
    let resp = app.record_consent(&stale);
    assert_eq!(resp.status, 409);
    assert_eq!(resp.error_code(), "outdated_revision");
}

/// The demo site with a strictly necessary service (its session cookie),
/// as real cookie policies list first.
fn with_necessary_service(app: &crate::helpers::TestApp) {
    let mut site = serde_json::to_value(app.site()).unwrap();
    site["services"].as_array_mut().unwrap().push(json!({
        "id": "session", "name": "Session", "provider": "Demo shop", "category": "necessary",
        "privacy_policy_url": "https://shop.example/privacy",
        "description": {"en": "Keeps you logged in."},
        "cookies": [{"name": "sid", "purpose": {"en": "Session"}, "retention": {"en": "Session"}}]
    }));
    app.put_site(&serde_json::from_value(site).unwrap());
}

#[test]
fn every_method_records_necessary_services_as_granted() {
    // Arrange
    let app = spawn_app();
    with_necessary_service(&app);
    let base = app.analytics_only();
    let all = json!({"necessary": true, "functional": true, "analytics": true, "marketing": true});
    let cases = [
        ("reject_all", json!({}), json!({})),
        // The widget may leave necessary services out or send them on.
        ("reject_all", json!({}), json!({"session": true})),
        ("accept_all", all, json!({})),
        (
            "custom",
            json!({"analytics": true}),
            json!({"hotjar": false}),
        ),
        ("gpc", json!({"analytics": true}), json!({})),
    ];

    for (method, categories, services) in cases {
        // Act
        let mut body = base.clone();
        body["method"] = json!(method);
        body["categories"] = categories;
        body["services"] = services;
        let resp = app.record_consent(&body);

        // Assert
        assert_eq!(resp.status, 201, "{method}: {}", resp.body);
        assert_eq!(
            resp.json()["choices"]["services"]["session"],
            true,
            "{method}"
        );
    }
}

#[test]
fn refusing_a_necessary_service_is_refused() {
    let app = spawn_app();
    with_necessary_service(&app);
    let mut body = app.analytics_only();
    body["services"] = json!({"session": false});

    let resp = app.record_consent(&body);

    assert_eq!(resp.status, 400, "{}", resp.body);
    assert_eq!(resp.error_code(), "invalid_choice");
    assert!(resp.json()["message"].as_str().unwrap().contains("session"));
    assert_eq!(app.record_count(), 0);
}

#[test]
fn the_widgets_short_text_version_is_checked_and_the_whole_hash_recorded() {
    // Arrange: the first 16 hex digits of the text hash, as the widget's
    // compact config carries them.
    let app = spawn_app();
    let full = app.text_hash("en");
    let mut body = app.analytics_only();
    body["text_hash"] = full[..16].into();
    let mut stale = body.clone();
    stale["text_hash"] = "0123456789abcdef".into();
    let mut odd = body.clone();
    odd["text_hash"] = full[..20].into();

    // Act
    let ok = app.record_consent(&body);
    let refused = app.record_consent(&stale);
    let malformed = app.record_consent(&odd);

    // Assert: recorded with the whole hash; other texts are stale (409);
    // any other length is not a text version (400); nothing else stored.
    assert_eq!(ok.status, 201, "{}", ok.body);
    let token = app.token(crumb_server::storage::Role::Auditor, None);
    let export = app.get_with_token("/v1/audit/sites/demo/consents", &token);
    let record: serde_json::Value = serde_json::from_str(export.body.trim()).unwrap();
    assert_eq!(record["text_hash"], full.as_str());
    assert_eq!(
        (refused.status, refused.error_code()),
        (409, "stale_texts".into())
    );
    assert_eq!(malformed.status, 400);
    assert_eq!(app.record_count(), 1);
}
