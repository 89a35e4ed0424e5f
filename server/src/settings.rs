//! Typed settings. Sources, later ones winning: built-in defaults, a TOML
//! file (`--config FILE`, else `CRUMB_CONFIG`, else `./crumb.toml` when it
//! exists), then `CRUMB_*` environment variables.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::storage::Database;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on. `CRUMB_HOST`.
    pub host: String,
    /// Port to listen on; 0 picks a free one. `CRUMB_PORT`.
    pub port: u16,
    /// Where the log lives: a SQLite file, or a `postgres://user@host/db`
    /// URL for a PostgreSQL database several nodes share. `CRUMB_DATABASE`.
    pub database: Database,
    /// Take the visitor's address from `X-Forwarded-For`. Only turn on
    /// behind a reverse proxy that appends to it. `CRUMB_BEHIND_PROXY`.
    pub behind_proxy: bool,
    /// How many proxies in front of Crumb append to `X-Forwarded-For`:
    /// the visitor is that many entries from the right (entries further
    /// left are whatever the client sent, so never trusted).
    /// `CRUMB_PROXY_HOPS`.
    pub proxy_hops: usize,
    /// Seconds a client has to send a request's whole body; a stalled one
    /// is answered 408 and its connection closed. `CRUMB_BODY_TIMEOUT`.
    pub body_timeout: u64,
    /// Consent writes (choices and withdrawals) a client network (/24 or
    /// /48) earns back per second, and may make at once; beyond them the
    /// answer is 429 with `Retry-After` and nothing is stored. A burst of
    /// 0 switches quotas off. `CRUMB_WRITE_RATE`, `CRUMB_WRITE_BURST`.
    pub write_rate: f64,
    pub write_burst: u32,
    /// Open connections at most, over all workers; kept below the process's
    /// open-file limit (1,024 by default) so a flood of idle connections
    /// cannot stop the server from opening its database or accepting.
    /// `CRUMB_MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// The path Crumb answers under, for a reverse proxy that passes its
    /// prefix on (`/crumb`: `/crumb/crumb.js`, `/crumb/v1/...`,
    /// `/crumb/owner`); empty for the root. `CRUMB_BASE_PATH`.
    pub base_path: BasePath,
    /// A folder of pages served at `/` (the demo site). `CRUMB_STATIC_DIR`.
    pub static_dir: Option<PathBuf>,
    /// The built widget (`cargo xtask build-widget`). Default: `widget/dist`
    /// beside the current directory or the source tree. `CRUMB_WIDGET_DIR`.
    pub widget_dir: Option<PathBuf>,
    /// The Ed25519 key that signs chain heads and purge checkpoints.
    /// Default: the SQLite file's path plus `.key`; with PostgreSQL,
    /// `crumb.key` in the current folder (give every node the same file, or
    /// each its own: checkpoints carry their public key). `CRUMB_SIGNING_KEY`.
    pub signing_key: Option<PathBuf>,
    /// HTTP worker threads; default one per core. `CRUMB_WORKERS`.
    pub workers: Option<usize>,
    /// Seconds to let requests finish on shutdown. `CRUMB_SHUTDOWN_TIMEOUT`.
    pub shutdown_timeout: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            database: Database::Sqlite(PathBuf::from("crumb.db")),
            behind_proxy: false,
            proxy_hops: 1,
            body_timeout: 5,
            max_connections: 768,
            write_rate: 2.0,
            write_burst: 120,
            base_path: BasePath::default(),
            static_dir: None,
            widget_dir: None,
            signing_key: None,
            workers: None,
            shutdown_timeout: 10,
        }
    }
}

/// A URL path prefix: empty (the root), or `/` and segments of URL-safe
/// characters, without a trailing `/`. Built only by [`BasePath::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BasePath(String);

impl BasePath {
    pub fn parse(s: &str) -> Result<BasePath, String> {
        let trimmed = s.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(BasePath::default());
        }
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(format!("{s:?} must start with / (e.g. /crumb)"));
        };
        let safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        for segment in rest.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." || !segment.chars().all(safe)
            {
                return Err(format!(
                    "{s:?} is not a plain path: use segments of letters, digits, - . _ ~ (e.g. /crumb)"
                ));
            }
        }
        Ok(BasePath(trimmed.to_owned()))
    }

    /// The prefix to put before a route's path (`""` at the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BasePath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        BasePath::parse(&s)
    }
}

impl std::str::FromStr for BasePath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        BasePath::parse(s)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?} is invalid: {why}")]
    Env {
        name: &'static str,
        value: String,
        why: String,
    },
}

