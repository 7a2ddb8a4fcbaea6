//! Closed export windows `[start, end)` and where each one's object goes.
//!
//! Windows are aligned to their size from midnight UTC and never span an hour, so every window
//! belongs to exactly one `dt=…/hour=…` partition and its object key is a pure function of the
//! stream and the window: re-exporting a window rewrites the same object, which is what makes
//! retries and crash recovery free of duplicates. A record exactly on an edge belongs to the window
//! that starts there (`ge start and lt end`).

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::stream::AuditStream;

/// A window length that divides an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize(u32);

impl WindowSize {
    /// `minutes` when it divides 60, else `None`.
    pub fn minutes(minutes: u32) -> Option<WindowSize> {
        (minutes > 0 && 60 % minutes == 0).then_some(WindowSize(minutes))
    }

    pub fn as_minutes(self) -> u32 {
        self.0
    }

    pub fn duration(self) -> Duration {
        Duration::minutes(i64::from(self.0))
    }
}

impl Default for WindowSize {
    fn default() -> Self {
        WindowSize(15)
    }
}

/// One closed time range of a stream: records with `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    start: OffsetDateTime,
    end: OffsetDateTime,
}

impl Window {
    /// The window of `size` that contains `instant`.
    pub fn containing(instant: OffsetDateTime, size: WindowSize) -> Window {
        let start = floor(instant, size);
        Window {
            start,
            end: start + size.duration(),
        }
    }

    /// The window of `size` starting at `start`, which must be aligned (checkpoints always are).
    pub fn starting_at(start: OffsetDateTime, size: WindowSize) -> Option<Window> {
        let start = start.to_offset(UtcOffset::UTC);
        (floor(start, size) == start).then(|| Window {
            start,
            end: start + size.duration(),
        })
    }

    pub fn start(&self) -> OffsetDateTime {
        self.start
    }

    pub fn end(&self) -> OffsetDateTime {
        self.end
    }

    /// The window right after this one, of the same size.
    pub fn next(&self) -> Window {
        Window {
            start: self.end,
            end: self.end + (self.end - self.start),
        }
    }

    pub fn contains(&self, instant: OffsetDateTime) -> bool {
        self.start <= instant && instant < self.end
    }

    /// The Graph `$filter` selecting exactly this window on `field`.
    pub fn filter(&self, field: &str) -> String {
        format!(
            "{field} ge {} and {field} lt {}",
            graph_instant(self.start),
            graph_instant(self.end)
        )
    }

    /// The object key under `prefix` (no leading or trailing slash needed), Hive-style partitions:
    /// `stream=directoryAudits/dt=2026-11-26/hour=21/20261126T2100Z-20261126T2115Z.jsonl.gz`.
    pub fn object_key(&self, prefix: &str, stream: AuditStream) -> String {
        let day = format_description!("[year]-[month]-[day]");
        let hour = format_description!("[hour]");
        let compact = format_description!("[year][month][day]T[hour][minute]Z");
        let format = |t: OffsetDateTime, f: &[time::format_description::BorrowedFormatItem<'_>]| {
            t.format(f).unwrap_or_default()
        };
        let name = format!(
            "stream={}/dt={}/hour={}/{}-{}.jsonl.gz",
            stream.name,
            format(self.start, day),
            format(self.start, hour),
            format(self.start, compact),
            format(self.end, compact),
        );
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            graph_instant(self.start),
            graph_instant(self.end)
        )
    }
}

/// `instant` rounded down to a multiple of `size` since midnight UTC (sub-seconds dropped).
pub fn floor(instant: OffsetDateTime, size: WindowSize) -> OffsetDateTime {
    let utc = instant.to_offset(UtcOffset::UTC);
    let minutes_into_day = i64::from(utc.hour()) * 60 + i64::from(utc.minute());
    let aligned = minutes_into_day - minutes_into_day % i64::from(size.as_minutes());
    utc.replace_time(time::Time::MIDNIGHT) + Duration::minutes(aligned)
}

/// `2026-11-26T21:00:00Z`: the literal form Graph's `$filter` takes for a DateTimeOffset.
pub fn graph_instant(instant: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    instant
        .to_offset(UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// Parses an RFC 3339 timestamp as Graph writes it (`2026-11-26T21:03:12.1234567Z`).
pub fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(UtcOffset::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn only_sizes_that_divide_an_hour_are_allowed() {
        for good in [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60] {
            assert!(WindowSize::minutes(good).is_some(), "{good}");
        }
        for bad in [0, 7, 25, 45, 90, 120] {
            assert!(WindowSize::minutes(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn windows_are_aligned_and_half_open() {
        let size = WindowSize::minutes(15).unwrap();
        let window = Window::containing(datetime!(2026-11-26 21:14:59.9999999 UTC), size);
        assert_eq!(window.start(), datetime!(2026-11-26 21:00 UTC));
        assert_eq!(window.end(), datetime!(2026-11-26 21:15 UTC));
        assert!(window.contains(datetime!(2026-11-26 21:00 UTC)));
        assert!(!window.contains(datetime!(2026-11-26 21:15 UTC)));
        assert!(window.next().contains(datetime!(2026-11-26 21:15 UTC)));
        assert_eq!(
            Window::containing(datetime!(2026-11-26 21:15 UTC), size),
            window.next()
        );
        assert!(Window::starting_at(datetime!(2026-11-26 21:05 UTC), size).is_none());
        // Offsets other than UTC are normalised.
        let shifted = Window::containing(datetime!(2026-11-26 22:20 +01:00), size);
        assert_eq!(shifted.start(), datetime!(2026-11-26 21:15 UTC));
    }

    #[test]
    fn filter_and_key_are_exact() {
        let size = WindowSize::minutes(15).unwrap();
        let window = Window::containing(datetime!(2026-11-26 21:07 UTC), size);
        assert_eq!(
            window.filter("activityDateTime"),
            "activityDateTime ge 2026-11-26T21:00:00Z and activityDateTime lt 2026-11-26T21:15:00Z"
        );
        assert_eq!(
            window.object_key("/audit/", AuditStream::DIRECTORY_AUDITS),
            "audit/stream=directoryAudits/dt=2026-11-26/hour=21/20261126T2100Z-20261126T2115Z.jsonl.gz"
        );
        let last = Window::containing(datetime!(2026-11-26 23:59 UTC), size);
        assert_eq!(
            last.object_key("", AuditStream::SIGN_INS),
            "stream=signIns/dt=2026-11-26/hour=23/20261126T2345Z-20261127T0000Z.jsonl.gz"
        );
    }

    #[test]
    fn graph_timestamps_parse_with_seven_fraction_digits() {
        assert_eq!(
            parse_instant("2026-11-26T21:03:12.1234567Z"),
            Some(datetime!(2026-11-26 21:03:12.1234567 UTC))
        );
        assert_eq!(parse_instant("yesterday"), None);
    }
}
