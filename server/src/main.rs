//! The `crumb` command: serve the API, run the demo, migrate the database,
//! and manage sites from the shell.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use crumb_schema::{SiteConfig, SiteId};
use crumb_server::clock::{Clock, SystemClock};
use crumb_server::settings::Settings;
use crumb_server::startup::Application;
use crumb_server::storage::{SqliteStore, Store};
use crumb_server::{demo, telemetry};

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
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Create a site, or replace its config, from a JSON file.
    Put { file: PathBuf },
    /// Print a site's config as JSON.
    Show { site: String },
    /// Raise a site's policy revision: every visitor is asked again.
    BumpRevision { site: String },
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init("info");
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(settings, false),
        Command::Demo => serve(settings, true),
        Command::Migrate => {
            SqliteStore::open(&settings.database)?;
            println!("database {} is up to date", settings.database.display());
            Ok(())
        }
        Command::Site(cmd) => site_command(&settings, cmd),
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
        SiteCommand::Put { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let site: SiteConfig = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid site config", file.display()))?;
            let problems = site.problems();
            if !problems.is_empty() {
                bail!(
                    "{} has problems:\n  - {}",
                    file.display(),
                    problems.join("\n  - ")
                );
            }
            store.put_site(&site, now)?;
            println!("site {} saved at revision {}", site.id, site.revision);
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

fn find_site(store: &SqliteStore, raw: &str) -> anyhow::Result<SiteConfig> {
    let id = SiteId::parse(raw)?;
    store
        .site(&id)?
        .with_context(|| format!("no site {raw:?} in {}", store.path().display()))
}
