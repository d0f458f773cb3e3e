//! The calendar tariffs need: month-day arithmetic for season bounds, Easter, Polish
//! public holidays and free days (weekends and holidays).

use chrono::{Datelike, NaiveDate, Weekday};

/// The day after `(month, day)` (in a leap year, so 29 February exists).
pub(super) fn next_day((m, d): (u32, u32)) -> (u32, u32) {
    NaiveDate::from_ymd_opt(2024, m, d)
        .and_then(|x| x.succ_opt())
        .map(|x| (x.month(), x.day()))
        .unwrap_or((m, d))
}

/// The day before `(month, day)`.
pub(super) fn prev_day((m, d): (u32, u32)) -> (u32, u32) {
    NaiveDate::from_ymd_opt(2024, m, d)
        .and_then(|x| x.pred_opt())
        .map(|x| (x.month(), x.day()))
        .unwrap_or((m, d))
}

/// Easter Sunday (Gregorian calendar; anonymous Gregorian algorithm).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("valid Easter date")
}

/// Polish statutory public holidays (days free from work). Christmas Eve is one from 2025.
pub fn is_public_holiday(date: NaiveDate) -> bool {
    let (m, d) = (date.month(), date.day());
    let fixed = matches!(
        (m, d),
        (1, 1) | (1, 6) | (5, 1) | (5, 3) | (8, 15) | (11, 1) | (11, 11) | (12, 25) | (12, 26)
    ) || (date.year() >= 2025 && (m, d) == (12, 24));
    if fixed {
        return true;
    }
    let easter = easter_sunday(date.year());
    // Easter Sunday, Easter Monday, Pentecost Sunday (+49), Corpus Christi (+60).
    [0, 1, 49, 60]
        .iter()
        .any(|off| easter + chrono::Days::new(*off) == date)
}

/// Weekends and public holidays: the `g13s` free days.
pub fn is_free_day(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun) || is_public_holiday(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_dates() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(easter_sunday(2024), d(2024, 3, 31));
        assert_eq!(easter_sunday(2025), d(2025, 4, 20));
        assert_eq!(easter_sunday(2026), d(2026, 4, 5));
        assert_eq!(easter_sunday(2027), d(2027, 3, 28));
        assert_eq!(easter_sunday(2038), d(2038, 4, 25));
    }

    #[test]
    fn polish_holidays_2026() {
        let d = |m, dd| NaiveDate::from_ymd_opt(2026, m, dd).unwrap();
        for (m, dd) in [
            (1, 1),
            (1, 6),
            (4, 5),
            (4, 6), // Easter Monday
            (5, 1),
            (5, 3),
            (5, 24), // Pentecost
            (6, 4),  // Corpus Christi
            (8, 15),
            (11, 1),
            (11, 11),
            (12, 24),
            (12, 25),
            (12, 26),
        ] {
            assert!(is_public_holiday(d(m, dd)), "2026-{m}-{dd}");
        }
        for (m, dd) in [(4, 7), (6, 5), (11, 20), (5, 2)] {
            assert!(!is_public_holiday(d(m, dd)), "2026-{m}-{dd}");
        }
        assert!(!is_public_holiday(
            NaiveDate::from_ymd_opt(2024, 12, 24).unwrap()
        ));
        assert!(is_free_day(d(11, 21))); // a Saturday
        assert!(!is_free_day(d(11, 20))); // a Friday
    }
}
