//! The consent rules that the server enforces and the widget mirrors: when
//! a consent expires and whether it still counts.

use time::{Date, OffsetDateTime};

use crate::{ConsentState, Event, PolicyRevision, ValidityMonths};

/// The instant a consent given at `given_at` stops counting: the same
/// wall-clock time, `months` calendar months later. A day that does not
/// exist in the target month is clamped to the month's last day, so a
/// two-year consent given on 29 February expires on 28 February.
pub fn expires_at(given_at: OffsetDateTime, months: ValidityMonths) -> OffsetDateTime {
    let months_total =
        given_at.year() * 12 + i32::from(u8::from(given_at.month())) - 1 + i32::from(months.get());
    let year = months_total.div_euclid(12);
    let month = time::Month::try_from((months_total.rem_euclid(12) + 1) as u8)
        .expect("a remainder of 12 plus one is a month");
    given_at.replace_date(day_in_month(year, month, given_at.day()))
}

/// `day` of `month` in `year`, or the month's last day when it has no such
/// day (31 April is 30 April; 29 February of a common year is the 28th).
fn day_in_month(year: i32, month: time::Month, day: u8) -> Date {
    // Walk back from the day until the date exists (at most three steps:
    // 31 -> 28).
    (0..4)
        .find_map(|back| Date::from_calendar_date(year, month, day - back).ok())
        .expect("every month has at least 28 days")
}

/// The latest instant before which a site's records may be purged at
/// `now`: two calendar years earlier (29 February → 28 February), the
/// longest a consent can last. Every record given before it has expired
/// whatever its site's validity, so a purge up to here deletes no proof of
/// a consent that still counts; a later cutoff could, and the server
/// would then call a visitor's standing choice unknown.
pub fn purge_cutoff(now: OffsetDateTime) -> OffsetDateTime {
    let year = now.year() - i32::from(ValidityMonths::MAX.get() / 12);
    now.replace_date(day_in_month(year, now.month(), now.day()))
}

/// The state of a consent whose latest event is `event`, as of `now`.
///
/// A withdrawal always wins; then expiry (valid strictly before
/// `expires_at`, so the boundary instant is already expired); then the
/// policy revision, which must be the site's current one.
pub fn state(
    event: Event,
    expires_at: OffsetDateTime,
    revision: PolicyRevision,
    current_revision: PolicyRevision,
    now: OffsetDateTime,
) -> ConsentState {
    if event == Event::Withdrawn {
        ConsentState::Withdrawn
    } else if event == Event::Expired || now >= expires_at {
        ConsentState::Expired
    } else if revision != current_revision {
        ConsentState::OutdatedRevision
    } else {
        ConsentState::Valid
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const TWO_YEARS: ValidityMonths = ValidityMonths::MAX;

    #[test]
    fn a_purge_up_to_the_cutoff_leaves_every_consent_that_may_count() {
        for now in [
            datetime!(2026-12-03 09:30:00.123 UTC),
            datetime!(2028-02-29 12:00 UTC),
            datetime!(2027-03-01 00:00 UTC),
        ] {
            let cutoff = purge_cutoff(now);
            // A consent given at the cutoff has expired by now, even at the
            // longest validity; one given a moment later may still count.
            assert!(expires_at(cutoff, TWO_YEARS) <= now, "{now}");
            let later = cutoff + Duration::days(1);
            assert!(expires_at(later, TWO_YEARS) > now, "{now}");
        }
        assert_eq!(
            purge_cutoff(datetime!(2028-02-29 12:00 UTC)),
            datetime!(2026-02-28 12:00 UTC)
        );
    }

    #[test]
    fn two_calendar_years_later_same_instant() {
        assert_eq!(
            expires_at(datetime!(2025-03-14 09:26:53 UTC), TWO_YEARS),
            datetime!(2027-03-14 09:26:53 UTC)
        );
    }

    #[test]
    fn leap_day_expires_on_28_february() {
        assert_eq!(
            expires_at(datetime!(2024-02-29 23:59:59 UTC), TWO_YEARS),
            datetime!(2026-02-28 23:59:59 UTC)
        );
    }

    #[test]
    fn leap_day_to_leap_year_keeps_29_february() {
        let four_years_from_leap_day = expires_at(
            expires_at(datetime!(2024-02-29 12:00 UTC), TWO_YEARS),
            TWO_YEARS,
        );
        // Clamping is not undone: 2024-02-29 -> 2026-02-28 -> 2028-02-28.
        assert_eq!(four_years_from_leap_day, datetime!(2028-02-28 12:00 UTC));
    }

    #[test]
    fn shorter_validity_clamps_month_ends() {
        let one = ValidityMonths::parse(1).unwrap();
        assert_eq!(
            expires_at(datetime!(2025-01-31 10:00 UTC), one),
            datetime!(2025-02-28 10:00 UTC)
        );
        assert_eq!(
            expires_at(datetime!(2025-12-15 10:00 UTC), one),
            datetime!(2026-01-15 10:00 UTC)
        );
    }

    #[test]
    fn validity_above_two_years_cannot_exist() {
        assert!(ValidityMonths::parse(25).is_err());
        assert!(ValidityMonths::parse(0).is_err());
        assert_eq!(ValidityMonths::default(), ValidityMonths::MAX);
    }

    fn state_at(now: OffsetDateTime) -> ConsentState {
        let expires = datetime!(2027-01-01 00:00 UTC);
        state(
            Event::Given,
            expires,
            PolicyRevision::FIRST,
            PolicyRevision::FIRST,
            now,
        )
    }

    #[test]
    fn valid_until_the_instant_before_expiry() {
        let expires = datetime!(2027-01-01 00:00 UTC);
        assert_eq!(
            state_at(expires - Duration::nanoseconds(1)),
            ConsentState::Valid
        );
        assert_eq!(state_at(expires), ConsentState::Expired);
        assert_eq!(state_at(expires + Duration::days(1)), ConsentState::Expired);
    }

    #[test]
    fn revision_mismatch_is_outdated() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let expires = datetime!(2027-01-01 00:00 UTC);
        let r1 = PolicyRevision::FIRST;
        assert_eq!(
            state(Event::Updated, expires, r1, r1.next(), now),
            ConsentState::OutdatedRevision
        );
        assert_eq!(
            state(Event::Updated, expires, r1, r1, now),
            ConsentState::Valid
        );
    }

    #[test]
    fn withdrawal_wins_over_everything() {
        let now = datetime!(2030-01-01 00:00 UTC);
        let expires = datetime!(2027-01-01 00:00 UTC);
        let r1 = PolicyRevision::FIRST;
        assert_eq!(
            state(Event::Withdrawn, expires, r1, r1.next(), now),
            ConsentState::Withdrawn
        );
    }

    #[test]
    fn expired_event_is_expired_even_before_the_date() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let expires = datetime!(2027-01-01 00:00 UTC);
        let r1 = PolicyRevision::FIRST;
        assert_eq!(
            state(Event::Expired, expires, r1, r1, now),
            ConsentState::Expired
        );
    }
}
