//! `cargo xtask bench <server|export|widget> [--smoke]`: the benchmarks
//! with budgets. Each writes its figures as JSON to `bench/results/` and
//! prints a table. `--smoke` runs a seconds-long version (CI runs those so
//! the benches keep working; its figures mean nothing and go to
//! `*-smoke.json`, which git ignores). `bench server --db postgres` runs
//! the server bench on a throwaway PostgreSQL cluster, with one node and
//! with two.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};

mod crash;
mod export;
mod open_loop;
mod profile;
mod server;

pub use server::consent_bodies;

pub use crash::postgres_crash_check;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let postgres = args
        .windows(2)
        .any(|w| w[0] == "--db" && w[1] == "postgres");
    if let Some(w) = args.windows(2).find(|w| w[0] == "--db")
        && w[1] != "postgres"
        && w[1] != "sqlite"
    {
        bail!("--db takes sqlite or postgres, not {:?}", w[1]);
    }
    match args.first().map(String::as_str) {
        Some("server") => server::run(smoke, postgres),
        Some("export") => export::run(smoke),
        Some("widget") => widget(smoke),
        _ => bail!(
            "usage: cargo xtask bench <server [--db sqlite|postgres]|export|widget> [--smoke]"
        ),
    }
}

/// The widget bench drives Chromium, so it lives beside the end-to-end
/// tests and reuses their WebDriver client and test server.
fn widget(smoke: bool) -> anyhow::Result<()> {
    crate::widget::build()?;
    let mut args = vec!["run", "--quiet", "-p", "crumb-e2e", "--bin", "widget-bench"];
    if smoke {
        args.extend(["--", "--smoke"]);
    } else {
        args.extend(["--release", "--"]);
    }
    crate::cmd("cargo", &args)
}

/// Installs a Debian package when its command is missing (CI runs as root
/// on a fresh machine).
pub fn ensure_apt(command: &str, package: &str) -> anyhow::Result<()> {
    if Path::new("/usr/bin").join(command).exists() {
        return Ok(());
    }
    crate::cmd("apt-get", &["install", "-y", "-q", package])
        .or_else(|_| {
            crate::cmd("apt-get", &["update", "-q"])?;
            crate::cmd("apt-get", &["install", "-y", "-q", package])
        })
        .with_context(|| format!("installing {package} (needed for `{command}`)"))
}

/// Builds the `crumb` binary and returns its path: the release build for
/// real runs; for smoke runs the debug one `cargo test` already built
/// (smoke figures mean nothing, and CI saves a release build).
pub fn crumb_binary(smoke: bool) -> anyhow::Result<PathBuf> {
    let mut args = vec!["build", "--quiet", "-p", "crumb-server", "--bin", "crumb"];
    if !smoke {
        args.push("--release");
    }
    crate::cmd("cargo", &args)?;
    Ok(PathBuf::from(if smoke {
        "target/debug/crumb"
    } else {
        "target/release/crumb"
    }))
}

/// A fresh scratch folder under `target/bench/`.
pub fn scratch(name: &str) -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from("target/bench").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A bench server's database: the `CRUMB_DATABASE` value (a SQLite file in
/// the scratch folder, or a PostgreSQL URL) and its signing key's file.
pub struct Db {
    pub setting: std::ffi::OsString,
    pub key: PathBuf,
}

impl Db {
    pub fn sqlite(file: PathBuf) -> Db {
        let mut key = file.clone().into_os_string();
        key.push(".key");
        Db {
            setting: file.into_os_string(),
            key: key.into(),
        }
    }

    pub fn postgres(url: &str, dir: &Path) -> Db {
        Db {
            setting: url.into(),
            key: dir.join("bench.key"),
        }
    }
}

/// `crumb` with the database (and its key) in `db`.
pub fn crumb(bin: &Path, db: &Db) -> Command {
    let mut c = Command::new(bin);
    with_db(&mut c, db);
    c
}

/// The environment that points `crumb` at `db` and nothing else. Write
/// quotas are off: every benchmark client writes from 127.0.0.1.
pub fn with_db<'a>(c: &'a mut Command, db: &Db) -> &'a mut Command {
    c.env("CRUMB_DATABASE", &db.setting)
        .env("CRUMB_SIGNING_KEY", &db.key)
        .env("CRUMB_LOG", "warn")
        .env("CRUMB_WRITE_BURST", "0")
        .env_remove("CRUMB_CONFIG")
}

/// Runs `crumb`, failing with its stderr when it fails; returns stdout.
pub fn crumb_ok(bin: &Path, db: &Db, args: &[&str]) -> anyhow::Result<String> {
    let out = crumb(bin, db).args(args).output()?;
    if !out.status.success() {
        bail!(
            "crumb {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A `crumb serve` child on a free port; stopped with SIGTERM (a graceful
/// shutdown) when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(bin: &Path, db: &Db, workers: Option<usize>) -> anyhow::Result<Server> {
        Server::start_logging(bin, db, workers, "warn")
    }

    /// `start` with the server's log filter (`CRUMB_LOG`) set to `log`.
    pub fn start_logging(
        bin: &Path,
        db: &Db,
        workers: Option<usize>,
        log: &str,
    ) -> anyhow::Result<Server> {
        let mut c = crumb(bin, db);
        c.arg("serve")
            .env("CRUMB_LOG", log)
            .env("CRUMB_PORT", "0")
            .stderr(Stdio::inherit());
        if let Some(w) = workers {
            c.env("CRUMB_WORKERS", w.to_string());
        }
        Server::spawn(c)
    }

    /// Starts `command`, a server whose first line on stdout ends with
    /// the address it listens on ("Crumb listening on http://ADDR/").
    pub fn spawn(mut command: Command) -> anyhow::Result<Server> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("no stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .map(|s| s.trim_end_matches('/').to_owned())
            .filter(|s| s.contains(':'))
            .with_context(|| format!("unexpected first line from the server: {line:?}"))?;
        Ok(Server { child, addr })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server gracefully and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_none() {
            Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status()?;
            self.child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

/// A plain HTTP/1.1 GET (the benches need a few requests; not worth a
/// client crate in xtask). Returns the body of a 200 answer.
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    http_get_as(addr, path, None)
}

/// `http_get` with `Authorization: Bearer <token>` when a token is given.
pub fn http_get_as(addr: &str, path: &str, token: Option<&str>) -> anyhow::Result<String> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let (status, body) = http(addr, &format!("GET {path}"), &auth, "")?;
    if status != 200 {
        bail!("GET {path}: {status}");
    }
    Ok(body)
}

/// One request on its own connection: `request` is the method and path,
/// `headers` whole header lines; returns the status and the body.
pub fn http(addr: &str, request: &str, headers: &str, body: &str) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        s,
        "{request} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").context("no HTTP header end")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    Ok((status, body.to_owned()))
}

/// Writes a bench's figures to `bench/results/<name>.json` (or
/// `<name>-smoke.json`).
pub fn save(name: &str, smoke: bool, value: &serde_json::Value) -> anyhow::Result<PathBuf> {
    let dir = Path::new("bench/results");
    std::fs::create_dir_all(dir)?;
    let file = dir.join(if smoke {
        format!("{name}-smoke.json")
    } else {
        format!("{name}.json")
    });
    std::fs::write(&file, serde_json::to_string_pretty(value)? + "\n")?;
    println!("wrote {}", file.display());
    Ok(file)
}

/// A short description of the machine, stored with every result.
pub fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    serde_json::json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "date": date(),
    })
}

fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
