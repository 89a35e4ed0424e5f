//! A consent record: one event in a consent's life (given, updated,
//! withdrawn, expired), as stored, exported and verified.
//!
//! The record's canonical bytes are `serde_json::to_string(&RecordBody)`:
//! fields in declaration order, no whitespace. Those exact bytes are stored
//! and hashed with SHA-256; the body names the previous record's hash, so
//! each site's records form a chain that any change, deletion or
//! reordering breaks.

use std::collections::BTreeMap;

use crumb_schema::{
    Category, Choices, ConsentId, Event, IdError, LanguageTag, Method, PolicyRevision, RecordHash,
    RecordId, ServiceId, SiteId, TextHash,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::timefmt::Timestamp;

/// The `prev_hash` of a site's first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed part of a record. Field order is part of the format: do not
/// reorder fields, only append new optional ones with a new format version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// Position in the site's chain, from 1.
    pub seq: u64,
    pub record_id: RecordId,
    pub site_id: SiteId,
    pub consent_id: ConsentId,
    pub event: Event,
    /// RFC 3339, UTC, milliseconds (see `timefmt`).
    pub event_time: Timestamp,
    pub expires_at: Timestamp,
    pub policy_revision: PolicyRevision,
    pub policy_url: String,
    pub language: LanguageTag,
    pub text_hash: TextHash,
    pub method: Method,
    pub categories_granted: Vec<Category>,
    pub categories_denied: Vec<Category>,
    pub services_granted: Vec<ServiceId>,
    pub services_denied: Vec<ServiceId>,
    pub user_agent: String,
    /// The visitor's network, never the full address.
    pub ip_network: String,
    pub prev_hash: RecordHash,
    /// The request carried the browser's Global Privacy Control signal
    /// (`Sec-GPC: 1`), part of the collection context beside the user
    /// agent and network. Written only when true, so the canonical bytes
    /// (and hashes) of records without it are what they always were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpc: bool,
}

/// A stored record: the canonical body bytes and their hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub body: RecordBody,
    pub canonical: String,
    pub hash: RecordHash,
}

/// Why stored bytes are not a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a record body: {0}")]
    Body(#[from] serde_json::Error),
    #[error(transparent)]
    Hash(#[from] IdError),
}

impl RecordBody {
    pub fn choices(&self) -> Choices {
        let mut categories = BTreeMap::new();
        for c in &self.categories_granted {
            categories.insert(*c, true);
        }
        for c in &self.categories_denied {
            categories.insert(*c, false);
        }
        let mut services = BTreeMap::new();
        for s in &self.services_granted {
            services.insert(s.clone(), true);
        }
        for s in &self.services_denied {
            services.insert(s.clone(), false);
        }
        Choices {
            categories,
            services,
        }
    }

    /// Seals the body: computes its canonical bytes and their hash.
    pub fn seal(self) -> Record {
        let canonical = self.canonical();
        Record::hashed(self, canonical)
    }

    fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a record body has only string-keyed plain data")
    }

    /// The body's canonical bytes made now, without its place in the
    /// chain, which [`Unchained::chain`] puts in later. The body's own
    /// `seq` and `prev_hash` are ignored.
    pub fn unchained(mut self) -> Unchained {
        self.seq = 0;
        self.prev_hash = RecordHash::genesis();
        let canonical = self.canonical();
        // The placeholder hash is the last string in the bytes: only the
        // optional `gpc` flag comes after it, and no text field can hold
        // an unescaped quote, so the key's last occurrence is the field.
        let prev_hash_at = canonical
            .rfind(PREV_HASH_KEY)
            .expect("every record body has a prev_hash")
            + PREV_HASH_KEY.len();
        debug_assert!(canonical.starts_with(SEQ_ZERO));
        debug_assert_eq!(
            &canonical[prev_hash_at..prev_hash_at + GENESIS_HASH.len()],
            GENESIS_HASH
        );
        Unchained {
            body: self,
            canonical,
            prev_hash_at,
        }
    }
}

/// How a canonical body with `seq` 0 begins (the field comes first).
const SEQ_ZERO: &str = "{\"seq\":0";
/// What comes right before the `prev_hash` value in a canonical body.
const PREV_HASH_KEY: &str = ",\"prev_hash\":\"";

/// A record body and its canonical bytes, made before the record's place
/// in its site's chain is known: `seq` and `prev_hash` are the only
/// fields that need the chain's order, so an HTTP worker makes the rest
/// (its JSON, with every text escaped), and the single writer only puts
/// the two in and hashes. The bytes are exactly [`RecordBody::seal`]'s:
/// the hash's definition is the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Unchained {
    body: RecordBody,
    /// Canonical bytes with `seq` 0 and the genesis hash as `prev_hash`.
    canonical: String,
    /// Where the placeholder `prev_hash` value starts in `canonical`.
    prev_hash_at: usize,
}

impl Unchained {
    /// The sealed record at position `seq` of its chain, after the record
    /// whose hash is `prev_hash`.
    pub fn chain(&self, seq: u64, prev_hash: RecordHash) -> Record {
        let after_seq = &self.canonical[SEQ_ZERO.len()..self.prev_hash_at];
        let after_hash = &self.canonical[self.prev_hash_at + GENESIS_HASH.len()..];
        let mut canonical = String::with_capacity(self.canonical.len() + 20);
        canonical.push_str("{\"seq\":");
        canonical.push_str(&seq.to_string());
        canonical.push_str(after_seq);
        canonical.push_str(prev_hash.as_str());
        canonical.push_str(after_hash);
        let body = RecordBody {
            seq,
            prev_hash,
            ..self.body.clone()
        };
        Record::hashed(body, canonical)
    }
}

