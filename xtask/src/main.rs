//! Project automation, run as `cargo xtask <command>`:
//!
//! - `demo`: build the widget, then run the server with the demo site.
//! - `test`: formatting, clippy (host and wasm32), the widget build, every
//!   test (the end-to-end ones in headless Chromium, then again in
//!   WebKitGTK and Firefox ESR but for those that need Chromium), the server's
//!   integration suite again on a throwaway PostgreSQL cluster, schemathesis
//!   against the server's OpenAPI description, then a smoke run of each
//!   benchmark.
//! - `build-widget`: the release widget into `widget/dist/`.
//! - `bench <server|export|widget> [--smoke]`: benchmarks with budgets.
//! - `test-postgres`: only the server's suite on PostgreSQL.
//! - `fuzz-api`: schemathesis against a live server (also part of `test`).
//!
//! Everything a fresh machine lacks that cargo can fetch (the wasm32
//! target) is installed on the way; system packages are `.ci/run`'s job.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

mod bench;
mod imports;
mod postgres;
mod schemathesis;
mod strings;
mod widget;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(),
        Some("build-widget") => widget::build(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz-api") => schemathesis::run(),
        Some("test-postgres") => postgres_tests(),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|test-postgres|build-widget|bench|fuzz-api>");
            bail!("unknown or missing command")
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_owned()
}

/// Runs a command, echoing it first, and fails if it fails.
pub(crate) fn cmd(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

pub(crate) fn ensure_wasm_target() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if !String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown") {
        cmd("rustup", &["target", "add", "wasm32-unknown-unknown"])?;
    }
    Ok(())
}

/// What the tests and the benchmarks' smoke runs need from Debian: a
/// program to look for, and the package that has it. (WebKitGTK draws on
/// an X display even headless: the tests start Xvfb when there is none.)
const TEST_PACKAGES: [(&str, &str); 8] = [
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
    ("/usr/bin/firefox-esr", "firefox-esr"),
    ("/usr/bin/WebKitWebDriver", "webkit2gtk-driver"),
    ("/usr/bin/Xvfb", "xvfb"),
    ("/usr/bin/wrk", "wrk"),
    ("/usr/bin/time", "time"),
    ("initdb", "postgresql"),
];

/// End-to-end tests that need Chromium's DevTools Protocol (phone
/// viewports, forced colors, print) or its prerendering (Speculation
/// Rules): the WebKit and Firefox passes leave them out. One that needs
/// the protocol and is not listed fails in those passes, saying so
/// (tests/src/browser.rs).
const CHROMIUM_ONLY: [&str; 7] = [
    "a11y::in_a_contrast_theme_every_switch_shows_whether_it_is_on",
    "first_visit::a_printed_page_leaves_crumbs_banner_and_placeholders_out",
    "first_visit::at_400_percent_zoom_the_whole_banner_can_be_read_and_answered",
    "first_visit::on_a_phone_the_banner_leaves_most_of_the_screen_to_the_page",
    "first_visit::the_floating_button_never_covers_the_page_and_yields_to_the_pages_own_link",
    "screenshots::screenshots_at_desktop_and_phone_width",
    "server_decides::a_page_prerendered_before_the_choice_follows_it_once_shown",
];

/// End-to-end tests of a browser that sends Global Privacy Control
/// (`Browser::with_gpc`: Chromium made to, Firefox with its own setting),
/// which WebKit, like Safari, does not: its pass leaves them out.
const NOT_IN_WEBKIT: [&str; 2] = [
    "gpc::a_save_that_keeps_marketing_off_is_recorded_as_gpc_with_the_flag",
    "gpc::accept_all_under_gpc_is_an_explicit_opt_in",
];

/// The end-to-end suite again in WebKitGTK (WebKit, Safari's engine) and
/// Firefox ESR, but for [`CHROMIUM_ONLY`], [`NOT_IN_WEBKIT`] in WebKit's
/// pass, and engines.rs (which already ran each engine in Chromium's pass).
fn e2e_in_other_engines() -> anyhow::Result<()> {
    let mut args = vec![
        "test",
        "-p",
        "crumb-e2e",
        "--test",
        "e2e",
        "--",
        "--skip",
        "engines::",
    ];
    for test in CHROMIUM_ONLY {
        args.extend(["--skip", test]);
    }
    for engine in ["webkit", "firefox"] {
        eprintln!("$ CRUMB_E2E_ENGINE={engine} cargo test -p crumb-e2e --test e2e -- --skip ...");
        let mut args = args.clone();
        if engine == "webkit" {
            for test in NOT_IN_WEBKIT {
                args.extend(["--skip", test]);
            }
        }
        let status = Command::new("cargo")
            .args(&args)
            .env("CRUMB_E2E_ENGINE", engine)
            .status()
            .context("starting cargo")?;
        if !status.success() {
            bail!("the end-to-end tests failed in {engine} ({status})");
        }
    }
    Ok(())
}

