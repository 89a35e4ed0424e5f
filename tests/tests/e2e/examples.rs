//! The example site configs in `examples/` (a Dutch-first site with many
//! services, a tiny site with two categories) work through the real
//! widget: accept all, reject all and a custom choice are each recorded
//! and exported.

use crumb_e2e::Site;
use serde_json::{Value, json};

/// Serves `file` (from `examples/`) as the demo pages' site.
fn serve_example(site: &Site, file: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file);
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config["id"] = json!("demo");
    // The test pages are on 127.0.0.1, which the example's domain does not
    // cover; browsers would refuse its cookie there.
    config.as_object_mut().unwrap().remove("cookie_domain");
    site.put_config(&serde_json::from_value(config).unwrap());
}

/// Records reject all, accept all and a custom choice (the first optional
/// category on) through the widget; returns the exported log.
fn three_choices(site: &Site) -> Vec<Value> {
    crate::record_three_choices(site, &["dialog input[data-cat]:not([disabled])"]);
    let export = ureq::get(&site.url("/v1/audit/sites/demo/consents?format=ndjson"))
        .set("Authorization", &format!("Bearer {}", site.token()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_dutch_first_site_with_many_services_records_every_choice() {
    // Arrange
    let site = Site::start();
    serve_example(&site, "dutch-software-site.json");

    // Act
    let log = three_choices(&site);

    // Assert: all three in the export, the necessary services granted in
    // each.
    let methods: Vec<&Value> = log.iter().map(|r| &r["method"]).collect();
    assert_eq!(
        methods,
        [&json!("reject_all"), &json!("accept_all"), &json!("custom")]
    );
    for r in &log {
        let granted = r["services_granted"].as_array().unwrap();
        for necessary in ["sessie", "cloudflare"] {
            assert!(granted.contains(&json!(necessary)), "{r}");
        }
    }
    assert_eq!(
        log[2]["categories_granted"],
        json!(["necessary", "functional"])
    );
    // Reject all leaves exactly the two necessary services granted.
    assert_eq!(log[0]["services_granted"], json!(["cloudflare", "sessie"]));
}

#[test]
fn a_tiny_site_with_two_categories_records_every_choice() {
    let site = Site::start();
    serve_example(&site, "tiny-saas-site.json");

    let log = three_choices(&site);

    let summary: Vec<(Value, Value)> = log
        .iter()
        .map(|r| (r["method"].clone(), r["categories_granted"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (json!("reject_all"), json!(["necessary"])),
            (json!("accept_all"), json!(["necessary", "analytics"])),
            (json!("custom"), json!(["necessary", "analytics"])),
        ]
    );
    assert!(log.iter().all(|r| r["language"] == "en"));
}