impl Settings {
    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key_path_for(&self.database)
    }

    /// The signing key of a server on `database`: `signing_key` when set,
    /// else beside a SQLite file (`crumb.db.key`), or `crumb.key` for
    /// PostgreSQL. `crumb copy` reads the key of the log it copies from.
    pub fn signing_key_path_for(&self, database: &Database) -> PathBuf {
        self.signing_key.clone().unwrap_or_else(|| match database {
            Database::Sqlite(path) => {
                let mut p = path.clone().into_os_string();
                p.push(".key");
                PathBuf::from(p)
            }
            Database::Postgres(_) => PathBuf::from("crumb.key"),
        })
    }
    /// Loads settings from the file (if any) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
        for (name, close) in unknown_env(names) {
            match close {
                Some(known) => tracing::warn!(
                    "{name} is not a setting Crumb reads (did you mean {known}?); it is ignored"
                ),
                None => tracing::warn!("{name} is not a setting Crumb reads; it is ignored"),
            }
        }
        let env_file = std::env::var_os("CRUMB_CONFIG").map(PathBuf::from);
        let default_file = PathBuf::from("crumb.toml");
        let file = match (file, env_file) {
            (Some(f), _) => Some(f.to_owned()),
            (None, Some(f)) => Some(f),
            (None, None) => default_file.exists().then_some(default_file),
        };
        let mut settings = match file {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        Ok(settings)
    }

    fn from_file(path: &Path) -> Result<Self, SettingsError> {
        use std::io::Read as _;
        // A settings file is a few lines; a wrong path (a device, a log)
        // is refused rather than read until memory runs out.
        const LIMIT: u64 = 1 << 20;
        let read = |source| SettingsError::Read {
            path: path.to_owned(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(LIMIT + 1).read_to_string(&mut text))
            .map_err(read)?;
        if text.len() as u64 > LIMIT {
            return Err(read(std::io::Error::other(
                "larger than a settings file may be (1 MiB)",
            )));
        }
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), SettingsError> {
        fn parsed<T: std::str::FromStr>(
            name: &'static str,
            value: String,
        ) -> Result<T, SettingsError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| SettingsError::Env {
                name,
                value: value.clone(),
                why: e.to_string(),
            })
        }
        if let Some(v) = var("CRUMB_HOST") {
            self.host = v;
        }
        if let Some(v) = var("CRUMB_PORT") {
            self.port = parsed("CRUMB_PORT", v)?;
        }
        if let Some(v) = var("CRUMB_DATABASE") {
            self.database = Database::parse(&v).map_err(|why| SettingsError::Env {
                name: "CRUMB_DATABASE",
                value: crate::storage::without_password(&v),
                why,
            })?;
        }
        if let Some(v) = var("CRUMB_BEHIND_PROXY") {
            self.behind_proxy = parsed("CRUMB_BEHIND_PROXY", v)?;
        }
        if let Some(v) = var("CRUMB_PROXY_HOPS") {
            self.proxy_hops = parsed("CRUMB_PROXY_HOPS", v)?;
        }
        if let Some(v) = var("CRUMB_BODY_TIMEOUT") {
            self.body_timeout = parsed("CRUMB_BODY_TIMEOUT", v)?;
        }
        if let Some(v) = var("CRUMB_WRITE_RATE") {
            self.write_rate = parsed("CRUMB_WRITE_RATE", v)?;
        }
        if let Some(v) = var("CRUMB_WRITE_BURST") {
            self.write_burst = parsed("CRUMB_WRITE_BURST", v)?;
        }
        if let Some(v) = var("CRUMB_MAX_CONNECTIONS") {
            self.max_connections = parsed("CRUMB_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = var("CRUMB_BASE_PATH") {
            self.base_path = parsed("CRUMB_BASE_PATH", v)?;
        }
        if let Some(v) = var("CRUMB_STATIC_DIR") {
            self.static_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CRUMB_WIDGET_DIR") {
            self.widget_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CRUMB_SIGNING_KEY") {
            self.signing_key = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CRUMB_WORKERS") {
            self.workers = Some(parsed("CRUMB_WORKERS", v)?);
        }
        if let Some(v) = var("CRUMB_SHUTDOWN_TIMEOUT") {
            self.shutdown_timeout = parsed("CRUMB_SHUTDOWN_TIMEOUT", v)?;
        }
        Ok(())
    }
}

