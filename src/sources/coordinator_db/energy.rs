//! `energy_data` rows (the coordinator's 5-minute samples), the 24-hour history built
//! from them at their native step and the 7-day history of hourly means, with gaps left as
//! gaps.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};

use super::db::DbError;
use super::time;

/// The native step of `energy_data`.
pub const STEP_S: i64 = 300;
/// Slots in the 24-hour history.
pub const HISTORY_SLOTS: usize = (24 * 3600 / STEP_S) as usize;

/// One sample. Powers in W (grid negative = import), counters in kWh.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnergyRow {
    pub at: DateTime<Utc>,
    pub soc: Option<f64>,
    pub pv_w: Option<f64>,
    pub grid_w: Option<f64>,
    pub house_w: Option<f64>,
    pub battery_w: Option<f64>,
    pub price_pln: Option<f64>,
    pub import_total_kwh: Option<f64>,
    pub tariff_zone: Option<String>,
}

/// A column as a number: integers and reals as they are, numeric text parsed, anything
/// else (NULL, `"Unknown"`, blobs) `None`.
pub fn lenient_f64(r: &Row, i: usize) -> Option<f64> {
    match r.get_ref(i).ok()? {
        ValueRef::Integer(n) => Some(n as f64),
        ValueRef::Real(f) => Some(f).filter(|f| f.is_finite()),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_text(r: &Row, i: usize) -> Option<String> {
    match r.get_ref(i).ok()? {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_string),
        _ => None,
    }
}

/// Rows whose instant lies in `[from, to)`, oldest first, by the timestamp index.
pub fn query(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Vec<EnergyRow>, DbError> {
    read_range(
        conn,
        "energy_data by time",
        "SELECT timestamp, created_at, battery_soc, pv_power, grid_power, house_consumption, \
         battery_power, price_pln, grid_import_total_kwh, tariff_zone \
         FROM energy_data WHERE timestamp >= ?1 AND timestamp <= ?2",
        (from, to),
        notes,
        |r, at| EnergyRow {
            at,
            soc: lenient_f64(r, 2),
            pv_w: lenient_f64(r, 3),
            grid_w: lenient_f64(r, 4),
            house_w: lenient_f64(r, 5),
            battery_w: lenient_f64(r, 6),
            price_pln: lenient_f64(r, 7),
            import_total_kwh: lenient_f64(r, 8),
            tariff_zone: lenient_text(r, 9),
        },
    )
}

/// Only the meter counter and tariff zone of rows in `[from, to)`, oldest first (for daily
/// summaries, which need nothing else).
pub fn query_counters(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Vec<EnergyRow>, DbError> {
    read_range(
        conn,
        "energy_data counters by time",
        "SELECT timestamp, created_at, grid_import_total_kwh, tariff_zone \
         FROM energy_data WHERE timestamp >= ?1 AND timestamp <= ?2",
        (from, to),
        notes,
        |r, at| EnergyRow {
            at,
            import_total_kwh: lenient_f64(r, 2),
            tariff_zone: lenient_text(r, 3),
            ..Default::default()
        },
    )
}

/// Runs `sql` (columns 0 and 1 are `timestamp` and `created_at`, parameters the widened
/// local bounds) and maps each row whose instant lies in `[from, to)` with `row`; rows
/// without a readable timestamp are counted in `notes`. Oldest first.
fn read_range(
    conn: &Connection,
    what: &'static str,
    sql: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    notes: &mut Vec<String>,
    row: impl Fn(&Row, DateTime<Utc>) -> EnergyRow,
) -> Result<Vec<EnergyRow>, DbError> {
    let (lo, hi) = time::query_bounds(from, to);
    let q = |e| DbError::Query(what, e);
    let mut stmt = conn.prepare_cached(sql).map_err(q)?;
    let mut rows = stmt.query([&lo, &hi]).map_err(q)?;
    let mut out = Vec::new();
    let mut unreadable = 0u32;
    while let Some(r) = rows.next().map_err(q)? {
        let at = match r.get_ref(0).map_err(q)? {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|ts| {
                time::parse_instant_with(ts, || {
                    lenient_text(r, 1).and_then(|c| time::parse_created_at(&c))
                })
            }),
            _ => None,
        };
        let Some(at) = at else {
            unreadable += 1;
            continue;
        };
        if at >= from && at < to {
            out.push(row(r, at));
        }
    }
    if unreadable > 0 {
        notes.push(format!(
            "energy_data: {unreadable} row(s) without a readable timestamp skipped"
        ));
    }
    out.sort_by_key(|r| r.at);
    Ok(out)
}

/// The 24-hour history: one slot per 5 minutes, the last slot holding `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Start of the first slot.
    pub start: DateTime<Utc>,
    /// `HISTORY_SLOTS` slots; `None` where no sample exists.
    pub slots: Vec<Option<EnergyRow>>,
}

/// The start of the 5-minute slot holding `t`.
pub fn slot_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp().div_euclid(STEP_S) * STEP_S;
    Utc.timestamp_opt(s, 0).single().unwrap_or(t)
}

