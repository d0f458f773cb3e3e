//! Wall-clock time and the Warsaw time zone.
//!
//! Instants are `DateTime<Utc>` everywhere; Europe/Warsaw is used only to decide what
//! "today" is and to show times. Scheduling uses `std::time::Instant` and never this clock.
//!
//! For demos and tests the wall clock can be shifted: when the environment variable
//! `ENERGY_MONITOR_FAKE_NOW` holds an RFC 3339 instant at start-up, `now()` starts from that
//! instant and advances in real time. Nothing else changes.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, TimeZone, Utc};
use chrono_tz::Europe::Warsaw;
use chrono_tz::Tz;

/// The zone every date and time is shown in.
pub const ZONE: Tz = Warsaw;

fn offset() -> Duration {
    static OFFSET: OnceLock<Duration> = OnceLock::new();
    *OFFSET.get_or_init(|| match std::env::var("ENERGY_MONITOR_FAKE_NOW") {
        Ok(s) if !s.trim().is_empty() => match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => t.with_timezone(&Utc) - Utc::now(),
            Err(e) => {
                log::warn!("ignoring ENERGY_MONITOR_FAKE_NOW={s:?}: {e}");
                Duration::zero()
            }
        },
        _ => Duration::zero(),
    })
}

/// The current instant (see the module docs for the test shift).
pub fn now() -> DateTime<Utc> {
    Utc::now() + offset()
}

/// An instant as RFC 3339 in Europe/Warsaw, to the second, e.g. `2026-11-21T15:04:05+01:00`.
pub fn local_rfc3339(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&ZONE);
    let fixed: DateTime<FixedOffset> = local.fixed_offset();
    fixed.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// An instant as RFC 3339 in UTC, e.g. `2026-11-21T14:04:05Z`.
pub fn utc_rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The Warsaw calendar date of an instant.
pub fn local_date(t: DateTime<Utc>) -> chrono::NaiveDate {
    t.with_timezone(&ZONE).date_naive()
}

/// The instant a Warsaw calendar day starts (midnight always exists in Warsaw).
pub fn day_start(date: chrono::NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    ZONE.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// The calendar day after `date` (`date` itself at the end of the calendar).
pub fn next_day(date: chrono::NaiveDate) -> chrono::NaiveDate {
    date.succ_opt().unwrap_or(date)
}

/// The instant a Warsaw calendar day ends: the start of the next day.
pub fn day_end(date: chrono::NaiveDate) -> DateTime<Utc> {
    day_start(next_day(date))
}

/// Seconds formatted the way the original dashboard showed uptime:
/// `42s`, `5m 7s`, `3h 12m`, `2d 4h` (zero remainders omitted).
/// The start of the next quarter hour after `t`. Warsaw's offsets are whole hours, so UTC
/// and local quarters share their boundaries, local midnight among them.
pub fn next_quarter(t: DateTime<Utc>) -> DateTime<Utc> {
    let next = (t.timestamp().div_euclid(900) + 1) * 900;
    DateTime::from_timestamp(next, 0).unwrap_or(t)
}

pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let pair = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b}{ub}")
        }
    };
    if secs < 60 {
        format!("{s}s")
    } else if secs < 3600 {
        pair(m, "m", s, "s")
    } else if secs < 86_400 {
        pair(h, "h", m, "m")
    } else {
        pair(d, "d", h, "h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn next_quarter_is_the_next_boundary() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            next_quarter(t("2026-03-29T00:59:59Z")),
            t("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            next_quarter(t("2026-03-29T01:00:00Z")),
            t("2026-03-29T01:15:00Z")
        );
        // Local midnight (CET) is a boundary.
        assert_eq!(
            next_quarter(t("2026-12-01T22:50:00Z")),
            t("2026-12-01T23:00:00Z")
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(300), "5m");
        assert_eq!(human_duration(307), "5m 7s");
        assert_eq!(human_duration(3 * 3600 + 12 * 60 + 5), "3h 12m");
        assert_eq!(human_duration(2 * 86_400), "2d");
        assert_eq!(human_duration(2 * 86_400 + 4 * 3600), "2d 4h");
    }

    #[test]
    fn dst_day_lengths() {
        let len = |y, m, d| {
            let a = day_start(NaiveDate::from_ymd_opt(y, m, d).unwrap());
            let b = day_start(
                NaiveDate::from_ymd_opt(y, m, d)
                    .unwrap()
                    .succ_opt()
                    .unwrap(),
            );
            (b - a).num_hours()
        };
        assert_eq!(len(2026, 3, 29), 23);
        assert_eq!(len(2026, 10, 25), 25);
        assert_eq!(len(2026, 11, 21), 24);
    }

    #[test]
    fn local_format_carries_offset() {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 0).unwrap();
        assert_eq!(local_rfc3339(t), "2026-07-01T12:00:00+02:00");
        assert_eq!(utc_rfc3339(t), "2026-07-01T10:00:00Z");
    }
}
