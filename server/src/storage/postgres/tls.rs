//! TLS to PostgreSQL, read from the URL's parameters as `psql` (libpq)
//! reads them, so the URL a managed offering hands out works as it is:
//! `sslmode` (`disable`, `prefer` (the default), `require`, `verify-ca`,
//! `verify-full`), `sslrootcert` (a PEM file of the CAs to trust, or
//! `system` for the public CAs), and `sslcert` with `sslkey` (a client
//! certificate and its key, PEM, for servers that authenticate clients by
//! certificate). tokio-postgres itself knows only the first three modes,
//! no root certificate and no client certificate, so this module takes
//! those parameters off the URL and builds the rustls configuration they
//! ask for.
//!
//! As in libpq: `prefer` and `require` encrypt without checking who
//! answers (`require` with an `sslrootcert` checks the chain, as
//! `verify-ca` does); `verify-ca` checks that the server's certificate
//! comes from a trusted CA; `verify-full` also that it names the host.
//! Unlike libpq, the CAs trusted by default (no `sslrootcert`) are the
//! public ones (Mozilla's list), not `~/.postgresql/root.crt`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What the URL asks of TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The mode as a URL spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The CAs a verifying mode trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's list of public CAs (`sslrootcert=system`, or none given).
    Public,
    /// The certificates in a PEM file.
    File(PathBuf),
}

/// A client certificate's files (`sslcert`, `sslkey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS parameters of a PostgreSQL URL, and the URL without the ones
/// tokio-postgres does not understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub mode: SslMode,
    pub roots: Option<Roots>,
    pub client: Option<ClientCert>,
    /// The URL for tokio-postgres: `sslmode` as it knows it, no
    /// `sslrootcert`.
    pub url: String,
}

/// Takes `sslmode` and `sslrootcert` off `url` (a `postgres://` URL).
/// Pure: the root certificate file is read by [`client_config`].
pub fn parse(url: &str) -> Result<Parsed, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = SslMode::Prefer;
    let mut roots = None;
    let (mut client_cert, mut client_key) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                mode = match value {
                    "disable" => SslMode::Disable,
                    // libpq's `allow` tries without TLS first; without is
                    // what it gets from a server that takes both.
                    "allow" => SslMode::Disable,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, allow, prefer, require, \
                             verify-ca, verify-full"
                        ));
                    }
                }
            }
            "sslrootcert" => {
                let value = percent_decode(value)?;
                roots = Some(match value.as_str() {
                    "" => return Err("sslrootcert is empty: give a PEM file or `system`".into()),
                    "system" => Roots::Public,
                    path => Roots::File(PathBuf::from(path)),
                });
            }
            "sslcert" | "sslkey" => {
                let path = percent_decode(value)?;
                if path.is_empty() {
                    return Err(format!("{key} is empty: give a PEM file"));
                }
                let slot = if key == "sslcert" {
                    &mut client_cert
                } else {
                    &mut client_key
                };
                *slot = Some(PathBuf::from(path));
            }
            // Encrypted client keys and revocation lists: not supported,
            // and said so rather than "invalid connection string" from the
            // driver.
            "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(format!(
                    "{key} is not supported: Crumb reads no encrypted client key and no \
                     revocation list"
                ));
            }
            _ => kept.push(pair),
        }
    }
    // `require` with a root certificate checks the chain, as libpq does.
    if mode == SslMode::Require && roots.is_some() {
        mode = SslMode::VerifyCa;
    }
    if mode == SslMode::Disable && roots.is_some() {
        return Err("sslrootcert is given but sslmode=disable turns TLS off".into());
    }
    // libpq would look for the other file in ~/.postgresql; Crumb takes
    // no file it was not named.
    let client = match (client_cert, client_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(ClientCert { cert, key }),
        (Some(_), None) => return Err("sslcert is given without its sslkey".into()),
        (None, Some(_)) => return Err("sslkey is given without its sslcert".into()),
    };
    if mode == SslMode::Disable && client.is_some() {
        return Err("sslcert is given but sslmode=disable turns TLS off".into());
    }
    // tokio-postgres checks no certificate itself: the verifying modes
    // are `require` to it, and the check is in `client_config`.
    kept.push(match mode {
        SslMode::Disable => "sslmode=disable",
        SslMode::Prefer => "sslmode=prefer",
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "sslmode=require",
    });
    Ok(Parsed {
        mode,
        roots,
        client,
        url: format!("{base}?{}", kept.join("&")),
    })
}

/// `%2F` and the like in a URL parameter, as bytes.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{s:?} has a malformed %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// The rustls configuration for what `parsed` asks (unused with
/// `sslmode=disable`); reads the root certificate and client files.
pub fn client_config(parsed: &Parsed) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match parsed.mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            Arc::new(EncryptOnly(provider.clone()))
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(root_store(parsed.roots.as_ref().unwrap_or(&Roots::Public))?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("the root certificates cannot be used: {e}"))?;
            if parsed.mode == SslMode::VerifyCa {
                Arc::new(AnyName(webpki))
            } else {
                webpki
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let Some(client) = &parsed.client else {
        return Ok(builder.with_no_client_auth());
    };
    let (cert, key) = (client.cert.display(), client.key.display());
    let chain = certificates(&client.cert, "sslcert")?;
    if chain.is_empty() {
        return Err(format!("sslcert {cert} holds no certificate"));
    }
    let private =
        PrivateKeyDer::from_pem_slice(&pem_file(&client.key, "sslkey")?).map_err(|e| {
            format!("sslkey {key}: {e} (an unencrypted PEM key: PKCS#8, PKCS#1 or SEC1)")
        })?;
    builder
        .with_client_auth_cert(chain, private)
        .map_err(|e| format!("sslcert {cert} with sslkey {key}: {e}"))
}

