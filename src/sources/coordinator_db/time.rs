//! The coordinator's timestamps: local naive ISO text in Europe/Warsaw, turned into UTC
//! instants, and UTC windows turned back into text bounds for indexed range queries.
//!
//! Rules (documented in docs/api.md, "Timestamps"):
//! - Text with an offset (`Z`, `+01:00`) is converted with that offset.
//! - Naive text is Warsaw local time. In the October fold (02:00–02:59 happens twice) the
//!   reading is ambiguous; when the row has a UTC `created_at` (written by SQLite at insert)
//!   the candidate closest to it wins, otherwise the earlier one. In the March gap
//!   (02:00–02:59 does not exist) the text is read with the offset in force before the gap
//!   (+01:00).
//! - Windows are compared as UTC instants. Text bounds for SQL are widened by an hour on
//!   each side (so a fold or gap never cuts rows off) and rows are then filtered by instant.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};

use crate::clock::ZONE;

const FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction]` without a format string (the common case, read
/// for every row).
fn fast_naive(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let mut nanos = 0u32;
    if b.len() > 19 {
        let frac = &b[20..];
        if b[19] != b'.' || frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let mut scale = 100_000_000u32;
        for c in frac {
            if !c.is_ascii_digit() {
                return None;
            }
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
        }
    }
    chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?.and_hms_nano_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        nanos,
    )
}

/// Parses naive text (`T` or space separator, optional fraction).
pub fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    if let Some(n) = fast_naive(t.as_bytes()) {
        return Some(n);
    }
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            // `YYYY-MM-DDTHH:MM` (no seconds)
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").ok()
        })
}

/// A coordinator timestamp as a UTC instant; `hint` (a UTC instant near the true one, e.g.
/// the row's `created_at`) resolves the October fold. `None` when the text is not a time.
pub fn parse_instant(text: &str, hint: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    parse_instant_with(text, || hint)
}

/// As [`parse_instant`], with the hint computed only when the text is ambiguous.
pub fn parse_instant_with(
    text: &str,
    hint: impl FnOnce() -> Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Some(naive) = fast_naive(t.as_bytes()) {
        return Some(local_to_utc(naive, hint));
    }
    if let Ok(fixed) = DateTime::parse_from_rfc3339(&t.replace(' ', "T")) {
        return Some(fixed.with_timezone(&Utc));
    }
    let naive = parse_naive(t)?;
    Some(local_to_utc(naive, hint))
}

/// The zone's offsets (seconds east of UTC) for one local hour, as `from_local_datetime`
/// reports them: one, two (fold) or none (gap).
#[derive(Clone, Copy, PartialEq)]
enum HourOffsets {
    Single(i32),
    Other,
}

thread_local! {
    /// The last local hour converted and its offset. Rows arrive in time order, so nearly
    /// every conversion hits this one entry instead of searching the zone's transitions.
    static LAST_HOUR: std::cell::Cell<Option<(NaiveDateTime, HourOffsets)>> =
        const { std::cell::Cell::new(None) };
}

fn hour_offsets(hour: NaiveDateTime) -> HourOffsets {
    if let Some((h, o)) = LAST_HOUR.with(|c| c.get()) {
        if h == hour {
            return o;
        }
    }
    // Warsaw's transitions happen on whole hours, so one hour has one answer.
    let start = ZONE.from_local_datetime(&hour);
    let end = ZONE.from_local_datetime(&(hour + Duration::minutes(59)));
    let o = match (start, end) {
        (LocalResult::Single(a), LocalResult::Single(b))
            if a.offset().fix() == b.offset().fix() =>
        {
            HourOffsets::Single(a.offset().fix().local_minus_utc())
        }
        _ => HourOffsets::Other,
    };
    LAST_HOUR.with(|c| c.set(Some((hour, o))));
    o
}

/// Warsaw local naive time → UTC, with the fold and gap rules of the module docs.
pub fn local_to_utc(
    naive: NaiveDateTime,
    hint: impl FnOnce() -> Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    use chrono::Timelike;
    let hour = naive
        .with_minute(0)
        .and_then(|n| n.with_second(0))
        .and_then(|n| n.with_nanosecond(0))
        .unwrap_or(naive);
    if let HourOffsets::Single(secs) = hour_offsets(hour) {
        return Utc.from_utc_datetime(&(naive - Duration::seconds(i64::from(secs))));
    }
    match ZONE.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            match hint() {
                Some(h) if (b - h).num_seconds().abs() < (a - h).num_seconds().abs() => b,
                _ => a,
            }
        }
        // In the spring gap: read with the winter offset (+01:00).
        LocalResult::None => Utc.from_utc_datetime(&(naive - Duration::hours(1))),
    }
}

/// SQLite `created_at` text (`YYYY-MM-DD HH:MM:SS`, UTC).
pub fn parse_created_at(text: &str) -> Option<DateTime<Utc>> {
    parse_naive(text).map(|n| Utc.from_utc_datetime(&n))
}

/// Local naive text of an instant, as the coordinator writes it (to the second).
pub fn local_text(t: DateTime<Utc>) -> String {
    t.with_timezone(&ZONE)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// Text bounds `[lo, hi]` covering every row whose instant may lie in `[from, to)`.
pub fn query_bounds(from: DateTime<Utc>, to: DateTime<Utc>) -> (String, String) {
    (
        local_text(from - Duration::hours(1)),
        local_text(to + Duration::hours(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_local_naive_text_in_both_seasons() {
        assert_eq!(
            parse_instant("2026-01-15T12:00:00.123456", None).unwrap(),
            utc("2026-01-15T11:00:00.123456Z")
        );
        assert_eq!(
            parse_instant("2026-07-15 12:00:00", None).unwrap(),
            utc("2026-07-15T10:00:00Z")
        );
        assert_eq!(
            parse_instant("2026-07-15T12:00:00Z", None).unwrap(),
            utc("2026-07-15T12:00:00Z")
        );
        assert_eq!(
            parse_instant("2026-07-15T12:00:00+00:00", None).unwrap(),
            utc("2026-07-15T12:00:00Z")
        );
        assert!(parse_instant("yesterday", None).is_none());
        assert_eq!(
            parse_instant("2026-01-15T12:00:00.5", None).unwrap(),
            utc("2026-01-15T11:00:00.5Z")
        );
        assert!(parse_instant("2026-02-30T12:00:00", None).is_none());
        assert!(parse_instant("2026-01-15T12:00:00.", None).is_none());
        assert!(parse_instant("", None).is_none());
    }

    #[test]
    fn october_fold_uses_created_at_then_earliest() {
        // 2026-10-25: 02:30 local happens at 00:30Z (CEST) and at 01:30Z (CET).
        let text = "2026-10-25T02:30:00";
        assert_eq!(
            parse_instant(text, None).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
        let second = parse_created_at("2026-10-25 01:30:01");
        assert_eq!(
            parse_instant(text, second).unwrap(),
            utc("2026-10-25T01:30:00Z")
        );
        let first = parse_created_at("2026-10-25 00:30:02");
        assert_eq!(
            parse_instant(text, first).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn march_gap_reads_with_winter_offset() {
        // 2026-03-29: 02:00–02:59 does not exist in Warsaw.
        assert_eq!(
            parse_instant("2026-03-29T02:30:00", None).unwrap(),
            utc("2026-03-29T01:30:00Z")
        );
        assert_eq!(
            parse_instant("2026-03-29T03:00:00", None).unwrap(),
            utc("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn the_hour_cache_agrees_with_the_zone_around_both_transitions() {
        for day in ["2026-03-28T00:00:00", "2026-10-24T00:00:00"] {
            let start = parse_naive(day).unwrap();
            for m in 0..(3 * 24 * 60) {
                let n = start + Duration::minutes(m) + Duration::seconds(7);
                let reference = match ZONE.from_local_datetime(&n) {
                    LocalResult::Single(t) => t.with_timezone(&Utc),
                    LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
                    LocalResult::None => Utc.from_utc_datetime(&(n - Duration::hours(1))),
                };
                assert_eq!(local_to_utc(n, || None), reference, "{n}");
            }
        }
    }

    #[test]
    fn bounds_are_widened_local_text() {
        let (lo, hi) = query_bounds(utc("2026-11-20T23:00:00Z"), utc("2026-11-21T23:00:00Z"));
        assert_eq!(lo, "2026-11-20T23:00:00");
        assert_eq!(hi, "2026-11-22T01:00:00");
    }
}
