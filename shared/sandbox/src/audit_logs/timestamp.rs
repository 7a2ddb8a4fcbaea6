//! Audit-log instants as Graph shows them: UTC, 100-nanosecond precision, seven fractional digits.
//!
//! Graph serialises `activityDateTime` and `createdDateTime` as .NET `DateTimeOffset` values in UTC
//! with 7 fractional digits (`2026-11-26T21:03:12.1234567Z`), so the sandbox keeps every record's
//! time as 100 ns ticks since the Unix epoch: what a record shows is exactly what it is sorted and
//! filtered by. `$filter` literals may carry fewer or more digits; they are compared as exact
//! instants ([`parse_nanos`]), and the query turns them into tick bounds with the right rounding.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 100-nanosecond ticks since 1970-01-01T00:00:00Z (negative before).
pub(crate) type Ticks = i64;

pub(crate) const NANOS_PER_TICK: i128 = 100;
const TICKS_PER_SECOND: i64 = 10_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const TICKS_PER_DAY: i64 = TICKS_PER_SECOND * SECONDS_PER_DAY;

/// 0001-01-01T00:00:00Z, the earliest instant a four-digit year can show.
pub(crate) const MIN_TICKS: Ticks = -62_135_596_800 * TICKS_PER_SECOND;
/// 9999-12-31T23:59:59.9999999Z, the latest.
pub(crate) const MAX_TICKS: Ticks = 253_402_300_800 * TICKS_PER_SECOND - 1;

/// Nanoseconds since the Unix epoch (negative before).
pub(crate) fn nanos(at: SystemTime) -> i128 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// The tick an instant falls in (rounded down), clamped to years 0001-9999.
pub(crate) fn from_system_time(at: SystemTime) -> Ticks {
    clamp(nanos(at).div_euclid(NANOS_PER_TICK))
}

/// The first tick at or after an instant (rounded up), clamped to years 0001-9999.
pub(crate) fn ceil_system_time(at: SystemTime) -> Ticks {
    clamp(-(-nanos(at)).div_euclid(NANOS_PER_TICK))
}

/// The instant a tick starts at.
pub(crate) fn to_system_time(ticks: Ticks) -> SystemTime {
    let nanos = i128::from(ticks) * NANOS_PER_TICK;
    let magnitude = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    if nanos >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// Whole ticks in a duration (rounded down).
pub(crate) fn duration_ticks(duration: Duration) -> i128 {
    i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX) / NANOS_PER_TICK
}

/// Clamps a tick count (possibly out of range) into what four-digit years can show.
pub(crate) fn clamp(ticks: i128) -> Ticks {
    let clamped = ticks.clamp(i128::from(MIN_TICKS), i128::from(MAX_TICKS));
    Ticks::try_from(clamped).unwrap_or(MAX_TICKS)
}

/// `2026-11-26T21:03:12.1234567Z`. Hand-rolled because a page formats a thousand of them.
pub(crate) fn format(ticks: Ticks) -> String {
    let ticks = ticks.clamp(MIN_TICKS, MAX_TICKS);
    let days = ticks.div_euclid(TICKS_PER_DAY);
    let in_day = ticks.rem_euclid(TICKS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let seconds = in_day / TICKS_PER_SECOND;
    let fraction = in_day % TICKS_PER_SECOND;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:07}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` into nanoseconds since the epoch; `None` if it is not
/// exactly that (Graph's audit-log filters take unquoted UTC instants and nothing else).
pub(crate) fn parse_nanos(text: &str) -> Option<i128> {
    let bytes = text.as_bytes();
    let body = bytes.strip_suffix(b"Z")?;
    if body.len() < 19 {
        return None;
    }
    let (main, fraction) = body.split_at(19);
    let shape_ok = main.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        10 => *b == b'T',
        13 | 16 => *b == b':',
        _ => b.is_ascii_digit(),
    });
    if !shape_ok {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        main[range]
            .iter()
            .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    if year == 0
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let nanos_in_second = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let value = digits
                .iter()
                .fold(0i128, |n, b| n * 10 + i128::from(b - b'0'));
            value * 10i128.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Some(i128::from(seconds) * 1_000_000_000 + nanos_in_second)
}

/// Parses a record's timestamp (same grammar as [`parse_nanos`]) to the tick it falls in.
pub(crate) fn parse_ticks(text: &str) -> Option<Ticks> {
    parse_nanos(text).map(|nanos| clamp(nanos.div_euclid(NANOS_PER_TICK)))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_seven_digits_and_round_trips() {
        let text = "2026-11-26T21:03:12.1234567Z";
        let ticks = parse_ticks(text).unwrap();
        assert_eq!(format(ticks), text);
        assert_eq!(format(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59.9999999Z");
        assert_eq!(format(MIN_TICKS), "0001-01-01T00:00:00.0000000Z");
        assert_eq!(format(MAX_TICKS), "9999-12-31T23:59:59.9999999Z");
        assert_eq!(
            format(parse_ticks("2024-02-29T00:00:00Z").unwrap()),
            "2024-02-29T00:00:00.0000000Z"
        );
    }

    #[test]
    fn agrees_with_the_time_crate() {
        let at = time::macros::datetime!(2026-11-26 21:03:12.1234567 UTC);
        let ticks = from_system_time(at.into());
        assert_eq!(format(ticks), "2026-11-26T21:03:12.1234567Z");
        assert_eq!(to_system_time(ticks), SystemTime::from(at));
    }

    #[test]
    fn parses_only_utc_instants() {
        assert_eq!(parse_nanos("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(parse_nanos("1970-01-01T00:00:00.000000001Z"), Some(1));
        for bad in [
            "2026-11-26",
            "2026-11-26T21:00:00",
            "2026-11-26T21:00:00+00:00",
            "'2026-11-26T21:00:00Z'",
            "2026-11-26T21:00:00.Z",
            "2026-11-26T21:00:00.1234567890Z",
            "2026-02-30T21:00:00Z",
            "2026-11-26T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-1-26T21:00:00Z",
        ] {
            assert_eq!(parse_nanos(bad), None, "{bad}");
        }
    }
}
