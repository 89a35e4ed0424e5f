//! Offline verification of the consent log: every record's hash, the
//! chain's continuity per site, and the order. Used by `crumb verify
//! FILE.ndjson` (an export, [`verify_ndjson`], with [`check_head`] for a
//! signed head) and `crumb verify --db` (the live database,
//! [`verify_store`]).
//!
//! An export may cover only part of a site's chain (a date range): its
//! first record then cannot be linked to its predecessor, and the summary
//! says where each site's checked stretch starts. The summary also lists
//! the versions of the texts the records name, which [`check_texts`]
//! finds in the texts an auditor keeps with the export.
//!
//! Only a change to a record can make a log BROKEN. A file that is not an
//! export in the first place (UTF-16 text, [`unwrap`]; a CSV export, an
//! error answer, ..., [`recognise`]) or that was cut off mid-record is an
//! error in what was given; gzip, line endings, a byte order mark and
//! blank lines, which tools put around the records without touching them,
//! are passed over.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, Read};

use crumb_schema::{RecordHash, SiteId, TextHash};

use crate::record::{GENESIS_HASH, RecordBody, sha256_hex};
use crate::signing::{PublicKey, SignedHead};

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
    pub head_hash: RecordHash,
    /// Whether the stretch starts at the chain's genesis.
    pub from_genesis: bool,
    /// The first record's `prev_hash`: what an earlier stretch, or a purge
    /// checkpoint, must end with.
    pub first_prev_hash: RecordHash,
    /// The versions of the site's texts its records name (`text_hash`):
    /// what the visitors were shown.
    pub text_hashes: BTreeSet<TextHash>,
}

#[derive(Debug, Default)]
pub struct Verifier {
    summary: Summary,
    line: u64,
}

/// How an export line ends: the record's hash as its last field.
const HASH_KEY: &str = ",\"hash\":\"";
const LINE_END: &str = "\"}";
const HASH_SUFFIX_LEN: usize = HASH_KEY.len() + 64 + LINE_END.len();

/// What a record says about its place in its site's chain, once its own
/// hash has checked out. Working this out is the expensive part of
/// verifying (parsing and hashing) and needs no other record, so exports
/// are examined in parallel and only linked in order.
#[derive(Debug)]
struct Link {
    site_id: SiteId,
    seq: u64,
    prev_hash: RecordHash,
    hash: RecordHash,
    text_hash: TextHash,
}

/// Why a record is broken, before its line number is known.
type Flaw = (Option<u64>, String);

/// Checks one record on its own: a valid body whose SHA-256 is `hash`.
fn examine(canonical: &str, hash: &str) -> Result<Link, Flaw> {
    let body: RecordBody =
        serde_json::from_str(canonical).map_err(|e| (None, format!("not a valid record: {e}")))?;
    if sha256_hex(canonical.as_bytes()) != hash {
        return Err((
            Some(body.seq),
            "hash mismatch: the record was altered".into(),
        ));
    }
    // The record's bytes hash to it, so it has a hash's form.
    let hash = RecordHash::parse(hash).map_err(|e| (Some(body.seq), e.to_string()))?;
    Ok(Link {
        site_id: body.site_id,
        seq: body.seq,
        prev_hash: body.prev_hash,
        hash,
        text_hash: body.text_hash,
    })
}

/// Splits an export line into the record's canonical bytes (rebuilt in
/// `buf`, reused from line to line) and its hash, then examines it. A
/// blank line holds no record (`None`). A carriage return ending a line is
/// the line's ending, not the record's: Windows tools and Git's `autocrlf`
/// write `\r\n`, and NDJSON allows it.
fn examine_line(line: &[u8], buf: &mut String) -> Option<Result<Link, Flaw>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(examine_record_line(line, buf))
}

