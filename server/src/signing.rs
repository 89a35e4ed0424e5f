//! The server's Ed25519 key and what it signs: chain heads (so an auditor
//! can check that an export is complete up to a point) and purge
//! checkpoints (so a chain cut by retention still verifies).
//!
//! The key is a 32-byte seed in hex in a file (default: the database path
//! plus `.key`), created with mode 0600 by a log's first `crumb serve`,
//! which records its public half in the log: every node and command then
//! signs that log with that key or not at all. Publish the public key
//! (`crumb key`) where auditors can find it.

use std::path::Path;

use crumb_schema::{RecordHash, SiteId};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::timefmt::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create the signing key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "no signing key at {0}: `crumb serve` creates it on its first start; point \
         CRUMB_SIGNING_KEY (or `signing_key` in crumb.toml) at the server's key file"
    )]
    Missing(String),
    #[error("the signing key file {0} is not 64 hex digits")]
    Malformed(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// Hex text of a fixed number of bytes, kept in lowercase: parsed from
/// what a person or a file gives (either case, surrounding blanks
/// dropped), read and written as a JSON string.
macro_rules! hex_newtype {
    ($(#[$meta:meta])* $name:ident, $bytes:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<$name, String> {
                unhex::<$bytes>(s)
                    .map(|bytes| $name(hex::encode(bytes)))
                    .ok_or_else(|| {
                        let shown: String = s.chars().take(140).collect();
                        format!(concat!("{:?} is not ", $what), shown)
                    })
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            fn bytes(&self) -> [u8; $bytes] {
                unhex::<$bytes>(&self.0).expect("checked when parsed")
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<$name, String> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

hex_newtype!(
    /// An Ed25519 public key as 64 lowercase hex digits: what `crumb key`
    /// prints for auditors and what a log records as the key it is signed
    /// with.
    PublicKey,
    32,
    "a public key (64 hex digits)"
);

hex_newtype!(
    /// An Ed25519 signature of a chain head as 128 lowercase hex digits.
    HeadSignature,
    64,
    "a signature (128 hex digits)"
);

/// The signing key; its Debug output never shows the secret.
pub struct Key(SigningKey);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(public {})", self.public())
    }
}

/// `N` bytes from exactly `2 * N` hex digits (either case), around which
/// white space (a key file's line end) is allowed.
fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}

impl Key {
    /// Loads the key at `path`, which must exist. Commands other than
    /// `serve` sign or check with the server's key: a key they made up
    /// (run from another folder, or with the setting missing) would sign
    /// heads and purge checkpoints no auditor can check against the
    /// published key.
    pub fn load(path: &Path) -> Result<Key, KeyError> {
        match Self::read(path)? {
            Some(key) => Ok(key),
            None => Err(KeyError::Missing(path.display().to_string())),
        }
    }

    /// The key at `path`, or `None` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Key>, KeyError> {
        use std::io::Read as _;
        // 64 hex digits and a line end; a wrong path (a device) is not
        // read past a few more.
        let mut text = String::new();
        let read = std::fs::File::open(path).and_then(|f| f.take(256).read_to_string(&mut text));
        match read.map(|_| text) {
            Ok(text) => unhex::<32>(&text)
                .map(|seed| Some(Key(SigningKey::from_bytes(&seed))))
                .ok_or_else(|| KeyError::Malformed(path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(KeyError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Loads the key at `path`, creating it when the file does not exist
    /// (what `crumb serve` does on its first start).
    pub fn load_or_create(path: &Path) -> Result<Key, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match Self::read(path)? {
            Some(key) => Ok(key),
            None => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                std::io::Write::write_all(&mut file, hex::encode(seed).as_bytes()).map_err(io)?;
                Ok(Key(SigningKey::from_bytes(&seed)))
            }
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(hex::encode(self.0.verifying_key().as_bytes()))
    }

    /// Signs a chain position of a site.
    pub fn sign(&self, site: &SiteId, seq: u64, hash: &RecordHash, at: Timestamp) -> SignedHead {
        let signature = self.0.sign(message(site, seq, hash, at).as_bytes());
        SignedHead {
            site_id: site.clone(),
            seq,
            hash: hash.clone(),
            signed_at: at,
            public_key: self.public(),
            signature: HeadSignature(hex::encode(signature.to_bytes())),
        }
    }
}

/// The exact bytes that are signed.
fn message(site: &SiteId, seq: u64, hash: &RecordHash, at: Timestamp) -> String {
    format!("crumb-chain-head-v1\n{site}\n{seq}\n{hash}\n{at}\n")
}

/// "Site S's chain had record `seq` with hash `hash` at `signed_at`",
/// signed by the server. Read from a file or a database, every field is
/// checked for its form first, so a head that is not one is refused as
/// such rather than taken for a log that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedHead {
    pub site_id: SiteId,
    /// The head record's place in the chain (0: no record yet).
    pub seq: u64,
    /// The head record's hash (64 zeros before any record).
    pub hash: RecordHash,
    pub signed_at: Timestamp,
    /// The server's Ed25519 public key, hex (`crumb key`).
    #[schema(value_type = String, pattern = r"^[0-9a-f]{64}$")]
    pub public_key: PublicKey,
    /// Ed25519 over `crumb-chain-head-v1\n{site_id}\n{seq}\n{hash}\n{signed_at}\n`, hex.
    #[schema(value_type = String, pattern = r"^[0-9a-f]{128}$")]
    pub signature: HeadSignature,
}

/// `site`'s chain head in `store` (the genesis hash before any record),
/// signed with `key` at `now`: what `crumb head` prints and
/// `GET /v1/audit/sites/{site}/head` answers.
pub fn signed_head(
    store: &dyn crate::storage::Store,
    key: &Key,
    site: &crumb_schema::SiteId,
    now: time::OffsetDateTime,
) -> Result<SignedHead, crate::storage::StoreError> {
    let (seq, hash) = store
        .head(site)?
        .unwrap_or_else(|| (0, crumb_schema::RecordHash::genesis()));
    Ok(key.sign(site, seq, &hash, Timestamp::at(now)))
}

/// Why a command may not sign with the key file it was given.
#[derive(Debug, thiserror::Error)]
pub enum LogKeyError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
    #[error(
        "no signing key at {path}, and this log is signed with the key whose public key is \
         {recorded}: copy that key file from a node that serves this log (or point \
         CRUMB_SIGNING_KEY at it); if it is lost, `crumb key --replace` makes a new key this log's"
    )]
    Missing { path: String, recorded: PublicKey },
    #[error(
        "the signing key at {path} (public key {ours}) is not this log's, which is signed with \
         {recorded}: give every node that serves this log the same key file \
         (CRUMB_SIGNING_KEY); to sign with this key from now on, run `crumb key --replace`"
    )]
    Foreign {
        path: String,
        ours: PublicKey,
        recorded: PublicKey,
    },
}