/// geckodriver, which drives Firefox in the end-to-end tests: on crates.io,
/// not in Debian. Installed into target/tools/bin, where the tests look
/// for it (tests/src/browser.rs), unless that copy is this version.
const GECKODRIVER: &str = "0.37.1";

fn ensure_geckodriver() -> anyhow::Result<()> {
    let have = Command::new("target/tools/bin/geckodriver")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if have.lines().next() != Some(&format!("geckodriver {GECKODRIVER}")) {
        cmd(
            "cargo",
            &[
                "install",
                "geckodriver",
                "--version",
                GECKODRIVER,
                "--locked",
                "--root",
                "target/tools",
            ],
        )?;
    }
    Ok(())
}

/// Whether a test program is there: a path, or a PostgreSQL program
/// (which Debian keeps off PATH, under /usr/lib/postgresql/<version>/bin).
fn installed(program: &str) -> bool {
    if program == "initdb" {
        postgres::bin_dir().is_some()
    } else {
        std::path::Path::new(program).exists()
    }
}

/// Installs the missing test packages with apt-get when running as root;
/// otherwise stops at once with the one command to run.
fn ensure_test_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = TEST_PACKAGES
        .iter()
        .filter(|(program, _)| !installed(program))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let apt = std::path::Path::new("/usr/bin/apt-get").exists();
    if !(root && apt) {
        bail!(
            "the tests need {}; install them with: sudo apt-get install {}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    cmd("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(&missing);
    cmd("apt-get", &args)
}

fn demo() -> anyhow::Result<()> {
    widget::build()?;
    cmd(
        "cargo",
        &[
            "run",
            "--release",
            "--quiet",
            "-p",
            "crumb-server",
            "--bin",
            "crumb",
            "--",
            "demo",
        ],
    )
}

/// What runs on PostgreSQL only: the server's integration suite, then a
/// crash of the database under write load (`bench/crash.rs`).
fn postgres_tests() -> anyhow::Result<()> {
    server_suite_on_postgres()?;
    // The crash needs a cluster of its own; someone who points the suite
    // at their own server may have no PostgreSQL programs here.
    if postgres::bin_dir().is_none() && std::env::var_os("CRUMB_TEST_POSTGRES").is_some() {
        eprintln!("skipping the PostgreSQL crash check: no initdb and pg_ctl here");
        return Ok(());
    }
    bench::postgres_crash_check()
}

/// The server's integration suite on PostgreSQL: a throwaway cluster,
/// unless `CRUMB_TEST_POSTGRES` already names a server.
fn server_suite_on_postgres() -> anyhow::Result<()> {
    let cluster = match std::env::var("CRUMB_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => None,
        _ => Some(postgres::Cluster::start_with_tls()?),
    };
    let mut suite = Command::new("cargo");
    suite.args(["test", "-p", "crumb-server", "--test", "it"]);
    if let Some(cluster) = &cluster {
        suite.env("CRUMB_TEST_POSTGRES", &cluster.url);
        if let Some(ca) = &cluster.ca {
            suite.env("CRUMB_TEST_POSTGRES_CA", ca);
        }
        if let Some((cert, key)) = &cluster.client {
            suite.env("CRUMB_TEST_POSTGRES_CLIENT_CERT", cert);
            suite.env("CRUMB_TEST_POSTGRES_CLIENT_KEY", key);
        }
    }
    eprintln!("$ cargo test -p crumb-server --test it  (on PostgreSQL)");
    if !suite.status()?.success() {
        bail!("the server's integration suite failed on PostgreSQL");
    }
    Ok(())
}

fn test() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    ensure_test_packages()?;
    ensure_geckodriver()?;
    cmd("cargo", &["fmt", "--all", "--", "--check"])?;
    cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The shared schema and the widget must stay clean on the browser target.
    cmd(
        "cargo",
        &[
            "clippy",
            "-p",
            "crumb-schema",
            "-p",
            "crumb-widget",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The end-to-end tests serve the release widget.
    widget::build()?;
    cmd("cargo", &["test", "--workspace"])?;
    e2e_in_other_engines()?;
    postgres_tests()?;
    schemathesis::run()?;
    // Seconds-long runs of every benchmark, so they keep working (their
    // figures are not checked; the durability check of the server bench is).
    for bench in ["server", "export", "widget"] {
        bench::run(&[bench.to_owned(), "--smoke".to_owned()])?;
    }
    Ok(())
}