fn examine_record_line(line: &[u8], buf: &mut String) -> Result<Link, Flaw> {
    let line = std::str::from_utf8(line).map_err(|_| (None, "not UTF-8".to_owned()))?;
    let split = line
        .len()
        .checked_sub(HASH_SUFFIX_LEN)
        .filter(|&i| line.is_char_boundary(i));
    let Some(split) = split else {
        return Err((None, "not a Crumb export line (too short)".into()));
    };
    let (head, tail) = line.split_at(split);
    let hash = tail
        .strip_prefix(HASH_KEY)
        .and_then(|t| t.strip_suffix(LINE_END))
        .filter(|h| crumb_schema::is_sha256_hex(h))
        .ok_or_else(|| (None, "the line does not end with its hash".to_owned()))?;
    buf.clear();
    buf.push_str(head);
    buf.push('}');
    examine(buf, hash)
}

impl Verifier {
    /// Checks the next stored record (canonical bytes and hash).
    pub fn record(&mut self, canonical: &str, hash: &str) -> Result<(), Broken> {
        let examined = examine(canonical, hash);
        self.next(examined)
    }

    fn next(&mut self, examined: Result<Link, Flaw>) -> Result<(), Broken> {
        self.line += 1;
        let line = self.line;
        let link = examined.map_err(|(seq, reason)| Broken { line, seq, reason })?;
        self.link(link)
    }

    /// Passes over a line of an export that holds no record.
    fn blank(&mut self) {
        self.line += 1;
    }

    /// Links a record that checked out on its own into its site's chain.
    fn link(&mut self, l: Link) -> Result<(), Broken> {
        let line = self.line;
        let broken = |reason: String| Broken {
            line,
            seq: Some(l.seq),
            reason,
        };
        match self.summary.sites.get_mut(&l.site_id) {
            Some(site) => {
                if l.seq != site.last_seq + 1 {
                    return Err(broken(format!(
                        "expected seq {} after seq {}: a record was deleted or reordered",
                        site.last_seq + 1,
                        site.last_seq
                    )));
                }
                if l.prev_hash != site.head_hash {
                    return Err(broken(
                        "prev_hash is not the previous record's hash: the chain is broken".into(),
                    ));
                }
                site.last_seq = l.seq;
                site.head_hash = l.hash;
                site.text_hashes.insert(l.text_hash);
            }
            None => {
                let from_genesis = l.seq == 1;
                if from_genesis && l.prev_hash.as_str() != GENESIS_HASH {
                    return Err(broken("the first record does not start the chain".into()));
                }
                self.summary.sites.insert(
                    l.site_id,
                    SiteSummary {
                        first_seq: l.seq,
                        last_seq: l.seq,
                        head_hash: l.hash,
                        from_genesis,
                        first_prev_hash: l.prev_hash,
                        text_hashes: BTreeSet::from([l.text_hash]),
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

/// A line of the texts given to [`check_texts`] may be this long: a site's
/// banner and category texts in one language are a few kilobytes.
const MAX_TEXTS_LINE: u64 = 1 << 20;

/// Checks the texts an auditor keeps with an export (lines of
/// `GET /v1/audit/sites/{site}/texts`, [`crate::export::TextsLine`]):
/// that each version's texts hash to its `text_hash` (else they were
/// altered), and that every version the verified records name is among
/// them. Returns how many versions the records name.
pub fn check_texts(summary: &Summary, reader: impl BufRead) -> Result<usize, TextsError> {
    let mut kept = HashSet::new();
    let mut reader = reader.take(MAX_TEXTS_LINE + 1);
    let mut line = Vec::new();
    for n in 1.. {
        line.clear();
        reader.set_limit(MAX_TEXTS_LINE + 1);
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.len() as u64 > MAX_TEXTS_LINE {
            return Err(TextsError::Invalid(
                n,
                "longer than a line of texts may be".into(),
            ));
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let texts: crate::export::TextsLine =
            serde_json::from_slice(&line).map_err(|e| TextsError::Invalid(n, e.to_string()))?;
        if sha256_hex(texts.texts.as_bytes()) != texts.text_hash.as_str() {
            return Err(TextsError::Altered(n, texts.text_hash));
        }
        kept.insert((texts.site_id, texts.text_hash));
    }
    if kept.is_empty() {
        return Err(TextsError::Empty);
    }
    let mut named = 0;
    for (site, s) in &summary.sites {
        for hash in &s.text_hashes {
            named += 1;
            if !kept.contains(&(site.clone(), hash.clone())) {
                return Err(TextsError::Missing(site.clone(), hash.clone()));
            }
        }
    }
    Ok(named)
}

#[derive(Debug, thiserror::Error)]
pub enum TextsError {
    #[error("cannot read the texts: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {0} of the texts is not a version of a site's texts: {1}")]
    Invalid(u64, String),
    /// Most often a download that failed: nothing to check against.
    #[error("the texts file holds no texts (did the download fail?)")]
    Empty,
    #[error("line {0} of the texts: they do not hash to their text_hash {1}: they were altered")]
    Altered(u64, TextHash),
    #[error("the records of site {0} name texts {1}, which are not among the texts given")]
    Missing(SiteId, TextHash),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] Broken),
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
    /// The last line stops in the middle of a record: a download cut off,
    /// which says nothing about the log.
    #[error(
        "line {0} ends the file in the middle of a record: the export was cut off (download it \
         again)"
    )]
    CutOff(u64),
    /// A chain of the live log starts after seq 1 without a valid purge
    /// checkpoint.
    #[error("{0}")]
    Unanchored(String),
    #[error("cannot read the log: {0}")]
    Store(String),
    /// A purge checkpoint to check, and no key to check it with: the
    /// setup is incomplete, which says nothing about the log.
    #[error(
        "site {site}: records before seq {seq} were purged, and checking the purge's signed \
         checkpoint needs the server's signing key"
    )]
    KeyNeeded { site: String, seq: u64 },
}

/// What a file given as an export turned out to be instead, told by its
/// first line. Each is an error in what was given and says nothing about
/// the log, so none may read as BROKEN (tampered).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAnExport {
    /// What `curl -s` writes when the API refused the download.
    #[error("is an error answer of the API, not an export: {message} ({error})")]
    ErrorAnswer { error: String, message: String },
    #[error(
        "is a CSV export, which is for reading: crumb verify checks the NDJSON export (the \
         default format), which keeps every record's bytes as they were hashed"
    )]
    Csv,
    #[error(
        "is UTF-16 text, as Windows PowerShell's `>` writes a download: download it with \
         `curl.exe -o FILE` or `Invoke-WebRequest -OutFile FILE`, which keep its bytes"
    )]
    Utf16,
    #[error("is an HTML page, not an export (a proxy's or a login page's answer?)")]
    Html,
    #[error("is the site's texts (GET .../texts), not an export: give it with --texts")]
    Texts,
    #[error("is a signed head (GET .../head), not an export: give it with --head")]
    Head,
    #[error(
        "is JSON laid out anew (by `jq` or an editor), not the export as the server wrote it: \
         crumb verify needs one record per line, the bytes that were hashed"
    )]
    Reformatted,
}