/// Places `rows` (any order) into the slots of the 24 hours ending at `end`. When two
/// samples fall into one slot the later one is kept.
pub fn history(rows: &[EnergyRow], end: DateTime<Utc>) -> History {
    let last = slot_start(end);
    let start = last - Duration::seconds(STEP_S * (HISTORY_SLOTS as i64 - 1));
    let mut slots: Vec<Option<EnergyRow>> = vec![None; HISTORY_SLOTS];
    for r in rows {
        if r.at < start || r.at >= last + Duration::seconds(STEP_S) {
            continue;
        }
        let i = ((r.at - start).num_seconds() / STEP_S) as usize;
        let replace = match &slots[i] {
            Some(have) => r.at >= have.at,
            None => true,
        };
        if replace {
            slots[i] = Some(r.clone());
        }
    }
    History { start, slots }
}

/// The 7-day history: hourly buckets.
pub const WEEK_BUCKET_S: i64 = 3600;
/// Buckets in the 7-day history.
pub const WEEK_BUCKETS: usize = 7 * 24;

/// Places `rows` into `count` buckets of `step_s` seconds, the last one holding `end`, and
/// averages each value over the samples of its bucket that have it. A bucket without any
/// sample is `None`; a value no sample of the bucket has is `None` too (never 0). The
/// averaged row's `at` is the bucket's start; counters and zones are left out.
pub fn buckets(rows: &[EnergyRow], end: DateTime<Utc>, step_s: i64, count: usize) -> History {
    let last = Utc
        .timestamp_opt(end.timestamp().div_euclid(step_s) * step_s, 0)
        .single()
        .unwrap_or(end);
    let start = last - Duration::seconds(step_s * (count as i64 - 1));
    let mut sums: Vec<Vec<EnergyRow>> = vec![Vec::new(); count];
    for r in rows {
        if r.at < start || r.at >= last + Duration::seconds(step_s) {
            continue;
        }
        sums[((r.at - start).num_seconds() / step_s) as usize].push(r.clone());
    }
    let mean = |b: &[EnergyRow], f: fn(&EnergyRow) -> Option<f64>| {
        let v: Vec<f64> = b.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let slots = sums
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (!b.is_empty()).then(|| EnergyRow {
                at: start + Duration::seconds(step_s * i as i64),
                soc: mean(b, |r| r.soc),
                pv_w: mean(b, |r| r.pv_w),
                grid_w: mean(b, |r| r.grid_w),
                house_w: mean(b, |r| r.house_w),
                battery_w: mean(b, |r| r.battery_w),
                ..Default::default()
            })
        })
        .collect();
    History { start, slots }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: &str, soc: f64) -> EnergyRow {
        EnergyRow {
            at: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            soc: Some(soc),
            ..Default::default()
        }
    }

    #[test]
    fn history_keeps_gaps_as_gaps() {
        let end = DateTime::parse_from_rfc3339("2026-07-01T12:03:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let rows = vec![
            row("2026-07-01T12:00:10Z", 50.0),
            row("2026-07-01T11:50:05Z", 49.0),
            row("2026-07-01T11:52:00Z", 49.5), // same slot as 11:50: later wins
            row("2026-06-30T12:04:59Z", 10.0), // before the window
            row("2026-06-30T12:05:00Z", 11.0), // first slot
        ];
        let h = history(&rows, end);
        assert_eq!(h.slots.len(), HISTORY_SLOTS);
        assert_eq!(h.start.to_rfc3339(), "2026-06-30T12:05:00+00:00");
        assert_eq!(h.slots[0].as_ref().unwrap().soc, Some(11.0));
        assert_eq!(h.slots[HISTORY_SLOTS - 1].as_ref().unwrap().soc, Some(50.0));
        assert!(h.slots[HISTORY_SLOTS - 2].is_none(), "11:55 is a gap");
        assert_eq!(h.slots[HISTORY_SLOTS - 3].as_ref().unwrap().soc, Some(49.5));
        assert_eq!(h.slots.iter().filter(|s| s.is_some()).count(), 3);
    }

    #[test]
    fn buckets_average_and_keep_gaps() {
        let end = DateTime::parse_from_rfc3339("2026-07-01T12:03:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut no_soc = row("2026-07-01T12:01:00Z", 0.0);
        no_soc.soc = None;
        no_soc.pv_w = Some(1000.0);
        let rows = vec![
            row("2026-07-01T12:00:00Z", 50.0),
            row("2026-07-01T12:02:00Z", 52.0),
            no_soc,
            row("2026-07-01T10:30:00Z", 40.0),
            row("2026-06-24T12:59:00Z", 1.0), // before the first bucket
            row("2026-06-24T13:00:00Z", 2.0), // first bucket
        ];
        let h = buckets(&rows, end, WEEK_BUCKET_S, WEEK_BUCKETS);
        assert_eq!(h.slots.len(), WEEK_BUCKETS);
        assert_eq!(h.start.to_rfc3339(), "2026-06-24T13:00:00+00:00");
        let last = h.slots[WEEK_BUCKETS - 1].as_ref().unwrap();
        assert_eq!(last.soc, Some(51.0), "the sample without SOC is not a 0");
        assert_eq!(last.pv_w, Some(1000.0));
        assert_eq!(last.grid_w, None);
        assert!(h.slots[WEEK_BUCKETS - 2].is_none(), "11:00 is a gap");
        assert_eq!(h.slots[WEEK_BUCKETS - 3].as_ref().unwrap().soc, Some(40.0));
        assert_eq!(h.slots[0].as_ref().unwrap().soc, Some(2.0));
        assert_eq!(h.slots.iter().filter(|s| s.is_some()).count(), 3);
    }
}
