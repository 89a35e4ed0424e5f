//! `cargo xtask test`'s API fuzzing: schemathesis (from PyPI, in a virtual
//! environment under `target/tools`, never installed globally) runs every
//! operation of the server's `/openapi.json` against a live `crumb serve`
//! with the demo site and an owner token, and fails the test command on any
//! server error or any answer that does not match its documented status,
//! content type or schema.

use std::path::Path;

use anyhow::Context as _;

use crate::bench::{
    Db, Server, consent_bodies, crumb_binary, crumb_ok, http, http_get, http_get_as, scratch,
};

const VENV: &str = "target/tools/venv";
/// The schemathesis release the checks below are written for.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The checks that make "0 server errors, every response matches its
/// schema": no 5xx, documented status codes, content types and headers,
/// and bodies that match their schemas; and, for hostile or careless
/// clients, that a route taking a token refuses a request without one
/// or with a wrong one, that what a link's answer names can be read, and
/// that what was deleted is gone.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth,ensure_resource_availability,use_after_free";

fn ensure_schemathesis() -> anyhow::Result<()> {
    let st = Path::new(VENV).join("bin/st");
    if st.exists() {
        return Ok(());
    }
    crate::cmd("python3", &["-m", "venv", VENV])?;
    let pip = Path::new(VENV).join("bin/pip");
    crate::cmd(
        pip.to_str().context("utf-8 path")?,
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
        ],
    )
    .context("installing schemathesis from PyPI")
}

pub fn run() -> anyhow::Result<()> {
    ensure_schemathesis()?;
    let bin = crumb_binary(true)?;
    let dir = scratch("schemathesis")?;
    let db = Db::sqlite(dir.join("crumb.db"));
    crumb_ok(&bin, &db, &["site", "create", "examples/demo-site.json"])?;
    // Sites of their own for the owner routes that delete a site and that
    // change one, so the demo site the other cases use stays as it is, and
    // the changes are not all made to a site already deleted (see
    // `known_values`).
    let demo: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("examples/demo-site.json")?)?;
    for id in [DELETED, CHANGED] {
        let mut site = demo.clone();
        site["id"] = id.into();
        let file = dir.join(format!("{id}-site.json"));
        std::fs::write(&file, site.to_string())?;
        let file = file.to_str().context("utf-8 path")?;
        crumb_ok(&bin, &db, &["site", "create", file])?;
    }
    let token = crumb_ok(&bin, &db, &["token", "create", "--role", "owner"])?;
    let token = token
        .split_whitespace()
        .find(|w| w.starts_with("crumb_"))
        .context("no token in the output of crumb token create")?
        .to_owned();
    let server = Server::start(&bin, &db, Some(2))?;
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, known_values(&server)?)?;
    let st = Path::new(VENV).join("bin/st");
    let auth = format!("Authorization: Bearer {token}");
    let result = crate::cmd(
        st.to_str().context("utf-8 path")?,
        &[
            "--no-color",
            "--config-file",
            config.to_str().context("utf-8 path")?,
            "run",
            &server.url("/openapi.json"),
            "--checks",
            CHECKS,
            "--header",
            &auth,
            "--max-examples",
            "40",
            "--seed",
            "1",
            // No example database in the working tree.
            "--generation-database",
            "none",
        ],
    );
    // How far the cases got: consents the rules accepted, and what the
    // others were refused for.
    let metrics = http_get_as(&server.addr, "/metrics", Some(&token))?;
    server.stop()?;
    for line in metrics.lines().filter(|l| {
        l.starts_with("crumb_consents_written_total") || l.starts_with("crumb_api_errors_total")
    }) {
        println!("server after the run: {line}");
    }
    result.context("schemathesis found answers that break the OpenAPI description")
}

/// The site `DELETE /v1/admin/sites/{site}` is given.
const DELETED: &str = "deleted";
/// The site the routes that change a site (`PUT`, `bump-revision`) are
/// given.
const CHANGED: &str = "changed";

/// A schemathesis config that fills the routes with values the server
/// knows most of the time: the demo site, its text hashes, language and
/// revision, and consents recorded before the run. Random values alone
/// almost never name a known site, consent or text version, so the fuzzer
/// would only meet the 404s in front of the consent rules. The routes that
/// change or delete a site get other sites: with the demo site deleted
/// (its path parameter's example), or its revision raised, by an early
/// case, every later case would meet a 404 or a 409 again.
fn known_values(server: &Server) -> anyhow::Result<String> {
    let config: serde_json::Value =
        serde_json::from_str(&http_get(&server.addr, "/v1/sites/demo/config")?)?;
    let hashes = config["text_hashes"]
        .as_object()
        .context("the demo config has no text hashes")?;
    let en = hashes["en"].as_str().context("no English text hash")?;
    let mut consents = Vec::new();
    for body in consent_bodies(en) {
        let json = "Content-Type: application/json\r\n";
        let (status, receipt) = http(&server.addr, "POST /v1/sites/demo/consents", json, &body)?;
        anyhow::ensure!(
            status == 201,
            "recording a consent before the run: {status} {receipt}"
        );
        let receipt: serde_json::Value = serde_json::from_str(&receipt)?;
        consents.push(receipt["consent_id"].clone());
    }
    let list = |values: Vec<serde_json::Value>| serde_json::Value::Array(values).to_string();
    let hashes = list(hashes.values().cloned().collect());
    let consents = list(consents);
    // A body's language and text hash must name one version of the texts
    // (else `stale_texts`): English, whole or in the widget's short form.
    let english = list(vec![en.into(), en[..16].into()]);
    Ok(format!(
        r#"[dictionaries.sites]
values = ["demo"]

[dictionaries.consents]
values = {consents}

[dictionaries.texts]
values = {hashes}

[dictionaries.english]
values = {english}

[dictionaries.languages]
values = ["en"]

[dictionaries.revisions]
values = [1]

[[operations]]
include-name = "DELETE /v1/admin/sites/{{site}}"
parameters = {{ "path.site" = "{DELETED}" }}

[[operations]]
include-name-regex = "^PUT /v1/admin/sites/\\{{site\\}}$|/bump-revision$"
parameters = {{ "path.site" = "{CHANGED}" }}

[[operations]]
include-path-regex = "^/v1/(sites|audit/sites)/|/stats$"
parameters = {{ "path.site" = {{ dictionary = "sites", probability = 0.9 }}, "path.consent" = {{ dictionary = "consents", probability = 0.8 }}, "path.text_hash" = {{ dictionary = "texts", probability = 0.8 }}, "body.consent_id" = {{ dictionary = "consents", probability = 0.5 }}, "body.text_hash" = {{ dictionary = "english", probability = 0.8 }}, "body.language" = {{ dictionary = "languages", probability = 0.8 }}, "body.revision" = {{ dictionary = "revisions", probability = 0.8 }} }}
"#
    ))
}
