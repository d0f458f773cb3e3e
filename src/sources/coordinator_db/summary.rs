//! Daily and monthly summaries (the `/monthly-*` routes): a day from the coordinator's
//! snapshot file when it exists and parses, else computed in memory from decisions and
//! `energy_data` meter counters; months aggregated from their days. Pure functions only;
//! the caching and I/O live in [`super::source`].

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::decisions::{Category, Counts, Facts};
use super::energy::EnergyRow;
use super::figures::round;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceStats {
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

/// One day, in the original's snapshot field names (spec §5.5), plus `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaySummary {
    pub date: String,
    #[serde(default)]
    pub created_at: Option<String>,
    pub total_decisions: u64,
    pub charging_count: u64,
    pub wait_count: u64,
    #[serde(default)]
    pub selling_count: u64,
    pub total_energy_kwh: f64,
    #[serde(default)]
    pub total_energy_sold_kwh: f64,
    pub total_cost_pln: f64,
    pub total_savings_pln: f64,
    #[serde(default)]
    pub selling_revenue_pln: f64,
    #[serde(default)]
    pub avg_confidence: Option<f64>,
    #[serde(default)]
    pub avg_cost_per_kwh: Option<f64>,
    #[serde(default)]
    pub source_breakdown: BTreeMap<String, u64>,
    #[serde(default)]
    pub price_stats: Option<PriceStats>,
    #[serde(default)]
    pub file_count: Option<u64>,
    #[serde(default)]
    pub real_grid_import_kwh: Option<f64>,
    #[serde(default)]
    pub grid_import_t1_kwh: Option<f64>,
    #[serde(default)]
    pub grid_import_t2_kwh: Option<f64>,
    #[serde(default)]
    pub grid_import_total_kwh: Option<f64>,
    #[serde(default)]
    pub energy_charged_t1_kwh: f64,
    #[serde(default)]
    pub energy_charged_t2_kwh: f64,
    /// Selling decisions whose outcome is not recorded (not counted in revenue).
    #[serde(default)]
    pub selling_outcome_unknown: u64,
    /// `snapshot_file`, `database` (computed from DB rows and decision files) or `live`.
    #[serde(default, skip_deserializing)]
    pub source: String,
}

/// A snapshot file's text → the day. Wrong types, a missing required key or a date that
/// does not match the file are errors naming the file.
pub fn parse_snapshot(name: &str, date: NaiveDate, text: &str) -> Result<DaySummary, String> {
    let mut d: DaySummary =
        serde_json::from_str(text).map_err(|e| format!("{name}: not a daily snapshot ({e})"))?;
    if d.date != date.format("%Y-%m-%d").to_string() {
        return Err(format!(
            "{name}: holds date {:?}, expected {}",
            d.date,
            date.format("%Y-%m-%d")
        ));
    }
    d.source = "snapshot_file".into();
    Ok(d)
}

