//! The one textual form of instants in records: RFC 3339 in UTC with
//! exactly three fractional digits (`2026-11-23T18:20:00.123Z`,
//! `crumb_schema::instant`, which receipts and lookups use too). A fixed
//! width makes the strings sort in time order inside SQLite, and a single
//! form keeps the hashed record bytes reproducible.

use time::{OffsetDateTime, UtcOffset};

/// Drops everything below a millisecond and moves to UTC.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let ms = t.millisecond();
    t.replace_nanosecond(u32::from(ms) * 1_000_000)
        .expect("a whole number of milliseconds is a valid nanosecond")
}

pub fn format(t: OffsetDateTime) -> String {
    crumb_schema::instant::format(t)
}

pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
}

/// An instant as records hold it: UTC, whole milliseconds. It is written
/// only in the one textual form, and read back only from it (anything else
/// is refused), so a record's bytes and the instant they name agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp(OffsetDateTime);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an instant like 2026-01-31T12:00:00.000Z")]
pub struct TimestampError(String);

impl Timestamp {
    /// The instant `t`, to the millisecond below it, in UTC.
    pub fn at(t: OffsetDateTime) -> Timestamp {
        Timestamp(truncate(t))
    }

    /// Reads the one textual form (fixed width, so digit by digit: exports
    /// are verified a million records at a time).
    pub fn parse(s: &str) -> Result<Timestamp, TimestampError> {
        let refused = || TimestampError(s.chars().take(40).collect());
        let b = s.as_bytes();
        let shape = b.len() == 24
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'.',
                23 => c == b'Z',
                _ => c.is_ascii_digit(),
            });
        if !shape {
            return Err(refused());
        }
        let n = |from: usize, to: usize| {
            b[from..to]
                .iter()
                .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
        };
        let month = time::Month::try_from(n(5, 7) as u8).map_err(|_| refused())?;
        let date = time::Date::from_calendar_date(n(0, 4) as i32, month, n(8, 10) as u8)
            .map_err(|_| refused())?;
        let clock = time::Time::from_hms_milli(
            n(11, 13) as u8,
            n(14, 16) as u8,
            n(17, 19) as u8,
            n(20, 23) as u16,
        )
        .map_err(|_| refused())?;
        Ok(Timestamp(
            time::PrimitiveDateTime::new(date, clock).assume_utc(),
        ))
    }

    pub fn get(self) -> OffsetDateTime {
        self.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an instant like 2026-01-31T12:00:00.000Z")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Timestamp, E> {
                Timestamp::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
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

    #[test]
    fn a_timestamp_reads_back_only_its_one_form() {
        let t = Timestamp::at(datetime!(2026-02-03 04:05:06.789123 +01:00));
        assert_eq!(t.to_string(), "2026-02-03T03:05:06.789Z");
        assert_eq!(Timestamp::parse("2026-02-03T03:05:06.789Z"), Ok(t));
        assert_eq!(
            Timestamp::parse("2024-02-29T23:59:59.999Z").unwrap().get(),
            datetime!(2024-02-29 23:59:59.999 UTC)
        );
        for other in [
            "2026-02-03T03:05:06Z",
            "2026-02-03T03:05:06.789+00:00",
            "2026-02-30T03:05:06.789Z",
            "2026-13-03T03:05:06.789Z",
            "2026-02-03T24:05:06.789Z",
            "2026-02-03 03:05:06.789Z",
            "",
        ] {
            assert!(Timestamp::parse(other).is_err(), "{other}");
        }
    }
}
