//! Price windows: the cheapest and the most expensive contiguous run of quarters of a given
//! length (1 h, 2 h, 3 h), over any ordered list of priced quarters. Quarters that do not
//! follow each other in time (a missing quarter) break a run.

use chrono::{DateTime, Utc};

/// A priced quarter as the window search sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Final price, PLN/kWh.
    pub price: f64,
}

/// A found window and its mean final price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub average: f64,
}

/// The (cheapest, most expensive) windows of `len` consecutive slots; ties go to the
/// earliest. `None` when no contiguous run is long enough.
pub fn extremes(slots: &[Slot], len: usize) -> (Option<Window>, Option<Window>) {
    if len == 0 || slots.len() < len {
        return (None, None);
    }
    let mut prefix = Vec::with_capacity(slots.len() + 1);
    prefix.push(0.0);
    // run[i] = index where the contiguous run containing slot i begins.
    let mut run = vec![0usize; slots.len()];
    for (i, s) in slots.iter().enumerate() {
        prefix.push(prefix[i] + s.price);
        run[i] = if i > 0 && slots[i - 1].end == s.start {
            run[i - 1]
        } else {
            i
        };
    }
    let mut low: Option<Window> = None;
    let mut high: Option<Window> = None;
    for last in len - 1..slots.len() {
        let first = last + 1 - len;
        if run[last] > first {
            continue;
        }
        let w = Window {
            start: slots[first].start,
            end: slots[last].end,
            average: (prefix[last + 1] - prefix[first]) / len as f64,
        };
        if low.is_none_or(|l| w.average < l.average) {
            low = Some(w);
        }
        if high.is_none_or(|h| w.average > h.average) {
            high = Some(w);
        }
    }
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn slots(prices: &[f64]) -> Vec<Slot> {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 23, 0, 0).unwrap();
        prices
            .iter()
            .enumerate()
            .map(|(i, p)| Slot {
                start: t0 + Duration::minutes(15 * i as i64),
                end: t0 + Duration::minutes(15 * (i as i64 + 1)),
                price: *p,
            })
            .collect()
    }

    #[test]
    fn finds_cheapest_and_dearest() {
        let s = slots(&[5.0, 1.0, 1.0, 2.0, 9.0, 9.0, 3.0, 0.5]);
        let (lo, hi) = extremes(&s, 2);
        let lo = lo.unwrap();
        assert_eq!((lo.start, lo.average), (s[1].start, 1.0));
        assert_eq!(lo.end, s[2].end);
        assert_eq!(hi.unwrap().start, s[4].start);
        let (lo, _) = extremes(&s, 1);
        assert_eq!(lo.unwrap().start, s[7].start);
        assert_eq!(extremes(&s, 9), (None, None));
    }

    #[test]
    fn gaps_break_runs() {
        let mut s = slots(&[1.0, 1.0, 5.0, 5.0, 5.0]);
        s.remove(1); // the cheap pair is no longer contiguous
        let (lo, _) = extremes(&s, 2);
        assert_eq!(lo.unwrap().average, 5.0);
    }
}
