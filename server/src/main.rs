//! The `crumb` command: serve the API, run the demo, migrate the database,
//! and manage sites from the shell.

use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use crumb_schema::{SiteConfig, SiteId};
use crumb_server::clock::{Clock, SystemClock};
use crumb_server::export::{Exporter, Format, parse_range};
use crumb_server::settings::Settings;
use crumb_server::startup::Application;
use crumb_server::storage::{Role, SqliteStore, Store, TimeRange};
use crumb_server::verify::{Summary, Verifier, VerifyError, verify_ndjson};
use crumb_server::{auth, demo, signing, telemetry};

#[derive(Parser)]
#[command(
    name = "crumb",
    version,
    about = "Self-hosted cookie consent: server and tools"
)]
struct Cli {
    /// Settings file (TOML). Default: $CRUMB_CONFIG, else ./crumb.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the consent server.
    Serve,
    /// Run the server with the demo site (created on first run) and its pages.
    Demo,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Append synthetic consents to a site (for benchmarks).
    #[command(hide = true)]
    Seed {
        #[arg(long)]
        site: String,
        #[arg(long)]
        count: u64,
        /// Spread the records over this many days before now.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Check a site config against the compliance rules; lists every problem.
    Lint { file: PathBuf },
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Export a site's consent log (all fields, hashes included).
    Export {
        #[arg(long)]
        site: String,
        /// Start of the range (inclusive): 2026-01-31 or an RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// End of the range (exclusive).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
        format: String,
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a consent log: every hash, the chain, the order. Exits 1 at the
    /// first broken record.
    Verify {
        /// An NDJSON export.
        #[arg(required_unless_present = "db", conflicts_with = "db")]
        file: Option<PathBuf>,
        /// Check the live database instead (purge checkpoints included).
        #[arg(long)]
        db: bool,
        /// A signed head (`crumb head` or GET .../head) the export must end
        /// with: proves nothing was cut off the end.
        #[arg(long, value_name = "HEAD.json", conflicts_with = "db")]
        head: Option<PathBuf>,
        /// The server's published public key the head must be signed with.
        #[arg(long, value_name = "HEX", requires = "head")]
        public_key: Option<String>,
    },
    /// Print the server's public signing key (publish it for auditors).
    Key,
    /// Print a site's chain head, signed with the server's key.
    Head {
        #[arg(long)]
        site: String,
    },
    /// Delete a site's records older than a date, leaving a signed
    /// checkpoint so the rest of the chain still verifies.
    Purge {
        #[arg(long)]
        site: String,
        /// Records before this date (or RFC 3339 time) are deleted.
        #[arg(long)]
        before: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        #[arg(long, value_parser = ["owner", "auditor"])]
        role: String,
        /// Limit the token to one site (default: every site).
        #[arg(long)]
        site: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke a token by its id (the part after `crumb_`).
    Revoke { id: String },
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Create a site from a JSON config file (checked like `crumb lint`).
    Create { file: PathBuf },
    /// Replace an existing site's config (same id and revision).
    Update { file: PathBuf },
    /// Delete a site's config; its consent records stay.
    Delete { site: String },
    /// Print a site's config as JSON.
    Show { site: String },
    /// Raise a site's policy revision: every visitor is asked again.
    BumpRevision { site: String },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    telemetry::init("info");
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(settings, false)?,
        Command::Demo => serve(settings, true)?,
        Command::Migrate => {
            SqliteStore::open(&settings.database)?;
            println!("database {} is up to date", settings.database.display());
        }
        Command::Site(cmd) => site_command(&settings, cmd)?,
        Command::Token(cmd) => token_command(&settings, cmd)?,
        Command::Seed { site, count, days } => {
            let store = SqliteStore::open(&settings.database)?;
            let site = Arc::new(find_site(&store, &site)?);
            let started = std::time::Instant::now();
            let bar = indicatif::ProgressBar::new(count);
            let n = crumb_server::seed::seed(
                &store,
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
        }
        Command::Lint { file } => {
            let site = read_config(&file)?;
            println!(
                "{}: OK (site {}, revision {})",
                file.display(),
                site.id,
                site.revision
            );
        }
        Command::Export {
            site,
            from,
            to,
            format,
            output,
        } => export(&settings, &site, from, to, &format, output)?,
        Command::Verify {
            file,
            db,
            head,
            public_key,
        } => return verify(&settings, file, db, head, public_key),
        Command::Key => {
            let key = signing::Key::load_or_create(&settings.signing_key_path())?;
            println!("{}", key.public_hex());
        }
        Command::Head { site } => {
            let store = SqliteStore::open(&settings.database)?;
            let site = find_site(&store, &site)?.id;
            let key = signing::Key::load_or_create(&settings.signing_key_path())?;
            let (seq, hash) = store
                .head(&site)?
                .unwrap_or_else(|| (0, crumb_server::record::GENESIS_HASH.to_owned()));
            let now = crumb_server::timefmt::format(SystemClock.now());
            println!(
                "{}",
                serde_json::to_string_pretty(&key.sign(site.as_str(), seq, &hash, &now))?
            );
        }
        Command::Purge { site, before } => {
            let store = SqliteStore::open(&settings.database)?;
            let site = find_site(&store, &site)?.id;
            let range = parse_range(Some(&before), None).map_err(anyhow::Error::msg)?;
            let key = signing::Key::load_or_create(&settings.signing_key_path())?;
            match store.purge(&site, &range.from, &key, SystemClock.now())? {
                None => println!("nothing in site {site} is older than {before}"),
                Some((cp, n)) => println!(
                    "purged {n} records of site {site}; signed checkpoint at seq {} (hash {})",
                    cp.seq, cp.hash
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn token_command(settings: &Settings, cmd: TokenCommand) -> anyhow::Result<()> {
    let store = SqliteStore::open(&settings.database)?;
    match cmd {
        TokenCommand::Create { role, site, label } => {
            let role = Role::parse(&role).context("role is owner or auditor")?;
            let site = site
                .map(|s| find_site(&store, &s).map(|c| c.id))
                .transpose()?;
            let issued = auth::issue(&store, role, site, &label, SystemClock.now())?;
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
        }
        TokenCommand::Revoke { id } => {
            if !store.revoke_token(&id, SystemClock.now())? {
                bail!("no live token with id {id:?}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn export(
    settings: &Settings,
    site: &str,
    from: Option<String>,
    to: Option<String>,
    format: &str,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let store = SqliteStore::open(&settings.database)?;
    let site = find_site(&store, site)?.id;
    let range = parse_range(from.as_deref(), to.as_deref()).map_err(anyhow::Error::msg)?;
    let format = Format::parse(format).context("format is ndjson or csv")?;
    let out: Output = match &output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    // A spinner with a count on a terminal; indicatif draws nothing when
    // stderr is not one.
    let progress = indicatif::ProgressBar::new_spinner().with_message("records exported");
    let n = match format {
        Format::Ndjson => export_ndjson(&store, &site, &range, out, &progress)?,
        Format::Csv => export_csv(&store, &site, &range, out, &progress)?,
    };
    progress.finish_and_clear();
    eprintln!("exported {n} records of site {site}");
    Ok(())
}

type Output = Box<dyn std::io::Write + Send>;

/// NDJSON lines are the stored bytes plus the hash: cheaper to write
/// straight away than to hand to another thread.
fn export_ndjson(
    store: &SqliteStore,
    site: &SiteId,
    range: &TimeRange,
    mut out: Output,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let mut buf = Vec::with_capacity(128 * 1024);
    let mut failed = None;
    let n = store.for_each_record(Some(site), range, &mut |body, hash| {
        crumb_server::export::ndjson_line(body, hash, &mut buf);
        progress.inc(1);
        if buf.len() >= 64 * 1024 {
            if let Err(e) = out.write_all(&buf) {
                failed = Some(e);
                return false;
            }
            buf.clear();
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(anyhow::Error::from(e).context("export failed"));
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(n)
}

/// CSV: two threads. This one reads SQLite, the other parses, formats and
/// writes, in chunks over a short queue (which also bounds the memory).
fn export_csv(
    store: &SqliteStore,
    site: &SiteId,
    range: &TimeRange,
    mut out: Output,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    const CHUNK: usize = 1024;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(String, String)>>(8);
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> anyhow::Result<()> {
            let mut exporter = Exporter::new(Format::Csv)?;
            for chunk in rx {
                for (body, hash) in &chunk {
                    exporter.push(body, hash)?;
                }
                if exporter.buffered() >= 64 * 1024 {
                    out.write_all(&exporter.take())?;
                }
            }
            out.write_all(&exporter.take())?;
            out.flush()?;
            Ok(())
        });
        let mut chunk = Vec::with_capacity(CHUNK);
        let read = store.for_each_record(Some(site), range, &mut |body, hash| {
            chunk.push((body.to_owned(), hash.to_owned()));
            progress.inc(1);
            // A failed send means the writer stopped; its error says why.
            chunk.len() < CHUNK
                || tx
                    .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                    .is_ok()
        });
        let last = tx.send(chunk);
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the export writer panicked")));
        written.context("export failed")?;
        last.map_err(|_| anyhow::anyhow!("the export writer stopped early"))?;
        Ok(read?)
    })
}

fn verify(
    settings: &Settings,
    file: Option<PathBuf>,
    db: bool,
    head: Option<PathBuf>,
    public_key: Option<String>,
) -> anyhow::Result<ExitCode> {
    let result = if db {
        let store = SqliteStore::open(&settings.database)?;
        let mut verifier = Verifier::default();
        let mut broken = None;
        store.for_each_record(
            None,
            &TimeRange::all(),
            &mut |b, h| match verifier.record(b, h) {
                Ok(()) => true,
                Err(e) => {
                    broken = Some(e);
                    false
                }
            },
        )?;
        match broken {
            Some(b) => Err(VerifyError::Broken(b)),
            None => {
                let summary = verifier.finish();
                if let Err(why) = check_checkpoints(&store, settings, &summary) {
                    println!("BROKEN: {why}");
                    return Ok(ExitCode::from(1));
                }
                Ok(summary)
            }
        }
    } else {
        let path = file.expect("clap requires a file without --db");
        let f =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        verify_ndjson(BufReader::new(f))
    };
    match result {
        Ok(summary) => {
            if let Some(path) = head {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let head: signing::SignedHead = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a signed head", path.display()))?;
                if let Err(why) = check_head(&summary, &head, public_key.as_deref()) {
                    println!("BROKEN: {why}");
                    return Ok(ExitCode::from(1));
                }
                println!(
                    "signed head verified: site {} seq {}",
                    head.site_id, head.seq
                );
            }
            print_summary(&summary);
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyError::Broken(b)) => {
            println!("BROKEN: {b}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// An export must end exactly at the signed head of its site.
fn check_head(
    summary: &Summary,
    head: &signing::SignedHead,
    public_key: Option<&str>,
) -> Result<(), String> {
    head.verify(public_key)?;
    let site = crumb_schema::SiteId::parse(&head.site_id).map_err(|e| e.to_string())?;
    let Some(s) = summary.sites.get(&site) else {
        return Err(format!("the export has no records of site {site}"));
    };
    if s.last_seq < head.seq {
        return Err(format!(
            "the export ends at seq {} but the signed head is at seq {}: records are missing at the end",
            s.last_seq, head.seq
        ));
    }
    if s.last_seq != head.seq || s.head_hash != head.hash {
        return Err(format!(
            "the export's last record (seq {}) is not the signed head (seq {})",
            s.last_seq, head.seq
        ));
    }
    Ok(())
}

/// In the live database a chain may start after seq 1 only where a purge
/// left a checkpoint signed with this server's key.
fn check_checkpoints(
    store: &SqliteStore,
    settings: &Settings,
    summary: &Summary,
) -> Result<(), String> {
    let key =
        signing::Key::load_or_create(&settings.signing_key_path()).map_err(|e| e.to_string())?;
    for (site, s) in summary.sites.iter().filter(|(_, s)| !s.from_genesis) {
        let checkpoints = store.checkpoints(site).map_err(|e| e.to_string())?;
        let cp = checkpoints
            .iter()
            .find(|c| c.seq + 1 == s.first_seq && c.hash == s.first_prev_hash)
            .ok_or_else(|| {
                format!(
                    "site {site}: records before seq {} are missing and no purge checkpoint covers them",
                    s.first_seq
                )
            })?;
        cp.verify(Some(&key.public_hex()))
            .map_err(|why| format!("site {site}: checkpoint at seq {}: {why}", cp.seq))?;
    }
    Ok(())
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

/// The demo pages: `examples/site` beside the current directory, or beside
/// the source tree this binary was built from.
fn demo_pages() -> Option<PathBuf> {
    let here = Path::new("examples/site");
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/site");
    [here.to_owned(), built].into_iter().find(|p| p.is_dir())
}

fn serve(mut settings: Settings, demo: bool) -> anyhow::Result<()> {
    if demo {
        let store = SqliteStore::open(&settings.database)?;
        if demo::ensure_demo_site(&store, SystemClock.now())? {
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

fn site_command(settings: &Settings, cmd: SiteCommand) -> anyhow::Result<()> {
    let store = SqliteStore::open(&settings.database)?;
    let now = SystemClock.now();
    match cmd {
        SiteCommand::Create { file } => {
            let site = read_config(&file)?;
            if !store.insert_site(&site, now)? {
                bail!("site {} already exists; use `crumb site update`", site.id);
            }
            println!("site {} created at revision {}", site.id, site.revision);
        }
        SiteCommand::Update { file } => {
            let site = read_config(&file)?;
            let current = find_site(&store, site.id.as_str())?;
            if current.revision != site.revision {
                bail!(
                    "{} says revision {}, the site is at {}; use `crumb site bump-revision`",
                    file.display(),
                    site.revision,
                    current.revision
                );
            }
            store.put_site(&site, now)?;
            println!("site {} updated", site.id);
        }
        SiteCommand::Delete { site } => {
            let site = find_site(&store, &site)?;
            store.delete_site(&site.id)?;
            println!("site {} deleted (its consent records are kept)", site.id);
        }
        SiteCommand::Show { site } => {
            let site = find_site(&store, &site)?;
            println!("{}", serde_json::to_string_pretty(&site)?);
        }
        SiteCommand::BumpRevision { site } => {
            let mut site = find_site(&store, &site)?;
            site.revision = site.revision.next();
            store.put_site(&site, now)?;
            println!("site {} is now at revision {}", site.id, site.revision);
        }
    }
    Ok(())
}

/// Reads a config file and runs the compliance check on it.
fn read_config(file: &Path) -> anyhow::Result<SiteConfig> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    crumb_server::lint::lint_json(&text).map_err(|problems| {
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
    })
}

fn find_site(store: &SqliteStore, raw: &str) -> anyhow::Result<SiteConfig> {
    let id = SiteId::parse(raw)?;
    store
        .site(&id)?
        .map(Arc::unwrap_or_clone)
        .with_context(|| format!("no site {raw:?} in {}", store.path().display()))
}