/// The key `crumb serve` signs with, and whether it was created now.
///
/// The log records the public key it is signed with, and the first node
/// to serve it decides which: a node with another key file would sign
/// heads and purge checkpoints that auditors cannot check against the
/// published key (behind a load balancer, every other head). So a key
/// file is created only for a log that records none yet, and a key that
/// is not the log's is refused.
pub fn serving_key(
    store: &dyn crate::storage::Store,
    path: &Path,
    now: time::OffsetDateTime,
) -> Result<(Key, bool), LogKeyError> {
    let shown = || path.display().to_string();
    let recorded = store.log_key()?;
    let (key, created) = match (Key::read(path)?, &recorded) {
        (Some(key), _) => (key, false),
        (None, None) => (Key::load_or_create(path)?, true),
        (None, Some(recorded)) => {
            return Err(LogKeyError::Missing {
                path: shown(),
                recorded: recorded.clone(),
            });
        }
    };
    let recorded = match recorded {
        Some(recorded) => recorded,
        // Two nodes starting at once on a new log: one records its key
        // first, and the other is refused below.
        None => match store.record_log_key(&key.public(), now, false) {
            Ok(recorded) => recorded,
            // A disk that takes no writes (full, read-only) does not keep
            // Crumb from serving the banner and visit checks; the key is
            // recorded on a later start.
            Err(e) if e.unavailable() => {
                tracing::warn!(error = %e, "the signing key could not be recorded in the log now");
                key.public()
            }
            Err(e) => return Err(e.into()),
        },
    };
    if recorded != key.public() {
        if created {
            // A key no one will ever sign with would only mislead the
            // next start; the refusal says which key to put there.
            let _ = std::fs::remove_file(path);
        }
        return Err(LogKeyError::Foreign {
            path: shown(),
            ours: key.public(),
            recorded,
        });
    }
    Ok((key, created))
}