/// UTF-8's byte order mark, which some Windows tools put before a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a file given to `crumb verify` (an export, or the texts kept with
/// it) is wrapped, told from its first bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Wrapping {
    /// Plain text after `skip` bytes (a UTF-8 byte order mark, which some
    /// Windows tools write and is no part of the content).
    Plain { skip: usize },
    /// gzip-compressed (an export kept as `log.ndjson.gz`), to be looked
    /// at again once unpacked.
    Gzip,
}

/// Tells how a file given to `crumb verify` is wrapped. UTF-16 text cannot
/// hold the bytes that were hashed.
pub fn unwrap(start: &[u8]) -> Result<Wrapping, NotAnExport> {
    if start.starts_with(b"\xFF\xFE") || start.starts_with(b"\xFE\xFF") {
        return Err(NotAnExport::Utf16);
    }
    if start.starts_with(b"\x1F\x8B") {
        return Ok(Wrapping::Gzip);
    }
    let skip = if start.starts_with(BOM) { BOM.len() } else { 0 };
    Ok(Wrapping::Plain { skip })
}

/// Tells from its first line (unwrapped) whether a file given to `crumb
/// verify` as an export is one.
pub fn recognise(first_line: &[u8]) -> Result<(), NotAnExport> {
    let first_line = first_line.trim_ascii();
    #[derive(serde::Deserialize)]
    struct ErrorAnswer {
        error: String,
        message: String,
    }
    if let Ok(ErrorAnswer { error, message }) = serde_json::from_slice(first_line) {
        return Err(NotAnExport::ErrorAnswer { error, message });
    }
    if first_line.starts_with(b"seq,record_id,") {
        return Err(NotAnExport::Csv);
    }
    if first_line.starts_with(b"<") {
        return Err(NotAnExport::Html);
    }
    if first_line == b"{" || first_line.starts_with(b"[") {
        return Err(NotAnExport::Reformatted);
    }
    if serde_json::from_slice::<crate::export::TextsLine>(first_line).is_ok() {
        return Err(NotAnExport::Texts);
    }
    if serde_json::from_slice::<crate::signing::SignedHead>(first_line).is_ok() {
        return Err(NotAnExport::Head);
    }
    Ok(())
}

