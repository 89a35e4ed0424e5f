//! One function per `crumb` command; `main.rs` only parses the arguments
//! and calls them. What a command shares with the HTTP API lives in the
//! library and is called from both: the export ([`crate::export::write`]),
//! the signed head ([`crate::signing::signed_head`]), the verify rules
//! ([`crate::verify`]) and the site update rule ([`crate::sites`]).

use std::collections::BTreeSet;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use crumb_schema::{SiteConfig, SiteId};

use crate::clock::{Clock, SystemClock};
use crate::export::{Format, parse_range};
use crate::settings::Settings;
use crate::startup::Application;
use crate::storage::{Database, DayStats, PostgresStore, Role, SqliteStore, Store, StoreError};
use crate::timefmt::Timestamp;
use crate::verify::{Summary, VerifyError, verify_ndjson};
use crate::{auth, demo, signing};

/// `crumb serve`, and `crumb demo` (`demo`: the demo site, created on
/// first run, and its pages).
pub fn serve(mut settings: Settings, demo: bool) -> anyhow::Result<()> {
    if demo {
        let store = settings.database.open()?;
        if demo::ensure_demo_site(store.as_ref(), SystemClock.now())? {
            tracing::info!("created the demo site");
        }
        if settings.static_dir.is_none() {
            settings.static_dir = demo_pages();
        }
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build_with_clock(&settings, Arc::new(SystemClock))?;
        let url = format!("http://{}:{}/", settings.host, app.port());
        if demo {
            println!("Crumb demo running at {url}  (Ctrl-C to stop)");
        } else {
            println!("Crumb listening on {url}");
        }
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// The demo pages: `examples/site` beside the current directory, or beside
/// the source tree this binary was built from.
fn demo_pages() -> Option<PathBuf> {
    let here = Path::new("examples/site");
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/site");
    [here.to_owned(), built].into_iter().find(|p| p.is_dir())
}

/// `crumb migrate`.
pub fn migrate(settings: &Settings) -> anyhow::Result<()> {
    settings.database.open()?;
    println!("database {} is up to date", settings.database);
    Ok(())
}

/// `crumb doctor`: one line per check, `ok`, `warn` (works, but look) or
/// `FAIL` (`serve` would not start, or would serve something broken).
pub fn doctor(settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut say = |level: &str, what: String| {
        failed |= level == "FAIL";
        println!("{level:<4}  {what}");
    };
    say(
        "ok",
        format!(
            "settings: database {}, listening on {}:{}{}, signing key {}",
            settings.database,
            settings.host,
            settings.port,
            settings.base_path.as_str(),
            settings.signing_key_path().display()
        ),
    );
    if let Database::Postgres(url) = &settings.database {
        let checked = url.ssl_mode() == crate::storage::SslMode::VerifyFull;
        say(
            if checked { "ok" } else { "warn" },
            format!(
                "PostgreSQL: sslmode={}{}, at most {} connections per node",
                url.ssl_mode().as_str(),
                if checked {
                    ""
                } else {
                    " (only verify-full checks whom the node talks to)"
                },
                url.pool_size()
            ),
        );
    }
    let widget = settings
        .widget_dir
        .clone()
        .or_else(crate::startup::default_widget_dir);
    match widget {
        Some(dir) if dir.join("crumb.js").is_file() => {
            say("ok", format!("widget: {}", dir.display()));
        }
        Some(dir) => say(
            "FAIL",
            format!(
                "widget: no crumb.js in {} (cargo xtask build-widget)",
                dir.display()
            ),
        ),
        None => say(
            "FAIL",
            "widget: not built, so /crumb.js would answer 404 (cargo xtask build-widget, or \
             widget_dir)"
                .into(),
        ),
    }
    let store = match settings.database.open_existing() {
        Ok(store) => store,
        Err(StoreError::NoLog(what)) => {
            say(
                "warn",
                format!("database: no Crumb log in {what} yet (serve or migrate creates it)"),
            );
            return Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        Err(e) => {
            say("FAIL", format!("database: {e}"));
            return Ok(ExitCode::from(1));
        }
    };
    match store.ping() {
        Ok(()) => say("ok", "database: answers, schema up to date".into()),
        Err(e) => say("FAIL", format!("database: {e}")),
    }
    // A `crumb copy` cut off (a closed terminal, a reboot) leaves its
    // snapshot of the log beside it, as large as the log.
    if let Some(file) = settings.database.file()
        && let Ok(left) = Scratch::path_beside(file, SNAPSHOT_SUFFIX).metadata()
    {
        say(
            "warn",
            format!(
                "disk: {}{SNAPSHOT_SUFFIX} ({} MB) is a snapshot an interrupted crumb copy left: \
                 delete it, or run the copy again, which removes it",
                file.display(),
                left.len().div_ceil(1_000_000)
            ),
        );
    }
    let key_path = settings.signing_key_path();
    match (signing::Key::read(&key_path), store.log_key()) {
        (Err(e), _) => say("FAIL", format!("signing key: {e}")),
        (_, Err(e)) => say("FAIL", format!("signing key: {e}")),
        (Ok(None), Ok(None)) => say(
            "warn",
            format!(
                "signing key: none at {} yet; the first serve makes it",
                key_path.display()
            ),
        ),
        (Ok(None), Ok(Some(recorded))) => {
            let missing = signing::LogKeyError::Missing {
                path: key_path.display().to_string(),
                recorded,
            };
            say("FAIL", format!("signing key: {missing}"));
        }
        (Ok(Some(_)), Ok(_)) => match signing::log_key(store.as_ref(), &key_path) {
            Ok(key) => say("ok", format!("signing key: {} is this log's", key.public())),
            Err(e) => say("FAIL", format!("signing key: {e}")),
        },
    }
    let rows = store.site_rows()?;
    if rows.is_empty() {
        say("warn", "sites: none yet (crumb site create FILE)".into());
    }
    for row in &rows {
        // Configs stored by an earlier version are checked by this one's
        // rules: serve would go on serving them as they are.
        let problems = crate::lint::lint(&row.config);
        if problems.is_empty() {
            say(
                "ok",
                format!(
                    "site {}: revision {}, passes the compliance check",
                    row.config.id, row.config.revision
                ),
            );
        } else {
            let list: Vec<String> = problems
                .iter()
                .map(|p| format!("[{}] {}", p.rule, p.message))
                .collect();
            say(
                "warn",
                format!(
                    "site {}: {} problem(s) under this version's rules: {}",
                    row.config.id,
                    problems.len(),
                    list.join("; ")
                ),
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `crumb lint FILE [--page HTML]... [--json]`: the config's problems are
/// an error (exit 2); a page's are listed, and make the exit status 1.
/// With `json`, what is found is one JSON document on standard output
/// (the config's problems too), each problem with its `rule`, `path` and
/// `message` as the admin API gives them; files that cannot be read are
/// still errors on standard error.
pub fn lint(file: &Path, pages: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let text = read_small(file, crate::routes::admin::MAX_CONFIG, "a site config")?;
    let site = match crate::lint::lint_json(&text) {
        Ok(site) => site,
        Err(problems) if json => {
            let config = serde_json::json!({"file": file, "problems": problems});
            println!("{}", serde_json::json!({"config": config, "pages": []}));
            return Ok(ExitCode::from(2));
        }
        Err(problems) => return Err(config_problems(file, &problems)),
    };
    let mut reports = Vec::new();
    for page in page_files(pages)? {
        // Pages in a legacy encoding (windows-1252) are read too: the
        // tags and attributes checked are ASCII.
        let (html, name) = if page == Path::new(STDIN) {
            (read_stdin(MAX_PAGE, "a page")?, "standard input".into())
        } else {
            (
                read_small_bytes(&page, MAX_PAGE, "a page")?,
                page.display().to_string(),
            )
        };
        let html = String::from_utf8_lossy(&html);
        reports.push((name, crate::page_lint::lint_page(&site, &html)));
    }
    let clean = reports.iter().all(|(_, r)| r.problems.is_empty());
    if json {
        let pages: Vec<_> = reports
            .iter()
            .map(|(name, r)| {
                serde_json::json!({"page": name, "gated": r.gated, "problems": r.problems})
            })
            .collect();
        let config = serde_json::json!({
            "file": file, "site": site.id, "revision": site.revision, "problems": [],
        });
        println!("{}", serde_json::json!({"config": config, "pages": pages}));
    } else {
        println!(
            "{}: OK (site {}, revision {})",
            file.display(),
            site.id,
            site.revision
        );
        for (name, report) in &reports {
            if report.problems.is_empty() {
                println!("{name}: OK ({} gated elements)", report.gated);
                continue;
            }
            println!("{name}: {} problem(s):", report.problems.len());
            for p in &report.problems {
                println!("  - [{}] {}", p.rule, p.message);
            }
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The pages `--page` names: files, every page in a folder, and `-`
/// (standard input) at most once.
fn page_files(pages: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for page in pages {
        // `-` is the page on standard input (`curl -s URL | crumb lint
        // site.json --page -`), which can be read once.
        if page == Path::new(STDIN) {
            if files.iter().any(|f| f == Path::new(STDIN)) {
                bail!("--page - (standard input) can be given once");
            }
            files.push(page.clone());
            continue;
        }
        let before = files.len();
        html_files(page, &mut files)?;
        // A folder with no page in it is a wrong path (a build not made
        // yet), not a clean site.
        if files.len() == before {
            bail!("{} has no HTML page (.html or .htm) in it", page.display());
        }
    }
    Ok(files)
}

/// The largest page `crumb lint --page` reads.
const MAX_PAGE: usize = 16 << 20;

/// The `--page` that names standard input.
const STDIN: &str = "-";

/// Standard input, when it holds at most `limit` bytes.
fn read_stdin(limit: usize, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .context("reading standard input")?;
    if bytes.len() > limit {
        bail!("standard input is larger than {what} may be ({limit} bytes)");
    }
    Ok(bytes)
}

/// `path` itself when it is a file; for a folder (a static site's build),
/// every `.html` and `.htm` file under it, in name order.
fn html_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    entries.sort();
    for entry in entries {
        let is_page = entry
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
        if entry.is_dir() {
            html_files(&entry, out)?;
        } else if is_page {
            out.push(entry);
        }
    }
    Ok(())
}

/// `crumb seed`: synthetic consents for benchmarks.
pub fn seed(settings: &Settings, site: &str, count: u64, days: u32) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let site = Arc::new(find_site(store.as_ref(), site)?);
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(count);
    let n = crate::seed::seed(
        store.as_ref(),
        site,
        count,
        time::Duration::days(days.into()),
        SystemClock.now(),
        10_000,
        |n| bar.set_position(n),
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {n} records in {secs:.1} s ({:.0}/s)",
        n as f64 / secs
    );
    Ok(())
}

/// `crumb token create`.
pub fn token_create(
    settings: &Settings,
    role: &str,
    site: Option<&str>,
    label: &str,
) -> anyhow::Result<()> {
    let store = settings.database.open()?;
    let role = Role::parse(role).context("role is owner or auditor")?;
    let site = site.map(|s| logged_site(store.as_ref(), s)).transpose()?;
    let issued = auth::issue(store.as_ref(), role, site, label, SystemClock.now())?;
    eprintln!(
        "token {} ({}, {}); store it now, it is not shown again:",
        issued.row.id,
        role.as_str(),
        issued
            .row
            .site
            .as_ref()
            .map_or("every site", |s| s.as_str())
    );
    println!("{}", issued.token);
    Ok(())
}

/// `crumb token revoke ID`.
pub fn token_revoke(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let Some(token) = crate::storage::TokenId::parse(id) else {
        bail!("{id:?} is not a token id (the 16 hex digits after crumb_)");
    };
    let store = settings.database.open_existing()?;
    if !store.revoke_token(&token, SystemClock.now())? {
        bail!("no live token with id {id:?}");
    }
    println!("token {id} revoked");
    Ok(())
}

/// `crumb token list`: every token, oldest first, so an operator can find
/// the id to revoke. One line each, columns separated by two spaces.
pub fn token_list(settings: &Settings) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let mut rows: Vec<_> = store.tokens()?.into_iter().map(|(row, _)| row).collect();
    rows.sort_by_key(|r| (r.created_at, r.id.to_string()));
    if rows.is_empty() {
        eprintln!("no tokens yet: `crumb token create --role owner` makes one");
    }
    for r in rows {
        let site = r.site.as_ref().map_or("every-site", |s| s.as_str());
        let state = r
            .revoked_at
            .map_or_else(|| "live".to_owned(), |t| format!("revoked {t}"));
        let line = format!(
            "{}  {:<7}  {site}  created {}  {state}  {}",
            r.id,
            r.role.as_str(),
            r.created_at,
            r.label
        );
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// `crumb export`: the same bytes as the HTTP export.
pub fn export(
    settings: &Settings,
    site: &str,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let site = logged_site(store.as_ref(), site)?;
    let range = parse_range(from, to).map_err(anyhow::Error::msg)?;
    let format = Format::parse(format).context("format is ndjson or csv")?;
    let mut out = output_to(output)?;
    // A spinner with a count on a terminal; indicatif draws nothing when
    // stderr is not one.
    let progress = indicatif::ProgressBar::new_spinner().with_message("records exported");
    let n = crate::export::write(store.as_ref(), &site, &range, format, &mut out, &|| {
        progress.inc(1)
    })
    .context("export failed")?;
    progress.finish_and_clear();
    out.flush().context("export failed")?;
    eprintln!("exported {n} records of site {site}");
    Ok(())
}

/// `crumb export --site S --texts`: every kept version of the site's
/// texts, as `GET /v1/audit/sites/{site}/texts` lists them, to go with an
/// export (`crumb verify FILE --texts TEXTS`).
pub fn export_texts(settings: &Settings, site: &str, output: Option<&Path>) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let site = logged_site(store.as_ref(), site)?;
    let mut out = output_to(output)?;
    let n = crate::export::write_texts(store.as_ref(), &site, &mut out).context("export failed")?;
    out.flush().context("export failed")?;
    eprintln!("exported {n} versions of the texts of site {site}");
    Ok(())
}

/// A buffered writer to `path`, else to standard output.
fn output_to(path: Option<&Path>) -> anyhow::Result<Box<dyn std::io::Write + Send>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

/// What `crumb verify` checks besides the records themselves.
#[derive(Debug, Default)]
pub struct VerifyChecks<'a> {
    /// A signed head the export must end with.
    pub head: Option<&'a Path>,
    /// The texts kept with the export.
    pub texts: Option<&'a Path>,
    /// Public keys a head or purge checkpoint may be signed with.
    pub public_keys: &'a [signing::PublicKey],
}

/// `crumb verify FILE [--head HEAD --public-key HEX] [--texts TEXTS]`
/// (FILE `-`: standard input) or `crumb verify --db [DATABASE]` (`db` is
/// `Some(None)` for the configured database): exit code 1 when the log is
/// broken.
pub fn verify(
    settings: &Settings,
    file: Option<&Path>,
    db: Option<Option<&str>>,
    checks: &VerifyChecks<'_>,
) -> anyhow::Result<ExitCode> {
    let VerifyChecks {
        head,
        texts,
        public_keys,
    } = *checks;
    if db.is_none() && head.is_none() && !public_keys.is_empty() {
        bail!("--public-key checks a --head, or with --db the purge checkpoints");
    }
    // `--db crumb.db` (or a URL) checks that database, with the key that
    // goes with it (`crumb.db.key` beside a file), rather than the
    // configured one: an auditor handed a copy need not configure it.
    let given;
    let settings = match db.flatten() {
        Some(database) => {
            given = Settings {
                database: Database::parse(database)
                    .map_err(|why| anyhow::anyhow!("--db: {why}"))?,
                ..settings.clone()
            };
            &given
        }
        None => settings,
    };
    let mut store = None;
    let result = if db.is_some() {
        let opened = store.insert(settings.database.open_existing()?);
        // The keys check purge checkpoints only: a log no purge has cut
        // verifies without one (an auditor given a copy of the database).
        let trusted = trusted_keys(settings, public_keys)?;
        crate::verify::verify_store(opened.as_ref(), &trusted)
    } else {
        let path = file.context("a file to verify, or --db")?;
        // `-` is standard input, so an export can be piped straight in
        // (`curl .../consents | crumb verify -`).
        let stdin = path == Path::new("-");
        let name = if stdin {
            "standard input".to_owned()
        } else {
            path.display().to_string()
        };
        let result = if stdin {
            verify_ndjson(an_export(
                Box::new(BufReader::new(std::io::stdin())),
                &name,
            )?)
        } else {
            let f = std::fs::File::open(path).with_context(|| format!("opening {name}"))?;
            verify_ndjson(an_export(Box::new(BufReader::new(f)), &name)?)
        };
        // An export without a record verifies nothing. It is most often a
        // download that failed (`curl -s` writes nothing when it cannot
        // connect, `curl -f` nothing on a 401), which must not pass as
        // "OK". (`--db` reports an empty log as it is.)
        if let Ok(summary) = &result
            && summary.records == 0
        {
            bail!("{name} holds no records: nothing was verified (did the download fail?)");
        }
        result
    };
    let summary = match result {
        Ok(summary) => summary,
        Err(e @ (VerifyError::Broken(_) | VerifyError::Unanchored(_))) => {
            println!("BROKEN: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(unverified(e, &settings.signing_key_path())),
    };
    if let Some(path) = head {
        // A signed head is a few hundred bytes.
        let text = read_small(path, 64 * 1024, "a signed head")?;
        // A byte order mark, as some Windows tools write one, is no part
        // of the head.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let head: signing::SignedHead = serde_json::from_str(text)
            .with_context(|| format!("{} is not a signed head", path.display()))?;
        if let Err(why) = crate::verify::check_head(&summary, &head, public_keys) {
            println!("BROKEN: {why}");
            return Ok(ExitCode::from(1));
        }
        println!(
            "signed head verified: site {} seq {}",
            head.site_id, head.seq
        );
    }
    if let Some(path) = texts {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let texts = unwrapped(Box::new(BufReader::new(file)), &path.display().to_string())?;
        match crate::verify::check_texts(&summary, texts) {
            Ok(named) => println!(
                "texts verified: the {named} version(s) of the texts the records name are in {}, \
                 each hashing to its name",
                path.display()
            ),
            Err(crate::verify::TextsError::Io(e)) => {
                return Err(anyhow::Error::new(e).context(format!("reading {}", path.display())));
            }
            // Not a texts file (an error answer, an empty download): an
            // error in what was given, which says nothing about the log.
            Err(
                e @ (crate::verify::TextsError::Invalid(..) | crate::verify::TextsError::Empty),
            ) => {
                return Err(anyhow::anyhow!("{}: {e}", path.display()));
            }
            Err(e) => {
                println!("BROKEN: {e}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    print_summary(&summary);
    if let Some(store) = &store {
        print_kept_texts(store.as_ref(), &summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// For `verify --db`: whether the log keeps every version of the texts its
/// records name. A log written before Crumb kept them lacks the versions
/// its configs had before its first `crumb serve` that did: said, not an
/// error, since the records themselves verify.
fn print_kept_texts(store: &dyn crate::storage::Store, summary: &Summary) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let mut named = 0;
    for (site, s) in &summary.sites {
        for hash in &s.text_hashes {
            named += 1;
            if store.notices(site, hash)?.is_empty() {
                missing.push(format!("{site} {hash}"));
            }
        }
    }
    if missing.is_empty() {
        println!("texts: the log keeps all {named} version(s) of the texts its records name");
    } else {
        println!(
            "texts: the log does not keep {} of the {named} version(s) of the texts its records \
             name (written before Crumb kept them): {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// The public keys a log's purge checkpoints are checked against: the key
/// file's, if there is one, and those given with `--public-key`.
fn trusted_keys(
    settings: &Settings,
    given: &[signing::PublicKey],
) -> anyhow::Result<Vec<signing::PublicKey>> {
    let mut keys: Vec<_> = signing::Key::read(&settings.signing_key_path())?
        .map(|k| k.public())
        .into_iter()
        .collect();
    keys.extend_from_slice(given);
    Ok(keys)
}

/// An error that stopped a verification before it could judge the log.
/// A key that is missing where it is needed is the setup's fault, and
/// says where the key was looked for.
fn unverified(e: VerifyError, key_path: &Path) -> anyhow::Error {
    match e {
        VerifyError::KeyNeeded { .. } => anyhow::anyhow!(
            "{e}; {}",
            signing::KeyError::Missing(key_path.display().to_string())
        ),
        e => e.into(),
    }
}

/// A file given to `verify` as it was written: gzip unpacked, a byte order
/// mark passed over, UTF-16 refused ([`crate::verify::unwrap`]). Its first
/// line comes whole from the first `fill_buf`.
fn unwrapped<'a>(
    mut input: Box<dyn std::io::BufRead + Send + 'a>,
    name: &str,
) -> anyhow::Result<Box<dyn std::io::BufRead + Send + 'a>> {
    use std::io::{BufRead, BufReader, Read};
    // The whole first line, however the input arrives (a pipe gives it in
    // pieces); a line of texts is a few kilobytes.
    let mut first = Vec::new();
    (&mut input)
        .take(1 << 20)
        .read_until(b'\n', &mut first)
        .with_context(|| format!("reading {name}"))?;
    match crate::verify::unwrap(&first).map_err(|e| anyhow::anyhow!("{name} {e}"))? {
        crate::verify::Wrapping::Plain { skip } => {
            first.drain(..skip);
            Ok(Box::new(std::io::Cursor::new(first).chain(input)))
        }
        crate::verify::Wrapping::Gzip => {
            let packed = std::io::Cursor::new(first).chain(input);
            let unpacked = flate2::read::MultiGzDecoder::new(packed);
            unwrapped(Box::new(BufReader::new(unpacked)), name)
        }
    }
}

/// Refuses a file given to `verify` that is not an export (an API error
/// answer, a CSV export, ...: [`crate::verify::recognise`]), which would
/// otherwise be reported as a BROKEN chain, which reads as tampering.
fn an_export<'a>(
    input: Box<dyn std::io::BufRead + Send + 'a>,
    name: &str,
) -> anyhow::Result<Box<dyn std::io::BufRead + Send + 'a>> {
    let mut input = unwrapped(input, name)?;
    let first_line = input
        .fill_buf()
        .with_context(|| format!("reading {name}"))?;
    crate::verify::recognise(first_line).map_err(|e| anyhow::anyhow!("{name} {e}"))?;
    Ok(input)
}

fn print_summary(summary: &Summary) {
    println!("OK: {} records verified", summary.records);
    for (site, s) in &summary.sites {
        let start = if s.from_genesis {
            "from the start of the chain".to_owned()
        } else {
            format!(
                "from seq {} (earlier records not in this file)",
                s.first_seq
            )
        };
        println!(
            "  site {site}: seq {}..={} {start}; head hash {}",
            s.first_seq, s.last_seq, s.head_hash
        );
    }
}

/// `crumb key`: the public key to publish for auditors, checked against
/// the one the log records.
pub fn key(settings: &Settings) -> anyhow::Result<()> {
    let path = settings.signing_key_path();
    let key = match settings.database.open_existing() {
        Ok(store) => signing::log_key(store.as_ref(), &path)?,
        // A key is printed without a log too (before the first start, or
        // on a machine that only holds the key).
        Err(StoreError::NoLog(_)) => signing::Key::load(&path)?,
        Err(e) => return Err(e.into()),
    };
    println!("{}", key.public());
    Ok(())
}

/// `crumb key --replace`: the key file (made when missing) becomes the
/// log's signing key, after the old one was lost or leaked.
pub fn key_replace(settings: &Settings) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let path = settings.signing_key_path();
    let (key, old) = signing::replace_log_key(store.as_ref(), &path, SystemClock.now())?;
    println!("{}", key.public());
    match old {
        Some(old) => eprintln!(
            "this log is now signed with {} (the key file {}); what was signed before still \
             checks with the old public key {old}, so keep publishing it beside the new one. \
             Restart every node with the new key file: running nodes sign with the old key \
             until then",
            key.public(),
            path.display()
        ),
        None => eprintln!(
            "this log is signed with {} (the key file {}); give every node that serves it \
             this key file",
            key.public(),
            path.display()
        ),
    }
    Ok(())
}

/// `crumb head --site S`: the same signed head as the audit API's.
pub fn head(settings: &Settings, site: &str) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let site = logged_site(store.as_ref(), site)?;
    let key = signing::log_key(store.as_ref(), &settings.signing_key_path())?;
    let head = signing::signed_head(store.as_ref(), &key, &site, SystemClock.now())?;
    println!("{}", serde_json::to_string_pretty(&head)?);
    Ok(())
}

/// `crumb stats --site S [--from --to] [--json]`: the site's decisions
/// per day, as a table or as the owner API's JSON.
pub fn stats(
    settings: &Settings,
    site: &str,
    from: Option<&str>,
    to: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let range = crate::export::parse_range(from, to).map_err(anyhow::Error::msg)?;
    let store = settings.database.open_existing()?;
    let site = logged_site(store.as_ref(), site)?;
    let days = store.stats(&site, &range)?;
    if json {
        let answer = crate::stats::answer(&site, &days);
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    if days.is_empty() {
        println!("site {site}: no decisions in this range");
        return Ok(());
    }
    let mut total = DayStats {
        day: "total".into(),
        ..DayStats::default()
    };
    for d in &days {
        total.decisions += d.decisions;
        for (t, n) in total.allowed.iter_mut().zip(d.allowed) {
            *t += n;
        }
        for (t, n) in total.methods.iter_mut().zip(d.methods) {
            *t += n;
        }
    }
    let heads = crate::stats::ALLOWED.iter().chain(&crate::stats::METHODS);
    print!("{:<10} {:>9}", "day", "decisions");
    for h in heads {
        print!(" {h:>10}");
    }
    println!();
    for d in days.iter().chain([&total]) {
        print!("{:<10} {:>9}", d.day, d.decisions);
        // The categories as the share of the day's decisions that allowed
        // them, the methods as counts.
        for n in d.allowed {
            let percent = 100.0 * n as f64 / d.decisions.max(1) as f64;
            print!(" {:>9.1}%", percent);
        }
        for n in d.methods {
            print!(" {n:>10}");
        }
        println!();
    }
    Ok(())
}

/// `crumb purge --site S --before DATE`.
/// What `crumb purge` deletes: records before a date, or all but the
/// last days.
pub enum PurgeBefore {
    Date(String),
    KeepDays(u32),
}

/// `crumb purge (--site S | --all-sites) (--before DATE | --keep-days N)`.
pub fn purge(settings: &Settings, site: Option<&str>, before: &PurgeBefore) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let sites = match site {
        Some(site) => vec![logged_site(store.as_ref(), site)?],
        None => store.logged_sites()?,
    };
    let now = SystemClock.now();
    // A record younger than two years may be the proof of a consent that
    // still counts: deleting it would leave the visitor's standing choice
    // unprovable, and the server would call it unknown.
    let cutoff = crumb_schema::rules::purge_cutoff(now);
    let before_at = match before {
        PurgeBefore::Date(date) => {
            let at = parse_range(Some(date), None)
                .map_err(anyhow::Error::msg)?
                .from
                .context("--before takes a date or an RFC 3339 time")?;
            if at.get() > cutoff {
                bail!(
                    "--before {date} is too recent: records from the last two years may prove \
                     consents that still count; purge before {} at the latest",
                    Timestamp::at(cutoff)
                );
            }
            at
        }
        PurgeBefore::KeepDays(days) => {
            let at = now
                .checked_sub(time::Duration::days(i64::from(*days)))
                .with_context(|| format!("--keep-days {days} reaches back before any date"))?;
            if at > cutoff {
                bail!(
                    "--keep-days {days} keeps less than two years: records from the last two \
                     years may prove consents that still count; keep at least {} days",
                    (now - cutoff).whole_days() + 1
                );
            }
            Timestamp::at(at)
        }
    };
    if sites.is_empty() {
        println!("no site has a log yet: nothing to purge");
        return Ok(());
    }
    let key = signing::log_key(store.as_ref(), &settings.signing_key_path())?;
    for site in &sites {
        match store.purge(site, before_at, &key, now)? {
            None => println!("nothing in site {site} is older than {before_at}"),
            Some((cp, n)) => println!(
                "purged {n} records of site {site}; signed checkpoint at seq {} (hash {})",
                cp.seq, cp.hash
            ),
        }
    }
    Ok(())
}

/// `crumb site create FILE`.
pub fn site_create(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let store = settings.database.open()?;
    let site = read_config(file)?;
    let newest = store.newest_site_record(&site.id)?;
    crate::sites::check_create(&site, newest.map(|r| r.body.policy_revision))?;
    if !store.insert_site(&site, SystemClock.now())? {
        bail!("site {} already exists; use `crumb site update`", site.id);
    }
    println!("site {} created at revision {}", site.id, site.revision);
    Ok(())
}

/// `crumb site update FILE`: the same rule as the admin API's update.
pub fn site_update(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let site = read_config(file)?;
    let id = find_site(store.as_ref(), site.id.as_str())?.id;
    let updated = stored_change(store.as_ref(), &id, |stored| {
        crate::sites::check_update(stored, &site)?;
        Ok(site.clone())
    })
    .with_context(|| format!("{} cannot replace site {id}", file.display()))?;
    println!("site {} updated", updated.id);
    Ok(())
}

/// Runs a rule of `crate::sites` on the site's config as stored, inside
/// the write (`Store::update_site`), as the admin API does.
fn stored_change(
    store: &dyn Store,
    id: &SiteId,
    mut change: impl FnMut(&SiteConfig) -> Result<SiteConfig, crate::sites::UpdateRefused>,
) -> anyhow::Result<SiteConfig> {
    match store.update_site(id, SystemClock.now(), &mut change)? {
        crate::storage::SiteUpdate::Updated(site) => Ok(*site),
        crate::storage::SiteUpdate::Refused(refused) => Err(refused.into()),
        crate::storage::SiteUpdate::NoSite => bail!("no site {:?} in the database", id.as_str()),
    }
}

/// `crumb site delete SITE`: the config goes, the records stay.
pub fn site_delete(settings: &Settings, site: &str) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let site = find_site(store.as_ref(), site)?;
    store.delete_site(&site.id)?;
    println!("site {} deleted (its consent records are kept)", site.id);
    Ok(())
}

/// `crumb site list`: one line per site, by id.
pub fn site_list(settings: &Settings) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let rows = store.site_rows()?;
    // Logs whose site config was deleted stay exportable, signable and
    // purgeable; this is where an operator finds their names.
    let configured: std::collections::HashSet<&SiteId> =
        rows.iter().map(|r| &r.config.id).collect();
    let orphans: Vec<SiteId> = store
        .logged_sites()?
        .into_iter()
        .filter(|id| !configured.contains(id))
        .collect();
    if rows.is_empty() && orphans.is_empty() {
        eprintln!("no sites yet: `crumb site create FILE` makes one");
    }
    for r in &rows {
        let c = &r.config;
        let languages: Vec<&str> = c.languages.iter().map(|l| l.as_str()).collect();
        let origins = if c.allowed_origins.is_empty() {
            "crumb's own origin only".to_owned()
        } else {
            c.allowed_origins.join(" ")
        };
        println!(
            "{}  revision {}  {}  updated {}  {origins}",
            c.id,
            c.revision.get(),
            languages.join(","),
            r.updated_at
        );
    }
    for id in &orphans {
        println!("{id}  config deleted; its log stays (crumb export --site {id})");
    }
    Ok(())
}

/// `crumb site show SITE`.
pub fn site_show(settings: &Settings, site: &str) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let site = find_site(store.as_ref(), site)?;
    println!("{}", serde_json::to_string_pretty(&site)?);
    Ok(())
}

/// `crumb site bump-revision SITE`: every visitor is asked again.
pub fn site_bump_revision(settings: &Settings, site: &str) -> anyhow::Result<()> {
    let store = settings.database.open_existing()?;
    let id = find_site(store.as_ref(), site)?.id;
    let site = stored_change(store.as_ref(), &id, |stored| Ok(crate::sites::bump(stored)))?;
    println!("site {} is now at revision {}", site.id, site.revision);
    Ok(())
}

/// Reads a small text file whole: at most `limit` bytes, as `what` may
/// be. A wrong path (`/dev/zero`, a log file) must not be read until
/// memory runs out.
fn read_small(file: &Path, limit: usize, what: &str) -> anyhow::Result<String> {
    let bytes = read_small_bytes(file, limit, what)?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", file.display()))
}

/// [`read_small`]'s bytes, whatever their encoding.
fn read_small_bytes(file: &Path, limit: usize, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", file.display()))?;
    if bytes.len() > limit {
        bail!(
            "{} is larger than {what} may be ({limit} bytes)",
            file.display()
        );
    }
    Ok(bytes)
}

/// Reads a config file and runs the compliance check on it.
fn read_config(file: &Path) -> anyhow::Result<SiteConfig> {
    // As large as the admin API takes, and no larger.
    let text = read_small(file, crate::routes::admin::MAX_CONFIG, "a site config")?;
    crate::lint::lint_json(&text).map_err(|problems| config_problems(file, &problems))
}

/// The error a config with problems is: each on its own line.
fn config_problems(file: &Path, problems: &[crate::lint::Problem]) -> anyhow::Error {
    let list: Vec<String> = problems
        .iter()
        .map(|p| format!("  - [{}] {}", p.rule, p.message))
        .collect();
    anyhow::anyhow!(
        "{} has {} problem(s):\n{}",
        file.display(),
        problems.len(),
        list.join("\n")
    )
}

/// `crumb backup --to FILE`: a snapshot of the SQLite log taken while the
/// server writes, then verified as `verify --db` would (with the signing
/// key for purged chains).
pub fn backup(
    settings: &Settings,
    to: &Path,
    public_keys: &[signing::PublicKey],
) -> anyhow::Result<()> {
    let file = match &settings.database {
        Database::Sqlite(file) => file,
        // One SQLite file that `crumb verify --db` checks: `crumb copy`'s.
        Database::Postgres(url) => {
            let Some(to) = to.to_str() else {
                bail!("--to: {} is not UTF-8", to.display());
            };
            return copy_to_sqlite(settings, url, to, public_keys);
        }
    };
    if !file.is_file() {
        bail!("no SQLite database at {}", file.display());
    }
    let source = SqliteStore::open(file)?;
    source
        .backup_to(to)
        .with_context(|| format!("no backup of {} written", file.display()))?;
    let key_path = settings.signing_key_path();
    let trusted = trusted_keys(settings, public_keys)?;
    let copy = SqliteStore::open(to)?;
    let summary = crate::verify::verify_store(&copy, &trusted).map_err(|e| {
        unverified(e, &key_path).context(format!(
            "the backup {} does not verify; it is kept for inspection",
            to.display()
        ))
    })?;
    println!(
        "backed up {} records of {} site chain(s) from {} to {}; the copy verifies",
        summary.records,
        summary.sites.len(),
        file.display(),
        to.display()
    );
    if key_path.is_file() {
        println!(
            "the signing key ({}) is not in the backup: keep a copy of it apart",
            key_path.display()
        );
    }
    Ok(())
}

/// A SQLite file `crumb copy` writes beside another (`crumb.db.copying`,
/// `out.db.partial`), with its `-wal` and `-shm`: removed when dropped,
/// and when made, as one left by a copy that was interrupted is only ever
/// ours.
struct Scratch(PathBuf);

/// What `crumb copy`'s snapshot of a SQLite log adds to the log's name.
const SNAPSHOT_SUFFIX: &str = ".copying";

impl Scratch {
    fn path_beside(file: &Path, suffix: &str) -> PathBuf {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        PathBuf::from(path)
    }

    fn beside(file: &Path, suffix: &str) -> Scratch {
        let scratch = Scratch(Scratch::path_beside(file, suffix));
        scratch.remove();
        scratch
    }

    /// A consistent copy of a SQLite log, taken beside it (the server may
    /// go on writing to the log meanwhile).
    fn snapshot(file: &Path) -> anyhow::Result<Scratch> {
        let snapshot = Scratch::beside(file, SNAPSHOT_SUFFIX);
        SqliteStore::open(file)?
            .backup_to(&snapshot.0)
            .with_context(|| format!("no snapshot of {} taken; nothing copied", file.display()))?;
        Ok(snapshot)
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(Scratch::path_beside(&self.0, suffix));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `crumb copy --from crumb.db --to postgres://...`: the whole log, in one
/// transaction, from one snapshot of it, then both verified with the
/// source's signing key (its purge checkpoints are signed with it; give the
/// PostgreSQL nodes that key). Run again on the same target, it brings the
/// copy up to date, so the SQLite server need only be stopped for the
/// second run.
pub fn copy(settings: &Settings, from: &str, to: &str) -> anyhow::Result<()> {
    let file = match Database::parse(from) {
        Ok(Database::Sqlite(file)) => file,
        Ok(Database::Postgres(url)) => return copy_to_sqlite(settings, &url, to, &[]),
        Err(why) => bail!("--from: {why}"),
    };
    if !file.is_file() {
        bail!("no SQLite database at {}", file.display());
    }
    let target = match Database::parse(to) {
        Ok(Database::Postgres(url)) => url,
        Ok(Database::Sqlite(_)) => bail!("--to takes a postgres:// URL"),
        Err(why) => bail!("--to: {why}"),
    };
    let snapshot = Scratch::snapshot(&file)?;
    let source = SqliteStore::open(&snapshot.0)?;
    let key_path = settings.signing_key_path_for(&Database::Sqlite(file.clone()));
    // The SQLite server's key; the PostgreSQL nodes must sign with it
    // from now on.
    let (key_file, log_key) = copy_keys(&key_path, &source)?;
    let trusted: Vec<_> = key_file.into_iter().collect();
    let before = crate::verify::verify_store(&source, &trusted).map_err(|e| match e {
        e @ VerifyError::KeyNeeded { .. } => {
            unverified(e, &key_path).context(format!("nothing copied from {}", file.display()))
        }
        e => anyhow::Error::new(e).context(format!(
            "{} does not verify; nothing copied",
            file.display()
        )),
    })?;
    let target_store = PostgresStore::open(&target)?;
    let bar = indicatif::ProgressBar::new(before.records);
    let copied = target_store.copy_from(&source, log_key.as_ref(), SystemClock.now(), &|n| {
        bar.set_position(n)
    })?;
    bar.finish_and_clear();
    let after = crate::verify::verify_store(&target_store, &trusted)
        .with_context(|| format!("the copy in {target} does not verify"))?;
    if after != before {
        bail!(
            "the copy in {target} differs from {}: {after:?} against {before:?}",
            file.display()
        );
    }
    if copied.earlier_copy {
        println!(
            "brought the copy in {target} up to date with {}: {} new records; both verify:",
            file.display(),
            copied.records
        );
    } else {
        println!(
            "copied {} records of {} site chain(s) from {} to {target}; both verify:",
            copied.records,
            after.sites.len(),
            file.display()
        );
    }
    for (site, s) in &after.sites {
        println!(
            "  {site}: seq {}..{}, head {}",
            s.first_seq, s.last_seq, s.head_hash
        );
    }
    for (what, ids) in [("site", &copied.kept_sites), ("token", &copied.kept_tokens)] {
        if !ids.is_empty() {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            println!(
                "kept the copy's {what}(s) {}, which {} does not have (made on the copy, or \
                 deleted from the SQLite log since the first copy)",
                ids.join(", "),
                file.display()
            );
        }
    }
    if !trusted.is_empty() {
        println!(
            "give the PostgreSQL nodes the signing key {} (CRUMB_SIGNING_KEY)",
            key_path.display()
        );
    } else if let Some(recorded) = &log_key {
        println!(
            "no signing key at {}: give the PostgreSQL nodes the key the SQLite server \
             signed with (CRUMB_SIGNING_KEY), public key {recorded}",
            key_path.display()
        );
    } else {
        println!(
            "no signing key at {}: give the PostgreSQL nodes the key the SQLite server \
             signed with (CRUMB_SIGNING_KEY), or one new key file shared by every node",
            key_path.display()
        );
    }
    // A server still running on the SQLite log went on writing after the
    // snapshot: say what the copy lacks, and how to bring it over.
    drop(source);
    let live = SqliteStore::open(&file)?;
    let mut sites: BTreeSet<SiteId> = before.sites.keys().cloned().collect();
    sites.extend(live.site_rows()?.into_iter().map(|r| r.config.id.clone()));
    let mut since = 0;
    for site in &sites {
        let copied = before.sites.get(site).map_or(0, |s| s.last_seq);
        since += live
            .head(site)?
            .map_or(0, |(seq, _)| seq.saturating_sub(copied));
    }
    if since > 0 {
        println!(
            "{} took {since} records more while this ran (a server still writes to it): stop \
             that server, then run this command again to bring them over",
            file.display()
        );
    }
    Ok(())
}

/// The keys of a `crumb copy`: the public key of the file at `key_path`,
/// if there is one, which checks the source's purge checkpoints (only the
/// file can: a key read from the log would vouch for itself); and the key
/// the copy records as its log's (that file's, else the one the source
/// records), which a server on the copy must sign with. A file whose key
/// is not the one the log records is refused: nothing is copied.
fn copy_keys(
    key_path: &Path,
    source: &dyn Store,
) -> anyhow::Result<(Option<signing::PublicKey>, Option<signing::PublicKey>)> {
    let key_file = signing::Key::read(key_path)?.map(|k| k.public());
    let log_key = match (key_file.clone(), source.log_key()?) {
        (Some(ours), Some(recorded)) if ours != recorded => {
            return Err(signing::LogKeyError::Foreign {
                path: key_path.display().to_string(),
                ours,
                recorded,
            })
            .context("nothing copied");
        }
        (Some(ours), _) => Some(ours),
        (None, recorded) => recorded,
    };
    Ok((key_file, log_key))
}

/// `crumb copy --from postgres://... --to FILE.db`: the whole log into a
/// new SQLite file, from one snapshot of it (the nodes may go on writing),
/// then both verified with the key the log is signed with. For leaving
/// PostgreSQL (stop the nodes first, so the copy has every record), or for
/// a log an auditor checks as one file (`crumb verify --db`).
///
/// `public_keys`: the keys a replaced signing key signed checkpoints with
/// (`crumb backup --public-key`), trusted besides the key file's.
fn copy_to_sqlite(
    settings: &Settings,
    from: &crate::storage::PgUrl,
    to: &str,
    public_keys: &[signing::PublicKey],
) -> anyhow::Result<()> {
    let file = match Database::parse(to) {
        Ok(Database::Sqlite(file)) => file,
        Ok(Database::Postgres(_)) => {
            bail!("--to takes a SQLite file when --from is a postgres:// URL")
        }
        Err(why) => bail!("--to: {why}"),
    };
    if file.exists() {
        bail!(
            "{} exists already: crumb copy and crumb backup write a new SQLite file, never \
             over one",
            file.display()
        );
    }
    let source = PostgresStore::open_existing(from)?;
    // The nodes' key; a server on the SQLite file signs with it from then
    // on.
    let key_path = settings.signing_key_path_for(&Database::Postgres(from.clone()));
    let (key_file, log_key) = copy_keys(&key_path, &source)?;
    let trusted: Vec<_> = key_file.into_iter().chain(public_keys.to_vec()).collect();
    // Written under a name of its own and renamed when complete, so the
    // file named is never a partial log.
    let partial = Scratch::beside(&file, ".partial");
    let target = SqliteStore::open(&partial.0)?;
    let bar = indicatif::ProgressBar::new_spinner();
    let copied = target.copy_from(&source, log_key.as_ref(), SystemClock.now(), &|n| {
        bar.set_message(format!("{n} records"))
    })?;
    bar.finish_and_clear();
    let after = crate::verify::verify_store(&target, &trusted).map_err(|e| {
        unverified(e, &key_path).context(format!("the copy of {from} does not verify; not kept"))
    })?;
    // The source as it is now: each of its chains reaches at least as
    // far as the copy's (the nodes may have written more since).
    let source_now = crate::verify::verify_store(&source, &trusted)
        .map_err(|e| unverified(e, &key_path).context(format!("{from} does not verify")))?;
    for (site, s) in &after.sites {
        if source_now
            .sites
            .get(site)
            .is_none_or(|b| b.last_seq < s.last_seq)
        {
            bail!("the copy's chain of site {site} goes further than {from}'s; not kept");
        }
    }
    drop(target);
    std::fs::rename(&partial.0, &file)
        .with_context(|| format!("the copy could not be named {}", file.display()))?;
    println!(
        "copied {copied} records of {} site chain(s) from {from} to {}; both verify:",
        after.sites.len(),
        file.display()
    );
    let mut since = 0;
    for (site, s) in &after.sites {
        println!(
            "  {site}: seq {}..{}, head {}",
            s.first_seq, s.last_seq, s.head_hash
        );
        since += source_now.sites[site].last_seq - s.last_seq;
    }
    since += source_now
        .sites
        .iter()
        .filter(|(site, _)| !after.sites.contains_key(*site))
        .map(|(_, b)| (b.last_seq + 1).saturating_sub(b.first_seq))
        .sum::<u64>();
    if since > 0 {
        println!(
            "{from} took {since} records more while this ran (nodes still write to it): for a \
             move, stop them and copy again to a new file"
        );
    }
    match &log_key {
        Some(k) if !trusted.is_empty() => println!(
            "a server on {} signs with the key {} (public key {k}): give it that file \
             (CRUMB_SIGNING_KEY)",
            file.display(),
            key_path.display()
        ),
        Some(k) => println!(
            "no signing key at {}: give a server on {} the key the nodes sign with \
             (CRUMB_SIGNING_KEY), public key {k}",
            key_path.display(),
            file.display()
        ),
        None => {}
    }
    Ok(())
}

/// A site with a config, or one whose config was deleted while its log
/// stays: its log is still exported, signed and purged.
fn logged_site(store: &dyn Store, raw: &str) -> anyhow::Result<SiteId> {
    let id = SiteId::parse(raw)?;
    if store.site(&id)?.is_some() || store.head(&id)?.is_some() {
        return Ok(id);
    }
    bail!("no site {raw:?} in the database, and no log of one")
}

fn find_site(store: &dyn Store, raw: &str) -> anyhow::Result<SiteConfig> {
    let id = SiteId::parse(raw)?;
    store
        .site(&id)?
        .map(Arc::unwrap_or_clone)
        .with_context(|| format!("no site {raw:?} in the database"))
}