/// A PEM file's bytes, at most 1 MiB (a bundle of every public CA is a
/// quarter of that): a wrong path, such as a device, is refused rather
/// than read until memory runs out.
fn pem_file(path: &std::path::Path, parameter: &str) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    const LIMIT: u64 = 1 << 20;
    let shown = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(LIMIT + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("{parameter} {shown}: {e}"))?;
    if bytes.len() as u64 > LIMIT {
        return Err(format!(
            "{parameter} {shown} is larger than a PEM file may be (1 MiB)"
        ));
    }
    Ok(bytes)
}

/// The certificates in a PEM file.
fn certificates(
    path: &std::path::Path,
    parameter: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(&pem_file(path, parameter)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{parameter} {}: {e}", path.display()))
}

fn root_store(roots: &Roots) -> Result<RootCertStore, String> {
    match roots {
        Roots::Public => Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        Roots::File(path) => {
            let shown = path.display();
            let certs = certificates(path, "sslrootcert")?;
            let mut store = RootCertStore::empty();
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert {shown} holds no usable certificate"));
            }
            Ok(store)
        }
    }
}

/// `prefer` and `require`: the connection is encrypted, and the server's
/// handshake signature checked against the certificate it sent, but not
/// who issued that certificate (libpq's meaning of these modes).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA; the name in the
/// certificate need not be the host's. rustls checks the chain before the
/// name, so a name error means the chain passed.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_are_read_and_passed_on_as_the_driver_knows_them() {
        let p = parse("postgres://u@h/db").unwrap();
        assert_eq!((p.mode, p.roots), (SslMode::Prefer, None));
        assert_eq!(p.url, "postgres://u@h/db?sslmode=prefer");

        let p = parse("postgres://u@h/db?sslmode=verify-full&application_name=crumb").unwrap();
        assert_eq!(p.mode, SslMode::VerifyFull);
        assert_eq!(
            p.url,
            "postgres://u@h/db?application_name=crumb&sslmode=require"
        );

        let p = parse("postgres://u@h/db?sslmode=require&sslrootcert=%2Fetc%2Fca.pem").unwrap();
        assert_eq!(
            p.mode,
            SslMode::VerifyCa,
            "require with a root checks the chain"
        );
        assert_eq!(p.roots, Some(Roots::File("/etc/ca.pem".into())));
        assert_eq!(p.url, "postgres://u@h/db?sslmode=require");

        let p = parse("postgres://u@h/db?sslrootcert=system&sslmode=verify-ca").unwrap();
        assert_eq!((p.mode, p.roots), (SslMode::VerifyCa, Some(Roots::Public)));

        let p = parse("postgres://u@h/db?sslcert=%2Fc.pem&sslkey=/k.pem").unwrap();
        assert_eq!(
            p.client,
            Some(ClientCert {
                cert: "/c.pem".into(),
                key: "/k.pem".into()
            })
        );
        assert_eq!(p.url, "postgres://u@h/db?sslmode=prefer");

        assert_eq!(
            parse("postgres://u@h/db?sslmode=disable").unwrap().url,
            "postgres://u@h/db?sslmode=disable"
        );
    }

    #[test]
    fn what_cannot_mean_anything_is_refused() {
        for (url, says) in [
            ("postgres://u@h/db?sslmode=verify", "is not one of"),
            ("postgres://u@h/db?sslrootcert=", "is empty"),
            (
                "postgres://u@h/db?sslmode=disable&sslrootcert=/ca.pem",
                "turns TLS off",
            ),
            ("postgres://u@h/db?sslrootcert=%2", "malformed"),
            (
                "postgres://u@h/db?sslmode=verify-full&sslcert=/c.pem",
                "without its sslkey",
            ),
            ("postgres://u@h/db?sslkey=/k.pem", "without its sslcert"),
            (
                "postgres://u@h/db?sslmode=disable&sslcert=/c.pem&sslkey=/k.pem",
                "turns TLS off",
            ),
            (
                "postgres://u@h/db?sslcrl=/crl.pem",
                "sslcrl is not supported",
            ),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let parsed = Parsed {
            mode: SslMode::VerifyFull,
            roots: Some(Roots::File(empty)),
            client: None,
            url: String::new(),
        };
        let err = client_config(&parsed).unwrap_err();
        assert!(err.contains("holds no usable certificate"), "{err}");
        let missing = Parsed {
            roots: Some(Roots::File(dir.path().join("missing.pem"))),
            ..parsed
        };
        assert!(client_config(&missing).unwrap_err().contains("missing.pem"));
        let endless = Parsed {
            roots: Some(Roots::File("/dev/zero".into())),
            ..missing
        };
        assert!(
            client_config(&endless)
                .unwrap_err()
                .contains("larger than a PEM file")
        );
    }
}
