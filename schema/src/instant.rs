//! The one textual form of instants on the wire and in records: RFC 3339
//! in UTC with exactly three fractional digits (`2026-11-23T18:20:00.120Z`).
//! A receipt's `given_at` is then the very text of its record's
//! `event_time`, and a reader with a fixed-width pattern (Python's
//! `strptime("%Y-%m-%dT%H:%M:%S.%fZ")`) reads every answer, not only those
//! whose milliseconds are not a multiple of ten.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `t` in UTC, to the millisecond below it.
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(FORMAT)
        .expect("formatting a UTC instant with a static description cannot fail")
}

/// For `#[serde(with = "crumb_schema::instant")]`: written in the one
/// form, read as any RFC 3339 instant.
pub fn serialize<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    time::serde::rfc3339::deserialize(d)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn every_instant_has_three_fractional_digits_in_utc() {
        assert_eq!(
            format(datetime!(2026-01-15 10:00 UTC)),
            "2026-01-15T10:00:00.000Z"
        );
        assert_eq!(
            format(datetime!(2026-01-15 11:00:00.12 +01:00)),
            "2026-01-15T10:00:00.120Z"
        );
        assert_eq!(
            format(datetime!(2026-01-15 10:00:00.123999 UTC)),
            "2026-01-15T10:00:00.123Z"
        );
    }
}
