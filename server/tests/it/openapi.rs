//! `/openapi.json` describes the API the server really has.

use crate::helpers::spawn_app;

#[test]
fn openapi_json_describes_every_api_route() {
    // Arrange
    let app = spawn_app();

    // Act
    let resp = app.get("/openapi.json");

    // Assert: OpenAPI 3.1, every operation of the public, owner and
    // auditor APIs, the wire types' schemas and the bearer scheme.
    assert_eq!(resp.status, 200);
    let doc = resp.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/sites/{site}/consents", "post"),
        ("/v1/sites/{site}/consents/{consent}", "get"),
        ("/v1/sites/{site}/consents/{consent}/withdraw", "post"),
        ("/v1/sites/{site}/config", "get"),
        ("/v1/sites/{site}/widget", "get"),
        ("/v1/sites/{site}/widget/details", "get"),
        ("/v1/sites/{site}/declaration", "get"),
        ("/v1/sites/{site}/signals.js", "get"),
        ("/v1/admin/sites", "post"),
        ("/v1/admin/sites/{site}", "put"),
        ("/v1/admin/sites/{site}", "delete"),
        ("/v1/admin/sites/{site}/stats", "get"),
        ("/v1/audit/sites/{site}/consents", "get"),
        ("/v1/audit/sites/{site}/head", "get"),
        ("/v1/audit/sites/{site}/texts", "get"),
        ("/v1/audit/sites/{site}/texts/{text_hash}", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "ConsentRequest",
        "Receipt",
        "ConsentStatus",
        "ErrorBody",
        "SignedHead",
        "SiteList",
        "SiteStats",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // What a request may name, as the server checks it: a client (or a
    // fuzzer) generating from the description sends bodies that get past
    // parsing to the consent rules.
    let request = &schemas["ConsentRequest"]["properties"];
    assert_eq!(
        request["categories"]["propertyNames"]["enum"],
        serde_json::json!(["necessary", "functional", "analytics", "marketing"])
    );
    assert_eq!(
        request["services"]["propertyNames"]["pattern"],
        "^[a-z0-9][a-z0-9-]{0,63}$"
    );
    // A receipt links to the consent's lookup, withdrawal and history, in
    // OpenAPI's own names (utoipa writes `operation_id`).
    let links = &paths["/v1/sites/{site}/consents"]["post"]["responses"]["201"]["links"];
    for (name, operation) in [
        ("lookup", "lookup"),
        ("withdraw", "withdraw"),
        ("history", "history"),
    ] {
        assert_eq!(links[name]["operationId"], operation, "{links}");
        assert_eq!(
            links[name]["parameters"]["consent"],
            "$response.body#/consent_id"
        );
        assert!(links[name].get("operation_id").is_none(), "{links}");
    }
    // The texts a record names are a JSON array (banner, categories).
    let texts = &paths["/v1/audit/sites/{site}/texts/{text_hash}"]["get"]["responses"]["200"];
    assert_eq!(
        texts["content"]["application/json"]["schema"]["type"],
        "array"
    );
}

#[test]
fn every_reference_in_the_description_names_a_schema_it_has() {
    // Arrange
    let app = spawn_app();

    // Act
    let doc = app.get("/openapi.json").json();

    // Assert: utoipa registers the schemas of bodies, not of parameters,
    // so a `$ref` could name a schema the document lacks.
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50, "{} references", found.len());
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").expect(r);
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} dangles"
        );
    }
}

#[test]
fn the_owner_api_describes_a_site_config_field_by_field() {
    // Arrange
    let app = spawn_app();

    // Act
    let doc = app.get("/openapi.json").json();

    // Assert: the config an owner sends and gets back is a schema of its
    // own, closed to unknown fields as the server is, with the rules its
    // identifiers and limits are parsed by.
    let site = &doc["paths"]["/v1/admin/sites/{site}"];
    let config_ref = "#/components/schemas/SiteConfig";
    assert_eq!(
        site["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        config_ref
    );
    assert_eq!(
        site["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        config_ref
    );
    let schemas = &doc["components"]["schemas"];
    let config = &schemas["SiteConfig"];
    assert_eq!(config["additionalProperties"], false);
    for field in [
        "id",
        "name",
        "policy_url",
        "revision",
        "languages",
        "texts",
        "categories",
    ] {
        assert!(
            config["required"]
                .as_array()
                .unwrap()
                .contains(&field.into()),
            "{field} is required"
        );
    }
    assert_eq!(config["properties"]["validity_months"]["maximum"], 24);
    assert_eq!(schemas["SiteId"]["pattern"], "^[a-z0-9][a-z0-9-]{0,63}$");
    assert_eq!(
        config["properties"]["texts"]["propertyNames"]["pattern"],
        schemas["LanguageTag"]["pattern"]
    );
    for name in [
        "BannerTexts",
        "ServiceConfig",
        "CookieConfig",
        "Integrations",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
}
