//! Offline verification of the consent log: every record's hash, the
//! chain's continuity per site, and the order. Used by `crumb verify
//! FILE.ndjson` (an export) and `crumb verify --db` (the live database).
//!
//! An export may cover only part of a site's chain (a date range): its
//! first record then cannot be linked to its predecessor, and the summary
//! says where each site's checked stretch starts.

use std::collections::BTreeMap;
use std::io::BufRead;

use crumb_schema::SiteId;

use crate::record::{GENESIS_HASH, RecordBody, sha256_hex};

/// The first record that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {line}{}: {reason}", seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
pub struct Broken {
    /// 1-based line number in the file, or position in the database scan.
    pub line: u64,
    pub seq: Option<u64>,
    pub reason: String,
}

/// What verified, per site: the first and last chain positions seen and
/// the hash of the last record (the chain head).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub sites: BTreeMap<SiteId, SiteSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSummary {
    pub first_seq: u64,
    pub last_seq: u64,
    pub head_hash: String,
    /// Whether the stretch starts at the chain's genesis.
    pub from_genesis: bool,
    /// The first record's `prev_hash`: what an earlier stretch, or a purge
    /// checkpoint, must end with.
    pub first_prev_hash: String,
}

#[derive(Debug, Default)]
pub struct Verifier {
    summary: Summary,
    line: u64,
}

const HASH_SUFFIX_LEN: usize = ",\"hash\":\"".len() + 64 + "\"}".len();

impl Verifier {
    /// Checks one NDJSON export line: the bytes before the hash must hash
    /// to it exactly.
    pub fn line(&mut self, line: &str) -> Result<(), Broken> {
        self.line += 1;
        let broken = |reason: String| Broken {
            line: self.line,
            seq: None,
            reason,
        };
        let split = line
            .len()
            .checked_sub(HASH_SUFFIX_LEN)
            .filter(|&i| line.is_char_boundary(i));
        let Some(split) = split else {
            return Err(broken("not a Crumb export line (too short)".into()));
        };
        let (head, tail) = line.split_at(split);
        let hash = tail
            .strip_prefix(",\"hash\":\"")
            .and_then(|t| t.strip_suffix("\"}"))
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .ok_or_else(|| broken("the line does not end with its hash".into()))?;
        let canonical = format!("{head}}}");
        self.check(&canonical, hash)
    }

    /// Checks one stored record (canonical bytes and hash), in chain order.
    pub fn record(&mut self, canonical: &str, hash: &str) -> Result<(), Broken> {
        self.line += 1;
        self.check(canonical, hash)
    }

    fn check(&mut self, canonical: &str, hash: &str) -> Result<(), Broken> {
        let line = self.line;
        let body: RecordBody = serde_json::from_str(canonical).map_err(|e| Broken {
            line,
            seq: None,
            reason: format!("not a valid record: {e}"),
        })?;
        let broken = |reason: String| Broken {
            line,
            seq: Some(body.seq),
            reason,
        };
        if sha256_hex(canonical.as_bytes()) != hash {
            return Err(broken("hash mismatch: the record was altered".into()));
        }
        match self.summary.sites.get_mut(&body.site_id) {
            Some(site) => {
                if body.seq != site.last_seq + 1 {
                    return Err(broken(format!(
                        "expected seq {} after seq {}: a record was deleted or reordered",
                        site.last_seq + 1,
                        site.last_seq
                    )));
                }
                if body.prev_hash != site.head_hash {
                    return Err(broken(
                        "prev_hash is not the previous record's hash: the chain is broken".into(),
                    ));
                }
                site.last_seq = body.seq;
                site.head_hash = hash.to_owned();
            }
            None => {
                let from_genesis = body.seq == 1;
                if from_genesis && body.prev_hash != GENESIS_HASH {
                    return Err(broken("the first record does not start the chain".into()));
                }
                self.summary.sites.insert(
                    body.site_id.clone(),
                    SiteSummary {
                        first_seq: body.seq,
                        last_seq: body.seq,
                        head_hash: hash.to_owned(),
                        from_genesis,
                        first_prev_hash: body.prev_hash.clone(),
                    },
                );
            }
        }
        self.summary.records += 1;
        Ok(())
    }

    pub fn finish(self) -> Summary {
        self.summary
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] Broken),
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Verifies an NDJSON export, line by line (constant memory).
pub fn verify_ndjson(reader: impl BufRead) -> Result<Summary, VerifyError> {
    let mut v = Verifier::default();
    for line in reader.split(b'\n') {
        let line = line?;
        let text = std::str::from_utf8(&line).map_err(|_| Broken {
            line: v.line + 1,
            seq: None,
            reason: "not UTF-8".into(),
        })?;
        v.line(text)?;
    }
    Ok(v.finish())
}