/// The key every other command signs with: the file at `path`, which must
/// be the key the log records (a log that records none takes any, as
/// before keys were recorded).
pub fn log_key(store: &dyn crate::storage::Store, path: &Path) -> Result<Key, LogKeyError> {
    let key = Key::load(path)?;
    match store.log_key()? {
        Some(recorded) if recorded != key.public() => Err(LogKeyError::Foreign {
            path: path.display().to_string(),
            ours: key.public(),
            recorded,
        }),
        _ => Ok(key),
    }
}

/// `crumb key --replace`: makes the key file at `path` (created when
/// missing, for a lost key) the log's from now on; answers the key and the
/// one it replaced, which still checks what was signed before.
pub fn replace_log_key(
    store: &dyn crate::storage::Store,
    path: &Path,
    now: time::OffsetDateTime,
) -> Result<(Key, Option<PublicKey>), LogKeyError> {
    let before = store.log_key()?;
    let key = Key::load_or_create(path)?;
    let public = key.public();
    store.record_log_key(&public, now, true)?;
    Ok((key, before.filter(|old| *old != public)))
}

impl SignedHead {
    /// Checks the signature, against `expected_key` when given (else the
    /// key the head names, which only proves it was not altered since).
    pub fn verify(&self, expected_key: Option<&PublicKey>) -> Result<(), String> {
        if expected_key.is_some_and(|k| *k != self.public_key) {
            return Err("the head is signed by another key than the published one".into());
        }
        // 32 bytes that are no point on the curve are no key.
        let key = VerifyingKey::from_bytes(&self.public_key.bytes())
            .map_err(|_| "the head's public key is not an Ed25519 key")?;
        key.verify(
            message(&self.site_id, self.seq, &self.hash, self.signed_at).as_bytes(),
            &Signature::from_bytes(&self.signature.bytes()),
        )
        .map_err(|_| "the head's signature does not verify".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_read_in_either_case_with_white_space_around_and_nothing_else() {
        assert_eq!(unhex::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(unhex::<2>(" 0aff\n"), Some([0x0a, 0xff]));
        assert_eq!(unhex::<2>("0af"), None);
        assert_eq!(unhex::<2>("0aff00"), None);
        assert_eq!(unhex::<2>("0a f"), None);
        assert_eq!(unhex::<2>("0agf"), None);
        assert_eq!(unhex::<2>("0a\u{e9}"), None);
        assert_eq!(
            PublicKey::parse(&"AB".repeat(32)).unwrap().as_str(),
            "ab".repeat(32)
        );
    }

    #[test]
    fn heads_verify_and_tampering_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = Key::load_or_create(&path).unwrap();
        assert_eq!(Key::load_or_create(&path).unwrap().public(), key.public());
        let head = key.sign(
            &SiteId::parse("demo").unwrap(),
            7,
            &RecordHash::parse(&"ab".repeat(32)).unwrap(),
            Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap(),
        );
        head.verify(Some(&key.public())).unwrap();
        let mut forged = head.clone();
        forged.seq = 8;
        assert!(forged.verify(None).is_err());
        let other = PublicKey::parse(&"00".repeat(32)).unwrap();
        assert!(head.verify(Some(&other)).is_err());
    }

    #[test]
    fn a_head_reads_back_as_written_and_a_malformed_one_is_no_head() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let key = Key::load_or_create(&dir.path().join("k")).unwrap();
        let head = key.sign(
            &SiteId::parse("demo").unwrap(),
            3,
            &RecordHash::parse(&"cd".repeat(32)).unwrap(),
            Timestamp::parse("2026-12-04T13:04:18.267Z").unwrap(),
        );
        let json = serde_json::to_value(&head).unwrap();

        // Act and assert: the JSON form keeps each field's text, and reads
        // back into the same head.
        assert_eq!(json["hash"], "cd".repeat(32));
        assert_eq!(json["signed_at"], "2026-12-04T13:04:18.267Z");
        assert_eq!(json["public_key"], key.public().as_str());
        let back: SignedHead = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, head);
        back.verify(Some(&key.public())).unwrap();
        // Each field in a wrong form is refused by name and value.
        for (field, bad) in [
            ("site_id", "Not A Site"),
            ("hash", "not-a-hash"),
            ("signed_at", "yesterday"),
            ("public_key", "00"),
            ("signature", "zz"),
        ] {
            let mut garbled = json.clone();
            garbled[field] = bad.into();
            let err = serde_json::from_value::<SignedHead>(garbled)
                .unwrap_err()
                .to_string();
            assert!(err.contains(bad), "{field}: {err}");
        }
    }
}
