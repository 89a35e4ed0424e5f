//! `crumb copy` from PostgreSQL into a new SQLite file: the whole log
//! as stored (every record's bytes and hash, the purge checkpoints, the
//! sites, tokens and kept texts, the log's signing key), for an operator
//! leaving PostgreSQL, or a log to hand an auditor as one file.

use std::collections::BTreeSet;

use rusqlite::params;
use time::OffsetDateTime;

use super::SqliteStore;
use crate::record::Record;
use crate::signing::PublicKey;
use crate::storage::{Store, StoreError, TimeRange};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl SqliteStore {
    /// Copies everything `source` holds into this store, which must be new
    /// (a file `crumb copy` has just created), in one transaction: a copy
    /// that fails leaves nothing. Records are streamed from one snapshot
    /// of the source, so memory stays constant; a purge the source runs
    /// meanwhile is repeated here, and records written after the snapshot
    /// are not copied (the chains end where the snapshot saw them). `key`
    /// is recorded as the log's signing key (at `now`). `progress` is
    /// called with the records copied so far. Returns how many.
    pub fn copy_from(
        &self,
        source: &dyn Store,
        key: Option<&PublicKey>,
        now: OffsetDateTime,
        progress: &dyn Fn(u64),
    ) -> Result<u64, StoreError> {
        let mut write = self.write.lock().unwrap();
        let tx = write
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let held: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM sites) + (SELECT count(*) FROM tokens)
                  + (SELECT count(*) FROM records) + (SELECT count(*) FROM checkpoints)",
            [],
            |r| r.get(0),
        )?;
        if held > 0 {
            return Err(StoreError::Corrupt(
                "crumb copy writes into a new SQLite file only".into(),
            ));
        }
        let mut copied = 0u64;
        let mut failed = None;
        {
            let mut insert = tx.prepare(
                "INSERT INTO records (site_id, seq, consent_id, event, event_time, body, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            source.for_each_record(None, &TimeRange::all(), &mut |body, hash| {
                let inserted = Record::from_stored(body.to_owned(), hash)
                    .map_err(corrupt)
                    .and_then(|r| {
                        let b = &r.body;
                        insert.execute(params![
                            b.site_id.as_str(),
                            b.seq as i64,
                            b.consent_id.as_str(),
                            b.event.as_str(),
                            b.event_time.to_string(),
                            r.canonical,
                            r.hash.as_str(),
                        ])?;
                        Ok(())
                    });
                if let Err(e) = inserted {
                    failed = Some(e);
                    return false;
                }
                copied += 1;
                if copied.is_multiple_of(10_000) {
                    progress(copied);
                }
                true
            })?;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        progress(copied);
        let sites = source.site_rows()?;
        // Checkpoints of every site known by name or by its log as the
        // source holds it now (a site whose records were all purged has
        // only those). A purge the source ran after the snapshot is
        // repeated: its checkpoint says where its chain now starts.
        let mut logged: BTreeSet<_> = source.logged_sites()?.into_iter().collect();
        logged.extend(sites.iter().map(|r| r.config.id.clone()));
        for site in &logged {
            for cp in source.checkpoints(site)? {
                let seq = cp.seq as i64;
                tx.execute(
                    "DELETE FROM records WHERE site_id = ?1 AND seq <= ?2",
                    params![cp.site_id.as_str(), seq],
                )?;
                tx.execute(
                    "INSERT INTO checkpoints (site_id, seq, hash, created_at, public_key, signature)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        cp.site_id.as_str(),
                        seq,
                        cp.hash.as_str(),
                        cp.signed_at.to_string(),
                        cp.public_key.as_str(),
                        cp.signature.as_str()
                    ],
                )?;
            }
        }
        for row in &sites {
            let config = serde_json::to_string(&*row.config).expect("a site config serialises");
            tx.execute(
                "INSERT INTO sites (id, config, revision, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.config.id.as_str(),
                    config,
                    row.config.revision.get() as i64,
                    row.created_at.to_string(),
                    row.updated_at.to_string(),
                ],
            )?;
        }
        for (token, secret_hash) in source.tokens()? {
            tx.execute(
                "INSERT INTO tokens (id, secret_hash, role, site_id, label, created_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    token.id.as_str(),
                    secret_hash.as_str(),
                    token.role.as_str(),
                    token.site.as_ref().map(|s| s.as_str()),
                    token.label,
                    token.created_at.to_string(),
                    token.revoked_at.map(|t| t.to_string()),
                ],
            )?;
        }
        for (site, notice, first_seen) in source.kept_notices(None)? {
            tx.execute(
                "INSERT INTO notices (site_id, text_hash, language, texts, first_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    site.as_str(),
                    notice.text_hash.as_str(),
                    notice.language.as_str(),
                    notice.texts,
                    first_seen.to_string(),
                ],
            )?;
        }
        if let Some(key) = key {
            tx.execute(
                "INSERT INTO log_key (id, public_key, recorded_at) VALUES (1, ?1, ?2)",
                params![key.as_str(), crate::timefmt::format(now)],
            )?;
        }
        tx.commit()?;
        // Everything into the database file itself, so the file alone is
        // the whole copy (`crumb copy` renames it when it has verified).
        write
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        // The copy's heads are read from what it now holds.
        write.heads.heads.clear();
        drop(write);
        crate::storage::site_cache::sites_changed();
        Ok(copied)
    }
}