/// Computes a day from its decisions and energy rows (both already limited to the day).
/// `None` when there is neither.
pub fn compute_day(
    date: NaiveDate,
    facts: &[&Facts],
    energy: &[EnergyRow],
    source: &str,
) -> Option<DaySummary> {
    if facts.is_empty() && energy.is_empty() {
        return None;
    }
    let counts = Counts::of(facts.iter().copied());
    let (mut energy_kwh, mut cost, mut savings, mut t1, mut t2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sold, mut revenue, mut unknown) = (0.0, 0.0, 0u64);
    let mut breakdown: BTreeMap<String, u64> = BTreeMap::new();
    let mut prices = Vec::new();
    for f in facts {
        match f.category {
            Category::Charging => {
                let e = f.energy_kwh.unwrap_or(0.0);
                energy_kwh += e;
                cost += f.cost_pln.unwrap_or(0.0);
                savings += f.savings_pln.unwrap_or(0.0);
                if f.tariff_zone.as_deref() == Some("T2") {
                    t2 += e;
                } else {
                    t1 += e;
                }
                let src = f
                    .charging_source
                    .clone()
                    .unwrap_or_else(|| "unknown".into());
                *breakdown.entry(src).or_default() += 1;
                if let Some(p) = f.price.filter(|p| *p > 0.0) {
                    prices.push(p);
                }
            }
            Category::Selling => match f.execution_success {
                Some(true) => {
                    sold += f.energy_kwh.unwrap_or(0.0);
                    revenue += f.revenue_pln.unwrap_or(0.0);
                }
                Some(false) => {}
                None => unknown += 1,
            },
            Category::Wait => {}
        }
    }
    if counts.selling > 0 {
        breakdown.insert("battery_selling".into(), counts.selling);
    }
    let confidences: Vec<f64> = facts.iter().filter_map(|f| f.confidence).collect();
    // Meter readings (import counter, zone of the row) of the rows that have one.
    let counters: Vec<(f64, Option<&str>)> = energy
        .iter()
        .filter_map(|r| Some((r.import_total_kwh?, r.tariff_zone.as_deref())))
        .collect();
    let (mut g1, mut g2) = (0.0, 0.0);
    for w in counters.windows(2) {
        let inc = w[1].0 - w[0].0;
        if inc > 0.0 {
            if w[1].1 == Some("T2") {
                g2 += inc;
            } else {
                g1 += inc;
            }
        }
    }
    let two = counters.len() >= 2;
    let real = match (counters.first(), counters.last()) {
        (Some(first), Some(last)) if two => Some(round(last.0 - first.0, 3)),
        _ => None,
    };
    Some(DaySummary {
        date: date.format("%Y-%m-%d").to_string(),
        created_at: None,
        total_decisions: counts.total,
        charging_count: counts.charging,
        wait_count: counts.wait,
        selling_count: counts.selling,
        total_energy_kwh: round(energy_kwh, 2),
        total_energy_sold_kwh: round(sold, 2),
        total_cost_pln: round(cost, 2),
        total_savings_pln: round(savings + revenue, 2),
        selling_revenue_pln: round(revenue, 2),
        avg_confidence: (!confidences.is_empty()).then(|| {
            round(
                confidences.iter().sum::<f64>() / confidences.len() as f64,
                4,
            )
        }),
        avg_cost_per_kwh: (energy_kwh > 0.0).then(|| round(cost / energy_kwh, 4)),
        source_breakdown: breakdown,
        price_stats: (!prices.is_empty()).then(|| PriceStats {
            min: round(prices.iter().copied().fold(f64::INFINITY, f64::min), 4),
            max: round(prices.iter().copied().fold(f64::NEG_INFINITY, f64::max), 4),
            avg: round(prices.iter().sum::<f64>() / prices.len() as f64, 4),
        }),
        file_count: None,
        real_grid_import_kwh: real,
        grid_import_t1_kwh: two.then(|| round(g1, 3)),
        grid_import_t2_kwh: two.then(|| round(g2, 3)),
        grid_import_total_kwh: two.then(|| round(g1 + g2, 3)),
        energy_charged_t1_kwh: round(t1, 2),
        energy_charged_t2_kwh: round(t2, 2),
        selling_outcome_unknown: unknown,
        source: source.into(),
    })
}

/// Where the days of a month came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DaySources {
    pub snapshot_file: u32,
    pub database: u32,
    pub live: u32,
}

/// One month (spec §5.6 field names), always with the same keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthSummary {
    pub year: i32,
    pub month: u32,
    pub month_name: &'static str,
    pub total_decisions: u64,
    pub charging_count: u64,
    pub wait_count: u64,
    pub selling_count: u64,
    pub total_energy_kwh: f64,
    pub total_energy_sold_kwh: f64,
    pub total_cost_pln: f64,
    pub total_savings_pln: f64,
    pub selling_revenue_pln: f64,
    pub avg_cost_per_kwh: Option<f64>,
    pub savings_percentage: Option<f64>,
    pub avg_confidence: Option<f64>,
    pub days_with_data: u32,
    /// Meter-based figures: the sum over the days that had meter counters, `null` when no
    /// day had any (never a zero standing in for a missing reading).
    pub real_grid_import_kwh: Option<f64>,
    pub grid_import_t1_kwh: Option<f64>,
    pub grid_import_t2_kwh: Option<f64>,
    pub grid_import_total_kwh: Option<f64>,
    /// How many of `days_with_data` had meter counters.
    pub days_with_meter_data: u32,
    pub energy_charged_t1_kwh: f64,
    pub energy_charged_t2_kwh: f64,
    pub source_breakdown: BTreeMap<String, u64>,
    pub day_sources: DaySources,
    /// Snapshot files that were skipped, with the reason (the day was computed instead).
    pub skipped: Vec<String>,
    pub daily_summaries: Vec<DaySummary>,
}

pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Aggregates the days of one month.
pub fn aggregate(
    year: i32,
    month: u32,
    days: Vec<DaySummary>,
    skipped: Vec<String>,
) -> MonthSummary {
    let sum = |f: &dyn Fn(&DaySummary) -> f64| round(days.iter().map(f).sum::<f64>(), 2);
    let count = |f: &dyn Fn(&DaySummary) -> u64| days.iter().map(f).sum::<u64>();
    let known = |f: &dyn Fn(&DaySummary) -> Option<f64>| {
        let values: Vec<f64> = days.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| round(values.iter().sum::<f64>(), 2))
    };
    let total_decisions = count(&|d| d.total_decisions);
    let cost = sum(&|d| d.total_cost_pln);
    let energy = sum(&|d| d.total_energy_kwh);
    let savings = sum(&|d| d.total_savings_pln);
    let (mut wsum, mut wn) = (0.0, 0u64);
    for d in &days {
        if let Some(c) = d.avg_confidence {
            wsum += c * d.total_decisions as f64;
            wn += d.total_decisions;
        }
    }
    let mut breakdown = BTreeMap::new();
    let mut sources = DaySources::default();
    for d in &days {
        for (k, v) in &d.source_breakdown {
            *breakdown.entry(k.clone()).or_default() += v;
        }
        match d.source.as_str() {
            "snapshot_file" => sources.snapshot_file += 1,
            "live" => sources.live += 1,
            _ => sources.database += 1,
        }
    }
    MonthSummary {
        year,
        month,
        month_name: MONTH_NAMES[(month.clamp(1, 12) - 1) as usize],
        total_decisions,
        charging_count: count(&|d| d.charging_count),
        wait_count: count(&|d| d.wait_count),
        selling_count: count(&|d| d.selling_count),
        total_energy_kwh: energy,
        total_energy_sold_kwh: sum(&|d| d.total_energy_sold_kwh),
        total_cost_pln: cost,
        total_savings_pln: savings,
        selling_revenue_pln: sum(&|d| d.selling_revenue_pln),
        avg_cost_per_kwh: (energy > 0.0).then(|| round(cost / energy, 4)),
        savings_percentage: (cost + savings > 0.0)
            .then(|| round(savings / (cost + savings) * 100.0, 1)),
        avg_confidence: (wn > 0).then(|| round(wsum / wn as f64, 4)),
        days_with_data: days.len() as u32,
        real_grid_import_kwh: known(&|d| d.real_grid_import_kwh),
        grid_import_t1_kwh: known(&|d| d.grid_import_t1_kwh),
        grid_import_t2_kwh: known(&|d| d.grid_import_t2_kwh),
        grid_import_total_kwh: known(&|d| d.grid_import_total_kwh),
        days_with_meter_data: days
            .iter()
            .filter(|d| d.real_grid_import_kwh.is_some())
            .count() as u32,
        energy_charged_t1_kwh: sum(&|d| d.energy_charged_t1_kwh),
        energy_charged_t2_kwh: sum(&|d| d.energy_charged_t2_kwh),
        source_breakdown: breakdown,
        day_sources: sources,
        skipped,
        daily_summaries: days,
    }
}

/// `(cur − prev) / prev × 100` (1 dp); when `prev` is 0: 0 if `cur` is 0, else 100.
pub fn change_pct(cur: f64, prev: f64) -> f64 {
    if prev == 0.0 {
        if cur == 0.0 {
            0.0
        } else {
            100.0
        }
    } else {
        round((cur - prev) / prev * 100.0, 1)
    }
}

