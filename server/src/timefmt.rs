//! The one textual form of instants in records: RFC 3339 in UTC with
//! exactly three fractional digits (`2026-11-23T18:20:00.123Z`). A fixed
//! width makes the strings sort in time order inside SQLite, and a single
//! form keeps the hashed record bytes reproducible.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Drops everything below a millisecond and moves to UTC.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let ms = t.millisecond();
    t.replace_nanosecond(u32::from(ms) * 1_000_000)
        .expect("a whole number of milliseconds is a valid nanosecond")
}

pub fn format(t: OffsetDateTime) -> String {
    truncate(t)
        .format(FORMAT)
        .expect("formatting a UTC instant with a static description cannot fail")
}

pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn fixed_width_and_round_trip() {
        let t = datetime!(2026-02-03 04:05:06.789123 +01:00);
        let s = format(t);
        assert_eq!(s, "2026-02-03T03:05:06.789Z");
        assert_eq!(parse(&s).unwrap(), truncate(t));
        assert_eq!(
            format(datetime!(2026-01-01 00:00 UTC)),
            "2026-01-01T00:00:00.000Z"
        );
    }
}