impl Record {
    /// The record of `body` whose canonical bytes are `canonical`.
    fn hashed(body: RecordBody, canonical: String) -> Record {
        let hash = RecordHash::parse(&sha256_hex(canonical.as_bytes()))
            .expect("SHA-256 in lowercase hex is a record hash");
        Record {
            body,
            canonical,
            hash,
        }
    }

    /// Rebuilds a record from stored bytes, checking that they are the
    /// canonical form of a body (so re-sealing gives the same hash).
    pub fn from_stored(canonical: String, hash: &str) -> Result<Record, RecordError> {
        let body: RecordBody = serde_json::from_str(&canonical)?;
        Ok(Record {
            body,
            canonical,
            hash: RecordHash::parse(hash)?,
        })
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    // Into a buffer on the stack, not `hex::encode` (which collects its
    // digits one `char` at a time, about 4x slower here): this runs for
    // every record written and verified.
    let mut digits = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(bytes), &mut digits)
        .expect("a SHA-256 digest is 32 bytes, 64 hex digits");
    std::str::from_utf8(&digits)
        .expect("hex digits are ASCII")
        .to_owned()
}

/// A record's choices split into granted and denied lists, as stored.
pub fn split_choices(
    choices: &Choices,
) -> (Vec<Category>, Vec<Category>, Vec<ServiceId>, Vec<ServiceId>) {
    let (cg, cd) = choices.split_categories();
    let (sg, sd) = choices.split_services();
    (cg, cd, sg, sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_the_digest_in_64_lowercase_hex_digits() {
        // FIPS 180-2's test vectors.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn body() -> RecordBody {
        RecordBody {
            seq: 1,
            record_id: RecordId::time_ordered(1_780_000_000_000, [9; 10]),
            site_id: SiteId::parse("demo").unwrap(),
            consent_id: ConsentId::from_random_bytes([7; 16]),
            event: Event::Given,
            event_time: Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap(),
            expires_at: Timestamp::parse("2028-01-01T00:00:00.000Z").unwrap(),
            policy_revision: PolicyRevision::FIRST,
            policy_url: "https://example.com/cookies".into(),
            language: LanguageTag::parse("en").unwrap(),
            text_hash: TextHash::parse(&"a".repeat(64)).unwrap(),
            method: Method::Custom,
            categories_granted: vec![Category::Necessary, Category::Analytics],
            categories_denied: vec![Category::Marketing],
            services_granted: vec![ServiceId::parse("hotjar").unwrap()],
            services_denied: vec![],
            user_agent: "UA, with \"quotes\"\nand newline".into(),
            ip_network: "203.0.113.0/24".into(),
            prev_hash: RecordHash::genesis(),
            gpc: false,
        }
    }

    #[test]
    fn sealing_is_deterministic_and_round_trips() {
        let a = body().seal();
        let b = Record::from_stored(a.canonical.clone(), a.hash.as_str()).unwrap();
        assert_eq!(b.body.clone().seal().canonical, a.canonical);
        assert_eq!(b.body.seal().hash, a.hash);
        assert_eq!(a.hash.as_str().len(), 64);
    }

    #[test]
    fn the_gpc_flag_is_written_only_when_set() {
        // Records from before the flag keep their bytes, so their hashes.
        let without = body().seal();
        assert!(!without.canonical.contains("gpc"));
        assert!(
            without
                .canonical
                .ends_with(&format!("\"prev_hash\":\"{GENESIS_HASH}\"}}"))
        );
        let with = RecordBody {
            gpc: true,
            ..body()
        }
        .seal();
        assert!(
            with.canonical.ends_with(",\"gpc\":true}"),
            "{}",
            with.canonical
        );
        let back = Record::from_stored(with.canonical.clone(), with.hash.as_str()).unwrap();
        assert!(back.body.gpc);
        assert_eq!(back.body.seal().hash, with.hash);
    }

    #[test]
    fn a_record_chained_after_its_bytes_were_made_is_the_record_sealed_whole() {
        // Texts that a visitor's browser sends, escaped by the JSON writer,
        // the prev_hash key among them; the flag on and off; positions
        // whose digits differ in number from the placeholder's.
        let agents = [
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0",
            "UA, with \"quotes\"\nand newline",
            "evil,\"prev_hash\":\"00ff\",\"gpc\":true}",
            "back\\slash \u{1} \u{7f} ünïcödé 🍪",
            "",
        ];
        let prev = RecordHash::parse(&"ab".repeat(32)).unwrap();
        for agent in agents {
            for gpc in [false, true] {
                for seq in [1, 9, 10, 12_345, u64::MAX] {
                    let mut whole = RecordBody {
                        user_agent: agent.into(),
                        gpc,
                        ..body()
                    };
                    whole.seq = seq;
                    whole.prev_hash = prev.clone();
                    let unchained = whole.clone().unchained();
                    assert_eq!(unchained.chain(seq, prev.clone()), whole.seal());
                }
            }
        }
    }

    #[test]
    fn any_change_changes_the_hash() {
        let a = body().seal();
        let mut changed = body();
        changed.categories_granted.pop();
        assert_ne!(changed.seal().hash, a.hash);
    }
}