/// Verifies an NDJSON export, line by line (constant memory).
/// Lines per block handed to a worker: large enough that passing blocks
/// around costs nothing next to hashing them.
const BLOCK_BYTES: usize = 1 << 20;

/// Verifies an NDJSON export. Records are parsed and hashed on every core
/// (blocks of lines go to worker threads); the chain is then linked in file
/// order on this thread, so the first broken line is reported exactly as a
/// sequential check would.
pub fn verify_ndjson(reader: impl BufRead + Send) -> Result<Summary, VerifyError> {
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Mutex};

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    std::thread::scope(|s| {
        let (block_tx, block_rx) = sync_channel::<(usize, Vec<u8>)>(workers * 2);
        let block_rx = Arc::new(Mutex::new(block_rx));
        let (done_tx, done_rx) =
            sync_channel::<(usize, Vec<Option<Result<Link, Flaw>>>)>(workers * 2);
        let reader = s.spawn(move || read_blocks(reader, &block_tx));
        for _ in 0..workers {
            let block_rx = block_rx.clone();
            let done_tx = done_tx.clone();
            s.spawn(move || {
                let mut buf = String::new();
                loop {
                    let next = block_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((i, block))) = next else { break };
                    let mut lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
                    // A block ends with a newline, which leaves one empty
                    // piece that is not a line.
                    if lines.last().is_some_and(|l| l.is_empty()) {
                        lines.pop();
                    }
                    let examined = lines
                        .into_iter()
                        .map(|l| examine_line(l, &mut buf))
                        .collect();
                    if done_tx.send((i, examined)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);

        let mut v = Verifier::default();
        let mut waiting = BTreeMap::new();
        let mut next_block = 0;
        for (i, examined) in done_rx.iter() {
            waiting.insert(i, examined);
            while let Some(examined) = waiting.remove(&next_block) {
                for e in examined {
                    match e {
                        Some(e) => v.next(e)?,
                        None => v.blank(),
                    }
                }
                next_block += 1;
            }
        }
        let cut = reader
            .join()
            .map_err(|_| std::io::Error::other("the reader thread panicked"))??;
        if cut {
            return Err(VerifyError::CutOff(v.line + 1));
        }
        Ok(v.finish())
    })
}

/// Cuts the input into blocks of whole lines, numbered in order. Returns
/// whether the input ended in the middle of a record (a last line without
/// its newline whose hash never completes), which is left out.
fn read_blocks(
    mut reader: impl Read,
    out: &std::sync::mpsc::SyncSender<(usize, Vec<u8>)>,
) -> std::io::Result<bool> {
    let mut carry = Vec::new();
    let mut i = 0;
    loop {
        let mut block = std::mem::take(&mut carry);
        block.resize(block.len() + BLOCK_BYTES, 0);
        let mut filled = block.len() - BLOCK_BYTES;
        let mut end = false;
        while filled < block.len() {
            match reader.read(&mut block[filled..]) {
                Ok(0) => {
                    end = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        block.truncate(filled);
        // Whatever follows the last newline belongs to the next block.
        match block.iter().rposition(|&b| b == b'\n') {
            Some(last) if !end => carry = block.split_off(last + 1),
            _ => {}
        }
        let mut cut = false;
        if end && !block.is_empty() && !block.ends_with(b"\n") {
            // A download that stopped early ends mid-line, before the
            // line's hash is complete. A whole record without the last
            // newline (an editor's save), or with bytes after its hash, is
            // still read and judged.
            let last_line = block.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if holds_a_whole_hash(&block[last_line..]) {
                block.push(b'\n');
            } else {
                cut = true;
                block.truncate(last_line);
            }
        }
        if !block.is_empty() && out.send((i, block)).is_err() {
            // Verification stopped at a broken line.
            return Ok(false);
        }
        if end {
            return Ok(cut);
        }
        i += 1;
    }
}

/// Whether an export line goes on to the end of its hash: `,"hash":"`,
/// 64 hex digits and `"}`. (No string in a record holds `,"hash":"`: its
/// quotes would be escaped.)
fn holds_a_whole_hash(line: &[u8]) -> bool {
    let key = HASH_KEY.as_bytes();
    let Some(at) = line.windows(key.len()).rposition(|w| w == key) else {
        return false;
    };
    let rest = &line[at + key.len()..];
    rest.len() >= 64 + LINE_END.len()
        && rest[..64].iter().all(u8::is_ascii_hexdigit)
        && rest[64..].starts_with(LINE_END.as_bytes())
}

/// An export must end exactly at the signed head of its site, signed with
/// one of the `trusted` public keys (the published ones; none given: only
/// that the head was not altered): proves nothing was cut off the end.
pub fn check_head(
    summary: &Summary,
    head: &SignedHead,
    trusted: &[PublicKey],
) -> Result<(), String> {
    match trusted {
        [] => head.verify(None)?,
        keys => {
            let key = keys
                .iter()
                .find(|k| **k == head.public_key)
                .ok_or("the head is signed by another key than the published one")?;
            head.verify(Some(key))?;
        }
    }
    let site = &head.site_id;
    let Some(s) = summary.sites.get(site) else {
        return Err(format!("the export has no records of site {site}"));
    };
    if s.last_seq < head.seq {
        return Err(format!(
            "the export ends at seq {} but the signed head is at seq {}: records are missing at the \
             end (a head proves a whole export, fetched with it, complete; an export of a range \
             that ends earlier cannot reach it)",
            s.last_seq, head.seq
        ));
    }
    if s.last_seq != head.seq || s.head_hash != head.hash {
        return Err(format!(
            "the export's last record (seq {}) is not the signed head (seq {})",
            s.last_seq, head.seq
        ));
    }
    Ok(())
}

/// Verifies the live log in `store`: every record (`Broken` at the first
/// that fails), then that a chain starts after seq 1 only where a purge
/// left a checkpoint signed with one of the `trusted` public keys (the
/// server's, and any the log was signed with before `crumb key
/// --replace`). Without a key, a log that no purge has cut still
/// verifies; a cut one does not. The keys come from the caller (a key
/// file, the command line), never from the log they check.
pub fn verify_store(
    store: &dyn crate::storage::Store,
    trusted: &[PublicKey],
) -> Result<Summary, VerifyError> {
    let mut verifier = Verifier::default();
    let mut broken = None;
    store
        .for_each_record(
            None,
            &crate::storage::TimeRange::all(),
            &mut |b, h| match verifier.record(b, h) {
                Ok(()) => true,
                Err(e) => {
                    broken = Some(e);
                    false
                }
            },
        )
        .map_err(|e| VerifyError::Store(e.to_string()))?;
    if let Some(b) = broken {
        return Err(VerifyError::Broken(b));
    }
    let summary = verifier.finish();
    for (site, s) in summary.sites.iter().filter(|(_, s)| !s.from_genesis) {
        // A checkpoint row not in the form Crumb writes was altered in the
        // database: the log is broken there, as with an altered record.
        let checkpoints = store.checkpoints(site).map_err(|e| match e {
            crate::storage::StoreError::Corrupt(why) => VerifyError::Unanchored(format!(
                "site {site}: a purge checkpoint was altered: {why}"
            )),
            e => VerifyError::Store(e.to_string()),
        })?;
        let cp = checkpoints
            .iter()
            .find(|c| c.seq + 1 == s.first_seq && c.hash == s.first_prev_hash)
            .ok_or_else(|| {
                VerifyError::Unanchored(format!(
                    "site {site}: records before seq {} are missing and no purge checkpoint covers them",
                    s.first_seq
                ))
            })?;
        if trusted.is_empty() {
            return Err(VerifyError::KeyNeeded {
                site: site.to_string(),
                seq: s.first_seq,
            });
        }
        let Some(key) = trusted.iter().find(|k| **k == cp.public_key) else {
            let trusted: Vec<&str> = trusted.iter().map(PublicKey::as_str).collect();
            return Err(VerifyError::Unanchored(format!(
                "site {site}: the checkpoint at seq {} is signed with key {}, not with one you \
                 trust ({}); if that is this log's key from before `crumb key --replace`, \
                 verify again with --public-key {}",
                cp.seq,
                cp.public_key,
                trusted.join(", "),
                cp.public_key
            )));
        };
        cp.verify(Some(key)).map_err(|why| {
            VerifyError::Unanchored(format!("site {site}: checkpoint at seq {}: {why}", cp.seq))
        })?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_told_from_its_first_line() {
        let record = br#"{"seq":1,"record_id":"x"}"#;
        assert_eq!(unwrap(record), Ok(Wrapping::Plain { skip: 0 }));
        assert_eq!(
            unwrap(&[BOM, record.as_slice()].concat()),
            Ok(Wrapping::Plain { skip: 3 })
        );
        assert_eq!(unwrap(b"\x1F\x8B\x08\x00"), Ok(Wrapping::Gzip));
        assert_eq!(unwrap(b""), Ok(Wrapping::Plain { skip: 0 }));
        assert_eq!(unwrap(b"\xFF\xFE{\x00"), Err(NotAnExport::Utf16));
        assert_eq!(recognise(record), Ok(()));
        assert_eq!(recognise(b""), Ok(()));
        for (start, is) in [
            (b"seq,record_id,site_id\n".as_slice(), NotAnExport::Csv),
            (b"  <!DOCTYPE html>", NotAnExport::Html),
            (b"{\n", NotAnExport::Reformatted),
            (b"[{\"seq\":1}]", NotAnExport::Reformatted),
        ] {
            assert_eq!(recognise(start), Err(is));
        }
        assert!(matches!(
            recognise(br#"{"error":"unauthorized","message":"no token"}"#),
            Err(NotAnExport::ErrorAnswer { .. })
        ));
    }

    #[test]
    fn line_endings_and_blank_lines_are_no_records() {
        let mut buf = String::new();
        assert!(examine_line(b"", &mut buf).is_none());
        assert!(examine_line(b"\r", &mut buf).is_none());
        assert!(examine_line(b"  \t", &mut buf).is_none());
        assert!(matches!(examine_line(b"{}\r", &mut buf), Some(Err(_))));
    }

    #[test]
    fn a_last_line_cut_mid_record_is_told_from_one_without_its_newline() {
        let read = |input: &[u8]| {
            let (tx, rx) = std::sync::mpsc::sync_channel(4);
            let cut = read_blocks(input, &tx).unwrap();
            drop(tx);
            (cut, rx.iter().flat_map(|(_, b)| b).collect::<Vec<u8>>())
        };
        assert_eq!(
            read(b"{\"a\":1}\n{\"b\":2}\r\n"),
            (false, b"{\"a\":1}\n{\"b\":2}\r\n".to_vec())
        );
        let h = "ab".repeat(32);
        let whole = format!("{{\"a\":1,\"hash\":\"{h}\"}}");
        for last in [whole.clone(), format!("{whole}\r"), format!("{whole}\x0B")] {
            assert_eq!(
                read(format!("{whole}\n{last}").as_bytes()),
                (false, format!("{whole}\n{last}\n").into_bytes())
            );
        }
        for cut in [&whole[..whole.len() - 1], &whole[..20], "{\"b\":"] {
            assert_eq!(
                read(format!("{whole}\n{cut}").as_bytes()),
                (true, format!("{whole}\n").into_bytes())
            );
        }
    }
}