/// Every environment variable Crumb reads: the settings' (`apply_env`),
/// the settings file's and logging's.
const KNOWN_ENV: &[&str] = &[
    "CRUMB_CONFIG",
    "CRUMB_LOG",
    "CRUMB_LOG_FORMAT",
    "CRUMB_HOST",
    "CRUMB_PORT",
    "CRUMB_DATABASE",
    "CRUMB_BEHIND_PROXY",
    "CRUMB_PROXY_HOPS",
    "CRUMB_BODY_TIMEOUT",
    "CRUMB_WRITE_RATE",
    "CRUMB_WRITE_BURST",
    "CRUMB_MAX_CONNECTIONS",
    "CRUMB_BASE_PATH",
    "CRUMB_STATIC_DIR",
    "CRUMB_WIDGET_DIR",
    "CRUMB_SIGNING_KEY",
    "CRUMB_WORKERS",
    "CRUMB_SHUTDOWN_TIMEOUT",
];

/// The `CRUMB_` variables among `names` that Crumb does not read, each with
/// the known name it most likely meant. Most are typos, which would
/// otherwise leave a default in force unseen: a mistyped `CRUMB_DATABASE`
/// serves a new, empty log. `CRUMB_TEST_*` belong to the test suite.
fn unknown_env(names: impl Iterator<Item = String>) -> Vec<(String, Option<&'static str>)> {
    let mut unknown: Vec<(String, Option<&'static str>)> = names
        .filter(|n| n.starts_with("CRUMB_") && !n.starts_with("CRUMB_TEST_"))
        .filter(|n| !KNOWN_ENV.contains(&n.as_str()))
        .map(|n| {
            let close = KNOWN_ENV
                .iter()
                .map(|k| (strsim::levenshtein(&n, k), *k))
                .filter(|(distance, _)| *distance <= 2)
                .min()
                .map(|(_, k)| k);
            (n, close)
        })
        .collect();
    unknown.sort();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_path_that_is_no_file_of_settings_is_refused_not_read_forever() {
        let err = Settings::from_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than a settings file may be"), "{err}");
    }

    #[test]
    fn unknown_crumb_variables_are_found_with_what_they_likely_meant() {
        let names = [
            "CRUMB_DATABSE",
            "CRUMB_PORT",
            "CRUMB_COLOR",
            "PATH",
            "CRUMB_TEST_POSTGRES",
        ];
        assert_eq!(
            unknown_env(names.iter().map(|n| n.to_string())),
            [
                ("CRUMB_COLOR".to_owned(), None),
                ("CRUMB_DATABSE".to_owned(), Some("CRUMB_DATABASE")),
            ]
        );
        // Every variable the settings read is known.
        let asked = std::cell::RefCell::new(Vec::new());
        Settings::default()
            .apply_env(|n| {
                asked.borrow_mut().push(n.to_owned());
                None
            })
            .unwrap();
        for name in asked.into_inner() {
            assert!(
                KNOWN_ENV.contains(&name.as_str()),
                "{name} is read but not known"
            );
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut s: Settings = toml::from_str("port = 9000\ndatabase = \"a.db\"").unwrap();
        s.apply_env(|n| (n == "CRUMB_PORT").then(|| "9100".to_owned()))
            .unwrap();
        assert_eq!(s.port, 9100);
        assert_eq!(s.database.file(), Some(Path::new("a.db")));
    }

    #[test]
    fn a_bad_database_url_is_named_without_its_password() {
        let mut s = Settings::default();
        let err = s
            .apply_env(|n| (n == "CRUMB_DATABASE").then(|| "postgres://crumb:s3cret@db".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CRUMB_DATABASE"), "{err}");
        assert!(err.contains("names no database"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn a_base_path_is_a_plain_prefix() {
        for (given, kept) in [
            ("", ""),
            ("/", ""),
            ("/crumb", "/crumb"),
            ("/crumb/", "/crumb"),
            ("/a/b-c.d_e~", "/a/b-c.d_e~"),
        ] {
            assert_eq!(BasePath::parse(given).unwrap().as_str(), kept, "{given:?}");
        }
        for bad in ["crumb", "/a//b", "/a/../b", "/./a", "/a b", "/a?x", "/a%2F"] {
            assert!(BasePath::parse(bad).is_err(), "{bad:?}");
        }
        let toml: Settings = toml::from_str("base_path = \"/consent/\"").unwrap();
        assert_eq!(toml.base_path.as_str(), "/consent");
        assert!(toml::from_str::<Settings>("base_path = \"consent\"").is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let mut s = Settings::default();
        let err = s
            .apply_env(|n| (n == "CRUMB_PORT").then(|| "eighty".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("CRUMB_PORT"), "{err}");
        assert!(toml::from_str::<Settings>("prot = 1").is_err());
    }
}
