//! The `crumb` command: serve the API, run the demo, migrate the database,
//! and manage sites from the shell. This file only parses the arguments;
//! each command is one function of `crumb_server::cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use crumb_server::settings::Settings;
use crumb_server::signing::PublicKey;
use crumb_server::{cli, telemetry};

// A consent write allocates and frees many small buffers on the HTTP
// workers and the writer thread at once; glibc's allocator spent about
// 15% of the server's CPU on them under load (`_int_malloc`,
// `malloc_consolidate`). With mimalloc a write costs about 15% less CPU
// (docs/performance.md, "Server").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Check what `serve` would run with: the settings, the database, the
    /// signing key, the sites' configs under this version's rules, the
    /// widget's files. Exits 1 when something would stop or break it.
    Doctor,
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
    /// With --page, also check the site's pages (HTML files) for elements
    /// that would track before any choice or never run; exits 1 when a page
    /// has a problem.
    Lint {
        file: PathBuf,
        /// An HTML page of the site, or a folder of them (a static
        /// site's build: every .html file under it), or `-` for one on
        /// standard input (`curl -s URL | crumb lint site.json --page -`);
        /// repeat for several.
        #[arg(long = "page", value_name = "HTML")]
        pages: Vec<PathBuf>,
        /// Print what is found as one JSON document (for a build's own
        /// tooling); the exit status is the same.
        #[arg(long)]
        json: bool,
    },
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Export a site's consent log (all fields, hashes included).
    Export {
        #[command(flatten)]
        log: SiteRange,
        #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
        format: String,
        /// Export every kept version of the site's texts instead (NDJSON),
        /// to go with an export: `crumb verify FILE --texts TEXTS`.
        #[arg(long, conflicts_with_all = ["from", "to", "format"])]
        texts: bool,
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a consent log: every hash, the chain, the order. Exits 1 at the
    /// first broken record.
    Verify {
        /// An NDJSON export (`-`: read it from standard input).
        #[arg(required_unless_present = "db", conflicts_with = "db")]
        file: Option<PathBuf>,
        /// Check a live database instead (purge checkpoints included): the
        /// configured one, or the SQLite file or postgres:// URL given
        /// (`--db crumb.db`), such as a copy handed to an auditor.
        #[arg(long, value_name = "DATABASE", num_args = 0..=1)]
        db: Option<Option<String>>,
        /// A signed head (`crumb head` or GET .../head) the export must end
        /// with: proves nothing was cut off the end.
        #[arg(long, value_name = "HEAD.json", conflicts_with = "db")]
        head: Option<PathBuf>,
        /// The site's texts (GET .../texts) kept with the export: every
        /// record's `text_hash` must name texts there that hash to it.
        #[arg(long, value_name = "TEXTS.ndjson", conflicts_with = "db")]
        texts: Option<PathBuf>,
        /// A published public key the head (and, with --db, purge
        /// checkpoints) may be signed with; repeat it for keys the log was
        /// signed with before `crumb key --replace`.
        #[arg(long, value_name = "HEX", value_parser = PublicKey::parse)]
        public_key: Vec<PublicKey>,
    },
    /// Write a consistent, verified copy of the log to a new SQLite file,
    /// while the server runs (on PostgreSQL too: the nodes keep running).
    Backup {
        /// The new file (never overwritten).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// A public key purge checkpoints may be signed with besides the
        /// key file's (the log's before `crumb key --replace`).
        #[arg(long, value_name = "HEX", value_parser = PublicKey::parse)]
        public_key: Vec<PublicKey>,
    },
    /// Copy a SQLite log into an empty PostgreSQL database (run again: bring
    /// that copy up to date), or a PostgreSQL log into a new SQLite file,
    /// every stored byte and hash as it is, then verify both.
    Copy {
        /// The SQLite file, or postgres://user@host/db.
        #[arg(long, value_name = "FILE|URL")]
        from: String,
        /// postgres://user@host/db, or a new SQLite file.
        #[arg(long, value_name = "URL|FILE")]
        to: String,
    },
    /// Print the server's public signing key (publish it for auditors).
    Key {
        /// Make the key file (created if missing) the key this log is
        /// signed with from now on, in place of the one it records (lost
        /// or leaked).
        #[arg(long)]
        replace: bool,
    },
    /// Print a site's consent decisions per day: how many, the share that
    /// allowed each category, and by which method (the owner page's figures)
    Stats {
        #[command(flatten)]
        log: SiteRange,
        /// Print the owner API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a site's chain head, signed with the server's key.
    Head {
        #[arg(long)]
        site: String,
    },
    /// Delete a site's records older than a date, leaving a signed
    /// checkpoint so the rest of the chain still verifies.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["site", "all_sites"])))]
    #[command(group(clap::ArgGroup::new("when").required(true).args(["before", "keep_days"])))]
    Purge {
        #[arg(long)]
        site: Option<String>,
        /// Every site with a log, deleted sites' included (for a cron job).
        #[arg(long)]
        all_sites: bool,
        /// Records before this date (or RFC 3339 time) are deleted.
        #[arg(long)]
        before: Option<String>,
        /// Records older than this many days are deleted (at least two
        /// years' worth).
        #[arg(long, value_name = "DAYS")]
        keep_days: Option<u32>,
    },
}

/// A site and a time range of its log.
#[derive(clap::Args)]
struct SiteRange {
    #[arg(long)]
    site: String,
    /// Start of the range (inclusive): 2026-01-31 or an RFC 3339 time.
    #[arg(long)]
    from: Option<String>,
    /// End of the range (exclusive).
    #[arg(long)]
    to: Option<String>,
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
    /// List the tokens: id, role, site, when created and revoked, label
    /// (never a secret: only hashes are stored).
    List,
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Create a site from a JSON config file (checked like `crumb lint`).
    Create { file: PathBuf },
    /// Replace an existing site's config (same id and revision).
    Update { file: PathBuf },
    /// Delete a site's config; its consent records stay.
    Delete { site: String },
    /// List the sites: id, revision, languages, allowed origins, last change.
    List,
    /// Print a site's config as JSON.
    Show { site: String },
    /// Raise a site's policy revision: every visitor is asked again.
    BumpRevision { site: String },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", explain(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each said once: many errors
/// (the database drivers' among them) repeat their cause in their own
/// message, and anyhow's `{:#}` would then print it again and again.
fn explain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if !out.contains(&cause) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&cause);
        }
    }
    out
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    telemetry::init("info");
    let settings = Settings::load(cli.config.as_deref())?;
    let s = &settings;
    match cli.command {
        Command::Serve => cli::serve(settings, false)?,
        Command::Demo => cli::serve(settings, true)?,
        Command::Migrate => cli::migrate(s)?,
        Command::Doctor => return cli::doctor(s),
        Command::Site(SiteCommand::Create { file }) => cli::site_create(s, &file)?,
        Command::Site(SiteCommand::Update { file }) => cli::site_update(s, &file)?,
        Command::Site(SiteCommand::Delete { site }) => cli::site_delete(s, &site)?,
        Command::Site(SiteCommand::List) => cli::site_list(s)?,
        Command::Site(SiteCommand::Show { site }) => cli::site_show(s, &site)?,
        Command::Site(SiteCommand::BumpRevision { site }) => cli::site_bump_revision(s, &site)?,
        Command::Token(TokenCommand::Create { role, site, label }) => {
            cli::token_create(s, &role, site.as_deref(), &label)?;
        }
        Command::Token(TokenCommand::Revoke { id }) => cli::token_revoke(s, &id)?,
        Command::Token(TokenCommand::List) => cli::token_list(s)?,
        Command::Seed { site, count, days } => cli::seed(s, &site, count, days)?,
        Command::Lint { file, pages, json } => return cli::lint(&file, &pages, json),
        Command::Export {
            log,
            texts: true,
            output,
            ..
        } => cli::export_texts(s, &log.site, output.as_deref())?,
        Command::Export {
            log,
            format,
            output,
            texts: false,
        } => cli::export(
            s,
            &log.site,
            log.from.as_deref(),
            log.to.as_deref(),
            &format,
            output.as_deref(),
        )?,
        Command::Verify {
            file,
            db,
            head,
            texts,
            public_key,
        } => {
            let checks = cli::VerifyChecks {
                head: head.as_deref(),
                texts: texts.as_deref(),
                public_keys: &public_key,
            };
            return cli::verify(
                s,
                file.as_deref(),
                db.as_ref().map(Option::as_deref),
                &checks,
            );
        }
        Command::Copy { from, to } => cli::copy(s, &from, &to)?,
        Command::Backup { to, public_key } => cli::backup(s, &to, &public_key)?,
        Command::Key { replace: false } => cli::key(s)?,
        Command::Key { replace: true } => cli::key_replace(s)?,
        Command::Head { site } => cli::head(s, &site)?,
        Command::Stats { log, json } => {
            cli::stats(s, &log.site, log.from.as_deref(), log.to.as_deref(), json)?
        }
        Command::Purge {
            site,
            all_sites: _,
            before,
            keep_days,
        } => {
            let before = match (before, keep_days) {
                (Some(date), _) => cli::PurgeBefore::Date(date),
                (None, Some(days)) => cli::PurgeBefore::KeepDays(days),
                (None, None) => unreachable!("clap requires one of --before and --keep-days"),
            };
            cli::purge(s, site.as_deref(), &before)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
