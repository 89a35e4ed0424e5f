//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary
//! folder, `pg_ctl start` on a free loopback port, stopped and deleted on
//! drop. PostgreSQL refuses to run as root, so as root (CI) the cluster
//! belongs to the `postgres` user that Debian's package creates.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

pub struct Cluster {
    dir: PathBuf,
    pg_ctl: PathBuf,
    as_root: bool,
    /// The server's options, for a restart.
    options: String,
    /// A URL of the cluster's `postgres` database, as its superuser.
    pub url: String,
    /// The CA that signed the server's certificate, when it takes TLS.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key, signed by that CA, with which
    /// (and only with which) the role [`CERT_ROLE`] logs in.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The role the TLS cluster authenticates by client certificate.
pub const CERT_ROLE: &str = "crumb_cert";

/// What [`server_certificate`] made.
struct Certificates {
    ca: PathBuf,
    client: (PathBuf, PathBuf),
    /// The server's options that turn TLS on.
    options: String,
}

/// PostgreSQL's server programs: on PATH, else where Debian puts them.
pub fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root.
fn run(as_root: bool, program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut command = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = command
        .args(args)
        .output()
        .with_context(|| format!("starting {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A CA, a server certificate it signed for `localhost` (the name only,
/// not 127.0.0.1, so tests can tell `verify-full` from `verify-ca`) and a
/// client certificate for [`CERT_ROLE`], made with the `openssl` program
/// (Debian's PostgreSQL package depends on it); `None` without it.
fn server_certificate(dir: &Path, as_root: bool) -> anyhow::Result<Option<Certificates>> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("no openssl here: the PostgreSQL test cluster takes no TLS");
        return Ok(None);
    }
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls)?;
    let path = |name: &str| tls.join(name).to_string_lossy().into_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-new"];
    ca.extend(ec);
    let (ca_key, ca_crt) = (path("ca.key"), path("ca.crt"));
    ca.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_crt,
        "-days",
        "2",
        "-subj",
        "/CN=Crumb test CA",
    ]);
    run(false, Path::new("openssl"), &ca)?;
    // A key and a certificate for `subject`, signed by the CA.
    let signed =
        |name: &str, subject: &str, extensions: &str| -> anyhow::Result<(String, String)> {
            let (key, csr, crt, ext) = (
                path(&format!("{name}.key")),
                path(&format!("{name}.csr")),
                path(&format!("{name}.crt")),
                path(&format!("{name}.ext")),
            );
            let mut req = vec!["req", "-new"];
            req.extend(ec);
            req.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
            run(false, Path::new("openssl"), &req)?;
            std::fs::write(&ext, extensions)?;
            run(
                false,
                Path::new("openssl"),
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_crt,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-out",
                    &crt,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            )?;
            Ok((key, crt))
        };
    let (key, crt) = signed(
        "server",
        "/CN=localhost",
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )?;
    let (client_key, client_crt) = signed(
        "client",
        &format!("/CN={CERT_ROLE}"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )?;
    // PostgreSQL reads its key only if no one else can (libpq wants the
    // same of a client's key).
    for key in [&key, &client_key] {
        std::fs::set_permissions(key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    }
    if as_root {
        crate::cmd("chown", &["-R", "postgres", &tls.to_string_lossy()])?;
    }
    // `ssl_ca_file`: the CA whose client certificates the server takes.
    let options =
        format!(" -c ssl=on -c ssl_cert_file={crt} -c ssl_key_file={key} -c ssl_ca_file={ca_crt}");
    Ok(Some(Certificates {
        ca: PathBuf::from(ca_crt),
        client: (PathBuf::from(client_crt), PathBuf::from(client_key)),
        options,
    }))
}

impl Cluster {
    /// A cluster without TLS (the benches measure Crumb, not encryption).
    pub fn start() -> anyhow::Result<Cluster> {
        Self::start_with(false)
    }

    /// A cluster that also takes TLS connections, when `openssl` is here
    /// to make its certificate ([`Cluster::ca`]).
    pub fn start_with_tls() -> anyhow::Result<Cluster> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> anyhow::Result<Cluster> {
        let bin = bin_dir().context(
            "PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)",
        )?;
        let as_root = is_root();
        let dir = std::env::temp_dir().join(format!("crumb-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if as_root {
            crate::cmd("chown", &["postgres", &dir.to_string_lossy()])?;
        }
        let data = dir.join("data");
        let data_arg = data.to_string_lossy().into_owned();
        run(
            as_root,
            &bin.join("initdb"),
            &[
                "-D",
                &data_arg,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        // `wal_init_zero = off`: a new cluster has no used WAL segments to
        // recycle, so by default the commit that crosses into each new
        // 16 MB segment first writes it full of zeros and flushes it,
        // which held every other commit for tens to hundreds of
        // milliseconds on the bench's disk; a long-running cluster
        // recycles its segments instead. Durability is the same: it only
        // skips preallocating the file.
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 -c wal_init_zero=off",
            dir.display()
        );
        let certificate = match tls {
            true => server_certificate(&dir, as_root)?,
            false => None,
        };
        if let Some(certificates) = &certificate {
            options.push_str(&certificates.options);
            // The certificate role logs in with its certificate only;
            // every other role as initdb set it up (trust).
            let hba = data.join("pg_hba.conf");
            let rules = std::fs::read_to_string(&hba)?;
            std::fs::write(
                &hba,
                format!(
                    "hostssl all {CERT_ROLE} 127.0.0.1/32 cert\nhost all {CERT_ROLE} 127.0.0.1/32 reject\n{rules}"
                ),
            )?;
        }
        let cluster = Cluster {
            pg_ctl: bin.join("pg_ctl"),
            dir,
            as_root,
            options,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            ca: certificate.as_ref().map(|c| c.ca.clone()),
            client: certificate.map(|c| c.client),
        };
        cluster.start_server()?;
        eprintln!("PostgreSQL test cluster at {}", cluster.url);
        Ok(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    /// Starts the server on the cluster's data and port: when the cluster
    /// is made, and again after `crash`.
    pub fn start_server(&self) -> anyhow::Result<()> {
        let log = self.dir.join("log").to_string_lossy().into_owned();
        let args = [
            "-D",
            &self.data(),
            "-o",
            &self.options,
            "-l",
            &log,
            "-w",
            "start",
        ];
        run(self.as_root, &self.pg_ctl, &args)
    }

    /// Stops the server the way a crash would: `-m immediate` ends every
    /// process at once, without a checkpoint, and what the WAL buffers
    /// held but had not written is gone; the next start recovers from the
    /// WAL on disk.
    pub fn crash(&self) -> anyhow::Result<()> {
        let args = ["-D", &self.data(), "-m", "immediate", "-w", "stop"];
        run(self.as_root, &self.pg_ctl, &args)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.crash() {
            eprintln!("stopping the PostgreSQL test cluster: {e:#}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