/// The `/monthly-comparison` body for `current` against `previous` (spec §2.13 shape).
pub fn comparison(current: &MonthSummary, previous: &MonthSummary) -> serde_json::Value {
    let brief = |m: &MonthSummary| {
        serde_json::json!({
            "year": m.year, "month": m.month, "month_name": m.month_name,
            "total_cost_pln": m.total_cost_pln, "total_energy_kwh": m.total_energy_kwh,
            "total_savings_pln": m.total_savings_pln, "avg_cost_per_kwh": m.avg_cost_per_kwh,
            "days_with_data": m.days_with_data, "charging_count": m.charging_count,
            "selling_count": m.selling_count, "selling_revenue_pln": m.selling_revenue_pln,
        })
    };
    let (c, p) = (current, previous);
    serde_json::json!({
        "current_month": brief(c),
        "previous_month": brief(p),
        "changes": {
            "cost_change_pct": change_pct(c.total_cost_pln, p.total_cost_pln),
            "energy_change_pct": change_pct(c.total_energy_kwh, p.total_energy_kwh),
            "savings_change_pct": change_pct(c.total_savings_pln, p.total_savings_pln),
            "cost_diff_pln": round(c.total_cost_pln - p.total_cost_pln, 2),
            "energy_diff_kwh": round(c.total_energy_kwh - p.total_energy_kwh, 2),
            "savings_diff_pln": round(c.total_savings_pln - p.total_savings_pln, 2),
        },
    })
}

/// `(year, month)` of a date.
pub fn month_of(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.month())
}

/// The first day of the month after `(year, month)`.
pub fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month >= 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

