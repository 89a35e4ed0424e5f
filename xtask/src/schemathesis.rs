//! `cargo xtask test`'s API fuzzing: schemathesis (from PyPI, in a virtual
//! environment under `target/tools`, never installed globally) runs every
//! operation of the server's `/openapi.json` against a live `crumb serve`
//! with the demo site and an owner token, and fails the test command on any
//! server error or any answer that does not match its documented status,
//! content type or schema.

use std::path::Path;

use anyhow::Context as _;

use crate::bench::{Db, Server, crumb_binary, crumb_ok, scratch};

const VENV: &str = "target/tools/venv";
/// The schemathesis release the checks below are written for.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The checks that make "0 server errors, every response matches its
/// schema": no 5xx, documented status codes, content types and headers,
/// and bodies that match their schemas.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance";

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
    let token = crumb_ok(&bin, &db, &["token", "create", "--role", "owner"])?;
    let token = token
        .split_whitespace()
        .find(|w| w.starts_with("crumb_"))
        .context("no token in the output of crumb token create")?
        .to_owned();
    let server = Server::start(&bin, &db, Some(2))?;
    let st = Path::new(VENV).join("bin/st");
    let auth = format!("Authorization: Bearer {token}");
    let result = crate::cmd(
        st.to_str().context("utf-8 path")?,
        &[
            "--no-color",
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
    server.stop()?;
    result.context("schemathesis found answers that break the OpenAPI description")
}