/// The month before `(year, month)`.
pub fn prev_month(year: i32, month: u32) -> (i32, u32) {
    if month <= 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn charge(t: &str, e: f64, c: f64, s: f64, zone: &str) -> Facts {
        Facts {
            at: at(t),
            category: Category::Charging,
            energy_kwh: Some(e),
            cost_pln: Some(c),
            savings_pln: Some(s),
            revenue_pln: None,
            confidence: Some(0.5),
            price: Some(c / e),
            tariff_zone: Some(zone.into()),
            execution_success: None,
            charging_source: None,
        }
    }

    #[test]
    fn day_from_decisions_and_meter_counters() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let a = charge("2026-07-01T01:00:00Z", 2.0, 1.0, 0.4, "T2");
        let b = charge("2026-07-01T12:00:00Z", 1.0, 0.9, 0.0, "T1");
        let mut sold = a.clone();
        sold.category = Category::Selling;
        sold.energy_kwh = Some(3.0);
        sold.revenue_pln = Some(2.5);
        sold.execution_success = Some(true);
        let mut unk = sold.clone();
        unk.execution_success = None;
        let rows: Vec<EnergyRow> = [(100.0, "T2"), (101.5, "T2"), (101.5, "T1"), (103.0, "T1")]
            .iter()
            .enumerate()
            .map(|(i, (k, z))| EnergyRow {
                at: at("2026-07-01T00:00:00Z") + chrono::Duration::minutes(5 * i as i64),
                import_total_kwh: Some(*k),
                tariff_zone: Some(z.to_string()),
                ..Default::default()
            })
            .collect();
        let s = compute_day(d, &[&a, &b, &sold, &unk], &rows, "database").unwrap();
        assert_eq!(s.date, "2026-07-01");
        assert_eq!(
            (
                s.total_decisions,
                s.charging_count,
                s.selling_count,
                s.wait_count
            ),
            (4, 2, 2, 0)
        );
        assert_eq!(s.total_energy_kwh, 3.0);
        assert_eq!(s.total_cost_pln, 1.9);
        assert_eq!(s.selling_revenue_pln, 2.5);
        assert_eq!(s.total_savings_pln, 2.9);
        assert_eq!(s.total_energy_sold_kwh, 3.0);
        assert_eq!(s.selling_outcome_unknown, 1);
        assert_eq!(s.energy_charged_t2_kwh, 2.0);
        assert_eq!(s.energy_charged_t1_kwh, 1.0);
        assert_eq!(s.real_grid_import_kwh, Some(3.0));
        assert_eq!(s.grid_import_t2_kwh, Some(1.5));
        assert_eq!(s.grid_import_t1_kwh, Some(1.5));
        assert_eq!(s.avg_cost_per_kwh, Some(0.6333));
        assert_eq!(s.source_breakdown["unknown"], 2);
        assert_eq!(s.source_breakdown["battery_selling"], 2);
        assert!(compute_day(d, &[], &[], "database").is_none());
    }

    #[test]
    fn snapshots_with_wrong_types_are_rejected() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let good = r#"{"date": "2026-07-01", "total_decisions": 2, "charging_count": 2, "wait_count": 0,
            "total_energy_kwh": 4.0, "total_cost_pln": 2.1, "total_savings_pln": 0.5, "avg_confidence": 0.7}"#;
        let s = parse_snapshot("snapshot_20260701.json", d, good).unwrap();
        assert_eq!(s.source, "snapshot_file");
        assert_eq!(s.total_energy_kwh, 4.0);
        let bad = good.replace("4.0", "\"four\"");
        let e = parse_snapshot("snapshot_20260701.json", d, &bad).unwrap_err();
        assert!(e.contains("snapshot_20260701.json"), "{e}");
        let other_day = good.replace("2026-07-01", "2026-07-02");
        assert!(parse_snapshot("snapshot_20260701.json", d, &other_day).is_err());
    }

    #[test]
    fn month_aggregation_and_comparison() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let a = charge("2026-07-01T01:00:00Z", 2.0, 1.0, 0.5, "T2");
        let mut day1 = compute_day(d, &[&a], &[], "database").unwrap();
        let mut day2 = day1.clone();
        day2.date = "2026-07-02".into();
        day2.source = "snapshot_file".into();
        day1.avg_confidence = Some(0.9);
        let m = aggregate(2026, 7, vec![day1, day2], vec!["x".into()]);
        assert_eq!(m.month_name, "July");
        assert_eq!(m.total_energy_kwh, 4.0);
        assert_eq!(m.total_cost_pln, 2.0);
        assert_eq!(m.savings_percentage, Some(33.3));
        assert_eq!(m.avg_confidence, Some(0.7));
        assert_eq!(m.day_sources.snapshot_file, 1);
        assert_eq!(m.days_with_data, 2);
        let empty = aggregate(2026, 6, vec![], vec![]);
        assert_eq!(empty.avg_cost_per_kwh, None);
        assert_eq!(empty.month_name, "June");
        let c = comparison(&m, &empty);
        assert_eq!(c["changes"]["cost_change_pct"], 100.0);
        assert_eq!(c["changes"]["energy_diff_kwh"], 4.0);
        assert_eq!(change_pct(0.0, 0.0), 0.0);
        assert_eq!(change_pct(1.5, 1.0), 50.0);
        assert_eq!(next_month(2026, 12), (2027, 1));
        assert_eq!(prev_month(2026, 1), (2025, 12));
    }

    #[test]
    fn meter_figures_are_null_without_counters_and_sum_known_days() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let a = charge("2026-07-01T01:00:00Z", 2.0, 1.0, 0.5, "T2");
        let no_meter = compute_day(d, &[&a], &[], "database").unwrap();
        assert_eq!(no_meter.real_grid_import_kwh, None);
        let m = aggregate(2026, 7, vec![no_meter.clone()], vec![]);
        assert_eq!(
            m.real_grid_import_kwh, None,
            "no counters must not read as 0 kWh"
        );
        assert_eq!(m.grid_import_total_kwh, None);
        assert_eq!(m.days_with_meter_data, 0);
        let mut metered = no_meter.clone();
        metered.date = "2026-07-02".into();
        metered.real_grid_import_kwh = Some(3.5);
        metered.grid_import_total_kwh = Some(3.5);
        let m = aggregate(2026, 7, vec![no_meter, metered], vec![]);
        assert_eq!(m.real_grid_import_kwh, Some(3.5));
        assert_eq!(m.grid_import_total_kwh, Some(3.5));
        assert_eq!(m.days_with_meter_data, 1);
        assert_eq!(m.days_with_data, 2);
    }
}
